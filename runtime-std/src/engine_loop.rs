//! The engine thread: the only owner of the [`hearsay_core::Engine`].
//!
//! One thread owns the engine, so the engine needs no lock and every change
//! to it is serialised. It waits with `crossbeam_channel::select!` on:
//!
//! - **inbound datagrams** from the receive thread → `handle_datagram`;
//! - the **engine's deadline** (`crossbeam_channel::at` of
//!   `Engine::poll_timeout`) → `handle_timeout`: gossip rounds (about once
//!   per `gossip_interval`, jittered by the engine), convictions when a
//!   peer's timeout passes, TTL expiry to the millisecond, tombstone
//!   collection, and the end of a leave's linger, after which waiting
//!   `leave` calls are answered. The deadline is re-armed after every
//!   engine call, since a datagram or a write can bring it forward; there
//!   is no ticker of our own;
//! - **commands** from [`crate::Node`] handles (writes, reads,
//!   subscriptions, leave, shutdown), each answered on its own reply
//!   channel;
//! - **seed lists** from the resolver thread → `set_seeds`.
//!
//! Replies go out through the socket directly ([`SocketTx`]); events go to
//! subscribers ([`Subscribers`]) and to the log (membership at info).
//! Malformed input is logged at debug, rate-limited per kind. A local stall
//! the engine noticed (this thread did not run for over two gossip
//! intervals: a SIGSTOP, a VM pause, a suspend; see `hearsay_core::stall`)
//! is logged at warn, rate-limited too, and counted in `local_stalls`.
//!
//! Reads are answered between two engine steps, so a reply is a consistent
//! snapshot, and since one channel carries every command, each handle's
//! operations are applied in the order it issued them (read-your-writes).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, select};
use hearsay_core::{
    ClusterKey, DecodeError, Engine, Event, Heap, Instant, KeyFingerprint, KeyMode, Observer,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::counters::{Gauges, Stats};
use crate::error::Error;
use crate::identity::Identity;
use crate::member::{self, Member};
use crate::ratelimit::{LOG_PERIOD, RateLimiter, suppressed_note};
use crate::socket::{Inbound, SocketTx};
use crate::subscription::{
    EventSink, KeyEvent, KeySink, MembershipEvent, MembershipSink, Subscribers,
};

/// The engine this runtime drives: its tables are allocated once on the
/// heap, at the capacity the builder chose ([`crate::Builder::max_nodes`]).
pub(crate) type CoreEngine = Engine<Heap>;

/// A request from a [`crate::Node`] handle to the engine thread.
#[derive(Debug)]
pub(crate) enum Command {
    Set {
        key: String,
        value: Vec<u8>,
        ttl: Option<Duration>,
        reply: Sender<Result<(), Error>>,
    },
    Delete {
        key: String,
        reply: Sender<Result<bool, Error>>,
    },
    Get {
        /// `None`: this node.
        member: Option<String>,
        key: String,
        reply: Sender<Option<Vec<u8>>>,
    },
    Members {
        reply: Sender<Vec<Member>>,
    },
    Member {
        name: String,
        reply: Sender<Option<Member>>,
    },
    Counters {
        reply: Sender<hearsay_core::Counters>,
    },
    Gauges {
        reply: Sender<Gauges>,
    },
    SubscribeKeys {
        sink: KeySink,
        reply: Sender<()>,
    },
    SubscribeMembership {
        sink: MembershipSink,
        reply: Sender<()>,
    },
    Subscribe {
        sink: EventSink,
        reply: Sender<()>,
    },
    Leave {
        reply: Sender<Result<(), Error>>,
    },
    /// A keyring change (or none) and the keys afterwards.
    Keys {
        change: KeyChange,
        reply: Sender<Result<Keys, Error>>,
    },
    Shutdown,
}

/// What [`Command::Keys`] changes in the engine's keyring.
#[derive(Debug)]
pub(crate) enum KeyChange {
    List,
    Install(ClusterKey),
    Use(KeyFingerprint),
    Remove(KeyFingerprint),
    Mode(KeyMode),
}

/// A node's cluster keys: fingerprints only, never key bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Keys {
    /// Every installed key.
    pub installed: Vec<KeyFingerprint>,
    /// The key this node seals with (`None`: no keys).
    pub primary: Option<KeyFingerprint>,
    /// What the node sends and accepts while it has keys.
    pub mode: KeyMode,
}

