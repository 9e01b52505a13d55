//! What a running node counts ([`Counters`]: the engine's own counters
//! plus the runtime's) and what it holds now ([`Gauges`]).
//!
//! The engine counts what it is handed (datagrams and bytes in and out,
//! each kind of rejected datagram, refused state). The runtime adds what
//! happens around it: datagrams the receive thread read, datagrams and
//! events dropped because a bounded channel was full, socket errors, failed
//! name resolutions, and the membership and key changes the engine
//! reported. The runtime's counters are atomics shared by the threads;
//! [`Counters`] is a snapshot of both. [`Gauges`] are levels rather than
//! counts (members by status, the highest phi, the state in use against
//! the capacity), taken by the engine thread in one step.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hearsay_core::{Capacity, DecodeError, Engine, Event, Instant, Memory, NodeStatus};

/// The runtime's counters, shared by its threads. Relaxed atomics: each is
/// an independent monotonic count, read only for reporting.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub datagrams_received: AtomicU64,
    pub inbound_dropped: AtomicU64,
    pub recv_errors: AtomicU64,
    pub send_errors: AtomicU64,
    pub events_dropped: AtomicU64,
    pub seed_updates_dropped: AtomicU64,
    pub resolve_failures: AtomicU64,
    pub nodes_joined: AtomicU64,
    pub nodes_alive_again: AtomicU64,
    pub nodes_dead: AtomicU64,
    pub nodes_left: AtomicU64,
    pub nodes_removed: AtomicU64,
    pub nodes_replaced: AtomicU64,
    pub keys_set: AtomicU64,
    pub keys_deleted: AtomicU64,
    pub keys_expired: AtomicU64,
}

/// Adds one to a shared counter.
pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Stats {
    /// Counts one event of the engine, whoever subscribed to it. Events
    /// the runtime does not count (resets, refutations, name conflicts:
    /// the engine's counters have them) and kinds added to the core later
    /// are left alone.
    pub(crate) fn count_event(&self, event: &Event<'_>) {
        let c = match event {
            Event::NodeJoined { .. } => &self.nodes_joined,
            Event::NodeAliveAgain { .. } => &self.nodes_alive_again,
            Event::NodeDead { .. } => &self.nodes_dead,
            Event::NodeLeft { .. } => &self.nodes_left,
            Event::NodeRemoved { .. } => &self.nodes_removed,
            Event::NodeReplaced { .. } => &self.nodes_replaced,
            Event::KeySet { .. } => &self.keys_set,
            Event::KeyDeleted { .. } => &self.keys_deleted,
            Event::KeyExpired { .. } => &self.keys_expired,
            _ => return,
        };
        bump(c);
    }

    /// A snapshot of the runtime counters next to the engine's.
    pub(crate) fn snapshot(&self, engine: hearsay_core::Counters) -> Counters {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Counters {
            engine,
            datagrams_received: get(&self.datagrams_received),
            inbound_dropped: get(&self.inbound_dropped),
            recv_errors: get(&self.recv_errors),
            send_errors: get(&self.send_errors),
            events_dropped: get(&self.events_dropped),
            seed_updates_dropped: get(&self.seed_updates_dropped),
            resolve_failures: get(&self.resolve_failures),
            nodes_joined: get(&self.nodes_joined),
            nodes_alive_again: get(&self.nodes_alive_again),
            nodes_dead: get(&self.nodes_dead),
            nodes_left: get(&self.nodes_left),
            nodes_removed: get(&self.nodes_removed),
            nodes_replaced: get(&self.nodes_replaced),
            keys_set: get(&self.keys_set),
            keys_deleted: get(&self.keys_deleted),
            keys_expired: get(&self.keys_expired),
        }
    }
}

