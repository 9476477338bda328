// SPDX-License-Identifier: GPL-2.0

//! IOMMU side of PCI function resets, in Rust.
//!
//! PCIe r6.0 sec 10.3.1 recommends disabling and blocking ATS before a function is reset: while
//! it is reset, a function may not answer ATS invalidation requests, and an IOMMU that keeps
//! sending them times out. The PCI core therefore calls [`pci_dev_reset_iommu_prepare`] before
//! and [`pci_dev_reset_iommu_done`] after every reset method.
//!
//! prepare() attaches the function's RID and PASIDs to the group's blocking domain, so that the
//! IOMMU driver stops translating for it and stops invalidating its device-IOTLB, while
//! `group->domain` and the PASID array keep what it returns to. It raises the group's
//! `recovery_cnt`, which makes concurrent attachments fail with `-EBUSY`, and marks the device
//! `blocked`. done() re-attaches everything. Nested resets (a CXL bus reset around an FLR,
//! device-specific resets that call FLR) are counted in the device's `reset_depth`; only the
//! outermost pair changes attachments.
//!
//! `group->mutex` is taken inside each call only, never across the reset itself.
//!
//! Functions that share a requester ID (DMA aliases, e.g. quirked ones or functions behind a
//! PCIe-to-PCI bridge) are one for the IOMMU: they are blocked together, and none is unblocked
//! while another is still in reset.
//!
//! A reset that failed ends with [`pci_dev_reset_iommu_failed`] instead: the function stays
//! quarantined on the blocking domain (`blocked` with a `reset_depth` of 0) until a later reset
//! of it succeeds, while the group's fence is lifted. So does a function that the IOMMU driver
//! fails to re-attach. A nested reset that failed fails the
//! outermost one, whatever that returns.
//!
//! A function outside D0 cannot answer ATS invalidations either: in D1, D2 and D3hot it may
//! initiate no request but PME, in D3cold it answers nothing. The PCI core calls
//! [`pci_dev_suspend_iommu`] before a function (or a bridge above it) leaves D0 and
//! [`pci_dev_resume_iommu`] when it is back, its ATS state restored. The function is parked as
//! for a reset, but the group is not fenced: a function may sleep for hours, and attachments
//! made meanwhile must succeed. They update `group->domain` and the PASID array, skip the
//! blocked function, and reach it when it is unparked. The low-power depth is one more reason
//! to stay blocked, beside the reset depth, the quarantine and the requester-ID peers.
//!
//! This is the Rust implementation selected by `CONFIG_IOMMU_RESET_RUST`; for resets that
//! succeed it behaves like the C one in `drivers/iommu/iommu.c`, and it works on the same state
//! through the safe abstractions of its private [`group`] module.

// The crate root is `reset.rs`; its modules live in `reset/`, as for a module `reset`.
#[path = "reset/group.rs"]
mod group;

use group::{
    Group,
    GroupDevice,
    LockedGroup,
    ResetPath, //
};
use kernel::{
    bindings,
    device,
    pci,
    prelude::*,
    warn_on, //
};

/// Test hook: makes the next blocking attachment of one device fail (KUnit builds only).
///
/// Holds the `struct device` address and the negative errno to fail with; cleared when used.
#[cfg(CONFIG_KUNIT)]
static FAIL_NEXT_BLOCK: [core::sync::atomic::AtomicUsize; 2] = [
    core::sync::atomic::AtomicUsize::new(0),
    core::sync::atomic::AtomicUsize::new(0),
];

/// Returns the error the test hook injects for `dev`, if any.
fn injected_error(dev: &device::Device) -> Result {
    #[cfg(CONFIG_KUNIT)]
    {
        use core::sync::atomic::Ordering;

        let addr = core::ptr::from_ref(dev) as usize;
        if FAIL_NEXT_BLOCK[0]
            .compare_exchange(addr, 0, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            let errno = FAIL_NEXT_BLOCK[1].swap(0, Ordering::AcqRel);
            // CAST: The hook stores a negative errno as `usize`.
            return Err(Error::from_errno(errno as i32));
        }
    }
    #[cfg(not(CONFIG_KUNIT))]
    let _ = dev;
    Ok(())
}

/// Returns the other devices of `group` for which `pred` holds and that share a requester ID
/// with `gdev`.
///
/// The IOMMU knows a function only by its requester IDs: blocking one of them blocks every
/// function that shares it, and unblocking one unblocks them all. `pred`, a check of the
/// devices' state, comes first: comparing requester IDs walks the DMA aliases of both
/// functions, which would make every scan cost that walk for each device of the group.
fn rid_peers<'g>(
    group: &'g LockedGroup<'_>,
    gdev: GroupDevice<'g>,
    pred: impl Fn(GroupDevice<'g>) -> bool + 'g,
) -> impl Iterator<Item = GroupDevice<'g>> + 'g {
    // `gdev` as a PCI function, looked up with the first candidate.
    let mut pdev = None;
    group.devices().filter(move |&other| {
        other != gdev
            && pred(other)
            && match (
                *pdev.get_or_insert_with(|| <&pci::Device>::try_from(gdev.dev()).ok()),
                <&pci::Device>::try_from(other.dev()),
            ) {
                (Some(a), Ok(b)) => a.shares_requester_id(b),
                _ => false,
            }
    })
}

