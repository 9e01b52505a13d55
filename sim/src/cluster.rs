//! The driver: a cluster of engines on the virtual clock and the network.

use std::net::SocketAddr;
use std::ops::Range;
use std::string::String;
use std::time::Duration;
use std::vec::Vec;

use hearsay_core::Instant;
use hearsay_core::NodeId;
use hearsay_core::wire::MAX_DATAGRAM_LEN;
use hearsay_core::{Buffers, Capacity, Config, ConfigError, Heap};
use hearsay_core::{Engine, SendError, Transmit, WriteError};

use super::metrics::{
    Conviction, CrashTracker, Detection, FalsePositive, Flapping, Metrics, NetStats, PropTracker,
    Propagation, TrackId, Traffic,
};
use super::network::{LinkModel, MAX_NODES, Network, PartitionId, node_addr, node_index};
use super::observe::{Ledger, Tap};
use super::queue::{Micros, Queue, micros};
use super::record::{Record, Subject};
use super::rng::SimRng;

/// Where a simulated node is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeState {
    /// Ticking and receiving.
    Running,
    /// [`Sim::leave`] was called; ticking until the engine has finished
    /// announcing its departure, then [`NodeState::Left`].
    Leaving,
    /// Silent: neither ticks nor receives ([`Sim::crash`]); its engine is
    /// kept, for [`Sim::resume`].
    Crashed,
    /// Finished leaving; silent for good (unless restarted).
    Left,
}

impl NodeState {
    /// Whether the node ticks and receives (running or leaving).
    pub fn is_running(self) -> bool {
        matches!(self, NodeState::Running | NodeState::Leaving)
    }
}

/// Settings of a simulation. Build with [`SimConfig::new`] and adjust the
/// public fields.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Seeds the one random generator of the run (network faults, latencies,
    /// tick phases, generations, and the engines' peer choices).
    pub seed: u64,
    /// The engine settings every node uses; `gossip_interval` is also the
    /// tick period. Default [`Config::new`].
    pub engine: Config,
    /// What every node's engine can hold (node slots, entries, state bytes,
    /// detector window); each engine's tables are allocated once at this
    /// size, [`Capacity::memory_bytes`]. Default [`Capacity::DEFAULT`]
    /// (about 3.1 MiB per node): small simulations run faster with less.
    pub capacity: Capacity,
    /// How every link behaves unless overridden with [`Sim::set_link`].
    /// Default [`LinkModel::new`].
    pub network: LinkModel,
    /// The first `seeds` nodes (indices `0..seeds`) are every node's seeds.
    /// Default 3.
    pub seeds: usize,
    /// Name of node `i`. Default `node-0042` style.
    pub name: fn(usize) -> String,
    /// Generations are this plus the virtual time in milliseconds at which
    /// the node (re)started, plus up to a second of random start-up time,
    /// like millisecond timestamps. Default 1 700 000 000 000 (Nov 2023).
    pub first_generation: u64,
    /// Record membership events in every node's log ([`Sim::log`]).
    /// Default true. Detection and false positives are tracked either way.
    pub record_membership: bool,
    /// Record key events (set, deleted, expired, reset) too. Default false:
    /// at a thousand nodes that is tens of millions of records. Propagation
    /// is tracked either way.
    pub record_keys: bool,
    /// A `NodeDead` about a running node that the observer can reach both
    /// ways is a false positive, unless it comes within this time after one
    /// of them resumed or restarted or after a partition between them was
    /// healed: news needs a few rounds to travel. (Making a partition
    /// excuses nothing between nodes on the same side.) Default 10 s.
    pub false_positive_grace: Duration,
}

fn default_name(i: usize) -> String {
    std::format!("node-{i:04}")
}

impl SimConfig {
    /// The defaults (see each field), with `seed`.
    pub fn new(seed: u64) -> Self {
        SimConfig {
            seed,
            engine: Config::new(),
            capacity: Capacity::DEFAULT,
            network: LinkModel::new(),
            seeds: 3,
            name: default_name,
            first_generation: 1_700_000_000_000,
            record_membership: true,
            record_keys: false,
            false_positive_grace: Duration::from_secs(10),
        }
    }
}

/// What the virtual clock runs.
enum Item {
    /// Node `node`'s engine deadline ([`Engine::poll_timeout`]); dropped
    /// unless `stamp` is still the node's current one (the deadline moved,
    /// or the node crashed or restarted, since it was queued).
    Timeout { node: usize, stamp: u64 },
    Deliver {
        from: usize,
        to: usize,
        bytes: Vec<u8>,
    },
}

/// A node's place in the queue: at most one live timeout per node.
#[derive(Default)]
struct Timer {
    stamp: u64,
    at: Option<Micros>,
    /// When the node's process started: its first round waits for it even
    /// if a datagram or a write reaches the engine earlier.
    start: Micros,
    /// Heartbeats since the last whole round was counted: an engine spreads
    /// a round over parts that each beat
    /// ([`Engine::beats_per_round`]).
    beats: u64,
}

