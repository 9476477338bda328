// SPDX-License-Identifier: GPL-2.0

//! Misuse of the IOMMU group abstraction: a driver that changes a function's reset state
//! itself, unblocking it while it may be in reset. The state changes need a `ResetPath`, which
//! only an `unsafe` call makes. Must not compile (E0133).

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
fn misuse(dev: &Device<Bound>) -> Result {
    let group = Group::of_device(dev).ok_or(ENODEV)?;
    let locked = group.lock();
    let gdev = locked.device(dev).ok_or(ENODEV)?;
    let path = ResetPath::new();
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
    name: "group_reset_path_forged",
    authors: ["iommu-reset-rust developers"],
    description: "IOMMU group: reset state changed without the reset path (must not compile)",
    license: "GPL",
}
