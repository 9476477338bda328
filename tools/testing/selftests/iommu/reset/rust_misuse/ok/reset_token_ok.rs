// SPDX-License-Identifier: GPL-2.0

//! Positive control for the misuse tests: balanced use of the IOMMU reset token, a bus reset of
//! functions all bound to the caller, work on an owned workqueue, and a streaming mapping that
//! gives its page back, compile.

use kernel::{
    device::{
        Bound,
        Device, //
    },
    dma::{
        streaming::Streaming,
        DataDirection, //
    },
    page::Page,
    pci,
    prelude::*,
    workqueue::OwnedQueue, //
};

/// Resets a function from a work item, through the driver's binding.
#[expect(dead_code)]
fn reset_from_work(binding: &pci::Binding) -> Result {
    let pdev = binding.enter().ok_or(ENODEV)?;
    pdev.try_reset_function()
}

/// Maps a page, and frees it after the mapping gave it back.
#[expect(dead_code)]
fn map_and_free(dev: &Device<Bound>) -> Result {
    let streaming = Streaming::new(dev)?;
    let dma = streaming.access(dev)?;
    let page = Page::alloc_page(GFP_KERNEL)?;
    let mapping = dma.map_page(page, DataDirection::FromDevice)?;
    mapping.sync_for_cpu();
    drop(mapping.unmap());
    Ok(())
}

/// Resets the bus of two functions that are both bound to the caller.
#[expect(dead_code)]
fn reset_both(fn0: &pci::Device<Bound>, fn1: &pci::Device<Bound>) -> Result {
    fn0.try_reset_bus(&[fn1])
}

/// Runs work on a queue of the caller's own; dropping the queue waits for it.
#[expect(dead_code)]
fn owned_work(queue: &OwnedQueue) -> Result {
    queue.try_spawn(GFP_KERNEL, || pr_info!("work\n"))?;
    Ok(())
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
