//! Compact digests between engines: blocks go out once tables are still,
//! heartbeats and data flow through them both ways, and a block that
//! differs is answered with a notice and sent again as lines.

use std::vec::Vec;

use super::*;
use crate::config::Config;
use crate::testkit::{Recorder, TestEngine, TestRng, engine};
use crate::wire::{DigestItem, MessageKind};

type Cluster = Vec<TestEngine>;

fn cluster(n: u16) -> Cluster {
    crate::testkit::mesh(n)
}

/// What one round carried: the Syns (version, whether they held blocks)
/// and every datagram's kind.
#[derive(Default)]
struct Round {
    syns: Vec<(u8, bool)>,
    synacks_with_runs: usize,
    notices: usize,
}

/// Every node ticks at `now` (fanout covers everyone), and every datagram
/// is delivered until the network is quiet.
fn round(c: &mut Cluster, now: Instant, rng: &mut TestRng) -> Round {
    let mut out = Round::default();
    let mut net: Vec<(usize, SocketAddr, Vec<u8>)> = Vec::new();
    for (i, e) in c.iter_mut().enumerate() {
        let mut tx = Recorder::default();
        e.tick(now, rng, &mut tx, &mut ());
        net.extend(tx.sent.into_iter().map(|(to, d)| (i, to, d)));
    }
    crate::testkit::deliver_until_quiet(c, net, now, |d| {
        let (kind, version, _, body) = wire::read_header(d).expect("header");
        match kind {
            MessageKind::Syn => {
                let msg = wire::parse_syn(version, body).expect("valid Syn");
                let blocks = msg.digest().any(|i| matches!(i, Ok(DigestItem::Block(_))));
                out.syns.push((version, blocks));
            }
            MessageKind::SynAck => {
                let msg = wire::parse_synack(version, body).expect("valid SynAck");
                if let Some(c) = msg.compact {
                    out.synacks_with_runs += usize::from(c.beat_runs().next().is_some());
                    out.notices += c.notices().count();
                }
            }
            MessageKind::Ack => {}
        }
    });
    out
}

fn heartbeat_seen(c: &Cluster, observer: usize, subject: usize) -> u64 {
    c[observer]
        .nodes
        .find_hash(c[subject].id().ring_hash())
        .and_then(|s| c[observer].nodes.get(s))
        .map_or(0, |n| n.heartbeat)
}

#[test]
fn a_still_cluster_gossips_in_blocks_and_keeps_heartbeats_and_data_flowing() {
    let mut c = cluster(5);
    let mut rng = TestRng(5);
    let second = |s: u64| Instant::ZERO.saturating_add(core::time::Duration::from_secs(s));
    let mut rounds = Vec::new();
    for s in 1..=12 {
        rounds.push(round(&mut c, second(s), &mut rng));
    }
    // Early rounds, while tables change, go as lines; once still, blocks.
    assert!(rounds[0].syns.iter().all(|&(_, blocks)| !blocks));
    let late = &rounds[8];
    assert!(!late.syns.is_empty());
    assert!(
        late.syns
            .iter()
            .all(|&(v, blocks)| v >= wire::BLOCKS_VERSION && blocks),
        "{:?}",
        late.syns
    );
    // Heartbeats still flow: everyone holds everyone's within a beat.
    for i in 0..c.len() {
        for j in 0..c.len() {
            if i != j {
                let own = heartbeat_seen(&c, j, j);
                let seen = heartbeat_seen(&c, i, j);
                assert!(
                    own.saturating_sub(seen) <= 1,
                    "{i} sees {j} at {seen} of {own}"
                );
            }
        }
    }
    // Some responder held fresher beats than an initiator sent, and said
    // so in beat runs (a node's own beat is always fresher where it is).
    assert!(rounds[8..].iter().any(|r| r.synacks_with_runs > 0));
    // A write while still travels in blocks (explicit versions; a copy
    // ahead of an initiator's draws a notice and lines) and reaches
    // everyone.
    c[2].set("color", b"blue").expect("set");
    for s in 13..=16 {
        let r = round(&mut c, second(s), &mut rng);
        assert!(r.syns.iter().any(|&(_, blocks)| blocks));
    }
    for (i, e) in c.iter().enumerate() {
        let got = e.node("n2").and_then(|n| {
            n.entries()
                .find(|x| x.key == "color")
                .map(|x| x.value.to_vec())
        });
        assert_eq!(got.as_deref(), Some(&b"blue"[..]), "node {i}");
    }
}

