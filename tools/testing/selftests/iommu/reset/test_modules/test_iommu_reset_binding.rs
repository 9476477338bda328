// SPDX-License-Identifier: GPL-2.0

//! Misuses of `pci::Binding` that the kernel crate must refuse at run time, written as a
//! driver would write them, in safe code only; for reset_binding.sh.
//!
//! The driver has no ID table: bind it with `driver_override`. The module parameter `case`
//! picks what its binding does:
//!
//! - `0`, devres order: the driver takes a binding, then registers with devres an object that
//!   holds it, then a [`Devres`] of its own. Devres releases in reverse order, so at unbind the
//!   [`Devres`] is revoked before the object is dropped; the object's drop then enters the
//!   binding and, when that succeeds, reads the revoked [`Devres`] through the [`BoundRef`]'s
//!   device (a use after free) and asks for a new binding from inside the unbinding.
//! - `1`, composition: a work item on an [`OwnedQueue`] kept in the driver's data runs until
//!   [`Binding::enter`] fails. The queue's drop waits for it, so the unbinding must close the
//!   binding before it drops the driver's data.
//!
//! In every probe the driver also reads, with the new binding's device, a [`Devres`] kept from
//! the first binding of the function (revoked when that binding ended).
//!
//! Each outcome is a kernel log line `test_iommu_reset_binding: <what>: <outcome>`.
//!
//! [`BoundRef`]: kernel::pci::BoundRef

use kernel::{
    bindings,
    device::Core,
    devres::{
        self,
        Devres, //
    },
    pci::{
        self,
        Binding, //
    },
    prelude::*,
    sync::{
        Arc,
        SetOnce, //
    },
    time::{
        delay::fsleep,
        Delta, //
    },
    workqueue::OwnedQueue, //
};

/// What the driver's [`Devres`] holds: a heap object, so that a read after devres dropped it
/// is a use after free that KASAN reports.
type Payload = KBox<[u8; 64]>;

/// A [`Devres`] of the first binding, kept past its end.
static STALE: SetOnce<Arc<Devres<Payload>>> = SetOnce::new();

/// The case 0 object: devres drops it during the unbinding, after the [`Devres`] that was
/// registered after it.
struct Prober {
    binding: Binding,
    data: Arc<SetOnce<Arc<Devres<Payload>>>>,
}

impl Drop for Prober {
    fn drop(&mut self) {
        let Some(pdev) = self.binding.enter() else {
            pr_info!("devres order: enter: refused\n");
            return;
        };
        pr_info!("devres order: enter: BoundRef during the devres release\n");
        if let Some(data) = SetOnce::as_ref(&self.data) {
            match data.access(pdev.as_ref()) {
                Ok(payload) => pr_info!("devres order: access: read {:#x}\n", payload[0]),
                Err(e) => pr_info!("devres order: access: refused ({})\n", e.to_errno()),
            }
        }
        match pdev.binding() {
            Ok(_) => pr_info!("devres order: binding: new binding during the unbinding\n"),
            Err(e) => pr_info!("devres order: binding: refused ({})\n", e.to_errno()),
        }
    }
}

/// Per-device driver data.
struct BindingTest {
    /// Case 1: the queue of the work item that runs until the binding closes.
    _queue: Option<OwnedQueue>,
}

/// Case 1's work item: holds the function until the binding closes.
fn hold_until_closed(binding: Binding) {
    let mut rounds = 0u64;
    while let Some(pdev) = binding.enter() {
        drop(pdev);
        rounds += 1;
        fsleep(Delta::from_millis(1));
    }
    pr_info!("compose: worker: ended after {rounds} rounds\n");
}

impl BindingTest {
    /// Takes the binding and sets up `case`.
    fn setup(pdev: &pci::Device<Core<'_>>) -> Result<Self> {
        if let Some(stale) = STALE.as_ref() {
            match stale.access(pdev.as_ref()) {
                Ok(payload) => pr_info!("stale devres: access: read {:#x}\n", payload[0]),
                Err(e) => pr_info!("stale devres: access: refused ({})\n", e.to_errno()),
            }
        }
        let binding = pdev.binding()?;
        let mut queue = None;
        match module_parameters::case.value() {
            0 => {
                let data = Arc::new(SetOnce::new(), GFP_KERNEL)?;
                devres::register::<_, core::convert::Infallible>(
                    pdev.as_ref(),
                    Prober {
                        binding,
                        data: data.clone(),
                    },
                    GFP_KERNEL,
                )?;
                let payload = Arc::new(
                    Devres::new::<core::convert::Infallible>(
                        pdev.as_ref(),
                        KBox::new([0x5a; 64], GFP_KERNEL)?,
                    )?,
                    GFP_KERNEL,
                )?;
                let _ = data.populate(payload.clone());
                let _ = STALE.populate(payload);
            }
            1 => {
                let q =
                    OwnedQueue::new(c"test_iommu_reset_binding", bindings::wq_flags_WQ_UNBOUND)?;
                q.try_spawn(GFP_KERNEL, move || hold_until_closed(binding))?;
                queue = Some(q);
            }
            _ => return Err(EINVAL),
        }
        pr_info!("probe: case {}\n", module_parameters::case.value());
        Ok(Self { _queue: queue })
    }
}

kernel::pci_device_table!(PCI_TABLE, <BindingTest as pci::Driver>::IdInfo, []);

impl pci::Driver for BindingTest {
    type IdInfo = ();
    type Data<'bound> = Self;

    const ID_TABLE: pci::IdTable<Self::IdInfo> = &PCI_TABLE;

    fn probe<'bound>(
        pdev: &'bound pci::Device<Core<'_>>,
        _info: Option<&'bound Self::IdInfo>,
    ) -> impl PinInit<Self, Error> + 'bound {
        Self::setup(pdev)
    }

    fn unbind<'bound>(_pdev: &'bound pci::Device<Core<'_>>, _this: Pin<&Self>) {
        pr_info!("unbind: returns\n");
    }
}

kernel::module_pci_driver! {
    type: BindingTest,
    name: "test_iommu_reset_binding",
    authors: ["iommu-reset-rust developers"],
    description: "pci::Binding misuses that must be refused at run time (selftests)",
    license: "GPL v2",
    params: {
        case: u32 {
            default: 0,
            description: "0: devres order at unbind, 1: a binding worker on an owned queue",
        },
    },
}
