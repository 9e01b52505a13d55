//! Scenarios for the hearsay benchmarks, built honestly through the protocol.
//!
//! [`Scenario::build`] creates a cluster of `n` nodes — a responder R, an
//! initiator I and `n - 2` small "source" engines — where every node owns
//! [`KEYS`]`.len()` keys with 32-byte values. All state reaches R and I only
//! through exchanged datagrams: sources → R, then R ↔ I until both hold every
//! node at the same versions. Then every source changes one or two keys
//! (alternately) and exchanges with R only, so that I lags one or two
//! versions on every source node. The Syn datagrams I then sends to R are
//! what the `syn` benchmark feeds to R.
//!
//! R and I have the default capacities ([`Capacity::DEFAULT`], about 3 MiB
//! of tables each), the sources [`SMALL`]; every engine's tables are
//! allocated on the heap ([`Buffers::allocate`]), so no stack holds them.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use hearsay_core::{
    Buffers, Capacity, Config, DEFAULT_WINDOW, Engine, EntryRef, Heap, Instant, NodeId,
};
use hearsay_testkit::{CountingSink, Recorder, SimRng};

/// Every engine of the scenario: R and I of [`Capacity::DEFAULT`] (1024
/// nodes, 16 Ki entries, 1 MiB arena), the sources of [`SMALL`].
pub type Big = Engine<Heap>;

/// A source node's capacity: room for a few nodes and its own keys.
pub const SMALL: Capacity = Capacity {
    nodes: 4,
    entries: 16,
    state_bytes: 1024,
    window: DEFAULT_WINDOW,
};

/// Every node's keys (8 to 16 bytes each).
pub const KEYS: [&str; 10] = [
    "service/name",
    "service/port",
    "http/addr",
    "grpc/addr",
    "load/avg1",
    "health/ready",
    "build/version",
    "topology/zone",
    "node/state",
    "mem/free/mb",
];
/// The key every source changes.
const CHANGED_FIRST: usize = 4;
/// The key odd sources change as well.
const CHANGED_SECOND: usize = 5;

/// Length of every value.
pub const VALUE_LEN: usize = 32;

/// Generation of node 0 (a millisecond timestamp); node `i` has this plus `i`.
pub const BASE_GENERATION: u64 = 1_764_000_000_000;

/// The time passed to the engines (the exchange does not depend on it).
pub const NOW: Instant = Instant::from_millis(BASE_GENERATION + 60_000);

/// The name of node `i`, e.g. `node-0042.eu-west-1.prod`.
pub fn node_name(i: usize) -> String {
    format!("node-{i:04}.eu-west-1.prod")
}

/// The gossip address of node `i` (loopback; nothing is ever sent to it).
pub fn node_addr(i: usize) -> SocketAddr {
    let [_, _, hi, lo] = u32::try_from(i).unwrap_or(u32::MAX).to_be_bytes();
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 1, hi, lo)), 7946)
}

/// The id of node `i`.
pub fn node_id(i: usize) -> NodeId {
    NodeId::new(&node_name(i), BASE_GENERATION + i as u64, node_addr(i)).expect("valid node name")
}

/// Value of key number `key` of node `node` at revision `rev`.
pub fn value(node: usize, key: usize, rev: u32) -> [u8; VALUE_LEN] {
    let text = format!("{node:04}:{key:02}:r{rev:03}:");
    let mut v = [b'.'; VALUE_LEN];
    for (dst, src) in v.iter_mut().zip(text.bytes()) {
        *dst = src;
    }
    v
}

/// Anything datagrams can be delivered to during setup.
trait Peer {
    fn start(&mut self, to: SocketAddr, out: &mut Recorder);
    fn recv(&mut self, from: SocketAddr, datagram: &[u8], out: &mut Recorder);
}

impl Peer for Engine<Heap> {
    fn start(&mut self, to: SocketAddr, out: &mut Recorder) {
        self.start_exchange(to, out).expect("start_exchange");
    }

    fn recv(&mut self, from: SocketAddr, datagram: &[u8], out: &mut Recorder) {
        self.handle_datagram(from, &mut datagram.to_vec(), NOW, out, &mut ())
            .expect("datagram rejected");
    }
}

/// I and its shadow: the shadow has I's id and receives every datagram I
/// receives (its own output is dropped), so it holds exactly I's state and
/// can be used to check a reply without disturbing I.
struct Mirrored<'a> {
    main: &'a mut Big,
    shadow: &'a mut Big,
}

impl Peer for Mirrored<'_> {
    fn start(&mut self, to: SocketAddr, out: &mut Recorder) {
        self.main.start(to, out);
        self.shadow.start(to, &mut Recorder::default());
    }

    fn recv(&mut self, from: SocketAddr, datagram: &[u8], out: &mut Recorder) {
        self.main.recv(from, datagram, out);
        self.shadow.recv(from, datagram, &mut Recorder::default());
    }
}

