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
        // and the mapping borrows it: the device stays bound while the mapping exists.
        let mapping = unsafe { Mapping::new(&self.dev, page, dir) }?;
        // INVARIANT: `mapping` is `self.dev`'s, bound while `self` is borrowed.
        Ok(MappedPage {
            streaming: self,
            mapping,
        })
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

/// A one-page streaming mapping: the part that [`MappedPage`] and [`OwnedMappedPage`] share.
///
/// It does not know its device: each method takes it, and its owner keeps the device bound.
///
/// # Invariants
///
/// `addr` is a live mapping of `page` in direction `dir` for the device of its owner, until
/// [`Mapping::unmap`] or [`Mapping::release`]; `page` is not dropped before.
struct Mapping {
    page: ManuallyDrop<Page>,
    addr: DmaAddress,
    dir: DataDirection,
}

impl Mapping {
    /// Maps `page` for `dev` in direction `dir`.
    ///
    /// # Safety
    ///
    /// `dev` must be bound, and stay bound until the mapping is torn down.
    unsafe fn new(dev: &Device, page: Page, dir: DataDirection) -> Result<Self, MapError> {
        // SAFETY: As the caller guarantees.
        match unsafe { map(dev, &page, dir) } {
            // INVARIANT: `addr` is a live mapping of `page` for `dev`.
            Ok(addr) => Ok(Self {
                page: ManuallyDrop::new(page),
                addr,
                dir,
            }),
            Err(error) => Err(MapError { error, page }),
        }
    }

    /// Makes the device's writes to the page visible to the CPU.
    ///
    /// # Safety
    ///
    /// `dev` must be the device the mapping was made for, and still bound.
    unsafe fn sync_for_cpu(&self, dev: &Device) {
        // SAFETY: By the type invariant the mapping is live; `dev` is its device and bound (as
        // the caller guarantees).
        unsafe {
            bindings::dma_sync_single_for_cpu(dev.as_raw(), self.addr, PAGE_SIZE, self.dir.into())
        };
    }

    /// Makes the CPU's writes to the page visible to the device.
    ///
    /// # Safety
    ///
    /// As for [`Mapping::sync_for_cpu`].
    unsafe fn sync_for_device(&self, dev: &Device) {
        // SAFETY: As for `sync_for_cpu`.
        unsafe {
            bindings::dma_sync_single_for_device(
                dev.as_raw(),
                self.addr,
                PAGE_SIZE,
                self.dir.into(),
            )
        };
    }

    /// Tears the mapping down and returns the page.
    ///
    /// # Safety
    ///
    /// As for [`Mapping::sync_for_cpu`]; the mapping is not used again (its owner does not drop
    /// it, or drops it through [`Mapping::release`] only).
    unsafe fn unmap(&mut self, dev: &Device) -> Page {
        // SAFETY: By the type invariant the mapping is live, and this is its only teardown (as
        // the caller guarantees); `dev` is its device and bound.
        unsafe {
            bindings::dma_unmap_page_attrs(dev.as_raw(), self.addr, PAGE_SIZE, self.dir.into(), 0)
        };
        // SAFETY: The mapping is torn down, so the page may go; it is taken out once, since the
        // mapping is not used again.
        unsafe { ManuallyDrop::take(&mut self.page) }
    }

    /// Tears the mapping down and frees the page.
    ///
    /// # Safety
    ///
    /// As for [`Mapping::unmap`].
    unsafe fn release(&mut self, dev: &Device) {
        // SAFETY: As the caller guarantees.
        drop(unsafe { self.unmap(dev) });
    }
}

/// A page mapped for streaming DMA, which owns the page and unmaps it when dropped.
///
/// # Invariants
///
/// `mapping` is a live mapping for `streaming.dev`, which is bound while `streaming` is
/// borrowed.
pub struct MappedPage<'a> {
    streaming: &'a Streaming,
    mapping: Mapping,
}

