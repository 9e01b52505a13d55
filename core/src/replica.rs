//! The replica: this node's copy of every node's namespace, and the rules
//! that keep copies exact.
//!
//! The piece rule has two halves, kept side by side here: what a sender
//! holding a node up to `(max, gc)` may send a receiver holding it up to
//! `(their_max, their_gc)` ([`send_from`]: a delta from `their_max`, a reset
//! from 0, or nothing), and how a receiver applies what arrives
//! (`apply_piece`: a delta extends a copy only if it starts at or below
//! what the copy holds; a reset rebuilds the copy and removes every key it
//! does not carry). A copy is therefore always exact up to its max version,
//! and a deleted key can never survive a reset cut short. The owner's side:
//! TTL expiry and the collection of tombstones past their grace.

use crate::counters::bump;
use crate::engine::*;
use crate::event::{Event, Observer};
use crate::membership::Sender;
use crate::memory::Memory;
use crate::nodes::NodeStatus;
use crate::room::NoRoom;
use crate::store::{EntryStatus, NIL};
use crate::time::{Instant, duration_millis};
use crate::wire::{self, Piece, UpdateMsg, WireNodeRef};

impl<M: Memory> Engine<M> {
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
        let now = self.now;
        if let Some(local) = self.nodes.get_mut(LOCAL) {
            local.entries = list;
            if (local.max_version, local.last_gc) != (max_version, last_gc) {
                local.changed_at = now.as_millis() as u32;
            }
            local.max_version = max_version;
            local.last_gc = last_gc;
        }
        self.next_deadline = next_deadline;
    }

    /// Applies the updates of a SynAck or Ack from `sender`: heartbeats,
    /// pieces, and the chunk a piece may end in (whose source is noted, so
    /// that an unfinished value is fetched from it, module `chunk`).
    pub(crate) fn apply_updates(
        &mut self,
        msg: &UpdateMsg<'_>,
        sender: Sender,
        now: Instant,
        observer: &mut impl Observer,
    ) {
        let source = match sender {
            Sender::Slot { slot, .. } => slot,
            Sender::Stale { .. } | Sender::Unknown => LOCAL,
        };
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
                if let Some(chunk) = &piece.chunk {
                    self.take_chunk(slot, source, chunk, piece.head.last_gc, observer);
                }
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
    pub(crate) fn apply_piece(
        &mut self,
        slot: u16,
        piece: &Piece<'_>,
        observer: &mut impl Observer,
    ) {
        let Some(n) = self.nodes.get(slot) else {
            return;
        };
        let (m, r) = (n.max_version, n.last_gc);
        let g = piece.head.last_gc;
        let as_reset = match take(m, r, piece.head.from, piece.head.to, g) {
            Take::Reset => true,
            Take::Delta => false,
            // Only a carrier of its chunk: nothing stale about it. (A reset
            // may end at or below what is held, so this is decided by the
            // rule, not by `to` alone: every reset of a node whose first
            // entry needs chunks ends just below it.)
            Take::Stale if piece.chunk.is_some() => return,
            Take::Stale => {
                bump(&mut self.counters.stale_pieces);
                return;
            }
            Take::Unusable => {
                bump(&mut self.counters.unusable_pieces);
                return;
            }
        };
        // A value longer than our limit: the owner's limit is larger than
        // ours (a misconfiguration), or the state is made up. Refused whole,
        // like a piece beyond the node's share.
        let limit = self.max_value_len();
        if piece
            .entries()
            .map_while(Result::ok)
            .any(|e| e.value.len() > limit)
        {
            bump(&mut self.counters.oversized_values);
            return;
        }
        let above = if as_reset { 0 } else { m };
        let mut fits = self.piece_fits(slot, piece, above, as_reset);
        if fits == Err(NoRoom::Store) && piece.head.to != m && self.transfer(slot).is_active() {
            // A value in flight that this piece supersedes (module `chunk`)
            // holds room the piece may need: once its version is gone from
            // every source, this piece is the only way on for the node.
            self.drop_transfer(slot);
            fits = self.piece_fits(slot, piece, above, as_reset);
        }
        // Stored whole or refused whole: a piece partly applied with the
        // max advanced would leave a hole that every peer pulling from us
        // inherits.
        if let Err(no_room) = fits {
            no_room.count(&mut self.counters);
            return;
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
        let now = self.now;
        if let Some(n) = self.nodes.get_mut(slot) {
            let last_gc = n.last_gc.max(g);
            if (n.max_version, n.last_gc) != (held_to, last_gc) {
                n.changed_at = now.as_millis() as u32;
            }
            n.max_version = held_to;
            n.last_gc = last_gc;
        }
        if !as_reset && held_to > m {
            self.note_fresh(slot, m);
        }
        // A value in flight whose version is no longer the next one is
        // superseded (module `chunk`).
        self.check_transfer(slot);
    }

    /// Applies the entries of a piece that passed [`Engine::piece_fits`]
    /// above `m`; returns the version the copy now holds the node up to.
    pub(crate) fn apply_delta(
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
    pub(crate) fn apply_reset(
        &mut self,
        slot: u16,
        piece: &Piece<'_>,
        observer: &mut impl Observer,
    ) -> u64 {
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
                if live && let Some(n) = self.nodes.get(slot).filter(|n| n.announced) {
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
            // A kept entry goes to the tail as well, so that the list ends
            // in the piece's order, ascending. An honest piece keeps only
            // entries below every one it changes; a forged one may keep an
            // entry above a new one, which left the list out of order
            // (found by the `engine` fuzz target).
            let kept = self
                .store
                .find(slot, e.key)
                .filter(|&i| self.store.slot(i).is_some_and(|s| s.version == e.version));
            if let Some(idx) = kept {
                if let Some(mut list) = self.nodes.get(slot).map(|n| n.entries) {
                    self.store.move_to_tail(&mut list, idx);
                    if let Some(n) = self.nodes.get_mut(slot) {
                        n.entries = list;
                    }
                }
                continue;
            }
            if !self.put_remote(slot, e.key, e.value, e.version, e.status, observer) {
                // Not expected after the fit check; the rebuilt copy is
                // exact below this entry only.
                held_to = e.version.saturating_sub(1);
                break;
            }
        }
        bump(&mut self.counters.resets_applied);
        if let Some(n) = self.nodes.get(slot).filter(|n| n.announced) {
            observer.on_event(&Event::ResetApplied { node: &n.id });
        }
        held_to
    }

    /// Stores one received entry if it is newer than what we hold. False
    /// only if the store had no room for it.
    pub(crate) fn put_remote(
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
    pub(crate) fn announce(
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
        // A node not yet announced has no keys as far as the observer
        // knows: they are told when it is (`announce_entries`).
        let Some(n) = self.nodes.get(slot).filter(|n| n.announced) else {
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
    pub(crate) fn apply_reserved(
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
            let shown = core::mem::replace(&mut n.hidden, false);
            // A node never seen alive leaves unseen.
            if n.announced {
                observer.on_event(&Event::NodeLeft { node: &n.id });
            }
            if shown {
                self.nodes.listing_changed();
            }
        }
        self.due_check(slot);
    }

    /// Tells the observer every key `slot` holds, in version order: the
    /// node was just announced, and the keys its copy gathered before
    /// were withheld until then.
    pub(crate) fn announce_entries(&mut self, slot: u16, observer: &mut impl Observer) {
        let Some(n) = self.nodes.get(slot) else {
            return;
        };
        let mut cur = n.entries.head;
        while let Some(s) = self.store.slot(cur) {
            let key = self.store.key(cur);
            if s.status().is_live() && !is_reserved(key) {
                observer.on_event(&Event::KeySet {
                    node: &n.id,
                    key,
                    value: self.store.value(cur),
                    version: s.version,
                });
            }
            cur = self.store.next(cur);
        }
    }

    /// A relay drops the tombstones its owner has collected.
    pub(crate) fn drop_collected_tombstones(&mut self, slot: u16, last_gc: u64) {
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
}

/// How a receiver takes a piece `(from, to]` sent at collection point
/// `gc`, given that it holds the node up to `held` at collection point
/// `held_gc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Take {
    /// Rebuild the copy from the piece: the receiver is below the sender's
    /// collection point and the piece starts at 0.
    Reset,
    /// Extend the copy: the piece starts at or below what it holds.
    Delta,
    /// Nothing new: the piece ends at or below what it holds.
    Stale,
    /// A gap (the piece starts above what it holds), or a collection point
    /// that does not allow it.
    Unusable,
}

/// The receiver's half of the piece rule ([`send_from`] is the sender's).
pub(crate) fn take(held: u64, held_gc: u64, from: u64, to: u64, gc: u64) -> Take {
    if from == 0 && held < gc && held_gc < gc {
        return Take::Reset;
    }
    if to <= held {
        return Take::Stale;
    }
    // A copy mid-reset (`held < held_gc`) only continues from sources at the
    // same collection point: an older source could bring back a key deleted
    // between its collection point and ours.
    let complete = held >= held_gc && held >= gc;
    if from <= held && (complete || held_gc == gc) {
        Take::Delta
    } else {
        Take::Unusable
    }
}

/// From which version a sender holding `(max, gc)` can update a receiver
/// holding `(their_max, their_gc)`: `Some(their_max)` for a delta, `Some(0)`
/// for a reset, `None` when it has nothing usable to send.
pub(crate) fn send_from(max: u64, gc: u64, their_max: u64, their_gc: u64) -> Option<u64> {
    if their_max >= max {
        None
    } else if (their_max >= gc && their_max >= their_gc) || their_gc == gc {
        Some(their_max)
    } else if their_gc < gc {
        Some(0)
    } else {
        // The receiver's copy was rebuilt at a later collection point than
        // ours: only a fresher source can serve it.
        None
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use std::vec::Vec;

    use super::{Take, send_from, take};
    use crate::config::Config;
    use crate::store::EntryStatus;
    use crate::testkit::{Recorder, acquaint, engine};
    use crate::time::Instant;
    use crate::wire::{Encoder, MessageKind, Tokens, UpdateNode};

    /// A reset that keeps an entry above one it brings anew (no honest
    /// sender does that) leaves the copy in version order.
    #[test]
    fn a_reset_keeping_an_entry_above_a_new_one_stays_in_version_order() {
        let mut a = engine::<8, 64, 4096>("a", 1, Config::new());
        let mut c = engine::<8, 64, 4096>("c", 3, Config::new());
        acquaint(&mut a, &mut c);
        c.set("c-key", b"v").expect("set"); // v1
        c.set("odd", b"").expect("set"); // v2
        let mut net = Recorder::default();
        c.start_exchange(a.id().addr, &mut net).expect("start");
        while !net.sent.is_empty() {
            let mut next = Recorder::default();
            for (to, mut d) in net.sent.drain(..) {
                let (e, from) = if to == a.id().addr {
                    (&mut *a, c.id().addr)
                } else {
                    (&mut *c, a.id().addr)
                };
                e.handle_datagram(from, &mut d, Instant::ZERO, &mut next, &mut ())
                    .expect("accepted");
            }
            net = next;
        }
        assert_eq!(a.node("c").expect("c").max_version(), 2);
        // c's SynAck, made up: a reset (collection point 93, above what a
        // holds) carrying a new key at v1 and "odd" unchanged at v2.
        let mut buf = [0u8; 512];
        let mut enc = Encoder::new(&mut buf, 512);
        let cluster = Config::new().cluster_id.fingerprint();
        let tokens = Tokens::default();
        let synack = Some((1, &tokens, 0));
        let requests = enc
            .reply_head(MessageKind::SynAck, 3, cluster, c.id(), synack, &[])
            .expect("room");
        enc.end_seq(requests, 0);
        let updates = enc.begin_seq().expect("room");
        enc.update_head(UpdateNode::Hash(c.id().ring_hash()), 0)
            .expect("room");
        enc.piece_head(93, 0, 2, 2).expect("room");
        enc.entry(1, EntryStatus::Set, b"c-kEy", b"w")
            .expect("room");
        enc.entry(1, EntryStatus::Set, b"odd", b"").expect("room");
        enc.end_seq(updates, 1);
        let len = enc.pos();
        let mut d = buf[..len].to_vec();
        a.handle_datagram(
            c.id().addr,
            &mut d,
            Instant::ZERO,
            &mut Recorder::default(),
            &mut (),
        )
        .expect("accepted");
        let held: Vec<(std::string::String, u64)> = a
            .node("c")
            .expect("c")
            .all_entries()
            .map(|e| (e.key.into(), e.version))
            .collect();
        assert_eq!(held, [("c-kEy".into(), 1), ("odd".into(), 2)]);
        assert_eq!(a.check_invariants(), Ok(()));
    }

    #[test]
    fn send_rules() {
        // Receiver up to date: nothing.
        assert_eq!(send_from(10, 0, 10, 0), None);
        // Plain delta.
        assert_eq!(send_from(10, 0, 4, 0), Some(4));
        // Receiver past our collection point: delta.
        assert_eq!(send_from(10, 5, 6, 0), Some(6));
        // Receiver below it: reset from 0.
        assert_eq!(send_from(10, 5, 4, 0), Some(0));
        // Receiver mid-reset at the same collection point: continue.
        assert_eq!(send_from(10, 5, 3, 5), Some(3));
        // Receiver rebuilt at a later collection point than ours: we cannot help.
        assert_eq!(send_from(10, 5, 3, 7), None);
        // Receiver mid-reset (max below its own collection point): only a
        // source at that same point may continue it, even if the receiver
        // is past our collection point.
        assert_eq!(send_from(10, 0, 3, 5), None);
        assert_eq!(send_from(10, 2, 3, 5), None);
        // A complete receiver past both points takes a delta from anyone.
        assert_eq!(send_from(10, 2, 6, 5), Some(6));
    }

    /// A copy of one node's namespace as an honest engine can hold it:
    /// complete up to `max` at collection point `gc <= max`, or mid-reset
    /// (`max < gc`: rebuilt from version 0 up to `max` so far).
    fn honest_copy() -> impl Strategy<Value = (u64, u64)> {
        (0u64..40, 0u64..40)
    }

    proptest! {
        /// Whatever an honest sender chooses to send, an honest receiver
        /// accepts: from the version `send_from` names, up to any cut the
        /// sender makes at or below what it holds, the receiver's rule
        /// takes the piece as a reset or a delta, never as stale or
        /// unusable.
        #[test]
        fn what_an_honest_sender_sends_an_honest_receiver_takes(
            (max, gc) in honest_copy(),
            (held, held_gc) in honest_copy(),
            cut in 0u64..40,
        ) {
            if let Some(from) = send_from(max, gc, held, held_gc) {
                // The sender sends at least one version past `from`, up to
                // what it holds.
                prop_assert!(from < max);
                let to = from + 1 + cut % (max - from);
                let taken = take(held, held_gc, from, to, gc);
                prop_assert!(
                    matches!(taken, Take::Reset | Take::Delta),
                    "sender ({max}, gc {gc}) sent ({from}, {to}] to ({held}, gc {held_gc}): {taken:?}"
                );
                // A reset is only sent, and only taken, from version 0.
                prop_assert_eq!(taken == Take::Reset, from == 0 && held < gc && held_gc < gc);
            }
        }

        /// And the receiver never takes as a delta what no honest sender
        /// sends: a piece starting above what it holds (a gap).
        #[test]
        fn a_piece_past_what_is_held_is_never_taken_as_a_delta(
            (held, held_gc) in honest_copy(),
            gap in 1u64..10,
            len in 1u64..10,
            gc in 0u64..40,
        ) {
            let from = held + gap;
            prop_assert_ne!(take(held, held_gc, from, from + len, gc), Take::Delta);
        }
    }
}
