//! Room: whether a write or a received piece fits, decided before anything
//! changes.
//!
//! Three limits meet here. The *store* (entry slots and arena bytes, where
//! an entry costs a block header plus its key and value bytes). The *local
//! reserve*: remote state never takes the last `local_reserve_*` of the
//! store minus what the local node already uses, and room for the entry
//! [`Engine::leave`] writes is kept on top, so local writes within the
//! reserve and `leave` never fail because of remote state. The *per-node
//! share* (`max_node_*`): no namespace, ours or a remote one, grows beyond
//! it; ours keeps room for the leave entry inside it too, so that a leave
//! is never refused by receivers.
//!
//! The piece check is exact in the direction that matters: a piece that
//! passes it stores whole. It compares the piece's end state with the room
//! there is, which is enough because application never needs more on the
//! way: a reset removes before it inserts, and a delta applies its shrinking
//! updates first ([`Engine::shrink_ahead`]), after which every step only
//! grows. An entry it cannot account for exactly (a key repeated within one
//! piece, which no honest sender produces) counts as a fresh insert, which
//! never needs less room than what applying it really takes.

use crate::arena::{BLOCK_HEADER, arena_cost};
use crate::counters::{Counters, bump};
use crate::engine::{Engine, LEAVE_LEN, LOCAL, STATUS_KEY};
use crate::memory::Memory;
use crate::wire::Piece;

/// Why a write or a piece does not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoRoom {
    /// Not enough entry slots or arena bytes (the reserve kept back).
    Store,
    /// The node's namespace would exceed its share.
    Namespace,
}

impl NoRoom {
    /// Counts remote state refused for this reason: `refused_pieces` for a
    /// full store, `oversized_namespaces` for a node beyond its share.
    pub(crate) fn count(self, counters: &mut Counters) {
        bump(match self {
            NoRoom::Store => &mut counters.refused_pieces,
            NoRoom::Namespace => &mut counters.oversized_namespaces,
        });
    }
}

/// Entries and arena bytes kept for one purpose.
#[derive(Debug, Clone, Copy, Default)]
struct Keep {
    entries: usize,
    bytes: usize,
}

impl<M: Memory> Engine<M> {
    /// Room kept for the leave entry until it is written.
    fn leave_room(&self) -> Keep {
        if self.store.find(LOCAL, STATUS_KEY).is_some() {
            Keep::default()
        } else {
            Keep {
                entries: 1,
                bytes: LEAVE_LEN,
            }
        }
    }

    /// Entry slots and arena bytes that remote state must leave free.
    fn kept_from_remote(&self) -> Keep {
        let local = self.nodes.get(LOCAL).map(|n| n.entries);
        let (len, bytes) = local.map_or((0, 0), |l| (l.len as usize, l.bytes as usize));
        let reserve = arena_cost(
            self.config.local_reserve_entries,
            self.config.local_reserve_bytes,
        );
        let leave = self.leave_room();
        Keep {
            entries: self
                .config
                .local_reserve_entries
                .saturating_sub(len)
                .saturating_add(leave.entries),
            bytes: reserve
                .saturating_sub(arena_cost(len, bytes))
                .saturating_add(arena_cost(leave.entries, leave.bytes)),
        }
    }

    /// Whether a local write of `value` to `key` (replacing entry `existing`
    /// if any) fits the local share and the store. The leave entry itself
    /// always fits: every other write keeps room for it.
    pub(crate) fn local_write_fits(
        &self,
        key: &str,
        existing: Option<u32>,
        value_len: usize,
    ) -> Result<(), NoRoom> {
        if key == STATUS_KEY {
            return Ok(());
        }
        let new_len = key.len().saturating_add(value_len);
        let (add_entries, old_len) = self.replacing(existing);
        if add_entries == 0 && new_len <= old_len {
            // Shrinking (a delete, an expiry) always fits.
            return Ok(());
        }
        let leave = self.leave_room();
        let list = self.nodes.get(LOCAL).map(|n| n.entries);
        let (len, bytes) = list.map_or((0, 0), |l| (l.len as usize, l.bytes as usize));
        let ns_entries = len.saturating_add(add_entries);
        let ns_bytes = bytes.saturating_sub(old_len).saturating_add(new_len);
        if ns_entries.saturating_add(leave.entries) > self.config.max_node_entries
            || ns_bytes.saturating_add(leave.bytes) > self.config.max_node_bytes
        {
            return Err(NoRoom::Namespace);
        }
        let need = arena_cost(add_entries, new_len.saturating_sub(old_len))
            .saturating_add(arena_cost(leave.entries, leave.bytes));
        if add_entries.saturating_add(leave.entries) > self.store.free_slots()
            || need > self.store.arena_free_bytes()
        {
            return Err(NoRoom::Store);
        }
        Ok(())
    }