/// Runs one exchange opened by `a` towards `b` until no datagram is left.
/// Returns the number of datagrams delivered.
fn exchange(a: &mut dyn Peer, a_addr: SocketAddr, b: &mut dyn Peer, b_addr: SocketAddr) -> usize {
    let mut out = Recorder::default();
    a.start(b_addr, &mut out);
    let mut delivered = 0;
    for _hop in 0..8 {
        if out.sent.is_empty() {
            return delivered;
        }
        let mut next = Recorder::default();
        for (to, dg) in out.sent.drain(..) {
            delivered += 1;
            if to == b_addr {
                b.recv(a_addr, &dg, &mut next);
            } else {
                assert_eq!(to, a_addr, "datagram to a stranger");
                a.recv(b_addr, &dg, &mut next);
            }
        }
        out = next;
    }
    panic!("exchange did not end within 8 hops");
}

/// Whether `a` and `b` know the same nodes at the same generations and
/// versions.
fn same_view(a: &Big, b: &Big) -> bool {
    a.node_count() == b.node_count()
        && a.nodes().all(|n| {
            b.node(n.id().name.as_str()).is_some_and(|m| {
                m.id() == n.id()
                    && m.max_version() == n.max_version()
                    && m.last_gc_version() == n.last_gc_version()
            })
        })
}

fn max_version(e: &Big, name: &str) -> u64 {
    e.node(name).map_or(0, |n| n.max_version())
}

fn set_keys(e: &mut Engine<Heap>, i: usize) {
    for (k, key) in KEYS.iter().enumerate() {
        e.set(key, &value(i, k, 0)).expect("set");
    }
}

/// Node `i`'s engine of `capacity`, with its keys set.
fn engine(i: usize, capacity: Capacity) -> Engine<Heap> {
    let buffers = Buffers::<Heap>::allocate(capacity).expect("allocate");
    let mut rng = SimRng::new(0x6e6f_6e63_6500_0000 ^ i as u64);
    let mut e = Engine::new(buffers, node_id(i), Config::new(), &mut rng).expect("engine");
    set_keys(&mut e, i);
    e
}

/// What one measured exchange produces, checked against the initiator.
#[derive(Debug, Clone)]
pub struct Report {
    /// Nodes in the cluster.
    pub nodes: usize,
    /// Source nodes on which I lags (all but R and I).
    pub stale_nodes: usize,
    /// Syn datagrams I sends.
    pub syn_datagrams: usize,
    /// Their total bytes.
    pub syn_bytes: usize,
    /// SynAck datagrams R answers with.
    pub synack_datagrams: usize,
    /// Their total bytes.
    pub synack_bytes: usize,
    /// Stale nodes brought fully up to date by that reply.
    pub nodes_updated: usize,
    /// Stale nodes that got part of their delta.
    pub nodes_partly_updated: usize,
    /// Exchanges (this one included) until I holds everything R holds.
    pub exchanges_to_catch_up: usize,
    /// Entries stored on R (all nodes).
    pub entries: usize,
    /// Arena bytes in use on R.
    pub arena_bytes: usize,
    /// Exchanges R ↔ I took to converge during setup.
    pub setup_rounds: usize,
}

/// A cluster of `n` nodes seen from R and a stale I, ready to measure.
pub struct Scenario {
    /// Nodes in the cluster.
    pub n: usize,
    /// The responder R.
    pub responder: Big,
    /// The initiator I, lagging 1–2 versions on every source node.
    pub initiator: Big,
    /// An exact copy of I's state, used to verify replies.
    shadow: Big,
    /// The Syn datagrams I sends to R.
    pub syns: Vec<Vec<u8>>,
    /// R's address.
    pub r_addr: SocketAddr,
    /// I's address.
    pub i_addr: SocketAddr,
    setup_rounds: usize,
}

