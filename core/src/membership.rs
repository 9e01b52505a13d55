//! Membership: which nodes this node knows, under which identity.
//!
//! A node is known by its id (name + generation + gossip address); a higher
//! generation of a name supersedes the lower one and its whole namespace.
//! Ids are learned from senders and from introductions in updates, refused
//! when implausible, conflicting, once removed (and not newer), or when the
//! table is full; nodes are forgotten (their slot freed, their last
//! heartbeat remembered so stale gossip cannot bring them back). Hearing of
//! its own name ahead of itself, this node refutes ([`crate::refute`]).

use crate::counters::bump;
use crate::engine::*;
use crate::event::{Event, Observer};
use crate::id::{GENERATION_MARGIN, NodeId};
use crate::memory::Memory;
use crate::refute::{CONFLICT_WINDOW_ROUNDS, Rival};
use crate::time::Instant;
use crate::wire::{Tokens, WireNodeId};

/// What [`Engine::learn_sender`] made of a datagram's sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sender {
    /// It is the node in this slot; `first_token`: the datagram carried
    /// the first address token the node gave us.
    Slot { slot: u16, first_token: bool },
    /// It is an older generation of the name held in slot `newer`, so
    /// that a reply can tell it (it refutes, see [`crate::refute`]).
    Stale { newer: u16 },
    /// It was refused (ours, conflicting, removed, or no room).
    Unknown,
}

