// SPDX-License-Identifier: GPL-2.0

//! Misuse of streaming DMA mappings: forgetting a mapping, so that it is never unmapped, and
//! freeing the page it maps, which the device could then still write. The mapping owns its page,
//! so the page cannot be freed behind it. Must not compile (E0382).

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
    prelude::*, //
};

/// Leaves a live IOVA to a freed page.
#[expect(dead_code)]
fn misuse(dev: &Device<Bound>) -> Result {
    let streaming = Streaming::new(dev)?;
    let dma = streaming.access(dev)?;
    let page = Page::alloc_page(GFP_KERNEL)?;
    let mapping = dma.map_page(page, DataDirection::FromDevice)?;
    core::mem::forget(mapping);
    drop(page);
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
    name: "streaming_forget",
    authors: ["iommu-reset-rust developers"],
    description: "Streaming DMA: page freed behind a forgotten mapping (must not compile)",
    license: "GPL",
}
