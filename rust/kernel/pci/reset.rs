// SPDX-License-Identifier: GPL-2.0

//! PCI function resets, ATS and DMA aliases.
//!
//! C header: [`include/linux/pci.h`](srctree/include/linux/pci.h)

use super::Device;
use crate::{
    bindings,
    device,
    error::to_result,
    prelude::*, //
};
use core::{
    ops::ControlFlow,
    ptr, //
};

impl Device {
    /// Returns the PCI function behind a `struct pci_dev` pointer, e.g. one that C code passed
    /// to a Rust implementation of a PCI core hook.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a valid `struct pci_dev` that stays valid for `'a`.
    #[inline]
    pub unsafe fn from_raw<'a>(ptr: *mut bindings::pci_dev) -> &'a Self {
        // SAFETY: `Device` is a transparent wrapper of `struct pci_dev` and the caller
        // guarantees that `ptr` is valid for `'a`.
        unsafe { &*ptr.cast::<Self>() }
    }

    /// Returns the offset of the function's PCI Express capability in its config space, or
    /// [`None`] for a conventional PCI function.
    pub fn pcie_cap(&self) -> Option<usize> {
        // SAFETY: By the type invariant `self.as_raw()` is a valid `struct pci_dev`; the PCI core
        // sets `pcie_cap` when it scans the function and does not change it afterwards.
        let cap = unsafe { (*self.as_raw()).pcie_cap };
        (cap != 0).then_some(usize::from(cap))
    }

