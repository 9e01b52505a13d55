//! The engine: the local API, and how received state is applied.
//!
//! [`Engine`] owns every table (nodes, entries, arena) inline, sized by const
//! generics, so one value is the whole memory of a node. It is driven from
//! outside: the caller passes time, received datagrams and a [`Transmit`]
//! sink, and gets events through an [`Observer`]. How replies are built lives
//! in [`crate::exchange`]; this module holds local writes, maintenance
//! (heartbeat, TTL expiry, tombstone collection) and the rules that decide
//! whether a received piece of state may be applied.

use core::fmt;
use core::net::SocketAddr;

use crate::config::{Config, ConfigError};
use crate::counters::{Counters, bump};
use crate::event::{Event, Observer};
use crate::plan::{Ask, PlanItem};
use crate::fixed::FixedVec;
use crate::id::NodeId;
use crate::capacity::{Buffers, Capacity};
use crate::memory::Memory;
use crate::nodes::{NodeSlot, NodeStatus, NodeTable};
use crate::refute::Refutation;
use crate::store::{EntryStatus, NIL, Store};
use crate::time::{Instant, duration_millis};
use crate::wire::{
    self, DecodeError, HEADER_LEN, MAX_KEY_LEN, MessageKind, PIECE_HEAD_MAX, Piece, UpdateMsg,
    WireNodeId, WireNodeRef,
};

/// Most seed addresses an engine keeps.
pub const MAX_SEEDS: usize = 32;

/// Keys starting with this byte are reserved for hearsay's own state.
pub const RESERVED_KEY_PREFIX: char = '\u{0}';
/// The reserved key through which a node announces that it is leaving.
pub(crate) const STATUS_KEY: &str = "\u{0}status";
/// [`STATUS_KEY`]'s value while leaving.
pub(crate) const LEAVING: &[u8] = b"leaving";

/// Exchanges a live peer may leave unanswered in a row before it stops
/// taking fanout slots (it is still probed now and then). At 10% loss an
/// exchange goes unanswered 19% of the time: 3 in a row set aside 0.1% of
/// healthy peers in the simulator (2: 1.3%).
const UNANSWERED_LIMIT: u8 = 3;

/// The local node is always slot 0.
pub(crate) const LOCAL: u16 = 0;