/// Returns whether another device that shares a requester ID with `gdev` keeps it blocked (it
/// is in reset, quarantined or out of D0).
fn rid_held_by_peer(group: &LockedGroup<'_>, gdev: GroupDevice<'_>) -> bool {
    rid_peers(group, gdev, GroupDevice::holds_block)
        .next()
        .is_some()
}

/// Parks `gdev` on the blocking domain, unless the test hook fails it first.
fn park(path: &ResetPath, group: &LockedGroup<'_>, gdev: GroupDevice<'_>) -> Result {
    if !gdev.blocked() {
        injected_error(gdev.dev())?;
    }
    group.park(path, gdev)
}

/// Parks `gdev` and the devices that share its requester ID: the IOMMU cannot tell them apart,
/// and must not be told that they are not blocked. On failure the caller drops the reason it
/// raised and settles `gdev`.
fn park_rid(path: &ResetPath, group: &LockedGroup<'_>, gdev: GroupDevice<'_>) -> Result {
    park(path, group, gdev)?;
    // park() does nothing for a device that is blocked already.
    for peer in rid_peers(group, gdev, |peer| !peer.blocked()) {
        park(path, group, peer)?;
    }
    Ok(())
}

/// Locks the IOMMU group of `pdev` and runs `f` on the group and the function's entry in it.
///
/// Returns [`None`], without taking the lock, for a function without ATS or without an IOMMU
/// (the helpers have nothing to do for it), and `Some(Err(ENODEV))` with a warning if its group
/// has no entry for it.
fn with_group_device<T>(
    _path: &ResetPath,
    pdev: &pci::Device,
    f: impl FnOnce(&LockedGroup<'_>, GroupDevice<'_>) -> T,
) -> Option<Result<T>> {
    let dev: &device::Device = pdev.as_ref();

    if !pdev.ats_supported() {
        return None;
    }
    // SAFETY: The reset or power transition path that made `_path` excludes
    // `iommu_release_device()` for `pdev` for the whole call, longer than `group` lives.
    let group = unsafe { Group::of_device_borrowed(dev) }?;
    let group = group.lock();

    let Some(gdev) = group.device(dev) else {
        warn_on!(true);
        return Some(Err(ENODEV));
    };
    Some(Ok(f(&group, gdev)))
}

/// Parks `pdev` on its group's blocking domain for a reset.
fn prepare(path: &ResetPath, pdev: &pci::Device) -> Result {
    let parked = with_group_device(path, pdev, |group, gdev| {
        if !group.enter_reset(path, gdev)? {
            // A nested reset (e.g. an FLR inside a device-specific reset) only counts.
            return Ok(());
        }
        // A device quarantined by an earlier failed reset, out of D0, or blocked with a device
        // that shares its requester ID, is parked already; park() does nothing then.
        if let Err(e) = park_rid(path, group, gdev) {
            warn_on!(group.leave_reset(path, gdev).is_err());
            settle(path, group, gdev);
            return Err(e);
        }
        Ok(())
    });
    parked.unwrap_or(Ok(Ok(())))?
}

/// Parks `pdev` on its group's blocking domain while it (or a bridge above it) is out of D0,
/// without fencing the group.
fn suspend(path: &ResetPath, pdev: &pci::Device) -> Result {
    let parked = with_group_device(path, pdev, |group, gdev| {
        if !group.enter_low_power(path, gdev)? {
            return Ok(());
        }
        if let Err(e) = park_rid(path, group, gdev) {
            warn_on!(group.leave_low_power(path, gdev).is_err());
            settle(path, group, gdev);
            return Err(e);
        }
        Ok(())
    });
    parked.unwrap_or(Ok(Ok(())))?
}

/// Ends one [`suspend`] of `pdev`: unparks it when nothing else keeps it blocked, attaching it
/// to what the group holds now.
fn resume(path: &ResetPath, pdev: &pci::Device) {
    // An unbalanced resume would underflow the depth: leave_low_power() refuses it. A function
    // missing from its group was warned about already.
    let _ = with_group_device(path, pdev, |group, gdev| {
        match group.leave_low_power(path, gdev) {
            Ok(true) => settle(path, group, gdev),
            Ok(false) => (),
            Err(_) => {
                warn_on!(true);
            }
        }
    });
}

/// Ends the reset of `pdev`: returns it to the domains the group kept for it if the reset
/// succeeded, or keeps it quarantined on the blocking domain if it failed.
fn done(path: &ResetPath, pdev: &pci::Device, reset_ok: bool) {
    // A function missing from its group was warned about already.
    let _ = with_group_device(path, pdev, |group, gdev| {
        end_reset(path, group, gdev, reset_ok)
    });
}

/// The body of [`done`], for `gdev` of the locked `group`.
fn end_reset(path: &ResetPath, group: &LockedGroup<'_>, gdev: GroupDevice<'_>, reset_ok: bool) {
    let dev = gdev.dev();

    // A nested reset that failed (an FLR inside a device-specific reset) fails the outermost
    // one, whatever that returns. An unbalanced done() would underflow the depth: fail_reset()
    // and leave_reset() refuse it.
    if !reset_ok && group.fail_reset(path, gdev).is_err() {
        warn_on!(true);
        return;
    }
    let reset_ok = !gdev.reset_failed();
    match group.leave_reset(path, gdev) {
        Ok(true) => (),
        Ok(false) => return,
        Err(_) => {
            warn_on!(true);
            return;
        }
    }

    if !reset_ok {
        // The function may not answer ATS invalidations, nor translate correctly: keep it
        // blocked (and its DMA failing) until a reset succeeds. leave_reset() lifted the
        // group's fence, so that the rest of the group can change domains.
        match group.quarantine(path, gdev) {
            Ok(true) => dev_warn!(
                dev,
                "reset failed, keeping the IOMMU blocked until a reset succeeds\n"
            ),
            Ok(false) => (),
            Err(_) => {
                warn_on!(true);
            }
        }
        return;
    }
    if group.end_quarantine(path, gdev) == Ok(true) {
        dev_info!(dev, "reset succeeded, unblocking the IOMMU\n");
    }

    settle(path, group, gdev);
}

