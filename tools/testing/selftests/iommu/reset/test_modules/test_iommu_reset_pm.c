// SPDX-License-Identifier: GPL-2.0
/*
 * A PCI driver with power management callbacks for the IOMMU reset
 * selftests' power transition cases. It has no ID table and binds only
 * through driver_override; it does nothing with the function but let the PCI
 * core move it out of D0 (and, doing no DMA, declares driver_managed_dma so
 * that the group can be claimed for DMA ownership while it is bound):
 *
 *  - runtime PM: with power/control set to "auto", the PCI core puts the idle
 *    function in D3hot (pci_finish_runtime_suspend()), and back in D0 when
 *    power/control is set to "on";
 *  - system sleep: its suspend callbacks let pci_pm_suspend_noirq() put the
 *    function in D3hot, and the resume callbacks see it back in D0;
 *  - error recovery: its error handlers ask for a reset of a frozen function
 *    and restore its config space after it, so that AER recovery resets the
 *    bus below the Root Port (aer_root_reset()) and succeeds.
 *
 * debugfs (/sys/kernel/debug/test_iommu_reset_pm/):
 *   stats   read: "BDF runtime_suspend=N runtime_resume=N suspend=N resume=N
 *           error_detected=N slot_reset=N error_resume=N" for each bound
 *           function: how often each callback ran
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/pm_runtime.h>
#include <linux/seq_file.h>
#include <linux/slab.h>

struct pm_fn {
	struct list_head node;
	struct pci_dev *pdev;
	atomic_t runtime_suspend;
	atomic_t runtime_resume;
	atomic_t suspend;
	atomic_t resume;
	atomic_t error_detected;
	atomic_t slot_reset;
	atomic_t error_resume;
};

static LIST_HEAD(pm_fns);
static DEFINE_MUTEX(pm_lock);
static struct dentry *pm_dir;

static struct pm_fn *pm_fn_of(struct device *dev)
{
	return pci_get_drvdata(to_pci_dev(dev));
}

static int pm_runtime_suspend_cb(struct device *dev)
{
	atomic_inc(&pm_fn_of(dev)->runtime_suspend);
	return 0;
}

static int pm_runtime_resume_cb(struct device *dev)
{
	atomic_inc(&pm_fn_of(dev)->runtime_resume);
	return 0;
}

static int pm_suspend_cb(struct device *dev)
{
	atomic_inc(&pm_fn_of(dev)->suspend);
	return 0;
}

static int pm_resume_cb(struct device *dev)
{
	atomic_inc(&pm_fn_of(dev)->resume);
	return 0;
}

static const struct dev_pm_ops pm_ops = {
	SYSTEM_SLEEP_PM_OPS(pm_suspend_cb, pm_resume_cb)
	RUNTIME_PM_OPS(pm_runtime_suspend_cb, pm_runtime_resume_cb, NULL)
};

static pci_ers_result_t pm_error_detected(struct pci_dev *pdev,
					  pci_channel_state_t state)
{
	atomic_inc(&pm_fn_of(&pdev->dev)->error_detected);
	if (state == pci_channel_io_perm_failure)
		return PCI_ERS_RESULT_DISCONNECT;
	return PCI_ERS_RESULT_NEED_RESET;
}

/* The bus reset of AER recovery does not restore the config space itself */
static pci_ers_result_t pm_slot_reset(struct pci_dev *pdev)
{
	atomic_inc(&pm_fn_of(&pdev->dev)->slot_reset);
	pci_restore_state(pdev);
	pci_save_state(pdev);
	return PCI_ERS_RESULT_RECOVERED;
}

static void pm_error_resume(struct pci_dev *pdev)
{
	atomic_inc(&pm_fn_of(&pdev->dev)->error_resume);
}

static const struct pci_error_handlers pm_err_handlers = {
	.error_detected = pm_error_detected,
	.slot_reset = pm_slot_reset,
	.resume = pm_error_resume,
};

static int pm_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct pm_fn *fn;

	fn = kzalloc_obj(*fn);
	if (!fn)
		return -ENOMEM;
	fn->pdev = pdev;
	pci_set_drvdata(pdev, fn);
	pci_save_state(pdev);
	mutex_lock(&pm_lock);
	list_add_tail(&fn->node, &pm_fns);
	mutex_unlock(&pm_lock);
	/*
	 * The PCI core holds a runtime PM reference across probe; drop it so
	 * that the function may suspend once user space allows it.
	 */
	pm_runtime_put_noidle(&pdev->dev);
	return 0;
}

static void pm_remove(struct pci_dev *pdev)
{
	struct pm_fn *fn = pci_get_drvdata(pdev);

	/* Balances the put in probe; the PCI core resumed the function */
	pm_runtime_get_noresume(&pdev->dev);
	mutex_lock(&pm_lock);
	list_del(&fn->node);
	mutex_unlock(&pm_lock);
	kfree(fn);
}

static struct pci_driver pm_driver = {
	.name = "test_iommu_reset_pm",
	.probe = pm_probe,
	.remove = pm_remove,
	.driver.pm = pm_ptr(&pm_ops),
	.err_handler = &pm_err_handlers,
	/*
	 * It does no DMA: the group of its function can still be claimed for
	 * DMA ownership (as VFIO does) while it is bound.
	 */
	.driver_managed_dma = true,
};

static int pm_stats_show(struct seq_file *m, void *v)
{
	struct pm_fn *fn;

	mutex_lock(&pm_lock);
	list_for_each_entry(fn, &pm_fns, node)
		seq_printf(m, "%s runtime_suspend=%d runtime_resume=%d suspend=%d resume=%d error_detected=%d slot_reset=%d error_resume=%d\n",
			   pci_name(fn->pdev), atomic_read(&fn->runtime_suspend),
			   atomic_read(&fn->runtime_resume),
			   atomic_read(&fn->suspend), atomic_read(&fn->resume),
			   atomic_read(&fn->error_detected),
			   atomic_read(&fn->slot_reset),
			   atomic_read(&fn->error_resume));
	mutex_unlock(&pm_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(pm_stats);

static int __init pm_init(void)
{
	int ret;

	if (!IS_ENABLED(CONFIG_PM)) {
		pr_err("the kernel has no power management (CONFIG_PM)\n");
		return -EOPNOTSUPP;
	}
	pm_dir = debugfs_create_dir(KBUILD_MODNAME, NULL);
	debugfs_create_file("stats", 0444, pm_dir, NULL, &pm_stats_fops);
	ret = pci_register_driver(&pm_driver);
	if (ret)
		debugfs_remove_recursive(pm_dir);
	return ret;
}

static void __exit pm_exit(void)
{
	pci_unregister_driver(&pm_driver);
	debugfs_remove_recursive(pm_dir);
}

module_init(pm_init);
module_exit(pm_exit);
MODULE_DESCRIPTION("PCI driver with runtime PM and error recovery for the IOMMU reset selftests");
MODULE_LICENSE("GPL");
