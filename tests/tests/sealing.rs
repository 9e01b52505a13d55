//! Sealed datagrams in a running simulated cluster (issue 11): a key
//! rotation, and turning keys on without downtime, each rolled out node by
//! node while the cluster gossips, with updates written throughout; a
//! restart with the same generation; two clusters with different keys on
//! one network.
//!
//! Each procedure must cost no false positive, no lost update and no
//! rejected datagram: at every step every node accepts what every other
//! node sends. 50 nodes at 5 % loss; about 10 s each in debug.

use std::time::Duration;

use hearsay_core::{Capacity, ClusterKey, Config, DecodeError, KeyMode, NodeStatus};
use hearsay_sim::{Latency, Sim, SimConfig, TrackId};

const SECOND: Duration = Duration::from_secs(1);
const NODES: usize = 50;
const K1: [u8; 32] = [0x11; 32];
const K2: [u8; 32] = [0x22; 32];

fn sim(seed: u64) -> Sim {
    let mut c = SimConfig::new(seed);
    c.engine = Config::new();
    c.network.loss = 0.05;
    c.network.latency = Latency::Normal {
        mean: Duration::from_millis(1),
        std_dev: Duration::from_micros(500),
        min: Duration::from_micros(100),
    };
    c.capacity = Capacity {
        nodes: 64,
        entries: 1024,
        state_bytes: 64 * 1024,
        window: 100,
    };
    Sim::new(c)
}

/// `n` nodes that all hold K1 from the start, converged.
fn keyed_cluster(seed: u64, n: usize) -> Sim {
    let mut s = sim(seed);
    s.add_nodes(n);
    for i in 0..n {
        s.engine_mut(i)
            .install_key(ClusterKey::new(K1))
            .expect("install");
    }
    assert!(
        s.wait_for(Duration::from_secs(60), SECOND, |s| s.converged())
            .is_some()
    );
    s
}

/// Applies `step` to every node in turn, a third of a second apart, writing
/// a tracked update on some node at every step.
fn roll(sim: &mut Sim, updates: &mut Vec<TrackId>, step: impl Fn(&mut Sim, usize)) {
    for i in 0..NODES {
        step(sim, i);
        let writer = (i * 7 + updates.len()) % NODES;
        let value = format!("v{}", updates.len());
        updates.push(sim.set_tracked(writer, "k", value.as_bytes()).expect("set"));
        sim.run_for(SECOND / 3);
    }
}

/// Every update reached every node, no node was reported dead, and no
/// datagram was rejected.
fn assert_nothing_lost(sim: &mut Sim, updates: &[TrackId]) {
    let all = sim.wait_for(Duration::from_secs(30), SECOND, |s| {
        updates.iter().all(|u| s.propagation(*u).duration.is_some())
    });
    assert!(all.is_some(), "an update did not reach every node");
    assert!(sim.converged(), "the cluster lost members");
    let fp = sim.false_positives();
    assert!(
        fp.is_empty(),
        "{} false positives, first: {:?}",
        fp.len(),
        fp.iter().take(3).collect::<Vec<_>>()
    );
    let net = sim.metrics().net;
    assert_eq!(net.rejected, 0, "datagrams rejected: {net:?}");
}

#[test]
fn a_fifty_node_cluster_rotates_its_key_while_running() {
    let mut sim = keyed_cluster(1101, NODES);
    let k1 = ClusterKey::new(K1).fingerprint();
    let k2 = ClusterKey::new(K2).fingerprint();
    let mut updates = Vec::new();
    roll(&mut sim, &mut updates, |s, i| {
        s.engine_mut(i)
            .install_key(ClusterKey::new(K2))
            .expect("install");
    });
    roll(&mut sim, &mut updates, |s, i| {
        s.engine_mut(i).use_key(k2).expect("use");
    });
    roll(&mut sim, &mut updates, |s, i| {
        s.engine_mut(i).remove_key(k1).expect("remove");
    });
    assert_nothing_lost(&mut sim, &updates);
    for i in 0..NODES {
        let e = sim.engine(i);
        assert_eq!(e.keys().collect::<Vec<_>>(), [k2], "node {i}");
        let c = e.counters();
        assert!(c.sealed_in > 0 && c.unsealed_in == 0, "node {i}: {c:?}");
    }
}

