//! The event contract of hearsay-core (`hearsay_core::event`), checked on
//! the simulator after every step: each node's events, replayed from an
//! empty view, give exactly the incarnations, statuses and keys its engine
//! holds as announced ([`hearsay_sim::contract`]). Across restarts (one
//! and several in a row), leaves, crashes and resumes, partitions, key
//! writes, deletions and TTLs, and removals after the dead grace.
//!
//! Sizes: 8 nodes for a few simulated minutes (about 10 s of CPU in debug
//! for the scenario, and as much for the property).

use std::time::Duration;

use hearsay_core::{Capacity, Config};
use hearsay_sim::contract::EventContract;
use hearsay_sim::{Latency, Sim, SimConfig, SimEvent};
use proptest::prelude::*;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// 8-node-sized engines, a short dead grace (so removals happen) and key
/// events recorded (the contract covers them).
fn config(seed: u64, loss: f64) -> SimConfig {
    let mut c = SimConfig::new(seed);
    c.capacity = Capacity {
        nodes: 32,
        entries: 512,
        state_bytes: 32 * 1024,
        window: 64,
    };
    let mut engine = Config::new();
    engine.dead_grace = secs(40);
    engine.pending_timeout = secs(6);
    engine.tombstone_grace = secs(20);
    c.engine = engine;
    c.network.loss = loss;
    c.network.latency = Latency::Normal {
        mean: Duration::from_millis(2),
        std_dev: Duration::from_millis(1),
        min: Duration::from_micros(200),
    };
    c.record_membership = true;
    c.record_keys = true;
    c
}

/// Runs `d` of virtual time, checking the contract after every step.
fn run_checked(sim: &mut Sim, contract: &mut EventContract, d: Duration) {
    let until = sim.now() + d;
    while sim.now() < until {
        if !sim.step() {
            break;
        }
        if let Err(v) = contract.check(sim) {
            panic!("at {:?}: {v}", sim.now());
        }
    }
    sim.run_until(until);
    contract.check(sim).unwrap_or_else(|v| panic!("{v}"));
}

/// How many events of `kind` all the logs hold.
fn count(sim: &Sim, kind: &str) -> usize {
    (0..sim.len())
        .flat_map(|i| sim.log(i))
        .filter(|r| r.event.kind() == kind)
        .count()
}

#[test]
fn every_observer_follows_the_contract_across_restarts_leaves_crashes_and_partitions() {
    let mut sim = Sim::new(config(11, 0.05));
    let mut contract = EventContract::new();
    sim.add_nodes(8);
    for i in 0..8 {
        sim.set(i, "svc", format!("node {i}").as_bytes())
            .expect("set");
    }
    run_checked(&mut sim, &mut contract, secs(15));

    // A restart: one `replaced` per observer, then the new keys.
    sim.restart(3);
    sim.set(3, "svc", b"node 3, again").expect("set");
    run_checked(&mut sim, &mut contract, secs(10));
    // Two restarts in a row, the second before the first is seen alive
    // everywhere: each observer hears of each restart it learns of once.
    sim.restart(4);
    run_checked(&mut sim, &mut contract, Duration::from_millis(300));
    sim.restart(4);
    run_checked(&mut sim, &mut contract, secs(10));

    // Keys: a write, a deletion, a TTL.
    sim.set(1, "extra", b"x").expect("set");
    sim.set_with_ttl(2, "lease", b"y", secs(3)).expect("set");
    run_checked(&mut sim, &mut contract, secs(2));
    sim.delete(1, "extra").expect("delete");
    run_checked(&mut sim, &mut contract, secs(8));

    // A crash long enough to be convicted, then a resume: dead, alive again.
    sim.crash(5);
    run_checked(&mut sim, &mut contract, secs(12));
    sim.resume(5);
    run_checked(&mut sim, &mut contract, secs(10));

    // A partition that convicts across it, healed.
    let p = sim.partition(&[0, 1, 2, 3], &[4, 5, 6, 7]);
    run_checked(&mut sim, &mut contract, secs(15));
    sim.heal(p);
    run_checked(&mut sim, &mut contract, secs(15));

    // A leave, and a crash for good: both removed after the dead grace.
    sim.leave(6).expect("leave");
    sim.crash(7);
    run_checked(&mut sim, &mut contract, secs(60));

    // A restart of a node that had left: its new incarnation joins (the
    // old one was removed).
    sim.restart(6);
    run_checked(&mut sim, &mut contract, secs(10));

    for kind in [
        "joined",
        "replaced",
        "dead",
        "alive-again",
        "left",
        "removed",
        "key-set",
        "key-deleted",
    ] {
        assert!(count(&sim, kind) > 0, "the run made no `{kind}` event");
    }
    // One `replaced` per observer and restart at most: a restart is one
    // event.
    let replaced_4: usize = (0..8)
        .filter(|&i| i != 4)
        .map(|i| {
            sim.log(i)
                .iter()
                .filter(|r| matches!(&r.event, SimEvent::Replaced { new, .. } if new.node == 4))
                .count()
        })
        .max()
        .unwrap_or(0);
    assert!(
        replaced_4 <= 2,
        "node 4 restarted twice; an observer saw {replaced_4} replacements"
    );
    let applied = contract.events_applied();
    assert!(applied > 250, "{applied}");
}

