//! The sealed path (`hearsay_core::seal`): engines `a` and `b` of the
//! sealed world (every engine holds the same `ClusterKey`, mode Required)
//! and a list of records whose control byte picks an action (bits 0-2) and
//! moves the clock (bits 3-7, as in the `engine` target):
//!
//! 0. `a`'s timeout runs; what it sends `b` is delivered, and the answers
//!    back, every one accepted;
//! 1. a fresh sealed Syn of `b`, tampered by the record (`pos_lo pos_hi
//!    mask` triplets): refused unless no byte changed, then accepted;
//! 2. a fresh sealed Syn of `b`, truncated: refused;
//! 3. a sealed datagram `a` accepted before, again: refused as `Replayed`
//!    (unless `a` removed a node meanwhile, whose window went with it);
//! 4. a sealed header and the record's bytes as the envelope: refused;
//! 5. a whole exchange opened by `b`, every datagram accepted both ways;
//! 6. a fresh sealed Syn of `b` with the record's bytes appended: refused;
//! 7. an unsealed datagram (the record's bytes behind a valid header):
//!    refused (`a` requires keys).
//!
//! After every call into `a`: every invariant holds, and a refused
//! datagram changed nothing but its counters.
#![no_main]

use std::net::SocketAddr;

use hearsay_core::{ClusterId, DecodeError, Event, Instant, Observer};
use hearsay_fuzz::{
    Before, Eng, Records, Rng, Sink, addr, advance, assert_invariants, engine, script,
};
use libfuzzer_sys::fuzz_target;

/// Counts events and notes whether a node was removed.
#[derive(Default)]
struct Watch {
    events: hearsay_fuzz::Events,
    removed: bool,
}

impl Observer for Watch {
    fn on_event(&mut self, e: &Event<'_>) {
        self.events.0 += 1;
        if matches!(e, Event::NodeRemoved { .. }) {
            self.removed = true;
        }
    }
}

struct Run {
    a: Eng,
    b: Eng,
    now: u64,
    /// Sealed datagrams `a` accepted, as they arrived.
    history: Vec<(SocketAddr, Vec<u8>)>,
    removed: bool,
}

impl Run {
    /// Delivers `d` to `a` from `from`, checks what it did, and returns the
    /// result and what `a` sent.
    fn deliver_to_a(&mut self, from: SocketAddr, d: &[u8]) -> (Result<(), DecodeError>, Sink) {
        let before = Before::of(&self.a);
        let mut sink = Sink::new(true);
        let mut watch = Watch::default();
        let mut bytes = d.to_vec();
        let t = Instant::from_millis(self.now);
        let result = self
            .a
            .handle_datagram(from, &mut bytes, t, &mut sink, &mut watch);
        assert_invariants(&self.a, "a sealed datagram");
        before.check(&self.a, d.len(), result, &sink, &watch.events);
        self.removed |= watch.removed;
        if result.is_ok() {
            self.history.push((from, d.to_vec()));
        }
        (result, sink)
    }

    /// Delivers datagrams `a` sent to `b`, and `b`'s answers back, until
    /// none is left; every one must be accepted.
    fn converse(&mut self, mut to_b: Vec<(SocketAddr, Vec<u8>)>) {
        let t = Instant::from_millis(self.now);
        while !to_b.is_empty() {
            let mut back = Vec::new();
            for (to, mut d) in to_b.drain(..) {
                if to != addr(1) {
                    continue;
                }
                let mut sink = Sink::new(true);
                let r = self
                    .b
                    .handle_datagram(addr(0), &mut d, t, &mut sink, &mut ());
                assert_eq!(r, Ok(()), "b refused a's sealed datagram");
                back.extend(sink.sent);
            }
            for (to, d) in back {
                if to != addr(0) {
                    continue;
                }
                let (r, sink) = self.deliver_to_a(addr(1), &d);
                assert_eq!(r, Ok(()), "a refused b's sealed datagram");
                to_b.extend(sink.sent);
            }
        }
    }