/// The engine thread's clock: milliseconds since the node started, on the
/// monotonic clock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock(std::time::Instant);

impl Clock {
    pub(crate) fn start() -> Self {
        Clock(std::time::Instant::now())
    }

    pub(crate) fn now(&self) -> Instant {
        Instant::from_millis(u64::try_from(self.0.elapsed().as_millis()).unwrap_or(u64::MAX))
    }

    /// The system time at which [`Clock::now`] reaches `t`; `None` if that
    /// is beyond what the system clock can represent (then it never comes).
    pub(crate) fn at(&self, t: Instant) -> Option<std::time::Instant> {
        self.0.checked_add(Duration::from_millis(t.as_millis()))
    }
}

/// The channels the engine thread listens on.
#[derive(Debug)]
pub(crate) struct Inputs {
    pub inbound: Receiver<Inbound>,
    pub commands: Receiver<Command>,
    pub seeds: Receiver<Vec<SocketAddr>>,
}

/// The engine thread's state besides the engine itself.
pub(crate) struct EngineLoop {
    engine: CoreEngine,
    tx: SocketTx,
    clock: Clock,
    stats: Arc<Stats>,
    subscribers: Subscribers,
    /// Rate limiter for decode-error log lines, one slot per kind.
    decode_log: RateLimiter,
    /// Rate limiter for local-stall log lines (one kind).
    stall_log: RateLimiter,
    /// Local stalls already reported (the engine's count).
    stalls_seen: u64,
    /// The id the node's handles see; updated when the engine refutes.
    identity: Arc<Identity>,
    /// Rate limiter for the line about state refused beyond the per-node share.
    oversized_log: RateLimiter,
    /// `leave` calls waiting for the departure to be announced.
    leave_waiters: Vec<Sender<Result<(), Error>>>,
    rng: StdRng,
    name: String,
}

