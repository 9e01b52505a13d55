//! The command lines of the measurement tools, `examples/simulate.rs` and
//! `examples/tradeoff.rs`: parsed here, next to the [`Workload`] they
//! fill, rather than in the examples, because `cargo test` runs a
//! library's unit tests but not an example's. Both tools take the same
//! workload options ([`SIMULATE_USAGE`]); `tradeoff` adds a grid of
//! settings ([`parse_settings`]) and where to write its files.
//!
//! Every value is checked: a parse error, a value out of range or a
//! workload no engine can hold is a [`UsageError`] naming the option (the
//! tools print it and exit with status 2), never a panic.

use std::format;
use std::string::{String, ToString};
use std::time::Duration;
use std::vec::Vec;

use super::measure::{UsageError, Workload};

/// What a command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed<T> {
    /// Run with these arguments.
    Run(T),
    /// `-h` or `--help`: print the usage and stop.
    Help,
}

/// The options of `simulate`.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulateArgs {
    /// What to run (checked).
    pub workload: Workload,
    /// Print one JSON object instead of the readable report.
    pub json: bool,
}

/// Usage of `simulate`; the workload options are `tradeoff`'s too.
pub const SIMULATE_USAGE: &str = "\
usage: simulate [--nodes N] [--loss P] [--seed S] [--rounds R] [--key] [--json]
                [--keys K] [--value-len V] [--interval-ms MS] [--fanout F]
                [--pause-ms MS] [--min-std-ms MS] [--mass-crash FRACTION]
                [--crash-count C] [--crash-together]
                [--flip-partitions SECONDS] [--flips K]
                [--lossy-nodes FRACTION] [--lossy-loss P] [--lossy-seconds T]
                [--max-nodes M] [--max-entries E] [--max-state-bytes B] [--window W]
                [--progress]

  --nodes N            cluster size, at least 2 (default 100)
  --loss P             independent loss per datagram, 0 <= P < 1 (default 0)
  --seed S             seed of the run (default 1)
  --rounds R           steady-state rounds measured, 20 to 1000000 (default 60)
  --key                every node holds one cluster key: every datagram is
                       sealed (29 bytes more each, included in the figures)
  --json               print one JSON object instead of the report
  --keys K             keys each node writes, 0 to 10000 (default 10)
  --value-len V        bytes of each value; the entry must fit one datagram
                       (default 32)
  --interval-ms MS     gossip interval, 1 to 3600000 (default 1000)
  --fanout F           peers each round gossips with, 1 to 65535 (default 3)
  --pause-ms MS        detector acceptable heartbeat pause, at most 86400000
                       (default: the core's, 1250)
  --min-std-ms MS      detector minimum standard deviation, at most 86400000
                       (default: the core's, 400)
  --mass-crash F       instead of 5 crashes 20 intervals apart, this fraction
                       (0 < F <= 1) of the non-seed nodes crashes at once
  --crash-count C      C non-seed nodes crash instead of 5
  --crash-together     the crashes happen at one instant, not 20 intervals
                       apart (e.g. --crash-count 10 --crash-together)
  --flip-partitions S  instead of crashes: one-way partitions between the
                       even-numbered nodes (half A) and the odd (half B), S
                       seconds each: A cannot hear B (B still hears A), then
                       the reverse, and so on; then none
  --flips K            one-way partitions with --flip-partitions, 1 to 10000
                       (default 6)
  --lossy-nodes F      instead of crashes: this fraction (0 < F <= 1) of the
                       non-seed nodes, at least one, loses datagrams sent to it
  --lossy-loss P       loss on a lossy node's input, on top of --loss,
                       0 < P <= 1 (default 0.8)
  --lossy-seconds T    how long the input stays lossy, 1 to 86400 (default 300)
  --max-nodes M        node slots per engine, N..=65535 (default: 128 up to
                       128 nodes, 1024 up to 1024, else N rounded up to a
                       multiple of 256)
  --max-entries E      entry slots per engine (default K + 2 per node slot)
  --max-state-bytes B  bytes of keys and values per engine, 8 per entry
                       included (default per node slot: a full namespace and
                       a quarter more, rounded up to 64; 640 for 10 keys of
                       32 bytes)
  --window W           detector intervals per node, 1..=65535 (default 256)
  --progress           print a line on stderr as each phase starts and ends

Only one of --mass-crash, --crash-count/--crash-together, --flip-partitions
and --lossy-nodes. After a partition or lossy phase, the run waits for every
node to list every other alive again.

JSON fields (--json) beyond the existing ones, after false_positive_list;
null outside their scenario (a report is one observer's NodeDead event
about one node; a pair is an observer and a node):
  flapping                    pairs in which an observer reported a node dead,
                              alive again, dead again; whole run
  fault                       spaced-crashes, crashes-together, mass-crash,
                              flip-partitions or lossy-nodes
  crash_count                 --crash-count
  flip_seconds, flips         --flip-partitions, one-way partitions played
  same_side_convictions       a node of the observer's own half reported dead
  same_side_convictions_hearing  of which by the hearing half (still heard
                              the other) during the partitions
  deaf_side_convictions       a far node reported dead by a node that could
                              not hear it (expected)
  hearing_side_convictions    a far node reported dead by a node that could
                              hear it, during the partitions
  cross_convictions_after_partitions  a far node reported dead after them
  unexpected_cross_list       the first 20 of those two: [s, observer, node]
  flapping_same_side          flapping pairs within a half
  flapping_cross_side         flapping pairs across the halves (expected)
  lossy_nodes, lossy_loss, lossy_seconds   nodes, their input loss, duration
  healthy_convicted           a healthy (not lossy) node reported dead
  healthy_convicted_by_lossy  of which by a lossy node
  lossy_convicted_by_healthy  a lossy node reported dead by a healthy one
  flapping_healthy            flapping pairs about a healthy node
  flapping_lossy              flapping pairs, healthy observer, lossy node
  heal_seconds                partitions or loss over until every node lists
                              every other alive (virtual s)
  fault_false_positives       same_side_convictions, healthy_convicted, or
                              with crashes false_positives
  fault_false_positive_list   the first 20 of those: [s, observer, node]
The flip and lossy counts cover the fault's start to the end of the run.";

/// The value after option `name`, parsed.
fn value<T>(name: &str, it: &mut impl Iterator<Item = String>) -> Result<T, UsageError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let text = it
        .next()
        .ok_or_else(|| UsageError(format!("{name} needs a value")))?;
    text.parse()
        .map_err(|e| UsageError(format!("{name}: {e} ({text:?})")))
}

/// Milliseconds after option `name`.
fn millis(name: &str, it: &mut impl Iterator<Item = String>) -> Result<Duration, UsageError> {
    value::<u64>(name, it).map(Duration::from_millis)
}

/// Applies workload option `flag` (taking its value from `it`); false if
/// `flag` is not a workload option.
fn workload_option(
    flag: &str,
    it: &mut impl Iterator<Item = String>,
    w: &mut Workload,
) -> Result<bool, UsageError> {
    match flag {
        "--nodes" => w.nodes = value(flag, it)?,
        "--loss" => w.loss = value(flag, it)?,
        "--seed" => w.seed = value(flag, it)?,
        "--rounds" => w.rounds = value(flag, it)?,
        "--key" => w.sealed = true,
        "--keys" => w.keys = value(flag, it)?,
        "--value-len" => w.value_len = value(flag, it)?,
        "--interval-ms" => w.interval = millis(flag, it)?,
        "--fanout" => w.fanout = value(flag, it)?,
        "--pause-ms" => w.pause = Some(millis(flag, it)?),
        "--min-std-ms" => w.min_std = Some(millis(flag, it)?),
        "--mass-crash" => w.mass_crash = Some(value(flag, it)?),
        "--crash-count" => w.crash_count = Some(value(flag, it)?),
        "--crash-together" => w.crash_together = true,
        "--flip-partitions" => {
            w.flip_partitions = Some(Duration::from_secs(value(flag, it)?));
        }
        "--flips" => w.flips = Some(value(flag, it)?),
        "--lossy-nodes" => w.lossy_nodes = Some(value(flag, it)?),
        "--lossy-loss" => w.lossy_loss = Some(value(flag, it)?),
        "--lossy-seconds" => w.lossy_seconds = Some(Duration::from_secs(value(flag, it)?)),
        "--max-nodes" => w.max_nodes = Some(value(flag, it)?),
        "--max-entries" => w.max_entries = Some(value(flag, it)?),
        "--max-state-bytes" => w.max_state_bytes = Some(value(flag, it)?),
        "--window" => w.window = value(flag, it)?,
        "--progress" => w.progress = true,
        _ => return Ok(false),
    }
    Ok(true)
}

fn unknown(flag: &str, usage: &str) -> UsageError {
    UsageError(format!("unknown argument {flag:?}\n{usage}"))
}

/// Parses `simulate`'s arguments (without the program name) and checks the
/// workload ([`Workload::check`]).
pub fn parse_simulate(
    args: impl IntoIterator<Item = String>,
) -> Result<Parsed<SimulateArgs>, UsageError> {
    let mut workload = Workload::new();
    let mut json = false;
    let mut it = args.into_iter();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--json" => json = true,
            "-h" | "--help" => return Ok(Parsed::Help),
            f if workload_option(f, &mut it, &mut workload)? => {}
            other => return Err(unknown(other, SIMULATE_USAGE)),
        }
    }
    workload.check()?;
    Ok(Parsed::Run(SimulateArgs { workload, json }))
}

