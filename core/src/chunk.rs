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
//! it. The transfer records which byte ranges have arrived (a few ranges;
//! an overlapping or adjacent chunk merges into them).
//!
//! When the ranges cover the whole value, the transfer completes: the
//! detached slot replaces the key's entry (or joins the list) at the
//! node's tail as an ordinary one-entry delta `(m, m + 1]`, with the same
//! events, the same push of fresh versions and the same invariants as any
//! applied piece. Before that instant nothing of the new value is visible;
//! after it, all of it is. **No reader, event or relay ever sees a torn
//! value.**
//!
//! # Resuming, superseding, dropping
//!
//! - **Resumable.** Every version-6 Syn piece and SynAck datagram lists
//!   the values in flight here (at most [`MAX_PARTIALS`], lowest ring
//!   hashes first): node, version and the byte ranges already held. A
//!   sender skips those ranges, so a lost chunk costs that chunk, not the
//!   value.
//! - **Superseded.** When the node's copy moves to or past the transfer's
//!   version by any other way (a piece from a source whose copy holds a
//!   newer version of the key, so that version no longer exists there; a
//!   reset), the transfer is dropped: the version it assembles is gone.
//!   A chunk of the same version that disagrees with the transfer (key or
//!   length: made-up input) drops it too, and starts over.
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
//!   too long for a datagram at our mtu (`needs_chunks`) and adds the
//!   chunk: the first bytes from the item's `chunk_at` that the peer's
//!   partial does not list, as many as the room and the node's share of
//!   the reply allow (at least [`MIN_CHUNK`]); `emit_item` goes on with
//!   the next chunk while the share lasts, and once every byte the peer
//!   lacks is on its way, continues after the value. Pushes and direct
//!   beats send no chunks; a peer older than version 6 gets none
//!   (`values_held_back`).
//! - Receiver: `take_chunk` (here) after each piece; `check_transfer`
//!   after every applied piece; `drop_transfer` when a node is dropped;
//!   [`crate::room`]'s `transfer_fits` before a transfer opens.
//! - Lists: `own_partials` (at most [`MAX_PARTIALS`], ring order) in
//!   every Syn piece and SynAck datagram.
//! - Invariants (`Engine::check_invariants`): a transfer assembles its
//!   node's next version in a detached, unindexed entry of that node, with
//!   ascending disjoint ranges inside it; the slot and arena accounting
//!   count detached entries.
//!
//! A node held at a protocol version before 6
//! ([`crate::Config::protocol_version`]) still refuses a local write that
//! would not fit one datagram ([`crate::WriteError::EntryTooLarge`]): it
//! could never send it.

use crate::counters::bump;
use crate::engine::{Engine, RESERVED_KEY_PREFIX};
use crate::event::Observer;
use crate::memory::Memory;
use crate::replica::{Take, take};
use crate::store::NIL;
use crate::wire::{ChunkView, PartialItem};

/// Byte ranges a transfer records at most. A chunk that would need one
/// more (a fifth hole) is not recorded, and its bytes come again.
pub(crate) const MAX_HELD: usize = 4;
/// Values in flight at once at a receiver: a fixed pool in the engine value
/// (48 bytes each), the same whatever the node capacity. A chunk of
/// another node's value while all are taken is not kept
/// (`Counters::transfers_refused`); its node waits, as with a full store.
pub(crate) const MAX_TRANSFERS: usize = 16;
/// Partials a Syn or SynAck lists at most (the first in ring order).
pub(crate) const MAX_PARTIALS: usize = 8;
/// Fewest value bytes a chunk carries when its node's share of a reply is
/// spent, so that a large value always progresses.
pub(crate) const MIN_CHUNK: usize = 256;

/// One remote node's value in flight: the entry after the version its copy
/// holds, assembled in a detached entry slot (module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Transfer {
    /// The detached entry (key, value of its full length, version,
    /// status), or [`NIL`] when this place of the pool is free.
    pub(crate) entry: u32,
    /// The node slot whose value it is.
    pub(crate) slot: u16,
    /// The version being assembled: the copy's max version plus one.
    pub(crate) version: u64,
    /// Byte ranges `(start, end)` held, ascending, disjoint, not adjacent.
    held: [(u32, u32); MAX_HELD],
    ranges: u8,
}

impl Transfer {
    /// No transfer.
    pub(crate) const NONE: Transfer = Transfer {
        entry: NIL,
        slot: 0,
        version: 0,
        held: [(0, 0); MAX_HELD],
        ranges: 0,
    };