/// The [`Transmit`] sink of every engine call: copies each datagram out of a
/// maximum-size buffer (so a datagram over the mtu is caught, not cut).
struct Sink {
    buf: Vec<u8>,
    out: Vec<(SocketAddr, Vec<u8>)>,
    pool: Vec<Vec<u8>>,
}

impl Sink {
    fn take(&mut self) -> Vec<u8> {
        self.pool.pop().unwrap_or_default()
    }

    fn recycle(&mut self, mut v: Vec<u8>) {
        if self.pool.len() < 4096 {
            v.clear();
            self.pool.push(v);
        }
    }
}

impl Transmit for Sink {
    fn buffer(&mut self) -> &mut [u8] {
        &mut self.buf
    }

    fn send(&mut self, to: SocketAddr, len: usize) {
        let mut v = self.take();
        v.extend_from_slice(&self.buf[..len.min(self.buf.len())]);
        self.out.push((to, v));
    }
}

/// Trace tags of the simulator's own actions.
mod tag {
    pub(super) const SEND: u64 = 0x5e;
    pub(super) const DELIVER: u64 = 0xde;
    pub(super) const TIMEOUT: u64 = 0x71;
    pub(super) const ACTION: u64 = 0xac;
}

/// A simulated cluster of engines, all of [`SimConfig::capacity`], on a
/// virtual clock.
///
/// See the [module documentation](super) for an overview and an example.
/// Nodes are numbered from 0 in the order they are added; node `i` has the
/// address [`node_addr`]`(i)` for its whole life, whatever restarts.
/// Methods taking a node index panic if it is out of range.
pub struct Sim {
    engine_config: Config,
    capacity: Capacity,
    seeds: usize,
    name_of: fn(usize) -> String,
    first_generation: u64,
    interval: Micros,
    engines: Vec<Engine<Heap>>,
    /// Memory of engines that were replaced (restarts), and of the engine
    /// [`Sim::try_new`] built to check the configuration: the next engine
    /// built takes it before allocating.
    spare: Vec<Buffers<Heap>>,
    names: Vec<String>,
    /// Each node's queued timeout: its stamp (a queued timeout with an
    /// older one is stale) and when it is due, if one is queued.
    timers: Vec<Timer>,
    queue: Queue<Item>,
    now: Micros,
    rng: SimRng,
    /// The run's seed: engines draw their nonce starts from streams seeded
    /// with it, apart from `rng`.
    seed: u64,
    net: Network,
    ledger: Ledger,
    traffic: Vec<Traffic>,
    stats: NetStats,
    window_start: Micros,
    sink: Sink,
}

impl Sim {
    /// An empty simulation at virtual time zero.
    ///
    /// # Panics
    ///
    /// If [`Sim::try_new`] would return an error.
    pub fn new(config: SimConfig) -> Self {
        match Sim::try_new(config) {
            Ok(sim) => sim,
            Err(e) => panic!("invalid engine settings for the simulation: {e}"),
        }
    }

    /// An empty simulation at virtual time zero, or why its engines could
    /// not be built: `config.engine` is invalid ([`Config::validate`]),
    /// `config.capacity` is unusable ([`Capacity::validate`]) or too small
    /// for the engine settings' local reserve, or its memory cannot be had.
    /// One engine is built here to check, so that adding nodes later cannot
    /// fail for these reasons.
    pub fn try_new(config: SimConfig) -> Result<Self, ConfigError> {
        let buffers = Buffers::<Heap>::allocate(config.capacity)?;
        let probe = NodeId::new("probe", 1, node_addr(0)).expect("\"probe\" is a valid node name");
        let mut rng = SimRng::new(config.seed);
        let spare = Engine::new(buffers, probe, config.engine.clone(), &mut rng)?.into_buffers();
        let interval = micros(config.engine.gossip_interval).max(1);
        Ok(Sim {
            capacity: config.capacity,
            spare: std::vec![spare],
            seeds: config.seeds,
            name_of: config.name,
            first_generation: config.first_generation,
            interval,
            engines: Vec::new(),
            names: Vec::new(),
            timers: Vec::new(),
            queue: Queue::new(),
            now: 0,
            rng: SimRng::new(config.seed),
            seed: config.seed,
            net: Network::new(config.network),
            ledger: Ledger::new(
                config.record_membership,
                config.record_keys,
                micros(config.false_positive_grace),
            ),
            traffic: Vec::new(),
            stats: NetStats::default(),
            window_start: 0,
            sink: Sink {
                buf: std::vec![0; MAX_DATAGRAM_LEN],
                out: Vec::new(),
                pool: Vec::new(),
            },
            engine_config: config.engine,
        })
    }

