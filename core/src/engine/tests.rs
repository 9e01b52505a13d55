//! Unit tests of the engine: local writes, maintenance, identity rules,
//! capacity limits, and the exchange's splitting, budget and reset behaviour.

use std::boxed::Box;
use std::format;
use std::string::{String, ToString};
use std::vec;
use std::vec::Vec;

use crate::{
    config::Config,
    engine::*,
    event::{Event, Observer},
    id::NodeId,
    nodes::NodeStatus,
    peers::UNANSWERED_LIMIT,
    store::EntryStatus,
    time::Instant,
};
use core::net::SocketAddr;
use core::time::Duration;

use crate::testkit::TestRng;
use crate::wire::{self, MessageKind};

type Small = TestEngine;
/// Their capacity.
const SMALL: Capacity = capacity::<16, 512, 65_536>();

/// Settings for engines too small for the default local reserve.
fn tight() -> Config {
    let mut c = Config::new();
    c.local_reserve_entries = 2;
    c.local_reserve_bytes = 64;
    c
}

mod peers;

use crate::capacity::Capacity;
use crate::testkit::{TestEngine, addr, build, capacity, engine};

/// Records every datagram sent (the crate's one test recorder).
type Sink = crate::testkit::Recorder;

#[derive(Default)]
struct Log(Vec<String>);

impl Observer for Log {
    fn on_event(&mut self, e: &Event<'_>) {
        self.0.push(match e {
            Event::NodeJoined { node } => format!("joined {}", node.name),
            Event::NodeAliveAgain { node } => format!("alive again {}", node.name),
            Event::NodeDead { node } => format!("dead {}", node.name),
            Event::NodeLeft { node } => format!("left {}", node.name),
            Event::NodeRemoved { node } => format!("removed {}", node.name),
            Event::NodeReplaced { old, new } => {
                format!(
                    "replaced {}#{} by #{}",
                    old.name, old.generation, new.generation
                )
            }
            Event::KeySet {
                node, key, value, ..
            } => format!("set {}/{key}={}", node.name, String::from_utf8_lossy(value)),
            Event::KeyDeleted { node, key, .. } => format!("deleted {}/{key}", node.name),
            Event::KeyExpired {
                node, key, value, ..
            } => {
                format!(
                    "expired {}/{key}={}",
                    node.name,
                    String::from_utf8_lossy(value)
                )
            }
            Event::ResetApplied { node } => format!("reset {}", node.name),
            Event::Refuted { old, new } => {
                format!("refuted #{} by #{}", old.generation, new.generation)
            }
            Event::NameConflict { other, .. } => format!("conflict #{}", other.generation),
        });
    }
}

/// Runs one exchange initiated by `a` towards `b`, delivering datagrams in
/// order; `drop(i)` says whether the i-th datagram (0-based, over the whole
/// exchange) is lost. Returns the datagrams in order of sending.
fn exchange(
    a: &mut TestEngine,
    b: &mut TestEngine,
    log_a: &mut Log,
    log_b: &mut Log,
    mut drop: impl FnMut(usize) -> bool,
) -> Vec<(MessageKind, Vec<u8>)> {
    let (a_addr, b_addr) = (a.id().addr, b.id().addr);
    crate::testkit::acquaint(a, b);
    let mut seen = Vec::new();
    let mut net = Sink::default();
    a.start_exchange(b_addr, &mut net).expect("start");
    let mut i = 0;
    while !net.sent.is_empty() {
        let mut next = Sink::default();
        for (to, bytes) in net.sent.drain(..) {
            let (kind, _, _, _) = wire::read_header(&bytes).expect("valid header");
            seen.push((kind, bytes.clone()));
            let lost = drop(i);
            i += 1;
            if lost {
                continue;
            }
            let now = Instant::ZERO;
            if to == b_addr {
                b.handle_datagram(a_addr, &mut bytes.clone(), now, &mut next, log_b)
                    .expect("valid");
            } else {
                a.handle_datagram(b_addr, &mut bytes.clone(), now, &mut next, log_a)
                    .expect("valid");
            }
        }
        net = next;
    }
    seen
}

fn sync(a: &mut TestEngine, b: &mut TestEngine) {
    exchange(a, b, &mut Log::default(), &mut Log::default(), |_| false);
}

