//! The observer every engine reports to, and the ledger it writes.
//!
//! The engines call their observer synchronously; the simulator hands each
//! call a [`Tap`] naming the observing node and the virtual time, over the
//! one [`Ledger`] of the run. A tap hashes every event into the trace,
//! feeds the propagation and crash trackers, keeps every `NodeDead` event
//! (convictions, from which flapping is counted), judges them against the
//! simulator's ground truth (false positives), and records owned
//! copies of the events the configuration asks for.

use std::time::Duration;
use std::vec::Vec;

use hearsay_core::{Event, Observer};

use super::cluster::NodeState;
use super::metrics::{Conviction, CrashTracker, FalsePositive, PropTracker, mark_first};
use super::network::Network;
use super::queue::Micros;
use super::record::{Record, SimEvent, Subject, TraceHash};

/// The simulator's ground truth about one node slot.
#[derive(Debug, Clone)]
pub(crate) struct NodeInfo {
    pub(crate) state: NodeState,
    /// Generation of the current incarnation (raised when it refutes).
    pub(crate) generation: u64,
    /// Generation the current engine was started with.
    pub(crate) born_generation: u64,
    /// When the current engine was initialised.
    pub(crate) born: Micros,
    /// Last crash, resume or restart.
    pub(crate) disrupted_at: Option<Micros>,
    /// The current engine was told to leave.
    pub(crate) leaving: bool,
}

/// Everything observers write or consult.
pub(crate) struct Ledger {
    pub(crate) nodes: Vec<NodeInfo>,
    pub(crate) logs: Vec<Vec<Record>>,
    pub(crate) record_membership: bool,
    pub(crate) record_keys: bool,
    pub(crate) fp_grace: Micros,
    pub(crate) hash: TraceHash,
    pub(crate) props: Vec<PropTracker>,
    /// Tracker indices by owner node, so a `KeySet` costs a lookup.
    pub(crate) props_by_owner: Vec<Vec<usize>>,
    pub(crate) crashes: Vec<CrashTracker>,
    /// Tracker indices by crashed node.
    pub(crate) crashes_by_node: Vec<Vec<usize>>,
    pub(crate) false_positives: Vec<FalsePositive>,
    /// Every `NodeDead` report, in order (flapping is counted from them).
    pub(crate) convictions: Vec<Conviction>,
}

impl Ledger {
    pub(crate) fn new(record_membership: bool, record_keys: bool, fp_grace: Micros) -> Self {
        Ledger {
            nodes: Vec::new(),
            logs: Vec::new(),
            record_membership,
            record_keys,
            fp_grace,
            hash: TraceHash::new(),
            props: Vec::new(),
            props_by_owner: Vec::new(),
            crashes: Vec::new(),
            crashes_by_node: Vec::new(),
            false_positives: Vec::new(),
            convictions: Vec::new(),
        }
    }

    pub(crate) fn add_node(&mut self, generation: u64, now: Micros) {
        self.nodes.push(NodeInfo {
            state: NodeState::Running,
            generation,
            born_generation: generation,
            born: now,
            disrupted_at: None,
            leaving: false,
        });
        self.logs.push(Vec::new());
        self.props_by_owner.push(Vec::new());
        self.crashes_by_node.push(Vec::new());
    }

    /// Detections of `node`'s crashes stop counting: it is back.
    pub(crate) fn close_crashes(&mut self, node: usize) {
        for &t in &self.crashes_by_node[node] {
            self.crashes[t].open = false;
        }
    }

    /// `node` runs a fresh engine: what it had seen is gone.
    pub(crate) fn forget_seen(&mut self, node: usize) {
        for p in &mut self.props {
            if let Some(s) = p.seen.get_mut(node) {
                *s = None;
            }
        }
    }

    fn on_key_set(&mut self, observer: usize, node: Subject, key: &str, version: u64, at: Micros) {
        let Some(list) = self.props_by_owner.get(node.node) else {
            return;
        };
        for &t in list {
            let p = &mut self.props[t];
            if p.owner == node && version >= p.version && p.key == key {
                mark_first(&mut p.seen, observer, at);
            }
        }
    }

    fn on_dead(&mut self, observer: usize, subject: Subject, at: Micros, net: &Network) {
        self.convictions.push(Conviction {
            at: Duration::from_micros(at),
            observer,
            observer_generation: self.nodes.get(observer).map_or(0, |n| n.born_generation),
            subject,
        });
        if let Some(list) = self.crashes_by_node.get(subject.node) {
            for &t in list {
                let c = &mut self.crashes[t];
                if c.open && c.subject == subject {
                    mark_first(&mut c.dead_at, observer, at);
                }
            }
        }
        if self.is_false_positive(observer, subject, at, net) {
            self.false_positives.push(FalsePositive {
                at: Duration::from_micros(at),
                observer,
                subject,
            });
        }
    }

    /// Whether `subject` is running, can exchange datagrams with `observer`
    /// both ways, and neither node was resumed or restarted, nor a partition
    /// between them healed, within the grace before `at`.
    fn is_false_positive(
        &self,
        observer: usize,
        subject: Subject,
        at: Micros,
        net: &Network,
    ) -> bool {
        let Some(info) = self.nodes.get(subject.node) else {
            return false;
        };
        if info.generation != subject.generation || !info.state.is_running() {
            return false;
        }
        if net.blocked(observer, subject.node) || net.blocked(subject.node, observer) {
            return false;
        }
        let last_change = [
            info.disrupted_at,
            self.nodes.get(observer).and_then(|o| o.disrupted_at),
            net.last_heal_between(observer, subject.node),
        ]
        .into_iter()
        .flatten()
        .max();
        last_change.is_none_or(|t| at >= t.saturating_add(self.fp_grace))
    }
}

/// The observer handed to one engine call.
pub(crate) struct Tap<'a> {
    pub(crate) observer: usize,
    pub(crate) now: Micros,
    pub(crate) ledger: &'a mut Ledger,
    pub(crate) net: &'a Network,
}

impl Observer for Tap<'_> {
    fn on_event(&mut self, event: &Event<'_>) {
        let (obs, at) = (self.observer, self.now);
        let l = &mut *self.ledger;
        l.hash.event(obs, at, event);
        let record = match *event {
            Event::NodeDead { node } => {
                l.on_dead(obs, Subject::of(node), at, self.net);
                l.record_membership
            }
            Event::KeySet {
                node, key, version, ..
            } => {
                l.on_key_set(obs, Subject::of(node), key, version, at);
                l.record_keys
            }
            Event::KeyDeleted { .. } | Event::KeyExpired { .. } | Event::ResetApplied { .. } => {
                l.record_keys
            }
            Event::Refuted { new, .. } => {
                // The node is now this generation: peers that hold it
                // hold the node, and its detection is about it.
                if let Some(info) = l.nodes.get_mut(obs) {
                    info.generation = new.generation;
                }
                l.record_membership
            }
            Event::NodeJoined { .. }
            | Event::NodeAliveAgain { .. }
            | Event::NodeLeft { .. }
            | Event::NodeRemoved { .. }
            | Event::NodeReplaced { .. }
            | Event::NameConflict { .. } => l.record_membership,
            // A kind of event this simulator does not know yet.
            _ => false,
        };
        if record && let Some(event) = SimEvent::from_event(event) {
            let observer_generation = l.nodes.get(obs).map_or(0, |n| n.born_generation);
            l.logs[obs].push(Record {
                at: Duration::from_micros(at),
                observer_generation,
                event,
            });
        }
    }
}