/// One point of a trade-off grid: the settings it changes from the base
/// workload (`None`: the base's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Setting {
    /// Gossip interval (`interval=MS`).
    pub interval: Option<Duration>,
    /// Fanout (`fanout=F`).
    pub fanout: Option<usize>,
    /// Detector acceptable pause (`pause=MS`).
    pub pause: Option<Duration>,
    /// Detector minimum standard deviation (`min-std=MS`).
    pub min_std: Option<Duration>,
}

impl std::fmt::Display for Setting {
    /// As written in a grid: `interval=500,fanout=2` (`base` when it
    /// changes nothing).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| d.as_millis().to_string();
        let parts: Vec<String> = [
            self.interval.map(|d| format!("interval={}", ms(d))),
            self.fanout.map(|n| format!("fanout={n}")),
            self.pause.map(|d| format!("pause={}", ms(d))),
            self.min_std.map(|d| format!("min-std={}", ms(d))),
        ]
        .into_iter()
        .flatten()
        .collect();
        if parts.is_empty() {
            f.write_str("base")
        } else {
            f.write_str(&parts.join(","))
        }
    }
}

impl Setting {
    /// `base` with this setting's changes.
    pub fn apply(&self, base: &Workload) -> Workload {
        let mut w = base.clone();
        w.interval = self.interval.unwrap_or(w.interval);
        w.fanout = self.fanout.unwrap_or(w.fanout);
        w.pause = self.pause.or(w.pause);
        w.min_std = self.min_std.or(w.min_std);
        w
    }

