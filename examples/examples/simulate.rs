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
//! [`hearsay_sim::cli`]; this program prints the result.
//!
//! # Options
//!
//! - `--nodes N` — cluster size, at least 2 (default 100).
//! - `--loss P` — independent loss per datagram, `0 <= P < 1` (default 0).
//! - `--seed S` — seed of the run (default 1).
//! - `--rounds R` — steady-state rounds measured, 20 to 1,000,000
//!   (default 60).
//! - `--key` — every node holds one cluster key, so every datagram is
//!   sealed and the traffic figures include the 29 bytes each carries.
//! - `--json` — print exactly one JSON object instead of the readable
//!   report.
//! - `--keys K` — keys each node writes (`key-00`, `key-01`...), 0 to
//!   10,000 (default 10). With none, the steady state's updates write a
//!   first key.
//! - `--value-len V` — bytes of each value (default 32); key and value
//!   must fit one datagram.
//! - `--interval-ms MS` — gossip interval, 1 to 3,600,000 (default 1000).
//!   The detector's first heartbeat estimate (the interval), its longest
//!   learned interval (10 intervals, at most 65 s) and the pending timeout
//!   (10 intervals) follow it; at 1000 they are the core's defaults.
//! - `--fanout F` — peers each round gossips with, 1 to 65,535 (default 3).
//! - `--pause-ms MS` — the detector's acceptable heartbeat pause, at most a
//!   day (default: the core's, 1250).
//! - `--min-std-ms MS` — the detector's minimum standard deviation, at most
//!   a day (default: the core's, 400).
//! - `--mass-crash F` — instead of five crashes 20 intervals apart, the
//!   fraction `0 < F <= 1` of the non-seed nodes (rounded, at least one)
//!   crashes at one instant.
//! - `--crash-count C` — `C` random non-seed nodes crash instead of five
//!   (1 to the non-seed nodes).
//! - `--crash-together` — the crashes happen at one instant rather than 20
//!   intervals apart (`--crash-count 10 --crash-together`: ten
//!   simultaneous crashes).
//! - `--flip-partitions S` — instead of crashes, one-way partitions of `S`
//!   whole seconds (1 to 86,400) between half A (the even-numbered nodes)
//!   and half B (the odd): first A cannot hear B (datagrams from B to A are
//!   dropped; B still hears A), then the reverse, and so on; then none
//!   (Rapid's scenario).
//! - `--flips K` — how many one-way partitions, 1 to 10,000 (default 6);
//!   only with `--flip-partitions`.
//! - `--lossy-nodes F` — instead of crashes, the fraction `0 < F <= 1` of
//!   the non-seed nodes (rounded, at least one; 0.01 of 1000 nodes is 10)
//!   loses datagrams sent to it (its input; its output is intact).
//! - `--lossy-loss P` — the loss on a lossy node's input, on top of
//!   `--loss` (drawn independently), `0 < P <= 1` (default 0.8).
//! - `--lossy-seconds T` — how long the input stays lossy, 1 to 86,400 s
//!   (default 300).
//!
//! Only one of `--mass-crash`, `--crash-count`/`--crash-together`,
//! `--flip-partitions` and `--lossy-nodes` may be given.
//!
//! - `--progress` — a line on standard error as each phase starts and ends.
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
//! One object on one line, fields in this order. Settings:
//!
//! | field | unit | meaning |
//! |---|---|---|
//! | `nodes` | nodes | `--nodes` |
//! | `loss` | probability | `--loss` |
//! | `seed` | — | `--seed` |
//! | `rounds` | gossip intervals | steady-state rounds, `--rounds` |
//! | `max_nodes` | slots | node slots per engine |
//! | `max_entries` | slots | entry slots per engine |
//! | `max_state_bytes` | bytes | arena per engine |
//! | `window` | intervals | detector window per node |
//! | `mtu` | bytes | always 1400 |
//! | `gossip_interval_ms` | ms | `--interval-ms` |
//! | `fanout` | peers | `--fanout` |
//! | `acceptable_pause_ms` | ms | detector pause in effect |
//! | `min_std_deviation_ms` | ms | detector minimum deviation in effect |
//! | `key` | bool | `--key`: every datagram sealed |
//! | `keys_per_node` | keys | `--keys` |
//! | `value_bytes` | bytes | `--value-len` |
//! | `latency` | text | the one-way latency distribution |
//!
//! Figures (`null` when not measured, e.g. a warm-up that never ended):
//!
//! | field | unit | meaning |
//! |---|---|---|
//! | `joined_seconds` | s (virtual) | warm-up until every node lists every other alive |
//! | `converged_seconds` | s (virtual) | warm-up until every node also holds every key |
//! | `rounds_to_full_propagation` | gossip intervals | median over the updates, write to last node |
//! | `rounds_to_full_propagation_max` | gossip intervals | slowest update |
//! | `updates` | updates | updates tracked (10) |
//! | `updates_incomplete` | updates | updates some node never saw |
//! | `bytes_per_node_per_round` | bytes | UDP payload sent per node per round, steady state |
//! | `datagrams_per_node_per_round` | datagrams | sent per node per round |
//! | `bytes_in_per_node_per_round` | bytes | received per node per round |
//! | `datagrams_in_per_node_per_round` | datagrams | received per node per round |
//! | `busiest_node_bytes_per_round` | bytes | the node that sent most, per round |
//! | `datagrams_lost` | datagrams | lost by the network in the steady state |
//! | `crashes` | nodes | nodes crashed in phase 3 |
//! | `mass_crash` | fraction | `--mass-crash`, `null` for spaced crashes |
//! | `detection_pairs` | pairs | (observer, crashed node) pairs awaited |
//! | `detection_seconds_median` | s (virtual) | median time from crash to report, over all pairs |
//! | `detection_seconds_max` | s (virtual) | slowest report |
//! | `detections_incomplete` | pairs | pairs with no report within the limit |
//! | `false_positives` | reports | `NodeDead` about a running, reachable node, whole run |
//! | `false_positives_warmup` | reports | of which during the warm-up |
//! | `false_positive_list` | [[s, name, name]] | every one: when (seconds since the start), observer, node reported dead |
//! | `flapping` | pairs | (observer, node) pairs in which the observer reported the node dead, then alive again, then dead again; whole run |
//! | `fault` | text | phase 3: `spaced-crashes`, `crashes-together`, `mass-crash`, `flip-partitions` or `lossy-nodes` |
//! | `crash_count` | nodes | `--crash-count`, else `null` |
//! | `flip_seconds` | s | `--flip-partitions`, else `null` |
//! | `flips` | partitions | one-way partitions played |
//! | `same_side_convictions` | reports | a node of the observer's own half reported dead: this scenario's false positives |
//! | `same_side_convictions_hearing` | reports | of which by the hearing half (whose datagrams to the other half were dropped) while the partitions lasted |
//! | `deaf_side_convictions` | reports | a node of the other half reported dead by a node that could not hear it: expected |
//! | `hearing_side_convictions` | reports | a node of the other half reported dead by a node that could hear it, during the partitions |
//! | `cross_convictions_after_partitions` | reports | a node of the other half reported dead after the last partition |
//! | `unexpected_cross_list` | [[s, name, name]] | the first 20 of those two kinds |
//! | `flapping_same_side` | pairs | flapping pairs within a half (from the fault's start) |
//! | `flapping_cross_side` | pairs | flapping pairs across the halves: expected once each half was deaf twice |
//! | `lossy_nodes` | nodes | nodes with lossy input (`--lossy-nodes`) |
//! | `lossy_loss` | probability | `--lossy-loss` |
//! | `lossy_seconds` | s | `--lossy-seconds` |
//! | `healthy_convicted` | reports | a healthy (not lossy) node reported dead by anyone: this scenario's false positives |
//! | `healthy_convicted_by_lossy` | reports | of which by a lossy node |
//! | `lossy_convicted_by_healthy` | reports | a lossy node reported dead by a healthy one |
//! | `flapping_healthy` | pairs | flapping pairs about a healthy node (from the fault's start) |
//! | `flapping_lossy` | pairs | flapping pairs of a healthy observer and a lossy node |
//! | `heal_seconds` | s (virtual) | from the end of the partitions or the loss to every node listing every other alive |
//! | `fault_false_positives` | reports | the scenario's false positives: `same_side_convictions`, `healthy_convicted`, or with crashes `false_positives` |
//! | `fault_false_positive_list` | [[s, name, name]] | the first 20 of those |
//! | `sealed_datagrams_out` | datagrams | sent sealed, summed over the engines |
//! | `unsealed_datagrams_in` | datagrams | accepted unsealed, summed over the engines |
//! | `memory_bytes_per_node` | bytes | engine tables ([`Capacity::memory_bytes`](hearsay_core::Capacity::memory_bytes)) + engine value |
//! | `engine_value_bytes` | bytes | the engine value alone |
//! | `wall_seconds` | s (wall) | the whole run |
//! | `peak_rss_bytes` | bytes | the process's peak resident set (`VmHWM`; `null` off Linux) |
//! | `wall_ms_per_round` | ms (wall) | per steady-state round |
//! | `cpu_ms_per_round` | ms (CPU) | per steady-state round (`null` off Linux) |
//!
//! `false_positives` counts `NodeDead` reports about nodes that were
//! running and reachable, over the whole run (`false_positives_warmup`
//! counts those of phase 1 alone). Under `--flip-partitions` a node of the
//! other half is never "reachable" while a partition lasts, so that count
//! is the same-half reports (and any cross report more than 10 s after the
//! last partition); under `--lossy-nodes` it also counts lossy nodes
//! reported dead: `fault_false_positives` is the scenario's own
//! definition. Fields from `flapping` on are new with issue 13; the fields
//! before them are unchanged, in the same order.

use std::process::ExitCode;

use hearsay_sim::cli::{Parsed, SIMULATE_USAGE, SimulateArgs, parse_simulate};
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
    let args = match parse_simulate(std::env::args().skip(1)) {
        Ok(Parsed::Run(a)) => a,
        Ok(Parsed::Help) => {
            println!("{SIMULATE_USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let SimulateArgs { workload, json } = args;
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
