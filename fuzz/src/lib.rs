//! What the fuzz targets share: a small world of three engines that have
//! gossiped, forked for every input, the record format the
//! stateful targets read their inputs in, and the checks they make after
//! every call.
//!
//! # The world
//!
//! Engines `a` (the one fuzzed), `b` and `c`, each of 8 nodes, 64 entries,
//! 4 KiB of keys and values and a 64-interval detector window, with a few
//! keys, a tombstone and a TTL key each, exchange at 0 s and run whole
//! gossip rounds at 1 s and 2 s, every datagram delivered ([`Script`]
//! records them). The world is built once per process; every input starts
//! from forks of its engines (`Engine::fork`, feature `fuzzing`), so an
//! input costs its own calls only.
//!
//! # Records
//!
//! A stateful target's input is a list of records (see [`Records`]): a
//! control byte, a two-byte little-endian length and that many bytes.
//! libFuzzer mutates the lengths along with the rest, so a record's length
//! is cut to what is left of the input.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use hearsay_core::{
    Buffers, Capacity, ClusterKey, Config, Counters, DecodeError, Engine, Event, Heap, Instant,
    NodeId, Observer, Transmit,
};

/// The engines of the world.
pub type Eng = Engine<Heap>;

/// The capacity every engine of the world has.
pub const CAPACITY: Capacity = Capacity {
    nodes: 8,
    entries: 64,
    state_bytes: 4096,
    window: 64,
};

/// The cluster key of the sealed world.
pub const KEY: [u8; 32] = [0x5e; 32];

/// Engine `i`'s address (0 is `a`).
pub fn addr(i: usize) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, 1 + i as u8], 7001 + i as u16))
}

/// An address no engine of the world has.
pub fn stranger() -> SocketAddr {
    SocketAddr::from(([10, 9, 9, 9], 9999))
}

/// splitmix64: the rng of the world's engines, seeded per call.
pub struct Rng(pub u64);

impl rand_core::RngCore for Rng {
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

/// A transmit sink: one reusable buffer, and the datagrams sent, kept only
/// when `keep` is set.
pub struct Sink {
    buf: Vec<u8>,
    /// Datagrams sent, with their destinations (when kept).
    pub sent: Vec<(SocketAddr, Vec<u8>)>,
    /// Whether to keep what is sent.
    pub keep: bool,
    /// Datagrams sent, kept or not.
    pub count: usize,
    /// The longest datagram sent.
    pub longest: usize,
}

impl Sink {
    /// A sink that keeps what is sent when `keep`.
    pub fn new(keep: bool) -> Sink {
        Sink {
            // The mtu's worth (the engine writes no more; a longer datagram
            // would need a larger buffer than the engine may assume).
            buf: vec![0; 1500],
            sent: Vec::new(),
            keep,
            count: 0,
            longest: 0,
        }
    }
}

impl Transmit for Sink {
    fn buffer(&mut self) -> &mut [u8] {
        &mut self.buf
    }

    fn send(&mut self, to: SocketAddr, len: usize) {
        self.count += 1;
        self.longest = self.longest.max(len);
        if self.keep {
            self.sent.push((to, self.buf[..len].to_vec()));
        }
    }
}

/// Counts the events an engine emits.
#[derive(Default)]
pub struct Events(pub usize);

impl Observer for Events {
    fn on_event(&mut self, _: &Event<'_>) {
        self.0 += 1;
    }
}

/// Every datagram delivered while a world was built, and its engines at
/// the end.
pub struct Script {
    /// `(from, to, bytes)`, engine indexes, in delivery order.
    pub datagrams: Vec<(usize, usize, Vec<u8>)>,
    /// When the build ended (ms).
    pub end: u64,
    engines: Vec<Eng>,
}

/// Engine `i` as it starts: its id, settings, key and local writes.
fn fresh(i: usize, sealed: bool) -> Eng {
    let names = ["a", "b", "c"];
    let id = NodeId::new(names[i], 1, addr(i)).expect("id");
    let config = Config {
        // Tombstones collected within what a run of inputs reaches.
        tombstone_grace: Duration::from_secs(5),
        ..Config::new()
    };
    let buffers = Buffers::<Heap>::allocate(CAPACITY).expect("buffers");
    let mut e = Engine::new(buffers, id, config, &mut Rng(0x1000 + i as u64)).expect("engine");
    if sealed {
        e.install_key(ClusterKey::new(KEY)).expect("key");
    }
    let t0 = Instant::ZERO;
    match i {
        0 => {
            e.set("role", b"leader").expect("set");
            e.set("gone", b"x").expect("set");
            e.delete("gone", t0).expect("delete");
            e.set_with_ttl("lease", b"42", Duration::from_secs(3), t0)
                .expect("set");
        }
        1 => {
            e.set("x", b"1").expect("set");
            e.set("y", b"2").expect("set");
            e.delete("y", t0).expect("delete");
            e.set("big", &[0xab; 300]).expect("set");
            e.set(&"long-key-".repeat(20), b"v").expect("set");
        }
        _ => {
            e.set("c-key", b"c-value").expect("set");
            e.set("\u{1}odd", b"").expect("set");
        }
    }
    e
}

fn index_of(to: SocketAddr) -> Option<usize> {
    (0..3).find(|&i| addr(i) == to)
}

/// Delivers datagrams `(from, to, bytes)` among the engines at `now` until
/// none is left, recording each; every one must be accepted.
fn deliver(
    engines: &mut [Eng],
    datagrams: &mut Vec<(usize, usize, Vec<u8>)>,
    mut net: Vec<(usize, SocketAddr, Vec<u8>)>,
    now: u64,
) {
    while !net.is_empty() {
        let mut next = Vec::new();
        for (from, to, d) in net.drain(..) {
            let Some(j) = index_of(to) else { continue };
            datagrams.push((from, j, d.clone()));
            let mut sink = Sink::new(true);
            let mut d = d;
            engines[j]
                .handle_datagram(
                    addr(from),
                    &mut d,
                    Instant::from_millis(now),
                    &mut sink,
                    &mut (),
                )
                .expect("the world's own datagrams are accepted");
            next.extend(sink.sent.into_iter().map(|(to, d)| (j, to, d)));
        }
        net = next;
    }
}

/// Builds a world.
fn build(sealed: bool) -> Script {
    let mut engines: Vec<Eng> = (0..3).map(|i| fresh(i, sealed)).collect();
    let mut datagrams = Vec::new();
    for (i, j) in [(1, 0), (2, 0), (0, 1), (1, 2)] {
        let mut sink = Sink::new(true);
        engines[i]
            .start_exchange(addr(j), &mut sink)
            .expect("start");
        let net = sink.sent.into_iter().map(|(to, d)| (i, to, d)).collect();
        deliver(&mut engines, &mut datagrams, net, 0);
    }
    for now in [1000u64, 2000] {
        let mut net = Vec::new();
        for (i, e) in engines.iter_mut().enumerate() {
            let mut sink = Sink::new(true);
            e.tick(
                Instant::from_millis(now),
                &mut Rng(now ^ (i as u64) << 32),
                &mut sink,
                &mut (),
            );
            net.extend(sink.sent.into_iter().map(|(to, d)| (i, to, d)));
        }
        deliver(&mut engines, &mut datagrams, net, now);
    }
    Script {
        datagrams,
        end: 2000,
        engines,
    }
}

/// The world, unsealed or sealed, built at the first call.
pub fn script(sealed: bool) -> &'static Script {
    static PLAIN: OnceLock<Script> = OnceLock::new();
    static SEALED: OnceLock<Script> = OnceLock::new();
    if sealed {
        SEALED.get_or_init(|| build(true))
    } else {
        PLAIN.get_or_init(|| build(false))
    }
}

