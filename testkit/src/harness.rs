//! The multi-node harness: a cluster of in-memory hearsay engines joined by
//! a deterministic, lossy, reordering network.
//!
//! Everything is driven by the test: time only moves when the test says so,
//! and every random choice of the network and of the engines comes from one
//! seeded [`SimRng`], so a failing proptest case replays exactly.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use hearsay_core::{
    Buffers, Capacity, Config, ConfigError, DEFAULT_WINDOW, Engine, EntryStatus, Event, Heap,
    Instant, NodeId, Observer,
};
use hearsay_sim::SimRng;

use crate::sink::Recorder;

/// The engine of multi-node tests: its tables on the heap, of
/// [`TEST_CAPACITY`].
pub type TestEngine = Engine<Heap>;

/// The capacity of multi-node tests' engines: 8 nodes, 256 entries,
/// 16 KiB, the default detector window.
pub const TEST_CAPACITY: Capacity = Capacity {
    nodes: 8,
    entries: 256,
    state_bytes: 16384,
    window: DEFAULT_WINDOW,
};

/// Test node ports run from 20,000 up to this (excluded), then start again
/// on the next loopback address.
const PORTS_END: usize = 60_000;
const FIRST_PORT: usize = 20_000;

/// Address of test node `i` (never opened; the network is simulated):
/// `127.0.0.1:20000` for node 0, counting up by port, then on through
/// `127.0.0.0/8` — distinct for every index a test can hold.
///
/// # Panics
///
/// Past the last of them (over 670 million nodes).
pub fn addr(i: usize) -> SocketAddr {
    let per_ip = PORTS_END - FIRST_PORT;
    let port = u16::try_from(FIRST_PORT + i % per_ip).expect("ports end below 65,536");
    let host = u32::try_from(i / per_ip)
        .ok()
        .filter(|&h| h < 0x00ff_fffe)
        .unwrap_or_else(|| panic!("no loopback address left for test node {i}"));
    let ip = std::net::Ipv4Addr::from(0x7f00_0001 + host);
    SocketAddr::from((ip, port))
}

/// A test engine for `id` with `config`, its tables of [`TEST_CAPACITY`]
/// allocated on the heap.
///
/// Every engine the kit builds is built here, so how engines are
/// constructed can change in one place.
///
/// Each engine gets its own rng stream for where its nonces start (seeded
/// from a process-wide count), so that no two engines of a test, even with
/// equal ids, seal with the same nonces.
pub fn new_engine(id: NodeId, config: Config) -> Result<TestEngine, ConfigError> {
    static BUILT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = BUILT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut rng = SimRng::new(0x6e6f_6e63_6500_0000 ^ n);
    Engine::new(
        Buffers::<Heap>::allocate(TEST_CAPACITY)?,
        id,
        config,
        &mut rng,
    )
}

/// A datagram in flight.
#[derive(Debug, Clone)]
pub struct Datagram {
    /// Sender's address.
    pub from: SocketAddr,
    /// Destination address.
    pub to: SocketAddr,
    /// Encoded bytes.
    pub bytes: Vec<u8>,
}

/// One recorded membership event: what happened to which incarnation, when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// "joined", "alive-again", "dead", "left", "removed" or "replaced".
    pub what: &'static str,
    /// Node name.
    pub name: String,
    /// Node generation (for "replaced", the old one).
    pub generation: u64,
    /// Time of the event.
    pub at: Instant,
}

/// Records events for later assertions.
#[derive(Debug, Default)]
pub struct EventLog {
    /// Human-readable events, in order.
    pub lines: Vec<String>,
    /// Membership events, in order.
    pub membership: Vec<Membership>,
    /// Time stamped on events as they come.
    pub now: Instant,
}

impl EventLog {
    /// Membership events about `name`, as (what, generation).
    pub fn about(&self, name: &str) -> Vec<(&'static str, u64)> {
        self.membership
            .iter()
            .filter(|m| m.name == name)
            .map(|m| (m.what, m.generation))
            .collect()
    }

    /// When `what` first happened to `name`.
    pub fn first(&self, what: &str, name: &str) -> Option<Instant> {
        self.membership
            .iter()
            .find(|m| m.what == what && m.name == name)
            .map(|m| m.at)
    }
}

impl Observer for EventLog {
    fn on_event(&mut self, event: &Event<'_>) {
        self.lines.push(format!("{event:?}"));
        let (what, node) = match event {
            Event::NodeJoined { node } => ("joined", *node),
            Event::NodeAliveAgain { node } => ("alive-again", *node),
            Event::NodeDead { node } => ("dead", *node),
            Event::NodeLeft { node } => ("left", *node),
            Event::NodeRemoved { node } => ("removed", *node),
            Event::NodeReplaced { old, .. } => ("replaced", *old),
            _ => return,
        };
        self.membership.push(Membership {
            what,
            name: node.name.as_str().to_string(),
            generation: node.generation,
            at: self.now,
        });
    }
}

