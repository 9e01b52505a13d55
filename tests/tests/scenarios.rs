//! Scenario tests on the deterministic simulator (`hearsay_sim`):
//! the membership and state guarantees of issue 4, each asserted and each
//! able to fail.
//!
//! `cargo test --workspace` builds these in debug, where an engine handles a
//! datagram ~25× slower than in release, so the sizes are chosen to keep the
//! whole file well under a minute on two cores (measured: ~35 s of CPU in
//! all, the longest test ~16 s; issue 13's three fault scenarios at the
//! end add ~19 s of CPU: 3 s, 11 s and 5 s, measured one at a time with a
//! simulation running beside them); the full-size runs are in the
//! `simulate` example. Each test says its size. In release
//! (`cargo test --release -p tests --test scenarios`, ~10 s) scenario 1 runs
//! its full size: 100 nodes for one simulated hour.
//!
//! Every scenario also checks, for every observer and every node
//! incarnation, that membership events follow the lifecycle (joined once,
//! dead only when alive, alive again only when dead) and that the network
//! never carried a datagram over the mtu or one an engine rejected.
//!
//! Runs are deterministic: each test has a fixed seed. To try other seeds,
//! set `HEARSAY_SEED_OFFSET=k` (each seed becomes `seed + 1000 k`). The
//! tests at the end reproduce core problems the scenarios hit with other
//! seeds, fixed since.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use hearsay_core::{Capacity, Config, NodeStatus};
use hearsay_sim::{Latency, NodeState, Sim, SimConfig, SimEvent, Subject};

const SECOND: Duration = Duration::from_secs(1);

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// A data-centre-like network with `loss`: latency around 1 ms with a tail.
fn sim_config(seed: u64, loss: f64, engine: Config) -> SimConfig {
    let off: u64 = std::env::var("HEARSAY_SEED_OFFSET")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut c = SimConfig::new(seed + off * 1000);
    c.engine = engine;
    c.network.loss = loss;
    c.network.latency = Latency::Normal {
        mean: Duration::from_millis(1),
        std_dev: Duration::from_micros(500),
        min: Duration::from_micros(100),
    };
    c
}

/// Checks every observer's membership events against the lifecycle, per
/// observing and observed incarnation: joined (from unknown or removed), dead only when alive,
/// alive again only when dead.
fn assert_lifecycle(sim: &Sim) {
    #[derive(Clone, Copy, PartialEq, Debug)]
    enum S {
        Unknown,
        Alive,
        Dead,
        Gone,
    }
    for obs in 0..sim.len() {
        let mut state: BTreeMap<Subject, S> = BTreeMap::new();
        let mut incarnation = None;
        for r in sim.log(obs) {
            if incarnation != Some(r.observer_generation) {
                // The observer restarted: a fresh engine knows nothing.
                incarnation = Some(r.observer_generation);
                state.clear();
            }
            let e = &r.event;
            let s = e.subject();
            let cur = *state.get(&s).unwrap_or(&S::Unknown);
            let next = match e {
                SimEvent::Joined(_) => {
                    assert!(
                        matches!(cur, S::Unknown | S::Gone),
                        "observer {obs} at {:?}: {e:?} while {cur:?}",
                        r.at
                    );
                    S::Alive
                }
                SimEvent::Dead(_) => {
                    assert_eq!(cur, S::Alive, "observer {obs} at {:?}: {e:?}", r.at);
                    S::Dead
                }
                SimEvent::AliveAgain(_) => {
                    assert_eq!(cur, S::Dead, "observer {obs} at {:?}: {e:?}", r.at);
                    S::Alive
                }
                SimEvent::Left(_) => S::Gone,
                SimEvent::Removed(_) | SimEvent::Replaced { .. } => S::Gone,
                _ => cur,
            };
            state.insert(s, next);
        }
    }
    let net = sim.metrics().net;
    assert_eq!(net.oversized, 0, "datagrams over the mtu");
    assert_eq!(
        net.rejected, 0,
        "datagrams rejected between correct engines"
    );
}

