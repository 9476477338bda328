// SPDX-License-Identifier: GPL-2.0

//! Misuse of the PCI reset API: resetting a function through a plain device reference, which
//! does not prove that the caller's driver is bound to it (it may be another driver's function
//! by now). Resets are methods of `Device<Bound>` only. Must not compile (E0599).

use kernel::{
    pci,
    prelude::*, //
};

/// Resets a function that may belong to another driver.
#[expect(dead_code)]
fn misuse(pdev: &pci::Device) -> Result {
    pdev.try_reset_function()
}

struct Misuse;

impl kernel::Module for Misuse {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        Ok(Misuse)
    }
}

module! {
    type: Misuse,
    name: "reset_unbound",
    authors: ["iommu-reset-rust developers"],
    description: "PCI reset of a device not known to be bound (must not compile)",
    license: "GPL",
}
