//! Values larger than a datagram: how they travel in chunks and become
//! visible at a receiver only whole (issue 15).
//!
//! # The limit
//!
//! [`crate::Config::max_value_len`] (default 64 KiB) bounds a value. The
//! engine's own limit is that setting bounded by its state capacity
//! ([`crate::Engine::max_value_len`]: no copy of a longer value could ever
//! be stored here). The owner refuses a longer write with
//! [`crate::WriteError::ValueTooLong`]; a receiver whose limit is smaller
//! than a value it is sent refuses the piece (or chunk) that carries it,
//! whole, and counts it in [`crate::Counters::oversized_values`]: the limit
//! is meant to be the same on every node, so that count is a
//! misconfiguration to fix (hearsay-std logs it).
//!
//! # Chunks ride inside pieces (protocol version 6)
//!
//! A piece `(from, to]` still carries every entry of its range, whole. An
//! entry too long for the datagram it would go in is *chunked*: the sender
//! ends the piece just below it (`to = version − 1`, exact, since no entry
//! of the sender's copy lies between the last one sent and it) and appends
//! one chunk entry at `version = to + 1`, carrying the key, the value's
//! total length, an offset and as many of its bytes as the datagram and the
//! node's share of the budget take. The piece, the chunk, its node's
//! heartbeat and head all go through the ordinary emission of
//! [`crate::exchange`]: the same budget per Syn piece, the same equal share
//! per node from a rotating start, heartbeats first. A node publishing a
//! 64 KiB value therefore takes one node's share of each reply, as a node
//! with a long backlog of small entries does, and cannot starve the other
//! nodes' updates or anyone's heartbeat. Only the entries after the chunk
//! wait (see head-of-line below).
//!
//! An entry is identified by its node and version alone (every mutation
//! takes a new version), so a chunk names the value it belongs to without
//! naming anything else; a relay chunks a value from its own copy exactly
//! as the owner does. A relay's copy holds only complete values (partial
//! transfers are outside the copy, below), so **a relay passes on only
//! complete values**, by construction.
//!
//! # Assembly at the receiver, and atomic apply
//!
//! A receiver holding a node up to `m` takes a chunk at version `m + 1`
//! (after applying the piece in front of it): the first chunk of a version
//! opens a *transfer* — one per remote node at most, in a fixed pool of
//! [`MAX_TRANSFERS`] in the engine value (so no allocation, and a static
//! engine stays static) — after
//! checking, as for any piece, that the complete entry will fit the store,
//! the local reserve and the node's share. The transfer holds a detached
//! entry slot with an arena block of the value's full length: the bytes
//! land in their final place, are counted in the state bytes while in
//! flight, and need no second copy. The slot is in no node's list and not
//! in the hash index, so no read, iterator, event, digest or reply can see
//! it.
//!
//! Which bytes have arrived is a map of one bit per [`CHUNK_UNIT`] (32
//! bytes), kept in the same block after the value (1/256 of its length).
//! Chunks are aligned to that unit on the wire, so a chunk sets exactly
//! the bits of its bytes, in whatever order chunks arrive: the datagrams
//! of one reply take their own paths and may come in any order, and every
//! one of them counts. (A first design recorded up to four byte ranges in
//! the transfer instead; chunks out of order left more holes than that,
//! their bytes were dropped and sent again, and a 32 KiB value took 11.5
//! rounds to reach 300 simulated nodes instead of 2.7; BENCHMARKS.md,
//! issue 15.)
//!
//! When every unit is held, the transfer completes: the map is cut off
//! the value (its bytes return to the arena at the next compaction) and
//! the detached slot replaces the key's entry (or joins the list) at the
//! node's tail as an ordinary one-entry delta `(m, m + 1]`, with the same
//! events, the same push of fresh versions and the same invariants as any
//! applied piece. Before that instant nothing of the new value is visible;
//! after it, all of it is. **No reader, event or relay ever sees a torn
//! value.**
//!
//! # Resuming, fetching, superseding, dropping
//!
//! - **Resumable.** Every version-6 Syn piece and SynAck datagram lists
//!   the values in flight here (at most [`MAX_PARTIALS`], lowest ring
//!   hashes first): node, version and the first [`MAX_LISTED_RANGES`]
//!   byte ranges held. A sender skips those ranges, so a lost chunk costs
//!   that chunk, not the value.
//! - **Fetched from its source.** A transfer remembers the node that sent
//!   its last chunk; that node holds the value whole (a relay passes on
//!   only complete values). The next gossip round opens an exchange with
//!   it first (module `peers`, as for a peer whose answer was cut by the
//!   amplification bound), and its reply carries what is missing. Without
//!   this, a value longer than one reply's budget (or one that lost a
//!   datagram) waited until chance paired the receiver with a holder
//!   again, which at 1000 nodes is rare while few nodes hold the value. A
//!   source is fetched from once per chunk taken from it, so a source that
//!   no longer sends (it moved on to a newer version) is not asked again.
//! - **Superseded.** When the node's copy moves to or past the transfer's
//!   version by any other way (a piece from a source whose copy holds a
//!   newer version of the key, so that version no longer exists there; a
//!   reset), the transfer is dropped: the version it assembles is gone.
//!   A piece that would supersede it but finds the store full drops it
//!   first and is checked again: the transfer's own block may be the room
//!   it needs, and once every source has moved past the version in flight,
//!   that piece is the node's only way on.
//!   A chunk of the same version that disagrees with the transfer (key,
//!   status or length: made-up input) drops it too, and starts over.
//! - **Removed.** Forgetting a node (removal, replacement by a newer
//!   generation, a pending drop) drops its transfer.
//!
//! Every dropped transfer frees its slot and block at once, and is counted
//! (`Counters::transfers_dropped`), as are chunks taken and
//! completed transfers.
//!
//! # Head-of-line: a value in flight holds back its node's later versions
//!
//! A copy is exact up to its max version, so while version `m + 1` is in
//! flight the receiver holds the node at `m`, and that node's later
//! versions wait until it completes (its heartbeat does not: heartbeats
//! are not versions). The alternative — completion tracked per key, so a
//! copy could hold versions above a hole — gives up the one invariant
//! every piece rule, reset and relay rests on. The wait is bounded by the
//! transfer's own time (its node's share of a few exchanges), and other
//! nodes are not affected, so this crate keeps the per-node order. The
//! wait, measured (BENCHMARKS.md, issue 15): the writer's next update
//! reaches every node about when its long value does (10.9 rounds for
//! 11.5 at 100 nodes and 10 % loss) — acceptable for values written
//! rarely, and the reason the value's spreading time matters.
//!
//! # Older peers
//!
//! A peer that speaks version 5 or older cannot receive a chunk: a piece
//! to it ends below the first entry that needs one, and that peer's copy
//! of the node waits there until it upgrades (counted in
//! `Counters::values_held_back`). Values that fit one datagram
//! travel as before, to every version.
//!
//! # Where it lives
//!
//! - Sender: [`crate::exchange`]'s `plan_piece` ends a piece below an entry
//!   too long for a datagram at our mtu (`needs_chunks`), or too long for
//!   a fresh datagram of this reply (whose head lists our partials), and
//!   adds the chunk: the first units from the item's `chunk_at` that the peer's
//!   partial does not list, as many as the room and the node's share of
//!   the reply allow (at least [`MIN_CHUNK`]), cut to whole units unless
//!   it ends the value; `emit_item` goes on with the next chunk while the
//!   share lasts, and once every byte the peer lacks is on its way,
//!   continues after the value. Pushes and direct beats send no chunks; a
//!   peer older than version 6 gets none (`values_held_back`).
//! - Receiver: `take_chunk` (here) after each piece; `check_transfer`
//!   after every applied piece; `drop_transfer` when a node is dropped;
//!   [`crate::room`]'s `transfer_fits` before a transfer opens (the value
//!   and its map); `take_transfer_sources` when a round picks its peers.
//! - Lists: `own_partials` (at most [`MAX_PARTIALS`], ring order) in
//!   every Syn piece and SynAck datagram.
//! - Invariants (`Engine::check_invariants`): a transfer assembles its
//!   node's next version in a detached, unindexed entry of that node,
//!   whose value is followed by a map whose bits set are the units the
//!   transfer counts, not all of them; the slot and arena accounting count
//!   detached entries.
//!
//! A node held at a protocol version before 6
//! ([`crate::Config::protocol_version`]) still refuses a local write that
//! would not fit one datagram ([`crate::WriteError::EntryTooLarge`]): it
//! could never send it.

