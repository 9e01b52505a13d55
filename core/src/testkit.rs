//! Helpers shared by the crate's unit tests.

use core::net::SocketAddr;
use std::boxed::Box;
use std::vec::Vec;

use crate::capacity::{Buffers, Capacity, DEFAULT_WINDOW};
use crate::config::Config;
use crate::engine::{Engine, Transmit};
use crate::id::NodeId;
use crate::memory::Heap;

/// The engine type of the unit tests: tables on the heap.
pub(crate) type TestEngine = Engine<Heap>;

/// A fresh [`TestRng`] for each engine the tests build, so that no two of
/// them start their nonces alike ([`crate::seal`]).
pub(crate) fn engine_rng() -> TestRng {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    TestRng(NEXT.fetch_add(0x1234_5678_9abc_def1, std::sync::atomic::Ordering::Relaxed))
}

/// A deterministic RNG (splitmix64) for tests.
pub(crate) struct TestRng(pub u64);

impl rand_core::RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for chunk in dst.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// A transmit sink that records datagrams.
#[derive(Default)]
pub(crate) struct Recorder {
    buf: Vec<u8>,
    pub sent: Vec<(SocketAddr, Vec<u8>)>,
}

impl Transmit for Recorder {
    fn buffer(&mut self) -> &mut [u8] {
        self.buf.resize(65_507, 0);
        &mut self.buf
    }

    fn send(&mut self, to: SocketAddr, len: usize) {
        self.sent.push((to, self.buf[..len].to_vec()));
    }
}

/// Node `i`'s address on loopback, for tests.
pub(crate) fn addr(i: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7000 + i))
}

/// The capacity of `N` nodes, `E` entries and `B` state bytes, with the
/// default detector window.
pub(crate) const fn capacity<const N: usize, const E: usize, const B: usize>() -> Capacity {
    Capacity {
        nodes: N,
        entries: E,
        state_bytes: B,
        window: DEFAULT_WINDOW,
    }
}

/// An engine of `capacity` on the heap; errors as [`Engine::new`] does.
pub(crate) fn build(
    capacity: Capacity,
    id: NodeId,
    config: Config,
) -> Result<Box<TestEngine>, crate::config::ConfigError> {
    let buffers = Buffers::allocate(capacity)?;
    Engine::new(buffers, id, config, &mut engine_rng()).map(Box::new)
}

/// [`capacity`] with a detector window of `W` intervals.
pub(crate) const fn capacity_w<const N: usize, const E: usize, const B: usize, const W: usize>()
-> Capacity {
    Capacity {
        nodes: N,
        entries: E,
        state_bytes: B,
        window: W,
    }
}

/// An engine of `N` nodes, `E` entries and `B` state bytes (default
/// window) named `name`, generation 1, at [`addr`]`(i)`.
pub(crate) fn engine<const N: usize, const E: usize, const B: usize>(
    name: &str,
    i: u16,
    config: Config,
) -> Box<TestEngine> {
    let id = NodeId::new(name, 1, addr(i)).expect("id");
    let buffers = Buffers::allocate(capacity::<N, E, B>()).expect("buffers");
    Box::new(Engine::new(buffers, id, config, &mut engine_rng()).expect("engine"))
}

/// Makes `a` and `b` know each other and hold each other's address token,
/// as after a first exchange in version 4: a reply to a source that has not
/// shown it receives at its address is bounded to 3× the datagram answered
/// ([`crate::token`]), so tests of full budgets start from such peers.
pub(crate) fn acquaint(a: &mut TestEngine, b: &mut TestEngine) {
    a.ensure_token_secret(&mut TestRng(0xa));
    b.ensure_token_secret(&mut TestRng(0xb));
    know(a, b);
    know(b, a);
}

