//! The command lines of the measurement tools, `examples/simulate.rs` and
//! `examples/tradeoff.rs` (clap derive): here in the library rather than
//! in the examples because `cargo test` runs a library's unit tests but
//! not an example's. Both tools take the same workload options
//! ([`WorkloadArgs`]); `tradeoff` adds a grid of settings
//! ([`hearsay_sim::grid`]) and where to write its files.
//!
//! clap checks that each value parses; [`Workload::check`] then checks the
//! workload as a whole (ranges, one scenario at a time, that a node's keys
//! fit an engine), with a message naming the option. Either way the tool
//! prints the error and exits with status 2, never a panic.

use std::time::Duration;

use clap::error::ErrorKind;
use clap::{Args, Parser};
use hearsay_sim::grid::{DEFAULT_GRID, Setting, parse_settings};
use hearsay_sim::measure::{UsageError, Workload};

/// Where `simulate --json`'s schema is documented (repository path).
pub const JSON_SCHEMA_DOC: &str = "docs/simulate-json.md";

/// The workload options `simulate` and `tradeoff` share; each left out
/// keeps the tool's default ([`Workload::new`], with `--nodes 200` for
/// `tradeoff`).
#[derive(Debug, Clone, Default, PartialEq, Args)]
pub struct WorkloadArgs {
    /// Cluster size, at least 2 [default: 100; tradeoff: 200].
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub nodes: Option<usize>,

    /// Independent loss per datagram, 0 <= P < 1 [default: 0].
    #[arg(long, value_name = "P", allow_negative_numbers = true)]
    pub loss: Option<f64>,

    /// Seed of the run [default: 1].
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,

    /// Steady-state rounds measured, 20 to 1000000 [default: 60].
    #[arg(long, value_name = "R", allow_negative_numbers = true)]
    pub rounds: Option<u32>,

    /// Every node holds one cluster key: every datagram is sealed (29 bytes
    /// more each, included in the figures).
    #[arg(long)]
    pub key: bool,

    /// Keys each node writes (key-00, key-01...), 0 to 10000 [default: 10].
    /// With none, the steady state's updates write a first key.
    #[arg(long, value_name = "K", allow_negative_numbers = true)]
    pub keys: Option<usize>,

    /// Bytes of each value, at most 65536 (a value longer than a datagram
    /// travels in chunks) [default: 32].
    #[arg(long = "value-len", value_name = "V", allow_negative_numbers = true)]
    pub value_len: Option<usize>,

    /// Gossip interval in milliseconds, 1 to 3600000 [default: 1000]. The
    /// detector's first heartbeat estimate (the interval), its longest
    /// learned interval (10 intervals, at most 65 s) and the pending timeout
    /// (10 intervals) follow it; at 1000 they are the core's defaults.
    #[arg(long = "interval-ms", value_name = "MS", allow_negative_numbers = true)]
    pub interval_ms: Option<u64>,

    /// Peers each round gossips with, 1 to 65535 [default: 3].
    #[arg(long, value_name = "F", allow_negative_numbers = true)]
    pub fanout: Option<usize>,

    /// Detector acceptable heartbeat pause, at most 86400000 (default: the
    /// core's, 1250).
    #[arg(long = "pause-ms", value_name = "MS", allow_negative_numbers = true)]
    pub pause_ms: Option<u64>,

    /// Detector minimum standard deviation, at most 86400000 (default: the
    /// core's, 400).
    #[arg(long = "min-std-ms", value_name = "MS", allow_negative_numbers = true)]
    pub min_std_ms: Option<u64>,

    /// Instead of 5 crashes 20 intervals apart, this fraction (0 < F <= 1)
    /// of the non-seed nodes (rounded, at least one) crashes at once.
    #[arg(long = "mass-crash", value_name = "F", allow_negative_numbers = true)]
    pub mass_crash: Option<f64>,

    /// C random non-seed nodes crash instead of 5 (1 to the non-seed
    /// nodes).
    #[arg(long = "crash-count", value_name = "C", allow_negative_numbers = true)]
    pub crash_count: Option<usize>,

    /// The crashes happen at one instant, not 20 intervals apart (e.g.
    /// --crash-count 10 --crash-together).
    #[arg(long = "crash-together")]
    pub crash_together: bool,