impl MappedPage<'_> {
    /// Returns the bus address the device uses for the page.
    pub fn dma_handle(&self) -> DmaAddress {
        self.mapping.addr
    }

    /// Returns the mapped page.
    ///
    /// Its contents belong to the device until [`MappedPage::sync_for_cpu`]: reading or
    /// writing them (which needs `unsafe` [`Page`] methods) races with its DMA before that.
    pub fn page(&self) -> &Page {
        &self.mapping.page
    }

    /// Makes what the device wrote to the page visible to the CPU (`dma_sync_single_for_cpu()`).
    pub fn sync_for_cpu(&self) {
        // SAFETY: By the type invariant the mapping is `streaming.dev`'s, which is bound.
        unsafe { self.mapping.sync_for_cpu(&self.streaming.dev) };
    }

    /// Makes what the CPU wrote to the page visible to the device
    /// (`dma_sync_single_for_device()`).
    pub fn sync_for_device(&self) {
        // SAFETY: By the type invariant the mapping is `streaming.dev`'s, which is bound.
        unsafe { self.mapping.sync_for_device(&self.streaming.dev) };
    }

    /// Unmaps the page and returns it.
    pub fn unmap(self) -> Page {
        let mut this = ManuallyDrop::new(self);
        let streaming = this.streaming;
        // SAFETY: By the type invariant the mapping is `streaming.dev`'s, which is bound. `Drop`
        // does not run for `this`, which is not used again: this is the mapping's only teardown.
        unsafe { this.mapping.unmap(&streaming.dev) }
    }
}

impl Drop for MappedPage<'_> {
    fn drop(&mut self) {
        // SAFETY: By the type invariant the mapping is `streaming.dev`'s, which is bound; it is
        // not used after `drop`.
        unsafe { self.mapping.release(&self.streaming.dev) };
    }
}

/// A page mapped for streaming DMA that does not borrow a bound context: it is held in a
/// [`Devres`], which unmaps it when the driver unbinds at the latest, so it can be kept in a
/// driver's data and used from its interrupt handler (through [`Devres::access`] or
/// [`Devres::try_access`]).
///
/// # Invariants
///
/// `mapping` is a live mapping for `dev`, and `dev` is bound while the object exists (it only
/// exists inside a `Devres` of `dev`).
pub struct OwnedMappedPage {
    dev: ARef<Device>,
    mapping: Mapping,
}

impl OwnedMappedPage {
    /// Maps `page` for `dev` in direction `dir`, held in a [`Devres`] of `dev`.
    ///
    /// Fails with [`EINVAL`] for [`DataDirection::None`], and with [`ENOMEM`] when the page
    /// cannot be mapped or the `Devres` not allocated (the page is then freed).
    pub fn new(dev: &Device<Bound>, page: Page, dir: DataDirection) -> Result<Devres<Self>> {
        // SAFETY: `dev` is bound now; the mapping lives in a `Devres` of `dev`, which drops it
        // (unmapping it) when `dev` unbinds at the latest.
        let mapping = unsafe { Mapping::new(dev, page, dir) }?;
        let dev_ref: &Device = dev;
        // INVARIANT: `mapping` is `dev`'s; if `Devres::new` fails, the object is dropped at
        // once, while `dev` is still bound.
        Devres::new(
            dev,
            Self {
                dev: dev_ref.into(),
                mapping,
            },
        )
    }

    /// Returns the bus address the device uses for the page.
    pub fn dma_handle(&self) -> DmaAddress {
        self.mapping.addr
    }

    /// Returns the mapped page; see [`MappedPage::page`].
    pub fn page(&self) -> &Page {
        &self.mapping.page
    }

    /// Makes what the device wrote to the page visible to the CPU (`dma_sync_single_for_cpu()`).
    pub fn sync_for_cpu(&self) {
        // SAFETY: By the type invariant the mapping is `dev`'s, which is bound.
        unsafe { self.mapping.sync_for_cpu(&self.dev) };
    }

    /// Makes what the CPU wrote to the page visible to the device
    /// (`dma_sync_single_for_device()`).
    pub fn sync_for_device(&self) {
        // SAFETY: By the type invariant the mapping is `dev`'s, which is bound.
        unsafe { self.mapping.sync_for_device(&self.dev) };
    }
}

impl Drop for OwnedMappedPage {
    fn drop(&mut self) {
        // SAFETY: By the type invariant the mapping is `dev`'s, which is bound: the object is
        // dropped by its `Devres`, at the latest while the device unbinds. It is not used after
        // `drop`.
        unsafe { self.mapping.release(&self.dev) };
    }
}

#[macros::kunit_tests(rust_dma_streaming)]
mod tests {
    use super::*;
    use crate::{
        error::from_err_ptr,
        sync::{
            Mutex,
            MutexGuard, //
        },
    };
    use core::ops::Deref;

