//! [`Node`]: the handle to a running node.
//!
//! A `Node` is a cheap, cloneable, `Send + Sync` handle. Every operation is
//! a command sent to the engine thread with a reply channel, and waits for
//! the reply; so operations are applied in the order each caller issues
//! them, a read sees every write issued before it (from any handle), and a
//! snapshot ([`Node::members`]) is consistent: it is taken between two
//! engine steps. Reads cost a round trip to the engine thread (tens of
//! microseconds), queued behind whatever the engine is doing.
//!
//! Shutting down ([`Node::shutdown`], or dropping the last handle) stops and
//! joins every thread of the node (except a resolver thread stuck in a DNS
//! lookup, which is left to end when the lookup returns); afterwards every
//! operation returns [`Error::ShutDown`].

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use hearsay_core::{Capacity, ClusterKey, KeyFingerprint, KeyMode, NodeId, NodeStatus};

use crate::counters::{Counters, Gauges, Stats};
use crate::engine_loop::{Command, KeyChange, Keys};
use crate::error::Error;
use crate::identity::Identity;
use crate::member::Member;
use crate::resolver::RESOLVER_JOIN_WAIT;
use crate::subscription::{
    KeyEvent, MembershipEvent, NodeEvent, Subscription, event_subscription, key_subscription,
    membership_subscription,
};

/// A running hearsay node. Clone it freely; the node shuts down when
/// [`Node::shutdown`] is called or the last clone is dropped.
///
/// ```no_run
/// # fn main() -> Result<(), hearsay_std::Error> {
/// let node = hearsay_std::Node::builder("web-1").seed("10.0.0.1:7946").start()?;
/// node.set("http", "10.0.0.2:8080")?;
/// for m in node.members()? {
///     println!("{} {:?} phi={:.1}", m.name, m.status, m.phi);
/// }
/// node.leave()?;
/// node.shutdown()?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

/// The node's threads, joined at shutdown.
#[derive(Debug)]
pub(crate) struct Threads {
    pub engine: Option<JoinHandle<()>>,
    pub receiver: Option<JoinHandle<()>>,
    pub resolver: Option<ResolverThread>,
}

/// The resolver thread, which shutdown may not join (see
/// [`crate::resolver`]).
#[derive(Debug)]
pub(crate) struct ResolverThread {
    pub handle: JoinHandle<()>,
    /// Disconnected when the thread ends (it owns the sender).
    pub done: Receiver<()>,
}

/// What every clone of a [`Node`] shares.
#[derive(Debug)]
pub(crate) struct Inner {
    pub commands: Sender<Command>,
    /// Tells the receive thread to stop.
    pub stop: Arc<AtomicBool>,
    /// Dropped to wake and stop the resolver thread.
    pub resolver_stop: Mutex<Option<Sender<()>>>,
    /// `None` once shut down.
    pub threads: Mutex<Option<Threads>>,
    pub stats: Arc<Stats>,
    /// The current id (it changes when the node refutes).
    pub id: Arc<Identity>,
    /// The name, which never changes.
    pub name: String,
    /// The cluster's name, or its fingerprint in hex (see [`Node::cluster`]).
    pub cluster: String,
    pub local_addr: SocketAddr,
    /// What the engine's tables were allocated for; fixed for its life.
    pub capacity: Capacity,
    pub subscription_capacity: usize,
    /// How long `leave` waits at most.
    pub leave_bound: Duration,
    pub shut_down: AtomicBool,
}