/// A fork of engine `i` of the world as it stood at the end of the build.
pub fn engine(i: usize, sealed: bool) -> Eng {
    script(sealed).engines[i].fork()
}

/// One record of a stateful target's input.
pub struct Record<'a> {
    /// The control byte.
    pub ctrl: u8,
    /// The record's bytes.
    pub bytes: &'a [u8],
}

/// Splits an input into records: a control byte, a two-byte little-endian
/// length, then that many bytes (cut to what is left).
pub struct Records<'a>(pub &'a [u8]);

impl<'a> Iterator for Records<'a> {
    type Item = Record<'a>;

    fn next(&mut self) -> Option<Record<'a>> {
        let (&ctrl, rest) = self.0.split_first()?;
        let (len, rest) = match rest {
            [lo, hi, rest @ ..] => (usize::from(u16::from_le_bytes([*lo, *hi])), rest),
            _ => (rest.len(), &[][..]),
        };
        let (bytes, rest) = rest.split_at(len.min(rest.len()));
        self.0 = rest;
        Some(Record { ctrl, bytes })
    }
}

/// Encodes records in the format [`Records`] reads (for seed files).
pub fn records(items: &[(u8, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (ctrl, bytes) in items {
        out.push(*ctrl);
        out.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
        out.extend_from_slice(bytes);
    }
    out
}

/// How far a control byte's top five bits move the clock: 0 to 30 steps of
/// 40 ms, or 7 s for 31 (a local stall: more than two gossip intervals).
pub fn advance(ctrl: u8) -> u64 {
    match ctrl >> 3 {
        31 => 7000,
        k => u64::from(k) * 40,
    }
}

/// Checks the engine's invariants, and panics with the broken one.
pub fn assert_invariants(e: &Eng, what: &str) {
    if let Err(v) = e.check_invariants() {
        panic!("invariant broken after {what}: {v}");
    }
}

/// What a call may have changed, taken before it.
pub struct Before {
    digest: u64,
    counters: Counters,
}

impl Before {
    /// The state and counters of `e` now.
    pub fn of(e: &Eng) -> Before {
        Before {
            digest: e.state_digest(),
            counters: e.counters().clone(),
        }
    }

    /// Checks what a `handle_datagram` of `len` bytes that returned
    /// `result` did: a rejected datagram changes nothing but its counters
    /// (the datagram's, its kind's, and a local stall noticed by the time
    /// it brought), sends nothing and emits no event; an accepted one
    /// leaves the rejection counters alone.
    pub fn check(
        &self,
        e: &Eng,
        len: usize,
        result: Result<(), DecodeError>,
        sink: &Sink,
        events: &Events,
    ) {
        let c = e.counters();
        assert_eq!(c.datagrams_in, self.counters.datagrams_in + 1);
        assert_eq!(c.bytes_in, self.counters.bytes_in + len as u64);
        match result {
            Err(err) => {
                assert_eq!(e.state_digest(), self.digest, "{err:?} changed the state");
                assert_eq!(sink.count, 0, "{err:?} sent a datagram");
                assert_eq!(events.0, 0, "{err:?} emitted an event");
                let mut want = self.counters.clone();
                want.datagrams_in += 1;
                want.bytes_in += len as u64;
                want.rejected_by_kind[err as usize] += 1;
                want.local_stalls = c.local_stalls;
                assert_eq!(*c, want, "{err:?} changed counters besides its own");
            }
            Ok(()) => {
                assert_eq!(
                    c.rejected_by_kind, self.counters.rejected_by_kind,
                    "an accepted datagram counted a rejection"
                );
            }
        }
    }
}
