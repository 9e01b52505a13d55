//! The simulator's own tests: determinism, the network model, the lifecycle
//! operations and the accounting.

use std::string::ToString;
use std::time::Duration;
use std::vec::Vec;

use super::*;
use hearsay_core::{Capacity, ConfigError, NodeStatus};

/// 16 node slots, 256 entries, 16 KiB arena, 32-interval windows.
const SMALL: Capacity = Capacity {
    nodes: 16,
    entries: 256,
    state_bytes: 16384,
    window: 32,
};

/// A simulation of [`SMALL`] engines.
fn small(mut config: SimConfig) -> Sim {
    config.capacity = SMALL;
    Sim::new(config)
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Everything a run produced that must replay exactly.
#[derive(Debug, PartialEq)]
struct Outcome {
    hash: u64,
    logs: Vec<Vec<Record>>,
    metrics: Metrics,
    detections: Vec<Detection>,
    false_positives: Vec<FalsePositive>,
}

impl Outcome {
    /// Everything observable about a finished run.
    fn of(sim: &Sim) -> Self {
        Outcome {
            hash: sim.trace_hash(),
            logs: (0..sim.len()).map(|i| sim.log(i).to_vec()).collect(),
            metrics: sim.metrics(),
            detections: sim.detections(),
            false_positives: sim.false_positives().to_vec(),
        }
    }
}

/// Every fault and lifecycle operation, on a hostile network.
fn eventful_run(seed: u64) -> Outcome {
    let mut config = SimConfig::new(seed);
    config.record_keys = true;
    config.engine.dead_grace = secs(40);
    config.engine.tombstone_grace = secs(15);
    config.network = LinkModel {
        latency: Latency::Normal {
            mean: Duration::from_millis(3),
            std_dev: Duration::from_millis(2),
            min: Duration::from_micros(300),
        },
        loss: 0.1,
        duplicate: 0.05,
        reorder: 0.1,
        reorder_delay: Duration::from_millis(30),
    };
    let mut sim = small(config);
    sim.add_nodes(10);
    for i in 0..10 {
        sim.set(i, "role", std::format!("r{i}").as_bytes())
            .expect("set");
    }
    sim.run_for(secs(10));
    sim.set_tracked(4, "role", b"leader").expect("set");
    sim.set_with_ttl(5, "lease", b"x", secs(5)).expect("set");
    sim.set_link(
        2,
        3,
        Some(LinkModel {
            latency: Latency::Constant(Duration::from_millis(40)),
            ..LinkModel::new()
        }),
    );
    sim.run_for(secs(5));
    let cut = sim.partition(&[0, 1, 2, 3], &[4, 5, 6, 7, 8, 9]);
    let one_way = sim.partition_one_way(&[9], &[8]);
    sim.delete(1, "role").expect("delete");
    sim.run_for(secs(25));
    sim.heal(cut);
    sim.crash(6);
    sim.run_for(secs(10));
    sim.heal(one_way);
    sim.resume(6);
    sim.restart(7);
    sim.leave(8).expect("leave");
    sim.add_node();
    sim.set_network(LinkModel::new());
    sim.run_for(secs(60));
    Outcome::of(&sim)
}

#[test]
fn same_seed_same_run_bit_for_bit() {
    let a = eventful_run(11);
    let b = eventful_run(11);
    assert_eq!(a, b);
    assert!(a.metrics.net.duplicated > 0 && a.metrics.net.delayed > 0);
    assert!(a.metrics.net.lost > 0 && a.metrics.net.blocked > 0);
    assert!(a.logs.iter().flatten().any(|r| r.event.kind() == "key-set"));
    let c = eventful_run(12);
    assert_ne!(a.hash, c.hash);
}

#[test]
fn a_small_cluster_converges_and_spreads_a_key() {
    let mut sim = small(SimConfig::new(1));
    sim.add_nodes(8);
    let took = sim.wait_for(secs(30), secs(1), |s| s.converged());
    assert!(took.is_some_and(|t| t <= secs(10)), "{took:?}");
    let id = sim.set_tracked(3, "k", b"v").expect("set");
    assert!(
        sim.wait_for(secs(10), Duration::from_millis(10), |s| {
            s.propagation(id).duration.is_some()
        })
        .is_some()
    );
    let p = sim.propagation(id);
    assert_eq!((p.reached, p.targets), (7, 7));
    assert!(p.rounds.is_some_and(|r| r > 0.0 && r < 5.0), "{p:?}");
    for i in 0..8 {
        let v = sim.engine(i).node("node-0003").and_then(|n| n.get("k"));
        assert_eq!(v, Some(&b"v"[..]));
    }
    // Membership events were recorded with their times.
    let joins = sim
        .log(0)
        .iter()
        .filter(|r| matches!(r.event, SimEvent::Joined(_)))
        .count();
    assert_eq!(joins, 7);
    assert!(sim.log(0).iter().all(|r| r.at <= sim.now()));
}

#[test]
fn partitions_cut_and_heal_in_the_directions_given() {
    let mut sim = small(SimConfig::new(2));
    sim.add_nodes(4);
    assert!(sim.wait_for(secs(30), secs(1), |s| s.converged()).is_some());
    let cut = sim.partition(&[0, 1], &[2, 3]);
    assert!(sim.is_blocked(0, 2) && sim.is_blocked(3, 1) && !sim.is_blocked(0, 1));
    sim.run_for(secs(15));
    let status = |s: &Sim, o: usize, n: &str| s.engine(o).node(n).map(|v| v.status());
    assert_eq!(status(&sim, 0, "node-0002"), Some(NodeStatus::Dead));
    assert_eq!(status(&sim, 3, "node-0001"), Some(NodeStatus::Dead));
    assert_eq!(status(&sim, 0, "node-0001"), Some(NodeStatus::Alive));
    assert!(sim.metrics().net.blocked > 0);
    // Dead across a partition is no false positive.
    assert!(sim.false_positives().is_empty());
    assert!(sim.heal(cut));
    assert!(sim.wait_for(secs(30), secs(1), |s| s.converged()).is_some());
    let back = sim
        .events_about(0, 2)
        .filter(|r| r.event.kind() == "alive-again")
        .count();
    assert_eq!(back, 1);

    // One way: 3 cannot reach 0, 0 still reaches 3.
    sim.partition_one_way(&[3], &[0]);
    assert!(sim.is_blocked(3, 0) && !sim.is_blocked(0, 3));
    sim.heal_all();
    assert!(!sim.is_blocked(3, 0));
}

#[test]
fn crash_resume_restart_and_leave() {
    let mut config = SimConfig::new(3);
    config.engine.leave_linger = secs(2);
    let mut sim = small(config);
    sim.add_nodes(5);
    assert!(sim.wait_for(secs(30), secs(1), |s| s.converged()).is_some());

    // A crash is silent and detected by everyone else.
    sim.crash(4);
    assert_eq!(sim.state(4), NodeState::Crashed);
    sim.reset_metrics();
    sim.run_for(secs(15));
    assert_eq!(sim.metrics().per_node[4], Traffic::default());
    let d = sim.detection(4).expect("tracked");
    assert_eq!(d.latencies.len(), 4);
    assert!(d.is_complete(), "{d:?}");
    assert!(d.median().is_some_and(|m| m > secs(2) && m < secs(10)));

    // Resumed with its state: alive again everywhere, same generation.
    let generation = sim.generation(4);
    sim.resume(4);
    assert!(sim.wait_for(secs(30), secs(1), |s| s.converged()).is_some());
    assert_eq!(sim.generation(4), generation);

    // Restarted: a fresh engine with a higher generation replaces it.
    let newer = sim.restart(4);
    assert!(newer > generation);
    assert_eq!(sim.engine(4).node_count(), 1);
    assert!(sim.wait_for(secs(30), secs(1), |s| s.converged()).is_some());
    let replaced = sim
        .events_about(0, 4)
        .any(|r| matches!(r.event, SimEvent::Replaced { new, .. } if new.generation == newer));
    assert!(replaced);

    // Leaving: ticks until the linger is over, then stops; others see it left.
    sim.leave(2).expect("leave");
    assert_eq!(sim.state(2), NodeState::Leaving);
    sim.run_for(secs(5));
    assert_eq!(sim.state(2), NodeState::Left);
    for o in [0, 1, 3, 4] {
        let status = sim.engine(o).node("node-0002").map(|v| v.status());
        assert_eq!(status, Some(NodeStatus::Left), "node {o}");
    }
    assert!(sim.converged());
    assert!(sim.false_positives().is_empty());
}

#[test]
fn every_datagram_is_accounted_for() {
    let mut config = SimConfig::new(4);
    config.network.loss = 0.2;
    config.network.duplicate = 0.1;
    let mut sim = small(config);
    sim.add_nodes(6);
    sim.run_for(secs(10));
    sim.partition(&[0], &[5]);
    sim.crash(3);
    sim.run_for(secs(10));
    // Stop everyone and let the network drain.
    for i in 0..6 {
        sim.crash(i);
    }
    // Rounds are up to 1.1 intervals apart, so a crashed node's stale
    // timeout may still be queued a second later.
    sim.run_for(secs(2));
    assert_eq!(sim.pending_events(), 0);
    let m = sim.metrics();
    let n = m.net;
    assert_eq!(
        n.sent + n.duplicated,
        n.lost + n.blocked + n.to_down + n.unroutable + n.delivered,
        "{n:?}"
    );
    assert_eq!(m.total.datagrams_out, n.sent);
    assert_eq!(m.total.datagrams_in, n.delivered);
    assert!(n.to_down > 0 && n.blocked > 0 && n.lost > 0 && n.duplicated > 0);
    assert_eq!((n.rejected, n.oversized), (0, 0));
    // 6 nodes ticked about once a second for 10 s, then 5 for 10 s more.
    assert!((100..=125).contains(&m.total.ticks), "{}", m.total.ticks);
    assert!(m.bytes_out_per_node_per_round() > 0.0);
}

#[test]
fn default_engines_run_on_a_test_thread() {
    // The default engine's tables are about 3 MiB, more than a test
    // thread's stack: they must never pass through it.
    let mut sim = Sim::new(SimConfig::new(5));
    assert_eq!(sim.capacity(), Capacity::DEFAULT);
    sim.add_nodes(2);
    sim.restart(1);
    assert!(sim.wait_for(secs(10), secs(1), |s| s.converged()).is_some());
    assert_eq!(sim.name(1).to_string(), "node-0001");
}

#[test]
fn exchanges_outside_ticks_go_through_the_network() {
    let mut sim = small(SimConfig::new(6));
    sim.add_nodes(3);
    let cut = sim.partition_one_way(&[0], &[2]);
    // Before anyone ticks: 0 → 1 arrives, 0 → 2 is cut. A Syn to an
    // address of unknown version goes in both versions (two datagrams).
    assert_eq!(sim.start_exchange(0, 1), Ok(2));
    assert_eq!(sim.start_exchange(0, 2), Ok(2));
    sim.run_until(Duration::from_micros(1500));
    assert!(sim.engine(1).node("node-0000").is_some());
    assert!(sim.engine(2).node("node-0000").is_none());
    assert_eq!(sim.metrics().net.blocked, 2);
    sim.heal(cut);
}

#[test]
fn a_crash_while_leaving_resumes_leaving() {
    let mut config = SimConfig::new(7);
    config.engine.leave_linger = secs(3);
    let mut sim = small(config);
    sim.add_nodes(3);
    assert!(sim.wait_for(secs(30), secs(1), |s| s.converged()).is_some());
    sim.leave(1).expect("leave");
    sim.crash(1);
    sim.run_for(secs(1));
    sim.resume(1);
    assert_eq!(sim.state(1), NodeState::Leaving);
    sim.run_for(secs(5));
    assert_eq!(sim.state(1), NodeState::Left);
    let restarted = sim.restart(1);
    assert_eq!(sim.state(1), NodeState::Running);
    assert!(sim.wait_for(secs(30), secs(1), |s| s.converged()).is_some());
    assert_eq!(sim.generation(1), restarted);
}

#[test]
fn a_ttl_expires_at_its_deadline_not_at_the_next_round() {
    let mut config = SimConfig::new(8);
    config.record_keys = true;
    let mut sim = small(config);
    sim.add_nodes(2);
    // Off the millisecond grid: the engine's clock is in whole ms.
    sim.run_until(Duration::from_micros(5_000_700));
    sim.set_with_ttl(0, "k", b"v", Duration::from_millis(123))
        .expect("set");
    sim.run_for(secs(2));
    let expired: Vec<Duration> = sim
        .log(0)
        .iter()
        .filter(|r| matches!(r.event, SimEvent::KeyExpired { .. }))
        .map(|r| r.at)
        .collect();
    assert_eq!(expired, [Duration::from_millis(5_000 + 123)]);
}

#[test]
fn settings_no_engine_can_use_are_an_error_before_any_node_exists() {
    let mut config = SimConfig::new(9);
    config.capacity.nodes = 0;
    assert_eq!(
        Sim::try_new(config).err(),
        Some(ConfigError::CapacityUnusable)
    );
    // A capacity too small for the engine settings' local reserve.
    let mut config = SimConfig::new(9);
    config.capacity.entries = 1;
    assert_eq!(
        Sim::try_new(config).err(),
        Some(ConfigError::ReserveTooLarge)
    );
    let mut config = SimConfig::new(9);
    config.engine.fanout = 0;
    assert!(Sim::try_new(config).is_err());
}

#[test]
fn more_nodes_than_ever_fitted_in_a_u16_get_distinct_addresses() {
    // Issue 12 simulates thousands of nodes: nothing may wrap at 2^16.
    for i in [1023, 1024, 65_535, 65_536, 70_000, MAX_NODES - 1] {
        assert_eq!(node_index(node_addr(i)), Some(i), "{i}");
    }
    assert_ne!(node_addr(65_536), node_addr(0));
}

#[test]
#[should_panic(expected = "at most 16777215 nodes")]
fn an_address_past_the_last_one_is_refused() {
    let _ = node_addr(MAX_NODES);
}

#[test]
fn a_restart_reuses_the_replaced_engines_memory() {
    let mut sim = small(SimConfig::new(10));
    sim.add_nodes(3);
    assert!(sim.wait_for(secs(30), secs(1), |s| s.converged()).is_some());
    for _ in 0..3 {
        sim.restart(2);
        assert!(sim.wait_for(secs(30), secs(1), |s| s.converged()).is_some());
    }
    // The first restart allocated (node 0 took the memory `try_new`
    // checked with); each later one took the memory the one before freed,
    // so one set is spare, not three.
    assert_eq!(sim.spare_buffers(), 1);
    assert_eq!(sim.engine(2).capacity(), SMALL);
}

#[test]
fn nodes_past_the_old_1024_limit_are_reached_through_the_network() {
    let mut sim = small(SimConfig::new(11));
    let nodes = sim.add_nodes(1100);
    assert_eq!(nodes, 0..1100);
    assert_eq!(sim.addr(1099).to_string(), "10.0.4.76:7946");
    // Before anyone ticks: 1099 → 1 and 0 → 1090 arrive (each Syn in
    // both versions: the addresses' versions are unknown).
    assert_eq!(sim.start_exchange(1099, 1), Ok(2));
    assert_eq!(sim.start_exchange(0, 1090), Ok(2));
    sim.run_until(Duration::from_micros(1500));
    assert!(sim.engine(1).node("node-1099").is_some());
    assert!(sim.engine(1090).node("node-0000").is_some());
    assert_eq!(sim.metrics().net.unroutable, 0);
}

/// Restarts and a late join on a lossy network; with `reuse`, each new
/// engine is built in the memory of one that held a full state, else in
/// fresh memory.
fn restarts_run(reuse: bool) -> Outcome {
    let mut config = SimConfig::new(13);
    config.record_keys = true;
    config.network.loss = 0.1;
    let mut sim = small(config);
    sim.add_nodes(6);
    for i in 0..6 {
        sim.set(i, "role", std::format!("r{i}").as_bytes())
            .expect("set");
    }
    sim.run_for(secs(10));
    for k in [2, 3, 2, 5] {
        if !reuse {
            sim.drop_spare_buffers();
        }
        sim.restart(k);
        sim.set(k, "again", b"yes").expect("set");
        sim.run_for(secs(5));
    }
    if !reuse {
        sim.drop_spare_buffers();
    }
    sim.add_node();
    sim.run_for(secs(30));
    Outcome::of(&sim)
}

#[test]
fn an_engine_in_reused_memory_runs_exactly_as_in_fresh_memory() {
    assert_eq!(restarts_run(true), restarts_run(false));
}

#[test]
fn flapping_is_an_observer_reporting_the_same_incarnation_dead_twice() {
    let mut sim = small(SimConfig::new(14));
    sim.add_nodes(4);
    assert!(sim.wait_for(secs(30), secs(1), |s| s.converged()).is_some());
    // Paused long enough to be convicted, then back: dead, alive again.
    sim.crash(3);
    sim.run_for(secs(15));
    sim.resume(3);
    assert!(sim.wait_for(secs(30), secs(1), |s| s.converged()).is_some());
    // One conviction each: nobody flaps yet.
    assert_eq!(sim.convictions().len(), 3, "{:?}", sim.convictions());
    assert!(sim.flapping().is_empty());
    // Once more: dead again, by the same three observers.
    sim.crash(3);
    sim.run_for(secs(15));
    let me = sim.subject(3);
    let flaps = sim.flapping();
    assert_eq!(flaps.len(), 3, "{flaps:?}");
    // In whatever order their second convictions came.
    let mut observers: Vec<usize> = flaps.iter().map(|f| f.observer).collect();
    observers.sort_unstable();
    assert_eq!(observers, [0, 1, 2], "{flaps:?}");
    assert!(flaps.iter().all(|f| (f.subject, f.convictions) == (me, 2)));
    assert!(sim.convictions().iter().all(|c| c.subject == me));
    // A restarted observer is a new engine: its views start afresh.
    sim.resume(3);
    assert!(sim.wait_for(secs(30), secs(1), |s| s.converged()).is_some());
    sim.restart(0);
    assert!(sim.wait_for(secs(30), secs(1), |s| s.converged()).is_some());
    sim.crash(3);
    sim.run_for(secs(15));
    let flaps = sim.flapping();
    let by_restarted: Vec<_> = flaps.iter().filter(|f| f.observer == 0).collect();
    assert_eq!(by_restarted.len(), 1, "{flaps:?}");
    assert_eq!(by_restarted[0].convictions, 2, "the old engine's two");
    assert!(
        flaps
            .iter()
            .filter(|f| f.observer != 0)
            .all(|f| f.convictions == 3)
    );
}
