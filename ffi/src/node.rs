//! [`hearsay_node`]: the opaque handle, and the calls that act on the
//! node's own state: keys, `hearsay_local_addr`, `hearsay_leave`,
//! `hearsay_free`.

use std::ffi::c_char;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::RecvTimeoutError;
use hearsay_std::{Error, Node, NodeEvent, Subscription};

use crate::boundary::{
    Outcome, bytes_arg, copy_out, found, guard_status, non_null, non_null_mut, str_arg,
};
use crate::status::hearsay_status;
use crate::unwind::guard;

/// A running hearsay node. Opaque: create it with `hearsay_start`, release
/// it with `hearsay_free`. Every other function may be called on one node
/// from several threads at once.
pub struct hearsay_node {
    node: Node,
    /// Membership and key events (every key, every node) since the start,
    /// in one ordered channel (subscribed on the builder).
    pub(crate) events: Subscription<NodeEvent>,
    /// `ACTIVE`, `LEAVING` or `LEFT`. `hearsay_leave` sets `LEAVING` before
    /// it returns, so writes made after it fail with `HEARSAY_LEFT` even
    /// while the departure is still on its way to the engine thread; the
    /// helper thread sets `LEFT` when the departure is complete (so a later
    /// `hearsay_leave` returns at once), or `ACTIVE` again if it failed.
    leave: Arc<AtomicU8>,
    /// Threads running `Node::leave` for `hearsay_leave`; joined by
    /// `hearsay_free`, so no thread of the library outlives the node.
    helpers: Mutex<Vec<JoinHandle<()>>>,
}

/// `hearsay_node::leave`: not leaving.
const ACTIVE: u8 = 0;
/// `hearsay_node::leave`: `hearsay_leave` was called.
const LEAVING: u8 = 1;
/// `hearsay_node::leave`: the departure was announced for the whole linger.
const LEFT: u8 = 2;

// `hearsay_free` and the C API's thread-safety promise rest on this.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<hearsay_node>();
};

impl hearsay_node {
    pub(crate) fn new(node: Node, events: Subscription<NodeEvent>) -> Self {
        hearsay_node {
            node,
            events,
            leave: Arc::new(AtomicU8::new(ACTIVE)),
            helpers: Mutex::new(Vec::new()),
        }
    }

    /// The hearsay-std handle.
    pub(crate) fn node(&self) -> &Node {
        &self.node
    }

    /// Fails with `LEFT` once `hearsay_leave` was called.
    fn writable(&self) -> Result<&Node, hearsay_status> {
        if self.leave.load(Ordering::Acquire) != ACTIVE {
            return Err(hearsay_status::HEARSAY_LEFT);
        }
        Ok(&self.node)
    }

    fn helpers(&self) -> MutexGuard<'_, Vec<JoinHandle<()>>> {
        // A list of join handles stays valid even if a holder panicked.
        self.helpers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Sets `key` of this node to the `len` bytes at `value` (any bytes; `value`
/// may be NULL when `len` is 0). Peers learn it by gossip. Setting the value
/// a key already has changes nothing.
///
/// Keys are 1 to 255 bytes of UTF-8. `HEARSAY_INVALID_ARGUMENT` for a bad
/// key, a value longer than `max_value_len` (`hearsay_options`), or a key
/// and value too large together for one datagram (about 1 KiB with the
/// default 1400-byte datagrams); `HEARSAY_CAPACITY_FULL` when the
/// node's storage is full; `HEARSAY_NAMESPACE_FULL` beyond the per-node
/// share (`max_node_entries`, `max_node_bytes`); `HEARSAY_LEFT` after
/// `hearsay_leave`.
///
/// # Safety
///
/// `node` is NULL or a live node from `hearsay_start`; `key` is NULL or a
/// NUL-terminated string; `value` is NULL or points to `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hearsay_set(
    node: *mut hearsay_node,
    key: *const c_char,
    value: *const u8,
    len: usize,
) -> hearsay_status {
    guard_status(|| {
        // SAFETY: forwarded contract.
        let (node, key, value) = unsafe { write_args(node, key, value, len) }?;
        Ok(node.writable()?.set(key, value)?)
    })
}

/// Like `hearsay_set`, but the node deletes the key `ttl_ms` milliseconds
/// from now (the engine wakes for it, to the millisecond). Setting the
/// same value again extends the deadline.
///
/// # Safety
///
/// As for `hearsay_set`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hearsay_set_with_ttl(
    node: *mut hearsay_node,
    key: *const c_char,
    value: *const u8,
    len: usize,
    ttl_ms: u32,
) -> hearsay_status {
    guard_status(|| {
        // SAFETY: forwarded contract.
        let (node, key, value) = unsafe { write_args(node, key, value, len) }?;
        let ttl = Duration::from_millis(u64::from(ttl_ms));
        Ok(node.writable()?.set_with_ttl(key, value, ttl)?)
    })
}

