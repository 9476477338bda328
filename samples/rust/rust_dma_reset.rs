// SPDX-License-Identifier: GPL-2.0

//! Rust PCI reset sample: resets a function in a loop while workers keep its IOMMU busy.
//!
//! Each load worker maps and unmaps one page for the function in a tight loop; with
//! `iommu.strict=1` every unmap makes the IOMMU invalidate its IOTLB and, when the function uses
//! ATS, the function's device-IOTLB (ATC). Meanwhile a reset worker resets the function through
//! `pci_reset_function()`, whose IOMMU reset helpers must keep those invalidations away from the
//! function while it is reset.
//!
//! The driver has no ID table: it binds only to a function named by `driver_override`:
//!
//! ```text
//! echo rust_dma_reset > /sys/bus/pci/devices/0000:01:00.0/driver_override
//! echo 0000:01:00.0 > /sys/bus/pci/drivers_probe
//! ```
//!
//! Control and observation, in `/sys/kernel/debug/rust_dma_reset-<BDF>/`:
//!
//! - `control`: `start [workers=N] [resets=M] [interval_ms=K] [method=any|bus]` (defaults
//!   2, 100, 10, any; the run ends after M resets, M=0 runs the load until `stop`), or `stop`.
//!   Anything else, a value out of range, or `start` while a run is active fails (`-EINVAL`,
//!   `-EBUSY`) and changes nothing. `raw_flr`: see below. `check_dma` runs the streaming DMA
//!   API's error paths once on the function (a mapping without a direction refused with the
//!   page given back, a mapping's page returned by `unmap`, the same for a Devres-held
//!   mapping) and fails with `-EIO`, logging which, when one does not hold.
//! - `stats`: counters of the current or last run.
//!
//! Reset methods: `any` is `pci_reset_function()`, which tries the methods in the order of the
//! function's `reset_method` sysfs attribute (FLR first where the function has it), through the
//! PCI core's own path (the driver's reset handlers, config space saved and restored); `bus` a
//! reset of the slot or bus with every function on it (`pci_reset_bus()`, VFIO's hot reset),
//! which a driver may only do when it owns every function the reset touches: the sample owns
//! just its one, so a bus reset is refused (`-EBUSY`, counted as a failed reset) unless the
//! function is alone below its bridge. For one method only (`flr`, `pm`), write it to
//! `reset_method` and use `any`.
//!
//! The workers reach the bound function through a [`pci::Binding`]: unbinding waits until none
//! holds it, and a worker that finds the driver unbinding ends.
//!
//! Negative control, for tests only: with the module parameter `allow_raw_flr=1` (off by
//! default), `raw_flr` starts an FLR by writing the function's Device Control register directly,
//! as a broken driver might: the PCI core's reset path and its IOMMU reset helpers are bypassed,
//! so the IOMMU keeps sending invalidations to the function while it is reset. Tests use it to
//! show that their oracle catches exactly that. Without the parameter `raw_flr` fails with
//! `-EPERM`.
//!
//! With the module parameter `reset_at_probe=1` (off by default) the driver resets the function
//! once at probe, inside an [`pci::IommuResetToken`], the type-state API for drivers that reset
//! a function themselves.
//!
//! Unbinding stops the run and refuses later `start`s (`-ENODEV`): no work item outlives the
//! binding.

use kernel::{
    bindings,
    debugfs::{
        Dir,
        File, //
    },
    device::Core,
    devres::Devres,
    dma::{
        streaming::{
            OwnedMappedPage,
            Streaming, //
        },
        DataDirection, //
    },
    fmt,
    io::Io,
    new_condvar,
    new_mutex,
    page::Page,
    pci,
    prelude::*,
    str::CString,
    sync::{
        atomic::{
            Atomic,
            Relaxed, //
        },
        Arc,
        CondVar,
        Mutex, //
    },
    time::{
        delay::fsleep,
        Delta,
        Instant,
        Monotonic, //
    },
    uaccess::UserSliceReader,
    workqueue::OwnedQueue, //
};