/// How the network misbehaves.
#[derive(Debug, Clone, Copy)]
pub struct Faults {
    /// Probability that a datagram is lost.
    pub loss: f64,
    /// Probability that a delivered datagram is delivered twice.
    pub duplicate: f64,
    /// Whether datagrams are delivered in random order.
    pub reorder: bool,
}

impl Faults {
    /// A perfect network: no loss, no duplicates, in order.
    pub const NONE: Faults = Faults {
        loss: 0.0,
        duplicate: 0.0,
        reorder: false,
    };
}

/// What one node shows of one owner: key → (version, value).
pub type View = BTreeMap<String, (u64, Vec<u8>)>;

/// A set of engines and the datagrams travelling between them.
///
/// Nodes can be stopped (silently: they neither tick nor receive), restarted
/// with a new generation, partitioned into groups that cannot reach each
/// other, and added late.
pub struct Cluster {
    /// The engines, node `i` at [`addr`]`(i)`.
    pub nodes: Vec<TestEngine>,
    /// Datagrams sent and not yet delivered.
    pub in_flight: Vec<Datagram>,
    /// Events per node.
    pub events: Vec<EventLog>,
    /// The current time.
    pub now: Instant,
    /// Network randomness.
    pub rng: SimRng,
    /// Whether node `i` runs.
    pub running: Vec<bool>,
    /// Partition group of each node; datagrams only flow within a group.
    pub group: Vec<usize>,
    config: Config,
    mtu: usize,
}

impl Cluster {
    /// `n` nodes named `node-i`, generation 1, sharing `config`.
    pub fn new(n: usize, config: &Config, seed: u64) -> Self {
        let mut c = Cluster {
            nodes: Vec::new(),
            in_flight: Vec::new(),
            events: Vec::new(),
            now: Instant::ZERO,
            rng: SimRng::new(seed),
            running: Vec::new(),
            group: Vec::new(),
            config: config.clone(),
            mtu: config.mtu,
        };
        for _ in 0..n {
            c.add_node();
        }
        c
    }

    fn engine(&self, i: usize, generation: u64) -> TestEngine {
        let id = NodeId::new(&format!("node-{i}"), generation, addr(i)).expect("valid id");
        let mut e = new_engine(id, self.config.clone()).expect("valid config");
        // Nodes 0 and 1 are the seeds.
        e.set_seeds(&[addr(0), addr(1)]);
        e
    }

    /// Adds a node `node-{n}` (generation 1); returns its index.
    pub fn add_node(&mut self) -> usize {
        let i = self.nodes.len();
        let e = self.engine(i, 1);
        self.nodes.push(e);
        self.events.push(EventLog::default());
        self.running.push(true);
        self.group.push(0);
        i
    }

    /// Stops node `i` without a word: it no longer ticks nor receives.
    pub fn crash(&mut self, i: usize) {
        self.running[i] = false;
    }

    /// Restarts node `i` as a fresh process with `generation`.
    pub fn restart(&mut self, i: usize, generation: u64) {
        self.nodes[i] = self.engine(i, generation);
        self.running[i] = true;
    }

    /// Puts what node `from` sent, recorded in `sink`, in flight.
    fn post(&mut self, from: usize, sink: Recorder) {
        let from = addr(from);
        self.in_flight
            .extend(
                sink.sent
                    .into_iter()
                    .map(|(to, bytes)| Datagram { from, to, bytes }),
            );
    }

    fn index_of(&self, a: SocketAddr) -> Option<usize> {
        (0..self.nodes.len()).find(|&i| addr(i) == a)
    }

    /// Node `from` opens an exchange with node `to`.
    pub fn start_exchange(&mut self, from: usize, to: usize) {
        let mut sink = Recorder::new(self.mtu);
        self.nodes[from]
            .start_exchange(addr(to), &mut sink)
            .expect("exchange starts");
        self.post(from, sink);
    }

    /// Delivers one datagram in flight (the oldest, or a random one when
    /// reordering), subject to loss and duplication. Returns false when
    /// nothing was in flight.
    pub fn deliver_one(&mut self, faults: Faults) -> bool {
        if self.in_flight.is_empty() {
            return false;
        }
        let i = if faults.reorder {
            // `below` is less than the length, so it fits a usize.
            self.rng.below(self.in_flight.len() as u64) as usize
        } else {
            0
        };
        let mut d = self.in_flight.remove(i);
        if self.rng.chance(faults.loss) {
            return true;
        }
        let (Some(src), Some(dst)) = (self.index_of(d.from), self.index_of(d.to)) else {
            return true;
        };
        if !self.running[dst] || self.group[src] != self.group[dst] {
            return true;
        }
        if self.rng.chance(faults.duplicate) {
            self.in_flight.push(d.clone());
        }
        let Some(to) = self.index_of(d.to) else {
            return true;
        };
        let mut sink = Recorder::new(self.mtu);
        let now = self.now;
        let result = self.nodes[to].handle_datagram(
            d.from,
            &mut d.bytes,
            now,
            &mut sink,
            &mut self.events[to],
        );
        assert!(result.is_ok(), "valid datagram rejected: {result:?}");
        self.post(to, sink);
        true
    }

