//! Self-refutation on the simulator: a node that restarts with a clock
//! behind (a lower generation than its previous incarnation) is heard by
//! everyone within seconds, not after the old incarnation's removal.

use std::time::Duration;

use hearsay_core::{Capacity, Config, NodeStatus};
use hearsay_sim::{Latency, Sim, SimConfig, SimEvent};

/// 16 node slots, 256 entries, 16 KiB arena, 100-interval windows.
const SIM16: Capacity = Capacity {
    nodes: 16,
    entries: 256,
    state_bytes: 16_384,
    window: 100,
};

fn sim(seed: u64) -> Sim {
    let mut c = SimConfig::new(seed);
    c.engine = Config::new();
    c.capacity = SIM16;
    c.network.loss = 0.05;
    c.network.latency = Latency::Normal {
        mean: Duration::from_millis(1),
        std_dev: Duration::from_micros(500),
        min: Duration::from_micros(100),
    };
    let mut s = Sim::new(c);
    s.add_nodes(10);
    assert!(
        s.wait_for(Duration::from_secs(60), Duration::from_secs(1), |s| s
            .converged())
            .is_some(),
        "no convergence"
    );
    s
}

/// Whether every running node other than `i` holds `i` at its current
/// generation, alive, with `key = value`.
fn everyone_sees(s: &Sim, i: usize, key: &str, value: &[u8]) -> bool {
    let name = s.name(i).to_string();
    let generation = s.generation(i);
    s.running().into_iter().filter(|&j| j != i).all(|j| {
        s.engine(j).node(&name).is_some_and(|v| {
            v.id().generation == generation
                && v.status() == NodeStatus::Alive
                && v.get(key) == Some(value)
        })
    })
}

#[test]
fn a_restart_whose_clock_is_behind_is_heard_within_seconds() {
    for seed in [1, 2, 3] {
        let mut s = sim(seed);
        let old = s.generation(4);
        // The restarted process's clock is a minute behind.
        s.restart_with_generation(4, old - 60_000);
        s.set(4, "after", b"restart").expect("set");
        let took = s.wait_for(Duration::from_secs(10), Duration::from_millis(100), |s| {
            everyone_sees(s, 4, "after", b"restart")
        });
        assert!(
            took.is_some(),
            "seed {seed}: the new incarnation's key did not reach everyone in 10 s"
        );
        assert!(
            s.generation(4) > old,
            "it took a generation above the old one"
        );
        let refuted = s
            .log(4)
            .iter()
            .filter(|r| matches!(r.event, SimEvent::Refuted { .. }))
            .count();
        assert_eq!(refuted, 1, "seed {seed}: one refutation is enough");
        assert!(s.false_positives().is_empty(), "seed {seed}");
    }
}
