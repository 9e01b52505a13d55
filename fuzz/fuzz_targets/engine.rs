//! `handle_datagram` of engine `a`, which has gossiped with `b` and `c`
//! (see the crate docs), fed a list of records: arbitrary bytes, or
//! mutated real datagrams from the seed corpus (golden datagrams and the
//! world's own exchange). The control byte of a record says who sends it
//! (bits 0-1: `b`, `c`, an address no engine has, `a`'s own), whether the
//! engine's timeout runs first (bit 2) and how far the clock moves before
//! it (bits 3-7, up to 1.2 s, or 7 s: a local stall).
//!
//! After every call: every invariant holds (`Engine::check_invariants`);
//! a rejected datagram changed nothing but its counters, sent nothing and
//! emitted no event; an accepted one counted no rejection; every datagram
//! the engine sent fits the mtu and decodes.
#![no_main]

use hearsay_core::Instant;
use hearsay_core::fuzzing::reencode;
use hearsay_fuzz::{
    Before, Events, Records, Rng, Sink, addr, advance, assert_invariants, engine, script, stranger,
};
use libfuzzer_sys::fuzz_target;

/// Every datagram sent fits the mtu and decodes.
fn check_sent(sink: &Sink, mtu: usize) {
    for (_, d) in &sink.sent {
        let mut out = vec![0u8; d.len() + 64];
        assert!(d.len() <= mtu, "sent {} bytes, mtu {mtu}", d.len());
        if let Err(e) = reencode(d, &mut out, &mut |_| {}) {
            panic!("the engine sent a datagram that does not decode: {e:?}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut a = engine(0, false);
    let mtu = a.config().mtu;
    let mut now = script(false).end;
    for (i, r) in Records(data).enumerate() {
        now += advance(r.ctrl);
        let t = Instant::from_millis(now);
        if r.ctrl & 4 != 0 {
            let mut sink = Sink::new(true);
            a.handle_timeout(
                t,
                &mut Rng(now ^ i as u64),
                &mut sink,
                &mut Events::default(),
            );
            assert_invariants(&a, "a timeout");
            check_sent(&sink, mtu);
        }
        let from = match r.ctrl & 3 {
            0 => addr(1),
            1 => addr(2),
            2 => stranger(),
            _ => addr(0),
        };
        let before = Before::of(&a);
        let mut sink = Sink::new(true);
        let mut events = Events::default();
        let mut d = r.bytes.to_vec();
        let result = a.handle_datagram(from, &mut d, t, &mut sink, &mut events);
        assert_invariants(&a, "a datagram");
        before.check(&a, r.bytes.len(), result, &sink, &events);
        check_sent(&sink, mtu);
    }
});
