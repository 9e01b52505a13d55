//! The node table: every known node's metadata, its failure detector, the
//! ring that orders nodes, and the memory of removed nodes.
//!
//! Slots are fixed (as many as the capacity's nodes); slot 0 is always the local node. The ring is
//! the list of occupied slots sorted by [`NodeId::ring_hash`], which is the
//! order digests are written in and the order the responder walks in step
//! with a received digest, so matching a digest costs its length, not N.
//! Detectors live in an array parallel to the slots, and their windows in
//! one more, so that neither widens the slots the hot paths walk.

use crate::fixed::{FixedDeque, FixedVec};
use crate::id::{NodeId, name_hash};
use crate::memory::Memory;
use crate::phi::{Detector, DetectorConfig};
use crate::store::EntryList;
use crate::time::Instant;

/// A live peer whose heartbeat has not moved here for `1 / QUIET_FRACTION`
/// of its detector timeout stops taking fanout slots. Measured at 100
/// nodes, 50/50 partition, same-side convictions over seed offsets (release):
/// a half 3 of 40; a third 0 of 40 with rounds at a fixed period but 1 of 80
/// with the ±10 % jitter of the deadline API (a node that happened to pick
/// only far peers in the first rounds after the split was set aside by its
/// own side); a quarter 0 of 80 with the jitter. A quarter sets aside about
/// 12 % of healthy peers at any time (a third: 4.5 %), costing about 3 % more
/// bytes in probes at 300 nodes, with propagation and detection unchanged.
pub(crate) const QUIET_FRACTION: u32 = 4;

/// Where a node stands in its lifecycle, as seen by this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum NodeStatus {
    /// Known, but its heartbeat has not been seen to advance here yet: not
    /// counted as live, never reported dead.
    Pending,
    /// Its heartbeat advances; phi is below the threshold.
    Alive,
    /// Phi reached the threshold; alive again if its heartbeat advances.
    Dead,
    /// It announced it was leaving; never reported dead.
    Left,
}

/// A removed node, remembered so stale gossip cannot bring it back.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Removed {
    hash: u64,
    heartbeat: u64,
}

impl Removed {
    pub(crate) const EMPTY: Removed = Removed {
        hash: 0,
        heartbeat: 0,
    };
}

/// Everything the engine knows about one node besides its entries.
#[derive(Clone)]
pub(crate) struct NodeSlot {
    pub id: NodeId,
    pub hash: u64,
    pub name_hash: u64,
    pub heartbeat: u64,
    pub max_version: u64,
    pub last_gc: u64,
    pub entries: EntryList,
    pub status: NodeStatus,
    /// When `status` last changed.
    pub since: Instant,
    /// Dead or left for half the grace: no longer gossiped.
    pub hidden: bool,
    /// When phi will reach the threshold if no heartbeat comes: the last
    /// heartbeat's arrival plus the detector's timeout, kept up to date at
    /// each arrival so that liveness checks are comparisons.
    pub deadline: Instant,
    /// How long before `deadline` the peer's silence starts to look like
    /// unreachability (`1 - 1 / QUIET_FRACTION` of its timeout), in
    /// milliseconds. Kept beside `deadline` so that peer
    /// selection reads no detector; a `u32` so the slot does not grow.
    pub quiet_lead_ms: u32,
    /// Exchanges this node opened with the peer since it last heard from
    /// it (any valid datagram with its id): peer selection sets aside live
    /// peers that stopped answering, see `Engine::gossip`.
    pub unanswered: u8,
    /// Sealed sequences seen from this node ([`crate::seal`]).
    pub replay: crate::seal::ReplayWindow,
    /// Highest protocol version seen in the node's own datagrams here (0:
    /// none yet): we speak `min(ours, this)` to it ([`crate::token`]).
    pub version: u8,
    /// The address token the node last gave us (zeros: none), echoed in
    /// our next Syn to it so that it answers with its full budget.
    pub token: [u8; 8],
    /// Our own token for the node's address, and the low 32 bits of the
    /// time bucket it was minted in (zeros: none yet): answering a known
    /// peer then costs no SipHash ([`crate::token`]).
    pub minted: (u32, [u8; 8]),
    /// Exchange with this node first in the next round: its answer to our
    /// first Syn was cut by its amplification bound ([`crate::token`]).
    pub recontact: bool,
    /// The low 16 bits of the heartbeat our last compact Syn carried for
    /// this node: a SynAck's deltas count from it ([`crate::compact`]).
    pub syn_beat: u16,
    /// When its max version or collection point last changed here (or it
    /// was learned): our compact Syns list recent changes explicitly. The
    /// low 32 bits of the time in milliseconds, compared with wrapping
    /// arithmetic (a change 49.7 days old may pass for a recent one, which
    /// costs an explicit line, nothing more).
    pub changed_at: u32,
    /// A change of this node's versions waits to be pushed to peers
    /// ([`crate::push`]): the versions `(max_version − push_lag,
    /// max_version]`; 0 when none waits. A `u32` so the slot does not grow.
    pub push_lag: u32,
    /// The observer has been told of this incarnation (`NodeJoined` at its
    /// first heartbeat advance here, or `NodeReplaced` when it superseded
    /// an announced one) and not yet of its end: only then do its status
    /// changes and keys make events (the event contract, [`crate::event`]).
    /// A `bool` in the slot's padding: the slot does not grow.
    pub announced: bool,
}