    /// Instead of crashes: one-way partitions of S whole seconds (1 to
    /// 86400) between the even-numbered nodes (half A) and the odd (half
    /// B): A cannot hear B (B still hears A), then the reverse, and so on;
    /// then none.
    #[arg(
        long = "flip-partitions",
        value_name = "S",
        allow_negative_numbers = true
    )]
    pub flip_partitions: Option<u64>,

    /// One-way partitions with --flip-partitions, 1 to 10000 [default: 6].
    #[arg(long, value_name = "K", allow_negative_numbers = true)]
    pub flips: Option<u32>,

    /// Instead of crashes: this fraction (0 < F <= 1) of the non-seed
    /// nodes, at least one, loses datagrams sent to it (its input).
    #[arg(long = "lossy-nodes", value_name = "F", allow_negative_numbers = true)]
    pub lossy_nodes: Option<f64>,

    /// Loss on a lossy node's input, on top of --loss, 0 < P <= 1
    /// [default: 0.8].
    #[arg(long = "lossy-loss", value_name = "P", allow_negative_numbers = true)]
    pub lossy_loss: Option<f64>,

    /// How long the input stays lossy, in seconds, 1 to 86400 [default:
    /// 300].
    #[arg(
        long = "lossy-seconds",
        value_name = "T",
        allow_negative_numbers = true
    )]
    pub lossy_seconds: Option<u64>,

    /// Node slots per engine, N to 65535 [default: 128 up to 128 nodes,
    /// 1024 up to 1024, else N rounded up to a multiple of 256].
    #[arg(long = "max-nodes", value_name = "M", allow_negative_numbers = true)]
    pub max_nodes: Option<usize>,

    /// Entry slots per engine [default: K + 2 per node slot].
    #[arg(long = "max-entries", value_name = "E", allow_negative_numbers = true)]
    pub max_entries: Option<usize>,

    /// Bytes of keys and values per engine, 8 per entry included [default
    /// per node slot: a full namespace and a quarter more, rounded up to
    /// 64; 640 for 10 keys of 32 bytes].
    #[arg(
        long = "max-state-bytes",
        value_name = "B",
        allow_negative_numbers = true
    )]
    pub max_state_bytes: Option<usize>,

    /// Detector intervals remembered per node, 1 to 65535 [default: 256].
    #[arg(long, value_name = "W", allow_negative_numbers = true)]
    pub window: Option<usize>,

    /// Print a line on stderr as each phase starts and ends.
    #[arg(long)]
    pub progress: bool,
}

impl WorkloadArgs {
    /// `base` with every option given here applied (not checked yet).
    pub fn apply(&self, base: Workload) -> Workload {
        let mut w = base;
        let ms = Duration::from_millis;
        let secs = Duration::from_secs;
        w.nodes = self.nodes.unwrap_or(w.nodes);
        w.loss = self.loss.unwrap_or(w.loss);
        w.seed = self.seed.unwrap_or(w.seed);
        w.rounds = self.rounds.unwrap_or(w.rounds);
        w.sealed |= self.key;
        w.keys = self.keys.unwrap_or(w.keys);
        w.value_len = self.value_len.unwrap_or(w.value_len);
        w.interval = self.interval_ms.map_or(w.interval, ms);
        w.fanout = self.fanout.unwrap_or(w.fanout);
        w.pause = self.pause_ms.map(ms).or(w.pause);
        w.min_std = self.min_std_ms.map(ms).or(w.min_std);
        w.mass_crash = self.mass_crash.or(w.mass_crash);
        w.crash_count = self.crash_count.or(w.crash_count);
        w.crash_together |= self.crash_together;
        w.flip_partitions = self.flip_partitions.map(secs).or(w.flip_partitions);
        w.flips = self.flips.or(w.flips);
        w.lossy_nodes = self.lossy_nodes.or(w.lossy_nodes);
        w.lossy_loss = self.lossy_loss.or(w.lossy_loss);
        w.lossy_seconds = self.lossy_seconds.map(secs).or(w.lossy_seconds);
        w.max_nodes = self.max_nodes.or(w.max_nodes);
        w.max_entries = self.max_entries.or(w.max_entries);
        w.max_state_bytes = self.max_state_bytes.or(w.max_state_bytes);
        w.window = self.window.unwrap_or(w.window);
        w.progress |= self.progress;
        w
    }
}

