// SPDX-License-Identifier: GPL-2.0

//! Misuse of the owned workqueue: queueing delayed work on it. `destroy_workqueue()` does not
//! wait for a delayed work item whose timer is pending, so dropping the queue would free it
//! under the timer and run the item after the module is gone. `OwnedQueue` has no delayed
//! enqueue and is not a `Queue`. Must not compile (E0599).

use kernel::{
    prelude::*,
    sync::Arc,
    workqueue::{
        self,
        DelayedWork,
        OwnedQueue, //
    }, //
};

#[pin_data]
struct Later {
    #[pin]
    work: DelayedWork<Later>,
}

kernel::impl_has_delayed_work! {
    impl HasDelayedWork<Self> for Later { self.work }
}

impl workqueue::WorkItem for Later {
    type Pointer = Arc<Later>;

    fn run(_this: Arc<Later>) {}
}

/// Queues `later` to run in a second, on a queue its owner may drop before.
#[expect(dead_code)]
fn misuse(queue: &OwnedQueue, later: Arc<Later>) {
    let _ = queue.enqueue_delayed(later, 1000);
}

struct Misuse;

impl kernel::Module for Misuse {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        Ok(Misuse)
    }
}

module! {
    type: Misuse,
    name: "owned_queue_delayed",
    authors: ["iommu-reset-rust developers"],
    description: "Delayed work on an owned workqueue (must not compile)",
    license: "GPL",
}