impl NodeSlot {
    /// Sets when the node will be convicted (`deadline`) and when it starts
    /// to look unreachable (`quiet_at`), from a heartbeat (or the end of a
    /// local stall) at `at` and the detector's `timeout` (`None`: never).
    pub(crate) fn set_deadlines(&mut self, at: Instant, timeout: Option<core::time::Duration>) {
        let Some(timeout) = timeout else {
            self.deadline = Instant(u64::MAX);
            self.quiet_lead_ms = 0;
            return;
        };
        self.deadline = at.saturating_add(timeout);
        let quiet_after = timeout.checked_div(QUIET_FRACTION).unwrap_or(timeout);
        let lead = timeout.saturating_sub(quiet_after).as_millis();
        self.quiet_lead_ms = u32::try_from(lead).unwrap_or(u32::MAX);
    }

    /// Whether, at `now`, the peer has been silent long enough to look
    /// unreachable (see `quiet_lead_ms`).
    #[inline]
    pub(crate) fn is_quiet(&self, now: Instant) -> bool {
        let quiet_at = Instant(
            self.deadline
                .as_millis()
                .saturating_sub(u64::from(self.quiet_lead_ms)),
        );
        self.deadline != Instant(u64::MAX) && now >= quiet_at
    }

    /// Whether we introduce this node to peers that do not know it: only
    /// if we see it alive. Passing on an id we only heard of (pending)
    /// would let one made-up id spread through the cluster; and a peer
    /// would hold a dead or departed node as pending, only to drop it
    /// after `pending_timeout` and be introduced to it again.
    #[inline]
    pub(crate) fn vouched_for(&self) -> bool {
        !self.hidden && self.status == NodeStatus::Alive
    }

    /// The protocol version to write to this node in, given ours: ours
    /// until it has spoken, then the older of the two.
    #[inline]
    pub(crate) fn version_to_speak(&self, own: u8) -> u8 {
        if self.version == 0 {
            own
        } else {
            own.min(self.version)
        }
    }

    /// A node just learned: `id`, pending since `now`, with no state yet.
    fn new(id: NodeId, now: Instant) -> Self {
        NodeSlot {
            hash: id.ring_hash(),
            name_hash: name_hash(id.name.as_str()),
            id,
            heartbeat: 0,
            max_version: 0,
            last_gc: 0,
            entries: EntryList::EMPTY,
            status: NodeStatus::Pending,
            since: now,
            hidden: false,
            deadline: Instant(u64::MAX),
            quiet_lead_ms: 0,
            unanswered: 0,
            replay: crate::seal::ReplayWindow::EMPTY,
            version: 0,
            token: [0; 8],
            minted: (0, [0; 8]),
            recontact: false,
            syn_beat: 0,
            changed_at: now.as_millis() as u32,
            push_lag: 0,
            announced: false,
        }
    }
}

/// Fixed-capacity table of nodes plus their ring order.
pub(crate) struct NodeTable<M: Memory> {
    /// `None` for a free slot.
    slots: M::Buf<Option<NodeSlot>>,
    detectors: M::Buf<Detector>,
    /// Every detector's window, `window` bytes each, in slot order.
    windows: M::Buf<u8>,
    window: usize,
    ring: FixedVec<M, u16>,
    /// The last removed nodes (as many as there are slots), oldest first.
    removed: FixedDeque<M, Removed>,
    /// Changes whenever a node is added or removed, so callers holding slot
    /// numbers or ring positions can tell they are stale.
    epoch: u32,
}

#[cfg(any(test, all(feature = "fuzzing", feature = "alloc")))]
impl Clone for NodeTable<crate::memory::Heap> {
    fn clone(&self) -> Self {
        NodeTable {
            slots: self.slots.clone(),
            detectors: self.detectors.clone(),
            windows: self.windows.clone(),
            window: self.window,
            ring: self.ring.clone(),
            removed: self.removed.clone(),
            epoch: self.epoch,
        }
    }
}