/// `simulate`'s command line.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "simulate",
    about = "Simulates a hearsay cluster and measures propagation, bandwidth, failure \
             detection and false positives (deterministic for its options).",
    after_help = "Only one of --mass-crash, --crash-count/--crash-together, \
--flip-partitions and --lossy-nodes. After a partition or lossy phase, the run \
waits for every node to list every other alive again.\n\n\
--json: one JSON object; its fields, types, units and stability rule are in \
docs/simulate-json.md (fields are only ever added, at the end)."
)]
pub struct SimulateCli {
    /// The workload.
    #[command(flatten)]
    pub workload: WorkloadArgs,

    /// Print one JSON object instead of the report (schema:
    /// docs/simulate-json.md).
    #[arg(long)]
    pub json: bool,
}

/// What `simulate` runs.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulateArgs {
    /// What to run (checked).
    pub workload: Workload,
    /// Print one JSON object instead of the readable report.
    pub json: bool,
}

impl SimulateCli {
    /// The checked workload ([`Workload::check`]).
    pub fn check(&self) -> Result<SimulateArgs, UsageError> {
        let workload = self.workload.apply(Workload::new());
        workload.check()?;
        Ok(SimulateArgs {
            workload,
            json: self.json,
        })
    }
}

/// `tradeoff`'s command line.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "tradeoff",
    about = "Bandwidth against detection time: runs simulate's measurement once per \
             setting of a grid and writes a table (CSV), the reports (JSON) and a plot (SVG).",
    after_help = tradeoff_after_help()
)]
pub struct TradeoffCli {
    /// Settings separated by ';', each a ','-separated list of
    /// interval=MS, fanout=F, pause=MS, min-std=MS, e.g.
    /// "interval=1000,fanout=3,pause=2000;interval=500,fanout=2,pause=1000"
    /// [default: a built-in grid of 7 settings around the defaults].
    #[arg(long, value_name = "GRID")]
    pub settings: Option<String>,

    /// Write PREFIX.csv, PREFIX.json and PREFIX.svg.
    #[arg(long, value_name = "PREFIX", default_value = "tradeoff")]
    pub out: String,

    /// Plot bytes per node per second rather than per round (the table has
    /// both).
    #[arg(long = "per-second")]
    pub per_second: bool,

    /// The workload every setting changes.
    #[command(flatten)]
    pub workload: WorkloadArgs,
}

/// The end of `tradeoff --help`: what differs from `simulate`, and the
/// built-in grid.
fn tradeoff_after_help() -> String {
    format!(
        "The workload options are simulate's, except --json and the scenarios without \
         crashes (--flip-partitions, --lossy-nodes and their options): the plot is of crash \
         detection. --nodes defaults to 200 here.\n\nDefault grid: {DEFAULT_GRID}"
    )
}

/// What `tradeoff` runs.
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

impl TradeoffCli {
    /// The grid and the base workload, every setting's workload checked.
    pub fn check(&self) -> Result<TradeoffArgs, UsageError> {
        let base = self.workload.apply(Workload {
            nodes: 200,
            ..Workload::new()
        });
        if self.out.is_empty() {
            return Err(UsageError("--out must not be empty".into()));
        }
        if !base.fault().crashes() {
            return Err(UsageError(
                "tradeoff plots crash detection: --flip-partitions and --lossy-nodes are \
                 simulate's only"
                    .into(),
            ));
        }
        let settings = parse_settings(self.settings.as_deref().unwrap_or(DEFAULT_GRID))?;
        for s in &settings {
            s.apply(&base)
                .check()
                .map_err(|e| UsageError(format!("setting {s}: {e}")))?;
        }
        Ok(TradeoffArgs {
            base,
            settings,
            out: self.out.clone(),
            per_second: self.per_second,
        })
    }
}

