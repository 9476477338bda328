// SPDX-License-Identifier: GPL-2.0
/*
 * Streaming-DMA load generator for the IOMMU reset selftests.
 *
 * Maps and unmaps one page for each of one or more PCI functions in a loop,
 * from one or more kernel threads per function. With iommu.strict=1 every
 * unmap makes the IOMMU driver flush its IOTLB and, when ATS is enabled, the
 * function's device-IOTLB: the invalidations that must not reach the
 * function while it is being reset.
 * The generator does not depend on the function answering DMA, so it keeps
 * running through resets, including the raw FLR negative control.
 *
 * debugfs (/sys/kernel/debug/iommu_reset_load/):
 *   stats    map/unmap operations and mapping errors (of all functions)
 *   raw_flr  write "1": initiate an FLR of the first function by writing
 *            DEVCTL directly, bypassing
 *            pci_reset_function() and the IOMMU reset helpers (negative
 *            control for the selftests; never do this outside a test)
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/dma-mapping.h>
#include <linux/kthread.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/slab.h>

#define LOAD_MAX_THREADS 8

static char *bdf;
module_param(bdf, charp, 0444);
MODULE_PARM_DESC(bdf, "PCI functions to load, as DDDD:BB:DD.F[,DDDD:BB:DD.F...] (required)");

static unsigned int threads = 1;
module_param(threads, uint, 0444);
MODULE_PARM_DESC(threads, "load threads per function (default 1; 8 in all at most)");

/* One load thread: the function it maps for and its page */
struct load_worker {
	struct pci_dev *pdev;
	void *buf;
};

static struct pci_dev *load_pdevs[LOAD_MAX_THREADS];
static unsigned int load_nr_pdevs;
static struct task_struct *load_tasks[LOAD_MAX_THREADS];
static struct load_worker load_workers[LOAD_MAX_THREADS];
static struct dentry *load_dir;
static atomic64_t load_ops;
static atomic64_t load_errors;
static atomic64_t load_raw_flrs;

static int load_thread(void *data)
{
	struct load_worker *w = data;
	struct device *dev = &w->pdev->dev;
	void *buf = w->buf;
	unsigned long n = 0;
	dma_addr_t addr;

	while (!kthread_should_stop()) {
		addr = dma_map_single(dev, buf, PAGE_SIZE, DMA_TO_DEVICE);
		if (dma_mapping_error(dev, addr)) {
			atomic64_inc(&load_errors);
			usleep_range(100, 200);
		} else {
			dma_unmap_single(dev, addr, PAGE_SIZE, DMA_TO_DEVICE);
			atomic64_inc(&load_ops);
		}
		/*
		 * Sleep now and then: with full preemption cond_resched() never
		 * switches voluntarily, and RCU-tasks (kprobes, tracing) waits
		 * for a voluntary switch of every task.
		 */
		if (!(++n % 64))
			usleep_range(10, 20);
		else
			cond_resched();
	}
	return 0;
}