/// A snapshot of a node's counters, all monotonic since it started.
///
/// With feature `serde` it serializes as a struct of these fields, the
/// engine's counters nested under `engine` (see [`hearsay_core::Counters`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Counters {
    /// The engine's counters: traffic it handled, each kind of rejected
    /// datagram, refused and applied state.
    pub engine: hearsay_core::Counters,
    /// Datagrams the receive thread read from the socket (some may then be
    /// dropped, see `inbound_dropped`).
    pub datagrams_received: u64,
    /// Received datagrams dropped because the engine's inbound channel was
    /// full (the engine was too busy), as a congested network would.
    pub inbound_dropped: u64,
    /// Errors reading from the socket (timeouts excluded), including peers
    /// reported unreachable (Windows: `WSAECONNRESET`).
    pub recv_errors: u64,
    /// Datagrams the engine produced that the socket refused to send.
    pub send_errors: u64,
    /// Events not delivered to subscribers whose channel was full, over
    /// all subscriptions.
    pub events_dropped: u64,
    /// Resolved seed lists not handed to the engine because the previous
    /// one was still queued (the resolver retries with its next result).
    pub seed_updates_dropped: u64,
    /// Seed host names that failed to resolve, per attempt.
    pub resolve_failures: u64,
    /// Nodes whose heartbeat this node saw advance for the first time
    /// ([`crate::MembershipEvent::Joined`]). This and the counts below are
    /// of what the engine reported, whether or not anyone subscribed.
    pub nodes_joined: u64,
    /// Dead nodes seen heartbeating again
    /// ([`crate::MembershipEvent::AliveAgain`]).
    pub nodes_alive_again: u64,
    /// Nodes this node convicted ([`crate::MembershipEvent::Dead`]).
    pub nodes_dead: u64,
    /// Nodes that announced their departure
    /// ([`crate::MembershipEvent::Left`]).
    pub nodes_left: u64,
    /// Nodes forgotten after the dead grace
    /// ([`crate::MembershipEvent::Removed`]).
    pub nodes_removed: u64,
    /// Incarnations superseded by a newer generation of their name
    /// ([`crate::MembershipEvent::Replaced`]).
    pub nodes_replaced: u64,
    /// Remote keys that took a new value here. This node's own writes are
    /// not counted (the engine reports changes it learns, not the ones it
    /// is asked for).
    pub keys_set: u64,
    /// Remote keys deleted here (deleted by their owner, or found gone in
    /// a reset).
    pub keys_deleted: u64,
    /// This node's keys deleted at the end of their time-to-live.
    pub keys_expired: u64,
}

impl Counters {
    /// Datagrams handed to the engine.
    pub fn datagrams_in(&self) -> u64 {
        self.engine.datagrams_in
    }

    /// Bytes of the datagrams handed to the engine.
    pub fn bytes_in(&self) -> u64 {
        self.engine.bytes_in
    }

    /// Datagrams the engine produced (see `send_errors` for those the
    /// socket refused).
    pub fn datagrams_out(&self) -> u64 {
        self.engine.datagrams_out
    }

    /// Bytes of the datagrams the engine produced.
    pub fn bytes_out(&self) -> u64 {
        self.engine.bytes_out
    }

    /// Datagrams rejected for `kind`.
    pub fn decode_errors(&self, kind: DecodeError) -> u64 {
        self.engine.rejected(kind)
    }

    /// Datagrams rejected for any reason, foreign clusters included.
    pub fn decode_errors_total(&self) -> u64 {
        self.engine.rejected_total()
    }

    /// Datagrams rejected because they carry another cluster's id.
    pub fn foreign_cluster(&self) -> u64 {
        self.engine.rejected(DecodeError::ForeignCluster)
    }

    /// Times this node noticed it had itself stalled (no engine step for
    /// over two gossip intervals: paused, suspended or starved of CPU) and
    /// gave its live peers a fresh chance to be heard from rather than
    /// convicting them. Each is also logged at warn, rate-limited.
    pub fn local_stalls(&self) -> u64 {
        self.engine.local_stalls
    }

    /// Everything dropped because a bounded channel was full: inbound
    /// datagrams, subscriber events and seed updates.
    pub fn channel_drops(&self) -> u64 {
        self.inbound_dropped
            .saturating_add(self.events_dropped)
            .saturating_add(self.seed_updates_dropped)
    }
}

/// What a node holds now: members by status, how close the nearest live
/// peer is to being convicted, and the state in use against the capacity
/// ([`crate::Node::gauges`]). Taken by the engine thread in one step, so
/// the figures are consistent with each other.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Gauges {
    /// Known nodes whose heartbeat has not been seen to advance yet.
    pub pending: usize,
    /// Live nodes, this one included (as [`crate::Node::members`] lists
    /// them: a lone node counts itself).
    pub alive: usize,
    /// Nodes convicted and not yet removed.
    pub dead: usize,
    /// Nodes that announced their departure and are not yet removed.
    pub left: usize,
    /// The highest phi among the other live nodes (0 when there is none).
    /// Dead nodes are left out: their phi only grows, and would hide the
    /// live node nearest to conviction. Phi can be infinite (a silence no
    /// history explains) for the moment before conviction; with feature
    /// `serde` it serializes as an option, none for infinity.
    #[cfg_attr(feature = "serde", serde(with = "crate::serde_fields::phi"))]
    pub max_phi: f64,
    /// The longest adaptive timeout among the other live nodes: how long
    /// after its last heartbeat this node would convict it (`None` when no
    /// live node has a history yet).
    pub max_timeout: Option<Duration>,
    /// Entries stored over all nodes, tombstones included.
    pub entries: usize,
    /// Bytes of keys and values stored over all nodes, with their 8-byte
    /// block headers, tombstones included: what
    /// [`hearsay_core::Capacity::state_bytes`] bounds.
    pub state_bytes: usize,
    /// What the engine's tables were allocated for.
    pub capacity: Capacity,
}

