// SPDX-License-Identifier: GPL-2.0

//! IOMMU groups and the state their mutex protects, for the PCI reset helpers.
//!
//! An IOMMU group is the smallest set of devices the IOMMU can isolate from each other. Its
//! `mutex` protects the group's domains, its device list with the per-device reset state, its
//! recovery counter and its PASID array. That state is the IOMMU core's own (its layout is in
//! `drivers/iommu/iommu-priv.h`), so this module is private to the reset helpers, which are
//! part of the IOMMU core; the kernel crate publishes none of it.
//!
//! [`Group::lock`] takes that mutex and returns a [`LockedGroup`]; the protected state is only
//! reachable through it, and every handle it hands out ([`Domain`], [`GroupDevice`]) borrows it,
//! so none of them outlives the critical section.
//!
//! The operations that change a device's reset state ([`LockedGroup::enter_reset`],
//! [`LockedGroup::park`], ...) keep the state consistent among themselves and take a
//! [`ResetPath`], which only an `unsafe` call whose contract is the reset protocol creates. No
//! operation takes a domain from its caller: the domains a device moves between come from the
//! group's own record.
//!
//! C header: [`include/linux/iommu.h`](srctree/include/linux/iommu.h), private state in
//! [`drivers/iommu/iommu-priv.h`](srctree/drivers/iommu/iommu-priv.h).

use core::{
    marker::PhantomData,
    ptr::{
        self,
        NonNull, //
    },
};
use kernel::{
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

/// The PASID of the RID (no-PASID) attachment; PASID array entries start after it.
pub(crate) const NO_PASID: u32 = bindings::IOMMU_NO_PASID;

/// Returns the `struct device` of `dev`.
#[inline]
fn raw_device(dev: &Device) -> *mut bindings::device {
    // `Device` is a transparent wrapper of `struct device`.
    ptr::from_ref(dev).cast::<bindings::device>().cast_mut()
}

/// A reference-counted IOMMU group (`struct iommu_group`).
///
/// # Invariants
///
/// The pointer wrapped by [`Group`] is a valid `struct iommu_group`; references to it are only
/// created while a reference count is held on its kobject.
#[repr(transparent)]
pub(crate) struct Group(Opaque<bindings::iommu_group>);

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

// SAFETY: The shared-reference methods read the group's id, which never changes, or take the
// group's mutex.
unsafe impl Sync for Group {}

impl Group {
    #[inline]
    fn as_raw(&self) -> *mut bindings::iommu_group {
        self.0.get()
    }

    /// Returns the IOMMU group of `dev` with a reference of its own, or [`None`] when no IOMMU
    /// driver manages it (devices that only have a group, VFIO no-IOMMU groups, return [`None`]
    /// too).
    ///
    /// # Safety
    ///
    /// `dev` must not be released from its IOMMU (`iommu_release_device()`, which frees
    /// `dev->iommu`) during the call, e.g. because the caller is a PCI reset path, which holds
    /// the device lock, or because the device cannot be removed meanwhile.
    #[cfg(CONFIG_KUNIT)]
    pub(crate) unsafe fn of_device_unchecked(dev: &Device) -> Option<ARef<Self>> {
        // SAFETY: The caller excludes `iommu_release_device()` for `dev` during the call, and
        // the borrowed group is used only within it, to take a reference of its own.
        unsafe { Self::of_device_borrowed(dev) }.map(ARef::from)
    }

    /// Returns the IOMMU group of `dev`, or [`None`] when no IOMMU driver manages it, borrowed
    /// from the device instead of with a reference of its own.
    ///
    /// A device holds a reference to its group from the time it joins it until it is released
    /// from its IOMMU. The reset and power transition paths, during which a device cannot
    /// leave its group, borrow that one instead of taking and dropping one on every call.
    ///
    /// # Safety
    ///
    /// `dev` must not be released from its IOMMU (`iommu_release_device()`) for as long as the
    /// returned reference is used, e.g. because the caller is a PCI reset path, which holds the
    /// device lock throughout.
    #[inline]
    pub(crate) unsafe fn of_device_borrowed(dev: &Device) -> Option<&Self> {
        let raw = raw_device(dev);
        // SAFETY: `raw` is a valid `struct device`. `dev->iommu` is only freed by
        // `iommu_release_device()`, which the caller excludes, so it stays valid while it is
        // read and, when non-NULL, dereferenced.
        let group = unsafe {
            let iommu = (*raw).iommu;
            if iommu.is_null() || (*iommu).iommu_dev.is_null() {
                return None;
            }
            (*raw).iommu_group
        };
        // SAFETY: A non-NULL `dev->iommu_group` is a group that holds a reference for `dev`
        // until `iommu_release_device()`, which the caller excludes for the lifetime of the
        // returned reference; `Group` is a transparent wrapper of `struct iommu_group`.
        NonNull::new(group).map(|group| unsafe { group.cast::<Self>().as_ref() })
    }

    /// Returns the group's identifier, as in `/sys/kernel/iommu_groups/<id>`.
    #[cfg(CONFIG_KUNIT)]
    pub(crate) fn id(&self) -> i32 {
        // SAFETY: By the type invariant, `self.as_raw()` is a valid group.
        unsafe { bindings::iommu_group_id(self.as_raw()) }
    }

    #[inline]
    fn mutex(&self) -> &Mutex<()> {
        // SAFETY: By the type invariant the group is valid, and so is its mutex, which was
        // initialised when the group was allocated and lives as long as the group, that is at
        // least as long as `&self`.
        unsafe { Mutex::<()>::from_raw(&raw mut (*self.as_raw()).mutex) }
    }

    /// Takes the group's mutex, giving access to the state it protects.
    ///
    /// This may sleep.
    #[inline]
    pub(crate) fn lock(&self) -> LockedGroup<'_> {
        // INVARIANT: The guard holds the group's mutex until the `LockedGroup` is dropped.
        LockedGroup {
            group: self,
            _guard: self.mutex().lock(),
            _not_send: PhantomData,
        }
    }

    /// Takes the group's mutex if it is free, without sleeping.
    #[cfg(CONFIG_KUNIT)]
    pub(crate) fn try_lock(&self) -> Option<LockedGroup<'_>> {
        // INVARIANT: The guard holds the group's mutex until the `LockedGroup` is dropped.
        Some(LockedGroup {
            group: self,
            _guard: self.mutex().try_lock()?,
            _not_send: PhantomData,
        })
    }
}

