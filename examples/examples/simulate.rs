//! Simulates a hearsay cluster and measures it against the targets of
//! issue 4: propagation rounds, bandwidth, crash detection time, false
//! positives and memory per node.
//!
//! ```sh
//! cargo run --release -p examples --example simulate -- --nodes 1000 --loss 0.1 --seed 1
//! cargo run --release -p examples --example simulate -- --nodes 100 --loss 0 --seed 1 --json
//! ```
//!
//! Options: `--nodes N` (at least 2, default 100), `--loss P` (0 ≤ P < 1,
//! default 0), `--seed S` (default 1), `--rounds R` (steady-state rounds
//! measured, at least 20, default 60), `--key` (every node holds one
//! cluster key, so every datagram is sealed and the traffic figures include
//! the 29 bytes each carries), `--json` (print exactly one JSON object
//! instead of the readable report).
//!
//! Every engine's capacity ([`Capacity`]) can be set too; the defaults
//! follow the node count:
//!
//! - `--max-nodes M` — node slots, at least `N` (at most 65,535). Default
//!   128 for up to 128 nodes, 1024 for up to 1024, beyond that `N` rounded
//!   up to a multiple of 256 (1500 nodes: 1536 slots).
//! - `--max-entries E` — entry slots, default 12 per node slot (10 keys
//!   and room to spare).
//! - `--max-state-bytes B` — bytes of keys and values, default 640 per node
//!   slot (10 keys of 6 + 32 bytes plus 8-byte block headers, and room to
//!   spare).
//! - `--window W` — detector intervals per node (1..=65,535), default 1000.
//!
//! Memory grows with the square of the cluster size: every node holds a
//! slot, a detector window and the entries of every other node. At 1000
//! nodes the defaults take 2.53 MiB per node, 2.7 GB in all; at 1500,
//! 3.80 MiB per node, 6.0 GB (a 1500-node run peaked at 5.6 GiB RSS).
//!
//! Conditions: mtu 1400, gossip interval 1 s, fanout 3, every other setting
//! at its default (phi threshold 8, detector window 1000 intervals); 10 keys
//! of 32-byte values per node; names like `node-0042.eu-west-1.prod` and
//! millisecond-timestamp generations; 3 seeds; one-way latency normal with
//! mean 1 ms, standard deviation 0.5 ms, at least 0.1 ms; independent loss
//! of `P` per datagram.
//!
//! Phases, all on the simulator's virtual clock (one run is deterministic
//! for its seed):
//!
//! 1. **Warm-up**: all nodes start within the first second, know only the
//!    seeds, write their keys, and run until every node lists every other
//!    as alive (`joined_seconds`) and holds every node's keys at their
//!    latest version (`converged_seconds`), both checked every simulated
//!    second.
//! 2. **Steady state** (`R` rounds): traffic is measured per node and
//!    round; ten key updates by random nodes at random times are tracked
//!    until every node has seen them (`rounds_to_full_propagation` is their
//!    median, in gossip intervals).
//! 3. **Crashes**: five random non-seed nodes crash silently, 20 s apart;
//!    each live node's time to report each crash is recorded
//!    (`detection_seconds_median` / `_max` are over all those times).
//!
//! `false_positives` counts `NodeDead` reports about nodes that were
//! running and reachable, over the whole run (`false_positives_warmup`
//! counts those of phase 1 alone). `memory_bytes_per_node` is the whole
//! state of a node: its engine's tables ([`Capacity::memory_bytes`]: node
//! table, detector windows, entries and arena) plus the engine value
//! (`engine_value_bytes`); `max_nodes`, `max_entries`, `max_state_bytes`
//! and `window` are the capacity used.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use hearsay_core::{Capacity, ClusterKey};
use hearsay_sim::{Latency, Sim, SimConfig, SimRng};

