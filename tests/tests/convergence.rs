//! Convergence under a hostile network: random writes, deletes and TTLs on
//! several nodes, gossip through a network that drops, duplicates and
//! reorders datagrams, tombstone collection in between — and then, once
//! delivery is fair, every node shows every other node's keys exactly as
//! their owner does. Throughout, no key's version ever goes backwards, a
//! node's max version only drops when a reset rebuilds it, no node shows a
//! value its owner never wrote, and no deleted key reappears.

use std::collections::BTreeMap;
use std::time::Duration;

use hearsay_core::{Config, EntryStatus};
use hearsay_testkit::{Cluster, Faults};
use proptest::prelude::*;

const KEYS: [&str; 6] = ["a", "b", "svc/port", "svc/host", "load", "zone"];

#[derive(Debug, Clone)]
enum Op {
    Set {
        node: usize,
        key: usize,
        value: Vec<u8>,
    },
    SetTtl {
        node: usize,
        key: usize,
        value: Vec<u8>,
        ttl_ms: u64,
    },
    Delete {
        node: usize,
        key: usize,
    },
    Advance {
        ms: u64,
    },
    Gossip {
        from: usize,
        to: usize,
    },
    Deliver {
        count: usize,
    },
}

fn op(n: usize) -> impl Strategy<Value = Op> {
    let value = (any::<u8>(), 0usize..120).prop_map(|(b, len)| vec![b; len]);
    prop_oneof![
        4 => (0..n, 0..KEYS.len(), value.clone()).prop_map(|(node, key, value)| Op::Set { node, key, value }),
        1 => (0..n, 0..KEYS.len(), value, 1u64..20_000).prop_map(|(node, key, value, ttl_ms)| Op::SetTtl { node, key, value, ttl_ms }),
        2 => (0..n, 0..KEYS.len()).prop_map(|(node, key)| Op::Delete { node, key }),
        2 => (0u64..15_000).prop_map(|ms| Op::Advance { ms }),
        4 => (0..n, 0..n).prop_map(|(from, to)| Op::Gossip { from, to }),
        3 => (1usize..40).prop_map(|count| Op::Deliver { count }),
    ]
}

/// Everything each owner ever wrote: version → (key, value or tombstone).
type History = Vec<BTreeMap<u64, (String, Option<Vec<u8>>)>>;

fn record_history(c: &Cluster, history: &mut History) {
    for (owner, h) in history.iter_mut().enumerate() {
        let local = c.nodes[owner].local_node().expect("initialised");
        for e in local.all_entries() {
            let value = e.status.is_live().then(|| e.value.to_vec());
            let prev = h.insert(e.version, (e.key.to_string(), value.clone()));
            if let Some(prev) = prev {
                assert_eq!(
                    prev,
                    (e.key.to_string(), value),
                    "owner {owner} reused version {}",
                    e.version
                );
            }
        }
    }
}

/// What the safety check remembers between steps.
struct Seen {
    max: Vec<Vec<u64>>,
    resets: Vec<u64>,
    key_versions: Vec<Vec<BTreeMap<String, u64>>>,
}

impl Seen {
    fn new(n: usize) -> Self {
        Seen {
            max: vec![vec![0; n]; n],
            resets: vec![0; n],
            key_versions: vec![vec![BTreeMap::new(); n]; n],
        }
    }
}

/// The safety properties, checked after every step.
#[allow(
    clippy::needless_range_loop,
    reason = "observer and owner are both node indices"
)]
fn check_safety(c: &Cluster, history: &History, seen: &mut Seen) {
    let n = c.nodes.len();
    for o in 0..n {
        let resets = c.nodes[o].counters().resets_applied;
        let reset_happened = resets > seen.resets[o];
        seen.resets[o] = resets;
        for x in 0..n {
            if o != x && c.nodes[o].node(&format!("node-{x}")).is_none() {
                // Not (or no longer) known: a pending node is dropped, with
                // its state, when its heartbeat was not seen to move within
                // `pending_timeout`; its copy starts again from nothing.
                seen.max[o][x] = 0;
                seen.key_versions[o][x].clear();
                continue;
            }
            let m = c.max_version(o, x);
            assert!(
                m >= seen.max[o][x] || reset_happened,
                "node {o}'s version of node {x} went back without a reset: {} -> {m}",
                seen.max[o][x]
            );
            seen.max[o][x] = m;
            if o == x {
                continue;
            }
            let Some(view) = c.nodes[o].node(&format!("node-{x}")) else {
                continue;
            };
            for e in view.all_entries() {
                let last = seen.key_versions[o][x].insert(e.key.to_string(), e.version);
                assert!(
                    last.is_none_or(|v| v <= e.version),
                    "node {o}: key {} of node {x} went back from v{last:?} to v{}",
                    e.key,
                    e.version
                );
                let shown = (
                    e.key.to_string(),
                    e.status.is_live().then(|| e.value.to_vec()),
                );
                let written = history[x].get(&e.version);
                assert_eq!(
                    written,
                    Some(&shown),
                    "node {o} shows {shown:?} at v{} of node {x}, never written so",
                    e.version
                );
                if !e.status.is_live() {
                    continue;
                }
                // A key its owner has deleted (and not set since) must not be
                // live on a node that holds the owner past that deletion.
                let deleted_at = match c.own_entry(x, e.key) {
                    Some((EntryStatus::Deleted, d)) => Some(d),
                    Some(_) => None,
                    None => history[x]
                        .iter()
                        .rev()
                        .find(|(_, (k, _))| k == e.key)
                        .map(|(v, _)| *v),
                };
                if let Some(d) = deleted_at {
                    assert!(
                        d > m,
                        "node {o} shows key {} of node {x} deleted at v{d} although it holds node {x} up to v{m}",
                        e.key
                    );
                }
            }
        }
    }
}