/// Limits of the `start` parameters.
const MAX_WORKERS: u32 = 16;
const MAX_RESETS: u32 = 1_000_000;
const MAX_INTERVAL_MS: u32 = 10_000;
/// Reset latencies kept for the statistics (the first ones of a run).
const MAX_SAMPLES: usize = 16384;
/// Longest accepted control command.
const MAX_COMMAND: usize = 128;

/// Offsets in the PCI Express capability and bits of the registers the raw FLR uses.
const PCI_EXP_DEVCAP: usize = 4;
const PCI_EXP_DEVCAP_FLR: u32 = 1 << 28;
const PCI_EXP_DEVCTL: usize = 8;
const PCI_EXP_DEVCTL_BCR_FLR: u16 = 1 << 15;
/// How long a function may take to complete an FLR (PCIe r6.0, sec. 6.6.2).
const FLR_WAIT_MS: i64 = 100;

/// How the reset worker resets the function.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Method {
    /// `pci_reset_function()`: the methods of `reset_method`, in order.
    Any,
    /// A reset of the slot or bus, with every function on it.
    Bus,
}

impl Method {
    fn parse(value: &str) -> Result<Self> {
        match value {
            "any" => Ok(Self::Any),
            "flr" | "pm" => {
                // The PCI core resets with the methods of `reset_method`, in order: that is
                // where a single method is chosen.
                pr_info!("method={value}: write {value} to reset_method and use method=any\n");
                Err(EINVAL)
            }
            "bus" => Ok(Self::Bus),
            _ => Err(EINVAL),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Any => "any",
            Self::Bus => "bus",
        }
    }
}

/// Parameters of a run.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Params {
    workers: u32,
    resets: u32,
    interval_ms: u32,
    method: Method,
}

/// A control command.
#[derive(Debug, PartialEq)]
enum Command {
    Start(Params),
    Stop,
    /// The negative control: an FLR that bypasses the IOMMU reset helpers.
    RawFlr,
    /// The streaming DMA API's error paths, once.
    CheckDma,
}

fn parse_value(value: &str, max: u32) -> Result<u32> {
    let v = value.parse::<u32>().map_err(|_| EINVAL)?;
    if v > max {
        return Err(EINVAL);
    }
    Ok(v)
}

impl Command {
    /// Parses `start [key=value]...` or `stop`; rejects anything else.
    fn parse(input: &str) -> Result<Self> {
        let mut words = input.split_ascii_whitespace();
        match words.next() {
            Some("stop") if words.next().is_none() => Ok(Self::Stop),
            Some("raw_flr") if words.next().is_none() => Ok(Self::RawFlr),
            Some("check_dma") if words.next().is_none() => Ok(Self::CheckDma),
            Some("start") => {
                let mut p = Params {
                    workers: 2,
                    resets: 100,
                    interval_ms: 10,
                    method: Method::Any,
                };
                for word in words {
                    let (key, value) = word.split_once('=').ok_or(EINVAL)?;
                    match key {
                        "workers" => p.workers = parse_value(value, MAX_WORKERS)?,
                        "resets" => p.resets = parse_value(value, MAX_RESETS)?,
                        "interval_ms" => p.interval_ms = parse_value(value, MAX_INTERVAL_MS)?,
                        "method" => p.method = Method::parse(value)?,
                        _ => return Err(EINVAL),
                    }
                }
                if p.workers == 0 && p.resets == 0 {
                    return Err(EINVAL);
                }
                Ok(Self::Start(p))
            }
            _ => Err(EINVAL),
        }
    }
}

/// Counters of a run.
struct Counters {
    map_ops: Atomic<u64>,
    map_errors: Atomic<u64>,
    resets_ok: Atomic<u64>,
    resets_failed: Atomic<u64>,
    resets_busy: Atomic<u64>,
    raw_flrs: Atomic<u64>,
}

