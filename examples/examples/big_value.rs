//! How a value longer than a datagram spreads (issue 15): one node of a
//! converged simulated cluster writes it, and this measures the gossip
//! rounds until every node holds it whole, the bytes that cost beyond the
//! steady state, and how long the writer's next small update waited
//! behind it (the head-of-line wait of module `chunk`).
//!
//! ```sh
//! cargo run --release -p examples --example big_value -- --nodes 100 --loss 0.1
//! cargo run --release -p examples --example big_value -- --nodes 1000 --value-len 32768
//! ```
//!
//! # Conditions
//!
//! The simulator's defaults (mtu 1400, interval 1 s, fanout 3, the core's
//! detector; one-way latency normal with mean 1 ms, standard deviation
//! 0.5 ms), independent loss of `--loss` per datagram, 3 seeds. Every node
//! writes one 16-byte key, then the cluster converges; 20 rounds of
//! steady state give the baseline traffic; then node 0 writes the long
//! value (and, half a round later, a small key), and the run goes on until
//! every node holds the long value byte for byte (the cost is counted to
//! there), then until the small key reached everyone too. `--progress`
//! prints, each round, how many nodes hold the value. Capacity per engine: the
//! node count, 4 entries per node, 64 bytes per node plus three times the
//! value of state, a 256-interval window; share `max_node_bytes` twice the
//! value.

use std::time::Duration;

use clap::Parser;
use hearsay_core::{Capacity, Config};
use hearsay_sim::{Latency, Sim, SimConfig};

/// Measures the spread of one long value (see the module docs).
#[derive(Parser, Debug)]
struct Args {
    /// Nodes in the cluster.
    #[arg(long, default_value_t = 100)]
    nodes: usize,
    /// Loss per datagram, 0 to 1.
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// Seed of the run.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Bytes of the long value.
    #[arg(long = "value-len", default_value_t = 32 * 1024)]
    value_len: usize,
    /// Print, each round, how many nodes hold the value whole.
    #[arg(long)]
    progress: bool,
}

fn main() {
    let args = Args::parse();
    let n = args.nodes;
    let mut c = SimConfig::new(args.seed);
    c.capacity = Capacity {
        nodes: n.max(16),
        entries: n.max(16) * 4,
        state_bytes: n.max(16) * 64 + 3 * args.value_len,
        window: 256,
    };
    let mut engine = Config::new();
    engine.max_node_bytes = 2 * args.value_len;
    c.engine = engine;
    c.network.loss = args.loss;
    c.network.latency = Latency::Normal {
        mean: Duration::from_millis(1),
        std_dev: Duration::from_micros(500),
        min: Duration::from_micros(100),
    };
    c.record_membership = false;
    let mut sim = Sim::new(c);
    sim.add_nodes(n);
    for i in 0..n {
        sim.set(i, "svc", format!("node {i:011}").as_bytes())
            .expect("set");
    }
    let interval = sim.interval();
    let converged = sim.wait_for(interval * 600, interval, Sim::converged);
    println!(
        "{n} nodes, {:.0} % loss, seed {}: converged after {converged:?}",
        args.loss * 100.0,
        args.seed
    );
    sim.reset_metrics();
    sim.run_for(interval * 20);
    let base = sim.metrics();
    let base_per_round = base.bytes_out_per_node_per_round();
    println!("steady state: {base_per_round:.0} bytes per node per round");

    let big: Vec<u8> = (0..args.value_len)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8)
        .collect();
    sim.reset_metrics();
    let start = sim.now();
    sim.set(0, "big", &big).expect("the long value");
    sim.run_for(interval / 2);
    let small = sim.set_tracked(0, "svc", b"after the value").expect("set");
    let holds = |s: &Sim| {
        let name = s.name(0).to_owned();
        (1..s.len()).all(|j| {
            s.engine(j)
                .node(&name)
                .and_then(|v| v.get("big"))
                .is_some_and(|v| v == &big[..])
        })
    };
    let took = if args.progress {
        let mut round = 0u32;
        loop {
            let name = sim.name(0).to_owned();
            let held = (1..sim.len())
                .filter(|&j| {
                    sim.engine(j)
                        .node(&name)
                        .and_then(|v| v.get("big"))
                        .is_some_and(|v| v == &big[..])
                })
                .count();
            let chunks: u64 = (0..n).map(|i| sim.engine(i).counters().chunks_in).sum();
            println!("round {round}: {held} hold it, {chunks} chunks taken so far");
            if held == n - 1 || round >= 600 {
                break (held == n - 1).then(|| sim.now() - start);
            }
            sim.run_for(interval);
            round += 1;
        }
    } else {
        sim.wait_for(interval * 600, interval / 10, holds)
            .map(|d| d + interval / 2)
    };
    let spread = sim.metrics();
    let rounds = (sim.now() - start).as_secs_f64() / interval.as_secs_f64();
    let total = spread.total.bytes_out as f64;
    let extra = total - base_per_round * rounds * n as f64;
    let chunks: u64 = (0..n).map(|i| sim.engine(i).counters().chunks_out).sum();
    let done: u64 = (0..n)
        .map(|i| sim.engine(i).counters().transfers_completed)
        .sum();
    let dropped: u64 = (0..n)
        .map(|i| sim.engine(i).counters().transfers_dropped)
        .sum();
    // The writer's next update may still be on its way: wait for it (its
    // rounds count from its own write).
    let _ = sim.wait_for(interval * 60, interval / 10, |s| {
        s.propagation(small).duration.is_some()
    });
    let p = sim.propagation(small);
    let sum = |f: fn(&hearsay_core::Counters) -> u64| -> u64 {
        (0..n).map(|i| f(sim.engine(i).counters())).sum()
    };
    let bounded = sum(|c| c.replies_bounded);
    let exhausted = sum(|c| c.budget_exhausted);
    match took {
        Some(t) => println!(
            "{} B to all {} others: {:.2} rounds ({t:?})",
            args.value_len,
            n - 1,
            t.as_secs_f64() / interval.as_secs_f64()
        ),
        None => println!("{} B did not reach every node", args.value_len),
    }
    println!(
        "cost beyond the steady state: {:.1} MB ({:.0} B per node, {:.2}x the value per receiver); \
         {chunks} chunks sent, {done} values assembled, {dropped} transfers dropped",
        extra / 1e6,
        extra / n as f64,
        extra / ((n - 1) as f64 * args.value_len as f64)
    );
    println!(
        "replies cut by the amplification bound since the start: {bounded}, by the budget: {exhausted}"
    );
    println!(
        "the writer's next small update, half a round later: {}/{} nodes, last after {:.2} rounds",
        p.reached,
        p.targets,
        p.rounds.unwrap_or(f64::NAN)
    );
}