/// The cluster key of a `--key` run: a simulation needs no secret.
const SIM_KEY: [u8; 32] = [0x5e; 32];
/// Keys each node writes.
const KEYS: usize = 10;
/// Bytes of each value.
const VALUE_LEN: usize = 32;
/// Key updates tracked in the steady state.
const UPDATES: usize = 10;
/// Nodes crashed in the crash phase.
const CRASHES: usize = 5;
/// Virtual time between two crashes.
const CRASH_SPACING: Duration = Duration::from_secs(20);
/// Longest warm-up before giving up.
const WARMUP_LIMIT: Duration = Duration::from_secs(600);

struct Args {
    nodes: usize,
    loss: f64,
    seed: u64,
    rounds: u32,
    json: bool,
    /// Every engine seals with one shared cluster key.
    key: bool,
    capacity: Capacity,
}

const USAGE: &str = "\
usage: simulate [--nodes N] [--loss P] [--seed S] [--rounds R] [--key] [--json]
                [--max-nodes M] [--max-entries E] [--max-state-bytes B] [--window W]

  --nodes N            cluster size, at least 2 (default 100)
  --loss P             independent loss per datagram, 0 <= P < 1 (default 0)
  --seed S             seed of the run (default 1)
  --rounds R           steady-state rounds measured, at least 20 (default 60)
  --key                every node holds one cluster key: every datagram is
                       sealed (29 bytes more each, included in the figures)
  --json               print one JSON object instead of the report
  --max-nodes M        node slots per engine, N..=65535 (default: 128 up to
                       128 nodes, 1024 up to 1024, else N rounded up to a
                       multiple of 256)
  --max-entries E      entry slots per engine (default 12 per node slot)
  --max-state-bytes B  bytes of keys and values per engine, 8 per entry
                       included (default 640 per node slot)
  --window W           detector intervals per node, 1..=65535 (default 1000)";

/// Node slots for a cluster of `nodes` when `--max-nodes` is not given:
/// the two sizes this example always used, then the cluster rounded up to
/// a multiple of 256.
fn default_max_nodes(nodes: usize) -> usize {
    match nodes {
        0..=128 => 128,
        129..=1024 => 1024,
        _ => nodes.div_ceil(256).saturating_mul(256),
    }
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        nodes: 100,
        loss: 0.0,
        seed: 1,
        rounds: 60,
        json: false,
        key: false,
        capacity: Capacity::DEFAULT,
    };
    let (mut max_nodes, mut max_entries, mut max_state_bytes) = (None, None, None);
    let mut window = 1000;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match flag.as_str() {
            "--nodes" => {
                args.nodes = value("--nodes")?
                    .parse()
                    .map_err(|e| format!("--nodes: {e}"))?;
            }
            "--loss" => {
                args.loss = value("--loss")?
                    .parse()
                    .map_err(|e| format!("--loss: {e}"))?;
            }
            "--seed" => {
                args.seed = value("--seed")?
                    .parse()
                    .map_err(|e| format!("--seed: {e}"))?;
            }
            "--rounds" => {
                args.rounds = value("--rounds")?
                    .parse()
                    .map_err(|e| format!("--rounds: {e}"))?;
            }
            "--max-nodes" => {
                max_nodes = Some(
                    value("--max-nodes")?
                        .parse::<usize>()
                        .map_err(|e| format!("--max-nodes: {e}"))?,
                );
            }
            "--max-entries" => {
                max_entries = Some(
                    value("--max-entries")?
                        .parse::<usize>()
                        .map_err(|e| format!("--max-entries: {e}"))?,
                );
            }
            "--max-state-bytes" => {
                max_state_bytes = Some(
                    value("--max-state-bytes")?
                        .parse::<usize>()
                        .map_err(|e| format!("--max-state-bytes: {e}"))?,
                );
            }
            "--window" => {
                window = value("--window")?
                    .parse()
                    .map_err(|e| format!("--window: {e}"))?;
            }
            "--json" => args.json = true,
            "--key" => args.key = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    if args.nodes < 2 {
        return Err("--nodes must be at least 2".into());
    }
    let slots = max_nodes.unwrap_or_else(|| default_max_nodes(args.nodes));
    if slots < args.nodes {
        return Err(format!(
            "--max-nodes ({slots}) must be at least --nodes ({})",
            args.nodes
        ));
    }
    args.capacity = Capacity {
        nodes: slots,
        entries: max_entries.unwrap_or(slots.saturating_mul(12)),
        state_bytes: max_state_bytes.unwrap_or(slots.saturating_mul(640)),
        window,
    };
    if args.capacity.validate().is_err() {
        return Err(format!(
            "unusable capacity {:?}: --max-nodes and --window must be 1 to 65535, \
             --max-entries and --max-state-bytes below 4294967295",
            args.capacity
        ));
    }
    if !(0.0..1.0).contains(&args.loss) {
        return Err("--loss must be at least 0 and below 1".into());
    }
    if args.rounds < 20 {
        return Err("--rounds must be at least 20".into());
    }
    Ok(args)
}