    /// Whether applying `piece` to `slot`'s copy fits: as a delta (entries
    /// above `above` replace or join what is held) or as a reset (`reset`:
    /// what the piece does not carry unchanged is removed first). Changes
    /// nothing (scratch marks are cleared before it returns).
    pub(crate) fn piece_fits(
        &mut self,
        slot: u16,
        piece: &Piece<'_>,
        above: u64,
        reset: bool,
    ) -> Result<(), NoRoom> {
        let Some(list) = self.nodes.get(slot).map(|n| n.entries) else {
            return Err(NoRoom::Store);
        };
        let header = BLOCK_HEADER;
        // Running change of the node's entries and key/value bytes, and the
        // peak of the arena change along the way.
        let mut entries = list.len as usize;
        let mut bytes = list.bytes as usize;
        let mut inserts = 0usize;
        // Slots a reset frees before it inserts.
        let mut freed = 0usize;
        let (mut arena_up, mut arena_down) = (0usize, 0usize);
        if reset {
            // Entries the piece carries at the version held stay; the rest
            // go first.
            let (mut kept_n, mut kept_b) = (0usize, 0usize);
            for e in piece.entries().map_while(Result::ok) {
                if let Some(idx) = self.store.find(slot, e.key)
                    && !self.store.marked(idx)
                    && self.store.slot(idx).is_some_and(|s| s.version == e.version)
                {
                    self.store.set_mark(idx, true);
                    kept_n = kept_n.saturating_add(1);
                    kept_b = kept_b.saturating_add(e.key.len().saturating_add(e.value.len()));
                }
            }
            freed = entries.saturating_sub(kept_n);
            arena_down = arena_cost(freed, bytes.saturating_sub(kept_b));
            entries = kept_n;
            bytes = kept_b;
            for e in piece.entries().map_while(Result::ok) {
                let len = e.key.len().saturating_add(e.value.len());
                let kept = self.store.find(slot, e.key).is_some_and(|idx| {
                    self.store.marked(idx)
                        && self.store.slot(idx).is_some_and(|s| s.version == e.version)
                });
                if !kept {
                    inserts = inserts.saturating_add(1);
                    entries = entries.saturating_add(1);
                    bytes = bytes.saturating_add(len);
                    arena_up = arena_up.saturating_add(len.saturating_add(header));
                }
            }
        } else {
            for e in piece.entries().map_while(Result::ok) {
                if e.version <= above {
                    continue;
                }
                let len = e.key.len().saturating_add(e.value.len());
                let held = self.store.find(slot, e.key).and_then(|idx| {
                    let s = self.store.slot(idx)?;
                    Some((idx, s.version, s.lens()))
                });
                match held {
                    Some((_, v, _)) if v >= e.version => continue,
                    Some((idx, _, (k, v))) if !self.store.marked(idx) => {
                        self.store.set_mark(idx, true);
                        let old = k.saturating_add(v);
                        bytes = bytes.saturating_sub(old).saturating_add(len);
                        arena_up = arena_up.saturating_add(len);
                        arena_down = arena_down.saturating_add(old);
                    }
                    // Not held, or a key this piece already changed.
                    _ => {
                        inserts = inserts.saturating_add(1);
                        entries = entries.saturating_add(1);
                        bytes = bytes.saturating_add(len);
                        arena_up = arena_up.saturating_add(len.saturating_add(header));
                    }
                }
            }
        }
        let grow = arena_up.saturating_sub(arena_down);
        if !reset {
            // Tombstones the sender's collection point covers go right after
            // the piece is applied; the share is about that end state, or
            // an owner at its share that collects would be refused.
            let (n, b) = self.collected_by(slot, piece.head.last_gc);
            entries = entries.saturating_sub(n);
            bytes = bytes.saturating_sub(b);
        }
        self.clear_marks(slot, piece);
        // Bytes get twice the share: a copy cut by the mtu may hold, next
        // to the keys it has up to date, older values of keys the owner has
        // changed since, each part within the share at its time. Entries
        // need no slack: every key held is still one of the owner's.
        if entries > self.config.max_node_entries
            || bytes > self.config.max_node_bytes.saturating_mul(2)
        {
            return Err(NoRoom::Namespace);
        }
        let keep = self.kept_from_remote();
        let slots_free = self.store.free_slots().saturating_add(freed);
        if inserts.saturating_add(keep.entries) > slots_free
            || grow.saturating_add(keep.bytes) > self.store.arena_free_bytes()
        {
            return Err(NoRoom::Store);
        }
        Ok(())
    }