/// Proof that the caller is the IOMMU core's PCI reset or power transition path.
///
/// The reset state of a group's devices is the IOMMU core's: while a function is reset or out
/// of D0 it must stay on the blocking domain, and every reset that raised the group's recovery
/// count must lower it again. The [`LockedGroup`] operations that change that state take a
/// `ResetPath`, which can only be created by an `unsafe` call whose contract is the reset
/// protocol. It is neither `Send` nor `Sync`, so it stays in the call that created it.
pub(crate) struct ResetPath {
    _not_send: PhantomData<*mut ()>,
}

impl ResetPath {
    /// Creates the proof for the current call.
    ///
    /// # Safety
    ///
    /// The caller is the implementation of `pci_dev_reset_iommu_prepare()`,
    /// `pci_dev_reset_iommu_done()`, `pci_dev_reset_iommu_failed()`, `pci_dev_suspend_iommu()`
    /// or `pci_dev_resume_iommu()` (or their tests): it leaves with
    /// [`LockedGroup::leave_reset`] only a reset of the same device that was entered with
    /// [`LockedGroup::enter_reset`] (by it, or by the prepare() that its done() or failed()
    /// ends) and not left yet, and likewise for [`LockedGroup::leave_low_power`] and
    /// [`LockedGroup::enter_low_power`]; it parks a device on the blocking domain while its
    /// reset or power state needs it and unparks it only when nothing does.
    ///
    /// A reset or power transition that is entered and never left keeps the device blocked and
    /// (for a reset) its group fenced: that fails closed, and is not a breach of this contract.
    /// What the contract rules out is the opposite, a device unblocked while it is reset or out
    /// of D0.
    pub(crate) unsafe fn new() -> Self {
        Self {
            _not_send: PhantomData,
        }
    }
}