impl Scenario {
    /// Builds the scenario for a cluster of `n ≥ 3` nodes through the
    /// protocol, asserting every step.
    pub fn build(n: usize) -> Scenario {
        assert!(n >= 3, "need R, I and at least one source");
        let (r_addr, i_addr) = (node_addr(0), node_addr(1));
        let mut r = engine(0, Capacity::DEFAULT);
        let mut i = engine(1, Capacity::DEFAULT);
        let mut shadow = engine(1, Capacity::DEFAULT);
        // R and I run a round first, as every runtime's first call does:
        // each draws its address-token secret there. I's Syn then echoes
        // the token R gave it, so R answers with its full budget (a reply
        // to an unproven address is bounded to 3x the Syn,
        // `hearsay_core::token`), which is what this scenario measures.
        // The shadow mirrors I, secret included.
        for e in [&mut r, &mut i, &mut shadow] {
            e.tick(NOW, &mut SimRng::new(1), &mut Recorder::default(), &mut ());
        }

        let mut sources: Vec<(usize, Engine<Heap>)> = (2..n)
            .map(|k| {
                let mut s = engine(k, SMALL);
                // Its token secret, so that its replies to R are not
                // bounded either.
                s.tick(
                    NOW,
                    &mut SimRng::new(k as u64),
                    &mut Recorder::default(),
                    &mut (),
                );
                (k, s)
            })
            .collect();
        for (k, s) in sources.iter_mut() {
            exchange(s, node_addr(*k), &mut r, r_addr);
            assert_eq!(max_version(&r, &node_name(*k)), KEYS.len() as u64);
            // R sees the source's heartbeat move, so holds it alive and
            // introduces it to I (pending nodes are not introduced).
            s.tick(
                NOW,
                &mut SimRng::new(*k as u64),
                &mut Recorder::default(),
                &mut (),
            );
            exchange(s, node_addr(*k), &mut r, r_addr);
        }
        assert_eq!(r.node_count(), n - 1, "R knows every source");

        // R ↔ I until both hold everything.
        let mut setup_rounds = 0;
        {
            let mut mi = Mirrored {
                main: &mut i,
                shadow: &mut shadow,
            };
            while !same_view(&r, mi.main) {
                setup_rounds += 1;
                assert!(setup_rounds <= 1000, "R and I do not converge");
                if setup_rounds % 2 == 1 {
                    exchange(&mut mi, i_addr, &mut r, r_addr);
                } else {
                    exchange(&mut r, r_addr, &mut mi, i_addr);
                }
            }
        }
        assert_eq!(i.node_count(), n);

        // Every source changes one or two keys and tells only R.
        let mut rng = SimRng::new(0x5eed_0000_0000_0000 ^ n as u64);
        for (k, s) in sources.iter_mut() {
            s.set(KEYS[CHANGED_FIRST], &value(*k, CHANGED_FIRST, 1))
                .expect("set");
            if *k % 2 == 1 {
                s.set(KEYS[CHANGED_SECOND], &value(*k, CHANGED_SECOND, 1))
                    .expect("set");
            }
            // The round's heartbeat; its gossip datagrams are dropped (as if
            // lost): only the exchange with R below is delivered.
            s.tick(NOW, &mut rng, &mut Recorder::default(), &mut ());
            exchange(s, node_addr(*k), &mut r, r_addr);
            let name = node_name(*k);
            let own = s.local_node().expect("local").max_version();
            assert_eq!(max_version(&r, &name), own, "R is up to date");
            let lag = own - max_version(&i, &name);
            assert!(lag == 1 || lag == 2, "I lags 1–2 versions, not {lag}");
        }
        drop(sources);

        // The Syn I sends (and the shadow would send: same bytes).
        let mut out = Recorder::default();
        i.start_exchange(r_addr, &mut out).expect("syn");
        let mut shadow_out = Recorder::default();
        shadow.start_exchange(r_addr, &mut shadow_out).expect("syn");
        assert_eq!(out.sent, shadow_out.sent, "shadow mirrors I");
        assert!(out.sent.iter().all(|(to, _)| *to == r_addr));
        let syns = out.sent.into_iter().map(|(_, dg)| dg).collect();

        Scenario {
            n,
            responder: r,
            initiator: i,
            shadow,
            syns,
            r_addr,
            i_addr,
            setup_rounds,
        }
    }

    /// The measured routine: R answers every Syn datagram of I.
    pub fn answer_syn(&mut self, sink: &mut CountingSink) {
        // Unsealed datagrams are read in place, never changed, so the same
        // Syns serve every iteration.
        for dg in &mut self.syns {
            let r = self
                .responder
                .handle_datagram(self.i_addr, dg, NOW, sink, &mut ());
            debug_assert!(r.is_ok());
            std::hint::black_box(r).ok();
        }
    }

    /// The other measured routine: I encodes its Syn.
    pub fn start_exchange(&mut self, sink: &mut CountingSink) -> usize {
        self.initiator
            .start_exchange(self.r_addr, sink)
            .unwrap_or_default()
    }

