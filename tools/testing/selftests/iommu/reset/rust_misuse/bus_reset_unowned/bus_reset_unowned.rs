// SPDX-License-Identifier: GPL-2.0

//! Misuse of the PCI bus reset: resetting a bus while claiming a function that the caller is
//! not bound to (it may be another driver's, or assigned to a guest through VFIO). A bus reset
//! resets every function below the bridge, so the caller must name each of the others as a
//! `Device<Bound>` of its own. Must not compile (E0308).

use kernel::{
    device::Bound,
    pci,
    prelude::*, //
};

/// Resets the bus of `pdev` and of a neighbour the caller does not own.
#[expect(dead_code)]
fn misuse(pdev: &pci::Device<Bound>, neighbour: &pci::Device) -> Result {
    pdev.try_reset_bus(&[neighbour])
}

struct Misuse;

impl kernel::Module for Misuse {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        Ok(Misuse)
    }
}

module! {
    type: Misuse,
    name: "bus_reset_unowned",
    authors: ["iommu-reset-rust developers"],
    description: "Bus reset of a function not bound to the caller (must not compile)",
    license: "GPL",
}