/// An IOMMU group whose mutex is held.
///
/// All group state that `group->mutex` protects is reached through this type: the current and
/// blocking domains, the group devices and their reset state, the recovery counter and the PASID
/// array. Dropping it releases the mutex.
///
/// Its operations keep the reset state consistent: a device is `blocked` exactly while its RID
/// and PASIDs are parked on the blocking domain, a quarantined device is blocked, a device in
/// reset, quarantined or out of D0 is never unparked, and the recovery count is the number of
/// the group's devices in reset (for the devices whose resets went through these operations).
/// Power transitions leave the recovery count alone: the group keeps accepting attachments,
/// which skip its blocked devices and reach them when they are unparked.
///
/// # Invariants
///
/// `group->mutex` is held by the current task for the whole lifetime of the object.
pub(crate) struct LockedGroup<'a> {
    group: &'a Group,
    _guard: MutexGuard<'a, ()>,
    // The guard is released where it was taken: neither `Send` nor `Sync`.
    _not_send: PhantomData<*mut ()>,
}

impl<'a> LockedGroup<'a> {
    #[inline]
    fn raw(&self) -> *mut bindings::iommu_group {
        self.group.as_raw()
    }

    /// Returns the domain the group is attached to (`group->domain`), if any.
    ///
    /// While a device of the group is blocked for a reset, this stays the domain it will return
    /// to; the device itself is attached to the blocking domain.
    #[inline]
    pub(crate) fn domain(&self) -> Option<Domain<'_>> {
        // SAFETY: The mutex is held (type invariant), so `group->domain` is stable.
        Domain::from_raw(unsafe { (*self.raw()).domain })
    }

    /// Returns the group's blocking domain, if one was allocated already.
    #[inline]
    pub(crate) fn blocking_domain(&self) -> Option<Domain<'_>> {
        // SAFETY: The mutex is held (type invariant).
        Domain::from_raw(unsafe { (*self.raw()).blocking_domain })
    }

    /// Returns the group's blocking domain, allocating it on first use.
    ///
    /// The blocking domain is the IOMMU driver's static blocked domain, or an empty paging
    /// domain for drivers that do not have one. It lives as long as the group.
    ///
    /// The IOMMU driver is found through a device of the group: `member`, which also proves
    /// that the group is not empty (a group outlives its devices while references to it are
    /// held). Fails with [`EINVAL`] for a device of another group.
    pub(crate) fn alloc_blocking_domain(&self, member: GroupDevice<'_>) -> Result<Domain<'_>> {
        self.check_owns(member)?;
        // SAFETY: The mutex is held (type invariant), as the function requires, and the group
        // has a device (`member`, checked above), through which it finds the IOMMU driver.
        to_result(unsafe { bindings::__iommu_group_alloc_blocking_domain(self.raw()) })?;
        self.blocking_domain().ok_or(ENOMEM)
    }

    /// Returns the number of devices of the group undergoing recovery (a reset).
    ///
    /// While it is non-zero, domain attachments that may fail are refused with `-EBUSY`.
    pub(crate) fn recovery_cnt(&self) -> u32 {
        // SAFETY: The mutex is held (type invariant).
        unsafe { (*self.raw()).recovery_cnt }
    }

    /// Returns an iterator over the devices of the group.
    #[inline]
    pub(crate) fn devices(&self) -> GroupDevices<'_> {
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
    #[inline]
    pub(crate) fn device(&self, dev: &Device) -> Option<GroupDevice<'_>> {
        let raw = raw_device(dev);
        self.devices().find(|gdev| ptr::eq(gdev.raw_dev(), raw))
    }

    /// Returns an iterator over the PASID attachments of the group, from PASID `first` on.
    ///
    /// The PASID array is written only with the mutex held; its one lockless reader does not
    /// race with the walk.
    pub(crate) fn pasid_domains(&self, first: u32) -> PasidDomains<'_> {
        PasidDomains {
            // SAFETY: The mutex is held (type invariant); the array lives as long as the group.
            xa: unsafe { &raw mut (*self.raw()).pasid_array },
            index: usize::try_from(first).unwrap_or(usize::MAX),
            first: true,
            _guard: PhantomData,
        }
    }

    /// Fails with [`EINVAL`] unless `gdev` is a device of this group.
    ///
    /// A [`GroupDevice`] borrows the guard of its own group, so one of another group can only
    /// be at hand while both groups' mutexes are held; it is refused here and nothing changes.
    #[inline]
    fn check_owns(&self, gdev: GroupDevice<'_>) -> Result {
        // SAFETY: A group device's `dev` is valid while it is in a group, and its
        // `iommu_group` only changes when it leaves the group, which takes that group's mutex,
        // held for the lifetime of `gdev`.
        if ptr::eq(unsafe { (*gdev.raw_dev()).iommu_group }, self.raw()) {
            Ok(())
        } else {
            Err(EINVAL)
        }
    }

    /// Enters a reset of `gdev`: raises its reset depth and, for the outermost reset, the
    /// group's recovery count, which fences the group's attachments with `-EBUSY`.
    ///
    /// Returns whether this is the outermost reset (the one that must park the device).
    /// Fails with [`EINVAL`] for a device of another group and [`EOVERFLOW`] when the depth
    /// would overflow, changing nothing.
    #[inline]
    pub(crate) fn enter_reset(&self, _path: &ResetPath, gdev: GroupDevice<'_>) -> Result<bool> {
        self.check_owns(gdev)?;
        let depth = gdev.reset_depth();
        let new = depth.checked_add(1).ok_or(EOVERFLOW)?;
        if depth == 0 {
            // SAFETY: The mutex is held (type invariant), which serialises all writers.
            let cnt = unsafe { &mut (*self.raw()).recovery_cnt };
            *cnt = cnt.checked_add(1).ok_or(EOVERFLOW)?;
        }
        // SAFETY: The mutex is held for the lifetime of `gdev`, which serialises all writers.
        unsafe { (*gdev.ptr.as_ptr()).reset_depth = new };
        Ok(depth == 0)
    }

    /// Records that a reset of `gdev` failed: the function was reset and did not come back.
    /// Whatever the depth, [`GroupDevice::reset_failed`] then holds until the outermost reset
    /// ends, so that a nested failure (an FLR inside a device-specific reset) fails the outer
    /// reset too.
    ///
    /// Fails with [`EINVAL`], changing nothing, for a device of another group or one not in
    /// reset.
    #[inline]
    pub(crate) fn fail_reset(&self, _path: &ResetPath, gdev: GroupDevice<'_>) -> Result {
        self.check_owns(gdev)?;
        if gdev.reset_depth() == 0 {
            return Err(EINVAL);
        }
        // SAFETY: The mutex is held for the lifetime of `gdev`, which serialises all writers.
        unsafe { (*gdev.ptr.as_ptr()).reset_failed = true };
        Ok(())
    }

    /// Leaves a reset of `gdev` entered with [`LockedGroup::enter_reset`]: lowers its reset
    /// depth and, when the outermost reset ends, the group's recovery count, and clears
    /// [`GroupDevice::reset_failed`].
    ///
    /// Returns whether the outermost reset ended (the device may be unparked). Fails with
    /// [`EINVAL`], changing nothing, for a device of another group or one not in reset.
    #[inline]
    pub(crate) fn leave_reset(&self, _path: &ResetPath, gdev: GroupDevice<'_>) -> Result<bool> {
        self.check_owns(gdev)?;
        let depth = gdev.reset_depth();
        if depth == 0 {
            return Err(EINVAL);
        }
        if depth == 1 {
            // SAFETY: The mutex is held (type invariant), which serialises all writers.
            let cnt = unsafe { &mut (*self.raw()).recovery_cnt };
            // The IOMMU core may drop the count of a device removed while in reset: never
            // underflow.
            *cnt = cnt.saturating_sub(1);
            // SAFETY: The mutex is held for the lifetime of `gdev`, which serialises all
            // writers.
            unsafe { (*gdev.ptr.as_ptr()).reset_failed = false };
        }
        // SAFETY: The mutex is held for the lifetime of `gdev`, which serialises all writers.
        unsafe { (*gdev.ptr.as_ptr()).reset_depth = depth - 1 };
        Ok(depth == 1)
    }

    /// Enters a power transition of `gdev` out of D0 (its own, or one of a bridge above it):
    /// raises its low-power depth. Unlike a reset, it does not fence the group.
    ///
    /// Returns whether this is the first one (the one that must park the device). Fails with
    /// [`EINVAL`] for a device of another group and [`EOVERFLOW`] when the depth would
    /// overflow, changing nothing.
    #[inline]
    pub(crate) fn enter_low_power(&self, _path: &ResetPath, gdev: GroupDevice<'_>) -> Result<bool> {
        self.check_owns(gdev)?;
        let depth = gdev.low_power();
        let new = depth.checked_add(1).ok_or(EOVERFLOW)?;
        // SAFETY: The mutex is held for the lifetime of `gdev`, which serialises all writers.
        unsafe { (*gdev.ptr.as_ptr()).low_power = new };
        Ok(depth == 0)
    }

    /// Leaves a power transition entered with [`LockedGroup::enter_low_power`]: lowers the
    /// low-power depth of `gdev`.
    ///
    /// Returns whether the last one ended (the device may be unparked). Fails with [`EINVAL`],
    /// changing nothing, for a device of another group or one not out of D0.
    #[inline]
    pub(crate) fn leave_low_power(&self, _path: &ResetPath, gdev: GroupDevice<'_>) -> Result<bool> {
        self.check_owns(gdev)?;
        let depth = gdev.low_power();
        if depth == 0 {
            return Err(EINVAL);
        }
        // SAFETY: The mutex is held for the lifetime of `gdev`, which serialises all writers.
        unsafe { (*gdev.ptr.as_ptr()).low_power = depth - 1 };
        Ok(depth == 1)
    }

    /// Parks the RID and the PASIDs of `gdev` on the group's blocking domain (allocating it on
    /// first use) and marks it blocked; `group->domain` and the PASID array keep what it
    /// returns to. The IOMMU driver then stops translating for it and stops invalidating its
    /// device-IOTLB.
    ///
    /// Does nothing for a device that is blocked already. On failure nothing is changed.
    pub(crate) fn park(&self, _path: &ResetPath, gdev: GroupDevice<'_>) -> Result {
        self.check_owns(gdev)?;
        if gdev.blocked() {
            return Ok(());
        }
        let blocking = self.alloc_blocking_domain(gdev)?;
        let current = self.domain();
        if current != Some(blocking) {
            // SAFETY: The mutex is held (type invariant). The device is a member of the group
            // (checked above) and, not being blocked, is attached to `group->domain`, which is
            // `current`; both domains are the group's and valid while the mutex is held.
            to_result(unsafe {
                bindings::__iommu_attach_device(
                    blocking.as_raw(),
                    gdev.raw_dev(),
                    Domain::opt_raw(current),
                )
            })?;
        }

        // `blocked` follows the attachment: iommu_driver_get_domain_for_dev(), which a driver's
        // set_dev_pasid() may call below, returns the blocking domain for a blocked device.
        // SAFETY: The mutex is held for the lifetime of `gdev`, which serialises all writers.
        unsafe { (*gdev.ptr.as_ptr()).blocked = true };

        if gdev.max_pasids() > 0 {
            for (pasid, domain) in self.pasid_domains(NO_PASID + 1) {
                // SAFETY: The mutex is held (type invariant), the device is a member of the
                // group and `domain` is the PASID array's domain of `pasid`, which the device
                // is attached to since it was not blocked.
                unsafe { bindings::iommu_remove_dev_pasid(gdev.raw_dev(), pasid, domain.as_raw()) };
            }
        }
        Ok(())
    }

    /// Returns `gdev` from the blocking domain to the domains the group kept for it, and
    /// clears its blocked state.
    ///
    /// Fails with [`EBUSY`] while the device is in reset, quarantined or out of D0 (it must
    /// stay blocked) and does nothing for a device that is not blocked. A device of a group
    /// that has no domain yet stays parked on the blocking domain. If the IOMMU driver fails to
    /// re-attach the RID, the device stays blocked (and parked) and the error is returned.
    pub(crate) fn unpark(&self, _path: &ResetPath, gdev: GroupDevice<'_>) -> Result {
        self.check_owns(gdev)?;
        if gdev.holds_block() {
            return Err(EBUSY);
        }
        if !gdev.blocked() {
            return Ok(());
        }
        let blocking = self.blocking_domain().ok_or(EINVAL)?;
        if let Some(domain) = self.domain() {
            if domain != blocking {
                // SAFETY: The mutex is held (type invariant). The device is a member of the
                // group and, being blocked, attached to the blocking domain; both domains are
                // the group's and valid while the mutex is held.
                to_result(unsafe {
                    bindings::__iommu_attach_device(
                        domain.as_raw(),
                        gdev.raw_dev(),
                        blocking.as_raw(),
                    )
                })?;
            }
        }
        // SAFETY: The mutex is held for the lifetime of `gdev`, which serialises all writers.
        unsafe { (*gdev.ptr.as_ptr()).blocked = false };

        if gdev.max_pasids() > 0 {
            // `park()` detached the PASIDs with `iommu_remove_dev_pasid()`, which attached them
            // to the driver's static blocked domain: that is what they are replaced from.
            let old = gdev.driver_blocked_domain();
            for (pasid, domain) in self.pasid_domains(NO_PASID + 1) {
                // SAFETY: `domain` is the PASID array's, valid while the mutex is held; its
                // `ops` are set at allocation.
                let Some(set_dev_pasid) = (unsafe { (*(*domain.as_raw()).ops).set_dev_pasid })
                else {
                    kernel::warn_on!(true);
                    continue;
                };
                // SAFETY: The mutex is held (type invariant), the device is a member of the
                // group, `domain` is valid while it is held and `old` is what `pasid` of the
                // device is attached to.
                let ret = unsafe { set_dev_pasid(domain.as_raw(), gdev.raw_dev(), pasid, old) };
                kernel::warn_on!(ret != 0);
            }
        }
        Ok(())
    }

    /// Quarantines a blocked device: its reset failed, and it stays parked until a later
    /// reset succeeds ([`LockedGroup::end_quarantine`]).
    ///
    /// Returns whether the device was newly quarantined. Fails with [`EINVAL`], changing
    /// nothing, for a device that is not blocked.
    #[inline]
    pub(crate) fn quarantine(&self, _path: &ResetPath, gdev: GroupDevice<'_>) -> Result<bool> {
        self.check_owns(gdev)?;
        if !gdev.blocked() {
            return Err(EINVAL);
        }
        let was = gdev.quarantined();
        // SAFETY: The mutex is held for the lifetime of `gdev`, which serialises all writers.
        unsafe { (*gdev.ptr.as_ptr()).quarantined = true };
        Ok(!was)
    }

    /// Ends the quarantine of `gdev` after a successful reset; it stays parked until
    /// [`LockedGroup::unpark`].
    ///
    /// Returns whether the device was quarantined.
    #[inline]
    pub(crate) fn end_quarantine(&self, _path: &ResetPath, gdev: GroupDevice<'_>) -> Result<bool> {
        self.check_owns(gdev)?;
        let was = gdev.quarantined();
        // SAFETY: The mutex is held for the lifetime of `gdev`, which serialises all writers.
        unsafe { (*gdev.ptr.as_ptr()).quarantined = false };
        Ok(was)
    }
}

