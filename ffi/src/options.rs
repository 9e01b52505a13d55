//! [`hearsay_options`] and `hearsay_start`.
//!
//! The options are a plain struct of pointers and numbers in which NULL and
//! 0 mean "the default", so `hearsay_options_init` only has to zero it and
//! a C caller sets the fields it cares about. There is no size or version
//! field: the struct is passed by pointer from code compiled against the
//! same header as the library it links (the static library, or a shared
//! library of the same version). A struct that could grow without
//! recompiling callers would need the caller to pass its `sizeof`, which is
//! not worth it before the API has settled.

use std::ffi::c_char;
use std::net::SocketAddr;
use std::time::Duration;

use hearsay_std::builder::scaled_detector;
use hearsay_std::{Builder, Node};

use crate::boundary::{Outcome, guard_status, non_null, non_null_mut, opt_str_arg, str_arg};
use crate::keys::{keys_arg, mode_arg};
use crate::node::hearsay_node;
use crate::status::hearsay_status;
use crate::unwind::guard;

/// Settings of a node, for `hearsay_start`. Initialise with
/// `hearsay_options_init`, then set the fields wanted; NULL and 0 mean the
/// default. The strings are read during `hearsay_start` only.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct hearsay_options {
    /// The node's name, unique in the cluster: 1 to 64 bytes of UTF-8.
    /// Required.
    pub name: *const c_char,
    /// Where to bind the UDP socket, `"ip:port"` (IPv6: `"[::1]:7946"`);
    /// port 0 lets the system choose (see `hearsay_local_addr`).
    /// NULL: `"127.0.0.1:0"`, for local experiments and tests.
    pub listen_addr: *const c_char,
    /// The address peers send gossip to, `"ip:port"`, when it is not the
    /// bound one (NAT, containers). NULL: the bound address. Required when
    /// listening on a wildcard address (`0.0.0.0`, `[::]`).
    pub advertise_addr: *const c_char,
    /// `seed_count` seeds, each `"host:port"` (a DNS name, re-resolved
    /// periodically, or an IP address): nodes to contact while no peer is
    /// live. NULL when `seed_count` is 0. The first node of a cluster has
    /// none.
    pub seeds: *const *const c_char,
    /// The number of strings at `seeds`.
    pub seed_count: usize,
    /// The cluster's name: nodes only talk to nodes with the same one.
    /// NULL: `"hearsay"`.
    pub cluster_id: *const c_char,
    /// How often the node gossips and advances its heartbeat, in
    /// milliseconds. 0: 1000. The failure detector is scaled to it, so that
    /// a node that stops is considered dead after a few intervals. At most
    /// 3600000 (an hour); more is `HEARSAY_INVALID_ARGUMENT`.
    pub gossip_interval_ms: u32,
    /// How long `hearsay_leave` keeps announcing the departure, in
    /// milliseconds. 0: 3000. At most 3600000 (an hour); more is
    /// `HEARSAY_INVALID_ARGUMENT`.
    pub leave_linger_ms: u32,
    /// Most entries one node's namespace may hold, tombstones included:
    /// its share of every node's store. Writes beyond it fail with
    /// `HEARSAY_NAMESPACE_FULL`; peers refuse the state of a node beyond
    /// it. Use the same value on every node. 0: 256.
    pub max_node_entries: u32,
    /// Most key and value bytes one node's namespace may hold, like
    /// `max_node_entries`. Use the same value on every node. 0: 81920
    /// (one value of the default `max_value_len` and 16 KiB of other keys).
    pub max_node_bytes: u32,
    /// Longest value a key may hold, in bytes; longer writes fail with
    /// `HEARSAY_INVALID_ARGUMENT`. A value longer than a datagram travels
    /// in chunks and appears at peers only whole. Use the same value on
    /// every node: a peer with a smaller limit refuses the longer values
    /// (counted, and logged there as a misconfiguration). Bounded by
    /// `max_state_bytes`; a value must also fit `max_node_bytes`.
    /// 0: 65536.
    pub max_value_len: u32,
    /// Entries of the store other nodes' state may never take, so that this
    /// node's own writes within the reserve always have room. 0: 8.
    pub local_reserve_entries: u32,
    /// Key and value bytes kept for this node's own writes, like
    /// `local_reserve_entries`. 0: 512.
    pub local_reserve_bytes: u32,
    /// How long a node heard of but never seen alive (its heartbeat never
    /// seen to move) is kept before it is dropped, in milliseconds. 0: ten
    /// gossip intervals, and at least 10000. From two gossip intervals to a
    /// year; outside that is `HEARSAY_INVALID_ARGUMENT`.
    pub pending_timeout_ms: u32,
    /// Most nodes the node holds, itself included; nodes beyond it are not
    /// learned. 0: 1024, for clusters of up to about a thousand nodes. At
    /// most 65535; more is `HEARSAY_INVALID_ARGUMENT`. Memory for every
    /// table is allocated once by `hearsay_start` and never again: about
    /// `max_nodes * (400 + detector_window) + max_entries * 52 +
    /// max_state_bytes` bytes, 2.5 MiB with the defaults;
    /// `HEARSAY_OUT_OF_MEMORY` when the system refuses it.
    pub max_nodes: u32,
    /// Most entries (keys, tombstones included) over all nodes. 0: 16384.
    /// Below 4294967295; a capacity too small for the local reserve is
    /// `HEARSAY_INVALID_ARGUMENT`.
    pub max_entries: u32,
    /// Bytes of keys and values over all nodes, with an 8-byte header per
    /// entry. 0: 1048576 (1 MiB). Below 4294967295; too small for the local
    /// reserve is `HEARSAY_INVALID_ARGUMENT`.
    pub max_state_bytes: u32,
    /// Heartbeat intervals the failure detector remembers per node, one
    /// byte each. 0: 256. At most 65535; more is
    /// `HEARSAY_INVALID_ARGUMENT`.
    pub detector_window: u32,
    /// `key_count` cluster keys of `HEARSAY_CLUSTER_KEY_LEN` (32) bytes
    /// each, one after the other: every datagram is then sealed
    /// (ChaCha20-Poly1305) with the first, and datagrams sealed with any of
    /// them are accepted (the others: a rotation in progress). Every node of the cluster
    /// needs the key. NULL when `key_count` is 0 (no keys: datagrams are
    /// sent in clear and sealed ones refused). Read during `hearsay_start`
    /// only; the library's own copies are wiped, the caller's are the
    /// caller's to wipe.
    pub keys: *const u8,
    /// The number of keys at `keys`: at most `HEARSAY_MAX_CLUSTER_KEYS` (4);
    /// more is `HEARSAY_INVALID_ARGUMENT`.
    pub key_count: usize,
    /// What the node sends and accepts while it has keys: a
    /// `HEARSAY_KEY_MODE_*` value. 0 is `HEARSAY_KEY_MODE_REQUIRED`; a
    /// value that is none of them is `HEARSAY_INVALID_ARGUMENT`.
    pub key_mode: u32,
}

