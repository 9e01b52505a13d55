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

use core::time::Duration;

use crate::time::Instant;
#[cfg(doc)]
use crate::{event::Event, id::GENERATION_MARGIN};

/// Gossip intervals within which a third refutation of a rival generation
/// means another live process holds the name. One honest restart needs one
/// refutation (two if two older incarnations are still gossiped); two
/// processes refuting each other need one every few rounds.
pub const CONFLICT_WINDOW_ROUNDS: u32 = 30;

/// The refutation history of the local node.
#[derive(Clone)]
pub(crate) struct Refutation {
    /// When the last refutation happened: at most one per gossip interval,
    /// so that a burst of stale lines about us costs one generation.
    last: Option<Instant>,
    /// The two most recent refutations of a rival generation, oldest first.
    rivals: [Option<Instant>; 2],
    /// Until when rivals are no longer refuted (after a name conflict).
    parked_until: Option<Instant>,
}

/// What hearing of a rival generation of our name calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rival {
    /// Take a generation above it.
    Refute,
    /// The third rival within the window: another live process holds the
    /// name; rivals are no longer refuted for a while.
    Conflict,
}

impl Refutation {
    pub(crate) const NEW: Refutation = Refutation {
        last: None,
        rivals: [None, None],
        parked_until: None,
    };

    /// Whether a refutation may happen at `now`: at most one per `interval`
    /// (the gossip interval), so that a burst of stale lines about us costs
    /// one generation.
    pub(crate) fn may_refute(&self, now: Instant, interval: Duration) -> bool {
        self.last
            .is_none_or(|t| now.saturating_since(t) >= interval)
    }

    /// Whether rivals are set aside at `now`, after a name conflict.
    pub(crate) fn is_parked(&self, now: Instant) -> bool {
        self.parked_until.is_some_and(|t| now < t)
    }

    /// Notes a rival heard at `now`: a conflict if the rival before the last
    /// one was less than `window` ago (then rivals are parked for
    /// `park_for`), else a rival to refute.
    pub(crate) fn rival_heard(
        &mut self,
        now: Instant,
        window: Duration,
        park_for: Duration,
    ) -> Rival {
        let [oldest, newest] = self.rivals;
        if oldest.is_some_and(|t| now.saturating_since(t) < window) {
            self.rivals = [None, None];
            self.parked_until = Some(now.saturating_add(park_for));
            return Rival::Conflict;
        }
        self.rivals = [newest, Some(now)];
        Rival::Refute
    }

    /// Notes that a refutation happened at `now`.
    pub(crate) fn refuted(&mut self, now: Instant) {
        self.last = Some(now);
    }
}
