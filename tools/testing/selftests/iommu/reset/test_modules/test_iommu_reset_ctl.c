// SPDX-License-Identifier: GPL-2.0
/*
 * Control module for the IOMMU reset selftests: drives the IOMMU reset
 * helpers of PCI functions directly, injects reset failures and DMA aliases,
 * and shows the IOMMU core's view of each function. Built against v7.3 and
 * against kernels with this series alike, so that the selftests can show
 * where their behaviour differs.
 *
 * debugfs (/sys/kernel/debug/test_iommu_reset_ctl/):
 *   control    write one command:
 *                prepare BDF      pci_dev_reset_iommu_prepare()
 *                done BDF         pci_dev_reset_iommu_done() for a prepare
 *                                 made here
 *                failed BDF       pci_dev_reset_iommu_failed() for a prepare
 *                                 made here (-EOPNOTSUPP on a kernel without
 *                                 it, such as v7.3)
 *                claim BDF        claim and release DMA ownership of the
 *                                 function's IOMMU group, as VFIO does on
 *                                 open (-EBUSY while a reset fences it)
 *                own BDF          claim DMA ownership of the function's
 *                                 group and keep it (one group at a time)
 *                disown BDF       release it, as VFIO does on close: a
 *                                 domain change that must succeed
 *                alias BDF DEVFN  add a DMA alias to the function, as a
 *                                 quirk does (test only)
 *                unalias BDF      remove the aliases added here
 *                fail_wait BDF    make the next pci_dev_wait() for the
 *                                 function fail with -ENOTTY, as if it did
 *                                 not come back from its reset
 *                reset_bus BDF    pci_reset_bus() of the function: the
 *                                 slot or bus reset of VFIO's hot reset
 *                raw_sbr BDF      a secondary bus reset of the bridge BDF
 *                                 that bypasses the PCI core's reset paths,
 *                                 and so the IOMMU reset helpers (negative
 *                                 control of the selftests; never do this
 *                                 outside a test): the config space of every
 *                                 function below is saved before and
 *                                 restored after, top down
 *                bridge_d3 BDF    pci_set_power_state() of a bridge to D3hot
 *                                 and back to D0 (config space saved and
 *                                 restored around it), counting the calls
 *                                 of the IOMMU power hooks for the bridge and
 *                                 the functions on its secondary bus
 *                                 (-EOPNOTSUPP on a kernel without them,
 *                                 such as v7.3)
 *                bridge_d3_locked BDF
 *                                 the same with pci_set_power_state_locked(),
 *                                 called with pci_bus_sem held, as vmd and
 *                                 qcom call it: from a pci_walk_bus()
 *                                 callback
 *                pasid_attach BDF PASID
 *                                 iommu_attach_device_pasid() of a new empty
 *                                 paging domain at PASID (hex): the IOMMU
 *                                 core attaches it to every function of the
 *                                 group. Functions without a PASID
 *                                 capability (all of QEMU's) are given one
 *                                 in the IOMMU core's view first (test only:
 *                                 their PASID Enable bit stays clear, so
 *                                 they cannot use the entries); -EOPNOTSUPP
 *                                 when the IOMMU has no PASID support
 *                pasid_detach BDF PASID
 *                                 iommu_detach_device_pasid() and free of
 *                                 that domain; the last one gives the
 *                                 functions back their own view
 *   state      read: "BDF blocked=0|1 failed_waits=N" for each function in
 *              an IOMMU group; blocked means the IOMMU driver sees the
 *              function on another domain than its group's (the blocking
 *              domain)
 *   bridge_pm  read, after a bridge_d3 or bridge_d3_locked: "bridge BDF
 *              ret=N" (what the D3hot transition returned), then "BDF
 *              blocks=N unblocks=N" for the bridge and each function on its
 *              secondary bus: the calls of pci_dev_suspend_iommu() and
 *              pci_dev_resume_iommu() for it
 *
 * Bad commands fail with -EINVAL, unknown functions with -ENODEV. Unloading
 * ends the prepares, removes the aliases and detaches the PASIDs made here.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitmap.h>
#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/iommu.h>
#include <linux/kprobes.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/seq_file.h>
#include <linux/slab.h>

#define CTL_MAX 8
#define CTL_NR_DEVFNS 256

/* A prepare made here that still needs its done */
struct ctl_pending {
	struct pci_dev *pdev;
	unsigned int depth;
};

