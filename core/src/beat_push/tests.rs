//! Direct beats between engines: each part of a round sends the node's
//! heartbeat alone to a few live peers beside its Syn, the receivers take
//! it and answer nothing, and a leaving node sends none.

use std::vec::Vec;

use core::net::SocketAddr;

use super::BEAT_FANOUT;
use crate::testkit::{
    Recorder, TestEngine, TestRng, addr, mesh, run_due as round, spaced_round as second,
};
use crate::wire::{self, MessageKind};

fn kind(d: &[u8]) -> MessageKind {
    wire::read_header(d).expect("header").0
}

/// Index of the engine listening on `to`.
fn at(c: &[TestEngine], to: SocketAddr) -> usize {
    c.iter()
        .position(|e| e.id().addr == to)
        .expect("a mesh address")
}

fn leb128(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

#[test]
fn each_part_of_a_round_sends_the_fresh_beat_to_other_peers_who_take_it_silently() {
    let mut c = mesh(8);
    let mut rng = TestRng(3);
    for s in 1..=6 {
        round(&mut c, second(s), &mut rng);
    }
    let now = second(7);
    let before = c[0].counters().beats_out;
    let mut tx = Recorder::default();
    c[0].handle_timeout(now, &mut rng, &mut tx, &mut ());
    let beat = c[0].local_node().expect("local").heartbeat();
    let syn_to: Vec<SocketAddr> = tx
        .sent
        .iter()
        .filter(|(_, d)| kind(d) == MessageKind::Syn)
        .map(|(to, _)| *to)
        .collect();
    let beats: Vec<(SocketAddr, Vec<u8>)> = tx
        .sent
        .into_iter()
        .filter(|(_, d)| kind(d) == MessageKind::Ack)
        .collect();
    assert_eq!(
        beats.len(),
        BEAT_FANOUT,
        "one beat datagram per picked peer"
    );
    assert_eq!(c[0].counters().beats_out - before, BEAT_FANOUT as u64);
    let mut targets: Vec<SocketAddr> = beats.iter().map(|(to, _)| *to).collect();
    targets.sort();
    targets.dedup();
    assert_eq!(targets.len(), BEAT_FANOUT, "distinct peers");
    for (to, mut d) in beats {
        assert!(d.len() < 64, "a beat alone is small: {} bytes", d.len());
        let peer = at(&c, to);
        let held = c[peer].node("n0").expect("known").heartbeat();
        let mut answer = Recorder::default();
        c[peer]
            .handle_datagram(addr(1), &mut d, now, &mut answer, &mut ())
            .expect("accepted");
        let after = c[peer].node("n0").expect("known").heartbeat();
        assert_eq!(after, beat, "peer {peer} took the beat (held {held})");
        assert!(
            answer.sent.is_empty(),
            "a beat needs no answer and is not passed on"
        );
        assert!(!syn_to.contains(&to) || syn_to.len() == 1);
    }
}

#[test]
fn a_leaving_node_sends_no_beats() {
    let mut c = mesh(4);
    let mut rng = TestRng(5);
    for s in 1..=4 {
        round(&mut c, second(s), &mut rng);
    }
    let before = c[0].counters().beats_out;
    assert!(before > 0, "beats went out before the leave");
    let mut tx = Recorder::default();
    c[0].leave(second(5)).expect("leave");
    c[0].handle_timeout(second(5), &mut rng, &mut tx, &mut ());
    assert!(!tx.sent.is_empty(), "the departure goes out");
    assert_eq!(c[0].counters().beats_out, before);
}

#[test]
fn beats_are_plausibility_checked_like_any_heartbeat() {
    // A forged beat far ahead of what a node could have reached is set
    // aside, so one datagram cannot hold a dead node alive for long or
    // convict a live one for good.
    let mut c = mesh(3);
    let mut rng = TestRng(9);
    for s in 1..=4 {
        round(&mut c, second(s), &mut rng);
    }
    let now = second(5);
    let mut tx = Recorder::default();
    c[0].handle_timeout(now, &mut rng, &mut tx, &mut ());
    let (to, d) = tx
        .sent
        .into_iter()
        .find(|(_, d)| kind(d) == MessageKind::Ack)
        .expect("a beat");
    let peer = at(&c, to);
    let held = c[peer].node("n0").expect("known").heartbeat();
    // The same beat a million beats ahead: the datagram ends in the
    // heartbeat's varint and the `None` of the piece.
    let beat = c[0].local_node().expect("local").heartbeat();
    let mut forged = d[..d.len() - 1 - leb128(beat).len()].to_vec();
    forged.extend(leb128(beat + 1_000_000));
    forged.push(0);
    let mut answer = Recorder::default();
    let _ = c[peer].handle_datagram(addr(1), &mut forged, now, &mut answer, &mut ());
    assert_eq!(c[peer].node("n0").expect("known").heartbeat(), held);
    assert_eq!(c[peer].counters().implausible_heartbeats, 1);
}
