// SPDX-License-Identifier: GPL-2.0

//! Misuse of the IOMMU reset token: forging one to unblock without blocking. Must not
//! compile (E0451, private field).

use kernel::{
    device::Bound,
    pci,
    prelude::*, //
};

/// Unblocks the IOMMU without having blocked it.
#[expect(dead_code)]
fn misuse(pdev: &pci::Device<Bound>) -> Result {
    let token = pci::IommuResetToken { pdev };
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
    name: "reset_token_forged_token",
    authors: ["iommu-reset-rust developers"],
    description: "IOMMU reset token: forged token (must not compile)",
    license: "GPL",
}
