// SPDX-License-Identifier: GPL-2.0

//! A driver's handle on its binding to a PCI function, for work outside the bus callbacks.
//!
//! The PCI bus adapter opens the binding before the driver's `probe` and closes it right after
//! the driver's `unbind` returns (or after a failed `probe`): before the driver's data is
//! dropped and before devres releases anything the driver registered. Closing waits for every
//! [`BoundRef`] that is out, so a [`BoundRef`] never exists while the driver core tears the
//! binding down.

use super::Device;
use crate::{
    bindings,
    device,
    new_condvar,
    new_mutex,
    prelude::*,
    sync::{
        aref::ARef,
        Arc,
        ArcBorrow,
        CondVar,
        Mutex, //
    },
    types::ForeignOwnable, //
};
use core::{
    mem,
    ops::Deref,
    ptr, //
};

/// A driver's handle on its binding to a PCI function, for work outside `probe` and `unbind`
/// that needs the bound function and may sleep, e.g. a reset from a work item.
///
/// [`Binding::enter`] returns a [`BoundRef`], through which the function is a
/// `Device<Bound>`, until the binding is closed: the PCI bus adapter closes it when the
/// driver's `unbind` has returned (or its `probe` failed), before the driver's data is dropped
/// and before devres releases what the driver registered, and waits there until every
/// [`BoundRef`] is dropped. The work must therefore not wait for the device lock while it holds
/// one (the driver core holds it while it unbinds): it uses the `try_` methods, such as
/// [`Device::try_reset_function`], and drops the [`BoundRef`] when they fail with [`EAGAIN`].
///
/// Every [`Binding`] of one binding shares its state: [`Device::binding`] allocates nothing, and
/// a driver may call it as often as it likes. A [`Binding`] kept after the unbinding (in work
/// that outlives it, or by a later binding of the same function) stays closed.
///
/// Closing waits uninterruptibly, with the device lock held: a [`BoundRef`] held across a long
/// operation (a reset may take seconds) holds up the unbinding as long. A leaked [`BoundRef`]
/// (`core::mem::forget`) keeps the unbinding waiting for good: a hang, never a use of the
/// function after its driver left.
///
/// Both documented patterns compose: a work item that runs until [`Binding::enter`] fails, on
/// an [`OwnedQueue`](crate::workqueue::OwnedQueue) kept in the driver's data. The binding is
/// closed before the driver's data is dropped, so the work item ends before the queue's drop
/// waits for it.
///
/// # Examples
///
/// ```
/// use kernel::{pci, prelude::*};
///
/// fn reset_from_work(binding: &pci::Binding) -> Result {
///     let pdev = binding.enter().ok_or(ENODEV)?;
///     pdev.try_reset_function()
/// }
/// ```
#[derive(Clone)]
pub struct Binding {
    pdev: ARef<Device>,
    state: Arc<BindingState>,
}

/// The state of a binding, shared by its [`Binding`]s and the devres node that frees it.
#[pin_data]
struct BindingState {
    /// Whether the binding is closed, and how many [`BoundRef`]s are out.
    #[pin]
    inner: Mutex<(bool, usize)>,
    /// Signalled when the last [`BoundRef`] goes.
    #[pin]
    idle: CondVar,
}

impl BindingState {
    /// Closes the binding: [`Binding::enter`] fails from now on. Waits until no [`BoundRef`] is
    /// out.
    fn close(&self) {
        let mut inner = self.inner.lock();
        inner.0 = true;
        while inner.1 > 0 {
            self.idle.wait(&mut inner);
        }
    }
}

/// Frees a binding's state: the release function of its devres node.
///
/// # Safety
///
/// `res` is the data of a devres node that [`open`] added, released once.
unsafe extern "C" fn release(_dev: *mut bindings::device, res: *mut c_void) {
    // SAFETY: By the safety requirements `res` holds the pointer that `open()` stored with
    // `Arc::into_foreign()`, and this is the node's only release.
    let state = unsafe {
        <Arc<BindingState> as ForeignOwnable>::from_foreign(res.cast::<*mut c_void>().read())
    };
    // The bus adapter closed it before devres released anything; closing again is a no-op.
    state.close();
}

/// Takes a reference to the state of the binding in the devres node `res`, under the devres
/// lock (a `devres_find()` match function).
///
/// # Safety
///
/// `res` is the data of a devres node that [`open`] added and that is still on the device's
/// list (the caller holds the devres lock), and `data` points to an `Option<Arc<BindingState>>`.
unsafe extern "C" fn take_ref(
    _dev: *mut bindings::device,
    res: *mut c_void,
    data: *mut c_void,
) -> c_int {
    // SAFETY: By the safety requirements `res` holds `Arc::into_foreign()` of the state; the
    // node is on the list, so `release()` has not run and the state is alive.
    let state: ArcBorrow<'_, BindingState> =
        unsafe { <Arc<BindingState> as ForeignOwnable>::borrow(res.cast::<*mut c_void>().read()) };
    // SAFETY: By the safety requirements `data` is a valid `Option<Arc<BindingState>>`.
    unsafe { *data.cast::<Option<Arc<BindingState>>>() = Some(state.into()) };
    1
}