fn live(e: &TestEngine, name: &str) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = e
        .node(name)
        .map(|n| {
            n.entries()
                .map(|x| (x.key.to_string(), x.value.to_vec()))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn local_writes_take_versions_only_when_something_changes() {
    let mut a = engine::<16, 512, 65_536>("a", 1, Config::new());
    a.set("k", b"1").expect("set");
    assert_eq!(a.local_node().expect("local").max_version(), 1);
    a.set("k", b"1").expect("same value");
    assert_eq!(a.local_node().expect("local").max_version(), 1);
    a.set("k", b"2").expect("new value");
    a.set("other", b"x").expect("set");
    let local = a.local_node().expect("local");
    assert_eq!(local.max_version(), 3);
    assert_eq!(local.entry("k").map(|e| e.version), Some(2));
    assert_eq!(a.get("k"), Some(&b"2"[..]));
    assert_eq!(a.delete("k", Instant::ZERO), Ok(true));
    assert_eq!(a.delete("k", Instant::ZERO), Ok(false));
    assert_eq!(a.delete("never", Instant::ZERO), Ok(false));
    assert_eq!(a.get("k"), None);
    let local = a.local_node().expect("local");
    assert_eq!(local.max_version(), 4);
    assert_eq!(
        local.entry("k").map(|e| (e.status, e.version)),
        Some((EntryStatus::Deleted, 4))
    );
    // Version order, tombstones included in all_entries only.
    let keys: Vec<_> = local.all_entries().map(|e| e.key).collect();
    assert_eq!(keys, ["other", "k"]);
    assert_eq!(local.entries().count(), 1);
    // A set after a delete revives the key with a new version.
    a.set("k", b"3").expect("set");
    assert_eq!(
        a.local_node().expect("local").entry("k").map(|e| e.version),
        Some(5)
    );
}

#[test]
fn prefix_iteration() {
    let mut a = engine::<16, 512, 65_536>("a", 1, Config::new());
    for k in ["svc/a", "svc/b", "other", "svcx"] {
        a.set(k, b"v").expect("set");
    }
    let local = a.local_node().expect("local");
    let mut keys: Vec<_> = local.entries_with_prefix("svc/").map(|e| e.key).collect();
    keys.sort();
    assert_eq!(keys, ["svc/a", "svc/b"]);
}

#[test]
fn bad_writes_are_refused_with_clear_errors() {
    // Held at version 5, a node sends no chunks: an entry must fit one
    // datagram (from version 6, longer values go in chunks, module `chunk`).
    let mut v5 = Config::new();
    v5.protocol_version = 5;
    let mut a = engine::<16, 512, 65_536>("a", 1, v5.clone());
    assert_eq!(a.set("", b"v"), Err(WriteError::EmptyKey));
    assert_eq!(a.set(&"k".repeat(256), b"v"), Err(WriteError::KeyTooLong));
    assert!(a.set(&"k".repeat(255), b"v").is_ok());
    // A NUL inside a key: the C API would see a shorter, different key.
    for key in ["a\0b", "k\0"] {
        let nul = Err(WriteError::KeyContainsNul);
        assert_eq!(a.set(key, b"v"), nul, "{key:?}");
        let ttl = Duration::from_secs(1);
        assert_eq!(a.set_with_ttl(key, b"v", ttl, Instant(0)), nul);
        assert_eq!(a.delete(key, Instant(0)), Err(WriteError::KeyContainsNul));
    }
    assert_eq!(a.get("a"), None);
    assert_eq!(a.set("big", &[0; 1400]), Err(WriteError::EntryTooLarge));
    // The largest accepted value really fits a datagram: sent and received.
    let mut max = 0;
    for len in (1000..1400).rev() {
        if a.set("big", &vec![7; len]).is_ok() {
            max = len;
            break;
        }
    }
    // mtu 1400 less the worst framing: sealed (29), version-4 tokens (16),
    // the longest ids in the header and the update, a piece head.
    assert!(max > 1080, "usable value size {max}");
    let mut b = engine::<16, 512, 65_536>("b", 2, v5);
    sync(&mut b, &mut a);
    assert_eq!(
        b.node("a").and_then(|n| n.get("big")).map(<[u8]>::len),
        Some(max)
    );
}

#[test]
fn local_capacity_full_is_an_error_and_changes_nothing() {
    let mut a = engine::<4, 4, 256>("a", 1, tight());
    // Four slots: three for keys, one kept for the leave entry.
    for i in 0..3 {
        a.set(&format!("k{i}"), b"v").expect("fits");
    }
    assert_eq!(a.set("k3", b"v"), Err(WriteError::CapacityFull));
    assert_eq!(a.local_node().expect("local").max_version(), 3);
    // Arena: 256 bytes; a value that cannot fit is refused, the old one kept.
    assert_eq!(a.set("k0", &[1; 250]), Err(WriteError::CapacityFull));
    assert_eq!(a.get("k0"), Some(&b"v"[..]));
    assert_eq!(a.local_node().expect("local").max_version(), 3);
    a.leave(Instant::ZERO).expect("leave always has room");
}

#[test]
fn arena_churn_compacts_and_keeps_every_value() {
    let mut a = engine::<4, 8, 512>("a", 1, tight());
    for round in 0..200u32 {
        for k in 0..4u32 {
            let len = ((round * 7 + k * 13) % 60) as usize;
            let v = vec![(round + k) as u8; len];
            a.set(&format!("key{k}"), &v)
                .expect("fits after compaction");
        }
        for k in 0..4u32 {
            let len = ((round * 7 + k * 13) % 60) as usize;
            assert_eq!(
                a.get(&format!("key{k}")),
                Some(&vec![(round + k) as u8; len][..])
            );
        }
    }
    assert!(a.arena_bytes_used() <= 512);
}

#[test]
fn ttl_expiry_deletes_with_a_new_version_and_an_event() {
    let mut a = engine::<16, 512, 65_536>("a", 1, Config::new());
    let mut log = Log::default();
    a.set_with_ttl(
        "lease",
        b"x",
        Duration::from_secs(10),
        Instant::from_millis(1000),
    )
    .expect("set");
    a.tick(
        Instant::from_millis(10_999),
        &mut TestRng(7),
        &mut Sink::default(),
        &mut log,
    );
    assert_eq!(a.get("lease"), Some(&b"x"[..]));
    // Same value again extends the deadline without a version.
    a.set_with_ttl(
        "lease",
        b"x",
        Duration::from_secs(10),
        Instant::from_millis(5000),
    )
    .expect("refresh");
    assert_eq!(a.local_node().expect("l").max_version(), 1);
    a.tick(
        Instant::from_millis(11_000),
        &mut TestRng(7),
        &mut Sink::default(),
        &mut log,
    );
    assert_eq!(a.get("lease"), Some(&b"x"[..]), "deadline was extended");
    a.tick(
        Instant::from_millis(15_000),
        &mut TestRng(7),
        &mut Sink::default(),
        &mut log,
    );
    assert_eq!(a.get("lease"), None);
    assert_eq!(log.0, ["expired a/lease=x"]);
    let e = a
        .local_node()
        .and_then(|n| n.entry("lease"))
        .expect("tombstone");
    assert_eq!((e.status, e.version), (EntryStatus::Deleted, 2));
    // A plain set turns a TTL key into a permanent one.
    a.set_with_ttl(
        "t",
        b"y",
        Duration::from_secs(1),
        Instant::from_millis(15_000),
    )
    .expect("set");
    a.set("t", b"y").expect("set");
    a.tick(
        Instant::from_millis(20_000),
        &mut TestRng(7),
        &mut Sink::default(),
        &mut log,
    );
    assert_eq!(a.get("t"), Some(&b"y"[..]));
}

#[test]
fn tombstones_are_collected_after_the_grace_in_version_order() {
    let mut config = Config::new();
    config.tombstone_grace = Duration::from_secs(60);
    let mut a = engine::<16, 512, 65_536>("a", 1, config);
    let mut log = Log::default();
    for k in ["x", "y", "z"] {
        a.set(k, b"v").expect("set");
    }
    a.delete("x", Instant::from_millis(0)).expect("delete");
    a.delete("y", Instant::from_millis(30_000)).expect("delete");
    a.tick(
        Instant::from_millis(59_999),
        &mut TestRng(7),
        &mut Sink::default(),
        &mut log,
    );
    assert_eq!(a.local_node().expect("l").last_gc_version(), 0);
    a.tick(
        Instant::from_millis(60_000),
        &mut TestRng(7),
        &mut Sink::default(),
        &mut log,
    );
    let l = a.local_node().expect("l");
    assert_eq!(l.last_gc_version(), 4, "x's tombstone (v4) collected");
    assert!(l.entry("x").is_none());
    assert!(l.entry("y").is_some(), "y's tombstone still within grace");
    a.tick(
        Instant::from_millis(90_000),
        &mut TestRng(7),
        &mut Sink::default(),
        &mut log,
    );
    let l = a.local_node().expect("l");
    assert_eq!(l.last_gc_version(), 5);
    assert_eq!(l.max_version(), 5);
    assert_eq!(a.entry_count(), 1);
}

#[test]
fn exchange_propagates_sets_and_deletes_both_ways_with_events() {
    let mut a = engine::<16, 512, 65_536>("a", 1, Config::new());
    let mut b = engine::<16, 512, 65_536>("b", 2, Config::new());
    a.set("color", b"red").expect("set");
    b.set("size", b"xl").expect("set");
    let (mut la, mut lb) = (Log::default(), Log::default());
    let kinds: Vec<_> = exchange(&mut a, &mut b, &mut la, &mut lb, |_| false)
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        kinds,
        [MessageKind::Syn, MessageKind::SynAck, MessageKind::Ack]
    );
    assert_eq!(live(&b, "a"), [("color".to_string(), b"red".to_vec())]);
    assert_eq!(live(&a, "b"), [("size".to_string(), b"xl".to_vec())]);
    // Neither has seen the other beat yet: no events, keys withheld.
    assert_eq!(lb.0, [] as [&str; 0]);
    assert_eq!(la.0, [] as [&str; 0]);
    // Each beats (a round), and the next exchange shows it alive: one
    // `joined`, then the keys the copy already held.
    for e in [&mut a, &mut b] {
        e.tick(
            Instant::ZERO,
            &mut TestRng(1),
            &mut Sink::default(),
            &mut (),
        );
    }
    exchange(&mut a, &mut b, &mut la, &mut lb, |_| false);
    assert_eq!(lb.0, ["joined a", "set a/color=red"]);
    assert_eq!(la.0, ["joined b", "set b/size=xl"]);
    a.delete("color", Instant::ZERO).expect("delete");
    let (mut la, mut lb) = (Log::default(), Log::default());
    exchange(&mut b, &mut a, &mut lb, &mut la, |_| false);
    assert_eq!(live(&b, "a"), []);
    assert_eq!(lb.0, ["deleted a/color"]);
    // Nothing changed: the exchange is a Syn and an empty SynAck.
    let seen = exchange(&mut a, &mut b, &mut la, &mut lb, |_| false);
    assert_eq!(seen.len(), 2);
}

#[test]
fn newer_generation_replaces_at_once_and_older_is_ignored() {
    let mut a1 = engine::<16, 512, 65_536>("a", 1, Config::new());
    let mut b = engine::<16, 512, 65_536>("b", 2, Config::new());
    a1.set("old", b"1").expect("set");
    sync(&mut a1, &mut b);
    assert_eq!(live(&b, "a"), [("old".to_string(), b"1".to_vec())]);
    a1.tick(
        Instant::ZERO,
        &mut TestRng(1),
        &mut Sink::default(),
        &mut (),
    );
    crate::testkit::see_alive(&mut b, &a1);
    // Restart: same name, same address, higher generation.
    let a2_id = NodeId::new("a", 2, addr(1)).expect("id");
    let mut a2 = build(SMALL, a2_id, Config::new()).expect("engine");
    a2.set("new", b"2").expect("set");
    let (mut la, mut lb) = (Log::default(), Log::default());
    exchange(&mut a2, &mut b, &mut la, &mut lb, |_| false);
    // The old state is gone at once, and the observer hears of the restart
    // at once, in one event; the new incarnation's keys follow.
    assert_eq!(b.node("a").map(|n| n.id().generation), Some(2));
    assert_eq!(live(&b, "a"), [("new".to_string(), b"2".to_vec())]);
    assert_eq!(b.node_count(), 2);
    assert_eq!(lb.0, ["replaced a#1 by #2", "set a/new=2"]);
    // Its first heartbeat advance here is no further event.
    a2.tick(
        Instant::ZERO,
        &mut TestRng(1),
        &mut Sink::default(),
        &mut (),
    );
    let mut lb = Log::default();
    exchange(&mut a2, &mut b, &mut la, &mut lb, |_| false);
    assert_eq!(lb.0, [] as [&str; 0]);
    // The old incarnation's gossip no longer resurrects anything.
    let mut lb = Log::default();
    exchange(&mut a1, &mut b, &mut Log::default(), &mut lb, |_| false);
    assert_eq!(b.node("a").map(|n| n.id().generation), Some(2));
    assert_eq!(live(&b, "a"), [("new".to_string(), b"2".to_vec())]);
    assert!(b.counters().stale_generations > 0);
    assert!(lb.0.iter().all(|l| !l.contains("old")), "{:?}", lb.0);
}

#[test]
fn full_node_table_refuses_and_counts_without_evicting() {
    let mut small = engine::<2, 64, 4096>("s", 0, Config::new());
    let mut others: Vec<Box<TestEngine>> = (1..4)
        .map(|i| engine::<16, 512, 65_536>(&format!("n{i}"), i, Config::new()))
        .collect();
    sync(&mut others[0], &mut small);
    assert_eq!(small.node_count(), 2);
    for o in others.iter_mut().skip(1) {
        sync(o, &mut small);
    }
    assert_eq!(small.node_count(), 2);
    assert!(small.node("n1").is_some(), "the known member stays");
    assert!(small.counters().refused_nodes >= 2);
}

#[test]
fn remote_state_that_does_not_fit_is_refused_and_counted() {
    let mut big = engine::<4, 64, 8192>("big", 1, Config::new());
    let mut tiny = engine::<4, 64, 512>("tiny", 2, tight());
    tiny.set("mine", b"stays").expect("set");
    for i in 0..8 {
        big.set(&format!("k{i}"), &[i; 100]).expect("set");
    }
    sync(&mut tiny, &mut big);
    assert!(tiny.counters().refused_pieces > 0);
    assert_eq!(tiny.get("mine"), Some(&b"stays"[..]));
    // Whatever was applied is a consistent prefix, never a gap.
    let n = tiny.node("big").expect("known");
    for e in n.all_entries() {
        assert!(e.version <= n.max_version());
    }
}

#[test]
fn syn_pieces_tile_the_ring_and_respect_the_mtu() {
    let mut config = Config::new();
    config.mtu = 512;
    let mut a = engine::<128, 128, 8192>("a", 0, config.clone());
    // Learn 100 nodes through the protocol.
    for i in 1..=100u16 {
        let mut n = engine::<128, 128, 8192>(&format!("node-{i:03}.example"), i, config.clone());
        n.set("k", b"v").expect("set");
        sync(&mut n, &mut a);
        // Seen alive, so that `a` introduces it to others.
        beat_and_push(&mut n, &mut a, Instant::ZERO);
    }
    assert_eq!(a.node_count(), 101);
    let mut sink = Sink::default();
    let pieces = a.start_exchange(addr(99), &mut sink).expect("syn");
    assert!(pieces > 1, "101 digest lines do not fit 512 bytes");
    assert_eq!(pieces, sink.sent.len());
    let mut next_start = 0u64;
    let mut lines = 0;
    for (_, bytes) in &sink.sent {
        assert!(bytes.len() <= 512);
        let (kind, hv, _, body) = wire::read_header(bytes).expect("header");
        assert_eq!(kind, MessageKind::Syn);
        let syn = wire::parse_syn(hv, body).expect("valid");
        assert_eq!(usize::from(syn.piece_count), pieces);
        assert_eq!(syn.ring_start, next_start);
        lines += syn.digest().count();
        next_start = syn.ring_end.wrapping_add(1);
    }
    assert_eq!(next_start, 0, "last piece ends at u64::MAX");
    assert_eq!(lines, 101);
    // And a whole exchange over these pieces converges a fresh node.
    let mut z = engine::<128, 128, 8192>("z", 998, config);
    sync(&mut z, &mut a);
    assert_eq!(z.node_count(), 102);
    assert_eq!(
        live(&z, "node-007.example"),
        [("k".to_string(), b"v".to_vec())]
    );
}

#[test]
fn a_small_budget_still_moves_every_node_forward() {
    // `hub` holds a node with a huge backlog and several nodes with one
    // fresh key; `fresh` knows none of them. With a budget of one datagram
    // per reply, every node must make progress in every exchange.
    let mut config = Config::new();
    config.mtu = 1400;
    config.exchange_budget = 1400;
    config.max_node_entries = 512;
    config.max_node_bytes = 64 * 1024;
    let mut hub = engine::<16, 512, 65_536>("hub", 0, config.clone());
    // Everyone shares the same per-node share; only hub and fresh have the
    // small budget.
    let mut share = Config::new();
    share.max_node_entries = config.max_node_entries;
    share.max_node_bytes = config.max_node_bytes;
    let mut heavy = engine::<16, 512, 65_536>("heavy", 1, share.clone());
    for i in 0..300 {
        heavy.set(&format!("k{i:03}"), &[b'h'; 100]).expect("set");
    }
    sync(&mut heavy, &mut hub);
    beat_and_push(&mut heavy, &mut hub, Instant::ZERO);
    let mut light = Vec::new();
    for i in 0..4u16 {
        let mut l = engine::<16, 512, 65_536>(&format!("light{i}"), 10 + i, share.clone());
        l.set("fresh", b"1").expect("set");
        sync(&mut l, &mut hub);
        beat_and_push(&mut l, &mut hub, Instant::ZERO);
        light.push(l);
    }
    assert_eq!(live(&hub, "heavy").len(), 300);
    let mut fresh = engine::<16, 512, 65_536>("fresh", 5, config);
    let seen = exchange(
        &mut fresh,
        &mut hub,
        &mut Log::default(),
        &mut Log::default(),
        |_| false,
    );
    let synack_bytes: usize = seen
        .iter()
        .filter(|(k, _)| *k == MessageKind::SynAck)
        .map(|(_, b)| b.len())
        .sum();
    assert!(synack_bytes <= 1400, "budget respected: {synack_bytes}");
    for i in 0..4 {
        assert_eq!(
            live(&fresh, &format!("light{i}")),
            [("fresh".to_string(), b"1".to_vec())],
            "small node {i} starved"
        );
    }
    let got = live(&fresh, "heavy").len();
    assert!(fresh.node("unknown").is_none());
    assert!(got > 0 && got < 300, "heavy progressed partially: {got}");
    // Later exchanges finish the backlog, continuing where the cut was.
    for _ in 0..60 {
        exchange(
            &mut fresh,
            &mut hub,
            &mut Log::default(),
            &mut Log::default(),
            |_| false,
        );
    }
    assert_eq!(live(&fresh, "heavy").len(), 300);
    assert_eq!(
        fresh.node("heavy").map(|n| n.max_version()),
        hub.node("heavy").map(|n| n.max_version())
    );
}

#[test]
fn reset_piece_alone_removes_deleted_keys() {
    let mut config = Config::new();
    config.tombstone_grace = Duration::from_secs(1);
    config.exchange_budget = 1400;
    let mut owner = engine::<16, 512, 65_536>("owner", 0, config.clone());
    let mut peer = engine::<16, 512, 65_536>("peer", 1, config);
    for i in 0..40 {
        owner.set(&format!("k{i:02}"), &[b'v'; 100]).expect("set");
    }
    owner.set("doomed", b"x").expect("set");
    for _ in 0..10 {
        sync(&mut peer, &mut owner);
    }
    assert_eq!(live(&peer, "owner").len(), 41);
    owner.delete("doomed", Instant::ZERO).expect("delete");
    owner.tick(
        Instant::from_millis(5_000),
        &mut TestRng(7),
        &mut Sink::default(),
        &mut Log::default(),
    );
    // Keep only the Syn and the first SynAck datagram: the first piece of
    // the reset covers the oldest keys, not the deleted one, yet once it is
    // applied the peer must no longer show the deleted key.
    let mut synack_seen = 0;
    let seen = exchange(
        &mut peer,
        &mut owner,
        &mut Log::default(),
        &mut Log::default(),
        |i| {
            if i == 0 {
                return false;
            }
            synack_seen += 1;
            synack_seen > 1
        },
    );
    let synacks = seen
        .iter()
        .filter(|(k, _)| *k == MessageKind::SynAck)
        .count();
    assert_eq!(synacks, 1, "one datagram of budget");
    let view = peer.node("owner").expect("known");
    assert!(view.get("doomed").is_none());
    assert!(
        view.max_version() < owner.local_node().expect("l").max_version(),
        "reset incomplete"
    );
    // The rest follows in later exchanges, without loss.
    for _ in 0..10 {
        sync(&mut peer, &mut owner);
    }
    assert!(live(&peer, "owner") == live(&owner, "owner"));
    assert!(peer.counters().resets_applied >= 1);
}

#[test]
fn stale_and_duplicate_pieces_change_nothing() {
    let mut a = engine::<16, 512, 65_536>("a", 1, Config::new());
    let mut b = engine::<16, 512, 65_536>("b", 2, Config::new());
    a.set("k", b"1").expect("set");
    let seen = exchange(
        &mut b,
        &mut a,
        &mut Log::default(),
        &mut Log::default(),
        |_| false,
    );
    let synack = seen
        .iter()
        .find(|(k, _)| *k == MessageKind::SynAck)
        .map(|(_, d)| d.clone())
        .expect("synack");
    a.set("k", b"2").expect("set");
    sync(&mut b, &mut a);
    assert_eq!(b.node("a").and_then(|n| n.get("k")), Some(&b"2"[..]));
    // Replaying the old SynAck must not move b back to "1".
    let mut log = Log::default();
    b.handle_datagram(
        addr(1),
        &mut synack.clone(),
        Instant::ZERO,
        &mut Sink::default(),
        &mut log,
    )
    .expect("valid");
    assert_eq!(b.node("a").and_then(|n| n.get("k")), Some(&b"2"[..]));
    assert_eq!(b.node("a").map(|n| n.max_version()), Some(2));
    assert!(b.counters().stale_pieces >= 1);
    assert!(log.0.is_empty(), "{:?}", log.0);
}

#[test]
fn memory_footprint_stays_within_its_documented_budget() {
    let cap = |nodes, entries, window| Capacity {
        nodes,
        entries,
        state_bytes: 8192,
        window,
    };
    let base = cap(16, 128, 100).memory_bytes();
    let per_entry = (cap(16, 256, 100).memory_bytes() - base) / 128;
    let per_node = (cap(32, 128, 100).memory_bytes() - base) / 16;
    assert!(per_entry <= 52, "entry slot grew to {per_entry} bytes");
    // 330 + the replay window of sealed datagrams (24, `seal`), the
    // peer's protocol version and address token (8, `token`), and our
    // token for it with its bucket (12, and 4 of alignment, `token`).
    // Version 5's compact digests add the heartbeat last sent and when
    // the versions changed (2 + 8, and 6 of alignment, `compact`) and
    // the scratch of a SynAck's notices, deltas and beat runs (2 + 8 + 6).
    // The event contract's `announced` fits in padding. Values in chunks
    // add to the scratch of a reply the offset it has chunked a node's
    // value to (8 with alignment, module `chunk`).
    assert!(
        per_node <= 418 + 100,
        "node slot grew to {per_node} bytes with a 100-byte window"
    );
    let default = Capacity::DEFAULT.memory_bytes();
    assert!(default <= 3_340_000, "default engine is {default} bytes");
    let small = cap(16, 128, 64).memory_bytes();
    // 22,880 before values in chunks, and 16 × 8 of reply scratch.
    assert!(small <= 23_100, "small engine is {small} bytes");
    // The engine value beside its tables stays small.
    let value = core::mem::size_of::<TestEngine>();
    // The keyring (4 keys, `seal`) is about 170 bytes of it; the stamp,
    // stillness and push state of version 5 about 40; the counters 8 a
    // counter (`beats_out`, direct beats, the last added); issue 15 adds
    // `max_value_len` to the config, seven counters (`oversized_values`,
    // chunks and transfers) and the pool of 16 values in flight (24 each,
    // module `chunk`; which units arrived is a map in the arena) with its
    // count.
    assert!(value <= 3_056, "engine value is {value} bytes");
}

/// Two node names whose ids share the top 32 bits of their ring hashes.
fn prefix_twins() -> (NodeId, NodeId) {
    let mut seen = std::collections::HashMap::new();
    for i in 0u32.. {
        let id = NodeId::new(&format!("twin-{i}"), 1, addr(100 + (i % 500) as u16)).expect("id");
        let p = wire::prefix_of(id.ring_hash());
        match seen.insert(p, id.clone()) {
            Some(other) if other.addr != id.addr => return (other, id),
            _ => {}
        }
    }
    unreachable!()
}

#[test]
fn nodes_sharing_a_hash_prefix_are_told_apart() {
    let (x_id, y_id) = prefix_twins();
    assert_ne!(x_id.ring_hash(), y_id.ring_hash());
    let mut x = build(SMALL, x_id, Config::new()).expect("engine");
    let mut y = build(SMALL, y_id, Config::new()).expect("engine");
    x.set("who", b"x").expect("set");
    y.set("who", b"y").expect("set");
    let mut r = engine::<16, 512, 65_536>("r", 1, Config::new());
    let mut s = engine::<16, 512, 65_536>("s", 2, Config::new());
    // r learns both twins; s learns only x.
    sync(&mut x, &mut r);
    sync(&mut y, &mut r);
    // Seen alive at r, so that r introduces them (a whole exchange: r
    // learns the twins' heartbeats by asking for them by full hash).
    for twin in [&mut x, &mut y] {
        twin.tick(
            Instant::ZERO,
            &mut TestRng(1),
            &mut Sink::default(),
            &mut Log::default(),
        );
        sync(twin, &mut r);
    }
    sync(&mut x, &mut s);
    // y named itself by the shared prefix; r, holding two nodes under it,
    // still got y's state by asking for both.
    assert_eq!(
        r.node(y.id().name.as_str()).and_then(|n| n.get("who")),
        Some(&b"y"[..])
    );
    let xname = x.id().name.clone();
    let yname = y.id().name.clone();
    assert!(s.node(yname.as_str()).is_none());
    // s's digest names x by the shared prefix alone; r holds two nodes
    // under it and must not guess: it introduces both, so s learns y.
    sync(&mut s, &mut r);
    assert_eq!(
        s.node(yname.as_str()).and_then(|n| n.get("who")),
        Some(&b"y"[..])
    );
    assert_eq!(
        s.node(xname.as_str()).and_then(|n| n.get("who")),
        Some(&b"x"[..])
    );
    // Now s's own digest carries both full hashes, and updates to either
    // twin flow to the right node.
    let mut sink = Sink::default();
    s.start_exchange(addr(1), &mut sink).expect("syn");
    let (_, hv, _, body) = wire::read_header(&sink.sent[0].1).expect("header");
    let syn = wire::parse_syn(hv, body).expect("valid");
    let twins: Vec<_> = syn
        .digest()
        .filter_map(|l| l.expect("valid").line())
        .filter(|l| l.prefix == wire::prefix_of(x.id().ring_hash()))
        .collect();
    assert_eq!(twins.len(), 2);
    assert!(twins.iter().all(|l| l.full.is_some()));
    y.set("who", b"y2").expect("set");
    sync(&mut y, &mut s);
    sync(&mut r, &mut s);
    assert_eq!(
        r.node(yname.as_str()).and_then(|n| n.get("who")),
        Some(&b"y2"[..])
    );
    assert_eq!(
        r.node(xname.as_str()).and_then(|n| n.get("who")),
        Some(&b"x"[..])
    );
}

/// `x` beats once at `now` and sends its Syn to `r`, which takes it.
fn beat_and_push(x: &mut TestEngine, r: &mut TestEngine, now: Instant) {
    x.tick(
        now,
        &mut TestRng(1),
        &mut Sink::default(),
        &mut Log::default(),
    );
    let mut net = Sink::default();
    x.start_exchange(r.id().addr, &mut net).expect("syn");
    for (_, d) in net.sent {
        r.handle_datagram(
            x.id().addr,
            &mut d.clone(),
            now,
            &mut Sink::default(),
            &mut Log::default(),
        )
        .expect("valid");
    }
}

/// A Syn from `sender` whose digest holds one line, for `hash`.
fn syn_with_line(sender: &NodeId, hash: u64, heartbeat: u64, max_version: u64) -> Vec<u8> {
    let mut buf = vec![0u8; 1400];
    let mut enc = wire::Encoder::new(&mut buf, 1400);
    let res: Result<(), wire::Full> = (|| {
        let cluster = Config::new().cluster_id.fingerprint();
        let mark = enc.syn_head(
            3,
            cluster,
            sender,
            1,
            (0, u64::MAX),
            (&wire::Tokens::default(), 0, 0),
            &[],
        )?;
        enc.digest_line(hash, false, heartbeat, 0, max_version)?;
        enc.end_seq(mark, 1);
        Ok(())
    })();
    res.expect("fits");
    let len = enc.pos();
    buf.truncate(len);
    buf
}

#[test]
fn implausible_digest_heartbeats_are_ignored() {
    let mut x = engine::<16, 512, 65_536>("x", 1, Config::new());
    let mut r = engine::<16, 512, 65_536>("r", 2, Config::new());
    let mut t = 0u64;
    for _ in 0..5 {
        beat_and_push(&mut x, &mut r, Instant(t));
        t += 1000;
    }
    let held = r.node("x").map(|n| n.heartbeat()).expect("known");
    assert_eq!(r.node("x").map(|n| n.status()), Some(NodeStatus::Alive));
    let s_id = NodeId::new("s", 1, addr(9)).expect("id");
    let xh = x.id().ring_hash();
    // One second after x's last heartbeat, a line claims x is 1000 beats on.
    let far = syn_with_line(&s_id, xh, held + 1000, 0);
    r.handle_datagram(
        addr(9),
        &mut far.clone(),
        Instant(t),
        &mut Sink::default(),
        &mut Log::default(),
    )
    .expect("valid datagram");
    assert_eq!(r.node("x").map(|n| n.heartbeat()), Some(held));
    assert_eq!(r.counters().implausible_heartbeats, 1);
    // A few beats on is normal.
    let near = syn_with_line(&s_id, xh, held + 3, 0);
    r.handle_datagram(
        addr(9),
        &mut near.clone(),
        Instant(t),
        &mut Sink::default(),
        &mut Log::default(),
    )
    .expect("valid datagram");
    assert_eq!(r.node("x").map(|n| n.heartbeat()), Some(held + 3));
    // After a long silence, a big advance is plausible again.
    let later = syn_with_line(&s_id, xh, held + 1000, 0);
    r.handle_datagram(
        addr(9),
        &mut later.clone(),
        Instant(t + 400_000),
        &mut Sink::default(),
        &mut Log::default(),
    )
    .expect("valid datagram");
    assert_eq!(r.node("x").map(|n| n.heartbeat()), Some(held + 1000));
}

#[test]
fn sweep_convicts_between_ticks() {
    let mut x = engine::<16, 512, 65_536>("x", 1, Config::new());
    let mut r = engine::<16, 512, 65_536>("r", 2, Config::new());
    for t in 0..10u64 {
        beat_and_push(&mut x, &mut r, Instant(t * 1000));
    }
    let heartbeat = r.local_node().map(|n| n.heartbeat());
    let timeout = r.node("x").and_then(|n| n.timeout()).expect("history");
    let last = 9000 + timeout.as_millis() as u64;
    let mut log = Log::default();
    // Sweeps every quarter interval, as runtimes make them (a longer
    // silence of the caller would be a local stall, see `crate::stall`).
    for t in (9000..last - 100).step_by(250) {
        r.sweep(Instant(t), &mut log);
    }
    r.sweep(Instant(last - 100), &mut log);
    assert!(log.0.is_empty());
    r.sweep(Instant(last + 1), &mut log);
    assert_eq!(log.0, ["dead x"]);
    // A sweep neither gossips nor beats.
    assert_eq!(r.local_node().map(|n| n.heartbeat()), heartbeat);
}

#[test]
fn a_heartbeat_alone_names_its_node_by_prefix() {
    let mut x = engine::<16, 512, 65_536>("x", 1, Config::new());
    let mut r = engine::<16, 512, 65_536>("r", 2, Config::new());
    let mut i = engine::<16, 512, 65_536>("i", 3, Config::new());
    sync(&mut x, &mut r);
    // Seen alive at r, so that r introduces it.
    beat_and_push(&mut x, &mut r, Instant::ZERO);
    sync(&mut i, &mut r);
    assert!(i.node("x").is_some());
    // r hears x's heartbeat move on; i does not.
    for _ in 0..3 {
        x.tick(
            Instant::ZERO,
            &mut TestRng(1),
            &mut Sink::default(),
            &mut Log::default(),
        );
    }
    sync(&mut x, &mut r);
    let before = i.node("x").map(|n| n.heartbeat()).expect("known");
    let fresh = r.node("x").map(|n| n.heartbeat()).expect("known");
    assert!(fresh > before);
    let seen = exchange(
        &mut i,
        &mut r,
        &mut Log::default(),
        &mut Log::default(),
        |_| false,
    );
    let synack = &seen
        .iter()
        .find(|(k, _)| *k == MessageKind::SynAck)
        .expect("reply")
        .1;
    let (_, hv, _, body) = wire::read_header(synack).expect("header");
    let msg = wire::parse_synack(hv, body).expect("valid");
    let prefix = wire::prefix_of(x.id().ring_hash()).to_be_bytes();
    assert!(
        msg.updates().map(|u| u.expect("valid")).any(
            |u| matches!(u.node, wire::WireNodeRef::Prefix(p) if p == prefix) && u.piece.is_none()
        ),
        "the heartbeat travels under x's 4-byte prefix"
    );
    assert_eq!(i.node("x").map(|n| n.heartbeat()), Some(fresh));
}