    /// What writing a key whose current entry is `existing` (if any) does
    /// to its namespace besides the new bytes: the entries it adds (one for
    /// a new key) and the key and value bytes it frees.
    fn replacing(&self, existing: Option<u32>) -> (usize, usize) {
        match existing.and_then(|i| self.store.slot(i)) {
            Some(s) => {
                let (k, v) = s.lens();
                (0, k.saturating_add(v))
            }
            None => (1, 0),
        }
    }

    /// Whether a transfer of a `value_len`-byte value of `key` for `slot`
    /// fits (module `chunk`): the node's share as it will be once the value
    /// replaces the key's entry, and the store now — a slot and a block
    /// beside the key's current entry, which stays until the value is
    /// whole, with the transfer's map of units held — short of what remote
    /// state must leave free.
    pub(crate) fn transfer_fits(
        &self,
        slot: u16,
        key: &str,
        value_len: usize,
    ) -> Result<(), NoRoom> {
        let Some(list) = self.nodes.get(slot).map(|n| n.entries) else {
            return Err(NoRoom::Store);
        };
        let new_len = key.len().saturating_add(value_len);
        let (add, old_len) = self.replacing(self.store.find(slot, key));
        let entries = (list.len as usize).saturating_add(add);
        let bytes = (list.bytes as usize)
            .saturating_sub(old_len)
            .saturating_add(new_len);
        if entries > self.config.max_node_entries
            || bytes > self.config.max_node_bytes.saturating_mul(2)
        {
            return Err(NoRoom::Namespace);
        }
        // While in flight, the value's block also holds its map of units
        // held (module `chunk`).
        let assembly = u32::try_from(value_len).map_or(usize::MAX, crate::chunk::map_len);
        let keep = self.kept_from_remote();
        if keep.entries.saturating_add(1) > self.store.free_slots()
            || arena_cost(1, new_len.saturating_add(assembly)).saturating_add(keep.bytes)
                > self.store.arena_free_bytes()
        {
            return Err(NoRoom::Store);
        }
        Ok(())
    }

    /// Applies, ahead of their turn, the entries of a delta above `m` that
    /// replace a held value with one no longer than it, noting each (see
    /// [`crate::store::Store::set_early`]) so that the version-order pass
    /// moves it into place and reports it.
    pub(crate) fn shrink_ahead(&mut self, slot: u16, piece: &Piece<'_>, m: u64) {
        let Some(mut list) = self.nodes.get(slot).map(|n| n.entries) else {
            return;
        };
        for e in piece.entries().map_while(Result::ok) {
            if e.version <= m {
                continue;
            }
            let Some(idx) = self.store.find(slot, e.key) else {
                continue;
            };
            let Some(s) = self.store.slot(idx).copied() else {
                continue;
            };
            if s.version >= e.version || e.value.len() > s.lens().1 {
                continue;
            }
            let was_live = self.store.early(idx).unwrap_or(s.status().is_live());
            if self
                .store
                .update(&mut list, idx, e.value, e.version, e.status, 0)
                .is_ok()
            {
                self.store.set_early(idx, Some(was_live));
            }
        }
        if let Some(n) = self.nodes.get_mut(slot) {
            n.entries = list;
        }
    }

    /// Entries and key/value bytes of the tombstones of `slot` at or below
    /// `last_gc` that the piece being checked leaves alone (unmarked): what
    /// [`Engine::drop_collected_tombstones`] removes after it. Walks what
    /// that walk does.
    fn collected_by(&self, slot: u16, last_gc: u64) -> (usize, usize) {
        let Some(n) = self.nodes.get(slot) else {
            return (0, 0);
        };
        if last_gc <= n.last_gc {
            return (0, 0);
        }
        let (mut count, mut bytes) = (0usize, 0usize);
        let mut cur = n.entries.head;
        while let Some(s) = self.store.slot(cur) {
            if s.version > last_gc {
                break;
            }
            if !s.status().is_live() && !self.store.marked(cur) {
                let (k, v) = s.lens();
                count = count.saturating_add(1);
                bytes = bytes.saturating_add(k.saturating_add(v));
            }
            cur = self.store.next(cur);
        }
        (count, bytes)
    }

    fn clear_marks(&mut self, slot: u16, piece: &Piece<'_>) {
        for e in piece.entries().map_while(Result::ok) {
            if let Some(idx) = self.store.find(slot, e.key) {
                self.store.set_mark(idx, false);
            }
        }
    }
}

#[cfg(test)]
mod tests;
