//! A node that was paused (SIGSTOP, a VM pause, a laptop suspend, a long
//! stop of the host program) and resumes must not convict its healthy
//! peers: during the pause it heard nothing, through no fault of theirs
//! (issue 9, item 2). A peer that really crashed during the pause must still
//! be reported dead after it.
//!
//! 8 nodes gossip every 100 ms with the detector scaled to that interval
//! (a timeout of about 0.4 s), on a data-centre-like network without loss;
//! node 4 is paused ([`Sim::crash`], engine state kept) and resumed
//! ([`Sim::resume`]) after 5 s, 30 s and 10 minutes. Debug-build sizes: the
//! 10-minute pause runs two seeds (about 20 s of CPU each in debug), the
//! shorter ones five.

use std::time::Duration;

use hearsay_core::{Capacity, Config, NodeStatus};
use hearsay_sim::{Latency, Sim, SimConfig, SimEvent};
use hearsay_std::builder::scaled_detector;

/// 16 node slots, 256 entries, 16 KiB arena, 100-interval windows.
const SMALL: Capacity = Capacity {
    nodes: 16,
    entries: 256,
    state_bytes: 16384,
    window: 100,
};

const INTERVAL: Duration = Duration::from_millis(100);
const PAUSED: usize = 4;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// 8 nodes at a 100 ms interval, converged.
fn cluster(seed: u64) -> Sim {
    let off: u64 = std::env::var("HEARSAY_SEED_OFFSET")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut c = SimConfig::new(seed + off * 1000);
    c.engine = Config {
        gossip_interval: INTERVAL,
        detector: scaled_detector(INTERVAL),
        ..Config::new()
    };
    c.network.latency = Latency::Normal {
        mean: Duration::from_millis(1),
        std_dev: Duration::from_micros(500),
        min: Duration::from_micros(100),
    };
    c.capacity = SMALL;
    let mut sim = Sim::new(c);
    sim.add_nodes(8);
    assert!(
        sim.wait_for(secs(20), INTERVAL, |s| s.converged())
            .is_some(),
        "seed {seed}: no convergence"
    );
    sim
}

/// The nodes `observer` reported dead at or after `since`, by index.
fn dead_reported_by(sim: &Sim, observer: usize, since: Duration) -> Vec<(usize, Duration)> {
    sim.log(observer)
        .iter()
        .filter(|r| r.at >= since)
        .filter_map(|r| match r.event {
            SimEvent::Dead(s) => Some((s.node, r.at)),
            _ => None,
        })
        .collect()
}

/// Pauses node 4 for `pause`, resumes it, and checks that it convicts none
/// of its running peers while the cluster converges again and for 5 s
/// (more than ten of their timeouts) after that.
fn resumed_node_convicts_nobody(seed: u64, pause: Duration) {
    let mut sim = cluster(seed);
    sim.crash(PAUSED);
    sim.run_for(pause);
    let resumed_at = sim.now();
    sim.resume(PAUSED);
    assert!(
        sim.wait_for(secs(20), INTERVAL, |s| s.converged())
            .is_some(),
        "seed {seed}, pause {pause:?}: no convergence after resuming"
    );
    sim.run_for(secs(5));
    let dead = dead_reported_by(&sim, PAUSED, resumed_at);
    assert!(
        dead.is_empty(),
        "seed {seed}, pause {pause:?}: resumed at {resumed_at:?}, node 4 reported running peers dead: {dead:?}"
    );
    // Its peers did convict it during the pause, and it is back with them.
    for o in (0..8).filter(|&o| o != PAUSED) {
        let kinds: Vec<&str> = sim
            .events_about(o, PAUSED)
            .map(|r| r.event.kind())
            .collect();
        assert_eq!(
            kinds,
            ["joined", "dead", "alive-again"],
            "seed {seed}, node {o}"
        );
    }
    assert!(sim.converged());
    let c = sim.engine(PAUSED).counters();
    assert_eq!(c.local_stalls, 1, "seed {seed}, pause {pause:?}");
    // Nobody else noticed a stall of their own.
    for o in (0..8).filter(|&o| o != PAUSED) {
        assert_eq!(sim.engine(o).counters().local_stalls, 0, "node {o}");
    }
}

#[test]
fn a_node_resumed_after_5_s_convicts_no_running_peer() {
    for seed in 1..=5 {
        resumed_node_convicts_nobody(9100 + seed, secs(5));
    }
}

#[test]
fn a_node_resumed_after_30_s_convicts_no_running_peer() {
    for seed in 1..=5 {
        resumed_node_convicts_nobody(9200 + seed, secs(30));
    }
}

#[test]
fn a_node_resumed_after_10_minutes_convicts_no_running_peer() {
    for seed in 1..=2 {
        resumed_node_convicts_nobody(9300 + seed, secs(600));
    }
}

/// While node 4 is paused, node 6 crashes for good: after resuming, node 4
/// reports node 6 dead (within a few timeouts) and nobody else.
#[test]
fn a_peer_that_crashed_during_the_pause_is_still_convicted_after_it() {
    const VICTIM: usize = 6;
    for seed in 1..=5 {
        let mut sim = cluster(9400 + seed);
        sim.crash(PAUSED);
        sim.run_for(secs(10));
        sim.crash(VICTIM);
        sim.run_for(secs(20));
        let resumed_at = sim.now();
        sim.resume(PAUSED);
        let took = sim.wait_for(secs(10), Duration::from_millis(10), |s| {
            s.engine(PAUSED)
                .node("node-0006")
                .is_some_and(|v| v.status() == NodeStatus::Dead)
        });
        let took = took.unwrap_or_else(|| panic!("seed {seed}: node 4 never convicted node 6"));
        // Detection restarts at the resume: about one timeout (~0.4 s) plus
        // the first tick's phase; not at once, and not much later either.
        assert!(
            took >= Duration::from_millis(200) && took <= secs(3),
            "seed {seed}: node 6 convicted {took:?} after the resume"
        );
        sim.run_for(secs(5));
        let dead = dead_reported_by(&sim, PAUSED, resumed_at);
        assert_eq!(
            dead.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            [VICTIM],
            "seed {seed}: {dead:?}"
        );
        assert_eq!(sim.engine(PAUSED).counters().local_stalls, 1);
    }
}