    /// Whether a value is in flight.
    pub(crate) fn is_active(&self) -> bool {
        self.entry != NIL
    }

    /// The ranges held.
    pub(crate) fn held(&self) -> &[(u32, u32)] {
        self.held
            .get(..usize::from(self.ranges))
            .unwrap_or_default()
    }

    /// Records that `[start, end)` arrived, merging it with what is held;
    /// false (nothing recorded) when that would need more than
    /// [`MAX_HELD`] ranges.
    pub(crate) fn record(&mut self, start: u32, end: u32) -> bool {
        let mut out = [(0u32, 0u32); MAX_HELD + 1];
        let mut n = 0usize;
        let (mut s, mut e) = (start, end);
        let mut placed = false;
        let mut push = |r: (u32, u32), n: &mut usize| {
            if let Some(slot) = out.get_mut(*n) {
                *slot = r;
            }
            *n = n.saturating_add(1);
        };
        for &(a, b) in self.held() {
            if b < s {
                push((a, b), &mut n);
            } else if e < a {
                if !placed {
                    push((s, e), &mut n);
                    placed = true;
                }
                push((a, b), &mut n);
            } else {
                // Overlapping or adjacent: one range.
                s = s.min(a);
                e = e.max(b);
            }
        }
        if !placed {
            push((s, e), &mut n);
        }
        if n > MAX_HELD {
            return false;
        }
        for (dst, src) in self.held.iter_mut().zip(out.iter()) {
            *dst = *src;
        }
        self.ranges = n as u8;
        true
    }

    /// Whether every byte of a `total`-byte value is held.
    pub(crate) fn covers(&self, total: u32) -> bool {
        self.held() == [(0, total)]
    }
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

/// This node's partials, copied out of the transfer pool so that a
/// datagram can list them while the engine changes (ring order).
pub(crate) struct OwnPartials {
    list: [(u64, Transfer); MAX_PARTIALS],
    len: usize,
}

impl OwnPartials {
    /// None.
    pub(crate) const NONE: OwnPartials = OwnPartials {
        list: [(0, Transfer::NONE); MAX_PARTIALS],
        len: 0,
    };

    /// As the wire writers take them.
    pub(crate) fn items(&self) -> [PartialItem<'_>; MAX_PARTIALS] {
        let mut items: [PartialItem<'_>; MAX_PARTIALS] = [(0, 0, &[]); MAX_PARTIALS];
        for (item, (hash, t)) in items.iter_mut().zip(self.list.iter()) {
            *item = (*hash, t.version, t.held());
        }
        items
    }

    /// How many there are.
    pub(crate) fn len(&self) -> usize {
        self.len
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
    /// ascending as the wire wants them.
    pub(crate) fn own_partials(&self) -> OwnPartials {
        let mut out = OwnPartials::NONE;
        if self.transfers_active == 0 {
            return out;
        }
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
                .position(|(h, _)| *h > hash)
                .unwrap_or(out.len);
            if at >= MAX_PARTIALS {
                continue;
            }
            let end = out.len.min(MAX_PARTIALS - 1);
            if let Some(tail) = out.list.get_mut(at..=end) {
                tail.rotate_right(1);
            }
            if let Some(dst) = out.list.get_mut(at) {
                *dst = (hash, *t);
            }
            out.len = out.len.saturating_add(1).min(MAX_PARTIALS);
        }
        out
    }

    /// Takes one chunk of `slot`'s value at its copy's max version plus one,
    /// sent from a copy at collection point `gc`: opens the transfer, adds
    /// the bytes, and applies the value once whole.
    pub(crate) fn take_chunk(
        &mut self,
        slot: u16,
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
                && self.store.key(t.entry) == chunk.key
                && self.store.slot(t.entry).is_some_and(|s| {
                    s.status() == chunk.status && s.lens().1 == chunk.total as usize
                });
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
                chunk.total as usize,
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
                ..Transfer::NONE
            };
            self.transfers_active = self.transfers_active.saturating_add(1);
        }
        let start = chunk.offset;
        let end = start.saturating_add(chunk.bytes.len() as u32);
        if t.record(start, end)
            && let Some(dst) = self
                .store
                .value_mut(t.entry)
                .get_mut(start as usize..end as usize)
        {
            dst.copy_from_slice(chunk.bytes);
        }
        bump(&mut self.counters.chunks_in);
        self.set_transfer(slot, t);
        if t.covers(chunk.total) {
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
