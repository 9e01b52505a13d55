//! The engine façade: the [`Engine`] value, its one constructor, and the
//! types every part of it shares.
//!
//! [`Engine`] holds the state; what it does lives in one module per
//! concept, each adding methods to it: local writes (`local`), membership
//! and identity (`membership`), liveness (`liveness`), peer selection
//! (`peers`), the replica and its apply rules (`replica`), the exchange
//! ([`crate::exchange`]), the datagram entry point (`receive`), the
//! schedule ([`crate::deadline`]) and the read API ([`crate::read`]). Those
//! modules depend on this one and never the other way, so the crate's
//! modules form no import cycle. The engine is driven from outside: the
//! caller passes time, received datagrams and a [`Transmit`] sink, and gets
//! events through an [`Observer`](crate::Observer).

use core::fmt;
use core::net::SocketAddr;

use crate::arena::arena_cost;
use crate::capacity::{Buffers, Capacity};
use crate::config::{Config, ConfigError};
use crate::counters::Counters;
use crate::fixed::FixedVec;
use crate::id::NodeId;
use crate::memory::Memory;
use crate::nodes::{NodeSlot, NodeStatus, NodeTable};
use crate::plan::{Ask, PlanItem};
use crate::refute::Refutation;
use crate::store::Store;
use crate::time::Instant;

/// Most seed addresses an engine keeps.
pub const MAX_SEEDS: usize = 32;

/// Keys starting with this byte are reserved for hearsay's own state.
pub const RESERVED_KEY_PREFIX: char = '\u{0}';
/// The reserved key through which a node announces that it is leaving.
pub(crate) const STATUS_KEY: &str = "\u{0}status";
/// [`STATUS_KEY`]'s value while leaving.
pub(crate) const LEAVING: &[u8] = b"leaving";
/// Key and value bytes of the leave entry.
pub(crate) const LEAVE_LEN: usize = STATUS_KEY.len() + LEAVING.len();

/// The local node is always slot 0.
pub(crate) const LOCAL: u16 = 0;

/// Where the engine puts datagrams it wants sent.
///
/// The engine encodes each datagram into [`Transmit::buffer`] and then calls
/// [`Transmit::send`] with its length; nothing is queued inside the engine.
pub trait Transmit {
    /// Scratch space for one datagram; must hold at least the configured mtu
    /// (a shorter buffer limits datagrams to its length).
    fn buffer(&mut self) -> &mut [u8];
    /// Sends the first `len` bytes of [`Transmit::buffer`] to `to`.
    fn send(&mut self, to: SocketAddr, len: usize);
}

/// Why a local write failed. The state is unchanged when one is returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteError {
    /// Keys must not be empty.
    EmptyKey,
    /// Keys are at most [`MAX_KEY_LEN`](crate::wire::MAX_KEY_LEN) bytes.
    KeyTooLong,
    /// Keys starting with [`RESERVED_KEY_PREFIX`] belong to hearsay.
    ReservedKey,
    /// The node has left the cluster ([`Engine::leave`]).
    Left,
    /// Key and value together would not fit in one datagram at the configured
    /// mtu, so the entry could never be sent: only on a node held at a
    /// protocol version before 6 ([`Config::protocol_version`]); from 6 on,
    /// longer values travel in chunks (up to [`Engine::max_value_len`]).
    EntryTooLarge,
    /// No free entry slot or not enough arena bytes.
    CapacityFull,
    /// The write would take this node's namespace beyond its share
    /// ([`Config::max_node_entries`], [`Config::max_node_bytes`], keeping
    /// room for the entry [`Engine::leave`] writes).
    NamespaceFull,
    /// The node's version counter reached [`crate::wire::MAX_VERSION`].
    VersionsExhausted,
    /// Keys must not contain NUL: C strings end there, so through the C API
    /// two different keys would look alike.
    KeyContainsNul,
    /// The value is longer than the engine's limit
    /// ([`Engine::max_value_len`]: [`Config::max_value_len`] bounded by the
    /// state capacity).
    ValueTooLong,
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WriteError::EmptyKey => "key is empty",
            WriteError::KeyTooLong => "key is longer than 255 bytes",
            WriteError::ReservedKey => "keys starting with NUL are reserved",
            WriteError::Left => "the node has left the cluster",
            WriteError::EntryTooLarge => "key and value do not fit in one datagram",
            WriteError::CapacityFull => "entry table or arena is full",
            WriteError::NamespaceFull => "the node's namespace would exceed its per-node share",
            WriteError::VersionsExhausted => "version counter exhausted",
            WriteError::KeyContainsNul => "key contains a NUL character",
            WriteError::ValueTooLong => "value is longer than max_value_len",
        })
    }
}