/// Every `dead` event any observer recorded, as (observer, subject, time).
fn dead_reports(sim: &Sim) -> Vec<(usize, Subject, Duration)> {
    (0..sim.len())
        .flat_map(|o| {
            sim.log(o).iter().filter_map(move |r| match r.event {
                SimEvent::Dead(s) => Some((o, s, r.at)),
                _ => None,
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Scenario 1: 100 nodes from 3 seeds, 10% loss, 1 s interval.

/// 128 node slots, 1024 entries, 32 KiB arena, 100-interval windows
/// (about 138 KiB per node).
const SIM128: Capacity = Capacity {
    nodes: 128,
    entries: 1024,
    state_bytes: 32768,
    window: 100,
};

/// A simulation of [`SIM128`] engines.
fn sim128(mut config: SimConfig) -> Sim {
    config.capacity = SIM128;
    Sim::new(config)
}

/// Simulated length of the 100-node run: one hour in release (~9 s); in
/// debug the 100-node hour would take ~210 s of CPU (measured: 3.5 s per
/// simulated minute), so it stops after 5 minutes (~13 s of CPU) and
/// `s1_one_hour_at_ten_percent_loss_without_false_positives` covers the hour
/// with fewer nodes.
///
/// With this seed no live node is ever reported dead. With other seeds, 11
/// of 200 runs of this setting have one node convicted in the first 6 s
/// (never later): see `a_joining_node_is_not_convicted_after_two_lost_datagrams`.
const S1_HORIZON: Duration = if cfg!(debug_assertions) {
    Duration::from_secs(300)
} else {
    Duration::from_secs(3600)
};

/// Nodes of the one-hour run: 100 in release, 30 in debug (~16 s of CPU
/// there).
const S1_HOUR_NODES: usize = if cfg!(debug_assertions) { 30 } else { 100 };

#[test]
fn s1_hundred_nodes_converge_spread_a_key_and_detect_a_crash() {
    let mut sim = sim128(sim_config(101, 0.10, Config::new()));
    sim.add_nodes(100);

    // Everyone lists everyone else as alive.
    let converged = sim.wait_for(secs(60), SECOND, |s| s.converged());
    assert!(converged.is_some(), "100 nodes did not converge in 60 s");
    for i in 0..100 {
        assert_eq!(sim.engine(i).live_nodes().count(), 99, "node {i}");
    }

    // A key update reaches every node.
    let update = sim.set_tracked(42, "http", b"10.0.0.43:8080").expect("set");
    let took = sim.wait_for(secs(30), Duration::from_millis(100), |s| {
        s.propagation(update).duration.is_some()
    });
    let p = sim.propagation(update);
    assert!(took.is_some(), "not everywhere after 30 s: {p:?}");
    let rounds = p.rounds.expect("complete");
    assert!(rounds <= 8.0, "took {rounds} rounds: {p:?}");
    for i in 0..100 {
        let v = sim.engine(i).node("node-0042").and_then(|n| n.get("http"));
        assert_eq!(v, Some(&b"10.0.0.43:8080"[..]), "node {i}");
    }

    // A silent crash is detected by every live node.
    sim.run_for(secs(5));
    sim.crash(17);
    let crashed = sim.subject(17);
    sim.run_for(secs(30));
    let d = sim.detection(17).expect("crash tracked");
    assert_eq!(d.latencies.len(), 99);
    assert!(d.is_complete(), "not detected by all: {d:?}");
    let max = d.max().expect("complete");
    assert!(max <= secs(15), "slowest detection {max:?}");
    for i in (0..100).filter(|&i| i != 17) {
        let status = sim.engine(i).node("node-0017").map(|n| n.status());
        assert_eq!(status, Some(NodeStatus::Dead), "node {i}");
    }

    // No live node is ever reported dead.
    sim.run_until(S1_HORIZON);
    assert!(sim.converged(), "the 99 survivors lost each other");
    let wrong: Vec<_> = dead_reports(&sim)
        .into_iter()
        .filter(|(_, s, _)| *s != crashed)
        .collect();
    assert!(wrong.is_empty(), "live nodes reported dead: {wrong:?}");
    assert!(sim.false_positives().is_empty());
    assert_lifecycle(&sim);
}

#[test]
fn s1_one_hour_at_ten_percent_loss_without_false_positives() {
    let mut sim = sim128(sim_config(102, 0.10, Config::new()));
    sim.add_nodes(S1_HOUR_NODES);
    assert!(sim.wait_for(secs(60), SECOND, |s| s.converged()).is_some());
    sim.run_until(secs(3600));
    assert!(sim.converged());
    let dead = dead_reports(&sim);
    assert!(dead.is_empty(), "live nodes reported dead: {dead:?}");
    assert!(sim.false_positives().is_empty());
    assert_lifecycle(&sim);
}

// ---------------------------------------------------------------------------
// Scenario 2: a 50/50 partition longer than the tombstone grace.

/// 32 node slots, 512 entries, 32 KiB arena, 100-interval windows (about
/// 73 KiB per node).
const SIM32: Capacity = Capacity {
    nodes: 32,
    entries: 512,
    state_bytes: 32768,
    window: 100,
};

/// A simulation of [`SIM32`] engines.
fn sim32(mut config: SimConfig) -> Sim {
    config.capacity = SIM32;
    Sim::new(config)
}

/// 20 nodes (10 | 10), 6 keys each, 5% loss; tombstone grace 30 s, dead
/// grace 10 min (nobody is removed), partition 95 s, deletions 5 s into it.
/// With this seed only nodes across the partition are reported dead; with
/// other seeds a node on the same side sometimes was too, before peer
/// selection set unresponsive peers aside (see
/// `a_partition_does_not_get_healthy_nodes_on_the_same_side_convicted`).
#[test]
fn s2_deletions_on_both_sides_of_a_long_partition_win_everywhere() {
    let mut engine = Config::new();
    engine.tombstone_grace = secs(30);
    engine.dead_grace = secs(600);
    let mut config = sim_config(202, 0.05, engine);
    config.record_keys = true;
    let mut sim = sim32(config);
    let n = 20;
    sim.add_nodes(n);
    let keys = ["k0", "k1", "k2", "k3", "k4", "k5"];
    for i in 0..n {
        for k in keys {
            sim.set(i, k, format!("{k}@{i}").as_bytes()).expect("set");
        }
    }
    let everywhere = |s: &Sim| {
        (0..n).all(|o| {
            (0..n).all(|owner| {
                let node = s.engine(o).node(s.name(owner));
                node.is_some_and(|v| {
                    v.max_version() == s.engine(owner).local_node().map_or(0, |l| l.max_version())
                })
            })
        })
    };
    assert!(
        sim.wait_for(secs(60), SECOND, |s| s.converged() && everywhere(s))
            .is_some()
    );

    let a: Vec<usize> = (0..n / 2).collect();
    let b: Vec<usize> = (n / 2..n).collect();
    let cut = sim.partition(&a, &b);
    sim.run_for(secs(5));

    // Deletions on both sides, and an update that must survive.
    let deleted_at = sim.now();
    let mut deleted: BTreeSet<(usize, &str)> = BTreeSet::new();
    for owner in [3, 4, 5, 6] {
        for k in ["k1", "k2"] {
            assert!(sim.delete(owner, k).expect("delete"));
            deleted.insert((owner, k));
        }
    }
    for owner in [12, 13, 14, 15] {
        for k in ["k1", "k3"] {
            assert!(sim.delete(owner, k).expect("delete"));
            deleted.insert((owner, k));
        }
    }
    sim.set(7, "k4", b"updated during the partition")
        .expect("set");
    sim.set(16, "k4", b"updated during the partition")
        .expect("set");

    // The partition outlasts the tombstone grace: the owners collect their
    // tombstones. Owners 3, 4, 12 and 13 then write again, which tells the
    // relays on their side their collection point, so those relays drop the
    // tombstones too and the other side can only catch up through a reset.
    // The other owners' relays keep theirs (relays collect only on the
    // owner's word), so their deletions can also travel as plain deltas.
    sim.run_for(secs(40));
    let published = [3, 4, 12, 13];
    for owner in published {
        sim.set(owner, "k5", b"written after the collection")
            .expect("set");
    }
    sim.run_for(secs(45));
    for &(owner, key) in &deleted {
        let local = sim.engine(owner).local_node().expect("local");
        assert!(
            local.entry(key).is_none(),
            "tombstone {owner}/{key} not collected"
        );
        assert!(local.last_gc_version() > 0);
        if published.contains(&owner) {
            let same_side = if owner < n / 2 { &a } else { &b };
            for &o in same_side {
                let view = sim.engine(o).node(sim.name(owner)).expect("known");
                assert!(
                    view.entry(key).is_none(),
                    "{o} kept {owner}/{key}'s tombstone"
                );
            }
        }
    }
    for &(owner, key) in &deleted {
        let other_side = if owner < n / 2 { &b } else { &a };
        for &o in other_side {
            let v = sim.engine(o).node(sim.name(owner)).and_then(|v| v.get(key));
            assert!(
                v.is_some(),
                "{o} cannot have seen {owner}/{key} deleted yet"
            );
        }
    }

    assert!(sim.heal(cut));
    let settled = sim.wait_for(secs(120), SECOND, |s| s.converged() && everywhere(s));
    assert!(settled.is_some(), "no convergence 120 s after the heal");
    sim.run_for(secs(10));

    // Deletions won everywhere; everything else is intact.
    for o in 0..n {
        for owner in 0..n {
            let view = sim.engine(o).node(sim.name(owner)).expect("known");
            for k in keys {
                let got = view.get(k);
                let want = sim.engine(owner).get(k);
                assert_eq!(got, want, "node {o} shows {owner}/{k} wrong");
                if deleted.contains(&(owner, k)) {
                    assert_eq!(got, None);
                }
            }
        }
    }
    // Where no tombstone was left, the other side caught up through resets.
    for owner in published {
        let other_side = if owner < n / 2 { &b } else { &a };
        for &o in other_side {
            let reset = sim
                .events_about(o, owner)
                .any(|r| matches!(r.event, SimEvent::ResetApplied(s) if s.node == owner));
            assert!(reset, "node {o} never reset node {owner}");
        }
    }
    // Continuously: after its deletion, a deleted key is never set again
    // anywhere, at any time (every node held it before the partition, so
    // any `KeySet` of it later is a resurrection), and it disappears from
    // every observer exactly once.
    for o in 0..n {
        let mut gone: BTreeSet<(usize, String)> = BTreeSet::new();
        for r in sim.log(o) {
            match &r.event {
                SimEvent::KeyDeleted { node, key, .. }
                    if deleted.contains(&(node.node, key.as_str())) =>
                {
                    assert!(
                        gone.insert((node.node, key.clone())),
                        "node {o} at {:?}: {}/{key} deleted twice",
                        r.at,
                        node.node
                    );
                }
                SimEvent::KeySet {
                    node, key, version, ..
                } => {
                    let resurrected =
                        deleted.contains(&(node.node, key.as_str())) && r.at >= deleted_at;
                    assert!(
                        !resurrected,
                        "node {o} at {:?}: deleted key {}/{key} reappeared (version {version})",
                        r.at, node.node
                    );
                }
                _ => {}
            }
        }
        // Every deletion reached this observer.
        for &(owner, key) in deleted.iter().filter(|(owner, _)| *owner != o) {
            assert!(
                gone.contains(&(owner, key.to_string())),
                "node {o} missed {owner}/{key}"
            );
        }
    }
    // Nobody was removed, nobody was replaced; dead reports are all across
    // the partition.
    for (o, s, at) in dead_reports(&sim) {
        assert_ne!(
            o < n / 2,
            s.node < n / 2,
            "{o} reported {s:?} dead at {at:?}"
        );
    }
    assert!(sim.false_positives().is_empty());
    assert_lifecycle(&sim);
}

// ---------------------------------------------------------------------------
// Scenario 3: rolling restart.

/// 30 nodes, 5% loss, dead grace 60 s; each node restarts as a new
/// generation, one every 10 s.
#[test]
fn s3_rolling_restart_never_reports_a_replaced_node_dead() {
    let mut engine = Config::new();
    engine.dead_grace = secs(60);
    let mut sim = sim32(sim_config(303, 0.05, engine));
    let n = 30;
    sim.add_nodes(n);
    for i in 0..n {
        sim.set(i, "role", b"worker").expect("set");
    }
    assert!(sim.wait_for(secs(60), SECOND, |s| s.converged()).is_some());

    let mut old: Vec<Subject> = Vec::new();
    for i in 0..n {
        old.push(sim.subject(i));
        let generation = sim.restart(i);
        assert!(generation > old[i].generation);
        sim.set(i, "role", b"worker").expect("set");
        sim.run_for(secs(10));
    }
    // Past the dead grace: only current generations anywhere.
    sim.run_for(secs(70));
    assert!(sim.converged());
    for o in 0..n {
        assert_eq!(sim.engine(o).node_count(), n, "node {o}");
        for v in sim.engine(o).nodes() {
            let i = hearsay_sim::node_index(v.id().addr).expect("simulated node");
            assert_eq!(
                v.id().generation,
                sim.generation(i),
                "node {o} lists a stale {}",
                v.id()
            );
        }
    }
    let dead = dead_reports(&sim);
    assert!(dead.is_empty(), "replaced nodes reported dead: {dead:?}");
    // Every observer that knew an old generation saw it replaced.
    for o in 0..n {
        for i in (0..n).filter(|&i| i != o) {
            let replaced = sim
                .events_about(o, i)
                .any(|r| matches!(r.event, SimEvent::Replaced { old: s, .. } if s == old[i]));
            // Observers restarted before i restarted knew only i's old
            // generation from their new incarnation; all knew it.
            assert!(replaced, "node {o} never saw node {i} replaced");
        }
    }
    assert!(sim.false_positives().is_empty());
    assert_lifecycle(&sim);
}

// ---------------------------------------------------------------------------
// Scenario 4: a late joiner after a dead node's removal.

/// 8 nodes, dead grace 60 s: node 5 dies and is removed; then a node that
/// slept through it (holding node 5 as alive) wakes up, and a brand-new
/// node joins.
#[test]
fn s4_late_joiners_after_a_removal_do_not_resurrect_the_dead() {
    let mut engine = Config::new();
    engine.dead_grace = secs(60);
    let mut sim = sim32(sim_config(404, 0.05, engine));
    sim.add_nodes(8);
    assert!(sim.wait_for(secs(60), SECOND, |s| s.converged()).is_some());
    let (victim, sleeper) = (5, 7);
    let victim_name = sim.name(victim).to_string();
    let survivors: Vec<usize> = (0..8).filter(|&i| i != victim && i != sleeper).collect();

    sim.crash(sleeper);
    sim.crash(victim);
    sim.run_for(secs(75));
    for &o in &survivors {
        assert!(
            sim.engine(o).node(&victim_name).is_none(),
            "node {o} kept it"
        );
        assert!(
            sim.events_about(o, victim)
                .any(|r| matches!(r.event, SimEvent::Removed(_))),
            "node {o} never removed it"
        );
    }
    assert_eq!(
        sim.engine(sleeper).node(&victim_name).map(|v| v.status()),
        Some(NodeStatus::Alive),
        "the sleeper still believes in it"
    );

    sim.resume(sleeper);
    let resumed = sim.now();
    let joiner = sim.add_node();
    // For twice the grace, every second: survivors never list the victim
    // again, and nobody lists it live — except the sleeper for one timeout
    // (~4 s) after it woke: a node that was itself paused gives the peers it
    // held alive a fresh chance to be heard from before convicting them.
    for _ in 0..150 {
        sim.run_for(SECOND);
        for &o in &survivors {
            assert!(
                sim.engine(o).node(&victim_name).is_none(),
                "node {o} resurrected it at {:?}",
                sim.now()
            );
        }
        for o in [sleeper, joiner] {
            if o == sleeper && sim.now() < resumed + secs(6) {
                continue;
            }
            let status = sim.engine(o).node(&victim_name).map(|v| v.status());
            assert_ne!(
                status,
                Some(NodeStatus::Alive),
                "node {o} at {:?}",
                sim.now()
            );
        }
    }
    for o in (0..sim.len()).filter(|&o| o != victim) {
        assert!(
            sim.engine(o).node(&victim_name).is_none(),
            "node {o} still lists it"
        );
        let back = sim
            .events_about(o, victim)
            .filter(|r| matches!(r.event, SimEvent::Joined(_) | SimEvent::AliveAgain(_)));
        assert!(back.count() <= 1, "node {o} saw it come back");
    }
    // The joiner may have heard of the victim from the sleeper, but only as
    // a node it never saw alive (pending), and dropped it after the grace.
    for r in sim.events_about(joiner, victim) {
        eprintln!("joiner: {r:?}");
        assert!(matches!(r.event, SimEvent::Removed(_)), "joiner: {r:?}");
    }
    assert!(sim.converged());
    assert_eq!(sim.engine(joiner).live_nodes().count(), 7);
    assert!(
        (0..sim.len()).any(|o| sim.engine(o).counters().resurrections_refused > 0),
        "the sleeper's stale gossip never reached anyone"
    );
    assert_lifecycle(&sim);
}

// ---------------------------------------------------------------------------
// Scenario 5: a flapping node.

/// 10 nodes, 5% loss; node 6 pauses for 15 s (its timeout is ~4–5 s) and
/// resumes for 30 s, five times, with its engine state intact.
#[test]
fn s5_a_flapping_node_is_reported_dead_and_alive_in_order_by_everyone() {
    let mut engine = Config::new();
    engine.dead_grace = secs(600);
    let mut sim = sim32(sim_config(505, 0.05, engine));
    sim.add_nodes(10);
    assert!(sim.wait_for(secs(60), SECOND, |s| s.converged()).is_some());
    let flapper = 6;
    let me = sim.subject(flapper);
    let mut pauses: Vec<(Duration, Duration)> = Vec::new();
    for _ in 0..5 {
        let start = sim.now();
        sim.crash(flapper);
        sim.run_for(secs(15));
        let end = sim.now();
        sim.resume(flapper);
        pauses.push((start, end));
        sim.run_for(secs(30));
    }
    assert!(sim.converged());
    assert_eq!(sim.state(flapper), NodeState::Running);
    for o in (0..10).filter(|&o| o != flapper) {
        let seq: Vec<(&str, Duration)> = sim
            .events_about(o, flapper)
            .map(|r| {
                assert_eq!(r.event.subject(), me);
                (r.event.kind(), r.at)
            })
            .collect();
        let kinds: Vec<&str> = seq.iter().map(|(k, _)| *k).collect();
        let mut want = vec!["joined"];
        for _ in 0..5 {
            want.extend(["dead", "alive-again"]);
        }
        assert_eq!(kinds, want, "node {o}");
        for (p, (start, end)) in pauses.iter().enumerate() {
            let (_, dead_at) = seq[1 + 2 * p];
            let (_, back_at) = seq[2 + 2 * p];
            assert!(
                *start < dead_at && dead_at <= *end,
                "node {o}, pause {p}: dead at {dead_at:?}"
            );
            assert!(
                *end < back_at && back_at <= *end + secs(10),
                "node {o}, pause {p}: back at {back_at:?}"
            );
        }
    }
    // Nobody else was ever reported dead, not even by the flapper right
    // after a pause (it notices its own stall and gives its peers a fresh
    // chance).
    for (o, s, at) in dead_reports(&sim) {
        assert!(s == me, "{o} reported {s:?} dead at {at:?}");
    }
    assert_eq!(sim.engine(flapper).counters().local_stalls, 5);
    assert!(sim.false_positives().is_empty());
    assert_lifecycle(&sim);
}

// ---------------------------------------------------------------------------
// Problems the simulator found in core, fixed, kept as regression tests.

/// Scenario 1's setting (100 nodes, 3 seeds, 10% loss) with seed 5101:
/// seed node 0 reports node 86 dead at 4.951 s although node 86 runs and
/// is reachable throughout. Node 86 joined node 0's view at 0.543 s (its
/// first Syn, heartbeat 1). It then still had no live peer (peers turn live
/// only when their heartbeat is seen to advance, which takes a second
/// exchange), so at each tick it sent a single Syn to one seed; the Syns of
/// its ticks 2 and 3 (1.7 s, 2.7 s) were both lost (10% each), nobody else
/// relays what nobody else has heard, and node 0's detector, seeded with the
/// 1 s ± 250 ms prior, convicts 4.3 s after the one heartbeat it saw. Node
/// 86 is alive again at node 0 2.6 ms later. Across 200 seeds, 11 of 200
/// 100-node runs at 10% loss (1 of 200 at 50 nodes, none at 0% loss) have
/// such a report in their first 6 s; always a seed as the observer. Steady
/// state over 24 simulated hours (24 seeds × 1 h): none.
///
/// Fixed: while fewer peers than the fanout are live, a node also gossips
/// with pending peers, and while none is live it contacts up to `fanout`
/// seeds, so its heartbeat reaches several nodes from its first rounds.
/// With `HEARSAY_SEED_OFFSET` 0 to 40, no run has such a report.
#[test]
fn a_joining_node_is_not_convicted_after_two_lost_datagrams() {
    let mut sim = sim128(sim_config(5101, 0.10, Config::new()));
    sim.add_nodes(100);
    sim.run_for(secs(6));
    let dead = dead_reports(&sim);
    assert!(dead.is_empty(), "live nodes reported dead: {dead:?}");
    assert!(sim.false_positives().is_empty());
}

/// 100 nodes, no loss, seed 1: after convergence and 30 s of steady state,
/// a 50/50 partition; for 10 s nobody may report a node of its own side
/// dead.
///
/// Before the fix, 5.96 s after the split node 26 reported node 5 dead
/// although both were on the same side and the network between them was
/// perfect. Until the other side is detected dead (~5 s), every node kept
/// choosing half of its gossip peers among unreachable nodes, so heartbeats
/// spread through each side at about half speed: node 5's heartbeats 38 and
/// 39 took over 2 s to reach a second node of its side, and node 26 (last
/// advance at 36.98 s, timeout 4.90 s) heard heartbeat 40 at 41.96 s, just
/// after convicting. With seed offsets 1 to 40 (release), 15 of 40 runs had
/// such a report (12 of 40 with a 2 s acceptable pause measured earlier,
/// 0 of 40 with 3 s, at the cost of a median detection 0.9 s longer).
///
/// Fixed without touching the detector: a live peer whose heartbeat has not
/// moved for a quarter of its timeout, or that left three exchanges in a row
/// unanswered (every Syn is answered now, if only by an empty SynAck), no
/// longer takes a fanout slot; it is probed now and then instead. Measured
/// (release, seed offsets): with a third of the timeout and rounds at a
/// fixed period, 0 of 40 for 1 to 40 and 1 of 60 for 41 to 100 (10% loss:
/// 1 of 40); once rounds carried the deadline API's ±10 % jitter, 1 of 80
/// for 1 to 80 with a third, 0 of 80 with a quarter (the setting now). Counting unanswered exchanges alone
/// (without the heartbeat sign) leaves 15 of 40 (11 of 40 at one
/// unanswered exchange): with a fanout of 3 among 100 nodes, a node tries a
/// given peer about once in 30 rounds.
#[test]
fn a_partition_does_not_get_healthy_nodes_on_the_same_side_convicted() {
    let mut sim = sim128(sim_config(1, 0.0, Config::new()));
    sim.add_nodes(100);
    assert!(sim.wait_for(secs(60), SECOND, |s| s.converged()).is_some());
    sim.run_for(secs(30));
    let a: Vec<usize> = (0..50).collect();
    let b: Vec<usize> = (50..100).collect();
    let split_at = sim.now();
    sim.partition(&a, &b);
    sim.run_for(secs(10));
    let same_side: Vec<_> = dead_reports(&sim)
        .into_iter()
        .filter(|(o, s, at)| *at > split_at && (*o < 50) == (s.node < 50))
        .collect();
    assert!(
        same_side.is_empty(),
        "same-side nodes reported dead: {same_side:?}"
    );
    assert!(sim.false_positives().is_empty());
}

// ---------------------------------------------------------------------------
// Rolling upgrade across protocol versions (issue 11).

/// Whether every running node holds every other node's `"v"` key at the
/// value it last wrote.
fn keys_spread(sim: &Sim, value: &[u8]) -> bool {
    let running = sim.running();
    running.iter().all(|&o| {
        running.iter().all(|&i| {
            sim.engine(o).node(sim.name(i)).is_some_and(|n| {
                n.id().generation == sim.generation(i) && n.get("v") == Some(value)
            })
        })
    })
}

/// Datagrams engines rejected for any reason other than speaking a
/// version the receiver does not (which a node held at version 3 must
/// refuse, as the old release does).
fn rejected_other_than_version(sim: &Sim) -> u64 {
    (0..sim.len())
        .map(|i| {
            let c = sim.engine(i).counters();
            c.rejected_total() - c.rejected(hearsay_core::DecodeError::UnsupportedVersion)
        })
        .sum()
}

/// 20 nodes, 5% loss: 10 of the old release (protocol version 3, the
/// seeds among them) and 10 of the new (version 4). The mixed cluster
/// converges, every node's key reaches everyone, nobody is reported dead;
/// then the old half restarts one by one as version 4, keys change again
/// and spread, and no live node is ever reported dead. Afterwards nobody
/// speaks a version anybody refuses.
#[test]
fn a_mixed_version_cluster_converges_and_upgrades_node_by_node() {
    let old = Config {
        protocol_version: 3,
        dead_grace: secs(60),
        ..Config::new()
    };
    let new = Config {
        protocol_version: 4,
        ..old.clone()
    };
    let mut sim = sim32(sim_config(1101, 0.05, old));
    sim.add_nodes(10);
    sim.set_engine_config(new).expect("valid settings");
    sim.add_nodes(10);
    for i in 0..20 {
        sim.set(i, "v", b"1").expect("set");
    }
    let mixed = sim.wait_for(secs(60), SECOND, |s| s.converged() && keys_spread(s, b"1"));
    assert!(mixed.is_some(), "the mixed cluster did not converge");
    sim.run_for(secs(30));
    // By now each new node has heard each old one and speaks 3 to it;
    // only one Syn in `VERSION_PROBE_EVERY` (4) also goes in 4, which the
    // old node refuses. Measured: 119 refused in these 30 s (491 when new
    // nodes spoke 4 to old ones they had heard speak 3).
    sim.reset_metrics();
    sim.run_for(secs(30));
    let refused = sim.metrics().net.rejected;
    assert!(refused <= 200, "{refused} datagrams refused in 30 s");
    assert!(dead_reports(&sim).is_empty(), "{:?}", dead_reports(&sim));
    assert!(sim.false_positives().is_empty());

    let mut old_ids: Vec<Subject> = Vec::new();
    for i in 0..10 {
        old_ids.push(sim.subject(i));
        sim.restart(i);
        sim.set(i, "v", b"2").expect("set");
        sim.run_for(secs(10));
    }
    for i in 10..20 {
        sim.set(i, "v", b"2").expect("set");
    }
    let upgraded = sim.wait_for(secs(60), SECOND, |s| s.converged() && keys_spread(s, b"2"));
    assert!(upgraded.is_some(), "the upgraded cluster did not converge");
    // Past the dead grace: the old generations are gone everywhere.
    sim.run_for(secs(70));
    assert!(sim.converged());
    let dead = dead_reports(&sim);
    assert!(
        dead.is_empty(),
        "live or replaced nodes reported dead: {dead:?}"
    );
    assert!(sim.false_positives().is_empty());
    assert_eq!(rejected_other_than_version(&sim), 0);
    // Every node now speaks 4 to every other: nothing is refused any more.
    sim.reset_metrics();
    sim.run_for(secs(30));
    assert_eq!(sim.metrics().net.rejected, 0);
    assert_eq!(sim.metrics().net.oversized, 0);
}

/// A cold start: 100 nodes that know only the 3 seeds, each writing 10
/// keys of 32 bytes, all list each other alive within 6 gossip intervals,
/// one more than before protocol version 4 (5 s). A reply to a newcomer is
/// bounded to 3x its Syn until the newcomer echoes a token; its first Syn
/// is padded so the reply has room, and a peer whose first answer was cut
/// goes first in the next round, so this may cost one interval, not more
/// (issue 11; figures at 1000 nodes in BENCHMARKS.md).
#[test]
fn a_cold_start_from_three_seeds_takes_at_most_one_interval_more() {
    let mut sim = sim128(sim_config(1201, 0.0, Config::new()));
    sim.add_nodes(100);
    for i in 0..100 {
        for k in 0..10 {
            sim.set(i, &format!("key-{k}"), &[b'v'; 32]).expect("set");
        }
    }
    let settled = sim.wait_for(secs(30), SECOND, |s| s.converged());
    let settled = settled.expect("the cluster converges");
    eprintln!("cold start: converged after {settled:?}");
    assert!(settled <= secs(6), "converged after {settled:?}");
    assert!(sim.false_positives().is_empty());
    assert_lifecycle(&sim);
}

// ---------------------------------------------------------------------------
// Fault scenarios of issue 13 (Rapid's): one-way partitions that flip,
// nodes whose input is lossy, simultaneous crashes. Sized for a debug build
// (each ~5-15 s of CPU there); the N = 1000 runs are `simulate`'s
// `--flip-partitions`, `--lossy-nodes` and `--crash-count --crash-together`
// (figures in BENCHMARKS.md, "Fault scenarios in the simulator").

/// A converged cluster of `n` nodes on a loss-free network, 20 s after it
/// converged.
fn steady_cluster(seed: u64, n: usize) -> Sim {
    let mut sim = sim128(sim_config(seed, 0.0, Config::new()));
    sim.add_nodes(n);
    assert!(sim.wait_for(secs(60), SECOND, |s| s.converged()).is_some());
    sim.run_for(secs(20));
    sim
}

/// 60 nodes (30 even-numbered in half A, 30 odd in half B), four one-way
/// partitions of 20 s: A cannot hear B, then B cannot hear A, twice.
/// Also returns when the first partition was made.
fn flipped_cluster(seed: u64) -> (Sim, hearsay_sim::faults::FlipReport, Duration) {
    let mut sim = steady_cluster(seed, 60);
    let start = sim.now();
    let report = hearsay_sim::faults::flip_partitions(&mut sim, FLIP, 4, secs(60));
    eprintln!("flipping partitions, seed {seed}: {report:?}");
    (sim, report, start)
}

/// How long each one-way partition of [`flipped_cluster`] lasts.
const FLIP: Duration = Duration::from_secs(20);

/// What the flips must do, and do now. Expected, and asserted exactly:
/// in each partition every node of the deaf half reports each of the 30
/// far nodes dead once (it hears nothing of them; a timeout is ~5 s of a
/// 20 s partition), 4 × 30 × 30 reports; nobody reports dead a far node
/// it can hear. Flapping: the next partition reverses the direction, so a
/// deaf node hears the far half again (alive again) and two partitions
/// later is deaf again (dead again): every one of the 2 × 30 × 30 pairs
/// across the cut flaps, with two reports each; no pair within a half
/// flaps. After the last partition every node lists every other alive
/// within a few seconds.
///
/// Not asserted here: the hearing half convicts some of its own (1 to 29
/// reports in each of 16 runs of this test, `HEARSAY_SEED_OFFSET` 0 to
/// 15; 135 of their 137 same-half reports by the hearing half). Its
/// datagrams to the deaf half are dropped, but it hears the deaf half's
/// heartbeats, so it keeps choosing deaf peers for up to half of its
/// fanout (a peer is set aside only after three unanswered exchanges, and
/// at 60 nodes a node tries a given peer about once in 20 rounds) and its
/// own heartbeats spread through its half at about half speed. Such a
/// conviction can land just after the next flip, when the observer's half
/// has become the deaf one; asserted: the deaf half convicts none of its
/// own later than 5 s (about one detector timeout) into a partition, so
/// it is never the deafness itself that convicts. The target is
/// `the_hearing_half_of_a_one_way_partition_convicts_none_of_its_own`
/// (ignored until core's peer selection changes).
#[test]
fn flipping_one_way_partitions_convict_only_across_the_cut() {
    let (sim, r, start) = flipped_cluster(1301);
    assert_eq!(r.sides, (30, 30));
    assert_eq!(r.deaf_side, 4 * 30 * 30, "{r:?}");
    assert_eq!((r.hearing_side, r.after_partitions), (0, 0), "{r:?}");
    assert_eq!(r.flapping_cross_side, 2 * 30 * 30, "{r:?}");
    assert_eq!(r.flapping_same_side, 0, "{r:?}");
    let end = start + FLIP * 4;
    for c in sim.convictions() {
        let (o, s) = (c.observer, c.subject.node);
        if c.at < start || c.at >= end || o % 2 != s % 2 {
            continue;
        }
        let into = (c.at - start).as_micros() % FLIP.as_micros();
        let k = (c.at - start).as_micros() / FLIP.as_micros();
        let deaf = (o % 2 == 0) == k.is_multiple_of(2);
        assert!(
            !deaf || into < 5_000_000,
            "the deaf half convicted its own {into} µs into partition {k}: {c:?}"
        );
    }
    let heal = r
        .heal_seconds
        .expect("membership back after the partitions");
    assert!(heal <= 5.0, "membership back after {heal} s");
    // Cross-check the report against the raw reports: two per cross pair
    // that flapped, none about a crashed or unknown node.
    let flaps = sim.flapping();
    assert!(flaps.iter().all(|f| f.convictions == 2), "{flaps:?}");
    assert!(sim.convictions().iter().all(|c| c.subject.node < 60));
    assert_lifecycle(&sim);
}

/// The target the test above leaves out: nobody convicts a node of its
/// own half, the hearing half included. Fails today (seed 1301: see the
/// eprintln of the report); run with `--ignored`.
#[test]
#[ignore = "issue 13: the hearing half of a one-way partition convicts some of its own (peer selection keeps deaf peers whose heartbeats it hears); core change needed"]
fn the_hearing_half_of_a_one_way_partition_convicts_none_of_its_own() {
    let (_, r, _) = flipped_cluster(1301);
    assert_eq!(r.same_side, 0, "{:?}", r.same_side_list);
}

/// 100 nodes, no loss; nodes 17, 42 and 81 lose 80 % of the datagrams
/// sent to them for 2 minutes.
fn lossy_cluster(seed: u64) -> (Sim, hearsay_sim::faults::LossyReport) {
    let mut sim = steady_cluster(seed, 100);
    let lossy = [17, 42, 81];
    let report = hearsay_sim::faults::lossy_nodes(&mut sim, &lossy, 0.8, secs(120), secs(60));
    eprintln!("lossy nodes, seed {seed}: {report:?}");
    (sim, report)
}

/// What a few nodes with lossy input must not do, and do not now.
/// Expected, and asserted: no healthy node reports a healthy node dead,
/// nor a lossy one (a lossy node's output is intact: each of its rounds
/// carries its heartbeat to its peers), so no healthy observer flaps; once
/// the loss stops every node lists every other alive within seconds.
///
/// Not asserted here: a lossy node itself may report healthy nodes dead
/// (it hears a fifth of what is sent to it) and may flap about them: 0 to
/// 266 reports per run in 16 runs of this test (`HEARSAY_SEED_OFFSET` 0
/// to 15; none in 4 of them), with flapping in 2 (24 and 4 pairs). No
/// healthy observer convicted anyone in any of them.
/// Rapid's point is that it should not; the target is
/// `a_node_with_lossy_input_convicts_no_healthy_node` (ignored: it needs
/// something like Lifeguard's local health in core).
#[test]
fn lossy_input_on_three_nodes_gets_nobody_convicted_by_a_healthy_node() {
    let (sim, r) = lossy_cluster(1302);
    assert_eq!(r.nodes.len(), 3);
    assert_eq!(
        r.healthy_convicted - r.healthy_convicted_by_lossy,
        0,
        "healthy nodes convicted by healthy ones: {:?}",
        r.healthy_convicted_list
    );
    assert_eq!(r.lossy_convicted_by_healthy, 0, "{r:?}");
    let lossy = [17, 42, 81];
    let flaps = sim.flapping();
    assert!(
        flaps.iter().all(|f| lossy.contains(&f.observer)),
        "healthy observers flapped: {flaps:?}"
    );
    assert!(
        sim.convictions()
            .iter()
            .all(|c| lossy.contains(&c.observer)),
        "only lossy nodes convict anyone"
    );
    let heal = r.heal_seconds.expect("membership back after the loss");
    assert!(heal <= 10.0, "membership back after {heal} s");
    assert_lifecycle(&sim);
}

/// The target the test above leaves out (Rapid's point): a node that
/// hears badly convicts no healthy node. Run with `--ignored`.
#[test]
#[ignore = "issue 13: a node with 80 % input loss convicts healthy nodes (no local-health check in core's detector); core change needed"]
fn a_node_with_lossy_input_convicts_no_healthy_node() {
    let (_, r) = lossy_cluster(1302);
    assert_eq!(r.healthy_convicted, 0, "{:?}", r.healthy_convicted_list);
}

/// 100 nodes, no loss; 10 non-seed nodes crash at one instant. Every one
/// of the 90 live nodes reports each of the 10 dead, within 15 s; nobody
/// else is reported dead, and nobody flaps (a crashed node never comes
/// back, a live one is never convicted).
#[test]
fn ten_simultaneous_crashes_are_detected_by_every_live_node() {
    let mut sim = steady_cluster(1303, 100);
    let victims: Vec<usize> = (0..10).map(|k| 5 + 9 * k).collect();
    let crashed: BTreeSet<Subject> = victims.iter().map(|&v| sim.subject(v)).collect();
    for &v in &victims {
        sim.crash(v);
    }
    sim.run_for(secs(30));
    let mut slowest = Duration::ZERO;
    for &v in &victims {
        let d = sim.detection(v).expect("crash tracked");
        assert_eq!(d.latencies.len(), 90, "node {v}");
        assert!(d.is_complete(), "node {v} not detected by all: {d:?}");
        slowest = slowest.max(d.max().expect("complete"));
    }
    assert!(slowest <= secs(15), "slowest detection {slowest:?}");
    let wrong: Vec<_> = sim
        .convictions()
        .iter()
        .filter(|c| !crashed.contains(&c.subject))
        .collect();
    assert!(wrong.is_empty(), "live nodes reported dead: {wrong:?}");
    assert_eq!(sim.convictions().len(), 10 * 90);
    assert!(sim.flapping().is_empty(), "{:?}", sim.flapping());
    assert!(sim.false_positives().is_empty());
    assert_lifecycle(&sim);
}
