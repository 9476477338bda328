// SPDX-License-Identifier: GPL-2.0

//! IOMMU groups and the state their mutex protects.
//!
//! An IOMMU group is the smallest set of devices the IOMMU can isolate from each other. Its
//! `mutex` protects the group's domains, its device list with the per-device reset state, its
//! recovery counter and its PASID array.
//!
//! [`Group::lock`] takes that mutex and returns a [`LockedGroup`]; the protected state is only
//! reachable through it, and every handle it hands out ([`Domain`], [`GroupDevice`]) borrows it,
//! so none of them outlives the critical section.
//!
//! C header: [`include/linux/iommu.h`](srctree/include/linux/iommu.h), private state in
//! [`drivers/iommu/iommu-priv.h`](srctree/drivers/iommu/iommu-priv.h).

use crate::{
    bindings,
    device::Device,
    error::to_result,
    prelude::*,
    sync::{
        aref::{
            ARef,
            AlwaysRefCounted, //
        },
        Mutex,
        MutexGuard, //
    },
    types::Opaque, //
};
use core::{
    marker::PhantomData,
    ptr::{
        self,
        NonNull, //
    },
};

/// The PASID of the RID (no-PASID) attachment; PASID array entries start after it.
pub const NO_PASID: u32 = bindings::IOMMU_NO_PASID;

/// A reference-counted IOMMU group (`struct iommu_group`).
///
/// # Invariants
///
/// The pointer wrapped by [`Group`] is a valid `struct iommu_group`; references to it are only
/// created while a reference count is held on its kobject.
#[repr(transparent)]
pub struct Group(Opaque<bindings::iommu_group>);

// SAFETY: `struct iommu_group` is reference counted by its kobject: `iommu_group_ref_get()`
// increments it and `iommu_group_put()` releases it, from any context that may sleep.
unsafe impl AlwaysRefCounted for Group {
    #[inline]
    fn inc_ref(&self) {
        // SAFETY: The existence of a shared reference means the refcount is non-zero.
        unsafe { bindings::iommu_group_ref_get(self.as_raw()) };
    }

    #[inline]
    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: The safety requirements guarantee that the refcount is non-zero.
        unsafe { bindings::iommu_group_put(obj.cast().as_ptr()) };
    }
}

// SAFETY: A group may be used and released from any thread; its mutable state is only touched
// with its mutex held (see `LockedGroup`).
unsafe impl Send for Group {}

// SAFETY: All shared-reference methods either use immutable fields or take the group's mutex.
unsafe impl Sync for Group {}

impl Group {
    #[inline]
    fn as_raw(&self) -> *mut bindings::iommu_group {
        self.0.get()
    }

    /// Returns the IOMMU group of `dev`, or [`None`] when no IOMMU driver manages `dev`.
    ///
    /// Devices that only have a group (VFIO no-IOMMU groups) but no IOMMU driver return
    /// [`None`] too.
    pub fn of_device(dev: &Device) -> Option<ARef<Self>> {
        let raw = dev.as_raw();
        // SAFETY: `raw` is a valid `struct device`; `iommu` is read once and only dereferenced
        // when non-NULL. It is set before the device is probed by its IOMMU driver and cleared
        // only after the device has left its group.
        let has_iommu = unsafe {
            let iommu = (*raw).iommu;
            !iommu.is_null() && !(*iommu).iommu_dev.is_null()
        };
        if !has_iommu {
            return None;
        }
        // SAFETY: `raw` is a valid `struct device`. `iommu_group_get()` returns either NULL or
        // a group with an incremented reference count.
        let group = NonNull::new(unsafe { bindings::iommu_group_get(raw) })?;
        // SAFETY: We own the reference taken by `iommu_group_get()` and `Group` is a
        // transparent wrapper of `struct iommu_group`.
        Some(unsafe { ARef::from_raw(group.cast()) })
    }

    /// Returns the group's identifier, as in `/sys/kernel/iommu_groups/<id>`.
    pub fn id(&self) -> i32 {
        // SAFETY: By the type invariant, `self.as_raw()` is a valid group.
        unsafe { bindings::iommu_group_id(self.as_raw()) }
    }

    /// Takes the group's mutex, giving access to the state it protects.
    ///
    /// This may sleep.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::{device::Device, iommu::group::Group};
    ///
    /// fn reset_depth(dev: &Device) -> Option<u32> {
    ///     let group = Group::of_device(dev)?;
    ///     let locked = group.lock();
    ///     locked.device(dev).map(|gdev| gdev.reset_depth())
    /// }
    /// ```
    pub fn lock(&self) -> LockedGroup<'_> {
        // SAFETY: By the type invariant the group is valid, and so is its mutex, which was
        // initialised when the group was allocated and lives as long as the group, that is at
        // least as long as `&self`.
        let mutex = unsafe { Mutex::<()>::from_raw(&raw mut (*self.as_raw()).mutex) };
        // INVARIANT: `guard` holds the group's mutex until the `LockedGroup` is dropped.
        LockedGroup {
            group: self,
            _guard: mutex.lock(),
            _not_sync: PhantomData,
        }
    }
}