/// The checked arguments of a write.
///
/// # Safety
///
/// As for `hearsay_set`.
unsafe fn write_args<'a>(
    node: *mut hearsay_node,
    key: *const c_char,
    value: *const u8,
    len: usize,
) -> Result<(&'a hearsay_node, &'a str, &'a [u8]), hearsay_status> {
    // SAFETY: forwarded contract.
    let node = unsafe { node_arg(node) }?;
    // SAFETY: forwarded contract.
    let key = unsafe { str_arg(key) }?;
    // SAFETY: forwarded contract.
    let value = unsafe { bytes_arg(value, len) }?;
    Ok((node, key, value))
}

/// Deletes `key` of this node (peers learn it by gossip).
/// `HEARSAY_NOT_FOUND` if the key was not set (nothing changes).
///
/// # Safety
///
/// `node` is NULL or a live node from `hearsay_start`; `key` is NULL or a
/// NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hearsay_delete(
    node: *mut hearsay_node,
    key: *const c_char,
) -> hearsay_status {
    guard_status(|| {
        // SAFETY: forwarded contract.
        let node = unsafe { node_arg(node) }?;
        // SAFETY: forwarded contract.
        let key = unsafe { str_arg(key) }?;
        if node.writable()?.delete(key)? {
            Ok(())
        } else {
            Err(hearsay_status::HEARSAY_NOT_FOUND)
        }
    })
}

/// Copies the value of `key` in the namespace of the node named
/// `member_name` (this node's own name included), as far as this node
/// knows, into `buf` (`cap` bytes), and its length into `*len_out`.
///
/// `HEARSAY_NOT_FOUND` (and `*len_out` = 0) if the member or the key is
/// unknown here; `HEARSAY_BUFFER_TOO_SMALL` if the value is longer than
/// `cap`, with `*len_out` holding its length and `buf` untouched. `buf` may
/// be NULL when `cap` is 0, to ask for the length. Values are bytes, not
/// NUL-terminated.
///
/// # Safety
///
/// `node` is NULL or a live node from `hearsay_start`; `member_name` and
/// `key` are NULL or NUL-terminated strings; `buf` is NULL or points to
/// `cap` writable bytes; `len_out` is NULL or points to a writable
/// `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hearsay_get(
    node: *mut hearsay_node,
    member_name: *const c_char,
    key: *const c_char,
    buf: *mut u8,
    cap: usize,
    len_out: *mut usize,
) -> hearsay_status {
    guard_status(|| {
        // SAFETY: forwarded contract.
        let node = unsafe { node_arg(node) }?;
        // SAFETY: forwarded contract.
        let member = unsafe { str_arg(member_name) }?;
        // SAFETY: forwarded contract.
        let key = unsafe { str_arg(key) }?;
        let len_out = non_null_mut(len_out)?;
        // SAFETY: not NULL, writable by the caller's contract.
        unsafe { len_out.write(0) };
        let value = found(node.node.get_from(member, key)?)?;
        // SAFETY: as above.
        unsafe { len_out.write(value.len()) };
        // SAFETY: forwarded contract (`cap` writable bytes at `buf`).
        unsafe { copy_out(&value, buf, cap) }
    })
}

/// Writes the address the node's socket is bound to (with the port the
/// system chose when `listen_addr` asked for port 0) into `buf`, as
/// NUL-terminated text such as `127.0.0.1:40123`. `HEARSAY_ADDR_SIZE` bytes
/// always suffice; `HEARSAY_BUFFER_TOO_SMALL` if `cap` is too small.
///
/// # Safety
///
/// `node` is NULL or a live node from `hearsay_start`; `buf` is NULL or
/// points to `cap` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hearsay_local_addr(
    node: *mut hearsay_node,
    buf: *mut c_char,
    cap: usize,
) -> hearsay_status {
    guard_status(|| {
        // SAFETY: forwarded contract.
        let node = unsafe { node_arg(node) }?;
        let mut text = node.node.local_addr().to_string().into_bytes();
        text.push(0);
        // SAFETY: forwarded contract; `c_char` and `u8` have the same size
        // and no validity requirement beyond being initialised.
        unsafe { copy_out(&text, buf.cast::<u8>(), cap) }
    })
}