/// Fills `*options` with the defaults: every pointer NULL, every number 0.
/// NULL is ignored.
///
/// # Safety
///
/// `options` is NULL or points to a writable `hearsay_options`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hearsay_options_init(options: *mut hearsay_options) {
    guard((), || {
        if options.is_null() {
            return;
        }
        let defaults = hearsay_options {
            name: std::ptr::null(),
            listen_addr: std::ptr::null(),
            advertise_addr: std::ptr::null(),
            seeds: std::ptr::null(),
            seed_count: 0,
            cluster_id: std::ptr::null(),
            gossip_interval_ms: 0,
            leave_linger_ms: 0,
            max_node_entries: 0,
            max_node_bytes: 0,
            max_value_len: 0,
            local_reserve_entries: 0,
            local_reserve_bytes: 0,
            pending_timeout_ms: 0,
            max_nodes: 0,
            max_entries: 0,
            max_state_bytes: 0,
            detector_window: 0,
            keys: std::ptr::null(),
            key_count: 0,
            key_mode: 0,
        };
        // SAFETY: not NULL, writable by the caller's contract; `write` does
        // not read the old contents.
        unsafe { options.write(defaults) };
    })
}

/// Starts a node: checks the options, binds the socket, starts the node's
/// threads (it gossips with its seeds at once) and stores the new node in
/// `*out` (NULL on failure). Release it with `hearsay_free`.
///
/// `HEARSAY_INVALID_ARGUMENT` for a bad option (see `hearsay_status`),
/// `HEARSAY_BIND_FAILED` when the socket cannot be bound,
/// `HEARSAY_OUT_OF_MEMORY` when the tables for the capacity asked for
/// cannot be allocated.
///
/// Events are recorded from this moment on (see `hearsay_next_event`).
///
/// # Safety
///
/// `options` is NULL or points to a `hearsay_options` whose non-NULL
/// strings are NUL-terminated, whose `seeds`, if not NULL, points to
/// `seed_count` such strings and whose `keys`, if not NULL, points to
/// `key_count * HEARSAY_CLUSTER_KEY_LEN` readable bytes; `out` is NULL or
/// points to a writable `hearsay_node *`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hearsay_start(
    options: *const hearsay_options,
    out: *mut *mut hearsay_node,
) -> hearsay_status {
    guard_status(|| {
        let out = non_null_mut(out)?;
        // SAFETY: not NULL, writable by the caller's contract. Cleared first
        // so a failure leaves NULL, not whatever was there.
        unsafe { out.write(std::ptr::null_mut()) };
        let options = non_null(options)?;
        // SAFETY: not NULL, points to a `hearsay_options` by the caller's
        // contract; every field is a pointer or an integer, valid for any
        // bits, so reading it as a value is sound.
        let options = unsafe { options.read() };
        // SAFETY: forwarded contract (the options' strings).
        let node = unsafe { start(&options) }?;
        // SAFETY: as above.
        unsafe { out.write(Box::into_raw(Box::new(node))) };
        Ok(())
    })
}