/* A PASID attached here, and its domain */
struct ctl_pasid {
	struct pci_dev *pdev;
	ioasid_t pasid;
	struct iommu_domain *domain;
};

/* The PASID view given to a function here, and what it had before */
struct ctl_pasid_view {
	struct pci_dev *pdev;
	u32 max_pasids;
};

/* Aliases added here, and whether the mask was allocated here */
struct ctl_alias {
	struct pci_dev *pdev;
	unsigned long added[BITS_TO_LONGS(CTL_NR_DEVFNS)];
	bool allocated;
};

static DEFINE_MUTEX(ctl_lock);
static struct ctl_pending ctl_pending[CTL_MAX];
static struct ctl_alias ctl_alias[CTL_MAX];
static struct ctl_pasid ctl_pasid[CTL_MAX];
static struct ctl_pasid_view ctl_pasid_view[CTL_MAX];
static struct dentry *ctl_dir;
static int ctl_owner;
static struct iommu_group *ctl_owned;

static struct pci_dev *ctl_fail_pdev;
static atomic_t ctl_fail_left = ATOMIC_INIT(0);
static atomic_t ctl_fail_hits = ATOMIC_INIT(0);
static bool ctl_kretprobe_registered;

/*
 * The IOMMU power hooks' calls during a bridge_d3, by devfn on the bridge's
 * secondary bus, the bridge itself in the last slot. A call that
 * fail_function makes fail may not be counted (its probe may run first).
 */
static struct pci_dev *ctl_pm_bridge;		/* during a bridge_d3 */
static struct pci_dev *ctl_pm_last;		/* the last bridge_d3's */
static atomic_t ctl_pm_blocks[CTL_NR_DEVFNS + 1];
static atomic_t ctl_pm_unblocks[CTL_NR_DEVFNS + 1];
static int ctl_pm_ret;

struct ctl_wait_data {
	bool fail;
};

static int ctl_wait_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct ctl_wait_data *data = (void *)ri->data;
	struct pci_dev *pdev = (void *)regs_get_kernel_argument(regs, 0);

	data->fail = pdev && pdev == READ_ONCE(ctl_fail_pdev) &&
		     atomic_add_unless(&ctl_fail_left, -1, 0);
	return 0;
}

static int ctl_wait_return(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct ctl_wait_data *data = (void *)ri->data;

	if (data->fail) {
		regs_set_return_value(regs, -ENOTTY);
		atomic_inc(&ctl_fail_hits);
	}
	return 0;
}

static struct kretprobe ctl_wait_probe = {
	.kp.symbol_name = "pci_dev_wait",
	.entry_handler = ctl_wait_entry,
	.handler = ctl_wait_return,
	.data_size = sizeof(struct ctl_wait_data),
	.maxactive = 8,
};

static void ctl_pm_count(atomic_t *counts, struct pt_regs *regs)
{
	struct pci_dev *pdev = (void *)regs_get_kernel_argument(regs, 0);
	struct pci_dev *bridge = READ_ONCE(ctl_pm_bridge);

	if (!bridge)
		return;
	if (pdev == bridge)
		atomic_inc(&counts[CTL_NR_DEVFNS]);
	else if (pdev->bus == bridge->subordinate)
		atomic_inc(&counts[pdev->devfn]);
}

static int ctl_pm_block_entry(struct kprobe *kp, struct pt_regs *regs)
{
	ctl_pm_count(ctl_pm_blocks, regs);
	return 0;
}

static int ctl_pm_unblock_entry(struct kprobe *kp, struct pt_regs *regs)
{
	ctl_pm_count(ctl_pm_unblocks, regs);
	return 0;
}

static struct kprobe ctl_pm_probes[2];
static struct kprobe *ctl_pm_probe_ptrs[] = {
	&ctl_pm_probes[0], &ctl_pm_probes[1],
};

/*
 * The probes are there only during a bridge_d3: a kprobe that stays on a
 * function while fail_function arms and disarms its own on it has been
 * seen to leave kprobes-on-ftrace in a state that crashes the next
 * register_kprobe() (v7.3).
 */
