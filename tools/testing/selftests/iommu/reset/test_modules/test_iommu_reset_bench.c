// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark module for make bench: times the IOMMU reset helpers themselves,
 * pci_dev_reset_iommu_prepare() and pci_dev_reset_iommu_done() called back
 * to back on an idle function (no reset, no driver bound), and the part of
 * that time the IOMMU core and driver spend in __iommu_attach_device(). The
 * same module, without probes on the helpers, times the C and the Rust
 * implementation alike.
 *
 * debugfs (/sys/kernel/debug/test_iommu_reset_bench/):
 *   run     write "BDF N": two passes of N rounds (1 <= N <= 100000) of
 *           prepare() + done() on the function BDF, each call timed with
 *           ktime_get_ns(). The first pass runs alone; the second with a
 *           kretprobe on __iommu_attach_device() that adds up the time spent
 *           in it per round.
 *   result  read: the last run, one line:
 *           "bdf=BDF group=G rounds=N attaches=A" (A: attaches per round in
 *           the second pass), then for prepare, done and total (the first
 *           pass), probed (total of the second pass), attach and own
 *           (probed minus attach, per round): NAME_median=, NAME_p99=,
 *           NAME_max= in nanoseconds.
 *
 * The function must be behind an IOMMU, have ATS and no driver (-ENODEV,
 * -EOPNOTSUPP, -EBUSY otherwise); a malformed command or an N out of range
 * fails with -EINVAL, and a failing prepare() ends the run with its error.
 * A failed run keeps the result of the last good one.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/iommu.h>
#include <linux/kprobes.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/pci-ats.h>
#include <linux/seq_file.h>
#include <linux/sort.h>
#include <linux/vmalloc.h>

#define BENCH_MAX_ROUNDS 100000

enum bench_series {
	BENCH_PREPARE,
	BENCH_DONE,
	BENCH_TOTAL,
	BENCH_PROBED,
	BENCH_ATTACH,
	BENCH_OWN,
	BENCH_NR_SERIES,
};

static const char *const bench_names[BENCH_NR_SERIES] = {
	"prepare", "done", "total", "probed", "attach", "own",
};

static DEFINE_MUTEX(bench_lock);
static struct dentry *bench_dir;
static char bench_result[1024];

/* The task of the second pass, and what its attaches took so far */
static struct task_struct *bench_task;
static u64 bench_attach_ns;
static unsigned int bench_attaches;

static int bench_attach_entry(struct kretprobe_instance *ri,
			      struct pt_regs *regs)
{
	u64 *start = (u64 *)ri->data;

	/* Another task's attach: no return probe */
	if (READ_ONCE(bench_task) != current)
		return 1;
	*start = ktime_get_ns();
	return 0;
}

static int bench_attach_return(struct kretprobe_instance *ri,
			       struct pt_regs *regs)
{
	u64 now = ktime_get_ns();

	bench_attach_ns += now - *(u64 *)ri->data;
	bench_attaches++;
	return 0;
}

/* Copied into bench_attach_probe for each registration, which fills it in */
static const struct kretprobe bench_attach_template = {
	.kp.symbol_name = "__iommu_attach_device",
	.entry_handler = bench_attach_entry,
	.handler = bench_attach_return,
	.data_size = sizeof(u64),
	.maxactive = 4,
};

static struct kretprobe bench_attach_probe;

