// SPDX-License-Identifier: GPL-2.0

//! Streaming DMA mappings.
//!
//! A streaming mapping makes memory the CPU owns visible to a device for one transfer
//! (`dma_map_page()`); it is torn down again with `dma_unmap_page()`, which, behind an IOMMU in
//! strict mode, also invalidates the IOTLB and the device's ATC.
//!
//! A mapping owns the page it maps: the page is freed only after it was unmapped. Forgetting a
//! mapping (`core::mem::forget`) therefore leaks the page with it, and the device can never reach
//! memory that was freed and reused. A [`MappedPage`] borrows the device's [`Streaming`] access,
//! for mappings made and torn down within one bound context (e.g. a loop); an
//! [`OwnedMappedPage`] is held in a [`Devres`] of its own, so that it can live in a driver's
//! data across interrupts and is unmapped when the driver unbinds at the latest.
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
use core::{
    fmt,
    mem::ManuallyDrop, //
};

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
/// fn map_twice(dev: &Device<Bound>) -> Result {
///     let streaming = Streaming::new(dev)?;
///     let dma = streaming.access(dev)?;
///     let mut page = Page::alloc_page(GFP_KERNEL)?;
///     for _ in 0..2 {
///         let mapping = dma.map_page(page, DataDirection::ToDevice)?;
///         let _addr = mapping.dma_handle();
///         // Unmapped here; the page comes back for the next round.
///         page = mapping.unmap();
///     }
///     Ok(())
/// }
/// ```
pub struct Streaming {
    dev: ARef<Device>,
}

/// Maps `page` for `dev`, returning the bus address.
///
/// # Safety
///
/// `dev` must be bound to a driver for the whole life of the mapping.
unsafe fn map(dev: &Device, page: &Page, dir: DataDirection) -> Result<DmaAddress> {
    // `dma_map_page_attrs()` BUG()s on DMA_NONE: a mapping must have a direction.
    if dir == DataDirection::None {
        return Err(EINVAL);
    }
    // SAFETY: `dev` is a valid device, bound (the caller guarantees it); `page` is a valid page
    // that the mapping owns, so it outlives the mapping.
    let addr = unsafe {
        bindings::dma_map_page_attrs(dev.as_raw(), page.as_ptr(), 0, PAGE_SIZE, dir.into(), 0)
    };
    // SAFETY: `addr` was just returned by `dma_map_page_attrs()` for this device.
    if unsafe { bindings::dma_mapping_error(dev.as_raw(), addr) } != 0 {
        return Err(ENOMEM);
    }
    Ok(addr)
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

    /// Maps `page` for DMA in direction `dir`; the mapping owns the page until
    /// [`MappedPage::unmap`] returns it.
    ///
    /// Fails with [`EINVAL`] for [`DataDirection::None`] and [`ENOMEM`] when the page cannot
    /// be mapped; the page comes back in the error.
    pub fn map_page(&self, page: Page, dir: DataDirection) -> Result<MappedPage<'_>, MapError> {
        // SAFETY: `self` exists only inside a `Devres` that is revoked when the device unbinds,
        // and the mapping borrows it.
        match unsafe { map(&self.dev, &page, dir) } {
            // INVARIANT: `addr` is a live mapping of `page` for `self.dev` in direction `dir`.
            Ok(addr) => Ok(MappedPage {
                streaming: self,
                page: ManuallyDrop::new(page),
                addr,
                dir,
            }),
            Err(error) => Err(MapError { error, page }),
        }
    }
}

/// A failed mapping: the error, and the page that was to be mapped.
pub struct MapError {
    /// Why the page could not be mapped.
    pub error: Error,
    /// The page, unchanged.
    pub page: Page,
}

impl From<MapError> for Error {
    fn from(e: MapError) -> Self {
        e.error
    }
}

impl fmt::Debug for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapError")
            .field("error", &self.error)
            .finish()
    }
}

/// Unmaps the one-page mapping `addr` of `dev`.
///
/// # Safety
///
/// `addr` must be a live mapping of one page for `dev` in direction `dir`, made while `dev`
/// was bound, and `dev` must still be bound.
unsafe fn unmap(dev: &Device, addr: DmaAddress, dir: DataDirection) {
    // SAFETY: As the caller guarantees.
    unsafe { bindings::dma_unmap_page_attrs(dev.as_raw(), addr, PAGE_SIZE, dir.into(), 0) };
}

/// Makes the device's writes to a mapped page visible to the CPU.
///
/// # Safety
///
/// As for [`unmap`].
unsafe fn sync_for_cpu(dev: &Device, addr: DmaAddress, dir: DataDirection) {
    // SAFETY: As the caller guarantees.
    unsafe { bindings::dma_sync_single_for_cpu(dev.as_raw(), addr, PAGE_SIZE, dir.into()) };
}

/// Makes the CPU's writes to a mapped page visible to the device.
///
/// # Safety
///
/// As for [`unmap`].
unsafe fn sync_for_device(dev: &Device, addr: DmaAddress, dir: DataDirection) {
    // SAFETY: As the caller guarantees.
    unsafe { bindings::dma_sync_single_for_device(dev.as_raw(), addr, PAGE_SIZE, dir.into()) };
}