use crate::counters::bump;
use crate::engine::{Engine, LOCAL, RESERVED_KEY_PREFIX};
use crate::event::Observer;
use crate::memory::Memory;
use crate::replica::{Take, take};
use crate::store::NIL;
use crate::wire::{CHUNK_UNIT, ChunkView, PartialItem};

/// Values in flight at once at a receiver: a fixed pool in the engine value
/// (24 bytes each), the same whatever the node capacity. A chunk of
/// another node's value while all are taken is not kept
/// (`Counters::transfers_refused`); its node waits, as with a full store.
pub(crate) const MAX_TRANSFERS: usize = 16;
/// Partials a Syn or SynAck lists at most (the first in ring order).
pub(crate) const MAX_PARTIALS: usize = 8;
/// Byte ranges a listed partial names at most: the first ones held. A
/// value held in more pieces than that (chunks that arrived out of order)
/// gets some of its held bytes again, never a gap.
pub(crate) const MAX_LISTED_RANGES: usize = 8;
/// Fewest value bytes a chunk carries when its node's share of a reply is
/// spent, so that a large value always progresses (a multiple of
/// [`CHUNK_UNIT`]).
pub(crate) const MIN_CHUNK: usize = 256;

/// [`CHUNK_UNIT`]s of a `total`-byte value (the last one may be short).
pub(crate) fn units(total: u32) -> u32 {
    total.div_ceil(CHUNK_UNIT)
}

