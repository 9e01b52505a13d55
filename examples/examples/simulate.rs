//! Simulates a hearsay cluster and measures it against the targets of
//! issues 4, 12 and 13: propagation rounds, bandwidth, crash detection
//! time (of spaced crashes, crashes together, or a mass failure), false
//! positives and flapping (also under one-way partitions that flip and
//! nodes with lossy input), cold start, and the memory a node and the
//! whole simulation take.
//!
//! ```sh
//! cargo run --release -p examples --example simulate -- --nodes 1000 --loss 0.1 --seed 1
//! cargo run --release -p examples --example simulate -- --nodes 100 --loss 0 --seed 1 --json
//! cargo run --release -p examples --example simulate -- --nodes 5000 --keys 1 --value-len 8 --window 100 --json
//! cargo run --release -p examples --example simulate -- --nodes 1000 --mass-crash 0.1 --json
//! cargo run --release -p examples --example simulate -- --nodes 1000 --crash-count 10 --crash-together --rounds 20 --json
//! cargo run --release -p examples --example simulate -- --nodes 1000 --flip-partitions 20 --flips 6 --rounds 20 --json
//! cargo run --release -p examples --example simulate -- --nodes 1000 --lossy-nodes 0.01 --lossy-seconds 300 --rounds 20 --json
//! ```
//!
//! The workload, its phases and the figures live in
//! [`hearsay_sim::measure`] (shared with `tradeoff`), the option parsing in
//! [`examples::measure_cli`] (clap); this program prints the result.
//!
//! # Options
//!
//! `simulate --help` lists them all with their ranges and defaults: the
//! cluster (`--nodes`, `--loss`, `--seed`, `--rounds`, `--key`, `--keys`,
//! `--value-len`), the protocol (`--interval-ms`, `--fanout`, `--pause-ms`,
//! `--min-std-ms`), phase 3's scenario (`--mass-crash`, `--crash-count`,
//! `--crash-together`, `--flip-partitions` and `--flips` — Rapid's flipping
//! one-way partitions —, `--lossy-nodes`, `--lossy-loss`,
//! `--lossy-seconds`; one scenario at a time), `--json`, `--progress`, and
//! the engines' capacity below.
//!
//! Every engine's capacity ([`Capacity`](hearsay_core::Capacity)) can be
//! set too; the defaults follow the node count, the keys and the value
//! length:
//!
//! - `--max-nodes M` — node slots, at least `N` (at most 65,535). Default
//!   128 for up to 128 nodes, 1024 for up to 1024, beyond that `N` rounded
//!   up to a multiple of 256 (1500 nodes: 1536 slots).
//! - `--max-entries E` — entry slots, default `K + 2` per node slot (the
//!   keys, the leave entry and one to spare: 12 for 10 keys).
//! - `--max-state-bytes B` — bytes of keys and values, default per node
//!   slot a full namespace (the keys and the leave entry, each with an
//!   8-byte block header) and a quarter more, rounded up to 64 bytes: 640
//!   for 10 keys of 32 bytes, 64 for one key of 8 bytes.
//! - `--window W` — detector intervals per node (1..=65,535), default
//!   the core's, 256.
//!
//! Every value is checked before anything runs (a node's keys are written
//! into one engine of the chosen capacity and settings first); a bad one
//! is reported with the option's name and exit status 2.
//!
//! Memory grows with the square of the cluster size: every node holds a
//! slot, a detector window and the entries of every other node. A node
//! slot costs about 398 bytes plus the window, an entry slot 52, plus the
//! state bytes (`memory_bytes_per_node` is the exact figure). At 1000 nodes
//! the defaults take 1.87 MiB per node, 1.8 GiB in all; at 5000 nodes with
//! `--keys 1 --value-len 8 --window 100`, 5120 × (398 + 100 + 3 × 52 + 64)
//! bytes = 3.51 MiB per node, 17.1 GiB in all (`--window 50`: 15.9 GiB).
//!
//! # Conditions
//!
//! mtu 1400, gossip interval, fanout and detector as set (default 1 s, 3,
//! the core's: phi threshold 8, minimum deviation 400 ms, acceptable pause
//! 1.25 s, window 256), every other setting at its default; names like
//! `node-0042.eu-west-1.prod` and millisecond-timestamp generations; 3
//! seeds; one-way latency normal with mean 1 ms, standard deviation 0.5
//! ms, at least 0.1 ms; independent loss of `P` per datagram.
//!
//! # Phases
//!
//! All on the simulator's virtual clock (one run is deterministic for its
//! options; only the wall, CPU and memory figures vary):
//!
//! 1. **Warm-up**: all nodes start within the first interval, know only
//!    the seeds, write their keys, and run until every node lists every
//!    other as alive (`joined_seconds`) and holds every node's keys at
//!    their latest version (`converged_seconds`), both checked every
//!    gossip interval, for at most 600 intervals each.
//! 2. **Steady state** (`R` rounds): traffic is measured per node and
//!    round; ten key updates by random nodes at random times are tracked
//!    until every node has seen them (`rounds_to_full_propagation` is
//!    their median, in gossip intervals).
//! 3. **Crashes**: five random non-seed nodes crash silently, 20 intervals
//!    apart — or, with `--mass-crash`, that fraction of the non-seed nodes
//!    crashes at one instant; each live node's time to report each crash
//!    is recorded, waiting until every report came or 60 intervals plus
//!    ten pauses passed (`detection_seconds_median` / `_max` are over all
//!    (observer, crashed node) pairs; `detections_incomplete` counts the
//!    pairs still missing). With `--flip-partitions` or `--lossy-nodes`,
//!    nothing crashes: the partitions flip (or the lossy nodes' input is
//!    lossy) for their time, then the network is whole again and the run
//!    waits until every node lists every other alive (`heal_seconds`,
//!    checked every tenth of an interval, for at most the same limit).
//!    Every `NodeDead` report from the fault's start to the end is sorted
//!    by what the scenario expects of it (the table below).
//!
//! # JSON (`--json`)
//!
//! One object on one line. Its fields, in order, with their types and
//! units, and the rule that keeps the schema stable (fields are only ever
//! added, at the end) are in `docs/simulate-json.md`;
//! `examples/tests/simulate_json.rs` checks this program's output against
//! that document.