    /// A short label of the effective settings of `w` (this setting applied
    /// to a base): `1000 ms, fanout 3, pause 1250 ms`, with the minimum
    /// deviation when the setting names it.
    pub fn label(&self, w: &Workload) -> String {
        let detector = w.config().detector;
        let mut label = format!(
            "{} ms, fanout {}, pause {} ms",
            w.interval.as_millis(),
            w.fanout,
            detector.acceptable_heartbeat_pause.as_millis()
        );
        if self.min_std.is_some() || w.min_std.is_some() {
            label.push_str(&format!(
                ", min-std {} ms",
                detector.min_std_deviation.as_millis()
            ));
        }
        label
    }
}

/// The grid `tradeoff` runs when given no `--settings`: the defaults, the
/// pause shortened and lengthened by a third, fanout 2 and 4, and the
/// interval halved and doubled with the pause scaled alike.
pub const DEFAULT_GRID: &str = "interval=1000,fanout=3,pause=1250;\
interval=1000,fanout=3,pause=1000;\
interval=1000,fanout=3,pause=2000;\
interval=1000,fanout=2,pause=1250;\
interval=1000,fanout=4,pause=1250;\
interval=500,fanout=3,pause=625;\
interval=2000,fanout=3,pause=2500";

/// Parses a grid: settings separated by `;`, each a `,`-separated list of
/// `interval=MS`, `fanout=F`, `pause=MS`, `min-std=MS` (each at most once;
/// empty settings between separators are skipped). The values' ranges are
/// checked when the setting is applied to a workload
/// ([`Workload::check`]).
pub fn parse_settings(text: &str) -> Result<Vec<Setting>, UsageError> {
    let err = |m: String| UsageError(format!("--settings: {m}"));
    let mut grid = Vec::new();
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let mut s = Setting::default();
        for pair in part.split(',').map(str::trim) {
            let (name, v) = pair
                .split_once('=')
                .ok_or_else(|| err(format!("{pair:?} is not name=value")))?;
            let (name, v) = (name.trim(), v.trim());
            let ms = || {
                v.parse::<u64>()
                    .map(Duration::from_millis)
                    .map_err(|e| err(format!("{name}: {e} ({v:?})")))
            };
            let twice = || err(format!("{name} given twice in {part:?}"));
            match name {
                "interval" if s.interval.is_none() => s.interval = Some(ms()?),
                "pause" if s.pause.is_none() => s.pause = Some(ms()?),
                "min-std" if s.min_std.is_none() => s.min_std = Some(ms()?),
                "fanout" if s.fanout.is_none() => {
                    s.fanout = Some(v.parse().map_err(|e| err(format!("fanout: {e} ({v:?})")))?);
                }
                "interval" | "pause" | "min-std" | "fanout" => return Err(twice()),
                other => {
                    return Err(err(format!(
                        "unknown setting {other:?} (interval, fanout, pause, min-std)"
                    )));
                }
            }
        }
        grid.push(s);
    }
    if grid.is_empty() {
        return Err(err("no setting given".into()));
    }
    Ok(grid)
}