/// Bytes of the map of units held that follows a `total`-byte value in
/// flight: one bit per unit.
pub(crate) fn map_len(total: u32) -> usize {
    units(total).div_ceil(8) as usize
}

/// Bytes of the detached entry's value while a `total`-byte value is
/// assembled in it: the value, then the map of units held.
pub(crate) fn assembly_len(total: u32) -> usize {
    (total as usize).saturating_add(map_len(total))
}

/// One remote node's value in flight: the entry after the version its copy
/// holds, assembled in a detached entry slot (module docs). Which units
/// have arrived is a bitmap in that same entry, after the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Transfer {
    /// The detached entry (key, then the value and its map of units
    /// held), or [`NIL`] when this place of the pool is free.
    pub(crate) entry: u32,
    /// The node slot whose value it is.
    pub(crate) slot: u16,
    /// The node that sent the last chunk taken, which holds the value
    /// whole: the next round opens an exchange with it, to fetch the rest
    /// ([`LOCAL`] once that exchange is opened, or for none).
    pub(crate) source: u16,
    /// The version being assembled: the copy's max version plus one.
    pub(crate) version: u64,
    /// The value's length.
    pub(crate) total: u32,
    /// Units held (bits set in the map).
    pub(crate) units_held: u32,
}

impl Transfer {
    /// No transfer.
    pub(crate) const NONE: Transfer = Transfer {
        entry: NIL,
        slot: 0,
        source: LOCAL,
        version: 0,
        total: 0,
        units_held: 0,
    };

    /// Whether a value is in flight.
    pub(crate) fn is_active(&self) -> bool {
        self.entry != NIL
    }

    /// Whether every unit of the value is held.
    pub(crate) fn is_whole(&self) -> bool {
        self.units_held == units(self.total)
    }
}

/// Marks the units of `[start, end)` held in `map` (`start` a multiple of
/// [`CHUNK_UNIT`], `end` one or the value's end); returns how many were not
/// held before.
pub(crate) fn mark_units(map: &mut [u8], start: u32, end: u32) -> u32 {
    let mut added = 0u32;
    for unit in start / CHUNK_UNIT..end.div_ceil(CHUNK_UNIT) {
        let bit = 1u8 << (unit % 8);
        if let Some(byte) = map.get_mut((unit / 8) as usize)
            && *byte & bit == 0
        {
            *byte |= bit;
            added = added.saturating_add(1);
        }
    }
    added
}