use std::process::ExitCode;

use examples::measure_cli::{SimulateArgs, SimulateCli, parse_or_exit};
use hearsay_sim::measure::{self, CRASH_SPACING_INTERVALS, LATENCY, MTU, Report};

fn opt(v: Option<f64>, unit: &str) -> String {
    v.map_or("n/a".into(), |x| format!("{x:.2}{unit}"))
}

fn print_report(r: &Report) {
    let w = &r.workload;
    let detector = w.config().detector;
    println!(
        "hearsay simulation: {} nodes, {:.1}% loss, seed {}",
        w.nodes,
        w.loss * 100.0,
        w.seed
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
        "  conditions        mtu {MTU}, interval {} ms, fanout {}, pause {} ms, min std {} ms, \
         {} keys x {} B per node, latency {LATENCY}",
        w.interval.as_millis(),
        w.fanout,
        detector.acceptable_heartbeat_pause.as_millis(),
        detector.min_std_deviation.as_millis(),
        w.keys,
        w.value_len
    );
    if w.sealed {
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
    println!("steady state ({} rounds)", w.rounds);
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
        "  propagation       median {} rounds, max {} rounds ({} of {} updates incomplete)",
        opt(r.propagation_median, ""),
        opt(r.propagation_max, ""),
        r.updates_incomplete,
        r.updates
    );
    print_fault(r);
    println!("whole run");
    println!("  false positives   {}", r.false_positives);
    for (at, observer, subject) in r.false_positive_list.iter().take(5) {
        println!("    at {at:.3} s {observer} reported {subject} dead");
    }
    println!(
        "  flapping          {} (observer, node) pairs reported dead, alive, dead",
        r.flapping
    );
    println!(
        "  wall time         {:.1} s ({:.1} ms wall, {} CPU per simulated round in the steady state)",
        r.wall_total.as_secs_f64(),
        r.wall_per_round.as_secs_f64() * 1000.0,
        r.cpu_per_round.map_or("n/a".into(), |d| format!(
            "{:.1} ms",
            d.as_secs_f64() * 1000.0
        ))
    );
    println!(
        "  peak memory       {}",
        r.peak_rss_bytes.map_or("n/a".into(), |b| format!(
            "{:.2} GiB resident",
            b as f64 / (1u64 << 30) as f64
        ))
    );
}

