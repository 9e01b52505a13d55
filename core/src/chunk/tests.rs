//! Values in chunks between two engines: whole or not at all, resumable,
//! superseded, held back from older peers.

use std::boxed::Box;
use std::vec::Vec;

use super::*;
use crate::config::Config;
use crate::event::Event;
use crate::testkit::{Recorder, TestEngine, acquaint, engine};
use crate::time::Instant;

/// Room for a few 8 KiB values: 16 KiB of share, 64 KiB of state.
fn config() -> Config {
    let mut c = Config::new();
    c.max_node_bytes = 32 * 1024;
    c
}

fn pair(b_config: Config) -> (Box<TestEngine>, Box<TestEngine>) {
    let mut a = engine::<4, 64, 65_536>("a", 1, config());
    let mut b = engine::<4, 64, 65_536>("b", 2, b_config);
    acquaint(&mut a, &mut b);
    (a, b)
}

/// A value of `len` bytes that differs at every position (so a byte in the
/// wrong place shows).
fn value(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// What `rx` shows of `key` of node `a`, if anything.
fn seen(rx: &TestEngine, key: &str) -> Option<Vec<u8>> {
    rx.node("a").and_then(|n| n.get(key)).map(<[u8]>::to_vec)
}

/// One exchange opened by `init` towards `resp`, every datagram handed over
/// unless `lose` says so (by its index in the exchange); after each, `check`
/// sees the receiver. Returns how many datagrams went.
fn exchange(
    init: &mut TestEngine,
    resp: &mut TestEngine,
    lose: &mut dyn FnMut(usize) -> bool,
    check: &mut dyn FnMut(&TestEngine),
) -> usize {
    let (ia, ra) = (init.id().addr, resp.id().addr);
    let mut net = Recorder::default();
    init.start_exchange(ra, &mut net).expect("start");
    let mut n = 0usize;
    while !net.sent.is_empty() {
        let mut next = Recorder::default();
        for (to, mut d) in net.sent.drain(..) {
            n += 1;
            if lose(n) {
                continue;
            }
            let (e, from) = if to == ra {
                (&mut *resp, ia)
            } else {
                (&mut *init, ra)
            };
            e.handle_datagram(from, &mut d, Instant::ZERO, &mut next, &mut |ev: &Event<
                '_,
            >| {
                if let Event::KeySet { value, key, .. } = ev {
                    assert!(
                        *key != "big" || value.len() > 1000,
                        "an event carried a short value of the long key"
                    );
                }
            })
            .expect("accepted");
            assert_eq!(e.check_invariants(), Ok(()));
            check(e);
        }
        net = next;
    }
    n
}

#[test]
fn a_long_value_arrives_whole_and_is_never_seen_in_part() {
    let (mut a, mut b) = pair(config());
    let big = value(8000, 1);
    a.set("small", b"before").expect("set");
    a.set("big", &big)
        .expect("a value of 8000 bytes goes in chunks");
    a.set("after", b"x").expect("set");
    let mut rounds = 0;
    while seen(&b, "after").is_none() {
        rounds += 1;
        assert!(rounds < 20, "did not arrive");
        // Every datagram checked: the long key is absent or whole.
        let mut check = |e: &TestEngine| {
            if let Some(v) = seen(e, "big") {
                assert!(v == big, "a torn value was readable");
            }
        };
        exchange(&mut b, &mut a, &mut |_| false, &mut check);
    }
    assert!(seen(&b, "big") == Some(big.clone()));
    assert_eq!(seen(&b, "small"), Some(b"before".to_vec()));
    assert_eq!(b.counters().transfers_completed, 1);
    assert!(a.counters().chunks_out >= 7, "{}", a.counters().chunks_out);
    assert_eq!(b.counters().chunks_in, a.counters().chunks_out);
    assert_eq!(b.transfers_active, 0);
    // And b relays it whole to a third node that knows a but only hears
    // from b.
    let mut c = engine::<4, 64, 65_536>("c", 3, config());
    acquaint(&mut b, &mut c);
    acquaint(&mut a, &mut c);
    for _ in 0..20 {
        if seen(&c, "big").is_some() {
            break;
        }
        let mut check = |e: &TestEngine| {
            if let Some(v) = seen(e, "big") {
                assert!(v == big, "a torn value was readable");
            }
        };
        exchange(&mut c, &mut b, &mut |_| false, &mut check);
    }
    assert!(seen(&c, "big") == Some(big), "{:?}", c.counters());
}

#[test]
fn a_lost_chunk_costs_that_chunk_and_the_rest_resumes() {
    let (mut a, mut b) = pair(config());
    let big = value(8000, 2);
    a.set("big", &big).expect("set");
    // The first exchange loses every third datagram.
    exchange(&mut b, &mut a, &mut |n| n % 3 == 0, &mut |_| {});
    let partial = b.transfer(b.nodes.find_hash(a.id().ring_hash()).expect("known"));
    let after_first = b.counters().chunks_in;
    assert!(partial.is_active() && after_first > 0, "{partial:?}");
    assert!(seen(&b, "big").is_none());
    // The next exchange sends only what b lacks: b lists what it holds.
    let sent_before = a.counters().chunks_out;
    let mut rounds = 0;
    while seen(&b, "big").is_none() {
        rounds += 1;
        assert!(rounds < 10);
        exchange(&mut b, &mut a, &mut |_| false, &mut |_| {});
    }
    let resent = a.counters().chunks_out - sent_before;
    let total_chunks = b.counters().chunks_in;
    assert!(seen(&b, "big") == Some(big));
    assert!(
        resent < total_chunks,
        "the second exchange sent {resent} chunks of {total_chunks}: not only the lost ones"
    );
}

#[test]
fn a_value_rewritten_mid_transfer_ends_as_the_newest() {
    let (mut a, mut b) = pair(config());
    a.set("big", &value(8000, 3)).expect("set");
    // Only the first datagrams of the reply arrive.
    exchange(&mut b, &mut a, &mut |n| n > 3, &mut |_| {});
    assert!(seen(&b, "big").is_none());
    assert_eq!(b.transfers_active, 1);
    let newest = value(6000, 4);
    a.set("big", &newest).expect("set");
    for _ in 0..10 {
        exchange(&mut b, &mut a, &mut |_| false, &mut |e| {
            if let Some(v) = seen(e, "big") {
                assert!(v == newest, "only the newest version ever shows");
            }
        });
    }
    assert!(seen(&b, "big") == Some(newest));
    assert_eq!(
        b.counters().transfers_dropped,
        1,
        "the old version was superseded"
    );
    assert_eq!(b.transfers_active, 0);
}

#[test]
fn a_peer_of_version_5_gets_what_precedes_the_long_value_and_nothing_torn() {
    let mut old = config();
    old.protocol_version = 5;
    let (mut a, mut b) = pair(old);
    a.set("first", b"1").expect("set");
    a.set("big", &value(8000, 5)).expect("set");
    a.set("later", b"2").expect("set");
    for _ in 0..3 {
        exchange(&mut b, &mut a, &mut |_| false, &mut |_| {});
    }
    assert_eq!(seen(&b, "first"), Some(b"1".to_vec()));
    assert!(seen(&b, "big").is_none() && seen(&b, "later").is_none());
    assert_eq!(b.node("a").map(|n| n.max_version()), Some(1));
    assert!(a.counters().values_held_back > 0);
    assert_eq!(a.counters().chunks_out, 0);
    // An engine held at version 5 cannot write a value that needs chunks.
    assert_eq!(
        b.set("big", &value(8000, 6)),
        Err(crate::WriteError::EntryTooLarge)
    );
}

#[test]
fn a_removed_node_takes_its_transfer_with_it() {
    let (mut a, mut b) = pair(config());
    a.set("big", &value(8000, 7)).expect("set");
    exchange(&mut b, &mut a, &mut |n| n > 3, &mut |_| {});
    assert_eq!(b.transfers_active, 1);
    let slot = b.nodes.find_hash(a.id().ring_hash()).expect("known");
    let used = b.arena_bytes_used();
    b.forget(slot);
    assert_eq!(b.transfers_active, 0);
    assert_eq!(b.counters().transfers_dropped, 1);
    assert!(b.arena_bytes_used() < used - 8000);
    assert_eq!(b.check_invariants(), Ok(()));
}

#[test]
fn ranges_merge_and_gaps_are_found() {
    let mut t = Transfer::NONE;
    assert!(t.record(10, 20));
    assert!(t.record(30, 40));
    assert!(t.record(20, 30), "adjacent on both sides: one range");
    assert_eq!(t.held(), [(10, 40)]);
    assert!(t.record(50, 60) && t.record(70, 80) && t.record(90, 95));
    assert!(!t.record(0, 5), "a fifth range is not recorded");
    assert_eq!(t.held(), [(10, 40), (50, 60), (70, 80), (90, 95)]);
    assert!(t.record(0, 100));
    assert!(t.covers(100) && !t.covers(101));
    let held = [(10u32, 40u32), (50, 60)];
    assert_eq!(next_gap(held.iter().copied(), 0, 100), Some((0, 10)));
    assert_eq!(next_gap(held.iter().copied(), 10, 100), Some((40, 50)));
    assert_eq!(next_gap(held.iter().copied(), 45, 100), Some((45, 50)));
    assert_eq!(next_gap(held.iter().copied(), 55, 100), Some((60, 100)));
    assert_eq!(next_gap(held.iter().copied(), 100, 100), None);
    assert_eq!(next_gap([(0u32, 100u32)].into_iter(), 0, 100), None);
    // Ranges past the value (a forged partial) end the gap at its end.
    assert_eq!(
        next_gap([(150u32, 200u32)].into_iter(), 90, 100),
        Some((90, 100))
    );
}
