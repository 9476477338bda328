// SPDX-License-Identifier: GPL-2.0

//! Streaming DMA mappings.
//!
//! A streaming mapping makes memory the CPU owns visible to a device for one transfer
//! (`dma_map_page()`); it is torn down again with `dma_unmap_page()`, which, behind an IOMMU in
//! strict mode, also invalidates the IOTLB and the device's ATC.
//!
//! C header: [`include/linux/dma-mapping.h`](srctree/include/linux/dma-mapping.h)

use crate::{
    bindings,
    device::{
        Bound,
        Device, //
    },
    devres::Devres,
    dma::{
        DataDirection,
        DmaAddress, //
    },
    page::{
        Page,
        PAGE_SIZE, //
    },
    prelude::*,
    sync::aref::ARef, //
};
use core::marker::PhantomData;

/// A device's access to the streaming DMA API.
///
/// The DMA API may only be used for a device while it is bound to a driver. [`Streaming`] is
/// therefore only handed out inside a [`Devres`], which revokes it when the driver unbinds:
/// mappings borrow it, so they are created and torn down while the device is bound.
///
/// # Examples
///
/// ```
/// use kernel::{
///     device::{Bound, Device},
///     dma::{streaming::Streaming, DataDirection},
///     page::Page,
///     prelude::*,
/// };
///
/// fn map_once(dev: &Device<Bound>) -> Result {
///     let streaming = Streaming::new(dev)?;
///     let page = Page::alloc_page(GFP_KERNEL)?;
///     let dma = streaming.access(dev)?;
///     let mapping = dma.map_page(&page, DataDirection::ToDevice)?;
///     let _addr = mapping.dma_handle();
///     // Unmapped here.
///     drop(mapping);
///     Ok(())
/// }
/// ```
pub struct Streaming {
    dev: ARef<Device>,
}

impl Streaming {
    /// Creates the streaming DMA access of `dev`, revoked when `dev` is unbound.
    pub fn new(dev: &Device<Bound>) -> Result<Devres<Self>> {
        let dev_ref: &Device = dev;
        Devres::new(
            dev,
            Self {
                dev: dev_ref.into(),
            },
        )
    }

    /// Maps one page for DMA in direction `dir`.
    ///
    /// The CPU must not touch the page's contents until the mapping is dropped.
    pub fn map_page<'a>(&'a self, page: &'a Page, dir: DataDirection) -> Result<MappedPage<'a>> {
        // SAFETY: `self.dev` is a valid, bound device (see the type documentation) and `page` a
        // valid page that outlives the mapping.
        let addr = unsafe {
            bindings::dma_map_page_attrs(
                self.dev.as_raw(),
                page.as_ptr(),
                0,
                PAGE_SIZE,
                dir.into(),
                0,
            )
        };
        // SAFETY: `addr` was just returned by `dma_map_page_attrs()` for this device.
        if unsafe { bindings::dma_mapping_error(self.dev.as_raw(), addr) } != 0 {
            return Err(ENOMEM);
        }
        // INVARIANT: `addr` is a live mapping of one page for `self.dev` in direction `dir`.
        Ok(MappedPage {
            streaming: self,
            addr,
            dir,
            _page: PhantomData,
        })
    }
}

/// A page mapped for streaming DMA, unmapped when dropped.
///
/// # Invariants
///
/// `addr` is a live mapping of one page for `streaming.dev` in direction `dir`.
pub struct MappedPage<'a> {
    streaming: &'a Streaming,
    addr: DmaAddress,
    dir: DataDirection,
    _page: PhantomData<&'a Page>,
}

impl MappedPage<'_> {
    /// Returns the bus address the device uses for the page.
    pub fn dma_handle(&self) -> DmaAddress {
        self.addr
    }
}

impl Drop for MappedPage<'_> {
    fn drop(&mut self) {
        // SAFETY: By the type invariant `addr` is a live mapping of one page for this device in
        // direction `dir`, and the device is still bound while `streaming` is borrowed.
        unsafe {
            bindings::dma_unmap_page_attrs(
                self.streaming.dev.as_raw(),
                self.addr,
                PAGE_SIZE,
                self.dir.into(),
                0,
            )
        };
    }
}