/// Realistic node names: `node-0042.eu-west-1.prod`.
fn node_name(i: usize) -> String {
    const REGIONS: [&str; 3] = ["eu-west-1", "us-east-1", "ap-southeast-2"];
    format!("node-{i:04}.{}.prod", REGIONS[i % REGIONS.len()])
}

/// A printable 32-byte value.
fn value(rng: &mut SimRng) -> Vec<u8> {
    (0..VALUE_LEN)
        .map(|_| b"0123456789abcdef"[rng.below(16) as usize])
        .collect()
}

/// CPU time this process has used (user + system), from `/proc/self/stat`
/// (Linux; `None` elsewhere). Wall time on a shared machine says little.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields of the line, in clock ticks (100 per second on
    // Linux).
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// Median of `v` (mean of the middle two for an even count).
fn median(v: &mut [f64]) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

/// What one run measured.
struct Report {
    capacity: Capacity,
    /// The engine's tables plus the engine value.
    memory_bytes_per_node: usize,
    /// The engine value alone.
    engine_value_bytes: usize,
    /// Every node lists every other as alive (warm-up).
    joined_seconds: Option<f64>,
    /// And holds every node's keys at their latest version.
    converged_seconds: Option<f64>,
    false_positives_warmup: usize,
    rounds: u32,
    bytes_out: f64,
    datagrams_out: f64,
    bytes_in: f64,
    datagrams_in: f64,
    busiest: Option<(String, f64)>,
    lost: u64,
    propagation_median: Option<f64>,
    propagation_max: Option<f64>,
    updates_incomplete: usize,
    detection_median: Option<f64>,
    detection_max: Option<f64>,
    detections_incomplete: usize,
    false_positives: usize,
    /// The first few: (seconds, observer, subject).
    false_positive_list: Vec<(f64, String, String)>,
    wall_total: Duration,
    wall_per_round: Duration,
    cpu_per_round: Option<Duration>,
    /// Datagrams sent sealed and received unsealed over the run, summed
    /// over the engines: with `--key`, every datagram is sealed and none
    /// accepted unsealed.
    sealed_out: u64,
    unsealed_in: u64,
}

/// Every node lists every other as alive and holds all their entries.
fn settled(sim: &Sim) -> bool {
    sim.converged()
        && (0..sim.len()).all(|o| {
            (0..sim.len()).all(|owner| {
                let want = sim.engine(owner).local_node().map(|n| n.max_version());
                let got = sim.engine(o).node(sim.name(owner)).map(|n| n.max_version());
                want == got
            })
        })
}