fn run(n: usize, mtu: usize, budget: usize, faults: Faults, seed: u64, ops: &[Op]) {
    let mut config = Config::new();
    config.mtu = mtu;
    config.exchange_budget = budget;
    config.tombstone_grace = Duration::from_secs(10);
    let mut c = Cluster::new(n, &config, seed);
    let mut history: History = vec![BTreeMap::new(); n];
    let mut seen = Seen::new(n);
    for op in ops {
        match op {
            Op::Set { node, key, value } => {
                c.nodes[*node].set(KEYS[*key], value).expect("set fits");
            }
            Op::SetTtl {
                node,
                key,
                value,
                ttl_ms,
            } => {
                let now = c.now;
                c.nodes[*node]
                    .set_with_ttl(KEYS[*key], value, Duration::from_millis(*ttl_ms), now)
                    .expect("set fits");
            }
            Op::Delete { node, key } => {
                let now = c.now;
                c.nodes[*node].delete(KEYS[*key], now).expect("delete");
            }
            Op::Advance { ms } => c.advance(*ms),
            Op::Gossip { from, to } => {
                if from != to {
                    c.start_exchange(*from, *to);
                }
            }
            Op::Deliver { count } => {
                for _ in 0..*count {
                    if !c.deliver_one(faults) {
                        break;
                    }
                    record_history(&c, &mut history);
                    check_safety(&c, &history, &mut seen);
                }
            }
        }
        record_history(&c, &mut history);
        check_safety(&c, &history, &mut seen);
    }
    // Fair delivery from here on: stale datagrams still in flight arrive
    // (in random order), then every pair keeps exchanging over a perfect
    // network until all views agree.
    while c.deliver_one(Faults {
        loss: 0.0,
        ..faults
    }) {
        check_safety(&c, &history, &mut seen);
    }
    // Every node runs a round, as a runtime's first call does: an engine
    // draws its token secret there, and until it has, no peer can prove
    // its address and every reply stays within 3x the datagram answered
    // (`hearsay_core::token`), too small for the larger values here.
    c.advance(0);
    let mut converged = false;
    for _ in 0..30 {
        c.full_round();
        check_safety(&c, &history, &mut seen);
        converged = (0..n).all(|o| {
            (0..n).all(|x| {
                c.view(o, x).as_ref() == Some(&c.own_view(x))
                    && c.max_version(o, x) == c.max_version(x, x)
            })
        });
        if converged {
            break;
        }
    }
    if !converged {
        for o in 0..n {
            for x in 0..n {
                if c.view(o, x).as_ref() != Some(&c.own_view(x)) {
                    eprintln!(
                        "node {o} view of {x}: {:?}\nowner: {:?}",
                        c.view(o, x),
                        c.own_view(x)
                    );
                }
            }
        }
        panic!(
            "no convergence after fair delivery; counters: {:?}",
            c.nodes
                .iter()
                .map(|e| e.counters().clone())
                .collect::<Vec<_>>()
        );
    }
}

fn scenario() -> impl Strategy<Value = (usize, usize, usize, f64, f64, bool, u64, Vec<Op>)> {
    (2usize..=5).prop_flat_map(|n| {
        (
            Just(n),
            prop_oneof![Just(512usize), Just(1400)],
            prop_oneof![Just(0usize), Just(2048), Just(65_536)],
            prop_oneof![Just(0.0), Just(0.1), Just(0.4)],
            prop_oneof![Just(0.0), Just(0.2)],
            any::<bool>(),
            any::<u64>(),
            proptest::collection::vec(op(n), 1..80),
        )
    })
}

proptest! {
    // 512 cases by default; PROPTEST_CASES=N for a longer hunt.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512),
        ..ProptestConfig::default()
    })]

    #[test]
    fn converges_and_never_resurrects((n, mtu, budget, loss, duplicate, reorder, seed, ops) in scenario()) {
        // A zero budget stands for "one datagram per reply".
        let budget = budget.max(mtu);
        run(n, mtu, budget, Faults { loss, duplicate, reorder }, seed, &ops);
    }
}

/// A case found by the proptest: a reset cut by loss and reordering while
/// the owner deletes and collects.
#[test]
fn regression_reset_under_loss_and_reordering() {
    let z = |n: usize| vec![0u8; n];
    let ops = vec![
        Op::Set {
            node: 0,
            key: 0,
            value: vec![],
        },
        Op::Advance { ms: 0 },
        Op::Deliver { count: 1 },
        Op::Gossip { from: 2, to: 0 },
        Op::Set {
            node: 2,
            key: 1,
            value: z(33),
        },
        Op::Gossip { from: 0, to: 2 },
        Op::Set {
            node: 2,
            key: 3,
            value: z(95),
        },
        Op::SetTtl {
            node: 0,
            key: 2,
            value: z(66),
            ttl_ms: 1,
        },
        Op::Set {
            node: 0,
            key: 1,
            value: z(50),
        },
        Op::Deliver { count: 5 },
        Op::Set {
            node: 2,
            key: 0,
            value: vec![],
        },
        Op::Gossip { from: 0, to: 2 },
        Op::Deliver { count: 1 },
        Op::Delete { node: 2, key: 0 },
        Op::Gossip { from: 1, to: 2 },
        Op::Set {
            node: 2,
            key: 2,
            value: z(112),
        },
        Op::Advance { ms: 10_000 },
    ];
    run(
        3,
        512,
        512,
        Faults {
            loss: 0.4,
            duplicate: 0.0,
            reorder: true,
        },
        3_095_293_884_517_517_374,
        &ops,
    );
}
