//! Eager push between engines: a write in a still cluster reaches peers
//! without waiting for a round, each node pushes a change once, and a
//! cluster still learning its members does not push.

use std::vec::Vec;

use core::net::SocketAddr;
use core::time::Duration;

use super::*;
use crate::testkit::{
    Recorder, TestEngine, TestRng, deliver_until_quiet, mesh, run_due as round,
    spaced_round as second,
};
use crate::time::Instant;
use crate::wire::{self, MessageKind};

fn value_at(e: &TestEngine, node: &str, key: &str) -> Option<Vec<u8>> {
    e.node(node)
        .and_then(|n| n.entries().find(|x| x.key == key).map(|x| x.value.to_vec()))
}

/// Writes `key` on node 0 at `now` and runs its due timeout (the push),
/// delivering only what that sends and what it sets off: no round runs.
/// Returns every datagram's kind.
fn write_and_push(c: &mut [TestEngine], key: &str, now: Instant) -> Vec<MessageKind> {
    c[0].set(key, b"v").expect("set");
    let mut tx = Recorder::default();
    if c[0].poll_timeout().is_some_and(|t| t <= now) {
        c[0].handle_timeout(now, &mut TestRng(1), &mut tx, &mut ());
    }
    let net: Vec<(usize, SocketAddr, Vec<u8>)> =
        tx.sent.into_iter().map(|(to, d)| (0, to, d)).collect();
    let mut kinds = Vec::new();
    deliver_until_quiet(c, net, now, |d| {
        kinds.push(wire::read_header(d).expect("header").0);
    });
    kinds
}

#[test]
fn a_write_in_a_still_cluster_is_pushed_on_at_once_and_once() {
    let mut c = mesh(8);
    let mut rng = TestRng(3);
    for s in 1..=6 {
        round(&mut c, second(s), &mut rng);
    }
    // Between rounds: none is due, yet the write is due to go out.
    let now = second(6).saturating_add(Duration::from_millis(300));
    let kinds = write_and_push(&mut c, "color", now);
    assert!(!kinds.is_empty() && kinds.iter().all(|k| *k == MessageKind::Ack));
    let reached = c
        .iter()
        .skip(1)
        .filter(|e| value_at(e, "n0", "color").is_some())
        .count();
    // Node 0 pushes to 3 peers, each of them on to 3: most of 7 peers
    // have it before any round.
    assert!(reached >= 3, "{reached} of 7 reached by pushes");
    // Each node that learned it pushed it at most once: at most 3 pushes
    // by the writer and 3 by each node reached.
    assert!(
        kinds.len() <= PUSH_FANOUT * (1 + reached),
        "{} pushes",
        kinds.len()
    );
    let pushes: u64 = c.iter().map(|e| e.counters().pushes_out).sum();
    assert_eq!(pushes, kinds.len() as u64);
    // The next rounds bring it to everyone else.
    for s in 7..=8 {
        round(&mut c, second(s), &mut rng);
    }
    assert!(
        c.iter()
            .all(|e| value_at(e, "n0", "color").as_deref() == Some(&b"v"[..]))
    );
}

#[test]
fn a_cluster_still_learning_its_members_does_not_push() {
    let mut c = mesh(8);
    let mut rng = TestRng(4);
    round(&mut c, second(1), &mut rng);
    let kinds = write_and_push(
        &mut c,
        "early",
        second(1).saturating_add(Duration::from_millis(300)),
    );
    assert!(kinds.is_empty(), "{kinds:?}");
    assert!(c.iter().all(|e| e.counters().pushes_out == 0));
}