static int ctl_pm_probes_register(void)
{
	memset(ctl_pm_probes, 0, sizeof(ctl_pm_probes));
	ctl_pm_probes[0].symbol_name = "pci_dev_suspend_iommu";
	ctl_pm_probes[0].pre_handler = ctl_pm_block_entry;
	ctl_pm_probes[1].symbol_name = "pci_dev_resume_iommu";
	ctl_pm_probes[1].pre_handler = ctl_pm_unblock_entry;
	return register_kprobes(ctl_pm_probe_ptrs,
				ARRAY_SIZE(ctl_pm_probe_ptrs));
}

static struct pci_dev *ctl_get_pdev(const char *bdf)
{
	unsigned int domain, bus, dev, fn;
	char end;

	if (sscanf(bdf, "%x:%x:%x.%x%c", &domain, &bus, &dev, &fn, &end) != 4 ||
	    bus > 0xff || dev > 0x1f || fn > 7)
		return ERR_PTR(-EINVAL);
	return pci_get_domain_bus_and_slot(domain, bus, PCI_DEVFN(dev, fn)) ?:
	       ERR_PTR(-ENODEV);
}

static struct ctl_pending *ctl_find_pending(struct pci_dev *pdev)
{
	int i;

	for (i = 0; i < CTL_MAX; i++)
		if (ctl_pending[i].pdev == pdev)
			return &ctl_pending[i];
	return NULL;
}

static int ctl_prepare(struct pci_dev *pdev)
{
	struct ctl_pending *p = ctl_find_pending(pdev) ?: ctl_find_pending(NULL);
	int ret;

	if (!p)
		return -ENOSPC;
	ret = pci_dev_reset_iommu_prepare(pdev);
	if (ret)
		return ret;
	if (!p->pdev)
		p->pdev = pci_dev_get(pdev);
	p->depth++;
	return 0;
}

static int ctl_done(struct pci_dev *pdev)
{
	struct ctl_pending *p = ctl_find_pending(pdev);

	/* Only ends a prepare made here: an unbalanced done is a bug */
	if (!p)
		return -EINVAL;
	pci_dev_reset_iommu_done(pdev);
	if (!--p->depth) {
		pci_dev_put(p->pdev);
		p->pdev = NULL;
	}
	return 0;
}

/* Ends a prepare made here as a failed reset, where the kernel has that */
static int ctl_failed(struct pci_dev *pdev)
{
	struct ctl_pending *p = ctl_find_pending(pdev);
	void (*failed)(struct pci_dev *pdev);

	if (!p)
		return -EINVAL;
	/* Looked up at run time: the module loads on v7.3 too */
	failed = __symbol_get("pci_dev_reset_iommu_failed");
	if (!failed)
		return -EOPNOTSUPP;
	failed(pdev);
	symbol_put_addr(failed);
	if (!--p->depth) {
		pci_dev_put(p->pdev);
		p->pdev = NULL;
	}
	return 0;
}

static int ctl_claim(struct pci_dev *pdev)
{
	struct iommu_group *group = iommu_group_get(&pdev->dev);
	int ret;

	if (!group)
		return -ENODEV;
	ret = iommu_group_claim_dma_owner(group, &ctl_owner);
	if (!ret)
		iommu_group_release_dma_owner(group);
	iommu_group_put(group);
	return ret;
}

static int ctl_own(struct pci_dev *pdev)
{
	struct iommu_group *group;
	int ret;

	if (ctl_owned)
		return -EBUSY;
	group = iommu_group_get(&pdev->dev);
	if (!group)
		return -ENODEV;
	ret = iommu_group_claim_dma_owner(group, &ctl_owner);
	if (ret) {
		iommu_group_put(group);
		return ret;
	}
	ctl_owned = group;
	return 0;
}

static int ctl_disown(struct pci_dev *pdev)
{
	struct iommu_group *group = iommu_group_get(&pdev->dev);
	int ret = 0;

	if (!group)
		return -ENODEV;
	if (group == ctl_owned) {
		iommu_group_release_dma_owner(ctl_owned);
		iommu_group_put(ctl_owned);
		ctl_owned = NULL;
	} else {
		ret = -EINVAL;
	}
	iommu_group_put(group);
	return ret;
}