fn run(args: &Args) -> Result<Report, String> {
    let wall = Instant::now();
    let mut config = SimConfig::new(args.seed);
    config.capacity = args.capacity;
    config.engine.mtu = 1400;
    config.engine.gossip_interval = Duration::from_secs(1);
    config.engine.fanout = 3;
    config.network.loss = args.loss;
    config.network.latency = Latency::Normal {
        mean: Duration::from_millis(1),
        std_dev: Duration::from_micros(500),
        min: Duration::from_micros(100),
    };
    config.seeds = 3;
    config.name = node_name;
    config.first_generation = 1_732_000_000_000;
    // Detection and false positives are tracked without the logs; a
    // thousand nodes' membership logs would hold a million joins.
    config.record_membership = false;
    let interval = config.engine.gossip_interval;
    let mut sim = Sim::try_new(config).map_err(|e| format!("cannot build the engines: {e}"))?;
    // The workload's own choices, separate from the simulation's RNG.
    let mut rng = SimRng::new(args.seed ^ 0x5eed_f10a);

    // 1. Warm-up.
    sim.add_nodes(args.nodes);
    if args.key {
        // Installed before the first tick, so not one datagram goes out
        // unsealed; the first key installed is the one an engine seals with.
        for i in 0..args.nodes {
            sim.engine_mut(i)
                .install_key(ClusterKey::new(SIM_KEY))
                .map_err(|e| format!("node {i} cannot take the cluster key: {e}"))?;
        }
    }
    for i in 0..args.nodes {
        for k in 0..KEYS {
            sim.set(i, &format!("key-{k:02}"), &value(&mut rng))
                .map_err(|e| {
                    format!("node {i} cannot write its keys ({e}): raise --max-entries or --max-state-bytes")
                })?;
        }
    }
    // Checked every simulated second: a cold start is measured to the
    // interval (issue 11: the reply bound may cost one, not more).
    let check_every = Duration::from_secs(1);
    let joined = sim.wait_for(WARMUP_LIMIT, check_every, Sim::converged);
    let converged = joined.and_then(|_| {
        sim.wait_for(WARMUP_LIMIT, check_every, settled)
            .map(|_| sim.now())
    });
    let false_positives_warmup = sim.false_positives().len();

    // 2. Steady state: traffic and propagation.
    sim.reset_metrics();
    let window = interval * args.rounds;
    let spacing = (window - interval * 15) / UPDATES as u32;
    let start = sim.now();
    let steady_wall = Instant::now();
    let steady_cpu = cpu_time();
    let mut tracked = Vec::new();
    for u in 0..UPDATES {
        let at = start + spacing * u as u32 + Duration::from_micros(rng.below(1_000_000));
        sim.run_until(at);
        let node = rng.below(args.nodes as u64) as usize;
        let key = format!("key-{:02}", rng.below(KEYS as u64));
        let id = sim
            .set_tracked(node, &key, &value(&mut rng))
            .map_err(|e| format!("node {node} cannot update {key}: {e}"))?;
        tracked.push(id);
    }
    sim.run_until(start + window);
    let wall_per_round = steady_wall.elapsed() / args.rounds;
    let cpu_per_round = cpu_time()
        .zip(steady_cpu)
        .map(|(end, start)| end.saturating_sub(start) / args.rounds);
    let metrics = sim.metrics();
    // Stragglers (traffic is no longer counted).
    sim.wait_for(Duration::from_secs(60), interval, |s| {
        tracked.iter().all(|&t| s.propagation(t).duration.is_some())
    });
    let mut rounds: Vec<f64> = tracked
        .iter()
        .filter_map(|&t| sim.propagation(t).rounds)
        .collect();
    let updates_incomplete = UPDATES - rounds.len();
    let propagation_median = median(&mut rounds);
    let propagation_max = rounds.last().copied();

    // 3. Crashes, one at a time.
    let seeds = 3.min(args.nodes - 1);
    let mut victims = Vec::new();
    while victims.len() < CRASHES.min(args.nodes - seeds - 1) {
        let v = seeds + rng.below((args.nodes - seeds) as u64) as usize;
        if !victims.contains(&v) {
            victims.push(v);
        }
    }
    for &v in &victims {
        sim.crash(v);
        sim.run_for(CRASH_SPACING);
    }
    sim.wait_for(Duration::from_secs(60), interval, |s| {
        victims
            .iter()
            .all(|&v| s.detection(v).is_some_and(|d| d.is_complete()))
    });
    let mut times = Vec::new();
    let mut detections_incomplete = 0;
    for &v in &victims {
        let d = sim.detection(v).expect("crash tracked");
        detections_incomplete += d.latencies.len() - d.detected();
        times.extend(d.sorted().iter().map(Duration::as_secs_f64));
    }
    let detection_median = median(&mut times);
    let detection_max = times.last().copied();

    let engine_value_bytes = size_of_val(sim.engine(0));
    let (sealed_out, unsealed_in) = (0..sim.len()).fold((0, 0), |(s, u), i| {
        let c = sim.engine(i).counters();
        (s + c.sealed_out, u + c.unsealed_in)
    });
    Ok(Report {
        sealed_out,
        unsealed_in,
        capacity: args.capacity,
        memory_bytes_per_node: args.capacity.memory_bytes() + engine_value_bytes,
        engine_value_bytes,
        joined_seconds: joined.map(|d| d.as_secs_f64()),
        converged_seconds: converged.map(|d| d.as_secs_f64()),
        false_positives_warmup,
        rounds: args.rounds,
        bytes_out: metrics.bytes_out_per_node_per_round(),
        datagrams_out: metrics.datagrams_out_per_node_per_round(),
        bytes_in: metrics.bytes_in_per_node_per_round(),
        datagrams_in: metrics.datagrams_in_per_node_per_round(),
        busiest: metrics
            .max_bytes_out_per_round()
            .map(|(i, b)| (sim.name(i).to_string(), b)),
        lost: metrics.net.lost,
        propagation_median,
        propagation_max,
        updates_incomplete,
        detection_median,
        detection_max,
        detections_incomplete,
        false_positives: sim.false_positives().len(),
        false_positive_list: sim
            .false_positives()
            .iter()
            .take(5)
            .map(|f| {
                (
                    f.at.as_secs_f64(),
                    sim.name(f.observer).to_string(),
                    sim.name(f.subject.node).to_string(),
                )
            })
            .collect(),
        wall_total: wall.elapsed(),
        wall_per_round,
        cpu_per_round,
    })
}