#[test]
fn keys_are_turned_on_in_a_running_cluster_without_downtime() {
    let mut sim = sim(1102);
    sim.add_nodes(NODES);
    assert!(
        sim.wait_for(Duration::from_secs(60), SECOND, |s| s.converged())
            .is_some()
    );
    let mut updates = Vec::new();
    roll(&mut sim, &mut updates, |s, i| {
        let e = s.engine_mut(i);
        e.set_key_mode(KeyMode::Listen);
        e.install_key(ClusterKey::new(K1)).expect("install");
    });
    roll(&mut sim, &mut updates, |s, i| {
        s.engine_mut(i).set_key_mode(KeyMode::Transitional);
    });
    roll(&mut sim, &mut updates, |s, i| {
        s.engine_mut(i).set_key_mode(KeyMode::Required);
    });
    assert_nothing_lost(&mut sim, &updates);
    // Now everything is sealed: an unsealed sender is shut out.
    let before: Vec<u64> = (0..NODES)
        .map(|i| sim.engine(i).counters().unsealed_in)
        .collect();
    sim.run_for(5 * SECOND);
    for (i, b) in before.into_iter().enumerate() {
        let c = sim.engine(i).counters();
        assert_eq!(c.unsealed_in, b, "node {i} still takes unsealed datagrams");
        assert!(c.sealed_in > 0);
    }
}

/// Sealed datagrams dropped as replays, over all running nodes.
fn replays(s: &Sim) -> u64 {
    s.running()
        .into_iter()
        .map(|i| s.engine(i).counters().rejected(DecodeError::Replayed))
        .sum()
}

#[test]
fn a_restart_with_the_same_generation_is_heard_again() {
    // A process restarted with a fixed generation draws a new random
    // sequence start. When it lies below what the peers saw from the old
    // process, they drop its datagrams as replays; it must still be heard:
    // their digests show it its own id ahead, it refutes, and its new
    // generation gets a new replay window. Each seed either exercises that
    // or starts above the old window; at least one must exercise it.
    const N: usize = 12;
    let mut exercised = 0;
    for seed in 1103..1111 {
        let mut s = keyed_cluster(seed, N);
        s.run_for(10 * SECOND);
        let old = s.generation(4);
        let before = replays(&s);
        s.restart_with_generation(4, old);
        s.engine_mut(4)
            .install_key(ClusterKey::new(K1))
            .expect("install");
        s.set(4, "after", b"restart").expect("set");
        let name = s.name(4).to_string();
        let took = s.wait_for(Duration::from_secs(10), SECOND / 10, |s| {
            let generation = s.engine(4).id().generation;
            (0..N).filter(|&j| j != 4).all(|j| {
                s.engine(j).node(&name).is_some_and(|v| {
                    v.id().generation == generation
                        && v.status() == NodeStatus::Alive
                        && v.get("after") == Some(&b"restart"[..])
                })
            })
        });
        assert!(
            took.is_some(),
            "seed {seed}: the restarted node was not heard in 10 s"
        );
        if replays(&s) > before {
            exercised += 1;
            assert!(s.engine(4).id().generation > old, "seed {seed}: refuted");
        }
        let fp = s.false_positives();
        assert!(fp.is_empty(), "seed {seed}: {:?}", fp.first());
    }
    assert!(
        exercised > 0,
        "no seed drew a sequence start below the old window"
    );
}

#[test]
fn two_clusters_with_different_keys_on_the_same_network_never_mix() {
    // Ten nodes with K1 and ten with K2, one cluster id, one network.
    // Each K2 node's seeds are a K2 node and a K1 node, so every K2 node
    // keeps sending to the K1 side (and the K1 side answers nothing).
    let mut s = sim(1111);
    s.add_nodes(20);
    let k2_seeds = [s.addr(10), s.addr(0)];
    for i in 0..20 {
        let key = if i < 10 { K1 } else { K2 };
        let e = s.engine_mut(i);
        e.install_key(ClusterKey::new(key)).expect("install");
        if i >= 10 {
            e.set_seeds(&k2_seeds);
        }
    }
    s.run_for(30 * SECOND);
    for i in 0..20 {
        let own_side = |j: usize| (i < 10) == (j < 10);
        let e = s.engine(i);
        for j in (0..20).filter(|&j| j != i) {
            let seen = e.node(s.name(j));
            if own_side(j) {
                assert!(
                    seen.is_some_and(|v| v.status() == NodeStatus::Alive),
                    "node {i} does not list node {j} of its own cluster alive"
                );
            } else {
                assert!(
                    seen.is_none(),
                    "node {i} learned node {j} of the other cluster"
                );
            }
        }
    }
    let refused = |range: std::ops::Range<usize>| -> u64 {
        range
            .map(|i| s.engine(i).counters().rejected(DecodeError::UnknownKey))
            .sum()
    };
    assert!(refused(0..10) > 0, "the K1 side never heard the K2 side");
    assert!(s.false_positives().is_empty());
}