/// The byte ranges `(start, end)` of a `total`-byte value that `map` says
/// are held, ascending: the first `out.len()` of them. Returns how many.
pub(crate) fn held_ranges(map: &[u8], total: u32, out: &mut [(u32, u32)]) -> usize {
    let is_held = |unit: u32| {
        map.get((unit / 8) as usize)
            .is_some_and(|b| b & (1u8 << (unit % 8)) != 0)
    };
    let mut n = 0usize;
    let mut unit = 0u32;
    let all = units(total);
    while unit < all {
        if !is_held(unit) {
            unit = unit.saturating_add(1);
            continue;
        }
        let first = unit;
        while unit < all && is_held(unit) {
            unit = unit.saturating_add(1);
        }
        let Some(slot) = out.get_mut(n) else {
            break;
        };
        *slot = (
            first.saturating_mul(CHUNK_UNIT),
            unit.saturating_mul(CHUNK_UNIT).min(total),
        );
        n = n.saturating_add(1);
    }
    n
}

/// The first bytes `[start, end)` of a `total`-byte value at or after
/// `from` that are not in `held` (ascending, disjoint ranges), if any.
pub(crate) fn next_gap(
    held: impl Iterator<Item = (u32, u32)>,
    from: u32,
    total: u32,
) -> Option<(u32, u32)> {
    let mut at = from;
    for (a, b) in held {
        if b <= at {
            continue;
        }
        if a > at {
            return (at < total).then_some((at, a.min(total)));
        }
        at = b;
    }
    (at < total).then_some((at, total))
}

/// One partial as this node lists it: the node's ring hash, the version in
/// flight and the first ranges held.
#[derive(Clone, Copy)]
struct OwnPartial {
    hash: u64,
    version: u64,
    ranges: [(u32, u32); MAX_LISTED_RANGES],
    len: usize,
}

impl OwnPartial {
    const NONE: OwnPartial = OwnPartial {
        hash: 0,
        version: 0,
        ranges: [(0, 0); MAX_LISTED_RANGES],
        len: 0,
    };
}

/// This node's partials, copied out of the transfer pool so that a
/// datagram can list them while the engine changes (ring order).
pub(crate) struct OwnPartials {
    list: [OwnPartial; MAX_PARTIALS],
    len: usize,
}

impl OwnPartials {
    /// None.
    pub(crate) const NONE: OwnPartials = OwnPartials {
        list: [OwnPartial::NONE; MAX_PARTIALS],
        len: 0,
    };

    /// As the wire writers take them.
    pub(crate) fn items(&self) -> [PartialItem<'_>; MAX_PARTIALS] {
        let mut items: [PartialItem<'_>; MAX_PARTIALS] = [(0, 0, &[]); MAX_PARTIALS];
        for (item, p) in items.iter_mut().zip(self.list.iter()) {
            *item = (p.hash, p.version, p.ranges.get(..p.len).unwrap_or_default());
        }
        items
    }

    /// How many there are.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

/// The items of `own` (this node's partials, if any), for [`listed`].
pub(crate) fn partial_items(own: Option<&OwnPartials>) -> Option<[PartialItem<'_>; MAX_PARTIALS]> {
    own.map(OwnPartials::items)
}

/// The partials as the wire writers take them, from `own` and its
/// [`partial_items`]: none when there are none.
pub(crate) fn listed<'a>(
    own: Option<&OwnPartials>,
    items: &'a Option<[PartialItem<'a>; MAX_PARTIALS]>,
) -> &'a [PartialItem<'a>] {
    match (own, items) {
        (Some(own), Some(items)) => items.get(..own.len()).unwrap_or_default(),
        _ => &[],
    }
}

impl<M: Memory> Engine<M> {
    /// The transfer of `slot` (inactive if none).
    pub(crate) fn transfer(&self, slot: u16) -> Transfer {
        self.transfers
            .iter()
            .find(|t| t.is_active() && t.slot == slot)
            .copied()
            .unwrap_or(Transfer::NONE)
    }

    /// Stores `slot`'s transfer in its place of the pool, or a free one
    /// (an inactive `t` frees the place); false when the pool is full.
    fn set_transfer(&mut self, slot: u16, t: Transfer) -> bool {
        let at = self
            .transfers
            .iter()
            .position(|x| x.is_active() && x.slot == slot)
            .or_else(|| self.transfers.iter().position(|x| !x.is_active()));
        match at.and_then(|i| self.transfers.get_mut(i)) {
            Some(dst) => {
                *dst = Transfer { slot, ..t };
                true
            }
            None => !t.is_active(),
        }
    }

    /// Drops `slot`'s transfer, if any, freeing its entry; counted.
    pub(crate) fn drop_transfer(&mut self, slot: u16) {
        let t = self.transfer(slot);
        if !t.is_active() {
            return;
        }
        self.store.free_detached(t.entry);
        self.set_transfer(slot, Transfer::NONE);
        self.transfers_active = self.transfers_active.saturating_sub(1);
        bump(&mut self.counters.transfers_dropped);
    }

