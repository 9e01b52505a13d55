//! Values in chunks between two engines: whole or not at all, resumable,
//! superseded, held back from older peers.

use core::net::SocketAddr;
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
fn units_are_marked_once_and_listed_as_ranges() {
    let total = 200u32; // 7 units, the last 8 bytes long
    assert_eq!(
        (units(total), map_len(total), assembly_len(total)),
        (7, 1, 201)
    );
    let mut map = [0u8; 1];
    assert_eq!(mark_units(&mut map, 32, 96), 2);
    assert_eq!(
        mark_units(&mut map, 64, 128),
        1,
        "a unit held already is not counted again"
    );
    assert_eq!(mark_units(&mut map, 192, 200), 1, "the short last unit");
    let mut out = [(0u32, 0u32); 4];
    assert_eq!(held_ranges(&map, total, &mut out), 2);
    assert_eq!(out[..2], [(32, 128), (192, 200)]);
    // Only as many ranges as asked for: the first ones.
    let mut one = [(0u32, 0u32); 1];
    assert_eq!(held_ranges(&map, total, &mut one), 1);
    assert_eq!(one, [(32, 128)]);
    assert_eq!(mark_units(&mut map, 0, 200), 3);
    assert_eq!(held_ranges(&map, total, &mut out), 1);
    assert_eq!(out[0], (0, 200));
}