/// An IOMMU group whose mutex is held.
///
/// All group state that `group->mutex` protects is reached through this type: the current and
/// blocking domains, the group devices and their reset state, the recovery counter and the PASID
/// array. Dropping it releases the mutex.
///
/// # Invariants
///
/// `group->mutex` is held by the current task for the whole lifetime of the object.
pub struct LockedGroup<'a> {
    group: &'a Group,
    _guard: MutexGuard<'a, ()>,
    // The guard is released where it was taken, and its setters use shared references, so it
    // must stay on this thread: neither `Send` nor `Sync`.
    _not_sync: PhantomData<*mut ()>,
}

impl<'a> LockedGroup<'a> {
    #[inline]
    fn raw(&self) -> *mut bindings::iommu_group {
        self.group.as_raw()
    }

    /// Returns the group this guard locks.
    pub fn group(&self) -> &'a Group {
        self.group
    }

    /// Returns the domain the group is attached to (`group->domain`), if any.
    ///
    /// While a device of the group is blocked for a reset, this stays the domain it will return
    /// to; the device itself is attached to the blocking domain.
    pub fn domain(&self) -> Option<Domain<'_>> {
        // SAFETY: The mutex is held (type invariant), so `group->domain` is stable.
        Domain::from_raw(unsafe { (*self.raw()).domain })
    }

    /// Returns the group's blocking domain, if one was allocated already.
    pub fn blocking_domain(&self) -> Option<Domain<'_>> {
        // SAFETY: The mutex is held (type invariant).
        Domain::from_raw(unsafe { (*self.raw()).blocking_domain })
    }

    /// Returns the group's blocking domain, allocating it on first use.
    ///
    /// The blocking domain is the IOMMU driver's static blocked domain, or an empty paging
    /// domain for drivers that do not have one. It lives as long as the group.
    pub fn alloc_blocking_domain(&self) -> Result<Domain<'_>> {
        // SAFETY: The mutex is held (type invariant), as the function requires.
        to_result(unsafe { bindings::__iommu_group_alloc_blocking_domain(self.raw()) })?;
        self.blocking_domain().ok_or(ENOMEM)
    }

    /// Returns the number of devices of the group undergoing or awaiting recovery.
    ///
    /// While it is non-zero, domain attachments that may fail are refused with `-EBUSY`.
    pub fn recovery_cnt(&self) -> u32 {
        // SAFETY: The mutex is held (type invariant).
        unsafe { (*self.raw()).recovery_cnt }
    }

    /// Marks one more device of the group as undergoing recovery.
    pub fn recovery_get(&self) {
        // SAFETY: The mutex is held (type invariant), which serialises all writers.
        unsafe { (*self.raw()).recovery_cnt += 1 };
    }

    /// Marks one device of the group as recovered.
    ///
    /// Returns [`EINVAL`] (and changes nothing) if no device was in recovery.
    pub fn recovery_put(&self) -> Result {
        // SAFETY: The mutex is held (type invariant), which serialises all writers.
        unsafe {
            let cnt = &raw mut (*self.raw()).recovery_cnt;
            if *cnt == 0 {
                return Err(EINVAL);
            }
            *cnt -= 1;
        }
        Ok(())
    }

    /// Returns an iterator over the devices of the group.
    pub fn devices(&self) -> GroupDevices<'_> {
        // SAFETY: The mutex is held (type invariant), so the list is stable.
        let head = unsafe { &raw mut (*self.raw()).devices };
        GroupDevices {
            head,
            // SAFETY: `head` is a valid, initialised list head.
            pos: unsafe { (*head).next },
            _guard: PhantomData,
        }
    }

    /// Returns the group's entry for `dev`, or [`None`] if `dev` is not in this group.
    pub fn device(&self, dev: &Device) -> Option<GroupDevice<'_>> {
        self.devices()
            .find(|gdev| ptr::eq(gdev.raw_dev(), dev.as_raw()))
    }

    /// Returns an iterator over the PASID attachments of the group, from PASID `first` on.
    ///
    /// The PASID array is written only with the mutex held; its one lockless reader does not
    /// race with the walk.
    pub fn pasid_domains(&self, first: u32) -> PasidDomains<'_> {
        PasidDomains {
            // SAFETY: The mutex is held (type invariant); the array lives as long as the group.
            xa: unsafe { &raw mut (*self.raw()).pasid_array },
            index: usize::try_from(first).unwrap_or(usize::MAX),
            first: true,
            _guard: PhantomData,
        }
    }

    /// Returns whether `gdev` is a device of this group.
    fn owns(&self, gdev: GroupDevice<'_>) -> bool {
        // SAFETY: A group device's `dev` is valid while it is in a group, and its `iommu_group`
        // only changes when it leaves the group, which takes that group's mutex.
        ptr::eq(unsafe { (*gdev.raw_dev()).iommu_group }, self.raw())
    }

    /// Attaches the RID of `gdev` to `domain`, replacing `old`.
    ///
    /// This only changes the device's attachment in the IOMMU driver: `group->domain` is not
    /// touched, which is what lets a reset park a device on the blocking domain and return it
    /// later. Returns [`EINVAL`] if `gdev` belongs to another group.
    pub fn attach_device(
        &self,
        domain: Domain<'_>,
        gdev: GroupDevice<'_>,
        old: Option<Domain<'_>>,
    ) -> Result {
        if !self.owns(gdev) {
            return Err(EINVAL);
        }
        // SAFETY: The mutex is held (type invariant); `domain` and `old` are domains of this
        // group, valid while it is held; the device is a member of the group (checked above).
        to_result(unsafe {
            bindings::__iommu_attach_device(domain.as_raw(), gdev.raw_dev(), Domain::opt_raw(old))
        })
    }

    /// Detaches PASID `pasid` of `gdev` from `domain`, attaching it to the driver's blocked
    /// domain. The IOMMU core warns if the driver fails to do so.
    pub fn remove_dev_pasid(&self, gdev: GroupDevice<'_>, pasid: u32, domain: Domain<'_>) {
        if !self.owns(gdev) {
            return;
        }
        // SAFETY: The mutex is held (type invariant), the device is a member of the group and
        // `domain` is attached to `pasid` of the group.
        unsafe { bindings::iommu_remove_dev_pasid(gdev.raw_dev(), pasid, domain.as_raw()) };
    }

    /// Attaches PASID `pasid` of `gdev` to `domain`, replacing `old`.
    ///
    /// Returns [`EINVAL`] if `gdev` belongs to another group.
    pub fn set_dev_pasid(
        &self,
        domain: Domain<'_>,
        gdev: GroupDevice<'_>,
        pasid: u32,
        old: Option<Domain<'_>>,
    ) -> Result {
        if !self.owns(gdev) {
            return Err(EINVAL);
        }
        // SAFETY: `domain` is valid while the mutex is held; its `ops` are set at allocation.
        let set_dev_pasid = unsafe { (*(*domain.as_raw()).ops).set_dev_pasid }.ok_or(EOPNOTSUPP)?;
        // SAFETY: The mutex is held (type invariant), the device is a member of the group and
        // the domains are valid while it is held.
        to_result(unsafe {
            set_dev_pasid(domain.as_raw(), gdev.raw_dev(), pasid, Domain::opt_raw(old))
        })
    }
}