    /// Drops `slot`'s transfer if its copy moved past the version being
    /// assembled, or below it (a reset): that version is no longer the
    /// next one, so it is superseded.
    pub(crate) fn check_transfer(&mut self, slot: u16) {
        let t = self.transfer(slot);
        if !t.is_active() {
            return;
        }
        let next = self
            .nodes
            .get(slot)
            .and_then(|n| n.max_version.checked_add(1));
        if next != Some(t.version) {
            self.drop_transfer(slot);
        }
    }

    /// This node's partials, the [`MAX_PARTIALS`] lowest in ring order,
    /// ascending as the wire wants them; `None` (nothing built or copied,
    /// as in every exchange of a cluster with no value in flight) when
    /// there are none.
    pub(crate) fn own_partials(&self) -> Option<OwnPartials> {
        if self.transfers_active == 0 {
            return None;
        }
        let mut out = OwnPartials::NONE;
        for t in self.transfers.iter().filter(|t| t.is_active()) {
            let Some(hash) = self.nodes.get(t.slot).map(|n| n.hash) else {
                continue;
            };
            // Insertion into the sorted list, dropping the highest past
            // the cap.
            let at = out
                .list
                .get(..out.len)
                .unwrap_or_default()
                .iter()
                .position(|p| p.hash > hash)
                .unwrap_or(out.len);
            if at >= MAX_PARTIALS {
                continue;
            }
            let end = out.len.min(MAX_PARTIALS - 1);
            if let Some(tail) = out.list.get_mut(at..=end) {
                tail.rotate_right(1);
            }
            if let Some(dst) = out.list.get_mut(at) {
                let mut p = OwnPartial {
                    hash,
                    version: t.version,
                    ..OwnPartial::NONE
                };
                p.len = held_ranges(self.units_map(t), t.total, &mut p.ranges);
                *dst = p;
            }
            out.len = out.len.saturating_add(1).min(MAX_PARTIALS);
        }
        Some(out)
    }

    /// The map of units held of transfer `t`, after its value.
    pub(crate) fn units_map(&self, t: &Transfer) -> &[u8] {
        self.store
            .value(t.entry)
            .get(t.total as usize..)
            .unwrap_or_default()
    }

    /// Forgets `slot` as the source of any transfer (the node is dropped).
    pub(crate) fn forget_transfer_source(&mut self, slot: u16) {
        for t in self.transfers.iter_mut().filter(|t| t.source == slot) {
            t.source = LOCAL;
        }
    }

    /// The nodes that sent the chunks of values still in part here, at
    /// most `out.len()` of them, each once: a round opens exchanges with
    /// them first, so that a transfer a reply's budget or a lost datagram
    /// left unfinished completes from a node that holds the value whole,
    /// a round later, rather than when chance next pairs them. Each source
    /// is handed out once per chunk taken from it. Returns how many.
    pub(crate) fn take_transfer_sources(&mut self, out: &mut [u16]) -> usize {
        let mut n = 0usize;
        if self.transfers_active == 0 {
            return n;
        }
        let nodes = &self.nodes;
        for t in self.transfers.iter_mut() {
            let alive = || {
                nodes
                    .get(t.source)
                    .is_some_and(|s| s.status == crate::nodes::NodeStatus::Alive)
            };
            if !t.is_active() || t.source == LOCAL || !alive() {
                continue;
            }
            if !out.get(..n).unwrap_or_default().contains(&t.source) {
                let Some(dst) = out.get_mut(n) else {
                    break;
                };
                *dst = t.source;
                n = n.saturating_add(1);
            }
            t.source = LOCAL;
        }
        n
    }