    // -----------------------------------------------------------------------
    // Nodes.

    /// Adds one node; it starts ticking within one gossip interval. Returns
    /// its index.
    pub fn add_node(&mut self) -> usize {
        self.add_nodes(1).start
    }

    /// Adds `count` nodes; each starts ticking at its own random phase
    /// within one gossip interval. Returns their indices.
    ///
    /// # Panics
    ///
    /// If the simulation would hold more than [`MAX_NODES`] nodes (the
    /// addresses [`node_addr`] gives run out), or an engine's memory cannot
    /// be allocated.
    pub fn add_nodes(&mut self, count: usize) -> Range<usize> {
        let first = self.engines.len();
        assert!(
            count <= MAX_NODES - first,
            "a simulation holds at most {MAX_NODES} nodes ({first} + {count} asked)"
        );
        for _ in 0..count {
            self.install();
        }
        first..self.engines.len()
    }

    fn install(&mut self) {
        let i = self.engines.len();
        let generation = self.fresh_generation(0);
        self.names.push((self.name_of)(i));
        let engine = self.build_engine(i, generation);
        self.engines.push(engine);
        self.timers.push(Timer::default());
        self.traffic.push(Traffic::default());
        self.ledger.add_node(generation, self.now);
        self.action(1, i, generation);
        self.schedule_start(i);
    }

    fn fresh_generation(&mut self, previous: u64) -> u64 {
        let at = self.first_generation + self.now / 1000 + self.rng.below(1000);
        at.max(previous + 1)
    }

    /// A new engine for node `i` at `generation`, in spare memory if a
    /// replaced engine left some, else in memory allocated now.
    fn build_engine(&mut self, i: usize, generation: u64) -> Engine<Heap> {
        let buffers = match self.spare.pop() {
            Some(b) => b,
            None => Buffers::<Heap>::allocate(self.capacity)
                .unwrap_or_else(|e| panic!("engine memory for node {i}: {e}")),
        };
        let id = NodeId::new(&self.names[i], generation, node_addr(i))
            .expect("node names are 1 to 64 bytes");
        // Construction draws from its own stream (run seed, node, generation),
        // so the main rng's sequence, and every figure, is the same as
        // before engines drew nonce starts.
        let mut rng = SimRng::new(
            self.seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ generation.rotate_left(32),
        );
        // `try_new` built an engine with these settings and this capacity.
        let mut engine = Engine::new(buffers, id, self.engine_config.clone(), &mut rng)
            .unwrap_or_else(|e| panic!("engine for node {i}: {e}"));
        let seeds: Vec<SocketAddr> = (0..self.seeds).map(node_addr).collect();
        engine.set_seeds(&seeds);
        engine
    }

    /// A fresh engine's first round is due at once; the process it stands
    /// for starts at its own random phase within one interval, so nodes
    /// added together do not all gossip at the same instant.
    fn schedule_start(&mut self, i: usize) {
        let at = self.now + self.rng.below(self.interval);
        self.timers[i].start = at;
        self.set_timer(i, Some(at));
    }

    /// Queues (or moves) node `i`'s one timeout to `at`; `None` cancels it.
    fn set_timer(&mut self, i: usize, at: Option<Micros>) {
        let timer = &mut self.timers[i];
        if timer.at == at {
            return;
        }
        timer.stamp += 1;
        timer.at = at;
        if let Some(at) = at {
            let stamp = timer.stamp;
            self.queue.push(at, Item::Timeout { node: i, stamp });
        }
    }

    /// Follows node `i`'s engine deadline after a call into it: the
    /// contract every runtime keeps ([`Engine::poll_timeout`]).
    fn reschedule(&mut self, i: usize) {
        if !self.ledger.nodes[i].state.is_running() {
            return;
        }
        let at = self.engines[i].poll_timeout().map(|t| {
            (t.as_millis().saturating_mul(1000))
                .max(self.now)
                .max(self.timers[i].start)
        });
        self.set_timer(i, at);
    }

    /// Number of nodes ever added (whatever their state).
    pub fn len(&self) -> usize {
        self.engines.len()
    }

    /// Whether no node was added yet.
    pub fn is_empty(&self) -> bool {
        self.engines.is_empty()
    }

    /// Sets of engine memory kept for the next engine built.
    #[cfg(test)]
    pub(crate) fn spare_buffers(&self) -> usize {
        self.spare.len()
    }

    /// Forgets the spare engine memory, so the next engine built gets
    /// fresh memory (to compare reused memory with fresh).
    #[cfg(test)]
    pub(crate) fn drop_spare_buffers(&mut self) {
        self.spare.clear();
    }

    /// Node `i`'s engine.
    pub fn engine(&self, i: usize) -> &Engine<Heap> {
        &self.engines[i]
    }

