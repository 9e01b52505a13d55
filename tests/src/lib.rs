//! Test harness shared by the multi-node tests: a cluster of in-memory
//! hearsay engines joined by a deterministic, lossy, reordering network.
//!
//! Everything is driven by the test: time only moves when the test says so,
//! and every random choice of the network comes from one seed, so a failing
//! proptest case replays exactly.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use hearsay_core::{Config, Engine, EntryStatus, Event, Instant, NodeId, Observer, Transmit};

/// The engine size used by multi-node tests: 8 nodes, 256 entries, 16 KiB.
pub type TestEngine = Engine<8, 256, 16384>;

/// Address of test node `i` (never opened; the network is simulated).
pub fn addr(i: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 20_000 + i as u16))
}

/// Small deterministic RNG (xorshift64*), so runs replay from a seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed` (any value, zero included).
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15 | 1)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p && p > 0.0
    }
}

impl rand_core::RngCore for Rng {
    fn next_u32(&mut self) -> u32 {
        (Rng::next_u64(self) >> 32) as u32
    }

    fn next_u64(&mut self) -> u64 {
        Rng::next_u64(self)
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for chunk in dst.chunks_mut(8) {
            let v = Rng::next_u64(self).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
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

/// Collects what one engine sends during one call.
struct Sink {
    from: SocketAddr,
    buf: Vec<u8>,
    out: Vec<Datagram>,
    mtu: usize,
}

impl Transmit for Sink {
    fn buffer(&mut self) -> &mut [u8] {
        self.buf.resize(65_507, 0);
        &mut self.buf
    }

    fn send(&mut self, to: SocketAddr, len: usize) {
        assert!(
            len <= self.mtu,
            "datagram of {len} bytes exceeds mtu {}",
            self.mtu
        );
        self.out.push(Datagram {
            from: self.from,
            to,
            bytes: self.buf[..len].to_vec(),
        });
    }
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
    pub nodes: Vec<Box<TestEngine>>,
    /// Datagrams sent and not yet delivered.
    pub in_flight: Vec<Datagram>,
    /// Events per node.
    pub events: Vec<EventLog>,
    /// The current time.
    pub now: Instant,
    /// Network randomness.
    pub rng: Rng,
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
            rng: Rng::new(seed),
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

    fn engine(&self, i: usize, generation: u64) -> Box<TestEngine> {
        let mut e = Box::new(TestEngine::new());
        let id = NodeId::new(&format!("node-{i}"), generation, addr(i)).expect("valid id");
        e.init(id, self.config.clone()).expect("valid config");
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

    fn index_of(&self, a: SocketAddr) -> Option<usize> {
        (0..self.nodes.len()).find(|&i| addr(i) == a)
    }

    /// Node `from` opens an exchange with node `to`.
    pub fn start_exchange(&mut self, from: usize, to: usize) {
        let mut sink = Sink {
            from: addr(from),
            buf: Vec::new(),
            out: Vec::new(),
            mtu: self.mtu,
        };
        self.nodes[from]
            .start_exchange(addr(to), &mut sink)
            .expect("exchange starts");
        self.in_flight.extend(sink.out);
    }

    /// Delivers one datagram in flight (the oldest, or a random one when
    /// reordering), subject to loss and duplication. Returns false when
    /// nothing was in flight.
    pub fn deliver_one(&mut self, faults: Faults) -> bool {
        if self.in_flight.is_empty() {
            return false;
        }
        let i = if faults.reorder {
            self.rng.below(self.in_flight.len())
        } else {
            0
        };
        let d = self.in_flight.remove(i);
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
        let mut sink = Sink {
            from: d.to,
            buf: Vec::new(),
            out: Vec::new(),
            mtu: self.mtu,
        };
        let now = self.now;
        let result =
            self.nodes[to].handle_datagram(d.from, &d.bytes, now, &mut sink, &mut self.events[to]);
        assert!(result.is_ok(), "valid datagram rejected: {result:?}");
        self.in_flight.extend(sink.out);
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
            let mut sink = Sink {
                from: addr(i),
                buf: Vec::new(),
                out: Vec::new(),
                mtu: self.mtu,
            };
            self.nodes[i].tick(self.now, &mut self.rng, &mut sink, &mut self.events[i]);
            self.in_flight.extend(sink.out);
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
