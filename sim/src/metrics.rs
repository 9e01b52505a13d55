//! What the simulator measures: traffic, propagation of key updates, crash
//! detection and false positives.
//!
//! Traffic is counted by the simulator itself, per node, from the datagrams
//! the engines hand to their [`hearsay_core::Transmit`] sink (out, whether or not
//! the network then drops them) and the datagrams delivered to them (in).
//! A node *round* is one of its ticks, so "per node per round" is total
//! traffic divided by the ticks run in the window, whatever crashes and
//! restarts happened in it.
//!
//! Propagation and detection are measured from the engines' events, as they
//! happen: a tracked key update is seen by a node when its observer reports
//! a [`hearsay_core::Event::KeySet`] of that key at that version or later; a crash
//! is detected by a node when its observer reports [`hearsay_core::Event::NodeDead`]
//! about the crashed incarnation. Nothing scans every node's state.

use std::string::String;
use std::time::Duration;
use std::vec::Vec;

use super::queue::Micros;
use super::record::Subject;

/// Traffic of one node (or of all, summed) over the metrics window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Datagrams the node sent (including those the network then dropped).
    pub datagrams_out: u64,
    /// Bytes of those datagrams (UDP payload).
    pub bytes_out: u64,
    /// Datagrams delivered to the node.
    pub datagrams_in: u64,
    /// Bytes of those datagrams.
    pub bytes_in: u64,
    /// Ticks the node ran: its gossip rounds.
    pub ticks: u64,
}

impl Traffic {
    pub(crate) fn add(&mut self, o: &Traffic) {
        self.datagrams_out += o.datagrams_out;
        self.bytes_out += o.bytes_out;
        self.datagrams_in += o.datagrams_in;
        self.bytes_in += o.bytes_in;
        self.ticks += o.ticks;
    }

    fn per_tick(&self, v: u64) -> f64 {
        if self.ticks == 0 {
            0.0
        } else {
            v as f64 / self.ticks as f64
        }
    }

    /// Bytes sent per round (per tick).
    pub fn bytes_out_per_round(&self) -> f64 {
        self.per_tick(self.bytes_out)
    }

    /// Datagrams sent per round.
    pub fn datagrams_out_per_round(&self) -> f64 {
        self.per_tick(self.datagrams_out)
    }

    /// Bytes received per round.
    pub fn bytes_in_per_round(&self) -> f64 {
        self.per_tick(self.bytes_in)
    }

    /// Datagrams received per round.
    pub fn datagrams_in_per_round(&self) -> f64 {
        self.per_tick(self.datagrams_in)
    }
}

/// What the network did with the datagrams of the metrics window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Datagrams sent by all nodes.
    pub sent: u64,
    /// Datagrams handed to a receiving engine (duplicates included).
    pub delivered: u64,
    /// Dropped by the link's loss probability.
    pub lost: u64,
    /// Extra copies made by the link's duplication probability.
    pub duplicated: u64,
    /// Held back by the link's reordering probability.
    pub delayed: u64,
    /// Dropped by a partition (on sending or on delivery).
    pub blocked: u64,
    /// Dropped because the receiver was crashed or had left.
    pub to_down: u64,
    /// Sent to an address that is no simulated node.
    pub unroutable: u64,
    /// Delivered datagrams the receiving engine rejected (never expected
    /// between correct engines).
    pub rejected: u64,
    /// Datagrams longer than the configured mtu (never expected).
    pub oversized: u64,
}

/// Traffic over the window since the last [`super::Sim::reset_metrics`].
#[derive(Debug, Clone, PartialEq)]
pub struct Metrics {
    /// Virtual time covered.
    pub window: Duration,
    /// `window / gossip_interval`.
    pub rounds: f64,
    /// Each node's traffic, by node index.
    pub per_node: Vec<Traffic>,
    /// All nodes together; `total.ticks` is the number of node rounds.
    pub total: Traffic,
    /// What the network did.
    pub net: NetStats,
}

