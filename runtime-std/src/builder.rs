//! [`Builder`]: a node's settings, and starting it.
//!
//! The builder collects everything a node needs (identity, addresses,
//! seeds, the engine's [`Config`], runtime sizes, initial keys); [`Builder::start`]
//! validates it all, binds the socket, and spawns the threads. Everything
//! that can be checked is checked before the first thread starts, so a bad
//! setting is an [`Error`] from `start`, never a panic or a half-started node.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hearsay_core::{
    Buffers, Capacity, ClusterId, ClusterKey, Config, ConfigError, DetectorConfig, Heap, KeyMode,
    NodeId, NodeName,
};

use crate::counters::Stats;
use crate::engine_loop::{Clock, CoreEngine, EngineLoop, Inputs};
use crate::error::Error;
use crate::identity::Identity;
use crate::node::{Inner, Node, ResolverThread, Threads};
use crate::resolver::{self, Resolve, Resolver, SharedResolver};
use crate::socket::{self, SocketTx};
use crate::subscription::{
    KeyEvent, MembershipEvent, NodeEvent, Subscribers, Subscription, event_subscription,
    key_subscription, membership_subscription,
};

/// The cluster name of a builder not told one ([`Builder::cluster`]): the
/// name whose fingerprint is hearsay-core's default cluster id.
pub const DEFAULT_CLUSTER: &str = "hearsay";
/// Default capacity of each subscription's channel.
pub const DEFAULT_SUBSCRIPTION_CAPACITY: usize = 1024;
/// Default capacity of the channel from the receive thread to the engine.
pub const DEFAULT_INBOUND_CAPACITY: usize = 1024;
/// Default period of seed re-resolution.
pub const DEFAULT_SEED_RESOLVE_INTERVAL: Duration = Duration::from_secs(30);
/// Shortest period of seed re-resolution: more often would only load DNS
/// (and zero would resolve in a busy loop).
pub const MIN_SEED_RESOLVE_INTERVAL: Duration = Duration::from_millis(100);
/// Longest period of seed re-resolution: a day.
pub const MAX_SEED_RESOLVE_INTERVAL: Duration = Duration::from_secs(24 * 3600);
/// Capacity of the command channel from handles to the engine thread. A
/// full channel makes callers wait (their call waits for the reply anyway).
const COMMAND_CAPACITY: usize = 256;

/// Settings of a node; [`Builder::start`] starts it.
///
/// ```no_run
/// use std::time::Duration;
/// # fn main() -> Result<(), hearsay_std::Error> {
/// let node = hearsay_std::Node::builder("api-1")
///     .listen("0.0.0.0:7946".parse().unwrap())
///     .advertise("10.0.0.5:7946".parse().unwrap())
///     .seed("hearsay-seed.default.svc.cluster.local:7946")
///     .cluster("prod")
///     .gossip_interval(Duration::from_millis(500))
///     .set("http", "10.0.0.5:8080")
///     .start()?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Builder {
    name: String,
    /// The name given to [`Builder::cluster`], kept for [`Node::cluster`]
    /// (the engine only knows its fingerprint).
    cluster_name: String,
    listen: SocketAddr,
    advertise: Option<SocketAddr>,
    seeds: Vec<String>,
    config: Config,
    /// The engine's tables, allocated once by `start`.
    capacity: Capacity,
    /// Set by [`Builder::pending_timeout`]; otherwise derived from the
    /// gossip interval at start.
    pending_timeout: Option<Duration>,
    generation: Option<u64>,
    keys: Vec<(String, Vec<u8>)>,
    /// Cluster keys to start with, the first one primary.
    cluster_keys: Vec<ClusterKey>,
    key_mode: KeyMode,
    recv_buffer_size: Option<usize>,
    seed_resolve_interval: Duration,
    resolver: SharedResolver,
    subscription_capacity: usize,
    inbound_capacity: usize,
    /// Subscriptions made before start, handed to the engine thread.
    early: Subscribers,
}

// `Node::builder` lives here, beside what it returns, so that `node` never
// needs `builder` (which needs `node`): the modules form no import cycle.
impl Node {
    /// A builder for a node named `name`; see [`Builder`].
    pub fn builder(name: impl Into<String>) -> Builder {
        Builder::new(name)
    }
}