impl Gauges {
    /// Reads the gauges of `engine` at `now`.
    pub(crate) fn read<M: Memory>(engine: &Engine<M>, now: Instant) -> Gauges {
        let mut g = Gauges {
            pending: 0,
            alive: 0,
            dead: 0,
            left: 0,
            max_phi: 0.0,
            max_timeout: None,
            entries: engine.entry_count(),
            state_bytes: engine.arena_bytes_used(),
            capacity: engine.capacity(),
        };
        for node in engine.nodes() {
            let status = node.status();
            *g.members_mut(status) += 1;
            if status != NodeStatus::Alive || node.is_local() {
                continue;
            }
            g.max_phi = g.max_phi.max(node.phi(now));
            if let Some(t) = node.timeout() {
                g.max_timeout = Some(g.max_timeout.map_or(t, |m| m.max(t)));
            }
        }
        g
    }

    /// Known nodes in `status` (this one included: it is alive).
    pub fn members(&self, status: NodeStatus) -> usize {
        match status {
            NodeStatus::Pending => self.pending,
            NodeStatus::Alive => self.alive,
            NodeStatus::Dead => self.dead,
            NodeStatus::Left => self.left,
        }
    }

    fn members_mut(&mut self, status: NodeStatus) -> &mut usize {
        match status {
            NodeStatus::Pending => &mut self.pending,
            NodeStatus::Alive => &mut self.alive,
            NodeStatus::Dead => &mut self.dead,
            NodeStatus::Left => &mut self.left,
        }
    }

    /// Every known node, this one included.
    pub fn members_total(&self) -> usize {
        self.pending + self.alive + self.dead + self.left
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each event the engine reports lands in its own counter; the ones
    /// the engine counts itself are left alone.
    #[test]
    fn events_are_counted_by_kind() {
        let s = Stats::default();
        let id = hearsay_core::NodeId::new("n", 1, "127.0.0.1:1".parse().unwrap()).unwrap();
        let node = &id;
        for e in [
            Event::NodeJoined { node },
            Event::NodeAliveAgain { node },
            Event::NodeAliveAgain { node },
            Event::NodeDead { node },
            Event::NodeLeft { node },
            Event::NodeRemoved { node },
            Event::NodeReplaced {
                old: node,
                new: node,
            },
            Event::KeySet {
                node,
                key: "k",
                value: b"v",
                version: 1,
            },
            Event::KeyDeleted {
                node,
                key: "k",
                version: 2,
            },
            Event::KeyExpired {
                node,
                key: "k",
                value: b"v",
                version: 3,
            },
            Event::ResetApplied { node },
            Event::Refuted {
                old: node,
                new: node,
            },
        ] {
            s.count_event(&e);
        }
        let c = s.snapshot(hearsay_core::Counters::default());
        assert_eq!(
            [
                c.nodes_joined,
                c.nodes_alive_again,
                c.nodes_dead,
                c.nodes_left,
                c.nodes_removed,
                c.nodes_replaced,
                c.keys_set,
                c.keys_deleted,
                c.keys_expired,
            ],
            [1, 2, 1, 1, 1, 1, 1, 1, 1]
        );
    }

    #[test]
    fn snapshot_reads_every_counter() {
        let s = Stats::default();
        bump(&s.inbound_dropped);
        bump(&s.events_dropped);
        bump(&s.events_dropped);
        bump(&s.seed_updates_dropped);
        let mut engine = hearsay_core::Counters::default();
        engine.rejected_by_kind[DecodeError::ForeignCluster as usize] = 4;
        engine.local_stalls = 2;
        let c = s.snapshot(engine);
        assert_eq!(c.local_stalls(), 2);
        assert_eq!(c.channel_drops(), 4);
        assert_eq!(c.foreign_cluster(), 4);
        assert_eq!(c.decode_errors_total(), 4);
    }
}