impl Metrics {
    /// Mean bytes sent by one node in one round.
    pub fn bytes_out_per_node_per_round(&self) -> f64 {
        self.total.bytes_out_per_round()
    }

    /// Mean datagrams sent by one node in one round.
    pub fn datagrams_out_per_node_per_round(&self) -> f64 {
        self.total.datagrams_out_per_round()
    }

    /// Mean bytes received by one node in one round.
    pub fn bytes_in_per_node_per_round(&self) -> f64 {
        self.total.bytes_in_per_round()
    }

    /// Mean datagrams received by one node in one round.
    pub fn datagrams_in_per_node_per_round(&self) -> f64 {
        self.total.datagrams_in_per_round()
    }

    /// The busiest node's bytes sent per round, and its index (seeds are
    /// usually the busiest).
    pub fn max_bytes_out_per_round(&self) -> Option<(usize, f64)> {
        self.per_node
            .iter()
            .enumerate()
            .filter(|(_, t)| t.ticks > 0)
            .map(|(i, t)| (i, t.bytes_out_per_round()))
            .max_by(|a, b| a.1.total_cmp(&b.1))
    }
}

/// Names a tracked key update ([`super::Sim::track`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrackId(pub(crate) usize);

/// How far a tracked key update has spread.
#[derive(Debug, Clone, PartialEq)]
pub struct Propagation {
    /// The incarnation that wrote the key.
    pub owner: Subject,
    /// The key.
    pub key: String,
    /// The version written; later versions count as seeing it.
    pub version: u64,
    /// When it was written (virtual time since the start).
    pub started: Duration,
    /// Running nodes (other than the owner) that have seen it.
    pub reached: usize,
    /// Running nodes other than the owner.
    pub targets: usize,
    /// Time from the write until the last running node saw it; `None` while
    /// some running node has not.
    pub duration: Option<Duration>,
    /// `duration / gossip_interval`.
    pub rounds: Option<f64>,
}

/// How a crash was detected ([`super::Sim::crash`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    /// The incarnation that crashed.
    pub subject: Subject,
    /// When it crashed (virtual time since the start).
    pub crashed_at: Duration,
    /// For each observer that knew the node before the crash and is running
    /// now (the node itself excluded): how long after the crash it reported
    /// the node dead, `None` if it has not (yet).
    pub latencies: Vec<(usize, Option<Duration>)>,
}

impl Detection {
    /// Whether every observer has reported the node dead.
    pub fn is_complete(&self) -> bool {
        self.latencies.iter().all(|(_, l)| l.is_some())
    }

    /// Observers that have reported the node dead.
    pub fn detected(&self) -> usize {
        self.latencies.iter().filter(|(_, l)| l.is_some()).count()
    }

    /// The detection times reported so far, sorted.
    pub fn sorted(&self) -> Vec<Duration> {
        let mut v: Vec<Duration> = self.latencies.iter().filter_map(|(_, l)| *l).collect();
        v.sort_unstable();
        v
    }

    /// Median detection time (the upper one for an even count), once
    /// complete.
    pub fn median(&self) -> Option<Duration> {
        if !self.is_complete() {
            return None;
        }
        let v = self.sorted();
        v.get(v.len() / 2).copied()
    }

    /// Slowest detection time, once complete.
    pub fn max(&self) -> Option<Duration> {
        if !self.is_complete() {
            return None;
        }
        self.sorted().last().copied()
    }
}

/// A node reported dead by an observer while it was running and could
/// exchange datagrams with the observer ([`super::SimConfig`] describes the
/// grace after disruptions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FalsePositive {
    /// When (virtual time since the start).
    pub at: Duration,
    /// The node that reported it.
    pub observer: usize,
    /// The incarnation reported dead.
    pub subject: Subject,
}