    /// A device on KUnit's bus, bound to a driver KUnit registers for it alone.
    ///
    /// # Invariants
    ///
    /// `dev` was returned by `kunit_device_register()` for `test`, the running test; it stays
    /// registered until [`TestDevice::unregister`] or the end of the test. It was bound to its
    /// driver then, but may be unbound meanwhile: the suite can be run again through debugfs,
    /// while user space writes to the driver's `unbind`. [`TestDevice::bound`] checks.
    struct TestDevice {
        test: *mut bindings::kunit,
        dev: *mut bindings::device,
    }

    impl TestDevice {
        /// Registers a device named `name` for the running test.
        fn new(name: &CStr) -> Result<Self> {
            // SAFETY: FFI call without arguments; it reads the current task.
            let test = unsafe { bindings::kunit_get_current_test() };
            if test.is_null() {
                return Err(EINVAL);
            }
            // SAFETY: `test` is the running test; `name` is NUL-terminated, and KUnit copies it.
            let dev = unsafe { bindings::kunit_device_register(test, name.as_char_ptr()) };
            let dev = from_err_ptr(dev)?;
            // SAFETY: `dev` is a registered device; its driver pointer is only compared with NULL.
            if unsafe { (*dev).driver }.is_null() {
                // SAFETY: `dev` was registered for `test` just now.
                unsafe { bindings::kunit_device_unregister(test, dev) };
                return Err(ENODEV);
            }
            // INVARIANT: `dev` is `test`'s and bound.
            Ok(Self { test, dev })
        }

        /// Returns the device as bound, with its device lock held (which unbinding takes) until
        /// the returned guard is dropped, or [`ENODEV`] when it is no longer bound.
        fn bound(&self) -> Result<BoundTestDevice<'_>> {
            // SAFETY: By the type invariant `dev` is valid until `unregister()`, which consumes
            // `self`, or the end of the test, which outlives `self`; its `mutex` is the device
            // lock, initialised when the device was.
            let lock = unsafe { Mutex::<()>::from_raw(&raw mut (*self.dev).mutex) }.lock();
            // SAFETY: `dev` is valid; its driver pointer changes only with the device lock held.
            if unsafe { (*self.dev).driver }.is_null() {
                return Err(ENODEV);
            }
            // SAFETY: `dev` is valid and bound, and stays bound while the device lock is held,
            // that is for the lifetime of the guard.
            let dev = unsafe { <Device>::from_raw(self.dev).as_bound() };
            Ok(BoundTestDevice { dev, _lock: lock })
        }