impl<M: Memory> Engine<M> {
    /// Learns the sender of a valid datagram; hearing from it also shows
    /// that it answers (see `unanswered` in [`NodeSlot`]).
    pub(crate) fn learn_sender(
        &mut self,
        sender: &WireNodeId<'_>,
        (version, tokens): (u8, Option<&Tokens>),
        now: Instant,
        observer: &mut impl Observer,
    ) -> Sender {
        let Some(id) = sender.to_id() else {
            return Sender::Unknown;
        };
        match self.learn_id(id, None, now, observer) {
            Learned::Stale(newer) => Sender::Stale { newer },
            Learned::Slot(slot) => {
                if let Some(n) = self.nodes.get_mut(slot) {
                    n.unanswered = 0;
                }
                let first_token = self.note_peer(slot, version, tokens);
                Sender::Slot { slot, first_token }
            }
            Learned::Refused => Sender::Unknown,
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

    pub(crate) fn learn_id(
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
            // A newer generation supersedes the old one at once. An
            // observer told of the old one is told of the change now, in
            // one event that introduces the new one (which then makes no
            // `NodeJoined`; it may still be pending until its first
            // heartbeat advance here).
            let Some((old, announced)) = self.nodes.get(slot).map(|n| (n.id.clone(), n.announced))
            else {
                return Learned::Refused;
            };
            self.forget(slot);
            let new_slot = self.insert_node(id, heartbeat, now);
            if announced {
                match new_slot.and_then(|s| self.nodes.get_mut(s)) {
                    Some(new) => {
                        new.announced = true;
                        observer.on_event(&Event::NodeReplaced {
                            old: &old,
                            new: &new.id,
                        });
                    }
                    // The old one's slot was just freed, so this is rare;
                    // its end must still be told.
                    None => observer.on_event(&Event::NodeRemoved { node: &old }),
                }
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
    pub(crate) fn removed_and_stale(&mut self, hash: u64, heartbeat: Option<u64>) -> bool {
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

    pub(crate) fn insert_node(
        &mut self,
        id: NodeId,
        heartbeat: Option<u64>,
        now: Instant,
    ) -> Option<u16> {
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
        self.drop_transfer(slot);
        // Its slot may soon hold another node, which sent no chunk.
        self.forget_transfer_source(slot);
        self.store.remove_all(&mut list);
        self.nodes.remove(slot);
    }

    /// Whether a received `generation` for a node named `name` is one an
    /// owner could still exceed: at most [`GENERATION_MARGIN`] above the
    /// generation held for the name here, or for a new name above ours.
    pub(crate) fn plausible_generation(&self, known: Option<u64>, generation: u64) -> bool {
        let base = known.unwrap_or(self.id().generation);
        generation <= base.saturating_add(GENERATION_MARGIN)
    }

    /// We heard of an id with our name: our own (then `heartbeat` may show
    /// our namespace ahead of us), an older incarnation (ignored), or a
    /// rival — a higher generation, or ours at another address.
    pub(crate) fn heard_own_name(
        &mut self,
        id: &NodeId,
        heartbeat: Option<u64>,
        now: Instant,
        observer: &mut impl Observer,
    ) {
        let own = self.id().clone();
        if *id == own {
            let held = self.local().map_or(0, |n| n.heartbeat);
            if heartbeat.is_some_and(|h| h > held) {
                self.heard_own_state_ahead(now, observer);
            }
            return;
        }
        if id.generation < own.generation {
            return;
        }
        // Our answer is `id.generation + 1`, which every peer must accept.
        let answer_fits = id
            .generation
            .checked_add(1)
            .is_some_and(|g| self.plausible_generation(Some(own.generation), g));
        if !answer_fits {
            bump(&mut self.counters.implausible_generations);
            return;
        }
        if !self.may_refute(now) || self.refute.is_parked(now) {
            return;
        }
        let window = self
            .config
            .gossip_interval
            .saturating_mul(CONFLICT_WINDOW_ROUNDS);
        match self.refute.rival_heard(now, window, self.config.dead_grace) {
            Rival::Conflict => {
                bump(&mut self.counters.name_conflicts);
                observer.on_event(&Event::NameConflict {
                    local: &own,
                    other: id,
                });
            }
            Rival::Refute => self.refute_above(id.generation, now, observer),
        }
    }

    /// Someone holds our own id at a higher version, heartbeat or
    /// collection point than we do: we restarted with the same generation,
    /// or a forged piece or heartbeat made it so.
    pub(crate) fn heard_own_state_ahead(&mut self, now: Instant, observer: &mut impl Observer) {
        if self.may_refute(now) {
            let own = self.id().generation;
            self.refute_above(own, now, observer);
        }
    }

    /// Whether the local node (its id, heartbeat, versions and collection
    /// point) is behind the `heartbeat`, `max_version` and `last_gc` that a
    /// peer holds for it.
    pub(crate) fn own_state_behind(&self, heartbeat: u64, max_version: u64, last_gc: u64) -> bool {
        self.local().is_some_and(|n| {
            heartbeat > n.heartbeat || max_version > n.max_version || last_gc > n.last_gc
        })
    }

    /// Not while leaving (the departure must go out under the id peers
    /// know), and at most once per gossip interval.
    pub(crate) fn may_refute(&self, now: Instant) -> bool {
        !self.is_leaving() && self.refute.may_refute(now, self.config.gossip_interval)
    }

    /// Takes the generation `above + 1` (and at least ours + 1).
    pub(crate) fn refute_above(&mut self, above: u64, now: Instant, observer: &mut impl Observer) {
        let old = self.id().clone();
        let Some(generation) = above.max(old.generation).checked_add(1) else {
            bump(&mut self.counters.implausible_generations);
            return;
        };
        let new = NodeId {
            generation,
            ..old.clone()
        };
        if !self.nodes.reidentify(LOCAL, new.clone()) {
            return;
        }
        self.id = new;
        self.refute.refuted(now);
        bump(&mut self.counters.refutations);
        observer.on_event(&Event::Refuted {
            old: &old,
            new: self.id(),
        });
    }
}

/// What became of an id offered to [`Engine::learn`].
pub(crate) enum Learned {
    /// Known (or now learned) in this slot.
    Slot(u16),
    /// The name is known here at a higher generation, in this slot.
    Stale(u16),
    /// Ignored: ours, conflicting, implausible, removed, or no room.
    Refused,
}
