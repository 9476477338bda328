// SPDX-License-Identifier: GPL-2.0

//! Misuse of the IOMMU reset token: `done` twice. Must not compile (E0382).

use kernel::{
    device::Bound,
    pci,
    prelude::*, //
};

/// Unblocks the IOMMU twice for one block.
#[expect(dead_code)]
fn misuse(pdev: &pci::Device<Bound>) -> Result {
    let token = pdev.iommu_reset_prepare()?;
    token.done();
    token.done();
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
    name: "reset_token_double_done",
    authors: ["iommu-reset-rust developers"],
    description: "IOMMU reset token: done twice (must not compile)",
    license: "GPL",
}
