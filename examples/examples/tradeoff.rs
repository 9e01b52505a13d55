//! Bandwidth against detection time: runs the `simulate` measurement
//! ([`hearsay_sim::measure`]) once per setting of a small grid of gossip
//! interval, fanout and detector pause, in this process, and writes a table
//! and a plot of the trade-off.
//!
//! ```sh
//! cargo run --release -p examples --example tradeoff -- --nodes 200 --out tradeoff
//! cargo run --release -p examples --example tradeoff -- --nodes 200 \
//!     --settings "interval=1000,fanout=3,pause=2000;interval=500,fanout=2,pause=1000"
//! ```
//!
//! Options: `--settings GRID` (settings separated by `;`, each a
//! `,`-separated list of `interval=MS`, `fanout=F`, `pause=MS`,
//! `min-std=MS`; default [`hearsay_sim::grid::DEFAULT_GRID`], seven settings around the
//! defaults), `--out PREFIX` (default `tradeoff`), `--per-second` (plot
//! bytes per node per second instead of per round), and every workload
//! option of `simulate` but `--json` (`--nodes` defaults to 200 here).
//! Every setting is checked before the first run; a bad one is reported
//! with exit status 2.
//!
//! It writes, for the settings in the order given:
//!
//! - `PREFIX.csv` — one row per setting: `label`, `interval_ms`, `fanout`,
//!   `pause_ms`, `min_std_ms`, `bytes_per_node_per_round`,
//!   `bytes_per_node_per_second`,
//!   `detection_seconds_median`, `detection_seconds_max`,
//!   `rounds_to_full_propagation`, `false_positives`,
//!   `detections_incomplete` (empty cells: not measured);
//! - `PREFIX.json` — an array of the full `simulate --json` objects;
//! - `PREFIX.svg` — a scatter plot, x = bytes sent per node per round
//!   (per second with `--per-second`), y = median detection time (s), each
//!   point labelled with its setting.
//!
//! Per round, a shorter interval looks free: half the interval sends
//! about the same bytes per round, twice as often. Compare settings of
//! different intervals per second (`--per-second`, or the table).
//!
//! Detection here is over the five spaced crashes (or `--mass-crash`, or
//! `--crash-count`, with or without `--crash-together`), so a point's y
//! is the median of about 5 × N reports; `simulate`'s scenarios without
//! crashes (`--flip-partitions`, `--lossy-nodes`) are refused. Runs are
//! deterministic; only `wall_seconds` and the CPU and memory figures vary.

use std::process::ExitCode;

use examples::measure_cli::{TradeoffArgs, TradeoffCli, parse_or_exit};
use hearsay_sim::measure::{self, Report, json_number};
use hearsay_sim::plot::{Point, scatter_svg};

/// A CSV cell: quoted when it holds a comma, a quote or a line break.
fn cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// A CSV number (empty when not measured).
fn number(v: Option<f64>) -> String {
    match json_number(v).as_str() {
        "null" => String::new(),
        s => s.to_string(),
    }
}

/// Bytes sent per node per second: per round over the interval.
fn per_second(r: &Report) -> f64 {
    r.bytes_out / r.workload.interval.as_secs_f64()
}

fn csv(rows: &[(String, Report)]) -> String {
    let mut out = String::from(
        "label,interval_ms,fanout,pause_ms,min_std_ms,bytes_per_node_per_round,\
         bytes_per_node_per_second,detection_seconds_median,detection_seconds_max,rounds_to_full_propagation,\
         false_positives,detections_incomplete\n",
    );
    for (label, r) in rows {
        let d = r.workload.config().detector;
        let fields = [
            cell(label),
            r.workload.interval.as_millis().to_string(),
            r.workload.fanout.to_string(),
            d.acceptable_heartbeat_pause.as_millis().to_string(),
            d.min_std_deviation.as_millis().to_string(),
            number(Some(r.bytes_out)),
            number(Some(per_second(r))),
            number(r.detection_median),
            number(r.detection_max),
            number(r.propagation_median),
            r.false_positives.to_string(),
            r.detections_incomplete.to_string(),
        ];
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out
}

fn write(path: &str, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {path}: {e}"))
}

fn run(args: &TradeoffArgs) -> Result<(), String> {
    let mut rows = Vec::new();
    for (k, setting) in args.settings.iter().enumerate() {
        let workload = setting.apply(&args.base);
        let label = setting.label(&workload);
        eprintln!("[{}/{}] {label}", k + 1, args.settings.len());
        let report = measure::run(&workload)?;
        eprintln!(
            "        {:.0} B per node per round, detection median {} s, {} false positives, {:.1} s wall",
            report.bytes_out,
            json_number(report.detection_median),
            report.false_positives,
            report.wall_total.as_secs_f64()
        );
        rows.push((label, report));
    }
    let points: Vec<Point> = rows
        .iter()
        .map(|(label, r)| Point {
            x: if args.per_second {
                per_second(r)
            } else {
                r.bytes_out
            },
            y: r.detection_median.unwrap_or(f64::NAN),
            label: label.clone(),
        })
        .collect();
    let b = &args.base;
    let title = format!(
        "hearsay: bandwidth against detection, {} nodes, {:.0}% loss, seed {}",
        b.nodes,
        b.loss * 100.0,
        b.seed
    );
    let svg = scatter_svg(
        &title,
        if args.per_second {
            "bytes sent per node per second"
        } else {
            "bytes sent per node per round"
        },
        "detection median (s)",
        &points,
    );
    let json: Vec<String> = rows.iter().map(|(_, r)| r.to_json()).collect();
    write(&format!("{}.csv", args.out), &csv(&rows))?;
    write(
        &format!("{}.json", args.out),
        &format!("[{}]\n", json.join(",\n")),
    )?;
    write(&format!("{}.svg", args.out), &svg)?;
    println!("{}", csv(&rows).trim_end());
    eprintln!("wrote {0}.csv, {0}.json and {0}.svg", args.out);
    Ok(())
}

fn main() -> ExitCode {
    // Usage errors end here, with the option named and status 2.
    let args = parse_or_exit(TradeoffCli::check);
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