impl<M: Memory> NodeTable<M> {
    /// An empty table in the given buffers (`windows` holds `window` bytes
    /// per slot).
    pub(crate) fn new(
        mut slots: M::Buf<Option<NodeSlot>>,
        mut detectors: M::Buf<Detector>,
        windows: M::Buf<u8>,
        window: usize,
        ring: M::Buf<u16>,
        removed: M::Buf<Removed>,
    ) -> Self {
        slots.as_mut().fill(None);
        detectors.as_mut().fill(Detector::new());
        NodeTable {
            slots,
            detectors,
            windows,
            window,
            ring: FixedVec::new(ring),
            removed: FixedDeque::new(removed),
            epoch: 0,
        }
    }

    /// The buffers back: slots, detectors, windows, ring, removed.
    #[allow(clippy::type_complexity)]
    pub(crate) fn into_bufs(
        self,
    ) -> (
        M::Buf<Option<NodeSlot>>,
        M::Buf<Detector>,
        M::Buf<u8>,
        M::Buf<u16>,
        M::Buf<Removed>,
    ) {
        (
            self.slots,
            self.detectors,
            self.windows,
            self.ring.into_buf(),
            self.removed.into_buf(),
        )
    }

    /// See the `epoch` field.
    pub(crate) fn epoch(&self) -> u32 {
        self.epoch
    }

    pub(crate) fn detector(&self, slot: u16) -> Option<&Detector> {
        self.detectors.as_ref().get(usize::from(slot))
    }

    pub(crate) fn detector_mut(&mut self, slot: u16) -> Option<&mut Detector> {
        self.detectors.as_mut().get_mut(usize::from(slot))
    }

    /// Records a heartbeat from the node in `slot` at `now` in its
    /// detector, window included; `beats` is how many beats it advanced,
    /// and of what period ([`Detector::heartbeat_beats`]).
    pub(crate) fn record_heartbeat(
        &mut self,
        slot: u16,
        config: &DetectorConfig,
        now: Instant,
        beats: Option<(u64, u64)>,
    ) -> Option<&Detector> {
        let i = usize::from(slot);
        let start = i.checked_mul(self.window)?;
        let window = self
            .windows
            .as_mut()
            .get_mut(start..start.checked_add(self.window)?)?;
        let d = self.detectors.as_mut().get_mut(i)?;
        d.heartbeat_beats(config, now, beats, window);
        Some(d)
    }

    /// Remembers a removed node's hash and last heartbeat.
    pub(crate) fn remember_removed(&mut self, hash: u64, heartbeat: u64) {
        if let Some(r) = self.removed.iter_mut().find(|r| r.hash == hash) {
            r.heartbeat = r.heartbeat.max(heartbeat);
            return;
        }
        self.removed.push_back_evicting(Removed { hash, heartbeat });
    }

    /// The last heartbeat of a removed node with this ring hash.
    pub(crate) fn removed_heartbeat(&self, hash: u64) -> Option<u64> {
        self.removed
            .iter()
            .find(|r| r.hash == hash)
            .map(|r| r.heartbeat)
    }

    /// The last heartbeat of a removed node that a digest line may stand
    /// for: the one with hash `full` when the line carries it, else any
    /// removed node whose hash starts with `prefix` (the highest heartbeat
    /// among them, so a line is only asked for when it shows life past
    /// every removed node it could be).
    pub(crate) fn removed_heartbeat_for_line(&self, prefix: u32, full: Option<u64>) -> Option<u64> {
        self.removed
            .iter()
            .filter(|r| match full {
                Some(h) => r.hash == h,
                None => (r.hash >> 32) as u32 == prefix,
            })
            .map(|r| r.heartbeat)
            .max()
    }

    /// Forgets a removed node (it came back with a newer heartbeat).
    pub(crate) fn unremember(&mut self, hash: u64) {
        let len = self.removed.len();
        for _ in 0..len {
            if let Some(r) = self.removed.pop_front()
                && r.hash != hash
            {
                self.removed.push_back_evicting(r);
            }
        }
    }

    #[inline]
    pub(crate) fn get(&self, slot: u16) -> Option<&NodeSlot> {
        self.slots.as_ref().get(usize::from(slot))?.as_ref()
    }

    pub(crate) fn get_mut(&mut self, slot: u16) -> Option<&mut NodeSlot> {
        self.slots.as_mut().get_mut(usize::from(slot))?.as_mut()
    }

    /// Number of known nodes, the local one included.
    pub(crate) fn len(&self) -> usize {
        self.ring.len()
    }

    /// Slots in ring order.
    pub(crate) fn ring(&self) -> &[u16] {
        &self.ring
    }

