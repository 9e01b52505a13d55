//! Subscriptions: key changes and membership changes, delivered on
//! crossbeam channels.
//!
//! The engine thread must never wait for a subscriber, or one slow reader
//! would stall gossip and make the whole node look dead to its peers. So
//! each subscription has its own bounded channel and the engine only ever
//! `try_send`s to it. When a subscriber lags and its channel is full:
//!
//! - the new event is **dropped** (older queued events are kept, so what the
//!   subscriber does read is in order);
//! - the drop is counted in the subscription ([`Subscription::dropped`]) and
//!   in the node's [`crate::Counters::events_dropped`];
//! - as soon as there is room again (at the next event or the next gossip
//!   tick), a **`Lagged { missed }` marker** is queued first, exactly where
//!   the gap is, so the subscriber knows its view is incomplete and can
//!   re-read the current state ([`crate::Node::members`],
//!   [`crate::Node::get_from`]).
//!
//! A subscription whose receiver is dropped is removed at the next event.
//!
//! ## Order, and the event contract
//!
//! Events follow hearsay-core's event contract (`hearsay_core::event`):
//! each membership transition is one event; a node is introduced once:
//! as [`MembershipEvent::Joined`] when it is first seen alive, with a
//! [`KeyEvent::Set`] for each key it already holds right after, or, when it
//! restarts a node this one knew, as [`MembershipEvent::Replaced`] at once
//! (one event: no `Joined` follows; its keys come as they arrive). For each
//! incarnation, events follow the state diagram
//!
//! ```text
//!                Joined, or Replaced{new: it}           Dead
//!  (not known) ──────────────────────────────▶ alive ─────────▶ dead
//!       ▲                                       │   ◀─────────   │
//!       │                                  Left │   AliveAgain   │ Left
//!       │                                       ▼                │
//!       │                                      left ◀────────────┘
//!       └── Removed, or Replaced{old: it}: from alive, dead or left
//! ```
//!
//! Nodes heard of but not yet seen alive make no event (they show in
//! [`crate::Node::members`] as pending). One subscription's events come in
//! the order the engine made them; two subscriptions are two channels, so
//! a reader of both (keys and membership) may see a node's keys before its
//! `Joined`. [`crate::Node::subscribe`] gives both kinds in one channel, in
//! order: use it when the order across kinds matters.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_channel::{
    Receiver, RecvError, RecvTimeoutError, Sender, TryRecvError, TrySendError,
};
use hearsay_core::NodeId;

use crate::counters::{Stats, bump};

/// A change of a key, in any node's namespace (this node's included).
///
/// For one key, versions only grow; for one node, events arrive in version
/// order (but a reset reports the keys it found gone before the ones it
/// brings). A remote node's keys are reported from its introduction (see
/// [the contract](self#order-and-the-event-contract)). Keys of a node that
/// is replaced by a new generation or removed disappear without per-key
/// events: watch [`MembershipEvent`]s for that.
///
/// With feature `serde`, serde's default (externally tagged) form: in JSON,
/// `{"Set": {"node": {...}, "key": "http", "value": "10.0.0.2:8080",
/// "version": 7}}`, with the value as in [`crate::Member`] (a string when
/// valid UTF-8, else an array of byte numbers).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum KeyEvent {
    /// `key` of `node` now holds `value`.
    Set {
        /// The key's owner.
        node: NodeId,
        /// The key.
        key: String,
        /// Its new value.
        #[cfg_attr(feature = "serde", serde(with = "crate::serde_fields::value"))]
        value: Vec<u8>,
        /// Version of the change in the owner's namespace.
        version: u64,
    },
    /// `key` of `node` was deleted (explicitly, by the end of its
    /// time-to-live, or found gone during a reset).
    Deleted {
        /// The key's owner.
        node: NodeId,
        /// The key.
        key: String,
        /// Version of the deletion.
        version: u64,
    },
    /// `missed` events were dropped here because this subscription's channel
    /// was full. Re-read the state you need.
    Lagged {
        /// How many events were dropped.
        missed: u64,
    },
}

impl KeyEvent {
    /// The key, unless this is a [`KeyEvent::Lagged`] marker.
    pub fn key(&self) -> Option<&str> {
        match self {
            KeyEvent::Set { key, .. } | KeyEvent::Deleted { key, .. } => Some(key),
            KeyEvent::Lagged { .. } => None,
        }
    }
}