static int stats_show(struct seq_file *s, void *unused)
{
	unsigned int i;

	for (i = 0; i < load_nr_pdevs; i++)
		seq_printf(s, "device %s\n", pci_name(load_pdevs[i]));
	seq_printf(s, "threads %u\n", threads * load_nr_pdevs);
	seq_printf(s, "ops %lld\n", atomic64_read(&load_ops));
	seq_printf(s, "errors %lld\n", atomic64_read(&load_errors));
	seq_printf(s, "raw_flrs %lld\n", atomic64_read(&load_raw_flrs));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(stats);

/* Initiate an FLR behind the PCI core's back: no IOMMU reset helpers. */
static int load_raw_flr(struct pci_dev *pdev)
{
	u32 cap;

	if (!pci_is_pcie(pdev) ||
	    pcie_capability_read_dword(pdev, PCI_EXP_DEVCAP, &cap) ||
	    !(cap & PCI_EXP_DEVCAP_FLR))
		return -ENOTTY;

	pci_save_state(pdev);
	pcie_capability_set_word(pdev, PCI_EXP_DEVCTL, PCI_EXP_DEVCTL_BCR_FLR);
	msleep(100);
	pci_restore_state(pdev);
	atomic64_inc(&load_raw_flrs);
	return 0;
}

static ssize_t raw_flr_write(struct file *file, const char __user *ubuf,
			     size_t count, loff_t *ppos)
{
	bool val;
	int ret;

	ret = kstrtobool_from_user(ubuf, count, &val);
	if (ret)
		return ret;
	if (!val)
		return count;

	ret = load_raw_flr(load_pdevs[0]);
	return ret ? ret : count;
}

static const struct file_operations raw_flr_fops = {
	.owner = THIS_MODULE,
	.write = raw_flr_write,
	.llseek = noop_llseek,
};

static void load_stop(void)
{
	unsigned int i;

	for (i = 0; i < LOAD_MAX_THREADS; i++) {
		if (load_tasks[i])
			kthread_stop(load_tasks[i]);
		load_tasks[i] = NULL;
		kfree(load_workers[i].buf);
		load_workers[i].buf = NULL;
	}
}

static void load_put_pdevs(void)
{
	while (load_nr_pdevs)
		pci_dev_put(load_pdevs[--load_nr_pdevs]);
}

/* The functions of the bdf parameter, or an error (the module then fails to load) */
static int load_get_pdevs(void)
{
	unsigned int domain, bus, slot, fn;
	const char *p = bdf;
	int len;

	while (p && *p) {
		if (sscanf(p, "%x:%x:%x.%x%n", &domain, &bus, &slot, &fn, &len) != 4 ||
		    bus > 0xff || slot > 0x1f || fn > 7 || (p[len] && p[len] != ',')) {
			pr_err("bdf=DDDD:BB:DD.F[,...]: cannot read '%s'\n", p);
			return -EINVAL;
		}
		if (load_nr_pdevs == LOAD_MAX_THREADS) {
			pr_err("bdf: more than %d functions\n", LOAD_MAX_THREADS);
			return -EINVAL;
		}
		load_pdevs[load_nr_pdevs] =
			pci_get_domain_bus_and_slot(domain, bus, PCI_DEVFN(slot, fn));
		if (!load_pdevs[load_nr_pdevs]) {
			pr_err("no PCI function %.*s\n", len, p);
			return -ENODEV;
		}
		load_nr_pdevs++;
		p += len + (p[len] == ',');
	}
	if (!load_nr_pdevs) {
		pr_err("bdf=DDDD:BB:DD.F[,...] is required\n");
		return -EINVAL;
	}
	return 0;
}

static int __init load_init(void)
{
	unsigned int i;
	int ret;

	ret = load_get_pdevs();
	if (ret)
		goto err;
	if (threads < 1 || threads * load_nr_pdevs > LOAD_MAX_THREADS) {
		pr_err("threads=%u per function out of range (%u functions, %d threads at most)\n",
		       threads, load_nr_pdevs, LOAD_MAX_THREADS);
		ret = -EINVAL;
		goto err;
	}

	ret = -ENOMEM;
	for (i = 0; i < threads * load_nr_pdevs; i++) {
		load_workers[i].pdev = load_pdevs[i % load_nr_pdevs];
		load_workers[i].buf = kzalloc(PAGE_SIZE, GFP_KERNEL);
		if (!load_workers[i].buf)
			goto err;
		load_tasks[i] = kthread_run(load_thread, &load_workers[i], "iommu_load/%u", i);
		if (IS_ERR(load_tasks[i])) {
			load_tasks[i] = NULL;
			goto err;
		}
	}

	load_dir = debugfs_create_dir(KBUILD_MODNAME, NULL);
	debugfs_create_file("stats", 0444, load_dir, NULL, &stats_fops);
	debugfs_create_file("raw_flr", 0200, load_dir, NULL, &raw_flr_fops);
	pr_info("%u thread(s) loading %s (%u functions)\n", threads * load_nr_pdevs,
		bdf, load_nr_pdevs);
	return 0;

err:
	load_stop();
	load_put_pdevs();
	return ret;
}

static void __exit load_exit(void)
{
	debugfs_remove_recursive(load_dir);
	load_stop();
	pr_info("%s: %lld ops, %lld errors\n", bdf, atomic64_read(&load_ops),
		atomic64_read(&load_errors));
	load_put_pdevs();
}

module_init(load_init);
module_exit(load_exit);
MODULE_DESCRIPTION("Streaming DMA load generator for IOMMU reset selftests");
MODULE_LICENSE("GPL");