/// An IOMMU domain (`struct iommu_domain`) borrowed from a locked group.
///
/// It can be inspected and compared; no operation takes one from its caller.
///
/// # Invariants
///
/// The pointer is a valid domain for the lifetime `'g`, during which the group's mutex is held.
#[derive(Clone, Copy)]
pub(crate) struct Domain<'g> {
    ptr: NonNull<bindings::iommu_domain>,
    _guard: PhantomData<&'g ()>,
}

impl<'g> Domain<'g> {
    #[inline]
    fn from_raw(ptr: *mut bindings::iommu_domain) -> Option<Self> {
        // INVARIANT: Only called by `LockedGroup` on domains the locked group references.
        NonNull::new(ptr).map(|ptr| Self {
            ptr,
            _guard: PhantomData,
        })
    }

    #[inline]
    fn as_raw(self) -> *mut bindings::iommu_domain {
        self.ptr.as_ptr()
    }

    #[inline]
    fn opt_raw(domain: Option<Self>) -> *mut bindings::iommu_domain {
        domain.map_or(ptr::null_mut(), Self::as_raw)
    }
}

impl PartialEq for Domain<'_> {
    #[inline]
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
pub(crate) struct GroupDevice<'g> {
    ptr: NonNull<bindings::group_device>,
    _guard: PhantomData<&'g ()>,
}