impl Counters {
    fn reset(&self) {
        for c in [
            &self.map_ops,
            &self.map_errors,
            &self.resets_ok,
            &self.resets_failed,
            &self.resets_busy,
            &self.raw_flrs,
        ] {
            c.store(0, Relaxed);
        }
    }
}

/// What a run needs to know of its workers.
struct RunState {
    /// Work items still running.
    active: u32,
    /// The driver's own workqueue, on which the work items run; `None` once the driver is
    /// unbinding: no run may start any more.
    queue: Option<OwnedQueue>,
    /// Parameters of the current or last run.
    params: Option<Params>,
    /// Reset latencies of the run, in nanoseconds.
    latencies: KVec<u64>,
    /// Last reset error, as a negative errno.
    last_error: i32,
}

/// State shared by the debugfs files and the work items.
#[pin_data]
struct Shared {
    binding: pci::Binding,
    dma: Devres<Streaming>,
    counters: Counters,
    stop: Atomic<bool>,
    #[pin]
    state: Mutex<RunState>,
    #[pin]
    idle: CondVar,
}

impl Shared {
    fn new(pdev: &pci::Device<Core<'_>>, name: &CStr) -> Result<Arc<Self>> {
        let dma = Streaming::new(pdev.as_ref())?;
        let queue = OwnedQueue::new(name, bindings::wq_flags_WQ_UNBOUND)?;
        Arc::pin_init(
            try_pin_init!(Self {
                binding: pdev.binding()?,
                dma,
                counters: Counters {
                    map_ops: Atomic::new(0),
                    map_errors: Atomic::new(0),
                    resets_ok: Atomic::new(0),
                    resets_failed: Atomic::new(0),
                    resets_busy: Atomic::new(0),
                    raw_flrs: Atomic::new(0),
                },
                stop: Atomic::new(false),
                state <- new_mutex!(RunState {
                    active: 0,
                    queue: Some(queue),
                    params: None,
                    latencies: KVec::new(),
                    last_error: 0,
                }),
                idle <- new_condvar!(),
            }),
            GFP_KERNEL,
        )
    }

    /// Starts a run; fails with `EBUSY` while one is active and with `ENODEV` once the driver
    /// is unbinding. Everything a run needs is allocated before anything changes, so a failed
    /// allocation changes nothing.
    fn start(self: &Arc<Self>, p: Params) -> Result {
        let mut state = self.state.lock();
        if state.queue.is_none() {
            return Err(ENODEV);
        }
        if state.active > 0 {
            return Err(EBUSY);
        }
        let mut latencies = KVec::with_capacity(
            usize::try_from(p.resets).map_or(MAX_SAMPLES, |n| n.min(MAX_SAMPLES)),
            GFP_KERNEL,
        )?;
        // CAST: At most `MAX_WORKERS`, which fits in a `usize`.
        let mut pages = KVec::with_capacity(p.workers as usize, GFP_KERNEL)?;
        for _ in 0..p.workers {
            pages.push(Page::alloc_page(GFP_KERNEL)?, GFP_KERNEL)?;
        }
        core::mem::swap(&mut state.latencies, &mut latencies);
        state.latencies.clear();
        state.params = Some(p);
        state.last_error = 0;
        self.counters.reset();
        self.stop.store(false, Relaxed);

        let st = &mut *state;
        let queue = st.queue.as_ref().ok_or(ENODEV)?;
        let mut spawned = Ok(());
        while let Some(page) = pages.pop() {
            let this = self.clone();
            st.active += 1;
            spawned = queue.try_spawn(GFP_KERNEL, move || this.load(page));
            if spawned.is_err() {
                st.active -= 1;
                break;
            }
        }
        if spawned.is_ok() && p.resets > 0 {
            let this = self.clone();
            st.active += 1;
            spawned = queue.try_spawn(GFP_KERNEL, move || this.reset_loop(p));
            if spawned.is_err() {
                st.active -= 1;
            }
        }
        if let Err(e) = spawned {
            // Out of memory for a work item: stop what was started.
            drop(state);
            self.stop_and_wait();
            return Err(e.into());
        }
        Ok(())
    }