/// A JSON number, or `null` for a missing or non-finite value.
fn num(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() => {
            let s = format!("{x:.3}");
            let s = s.trim_end_matches('0').trim_end_matches('.');
            s.to_string()
        }
        _ => "null".into(),
    }
}

/// A JSON string (the strings printed here need no escaping but quotes and
/// backslashes are escaped anyway).
fn string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn print_json(args: &Args, r: &Report) {
    let fields: Vec<(&str, String)> = vec![
        ("nodes", args.nodes.to_string()),
        ("loss", num(Some(args.loss))),
        ("seed", args.seed.to_string()),
        ("rounds", r.rounds.to_string()),
        ("max_nodes", r.capacity.nodes.to_string()),
        ("max_entries", r.capacity.entries.to_string()),
        ("max_state_bytes", r.capacity.state_bytes.to_string()),
        ("window", r.capacity.window.to_string()),
        ("mtu", "1400".into()),
        ("gossip_interval_ms", "1000".into()),
        ("fanout", "3".into()),
        ("key", args.key.to_string()),
        ("keys_per_node", KEYS.to_string()),
        ("value_bytes", VALUE_LEN.to_string()),
        (
            "latency",
            string("normal(mean 1 ms, sd 0.5 ms, min 0.1 ms)"),
        ),
        ("joined_seconds", num(r.joined_seconds)),
        ("converged_seconds", num(r.converged_seconds)),
        ("rounds_to_full_propagation", num(r.propagation_median)),
        ("rounds_to_full_propagation_max", num(r.propagation_max)),
        ("updates", UPDATES.to_string()),
        ("updates_incomplete", r.updates_incomplete.to_string()),
        ("bytes_per_node_per_round", num(Some(r.bytes_out))),
        ("datagrams_per_node_per_round", num(Some(r.datagrams_out))),
        ("bytes_in_per_node_per_round", num(Some(r.bytes_in))),
        ("datagrams_in_per_node_per_round", num(Some(r.datagrams_in))),
        (
            "busiest_node_bytes_per_round",
            num(r.busiest.as_ref().map(|b| b.1)),
        ),
        ("datagrams_lost", r.lost.to_string()),
        ("crashes", CRASHES.to_string()),
        ("detection_seconds_median", num(r.detection_median)),
        ("detection_seconds_max", num(r.detection_max)),
        ("detections_incomplete", r.detections_incomplete.to_string()),
        ("false_positives", r.false_positives.to_string()),
        (
            "false_positives_warmup",
            r.false_positives_warmup.to_string(),
        ),
        ("sealed_datagrams_out", r.sealed_out.to_string()),
        ("unsealed_datagrams_in", r.unsealed_in.to_string()),
        ("memory_bytes_per_node", r.memory_bytes_per_node.to_string()),
        ("engine_value_bytes", r.engine_value_bytes.to_string()),
        ("wall_seconds", num(Some(r.wall_total.as_secs_f64()))),
        (
            "wall_ms_per_round",
            num(Some(r.wall_per_round.as_secs_f64() * 1000.0)),
        ),
        (
            "cpu_ms_per_round",
            num(r.cpu_per_round.map(|d| d.as_secs_f64() * 1000.0)),
        ),
    ];
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}:{v}", string(k)))
        .collect();
    println!("{{{}}}", body.join(","));
}