/// Returns the state of the binding of `dev`, if it has an open or closed one.
fn find(dev: &device::Device) -> Option<Arc<BindingState>> {
    let mut state: Option<Arc<BindingState>> = None;
    // SAFETY: `dev.as_raw()` is a valid device. `devres_find()` calls `take_ref()` with the
    // devres lock held on the nodes whose release function is `release`, which `open()` added,
    // and with `data`, a valid `Option<Arc<BindingState>>`.
    unsafe {
        bindings::devres_find(
            dev.as_raw(),
            Some(release),
            Some(take_ref),
            (&raw mut state).cast(),
        )
    };
    state
}

/// Opens the binding of a function that is being probed, before its driver's `probe` runs.
///
/// Its devres node is added before any of the driver's, so devres releases it after them.
pub(super) fn open(pdev: &Device<device::CoreInternal<'_>>) -> Result {
    let dev: &device::Device = pdev.as_ref();
    let state = Arc::pin_init(
        pin_init!(BindingState {
            inner <- new_mutex!((false, 0)),
            idle <- new_condvar!(),
        }),
        GFP_KERNEL,
    )?;
    // SAFETY: `release` has the `dr_release_t` signature; the node's data is one pointer.
    let res = unsafe {
        bindings::__devres_alloc_node(
            Some(release),
            mem::size_of::<*mut c_void>(),
            GFP_KERNEL.as_raw(),
            bindings::NUMA_NO_NODE,
            c"pci::Binding".as_char_ptr(),
        )
    };
    if res.is_null() {
        return Err(ENOMEM);
    }
    // SAFETY: `res` is a new node's data, one pointer large and aligned for it (devres aligns
    // node data to at least that of `unsigned long long`).
    unsafe { res.cast::<*mut c_void>().write(state.into_foreign()) };
    // SAFETY: `dev.as_raw()` is a valid device and `res` a node's data that is on no list yet;
    // the device owns it from now on and releases it with `release()`.
    unsafe { bindings::devres_add(dev.as_raw(), res) };
    Ok(())
}

/// Closes the binding of a function whose driver's `unbind` returned or whose `probe` failed:
/// waits until no [`BoundRef`] is out and refuses new ones.
pub(super) fn close(pdev: &Device<device::CoreInternal<'_>>) {
    if let Some(state) = find(pdev.as_ref()) {
        state.close();
    }
}

impl Device<device::Bound> {
    /// Returns a handle on the current binding, see [`Binding`].
    ///
    /// Allocates nothing: every handle of a binding shares its state. Fails with [`ENODEV`]
    /// once the binding is closed. May sleep.
    pub fn binding(&self) -> Result<Binding> {
        let state = find(self.as_ref()).ok_or(ENODEV)?;
        if state.inner.lock().0 {
            return Err(ENODEV);
        }
        let pdev: &Device = self;
        Ok(Binding {
            pdev: pdev.into(),
            state,
        })
    }
}

impl Binding {
    /// Returns the function as a bound device, or [`None`] once the binding is closed.
    ///
    /// May sleep.
    pub fn enter(&self) -> Option<BoundRef<'_>> {
        let mut inner = self.state.inner.lock();
        if inner.0 {
            return None;
        }
        inner.1 += 1;
        // INVARIANT: The count now includes the returned `BoundRef`, and the binding was open.
        Some(BoundRef { binding: self })
    }

    /// Returns the function, without a claim on its binding.
    pub fn device(&self) -> &Device {
        &self.pdev
    }
}

/// The function of a [`Binding`] as a bound device; the binding cannot be closed, and so the
/// driver cannot finish unbinding, while it exists.
///
/// # Invariants
///
/// `binding`'s count of [`BoundRef`]s includes this one, and the binding was open when it was
/// counted: closing it (which the bus adapter does before anything of the binding is torn
/// down) waits for it, so the function stays bound to the driver that made the binding, and
/// nothing the driver registered with devres is released, for the object's lifetime.
pub struct BoundRef<'a> {
    binding: &'a Binding,
}

impl Deref for BoundRef<'_> {
    type Target = Device<device::Bound>;

    fn deref(&self) -> &Self::Target {
        let pdev: &Device = &self.binding.pdev;
        // SAFETY: `Device<Bound>` is a transparent wrapper of the same `struct pci_dev` as
        // `Device`, and the function is bound to the binding's driver, its devres resources not
        // released, for the lifetime of `self` (type invariant).
        unsafe { &*ptr::from_ref(pdev).cast::<Device<device::Bound>>() }
    }
}

impl Drop for BoundRef<'_> {
    fn drop(&mut self) {
        let mut inner = self.binding.state.inner.lock();
        inner.1 -= 1;
        if inner.1 == 0 {
            self.binding.state.idle.notify_all();
        }
    }
}