/// Unblocks `gdev` and the devices that share its requester ID, unless one of them still needs
/// the requester ID blocked: then they all stay blocked until the last one is done.
///
/// A device that the IOMMU driver fails to re-attach (unlikely, e.g. out of memory) is
/// quarantined until a reset of it succeeds.
fn settle(path: &ResetPath, group: &LockedGroup<'_>, gdev: GroupDevice<'_>) {
    if gdev.holds_block() || rid_held_by_peer(group, gdev) {
        return;
    }
    unpark_or_quarantine(path, group, gdev);
    for peer in rid_peers(group, gdev, GroupDevice::blocked) {
        // A peer may share a requester ID with a third device that gdev does not.
        if !rid_held_by_peer(group, peer) {
            unpark_or_quarantine(path, group, peer);
        }
    }
}

/// Unparks `gdev`, which nothing holds blocked any more.
///
/// If the IOMMU driver cannot re-attach it, it is quarantined as after a failed reset: it stays
/// on the blocking domain, its DMA failing and no ATS invalidation sent to it, until a reset of
/// it succeeds or it is removed. Unparked, the core and the driver would take it for attached
/// to the group's domain while it is not.
fn unpark_or_quarantine(path: &ResetPath, group: &LockedGroup<'_>, gdev: GroupDevice<'_>) {
    match group.unpark(path, gdev) {
        Ok(()) => (),
        Err(e) if e == EBUSY => {
            warn_on!(true);
        }
        Err(e) => {
            warn_on!(group.quarantine(path, gdev).is_err());
            dev_err!(
                gdev.dev(),
                "cannot re-attach to the IOMMU domain ({}), keeping it blocked until a reset succeeds\n",
                e.to_errno()
            );
        }
    }
}

/// Returns the PCI device behind a `struct pci_dev` pointer from C, or [`None`] for NULL.
///
/// # Safety
///
/// `pdev` must be NULL or point to a valid `struct pci_dev` that stays valid for `'a`.
unsafe fn pci_dev<'a>(pdev: *mut bindings::pci_dev) -> Option<&'a pci::Device> {
    if pdev.is_null() {
        return None;
    }
    // SAFETY: `pdev` is not NULL, so it points to a valid `struct pci_dev` that stays valid for
    // `'a` (the caller guarantees it).
    Some(unsafe { pci::Device::from_raw(pdev) })
}