    /// Node `i`'s engine, for local writes or anything the simulator does not
    /// wrap. Datagrams sent through another sink bypass the network.
    pub fn engine_mut(&mut self, i: usize) -> &mut Engine<Heap> {
        &mut self.engines[i]
    }

    /// Node `i`'s name.
    pub fn name(&self, i: usize) -> &str {
        &self.names[i]
    }

    /// Node `i`'s address.
    pub fn addr(&self, i: usize) -> SocketAddr {
        node_addr(i)
    }

    /// Generation of node `i`'s current incarnation.
    pub fn generation(&self, i: usize) -> u64 {
        self.ledger.nodes[i].generation
    }

    /// Node `i`'s current incarnation.
    pub fn subject(&self, i: usize) -> Subject {
        Subject {
            node: i,
            generation: self.generation(i),
        }
    }

    /// Node `i`'s state.
    pub fn state(&self, i: usize) -> NodeState {
        self.ledger.nodes[i].state
    }

    /// Indices of the nodes that tick and receive (running or leaving).
    pub fn running(&self) -> Vec<usize> {
        (0..self.len())
            .filter(|&i| self.state(i).is_running())
            .collect()
    }

    /// Whether every [`NodeState::Running`] node lists every other running
    /// node, at its current generation, as alive.
    ///
    /// One pass over each running engine's live nodes: each must be another
    /// running node (by address and name) at its current generation, and
    /// there must be one fewer than the running nodes. An engine holds one
    /// node per name, so that is every running node. (Looking each node up
    /// by name instead costs a scan of the node table per pair, cubic in
    /// the cluster size.)
    pub fn converged(&self) -> bool {
        let up = (0..self.len())
            .filter(|&i| self.state(i) == NodeState::Running)
            .count();
        (0..self.len())
            .filter(|&i| self.state(i) == NodeState::Running)
            .all(|i| {
                let mut live = 0;
                let all_running = self.engines[i].live_nodes().all(|v| {
                    live += 1;
                    let id = v.id();
                    node_index(id.addr).is_some_and(|j| {
                        j != i
                            && j < self.len()
                            && self.state(j) == NodeState::Running
                            && self.generation(j) == id.generation
                            && self.names[j] == id.name.as_str()
                    })
                });
                all_running && live + 1 == up
            })
    }

    // -----------------------------------------------------------------------
    // Time.

    /// Virtual time since the start.
    pub fn now(&self) -> Duration {
        Duration::from_micros(self.now)
    }

    /// Virtual time as the engines see it (milliseconds since the start).
    pub fn instant(&self) -> Instant {
        Instant::from_millis(self.now / 1000)
    }

    /// The engine settings every node uses.
    pub fn engine_config(&self) -> &Config {
        &self.engine_config
    }

    /// Changes the engine settings of the engines built from now on (nodes
    /// added, restarts); running engines keep theirs. A rolling upgrade is
    /// then: add nodes with the old release's settings (say an older
    /// [`Config::protocol_version`]), set the new ones, restart the nodes
    /// one by one. The gossip interval must stay the same (the simulation
    /// schedules by it). Errors, changing nothing, when `config` is invalid
    /// or does not fit the simulation's capacity.
    pub fn set_engine_config(&mut self, config: Config) -> Result<(), ConfigError> {
        config.validate()?;
        if config.gossip_interval != self.engine_config.gossip_interval {
            // Reported as the interval being out of the simulation's range.
            return Err(ConfigError::GossipIntervalOutOfRange);
        }
        let buffers = match self.spare.pop() {
            Some(b) => b,
            None => Buffers::<Heap>::allocate(self.capacity)?,
        };
        let probe = NodeId::new("probe", 1, node_addr(0)).expect("\"probe\" is a valid node name");
        // A probe only: its rng draws stay out of the run's streams.
        let mut rng = SimRng::new(self.seed);
        let checked = Engine::new(buffers, probe, config.clone(), &mut rng);
        let spare = checked?.into_buffers();
        self.spare.push(spare);
        self.engine_config = config;
        Ok(())
    }

    /// What every node's engine can hold ([`SimConfig::capacity`]).
    pub fn capacity(&self) -> Capacity {
        self.capacity
    }

    /// The gossip interval: every running node ticks once per interval.
    pub fn interval(&self) -> Duration {
        Duration::from_micros(self.interval)
    }

    /// Runs the next scheduled event; false when nothing is scheduled.
    pub fn step(&mut self) -> bool {
        let Some((at, item)) = self.queue.pop() else {
            return false;
        };
        self.now = self.now.max(at);
        match item {
            Item::Timeout { node, stamp } => self.on_timeout(node, stamp),
            Item::Deliver { from, to, bytes } => self.on_deliver(from, to, bytes),
        }
        true
    }

