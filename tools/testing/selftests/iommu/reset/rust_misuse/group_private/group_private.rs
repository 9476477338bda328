// SPDX-License-Identifier: GPL-2.0

//! Misuse of the IOMMU core's group state from a driver: unblocking a function behind the
//! PCI core's back while it may be in reset, or allocating the blocking domain of a group
//! whose devices are gone. That state is the IOMMU core's; its abstractions are private to the
//! reset helpers (drivers/iommu/reset/group.rs) and the kernel crate publishes none of them.
//! Must not compile (E0432).

use kernel::{
    device::{
        Bound,
        Device, //
    },
    iommu::group::{
        Group,
        ResetPath, //
    },
    prelude::*, //
};

/// Unblocks `dev` behind the PCI core's back.
#[expect(dead_code)]
fn unblock(dev: &Device<Bound>) -> Result {
    // SAFETY: None: this is the misuse.
    let path = unsafe { ResetPath::new() };
    // SAFETY: None: this is the misuse.
    let group = unsafe { Group::of_device_borrowed(dev) }.ok_or(ENODEV)?;
    let locked = group.lock();
    let gdev = locked.device(dev).ok_or(ENODEV)?;
    while locked.leave_reset(&path, gdev)? {}
    locked.unpark(&path, gdev)
}

struct Misuse;

impl kernel::Module for Misuse {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        Ok(Misuse)
    }
}

module! {
    type: Misuse,
    name: "group_private",
    authors: ["iommu-reset-rust developers"],
    description: "A driver reaching the IOMMU core's group state (must not compile)",
    license: "GPL",
}
