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
use core::ops::ControlFlow;

impl Device {
    /// Resets the function with the first reset method that works (`pci_reset_function()`).
    ///
    /// Saves and restores the function's config space around the reset and parks it on its
    /// IOMMU group's blocking domain while it is reset. Takes the device lock, so it must not
    /// be called with it held: from a driver's `probe` or `unbind`, use
    /// [`Device::reset_function_locked`].
    ///
    /// Returns [`ENOTTY`] when the function has no usable reset method.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::{pci, prelude::*};
    ///
    /// fn recover(pdev: &pci::Device) -> Result {
    ///     pdev.reset_function().inspect_err(|e| {
    ///         dev_err!(pdev, "reset failed: {:?}\n", e);
    ///     })
    /// }
    /// ```
    pub fn reset_function(&self) -> Result {
        // SAFETY: By the type invariant `self.as_raw()` is a valid `struct pci_dev`.
        to_result(unsafe { bindings::pci_reset_function(self.as_raw()) })
    }

    /// Like [`Device::reset_function`], but fails with [`EAGAIN`] instead of waiting when the
    /// device lock is contended.
    pub fn try_reset_function(&self) -> Result {
        // SAFETY: By the type invariant `self.as_raw()` is a valid `struct pci_dev`.
        to_result(unsafe { bindings::pci_try_reset_function(self.as_raw()) })
    }

    /// Returns whether the function supports ATS and the IOMMU may enable it.
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
    /// use kernel::pci;
    ///
    /// fn shares_requester_id(a: &pci::Device, b: &pci::Device) -> bool {
    ///     a.for_each_dma_alias(|ra| {
    ///         if b.for_each_dma_alias(|rb| if ra == rb {
    ///             ControlFlow::Break(())
    ///         } else {
    ///             ControlFlow::Continue(())
    ///         }) {
    ///             ControlFlow::Break(())
    ///         } else {
    ///             ControlFlow::Continue(())
    ///         }
    ///     })
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

impl<'a> Device<device::Core<'a>> {
    /// Resets the function like [`Device::reset_function`], for callers that hold the device
    /// lock already (a driver's `probe` and `unbind`, which the `Core` context proves).
    pub fn reset_function_locked(&self) -> Result {
        // SAFETY: `self.as_raw()` is a valid `struct pci_dev` and the `Core` context guarantees
        // that the device lock is held, as `pci_reset_function_locked()` requires.
        to_result(unsafe { bindings::pci_reset_function_locked(self.as_raw()) })
    }
}