/// Why an exchange could not be started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The [`Transmit`] buffer cannot hold even one digest entry.
    BufferTooSmall,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SendError::BufferTooSmall => "transmit buffer too small for a datagram",
        })
    }
}

/// A hearsay node's complete state: the sans-IO Scuttlebutt engine.
///
/// The engine works in tables whose sizes are fixed when it is built
/// ([`Capacity`]: nodes, entries, state bytes, detector window) and that
/// live in memory of kind `M` ([`crate::memory`]): the heap
/// (`Heap`, feature `alloc`, sized at run time) or
/// static storage lent by the caller ([`crate::capacity::Storage`], for
/// targets without an allocator). [`Engine::new`] is the one constructor
/// and returns a working engine; nothing is allocated after it.
///
/// Memory is [`Capacity::memory_bytes`] for the tables (2.5 MiB at
/// [`Capacity::DEFAULT`], about 22 KiB at 16 nodes, 128 entries, 8 KiB and
/// a 64-interval window) plus about 3.4 KiB for the engine value itself
/// (of which 16 values in flight, module `chunk`, take 768 bytes).
pub struct Engine<M: Memory> {
    pub(crate) config: Config,
    /// This node's id (slot [`LOCAL`] holds the same; kept here too so the
    /// id is always at hand without a lookup that could miss).
    pub(crate) id: NodeId,
    pub(crate) capacity: Capacity,
    pub(crate) nodes: NodeTable<M>,
    pub(crate) store: Store<M>,
    pub(crate) counters: Counters,
    /// Scratch for building replies: which nodes to send, from which version.
    pub(crate) plan: FixedVec<M, PlanItem>,
    /// Scratch for building replies: which nodes to ask the peer for.
    pub(crate) asks: FixedVec<M, Ask>,
    /// Scratch: heartbeats read in a digest, recorded once it proved valid.
    pub(crate) beats: FixedVec<M, (u16, u64)>,
    /// Moves the starting point of reply planning round the ring so no node
    /// is always last in line for the budget.
    pub(crate) rotation: u32,
    /// Earliest owner-local deadline (TTL or tombstone), to skip idle ticks.
    pub(crate) next_deadline: u64,
    /// Addresses to gossip with when no peer is live (and now and then).
    pub(crate) seeds: heapless::Vec<SocketAddr, MAX_SEEDS>,
    /// Scratch for choosing peers at random.
    pub(crate) candidates: FixedVec<M, u16>,
    /// Scratch: where each piece of the Syn being built ends on the ring.
    pub(crate) piece_ends: FixedVec<M, u16>,
    /// Scratch: the blocks of a Syn piece that differ here (notices).
    pub(crate) notices: FixedVec<M, u16>,
    /// Scratch: by how much our heartbeats lead a compact Syn's, by
    /// position in their block, block after block.
    pub(crate) deltas: FixedVec<M, (u16, u32)>,
    /// Scratch: the beat runs those deltas make.
    pub(crate) runs: FixedVec<M, crate::plan::BeatRunPlan>,
    /// The stamp of our compact Syns ([`crate::compact`]), the node
    /// table's epoch and the block bits when it was taken.
    pub(crate) syn_stamp: u32,
    pub(crate) syn_epoch: u32,
    pub(crate) syn_bits: u8,
    /// The node table's epoch when a Syn last looked, and since when it
    /// has not changed: blocks go compact only in a table that has been
    /// still for a while, which a peer's likely matches.
    pub(crate) still_epoch: u32,
    pub(crate) still_since: Instant,
    /// Nodes whose fresh changes wait to be pushed ([`crate::push`]), the
    /// push datagrams this round still allows, and the engine's own
    /// xorshift state for choosing whom to push to.
    pub(crate) pushes_pending: u32,
    pub(crate) pushes_left: u16,
    pub(crate) push_rng: u64,
    /// When [`Engine::leave`] was called.
    pub(crate) left_at: Option<Instant>,
    /// The latest time the caller gave us.
    pub(crate) now: Instant,
    /// [`crate::phi::threshold_y`] of the configured threshold.
    pub(crate) threshold_y: f64,
    /// Earliest time a liveness sweep can find something to do.
    pub(crate) next_sweep: Instant,
    /// When the next gossip round is due ([`crate::deadline`]).
    pub(crate) next_round: Instant,
    /// Which part of a spread round comes next ([`crate::deadline`]).
    pub(crate) round_part: u8,
    /// When this node last took a new generation, and why.
    pub(crate) refute: Refutation,
    /// Scratch: a digest line showed our own id ahead of us.
    pub(crate) heard_ahead: bool,
    /// Notices local stalls from the times calls bring ([`crate::stall`]).
    pub(crate) stall: crate::stall::StallWatch,
    /// Cluster keys and the nonce state for sealing ([`crate::seal`]).
    pub(crate) keyring: crate::seal::Keyring,
    /// The key of our address tokens ([`crate::token`]), drawn at the
    /// first round; until then no token validates.
    pub(crate) token_secret: Option<[u64; 2]>,
    /// Syns sent to peers heard only in an older protocol version than
    /// ours; every few also go in ours ([`crate::token`]).
    pub(crate) version_probes: u32,
    /// Values in flight (module `chunk`): a fixed pool, and how many of it
    /// are in use.
    pub(crate) transfers: [crate::chunk::Transfer; crate::chunk::MAX_TRANSFERS],
    pub(crate) transfers_active: u16,
}