/// One `NodeDead` report, whoever it was about ([`super::Sim::convictions`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conviction {
    /// When (virtual time since the start).
    pub at: Duration,
    /// The node that reported it.
    pub observer: usize,
    /// Generation the observer's engine was started with: a restarted
    /// observer is a new engine that knows nothing of the old one's views.
    pub observer_generation: u64,
    /// The incarnation reported dead.
    pub subject: Subject,
}

/// An observer that reported the same incarnation dead more than once
/// ([`super::Sim::flapping`]): dead, then alive again (or removed and
/// joined again), then dead again. An engine reports a node dead only
/// while it holds it alive, so every report after the first followed a
/// return to life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flapping {
    /// The observer.
    pub observer: usize,
    /// Generation its engine was started with.
    pub observer_generation: u64,
    /// The incarnation it kept reporting dead.
    pub subject: Subject,
    /// How many times it reported it dead (at least 2).
    pub convictions: usize,
}

/// The flapping pairs among `convictions` (in the order of their first
/// conviction): each (observer engine, subject incarnation) reported dead
/// at least twice.
pub fn flapping(convictions: &[Conviction]) -> Vec<Flapping> {
    let mut counts: std::collections::HashMap<(usize, u64, Subject), usize> =
        std::collections::HashMap::new();
    let mut order = Vec::new();
    for c in convictions {
        let key = (c.observer, c.observer_generation, c.subject);
        let n = counts.entry(key).or_insert(0);
        if *n == 0 {
            order.push(key);
        }
        *n += 1;
    }
    order
        .into_iter()
        .filter_map(|key| {
            let n = counts.get(&key).copied().unwrap_or(0);
            (n >= 2).then_some(Flapping {
                observer: key.0,
                observer_generation: key.1,
                subject: key.2,
                convictions: n,
            })
        })
        .collect()
}

/// A key update being followed.
#[derive(Debug, Clone)]
pub(crate) struct PropTracker {
    pub(crate) owner: Subject,
    pub(crate) key: String,
    pub(crate) version: u64,
    pub(crate) started: Micros,
    /// When each node first saw it (reset when the node restarts).
    pub(crate) seen: Vec<Option<Micros>>,
}

/// A crash being followed.
#[derive(Debug, Clone)]
pub(crate) struct CrashTracker {
    pub(crate) subject: Subject,
    pub(crate) at: Micros,
    /// Detections still count (the node has not come back).
    pub(crate) open: bool,
    /// Nodes that existed at the crash.
    pub(crate) observers: usize,
    /// When each node first reported it dead.
    pub(crate) dead_at: Vec<Option<Micros>>,
}

/// Sets `v[i]` to `at` unless already set, growing `v` as needed.
pub(crate) fn mark_first(v: &mut Vec<Option<Micros>>, i: usize, at: Micros) {
    if v.len() <= i {
        v.resize(i + 1, None);
    }
    if v[i].is_none() {
        v[i] = Some(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_statistics() {
        let d = Detection {
            subject: Subject {
                node: 1,
                generation: 1,
            },
            crashed_at: Duration::ZERO,
            latencies: std::vec![
                (0, Some(Duration::from_secs(5))),
                (2, Some(Duration::from_secs(3))),
                (3, Some(Duration::from_secs(4))),
            ],
        };
        assert!(d.is_complete());
        assert_eq!(d.median(), Some(Duration::from_secs(4)));
        assert_eq!(d.max(), Some(Duration::from_secs(5)));
        let mut open = d.clone();
        open.latencies.push((4, None));
        assert!(!open.is_complete());
        assert_eq!(open.detected(), 3);
        assert_eq!(open.median(), None);
    }

    #[test]
    fn traffic_per_round() {
        let mut t = Traffic {
            bytes_out: 300,
            datagrams_out: 3,
            ticks: 3,
            ..Traffic::default()
        };
        assert_eq!(t.bytes_out_per_round(), 100.0);
        t.add(&Traffic {
            ticks: 3,
            ..Traffic::default()
        });
        assert_eq!(t.datagrams_out_per_round(), 0.5);
        assert_eq!(Traffic::default().bytes_in_per_round(), 0.0);
    }
}