/// Largest encoded node id: name (1 + 64) + generation (10) + IPv6 addr (1 + 16 + 3).
const MAX_NODE_ID_LEN: usize = 1 + crate::id::MAX_NAME_LEN + 10 + 1 + 16 + 3;

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
    /// Keys are at most [`MAX_KEY_LEN`] bytes.
    KeyTooLong,
    /// Keys starting with [`RESERVED_KEY_PREFIX`] belong to hearsay.
    ReservedKey,
    /// The node has left the cluster ([`Engine::leave`]).
    Left,
    /// Key and value together would not fit in one datagram at the configured
    /// mtu, so the entry could never be sent.
    EntryTooLarge,
    /// No free entry slot or not enough arena bytes.
    CapacityFull,
    /// The write would take this node's namespace beyond its share
    /// ([`Config::max_node_entries`], [`Config::max_node_bytes`], keeping
    /// room for the entry [`Engine::leave`] writes).
    NamespaceFull,
    /// The node's version counter reached [`wire::MAX_VERSION`].
    VersionsExhausted,
    /// Keys must not contain NUL: C strings end there, so through the C API
    /// two different keys would look alike.
    KeyContainsNul,
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
/// ([`crate::memory::Heap`], feature `alloc`, sized at run time) or
/// static storage lent by the caller ([`crate::capacity::Storage`], for
/// targets without an allocator). [`Engine::new`] is the one constructor
/// and returns a working engine; nothing is allocated after it.
///
/// Memory is [`Capacity::memory_bytes`] for the tables (3.1 MiB at
/// [`Capacity::DEFAULT`], about 21 KiB at 16 nodes, 128 entries, 8 KiB and
/// a 64-interval window) plus about 2 KiB for the engine value itself.
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
    /// When [`Engine::leave`] was called.
    pub(crate) left_at: Option<Instant>,
    /// The latest time the caller gave us.
    pub(crate) now: Instant,
    /// [`crate::phi::threshold_y`] of the configured threshold.
    threshold_y: f64,
    /// Earliest time a liveness sweep can find something to do.
    pub(crate) next_sweep: Instant,
    /// When the next gossip round is due ([`crate::deadline`]).
    pub(crate) next_round: Instant,
    /// When this node last took a new generation, and why.
    pub(crate) refute: Refutation,
    /// Scratch: a digest line showed our own id ahead of us.
    pub(crate) heard_ahead: bool,
    /// Notices local stalls from the times calls bring ([`crate::stall`]).
    pub(crate) stall: crate::stall::StallWatch,
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
    pub fn new(buffers: Buffers<M>, id: NodeId, config: Config) -> Result<Self, ConfigError> {
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
            left_at: None,
            now: Instant::ZERO,
            next_sweep: Instant(0),
            next_round: Instant::ZERO,
            refute: Refutation::NEW,
            heard_ahead: false,
            stall: crate::stall::StallWatch::NEW,
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
        }
    }

    /// How much this engine can hold, fixed when it was built.
    pub fn capacity(&self) -> Capacity {
        self.capacity
    }

    /// Sets the seed addresses: where to gossip when no peer is live. Our
    /// own address is skipped; at most [`MAX_SEEDS`] are kept. Returns how
    /// many were kept. Runtimes call it again when seed names re-resolve.
    pub fn set_seeds(&mut self, seeds: &[SocketAddr]) -> usize {
        let own = self.id().addr;
        self.seeds.clear();
        for s in seeds {
            if *s != own && !self.seeds.contains(s) && self.seeds.push(*s).is_err() {
                break;
            }
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

    /// Sets `key` to `value` in this node's namespace.
    ///
    /// Writing the value (and plain status) a key already has is a no-op and
    /// does not take a version.
    pub fn set(&mut self, key: &str, value: &[u8]) -> Result<(), WriteError> {
        check_user_key(key)?;
        self.write(key, value, EntryStatus::Set, 0)
    }

    /// Sets `key` to `value` until `ttl` has passed from `now`; then
    /// [`Engine::handle_timeout`] deletes it, to the millisecond (the
    /// deadline is one of [`Engine::poll_timeout`]'s). Setting the same value
    /// again only extends the deadline, without a new version.
    pub fn set_with_ttl(
        &mut self,
        key: &str,
        value: &[u8],
        ttl: core::time::Duration,
        now: Instant,
    ) -> Result<(), WriteError> {
        self.note_time(now);
        check_user_key(key)?;
        let deadline = now.saturating_add(ttl).as_millis();
        self.write(key, value, EntryStatus::SetWithTtl, deadline)
    }

    /// Deletes `key`, leaving a tombstone that propagates the deletion and is
    /// collected after `tombstone_grace`. Returns whether the key existed.
    pub fn delete(&mut self, key: &str, now: Instant) -> Result<bool, WriteError> {
        self.note_time(now);
        check_user_key(key)?;
        self.check_key(key, 0)?;
        let Some(idx) = self.store.find(LOCAL, key) else {
            return Ok(false);
        };
        if !self.store.slot(idx).is_some_and(|s| s.status().is_live()) {
            return Ok(false);
        }
        let deadline = now.saturating_add(self.config.tombstone_grace).as_millis();
        self.write(key, &[], EntryStatus::Deleted, deadline)?;
        Ok(true)
    }

    fn check_key(&self, key: &str, value_len: usize) -> Result<(), WriteError> {
        if self.left_at.is_some() {
            return Err(WriteError::Left);
        }
        if key.is_empty() {
            return Err(WriteError::EmptyKey);
        }
        if key.len() > MAX_KEY_LEN {
            return Err(WriteError::KeyTooLong);
        }
        if !self.entry_fits_datagram(key.len(), value_len) {
            return Err(WriteError::EntryTooLarge);
        }
        Ok(())
    }

    /// Whether an entry can always be sent: in an Ack or SynAck with the
    /// longest possible ids, a piece head and the entry itself.
    fn entry_fits_datagram(&self, key_len: usize, value_len: usize) -> bool {
        // header + sender id + piece count + two sequence counts
        let fixed = HEADER_LEN + MAX_NODE_ID_LEN + 3 + 3 + 3;
        // update: tag + full id + heartbeat + piece head
        let update = 1 + MAX_NODE_ID_LEN + 10 + PIECE_HEAD_MAX;
        let entry = wire::entry_len(u64::MAX, key_len, value_len);
        fixed.saturating_add(update).saturating_add(entry) <= self.config.mtu
    }

    fn write(
        &mut self,
        key: &str,
        value: &[u8],
        status: EntryStatus,
        deadline: u64,
    ) -> Result<(), WriteError> {
        self.check_key(key, value.len())?;
        let existing = self.store.find(LOCAL, key);
        if let Some(idx) = existing {
            let same = self.store.slot(idx).map(|s| s.status()) == Some(status)
                && self.store.value(idx) == value;
            if same {
                // Same content: a TTL or tombstone deadline may move, the
                // version does not.
                if status == EntryStatus::SetWithTtl {
                    self.store.set_deadline(idx, deadline);
                    self.next_deadline = self.next_deadline.min(deadline);
                }
                return Ok(());
            }
        }
        self.local_write_fits(key, existing, value.len())
            .map_err(|e| match e {
                NoRoom::Store => WriteError::CapacityFull,
                NoRoom::Namespace => WriteError::NamespaceFull,
            })?;
        let local = self.nodes.get_mut(LOCAL).ok_or(WriteError::CapacityFull)?;
        let version = local
            .max_version
            .checked_add(1)
            .filter(|v| *v <= wire::MAX_VERSION)
            .ok_or(WriteError::VersionsExhausted)?;
        let mut list = local.entries;
        let result = match existing {
            Some(idx) => self
                .store
                .update(&mut list, idx, value, version, status, deadline),
            None => self
                .store
                .insert(&mut list, LOCAL, key, value, version, status, deadline)
                .map(|_| ()),
        };
        let local = self.nodes.get_mut(LOCAL).ok_or(WriteError::CapacityFull)?;
        local.entries = list;
        result.map_err(|_| WriteError::CapacityFull)?;
        local.max_version = version;
        if status != EntryStatus::Set {
            self.next_deadline = self.next_deadline.min(deadline);
        }
        Ok(())
    }

    // -----------------------------------------------------------------------
    // Maintenance.

    /// Runs one gossip round now, outside the engine's schedule.
    ///
    /// Lower-level than the deadline API: a runtime calls
    /// [`Engine::poll_timeout`] and [`Engine::handle_timeout`], which run
    /// rounds when they are due (with jitter) and everything else on time.
    /// `tick` neither reads nor moves that schedule; it suits tests and
    /// callers that keep their own clock of rounds (then call it every
    /// `gossip_interval`).
    ///
    /// In order: advances this node's heartbeat by one; expires TTL keys and
    /// collects tombstones past their grace; re-evaluates every node's
    /// liveness (phi against the threshold, and the dead grace); then opens
    /// exchanges with `fanout` live peers chosen at random, among those that
    /// answer first (a live peer that left 3 exchanges unanswered, or whose
    /// heartbeat has not moved for a quarter of its timeout, is only probed
    /// now and then) — plus a seed when no peer is live, or, now and then,
    /// when none of the chosen peers is a seed; plus, now and then, a dead
    /// node, to notice it coming back.
    /// After [`Engine::leave`] and its linger time, it does nothing.
    pub fn tick(
        &mut self,
        now: Instant,
        rng: &mut impl rand_core::RngCore,
        tx: &mut impl Transmit,
        observer: &mut impl Observer,
    ) {
        self.note_time(now);
        if self.has_left(now) {
            return;
        }
        self.round(now, rng, tx, observer);
    }

    /// The body of a gossip round (see [`Engine::tick`]), once the time has
    /// been noted.
    pub(crate) fn round(
        &mut self,
        now: Instant,
        rng: &mut impl rand_core::RngCore,
        tx: &mut impl Transmit,
        observer: &mut impl Observer,
    ) {
        if let Some(local) = self.nodes.get_mut(LOCAL) {
            local.heartbeat = local.heartbeat.saturating_add(1);
        }
        if now.as_millis() >= self.next_deadline {
            self.expire_and_collect(now, observer);
        }
        self.update_liveness(now, observer);
        self.gossip(rng, tx);
    }

    /// Re-evaluates liveness only (phi against the threshold, and the
    /// lifecycle of dead, departed and never-live nodes), without gossiping
    /// or advancing the heartbeat. Lower-level, like [`Engine::tick`]:
    /// [`Engine::handle_timeout`] runs liveness exactly when it is due, which
    /// is what runtimes use; `sweep` is for callers driving `tick` by hand.
    pub fn sweep(&mut self, now: Instant, observer: &mut impl Observer) {
        self.note_time(now);
        // Nothing is due before `next_sweep` (kept by every change that
        // sets a deadline); ticks scan in full regardless.
        if now >= self.next_sweep {
            self.update_liveness(now, observer);
        }
    }

    /// Announces that this node is leaving: peers mark it left at once and
    /// never report it dead. The next gossip round becomes due at once, so
    /// the news spreads without waiting for the schedule; the node keeps
    /// gossiping for `leave_linger` (keep calling
    /// [`Engine::handle_timeout`] at [`Engine::poll_timeout`], which includes
    /// the end of the linger and returns `None` once [`Engine::has_left`]),
    /// then falls silent. Local writes fail from now on.
    pub fn leave(&mut self, now: Instant) -> Result<(), WriteError> {
        self.note_time(now);
        if self.left_at.is_some() {
            return Ok(());
        }
        self.write(STATUS_KEY, LEAVING, EntryStatus::Set, 0)?;
        self.left_at = Some(now);
        self.next_round = self.next_round.min(now);
        Ok(())
    }

    /// Whether [`Engine::leave`] was called.
    pub(crate) fn is_leaving(&self) -> bool {
        self.left_at.is_some()
    }

    /// Whether this node has left and finished announcing it.
    pub fn has_left(&self, now: Instant) -> bool {
        self.left_at
            .is_some_and(|at| now >= at.saturating_add(self.config.leave_linger))
    }

    /// Phi checks, and the lifecycle of dead, departed and never-live nodes.
    pub(crate) fn update_liveness(&mut self, now: Instant, observer: &mut impl Observer) {
        let grace = self.config.dead_grace;
        let half_grace = grace.checked_div(2).unwrap_or(grace);
        let mut next = Instant(u64::MAX);
        let mut pos = 0usize;
        while let Some((slot, n)) = self.nodes.at(pos) {
            pos = pos.saturating_add(1);
            if slot == LOCAL {
                continue;
            }
            let age = now.saturating_since(n.since);
            match n.status {
                NodeStatus::Alive => {
                    // Phi grows with silence, so "phi has reached the
                    // threshold" is "the deadline has passed".
                    if now >= n.deadline
                        && let Some(n) = self.nodes.get_mut(slot)
                    {
                        n.status = NodeStatus::Dead;
                        n.since = now;
                        observer.on_event(&Event::NodeDead { node: &n.id });
                    }
                }
                NodeStatus::Dead | NodeStatus::Left if age >= grace => {
                    if let Some(n) = self.nodes.get(slot) {
                        observer.on_event(&Event::NodeRemoved { node: &n.id });
                    }
                    self.forget(slot);
                    // The ring shifted down by one.
                    pos = pos.saturating_sub(1);
                    continue;
                }
                NodeStatus::Pending if age >= self.config.pending_timeout => {
                    if let Some(n) = self.nodes.get(slot) {
                        observer.on_event(&Event::NodeRemoved { node: &n.id });
                    }
                    // Never seen alive: nothing to protect from stale
                    // gossip, so it is not remembered as removed.
                    self.drop_node(slot);
                    bump(&mut self.counters.pending_dropped);
                    pos = pos.saturating_sub(1);
                    continue;
                }
                NodeStatus::Dead | NodeStatus::Left if age >= half_grace && !n.hidden => {
                    if let Some(n) = self.nodes.get_mut(slot) {
                        n.hidden = true;
                    }
                }
                _ => {}
            }
            if let Some(n) = self.nodes.get(slot) {
                next = next.min(self.next_check(n));
            }
        }
        self.next_sweep = next;
    }

    /// When `n` next needs the liveness sweep's attention.
    fn next_check(&self, n: &NodeSlot) -> Instant {
        let grace = self.config.dead_grace;
        match n.status {
            NodeStatus::Alive => n.deadline,
            NodeStatus::Dead | NodeStatus::Left if !n.hidden => n
                .since
                .saturating_add(grace.checked_div(2).unwrap_or(grace)),
            NodeStatus::Pending => n.since.saturating_add(self.config.pending_timeout),
            _ => n.since.saturating_add(grace),
        }
    }

    /// Brings the next sweep forward if `slot` needs it sooner.
    fn due_check(&mut self, slot: u16) {
        if let Some(at) = self.nodes.get(slot).map(|n| self.next_check(n)) {
            self.next_sweep = self.next_sweep.min(at);
        }
    }

    /// Opens this tick's exchanges.
    fn gossip(&mut self, rng: &mut impl rand_core::RngCore, tx: &mut impl Transmit) {
        // Responsive live peers first, then pending ones, then live peers
        // that stopped answering. A node we have heard of but whose
        // heartbeat we have not seen move may well be alive, and talking
        // to it is how we find out: while few peers are live (a joining
        // node), pending ones fill the fanout, so a newcomer's heartbeat
        // reaches several nodes from its first rounds. A live peer that
        // stopped answering (see `is_unresponsive`) is most likely on the
        // far side of a partition: until it is convicted, every slot it
        // takes is an exchange lost, and heartbeats would spread through
        // our side at a fraction of the speed, late enough to get healthy
        // nodes convicted. Such peers only fill slots nobody else takes,
        // and are probed now and then (below) to notice them answering.
        self.candidates.clear();
        let mut dead = 0usize;
        // Live peers, the responsive ones moved to the front as they come.
        let mut responsive = 0usize;
        for &slot in self.nodes.ring() {
            let status = self.nodes.get(slot).map(|n| n.status);
            if status == Some(NodeStatus::Dead) {
                dead = dead.saturating_add(1);
            } else if slot != LOCAL
                && status == Some(NodeStatus::Alive)
                && self.candidates.push(slot).is_ok()
                && !self.is_unresponsive(slot)
            {
                let last = self.candidates.len().saturating_sub(1);
                self.candidates.swap(responsive, last);
                responsive = responsive.saturating_add(1);
            }
        }
        let live = self.candidates.len();
        let unresponsive = live.saturating_sub(responsive);
        for &slot in self.nodes.ring() {
            if slot != LOCAL
                && self.nodes.get(slot).map(|n| n.status) == Some(NodeStatus::Pending)
                && self.candidates.push(slot).is_err()
            {
                break;
            }
        }
        let known = self.candidates.len();
        let fanout = self.config.fanout;
        let from_responsive = fanout.min(responsive);
        let from_pending = fanout
            .saturating_sub(from_responsive)
            .min(known.saturating_sub(live));
        let filled = from_responsive.saturating_add(from_pending);
        // One unresponsive peer with probability unresponsive /
        // (responsive + 1) when the others fill the fanout, as for dead
        // nodes: about one probe a round while half the peers are silent.
        let from_unresponsive = if filled < fanout {
            fanout.saturating_sub(filled).min(unresponsive)
        } else {
            usize::from(unresponsive > 0 && chance(rng, unresponsive, responsive.saturating_add(1)))
        };
        let mut seed_picked = false;
        // Partial Fisher-Yates shuffles of each group.
        for (lo, hi, picks) in [
            (0, responsive, from_responsive),
            (live, known, from_pending),
            (responsive, live, from_unresponsive),
        ] {
            for i in lo..lo.saturating_add(picks) {
                let j = i.saturating_add(random_below(rng, hi.saturating_sub(i)));
                self.candidates.swap(i, j.min(hi.saturating_sub(1)));
                let Some(slot) = self.candidates.get(i).copied() else {
                    continue;
                };
                let Some(addr) = self.nodes.get(slot).map(|n| n.id.addr) else {
                    continue;
                };
                seed_picked |= self.seeds.contains(&addr);
                if self.start_exchange(addr, tx).is_ok()
                    && let Some(n) = self.nodes.get_mut(slot)
                {
                    n.unanswered = n.unanswered.saturating_add(1);
                }
            }
        }
        // Seeds: while nobody is live, up to `fanout` of them, so that one
        // lost datagram does not leave a newcomer isolated for a round;
        // otherwise, if no seed was among the picks, one with probability
        // seeds / (live + dead), as Cassandra does, so seeds keep the cluster
        // from splitting without drawing every node's traffic.
        let seeds = self.seeds.len();
        let seed_picks = if seed_picked || seeds == 0 {
            0
        } else if live == 0 {
            fanout.min(seeds)
        } else {
            usize::from(chance(rng, seeds, live.saturating_add(dead)))
        };
        let mut order = [0u8; MAX_SEEDS];
        for (k, o) in order.iter_mut().enumerate() {
            *o = k as u8;
        }
        for i in 0..seed_picks {
            let j = i.saturating_add(random_below(rng, seeds.saturating_sub(i)));
            order.swap(i, j.min(seeds.saturating_sub(1)));
            let k = order.get(i).copied().map_or(0, usize::from);
            if let Some(&addr) = self.seeds.get(k) {
                let _ = self.start_exchange(addr, tx);
            }
        }
        // A dead node with probability dead / (live + 1).
        if dead > 0 && chance(rng, dead, live.saturating_add(1)) {
            let k = random_below(rng, dead);
            let addr = self
                .nodes
                .ring()
                .iter()
                .filter_map(|&s| self.nodes.get(s))
                .filter(|n| n.status == NodeStatus::Dead)
                .nth(k)
                .map(|n| n.id.addr);
            if let Some(addr) = addr {
                let _ = self.start_exchange(addr, tx);
            }
        }
    }

    /// Whether the live peer in `slot` seems cut off from us: it left
    /// [`UNANSWERED_LIMIT`] exchanges in a row unanswered, or its heartbeat
    /// has not moved here for a quarter of its detector timeout
    /// ([`crate::nodes::QUIET_FRACTION`]). The second sign is the one every node on our
    /// side sees within seconds of a partition: with a fanout of 3 among
    /// 100 nodes, a node tries a given peer about once in 30 rounds, long
    /// after the far side is convicted.
    fn is_unresponsive(&self, slot: u16) -> bool {
        let Some(n) = self.nodes.get(slot) else {
            return false;
        };
        if n.unanswered >= UNANSWERED_LIMIT {
            return true;
        }
        n.is_quiet(self.now)
    }

    pub(crate) fn expire_and_collect(&mut self, now: Instant, observer: &mut impl Observer) {
        let now_ms = now.as_millis();
        let grace_ms = duration_millis(self.config.tombstone_grace);
        let mut next_deadline = u64::MAX;
        let Some(mut list) = self.nodes.get(LOCAL).map(|n| n.entries) else {
            return;
        };
        let Some(mut max_version) = self.nodes.get(LOCAL).map(|n| n.max_version) else {
            return;
        };
        let mut last_gc = self.nodes.get(LOCAL).map_or(0, |n| n.last_gc);
        let mut still_collecting = true;
        let mut cur = list.head;
        // Entries whose status changes move to the tail; stop at the first
        // entry written by this pass.
        let first_new_version = max_version.saturating_add(1);
        while cur != NIL {
            let Some(s) = self.store.slot(cur).copied() else {
                break;
            };
            if s.version >= first_new_version {
                break;
            }
            let next = self.store.next(cur);
            match s.status() {
                EntryStatus::Deleted => {
                    // Tombstone deadlines grow with versions, so collectable
                    // tombstones form a prefix of the tombstones in version
                    // order; collecting exactly that prefix keeps
                    // `last_gc_version` meaning "every tombstone up to here is
                    // gone".
                    if still_collecting && s.deadline <= now_ms {
                        last_gc = s.version;
                        self.store.remove(&mut list, cur);
                    } else {
                        still_collecting = false;
                        next_deadline = next_deadline.min(s.deadline);
                    }
                }
                EntryStatus::SetWithTtl if s.deadline <= now_ms => {
                    let Some(version) = max_version
                        .checked_add(1)
                        .filter(|v| *v <= wire::MAX_VERSION)
                    else {
                        break;
                    };
                    let deadline = now_ms.saturating_add(grace_ms);
                    if let Some(local) = self.nodes.get(LOCAL) {
                        observer.on_event(&Event::KeyExpired {
                            node: &local.id,
                            key: self.store.key(cur),
                            value: self.store.value(cur),
                            version,
                        });
                    }
                    if self
                        .store
                        .update(&mut list, cur, &[], version, EntryStatus::Deleted, deadline)
                        .is_ok()
                    {
                        max_version = version;
                        next_deadline = next_deadline.min(deadline);
                    }
                }
                EntryStatus::SetWithTtl => next_deadline = next_deadline.min(s.deadline),
                EntryStatus::Set => {}
            }
            cur = next;
        }
        if let Some(local) = self.nodes.get_mut(LOCAL) {
            local.entries = list;
            local.max_version = max_version;
            local.last_gc = last_gc;
        }
        self.next_deadline = next_deadline;
    }

    // -----------------------------------------------------------------------
    // Receiving.

    /// Handles one received datagram from `from`: validates it completely,
    /// then applies what it carries and sends any reply through `tx`.
    ///
    /// A rejected datagram changes nothing but its counter.
    pub fn handle_datagram(
        &mut self,
        from: SocketAddr,
        datagram: &[u8],
        now: Instant,
        tx: &mut impl Transmit,
        observer: &mut impl Observer,
    ) -> Result<(), DecodeError> {
        bump(&mut self.counters.datagrams_in);
        self.counters.bytes_in = self.counters.bytes_in.saturating_add(datagram.len() as u64);
        let result = self.dispatch(from, datagram, now, tx, observer);
        if let Err(e) = result {
            self.counters.reject(e);
        }
        result
    }

    fn dispatch(
        &mut self,
        from: SocketAddr,
        datagram: &[u8],
        now: Instant,
        tx: &mut impl Transmit,
        observer: &mut impl Observer,
    ) -> Result<(), DecodeError> {
        self.note_time(now);
        let (kind, cluster, body) = wire::read_header(datagram)?;
        if cluster != self.config.cluster_id.fingerprint() {
            return Err(DecodeError::ForeignCluster);
        }
        match kind {
            MessageKind::Syn => {
                // The digest lines are validated while the reply is planned,
                // before anything changes; see `answer_syn`.
                let msg = wire::parse_syn_head(body)?;
                self.check_not_self(&msg.sender)?;
                self.answer_syn(from, &msg, datagram.len(), now, tx, observer)?;
            }
            MessageKind::SynAck => {
                let msg = wire::parse_synack(body)?;
                self.check_not_self(&msg.sender)?;
                self.learn_sender(&msg.sender, now, observer);
                self.apply_updates(&msg, now, observer);
                if self.requests_show_us_ahead(&msg) {
                    self.heard_own_state_ahead(now, observer);
                }
                self.answer_requests(from, &msg, tx);
            }
            MessageKind::Ack => {
                let msg = wire::parse_ack(body)?;
                self.check_not_self(&msg.sender)?;
                self.learn_sender(&msg.sender, now, observer);
                self.apply_updates(&msg, now, observer);
            }
        }
        Ok(())
    }

    /// Whether a SynAck asks for our own id holding it ahead of us.
    fn requests_show_us_ahead(&self, msg: &UpdateMsg<'_>) -> bool {
        let own = self.local().map_or(0, |n| n.hash);
        msg.requests().map_while(Result::ok).any(|(hash, q)| {
            q.known && hash == own && self.own_state_behind(0, q.max_version, q.last_gc)
        })
    }

    fn check_not_self(&self, sender: &WireNodeId<'_>) -> Result<(), DecodeError> {
        if sender.name == self.id().name.as_str() {
            return Err(DecodeError::FromSelf);
        }
        Ok(())
    }

    /// Learns the sender of a valid datagram; hearing from it also shows
    /// that it answers (see `unanswered` in [`NodeSlot`]). Returns the slot
    /// of a newer generation of the sender's name when the sender is stale,
    /// so that a reply can tell it (it refutes, see [`crate::refute`]).
    pub(crate) fn learn_sender(
        &mut self,
        sender: &WireNodeId<'_>,
        now: Instant,
        observer: &mut impl Observer,
    ) -> Option<u16> {
        let id = sender.to_id()?;
        match self.learn_id(id, None, now, observer) {
            Learned::Stale(newer) => Some(newer),
            Learned::Slot(slot) => {
                if let Some(n) = self.nodes.get_mut(slot) {
                    n.unanswered = 0;
                }
                None
            }
            Learned::Refused => None,
        }
    }

    /// Finds or adds the node `id`, applying generation rules. `None` when
    /// the id is ignored (ours, stale, conflicting, removed and not
    /// heartbeating past what we remember) or the table is full.
    ///
    /// `heartbeat` is the heartbeat that came with the id, if any: a new
    /// node starts at it without counting it as an advance.
    pub(crate) fn learn(
        &mut self,
        id: NodeId,
        heartbeat: Option<u64>,
        now: Instant,
        observer: &mut impl Observer,
    ) -> Option<u16> {
        match self.learn_id(id, heartbeat, now, observer) {
            Learned::Slot(slot) => Some(slot),
            Learned::Stale(_) | Learned::Refused => None,
        }
    }

    fn learn_id(
        &mut self,
        id: NodeId,
        heartbeat: Option<u64>,
        now: Instant,
        observer: &mut impl Observer,
    ) -> Learned {
        if id.name == self.id().name {
            self.heard_own_name(&id, heartbeat, now, observer);
            return Learned::Refused;
        }
        let hash = id.ring_hash();
        if let Some(slot) = self.nodes.find_hash(hash) {
            if self.nodes.get(slot).is_some_and(|n| n.id == id) {
                return Learned::Slot(slot);
            }
            bump(&mut self.counters.id_conflicts);
            return Learned::Refused;
        }
        let known = self.nodes.find_name(id.name.as_str());
        let known_generation = known
            .and_then(|s| self.nodes.get(s))
            .map(|n| n.id.generation);
        if !self.plausible_generation(known_generation, id.generation) {
            bump(&mut self.counters.implausible_generations);
            return Learned::Refused;
        }
        if let (Some(slot), Some(known)) = (known, known_generation) {
            if known > id.generation {
                bump(&mut self.counters.stale_generations);
                return Learned::Stale(slot);
            }
            if known == id.generation {
                bump(&mut self.counters.id_conflicts);
                return Learned::Refused;
            }
            if self.removed_and_stale(hash, heartbeat) {
                return Learned::Refused;
            }
            // A newer generation supersedes the old one at once.
            let Some(old) = self.nodes.get(slot).map(|n| n.id.clone()) else {
                return Learned::Refused;
            };
            self.forget(slot);
            let new_slot = self.insert_node(id, heartbeat, now);
            if let Some(new) = new_slot.and_then(|s| self.nodes.get(s)) {
                observer.on_event(&Event::NodeReplaced {
                    old: &old,
                    new: &new.id,
                });
            }
            return new_slot.map_or(Learned::Refused, Learned::Slot);
        }
        if self.removed_and_stale(hash, heartbeat) {
            return Learned::Refused;
        }
        self.insert_node(id, heartbeat, now)
            .map_or(Learned::Refused, Learned::Slot)
    }

    /// Whether `hash` is a removed node that `heartbeat` does not show alive
    /// past what we remember: stale gossip must not resurrect it.
    fn removed_and_stale(&mut self, hash: u64, heartbeat: Option<u64>) -> bool {
        let Some(last) = self.nodes.removed_heartbeat(hash) else {
            return false;
        };
        if heartbeat.is_some_and(|h| h > last) {
            self.nodes.unremember(hash);
            return false;
        }
        bump(&mut self.counters.resurrections_refused);
        true
    }

    fn insert_node(&mut self, id: NodeId, heartbeat: Option<u64>, now: Instant) -> Option<u16> {
        let Some(slot) = self.nodes.insert(id, now) else {
            bump(&mut self.counters.refused_nodes);
            return None;
        };
        if let Some(n) = self.nodes.get_mut(slot) {
            n.heartbeat = heartbeat.unwrap_or(0);
        }
        self.due_check(slot);
        Some(slot)
    }

    /// Drops a node and all its entries, remembering its id and heartbeat so
    /// that stale gossip cannot bring it back.
    pub(crate) fn forget(&mut self, slot: u16) {
        if slot == LOCAL {
            return;
        }
        let Some((hash, heartbeat)) = self.nodes.get(slot).map(|n| (n.hash, n.heartbeat)) else {
            return;
        };
        self.drop_node(slot);
        self.nodes.remember_removed(hash, heartbeat);
    }

    /// Drops a node and all its entries, without remembering it.
    pub(crate) fn drop_node(&mut self, slot: u16) {
        if slot == LOCAL {
            return;
        }
        let Some(mut list) = self.nodes.get(slot).map(|n| n.entries) else {
            return;
        };
        self.store.remove_all(&mut list);
        self.nodes.remove(slot);
    }

    /// Records `heartbeat` for `slot`; an advance is a heartbeat arrival
    /// for the failure detector and makes a pending or dead node live.
    pub(crate) fn observe_heartbeat(
        &mut self,
        slot: u16,
        heartbeat: u64,
        now: Instant,
        observer: &mut impl Observer,
    ) {
        if slot == LOCAL {
            return;
        }
        let detector = self.config.detector;
        let Some(n) = self.nodes.get_mut(slot) else {
            return;
        };
        if heartbeat <= n.heartbeat {
            return;
        }
        n.heartbeat = heartbeat;
        let event = match n.status {
            NodeStatus::Pending => Some(true),
            NodeStatus::Dead => Some(false),
            NodeStatus::Alive | NodeStatus::Left => None,
        };
        if let Some(joined) = event {
            n.status = NodeStatus::Alive;
            n.since = now;
            n.hidden = false;
            observer.on_event(&if joined {
                Event::NodeJoined { node: &n.id }
            } else {
                Event::NodeAliveAgain { node: &n.id }
            });
        }
        let y = self.threshold_y;
        let timeout = self
            .nodes
            .record_heartbeat(slot, &detector, now)
            .and_then(|d| d.timeout_with(&detector, y));
        if let Some(n) = self.nodes.get_mut(slot) {
            n.set_deadlines(now, timeout);
        }
        self.due_check(slot);
    }

    fn apply_updates(&mut self, msg: &UpdateMsg<'_>, now: Instant, observer: &mut impl Observer) {
        for update in msg.updates().map_while(Result::ok) {
            let slot = match update.node {
                WireNodeRef::Prefix(p) => {
                    // A heartbeat alone, about a node we named by this
                    // prefix: applied only if it is ours alone (and, as
                    // every heartbeat below, only if plausible).
                    let prefix = u32::from_be_bytes(p);
                    match self.nodes.unique_prefix(prefix) {
                        Some(slot) => slot,
                        None => {
                            bump(&mut self.counters.unknown_nodes);
                            continue;
                        }
                    }
                }
                WireNodeRef::Hash(h) => match self.nodes.find_hash(wire::hash_from_wire(h)) {
                    Some(s) => s,
                    None => {
                        bump(&mut self.counters.unknown_nodes);
                        continue;
                    }
                },
                WireNodeRef::Full(id) => {
                    let Some(id) = id.to_id() else {
                        continue;
                    };
                    if id == *self.id() {
                        LOCAL
                    } else {
                        match self.learn(id, Some(update.heartbeat), now, observer) {
                            Some(s) => s,
                            None => continue,
                        }
                    }
                }
            };
            if slot == LOCAL {
                // About us: anything ahead of what we hold is refuted.
                let (to, gc) = update.piece.map_or((0, 0), |p| (p.head.to, p.head.last_gc));
                if self.own_state_behind(update.heartbeat, to, gc) {
                    self.heard_own_state_ahead(now, observer);
                }
                continue;
            }
            // However the node is named, a heartbeat no honest node could
            // have reached since we last heard from it is set aside: one
            // forged line must not convict a node for good.
            let held = self.nodes.get(slot).map_or(0, |n| n.heartbeat);
            if update.heartbeat > held && !self.plausible_beat(slot, held, update.heartbeat, now) {
                bump(&mut self.counters.implausible_heartbeats);
            } else {
                self.observe_heartbeat(slot, update.heartbeat, now, observer);
            }
            if let Some(piece) = update.piece {
                self.apply_piece(slot, &piece, observer);
            }
        }
    }

    /// Applies one piece `(from, to]` of a node's entries if the rules allow.
    ///
    /// With `m`/`r` our max and last-gc versions and `g` the sender's
    /// last-gc version, a piece is usable as a *delta* when it brings
    /// something new (`to > m`), starts at or below `m`, and either `m ≥ g`
    /// and `m ≥ r` (our copy is complete up to `m`, and every tombstone the
    /// sender dropped was already seen here) or `r = g` (our copy is being
    /// rebuilt, or was, at that very collection point). Otherwise, if
    /// we are behind the sender's collection point (`m < g`, `r < g`), a
    /// piece starting at 0 is a *reset*: our copy is rebuilt from it, even
    /// if it ends below `m` — the copy then holds the node up to `to` only,
    /// and later pieces continue from there.
    fn apply_piece(&mut self, slot: u16, piece: &Piece<'_>, observer: &mut impl Observer) {
        let Some(n) = self.nodes.get(slot) else {
            return;
        };
        let (m, r) = (n.max_version, n.last_gc);
        let head = piece.head;
        let g = head.last_gc;
        let as_reset = head.from == 0 && m < g && r < g;
        // A copy mid-reset (`m < r`) only continues from sources at the same
        // collection point: an older source could bring back a key deleted
        // between its collection point and ours.
        let complete = m >= r && m >= g;
        let as_delta = !as_reset && head.from <= m && (complete || r == g);
        let fits = if as_reset {
            self.piece_fits(slot, piece, 0, true)
        } else if head.to <= m {
            bump(&mut self.counters.stale_pieces);
            return;
        } else if as_delta {
            self.piece_fits(slot, piece, m, false)
        } else {
            bump(&mut self.counters.unusable_pieces);
            return;
        };
        // Stored whole or refused whole: a piece partly applied with the
        // max advanced would leave a hole that every peer pulling from us
        // inherits.
        match fits {
            Ok(()) => {}
            Err(NoRoom::Store) => {
                bump(&mut self.counters.refused_pieces);
                return;
            }
            Err(NoRoom::Namespace) => {
                bump(&mut self.counters.oversized_namespaces);
                return;
            }
        }
        let held_to = if as_reset {
            self.apply_reset(slot, piece, observer)
        } else {
            self.apply_delta(slot, piece, m, observer)
        };
        bump(&mut self.counters.pieces_applied);
        if g > r {
            self.drop_collected_tombstones(slot, g);
        }
        if let Some(n) = self.nodes.get_mut(slot) {
            n.max_version = held_to;
            n.last_gc = n.last_gc.max(g);
        }
    }

    /// Applies the entries of a piece that passed [`Engine::piece_fits`]
    /// above `m`; returns the version the copy now holds the node up to.
    fn apply_delta(
        &mut self,
        slot: u16,
        piece: &Piece<'_>,
        m: u64,
        observer: &mut impl Observer,
    ) -> u64 {
        // Shrinks first, so that what grows or joins finds the room they
        // free whatever the order of the piece; then everything in version
        // order, moving the shrunk entries into place.
        self.shrink_ahead(slot, piece, m);
        let mut held_to = piece.head.to;
        for e in piece.entries().map_while(Result::ok) {
            if e.version <= m {
                continue;
            }
            let early = self.store.find(slot, e.key).and_then(|idx| {
                let was_live = self.store.early(idx)?;
                let this_one = self.store.slot(idx)?.version == e.version;
                this_one.then_some((idx, was_live))
            });
            if let Some((idx, was_live)) = early {
                self.store.set_early(idx, None);
                if let Some(mut list) = self.nodes.get(slot).map(|n| n.entries) {
                    self.store.move_to_tail(&mut list, idx);
                    if let Some(n) = self.nodes.get_mut(slot) {
                        n.entries = list;
                    }
                }
                self.announce(slot, idx, e.value, e.status, e.version, was_live, observer);
            } else if held_to == piece.head.to
                && !self.put_remote(slot, e.key, e.value, e.version, e.status, observer)
            {
                // The fit check is exact, so this is not expected; if it
                // happens anyway, the copy is exact below this entry only
                // (the loop goes on only to put shrunk entries in order).
                held_to = e.version.saturating_sub(1);
            }
        }
        held_to
    }

    /// Rebuilds a copy from a piece that passed [`Engine::piece_fits`];
    /// returns the version the copy now holds the node up to.
    fn apply_reset(&mut self, slot: u16, piece: &Piece<'_>, observer: &mut impl Observer) -> u64 {
        // Keep entries the piece carries unchanged (no event, no copy).
        // Everything else we hold for the node predates the sender's
        // collection point: it is superseded, deleted, or newer than the
        // piece — and then it comes back with the following pieces.
        for e in piece.entries().map_while(Result::ok) {
            if let Some(idx) = self.store.find(slot, e.key)
                && self.store.slot(idx).is_some_and(|s| s.version == e.version)
            {
                self.store.set_mark(idx, true);
            }
        }
        let Some(mut list) = self.nodes.get(slot).map(|n| n.entries) else {
            return 0;
        };
        let mut cur = list.head;
        while cur != NIL {
            let next = self.store.next(cur);
            if self.store.marked(cur) {
                self.store.set_mark(cur, false);
            } else {
                let live = self.store.slot(cur).is_some_and(|s| s.status().is_live())
                    && !is_reserved(self.store.key(cur));
                if live && let Some(n) = self.nodes.get(slot) {
                    observer.on_event(&Event::KeyDeleted {
                        node: &n.id,
                        key: self.store.key(cur),
                        version: piece.head.to,
                    });
                }
                self.store.remove(&mut list, cur);
            }
            cur = next;
        }
        if let Some(n) = self.nodes.get_mut(slot) {
            n.entries = list;
        }
        let mut held_to = piece.head.to;
        for e in piece.entries().map_while(Result::ok) {
            if !self.put_remote(slot, e.key, e.value, e.version, e.status, observer) {
                // Not expected after the fit check; the rebuilt copy is
                // exact below this entry only.
                held_to = e.version.saturating_sub(1);
                break;
            }
        }
        bump(&mut self.counters.resets_applied);
        if let Some(n) = self.nodes.get(slot) {
            observer.on_event(&Event::ResetApplied { node: &n.id });
        }
        held_to
    }

    /// Stores one received entry if it is newer than what we hold. False
    /// only if the store had no room for it.
    fn put_remote(
        &mut self,
        slot: u16,
        key: &str,
        value: &[u8],
        version: u64,
        status: EntryStatus,
        observer: &mut impl Observer,
    ) -> bool {
        let Some(mut list) = self.nodes.get(slot).map(|n| n.entries) else {
            return false;
        };
        let existing = self.store.find(slot, key);
        let was_live = existing
            .and_then(|i| self.store.slot(i))
            .map(|s| (s.version, s.status().is_live()));
        let result = match (existing, was_live) {
            (Some(_), Some((v, _))) if v >= version => return true,
            (Some(idx), _) => self
                .store
                .update(&mut list, idx, value, version, status, 0)
                .map(|_| idx),
            (None, _) => self
                .store
                .insert(&mut list, slot, key, value, version, status, 0),
        };
        if let Some(n) = self.nodes.get_mut(slot) {
            n.entries = list;
        }
        let Ok(idx) = result else {
            return false;
        };
        let was_live = was_live.is_some_and(|(_, live)| live);
        self.announce(slot, idx, value, status, version, was_live, observer);
        true
    }

    /// Reports the change of a remote entry `idx` (and acts on reserved keys).
    #[allow(clippy::too_many_arguments)]
    fn announce(
        &mut self,
        slot: u16,
        idx: u32,
        value: &[u8],
        status: EntryStatus,
        version: u64,
        was_live: bool,
        observer: &mut impl Observer,
    ) {
        let key = self.store.key(idx);
        if is_reserved(key) {
            let status_key = key == STATUS_KEY;
            self.apply_reserved(slot, status_key, value, status, observer);
            return;
        }
        let Some(n) = self.nodes.get(slot) else {
            return;
        };
        if status.is_live() {
            observer.on_event(&Event::KeySet {
                node: &n.id,
                key,
                value: self.store.value(idx),
                version,
            });
        } else if was_live {
            observer.on_event(&Event::KeyDeleted {
                node: &n.id,
                key,
                version,
            });
        }
    }

    /// Acts on a change of one of a node's reserved keys.
    fn apply_reserved(
        &mut self,
        slot: u16,
        status_key: bool,
        value: &[u8],
        status: EntryStatus,
        observer: &mut impl Observer,
    ) {
        let leaving = status_key && status.is_live() && value == LEAVING;
        let now = self.now;
        let Some(n) = self.nodes.get_mut(slot) else {
            return;
        };
        if leaving && n.status != NodeStatus::Left {
            n.status = NodeStatus::Left;
            n.since = now;
            n.hidden = false;
            observer.on_event(&Event::NodeLeft { node: &n.id });
        }
        self.due_check(slot);
    }

    /// A relay drops the tombstones its owner has collected.
    fn drop_collected_tombstones(&mut self, slot: u16, last_gc: u64) {
        let Some(mut list) = self.nodes.get(slot).map(|n| n.entries) else {
            return;
        };
        let mut cur = list.head;
        while let Some(s) = self.store.slot(cur).copied() {
            if s.version > last_gc {
                break;
            }
            let next = self.store.next(cur);
            if !s.status().is_live() {
                self.store.remove(&mut list, cur);
            }
            cur = next;
        }
        if let Some(n) = self.nodes.get_mut(slot) {
            n.entries = list;
        }
    }

    // -----------------------------------------------------------------------
    // Reading.

    /// This node's own state.
    pub fn local_node(&self) -> Option<NodeView<'_, M>> {
        self.view(LOCAL)
    }

    /// A view of the node in `slot`, if the slot is in use.
    fn view(&self, slot: u16) -> Option<NodeView<'_, M>> {
        let node = self.nodes.get(slot)?;
        Some(NodeView {
            engine: self,
            slot,
            node,
        })
    }

    /// The value of one of this node's own keys.
    pub fn get(&self, key: &str) -> Option<&[u8]> {
        self.local_node()?.get(key)
    }

    /// The node currently known under `name`, if any.
    pub fn node(&self, name: &str) -> Option<NodeView<'_, M>> {
        let slot = if self.id().name.as_str() == name {
            LOCAL
        } else {
            self.nodes.find_name(name)?
        };
        self.view(slot)
    }

    /// Every known node, this one included, in ring order.
    pub fn nodes(&self) -> impl Iterator<Item = NodeView<'_, M>> + '_ {
        self.nodes
            .ring()
            .iter()
            .filter_map(move |&slot| self.view(slot))
    }

    /// The remote nodes currently alive (heartbeat advancing, phi below the
    /// threshold), in ring order.
    pub fn live_nodes(&self) -> impl Iterator<Item = NodeView<'_, M>> + '_ {
        self.nodes()
            .filter(|n| !n.is_local() && n.status() == NodeStatus::Alive)
    }

    /// Number of known nodes, this one included.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Entries stored over all nodes, tombstones included.
    pub fn entry_count(&self) -> usize {
        self.store.len()
    }

    /// Arena bytes in use by keys, values and block headers.
    pub fn arena_bytes_used(&self) -> usize {
        self.store.arena_live_bytes()
    }
}