/// A page mapped for streaming DMA, which owns the page and unmaps it when dropped.
///
/// # Invariants
///
/// `addr` is a live mapping of `page` for `streaming.dev` in direction `dir`; `page` is dropped
/// only after the mapping is torn down.
pub struct MappedPage<'a> {
    streaming: &'a Streaming,
    page: ManuallyDrop<Page>,
    addr: DmaAddress,
    dir: DataDirection,
}

impl MappedPage<'_> {
    /// Returns the bus address the device uses for the page.
    pub fn dma_handle(&self) -> DmaAddress {
        self.addr
    }

    /// Returns the mapped page.
    ///
    /// Its contents belong to the device until [`MappedPage::sync_for_cpu`]: reading or
    /// writing them (which needs `unsafe` [`Page`] methods) races with its DMA before that.
    pub fn page(&self) -> &Page {
        &self.page
    }

    /// Makes what the device wrote to the page visible to the CPU (`dma_sync_single_for_cpu()`).
    pub fn sync_for_cpu(&self) {
        // SAFETY: By the type invariant the mapping is live; the device is bound while
        // `streaming` is borrowed.
        unsafe { sync_for_cpu(&self.streaming.dev, self.addr, self.dir) };
    }

    /// Makes what the CPU wrote to the page visible to the device
    /// (`dma_sync_single_for_device()`).
    pub fn sync_for_device(&self) {
        // SAFETY: As for `sync_for_cpu`.
        unsafe { sync_for_device(&self.streaming.dev, self.addr, self.dir) };
    }

    /// Unmaps the page and returns it.
    pub fn unmap(self) -> Page {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: By the type invariant the mapping is live; the device is bound while
        // `streaming` is borrowed. `Drop` does not run for `this`, so this is the only unmap.
        unsafe { unmap(&this.streaming.dev, this.addr, this.dir) };
        // SAFETY: The page is taken out once; `this` is never used or dropped again.
        unsafe { ManuallyDrop::take(&mut this.page) }
    }
}

impl Drop for MappedPage<'_> {
    fn drop(&mut self) {
        // SAFETY: By the type invariant the mapping is live; the device is still bound while
        // `streaming` is borrowed.
        unsafe { unmap(&self.streaming.dev, self.addr, self.dir) };
        // SAFETY: The mapping is torn down, so the page may go; it is not used again.
        unsafe { ManuallyDrop::drop(&mut self.page) };
    }
}

/// A page mapped for streaming DMA that does not borrow a bound context: it is held in a
/// [`Devres`], which unmaps it when the driver unbinds at the latest, so it can be kept in a
/// driver's data and used from its interrupt handler (through [`Devres::access`] or
/// [`Devres::try_access`]).
///
/// # Invariants
///
/// `addr` is a live mapping of `page` for `dev` in direction `dir`, and `dev` is bound while
/// the object exists (it only exists inside a `Devres` of `dev`).
pub struct OwnedMappedPage {
    dev: ARef<Device>,
    page: ManuallyDrop<Page>,
    addr: DmaAddress,
    dir: DataDirection,
}

impl OwnedMappedPage {
    /// Maps `page` for `dev` in direction `dir`, held in a [`Devres`] of `dev`.
    ///
    /// Fails with [`EINVAL`] for [`DataDirection::None`], and with [`ENOMEM`] when the page
    /// cannot be mapped or the `Devres` not allocated (the page is then freed).
    pub fn new(dev: &Device<Bound>, page: Page, dir: DataDirection) -> Result<Devres<Self>> {
        // SAFETY: `dev` is bound now; the mapping lives in a `Devres` of `dev`, which drops it
        // (unmapping it) when `dev` unbinds at the latest.
        let addr = unsafe { map(dev, &page, dir)? };
        let dev_ref: &Device = dev;
        // INVARIANT: `addr` is a live mapping of `page` for `dev`; if `Devres::new` fails, the
        // object is dropped at once, while `dev` is still bound.
        Devres::new(
            dev,
            Self {
                dev: dev_ref.into(),
                page: ManuallyDrop::new(page),
                addr,
                dir,
            },
        )
    }

    /// Returns the bus address the device uses for the page.
    pub fn dma_handle(&self) -> DmaAddress {
        self.addr
    }

    /// Returns the mapped page; see [`MappedPage::page`].
    pub fn page(&self) -> &Page {
        &self.page
    }

    /// Makes what the device wrote to the page visible to the CPU (`dma_sync_single_for_cpu()`).
    pub fn sync_for_cpu(&self) {
        // SAFETY: By the type invariant the mapping is live and the device bound.
        unsafe { sync_for_cpu(&self.dev, self.addr, self.dir) };
    }

    /// Makes what the CPU wrote to the page visible to the device
    /// (`dma_sync_single_for_device()`).
    pub fn sync_for_device(&self) {
        // SAFETY: By the type invariant the mapping is live and the device bound.
        unsafe { sync_for_device(&self.dev, self.addr, self.dir) };
    }
}

impl Drop for OwnedMappedPage {
    fn drop(&mut self) {
        // SAFETY: By the type invariant the mapping is live and the device bound: the object is
        // dropped by its `Devres`, at the latest while the device unbinds.
        unsafe { unmap(&self.dev, self.addr, self.dir) };
        // SAFETY: The mapping is torn down, so the page may go; it is not used again.
        unsafe { ManuallyDrop::drop(&mut self.page) };
    }
}