#[test]
fn gaps_are_found() {
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

/// Datagrams of one burst may arrive in any order (each takes its own
/// path): every chunk still counts, and the value completes in the one
/// exchange that carried all of it.
#[test]
fn chunks_in_any_order_complete_the_value_in_one_exchange() {
    let (mut a, mut b) = pair(config());
    a.set("small", b"before").expect("set");
    while seen(&b, "small").is_none() {
        exchange(&mut b, &mut a, &mut |_| false, &mut |_| {});
    }
    let big = value(20_000, 9);
    a.set("big", &big).expect("set");
    // b asks; a's reply (the chunks) arrives odd datagrams first, then the
    // even ones backwards: a dozen disjoint pieces along the way.
    let (aa, ba) = (a.id().addr, b.id().addr);
    let mut syn = Recorder::default();
    b.start_exchange(aa, &mut syn).expect("start");
    let mut replies = Recorder::default();
    for (_, mut d) in syn.sent {
        a.handle_datagram(ba, &mut d, Instant::ZERO, &mut replies, &mut ())
            .expect("accepted");
    }
    let sent: Vec<Vec<u8>> = replies.sent.into_iter().map(|(_, d)| d).collect();
    assert!(sent.len() > 10, "{} datagrams", sent.len());
    let order = sent
        .iter()
        .skip(1)
        .step_by(2)
        .chain(sent.iter().step_by(2).rev());
    for d in order {
        let mut d = d.clone();
        b.handle_datagram(aa, &mut d, Instant::ZERO, &mut Recorder::default(), &mut ())
            .expect("accepted");
        assert_eq!(b.check_invariants(), Ok(()));
    }
    assert!(seen(&b, "big") == Some(big), "{:?}", b.counters());
    assert_eq!(b.counters().chunks_in, a.counters().chunks_out);
    assert_eq!(b.counters().transfers_completed, 1);
}

/// An exchange opened by `receiver` towards `holder` at `now`, of whose
/// long datagrams (the chunks of a value) only three arrive.
fn send_in_part(c: &mut [TestEngine], holder: usize, receiver: usize, now: Instant) {
    let ha = c[holder].id().addr;
    let mut syn = Recorder::default();
    c[receiver].start_exchange(ha, &mut syn).expect("start");
    let mut net: Vec<(usize, SocketAddr, Vec<u8>)> = syn
        .sent
        .into_iter()
        .map(|(to, d)| (receiver, to, d))
        .collect();
    let mut long = 0;
    while !net.is_empty() {
        let mut next = Vec::new();
        for (from, to, mut d) in net.drain(..) {
            if from == holder && d.len() > 1000 {
                long += 1;
                if long > 3 {
                    continue;
                }
            }
            let j = if to == ha { holder } else { receiver };
            let from_addr = c[from].id().addr;
            let mut tx = Recorder::default();
            c[j].handle_datagram(from_addr, &mut d, now, &mut tx, &mut ())
                .expect("accepted");
            next.extend(tx.sent.into_iter().map(|(to, d)| (j, to, d)));
        }
        net = next;
    }
    assert!(long > 3, "the value went in {long} datagrams");
}

/// A value left in part (here, most of a reply lost) is fetched from the
/// node that sent the part, first thing in the next round, whom ever the
/// random pick would have chosen; the node that completed it is then the
/// source a third node fetches from.
#[test]
fn a_value_in_part_is_fetched_from_its_source_in_the_next_round() {
    let mut c = crate::testkit::mesh(8);
    let mut rng = crate::testkit::engine_rng();
    for k in 1..=3 {
        crate::testkit::run_due(&mut c, crate::testkit::spaced_round(k), &mut rng);
    }
    for e in c.iter_mut() {
        e.config.fanout = 1;
    }
    let big = value(12_000, 10);
    c[0].set("big", &big).expect("set");
    let now = crate::testkit::spaced_round(4);
    // (holder, receiver): the owner to n1, then n1 (a relay) to n2.
    for (round, (holder, receiver)) in [(0usize, 1usize), (1, 2)].into_iter().enumerate() {
        let ha = c[holder].id().addr;
        send_in_part(&mut c, holder, receiver, now);
        let name = c[0].id().name.clone();
        let in_part = |e: &TestEngine| e.node(name.as_str()).and_then(|n| n.get("big")).is_none();
        assert!(
            in_part(&c[receiver]) && c[receiver].transfers_active == 1,
            "round {round}: {} {} {:?} {:?}",
            in_part(&c[receiver]),
            c[receiver].transfers_active,
            c[receiver].counters(),
            c[holder].counters()
        );
        // Its next round goes to the holder, and completes the value.
        let at = crate::testkit::spaced_round(5 + round as u64);
        let mut tx = Recorder::default();
        c[receiver].handle_timeout(at, &mut rng, &mut tx, &mut ());
        // Its Syns: the first goes to the holder (the round's other
        // exchanges, probes of peers that went quiet, follow).
        let syn_to: Vec<SocketAddr> = tx
            .sent
            .iter()
            .filter(|(_, d)| {
                crate::wire::read_header(d).is_ok_and(|h| h.0 == crate::wire::MessageKind::Syn)
            })
            .map(|(to, _)| *to)
            .collect();
        assert!(
            syn_to.first() == Some(&ha),
            "round {round}: the round went to {syn_to:?}, not the holder {ha}"
        );
        let net = tx
            .sent
            .into_iter()
            .map(|(to, d)| (receiver, to, d))
            .collect();
        crate::testkit::deliver_until_quiet(&mut c, net, at, |_| {});
        let held = c[receiver]
            .node(name.as_str())
            .and_then(|n| n.get("big"))
            .map(<[u8]>::to_vec);
        assert!(held == Some(big.clone()), "round {round}: not whole");
        assert_eq!(c[receiver].check_invariants(), Ok(()));
    }
}

/// A receiver behind its owner's collection point needs a reset, and every
/// reset of a node whose first entry is a long value is `(0, v − 1]` and a
/// chunk of it. When the receiver already holds past `v − 1`, that piece
/// must still rebuild its copy (a reset may end below what is held), not be
/// set aside as a mere carrier of its chunk: otherwise no sender can ever
/// reset it, and a key deleted at the owner stays readable there for good.
#[test]
fn a_reset_ending_below_the_copy_before_a_long_value_is_applied() {
    let (mut a, mut b) = pair(config());
    let big = value(8000, 11);
    a.set("big", &big).expect("set"); // v1, in chunks
    a.set("k", b"doomed").expect("set"); // v2
    for _ in 0..10 {
        if seen(&b, "k").is_some() {
            break;
        }
        exchange(&mut b, &mut a, &mut |_| false, &mut |_| {});
    }
    assert!(seen(&b, "big") == Some(big.clone()));
    assert_eq!(seen(&b, "k"), Some(b"doomed".to_vec()));
    // While b hears nothing, a deletes k (v3) and, past the grace,
    // collects the tombstone: b (at 2, collection point 0) needs a reset.
    a.delete("k", Instant::ZERO).expect("delete");
    let later = Instant::ZERO.saturating_add(config().tombstone_grace * 2);
    a.handle_timeout(
        later,
        &mut crate::testkit::engine_rng(),
        &mut Recorder::default(),
        &mut (),
    );
    let owner = a.local_node().expect("local");
    assert_eq!((owner.max_version(), owner.last_gc_version()), (3, 3));
    for _ in 0..10 {
        exchange(&mut b, &mut a, &mut |_| false, &mut |e| {
            if let Some(v) = seen(e, "big") {
                assert!(v == big, "a torn value was readable");
            }
        });
    }
    assert_eq!(
        seen(&b, "k"),
        None,
        "a key deleted at its owner is still readable"
    );
    assert!(seen(&b, "big") == Some(big), "{:?}", b.counters());
    assert_eq!(b.node("a").map(|n| n.max_version()), Some(3));
}

/// An entry that fits one datagram at the mtu goes whole, never in
/// chunks, so it must fit every reply datagram — a SynAck included, which
/// from version 6 also lists the responder's own values in flight (up to
/// `MAX_PARTIALS` of them). With names of the longest kind, the
/// responder's partials must not leave such an entry unsendable in every
/// SynAck.
#[test]
fn an_entry_of_the_largest_whole_size_goes_in_a_synack_that_lists_partials() {
    let name = |c: char| std::iter::repeat_n(c, 64).collect::<std::string::String>();
    let mut a = engine::<12, 128, 262_144>(&name('a'), 1, config());
    let mut b = engine::<12, 128, 262_144>(&name('b'), 2, config());
    acquaint(&mut a, &mut b);
    // a holds part of the long values of several others, in several
    // ranges each.
    for (i, c) in ('c'..='j').enumerate() {
        let mut o = engine::<12, 128, 262_144>(&name(c), 3 + i as u16, config());
        acquaint(&mut a, &mut o);
        acquaint(&mut b, &mut o);
        o.set("big", &value(8000, i as u8)).expect("set");
        exchange(&mut a, &mut o, &mut |n| n % 2 == 1 && n > 2, &mut |_| {});
    }
    let listed = a.own_partials().map_or(0, |p| p.len());
    assert_eq!(listed, MAX_PARTIALS);
    // a writes the largest value that still goes whole.
    let mtu = a.config.mtu;
    let largest = (0..mtu)
        .rev()
        .find(|&v| crate::wire::entry_always_fits(mtu, 4, v))
        .expect("some");
    a.set("edge", &value(largest, 13)).expect("set");
    for _ in 0..5 {
        exchange(&mut b, &mut a, &mut |_| false, &mut |_| {});
    }
    assert_eq!(
        a.own_partials().map_or(0, |p| p.len()),
        MAX_PARTIALS,
        "a still lists them"
    );
    let got = b
        .node(&name('a'))
        .and_then(|n| n.get("edge"))
        .map(<[u8]>::to_vec);
    assert!(got == Some(value(largest, 13)), "{:?}", b.counters());
}

/// A value in flight takes its block of the store at once. When its owner
/// then overwrites the key, no node holds the version in flight any more:
/// the piece that supersedes it must be taken even if the store has no
/// room beside that block (the block is freed by taking it), or the
/// receiver holds the node back for good.
#[test]
fn a_piece_superseding_a_transfer_that_fills_the_store_is_taken() {
    let mut a = engine::<4, 64, 65_536>("a", 1, config());
    let mut b = engine::<4, 64, 16_384>("b", 2, config());
    acquaint(&mut a, &mut b);
    let slot = b.nodes.find_hash(a.id().ring_hash()).expect("known");
    // The longest value b can take in flight: nothing is left beside it.
    let len = (1000..16_384)
        .rev()
        .find(|&l| b.transfer_fits(slot, "big", l).is_ok())
        .expect("some");
    a.set("big", &value(len, 14)).expect("set");
    exchange(&mut b, &mut a, &mut |n| n > 3, &mut |_| {});
    assert_eq!(b.transfers_active, 1);
    a.set("big", b"small").expect("set");
    for _ in 0..5 {
        exchange(&mut b, &mut a, &mut |_| false, &mut |_| {});
    }
    assert_eq!(
        seen(&b, "big"),
        Some(b"small".to_vec()),
        "{:?}",
        b.counters()
    );
    assert_eq!(b.transfers_active, 0);
}

/// A node dropped here is no longer the source of a value in flight: its
/// slot may soon hold another node, which sent nothing.
#[test]
fn a_dropped_source_is_forgotten() {
    let mut c = crate::testkit::mesh(3);
    c[0].set("big", &value(12_000, 11)).expect("set");
    let now = Instant::ZERO;
    // n1 holds it whole, n2 gets part of it from n1.
    crate::testkit::deliver_until_quiet(&mut c, Vec::new(), now, |_| {});
    let mut tx = Recorder::default();
    let a0 = c[0].id().addr;
    c[1].start_exchange(a0, &mut tx).expect("start");
    let net = tx.sent.into_iter().map(|(to, d)| (1, to, d)).collect();
    crate::testkit::deliver_until_quiet(&mut c, net, now, |_| {});
    let name = c[0].id().name.clone();
    assert!(
        c[1].node(name.as_str())
            .and_then(|n| n.get("big"))
            .is_some()
    );
    send_in_part(&mut c, 1, 2, now);
    let owner = c[2].nodes.find_hash(c[0].id().ring_hash()).expect("known");
    let relay = c[2].nodes.find_hash(c[1].id().ring_hash()).expect("known");
    assert_eq!(c[2].transfer(owner).source, relay);
    c[2].drop_node(relay);
    let t = c[2].transfer(owner);
    assert!(
        t.is_active(),
        "the value in flight is the owner's, not the relay's"
    );
    assert_eq!(t.source, LOCAL);
    assert_eq!(c[2].take_transfer_sources(&mut [0u16; 4]), 0);
}