impl<M: Memory> Engine<M> {
    /// A working engine for node `id` with `config`, in `buffers` (made by
    /// [`Buffers::allocate`](crate::capacity::Buffers::allocate) or lent by
    /// [`Storage::buffers`](crate::capacity::Storage::buffers)). Whatever the
    /// buffers held before is forgotten.
    ///
    /// The first gossip round is due at once ([`Engine::poll_timeout`]).
    /// Errors when `config` is invalid ([`Config::validate`]), the capacity
    /// is unusable ([`Capacity::validate`]) or too small for the
    /// configured local reserve ([`ConfigError::ReserveTooLarge`]).
    ///
    /// `rng` draws where this engine's nonces start, so that datagrams it
    /// seals never repeat a nonce another engine used ([`crate::seal`]):
    /// give it a source that differs between runs and nodes. The engine
    /// starts without keys ([`Engine::install_key`]).
    pub fn new(
        buffers: Buffers<M>,
        id: NodeId,
        config: Config,
        rng: &mut impl rand_core::RngCore,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        let capacity = buffers.capacity;
        capacity.validate()?;
        if !reserve_fits(&config, capacity) {
            return Err(ConfigError::ReserveTooLarge);
        }
        let mut nodes = NodeTable::new(
            buffers.node_slots,
            buffers.detectors,
            buffers.windows,
            capacity.window,
            buffers.ring,
            buffers.removed,
        );
        if nodes.insert_at(LOCAL, id.clone(), Instant::ZERO).is_none() {
            return Err(ConfigError::CapacityUnusable);
        }
        if let Some(local) = nodes.get_mut(LOCAL) {
            local.status = NodeStatus::Alive;
        }
        Ok(Engine {
            threshold_y: crate::phi::threshold_y(config.detector.threshold),
            config,
            id,
            capacity,
            nodes,
            store: Store::new(buffers.entry_slots, buffers.buckets, buffers.arena),
            counters: Counters::ZERO,
            plan: FixedVec::new(buffers.plan),
            asks: FixedVec::new(buffers.asks),
            beats: FixedVec::new(buffers.beats),
            rotation: 0,
            next_deadline: u64::MAX,
            seeds: heapless::Vec::new(),
            candidates: FixedVec::new(buffers.candidates),
            piece_ends: FixedVec::new(buffers.piece_ends),
            notices: FixedVec::new(buffers.notices),
            deltas: FixedVec::new(buffers.deltas),
            runs: FixedVec::new(buffers.runs),
            syn_stamp: 0,
            syn_epoch: 0,
            syn_bits: 0,
            still_epoch: 0,
            still_since: Instant(0),
            pushes_pending: 0,
            pushes_left: crate::push::PUSH_DATAGRAMS_PER_ROUND,
            left_at: None,
            now: Instant::ZERO,
            next_sweep: Instant(0),
            next_round: Instant::ZERO,
            round_part: 0,
            refute: Refutation::NEW,
            heard_ahead: false,
            stall: crate::stall::StallWatch::NEW,
            keyring: crate::seal::Keyring::new(rng),
            // After the keyring's draws, which stay as they were.
            push_rng: rng.next_u64() | 1,
            token_secret: None,
            version_probes: 0,
            transfers: [crate::chunk::Transfer::NONE; crate::chunk::MAX_TRANSFERS],
            transfers_active: 0,
        })
    }