impl std::fmt::Debug for EngineLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineLoop")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl EngineLoop {
    /// Wraps a working engine.
    pub(crate) fn new(
        engine: CoreEngine,
        tx: SocketTx,
        clock: Clock,
        stats: Arc<Stats>,
        subscribers: Subscribers,
        identity: Arc<Identity>,
    ) -> Self {
        let name = engine.id().name.as_str().to_owned();
        EngineLoop {
            identity,
            engine,
            tx,
            clock,
            stats,
            subscribers,
            decode_log: RateLimiter::new(DecodeError::COUNT, LOG_PERIOD),
            stall_log: RateLimiter::new(1, LOG_PERIOD),
            stalls_seen: 0,
            oversized_log: RateLimiter::new(2, LOG_PERIOD),
            leave_waiters: Vec::new(),
            rng: StdRng::from_os_rng(),
            name,
        }
    }

    /// Runs until a `Shutdown` command, or until every handle and the
    /// receive thread are gone.
    pub(crate) fn run(mut self, inputs: Inputs) {
        let mut seeds = inputs.seeds;
        loop {
            // The engine's first round is due at once, so the node gossips
            // as soon as it starts.
            let deadline = self.deadline();
            select! {
                recv(inputs.inbound) -> msg => match msg {
                    Ok(d) => self.datagram(d),
                    Err(_) => break,
                },
                recv(deadline) -> _ => self.timeout(),
                recv(inputs.commands) -> cmd => match cmd {
                    Ok(Command::Shutdown) | Err(_) => break,
                    Ok(cmd) => self.command(cmd),
                },
                recv(seeds) -> list => match list {
                    Ok(list) => self.set_seeds(&list),
                    // The resolver is gone (no seeds); stop listening to it.
                    Err(_) => seeds = crossbeam_channel::never(),
                },
            }
            // Whichever call came first after a stall noticed it.
            self.report_stall();
            // A refutation changes our generation.
            self.identity.update(self.engine.id());
        }
        // Leave calls still waiting learn that the node is going away.
        for w in self.leave_waiters.drain(..) {
            let _ = w.send(Err(Error::ShutDown));
        }
    }

    /// Hands a freshly resolved seed list to the engine.
    /// (With no peer live yet, the engine makes a round due at once, so a
    /// seed is contacted without waiting for the schedule.)
    fn set_seeds(&mut self, list: &[SocketAddr]) {
        let kept = self.engine.set_seeds(list);
        log::debug!("hearsay {}: {kept} seed addresses: {list:?}", self.name);
    }

    /// A channel that fires at the engine's next deadline (never, once
    /// nothing will be due).
    ///
    /// A leave's callers are answered when its linger has passed, from
    /// [`EngineLoop::timeout`]. If a datagram or a command was handled
    /// first past that instant, the engine, having noted the time, has
    /// nothing more due: the channel then fires at once, so that the
    /// callers are still answered (they waited until their own bound, and
    /// failed with [`Error::Timeout`], when a busy machine let that happen).
    fn deadline(&self) -> Receiver<std::time::Instant> {
        match self.engine.poll_timeout().and_then(|t| self.clock.at(t)) {
            Some(at) => crossbeam_channel::at(at),
            None if !self.leave_waiters.is_empty() => {
                crossbeam_channel::at(std::time::Instant::now())
            }
            None => crossbeam_channel::never(),
        }
    }

    /// Everything the engine has due now: a gossip round, convictions,
    /// expiry, the end of a leave.
    fn timeout(&mut self) {
        let now = self.clock.now();
        let mut obs = Obs {
            subs: &mut self.subscribers,
            stats: &self.stats,
            local: &self.name,
        };
        self.engine
            .handle_timeout(now, &mut self.rng, &mut self.tx, &mut obs);
        self.subscribers.flush();
        if !self.leave_waiters.is_empty() {
            self.finish_leave();
        }
    }

    /// Logs a local stall the engine noticed since the last report, at
    /// most one line per period (a machine that keeps stalling would
    /// otherwise log at every step); every stall is counted.
    fn report_stall(&mut self) {
        let count = self.engine.counters().local_stalls;
        if count == self.stalls_seen {
            return;
        }
        self.stalls_seen = count;
        let Some(stall) = self.engine.last_stall() else {
            return;
        };
        if let Some(n) = self.stall_log.allow(0, std::time::Instant::now()) {
            let bound = hearsay_core::stall::stall_bound(self.engine.config().gossip_interval);
            log::warn!(
                "hearsay {}: this node stalled for {:?} (no engine step for over {bound:?}: paused, suspended or starved); failure detection restarted for {} live peers{}",
                self.name,
                stall.length,
                stall.restarted_peers,
                suppressed_note(n)
            );
        }
    }

    /// Hands one received datagram to the engine.
    fn datagram(&mut self, mut d: Inbound) {
        let now = self.clock.now();
        let mut obs = Obs {
            subs: &mut self.subscribers,
            stats: &self.stats,
            local: &self.name,
        };
        let oversized = self.engine.counters().oversized_namespaces;
        let long_values = self.engine.counters().oversized_values;
        let result = self
            .engine
            .handle_datagram(d.from, &mut d.bytes, now, &mut self.tx, &mut obs);
        let values = self.engine.counters().oversized_values;
        if values > long_values
            && let Some(n) = self.oversized_log.allow(1, std::time::Instant::now())
        {
            log::warn!(
                "hearsay {}: refused state from {} carrying a value longer than this node's \
                 max_value_len ({} bytes): max_value_len is meant to be the same on every node \
                 (misconfiguration), or the state is made up; that node stays frozen here \
                 ({values} refused so far){}",
                self.name,
                d.from,
                self.engine.max_value_len(),
                suppressed_note(n)
            );
        }
        let total = self.engine.counters().oversized_namespaces;
        if total > oversized
            && let Some(n) = self.oversized_log.allow(0, std::time::Instant::now())
        {
            log::warn!(
                "hearsay {}: refused state from {} that takes a node beyond the per-node \
                 share (max_node_entries / max_node_bytes): a node configured with a larger \
                 share than this one, or made-up state; that node stays frozen here \
                 ({total} refused so far){}",
                self.name,
                d.from,
                suppressed_note(n)
            );
        }
        if let Err(e) = result {
            // Counted by the engine; logged here, at most once per kind per
            // period, since anyone can send us garbage.
            if let Some(n) = self.decode_log.allow(e as usize, std::time::Instant::now()) {
                // Key mismatches are configuration to fix, not noise.
                let level = match e {
                    DecodeError::SealedRefused
                    | DecodeError::UnsealedRefused
                    | DecodeError::UnknownKey => log::Level::Warn,
                    _ => log::Level::Debug,
                };
                log::log!(
                    level,
                    "hearsay {}: rejected {} bytes from {}: {e}{}",
                    self.name,
                    d.bytes.len(),
                    d.from,
                    suppressed_note(n)
                );
            }
        }
    }

    /// Applies a keyring change and lists the keys after it.
    fn change_keys(&mut self, change: KeyChange) -> Result<Keys, Error> {
        let e = &mut self.engine;
        match change {
            KeyChange::List => {}
            KeyChange::Install(key) => {
                e.install_key(key).map_err(Error::Key)?;
            }
            KeyChange::Use(fp) => e.use_key(fp).map_err(Error::Key)?,
            KeyChange::Remove(fp) => e.remove_key(fp).map_err(Error::Key)?,
            KeyChange::Mode(mode) => e.set_key_mode(mode),
        }
        Ok(Keys {
            installed: e.keys().collect(),
            primary: e.primary_key(),
            mode: e.key_mode(),
        })
    }

    /// Answers one command from a handle. A closed reply channel (the caller
    /// gave up) is not an error.
    fn command(&mut self, cmd: Command) {
        let now = self.clock.now();
        match cmd {
            Command::Set {
                key,
                value,
                ttl,
                reply,
            } => {
                let r = self.write(&key, |e| match ttl {
                    Some(ttl) => e.set_with_ttl(&key, &value, ttl, now),
                    None => e.set(&key, &value),
                });
                let _ = reply.send(r.map(|_| ()));
            }
            Command::Delete { key, reply } => {
                let r = self.write(&key, |e| e.delete(&key, now));
                let _ = reply.send(r);
            }
            Command::Get { member, key, reply } => {
                let value = match member {
                    None => self.engine.get(&key),
                    Some(name) => self.engine.node(&name).and_then(|n| n.get(&key)),
                };
                let _ = reply.send(value.map(<[u8]>::to_vec));
            }
            Command::Members { reply } => {
                let _ = reply.send(member::all(&self.engine, now));
            }
            Command::Member { name, reply } => {
                let m = self.engine.node(&name).map(|v| Member::snapshot(&v, now));
                let _ = reply.send(m);
            }
            Command::Counters { reply } => {
                let _ = reply.send(self.engine.counters().clone());
            }
            Command::Gauges { reply } => {
                let _ = reply.send(Gauges::read(&self.engine, now));
            }
            Command::Keys { change, reply } => {
                let _ = reply.send(self.change_keys(change));
            }
            Command::SubscribeKeys { sink, reply } => {
                self.subscribers.add_keys(sink);
                let _ = reply.send(());
            }
            Command::SubscribeMembership { sink, reply } => {
                self.subscribers.add_membership(sink);
                let _ = reply.send(());
            }
            Command::Subscribe { sink, reply } => {
                self.subscribers.add_all(sink);
                let _ = reply.send(());
            }
            Command::Leave { reply } => self.leave(reply, now),
            // Handled by the loop.
            Command::Shutdown => {}
        }
    }

    /// Runs a local write and reports it to key subscribers: the engine
    /// only reports remote keys, but a subscriber to a prefix wants this
    /// node's keys too. A write that took no version (same value) is not
    /// an event.
    fn write<T>(
        &mut self,
        key: &str,
        op: impl FnOnce(&mut CoreEngine) -> Result<T, hearsay_core::WriteError>,
    ) -> Result<T, Error> {
        let before = self.engine.local_node().map_or(0, |n| n.max_version());
        let out = op(&mut self.engine).map_err(Error::from_write)?;
        if self.subscribers.wants_key(key)
            && let Some(local) = self.engine.local_node()
            && local.max_version() != before
            && let Some(entry) = local.entry(key)
        {
            let node = local.id().clone();
            let event = if entry.status.is_live() {
                KeyEvent::Set {
                    node,
                    key: key.to_owned(),
                    value: entry.value.to_vec(),
                    version: entry.version,
                }
            } else {
                KeyEvent::Deleted {
                    node,
                    key: key.to_owned(),
                    version: entry.version,
                }
            };
            self.subscribers.key_event(&event, &self.stats);
        }
        Ok(out)
    }

    /// Starts (or joins) a departure; the reply comes when it has been
    /// announced for `leave_linger`.
    fn leave(&mut self, reply: Sender<Result<(), Error>>, now: Instant) {
        if self.engine.has_left(now) {
            let _ = reply.send(Ok(()));
            return;
        }
        if let Err(e) = self.engine.leave(now) {
            let _ = reply.send(Err(Error::from_write(e)));
            return;
        }
        if self.leave_waiters.is_empty() {
            log::info!("hearsay {}: leaving the cluster", self.name);
        }
        // The engine makes its next round due at once, so the news spreads
        // now, and the end of the linger is one of its deadlines: the reply
        // goes out from `timeout` then (or now, with no linger at all).
        self.leave_waiters.push(reply);
        self.finish_leave();
    }

    /// Answers waiting `leave` calls once the engine has finished leaving.
    fn finish_leave(&mut self) {
        let now = self.clock.now();
        if self.engine.has_left(now) {
            for w in self.leave_waiters.drain(..) {
                let _ = w.send(Ok(()));
            }
        }
    }
}