    /// Stops the run, if any, and waits until all its work items have returned.
    ///
    /// `stop` is set under the state mutex, which `start()` holds while it clears it and
    /// spawns the work items: a run either starts before and sees `stop`, or after.
    fn stop_and_wait(&self) {
        let mut state = self.state.lock();
        self.stop.store(true, Relaxed);
        while state.active > 0 {
            self.idle.wait(&mut state);
        }
    }

    /// Stops the run for good: the driver is unbinding. A later `start` (from a debugfs write
    /// that is still in flight) fails with `ENODEV` instead of spawning work items that would
    /// outlive the binding.
    fn shutdown(&self) {
        let queue = self.state.lock().queue.take();
        self.stop_and_wait();
        // Every work item has said it is done, but may still be returning (dropping what it
        // captured): destroying the queue waits until each has, so none runs this module's code
        // after the unbind (and a module unload after it).
        drop(queue);
    }

    fn worker_exit(&self) {
        let mut state = self.state.lock();
        state.active -= 1;
        if state.active == 0 {
            self.idle.notify_all();
        }
    }

    /// Load worker: map and unmap one page until stopped or the device goes away.
    fn load(&self, mut page: Page) {
        while !self.stop.load(Relaxed) {
            // The mapping owns the page; unmapping gives it back for the next round.
            let mapped = self.dma.try_access_with(move |dma| {
                match dma.map_page(page, DataDirection::ToDevice) {
                    Ok(mapping) => Ok(mapping.unmap()),
                    Err(e) => Err(e.page),
                }
            });
            match mapped {
                Some(Ok(p)) => {
                    page = p;
                    self.counters.map_ops.add(1, Relaxed);
                }
                Some(Err(p)) => {
                    page = p;
                    self.counters.map_errors.add(1, Relaxed);
                }
                // Unbound: nothing left to map for (the page went with the closure).
                None => break,
            }
            // Let others run now and then: this loop never blocks otherwise.
            if self.counters.map_ops.load(Relaxed) % 16 == 0 {
                fsleep(Delta::from_micros(20));
            }
        }
        self.worker_exit();
    }

    /// Reset worker: `p.resets` resets with `p.method`, then end the run.
    fn reset_loop(&self, p: Params) {
        let mut done = 0;
        while done < p.resets && !self.stop.load(Relaxed) {
            let start = Instant::<Monotonic>::now();
            // The bound function, until the driver unbinds. Never wait for the device lock
            // while holding it: unbind holds that lock while it waits for this worker.
            let Some(pdev) = self.binding.enter() else {
                break;
            };
            let reset = match p.method {
                Method::Any => pdev.try_reset_function(),
                // The sample owns no other function: refused unless the function is alone on
                // its bus.
                Method::Bus => pdev.try_reset_bus(&[]),
            };
            drop(pdev);
            match reset {
                Ok(()) => {
                    let ns = start.elapsed().as_nanos();
                    self.counters.resets_ok.add(1, Relaxed);
                    let mut state = self.state.lock();
                    if state.latencies.len() < MAX_SAMPLES {
                        // Cannot fail: the capacity was reserved at start.
                        let _ = state
                            .latencies
                            .push(u64::try_from(ns).unwrap_or(0), GFP_NOWAIT);
                    }
                }
                Err(e) if e == EAGAIN => {
                    self.counters.resets_busy.add(1, Relaxed);
                    fsleep(Delta::from_millis(1));
                    continue;
                }
                Err(e) => {
                    self.counters.resets_failed.add(1, Relaxed);
                    self.state.lock().last_error = e.to_errno();
                }
            }
            done += 1;
            if p.interval_ms > 0 {
                fsleep(Delta::from_millis(i64::from(p.interval_ms)));
            }
        }
        // The run ends with its resets.
        self.stop.store(true, Relaxed);
        self.worker_exit();
    }