    /// Ends the engine and gives its memory back, so that the same buffers
    /// can hold the next engine (a restart, say).
    pub fn into_buffers(self) -> Buffers<M> {
        let (node_slots, detectors, windows, ring, removed) = self.nodes.into_bufs();
        let (entry_slots, buckets, arena) = self.store.into_bufs();
        Buffers {
            capacity: self.capacity,
            node_slots,
            detectors,
            windows,
            ring,
            removed,
            entry_slots,
            buckets,
            arena,
            plan: self.plan.into_buf(),
            asks: self.asks.into_buf(),
            beats: self.beats.into_buf(),
            candidates: self.candidates.into_buf(),
            piece_ends: self.piece_ends.into_buf(),
            notices: self.notices.into_buf(),
            deltas: self.deltas.into_buf(),
            runs: self.runs.into_buf(),
        }
    }

    /// How much this engine can hold, fixed when it was built.
    pub fn capacity(&self) -> Capacity {
        self.capacity
    }

    /// The longest value this engine writes or accepts:
    /// [`Config::max_value_len`] bounded by the capacity's state bytes (no
    /// longer value could ever be stored here). Local writes beyond it fail
    /// with [`WriteError::ValueTooLong`]; received pieces carrying one are
    /// refused, counted in [`crate::Counters::oversized_values`].
    pub fn max_value_len(&self) -> usize {
        self.config.max_value_len.min(self.capacity.state_bytes)
    }

    /// Sets the seed addresses: where to gossip when no peer is live. Our
    /// own address is skipped; at most [`MAX_SEEDS`] are kept. Returns how
    /// many were kept. Runtimes call it again when seed names re-resolve.
    ///
    /// When the list changes while no peer is live (typically at start,
    /// when seed names took a moment to resolve), a gossip round becomes
    /// due at once ([`Engine::poll_timeout`]) rather than up to an interval
    /// later, so the node contacts a seed without delay.
    pub fn set_seeds(&mut self, seeds: &[SocketAddr]) -> usize {
        let own = self.id().addr;
        let before = core::mem::take(&mut self.seeds);
        for s in seeds {
            if *s != own && !self.seeds.contains(s) && self.seeds.push(*s).is_err() {
                break;
            }
        }
        let alone = self.live_nodes().next().is_none();
        if alone && !self.seeds.is_empty() && self.seeds != before {
            // A whole round (seeds are contacted by its first part), now.
            self.next_round = self.next_round.min(self.now);
            self.round_part = 0;
        }
        self.seeds.len()
    }

    /// The seed addresses in use.
    pub fn seeds(&self) -> &[SocketAddr] {
        &self.seeds
    }

    /// The settings given to [`Engine::new`].
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Counters since [`Engine::new`].
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// This node's id.
    pub fn id(&self) -> &NodeId {
        &self.id
    }

    pub(crate) fn local(&self) -> Option<&NodeSlot> {
        self.nodes.get(LOCAL)
    }

    // -----------------------------------------------------------------------
    // Local writes.

    // -----------------------------------------------------------------------
    // Maintenance.

    // -----------------------------------------------------------------------
    // Receiving.

    // -----------------------------------------------------------------------
    // Reading.
}

/// Whether a key belongs to hearsay rather than to the user.
pub(crate) fn is_reserved(key: &str) -> bool {
    key.starts_with(RESERVED_KEY_PREFIX)
}

#[cfg(test)]
mod tests;

/// Whether an engine of `capacity` can hold `config`'s local reserve and
/// the leave entry, so that the reserve is a promise it can keep.
pub(crate) fn reserve_fits(config: &Config, capacity: Capacity) -> bool {
    let entries = config.local_reserve_entries.saturating_add(1);
    let bytes = arena_cost(config.local_reserve_entries, config.local_reserve_bytes)
        .saturating_add(arena_cost(1, LEAVE_LEN));
    entries <= capacity.entries && bytes <= capacity.state_bytes
}