fn opt(v: Option<f64>, unit: &str) -> String {
    v.map_or("n/a".into(), |x| format!("{x:.2}{unit}"))
}

fn print_report(args: &Args, r: &Report) {
    println!(
        "hearsay simulation: {} nodes, {:.1}% loss, seed {}",
        args.nodes,
        args.loss * 100.0,
        args.seed
    );
    let c = r.capacity;
    println!(
        "  capacity          {} nodes, {} entries, {} state bytes, {}-interval window = {:.2} MiB per node",
        c.nodes,
        c.entries,
        c.state_bytes,
        c.window,
        r.memory_bytes_per_node as f64 / 1048576.0
    );
    println!(
        "  conditions        mtu 1400, interval 1 s, fanout 3, {KEYS} keys x {VALUE_LEN} B per node, latency ~1 ms"
    );
    if args.key {
        println!(
            "  cluster key       every datagram sealed (ChaCha20-Poly1305, 29 B each, counted): \
             {} sealed, {} accepted unsealed",
            r.sealed_out, r.unsealed_in
        );
    } else {
        println!("  cluster key       none (datagrams in clear)");
    }
    println!("warm-up");
    println!("  all alive after   {}", opt(r.joined_seconds, " s"));
    println!("  settled after     {}", opt(r.converged_seconds, " s"));
    println!("  false positives   {}", r.false_positives_warmup);
    println!("steady state ({} rounds)", r.rounds);
    println!(
        "  sent per node     {:.0} B, {:.1} datagrams per round",
        r.bytes_out, r.datagrams_out
    );
    println!(
        "  received per node {:.0} B, {:.1} datagrams per round",
        r.bytes_in, r.datagrams_in
    );
    if let Some((name, b)) = &r.busiest {
        println!("  busiest node      {name}: {b:.0} B per round");
    }
    println!("  datagrams lost    {}", r.lost);
    println!(
        "  propagation       median {} rounds, max {} rounds ({} of {UPDATES} updates incomplete)",
        opt(r.propagation_median, ""),
        opt(r.propagation_max, ""),
        r.updates_incomplete
    );
    println!("crashes ({CRASHES}, {} s apart)", CRASH_SPACING.as_secs());
    println!(
        "  detection         median {}, max {} ({} reports missing)",
        opt(r.detection_median, " s"),
        opt(r.detection_max, " s"),
        r.detections_incomplete
    );
    println!("whole run");
    println!("  false positives   {}", r.false_positives);
    for (at, observer, subject) in &r.false_positive_list {
        println!("    at {at:.3} s {observer} reported {subject} dead");
    }
    println!(
        "  wall time         {:.1} s ({:.1} ms wall, {} CPU per simulated round in the steady state)",
        r.wall_total.as_secs_f64(),
        r.wall_per_round.as_secs_f64() * 1000.0,
        r.cpu_per_round.map_or("n/a".into(), |d| format!(
            "{:.1} ms",
            d.as_secs_f64() * 1000.0
        ))
    );
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let report = match run(&args) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    if args.json {
        print_json(&args, &report);
    } else {
        print_report(&args, &report);
    }
    ExitCode::SUCCESS
}
