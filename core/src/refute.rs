//! Self-refutation: a node that hears of itself as something it is not
//! takes a new generation and announces it.
//!
//! Three honest faults and one attack end up here. A restart whose clock is
//! behind (an NTP step, a VM restore, a device without a real-time clock)
//! starts below the generation peers hold for the name, so they would
//! ignore it until the old incarnation is removed, an hour later. A restart
//! with a configured, fixed generation comes back with the same id but with
//! versions and heartbeat starting again from zero, so peers would ignore
//! its writes as stale. And a datagram from a buggy or hostile peer can make
//! peers hold a node's name at a higher generation, or its namespace at
//! versions or a heartbeat it never reached. In every case the node itself
//! is the one that can tell: it hears of its own name at a generation above
//! its own (or at its own generation with another address), or of its own
//! id ahead of what it holds. It then takes the next generation above what
//! it heard. A new generation supersedes the whole namespace at every peer,
//! so no key of an older or forged incarnation survives at relays; the node
//! keeps its own keys and peers fetch them anew.
//!
//! For a refutation to always be possible, peers refuse generations no
//! owner could exceed: more than [`GENERATION_MARGIN`] above the generation
//! they hold for the name (or, for a name they do not know, above their
//! own). The node applies the same bound to what it hears of itself, so
//! whatever peers accept, it can refute with a generation they accept too —
//! except a forgery at exactly the margin's edge, whose successor peers
//! that still hold the node's real generation would refuse. The node then
//! does not refute; the forged id, which never heartbeats, is pending
//! wherever it was accepted and is dropped after `pending_timeout`, after
//! which the node is learned again from its own gossip.
//!
//! Two live processes with one name would refute each other forever. A
//! node that has to refute a rival generation a third time within
//! [`CONFLICT_WINDOW_ROUNDS`] gossip intervals reports
//! [`Event::NameConflict`] and stops refuting rivals for the dead grace;
//! peers keep the higher generation, so one process stays unreachable by
//! name until the conflict is resolved by its operator.

use crate::counters::bump;
use crate::engine::{Engine, LOCAL};
use crate::event::{Event, Observer};
use crate::id::{GENERATION_MARGIN, NodeId};
use crate::memory::Memory;
use crate::time::Instant;

/// Gossip intervals within which a third refutation of a rival generation
/// means another live process holds the name. One honest restart needs one
/// refutation (two if two older incarnations are still gossiped); two
/// processes refuting each other need one every few rounds.
pub const CONFLICT_WINDOW_ROUNDS: u32 = 30;

/// The refutation history of the local node.
pub(crate) struct Refutation {
    /// When the last refutation happened: at most one per gossip interval,
    /// so that a burst of stale lines about us costs one generation.
    last: Option<Instant>,
    /// The two most recent refutations of a rival generation, oldest first.
    rivals: [Option<Instant>; 2],
    /// Until when rivals are no longer refuted (after a name conflict).
    parked_until: Option<Instant>,
}

impl Refutation {
    pub(crate) const NEW: Refutation = Refutation {
        last: None,
        rivals: [None, None],
        parked_until: None,
    };
}

impl<M: Memory> Engine<M> {
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
        if !self.may_refute(now) || self.refute.parked_until.is_some_and(|t| now < t) {
            return;
        }
        let window = self
            .config
            .gossip_interval
            .saturating_mul(CONFLICT_WINDOW_ROUNDS);
        let [oldest, newest] = self.refute.rivals;
        if oldest.is_some_and(|t| now.saturating_since(t) < window) {
            bump(&mut self.counters.name_conflicts);
            self.refute.rivals = [None, None];
            self.refute.parked_until = Some(now.saturating_add(self.config.dead_grace));
            observer.on_event(&Event::NameConflict {
                local: &own,
                other: id,
            });
            return;
        }
        self.refute.rivals = [newest, Some(now)];
        self.refute_above(id.generation, now, observer);
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
    fn may_refute(&self, now: Instant) -> bool {
        !self.is_leaving()
            && self
                .refute
                .last
                .is_none_or(|t| now.saturating_since(t) >= self.config.gossip_interval)
    }

    /// Takes the generation `above + 1` (and at least ours + 1).
    fn refute_above(&mut self, above: u64, now: Instant, observer: &mut impl Observer) {
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
        self.refute.last = Some(now);
        bump(&mut self.counters.refutations);
        observer.on_event(&Event::Refuted {
            old: &old,
            new: self.id(),
        });
    }
}