/// A change in cluster membership as seen by this node.
///
/// With feature `serde`, serde's default (externally tagged) form: in JSON,
/// `{"Dead": {"node": {"name": "b", "generation": 7, "addr":
/// "10.0.0.2:7946"}}}`, or `{"Lagged": {"missed": 3}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum MembershipEvent {
    /// A node's heartbeat was seen to advance for the first time: it is
    /// live. A restart is [`MembershipEvent::Replaced`] instead. Its keys
    /// follow, as key events.
    Joined {
        /// The node.
        node: NodeId,
    },
    /// A node that was considered dead is heartbeating again.
    AliveAgain {
        /// The node.
        node: NodeId,
    },
    /// A live node's phi reached the threshold: it is considered dead.
    Dead {
        /// The node.
        node: NodeId,
    },
    /// A node announced that it is leaving.
    Left {
        /// The node.
        node: NodeId,
    },
    /// A dead or departed node was forgotten after the dead grace period;
    /// or an incarnation introduced by [`MembershipEvent::Replaced`] was
    /// never seen alive and was dropped after the pending timeout.
    Removed {
        /// The node.
        node: NodeId,
    },
    /// A newer generation of a name (a restart) superseded the one this
    /// node knew, whose state was dropped: the end of `old` and the start of
    /// `new` in one event (no `Joined` follows; `new` may show as pending in
    /// [`crate::Node::members`] until its first heartbeat arrives here). Its
    /// keys follow, as key events.
    Replaced {
        /// The superseded incarnation.
        old: NodeId,
        /// The new incarnation.
        new: NodeId,
    },
    /// `missed` events were dropped here because this subscription's channel
    /// was full. Re-read the membership with [`crate::Node::members`].
    Lagged {
        /// How many events were dropped.
        missed: u64,
    },
}

/// Any event, for [`crate::Node::subscribe`]: membership and key changes
/// in the one order the engine made them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum NodeEvent {
    /// A membership change (never [`MembershipEvent::Lagged`] here).
    Membership(MembershipEvent),
    /// A key change, in any node's namespace, this one's included (never
    /// [`KeyEvent::Lagged`] here).
    Key(KeyEvent),
    /// `missed` events of either kind were dropped here because this
    /// subscription's channel was full. Re-read the membership and the keys
    /// you need.
    Lagged {
        /// How many events were dropped.
        missed: u64,
    },
}

/// The receiving end of a subscription.
///
/// Use it like a crossbeam receiver ([`Subscription::recv`],
/// [`Subscription::try_recv`], [`Subscription::recv_timeout`], or
/// [`Subscription::receiver`] inside `crossbeam_channel::select!`). Dropping
/// it ends the subscription. See the [module docs](self) for what happens
/// when it is not read fast enough.
#[derive(Debug)]
pub struct Subscription<T> {
    rx: Receiver<T>,
    dropped: Arc<AtomicU64>,
}

impl<T> Subscription<T> {
    /// Waits for the next event; `Err` once the node has shut down and every
    /// queued event was read.
    pub fn recv(&self) -> Result<T, RecvError> {
        self.rx.recv()
    }

    /// The next event if one is queued.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.rx.try_recv()
    }

    /// Waits at most `timeout` for the next event.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.rx.recv_timeout(timeout)
    }

    /// The underlying channel, e.g. for `crossbeam_channel::select!`.
    pub fn receiver(&self) -> &Receiver<T> {
        &self.rx
    }

    /// Events dropped so far because this subscription's channel was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// The engine thread's side of one subscription.
#[derive(Debug)]
struct Sink<T> {
    tx: Sender<T>,
    dropped: Arc<AtomicU64>,
    /// Events dropped since the last `Lagged` marker was queued.
    gap: u64,
}

/// Result of offering an event to a sink.
enum Offer {
    Kept,
    Closed,
}

impl<T> Sink<T> {
    /// Queues the pending `Lagged` marker if there is one and room for it;
    /// `false` if the marker is still pending.
    fn flush_gap(&mut self, lagged: impl Fn(u64) -> T) -> Result<bool, ()> {
        if self.gap == 0 {
            return Ok(true);
        }
        match self.tx.try_send(lagged(self.gap)) {
            Ok(()) => {
                self.gap = 0;
                Ok(true)
            }
            Err(TrySendError::Full(_)) => Ok(false),
            Err(TrySendError::Disconnected(_)) => Err(()),
        }
    }

    /// Offers `event` without ever blocking; counts it if it is dropped.
    fn offer(&mut self, event: T, lagged: impl Fn(u64) -> T, stats: &Stats) -> Offer {
        let sent = match self.flush_gap(lagged) {
            Err(()) => return Offer::Closed,
            Ok(false) => Err(TrySendError::Full(event)),
            Ok(true) => self.tx.try_send(event),
        };
        match sent {
            Ok(()) => Offer::Kept,
            Err(TrySendError::Full(_)) => {
                self.gap = self.gap.saturating_add(1);
                bump(&self.dropped);
                bump(&stats.events_dropped);
                Offer::Kept
            }
            Err(TrySendError::Disconnected(_)) => Offer::Closed,
        }
    }
}