    /// Takes one chunk of `slot`'s value at its copy's max version plus one,
    /// sent by the node in slot `source` ([`LOCAL`] if unknown) from a copy
    /// at collection point `gc`: opens the transfer, adds the bytes, and
    /// applies the value once whole.
    pub(crate) fn take_chunk(
        &mut self,
        slot: u16,
        source: u16,
        chunk: &ChunkView<'_>,
        gc: u64,
        observer: &mut impl Observer,
    ) {
        let Some(n) = self.nodes.get(slot) else {
            return;
        };
        let (m, r) = (n.max_version, n.last_gc);
        // The value it completes is a one-entry delta (m, m + 1], taken
        // under the piece rule like any other.
        if m.checked_add(1) != Some(chunk.version)
            || take(m, r, m, chunk.version, gc) != Take::Delta
            || chunk.key.starts_with(RESERVED_KEY_PREFIX)
        {
            return;
        }
        if chunk.total as usize > self.max_value_len() {
            bump(&mut self.counters.oversized_values);
            return;
        }
        let mut t = self.transfer(slot);
        if t.is_active() {
            let same = t.version == chunk.version
                && t.total == chunk.total
                && self.store.key(t.entry) == chunk.key
                && self
                    .store
                    .slot(t.entry)
                    .is_some_and(|s| s.status() == chunk.status);
            if !same {
                // Two chunks of one version that disagree: made up.
                self.drop_transfer(slot);
                t = Transfer::NONE;
            }
        }
        if !t.is_active() {
            if let Err(no_room) = self.transfer_fits(slot, chunk.key, chunk.total as usize) {
                no_room.count(&mut self.counters);
                return;
            }
            if usize::from(self.transfers_active) >= MAX_TRANSFERS {
                bump(&mut self.counters.transfers_refused);
                return;
            }
            let Ok(entry) = self.store.insert_detached(
                slot,
                chunk.key,
                assembly_len(chunk.total),
                chunk.version,
                chunk.status,
            ) else {
                bump(&mut self.counters.refused_pieces);
                return;
            };
            t = Transfer {
                entry,
                slot,
                version: chunk.version,
                total: chunk.total,
                ..Transfer::NONE
            };
            self.transfers_active = self.transfers_active.saturating_add(1);
        }
        // Aligned (checked when decoded), so the bits it sets are exactly
        // its bytes, in whatever order chunks come.
        let start = chunk.offset;
        let end = start.saturating_add(chunk.bytes.len() as u32);
        let (value, map) = self
            .store
            .value_mut(t.entry)
            .split_at_mut_checked(t.total as usize)
            .unwrap_or_default();
        if let Some(dst) = value.get_mut(start as usize..end as usize) {
            dst.copy_from_slice(chunk.bytes);
            t.units_held = t.units_held.saturating_add(mark_units(map, start, end));
        }
        bump(&mut self.counters.chunks_in);
        if source != LOCAL {
            t.source = source;
        }
        self.set_transfer(slot, t);
        if t.is_whole() {
            self.complete_transfer(slot, gc, observer);
        }
    }

    /// Applies `slot`'s whole value: its detached entry replaces the key's
    /// entry at the tail, as a one-entry delta from a copy at collection
    /// point `gc`.
    fn complete_transfer(&mut self, slot: u16, gc: u64, observer: &mut impl Observer) {
        let t = self.transfer(slot);
        let Some(n) = self.nodes.get(slot) else {
            return;
        };
        let (m, r, mut list) = (n.max_version, n.last_gc, n.entries);
        let Some(s) = self.store.slot(t.entry).copied() else {
            return;
        };
        let key = self.store.key(t.entry);
        let existing = self.store.find(slot, key);
        let was_live = existing
            .and_then(|i| self.store.slot(i))
            .is_some_and(|s| s.status().is_live());
        if let Some(old) = existing {
            self.store.remove(&mut list, old);
        }
        // The map of units held goes; the block's bytes return at the next
        // compaction.
        self.store.truncate_value(t.entry, t.total as usize);
        self.store.attach(&mut list, t.entry);
        self.set_transfer(slot, Transfer::NONE);
        self.transfers_active = self.transfers_active.saturating_sub(1);
        let now = self.now;
        if let Some(n) = self.nodes.get_mut(slot) {
            n.entries = list;
            n.max_version = t.version;
            n.last_gc = r.max(gc);
            n.changed_at = now.as_millis() as u32;
        }
        if gc > r {
            self.drop_collected_tombstones(slot, gc);
        }
        bump(&mut self.counters.transfers_completed);
        bump(&mut self.counters.pieces_applied);
        self.announce(
            slot,
            t.entry,
            &[],
            s.status(),
            t.version,
            was_live,
            observer,
        );
        self.note_fresh(slot, m);
    }
}

#[cfg(test)]
mod tests;
