// SPDX-License-Identifier: GPL-2.0

//! Misuse of the IOMMU group abstraction: looking up the group of a device that is not known
//! to be bound, whose `dev->iommu` may be freed meanwhile by `iommu_release_device()`. Only a
//! `Device<Bound>` is accepted. Must not compile (E0308).

use kernel::{
    device::Device,
    iommu::group::Group,
    prelude::*, //
};

/// Reads the group id of any device.
#[expect(dead_code)]
fn misuse(dev: &Device) -> Option<i32> {
    Group::of_device(dev).map(|group| group.id())
}

struct Misuse;

impl kernel::Module for Misuse {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        Ok(Misuse)
    }
}

module! {
    type: Misuse,
    name: "group_of_unbound",
    authors: ["iommu-reset-rust developers"],
    description: "IOMMU group: group of an unbound device (must not compile)",
    license: "GPL",
}
