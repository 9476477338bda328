// SPDX-License-Identifier: GPL-2.0

//! Positive control for the misuse tests: balanced use of the IOMMU reset token, and reading
//! the reset state of a bound device's IOMMU group, compile.

use kernel::{
    device::{
        Bound,
        Device, //
    },
    iommu::group::Group,
    pci,
    prelude::*, //
};

/// Reads the reset state of a bound device: reading needs no reset path.
#[expect(dead_code)]
fn read_state(dev: &Device<Bound>) -> Option<(u32, bool, bool)> {
    let group = Group::of_device(dev)?;
    let locked = group.lock();
    let gdev = locked.device(dev)?;
    Some((
        gdev.reset_depth(),
        gdev.blocked(),
        locked.recovery_cnt() > 0,
    ))
}

/// Blocks and unblocks the IOMMU around a reset the driver would do itself.
#[expect(dead_code)]
fn balanced(pdev: &pci::Device<Bound>) -> Result {
    let token = pdev.iommu_reset_prepare()?;
    token.done();
    // Dropping a token unblocks too.
    let _token = pdev.iommu_reset_prepare()?;
    Ok(())
}

struct Misuse;

impl kernel::Module for Misuse {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        Ok(Misuse)
    }
}

module! {
    type: Misuse,
    name: "reset_token_ok",
    authors: ["iommu-reset-rust developers"],
    description: "IOMMU reset token: balanced use (must compile)",
    license: "GPL",
}