static int ctl_add_alias(struct pci_dev *pdev, unsigned int devfn)
{
	struct ctl_alias *a = NULL;
	int i;

	if (devfn >= CTL_NR_DEVFNS || devfn == pdev->devfn)
		return -EINVAL;
	for (i = 0; i < CTL_MAX && !a; i++)
		if (ctl_alias[i].pdev == pdev)
			a = &ctl_alias[i];
	for (i = 0; i < CTL_MAX && !a; i++)
		if (!ctl_alias[i].pdev)
			a = &ctl_alias[i];
	if (!a)
		return -ENOSPC;
	if (!a->pdev) {
		if (!pdev->dma_alias_mask) {
			pdev->dma_alias_mask = bitmap_zalloc(CTL_NR_DEVFNS,
							     GFP_KERNEL);
			if (!pdev->dma_alias_mask)
				return -ENOMEM;
			a->allocated = true;
		}
		a->pdev = pci_dev_get(pdev);
	}
	if (!test_and_set_bit(devfn, pdev->dma_alias_mask))
		set_bit(devfn, a->added);
	pci_info(pdev, "test DMA alias %02x.%d\n", PCI_SLOT(devfn),
		 PCI_FUNC(devfn));
	return 0;
}

static void ctl_remove_aliases(struct ctl_alias *a)
{
	struct pci_dev *pdev = a->pdev;
	unsigned int devfn;

	for_each_set_bit(devfn, a->added, CTL_NR_DEVFNS)
		clear_bit(devfn, pdev->dma_alias_mask);
	if (a->allocated) {
		bitmap_free(pdev->dma_alias_mask);
		pdev->dma_alias_mask = NULL;
	}
	pci_dev_put(pdev);
	memset(a, 0, sizeof(*a));
}

static int ctl_unalias(struct pci_dev *pdev)
{
	int i;

	for (i = 0; i < CTL_MAX; i++) {
		if (ctl_alias[i].pdev == pdev) {
			ctl_remove_aliases(&ctl_alias[i]);
			return 0;
		}
	}
	return -EINVAL;
}

static int ctl_fail_wait(struct pci_dev *pdev)
{
	if (!ctl_kretprobe_registered)
		return -EOPNOTSUPP;
	pci_dev_put(xchg(&ctl_fail_pdev, pci_dev_get(pdev)));
	atomic_set(&ctl_fail_left, 1);
	return 0;
}

/* The number of PASIDs given to a function without a PASID capability */
#define CTL_FAKE_PASIDS 16

static struct ctl_pasid *ctl_find_pasid(struct pci_dev *pdev, ioasid_t pasid)
{
	int i;

	for (i = 0; i < CTL_MAX; i++)
		if (ctl_pasid[i].pdev == pdev && ctl_pasid[i].pasid == pasid)
			return &ctl_pasid[i];
	return NULL;
}

static bool ctl_pasid_in_use(void)
{
	int i;

	for (i = 0; i < CTL_MAX; i++)
		if (ctl_pasid[i].pdev)
			return true;
	return false;
}

/*
 * Give each function of @pdev's group a PASID view in the IOMMU core, as
 * dev_iommu_get_max_pasids() would for a function with a PASID capability.
 * The core reads max_pasids under the group's mutex, which a module cannot
 * take; the selftests use this on functions that nothing else uses.
 */
static int ctl_pasid_view_one(struct device *dev, void *data)
{
	struct dev_iommu *param = dev->iommu;
	struct ctl_pasid_view *v;
	int i;

	if (!dev_is_pci(dev) || !param || param->max_pasids)
		return 0;
	for (i = 0; i < CTL_MAX && ctl_pasid_view[i].pdev; i++)
		;
	if (i == CTL_MAX)
		return -ENOSPC;
	v = &ctl_pasid_view[i];
	v->pdev = pci_dev_get(to_pci_dev(dev));
	v->max_pasids = param->max_pasids;
	WRITE_ONCE(param->max_pasids,
		   min_t(u32, CTL_FAKE_PASIDS, param->iommu_dev->max_pasids));
	pci_info(v->pdev, "test PASID view: %u PASIDs\n", param->max_pasids);
	return 0;
}

static void ctl_pasid_views_end(void)
{
	int i;

	for (i = 0; i < CTL_MAX; i++) {
		struct ctl_pasid_view *v = &ctl_pasid_view[i];

		if (!v->pdev)
			continue;
		/* Gone with the function's removal */
		if (v->pdev->dev.iommu)
			WRITE_ONCE(v->pdev->dev.iommu->max_pasids,
				   v->max_pasids);
		pci_dev_put(v->pdev);
		memset(v, 0, sizeof(*v));
	}
}