    /// Ring position of the first node whose hash is at least `hash`.
    pub(crate) fn ring_position(&self, hash: u64) -> usize {
        let slots = self.slots.as_ref();
        self.ring.partition_point(|&s| {
            slots
                .get(usize::from(s))
                .and_then(Option::as_ref)
                .is_some_and(|n| n.hash < hash)
        })
    }

    /// Hash of the node at ring position `pos`.
    #[inline]
    pub(crate) fn hash_at(&self, pos: usize) -> Option<u64> {
        let slot = *self.ring.get(pos)?;
        self.get(slot).map(|n| n.hash)
    }

    /// The slot and node at ring position `pos`.
    #[inline]
    pub(crate) fn at(&self, pos: usize) -> Option<(u16, &NodeSlot)> {
        let slot = *self.ring.get(pos)?;
        self.get(slot).map(|n| (slot, n))
    }

    /// The slot of the only node whose ring hash starts with `prefix`.
    pub(crate) fn unique_prefix(&self, prefix: u32) -> Option<u16> {
        let pos = self.ring_position(u64::from(prefix) << 32);
        let (slot, n) = self.at(pos)?;
        let same = |h: u64| (h >> 32) as u32 == prefix;
        if !same(n.hash) || self.hash_at(pos.saturating_add(1)).is_some_and(same) {
            return None;
        }
        Some(slot)
    }

    /// The slot of the node with this ring hash.
    pub(crate) fn find_hash(&self, hash: u64) -> Option<u16> {
        let pos = self.ring_position(hash);
        let slot = *self.ring.get(pos)?;
        (self.get(slot)?.hash == hash).then_some(slot)
    }

    /// The slot holding any generation of `name`.
    pub(crate) fn find_name(&self, name: &str) -> Option<u16> {
        let h = name_hash(name);
        self.ring.iter().copied().find(|&s| {
            self.get(s)
                .is_some_and(|n| n.name_hash == h && n.id.name.as_str() == name)
        })
    }

    /// Puts `id` into slot `slot` (which must be free) with empty state,
    /// pending since `now`.
    pub(crate) fn insert_at(&mut self, slot: u16, id: NodeId, now: Instant) -> Option<u16> {
        let node = NodeSlot::new(id, now);
        let pos = self.ring_position(node.hash);
        let s = self.slots.as_mut().get_mut(usize::from(slot))?;
        if s.is_some() {
            return None;
        }
        *s = Some(node);
        if let Some(d) = self.detectors.as_mut().get_mut(usize::from(slot)) {
            d.clear();
        }
        if self.ring.insert(pos, slot).is_err() {
            if let Some(s) = self.slots.as_mut().get_mut(usize::from(slot)) {
                *s = None;
            }
            return None;
        }
        self.epoch = self.epoch.wrapping_add(1);
        Some(slot)
    }

    /// Puts `id` into the first free slot; `None` when the table is full.
    pub(crate) fn insert(&mut self, id: NodeId, now: Instant) -> Option<u16> {
        let free = self.slots.as_ref().iter().position(Option::is_none)?;
        self.insert_at(u16::try_from(free).ok()?, id, now)
    }

    /// Gives the node in `slot` a new id (a new generation of the local
    /// node), moving it to its new place on the ring; its entries and
    /// detector stay. `false` when the slot is free.
    pub(crate) fn reidentify(&mut self, slot: u16, id: NodeId) -> bool {
        let Some(old_hash) = self.get(slot).map(|n| n.hash) else {
            return false;
        };
        let old_pos = self.ring_position(old_hash);
        if self.ring.get(old_pos) == Some(&slot) {
            self.ring.remove(old_pos);
        }
        let hash = id.ring_hash();
        let pos = self.ring_position(hash);
        if let Some(s) = self.get_mut(slot) {
            s.hash = hash;
            s.name_hash = name_hash(id.name.as_str());
            s.id = id;
        }
        // The slot left the ring just above, so there is room again.
        let _ = self.ring.insert(pos, slot);
        self.epoch = self.epoch.wrapping_add(1);
        true
    }

    /// Notes a change of which nodes digests list (a node hidden or shown
    /// again): the epoch moves, as when a node comes or goes.
    pub(crate) fn listing_changed(&mut self) {
        self.epoch = self.epoch.wrapping_add(1);
    }

    /// Frees a slot. Its entries must already be removed from the store.
    pub(crate) fn remove(&mut self, slot: u16) {
        let Some(hash) = self.get(slot).map(|n| n.hash) else {
            return;
        };
        let pos = self.ring_position(hash);
        if self.ring.get(pos) == Some(&slot) {
            self.ring.remove(pos);
        }
        if let Some(s) = self.slots.as_mut().get_mut(usize::from(slot)) {
            *s = None;
        }
        self.epoch = self.epoch.wrapping_add(1);
    }
}