    /// Runs every event up to and including virtual time `t`, then sets the
    /// clock to `t` (if it is later than now).
    pub fn run_until(&mut self, t: Duration) {
        let t = micros(t);
        while self.queue.peek_time().is_some_and(|at| at <= t) {
            self.step();
        }
        self.now = self.now.max(t);
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        self.run_until(self.now() + d);
    }

    /// Runs for `rounds` gossip intervals.
    pub fn run_rounds(&mut self, rounds: u32) {
        self.run_for(self.interval() * rounds);
    }

    /// Runs in steps of `every` until `done` holds (checked before each
    /// step) or `limit` has passed. Returns how long it took, `None` if it
    /// did not happen within `limit`.
    pub fn wait_for(
        &mut self,
        limit: Duration,
        every: Duration,
        mut done: impl FnMut(&Self) -> bool,
    ) -> Option<Duration> {
        let start = self.now();
        let deadline = start + limit;
        loop {
            if done(self) {
                return Some(self.now() - start);
            }
            if self.now() >= deadline {
                return None;
            }
            let next = (self.now() + every.max(Duration::from_micros(1))).min(deadline);
            self.run_until(next);
        }
    }

    fn action(&mut self, what: u64, node: usize, arg: u64) {
        let h = &mut self.ledger.hash;
        h.u64(tag::ACTION);
        h.u64(self.now);
        h.u64(what);
        h.u64(node as u64);
        h.u64(arg);
    }

    // -----------------------------------------------------------------------
    // The event loop.

    fn on_timeout(&mut self, i: usize, stamp: u64) {
        let state = self.ledger.nodes[i].state;
        if self.timers[i].stamp != stamp || !state.is_running() {
            return;
        }
        self.timers[i].at = None;
        let now = self.instant();
        if self.finish_leaving(i) {
            return;
        }
        let h = &mut self.ledger.hash;
        h.u64(tag::TIMEOUT);
        h.u64(self.now);
        h.u64(i as u64);
        let beat = |e: &Engine<Heap>| e.local_node().map(|n| n.heartbeat());
        let before = beat(&self.engines[i]);
        let mut tap = Tap {
            observer: i,
            now: self.now,
            ledger: &mut self.ledger,
            net: &self.net,
        };
        self.engines[i].handle_timeout(now, &mut self.rng, &mut self.sink, &mut tap);
        // A round advances the heartbeat by `beats_per_round`, one part
        // at a time; a whole round is what metrics count per node.
        if beat(&self.engines[i]) != before {
            let t = &mut self.timers[i];
            t.beats += 1;
            if t.beats >= self.engines[i].beats_per_round() {
                t.beats = 0;
                self.traffic[i].ticks += 1;
            }
        }
        self.dispatch(i);
        if !self.finish_leaving(i) {
            self.reschedule(i);
        }
    }

    /// A leaving node whose engine has finished leaving stops for good.
    fn finish_leaving(&mut self, i: usize) -> bool {
        let now = self.instant();
        if self.ledger.nodes[i].state != NodeState::Leaving || !self.engines[i].has_left(now) {
            return false;
        }
        self.ledger.nodes[i].state = NodeState::Left;
        self.set_timer(i, None);
        self.action(2, i, 0);
        true
    }

    fn on_deliver(&mut self, from: usize, to: usize, mut bytes: Vec<u8>) {
        if !self.ledger.nodes[to].state.is_running() {
            self.stats.to_down += 1;
            self.sink.recycle(bytes);
            return;
        }
        if self.net.blocked(from, to) {
            self.stats.blocked += 1;
            self.sink.recycle(bytes);
            return;
        }
        self.stats.delivered += 1;
        let t = &mut self.traffic[to];
        t.datagrams_in += 1;
        t.bytes_in += bytes.len() as u64;
        let h = &mut self.ledger.hash;
        h.u64(tag::DELIVER);
        h.u64(self.now);
        h.u64(from as u64);
        h.u64(to as u64);
        h.u64(bytes.len() as u64);
        let now = self.instant();
        let mut tap = Tap {
            observer: to,
            now: self.now,
            ledger: &mut self.ledger,
            net: &self.net,
        };
        let result = self.engines[to].handle_datagram(
            node_addr(from),
            &mut bytes,
            now,
            &mut self.sink,
            &mut tap,
        );
        if result.is_err() {
            self.stats.rejected += 1;
        }
        self.sink.recycle(bytes);
        self.dispatch(to);
        self.reschedule(to);
    }

    /// Puts what node `from` just sent on the network.
    fn dispatch(&mut self, from: usize) {
        let mut out = core::mem::take(&mut self.sink.out);
        for (to, bytes) in out.drain(..) {
            self.route(from, to, bytes);
        }
        self.sink.out = out;
    }