/// Leaves the cluster gracefully: the node announces its departure (peers
/// mark it left at once instead of waiting for their failure detectors to
/// call it dead) and keeps gossiping it for `leave_linger_ms` (see
/// `hearsay_options`). Waits at most `timeout_ms` for that to finish.
///
/// `HEARSAY_OK`: the departure was announced for the whole linger.
/// `HEARSAY_TIMEOUT`: it is still being announced, in the background; call
/// `hearsay_leave` again to wait more, or `hearsay_free` to stop now (peers
/// that have not heard of the departure yet will see the node as dead).
/// Either way, from the moment this is called, writes fail with
/// `HEARSAY_LEFT`; reads and events keep working until `hearsay_free`.
/// Calling it again after it returned OK returns OK at once.
///
/// # Safety
///
/// `node` is NULL or a live node from `hearsay_start`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hearsay_leave(node: *mut hearsay_node, timeout_ms: u32) -> hearsay_status {
    guard_status(|| {
        // SAFETY: forwarded contract.
        let node = unsafe { node_arg(node) }?;
        // Done already: `Node::leave` would answer at once, but through a
        // helper thread that a zero timeout would not wait for.
        if node.leave.load(Ordering::Acquire) == LEFT {
            return Ok(());
        }
        // Before anything can fail, so a write racing with this call is
        // refused no later than its return.
        let _ = node
            .leave
            .compare_exchange(ACTIVE, LEAVING, Ordering::AcqRel, Ordering::Acquire);
        // `Node::leave` blocks for the whole linger and takes no timeout,
        // so it runs on a helper thread that this call waits for.
        let (tx, rx) = crossbeam_channel::bounded::<Result<(), Error>>(1);
        let handle = node.node.clone();
        let state = Arc::clone(&node.leave);
        let spawned = std::thread::Builder::new()
            .name("hs-ffi-leave".into())
            .spawn(move || {
                let result = handle.leave();
                match &result {
                    Ok(()) => state.store(LEFT, Ordering::Release),
                    // Still leaving, or cannot write anyway.
                    Err(Error::Timeout | Error::ShutDown | Error::Left) => {}
                    // The engine refused the departure: it did not happen,
                    // and writes are allowed again.
                    Err(_) => state.store(ACTIVE, Ordering::Release),
                }
                // The caller may have stopped waiting; nothing to tell then.
                let _ = tx.send(result);
            });
        let helper = match spawned {
            Ok(h) => h,
            Err(_) => {
                let _ = node.leave.compare_exchange(
                    LEAVING,
                    ACTIVE,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
                return Err(hearsay_status::HEARSAY_INTERNAL_ERROR);
            }
        };
        {
            let mut helpers = node.helpers();
            // Finished helpers are joined now (immediate) so the list stays
            // short however often this is called.
            let (done, running): (Vec<_>, Vec<_>) =
                helpers.drain(..).partition(|h| h.is_finished());
            *helpers = running;
            helpers.push(helper);
            drop(helpers);
            for h in done {
                let _ = h.join();
            }
        }
        match rx.recv_timeout(Duration::from_millis(u64::from(timeout_ms))) {
            Ok(result) => Ok(result?),
            Err(RecvTimeoutError::Timeout) => Err(hearsay_status::HEARSAY_TIMEOUT),
            // The helper ended without sending: it panicked.
            Err(RecvTimeoutError::Disconnected) => Err(hearsay_status::HEARSAY_INTERNAL_ERROR),
        }
    })
}

/// Stops the node at once (without announcing anything: call
/// `hearsay_leave` first to depart gracefully), waits for its threads to
/// end (about 100 ms), and releases it. `node` must not be used afterwards.
/// NULL is ignored.
///
/// No other call on this node may be running or start while this runs: the
/// caller must make sure of that (join or stop the threads that use it
/// first). This is the only call with that restriction.
///
/// # Safety
///
/// `node` is NULL or a node from `hearsay_start` not yet freed, with no
/// other call on it in flight.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hearsay_free(node: *mut hearsay_node) {
    if node.is_null() {
        return;
    }
    // SAFETY: not NULL; by the caller's contract it came from
    // `Box::into_raw` in `hearsay_start`, is not freed yet, and nothing else
    // uses it now, so taking the box back is sound.
    let node = unsafe { Box::from_raw(node) };
    guard((), || {
        // Errors (a thread that panicked) leave nothing to do but release.
        let _ = node.node.shutdown();
        // Leave helpers return promptly once the node is shut down.
        let helpers = std::mem::take(&mut *node.helpers());
        for h in helpers {
            let _ = h.join();
        }
    });
    // Released even if the above panicked. Shutting down again is a no-op
    // for a stopped node, and otherwise stops it: a helper thread may hold
    // a clone of the `Node`, so dropping ours alone might not.
    guard((), move || {
        let _ = node.node.shutdown();
        drop(node);
    });
}

/// The node behind a handle.
///
/// # Safety
///
/// `p` is NULL or a pointer returned by `hearsay_start` and not yet passed
/// to `hearsay_free` (nor freed while the returned reference is used).
pub(crate) unsafe fn node_arg<'a>(p: *const hearsay_node) -> Outcome<&'a hearsay_node> {
    let p = non_null(p)?;
    // SAFETY: not NULL; by the caller's contract it points to the live
    // node `hearsay_start` boxed, and `hearsay_node` is `Sync`, so a shared
    // reference is fine however many threads hold one.
    Ok(unsafe { &*p })
}