        /// Unregisters the device, which unbinds it (and releases its devres) first.
        fn unregister(self) {
            // SAFETY: By the type invariant `dev` is `test`'s and still registered; `self` is
            // consumed, so nothing uses `dev` afterwards.
            unsafe { bindings::kunit_device_unregister(self.test, self.dev) };
        }
    }

    /// A [`TestDevice`] as bound, its device lock held.
    struct BoundTestDevice<'a> {
        dev: &'a Device<Bound>,
        _lock: MutexGuard<'a, ()>,
    }

    impl Deref for BoundTestDevice<'_> {
        type Target = Device<Bound>;

        fn deref(&self) -> &Device<Bound> {
            self.dev
        }
    }

    /// Returns the reference count of `page`.
    ///
    /// # Safety
    ///
    /// `page` must be a page the caller holds a reference to.
    unsafe fn page_count(page: *mut bindings::page) -> i32 {
        // SAFETY: `page` is valid, as the caller guarantees.
        unsafe { bindings::atomic_read(&raw mut (*page)._refcount) }
    }

    #[test]
    fn direction_none_is_refused() -> Result {
        let tdev = TestDevice::new(c"none")?;
        {
            let guard = tdev.bound()?;
            let dev: &Device<Bound> = &guard;
            let streaming = Streaming::new(dev)?;
            let dma = streaming.access(dev)?;
            let page = Page::alloc_page(GFP_KERNEL)?;
            let raw = page.as_ptr();
            // The page comes back unmapped in the error, and is still the caller's.
            let err = dma
                .map_page(page, DataDirection::None)
                .err()
                .ok_or(EINVAL)?;
            assert_eq!(err.error, EINVAL);
            assert!(core::ptr::eq(err.page.as_ptr(), raw));
            // SAFETY: The error holds the page.
            assert_eq!(unsafe { page_count(raw) }, 1);
            let page = Page::alloc_page(GFP_KERNEL)?;
            let owned = OwnedMappedPage::new(dev, page, DataDirection::None);
            assert_eq!(owned.err(), Some(EINVAL));
            // Refusals left the device usable: the same access maps in a real direction.
            let mapping = dma.map_page(err.page, DataDirection::ToDevice)?;
            assert!(core::ptr::eq(mapping.unmap().as_ptr(), raw));
        }
        tdev.unregister();
        Ok(())
    }

    #[test]
    fn map_sync_unmap_keeps_the_page() -> Result {
        const PATTERN: [u8; 8] = *b"dmastrm\n";
        let tdev = TestDevice::new(c"roundtrip")?;
        {
            let guard = tdev.bound()?;
            let dev: &Device<Bound> = &guard;
            let streaming = Streaming::new(dev)?;
            let dma = streaming.access(dev)?;
            let page = Page::alloc_page(GFP_KERNEL)?;
            let raw = page.as_ptr();
            // SAFETY: `PATTERN` is valid for reads of its length; the page is not mapped yet.
            unsafe { page.write_raw(PATTERN.as_ptr(), 0, PATTERN.len())? };
            let mapping = dma.map_page(page, DataDirection::Bidirectional)?;
            assert!(core::ptr::eq(mapping.page().as_ptr(), raw));
            mapping.sync_for_cpu();
            mapping.sync_for_device();
            let page = mapping.unmap();
            // SAFETY: `page` is ours again: it was unmapped.
            assert_eq!(unsafe { page_count(page.as_ptr()) }, 1);
            let mut back = [0u8; 8];
            // SAFETY: `back` is valid for writes of its length; the page is not mapped.
            unsafe { page.read_raw(back.as_mut_ptr(), 0, back.len())? };
            assert_eq!(back, PATTERN);
        }
        tdev.unregister();
        Ok(())
    }

    #[test]
    fn access_needs_the_same_device() -> Result {
        let a = TestDevice::new(c"a")?;
        let b = TestDevice::new(c"b")?;
        let streaming = Streaming::new(&*a.bound()?)?;
        // Another device's binding does not prove that `a` is bound.
        assert_eq!(streaming.access(&*b.bound()?).err(), Some(EINVAL));
        let page = Page::alloc_page(GFP_KERNEL)?;
        let owned = OwnedMappedPage::new(&*a.bound()?, page, DataDirection::FromDevice)?;
        assert_eq!(owned.access(&*b.bound()?).err(), Some(EINVAL));
        assert!(owned.access(&*a.bound()?).is_ok());
        b.unregister();
        a.unregister();
        Ok(())
    }

    #[test]
    fn unbind_unmaps_and_revokes() -> Result {
        let tdev = TestDevice::new(c"unbind")?;
        let streaming = Streaming::new(&*tdev.bound()?)?;
        let page = Page::alloc_page(GFP_KERNEL)?;
        let raw = page.as_ptr();
        // SAFETY: `raw` is a page allocated above; the extra reference, dropped at the end,
        // lets the test see the mapping give its page up.
        unsafe { bindings::atomic_inc(&raw mut (*raw)._refcount) };
        let owned = OwnedMappedPage::new(&*tdev.bound()?, page, DataDirection::ToDevice)?;
        {
            let mapping = owned.try_access().ok_or(ENXIO)?;
            assert!(core::ptr::eq(mapping.page().as_ptr(), raw));
            mapping.sync_for_device();
        }
        // SAFETY: The test holds a reference.
        assert_eq!(unsafe { page_count(raw) }, 2);
        // Unbinding releases the devres: the mapping is torn down and drops its page, and
        // neither the mapping nor the streaming access can be reached any more.
        tdev.unregister();
        assert!(owned.try_access().is_none());
        assert!(streaming.try_access().is_none());
        // SAFETY: The test holds a reference.
        assert_eq!(unsafe { page_count(raw) }, 1);
        // Dropping the revoked `Devres` frees nothing twice.
        drop(owned);
        // SAFETY: The test holds a reference.
        assert_eq!(unsafe { page_count(raw) }, 1);
        // SAFETY: This drops the test's reference, the last one.
        unsafe { bindings::__free_pages(raw, 0) };
        Ok(())
    }
}