/// Locks a mutex, ignoring poisoning: the data behind these locks (join
/// handles, a sender) stays valid even if a holder panicked.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Inner {
    /// Stops and joins every thread; a no-op the second time.
    fn shutdown(&self) -> Result<(), Error> {
        let Some(threads) = lock(&self.threads).take() else {
            return Ok(());
        };
        self.shut_down.store(true, Ordering::Release);
        self.stop.store(true, Ordering::Relaxed);
        drop(lock(&self.resolver_stop).take());
        // Fails only if the engine thread is already gone; nothing to stop.
        let _ = self.commands.send(Command::Shutdown);
        let mut result = Ok(());
        // A lookup cannot be interrupted: wait a little for the resolver
        // thread, then let it finish on its own.
        let resolver =
            threads
                .resolver
                .and_then(|r| match r.done.recv_timeout(RESOLVER_JOIN_WAIT) {
                    Err(RecvTimeoutError::Disconnected) => Some(r.handle),
                    _ => {
                        log::debug!(
                            "hearsay {}: a seed lookup is still running; not waiting for it",
                            self.name
                        );
                        None
                    }
                });
        for (handle, which) in [
            (threads.engine, "engine"),
            (threads.receiver, "receive"),
            (resolver, "resolver"),
        ] {
            if let Some(h) = handle
                && h.join().is_err()
                && result.is_ok()
            {
                result = Err(Error::ThreadPanicked(which));
            }
        }
        log::debug!("hearsay {}: shut down", self.name);
        result
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            log::error!("hearsay {}: {e}", self.name);
        }
    }
}

impl Node {
    pub(crate) fn from_inner(inner: Inner) -> Self {
        Node {
            inner: Arc::new(inner),
        }
    }

    /// Records a thread started after the handle was made.
    pub(crate) fn add_thread(&self, f: impl FnOnce(&mut Threads)) {
        if let Some(t) = lock(&self.inner.threads).as_mut() {
            f(t);
        }
    }

    /// Sends a command and waits for its reply.
    fn request<T>(&self, make: impl FnOnce(Sender<T>) -> Command) -> Result<T, Error> {
        self.request_within(None, make)
    }

    fn request_within<T>(
        &self,
        bound: Option<Duration>,
        make: impl FnOnce(Sender<T>) -> Command,
    ) -> Result<T, Error> {
        if self.is_shut_down() {
            return Err(Error::ShutDown);
        }
        let (reply, rx) = crossbeam_channel::bounded(1);
        self.inner
            .commands
            .send(make(reply))
            .map_err(|_| Error::ShutDown)?;
        // The engine drops the reply sender unanswered only when it stops.
        match bound {
            None => rx.recv().map_err(|_| Error::ShutDown),
            Some(t) => rx.recv_timeout(t).map_err(|e| match e {
                crossbeam_channel::RecvTimeoutError::Timeout => Error::Timeout,
                crossbeam_channel::RecvTimeoutError::Disconnected => Error::ShutDown,
            }),
        }
    }

    /// This node's identity: name, generation, advertised address. The
    /// generation can change while the node runs: a node that hears of
    /// itself at a higher generation than its own (a restart whose clock is
    /// behind, or a forged id) takes a new one above it (self-refutation,
    /// logged and counted in [`hearsay_core::Counters::refutations`]).
    pub fn id(&self) -> NodeId {
        self.inner.id.get()
    }

    /// This node's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The cluster this node belongs to: the name given to
    /// [`crate::Builder::cluster`] (default `"hearsay"`). A cluster set
    /// only by its id ([`crate::Builder::cluster_id`], or a
    /// [`hearsay_core::Config`] whose id is not the fingerprint of that
    /// name) reads as its 32-bit fingerprint in 8 lowercase hex digits.
    /// The metrics carry it as their `cluster` label.
    pub fn cluster(&self) -> &str {
        &self.inner.cluster
    }

    /// The address the gossip socket is bound to (with the actual port when
    /// the builder asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    /// How much the engine holds (nodes, entries, state bytes, detector
    /// window), as set on the [`crate::Builder`]; its tables were allocated
    /// for it once at start ([`Capacity::memory_bytes`]).
    pub fn capacity(&self) -> Capacity {
        self.inner.capacity
    }

    /// Sets one of this node's keys. Setting the value a key already has is
    /// a no-op (no new version, no event).
    pub fn set(&self, key: &str, value: impl AsRef<[u8]>) -> Result<(), Error> {
        let (key, value) = (key.to_owned(), value.as_ref().to_vec());
        self.request(|reply| Command::Set {
            key,
            value,
            ttl: None,
            reply,
        })?
    }