/// `x` learns `y` (if it can) and holds its token for `x`'s address.
fn know(x: &mut TestEngine, y: &TestEngine) {
    let slot = match x.nodes.find_hash(y.id().ring_hash()) {
        Some(s) => s,
        // Another generation is the test's business: leave it to the
        // exchange.
        None if x.nodes.find_name(y.id().name.as_str()).is_some() => return,
        None => match x.learn(y.id().clone(), None, x.now, &mut ()) {
            Some(s) => s,
            None => return,
        },
    };
    let token = y.token_for(x.id().addr);
    if let Some(n) = x.nodes.get_mut(slot) {
        n.version = crate::wire::PROTOCOL_VERSION;
        n.token = token;
    }
}

/// `x` sees `y`'s heartbeat advance to the value `y` holds (through the
/// same path as one that came in gossip), so `y` is alive and announced
/// there: its keys make events from then on ([`crate::event`]'s
/// contract). `y` must have beaten (ticked) since `x` last heard its
/// heartbeat. The events this produces (`NodeJoined`, the keys `x`
/// already holds) go nowhere.
pub(crate) fn see_alive(x: &mut TestEngine, y: &TestEngine) {
    let slot = x.nodes.find_hash(y.id().ring_hash()).expect("x knows y");
    let beat = y.nodes.get(crate::engine::LOCAL).expect("local").heartbeat;
    let held = x.nodes.get(slot).expect("slot").heartbeat;
    assert!(
        beat > held,
        "y has not beaten since x heard it ({beat} <= {held})"
    );
    let now = x.now;
    x.observe_heartbeat(slot, beat, now, &mut ());
}

/// `n` small engines (16 nodes, 512 entries, 64 KiB) named `n0`, `n1`…
/// at [`addr`]`(1)`…, each acquainted with every other.
pub(crate) fn mesh(n: u16) -> Vec<TestEngine> {
    let mut c: Vec<TestEngine> = (0..n)
        .map(|i| *engine::<16, 512, 65_536>(&std::format!("n{i}"), i + 1, Config::new()))
        .collect();
    for j in 1..c.len() {
        let (left, right) = c.split_at_mut(j);
        if let Some(b) = right.first_mut() {
            for a in left.iter_mut() {
                acquaint(a, b);
            }
        }
    }
    c
}

/// Delivers `net` (sender's index, destination, bytes) among the engines
/// of `c` at `now`, and every reply, until nothing is in flight; `seen`
/// sees each datagram before it is delivered. Every datagram must be
/// accepted.
pub(crate) fn deliver_until_quiet(
    c: &mut [TestEngine],
    mut net: Vec<(usize, SocketAddr, Vec<u8>)>,
    now: crate::time::Instant,
    mut seen: impl FnMut(&[u8]),
) {
    while !net.is_empty() {
        let mut next = Vec::new();
        for (from, to, d) in net.drain(..) {
            seen(&d);
            let Some(j) = c.iter().position(|e| e.id().addr == to) else {
                continue;
            };
            let from_addr = c[from].id().addr;
            let mut tx = Recorder::default();
            let mut bytes = d.clone();
            c[j].handle_datagram(from_addr, &mut bytes, now, &mut tx, &mut ())
                .expect("accepted");
            next.extend(tx.sent.into_iter().map(|(to, d)| (j, to, d)));
        }
        net = next;
    }
}

/// The time of round `k` for tests that space rounds 1.5 s apart: each
/// engine's next round (1 s ± 10 % after its last) is then always due, and
/// a time 300 ms after one never is.
pub(crate) fn spaced_round(k: u64) -> crate::time::Instant {
    crate::time::Instant::ZERO.saturating_add(core::time::Duration::from_millis(1500 * k))
}

/// Every engine of `c` runs what is due at `now`; everything sent is
/// delivered ([`deliver_until_quiet`]).
pub(crate) fn run_due(c: &mut [TestEngine], now: crate::time::Instant, rng: &mut TestRng) {
    let mut net = Vec::new();
    for (i, e) in c.iter_mut().enumerate() {
        let mut tx = Recorder::default();
        e.handle_timeout(now, rng, &mut tx, &mut ());
        net.extend(tx.sent.into_iter().map(|(to, d)| (i, to, d)));
    }
    deliver_until_quiet(c, net, now, |_| {});
}