/// Parses the process's arguments as `P` and checks them with `check`; on
/// any error prints it as clap does (with the usage) and exits with status
/// 2, on `--help` prints the help and exits with 0.
pub fn parse_or_exit<P: Parser, T>(check: impl FnOnce(&P) -> Result<T, UsageError>) -> T {
    let parsed = P::parse();
    match check(&parsed) {
        Ok(t) => t,
        Err(e) => P::command().error(ErrorKind::ValueValidation, e).exit(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use hearsay_sim::faults::Fault;

    /// The arguments of a test: words split on spaces.
    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn simulate(s: &str) -> Result<SimulateArgs, String> {
        let cli = SimulateCli::try_parse_from(std::iter::once("simulate".into()).chain(words(s)))
            .map_err(|e| e.to_string())?;
        cli.check().map_err(|e| e.0)
    }

    fn tradeoff(args: &[&str]) -> Result<TradeoffArgs, String> {
        let cli = TradeoffCli::try_parse_from(std::iter::once(&"tradeoff").chain(args))
            .map_err(|e| e.to_string())?;
        cli.check().map_err(|e| e.0)
    }

    #[test]
    fn the_command_lines_are_consistent() {
        SimulateCli::command().debug_assert();
        TradeoffCli::command().debug_assert();
    }

    #[test]
    fn simulate_defaults_and_every_option() {
        let a = simulate("").expect("no arguments run the defaults");
        assert_eq!(a.workload, Workload::new());
        assert!(!a.json);
        let line = "--nodes 50 --loss 0.1 --seed 7 --rounds 30 --key --json --keys 1 \
                    --value-len 8 --interval-ms 500 --fanout 4 --pause-ms 1500 \
                    --min-std-ms 100 --mass-crash 0.2 --max-nodes 64 --max-entries 500 \
                    --max-state-bytes 40000 --window 50 --progress";
        let a = simulate(line).expect("every option at a valid value");
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
        let help = SimulateCli::try_parse_from(["simulate", "--nodes", "5", "-h", "--bogus"])
            .expect_err("help is not a run");
        assert_eq!(help.kind(), ErrorKind::DisplayHelp);
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
            ("--value-len 70000", "--value-len"),
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
            ("--frobnicate", "--frobnicate"),
        ];
        for (line, named) in cases {
            let e = simulate(line).expect_err(line);
            assert!(e.contains(named), "{line:?} gave {e:?}");
        }
    }

    #[test]
    fn simulate_fault_options() {
        let run = |s: &str| {
            simulate(s)
                .unwrap_or_else(|e| panic!("{s:?}: {e}"))
                .workload
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
    fn tradeoff_arguments() {
        let a = tradeoff(&["--nodes", "20", "--rounds", "20", "--out", "/tmp/x"]).expect("valid");
        assert_eq!(a.settings.len(), 7);
        assert!(!a.per_second);
        assert_eq!((a.base.nodes, a.out.as_str()), (20, "/tmp/x"));
        let a = tradeoff(&[
            "--settings",
            "interval=1000,fanout=3;fanout=2",
            "--per-second",
        ])
        .expect("valid");
        assert!(a.per_second);
        assert_eq!(
            (a.base.nodes, a.settings.len(), a.out.as_str()),
            (200, 2, "tradeoff")
        );
        let bad = |args: &[&str]| tradeoff(args).expect_err("must be refused");
        let e = bad(&["--settings", "fanout=3;fanout=0"]);
        assert!(e.starts_with("setting fanout=0: --fanout"), "{e}");
        assert!(bad(&["--settings", "interval=0"]).contains("--interval-ms"));
        assert!(bad(&["--out", ""]).contains("--out"));
        assert!(bad(&["--json"]).contains("--json"));
        assert!(bad(&["--settings"]).contains("--settings"));
        assert!(bad(&["--flip-partitions", "20"]).contains("simulate's only"));
        assert!(bad(&["--lossy-nodes", "0.1"]).contains("simulate's only"));
        let a = tradeoff(&["--crash-count", "4", "--crash-together"])
            .expect("crashes together are a tradeoff workload");
        assert_eq!(a.base.crash_count(), 4);
    }

    #[test]
    fn the_help_quotes_the_core_detector_defaults_and_points_to_the_schema() {
        let d = hearsay_core::DetectorConfig::default();
        let pause = d.acceptable_heartbeat_pause.as_millis();
        let std = d.min_std_deviation.as_millis();
        let help = SimulateCli::command().render_long_help().to_string();
        let help: String = help.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            help.contains(&format!(
                "pause, at most 86400000 (default: the core's, {pause})"
            )),
            "{help}"
        );
        assert!(
            help.contains(&format!(
                "deviation, at most 86400000 (default: the core's, {std})"
            )),
            "{help}"
        );
        assert!(help.contains(JSON_SCHEMA_DOC), "{help}");
        let help = TradeoffCli::command().render_long_help().to_string();
        assert!(help.contains(DEFAULT_GRID), "{help}");
        assert_eq!(
            hearsay_sim::measure::Workload::new().window,
            256,
            "the help says [default: 256] for --window"
        );
    }
}