/// The options of `tradeoff`.
#[derive(Debug, Clone, PartialEq)]
pub struct TradeoffArgs {
    /// The workload every setting changes (checked with each setting).
    pub base: Workload,
    /// The grid, in the order given.
    pub settings: Vec<Setting>,
    /// Where the table and the plot go: `OUT.csv`, `OUT.json`, `OUT.svg`.
    pub out: String,
    /// Plot bytes per node per second instead of per round (settings of
    /// different intervals compare fairly only per second).
    pub per_second: bool,
}

/// Usage of `tradeoff`.
pub const TRADEOFF_USAGE: &str = "\
usage: tradeoff [--settings GRID] [--out PREFIX] [--per-second]
                [workload options of simulate]

  --settings GRID  settings separated by ';', each a ','-separated list of
                   interval=MS, fanout=F, pause=MS, min-std=MS, e.g.
                   \"interval=1000,fanout=3,pause=2000;interval=500,fanout=2,pause=1000\"
                   (default: a built-in grid of 7 settings around the defaults)
  --out PREFIX     write PREFIX.csv, PREFIX.json and PREFIX.svg (default
                   \"tradeoff\")
  --per-second     plot bytes per node per second rather than per round
                   (the table has both)

The workload options are simulate's (simulate --help), except --json and
the scenarios without crashes (--flip-partitions, --lossy-nodes and their
options): the plot is of crash detection; --nodes defaults to 200 here.";

/// Parses `tradeoff`'s arguments (without the program name) and checks the
/// workload of every setting.
pub fn parse_tradeoff(
    args: impl IntoIterator<Item = String>,
) -> Result<Parsed<TradeoffArgs>, UsageError> {
    let mut base = Workload {
        nodes: 200,
        ..Workload::new()
    };
    let mut settings = None;
    let mut out = "tradeoff".to_string();
    let mut per_second = false;
    let mut it = args.into_iter();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--settings" => settings = Some(parse_settings(&value::<String>(&flag, &mut it)?)?),
            "--out" => out = value(&flag, &mut it)?,
            "--per-second" => per_second = true,
            "-h" | "--help" => return Ok(Parsed::Help),
            f if workload_option(f, &mut it, &mut base)? => {}
            other => return Err(unknown(other, TRADEOFF_USAGE)),
        }
    }
    if out.is_empty() {
        return Err(UsageError("--out must not be empty".into()));
    }
    if !base.fault().crashes() {
        return Err(UsageError(
            "tradeoff plots crash detection: --flip-partitions and --lossy-nodes are \
             simulate's only"
                .into(),
        ));
    }
    let settings = match settings {
        Some(s) => s,
        None => parse_settings(DEFAULT_GRID)?,
    };
    for s in &settings {
        s.apply(&base)
            .check()
            .map_err(|e| UsageError(format!("setting {s}: {e}")))?;
    }
    Ok(Parsed::Run(TradeoffArgs {
        base,
        settings,
        out,
        per_second,
    }))
}