/// One thing that happens to the cluster.
#[derive(Debug, Clone)]
enum Op {
    Restart(usize),
    Crash(usize),
    Resume(usize),
    Leave(usize),
    Set(usize, u8),
    Delete(usize, u8),
    Partition(u8),
    Heal,
    Wait(u64),
}

fn op() -> impl Strategy<Value = Op> {
    let node = 0usize..6;
    prop_oneof![
        node.clone().prop_map(Op::Restart),
        node.clone().prop_map(Op::Crash),
        node.clone().prop_map(Op::Resume),
        node.clone().prop_map(Op::Leave),
        (node.clone(), 0u8..4).prop_map(|(n, k)| Op::Set(n, k)),
        (node, 0u8..4).prop_map(|(n, k)| Op::Delete(n, k)),
        (1u8..63).prop_map(Op::Partition),
        Just(Op::Heal),
        (100u64..15_000).prop_map(Op::Wait),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Whatever happens, in whatever order, every observer's events
    /// replay to what its engine holds, at every step.
    #[test]
    fn any_sequence_of_faults_keeps_the_contract(
        seed in 0u64..1000,
        ops in proptest::collection::vec(op(), 1..14),
    ) {
        let mut sim = Sim::new(config(seed, 0.05));
        let mut contract = EventContract::new();
        sim.add_nodes(6);
        run_checked(&mut sim, &mut contract, secs(6));
        for op in ops {
            match op {
                Op::Restart(i) => {
                    sim.restart(i);
                }
                Op::Crash(i) => sim.crash(i),
                Op::Resume(i) => sim.resume(i),
                Op::Leave(i) => {
                    // A node that already left cannot leave again.
                    let _ = sim.leave(i);
                }
                Op::Set(i, k) => {
                    let _ = sim.set(i, &format!("k{k}"), &[k; 20]);
                }
                Op::Delete(i, k) => {
                    let _ = sim.delete(i, &format!("k{k}"));
                }
                Op::Partition(mask) => {
                    let (a, b): (Vec<usize>, Vec<usize>) =
                        (0..6).partition(|i| mask & (1 << i) != 0);
                    sim.partition(&a, &b);
                }
                Op::Heal => sim.heal_all(),
                Op::Wait(ms) => {
                    run_checked(&mut sim, &mut contract, Duration::from_millis(ms));
                }
            }
        }
        sim.heal_all();
        run_checked(&mut sim, &mut contract, secs(20));
        prop_assert!(contract.events_applied() > 0);
    }
}