    fn route(&mut self, from: usize, to_addr: SocketAddr, bytes: Vec<u8>) {
        let t = &mut self.traffic[from];
        t.datagrams_out += 1;
        t.bytes_out += bytes.len() as u64;
        self.stats.sent += 1;
        if bytes.len() > self.engine_config.mtu {
            self.stats.oversized += 1;
        }
        let to = node_index(to_addr).filter(|&j| j < self.engines.len());
        let h = &mut self.ledger.hash;
        h.u64(tag::SEND);
        h.u64(self.now);
        h.u64(from as u64);
        h.u64(to.map_or(u64::MAX, |j| j as u64));
        h.bytes(&bytes);
        let Some(to) = to else {
            self.stats.unroutable += 1;
            self.sink.recycle(bytes);
            return;
        };
        if self.net.blocked(from, to) {
            self.stats.blocked += 1;
            self.sink.recycle(bytes);
            return;
        }
        let link = *self.net.link(from, to);
        if self.rng.chance(link.loss) {
            self.stats.lost += 1;
            self.sink.recycle(bytes);
            return;
        }
        let at = self.arrival(&link);
        if self.rng.chance(link.duplicate) {
            self.stats.duplicated += 1;
            let mut copy = self.sink.take();
            copy.extend_from_slice(&bytes);
            let at = self.arrival(&link);
            self.queue.push(
                at,
                Item::Deliver {
                    from,
                    to,
                    bytes: copy,
                },
            );
        }
        self.queue.push(at, Item::Deliver { from, to, bytes });
    }

    fn arrival(&mut self, link: &LinkModel) -> Micros {
        let mut delay = link.latency.sample(&mut self.rng);
        if self.rng.chance(link.reorder) {
            self.stats.delayed += 1;
            delay += self.rng.below(micros(link.reorder_delay) + 1);
        }
        self.now + delay
    }

    /// Node `from` opens an exchange with node `to` now, outside its ticks
    /// (the datagrams go through the network). Returns the number of Syn
    /// datagrams sent.
    pub fn start_exchange(&mut self, from: usize, to: usize) -> Result<usize, SendError> {
        let sent = self.engines[from].start_exchange(node_addr(to), &mut self.sink)?;
        self.action(16, from, to as u64);
        self.dispatch(from);
        self.reschedule(from);
        Ok(sent)
    }

    // -----------------------------------------------------------------------
    // Local writes.

    /// Sets `key` on node `i`; returns the version of the change (the
    /// current one if the value was already set).
    pub fn set(&mut self, i: usize, key: &str, value: &[u8]) -> Result<u64, WriteError> {
        self.engines[i].set(key, value)?;
        self.action(10, i, 0);
        self.reschedule(i);
        Ok(self.local_version(i, key))
    }