impl PartialEq for GroupDevice<'_> {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.ptr == other.ptr
    }
}

impl Eq for GroupDevice<'_> {}

impl<'g> GroupDevice<'g> {
    #[inline]
    fn raw_dev(self) -> *mut bindings::device {
        // SAFETY: By the type invariant `ptr` is valid.
        unsafe { (*self.ptr.as_ptr()).dev }
    }

    /// Returns the device.
    #[inline]
    pub(crate) fn dev(self) -> &'g Device {
        // SAFETY: A group device's `dev` is valid while it is in the group, which it is while
        // the mutex is held (`'g`).
        unsafe { Device::from_raw(self.raw_dev()) }
    }

    /// Returns whether the device is blocked: its RID and PASIDs are parked on the blocking
    /// domain.
    #[inline]
    pub(crate) fn blocked(self) -> bool {
        // SAFETY: The group's mutex is held for `'g` (type invariant).
        unsafe { (*self.ptr.as_ptr()).blocked }
    }

    /// Returns whether the device is quarantined: its last reset failed, and it stays blocked
    /// until a later reset succeeds.
    #[inline]
    pub(crate) fn quarantined(self) -> bool {
        // SAFETY: The group's mutex is held for `'g` (type invariant).
        unsafe { (*self.ptr.as_ptr()).quarantined }
    }

    /// Returns whether a reset of the device failed since its outermost reset began, at
    /// whatever depth (see [`LockedGroup::fail_reset`]).
    #[inline]
    pub(crate) fn reset_failed(self) -> bool {
        // SAFETY: The group's mutex is held for `'g` (type invariant).
        unsafe { (*self.ptr.as_ptr()).reset_failed }
    }

    /// Returns the reset nesting depth of the device.
    #[inline]
    pub(crate) fn reset_depth(self) -> u32 {
        // SAFETY: The group's mutex is held for `'g` (type invariant).
        unsafe { (*self.ptr.as_ptr()).reset_depth }
    }

    /// Returns how many power transitions keep the device out of D0: its own, and one for each
    /// bridge above it that is out of D0.
    #[inline]
    pub(crate) fn low_power(self) -> u32 {
        // SAFETY: The group's mutex is held for `'g` (type invariant).
        unsafe { (*self.ptr.as_ptr()).low_power }
    }

    /// Returns whether the device itself must stay blocked: it is in reset, quarantined or out
    /// of D0.
    #[inline]
    pub(crate) fn holds_block(self) -> bool {
        self.reset_depth() > 0 || self.quarantined() || self.low_power() > 0
    }

    /// Returns the number of PASIDs the device supports (0: no PASID support).
    #[inline]
    pub(crate) fn max_pasids(self) -> u32 {
        // SAFETY: A device in a group has a valid `dev->iommu` while it is in the group.
        unsafe { (*(*self.raw_dev()).iommu).max_pasids }
    }

    /// Returns the IOMMU driver's static blocked domain (`ops->blocked_domain`), or NULL.
    fn driver_blocked_domain(self) -> *mut bindings::iommu_domain {
        // SAFETY: A device in a group has a valid `dev->iommu` with the IOMMU instance that
        // probed it, whose `ops` are static, while it is in the group.
        unsafe { (*(*(*(*self.raw_dev()).iommu).iommu_dev).ops).blocked_domain }
    }
}