/// What became of an id offered to [`Engine::learn`].
enum Learned {
    /// Known (or now learned) in this slot.
    Slot(u16),
    /// The name is known here at a higher generation, in this slot.
    Stale(u16),
    /// Ignored: ours, conflicting, implausible, removed, or no room.
    Refused,
}

/// Rejects keys in hearsay's reserved namespace, and keys with a NUL
/// anywhere (which the C API could not tell from their shorter prefix).
fn check_user_key(key: &str) -> Result<(), WriteError> {
    if key.starts_with(RESERVED_KEY_PREFIX) {
        return Err(WriteError::ReservedKey);
    }
    if key.contains('\0') {
        return Err(WriteError::KeyContainsNul);
    }
    Ok(())
}

/// Whether a key belongs to hearsay rather than to the user.
pub(crate) fn is_reserved(key: &str) -> bool {
    key.starts_with(RESERVED_KEY_PREFIX)
}

/// Uniform in `0..n` (0 when `n` is 0), by Lemire's multiply-shift.
fn random_below(rng: &mut impl rand_core::RngCore, n: usize) -> usize {
    let n = u64::try_from(n).unwrap_or(u64::MAX);
    let wide = u128::from(rng.next_u64()).wrapping_mul(u128::from(n));
    usize::try_from(wide >> 64).unwrap_or(0)
}