    /// Sets `key` on node `i` until `ttl` has passed; returns the version.
    pub fn set_with_ttl(
        &mut self,
        i: usize,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<u64, WriteError> {
        let now = self.instant();
        self.engines[i].set_with_ttl(key, value, ttl, now)?;
        self.action(11, i, 0);
        self.reschedule(i);
        Ok(self.local_version(i, key))
    }

    /// Deletes `key` on node `i`; returns whether it existed.
    pub fn delete(&mut self, i: usize, key: &str) -> Result<bool, WriteError> {
        let now = self.instant();
        let existed = self.engines[i].delete(key, now)?;
        self.action(12, i, 0);
        self.reschedule(i);
        Ok(existed)
    }

    fn local_version(&self, i: usize, key: &str) -> u64 {
        self.engines[i]
            .local_node()
            .and_then(|n| n.entry(key))
            .map_or(0, |e| e.version)
    }

    /// Sets `key` on node `i` and tracks how the update spreads
    /// ([`Sim::propagation`]).
    pub fn set_tracked(
        &mut self,
        i: usize,
        key: &str,
        value: &[u8],
    ) -> Result<TrackId, WriteError> {
        let version = self.set(i, key, value)?;
        Ok(self.track_version(i, key, version))
    }

    /// Tracks how node `i`'s current version of `key` spreads from now on
    /// (a later version counts as seeing it). `None` if `i` has no entry
    /// for `key`.
    pub fn track(&mut self, i: usize, key: &str) -> Option<TrackId> {
        let version = self.engines[i].local_node()?.entry(key)?.version;
        Some(self.track_version(i, key, version))
    }

    fn track_version(&mut self, i: usize, key: &str, version: u64) -> TrackId {
        let id = self.ledger.props.len();
        self.ledger.props.push(PropTracker {
            owner: self.subject(i),
            key: key.into(),
            version,
            started: self.now,
            seen: Vec::new(),
        });
        self.ledger.props_by_owner[i].push(id);
        TrackId(id)
    }

    /// How far tracked update `id` has spread, judged against the nodes
    /// running now.
    pub fn propagation(&self, id: TrackId) -> Propagation {
        let p = &self.ledger.props[id.0];
        let mut reached = 0;
        let mut targets = 0;
        let mut last = p.started;
        for j in (0..self.len()).filter(|&j| j != p.owner.node && self.state(j).is_running()) {
            targets += 1;
            if let Some(Some(at)) = p.seen.get(j) {
                reached += 1;
                last = last.max(*at);
            }
        }
        let duration = (reached == targets).then(|| Duration::from_micros(last - p.started));
        Propagation {
            owner: p.owner,
            key: p.key.clone(),
            version: p.version,
            started: Duration::from_micros(p.started),
            reached,
            targets,
            duration,
            rounds: duration.map(|d| d.as_secs_f64() / self.interval().as_secs_f64()),
        }
    }

    // -----------------------------------------------------------------------
    // Faults and lifecycle.

    /// Stops node `i` silently: it neither ticks nor receives, and sends
    /// nothing more (datagrams already in flight still arrive). Its engine is
    /// kept for [`Sim::resume`]. Starts tracking the crash's detection
    /// ([`Sim::detection`]). Does nothing if `i` is not running.
    pub fn crash(&mut self, i: usize) {
        if !self.ledger.nodes[i].state.is_running() {
            return;
        }
        let info = &mut self.ledger.nodes[i];
        info.state = NodeState::Crashed;
        info.disrupted_at = Some(self.now);
        self.set_timer(i, None);
        let id = self.ledger.crashes.len();
        self.ledger.crashes.push(CrashTracker {
            subject: self.subject(i),
            at: self.now,
            open: true,
            observers: self.len(),
            dead_at: Vec::new(),
        });
        self.ledger.crashes_by_node[i].push(id);
        self.action(3, i, 0);
    }

    /// Resumes crashed node `i` with its engine state as it was (a process
    /// that was paused, not restarted): its overdue engine deadline runs at
    /// once, as a resumed hearsay-std process's would (and, if it was
    /// leaving, it goes on leaving). Does nothing unless `i` is crashed.
    pub fn resume(&mut self, i: usize) {
        if self.ledger.nodes[i].state != NodeState::Crashed {
            return;
        }
        let info = &mut self.ledger.nodes[i];
        info.state = if info.leaving {
            NodeState::Leaving
        } else {
            NodeState::Running
        };
        info.disrupted_at = Some(self.now);
        self.ledger.close_crashes(i);
        self.action(4, i, 0);
        self.reschedule(i);
    }

    /// Restarts node `i` as a fresh process: a new engine, the same name and
    /// address, a new generation (a millisecond timestamp above the old
    /// one). Works whatever the node's state. Returns the generation.
    pub fn restart(&mut self, i: usize) -> u64 {
        let generation = self.fresh_generation(self.generation(i));
        self.restart_with_generation(i, generation);
        generation
    }

    /// [`Sim::restart`] with a chosen generation (a lower one than before
    /// makes a stale incarnation, which peers should ignore).
    pub fn restart_with_generation(&mut self, i: usize, generation: u64) {
        let engine = self.build_engine(i, generation);
        let old = core::mem::replace(&mut self.engines[i], engine);
        self.spare.push(old.into_buffers());
        self.set_timer(i, None);
        let info = &mut self.ledger.nodes[i];
        info.state = NodeState::Running;
        info.generation = generation;
        info.born_generation = generation;
        info.born = self.now;
        info.disrupted_at = Some(self.now);
        info.leaving = false;
        self.ledger.close_crashes(i);
        self.ledger.forget_seen(i);
        self.action(5, i, generation);
        self.schedule_start(i);
    }

    /// Node `i` leaves gracefully: [`Engine::leave`], then it keeps ticking
    /// until [`Engine::has_left`], then stops ([`NodeState::Left`]).
    pub fn leave(&mut self, i: usize) -> Result<(), WriteError> {
        let now = self.instant();
        self.engines[i].leave(now)?;
        let info = &mut self.ledger.nodes[i];
        info.leaving = true;
        if info.state == NodeState::Running {
            info.state = NodeState::Leaving;
        }
        self.action(6, i, 0);
        self.reschedule(i);
        Ok(())
    }

    // -----------------------------------------------------------------------
    // Network.

    /// Replaces the behaviour of every link that has no override.
    pub fn set_network(&mut self, model: LinkModel) {
        self.net.default = model;
        self.action(7, 0, 0);
    }

    /// The behaviour of links without an override.
    pub fn network(&self) -> &LinkModel {
        &self.net.default
    }

    /// Overrides the directed link `from → to` (`None` removes the override).
    pub fn set_link(&mut self, from: usize, to: usize, model: Option<LinkModel>) {
        self.net.set_link(from, to, model);
        self.action(8, from, to as u64);
    }

    /// Cuts every link between a node of `a` and a node of `b`, both ways.
    pub fn partition(&mut self, a: &[usize], b: &[usize]) -> PartitionId {
        self.action(9, a.len(), b.len() as u64);
        self.net.partition(a, b, false)
    }

    /// Cuts the links from nodes of `from` to nodes of `to` only.
    pub fn partition_one_way(&mut self, from: &[usize], to: &[usize]) -> PartitionId {
        self.action(13, from.len(), to.len() as u64);
        self.net.partition(from, to, true)
    }

    /// Removes partition `id`; returns whether it existed.
    pub fn heal(&mut self, id: PartitionId) -> bool {
        self.action(14, 0, 0);
        self.net.heal(id, self.now)
    }

    /// Removes every partition.
    pub fn heal_all(&mut self) {
        self.action(15, 0, 0);
        self.net.heal_all(self.now);
    }

    /// Whether a partition stops datagrams from `from` to `to`.
    pub fn is_blocked(&self, from: usize, to: usize) -> bool {
        self.net.blocked(from, to)
    }

    // -----------------------------------------------------------------------
    // Observations.

    /// The generation node `i`'s current engine was started with (its
    /// generation may have moved since, when it refuted): what
    /// [`Record::observer_generation`] names.
    pub fn born_generation(&self, i: usize) -> u64 {
        self.ledger.nodes[i].born_generation
    }

    /// Node `i`'s recorded events, oldest first (membership events, and key
    /// events if [`SimConfig::record_keys`]).
    pub fn log(&self, i: usize) -> &[Record] {
        &self.ledger.logs[i]
    }

    /// The events node `observer` recorded about node `about`.
    pub fn events_about(
        &self,
        observer: usize,
        about: usize,
    ) -> impl Iterator<Item = &Record> + '_ {
        self.ledger.logs[observer]
            .iter()
            .filter(move |r| r.event.involves(about))
    }