/// An IOMMU domain (`struct iommu_domain`) borrowed from a locked group.
///
/// # Invariants
///
/// The pointer is a valid domain for the lifetime `'g`, during which the group's mutex is held.
#[derive(Clone, Copy)]
pub struct Domain<'g> {
    ptr: NonNull<bindings::iommu_domain>,
    _guard: PhantomData<&'g ()>,
}

impl<'g> Domain<'g> {
    fn from_raw(ptr: *mut bindings::iommu_domain) -> Option<Self> {
        // INVARIANT: Only called by `LockedGroup` on domains the locked group references.
        NonNull::new(ptr).map(|ptr| Self {
            ptr,
            _guard: PhantomData,
        })
    }

    fn as_raw(self) -> *mut bindings::iommu_domain {
        self.ptr.as_ptr()
    }

    fn opt_raw(domain: Option<Self>) -> *mut bindings::iommu_domain {
        domain.map_or(ptr::null_mut(), Self::as_raw)
    }

    /// Returns the domain type (`IOMMU_DOMAIN_*`).
    pub fn domain_type(self) -> u32 {
        // SAFETY: By the type invariant the domain is valid.
        unsafe { (*self.as_raw()).type_ }
    }
}

impl PartialEq for Domain<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.ptr == other.ptr
    }
}

impl Eq for Domain<'_> {}

/// A device of a locked group (`struct group_device`) with its reset state.
///
/// # Invariants
///
/// The pointer is a valid `struct group_device` of the locked group for the lifetime `'g`.
#[derive(Clone, Copy)]
pub struct GroupDevice<'g> {
    ptr: NonNull<bindings::group_device>,
    _guard: PhantomData<&'g ()>,
}

impl PartialEq for GroupDevice<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.ptr == other.ptr
    }
}

impl Eq for GroupDevice<'_> {}

impl<'g> GroupDevice<'g> {
    fn raw_dev(self) -> *mut bindings::device {
        // SAFETY: By the type invariant `ptr` is valid.
        unsafe { (*self.ptr.as_ptr()).dev }
    }

