// SPDX-License-Identifier: GPL-2.0

//! Misuse of the IOMMU group abstraction: allocating the blocking domain of a group without
//! one of its devices. A group reference outlives the group's devices; the IOMMU core finds
//! the IOMMU driver through the group's first device, which an empty group does not have. A
//! device of the group is required. Must not compile (E0061).

use kernel::{
    iommu::group::Group,
    prelude::*, //
};

/// Allocates the blocking domain of a group that may have lost its last device.
#[expect(dead_code)]
fn misuse(group: &Group) -> Result<u32> {
    Ok(group.lock().alloc_blocking_domain()?.domain_type())
}

struct Misuse;

impl kernel::Module for Misuse {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        Ok(Misuse)
    }
}

module! {
    type: Misuse,
    name: "blocking_domain_empty",
    authors: ["iommu-reset-rust developers"],
    description: "Blocking domain of a group without a device (must not compile)",
    license: "GPL",
}