    /// The negative control: starts an FLR through the Device Control register, behind the
    /// back of the PCI core and its IOMMU reset helpers, and restores the config space after.
    fn raw_flr(&self) -> Result {
        if !module_parameters::allow_raw_flr.value() {
            dev_info!(
                self.binding.device(),
                "raw_flr is for tests only: load the module with allow_raw_flr=1\n"
            );
            return Err(EPERM);
        }
        // The binding keeps the function bound meanwhile.
        let pdev = self.binding.enter().ok_or(ENODEV)?;
        let cap = pdev.pcie_cap().ok_or(ENOTTY)?;
        let cfg = pdev.config_space();
        if cfg.try_read32(cap + PCI_EXP_DEVCAP)? & PCI_EXP_DEVCAP_FLR == 0 {
            return Err(ENOTTY);
        }
        pdev.save_state()?;
        let ctl = cfg.try_read16(cap + PCI_EXP_DEVCTL)?;
        let ret = cfg.try_write16(ctl | PCI_EXP_DEVCTL_BCR_FLR, cap + PCI_EXP_DEVCTL);
        fsleep(Delta::from_millis(FLR_WAIT_MS));
        pdev.restore_state();
        ret?;
        self.counters.raw_flrs.add(1, Relaxed);
        Ok(())
    }

    /// Runs the streaming DMA API's error paths on the bound function (see the module
    /// documentation); `EIO` when one does not hold.
    fn check_dma(&self) -> Result {
        let pdev = self.binding.enter().ok_or(ENODEV)?;
        let dev = self.binding.device();
        let fail = |what: &str| {
            dev_err!(dev, "check_dma: {}\n", what);
            Err(EIO)
        };
        let page = Page::alloc_page(GFP_KERNEL)?;
        let raw = page.as_ptr();
        let Some(checked) = self.dma.try_access_with(|dma| {
            // A mapping without a direction: refused, and the page comes back unchanged.
            let page = match dma.map_page(page, DataDirection::None) {
                Ok(_) => return Err("a mapping without a direction was made"),
                Err(e) if e.error != EINVAL => return Err("DataDirection::None: not EINVAL"),
                Err(e) => e.page,
            };
            if page.as_ptr() != raw {
                return Err("the refused mapping gave back another page");
            }
            // A good mapping: synced both ways, and unmapping gives the page back.
            let mapping = dma
                .map_page(page, DataDirection::Bidirectional)
                .map_err(|_| "a bidirectional mapping failed")?;
            mapping.sync_for_cpu();
            mapping.sync_for_device();
            if mapping.page().as_ptr() != raw {
                return Err("the mapping holds another page");
            }
            let page = mapping.unmap();
            if page.as_ptr() != raw {
                return Err("unmap gave back another page");
            }
            Ok(page)
        }) else {
            return Err(ENODEV);
        };
        let page = match checked {
            Ok(page) => page,
            Err(what) => return fail(what),
        };
        // The same for a mapping held in a Devres of its own.
        let bound: &kernel::device::Device<kernel::device::Bound> = (*pdev).as_ref();
        if OwnedMappedPage::new(bound, page, DataDirection::None).err() != Some(EINVAL) {
            return fail("OwnedMappedPage with DataDirection::None: not EINVAL");
        }
        let page = Page::alloc_page(GFP_KERNEL)?;
        let owned = OwnedMappedPage::new(bound, page, DataDirection::ToDevice)?;
        owned.access(bound)?.sync_for_device();
        Ok(())
    }