/// Blocks the IOMMU for `pdev` before the PCI core resets it.
///
/// Attaches the function's RID and PASIDs to its group's blocking domain, keeping
/// `group->domain` and the PASID array for [`pci_dev_reset_iommu_done`], and fences concurrent
/// domain attachments of the group with `-EBUSY` until then. Returns 0 on success (also when
/// the function has no ATS or no IOMMU), or a negative errno; on failure nothing is changed.
///
/// # Safety
///
/// `pdev` must point to a valid `struct pci_dev`. The caller must be a PCI reset path, which
/// cannot race with `iommu_release_device()` for `pdev`. A successful call is ended by
/// [`pci_dev_reset_iommu_done`] or [`pci_dev_reset_iommu_failed`]; one that is never ended
/// (e.g. a leaked `IommuResetToken`) leaves the function blocked and its group fenced, which
/// fails closed.
#[export]
pub unsafe extern "C" fn pci_dev_reset_iommu_prepare(pdev: *mut bindings::pci_dev) -> c_int {
    // SAFETY: The caller passes a valid `struct pci_dev`, live for the duration of the call.
    let Some(pdev) = (unsafe { pci_dev(pdev) }) else {
        return EINVAL.to_errno();
    };
    // SAFETY: This is `pci_dev_reset_iommu_prepare()`: `prepare()` only enters a reset and
    // parks the devices that it needs blocked; the done() or failed() that ends it leaves it.
    let path = unsafe { ResetPath::new() };
    match prepare(&path, pdev) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// Restores the IOMMU for `pdev` after the PCI core reset it.
///
/// Re-attaches the function's RID and PASIDs to the domains that
/// [`pci_dev_reset_iommu_prepare`] kept, and lifts the group's fence. A function that the IOMMU
/// driver fails to re-attach (unlikely, e.g. out of memory) is quarantined, as after a failed
/// reset, until a reset of it succeeds.
///
/// # Safety
///
/// `pdev` must point to a valid `struct pci_dev` on which [`pci_dev_reset_iommu_prepare`]
/// succeeded, under the same conditions, and that no done() or failed() ended yet: an extra
/// one would unblock the function while another reset of it still runs.
#[export]
pub unsafe extern "C" fn pci_dev_reset_iommu_done(pdev: *mut bindings::pci_dev) {
    // SAFETY: The caller passes a valid `struct pci_dev`, live for the duration of the call.
    if let Some(pdev) = unsafe { pci_dev(pdev) } {
        // SAFETY: This is `pci_dev_reset_iommu_done()`, which ends a reset entered by
        // `pci_dev_reset_iommu_prepare()` (its safety contract).
        let path = unsafe { ResetPath::new() };
        done(&path, pdev, true);
    }
}

/// Ends the IOMMU side of a reset of `pdev` that failed.
///
/// Like [`pci_dev_reset_iommu_done`], but the function stays on the blocking domain: it is
/// quarantined, its DMA fails and it gets no ATS invalidations, until a later reset of it
/// succeeds. The group's fence is lifted as for a successful reset. Logged once per
/// quarantine.
///
/// # Safety
///
/// As for [`pci_dev_reset_iommu_done`].
#[export]
pub unsafe extern "C" fn pci_dev_reset_iommu_failed(pdev: *mut bindings::pci_dev) {
    // SAFETY: The caller passes a valid `struct pci_dev`, live for the duration of the call.
    if let Some(pdev) = unsafe { pci_dev(pdev) } {
        // SAFETY: This is `pci_dev_reset_iommu_failed()`, which ends a reset entered by
        // `pci_dev_reset_iommu_prepare()` (its safety contract).
        let path = unsafe { ResetPath::new() };
        done(&path, pdev, false);
    }
}

/// Blocks the IOMMU for `pdev` while it, or a bridge above it, is out of D0.
///
/// Attaches the function's RID and PASIDs, and those of the functions that share its requester
/// ID, to its group's blocking domain, keeping `group->domain` and the PASID array, without
/// fencing the group: attachments made meanwhile succeed and reach the function when
/// [`pci_dev_resume_iommu`] unblocks it. Calls nest. Returns 0 on success (also when the
/// function has no ATS or no IOMMU), or a negative errno; on failure nothing is changed.
///
/// # Safety
///
/// `pdev` must point to a valid `struct pci_dev`. The caller must be the PCI core's power
/// transition path, which cannot race with `iommu_release_device()` for `pdev`. A successful
/// call is ended by [`pci_dev_resume_iommu`]; one that is never ended leaves the function
/// blocked, which fails closed.
#[export]
pub unsafe extern "C" fn pci_dev_suspend_iommu(pdev: *mut bindings::pci_dev) -> c_int {
    // SAFETY: The caller passes a valid `struct pci_dev`, live for the duration of the call.
    let Some(pdev) = (unsafe { pci_dev(pdev) }) else {
        return EINVAL.to_errno();
    };
    // SAFETY: This is `pci_dev_suspend_iommu()`: `suspend()` only enters a power transition
    // and parks the function; the `pci_dev_resume_iommu()` that ends it leaves it.
    let path = unsafe { ResetPath::new() };
    match suspend(&path, pdev) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// Ends one [`pci_dev_suspend_iommu`] of `pdev`, which is back in D0 with its ATS state
/// restored (or below a bridge that is).
///
/// When nothing else keeps the function blocked (a reset, a quarantine, a bridge above it
/// still out of D0, a function sharing its requester ID), re-attaches it to the domains the
/// group holds now. A function that the IOMMU driver fails to re-attach is quarantined until a
/// reset of it succeeds.
///
/// # Safety
///
/// `pdev` must point to a valid `struct pci_dev` on which [`pci_dev_suspend_iommu`] succeeded,
/// under the same conditions, and that no resume ended yet.
#[export]
pub unsafe extern "C" fn pci_dev_resume_iommu(pdev: *mut bindings::pci_dev) {
    // SAFETY: The caller passes a valid `struct pci_dev`, live for the duration of the call.
    if let Some(pdev) = unsafe { pci_dev(pdev) } {
        // SAFETY: This is `pci_dev_resume_iommu()`, which ends a power transition entered by
        // `pci_dev_suspend_iommu()` (its safety contract).
        let path = unsafe { ResetPath::new() };
        resume(&path, pdev);
    }
}

#[kunit_tests(iommu_reset_rust)]
mod tests {
    use super::*;
    use core::ptr;
    use group::NO_PASID;
    use kernel::sync::aref::ARef;

    /// Marks the running KUnit test as skipped.
    fn skip() {
        // SAFETY: KUnit runs the test in a task whose `kunit_test` points to the running test.
        unsafe {
            let test = (*bindings::get_current()).kunit_test;
            if !test.is_null() {
                (*test).status = bindings::kunit_status_KUNIT_SKIPPED;
            }
        }
    }

    /// The reset path's proof, for the tests that play the reset path.
    fn path() -> ResetPath {
        // SAFETY: Every test pairs the resets it enters with leaves, as the reset path does.
        unsafe { ResetPath::new() }
    }

    /// Returns the IOMMU group of `pdev`.
    fn group_of(pdev: &pci::Device) -> Option<ARef<Group>> {
        // SAFETY: The tests run at boot, from the KUnit executor, before user space could
        // remove a device; the functions they use are not bound, so no driver removes them.
        unsafe { Group::of_device_unchecked(pdev.as_ref()) }
    }

    /// Returns the `struct pci_dev` of `pdev`.
    fn raw_pci(pdev: &pci::Device) -> *mut bindings::pci_dev {
        // `pci::Device` is a transparent wrapper of `struct pci_dev`.
        ptr::from_ref(pdev).cast::<bindings::pci_dev>().cast_mut()
    }

    /// Returns the PCI functions with ATS behind an IOMMU and no driver bound.
    fn ats_functions() -> KVec<ARef<pci::Device>> {
        let mut found = KVec::new();
        let mut from = ptr::null_mut();
        loop {
            // SAFETY: `pci_get_device()` drops the reference held on `from` and returns the next
            // device with a reference held, or NULL at the end.
            let raw = unsafe { bindings::pci_get_device(!0, !0, from) };
            if raw.is_null() {
                return found;
            }
            from = raw;
            // SAFETY: `raw` is referenced until the next `pci_get_device()` call.
            let Some(pdev) = (unsafe { pci_dev(raw) }) else {
                continue;
            };
            // SAFETY: `raw` is a valid device; the driver pointer is only compared with NULL.
            let unbound = unsafe { (*raw).dev.driver.is_null() };
            if unbound && pdev.ats_supported() && group_of(pdev).is_some() {
                // On allocation failure the test sees fewer functions, and skips.
                let _ = found.push(ARef::from(pdev), GFP_KERNEL);
            }
        }
    }

    /// Returns a PCI function with ATS behind an IOMMU and no driver bound, if there is one.
    fn ats_function() -> Option<ARef<pci::Device>> {
        ats_functions().into_iter().next()
    }

    /// A PCI function and its IOMMU group.
    type Function = (ARef<pci::Device>, ARef<Group>);

    /// Returns two distinct ATS functions (see [`ats_functions`]) with their groups: of the same
    /// group if `same_group`, of two groups otherwise.
    fn function_pair(same_group: bool) -> Option<(Function, Function)> {
        let functions = ats_functions();
        let mut pair = None;
        for a in functions.iter() {
            for b in functions.iter() {
                let (Some(ga), Some(gb)) = (group_of(a), group_of(b)) else {
                    continue;
                };
                if (ga.id() == gb.id()) == same_group && !ptr::eq(raw_pci(a), raw_pci(b)) {
                    pair = Some(((a.clone(), ga), (b.clone(), gb)));
                }
            }
        }
        pair
    }

    /// Reads `pdev`'s entry in its group, with the group locked.
    fn read_entry<T>(
        pdev: &pci::Device,
        f: impl FnOnce(&LockedGroup<'_>, GroupDevice<'_>) -> T,
    ) -> Result<T> {
        let dev: &device::Device = pdev.as_ref();
        let group = group_of(pdev).ok_or(ENODEV)?;
        let group = group.lock();
        let gdev = group.device(dev).ok_or(ENODEV)?;
        Ok(f(&group, gdev))
    }

    /// Returns `(reset_depth, blocked, recovery_cnt)` of `pdev`.
    fn state(pdev: &pci::Device) -> Result<(u32, bool, u32)> {
        read_entry(pdev, |group, gdev| {
            (gdev.reset_depth(), gdev.blocked(), group.recovery_cnt())
        })
    }

    /// Returns `(low_power, blocked, recovery_cnt)` of `pdev`.
    fn power_state(pdev: &pci::Device) -> Result<(u32, bool, u32)> {
        read_entry(pdev, |group, gdev| {
            (gdev.low_power(), gdev.blocked(), group.recovery_cnt())
        })
    }

    /// Returns whether `pdev` is quarantined.
    fn quarantined(pdev: &pci::Device) -> Result<bool> {
        read_entry(pdev, |_, gdev| gdev.quarantined())
    }

    /// Returns the ATS Enable bit of `pdev`'s ATS capability, as the function has it.
    fn ats_enable_bit(pdev: &pci::Device) -> Result<bool> {
        let raw = raw_pci(pdev);
        let mut ctrl = 0u16;
        // SAFETY: `raw` is a valid `struct pci_dev`; `ats_cap` is set once at enumeration.
        let cap = i32::from(unsafe { (*raw).ats_cap });
        if cap == 0 {
            return Err(ENODEV);
        }
        // CAST: Config space offsets and the ATS register values fit their C types.
        // SAFETY: `raw` is a valid `struct pci_dev` and `ctrl` a valid `u16` to write to.
        kernel::error::to_result(unsafe {
            bindings::pci_read_config_word(raw, cap + bindings::PCI_ATS_CTRL as i32, &mut ctrl)
        })?;
        Ok(u32::from(ctrl) & bindings::PCI_ATS_CTRL_ENABLE != 0)
    }

    #[test]
    fn nested_prepare_done() -> Result {
        let Some(pdev) = ats_function() else {
            skip();
            return Ok(());
        };
        let path = path();
        assert_eq!(state(&pdev)?, (0, false, 0));
        prepare(&path, &pdev)?;
        assert_eq!(state(&pdev)?, (1, true, 1));
        // A nested reset (e.g. an FLR inside a device-specific reset) only counts.
        prepare(&path, &pdev)?;
        assert_eq!(state(&pdev)?, (2, true, 1));
        done(&path, &pdev, true);
        assert_eq!(state(&pdev)?, (1, true, 1));
        done(&path, &pdev, true);
        assert_eq!(state(&pdev)?, (0, false, 0));
        Ok(())
    }

    #[test]
    fn low_power_blocks_without_fence() -> Result {
        let Some(pdev) = ats_function() else {
            skip();
            return Ok(());
        };
        let path = path();
        suspend(&path, &pdev)?;
        // Blocked, but the group is not fenced.
        assert_eq!(power_state(&pdev)?, (1, true, 0));
        // A bridge above it leaving D0 too only counts.
        suspend(&path, &pdev)?;
        assert_eq!(power_state(&pdev)?, (2, true, 0));
        // A reset meanwhile nests and fences; its end leaves the function blocked.
        prepare(&path, &pdev)?;
        assert_eq!(state(&pdev)?, (1, true, 1));
        done(&path, &pdev, true);
        assert_eq!(power_state(&pdev)?, (2, true, 0));
        resume(&path, &pdev);
        assert_eq!(power_state(&pdev)?, (1, true, 0));
        resume(&path, &pdev);
        assert_eq!(power_state(&pdev)?, (0, false, 0));
        Ok(())
    }

    #[test]
    fn low_power_attach_deferred() -> Result {
        let Some(((a, group), (b, _))) = function_pair(true) else {
            skip();
            return Ok(());
        };
        let path = path();
        let dev_a: &device::Device = a.as_ref();
        suspend(&path, &a)?;
        // A claim of the group's DMA ownership (VFIO's) succeeds at once: the group is not
        // fenced, and the sleeping function keeps its blocking domain meanwhile.
        // SAFETY: `b` is a device of the group, not bound to a driver, and referenced here.
        let ret = unsafe {
            bindings::iommu_device_claim_dma_owner(&raw mut (*raw_pci(&b)).dev, raw_pci(&b).cast())
        };
        assert_eq!(ret, 0);
        {
            let locked = group.lock();
            let gdev = locked.device(dev_a).ok_or(ENODEV)?;
            assert!(gdev.blocked());
            assert!(locked.domain() == locked.blocking_domain());
        }
        // Back in D0, it is attached to what the group holds now: the owner's domain.
        resume(&path, &a);
        assert_eq!(power_state(&a)?, (0, false, 0));
        {
            let locked = group.lock();
            assert!(locked.domain() == locked.blocking_domain());
        }
        // SAFETY: The claim above succeeded for this device.
        unsafe { bindings::iommu_device_release_dma_owner(&raw mut (*raw_pci(&b)).dev) };
        assert_eq!(power_state(&a)?, (0, false, 0));
        Ok(())
    }

    #[test]
    fn failed_block_unwinds() -> Result {
        use core::sync::atomic::Ordering;

        let Some(pdev) = ats_function() else {
            skip();
            return Ok(());
        };
        let path = path();
        let dev: &device::Device = pdev.as_ref();
        // CAST: The hook stores the errno as `usize`.
        FAIL_NEXT_BLOCK[1].store(ENOMEM.to_errno() as usize, Ordering::Release);
        FAIL_NEXT_BLOCK[0].store(core::ptr::from_ref(dev) as usize, Ordering::Release);
        // The attachment fails in the middle of prepare(): nothing may stay changed.
        assert!(prepare(&path, &pdev) == Err(ENOMEM));
        assert_eq!(FAIL_NEXT_BLOCK[0].load(Ordering::Acquire), 0);
        assert_eq!(state(&pdev)?, (0, false, 0));
        // And the device can still be reset normally.
        prepare(&path, &pdev)?;
        assert_eq!(state(&pdev)?, (1, true, 1));
        done(&path, &pdev, true);
        assert_eq!(state(&pdev)?, (0, false, 0));
        Ok(())
    }

    #[test]
    fn failed_peer_block_unwinds() -> Result {
        use core::sync::atomic::Ordering;

        // Two functions of one group, the second made a DMA alias of the first.
        let Some(((a, _), (b, _))) = function_pair(true) else {
            skip();
            return Ok(());
        };
        // SAFETY: Both devices are valid and unbound; nothing else changes their alias masks
        // while the tests run at boot.
        let had_mask = unsafe { !(*raw_pci(&a)).dma_alias_mask.is_null() };
        if had_mask {
            skip();
            return Ok(());
        }
        // SAFETY: As above.
        let devfn = u8::try_from(unsafe { (*raw_pci(&b)).devfn }).map_err(|_| EINVAL)?;
        // SAFETY: As above; `pci_add_dma_alias()` allocates the mask.
        unsafe { bindings::pci_add_dma_alias(raw_pci(&a), devfn, 1) };
        let path = path();
        let b_dev: &device::Device = (*b).as_ref();
        // CAST: The hook stores the errno as `usize`.
        FAIL_NEXT_BLOCK[1].store(ENOMEM.to_errno() as usize, Ordering::Release);
        FAIL_NEXT_BLOCK[0].store(core::ptr::from_ref(b_dev) as usize, Ordering::Release);
        // Blocking the peer fails after the function itself was blocked: both unwind.
        let ret = prepare(&path, &a);
        let (sa, sb) = (state(&a), state(&b));
        // SAFETY: The mask was allocated above and is not used by anyone else; the devices
        // stay valid.
        unsafe {
            bindings::kfree((*raw_pci(&a)).dma_alias_mask.cast());
            (*raw_pci(&a)).dma_alias_mask = ptr::null_mut();
        }
        assert!(ret == Err(ENOMEM));
        assert_eq!(FAIL_NEXT_BLOCK[0].load(Ordering::Acquire), 0);
        assert_eq!(sa?, (0, false, 0));
        assert_eq!(sb?, (0, false, 0));
        Ok(())
    }

    #[test]
    fn failed_reset_quarantines() -> Result {
        let Some(pdev) = ats_function() else {
            skip();
            return Ok(());
        };
        let path = path();
        prepare(&path, &pdev)?;
        done(&path, &pdev, false);
        // Still blocked and quarantined, but the group's fence is down.
        assert_eq!(state(&pdev)?, (0, true, 0));
        assert!(quarantined(&pdev)?);
        // A second failure changes nothing.
        prepare(&path, &pdev)?;
        assert_eq!(state(&pdev)?, (1, true, 1));
        done(&path, &pdev, false);
        assert_eq!(state(&pdev)?, (0, true, 0));
        // A successful reset lifts the quarantine.
        prepare(&path, &pdev)?;
        done(&path, &pdev, true);
        assert_eq!(state(&pdev)?, (0, false, 0));
        assert!(!quarantined(&pdev)?);
        Ok(())
    }

    #[test]
    fn nested_failure_quarantines() -> Result {
        let Some(pdev) = ats_function() else {
            skip();
            return Ok(());
        };
        let path = path();
        // An FLR that failed inside a device-specific reset that returned "not run".
        prepare(&path, &pdev)?;
        prepare(&path, &pdev)?;
        done(&path, &pdev, false);
        assert_eq!(state(&pdev)?, (1, true, 1));
        done(&path, &pdev, true);
        assert_eq!(state(&pdev)?, (0, true, 0));
        assert!(quarantined(&pdev)?);
        // The failure does not outlive its reset: the next good one ends the quarantine.
        prepare(&path, &pdev)?;
        done(&path, &pdev, true);
        assert_eq!(state(&pdev)?, (0, false, 0));
        assert!(!quarantined(&pdev)?);
        Ok(())
    }

    #[test]
    fn state_changes_fail_closed() -> Result {
        let Some(pdev) = ats_function() else {
            skip();
            return Ok(());
        };
        let path = path();
        let dev: &device::Device = pdev.as_ref();
        let group = group_of(&pdev).ok_or(ENODEV)?;
        {
            let locked = group.lock();
            let gdev = locked.device(dev).ok_or(ENODEV)?;
            // Leaving a reset that was not entered is refused and changes nothing.
            assert!(locked.leave_reset(&path, gdev) == Err(EINVAL));
            // So is leaving a power transition that was not entered.
            assert!(locked.leave_low_power(&path, gdev) == Err(EINVAL));
            // So is quarantining a device that is not blocked.
            assert!(locked.quarantine(&path, gdev) == Err(EINVAL));
            assert!(!gdev.blocked() && gdev.reset_depth() == 0);
            assert_eq!(locked.recovery_cnt(), 0);
            // A device in reset is never unparked.
            assert_eq!(locked.enter_reset(&path, gdev), Ok(true));
            locked.park(&path, gdev)?;
            assert!(locked.unpark(&path, gdev) == Err(EBUSY));
            assert!(gdev.blocked());
            assert_eq!(locked.leave_reset(&path, gdev), Ok(true));
            // Nor is one out of D0.
            assert_eq!(locked.enter_low_power(&path, gdev), Ok(true));
            assert!(locked.unpark(&path, gdev) == Err(EBUSY));
            assert_eq!(locked.leave_low_power(&path, gdev), Ok(true));
            locked.unpark(&path, gdev)?;
            assert!(!gdev.blocked() && gdev.reset_depth() == 0);
            assert_eq!(locked.recovery_cnt(), 0);
        }
        assert_eq!(state(&pdev)?, (0, false, 0));
        Ok(())
    }

    #[test]
    fn device_of_another_group_refused() -> Result {
        let Some(((a, group_a), (b, group_b))) = function_pair(false) else {
            skip();
            return Ok(());
        };
        let path = path();
        {
            let locked_a = group_a.lock();
            // Two groups' mutexes at once: only a trylock keeps lockdep from (rightly)
            // reporting a possible deadlock.
            let locked_b = group_b.try_lock().ok_or(EBUSY)?;
            let a_dev: &device::Device = (*a).as_ref();
            let gdev_a = locked_a.device(a_dev).ok_or(ENODEV)?;
            assert!(locked_b.device(a_dev).is_none());
            assert!(locked_b.enter_reset(&path, gdev_a) == Err(EINVAL));
            assert!(locked_b.park(&path, gdev_a) == Err(EINVAL));
            assert!(locked_b.unpark(&path, gdev_a) == Err(EINVAL));
            // And so is quarantining it.
            assert!(locked_b.quarantine(&path, gdev_a) == Err(EINVAL));
            assert_eq!(locked_b.recovery_cnt(), 0);
        }
        assert_eq!(state(&a)?, (0, false, 0));
        assert_eq!(state(&b)?, (0, false, 0));
        Ok(())
    }

    #[test]
    fn deferred_attach_refused_while_blocked() -> Result {
        let Some(pdev) = ats_function() else {
            skip();
            return Ok(());
        };
        let path = path();
        let raw = raw_pci(&pdev);
        prepare(&path, &pdev)?;
        // An IOMMU driver that defers the first attach (e.g. VT-d with translation left enabled
        // by the previous kernel) has the DMA API attach on first use: not while the device is
        // blocked for its reset, which would undo the blocking behind the core's back.
        // SAFETY: `pdev` has an IOMMU (`ats_function()`), so `dev.iommu` and `dev.iommu_group`
        // are set. The tests run at boot on an unbound function: nothing else reads or changes
        // its `attach_deferred` or its group's domain meanwhile.
        let (ret, still_deferred) = unsafe {
            let iommu = (*raw).dev.iommu;
            let domain = (*(*raw).dev.iommu_group).domain;
            (*iommu).set_attach_deferred(1);
            let ret = bindings::iommu_deferred_attach(&raw mut (*raw).dev, domain);
            let still = (*iommu).attach_deferred();
            (*iommu).set_attach_deferred(0);
            (ret, still)
        };
        let blocked = state(&pdev)?;
        done(&path, &pdev, true);
        assert_eq!(ret, EBUSY.to_errno());
        assert_eq!(still_deferred, 1);
        assert_eq!(blocked, (1, true, 1));
        assert_eq!(state(&pdev)?, (0, false, 0));
        Ok(())
    }

    #[test]
    fn empty_paging_blocking_domain() -> Result {
        let Some(pdev) = ats_function() else {
            skip();
            return Ok(());
        };
        let path = path();
        let raw = raw_pci(&pdev);
        let dev: &device::Device = pdev.as_ref();
        let group = group_of(&pdev).ok_or(ENODEV)?;
        // An IOMMU driver without a static blocked domain gets an empty paging domain of the
        // group's for blocking (__iommu_group_alloc_blocking_domain()): give the group one as
        // that would, in place of the driver's, for one reset.
        // SAFETY: `dev` has an IOMMU (`ats_function()`).
        let paging = unsafe { bindings::iommu_paging_domain_alloc_flags(&raw mut (*raw).dev, 0) };
        let Ok(paging) = kernel::error::from_err_ptr(paging) else {
            skip();
            return Ok(());
        };
        let old = {
            let locked = group.lock();
            if locked.devices().any(|d| d.blocked()) || locked.domain() == locked.blocking_domain()
            {
                None
            } else {
                // SAFETY: The mutex is held, no device of the group is on the blocking domain
                // and the group is not on it either, so nothing uses the domain swapped out.
                unsafe {
                    let raw_group = (*raw).dev.iommu_group;
                    let old = (*raw_group).blocking_domain;
                    (*raw_group).blocking_domain = paging;
                    Some(old)
                }
            }
        };
        let Some(old) = old else {
            // SAFETY: `paging` was allocated above and is attached to nothing.
            unsafe { bindings::iommu_domain_free(paging) };
            skip();
            return Ok(());
        };
        let ats_before = ats_enable_bit(&pdev);
        let ret = prepare(&path, &pdev);
        let during = {
            let _locked = group.lock();
            // SAFETY: The group's mutex is held, as the function requires.
            unsafe { bindings::iommu_driver_get_domain_for_dev(&raw mut (*raw).dev) }
        };
        let ats_during = ats_enable_bit(&pdev);
        if ret.is_ok() {
            done(&path, &pdev, true);
        }
        let (after, group_domain) = {
            let locked = group.lock();
            // SAFETY: As above.
            let after = unsafe { bindings::iommu_driver_get_domain_for_dev(&raw mut (*raw).dev) };
            let gdev = locked.device(dev).ok_or(ENODEV)?;
            let restored = !gdev.blocked();
            if restored {
                // SAFETY: The mutex is held and the device is back on the group's domain, so
                // nothing is attached to `paging`.
                unsafe { (*(*raw).dev.iommu_group).blocking_domain = old };
            }
            // SAFETY: The mutex is held.
            let domain = unsafe { (*(*raw).dev.iommu_group).domain };
            (after, restored.then_some(domain))
        };
        assert!(ret.is_ok());
        // The core's view, from the device's blocked state.
        assert!(ptr::eq(during, paging));
        // The driver's: VT-d turns ATS off on its static blocked domain in legacy mode and
        // keeps it on a paging domain, so ATS Enable unchanged shows that the function went to
        // the group's blocking domain, not to the driver's.
        assert!(ats_before.is_ok() && ats_during == ats_before);
        // Back on the group's domain; the IOMMU driver warns when a domain that a device is
        // still attached to is freed.
        let group_domain = group_domain.ok_or(EBUSY)?;
        assert!(ptr::eq(after, group_domain));
        // SAFETY: Nothing refers to `paging` any more: the group has its old blocking domain.
        unsafe { bindings::iommu_domain_free(paging) };
        assert_eq!(state(&pdev)?, (0, false, 0));
        Ok(())
    }

    #[test]
    fn blocking_domain_on_demand() -> Result {
        let Some(pdev) = ats_function() else {
            skip();
            return Ok(());
        };
        let dev: &device::Device = pdev.as_ref();
        let group = group_of(&pdev).ok_or(ENODEV)?;
        let locked = group.lock();
        let gdev = locked.device(dev).ok_or(ENODEV)?;
        let blocking = locked.alloc_blocking_domain(gdev)?;
        // Allocated once, then kept for the life of the group.
        assert!(locked.blocking_domain() == Some(blocking));
        assert!(locked.alloc_blocking_domain(gdev)? == blocking);
        assert!(locked.domain() != Some(blocking));
        Ok(())
    }

    #[test]
    fn group_devices_and_pasids() -> Result {
        let Some(pdev) = ats_function() else {
            skip();
            return Ok(());
        };
        let dev: &device::Device = pdev.as_ref();
        let group = group_of(&pdev).ok_or(ENODEV)?;
        let locked = group.lock();
        let gdev = locked.device(dev).ok_or(ENODEV)?;
        assert!(ptr::eq(gdev.dev(), dev));
        assert!(locked.devices().any(|d| d == gdev));
        // Nothing attached a PASID in this kernel.
        assert_eq!(locked.pasid_domains(NO_PASID + 1).count(), 0);
        Ok(())
    }
}