static int bench_cmp(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

static int bench_count_dev(struct device *dev, void *data)
{
	(*(unsigned int *)data)++;
	return 0;
}

static int bench_check(struct pci_dev *pdev, unsigned int *group_size)
{
	struct iommu_group *group = iommu_group_get(&pdev->dev);

	if (!group)
		return -ENODEV;
	*group_size = 0;
	iommu_group_for_each_dev(group, group_size, bench_count_dev);
	iommu_group_put(group);
	if (!pci_ats_supported(pdev))
		return -EOPNOTSUPP;
	if (READ_ONCE(pdev->dev.driver))
		return -EBUSY;
	return 0;
}

/* One pass of @rounds rounds; with @probed, the attach time of each round */
static int bench_pass(struct pci_dev *pdev, unsigned int rounds, bool probed,
		      u64 *s[BENCH_NR_SERIES])
{
	unsigned int i;
	int ret;

	for (i = 0; i < rounds; i++) {
		u64 t0, t1, t2, attach = bench_attach_ns;

		t0 = ktime_get_ns();
		ret = pci_dev_reset_iommu_prepare(pdev);
		t1 = ktime_get_ns();
		if (ret)
			return ret;
		pci_dev_reset_iommu_done(pdev);
		t2 = ktime_get_ns();
		if (probed) {
			attach = bench_attach_ns - attach;
			s[BENCH_PROBED][i] = t2 - t0;
			s[BENCH_ATTACH][i] = attach;
			s[BENCH_OWN][i] = t2 - t0 - attach;
		} else {
			s[BENCH_PREPARE][i] = t1 - t0;
			s[BENCH_DONE][i] = t2 - t1;
			s[BENCH_TOTAL][i] = t2 - t0;
		}
		cond_resched();
	}
	return 0;
}

static int bench_run(struct pci_dev *pdev, unsigned int rounds)
{
	u64 *s[BENCH_NR_SERIES] = {};
	unsigned int group_size, attaches;
	int i, n, ret;

	ret = bench_check(pdev, &group_size);
	if (ret)
		return ret;
	for (i = 0; i < BENCH_NR_SERIES; i++) {
		s[i] = vmalloc_array(rounds, sizeof(u64));
		if (!s[i]) {
			ret = -ENOMEM;
			goto out;
		}
	}

	ret = bench_pass(pdev, rounds, false, s);
	if (ret)
		goto out;
	bench_attach_probe = bench_attach_template;
	ret = register_kretprobe(&bench_attach_probe);
	if (ret)
		goto out;
	bench_attach_ns = 0;
	bench_attaches = 0;
	WRITE_ONCE(bench_task, current);
	ret = bench_pass(pdev, rounds, true, s);
	WRITE_ONCE(bench_task, NULL);
	unregister_kretprobe(&bench_attach_probe);
	attaches = bench_attaches;
	if (ret)
		goto out;
	if (bench_attach_probe.nmissed) {
		ret = -EAGAIN;
		goto out;
	}

	n = scnprintf(bench_result, sizeof(bench_result),
		      "bdf=%s group=%u rounds=%u attaches=%u", pci_name(pdev),
		      group_size, rounds, attaches / rounds);
	for (i = 0; i < BENCH_NR_SERIES; i++) {
		sort(s[i], rounds, sizeof(u64), bench_cmp, NULL);
		n += scnprintf(bench_result + n, sizeof(bench_result) - n,
			       " %s_median=%llu %s_p99=%llu %s_max=%llu",
			       bench_names[i], s[i][(rounds - 1) / 2],
			       bench_names[i], s[i][(rounds * 99ULL + 99) / 100 - 1],
			       bench_names[i], s[i][rounds - 1]);
	}
	scnprintf(bench_result + n, sizeof(bench_result) - n, "\n");
out:
	for (i = 0; i < BENCH_NR_SERIES; i++)
		vfree(s[i]);
	return ret;
}

static ssize_t bench_run_write(struct file *file, const char __user *ubuf,
			       size_t len, loff_t *ppos)
{
	unsigned int domain, bus, dev, fn, rounds;
	struct pci_dev *pdev;
	char buf[64], end;
	int ret;

	if (len >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = '\0';
	if (sscanf(buf, "%x:%x:%x.%x %u %c", &domain, &bus, &dev, &fn, &rounds,
		   &end) != 5 || bus > 0xff || dev > 0x1f || fn > 7 ||
	    !rounds || rounds > BENCH_MAX_ROUNDS)
		return -EINVAL;
	pdev = pci_get_domain_bus_and_slot(domain, bus, PCI_DEVFN(dev, fn));
	if (!pdev)
		return -ENODEV;

	mutex_lock(&bench_lock);
	ret = bench_run(pdev, rounds);
	mutex_unlock(&bench_lock);
	pci_dev_put(pdev);
	return ret ?: len;
}

static const struct file_operations bench_run_fops = {
	.owner = THIS_MODULE,
	.write = bench_run_write,
};

static int bench_result_show(struct seq_file *m, void *v)
{
	mutex_lock(&bench_lock);
	seq_puts(m, bench_result);
	mutex_unlock(&bench_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(bench_result);

static int __init bench_init(void)
{
	bench_dir = debugfs_create_dir(KBUILD_MODNAME, NULL);
	debugfs_create_file("run", 0200, bench_dir, NULL, &bench_run_fops);
	debugfs_create_file("result", 0444, bench_dir, NULL, &bench_result_fops);
	return 0;
}

static void __exit bench_exit(void)
{
	debugfs_remove_recursive(bench_dir);
}

module_init(bench_init);
module_exit(bench_exit);
MODULE_DESCRIPTION("make bench: time the IOMMU reset helpers and their attaches");
MODULE_LICENSE("GPL");