    fn write_stats(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.counters;
        let mut state = self.state.lock();
        let running = state.active > 0;
        writeln!(f, "device {}", dev_name(self.binding.device()))?;
        writeln!(f, "state {}", if running { "running" } else { "idle" })?;
        if let Some(p) = state.params {
            writeln!(
                f,
                "params workers={} resets={} interval_ms={} method={}",
                p.workers,
                p.resets,
                p.interval_ms,
                p.method.name()
            )?;
        }
        writeln!(
            f,
            "ats_supported {}",
            u8::from(self.binding.device().ats_supported())
        )?;
        writeln!(f, "map_ops {}", c.map_ops.load(Relaxed))?;
        writeln!(f, "map_errors {}", c.map_errors.load(Relaxed))?;
        writeln!(f, "resets_ok {}", c.resets_ok.load(Relaxed))?;
        writeln!(f, "resets_failed {}", c.resets_failed.load(Relaxed))?;
        writeln!(f, "resets_busy {}", c.resets_busy.load(Relaxed))?;
        writeln!(f, "raw_flrs {}", c.raw_flrs.load(Relaxed))?;
        writeln!(
            f,
            "raw_flr_allowed {}",
            u8::from(module_parameters::allow_raw_flr.value())
        )?;
        writeln!(f, "last_error {}", state.last_error)?;
        let lat = &mut state.latencies;
        lat.sort_unstable();
        if let (Some(min), Some(max)) = (lat.first(), lat.last()) {
            let pct = |p: usize| lat[(lat.len() - 1) * p / 100] / 1000;
            writeln!(
                f,
                "latency_us min {} median {} p99 {} max {}",
                min / 1000,
                pct(50),
                pct(99),
                max / 1000
            )?;
        }
        Ok(())
    }

    fn control(self: &Arc<Self>, reader: &mut UserSliceReader) -> Result {
        let mut buf = [0u8; MAX_COMMAND];
        let len = reader.len();
        if len == 0 || len > MAX_COMMAND {
            return Err(EINVAL);
        }
        reader.read_slice(&mut buf[..len])?;
        let cmd = core::str::from_utf8(&buf[..len]).map_err(|_| EINVAL)?;
        match Command::parse(cmd)? {
            Command::Start(p) => self.start(p),
            Command::Stop => {
                self.stop_and_wait();
                Ok(())
            }
            Command::RawFlr => self.raw_flr(),
            Command::CheckDma => self.check_dma(),
        }
    }
}

fn control_write(shared: &Arc<Shared>, reader: &mut UserSliceReader) -> Result {
    shared.control(reader)
}

fn stats_read(shared: &Arc<Shared>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    shared.write_stats(f)
}

/// Returns the device name of `pdev` (its BDF).
fn dev_name(pdev: &pci::Device) -> &str {
    let dev: &kernel::device::Device = pdev.as_ref();
    dev.name().to_str().unwrap_or("?")
}

/// Per-device driver data.
#[pin_data(PinnedDrop)]
struct DmaReset {
    shared: Arc<Shared>,
    #[pin]
    _control: File<Arc<Shared>>,
    #[pin]
    _stats: File<Arc<Shared>>,
    _dir: Dir,
}

#[pinned_drop]
impl PinnedDrop for DmaReset {
    fn drop(self: Pin<&mut Self>) {
        // Also when probe fails after the files were created; the files go after this.
        self.shared.shutdown();
    }
}

impl DmaReset {
    fn new<'a, 'b>(pdev: &'a pci::Device<Core<'b>>) -> impl PinInit<Self, Error> + use<'a, 'b> {
        pin_init::pin_init_scope(move || {
            // The name of the debugfs directory and of the workqueue.
            let name = CString::try_from_fmt(fmt!("rust_dma_reset-{}", dev_name(pdev)))?;
            let shared = Shared::new(pdev, &name)?;
            let dir = Dir::new(&name);
            Ok(try_pin_init!(Self {
                _control <- dir.write_callback_file(c"control", shared.clone(), &control_write),
                _stats <- dir.read_callback_file(c"stats", shared.clone(), &stats_read),
                _dir: dir,
                shared,
            }))
        })
    }
}

