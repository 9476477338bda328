// SPDX-License-Identifier: GPL-2.0

//! Positive control for the IOMMU reset token misuse tests: balanced use compiles.

use kernel::{
    device::Bound,
    pci,
    prelude::*, //
};

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