/// The engine's observer: turns events into owned subscription events and
/// log lines.
struct Obs<'a> {
    subs: &'a mut Subscribers,
    stats: &'a Stats,
    local: &'a str,
}

impl Obs<'_> {
    fn membership(&mut self, event: MembershipEvent) {
        if self.subs.wants_membership() {
            self.subs.membership_event(&event, self.stats);
        }
    }
}

impl Observer for Obs<'_> {
    fn on_event(&mut self, event: &Event<'_>) {
        self.stats.count_event(event);
        let local = self.local;
        match *event {
            Event::NodeJoined { node } => {
                log::info!("hearsay {local}: {node} joined");
                self.membership(MembershipEvent::Joined { node: node.clone() });
            }
            Event::NodeAliveAgain { node } => {
                log::info!("hearsay {local}: {node} is alive again");
                self.membership(MembershipEvent::AliveAgain { node: node.clone() });
            }
            Event::NodeDead { node } => {
                log::info!("hearsay {local}: {node} is dead");
                self.membership(MembershipEvent::Dead { node: node.clone() });
            }
            Event::NodeLeft { node } => {
                log::info!("hearsay {local}: {node} left");
                self.membership(MembershipEvent::Left { node: node.clone() });
            }
            Event::NodeRemoved { node } => {
                log::info!("hearsay {local}: {node} removed");
                self.membership(MembershipEvent::Removed { node: node.clone() });
            }
            Event::NodeReplaced { old, new } => {
                log::info!("hearsay {local}: {old} replaced by {new}");
                self.membership(MembershipEvent::Replaced {
                    old: old.clone(),
                    new: new.clone(),
                });
            }
            Event::KeySet {
                node,
                key,
                value,
                version,
            } if self.subs.wants_key(key) => {
                let e = KeyEvent::Set {
                    node: node.clone(),
                    key: key.to_owned(),
                    value: value.to_vec(),
                    version,
                };
                self.subs.key_event(&e, self.stats);
            }
            Event::KeyDeleted { node, key, version }
            | Event::KeyExpired {
                node, key, version, ..
            } if self.subs.wants_key(key) => {
                let e = KeyEvent::Deleted {
                    node: node.clone(),
                    key: key.to_owned(),
                    version,
                };
                self.subs.key_event(&e, self.stats);
            }
            Event::ResetApplied { node } => {
                log::debug!("hearsay {local}: state of {node} rebuilt by a reset");
            }
            Event::Refuted { old, new } => {
                log::warn!(
                    "hearsay {local}: heard of itself as something it is not (an earlier incarnation with a clock ahead, a restart with the same generation, or a forged id); now {new} instead of {old}"
                );
            }
            Event::NameConflict { local: ours, other } => {
                log::error!(
                    "hearsay {local}: another live process uses this name ({other}, we are {ours}); no longer taking generations above it: stop or rename one of them"
                );
            }
            // Key events nobody subscribed to; and `Event` is non-exhaustive:
            // events added to the core later are ignored until the runtime
            // learns them.
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hearsay_core::{Capacity, Config, NodeId};

    /// An engine loop for `config`, on a loopback socket of its own, not
    /// running: the test calls its steps.
    fn a_loop(config: Config) -> EngineLoop {
        let socket = crate::socket::bind(SocketAddr::from(([127, 0, 0, 1], 0)), None)
            .expect("a loopback socket");
        let addr = socket.local_addr().expect("an address");
        let id = NodeId::new("a", 1, addr).expect("id");
        let capacity = Capacity {
            nodes: 4,
            entries: 16,
            state_bytes: 4096,
            window: 16,
        };
        let engine = crate::builder::build_engine(capacity, id.clone(), config.clone(), &[])
            .expect("engine");
        let stats = Arc::new(Stats::default());
        let tx = SocketTx::new(socket, config.mtu, Arc::clone(&stats), "a".to_owned());
        EngineLoop::new(
            engine,
            tx,
            Clock::start(),
            stats,
            Subscribers::default(),
            Arc::new(Identity::new(id)),
        )
    }

    /// A leave whose linger passes while a datagram is being handled is
    /// still answered: the loop wakes for it although the engine has
    /// nothing more due.
    #[test]
    fn a_leave_that_ends_while_a_datagram_is_handled_is_still_answered() {
        let mut config = Config::new();
        config.leave_linger = Duration::from_millis(20);
        let mut l = a_loop(config);
        let (reply, answer) = crossbeam_channel::bounded(1);
        let now = l.clock.now();
        l.leave(reply, now);
        assert!(answer.try_recv().is_err(), "not before the linger");
        // The linger passes (waited for on the loop's own clock) ...
        while !l.engine.has_left(l.clock.now()) {
            std::thread::yield_now();
        }
        // ... and a datagram (any bytes: the time is noted first) is
        // handled before the loop's timer fired.
        l.datagram(Inbound {
            from: SocketAddr::from(([127, 0, 0, 1], 9)),
            bytes: vec![0; 12],
        });
        assert_eq!(
            l.engine.poll_timeout(),
            None,
            "nothing is due for the engine"
        );
        let fired = l.deadline().recv_timeout(Duration::from_secs(10));
        assert!(
            fired.is_ok(),
            "the loop would never wake to answer the leave"
        );
        l.timeout();
        assert!(matches!(answer.try_recv(), Ok(Ok(()))));
        // Answered: nothing is due any more.
        assert!(
            l.deadline()
                .recv_timeout(Duration::from_millis(50))
                .is_err()
        );
    }
}