kernel::pci_device_table!(PCI_TABLE, <DmaReset as pci::Driver>::IdInfo, []);

impl pci::Driver for DmaReset {
    type IdInfo = ();
    type Data<'bound> = Self;

    const ID_TABLE: pci::IdTable<Self::IdInfo> = &PCI_TABLE;

    fn probe<'bound>(
        pdev: &'bound pci::Device<Core<'_>>,
        _info: Option<&'bound Self::IdInfo>,
    ) -> impl PinInit<Self, Error> + 'bound {
        dev_info!(
            pdev,
            "bound (ATS {})\n",
            if pdev.ats_supported() {
                "supported"
            } else {
                "not supported"
            }
        );
        pin_init::pin_init_scope(move || {
            // Only when asked to (a user binding it to real hardware must not get a reset they
            // did not ask for): take the function over in a known state, resetting it inside a
            // token as a driver with its own reset mechanism would. The token nests with the
            // reset's own blocking of the IOMMU.
            if module_parameters::reset_at_probe.value() {
                let token = pdev.iommu_reset_prepare()?;
                let ret = pdev.reset_function_locked();
                token.done();
                ret?;
            }
            Ok(Self::new(pdev))
        })
    }

    fn unbind<'bound>(_pdev: &'bound pci::Device<Core<'_>>, this: Pin<&Self>) {
        this.shared.shutdown();
    }
}

kernel::module_pci_driver! {
    type: DmaReset,
    name: "rust_dma_reset",
    authors: ["iommu-reset-rust developers"],
    description: "Rust PCI reset under concurrent IOMMU invalidation load",
    license: "GPL v2",
    params: {
        allow_raw_flr: bool {
            default: false,
            description: "Accept raw_flr, an FLR bypassing the IOMMU reset helpers (tests only)",
        },
        reset_at_probe: bool {
            default: false,
            description: "Reset the function at probe, inside an IOMMU reset token",
        },
    },
}

#[kunit_tests(rust_dma_reset)]
mod tests {
    use super::*;

    #[test]
    fn parse_commands() {
        assert_eq!(Command::parse("stop"), Ok(Command::Stop));
        assert_eq!(Command::parse("raw_flr\n"), Ok(Command::RawFlr));
        assert_eq!(Command::parse("check_dma\n"), Ok(Command::CheckDma));
        assert_eq!(Command::parse("check_dma now"), Err(EINVAL));
        assert_eq!(
            Command::parse("start\n"),
            Ok(Command::Start(Params {
                workers: 2,
                resets: 100,
                interval_ms: 10,
                method: Method::Any
            }))
        );
        assert_eq!(
            Command::parse("start workers=4 resets=0 interval_ms=0"),
            Ok(Command::Start(Params {
                workers: 4,
                resets: 0,
                interval_ms: 0,
                method: Method::Any
            }))
        );
        assert_eq!(
            Command::parse("start method=bus resets=5"),
            Ok(Command::Start(Params {
                workers: 2,
                resets: 5,
                interval_ms: 10,
                method: Method::Bus
            }))
        );
    }

    #[test]
    fn reject_bad_input() {
        for bad in [
            "",
            "go",
            "stop now",
            "raw_flr 1",
            "raw_flr start",
            "start workers",
            "start workers=",
            "start workers=-1",
            "start workers=17",
            "start resets=1000001",
            "start interval_ms=10001",
            "start method=",
            "start method=FLR",
            "start method=pm",
            "start method=flr,bus",
            "start workers=0 resets=0",
            "start workers=0x2",
        ] {
            assert_eq!(Command::parse(bad), Err(EINVAL));
        }
    }
}