    /// Returns whether the function shares a requester ID with `other`: one of its DMA aliases
    /// (see [`Device::for_each_dma_alias`]) is also one of `other`'s.
    ///
    /// The IOMMU tells functions apart only by requester ID: functions that share one share
    /// their translations and their invalidations.
    pub fn shares_requester_id(&self, other: &Device) -> bool {
        self.for_each_dma_alias(|rid| {
            let shared = other.for_each_dma_alias(|other_rid| {
                if other_rid == rid {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            });
            if shared {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
    }

    /// Returns whether the function supports ATS and the IOMMU may enable it.
    #[inline]
    pub fn ats_supported(&self) -> bool {
        // SAFETY: By the type invariant `self.as_raw()` is a valid `struct pci_dev`.
        unsafe { bindings::pci_ats_supported(self.as_raw()) }
    }

    /// Calls `f` with each requester ID the function may use for DMA, its own and its aliases
    /// (quirks, PCIe-to-PCI bridges), until `f` returns [`ControlFlow::Break`].
    ///
    /// Returns whether `f` broke the iteration.
    ///
    /// # Examples
    ///
    /// ```
    /// use core::ops::ControlFlow;
    /// use kernel::{pci, prelude::*};
    ///
    /// fn print_requester_ids(pdev: &pci::Device) {
    ///     pdev.for_each_dma_alias(|rid| {
    ///         dev_info!(pdev, "DMA as {:02x}:{:02x}.{}\n", rid >> 8, (rid >> 3) & 0x1f, rid & 7);
    ///         ControlFlow::Continue(())
    ///     });
    /// }
    /// ```
    pub fn for_each_dma_alias<F>(&self, mut f: F) -> bool
    where
        F: FnMut(u16) -> ControlFlow<()>,
    {
        /// Calls the closure behind `data` with `alias`.
        ///
        /// # Safety
        ///
        /// `data` must point to an `F` that is not otherwise borrowed during the call.
        unsafe extern "C" fn call<F: FnMut(u16) -> ControlFlow<()>>(
            _pdev: *mut bindings::pci_dev,
            alias: u16,
            data: *mut c_void,
        ) -> c_int {
            // SAFETY: `data` is the `&mut F` passed below, live for the whole iteration.
            let f = unsafe { &mut *data.cast::<F>() };
            match f(alias) {
                ControlFlow::Break(()) => 1,
                ControlFlow::Continue(()) => 0,
            }
        }

        // SAFETY: `self.as_raw()` is a valid `struct pci_dev`; the callback matches the C
        // prototype and only uses `data` as the `F` it points to.
        let ret = unsafe {
            bindings::pci_for_each_dma_alias(self.as_raw(), Some(call::<F>), (&raw mut f).cast())
        };
        ret != 0
    }
}

impl Device<device::Bound> {
    /// Resets the function with the first reset method that works (`pci_reset_function()`).
    ///
    /// The PCI core saves and restores the function's config space around the reset, calls the
    /// bound driver's `reset_prepare`/`reset_done` handlers, and parks the function on its IOMMU
    /// group's blocking domain while it is reset. Takes the device lock, so it must not be
    /// called with it held (from a driver's `probe` or `unbind`, use
    /// [`Device::reset_function_locked`]), nor while the driver may be unbinding and waiting
    /// for the caller (e.g. with a [`BoundRef`](super::BoundRef) held): use
    /// [`Device::try_reset_function`] there.
    ///
    /// Returns [`ENOTTY`] when the function has no usable reset method.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::{device::Bound, pci, prelude::*};
    ///
    /// fn recover(pdev: &pci::Device<Bound>) -> Result {
    ///     pdev.reset_function().inspect_err(|e| {
    ///         dev_err!(pdev, "reset failed: {:?}\n", e);
    ///     })
    /// }
    /// ```
    pub fn reset_function(&self) -> Result {
        // SAFETY: By the type invariant `self.as_raw()` is a valid `struct pci_dev`, bound to the
        // caller's driver.
        to_result(unsafe { bindings::pci_reset_function(self.as_raw()) })
    }

    /// Like [`Device::reset_function`], but fails with [`EAGAIN`] instead of waiting when the
    /// device lock is contended.
    ///
    /// The methods tried are those of the function's `reset_method` sysfs attribute, in its
    /// order: to reset a function with an FLR only, write `flr` there.
    pub fn try_reset_function(&self) -> Result {
        // SAFETY: By the type invariant `self.as_raw()` is a valid `struct pci_dev`, bound to the
        // caller's driver.
        to_result(unsafe { bindings::pci_try_reset_function(self.as_raw()) })
    }

    /// Resets the slot or bus the function is on, with every function on it and below it,
    /// through a secondary bus reset of the bridge above (`pci_reset_bus()`, as VFIO's hot
    /// reset).
    ///
    /// A bus reset also resets the other functions of the bus (and of the buses below it), so
    /// the caller proves, as VFIO's hot reset does, that it owns every one of them: `others`
    /// holds a `Device<Bound>` of the caller's for each function the reset touches besides this
    /// one, that is a function bound, for the duration of the call, to the caller's driver or
    /// to one the caller is part of (as an auxiliary driver is of its parent's). When one is
    /// missing, or a function below the bridge has SR-IOV virtual functions enabled, the reset
    /// is refused with [`EBUSY`] and nothing is reset. A function hot-added to the bus between
    /// the check and the reset is reset with the others.
    ///
    /// Fails with [`EAGAIN`] when a device lock on the bus is contended and with [`ENOTTY`]
    /// when the bus cannot be reset (e.g. a root bus). Saves and restores the config space of
    /// every function on the bus, and calls their drivers' `reset_prepare`/`reset_done`
    /// handlers.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::{device::Bound, pci, prelude::*};
    ///
    /// // A driver bound to both functions of a two-function device resets them together.
    /// fn reset_both(fn0: &pci::Device<Bound>, fn1: &pci::Device<Bound>) -> Result {
    ///     fn0.try_reset_bus(&[fn1])
    /// }
    /// ```
    pub fn try_reset_bus(&self, others: &[&Device<device::Bound>]) -> Result {
        if !self.owns_bus(others) {
            return Err(EBUSY);
        }
        // SAFETY: By the type invariant `self.as_raw()` is a valid `struct pci_dev`, bound to the
        // caller's driver.
        to_result(unsafe { bindings::pci_reset_bus(self.as_raw()) })
    }

    /// Returns whether every function on the function's bus and the buses below it is the
    /// function itself or one of `others`, and none has SR-IOV virtual functions enabled.
    fn owns_bus(&self, others: &[&Device<device::Bound>]) -> bool {
        /// The walk's state: the caller's functions, and whether another one was seen.
        struct Walk<'a> {
            this: *mut bindings::pci_dev,
            others: &'a [&'a Device<device::Bound>],
            foreign: bool,
        }

        /// Notes a function that is neither `this` nor one of `others` and stops the walk.
        ///
        /// # Safety
        ///
        /// `data` points to a `Walk` that is not otherwise borrowed during the call.
        unsafe extern "C" fn visit(pdev: *mut bindings::pci_dev, data: *mut c_void) -> c_int {
            // SAFETY: `data` is the `&mut Walk` passed below, live for the whole walk.
            let walk = unsafe { &mut *data.cast::<Walk<'_>>() };
            let owned =
                ptr::eq(pdev, walk.this) || walk.others.iter().any(|o| ptr::eq(o.as_raw(), pdev));
            // The virtual functions of an SR-IOV physical function may sit on virtual buses,
            // which the walk does not visit (nor does the bus reset's own locking): a function
            // with VFs enabled counts as not owned.
            // SAFETY: `pdev` is a valid `struct pci_dev` during the walk.
            let vfs = unsafe { bindings::pci_num_vf(pdev) };
            walk.foreign = !owned || vfs > 0;
            c_int::from(!owned)
        }

        let mut walk = Walk {
            this: self.as_raw(),
            others,
            foreign: false,
        };
        // SAFETY: `self.as_raw()` is a valid `struct pci_dev`, whose `bus` is valid while it is
        // (a function is removed from its bus before it is freed). `pci_walk_bus()` takes the
        // PCI bus semaphore and calls `visit` with `walk`, which only uses it as a `Walk`.
        unsafe {
            bindings::pci_walk_bus((*self.as_raw()).bus, Some(visit), (&raw mut walk).cast());
        }
        !walk.foreign
    }

    /// Saves the function's config space (`pci_save_state()`), to restore it with
    /// [`Device::restore_state`] after a reset the driver performs itself.
    pub fn save_state(&self) -> Result {
        // SAFETY: `self.as_raw()` is a valid `struct pci_dev`, bound to a driver.
        to_result(unsafe { bindings::pci_save_state(self.as_raw()) })
    }

    /// Restores the config space that [`Device::save_state`] saved (`pci_restore_state()`),
    /// including the state of the function's capabilities (PCIe, ATS, MSI, ...). Does nothing
    /// when no state was saved since the last restore.
    pub fn restore_state(&self) {
        // SAFETY: `self.as_raw()` is a valid `struct pci_dev`, bound to a driver.
        unsafe { bindings::pci_restore_state(self.as_raw()) };
    }

    /// Blocks the IOMMU for the function ahead of a reset the driver performs itself, e.g.
    /// through a device-specific register.
    ///
    /// The function's RID and PASIDs are parked on its IOMMU group's blocking domain, so that
    /// the IOMMU neither translates for it nor sends it ATS invalidations, which a function in
    /// reset may not answer; until the token ends, the group refuses domain attachments with
    /// `-EBUSY`. The returned token unblocks the function when it is dropped or
    /// [`IommuResetToken::done`] is called: `done` needs a token, consumes it, and only
    /// [`Device::iommu_reset_prepare`] makes one, so a token cannot end twice or be forged.
    /// Resets through the PCI core ([`Device::reset_function`]) do this themselves; calls
    /// nest.
    ///
    /// A token that is leaked (`core::mem::forget`) never ends: the function stays blocked
    /// (its DMA fails, it gets no ATS invalidations) and its group keeps refusing attachments
    /// until the device is removed. That is safe, since nothing reaches the function's memory,
    /// but the function is lost to its driver; so do not leak one.
    ///
    /// A function without ATS, or without an IOMMU, is not blocked: the IOMMU sends it no
    /// invalidations to lose. The token is returned all the same and ending it does nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::{device::Bound, pci, prelude::*};
    ///
    /// fn vendor_reset(pdev: &pci::Device<Bound>) -> Result {
    ///     let token = pdev.iommu_reset_prepare()?;
    ///     // Reset the function through its own registers here.
    ///     token.done();
    ///     Ok(())
    /// }
    /// ```
    ///
    /// `done` consumes the token, so a second `done` does not compile:
    ///
    /// ```ignore,compile_fail
    /// use kernel::{device::Bound, pci, prelude::*};
    ///
    /// fn unbalanced(pdev: &pci::Device<Bound>) -> Result {
    ///     let token = pdev.iommu_reset_prepare()?;
    ///     token.done();
    ///     token.done(); // error[E0382]: use of moved value: `token`
    ///     Ok(())
    /// }
    /// ```
    pub fn iommu_reset_prepare(&self) -> Result<IommuResetToken<'_>> {
        // SAFETY: `self.as_raw()` is a valid `struct pci_dev`. The helpers' contract is that no
        // `iommu_release_device()` of the device races with them. On removal that happens
        // after unbind, and the device is bound to the caller's driver for the lifetime of
        // `&self` (and so of the token, which borrows it). The release of every device of an
        // IOMMU instance that is being unregistered (`iommu_device_unregister()`) is outside
        // that contract, for the PCI core's own reset paths as for this one.
        to_result(unsafe { bindings::pci_dev_reset_iommu_prepare(self.as_raw()) })?;
        // INVARIANT: The prepare above succeeded and is undone exactly once, by the token.
        Ok(IommuResetToken { pdev: self })
    }
}

/// Proof that a function's IOMMU is blocked for a reset; unblocks it when dropped.
///
/// # Invariants
///
/// `pci_dev_reset_iommu_prepare()` succeeded for `pdev`, and is undone only by this token.
#[must_use = "dropping the token unblocks the IOMMU at once"]
pub struct IommuResetToken<'a> {
    pdev: &'a Device<device::Bound>,
}

impl IommuResetToken<'_> {
    /// Unblocks the IOMMU for the function after its reset.
    pub fn done(self) {
        // `Drop` does the work; consuming `self` makes a second call impossible.
    }

    /// Ends a reset that failed: the IOMMU keeps the function blocked (quarantined) until a
    /// later reset of it succeeds.
    pub fn failed(self) {
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: By the type invariant the prepare succeeded and this is its only counterpart:
        // `Drop` does not run for `this`. The device is still bound (the token borrows it).
        unsafe { bindings::pci_dev_reset_iommu_failed(this.pdev.as_raw()) };
    }
}

impl Drop for IommuResetToken<'_> {
    fn drop(&mut self) {
        // SAFETY: By the type invariant the prepare succeeded and this is its only done; the
        // device is still bound (the token borrows the bound device).
        unsafe { bindings::pci_dev_reset_iommu_done(self.pdev.as_raw()) };
    }
}

impl<'a> Device<device::Core<'a>> {
    /// Resets the function like [`Device::reset_function`], for callers that hold the device
    /// lock already (a driver's `probe` and `unbind`, which the `Core` context proves).
    pub fn reset_function_locked(&self) -> Result {
        // SAFETY: `self.as_raw()` is a valid `struct pci_dev` and the `Core` context guarantees
        // that the device lock is held, as `pci_reset_function_locked()` requires.
        to_result(unsafe { bindings::pci_reset_function_locked(self.as_raw()) })
    }
}