/// Phase 3: the crashes' detection, or the fault scenario's figures.
fn print_fault(r: &Report) {
    let w = &r.workload;
    if let Some(f) = &r.flip {
        println!(
            "one-way partitions ({} of {} s, halves of {} and {} nodes)",
            f.flips,
            f.period.as_secs(),
            f.sides.0,
            f.sides.1
        );
        println!(
            "  same half         {} convictions ({} by the hearing half): false positives",
            f.same_side, f.same_side_hearing
        );
        println!(
            "  far half          {} by the deaf half (expected), {} by a node that heard it, \
             {} after the partitions",
            f.deaf_side, f.hearing_side, f.after_partitions
        );
        println!(
            "  flapping          {} pairs within a half, {} across",
            f.flapping_same_side, f.flapping_cross_side
        );
        println!(
            "  membership back   {} after the last partition",
            opt(f.heal_seconds, " s")
        );
        print_listed(r);
        return;
    }
    if let Some(l) = &r.lossy {
        println!(
            "lossy nodes ({} with {:.0}% input loss for {} s)",
            l.nodes.len(),
            l.loss * 100.0,
            l.duration.as_secs()
        );
        println!(
            "  healthy convicted {} ({} by a lossy node): false positives",
            l.healthy_convicted, l.healthy_convicted_by_lossy
        );
        println!(
            "  lossy convicted   {} by healthy nodes",
            l.lossy_convicted_by_healthy
        );
        println!(
            "  flapping          {} pairs about a healthy node, {} healthy about lossy",
            l.flapping_healthy, l.flapping_lossy
        );
        println!(
            "  membership back   {} after the loss",
            opt(l.heal_seconds, " s")
        );
        print_listed(r);
        return;
    }
    match w.mass_crash {
        Some(f) => println!(
            "crashes ({} at once: {:.1}% of the non-seed nodes)",
            r.crashes,
            f * 100.0
        ),
        None if w.crash_together => println!("crashes ({} at once)", r.crashes),
        None => println!(
            "crashes ({}, {CRASH_SPACING_INTERVALS} intervals apart)",
            r.crashes
        ),
    }
    println!(
        "  detection         median {}, max {} over {} pairs ({} reports missing)",
        opt(r.detection_median, " s"),
        opt(r.detection_max, " s"),
        r.detection_pairs,
        r.detections_incomplete
    );
    for (observer, subject) in &r.missing_detections {
        println!("    {observer} never reported {subject} dead");
    }
}

/// The first few false positives of the fault scenario.
fn print_listed(r: &Report) {
    for (at, observer, subject) in r.fault_false_positive_list().iter().take(5) {
        println!("    at {at:.3} s {observer} reported {subject} dead");
    }
}

fn main() -> ExitCode {
    // Usage errors end here, with the option named and status 2.
    let SimulateArgs { workload, json } = parse_or_exit(SimulateCli::check);
    let report = match measure::run(&workload) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    if json {
        println!("{}", report.to_json());
    } else {
        print_report(&report);
    }
    ExitCode::SUCCESS
}