static int ctl_pasid_attach(struct pci_dev *pdev, ioasid_t pasid)
{
	struct ctl_pasid *p = ctl_find_pasid(NULL, 0);
	struct iommu_domain *domain;
	struct iommu_group *group;
	int ret;

	if (!pdev->dev.iommu || !pdev->dev.iommu->iommu_dev->max_pasids)
		return -EOPNOTSUPP;
	if (!p || ctl_find_pasid(pdev, pasid))
		return -EBUSY;
	group = iommu_group_get(&pdev->dev);
	if (!group)
		return -ENODEV;
	ret = iommu_group_for_each_dev(group, NULL, ctl_pasid_view_one);
	iommu_group_put(group);
	if (ret)
		goto out_views;

	domain = iommu_paging_domain_alloc(&pdev->dev);
	if (IS_ERR(domain)) {
		ret = PTR_ERR(domain);
		goto out_views;
	}
	ret = iommu_attach_device_pasid(domain, &pdev->dev, pasid, NULL);
	if (ret) {
		iommu_domain_free(domain);
		goto out_views;
	}
	p->pdev = pci_dev_get(pdev);
	p->pasid = pasid;
	p->domain = domain;
	return 0;

out_views:
	if (!ctl_pasid_in_use())
		ctl_pasid_views_end();
	return ret;
}

static int ctl_pasid_detach(struct pci_dev *pdev, ioasid_t pasid)
{
	struct ctl_pasid *p = ctl_find_pasid(pdev, pasid);

	if (!p || !pdev)
		return -EINVAL;
	if (pdev->dev.iommu_group) {
		iommu_detach_device_pasid(p->domain, &pdev->dev, pasid);
		iommu_domain_free(p->domain);
	} else {
		/* Its group mates may still hold the domain: leak it */
		pci_warn(pdev, "removed with test PASID %u attached\n", pasid);
	}
	pci_dev_put(p->pdev);
	memset(p, 0, sizeof(*p));
	if (!ctl_pasid_in_use())
		ctl_pasid_views_end();
	return 0;
}

/*
 * A bridge leaving D0: on hardware whose bridge has no PM capability (QEMU's
 * root ports) the transition fails after the IOMMU hooks ran, on other
 * hardware the bridge really is in D3hot for a moment. Its config space is
 * saved before and restored after, as pci_pm_reset() does, since a bridge
 * may lose it (bus numbers, windows) on its way back to D0.
 */
static void ctl_bridge_d3_cycle(struct pci_dev *bridge, bool locked)
{
	int (*set_state)(struct pci_dev *dev, pci_power_t state) =
		locked ? pci_set_power_state_locked : pci_set_power_state;

	ctl_pm_ret = set_state(bridge, PCI_D3hot);
	if (bridge->current_state != PCI_D0) {
		set_state(bridge, PCI_D0);
		pci_restore_state(bridge);
	}
}

/* pci_walk_bus() holds pci_bus_sem while it calls this for each device */
static int ctl_bridge_d3_locked_one(struct pci_dev *dev, void *bridge)
{
	if (dev != bridge)
		return 0;
	ctl_bridge_d3_cycle(dev, true);
	return 1;
}

static int ctl_bridge_d3(struct pci_dev *bridge, bool locked)
{
	int i;

	if (!bridge->subordinate)
		return -EINVAL;
	if (ctl_pm_probes_register())
		return -EOPNOTSUPP;
	for (i = 0; i <= CTL_NR_DEVFNS; i++) {
		atomic_set(&ctl_pm_blocks[i], 0);
		atomic_set(&ctl_pm_unblocks[i], 0);
	}
	pci_dev_put(ctl_pm_last);
	ctl_pm_last = pci_dev_get(bridge);

	pci_save_state(bridge);
	WRITE_ONCE(ctl_pm_bridge, bridge);
	ctl_pm_ret = -ENODEV;	/* unless the walk finds the bridge */
	if (locked)
		pci_walk_bus(bridge->bus, ctl_bridge_d3_locked_one, bridge);
	else
		ctl_bridge_d3_cycle(bridge, false);
	WRITE_ONCE(ctl_pm_bridge, NULL);
	unregister_kprobes(ctl_pm_probe_ptrs, ARRAY_SIZE(ctl_pm_probe_ptrs));
	pci_info(bridge, "test D3hot transition%s: %d\n",
		 locked ? " under pci_bus_sem" : "", ctl_pm_ret);
	return 0;
}