/// The arguments of a test: words split on spaces.
#[cfg(test)]
fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::Fault;

    fn simulate(s: &str) -> Result<Parsed<SimulateArgs>, UsageError> {
        parse_simulate(words(s))
    }

    fn error(s: &str) -> String {
        match simulate(s) {
            Err(e) => e.0,
            Ok(p) => panic!("{s:?} was accepted: {p:?}"),
        }
    }

    #[test]
    fn simulate_defaults_and_every_option() {
        let Ok(Parsed::Run(a)) = simulate("") else {
            panic!("no arguments must run the defaults")
        };
        assert_eq!(a.workload, Workload::new());
        assert!(!a.json);
        let line = "--nodes 50 --loss 0.1 --seed 7 --rounds 30 --key --json --keys 1 \
                    --value-len 8 --interval-ms 500 --fanout 4 --pause-ms 1500 \
                    --min-std-ms 100 --mass-crash 0.2 --max-nodes 64 --max-entries 500 \
                    --max-state-bytes 40000 --window 50 --progress";
        let Ok(Parsed::Run(a)) = simulate(line) else {
            panic!("every option at a valid value")
        };
        let w = a.workload;
        assert!(a.json && w.sealed && w.progress);
        assert_eq!(
            (w.nodes, w.seed, w.rounds, w.keys, w.value_len),
            (50, 7, 30, 1, 8)
        );
        assert_eq!(w.loss, 0.1);
        assert_eq!(w.interval, Duration::from_millis(500));
        assert_eq!(w.fanout, 4);
        assert_eq!(w.pause, Some(Duration::from_millis(1500)));
        assert_eq!(w.min_std, Some(Duration::from_millis(100)));
        assert_eq!(w.mass_crash, Some(0.2));
        let c = w.capacity();
        assert_eq!(
            (c.nodes, c.entries, c.state_bytes, c.window),
            (64, 500, 40_000, 50)
        );
        assert_eq!(simulate("--help"), Ok(Parsed::Help));
        assert_eq!(simulate("--nodes 5 -h --bogus"), Ok(Parsed::Help));
    }

    #[test]
    fn simulate_refuses_bad_values_with_the_option_named() {
        let cases = [
            ("--nodes", "--nodes"),
            ("--nodes x", "--nodes"),
            ("--nodes -3", "--nodes"),
            ("--nodes 1", "--nodes"),
            ("--loss 1", "--loss"),
            ("--loss -0.1", "--loss"),
            ("--loss NaN", "--loss"),
            ("--rounds 19", "--rounds"),
            ("--rounds 2000000", "--rounds"),
            ("--keys 10001", "--keys"),
            ("--keys 1.5", "--keys"),
            ("--value-len 1400", "--value-len"),
            ("--interval-ms 0", "--interval-ms"),
            ("--interval-ms 3600001", "--interval-ms"),
            ("--fanout 0", "--fanout"),
            ("--pause-ms 86400001", "--pause-ms"),
            ("--min-std-ms 86400001", "--min-std-ms"),
            ("--pause-ms 99999999999999999999", "--pause-ms"),
            ("--mass-crash 0", "--mass-crash"),
            ("--mass-crash 1.5", "--mass-crash"),
            ("--mass-crash NaN", "--mass-crash"),
            ("--nodes 3 --mass-crash 0.5", "--mass-crash"),
            ("--nodes 200 --max-nodes 100", "--max-nodes"),
            ("--max-nodes 70000", "--max-nodes"),
            ("--window 0", "--window"),
            ("--max-entries 4", "--max-entries"),
            ("--crash-count 0", "--crash-count"),
            ("--nodes 10 --crash-count 8", "--crash-count"),
            ("--nodes 3 --crash-together", "--crash-together"),
            ("--mass-crash 0.1 --crash-count 3", "choose one"),
            ("--flip-partitions 20 --lossy-nodes 0.01", "choose one"),
            ("--flip-partitions 0", "--flip-partitions"),
            ("--flip-partitions 1.5", "--flip-partitions"),
            ("--flips 3", "--flips needs --flip-partitions"),
            ("--flip-partitions 20 --flips 0", "--flips"),
            ("--lossy-nodes 0", "--lossy-nodes"),
            ("--lossy-nodes 1.1", "--lossy-nodes"),
            ("--nodes 3 --lossy-nodes 0.5", "--lossy-nodes"),
            ("--lossy-loss 0.5", "--lossy-loss needs --lossy-nodes"),
            ("--lossy-seconds 9", "--lossy-seconds needs --lossy-nodes"),
            ("--lossy-nodes 0.1 --lossy-loss 0", "--lossy-loss"),
            ("--lossy-nodes 0.1 --lossy-seconds 0", "--lossy-seconds"),
            ("--frobnicate", "unknown argument"),
        ];
        for (line, named) in cases {
            let e = error(line);
            assert!(e.contains(named), "{line:?} gave {e:?}");
        }
    }

    #[test]
    fn simulate_fault_options() {
        let run = |s: &str| match simulate(s) {
            Ok(Parsed::Run(a)) => a.workload,
            other => panic!("{s:?}: {other:?}"),
        };
        let w = run("--nodes 1000 --crash-count 10 --crash-together");
        assert_eq!((w.crash_count, w.crash_together), (Some(10), true));
        assert_eq!((w.fault(), w.crash_count()), (Fault::CrashesTogether, 10));
        let w = run("--nodes 50 --crash-count 7");
        assert_eq!((w.fault(), w.crash_count()), (Fault::SpacedCrashes, 7));
        let w = run("--flip-partitions 20 --flips 4");
        assert_eq!(w.flip_partitions, Some(Duration::from_secs(20)));
        assert_eq!(
            (w.flips, w.fault(), w.crash_count()),
            (Some(4), Fault::FlipPartitions, 0)
        );
        let w = run("--nodes 1000 --lossy-nodes 0.01 --lossy-loss 0.8 --lossy-seconds 60");
        assert_eq!((w.lossy_nodes, w.lossy_loss), (Some(0.01), Some(0.8)));
        assert_eq!(w.lossy_seconds, Some(Duration::from_secs(60)));
        // 1 % of the 997 non-seed nodes.
        assert_eq!(
            (w.fault(), w.lossy_count(), w.crash_count()),
            (Fault::LossyNodes, 10, 0)
        );
        assert_eq!(run("--mass-crash 0.5").fault(), Fault::MassCrash);
        assert_eq!(run("").fault(), Fault::SpacedCrashes);
    }

    #[test]
    fn settings_grids_parse_and_apply() {
        let grid = parse_settings(
            "interval=1000,fanout=3,pause=2000; interval=500, fanout=2 ,pause=1000;min-std=100;",
        )
        .expect("a valid grid");
        assert_eq!(grid.len(), 3);
        assert_eq!(grid[1].interval, Some(Duration::from_millis(500)));
        assert_eq!(grid[1].fanout, Some(2));
        assert_eq!(grid[2].min_std, Some(Duration::from_millis(100)));
        let base = Workload::new();
        let w = grid[1].apply(&base);
        assert_eq!((w.interval, w.fanout), (Duration::from_millis(500), 2));
        assert_eq!(grid[1].label(&w), "500 ms, fanout 2, pause 1000 ms");
        assert_eq!(
            grid[2].label(&grid[2].apply(&base)),
            "1000 ms, fanout 3, pause 1250 ms, min-std 100 ms"
        );
        assert_eq!(parse_settings(DEFAULT_GRID).map(|g| g.len()), Ok(7));
        assert_eq!(grid[1].to_string(), "interval=500,fanout=2,pause=1000");
        assert_eq!(Setting::default().to_string(), "base");
        for bad in [
            "",
            ";",
            "interval",
            "interval=x",
            "fanout=-1",
            "speed=3",
            "pause=1,pause=2",
        ] {
            let e = parse_settings(bad).expect_err(bad);
            assert!(e.0.starts_with("--settings"), "{bad:?} gave {e}");
        }
    }

    #[test]
    fn tradeoff_arguments() {
        let Ok(Parsed::Run(a)) = parse_tradeoff(words("--nodes 20 --rounds 20 --out /tmp/x"))
        else {
            panic!("valid")
        };
        assert_eq!(a.settings.len(), 7);
        assert!(!a.per_second);
        assert_eq!((a.base.nodes, a.out.as_str()), (20, "/tmp/x"));
        let Ok(Parsed::Run(a)) = parse_tradeoff(vec![
            "--settings".to_string(),
            "interval=1000,fanout=3;fanout=2".to_string(),
            "--per-second".to_string(),
        ]) else {
            panic!("valid")
        };
        assert!(a.per_second);
        assert_eq!((a.base.nodes, a.settings.len()), (200, 2));
        let bad = |args: Vec<&str>| {
            parse_tradeoff(args.into_iter().map(String::from))
                .expect_err("must be refused")
                .0
        };
        let e = bad(vec!["--settings", "fanout=3;fanout=0"]);
        assert!(e.starts_with("setting fanout=0: --fanout"), "{e}");
        assert!(bad(vec!["--settings", "interval=0"]).contains("--interval-ms"));
        assert!(bad(vec!["--out", ""]).contains("--out"));
        assert!(bad(vec!["--json"]).contains("unknown argument"));
        assert!(bad(vec!["--settings"]).contains("needs a value"));
        assert!(bad(vec!["--flip-partitions", "20"]).contains("simulate's only"));
        assert!(bad(vec!["--lossy-nodes", "0.1"]).contains("simulate's only"));
        let Ok(Parsed::Run(a)) = parse_tradeoff(words("--crash-count 4 --crash-together")) else {
            panic!("crashes together are a tradeoff workload")
        };
        assert_eq!(a.base.crash_count(), 4);
    }

    #[test]
    fn the_usage_quotes_the_core_detector_defaults() {
        let d = hearsay_core::DetectorConfig::default();
        let pause = d.acceptable_heartbeat_pause.as_millis();
        let std = d.min_std_deviation.as_millis();
        let usage: String = SIMULATE_USAGE
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            usage.contains(&format!(
                "pause, at most 86400000 (default: the core's, {pause})"
            )),
            "{usage}"
        );
        assert!(
            usage.contains(&format!(
                "deviation, at most 86400000 (default: the core's, {std})"
            )),
            "{usage}"
        );
    }
}