/// Creates a subscription with a channel of `capacity` events (at least 1).
fn channel<T>(capacity: usize) -> (Sink<T>, Subscription<T>) {
    let (tx, rx) = crossbeam_channel::bounded(capacity.max(1));
    let dropped = Arc::new(AtomicU64::new(0));
    (
        Sink {
            tx,
            dropped: Arc::clone(&dropped),
            gap: 0,
        },
        Subscription { rx, dropped },
    )
}

/// A key subscription's sink, as handed from a `Node` to the engine thread.
#[derive(Debug)]
pub(crate) struct KeySink {
    prefix: String,
    sink: Sink<KeyEvent>,
}

/// A membership subscription's sink, as handed to the engine thread.
#[derive(Debug)]
pub(crate) struct MembershipSink(Sink<MembershipEvent>);

/// A subscription to every event, as handed to the engine thread.
#[derive(Debug)]
pub(crate) struct EventSink(Sink<NodeEvent>);

/// A new subscription to every event.
pub(crate) fn event_subscription(capacity: usize) -> (EventSink, Subscription<NodeEvent>) {
    let (sink, sub) = channel(capacity);
    (EventSink(sink), sub)
}

fn event_lagged(missed: u64) -> NodeEvent {
    NodeEvent::Lagged { missed }
}

/// A new key subscription for keys starting with `prefix`.
pub(crate) fn key_subscription(
    prefix: String,
    capacity: usize,
) -> (KeySink, Subscription<KeyEvent>) {
    let (sink, sub) = channel(capacity);
    (KeySink { prefix, sink }, sub)
}

/// A new membership subscription.
pub(crate) fn membership_subscription(
    capacity: usize,
) -> (MembershipSink, Subscription<MembershipEvent>) {
    let (sink, sub) = channel(capacity);
    (MembershipSink(sink), sub)
}

fn key_lagged(missed: u64) -> KeyEvent {
    KeyEvent::Lagged { missed }
}

fn membership_lagged(missed: u64) -> MembershipEvent {
    MembershipEvent::Lagged { missed }
}

/// Every live subscription, owned by the engine thread.
#[derive(Debug, Default)]
pub(crate) struct Subscribers {
    keys: Vec<KeySink>,
    membership: Vec<MembershipSink>,
    all: Vec<EventSink>,
}

impl Subscribers {
    /// Adds a key subscription.
    pub(crate) fn add_keys(&mut self, sink: KeySink) {
        self.keys.push(sink);
    }

    /// Adds a membership subscription.
    pub(crate) fn add_membership(&mut self, sink: MembershipSink) {
        self.membership.push(sink);
    }

    /// Adds a subscription to every event.
    pub(crate) fn add_all(&mut self, sink: EventSink) {
        self.all.push(sink);
    }

    /// Whether any subscription covers `key` (so an event is worth
    /// building).
    pub(crate) fn wants_key(&self, key: &str) -> bool {
        !self.all.is_empty() || self.keys.iter().any(|s| key.starts_with(&s.prefix))
    }

    /// Whether anyone subscribed to membership changes.
    pub(crate) fn wants_membership(&self) -> bool {
        !self.membership.is_empty() || !self.all.is_empty()
    }

    /// Delivers a key event to every subscription whose prefix matches,
    /// and to every subscription to all events.
    pub(crate) fn key_event(&mut self, event: &KeyEvent, stats: &Stats) {
        let Some(key) = event.key() else {
            return;
        };
        self.keys.retain_mut(|s| {
            !key.starts_with(&s.prefix)
                || matches!(s.sink.offer(event.clone(), key_lagged, stats), Offer::Kept)
        });
        self.offer_all(NodeEvent::Key(event.clone()), stats);
    }

    /// Delivers a membership event to every membership subscription and
    /// every subscription to all events.
    pub(crate) fn membership_event(&mut self, event: &MembershipEvent, stats: &Stats) {
        self.membership.retain_mut(|s| {
            matches!(
                s.0.offer(event.clone(), membership_lagged, stats),
                Offer::Kept
            )
        });
        self.offer_all(NodeEvent::Membership(event.clone()), stats);
    }

    fn offer_all(&mut self, event: NodeEvent, stats: &Stats) {
        self.all
            .retain_mut(|s| matches!(s.0.offer(event.clone(), event_lagged, stats), Offer::Kept));
    }

    /// Queues pending `Lagged` markers where there is room again, and drops
    /// closed subscriptions; called on every gossip tick so that a gap is
    /// reported even when no further event comes.
    pub(crate) fn flush(&mut self) {
        self.keys
            .retain_mut(|s| s.sink.flush_gap(key_lagged).is_ok());
        self.membership
            .retain_mut(|s| s.0.flush_gap(membership_lagged).is_ok());
        self.all.retain_mut(|s| s.0.flush_gap(event_lagged).is_ok());
    }