static int ctl_save_one(struct pci_dev *dev, void *unused)
{
	pci_save_state(dev);
	return 0;
}

static int ctl_restore_one(struct pci_dev *dev, void *unused)
{
	pci_restore_state(dev);
	return 0;
}

/*
 * Assert and release a secondary bus reset on @bridge as
 * pci_reset_secondary_bus() does, without pci_bridge_secondary_bus_reset()
 * and its callers: nothing blocks the IOMMU for the functions below. Every
 * function below is given the time a function needs after a conventional
 * reset (PCIe r6 6.6.1: 1 s before config requests may be refused) and its
 * saved state back; pci_walk_bus() visits a bridge before the functions
 * below it, so their bus numbers are back before they are restored.
 */
static int ctl_raw_sbr(struct pci_dev *bridge)
{
	u16 ctrl;

	if (!bridge->subordinate)
		return -EINVAL;
	pci_walk_bus(bridge->subordinate, ctl_save_one, NULL);
	pci_read_config_word(bridge, PCI_BRIDGE_CONTROL, &ctrl);
	pci_write_config_word(bridge, PCI_BRIDGE_CONTROL,
			      ctrl | PCI_BRIDGE_CTL_BUS_RESET);
	/* Trst: at least 1 ms of reset; pci_reset_secondary_bus() waits 2 */
	usleep_range(2000, 3000);
	pci_write_config_word(bridge, PCI_BRIDGE_CONTROL,
			      ctrl & ~PCI_BRIDGE_CTL_BUS_RESET);
	ssleep(1);
	pci_walk_bus(bridge->subordinate, ctl_restore_one, NULL);
	pci_info(bridge, "test secondary bus reset, IOMMU not blocked\n");
	return 0;
}