    /// Sets one of this node's keys until `ttl` has passed; then the node
    /// deletes it (the engine wakes for it, to the millisecond). Setting
    /// the same value again extends the deadline.
    pub fn set_with_ttl(
        &self,
        key: &str,
        value: impl AsRef<[u8]>,
        ttl: Duration,
    ) -> Result<(), Error> {
        let (key, value) = (key.to_owned(), value.as_ref().to_vec());
        self.request(|reply| Command::Set {
            key,
            value,
            ttl: Some(ttl),
            reply,
        })?
    }

    /// Deletes one of this node's keys; `true` if it was set.
    pub fn delete(&self, key: &str) -> Result<bool, Error> {
        let key = key.to_owned();
        self.request(|reply| Command::Delete { key, reply })?
    }

    /// The value of one of this node's keys.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        let key = key.to_owned();
        self.request(|reply| Command::Get {
            member: None,
            key,
            reply,
        })
    }

    /// The value of `key` in the namespace of the node named `member` (this
    /// one included), as far as this node knows.
    pub fn get_from(&self, member: &str, key: &str) -> Result<Option<Vec<u8>>, Error> {
        let (member, key) = (member.to_owned(), key.to_owned());
        self.request(|reply| Command::Get {
            member: Some(member),
            key,
            reply,
        })
    }

    /// Every node this node knows (itself included; live, pending, dead and
    /// left ones), as a consistent snapshot.
    pub fn members(&self) -> Result<Vec<Member>, Error> {
        self.request(|reply| Command::Members { reply })
    }

    /// The other nodes currently alive.
    pub fn live_members(&self) -> Result<Vec<Member>, Error> {
        let mut all = self.members()?;
        all.retain(|m| !m.is_local && m.status == NodeStatus::Alive);
        Ok(all)
    }

    /// The node named `name`, if known.
    pub fn member(&self, name: &str) -> Result<Option<Member>, Error> {
        let name = name.to_owned();
        self.request(|reply| Command::Member { name, reply })
    }

    /// Subscribes to changes of keys starting with `prefix` (`""` for all),
    /// in every node's namespace, this one's included. Events that happen
    /// after this call returns are delivered; to start from the current
    /// state without a gap, subscribe first, then read, or subscribe on
    /// the [`crate::Builder`] to get every event from the node's start.
    pub fn subscribe_keys(&self, prefix: &str) -> Result<Subscription<KeyEvent>, Error> {
        let (sink, sub) = key_subscription(prefix.to_owned(), self.inner.subscription_capacity);
        self.request(|reply| Command::SubscribeKeys { sink, reply })?;
        Ok(sub)
    }

    /// Subscribes to membership changes (joined, dead, alive again, left,
    /// replaced, removed) from now on ([`crate::Builder::subscribe_membership`]:
    /// from the start).
    pub fn subscribe_membership(&self) -> Result<Subscription<MembershipEvent>, Error> {
        let (sink, sub) = membership_subscription(self.inner.subscription_capacity);
        self.request(|reply| Command::SubscribeMembership { sink, reply })?;
        Ok(sub)
    }

    /// Subscribes to every membership and key event (this node's own
    /// writes included) in one channel, in the order the engine made them:
    /// a node's `Joined` (or `Replaced`) before its keys, its keys before
    /// its `Left`. From now on ([`crate::Builder::subscribe`]: from the
    /// start). See [the event contract](crate::subscription#order-and-the-event-contract).
    pub fn subscribe(&self) -> Result<Subscription<NodeEvent>, Error> {
        let (sink, sub) = event_subscription(self.inner.subscription_capacity);
        self.request(|reply| Command::Subscribe { sink, reply })?;
        Ok(sub)
    }

    /// Installs a cluster key: datagrams sealed with it are accepted from
    /// now on (the first key also becomes the one this node seals with).
    /// Serf's rotation: install the new key on every node, then
    /// [`Node::use_key`] on every node, then [`Node::remove_key`] the old
    /// one on every node. Returns the key's fingerprint.
    pub fn install_key(&self, key: [u8; 32]) -> Result<KeyFingerprint, Error> {
        let key = ClusterKey::new(key);
        let fp = key.fingerprint();
        self.keys_change(KeyChange::Install(key))?;
        Ok(fp)
    }

    /// Makes the installed key `fp` the one this node seals with.
    pub fn use_key(&self, fp: KeyFingerprint) -> Result<(), Error> {
        self.keys_change(KeyChange::Use(fp)).map(drop)
    }

    /// Removes the installed key `fp` (not the one in use).
    pub fn remove_key(&self, fp: KeyFingerprint) -> Result<(), Error> {
        self.keys_change(KeyChange::Remove(fp)).map(drop)
    }

    /// Sets what this node sends and accepts while it has keys; see
    /// [`KeyMode`] for turning keys on in a running cluster.
    pub fn set_key_mode(&self, mode: KeyMode) -> Result<(), Error> {
        self.keys_change(KeyChange::Mode(mode)).map(drop)
    }

    /// The node's cluster keys: fingerprints, never key bytes.
    pub fn keys(&self) -> Result<Keys, Error> {
        self.keys_change(KeyChange::List)
    }

    fn keys_change(&self, change: KeyChange) -> Result<Keys, Error> {
        self.request(|reply| Command::Keys { change, reply })?
    }

    /// The node's counters (engine and runtime).
    pub fn counters(&self) -> Result<Counters, Error> {
        let engine = self.request(|reply| Command::Counters { reply })?;
        Ok(self.inner.stats.snapshot(engine))
    }

    /// What the node holds now: members by status, the highest phi and
    /// adaptive timeout among its live peers, state in use and capacity.
    /// Cheaper than [`Node::members`]: nothing is copied per node.
    pub fn gauges(&self) -> Result<Gauges, Error> {
        self.request(|reply| Command::Gauges { reply })
    }

    /// Leaves the cluster gracefully: announces the departure (peers mark
    /// this node left instead of waiting for the failure detector to call
    /// it dead), keeps gossiping it for the configured `leave_linger`, and
    /// returns then, or with [`Error::Timeout`] if that took more than
    /// `leave_linger` + 2 gossip intervals + 1 s. Keys can no longer be
    /// written afterwards; call [`Node::shutdown`] (or drop the handle) to
    /// stop the threads.
    pub fn leave(&self) -> Result<(), Error> {
        let bound = self.inner.leave_bound;
        self.request_within(Some(bound), |reply| Command::Leave { reply })?
    }

    /// Stops the node at once, without announcing anything (peers will
    /// detect it as dead; call [`Node::leave`] first to depart gracefully),
    /// and joins its threads. Returns within about 100 ms (the socket's read
    /// timeout), or 600 ms when a seed lookup is in progress: a lookup stuck
    /// in DNS is not waited for (its thread ends when it returns). Calling
    /// it again, on any clone, does nothing.
    pub fn shutdown(&self) -> Result<(), Error> {
        self.inner.shutdown()
    }

    /// Whether the node was shut down.
    pub fn is_shut_down(&self) -> bool {
        self.inner.shut_down.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync + Clone>() {}

    #[test]
    fn node_is_a_send_sync_clone_handle() {
        assert_send_sync::<Node>();
    }

    #[test]
    fn operations_after_shutdown_fail_typed() {
        let node = Node::builder("solo").start().unwrap();
        node.set("k", "v").unwrap();
        assert_eq!(node.get("k").unwrap().as_deref(), Some(&b"v"[..]));
        let clone = node.clone();
        node.shutdown().unwrap();
        assert!(clone.is_shut_down());
        assert!(matches!(clone.set("k", "w"), Err(Error::ShutDown)));
        assert!(matches!(clone.members(), Err(Error::ShutDown)));
        assert!(clone.shutdown().is_ok());
    }

    #[test]
    fn local_writes_are_checked_and_reported() {
        let node = Node::builder("w").start().unwrap();
        let sub = node.subscribe_keys("svc/").unwrap();
        assert!(matches!(node.set("", "x"), Err(Error::InvalidKey(_))));
        assert!(matches!(node.set("\0x", "x"), Err(Error::InvalidKey(_))));
        // A NUL inside: through the C API, "a\0b" would read as "a".
        assert!(matches!(node.set("a\0b", "x"), Err(Error::InvalidKey(_))));
        assert!(matches!(
            node.set_with_ttl("a\0b", "x", Duration::from_secs(1)),
            Err(Error::InvalidKey(_))
        ));
        assert!(matches!(node.delete("a\0b"), Err(Error::InvalidKey(_))));
        assert_eq!(node.get("a").unwrap(), None);
        assert!(matches!(
            node.set("big", vec![0u8; 65_537]),
            Err(Error::ValueTooLong)
        ));
        node.set("svc/a", "1").unwrap();
        node.set("svc/a", "1").unwrap(); // same value: no event
        node.set("other", "x").unwrap();
        assert!(node.delete("svc/a").unwrap());
        assert!(!node.delete("svc/a").unwrap());
        let got: Vec<KeyEvent> = sub.receiver().try_iter().collect();
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(
            matches!(&got[0], KeyEvent::Set { key, value, .. } if key == "svc/a" && value == b"1")
        );
        assert!(matches!(&got[1], KeyEvent::Deleted { key, .. } if key == "svc/a"));
        let me = node.member("w").unwrap().unwrap();
        assert!(me.is_local);
        assert_eq!(me.get("other"), Some(&b"x"[..]));
        let c = node.counters().unwrap();
        assert_eq!(c.channel_drops(), 0);
    }

    /// A seed lookup can hang for tens of seconds when DNS is broken;
    /// shutting down (explicitly or by dropping the last handle) must not
    /// wait for it, and the resolver thread must still end once the lookup
    /// returns.
    #[test]
    fn shutdown_does_not_wait_for_a_stuck_resolver() {
        for by_drop in [false, true] {
            let (entered_tx, entered) = crossbeam_channel::bounded::<()>(1);
            let (release, released) = crossbeam_channel::bounded::<()>(0);
            // Dropped with the resolver, so its count tells when the
            // resolver thread is gone.
            let token = Arc::new(());
            let held = Arc::clone(&token);
            let stuck = move |_: &str| -> std::io::Result<Vec<SocketAddr>> {
                let _held = &held;
                let _ = entered_tx.try_send(());
                // Blocks until the test lets go (or gives up).
                let _ = released.recv();
                Err(std::io::Error::other("DNS is broken"))
            };
            let node = Node::builder("dns")
                .seed("seed.invalid:7000")
                .resolver(stuck)
                .start()
                .unwrap();
            entered
                .recv_timeout(Duration::from_secs(30))
                .expect("the resolver thread looks the seed up");

            let (done_tx, done) = crossbeam_channel::bounded(1);
            let started = std::time::Instant::now();
            std::thread::spawn(move || {
                let r = if by_drop {
                    drop(node);
                    Ok(())
                } else {
                    node.shutdown()
                };
                let _ = done_tx.send(r);
            });
            // A liveness bound, generous for a loaded machine: the lookup
            // never answers until released, so any return is "not until
            // DNS answers".
            let outcome = done.recv_timeout(Duration::from_secs(30));
            let took = started.elapsed();
            drop(release);
            assert!(
                matches!(outcome, Ok(Ok(()))),
                "shutdown (by drop: {by_drop}) still waiting after {took:?}: {outcome:?}"
            );
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while Arc::strong_count(&token) > 1 {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the resolver thread did not end after its lookup returned"
                );
                std::thread::yield_now();
            }
        }
    }

    /// The engine thread sleeps until the engine's next deadline, and a
    /// TTL is one: the key goes when its TTL has passed, not at the next
    /// gossip round (an hour away here).
    #[test]
    fn a_ttl_expires_long_before_the_next_gossip_round() {
        let node = Node::builder("ttl")
            .gossip_interval(Duration::from_secs(3600))
            .start()
            .unwrap();
        node.set_with_ttl("k", "v", Duration::from_millis(100))
            .unwrap();
        // Generous: the point is "before the round in an hour".
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while node.get("k").unwrap().is_some() {
            assert!(
                std::time::Instant::now() < deadline,
                "the key outlived its TTL by 30 s"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn leave_waits_for_the_linger_then_writes_fail() {
        let node = Node::builder("l")
            .leave_linger(Duration::from_millis(200))
            .start()
            .unwrap();
        let t = std::time::Instant::now();
        node.leave().unwrap();
        assert!(t.elapsed() >= Duration::from_millis(150));
        assert!(matches!(node.set("k", "v"), Err(Error::Left)));
        // Leaving again is immediate.
        node.leave().unwrap();
    }
}