impl Builder {
    /// A node named `name` (1 to 64 bytes, unique in the cluster), with
    /// hearsay-core's default [`Config`], listening on `127.0.0.1`, any free
    /// port (set [`Builder::listen`] for anything but local experiments).
    pub fn new(name: impl Into<String>) -> Self {
        Builder {
            name: name.into(),
            cluster_name: DEFAULT_CLUSTER.to_owned(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            advertise: None,
            seeds: Vec::new(),
            config: Config::new(),
            capacity: Capacity::DEFAULT,
            pending_timeout: None,
            generation: None,
            keys: Vec::new(),
            cluster_keys: Vec::new(),
            key_mode: KeyMode::Required,
            recv_buffer_size: None,
            seed_resolve_interval: DEFAULT_SEED_RESOLVE_INTERVAL,
            resolver: SharedResolver::default(),
            subscription_capacity: DEFAULT_SUBSCRIPTION_CAPACITY,
            inbound_capacity: DEFAULT_INBOUND_CAPACITY,
            early: Subscribers::default(),
        }
    }

    /// Seals every datagram with `key` (ChaCha20-Poly1305) and accepts only
    /// datagrams sealed with a key this node holds: every node of the
    /// cluster needs it. It becomes the primary key, before any given to
    /// [`Builder::keys`]. See `hearsay_core::seal` for what keys protect.
    pub fn cluster_key(mut self, key: [u8; 32]) -> Self {
        self.cluster_keys.insert(0, ClusterKey::new(key));
        self
    }

    /// The cluster keys to start with (at most 4), replacing any given
    /// before: the first is the one this node seals with, the others are
    /// accepted too (a rotation in progress).
    pub fn keys(mut self, keys: impl IntoIterator<Item = [u8; 32]>) -> Self {
        self.cluster_keys = keys.into_iter().map(ClusterKey::new).collect();
        self
    }

    /// What the node sends and accepts while it has keys (default
    /// [`KeyMode::Required`]; see [`KeyMode`] for turning keys on in a
    /// running cluster).
    pub fn key_mode(mut self, mode: KeyMode) -> Self {
        self.key_mode = mode;
        self
    }

    /// Where to bind the gossip socket (IPv4 or IPv6; port 0 picks a free
    /// port, see [`Node::local_addr`]). The IPv6 wildcard `[::]` also accepts
    /// IPv4 where the system allows dual-stack sockets.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// The address peers should send gossip to, when it is not the bound
    /// one: behind NAT, in Kubernetes (the pod IP), or when listening on a
    /// wildcard address. Defaults to the bound address; required when
    /// listening on `0.0.0.0` or `[::]`.
    pub fn advertise(mut self, addr: SocketAddr) -> Self {
        self.advertise = Some(addr);
        self
    }

    /// Adds a seed, `"host:port"`: a name (re-resolved every
    /// [`Builder::seed_resolve_interval`]), an IPv4 address, or a bracketed
    /// IPv6 address. Seeds are gossiped with while no peer is live.
    pub fn seed(mut self, seed: impl Into<String>) -> Self {
        self.seeds.push(seed.into());
        self
    }

    /// Adds several seeds (see [`Builder::seed`]).
    pub fn seeds<S: Into<String>>(mut self, seeds: impl IntoIterator<Item = S>) -> Self {
        self.seeds.extend(seeds.into_iter().map(Into::into));
        self
    }

    /// The cluster's name: nodes only talk to nodes with the same one
    /// (datagrams carry its 32-bit fingerprint). Default `"hearsay"`.
    pub fn cluster(mut self, name: &str) -> Self {
        self.config.cluster_id = ClusterId::new(name);
        name.clone_into(&mut self.cluster_name);
        self
    }

    /// The cluster's id directly (e.g. a fingerprint computed elsewhere,
    /// see [`ClusterId::from_fingerprint`]).
    pub fn cluster_id(mut self, id: ClusterId) -> Self {
        self.config.cluster_id = id;
        self
    }

    /// How often the node gossips (and advances its heartbeat). Default 1 s;
    /// from 1 ms to an hour ([`Config::MAX_GOSSIP_INTERVAL`]).
    /// Shorter intervals detect failures sooner at the cost of traffic;
    /// scale the [`Builder::detector`] settings with it.
    pub fn gossip_interval(mut self, interval: Duration) -> Self {
        self.config.gossip_interval = interval;
        self
    }

    /// Live peers gossiped with per interval. Default 3.
    pub fn fanout(mut self, fanout: usize) -> Self {
        self.config.fanout = fanout;
        self
    }

    /// The failure detector's settings (threshold, model, acceptable
    /// pause…). Default [`DetectorConfig::new`].
    pub fn detector(mut self, detector: DetectorConfig) -> Self {
        self.config.detector = detector;
        self
    }

    /// How long dead and departed nodes are remembered before removal.
    /// Default one hour; from 2 ms to a year ([`Config::MAX_GRACE`]).
    pub fn dead_grace(mut self, grace: Duration) -> Self {
        self.config.dead_grace = grace;
        self
    }

    /// How long a node whose heartbeat was never seen to move (pending) is
    /// kept before it is dropped. Default ten gossip intervals, and at least
    /// 10 s; from two intervals to a year ([`Config::MAX_GRACE`]).
    pub fn pending_timeout(mut self, timeout: Duration) -> Self {
        self.pending_timeout = Some(timeout);
        self
    }

    /// How long deletions (tombstones) are kept and gossiped. Default one
    /// hour; at most a year ([`Config::MAX_GRACE`]).
    pub fn tombstone_grace(mut self, grace: Duration) -> Self {
        self.config.tombstone_grace = grace;
        self
    }

    /// How long a leaving node keeps announcing its departure; this is how
    /// long [`Node::leave`] takes. Default 3 s; at most an hour
    /// ([`Config::MAX_LEAVE_LINGER`]).
    pub fn leave_linger(mut self, linger: Duration) -> Self {
        self.config.leave_linger = linger;
        self
    }

    /// Largest datagram sent, in bytes of UDP payload (512 to 65,507).
    /// Default 1400, which avoids IP fragmentation on Ethernet.
    pub fn mtu(mut self, mtu: usize) -> Self {
        self.config.mtu = mtu;
        self
    }

    /// Bytes sent at most in reply to one exchange. Default 64 KiB.
    pub fn exchange_budget(mut self, bytes: usize) -> Self {
        self.config.exchange_budget = bytes;
        self
    }

    /// Most entries one node's namespace may hold, tombstones included: its
    /// share of every node's store. Writes beyond it fail with
    /// [`Error::NamespaceFull`]; peers refuse the state of a node beyond it.
    /// Use the same value on every node. Default 256.
    pub fn max_node_entries(mut self, entries: usize) -> Self {
        self.config.max_node_entries = entries;
        self
    }

    /// Most key and value bytes one node's namespace may hold, like
    /// [`Builder::max_node_entries`]. Use the same value on every node.
    /// Default 80 KiB ([`Config::DEFAULT_MAX_NODE_BYTES`]): room for one
    /// value of the default [`Builder::max_value_len`] and 16 KiB of other
    /// keys.
    pub fn max_node_bytes(mut self, bytes: usize) -> Self {
        self.config.max_node_bytes = bytes;
        self
    }

    /// Longest value a key may hold, in bytes. Longer writes fail with
    /// [`Error::ValueTooLong`]; a value longer than a datagram travels in
    /// chunks and appears at peers only whole. Use the same value on every
    /// node: a peer with a smaller limit refuses the node's longer values
    /// (counted in [`hearsay_core::Counters::oversized_values`] and logged
    /// there as a misconfiguration). Bounded by
    /// [`Builder::max_state_bytes`]; a value must also fit
    /// [`Builder::max_node_bytes`]. Default 64 KiB.
    pub fn max_value_len(mut self, bytes: usize) -> Self {
        self.config.max_value_len = bytes;
        self
    }

    /// Entries of the store that other nodes' state may never take, so that
    /// this node's own writes within the reserve always have room.
    /// Default 8.
    pub fn local_reserve_entries(mut self, entries: usize) -> Self {
        self.config.local_reserve_entries = entries;
        self
    }

    /// Key and value bytes kept for this node's own writes, like
    /// [`Builder::local_reserve_entries`]. Default 512.
    pub fn local_reserve_bytes(mut self, bytes: usize) -> Self {
        self.config.local_reserve_bytes = bytes;
        self
    }

    /// Most nodes the engine holds, this one included (1 to 65,535).
    /// Default 1024, for clusters of up to about a thousand nodes. A node
    /// beyond it is not learned (counted in
    /// [`hearsay_core::Counters::refused_nodes`]); size it above the
    /// largest cluster expected.
    ///
    /// # Memory
    ///
    /// [`Builder::start`] allocates the engine's tables once, and nothing
    /// after: [`Capacity::memory_bytes`] =
    /// `max_nodes × bytes_per_node + max_entries × bytes_per_entry +
    /// max_state_bytes`, where [`Capacity::bytes_per_node`] is 406 bytes
    /// (on 64-bit targets) plus the [`Builder::detector_window`] (one byte
    /// per interval, 256 by default) and [`Capacity::bytes_per_entry`] is
    /// 52 bytes. The defaults (1024 nodes, 16,384 entries, 1 MiB, window
    /// 256) come to 2,578,432 bytes (2.5 MiB); `max_nodes(5000)` alone to
    /// 5.0 MiB; 5000 nodes with 16 keys each (80,000 entries) and 5 MiB of
    /// state, about 12 MiB. Besides the tables, `start` allocates about
    /// 100 KiB (mostly the slots of the bounded channels).
    pub fn max_nodes(mut self, nodes: usize) -> Self {
        self.capacity.nodes = nodes;
        self
    }

    /// Most entries the engine holds over all nodes, tombstones included
    /// (1 to 2³² − 2). Default 16,384: 16 keys for each of 1024 nodes. A
    /// full table makes local writes fail with [`Error::CapacityFull`] and
    /// remote state be refused. 52 bytes each (see [`Builder::max_nodes`]).
    pub fn max_entries(mut self, entries: usize) -> Self {
        self.capacity.entries = entries;
        self
    }

    /// Bytes of keys and values the engine holds over all nodes, with an
    /// 8-byte header per entry (below 2³² − 1). Default 1 MiB. Allocated
    /// as is (see [`Builder::max_nodes`]).
    pub fn max_state_bytes(mut self, bytes: usize) -> Self {
        self.capacity.state_bytes = bytes;
        self
    }

    /// Heartbeat intervals the failure detector remembers per node, one
    /// byte each (1 to 65,535). Default 256. A longer window adapts more
    /// slowly to a change in a peer's rhythm and costs one byte per node
    /// per interval (see [`Builder::max_nodes`]).
    pub fn detector_window(mut self, intervals: usize) -> Self {
        self.capacity.window = intervals;
        self
    }

    /// Replaces the whole engine configuration (the setters above change
    /// single fields of it).
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// This incarnation's generation; a restarted node must use a higher
    /// one than before. Default: the start time in milliseconds since the
    /// UNIX epoch (strictly increasing within one process).
    pub fn generation(mut self, generation: u64) -> Self {
        self.generation = Some(generation);
        self
    }

    /// A key this node holds from the start.
    pub fn set(mut self, key: impl Into<String>, value: impl AsRef<[u8]>) -> Self {
        self.keys.push((key.into(), value.as_ref().to_vec()));
        self
    }

    /// The socket's receive buffer (`SO_RCVBUF`), in bytes. Default: the
    /// system's. Raise it for large clusters or bursty traffic.
    pub fn recv_buffer_size(mut self, bytes: usize) -> Self {
        self.recv_buffer_size = Some(bytes);
        self
    }

    /// How often seed names are resolved again. Default 30 s; from
    /// [`MIN_SEED_RESOLVE_INTERVAL`] to [`MAX_SEED_RESOLVE_INTERVAL`].
    pub fn seed_resolve_interval(mut self, interval: Duration) -> Self {
        self.seed_resolve_interval = interval;
        self
    }

    /// How seed names are turned into addresses. Default
    /// [`crate::resolver::SystemResolver`] (the system's DNS); see
    /// [`Resolve`] for a closure-based example.
    pub fn resolver(mut self, resolver: impl Resolve) -> Self {
        self.resolver = SharedResolver(Arc::new(resolver));
        self
    }

    /// Events each subscription can hold before new ones are dropped (see
    /// [`crate::subscription`]). Default 1024.
    pub fn subscription_capacity(mut self, events: usize) -> Self {
        self.subscription_capacity = events.max(1);
        self
    }

    /// Received datagrams that can wait for the engine before new ones are
    /// dropped. Default 1024. Each waiting datagram holds its bytes, so the
    /// worst case is this many times the largest datagram received (64 KiB
    /// for a hostile sender; the mtu, 1400 bytes by default, for peers).
    pub fn inbound_capacity(mut self, datagrams: usize) -> Self {
        self.inbound_capacity = datagrams.max(1);
        self
    }

    /// Subscribes to key changes from the node's very start (see
    /// [`Node::subscribe_keys`], which can miss what happens between
    /// `start` and the call). Keys given with [`Builder::set`] are not
    /// reported. The channel holds the [`Builder::subscription_capacity`]
    /// set so far.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), hearsay_std::Error> {
    /// let mut builder = hearsay_std::Node::builder("b").seed("10.0.0.1:7946");
    /// let keys = builder.subscribe_keys("");
    /// let members = builder.subscribe_membership();
    /// let node = builder.start()?;
    /// # Ok(()) }
    /// ```
    pub fn subscribe_keys(&mut self, prefix: &str) -> Subscription<KeyEvent> {
        let (sink, sub) = key_subscription(prefix.to_owned(), self.subscription_capacity);
        self.early.add_keys(sink);
        sub
    }

    /// Subscribes to membership changes from the node's very start (see
    /// [`Builder::subscribe_keys`]).
    pub fn subscribe_membership(&mut self) -> Subscription<MembershipEvent> {
        let (sink, sub) = membership_subscription(self.subscription_capacity);
        self.early.add_membership(sink);
        sub
    }

    /// Subscribes to every membership and key event, in one ordered
    /// channel, from the node's very start (see [`Node::subscribe`]).
    pub fn subscribe(&mut self) -> Subscription<NodeEvent> {
        let (sink, sub) = event_subscription(self.subscription_capacity);
        self.early.add_all(sink);
        sub
    }

    /// Validates the settings, binds the socket, allocates the engine's
    /// tables (once, at the capacity set by [`Builder::max_nodes`] and its
    /// siblings) and starts the node's threads. The node starts gossiping
    /// with its seeds at once. A capacity that cannot work is
    /// [`Error::InvalidConfig`] (`CapacityUnusable`, or `ReserveTooLarge`
    /// when it cannot hold the local reserve); one the system has no memory
    /// for is [`Error::OutOfMemory`].
    pub fn start(mut self) -> Result<Node, Error> {
        NodeName::new(&self.name)?;
        self.config.pending_timeout = self.pending_timeout.unwrap_or_else(|| {
            let ten_rounds = self.config.gossip_interval.saturating_mul(10);
            Config::new().pending_timeout.max(ten_rounds)
        });
        self.config.validate()?;
        self.capacity.validate()?;
        if !(MIN_SEED_RESOLVE_INTERVAL..=MAX_SEED_RESOLVE_INTERVAL)
            .contains(&self.seed_resolve_interval)
        {
            return Err(Error::InvalidSetting {
                setting: "seed_resolve_interval",
                reason: "must be from 100 ms to 1 day",
            });
        }
        for s in &self.seeds {
            resolver::check_seed(s)?;
        }
        if self.cluster_keys.len() > hearsay_core::seal::MAX_KEYS {
            return Err(Error::InvalidSetting {
                setting: "keys",
                reason: "at most 4 cluster keys",
            });
        }
        if let Some(a) = self.advertise
            && (a.ip().is_unspecified() || a.port() == 0)
        {
            return Err(Error::BadAddress {
                input: a.to_string(),
                reason: "the advertise address needs a specific IP and port",
            });
        }
        let socket = socket::bind(self.listen, self.recv_buffer_size)?;
        let local_addr = socket.local_addr().map_err(Error::Socket)?;
        let advertise = match self.advertise {
            Some(a) => a,
            None if local_addr.ip().is_unspecified() => {
                return Err(Error::BadAddress {
                    input: self.listen.to_string(),
                    reason: "listening on a wildcard address needs an advertise address",
                });
            }
            None => local_addr,
        };
        let generation = self.generation.unwrap_or_else(default_generation);
        let id = NodeId::new(&self.name, generation, advertise)?;
        let mut engine = build_engine(self.capacity, id.clone(), self.config.clone(), &self.keys)?;
        let primary = self.cluster_keys.first().map(ClusterKey::fingerprint);
        for key in self.cluster_keys.drain(..) {
            engine.install_key(key).map_err(Error::Key)?;
        }
        if let Some(fp) = primary {
            engine.use_key(fp).map_err(Error::Key)?;
        }
        engine.set_key_mode(self.key_mode);

        let stats = Arc::new(Stats::default());
        let (inbound_tx, inbound_rx) = crossbeam_channel::bounded(self.inbound_capacity);
        let (command_tx, command_rx) = crossbeam_channel::bounded(COMMAND_CAPACITY);
        let (seeds_tx, seeds_rx) = crossbeam_channel::bounded(1);
        let (resolver_stop_tx, resolver_stop_rx) = crossbeam_channel::bounded::<()>(0);
        let stop = Arc::new(AtomicBool::new(false));
        let recv_socket = socket.try_clone().map_err(Error::Socket)?;
        let tx = SocketTx::new(
            socket,
            self.config.mtu,
            Arc::clone(&stats),
            self.name.clone(),
        );

        let leave_bound = self
            .config
            .leave_linger
            .saturating_add(self.config.gossip_interval.saturating_mul(2))
            .saturating_add(Duration::from_secs(1));
        // Seeds given as addresses need no resolver: the engine has them
        // for its very first round (names follow from the resolver thread).
        let literal_seeds: Vec<SocketAddr> = self
            .seeds
            .iter()
            .filter_map(|s| s.parse::<SocketAddr>().ok())
            .filter(|a| local_addr.is_ipv6() || a.is_ipv4())
            .collect();
        let identity = Arc::new(Identity::new(id.clone()));
        let initial = Initial {
            engine,
            identity: Arc::clone(&identity),
            seeds: literal_seeds,
            subscribers: self.early,
        };
        let engine = spawn_engine(
            initial,
            tx,
            Arc::clone(&stats),
            Inputs {
                inbound: inbound_rx,
                commands: command_rx,
                seeds: seeds_rx,
            },
        )?;
        // From here on, a failure must stop what already runs: the handle's
        // shutdown does that.
        let node = Node::from_inner(Inner {
            commands: command_tx,
            stop: Arc::clone(&stop),
            resolver_stop: std::sync::Mutex::new(Some(resolver_stop_tx)),
            threads: std::sync::Mutex::new(Some(Threads {
                engine: Some(engine),
                receiver: None,
                resolver: None,
            })),
            stats: Arc::clone(&stats),
            id: identity,
            name: self.name.clone(),
            cluster: cluster_label(&self.cluster_name, self.config.cluster_id),
            local_addr,
            capacity: self.capacity,
            subscription_capacity: self.subscription_capacity,
            leave_bound,
            shut_down: AtomicBool::new(false),
        });

        let name = self.name.clone();
        let recv_stats = Arc::clone(&stats);
        let receiver = std::thread::Builder::new()
            .name(format!("hs-recv-{}", self.name))
            .spawn(move || socket::receive_loop(recv_socket, inbound_tx, stop, recv_stats, name));
        match receiver {
            Ok(h) => node.add_thread(|t| t.receiver = Some(h)),
            Err(e) => {
                let _ = node.shutdown();
                return Err(Error::Spawn(e));
            }
        }

        if !self.seeds.is_empty() {
            let resolver = Resolver {
                seeds: self.seeds,
                ipv6_socket: local_addr.is_ipv6(),
                interval: self.seed_resolve_interval,
                resolver: self.resolver,
                out: seeds_tx,
                stop: resolver_stop_rx,
                stats,
                name: self.name.clone(),
            };
            // Dropped when the thread ends, however it ends: shutdown
            // waits on it with a bound rather than joining blindly.
            let (done_tx, done) = crossbeam_channel::bounded::<()>(0);
            let spawned = std::thread::Builder::new()
                .name(format!("hs-dns-{}", self.name))
                .spawn(move || {
                    let _done = done_tx;
                    resolver.run();
                });
            match spawned {
                Ok(handle) => {
                    node.add_thread(|t| t.resolver = Some(ResolverThread { handle, done }))
                }
                Err(e) => {
                    let _ = node.shutdown();
                    return Err(Error::Spawn(e));
                }
            }
        }
        log::info!(
            "hearsay {}: started (generation {generation}), gossip on {local_addr}, advertised as {advertise}",
            self.name
        );
        Ok(node)
    }
}

/// The core's default failure-detector settings, which assume gossip every
/// second, scaled to gossip every `interval`: first heartbeat estimate
/// `interval`, acceptable pause `1.25 × interval`, minimum standard
/// deviation `0.4 × interval`, longest learned interval `10 × interval` (at
/// most 65 s).
/// Threshold and model are unchanged. At the 1 s default this is exactly
/// [`DetectorConfig::new`]; at 100 ms a stopped node is detected in about a
/// tenth of the time.
///
/// ```
/// use std::time::Duration;
/// let interval = Duration::from_millis(100);
/// let node = hearsay_std::Node::builder("fast")
///     .gossip_interval(interval)
///     .detector(hearsay_std::builder::scaled_detector(interval));
/// # drop(node);
/// ```
pub fn scaled_detector(interval: Duration) -> DetectorConfig {
    let mut d = DetectorConfig::new();
    let interval = interval.max(Duration::from_millis(1));
    d.first_heartbeat_estimate = interval.min(Duration::from_secs(65));
    d.acceptable_heartbeat_pause = interval.saturating_mul(5) / 4;
    d.min_std_deviation = interval.saturating_mul(2) / 5;
    d.max_interval = interval.saturating_mul(10).min(Duration::from_secs(65));
    d
}

/// The cluster name a node reports ([`Node::cluster`]): the name last
/// given to [`Builder::cluster`] if the engine's cluster id is still its
/// fingerprint, else the id's fingerprint in hex (it was set as an id, by
/// [`Builder::cluster_id`] or [`Builder::config`]).
fn cluster_label(name: &str, id: ClusterId) -> String {
    if ClusterId::new(name) == id {
        name.to_owned()
    } else {
        format!("{:08x}", id.fingerprint())
    }
}

/// The node's engine, working and holding its initial keys: its tables are
/// allocated here, once, at `capacity` ([`Capacity::memory_bytes`]), and
/// never again. The engine value itself is small (about 2 KiB): the tables
/// are boxes, so nothing large passes through a stack.
pub(crate) fn build_engine(
    capacity: Capacity,
    id: NodeId,
    config: Config,
    keys: &[(String, Vec<u8>)],
) -> Result<CoreEngine, Error> {
    let buffers = Buffers::<Heap>::allocate(capacity).map_err(|e| capacity_error(e, capacity))?;
    // Where the engine's nonces start: from the OS, as the engine thread's
    // rng is, so no two nodes or runs start alike.
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::from_os_rng();
    let mut engine = CoreEngine::new(buffers, id, config, &mut rng)?;
    for (key, value) in keys {
        engine.set(key, value).map_err(Error::from_write)?;
    }
    Ok(engine)
}

/// The runtime's error for a capacity the engine's memory could not be
/// made for.
fn capacity_error(e: ConfigError, capacity: Capacity) -> Error {
    match e {
        ConfigError::OutOfMemory => Error::OutOfMemory {
            bytes: capacity.memory_bytes(),
        },
        other => Error::InvalidConfig(other),
    }
}

/// What the engine thread starts with.
struct Initial {
    engine: CoreEngine,
    /// Where the engine thread publishes the id when it changes.
    identity: Arc<Identity>,
    /// Seeds that needed no resolving.
    seeds: Vec<SocketAddr>,
    /// Subscriptions made on the builder.
    subscribers: Subscribers,
}

/// Spawns the engine thread, which drives the engine until shutdown.
fn spawn_engine(
    initial: Initial,
    tx: SocketTx,
    stats: Arc<Stats>,
    inputs: Inputs,
) -> Result<std::thread::JoinHandle<()>, Error> {
    let Initial {
        mut engine,
        identity,
        seeds,
        subscribers,
    } = initial;
    let name = engine.id().name.as_str().to_owned();
    engine.set_seeds(&seeds);
    std::thread::Builder::new()
        .name(format!("hs-eng-{name}"))
        .spawn(move || {
            EngineLoop::new(engine, tx, Clock::start(), stats, subscribers, identity).run(inputs);
        })
        .map_err(Error::Spawn)
}

/// Milliseconds since the UNIX epoch, but strictly above any generation
/// this process handed out before, so that a node restarted within the same
/// millisecond still supersedes its previous incarnation.
fn default_generation() -> u64 {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let mut prev = LAST.load(Ordering::Relaxed);
    loop {
        let next = wall.max(prev.saturating_add(1));
        match LAST.compare_exchange_weak(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(actual) => prev = actual,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hearsay_core::ConfigError;

    /// A node reports the cluster name it was given, or, when only an id
    /// was given, that id: never a name that is not the one in use.
    #[test]
    fn the_cluster_name_is_reported_only_when_it_is_the_one_in_use() {
        assert_eq!(Config::new().cluster_id, ClusterId::new(DEFAULT_CLUSTER));
        let by_name = Builder::new("c").cluster("prod");
        assert_eq!(
            cluster_label(&by_name.cluster_name, by_name.config.cluster_id),
            "prod"
        );
        let by_id = Builder::new("c")
            .cluster("prod")
            .cluster_id(ClusterId::from_fingerprint(0xab));
        assert_eq!(
            cluster_label(&by_id.cluster_name, by_id.config.cluster_id),
            "000000ab"
        );
        let default = Node::builder("c").start().unwrap();
        assert_eq!(default.cluster(), "hearsay");
        let mut config = Config::new();
        config.cluster_id = ClusterId::new("other");
        let by_config = Node::builder("c")
            .cluster("prod")
            .config(config)
            .start()
            .unwrap();
        assert_eq!(
            by_config.cluster(),
            format!("{:08x}", ClusterId::new("other").fingerprint())
        );
    }

    #[test]
    fn scaled_detector_is_the_default_at_one_second_and_valid_elsewhere() {
        assert_eq!(
            scaled_detector(Duration::from_secs(1)),
            DetectorConfig::new()
        );
        let longest = u64::try_from(Config::MAX_GOSSIP_INTERVAL.as_millis()).unwrap();
        for ms in [1, 10, 100, 5_000, 60_000, 1_000_000, longest] {
            assert!(
                scaled_detector(Duration::from_millis(ms)).is_valid(),
                "{ms}"
            );
        }
    }

    #[test]
    fn generations_increase_within_a_process() {
        let a = default_generation();
        let b = default_generation();
        assert!(b > a);
        assert!(a > 1_600_000_000_000, "looks like ms since the epoch");
    }

    #[test]
    fn bad_settings_fail_before_any_thread() {
        assert!(matches!(
            Builder::new("").start(),
            Err(Error::InvalidName(_))
        ));
        assert!(matches!(
            Builder::new("a").fanout(0).start(),
            Err(Error::InvalidConfig(_))
        ));
        assert!(matches!(
            Builder::new("a").seed("no-port").start(),
            Err(Error::BadAddress { .. })
        ));
        assert!(matches!(
            Builder::new("a")
                .listen("0.0.0.0:0".parse().unwrap())
                .start(),
            Err(Error::BadAddress { .. })
        ));
        assert!(matches!(
            Builder::new("a")
                .advertise("0.0.0.0:1".parse().unwrap())
                .start(),
            Err(Error::BadAddress { .. })
        ));
    }

    /// A huge linger used to overflow `linger + 1 ms` on the engine thread
    /// at `leave`, killing it; now every duration is range-checked by
    /// `start`.
    #[test]
    fn out_of_range_durations_fail_at_start() {
        let huge = Duration::MAX;
        for (b, want) in [
            (
                Builder::new("a").leave_linger(huge),
                ConfigError::LeaveLingerOutOfRange,
            ),
            (
                Builder::new("a").gossip_interval(huge),
                ConfigError::GossipIntervalOutOfRange,
            ),
            (
                Builder::new("a").dead_grace(huge),
                ConfigError::DeadGraceOutOfRange,
            ),
            (
                Builder::new("a").tombstone_grace(huge),
                ConfigError::TombstoneGraceOutOfRange,
            ),
        ] {
            let r = b.start();
            assert!(
                matches!(r, Err(Error::InvalidConfig(e)) if e == want),
                "{r:?}"
            );
        }
        let mut detector = DetectorConfig::new();
        detector.acceptable_heartbeat_pause = huge;
        let r = Builder::new("a").detector(detector).start();
        assert!(
            matches!(
                r,
                Err(Error::InvalidConfig(ConfigError::HeartbeatPauseOutOfRange))
            ),
            "{r:?}"
        );
        for interval in [Duration::ZERO, huge] {
            let r = Builder::new("a").seed_resolve_interval(interval).start();
            assert!(
                matches!(
                    r,
                    Err(Error::InvalidSetting {
                        setting: "seed_resolve_interval",
                        ..
                    })
                ),
                "{r:?}"
            );
        }
        // The longest linger is usable: leaving does not kill the engine.
        let node = Builder::new("a")
            .leave_linger(Config::MAX_LEAVE_LINGER)
            .start()
            .unwrap();
        let leaving = node.clone();
        let waiter = std::thread::spawn(move || leaving.leave());
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            match node.set("k", "v") {
                Err(Error::Left) => break,
                Ok(()) => {}
                Err(e) => panic!("{e}"),
            }
            assert!(std::time::Instant::now() < deadline, "leave never began");
            std::thread::yield_now();
        }
        // The engine thread still answers while the departure lingers.
        assert!(node.members().is_ok());
        node.shutdown().unwrap();
        assert!(matches!(waiter.join().unwrap(), Err(Error::ShutDown)));
    }

    #[test]
    fn names_and_keys_with_nul_are_refused_by_start() {
        assert!(matches!(
            Builder::new("a\0b").start(),
            Err(Error::InvalidName(_))
        ));
        let r = Builder::new("a").set("k\0x", "v").start();
        assert!(matches!(r, Err(Error::InvalidKey(_))), "{r:?}");
    }

    #[test]
    fn the_per_node_share_and_the_reserve_reach_the_engine() {
        assert!(matches!(
            Builder::new("a").max_node_entries(1).start(),
            Err(Error::InvalidConfig(ConfigError::NodeShareTooSmall))
        ));
        assert!(matches!(
            Builder::new("a").local_reserve_bytes(usize::MAX).start(),
            Err(Error::InvalidConfig(ConfigError::ReserveTooLarge))
        ));
        // Three entries: two keys and the room kept for the leave entry.
        let node = Builder::new("a")
            .max_node_entries(3)
            .max_node_bytes(64)
            .local_reserve_entries(2)
            .local_reserve_bytes(100)
            .start()
            .expect("start");
        node.set("k1", "v").expect("within the share");
        node.set("k2", "v").expect("within the share");
        assert!(matches!(node.set("k3", "v"), Err(Error::NamespaceFull)));
        assert!(matches!(node.set("k1", [0; 60]), Err(Error::NamespaceFull)));
        node.shutdown().expect("shutdown");
    }

    #[test]
    fn unusable_capacities_fail_at_start_before_any_socket() {
        for b in [
            Builder::new("a").max_nodes(0),
            Builder::new("a").max_nodes(65_536),
            Builder::new("a").max_entries(u32::MAX as usize),
            Builder::new("a").max_state_bytes(u32::MAX as usize),
            Builder::new("a").detector_window(0),
            Builder::new("a").detector_window(65_536),
        ] {
            // A port in use would fail the bind: capacity is checked first.
            let r = b.listen("127.0.0.1:1".parse().unwrap()).start();
            assert!(
                matches!(r, Err(Error::InvalidConfig(ConfigError::CapacityUnusable))),
                "{r:?}"
            );
        }
    }

    #[test]
    fn a_capacity_too_small_for_the_reserve_fails_at_start() {
        for b in [
            Builder::new("a").max_entries(4),
            Builder::new("a").max_state_bytes(256),
        ] {
            let r = b.start();
            assert!(
                matches!(r, Err(Error::InvalidConfig(ConfigError::ReserveTooLarge))),
                "{r:?}"
            );
        }
    }

    #[test]
    fn out_of_memory_names_the_bytes_asked_for() {
        let cap = Capacity {
            entries: 1 << 30,
            ..Capacity::DEFAULT
        };
        let e = capacity_error(ConfigError::OutOfMemory, cap);
        assert!(matches!(e, Error::OutOfMemory { bytes } if bytes == cap.memory_bytes()));
        assert!(e.to_string().contains(&cap.memory_bytes().to_string()));
        assert!(matches!(
            capacity_error(ConfigError::CapacityUnusable, cap),
            Error::InvalidConfig(ConfigError::CapacityUnusable)
        ));
    }

    /// The figures [`Builder::max_nodes`] documents.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn the_documented_memory_figures_hold() {
        let default = Capacity::DEFAULT;
        // 326, + 24 for the replay window of sealed datagrams, + 8 for the
        // peer's protocol version and address token, + 16 for our token for
        // it and its time bucket, + 24 for compact digests (the heartbeat
        // last sent and when versions changed, and a SynAck's scratch), + 8
        // for a reply's scratch of how far it chunked a node's long value
        // (issue 15).
        assert_eq!(default.bytes_per_node(), 406 + 256);
        assert_eq!(Capacity::bytes_per_entry(), 52);
        assert_eq!(default.memory_bytes(), 2_578_432);
        let big = Capacity {
            nodes: 5000,
            ..default
        };
        assert_eq!(big.memory_bytes(), 5_210_544);
    }

    #[test]
    fn the_node_runs_with_the_capacity_it_was_built_with() {
        let want = Capacity {
            nodes: 10,
            entries: 64,
            state_bytes: 4096,
            window: 50,
        };
        let node = Builder::new("a")
            .max_nodes(10)
            .max_entries(64)
            .max_state_bytes(4096)
            .detector_window(50)
            .start()
            .expect("start");
        assert_eq!(node.capacity(), want);
        node.set("k", "v").expect("a write within the capacity");
        node.shutdown().expect("shutdown");
        let default = Builder::new("b").start().expect("start");
        assert_eq!(default.capacity(), Capacity::DEFAULT);
        default.shutdown().expect("shutdown");
    }

    /// The default share holds a value of the default longest length
    /// beside other keys: the default limit is the one a write meets.
    #[test]
    fn the_defaults_take_a_value_of_the_default_longest_length() {
        let node = Builder::new("a").set("small", "x").start().expect("start");
        let longest = vec![7u8; Config::DEFAULT_MAX_VALUE_LEN];
        node.set("big", longest.clone())
            .expect("the default longest value");
        assert_eq!(node.get("big").expect("get"), Some(longest.clone()));
        let mut longer = longest;
        longer.push(0);
        assert!(matches!(node.set("big", longer), Err(Error::ValueTooLong)));
        node.shutdown().expect("shutdown");
    }

    #[test]
    fn max_value_len_reaches_the_engine() {
        let node = Builder::new("a").max_value_len(10).start().expect("start");
        node.set("k", vec![1u8; 10]).expect("at the limit");
        assert!(matches!(
            node.set("k", vec![1u8; 11]),
            Err(Error::ValueTooLong)
        ));
        node.shutdown().expect("shutdown");
    }

    #[test]
    fn a_bad_initial_key_is_reported_by_start() {
        assert!(matches!(
            Builder::new("a").set("\0status", "x").start(),
            Err(Error::InvalidKey(_))
        ));
        assert!(matches!(
            Builder::new("a").set("big", vec![0u8; 65_537]).start(),
            Err(Error::ValueTooLong)
        ));
    }
}
