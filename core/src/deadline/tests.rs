//! Tests of the deadline API: what `poll_timeout` reports and what
//! `handle_timeout` does at (and just before) each kind of deadline.

use core::net::SocketAddr;
use core::time::Duration;
use std::boxed::Box;
use std::string::String;
use std::vec::Vec;

use super::*;
use crate::config::Config;
use crate::event::Event;
use crate::id::NodeId;
use crate::nodes::NodeStatus;
use crate::testkit::{Recorder, TestEngine, TestRng, build, capacity_w};

type Small = TestEngine;

/// Event kinds with the node or key they are about.
#[derive(Default)]
struct Log(Vec<(&'static str, String)>);

impl Observer for Log {
    fn on_event(&mut self, event: &Event<'_>) {
        let entry = match event {
            Event::NodeDead { node } => ("dead", node.name.as_str().into()),
            Event::NodeRemoved { node } => ("removed", node.name.as_str().into()),
            Event::KeyExpired { key, .. } => ("expired", (*key).into()),
            _ => return,
        };
        self.0.push(entry);
    }
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A round of 100 ms spread over the default fanout's 3 parts: one part
/// every 33 ms, jittered by a tenth either way.
const PART: core::ops::RangeInclusive<u64> = 30..=36;

fn config() -> Config {
    Config {
        gossip_interval: Duration::from_millis(100),
        tombstone_grace: Duration::from_millis(5_000),
        ..Config::new()
    }
}

fn engine(name: &str, port: u16) -> Box<Small> {
    let id = NodeId::new(name, 1, addr(port)).expect("id");
    build(capacity_w::<8, 64, 4096, 32>(), id, config()).expect("engine")
}

/// Calls `handle_timeout` at `now`, returning what was sent.
fn at(e: &mut Small, now: u64, rng: &mut TestRng, log: &mut Log) -> Recorder {
    let mut tx = Recorder::default();
    e.handle_timeout(Instant(now), rng, &mut tx, log);
    tx
}

/// Delivers `sent` (from `a` if `by_a`, else from `b`) and every answer.
fn settle(a: &mut Small, b: &mut Small, by_a: bool, sent: Recorder, now: u64) {
    let mut queue: Vec<(bool, Vec<u8>)> = sent.sent.into_iter().map(|(_, d)| (by_a, d)).collect();
    while let Some((by_a, d)) = queue.pop() {
        let mut out = Recorder::default();
        let now = Instant(now);
        if by_a {
            b.handle_datagram(addr(1), &mut d.clone(), now, &mut out, &mut Log::default())
        } else {
            a.handle_datagram(addr(2), &mut d.clone(), now, &mut out, &mut Log::default())
        }
        .expect("valid datagram");
        queue.extend(out.sent.into_iter().map(|(_, d)| (!by_a, d)));
    }
}

/// Two engines driven only through the deadline API, each called at its
/// own `poll_timeout`, every datagram delivered at once, until `until` ms.
fn run_pair(a: &mut Small, b: &mut Small, until: u64, rng: &mut TestRng) {
    loop {
        let ta = a.poll_timeout().expect("a has a deadline").as_millis();
        let tb = b.poll_timeout().expect("b has a deadline").as_millis();
        let now = ta.min(tb);
        if now > until {
            return;
        }
        if ta <= tb {
            let sent = at(a, now, rng, &mut Log::default());
            settle(a, b, true, sent, now);
        } else {
            let sent = at(b, now, rng, &mut Log::default());
            settle(a, b, false, sent, now);
        }
    }
}

#[test]
fn ttl_expires_at_its_deadline_to_the_millisecond() {
    let mut e = engine("a", 1);
    let mut rng = TestRng(1);
    let mut log = Log::default();
    at(&mut e, 0, &mut rng, &mut log);
    // Due at 10 + 17 = 27 ms, before the next part of a round (30..=36).
    e.set_with_ttl("k", b"v", Duration::from_millis(17), Instant(10))
        .expect("set");
    assert_eq!(e.poll_timeout(), Some(Instant(27)));
    at(&mut e, 26, &mut rng, &mut log);
    assert!(log.0.is_empty(), "expired early: {:?}", log.0);
    assert_eq!(e.get("k"), Some(&b"v"[..]));
    at(&mut e, 27, &mut rng, &mut log);
    assert_eq!(log.0, [("expired", "k".into())]);
    assert_eq!(e.get("k"), None);
    // Its tombstone is the next owner-local deadline.
    assert!(e.poll_timeout().is_some_and(|t| t.as_millis() <= 110));
}

#[test]
fn poll_timeout_covers_each_kind_of_deadline() {
    // The first round is due at once; its next part a jittered third of
    // an interval on.
    let mut a = engine("a", 1);
    let mut rng = TestRng(2);
    assert_eq!(a.poll_timeout(), Some(Instant::ZERO));
    let sent = at(&mut a, 0, &mut rng, &mut Log::default());
    assert_eq!(a.local_node().map(|n| n.heartbeat()), Some(1));
    assert!(sent.sent.is_empty(), "no peer, no seed: nothing to send");
    let next = a.poll_timeout().expect("a round").as_millis();
    assert!(PART.contains(&next), "{next}");

    // A tombstone's collection, when earlier than the round.
    let mut t = engine("t", 3);
    t.config.tombstone_grace = Duration::from_millis(20);
    at(&mut t, 0, &mut rng, &mut Log::default());
    t.set("k", b"v").expect("set");
    assert!(t.delete("k", Instant(5)).expect("delete"));
    assert_eq!(t.poll_timeout(), Some(Instant(25)));
    at(&mut t, 25, &mut rng, &mut Log::default());
    assert_eq!(t.local_node().map(|n| n.last_gc_version()), Some(2));

    // A conviction: b falls silent; a convicts it exactly at its deadline,
    // which poll_timeout reports, between rounds.
    let mut a = engine("a", 1);
    let mut b = engine("b", 2);
    a.set_seeds(&[addr(2)]);
    run_pair(&mut a, &mut b, 3_000, &mut rng);
    let slot = a.nodes.find_name("b").expect("a knows b");
    assert_eq!(a.node("b").map(|v| v.status()), Some(NodeStatus::Alive));
    let deadline = a.nodes.get(slot).expect("b's slot").deadline;
    let mut log = Log::default();
    let mut handled = Vec::new();
    while a.node("b").is_some_and(|v| v.status() == NodeStatus::Alive) {
        let now = a.poll_timeout().expect("a deadline");
        assert!(now <= deadline, "poll_timeout skipped b's deadline");
        let _ = at(&mut a, now.as_millis(), &mut rng, &mut log);
        handled.push(now);
    }
    assert_eq!(handled.last(), Some(&deadline));
    assert_eq!(log.0, [("dead", "b".into())]);
    // Then its removal after the dead grace, also a deadline of its own.
    let grace = a.config.dead_grace;
    let removal = deadline.saturating_add(grace);
    while a.node("b").is_some() {
        let now = a.poll_timeout().expect("a deadline");
        assert!(now <= removal, "poll_timeout skipped b's removal");
        let _ = at(&mut a, now.as_millis(), &mut rng, &mut log);
        if a.node("b").is_none() {
            assert_eq!(now, removal);
        }
    }
    assert_eq!(log.0, [("dead", "b".into()), ("removed", "b".into())]);
}

#[test]
fn leaving_gossips_at_once_then_ends_at_the_linger() {
    let mut a = engine("a", 1);
    a.config.leave_linger = Duration::from_millis(250);
    a.set_seeds(&[addr(2)]);
    let mut rng = TestRng(3);
    at(&mut a, 0, &mut rng, &mut Log::default());
    a.leave(Instant(20)).expect("leave");
    // The departure is announced now, not at the next part of a round.
    assert_eq!(a.poll_timeout(), Some(Instant(20)));
    let sent = at(&mut a, 20, &mut rng, &mut Log::default());
    assert!(!sent.sent.is_empty(), "the leaving node gossips at once");
    let mut rounds = 0;
    while let Some(now) = a.poll_timeout() {
        assert!(now <= Instant(270), "past the linger: {now:?}");
        let sent = at(&mut a, now.as_millis(), &mut rng, &mut Log::default());
        if !sent.sent.is_empty() {
            rounds += 1;
        }
    }
    assert!(a.has_left(Instant(270)));
    assert!(
        (2..=3).contains(&rounds),
        "{rounds} rounds during the linger"
    );
}

#[test]
fn rounds_are_jittered_and_an_idle_engine_never_stalls() {
    let mut e = engine("a", 1);
    let mut rng = TestRng(4);
    let mut last = 0;
    let mut gaps = Vec::new();
    at(&mut e, 0, &mut rng, &mut Log::default());
    for _ in 0..200 {
        let now = e.poll_timeout().expect("a round").as_millis();
        gaps.push(now - last);
        last = now;
        at(&mut e, now, &mut rng, &mut Log::default());
    }
    assert!(gaps.iter().all(|g| PART.contains(g)), "{gaps:?}");
    let (lo, hi) = (gaps.iter().min(), gaps.iter().max());
    assert!(lo < hi, "no jitter: {gaps:?}");
    assert_eq!(e.local_node().map(|n| n.heartbeat()), Some(201));
    assert_eq!(e.counters().local_stalls, 0);
}

#[test]
fn a_late_timeout_is_a_local_stall_and_spares_live_peers() {
    let mut a = engine("a", 1);
    let mut b = engine("b", 2);
    a.set_seeds(&[addr(2)]);
    let mut rng = TestRng(5);
    run_pair(&mut a, &mut b, 3_000, &mut rng);
    assert_eq!(a.node("b").map(|v| v.status()), Some(NodeStatus::Alive));
    // a does not run for 5 s (b's timeout is far shorter).
    let due = a.poll_timeout().expect("a deadline").as_millis();
    let mut log = Log::default();
    let _ = at(&mut a, due + 5_000, &mut rng, &mut log);
    assert_eq!(a.counters().local_stalls, 1);
    assert!(
        log.0.is_empty(),
        "convicted after our own stall: {:?}",
        log.0
    );
    assert_eq!(a.node("b").map(|v| v.status()), Some(NodeStatus::Alive));
}

#[test]
fn new_seeds_while_alone_make_a_round_due_at_once() {
    let mut a = engine("a", 1);
    let mut rng = TestRng(4);
    at(&mut a, 0, &mut rng, &mut Log::default());
    at(&mut a, 15, &mut rng, &mut Log::default());
    let next = a.poll_timeout().expect("a round");
    assert!(next.as_millis() >= 30, "{next:?}");
    // Seeds arrive (resolved late) while no peer is live: due now, and the
    // round contacts the seed.
    a.set_seeds(&[addr(2)]);
    assert_eq!(a.poll_timeout(), Some(Instant(15)));
    let sent = at(&mut a, 15, &mut rng, &mut Log::default());
    assert!(
        sent.sent.iter().any(|(to, _)| *to == addr(2)),
        "the seed is contacted"
    );
    // The same list again changes nothing.
    let next = a.poll_timeout().expect("a round");
    a.set_seeds(&[addr(2)]);
    assert_eq!(a.poll_timeout(), Some(next));
    // With a live peer, new seeds wait for the schedule.
    let mut b = engine("b", 2);
    run_pair(&mut a, &mut b, 3_000, &mut rng);
    assert!(a.live_nodes().next().is_some());
    let next = a.poll_timeout().expect("a round");
    a.set_seeds(&[addr(2), addr(3)]);
    assert_eq!(a.poll_timeout(), Some(next));
}