    /// A fresh sealed Syn of `b` for `a` (its first piece).
    fn fresh_syn(&mut self) -> Vec<u8> {
        let mut sink = Sink::new(true);
        self.b.start_exchange(addr(0), &mut sink).expect("start");
        sink.sent.swap_remove(0).1
    }
}

fn u16_at(bytes: &[u8], i: usize) -> usize {
    let lo = bytes.get(i).copied().unwrap_or(0);
    let hi = bytes.get(i + 1).copied().unwrap_or(0);
    usize::from(u16::from_le_bytes([lo, hi]))
}

fn header(kind: u8) -> Vec<u8> {
    let mut h = vec![b'H', b'S', 5, kind];
    h.extend_from_slice(&ClusterId::new("hearsay").fingerprint().to_le_bytes());
    h
}

fuzz_target!(|data: &[u8]| {
    let world = script(true);
    let mut run = Run {
        a: engine(0, true),
        b: engine(1, true),
        now: world.end,
        history: world
            .datagrams
            .iter()
            .filter(|(_, to, _)| *to == 0)
            .map(|(from, _, d)| (addr(*from), d.clone()))
            .collect(),
        removed: false,
    };
    for (i, r) in Records(data).enumerate() {
        run.now += advance(r.ctrl);
        match r.ctrl & 7 {
            0 => {
                let mut sink = Sink::new(true);
                let t = Instant::from_millis(run.now);
                let mut watch = Watch::default();
                run.a
                    .handle_timeout(t, &mut Rng(run.now ^ i as u64), &mut sink, &mut watch);
                run.removed |= watch.removed;
                assert_invariants(&run.a, "a timeout");
                run.converse(sink.sent);
            }
            1 => {
                let syn = run.fresh_syn();
                let mut d = syn.clone();
                for t in r.bytes.chunks(3) {
                    let at = u16_at(t, 0) % d.len();
                    d[at] ^= t.get(2).copied().unwrap_or(0);
                }
                let (result, sink) = run.deliver_to_a(addr(1), &d);
                if d == syn {
                    assert_eq!(result, Ok(()), "an untouched sealed Syn was refused");
                    run.converse(sink.sent);
                } else {
                    assert!(result.is_err(), "a tampered sealed datagram got through");
                }
            }
            2 => {
                let syn = run.fresh_syn();
                let keep = u16_at(r.bytes, 0) % syn.len();
                let (result, _) = run.deliver_to_a(addr(1), &syn[..keep]);
                assert!(result.is_err(), "a truncated sealed datagram got through");
            }
            3 => {
                if run.history.is_empty() {
                    continue;
                }
                let k = u16_at(r.bytes, 0) % run.history.len();
                let (from, d) = run.history[k].clone();
                let (result, _) = run.deliver_to_a(from, &d);
                if !run.removed {
                    assert_eq!(result, Err(DecodeError::Replayed), "a replay got through");
                }
            }
            4 => {
                let kind = 1 + r.bytes.first().map_or(0, |b| b % 3);
                let mut d = header(kind | 0x80);
                d.extend_from_slice(r.bytes);
                let (result, _) = run.deliver_to_a(addr(1), &d);
                assert!(result.is_err(), "a forged sealed datagram got through");
            }
            5 => {
                let syn = run.fresh_syn();
                let (result, sink) = run.deliver_to_a(addr(1), &syn);
                assert_eq!(result, Ok(()), "a valid sealed Syn was refused");
                run.converse(sink.sent);
            }
            6 => {
                if r.bytes.is_empty() {
                    continue;
                }
                let mut d = run.fresh_syn();
                d.extend_from_slice(r.bytes);
                let (result, _) = run.deliver_to_a(addr(1), &d);
                assert!(result.is_err(), "an extended sealed datagram got through");
            }
            _ => {
                let kind = 1 + r.bytes.first().map_or(0, |b| b % 3);
                let mut d = header(kind);
                d.extend_from_slice(r.bytes);
                let (result, _) = run.deliver_to_a(addr(1), &d);
                assert!(result.is_err(), "an unsealed datagram got through");
            }
        }
    }
});