#[test]
fn a_block_that_differs_draws_a_notice_and_comes_again_as_lines() {
    let mut c = cluster(4);
    let mut rng = TestRng(9);
    let second = |s: u64| Instant::ZERO.saturating_add(core::time::Duration::from_secs(s));
    for s in 1..=8 {
        round(&mut c, second(s), &mut rng);
    }
    // n3 misses a write of n0 (its copy of n0 falls behind), and the
    // write is old enough by then not to be listed explicitly.
    c[0].set("k", b"v").expect("set");
    let behind = c.pop().expect("n3");
    for s in 9..=16 {
        round(&mut c, second(s), &mut rng);
    }
    c.push(behind);
    let mut notices = 0;
    for s in 17..=19 {
        notices += round(&mut c, second(s), &mut rng).notices;
    }
    assert!(
        notices > 0,
        "the version hashes differ: someone sent a notice"
    );
    let got = c[3]
        .node("n0")
        .and_then(|n| n.entries().find(|x| x.key == "k").map(|x| x.value.to_vec()));
    assert_eq!(
        got.as_deref(),
        Some(&b"v"[..]),
        "the lines brought n3 the write"
    );
}

#[test]
fn beats_are_rebuilt_from_16_bits_near_the_held_value() {
    assert_eq!(beat_near(5, 3), Some(5));
    assert_eq!(beat_near(1, 65_535), Some(65_537));
    assert_eq!(beat_near(65_535, 65_537), Some(65_535));
    assert_eq!(beat_near(65_535, 3), None);
    let h = 1_000_000u64;
    for d in [-32_768i64, -1, 0, 1, 32_767] {
        let v = h.checked_add_signed(d).expect("in range");
        assert_eq!(beat_near(v as u16, h), Some(v), "{d}");
    }
    // Further away, the value comes out 2^16 off.
    assert_eq!(beat_near((h + 32_768) as u16, h), Some(h - 32_768));
}

#[test]
fn the_sent_beat_is_the_largest_at_or_below_the_held_one() {
    assert_eq!(beat_at_or_below(7, 7), Some(7));
    assert_eq!(beat_at_or_below(7, 9), Some(7));
    assert_eq!(beat_at_or_below(65_535, 65_537), Some(65_535));
    assert_eq!(beat_at_or_below(9, 7), None);
    assert_eq!(beat_at_or_below(9, 70_000), Some(65_545));
}

#[test]
fn blocks_hold_about_192_to_384_nodes() {
    assert_eq!(block_bits_for(0), 0);
    assert_eq!(block_bits_for(383), 0);
    assert_eq!(block_bits_for(384), 1);
    assert_eq!(block_bits_for(1000), 2);
    assert_eq!(block_bits_for(5000), 4);
    assert_eq!(block_bits_for(usize::MAX), MAX_BLOCK_BITS);
}

#[test]
fn block_hashes_depend_on_order_sets_and_versions() {
    let of = |nodes: &[(u64, u64, u64)]| {
        let mut h = BlockHash::new(3);
        for &(a, v, g) in nodes {
            h.add(a, v, g);
        }
        h.finish()
    };
    let base = of(&[(1, 5, 0), (2, 7, 1)]);
    assert_ne!(base.0, of(&[(2, 7, 1), (1, 5, 0)]).0);
    assert_ne!(base.0, of(&[(1, 5, 0)]).0);
    assert_eq!(base.0, of(&[(1, 6, 0), (2, 7, 1)]).0);
    assert_ne!(base.1, of(&[(1, 6, 0), (2, 7, 1)]).1);
    assert_ne!(base.1, of(&[(1, 5, 0), (2, 7, 2)]).1);
}

#[test]
fn default_settings_allow_16_bit_heartbeats_and_a_day_long_grace_does_not() {
    let e = engine::<16, 512, 65_536>("a", 1, Config::new());
    assert!(e.compact_allowed());
    let mut long = Config::new();
    long.dead_grace = core::time::Duration::from_secs(24 * 3600);
    let e = engine::<16, 512, 65_536>("b", 2, long);
    assert!(!e.compact_allowed());
}