    /// Number of live subscriptions (key, membership, all).
    #[cfg(test)]
    fn len(&self) -> (usize, usize, usize) {
        (self.keys.len(), self.membership.len(), self.all.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn id() -> NodeId {
        NodeId::new("a", 1, SocketAddr::from(([127, 0, 0, 1], 1))).unwrap()
    }

    fn set(key: &str, version: u64) -> KeyEvent {
        KeyEvent::Set {
            node: id(),
            key: key.into(),
            value: vec![version as u8],
            version,
        }
    }

    #[test]
    fn prefix_filters_key_events() {
        let stats = Stats::default();
        let mut subs = Subscribers::default();
        let (sink, sub) = key_subscription("svc/".into(), 8);
        subs.add_keys(sink);
        assert!(subs.wants_key("svc/http"));
        assert!(!subs.wants_key("other"));
        subs.key_event(&set("other", 1), &stats);
        subs.key_event(&set("svc/http", 2), &stats);
        assert_eq!(sub.try_recv(), Ok(set("svc/http", 2)));
        assert!(sub.try_recv().is_err());
    }

    #[test]
    fn a_full_channel_drops_new_events_and_marks_the_gap() {
        let stats = Stats::default();
        let mut subs = Subscribers::default();
        let (sink, sub) = key_subscription(String::new(), 2);
        subs.add_keys(sink);
        for v in 1..=5 {
            subs.key_event(&set("k", v), &stats);
        }
        // The two oldest were kept, three were dropped and counted.
        assert_eq!(sub.dropped(), 3);
        assert_eq!(stats.events_dropped.load(Ordering::Relaxed), 3);
        assert_eq!(sub.try_recv(), Ok(set("k", 1)));
        assert_eq!(sub.try_recv(), Ok(set("k", 2)));
        // Room again: the next event is preceded by the marker.
        subs.key_event(&set("k", 6), &stats);
        assert_eq!(sub.try_recv(), Ok(KeyEvent::Lagged { missed: 3 }));
        assert_eq!(sub.try_recv(), Ok(set("k", 6)));
    }

    #[test]
    fn flush_queues_a_pending_marker_without_a_new_event() {
        let stats = Stats::default();
        let mut subs = Subscribers::default();
        let (sink, sub) = membership_subscription(1);
        subs.add_membership(sink);
        subs.membership_event(&MembershipEvent::Joined { node: id() }, &stats);
        subs.membership_event(&MembershipEvent::Dead { node: id() }, &stats);
        assert_eq!(sub.try_recv(), Ok(MembershipEvent::Joined { node: id() }));
        subs.flush();
        assert_eq!(sub.try_recv(), Ok(MembershipEvent::Lagged { missed: 1 }));
    }

    #[test]
    fn dropped_receivers_are_removed() {
        let stats = Stats::default();
        let mut subs = Subscribers::default();
        let (sink, sub) = key_subscription(String::new(), 2);
        subs.add_keys(sink);
        let (sink, msub) = membership_subscription(2);
        subs.add_membership(sink);
        drop(sub);
        drop(msub);
        subs.key_event(&set("k", 1), &stats);
        subs.membership_event(&MembershipEvent::Joined { node: id() }, &stats);
        assert_eq!(subs.len(), (0, 0, 0));
        assert!(!subs.wants_membership());
    }

    #[test]
    fn one_subscription_to_everything_keeps_the_order_across_kinds() {
        let stats = Stats::default();
        let mut subs = Subscribers::default();
        let (sink, all) = event_subscription(8);
        subs.add_all(sink);
        assert!(subs.wants_key("anything") && subs.wants_membership());
        let joined = MembershipEvent::Joined { node: id() };
        subs.membership_event(&joined, &stats);
        subs.key_event(&set("k", 1), &stats);
        subs.membership_event(&MembershipEvent::Dead { node: id() }, &stats);
        assert_eq!(all.try_recv(), Ok(NodeEvent::Membership(joined)));
        assert_eq!(all.try_recv(), Ok(NodeEvent::Key(set("k", 1))));
        assert_eq!(
            all.try_recv(),
            Ok(NodeEvent::Membership(MembershipEvent::Dead { node: id() }))
        );
        // A gap is one marker, whatever the kinds missed.
        let (sink, small) = event_subscription(1);
        subs.add_all(sink);
        subs.key_event(&set("k", 2), &stats);
        subs.membership_event(&MembershipEvent::Left { node: id() }, &stats);
        subs.key_event(&set("k", 3), &stats);
        assert_eq!(small.try_recv(), Ok(NodeEvent::Key(set("k", 2))));
        subs.flush();
        assert_eq!(small.try_recv(), Ok(NodeEvent::Lagged { missed: 2 }));
        assert_eq!(small.dropped(), 2);
    }
}