/// True with probability `num / den` (always when `num >= den`).
fn chance(rng: &mut impl rand_core::RngCore, num: usize, den: usize) -> bool {
    num >= den || random_below(rng, den) < num
}

/// A read-only view of one node's state.
pub struct NodeView<'e, M: Memory> {
    engine: &'e Engine<M>,
    slot: u16,
    node: &'e NodeSlot,
}

impl<'e, M: Memory> NodeView<'e, M> {
    /// The node's id.
    pub fn id(&self) -> &'e NodeId {
        &self.node.id
    }

    /// Whether this is the local node.
    pub fn is_local(&self) -> bool {
        self.slot == LOCAL
    }

    /// Where the node stands: pending, alive, dead or left. The local node
    /// is always alive.
    pub fn status(&self) -> NodeStatus {
        self.node.status
    }

    /// Whether the node is dead or left long enough that it is no longer
    /// gossiped (half the dead grace).
    pub fn is_hidden(&self) -> bool {
        self.node.hidden
    }

    /// Since when the node has its current status, on the caller's clock.
    pub fn status_since(&self) -> Instant {
        self.node.since
    }

    /// Current phi at `now` (0 before the first heartbeat arrival here, and
    /// for the local node).
    pub fn phi(&self, now: Instant) -> f64 {
        if self.is_local() {
            return 0.0;
        }
        self.engine
            .nodes
            .detector(self.slot)
            .map_or(0.0, |d| d.phi(&self.engine.config.detector, now))
    }

    /// The node's adaptive timeout: how long after its last heartbeat phi
    /// reaches the threshold, given its history. `None` before the first
    /// heartbeat arrival.
    pub fn timeout(&self) -> Option<core::time::Duration> {
        if self.is_local() {
            return None;
        }
        self.engine
            .nodes
            .detector(self.slot)
            .and_then(|d| d.timeout(&self.engine.config.detector))
    }

    /// When the node's heartbeat last advanced here.
    pub fn last_heartbeat_at(&self) -> Option<Instant> {
        self.engine
            .nodes
            .detector(self.slot)
            .and_then(|d| d.last_heartbeat())
    }

    /// The node's heartbeat as last seen here.
    pub fn heartbeat(&self) -> u64 {
        self.node.heartbeat
    }

    /// Highest version of the node's entries held here.
    pub fn max_version(&self) -> u64 {
        self.node.max_version
    }

    /// Version up to which the node's tombstones have been collected.
    pub fn last_gc_version(&self) -> u64 {
        self.node.last_gc
    }

    /// The value of `key` if it is set.
    pub fn get(&self, key: &str) -> Option<&'e [u8]> {
        if is_reserved(key) {
            return None;
        }
        self.entry(key)
            .filter(|e| e.status.is_live())
            .map(|e| e.value)
    }

    /// The entry for `key`, tombstones included.
    pub fn entry(&self, key: &str) -> Option<EntryRef<'e>> {
        let idx = self.engine.store.find(self.slot, key)?;
        Some(entry_ref(&self.engine.store, idx))
    }

    /// Every entry of the node, in version order, tombstones and hearsay's
    /// reserved keys included.
    pub fn all_entries(&self) -> Entries<'e, M> {
        Entries {
            store: &self.engine.store,
            cur: self.node.entries.head,
        }
    }

    /// The node's keys that are set, in version order.
    pub fn entries(&self) -> impl Iterator<Item = EntryRef<'e>> + 'e {
        self.all_entries()
            .filter(|e| e.status.is_live() && !is_reserved(e.key))
    }

    /// The node's set keys starting with `prefix`, in version order.
    pub fn entries_with_prefix<'p>(
        &self,
        prefix: &'p str,
    ) -> impl Iterator<Item = EntryRef<'e>> + 'p
    where
        'e: 'p,
    {
        self.entries().filter(move |e| e.key.starts_with(prefix))
    }
}

/// One entry, borrowed from the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryRef<'e> {
    /// The key.
    pub key: &'e str,
    /// The value (empty for a tombstone).
    pub value: &'e [u8],
    /// Version of the last change, in the owner's namespace.
    pub version: u64,
    /// Set, deleted or set with a TTL.
    pub status: EntryStatus,
}

fn entry_ref<M: Memory>(store: &Store<M>, idx: u32) -> EntryRef<'_> {
    EntryRef {
        key: store.key(idx),
        value: store.value(idx),
        version: store.slot(idx).map_or(0, |s| s.version),
        status: store.slot(idx).map_or(EntryStatus::Deleted, |s| s.status()),
    }
}

/// Iterator over a node's entries in version order.
pub struct Entries<'e, M: Memory> {
    store: &'e Store<M>,
    cur: u32,
}

impl<'e, M: Memory> Iterator for Entries<'e, M> {
    type Item = EntryRef<'e>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.cur == NIL {
            return None;
        }
        let idx = self.cur;
        self.cur = self.store.next(idx);
        Some(entry_ref(self.store, idx))
    }
}

mod room;
#[cfg(test)]
mod tests;

use room::{NoRoom, reserve_fits};