    /// Returns the device.
    pub fn dev(self) -> &'g Device {
        // SAFETY: A group device's `dev` is valid while it is in the group, which it is while
        // the mutex is held (`'g`).
        unsafe { Device::from_raw(self.raw_dev()) }
    }

    /// Returns whether the device is blocked for a pending recovery (a reset).
    pub fn blocked(self) -> bool {
        // SAFETY: The group's mutex is held for `'g` (type invariant).
        unsafe { (*self.ptr.as_ptr()).blocked }
    }

    /// Sets whether the device is blocked for a pending recovery.
    ///
    /// Readers such as `iommu_driver_get_domain_for_dev()` then return the blocking domain.
    pub fn set_blocked(self, blocked: bool) {
        // SAFETY: The group's mutex is held for `'g` (type invariant) and `LockedGroup` is not
        // `Sync`, so no other writer or reader can run concurrently.
        unsafe { (*self.ptr.as_ptr()).blocked = blocked };
    }

    /// Returns whether the device is quarantined: its last reset failed, and it stays blocked
    /// until a later reset succeeds.
    pub fn quarantined(self) -> bool {
        // SAFETY: The group's mutex is held for `'g` (type invariant).
        unsafe { (*self.ptr.as_ptr()).quarantined }
    }

    /// Sets whether the device is quarantined.
    pub fn set_quarantined(self, quarantined: bool) {
        // SAFETY: As for `set_blocked`.
        unsafe { (*self.ptr.as_ptr()).quarantined = quarantined };
    }

    /// Returns the reset nesting depth of the device.
    pub fn reset_depth(self) -> u32 {
        // SAFETY: The group's mutex is held for `'g` (type invariant).
        unsafe { (*self.ptr.as_ptr()).reset_depth }
    }

    /// Sets the reset nesting depth of the device.
    pub fn set_reset_depth(self, depth: u32) {
        // SAFETY: As for `set_blocked`.
        unsafe { (*self.ptr.as_ptr()).reset_depth = depth };
    }

    /// Returns the number of PASIDs the device supports (0: no PASID support).
    pub fn max_pasids(self) -> u32 {
        // SAFETY: A device in a group has a valid `dev->iommu` while it is in the group.
        unsafe { (*(*self.raw_dev()).iommu).max_pasids }
    }
}

/// Iterator over the devices of a locked group, see [`LockedGroup::devices`].
pub struct GroupDevices<'g> {
    head: *mut bindings::list_head,
    pos: *mut bindings::list_head,
    _guard: PhantomData<&'g ()>,
}

impl<'g> Iterator for GroupDevices<'g> {
    type Item = GroupDevice<'g>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos == self.head {
            return None;
        }
        // SAFETY: `pos` is a list node of `group->devices`, embedded as `list` in a
        // `struct group_device`; the list is stable while the mutex is held.
        let gdev = unsafe { crate::container_of!(self.pos, bindings::group_device, list) };
        // SAFETY: `pos` is a valid node; the list cannot change while the mutex is held.
        self.pos = unsafe { (*self.pos).next };
        // INVARIANT: `gdev` is a device of the locked group.
        Some(GroupDevice {
            ptr: NonNull::new(gdev)?,
            _guard: PhantomData,
        })
    }
}

/// Iterator over the PASID attachments of a locked group, see [`LockedGroup::pasid_domains`].
pub struct PasidDomains<'g> {
    xa: *mut bindings::xarray,
    index: usize,
    first: bool,
    _guard: PhantomData<&'g ()>,
}

impl<'g> Iterator for PasidDomains<'g> {
    type Item = (u32, Domain<'g>);

    fn next(&mut self) -> Option<Self::Item> {
        let mut index = self.index;
        // SAFETY: `xa` is the group's PASID array, valid and stable while the mutex is held.
        // `xa_find()` and `xa_find_after()` take the RCU read lock themselves.
        let entry = unsafe {
            if self.first {
                bindings::xa_find(self.xa, &mut index, usize::MAX, XA_PRESENT)
            } else {
                bindings::xa_find_after(self.xa, &mut index, usize::MAX, XA_PRESENT)
            }
        };
        if entry.is_null() {
            return None;
        }
        self.first = false;
        self.index = index;
        // SAFETY: `entry` is a present entry of the PASID array, a tagged domain or handle.
        let domain = unsafe { bindings::pasid_array_entry_to_domain(entry) };
        // A PASID array index is an `ioasid_t`, so it fits in a `u32`.
        Some((u32::try_from(index).ok()?, Domain::from_raw(domain)?))
    }
}

/// `XA_PRESENT`: the search mark that matches every present entry.
const XA_PRESENT: bindings::xa_mark_t = 8;