/// Builds and starts the node `o` describes.
///
/// # Safety
///
/// As for `hearsay_start`'s options.
unsafe fn start(o: &hearsay_options) -> Outcome<hearsay_node> {
    // SAFETY: forwarded contract.
    let name = unsafe { str_arg(o.name) }?;
    // SAFETY: forwarded contract.
    let listen = unsafe { opt_str_arg(o.listen_addr) }?;
    // SAFETY: forwarded contract.
    let advertise = unsafe { opt_str_arg(o.advertise_addr) }?;
    // SAFETY: forwarded contract.
    let cluster = unsafe { opt_str_arg(o.cluster_id) }?;

    let mut b = Node::builder(name);
    if let Some(a) = listen {
        b = b.listen(parse_addr(a)?);
    }
    if let Some(a) = advertise {
        b = b.advertise(parse_addr(a)?);
    }
    if let Some(c) = cluster {
        b = b.cluster(c);
    }
    if o.seed_count > 0 {
        let seeds = non_null(o.seeds)?;
        for i in 0..o.seed_count {
            // SAFETY: `seeds` points to `seed_count` pointers by the
            // caller's contract, and `i < seed_count`.
            let seed = unsafe { seeds.add(i).read() };
            // SAFETY: forwarded contract.
            b = b.seed(unsafe { str_arg(seed) }?);
        }
    }
    if o.gossip_interval_ms > 0 {
        let interval = Duration::from_millis(u64::from(o.gossip_interval_ms));
        b = b
            .gossip_interval(interval)
            .detector(scaled_detector(interval));
    }
    if o.leave_linger_ms > 0 {
        b = b.leave_linger(Duration::from_millis(u64::from(o.leave_linger_ms)));
    }
    if o.pending_timeout_ms > 0 {
        b = b.pending_timeout(Duration::from_millis(u64::from(o.pending_timeout_ms)));
    }
    b = capacity_options(b, o);
    // SAFETY: forwarded contract (`key_count` keys at `keys`).
    let keys = unsafe { keys_arg(o.keys, o.key_count) }?;
    // Each array handed over is wiped by `ClusterKey::new`; `keys` is
    // wiped when dropped.
    b = b
        .keys(keys.iter().map(|k| **k))
        .key_mode(mode_arg(o.key_mode)?);
    // On the builder, so that nothing between the start and the first
    // `hearsay_next_event` is missed.
    let events = b.subscribe();
    let node = b.start()?;
    Ok(hearsay_node::new(node, events))
}

/// The per-node share, the local reserve and the engine's capacity, where
/// not 0 (the default); the builder range-checks them at start.
fn capacity_options(mut b: Builder, o: &hearsay_options) -> Builder {
    let set = |v: u32| usize::try_from(v).ok().filter(|v| *v > 0);
    if let Some(v) = set(o.max_node_entries) {
        b = b.max_node_entries(v);
    }
    if let Some(v) = set(o.max_node_bytes) {
        b = b.max_node_bytes(v);
    }
    if let Some(v) = set(o.max_value_len) {
        b = b.max_value_len(v);
    }
    if let Some(v) = set(o.local_reserve_entries) {
        b = b.local_reserve_entries(v);
    }
    if let Some(v) = set(o.local_reserve_bytes) {
        b = b.local_reserve_bytes(v);
    }
    if let Some(v) = set(o.max_nodes) {
        b = b.max_nodes(v);
    }
    if let Some(v) = set(o.max_entries) {
        b = b.max_entries(v);
    }
    if let Some(v) = set(o.max_state_bytes) {
        b = b.max_state_bytes(v);
    }
    if let Some(v) = set(o.detector_window) {
        b = b.detector_window(v);
    }
    b
}

fn parse_addr(text: &str) -> Outcome<SocketAddr> {
    text.parse()
        .map_err(|_| hearsay_status::HEARSAY_INVALID_ARGUMENT)
}