/// Iterator over the devices of a locked group, see [`LockedGroup::devices`].
pub(crate) struct GroupDevices<'g> {
    head: *mut bindings::list_head,
    pos: *mut bindings::list_head,
    _guard: PhantomData<&'g ()>,
}

impl<'g> Iterator for GroupDevices<'g> {
    type Item = GroupDevice<'g>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.pos == self.head {
            return None;
        }
        // SAFETY: `pos` is a list node of `group->devices`, embedded as `list` in a
        // `struct group_device`; the list is stable while the mutex is held.
        let gdev = unsafe { kernel::container_of!(self.pos, bindings::group_device, list) };
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
///
/// Like `xa_for_each_start()`, it visits every present entry in index order and skips the
/// entries that hold no domain.
pub(crate) struct PasidDomains<'g> {
    xa: *mut bindings::xarray,
    index: usize,
    first: bool,
    _guard: PhantomData<&'g ()>,
}

impl<'g> Iterator for PasidDomains<'g> {
    type Item = (u32, Domain<'g>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let mut index = self.index;
            // SAFETY: `xa` is the group's PASID array, valid and stable while the mutex is
            // held. `xa_find()` and `xa_find_after()` take the RCU read lock themselves.
            let entry = unsafe {
                if self.first {
                    bindings::xa_find(self.xa, &mut index, usize::MAX, bindings::XA_PRESENT)
                } else {
                    bindings::xa_find_after(self.xa, &mut index, usize::MAX, bindings::XA_PRESENT)
                }
            };
            if entry.is_null() {
                return None;
            }
            self.first = false;
            self.index = index;
            // A PASID array index is an `ioasid_t`: it fits in a `u32`.
            let Ok(pasid) = u32::try_from(index) else {
                return None;
            };
            // SAFETY: `entry` is a present entry of the PASID array, a tagged domain or handle.
            let domain = unsafe { bindings::pasid_array_entry_to_domain(entry) };
            if let Some(domain) = Domain::from_raw(domain) {
                return Some((pasid, domain));
            }
        }
    }
}