static ssize_t ctl_control_write(struct file *file, const char __user *ubuf,
				 size_t len, loff_t *ppos)
{
	char buf[64], cmd[24], bdf[16];
	struct pci_dev *pdev;
	unsigned int arg;
	int n, ret;

	if (len >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = '\0';

	n = sscanf(buf, "%23s %15s %x", cmd, bdf, &arg);
	if (n < 2)
		return -EINVAL;
	pdev = ctl_get_pdev(bdf);
	if (IS_ERR(pdev))
		return PTR_ERR(pdev);

	mutex_lock(&ctl_lock);
	if (n == 3 && !strcmp(cmd, "alias"))
		ret = ctl_add_alias(pdev, arg);
	else if (n == 3 && !strcmp(cmd, "pasid_attach"))
		ret = arg ? ctl_pasid_attach(pdev, arg) : -EINVAL;
	else if (n == 3 && !strcmp(cmd, "pasid_detach"))
		ret = ctl_pasid_detach(pdev, arg);
	else if (n != 2)
		ret = -EINVAL;
	else if (!strcmp(cmd, "prepare"))
		ret = ctl_prepare(pdev);
	else if (!strcmp(cmd, "failed"))
		ret = ctl_failed(pdev);
	else if (!strcmp(cmd, "done"))
		ret = ctl_done(pdev);
	else if (!strcmp(cmd, "claim"))
		ret = ctl_claim(pdev);
	else if (!strcmp(cmd, "own"))
		ret = ctl_own(pdev);
	else if (!strcmp(cmd, "disown"))
		ret = ctl_disown(pdev);
	else if (!strcmp(cmd, "unalias"))
		ret = ctl_unalias(pdev);
	else if (!strcmp(cmd, "fail_wait"))
		ret = ctl_fail_wait(pdev);
	else if (!strcmp(cmd, "reset_bus"))
		ret = pci_reset_bus(pdev);
	else if (!strcmp(cmd, "raw_sbr"))
		ret = ctl_raw_sbr(pdev);
	else if (!strcmp(cmd, "bridge_d3"))
		ret = ctl_bridge_d3(pdev, false);
	else if (!strcmp(cmd, "bridge_d3_locked"))
		ret = ctl_bridge_d3(pdev, true);
	else
		ret = -EINVAL;
	mutex_unlock(&ctl_lock);

	pci_dev_put(pdev);
	return ret ?: len;
}

static const struct file_operations ctl_control_fops = {
	.owner = THIS_MODULE,
	.write = ctl_control_write,
};

struct ctl_query {
	struct device *dev;
	struct iommu_domain *group_domain;
	bool blocked;
};

/* Called with the group's mutex held, as iommu_driver_get_domain_for_dev() needs */
static int ctl_query_dev(struct device *dev, void *data)
{
	struct ctl_query *q = data;

	if (dev == q->dev)
		q->blocked = iommu_driver_get_domain_for_dev(dev) !=
			     q->group_domain;
	return 0;
}

static int ctl_state_show(struct seq_file *m, void *v)
{
	struct pci_dev *pdev = NULL;

	for_each_pci_dev(pdev) {
		struct iommu_group *group = iommu_group_get(&pdev->dev);
		struct ctl_query q = { .dev = &pdev->dev };

		if (!group)
			continue;
		q.group_domain = iommu_get_domain_for_dev(&pdev->dev);
		iommu_group_for_each_dev(group, &q, ctl_query_dev);
		iommu_group_put(group);
		seq_printf(m, "%s blocked=%d failed_waits=%d\n", pci_name(pdev),
			   q.blocked, READ_ONCE(ctl_fail_pdev) == pdev ?
			   atomic_read(&ctl_fail_hits) : 0);
	}
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(ctl_state);

static int ctl_bridge_pm_show(struct seq_file *m, void *v)
{
	struct pci_dev *bridge, *pdev;
	unsigned int devfn;

	mutex_lock(&ctl_lock);
	bridge = ctl_pm_last;
	if (bridge) {
		seq_printf(m, "bridge %s ret=%d\n", pci_name(bridge), ctl_pm_ret);
		seq_printf(m, "%s blocks=%d unblocks=%d\n", pci_name(bridge),
			   atomic_read(&ctl_pm_blocks[CTL_NR_DEVFNS]),
			   atomic_read(&ctl_pm_unblocks[CTL_NR_DEVFNS]));
		for (devfn = 0; devfn < CTL_NR_DEVFNS; devfn++) {
			pdev = pci_get_slot(bridge->subordinate, devfn);
			if (!pdev)
				continue;
			seq_printf(m, "%s blocks=%d unblocks=%d\n",
				   pci_name(pdev),
				   atomic_read(&ctl_pm_blocks[devfn]),
				   atomic_read(&ctl_pm_unblocks[devfn]));
			pci_dev_put(pdev);
		}
	}
	mutex_unlock(&ctl_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(ctl_bridge_pm);

static int __init ctl_init(void)
{
	int ret;

	ret = register_kretprobe(&ctl_wait_probe);
	if (ret)
		pr_warn("cannot probe pci_dev_wait() (%d): fail_wait unavailable\n",
			ret);
	ctl_kretprobe_registered = !ret;

	ctl_dir = debugfs_create_dir(KBUILD_MODNAME, NULL);
	debugfs_create_file("control", 0200, ctl_dir, NULL, &ctl_control_fops);
	debugfs_create_file("state", 0444, ctl_dir, NULL, &ctl_state_fops);
	debugfs_create_file("bridge_pm", 0444, ctl_dir, NULL,
			    &ctl_bridge_pm_fops);
	return 0;
}

static void __exit ctl_exit(void)
{
	int i;

	debugfs_remove_recursive(ctl_dir);
	if (ctl_kretprobe_registered)
		unregister_kretprobe(&ctl_wait_probe);
	pci_dev_put(ctl_fail_pdev);
	pci_dev_put(ctl_pm_last);
	if (ctl_owned) {
		iommu_group_release_dma_owner(ctl_owned);
		iommu_group_put(ctl_owned);
	}

	for (i = 0; i < CTL_MAX; i++) {
		while (ctl_pending[i].pdev)
			ctl_done(ctl_pending[i].pdev);
		if (ctl_alias[i].pdev)
			ctl_remove_aliases(&ctl_alias[i]);
	}
	/* After the dones: a function in reset keeps its PASIDs detached */
	for (i = 0; i < CTL_MAX; i++)
		if (ctl_pasid[i].pdev)
			ctl_pasid_detach(ctl_pasid[i].pdev, ctl_pasid[i].pasid);
}

module_init(ctl_init);
module_exit(ctl_exit);
MODULE_DESCRIPTION("IOMMU reset selftests: drive the reset helpers, inject failures and aliases");
MODULE_LICENSE("GPL");