    /// Captures R's reply to the Syn, applies it to the copy of I and checks
    /// that it carries the newer versions R holds; then counts how many
    /// exchanges the copy needs to catch up completely. R's data is not
    /// changed (only its counters and its fairness rotation move).
    pub fn verify(&mut self) -> Report {
        let r = &mut self.responder;
        let mut reply = Recorder::default();
        for dg in &self.syns {
            r.handle_datagram(self.i_addr, &mut dg.clone(), NOW, &mut reply, &mut ())
                .expect("Syn accepted");
        }
        assert!(reply.sent.iter().all(|(to, _)| *to == self.i_addr));
        assert!(
            reply
                .sent
                .iter()
                .all(|(_, dg)| dg.len() <= Config::new().mtu),
            "datagrams within the mtu"
        );
        let synack_bytes: usize = reply.sent.iter().map(|(_, dg)| dg.len()).sum();
        assert!(synack_bytes <= Config::new().exchange_budget + Config::new().mtu);

        let stale: Vec<String> = (2..self.n).map(node_name).collect();
        let before: Vec<u64> = stale
            .iter()
            .map(|name| max_version(&self.shadow, name))
            .collect();
        let mut acks = Recorder::default();
        for (_, dg) in &reply.sent {
            self.shadow
                .handle_datagram(self.r_addr, &mut dg.clone(), NOW, &mut acks, &mut ())
                .expect("SynAck accepted");
        }
        assert!(acks.sent.is_empty(), "R asked for nothing: I is not ahead");

        let (mut full, mut partial) = (0, 0);
        for (name, was) in stale.iter().zip(&before) {
            let now = max_version(&self.shadow, name);
            let target = max_version(r, name);
            assert!(now <= target);
            if now == target {
                full += 1;
                let theirs: Vec<EntryRef<'_>> =
                    r.node(name).expect("known").all_entries().collect();
                let ours: Vec<EntryRef<'_>> = self
                    .shadow
                    .node(name)
                    .expect("known")
                    .all_entries()
                    .collect();
                assert_eq!(ours, theirs, "{name}: same entries after the update");
            } else if now > *was {
                partial += 1;
            }
        }
        assert!(full > 0, "the reply updated no node");

        let mut exchanges = 1;
        while !same_view(r, &self.shadow) {
            exchanges += 1;
            assert!(exchanges <= 100, "the copy of I does not catch up");
            exchange(&mut self.shadow, self.i_addr, r, self.r_addr);
        }

        Report {
            nodes: self.n,
            stale_nodes: stale.len(),
            syn_datagrams: self.syns.len(),
            syn_bytes: self.syns.iter().map(Vec::len).sum(),
            synack_datagrams: reply.sent.len(),
            synack_bytes,
            nodes_updated: full,
            nodes_partly_updated: partial,
            exchanges_to_catch_up: exchanges,
            entries: r.entry_count(),
            arena_bytes: r.arena_bytes_used(),
            setup_rounds: self.setup_rounds,
        }
    }
}

/// Per-slot cost of the entry table: the difference in
/// [`Capacity::memory_bytes`] of two capacities that differ only in
/// `entries`, divided by the difference.
pub fn entry_slot_bytes() -> f64 {
    const E1: usize = 16 * 1024;
    const E2: usize = 32 * 1024;
    let small = Capacity {
        entries: E1,
        ..Capacity::DEFAULT
    };
    let large = Capacity {
        entries: E2,
        ..Capacity::DEFAULT
    };
    (large.memory_bytes() - small.memory_bytes()) as f64 / (E2 - E1) as f64
}

/// Per-node cost of the node table (its detector window included) and the
/// reply scratch: the difference in [`Capacity::memory_bytes`] of two
/// capacities that differ only in `nodes`, divided by the difference.
pub fn node_slot_bytes() -> f64 {
    const N1: usize = 1024;
    const N2: usize = 2048;
    let small = Capacity {
        nodes: N1,
        ..Capacity::DEFAULT
    };
    let large = Capacity {
        nodes: N2,
        ..Capacity::DEFAULT
    };
    (large.memory_bytes() - small.memory_bytes()) as f64 / (N2 - N1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_cluster_scenario_holds() {
        let mut s = Scenario::build(10);
        let rep = s.verify();
        assert_eq!(rep.stale_nodes, 8);
        assert_eq!(rep.nodes_updated, 8, "everything fits the budget");
        assert_eq!(rep.exchanges_to_catch_up, 1);
        assert_eq!(rep.entries, 10 * KEYS.len());
        let mut sink = CountingSink::new();
        s.answer_syn(&mut sink);
        assert_eq!(sink.datagrams as usize, rep.synack_datagrams);
        assert_eq!(sink.bytes as usize, rep.synack_bytes);
        assert_eq!(s.start_exchange(&mut sink), rep.syn_datagrams);
    }

    #[test]
    fn values_and_names_are_realistic() {
        assert_eq!(node_name(42), "node-0042.eu-west-1.prod");
        assert!(KEYS.iter().all(|k| (8..=16).contains(&k.len())));
        assert_eq!(value(1, 2, 3).len(), VALUE_LEN);
        assert!(entry_slot_bytes() > 0.0);
        assert!(node_slot_bytes() > 0.0);
    }
}