    /// Delivers until nothing is in flight (bounded, to never hang).
    pub fn deliver_all(&mut self, faults: Faults) {
        for _ in 0..100_000 {
            if !self.deliver_one(faults) {
                return;
            }
        }
        panic!("network did not go quiet");
    }

    /// Moves time forward and ticks every node (which also starts their
    /// gossip exchanges with live peers and seeds).
    pub fn advance(&mut self, millis: u64) {
        self.now = Instant::from_millis(self.now.as_millis() + millis);
        for i in 0..self.nodes.len() {
            if !self.running[i] {
                continue;
            }
            self.events[i].now = self.now;
            let mut sink = Recorder::new(self.mtu);
            self.nodes[i].tick(self.now, &mut self.rng, &mut sink, &mut self.events[i]);
            self.post(i, sink);
        }
    }

    /// One gossip round: time moves by `millis`, every running node ticks
    /// (and gossips), and the network delivers everything.
    pub fn round(&mut self, millis: u64, faults: Faults) {
        self.advance(millis);
        self.deliver_all(faults);
    }

    /// Every ordered pair exchanges once over a perfect network.
    pub fn full_round(&mut self) {
        let n = self.nodes.len();
        for a in 0..n {
            for b in 0..n {
                if a != b && self.running[a] {
                    self.start_exchange(a, b);
                    self.deliver_all(Faults::NONE);
                }
            }
        }
    }

    /// What node `observer` shows of `owner`'s keys that are set.
    pub fn view(&self, observer: usize, owner: usize) -> Option<View> {
        let name = format!("node-{owner}");
        let node = self.nodes[observer].node(&name)?;
        Some(
            node.entries()
                .map(|e| (e.key.to_string(), (e.version, e.value.to_vec())))
                .collect(),
        )
    }

    /// `owner`'s own keys, as it shows them.
    pub fn own_view(&self, owner: usize) -> View {
        self.view(owner, owner).expect("own node always known")
    }

    /// Max version node `observer` holds for `owner` (0 if unknown).
    pub fn max_version(&self, observer: usize, owner: usize) -> u64 {
        self.nodes[observer]
            .node(&format!("node-{owner}"))
            .map_or(0, |n| n.max_version())
    }

    /// The entry status `owner` holds for its own `key`, with its version.
    pub fn own_entry(&self, owner: usize, key: &str) -> Option<(EntryStatus, u64)> {
        self.nodes[owner]
            .local_node()
            .and_then(|n| n.entry(key))
            .map(|e| (e.status, e.version))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOSSY: Faults = Faults {
        loss: 0.2,
        duplicate: 0.2,
        reorder: true,
    };

    /// A few rounds of a four-node cluster with writes, over a lossy
    /// network: what each node counted and reported, and when.
    fn run(seed: u64) -> Vec<(String, Vec<Membership>)> {
        let mut c = Cluster::new(4, &Config::new(), seed);
        for (i, node) in c.nodes.iter_mut().enumerate() {
            node.set("k", format!("v{i}").as_bytes()).expect("set");
        }
        for _ in 0..6 {
            c.round(1000, LOSSY);
        }
        c.nodes
            .iter()
            .zip(&c.events)
            .map(|(n, e)| (format!("{:?}", n.counters()), e.membership.clone()))
            .collect()
    }

    #[test]
    fn a_seed_replays_the_same_run() {
        assert_eq!(run(11), run(11));
        // The network's choices do depend on the seed.
        assert!((12..20).any(|seed| run(seed) != run(11)));
    }

    #[test]
    fn every_node_index_gets_its_own_address() {
        assert_eq!(addr(0).to_string(), "127.0.0.1:20000");
        assert_eq!(addr(39_999).to_string(), "127.0.0.1:59999");
        assert_eq!(addr(40_000).to_string(), "127.0.0.2:20000");
        // A port counted past u16::MAX must not wrap onto another node's.
        let picks = [0, 1, 45_535, 45_536, 65_535, 65_536, 100_000, 1 << 24];
        let addrs: std::collections::BTreeSet<SocketAddr> =
            picks.iter().map(|&i| addr(i)).collect();
        assert_eq!(addrs.len(), picks.len());
    }

    #[test]
    fn test_engines_have_the_test_capacity() {
        let id = NodeId::new("n", 1, addr(0)).expect("id");
        let e = new_engine(id, Config::new()).expect("engine");
        assert_eq!(e.capacity(), TEST_CAPACITY);
    }
}