    /// Every `NodeDead` reported about a running, reachable node, in order.
    pub fn false_positives(&self) -> &[FalsePositive] {
        &self.ledger.false_positives
    }

    /// Every `NodeDead` any observer reported, in order, whether or not the
    /// node was running (kept even when [`SimConfig::record_membership`]
    /// is off).
    pub fn convictions(&self) -> &[Conviction] {
        &self.ledger.convictions
    }

    /// Every (observer engine, incarnation) pair in which the observer
    /// reported the incarnation dead more than once: seen dead, then alive
    /// again, then dead again ([`Flapping`]).
    pub fn flapping(&self) -> Vec<Flapping> {
        super::metrics::flapping(&self.ledger.convictions)
    }

    /// The detection of node `i`'s latest crash, if it ever crashed.
    pub fn detection(&self, i: usize) -> Option<Detection> {
        let &t = self.ledger.crashes_by_node[i].last()?;
        Some(self.detection_of(t))
    }

    /// The detections of every crash, in crash order.
    pub fn detections(&self) -> Vec<Detection> {
        (0..self.ledger.crashes.len())
            .map(|t| self.detection_of(t))
            .collect()
    }

    fn detection_of(&self, t: usize) -> Detection {
        let c = &self.ledger.crashes[t];
        let latencies = (0..c.observers)
            .filter(|&j| {
                j != c.subject.node
                    && self.state(j).is_running()
                    && self.ledger.nodes[j].born <= c.at
            })
            .map(|j| {
                let l = c.dead_at.get(j).copied().flatten();
                (j, l.map(|at| Duration::from_micros(at - c.at)))
            })
            .collect();
        Detection {
            subject: c.subject,
            crashed_at: Duration::from_micros(c.at),
            latencies,
        }
    }

    /// Traffic since the last [`Sim::reset_metrics`] (or the start).
    pub fn metrics(&self) -> Metrics {
        let mut total = Traffic::default();
        for t in &self.traffic {
            total.add(t);
        }
        let window = self.now - self.window_start;
        Metrics {
            window: Duration::from_micros(window),
            rounds: window as f64 / self.interval as f64,
            per_node: self.traffic.clone(),
            total,
            net: self.stats,
        }
    }

    /// Starts a new metrics window now (traffic and network statistics).
    pub fn reset_metrics(&mut self) {
        for t in &mut self.traffic {
            *t = Traffic::default();
        }
        self.stats = NetStats::default();
        self.window_start = self.now;
    }

    /// Fingerprint of the run so far: every datagram sent and delivered
    /// (time, endpoints, bytes), every event every observer saw, every tick
    /// and every call that changed the simulation. Same seed and same calls,
    /// same value.
    pub fn trace_hash(&self) -> u64 {
        self.ledger.hash.finish()
    }

    /// Events scheduled and not yet run (datagrams in flight and ticks).
    pub fn pending_events(&self) -> usize {
        self.queue.len()
    }
}
