//! The standard whole-cluster measurement: the workload, phases and figures
//! that `examples/simulate.rs` prints and `examples/tradeoff.rs` compares
//! across settings, here so that both run exactly the same thing and so
//! that tests can run it at a small size.
//!
//! A [`Workload`] says what to run: cluster size, loss, seed, steady-state
//! rounds, keys per node and their value length, gossip interval, fanout,
//! detector pause and minimum deviation, whether every datagram is sealed,
//! how crashes happen, and the engines' [`Capacity`]. [`run`] then plays
//! three phases on the simulator's virtual clock and returns a [`Report`]:
//!
//! 1. **Warm-up**: all nodes start within the first interval, know only
//!    the three seeds, write their keys, and run until every node lists
//!    every other as alive ([`Report::joined_seconds`]) and holds every
//!    node's keys at their latest version ([`Report::converged_seconds`]),
//!    both checked every gossip interval, for at most 600 intervals.
//! 2. **Steady state** ([`Workload::rounds`] intervals): traffic per node
//!    and round; ten key updates by random nodes at random times, each
//!    followed until every node has it.
//! 3. **Crashes**: five random non-seed nodes crash silently, 20 intervals
//!    apart (or [`Workload::crash_count`] of them, at one instant with
//!    [`Workload::crash_together`]), or with [`Workload::mass_crash`] a
//!    fraction of the non-seed nodes crash at the same instant; every live
//!    node's time to report each crash is recorded, waiting until all are
//!    reported or a limit passes. Or, instead of crashes, a fault scenario
//!    of [`faults`]: one-way partitions that flip
//!    ([`Workload::flip_partitions`]) or nodes with lossy input
//!    ([`Workload::lossy_nodes`]), then the wait for full membership.
//!
//! Flapping (an observer reporting a node dead, alive again, dead again)
//! is counted over the whole run whatever the fault.
//!
//! Everything but the time and memory figures is deterministic for the
//! workload: the same workload gives the same report, bit for bit.
//!
//! **Sizing follows the workload.** Unless set, the capacity is derived
//! from the node count, the keys per node and the value length
//! ([`Workload::capacity`]), so a large cluster of small namespaces needs
//! no more memory than it uses; the engines' share of a namespace
//! ([`hearsay_core::Config::max_node_entries`] and `max_node_bytes`) is
//! raised only when the workload's namespace would not fit the default.
//! The settings the core derives from a one-second interval (first
//! heartbeat estimate, longest learned interval, pending timeout) follow
//! [`Workload::interval`]; at one second they are the core's defaults.

use std::string::{String, ToString};
use std::time::{Duration, Instant as WallClock};
use std::vec::Vec;
use std::{fmt, format, vec};

use hearsay_core::{Buffers, Capacity, ClusterKey, Config, Engine, Heap, NodeId};

use super::cluster::{Sim, SimConfig};
use super::faults::{self, Fault, FlipReport, LossyReport, Named};
use super::network::{Latency, node_addr};
use super::rng::SimRng;

/// The cluster key of a sealed run: a simulation needs no secret.
const SIM_KEY: [u8; 32] = [0x5e; 32];
/// Key updates tracked in the steady state.
pub const UPDATES: usize = 10;
/// Nodes crashed one at a time when [`Workload::mass_crash`] is not set.
pub const SPACED_CRASHES: usize = 5;
/// Gossip intervals between two of the spaced crashes.
pub const CRASH_SPACING_INTERVALS: u32 = 20;
/// Longest warm-up, in gossip intervals, before giving up on it.
pub const WARMUP_LIMIT_INTERVALS: u32 = 600;
/// Seeds every node starts from (nodes `0..SEEDS`).
pub const SEEDS: usize = 3;
/// The datagram size every engine uses.
pub const MTU: usize = 1400;
/// Fewest steady-state rounds: the ten updates are spread over all but the
/// last fifteen.
pub const MIN_ROUNDS: u32 = 20;
/// Most steady-state rounds (far more than anyone waits for).
pub const MAX_ROUNDS: u32 = 1_000_000;
/// Most keys per node: the per-node share of a namespace counts entries in
/// a `u16`-sized range of realistic workloads.
pub const MAX_KEYS: usize = 10_000;
/// One-way latency of every link, as the reports print it.
pub const LATENCY: &str = "normal(mean 1 ms, sd 0.5 ms, min 0.1 ms)";
/// Key and value bytes of the entry [`Engine::leave`] writes
/// (`"\0status"` = `"leaving"`): part of every namespace's room.
const LEAVE_ENTRY_BYTES: usize = 7 + 7;
/// Bytes of block header per stored entry.
const BLOCK_HEADER: usize = 8;
/// One-way partitions of `--flip-partitions` unless `--flips` says.
pub const DEFAULT_FLIPS: u32 = 6;
/// Most one-way partitions.
pub const MAX_FLIPS: u32 = 10_000;
/// Input loss of a lossy node unless `--lossy-loss` says (Rapid's 80 %).
pub const DEFAULT_LOSSY_LOSS: f64 = 0.8;
/// How long input stays lossy unless `--lossy-seconds` says.
pub const DEFAULT_LOSSY_SECONDS: Duration = Duration::from_secs(300);

/// A setting of a [`Workload`] that cannot run, and why; the message names
/// the command-line option of the setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// What one measurement runs: every setting, with the defaults of
/// [`Workload::new`]. Check it with [`Workload::check`] before [`run`].
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    /// Cluster size, at least 2 (`--nodes`).
    pub nodes: usize,
    /// Independent loss per datagram, `0 <= loss < 1` (`--loss`).
    pub loss: f64,
    /// Seed of the run (`--seed`).
    pub seed: u64,
    /// Steady-state rounds measured, [`MIN_ROUNDS`] to [`MAX_ROUNDS`]
    /// (`--rounds`).
    pub rounds: u32,
    /// Every engine seals with one shared cluster key, so the traffic
    /// figures include the 29 bytes each datagram carries (`--key`).
    pub sealed: bool,
    /// Keys each node writes, `key-00`, `key-01`... (`--keys`, 0 to
    /// [`MAX_KEYS`]).
    pub keys: usize,
    /// Bytes of each value (`--value-len`), at most the core's
    /// `max_value_len` (64 KiB); a value longer than a datagram travels in
    /// chunks.
    pub value_len: usize,
    /// Gossip interval (`--interval-ms`, 1 ms to 1 hour).
    pub interval: Duration,
    /// Live peers each round gossips with (`--fanout`, at least 1).
    pub fanout: usize,
    /// The detector's `acceptable_heartbeat_pause`; `None` keeps the core's
    /// default (`--pause-ms`).
    pub pause: Option<Duration>,
    /// The detector's `min_std_deviation`; `None` keeps the core's default
    /// (`--min-std-ms`).
    pub min_std: Option<Duration>,
    /// Instead of five crashes 20 intervals apart, this fraction
    /// (`0 < f <= 1`) of the non-seed nodes crashes at one instant
    /// (`--mass-crash`).
    pub mass_crash: Option<f64>,
    /// How many non-seed nodes crash, instead of [`SPACED_CRASHES`]
    /// (`--crash-count`, 1 to the non-seed nodes).
    pub crash_count: Option<usize>,
    /// The crashes happen at one instant rather than 20 intervals apart
    /// (`--crash-together`).
    pub crash_together: bool,
    /// Instead of crashes, one-way partitions between the even- and the
    /// odd-numbered nodes that flip this often ([`faults::flip_partitions`];
    /// `--flip-partitions`, whole seconds, 1 s to a day).
    pub flip_partitions: Option<Duration>,
    /// How many one-way partitions (`--flips`, 1 to 10,000; default
    /// [`DEFAULT_FLIPS`]); only with `flip_partitions`.
    pub flips: Option<u32>,
    /// Instead of crashes, this fraction (`0 < f <= 1`) of the non-seed
    /// nodes (rounded, at least one) loses most of its input
    /// ([`faults::lossy_nodes`]; `--lossy-nodes`).
    pub lossy_nodes: Option<f64>,
    /// The loss on every datagram sent to a lossy node, on top of
    /// [`Workload::loss`] (`--lossy-loss`, `0 < p <= 1`; default
    /// [`DEFAULT_LOSSY_LOSS`]); only with `lossy_nodes`.
    pub lossy_loss: Option<f64>,
    /// How long the lossy nodes' input stays lossy (`--lossy-seconds`, 1 s
    /// to a day; default [`DEFAULT_LOSSY_SECONDS`]); only with
    /// `lossy_nodes`.
    pub lossy_seconds: Option<Duration>,
    /// Node slots per engine; `None` derives them from `nodes`
    /// (`--max-nodes`).
    pub max_nodes: Option<usize>,
    /// Entry slots per engine; `None` derives them from the slots and the
    /// keys (`--max-entries`).
    pub max_entries: Option<usize>,
    /// Key and value bytes per engine; `None` derives them from the slots,
    /// the keys and the value length (`--max-state-bytes`).
    pub max_state_bytes: Option<usize>,
    /// Detector intervals remembered per node (`--window`, 1 to 65,535).
    pub window: usize,
    /// Print a line on standard error as each phase starts and ends (long
    /// runs take hours).
    pub progress: bool,
}

impl Workload {
    /// The defaults: 100 nodes, no loss, seed 1, 60 rounds, no key, 10 keys
    /// of 32-byte values per node, a 1 s interval, fanout 3, the core's
    /// detector, five spaced crashes, capacity derived, the core's
    /// detector window ([`hearsay_core::capacity::DEFAULT_WINDOW`], 256).
    pub fn new() -> Self {
        Workload {
            nodes: 100,
            loss: 0.0,
            seed: 1,
            rounds: 60,
            sealed: false,
            keys: 10,
            value_len: 32,
            interval: Duration::from_secs(1),
            fanout: 3,
            pause: None,
            min_std: None,
            mass_crash: None,
            crash_count: None,
            crash_together: false,
            flip_partitions: None,
            flips: None,
            lossy_nodes: None,
            lossy_loss: None,
            lossy_seconds: None,
            max_nodes: None,
            max_entries: None,
            max_state_bytes: None,
            window: hearsay_core::capacity::DEFAULT_WINDOW,
            progress: false,
        }
    }

    /// Node slots for a cluster of `nodes` when [`Workload::max_nodes`] is
    /// not set: 128 up to 128 nodes, 1024 up to 1024, beyond that `nodes`
    /// rounded up to a multiple of 256 (1500 nodes: 1536 slots).
    pub fn default_max_nodes(nodes: usize) -> usize {
        match nodes {
            0..=128 => 128,
            129..=1024 => 1024,
            _ => nodes.div_ceil(256).saturating_mul(256),
        }
    }

    /// The name of key `k`: `key-00`, `key-01`, ..., `key-100`...
    pub fn key_name(k: usize) -> String {
        format!("key-{k:02}")
    }

    /// Key and value bytes of one node's namespace: its keys with their
    /// values (block headers not counted).
    fn namespace_bytes(&self) -> usize {
        (0..self.keys)
            .map(|k| Self::key_name(k).len().saturating_add(self.value_len))
            .fold(0usize, usize::saturating_add)
    }

    /// Entry slots per node slot when [`Workload::max_entries`] is not set:
    /// the keys, the leave entry and one to spare (12 for 10 keys).
    pub fn entries_per_slot(&self) -> usize {
        self.keys.saturating_add(2)
    }

    /// Arena bytes per node slot when [`Workload::max_state_bytes`] is not
    /// set: a full namespace (its keys and the leave entry, each with an
    /// 8-byte block header) and a quarter more, rounded up to 64 bytes
    /// (640 for 10 keys of 32-byte values, 64 for one key of 8 bytes).
    pub fn state_bytes_per_slot(&self) -> usize {
        let full = self
            .namespace_bytes()
            .saturating_add(LEAVE_ENTRY_BYTES)
            .saturating_add(self.keys.saturating_add(1).saturating_mul(BLOCK_HEADER));
        full.saturating_add(full.div_ceil(4))
            .div_ceil(64)
            .saturating_mul(64)
    }

    /// The capacity of every engine: [`Workload::max_nodes`],
    /// [`Workload::max_entries`], [`Workload::max_state_bytes`] where set,
    /// else derived ([`Workload::default_max_nodes`],
    /// [`Workload::entries_per_slot`] and [`Workload::state_bytes_per_slot`]
    /// per node slot).
    pub fn capacity(&self) -> Capacity {
        let slots = self
            .max_nodes
            .unwrap_or_else(|| Self::default_max_nodes(self.nodes));
        Capacity {
            nodes: slots,
            entries: self
                .max_entries
                .unwrap_or_else(|| slots.saturating_mul(self.entries_per_slot())),
            state_bytes: self
                .max_state_bytes
                .unwrap_or_else(|| slots.saturating_mul(self.state_bytes_per_slot())),
            window: self.window,
        }
    }

    /// The engine settings every node uses: mtu 1400, the interval, fanout
    /// and detector settings of the workload, the core's defaults
    /// otherwise, with the interval-derived ones scaled (module docs) and
    /// the namespace share raised if the keys need it.
    pub fn config(&self) -> Config {
        let mut c = Config::new();
        c.mtu = MTU;
        c.gossip_interval = self.interval;
        c.fanout = self.fanout;
        let longest = Duration::from_secs(65);
        c.detector.first_heartbeat_estimate = self.interval.min(longest);
        c.detector.max_interval = self.interval.saturating_mul(10).min(longest);
        c.pending_timeout = self.interval.saturating_mul(10);
        if let Some(p) = self.pause {
            c.detector.acceptable_heartbeat_pause = p;
        }
        if let Some(s) = self.min_std {
            c.detector.min_std_deviation = s;
        }
        // The leave entry needs room inside the share besides the keys.
        c.max_node_entries = c.max_node_entries.max(self.keys.saturating_add(1));
        c.max_node_bytes = c
            .max_node_bytes
            .max(self.namespace_bytes().saturating_add(LEAVE_ENTRY_BYTES));
        c
    }

    /// Nodes that are not seeds.
    fn non_seeds(&self) -> usize {
        self.nodes
            .saturating_sub(SEEDS.min(self.nodes.saturating_sub(1)))
    }

    /// `f` of the non-seed nodes, rounded, at least one.
    fn fraction_of_non_seeds(&self, f: f64) -> usize {
        let non_seeds = self.non_seeds();
        ((f * non_seeds as f64).round() as usize).clamp(1, non_seeds.max(1))
    }

    /// What phase 3 does: crashes (spaced, together or a mass crash), or
    /// one of the fault scenarios.
    pub fn fault(&self) -> Fault {
        if self.flip_partitions.is_some() {
            Fault::FlipPartitions
        } else if self.lossy_nodes.is_some() {
            Fault::LossyNodes
        } else if self.mass_crash.is_some() {
            Fault::MassCrash
        } else if self.crash_together {
            Fault::CrashesTogether
        } else {
            Fault::SpacedCrashes
        }
    }

    /// How many nodes crash: [`Workload::crash_count`] if set, else
    /// [`SPACED_CRASHES`] (fewer in a tiny cluster), or the
    /// [`Workload::mass_crash`] fraction of the non-seed nodes, rounded,
    /// at least one; none in the partition and lossy-node scenarios.
    pub fn crash_count(&self) -> usize {
        if !self.fault().crashes() {
            return 0;
        }
        match (self.mass_crash, self.crash_count) {
            (Some(f), _) => self.fraction_of_non_seeds(f),
            (None, Some(n)) => n,
            (None, None) => SPACED_CRASHES.min(self.non_seeds().saturating_sub(1)),
        }
    }

    /// How many nodes have lossy input (0 unless [`Workload::lossy_nodes`]).
    pub fn lossy_count(&self) -> usize {
        self.lossy_nodes
            .map_or(0, |f| self.fraction_of_non_seeds(f))
    }

    /// The fault options: at most one scenario, values in range, the
    /// scenario's own options only with it.
    fn check_fault(&self) -> Result<(), UsageError> {
        let err = |m: &str| Err(UsageError(m.into()));
        let chosen = [
            self.mass_crash.is_some(),
            self.crash_count.is_some() || self.crash_together,
            self.flip_partitions.is_some(),
            self.lossy_nodes.is_some(),
        ];
        if chosen.iter().filter(|&&c| c).count() > 1 {
            return err(
                "choose one of --mass-crash, --crash-count/--crash-together, \
                 --flip-partitions and --lossy-nodes",
            );
        }
        if let Some(n) = self.crash_count
            && !(1..=self.non_seeds()).contains(&n)
        {
            return Err(UsageError(format!(
                "--crash-count must be from 1 to the {} non-seed nodes",
                self.non_seeds()
            )));
        }
        if (self.crash_count.is_some() || self.crash_together) && self.nodes <= SEEDS {
            return Err(UsageError(format!(
                "--crash-count and --crash-together need non-seed nodes: --nodes must be above {SEEDS}"
            )));
        }
        let day = Duration::from_secs(86_400);
        if let Some(p) = self.flip_partitions
            && !(Duration::from_secs(1)..=day).contains(&p)
        {
            return err("--flip-partitions must be from 1 to 86400 seconds");
        }
        match (self.flips, self.flip_partitions) {
            (Some(_), None) => return err("--flips needs --flip-partitions"),
            (Some(k), Some(_)) if !(1..=MAX_FLIPS).contains(&k) => {
                return Err(UsageError(format!("--flips must be from 1 to {MAX_FLIPS}")));
            }
            _ => {}
        }
        if let Some(f) = self.lossy_nodes {
            if !(f > 0.0 && f <= 1.0) {
                return err("--lossy-nodes must be above 0 and at most 1");
            }
            if self.nodes <= SEEDS {
                return Err(UsageError(format!(
                    "--lossy-nodes needs non-seed nodes: --nodes must be above {SEEDS}"
                )));
            }
        }
        if self.lossy_nodes.is_none() {
            if self.lossy_loss.is_some() {
                return err("--lossy-loss needs --lossy-nodes");
            }
            if self.lossy_seconds.is_some() {
                return err("--lossy-seconds needs --lossy-nodes");
            }
        }
        if let Some(p) = self.lossy_loss
            && !(p > 0.0 && p <= 1.0)
        {
            return err("--lossy-loss must be above 0 and at most 1");
        }
        if let Some(t) = self.lossy_seconds
            && !(Duration::from_secs(1)..=day).contains(&t)
        {
            return err("--lossy-seconds must be from 1 to 86400");
        }
        Ok(())
    }

    /// Checks every setting, and that a node can write its keys into an
    /// engine of this capacity and settings (one engine is built and
    /// dropped for that); the error names the option at fault.
    pub fn check(&self) -> Result<(), UsageError> {
        let err = |m: String| Err(UsageError(m));
        if self.nodes < 2 {
            return err("--nodes must be at least 2".into());
        }
        if !(0.0..1.0).contains(&self.loss) {
            return err("--loss must be at least 0 and below 1".into());
        }
        if !(MIN_ROUNDS..=MAX_ROUNDS).contains(&self.rounds) {
            return err(format!(
                "--rounds must be from {MIN_ROUNDS} to {MAX_ROUNDS}"
            ));
        }
        if self.keys > MAX_KEYS {
            return err(format!("--keys must be at most {MAX_KEYS}"));
        }
        if self.interval < Duration::from_millis(1) || self.interval > Config::MAX_GOSSIP_INTERVAL {
            return err("--interval-ms must be from 1 to 3600000 (one hour)".into());
        }
        if self.fanout == 0 || self.fanout > usize::from(u16::MAX) {
            return err("--fanout must be from 1 to 65535".into());
        }
        let day = hearsay_core::DetectorConfig::MAX_DURATION;
        if self.pause.is_some_and(|p| p > day) {
            return err("--pause-ms must be at most 86400000 (one day)".into());
        }
        if self.min_std.is_some_and(|s| s > day) {
            return err("--min-std-ms must be at most 86400000 (one day)".into());
        }
        if let Some(f) = self.mass_crash {
            if !(f > 0.0 && f <= 1.0) {
                return err("--mass-crash must be above 0 and at most 1".into());
            }
            if self.nodes <= SEEDS {
                return err(format!(
                    "--mass-crash needs non-seed nodes to crash: --nodes must be above {SEEDS}"
                ));
            }
        }
        self.check_fault()?;
        let capacity = self.capacity();
        if capacity.nodes < self.nodes {
            return err(format!(
                "--max-nodes ({}) must be at least --nodes ({})",
                capacity.nodes, self.nodes
            ));
        }
        if capacity.validate().is_err() {
            return err(format!(
                "unusable capacity {capacity:?}: --max-nodes and --window must be 1 to 65535, \
                 --max-entries and --max-state-bytes below 4294967295"
            ));
        }
        let config = self.config();
        if let Err(e) = config.validate() {
            return err(format!("unusable engine settings: {e}"));
        }
        self.probe(capacity, config)
    }

    /// Builds one engine as the run will and writes the keys into it.
    fn probe(&self, capacity: Capacity, config: Config) -> Result<(), UsageError> {
        let buffers = Buffers::<Heap>::allocate(capacity).map_err(|e| {
            UsageError(format!(
                "cannot allocate one engine of {capacity:?} ({} bytes): {e}",
                capacity.memory_bytes()
            ))
        })?;
        let id = NodeId::new("probe", 1, node_addr(0))
            .map_err(|e| UsageError(format!("probe id: {e}")))?;
        let mut engine =
            Engine::new(buffers, id, config, &mut SimRng::new(self.seed)).map_err(|e| {
                UsageError(format!(
                    "no engine can be built with these settings ({e}): check --max-entries, \
                     --max-state-bytes and the detector options"
                ))
            })?;
        let value = vec![b'0'; self.value_len];
        for k in 0..self.keys {
            engine.set(&Self::key_name(k), &value).map_err(|e| {
                UsageError(format!(
                    "a node cannot write {} keys of {}-byte values ({e}): lower --keys or \
                     --value-len, or raise --max-entries or --max-state-bytes",
                    self.keys, self.value_len
                ))
            })?;
        }
        Ok(())
    }
}

impl Default for Workload {
    fn default() -> Self {
        Workload::new()
    }
}

/// What one [`run`] measured. Times are virtual seconds unless named wall
/// or CPU; rounds are gossip intervals.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The workload that was run.
    pub workload: Workload,
    /// The capacity every engine had.
    pub capacity: Capacity,
    /// Memory of one node: its engine's tables plus the engine value.
    pub memory_bytes_per_node: usize,
    /// The engine value alone.
    pub engine_value_bytes: usize,
    /// Warm-up: every node lists every other as alive (`None`: not within
    /// the limit).
    pub joined_seconds: Option<f64>,
    /// Warm-up: and holds every node's keys at their latest version.
    pub converged_seconds: Option<f64>,
    /// False positives during the warm-up.
    pub false_positives_warmup: usize,
    /// Bytes sent per node per round in the steady state.
    pub bytes_out: f64,
    /// Datagrams sent per node per round.
    pub datagrams_out: f64,
    /// Bytes received per node per round.
    pub bytes_in: f64,
    /// Datagrams received per node per round.
    pub datagrams_in: f64,
    /// The node that sent the most, and its bytes per round.
    pub busiest: Option<(String, f64)>,
    /// Datagrams the network lost in the steady state.
    pub lost: u64,
    /// Median rounds for an update to reach every node.
    pub propagation_median: Option<f64>,
    /// Slowest update, in rounds.
    pub propagation_max: Option<f64>,
    /// Updates tracked.
    pub updates: usize,
    /// Updates some node never saw.
    pub updates_incomplete: usize,
    /// Nodes crashed.
    pub crashes: usize,
    /// (observer, crashed node) pairs whose detection was awaited.
    pub detection_pairs: usize,
    /// Median over every (observer, crashed node) pair, seconds.
    pub detection_median: Option<f64>,
    /// Slowest detection, seconds.
    pub detection_max: Option<f64>,
    /// Pairs whose detection never came within the limit.
    pub detections_incomplete: usize,
    /// The first few of those: (observer, crashed node).
    pub missing_detections: Vec<(String, String)>,
    /// False positives over the whole run.
    pub false_positives: usize,
    /// Every one: (seconds, observer, subject) (the readable report shows
    /// the first five).
    pub false_positive_list: Vec<(f64, String, String)>,
    /// What phase 3 did.
    pub fault: Fault,
    /// Flapping over the whole run: (observer, incarnation) pairs in which
    /// the observer reported the incarnation dead more than once
    /// ([`Sim::flapping`]).
    pub flapping: usize,
    /// The flipping partitions' figures, with `--flip-partitions`.
    pub flip: Option<FlipReport>,
    /// The lossy nodes' figures, with `--lossy-nodes`.
    pub lossy: Option<LossyReport>,
    /// Datagrams sent sealed, summed over the engines.
    pub sealed_out: u64,
    /// Datagrams accepted unsealed, summed over the engines.
    pub unsealed_in: u64,
    /// Wall time of the whole run.
    pub wall_total: Duration,
    /// Wall time per steady-state round.
    pub wall_per_round: Duration,
    /// CPU time of the process per steady-state round (Linux only).
    pub cpu_per_round: Option<Duration>,
    /// The process's peak resident memory when the run ended (`VmHWM`,
    /// Linux only): in a process that ran several workloads, the largest.
    pub peak_rss_bytes: Option<u64>,
}

/// CPU time this process has used (user + system), from `/proc/self/stat`
/// (Linux; `None` elsewhere). Wall time on a shared machine says little.
pub fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields of the line, in clock ticks (100 per second on
    // Linux).
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let user: u64 = fields.get(11)?.parse().ok()?;
    let system: u64 = fields.get(12)?.parse().ok()?;
    let ticks = user.saturating_add(system);
    Some(Duration::from_millis(ticks.saturating_mul(10)))
}

/// This process's peak resident set size in bytes (`VmHWM` in
/// `/proc/self/status`; Linux only, `None` elsewhere).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    vm_hwm(&status)
}

/// The `VmHWM` line of a `/proc/<pid>/status` text, in bytes.
fn vm_hwm(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let mut words = line["VmHWM:".len()..].split_whitespace();
    let kib: u64 = words.next()?.parse().ok()?;
    (words.next() == Some("kB")).then_some(kib.saturating_mul(1024))
}

/// Median of `v` (mean of the middle two for an even count); sorts `v`.
pub fn median(v: &mut [f64]) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => v.get(n / 2).copied(),
        _ => Some((v.get(n / 2 - 1)? + v.get(n / 2)?) / 2.0),
    }
}

/// Realistic node names: `node-0042.eu-west-1.prod`.
pub fn node_name(i: usize) -> String {
    const REGIONS: [&str; 3] = ["eu-west-1", "us-east-1", "ap-southeast-2"];
    format!("node-{i:04}.{}.prod", REGIONS[i % REGIONS.len()])
}

/// A printable value of `len` bytes.
fn value(rng: &mut SimRng, len: usize) -> Vec<u8> {
    (0..len)
        .map(|_| b"0123456789abcdef"[rng.below(16) as usize])
        .collect()
}

/// Every node lists every other as alive and holds all their entries at
/// the owner's version. One pass over each engine's node table (with
/// `got` as scratch), not a lookup by name per pair: a name lookup scans
/// the table, which would make each check cubic in the cluster size.
fn settled(sim: &Sim, want: &mut Vec<u64>, got: &mut Vec<Option<u64>>) -> bool {
    if !sim.converged() {
        return false;
    }
    want.clear();
    want.extend((0..sim.len()).map(|i| sim.engine(i).local_node().map_or(0, |n| n.max_version())));
    (0..sim.len()).all(|o| {
        got.clear();
        got.resize(sim.len(), None);
        for view in sim.engine(o).nodes() {
            let id = view.id();
            let index = super::network::node_index(id.addr)
                .filter(|&j| j < sim.len() && sim.name(j) == id.name.as_str());
            if let Some(slot) = index.and_then(|j| got.get_mut(j)) {
                *slot = Some(view.max_version());
            }
        }
        got.iter().zip(want.iter()).all(|(g, w)| *g == Some(*w))
    })
}

/// `count` distinct nodes of `seeds..nodes`, by a partial shuffle.
fn pick_non_seeds(rng: &mut SimRng, seeds: usize, nodes: usize, count: usize) -> Vec<usize> {
    let mut pool: Vec<usize> = (seeds..nodes).collect();
    for k in 0..count.min(pool.len()) {
        let pick = k + rng.below((pool.len() - k) as u64) as usize;
        pool.swap(k, pick);
    }
    pool.truncate(count);
    pool
}

/// Runs `w` and measures it. Errors if [`Workload::check`] refuses it, or
/// if an engine refuses a write the check did not foresee.
pub fn run(w: &Workload) -> Result<Report, String> {
    let wall = WallClock::now();
    w.check().map_err(|e| e.0)?;
    let progress = |what: &str, sim: &Sim| {
        if w.progress {
            std::eprintln!(
                "[{:>8.1} s wall] {what} at {:.1} s virtual",
                wall.elapsed().as_secs_f64(),
                sim.now().as_secs_f64()
            );
        }
    };
    let capacity = w.capacity();
    let mut config = SimConfig::new(w.seed);
    config.capacity = capacity;
    config.engine = w.config();
    config.network.loss = w.loss;
    config.network.latency = Latency::Normal {
        mean: Duration::from_millis(1),
        std_dev: Duration::from_micros(500),
        min: Duration::from_micros(100),
    };
    config.seeds = SEEDS;
    config.name = node_name;
    config.first_generation = 1_732_000_000_000;
    // Detection and false positives are tracked without the logs; a
    // thousand nodes' membership logs would hold a million joins.
    config.record_membership = false;
    let interval = w.interval;
    let mut sim = Sim::try_new(config).map_err(|e| format!("cannot build the engines: {e}"))?;
    // The workload's own choices, separate from the simulation's RNG.
    let mut rng = SimRng::new(w.seed ^ 0x5eed_f10a);

    // 1. Warm-up.
    sim.add_nodes(w.nodes);
    progress("engines built", &sim);
    if w.sealed {
        // Installed before the first tick, so not one datagram goes out
        // unsealed; the first key installed is the one an engine seals with.
        for i in 0..w.nodes {
            sim.engine_mut(i)
                .install_key(ClusterKey::new(SIM_KEY))
                .map_err(|e| format!("node {i} cannot take the cluster key: {e}"))?;
        }
    }
    for i in 0..w.nodes {
        for k in 0..w.keys {
            sim.set(i, &Workload::key_name(k), &value(&mut rng, w.value_len))
                .map_err(|e| {
                    format!("node {i} cannot write its keys ({e}): raise --max-entries or --max-state-bytes")
                })?;
        }
    }
    // Checked every interval: a cold start is measured to the interval.
    let limit = interval * WARMUP_LIMIT_INTERVALS;
    let joined = sim.wait_for(limit, interval, Sim::converged);
    progress("joined", &sim);
    let (mut want, mut got) = (Vec::new(), Vec::new());
    let converged = joined.and_then(|_| {
        sim.wait_for(limit, interval, |s| settled(s, &mut want, &mut got))
            .map(|_| sim.now())
    });
    progress("converged", &sim);
    let false_positives_warmup = sim.false_positives().len();

    // 2. Steady state: traffic and propagation.
    sim.reset_metrics();
    let window = interval * w.rounds;
    let spacing = (window - interval * 15) / UPDATES as u32;
    let start = sim.now();
    let steady_wall = WallClock::now();
    let steady_cpu = cpu_time();
    let mut tracked = Vec::new();
    for u in 0..UPDATES {
        // Up to one interval of jitter (one second at the default).
        let jitter = rng.below(u64::try_from(interval.as_micros()).unwrap_or(u64::MAX));
        let at = start + spacing * u as u32 + Duration::from_micros(jitter);
        sim.run_until(at);
        let node = rng.below(w.nodes as u64) as usize;
        // With no keys, the updates write a first key.
        let key = Workload::key_name(rng.below(w.keys.max(1) as u64) as usize);
        let id = sim
            .set_tracked(node, &key, &value(&mut rng, w.value_len))
            .map_err(|e| format!("node {node} cannot update {key}: {e}"))?;
        tracked.push(id);
    }
    sim.run_until(start + window);
    let wall_per_round = steady_wall.elapsed() / w.rounds;
    let cpu_per_round = cpu_time()
        .zip(steady_cpu)
        .map(|(end, start)| end.saturating_sub(start) / w.rounds);
    let metrics = sim.metrics();
    progress("steady state measured", &sim);
    // Stragglers (traffic is no longer counted).
    sim.wait_for(interval * 60, interval, |s| {
        tracked.iter().all(|&t| s.propagation(t).duration.is_some())
    });
    let mut rounds: Vec<f64> = tracked
        .iter()
        .filter_map(|&t| sim.propagation(t).rounds)
        .collect();
    let updates_incomplete = UPDATES - rounds.len();
    let propagation_median = median(&mut rounds);
    let propagation_max = rounds.last().copied();

    // 3. Crashes, or another fault.
    let seeds = SEEDS.min(w.nodes - 1);
    let count = w.crash_count();
    let fault = w.fault();
    let pause = w.config().detector.acceptable_heartbeat_pause;
    // A detection takes about a timeout after the last heartbeat arrives
    // (a few intervals plus the pause); recovering membership after a
    // fault, about as long.
    let settle_limit = interval * 60 + pause * 10;
    let mut victims = Vec::new();
    let (mut flip, mut lossy) = (None, None);
    if fault == Fault::FlipPartitions {
        let period = w.flip_partitions.unwrap_or_default();
        let flips = w.flips.unwrap_or(DEFAULT_FLIPS);
        flip = Some(faults::flip_partitions(
            &mut sim,
            period,
            flips,
            settle_limit,
        ));
    } else if fault == Fault::LossyNodes {
        let chosen = pick_non_seeds(&mut rng, seeds, w.nodes, w.lossy_count());
        lossy = Some(faults::lossy_nodes(
            &mut sim,
            &chosen,
            w.lossy_loss.unwrap_or(DEFAULT_LOSSY_LOSS),
            w.lossy_seconds.unwrap_or(DEFAULT_LOSSY_SECONDS),
            settle_limit,
        ));
    } else if fault != Fault::SpacedCrashes {
        victims = pick_non_seeds(&mut rng, seeds, w.nodes, count);
        for &v in &victims {
            sim.crash(v);
        }
    } else {
        while victims.len() < count {
            let v = seeds + rng.below((w.nodes - seeds) as u64) as usize;
            if !victims.contains(&v) {
                victims.push(v);
            }
        }
        for &v in &victims {
            sim.crash(v);
            sim.run_for(interval * CRASH_SPACING_INTERVALS);
        }
    }
    progress(
        if fault.crashes() {
            "crashed"
        } else {
            "fault over, membership back"
        },
        &sim,
    );
    sim.wait_for(settle_limit, interval, |s| {
        victims
            .iter()
            .all(|&v| s.detection(v).is_some_and(|d| d.is_complete()))
    });
    progress("detections awaited", &sim);
    let mut times = Vec::new();
    let mut detections_incomplete = 0;
    let mut detection_pairs = 0;
    let mut missing_detections = Vec::new();
    for &v in &victims {
        let Some(d) = sim.detection(v) else {
            continue;
        };
        detection_pairs += d.latencies.len();
        for &(observer, _) in d.latencies.iter().filter(|(_, l)| l.is_none()).take(5) {
            if missing_detections.len() < 5 {
                missing_detections.push((sim.name(observer).to_string(), sim.name(v).to_string()));
            }
        }
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
        workload: w.clone(),
        sealed_out,
        unsealed_in,
        capacity,
        memory_bytes_per_node: capacity.memory_bytes() + engine_value_bytes,
        engine_value_bytes,
        joined_seconds: joined.map(|d| d.as_secs_f64()),
        converged_seconds: converged.map(|d| d.as_secs_f64()),
        false_positives_warmup,
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
        updates: UPDATES,
        updates_incomplete,
        crashes: victims.len(),
        detection_pairs,
        detection_median,
        detection_max,
        detections_incomplete,
        missing_detections,
        false_positives: sim.false_positives().len(),
        false_positive_list: sim
            .false_positives()
            .iter()
            .map(|f| {
                (
                    f.at.as_secs_f64(),
                    sim.name(f.observer).to_string(),
                    sim.name(f.subject.node).to_string(),
                )
            })
            .collect(),
        fault,
        flapping: sim.flapping().len(),
        flip,
        lossy,
        wall_total: wall.elapsed(),
        wall_per_round,
        cpu_per_round,
        peak_rss_bytes: peak_rss_bytes(),
    })
}

/// A JSON number with at most three decimals, or `null` for a missing or
/// non-finite value.
pub fn json_number(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() => {
            let s = format!("{x:.3}");
            let s = s.trim_end_matches('0').trim_end_matches('.');
            s.to_string()
        }
        _ => "null".into(),
    }
}

/// A JSON string (quotes, backslashes and control characters escaped).
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A count, or `null` outside its scenario.
fn opt_count(v: Option<usize>) -> String {
    v.map_or("null".into(), |n| n.to_string())
}

/// Named convictions as a JSON list of `[seconds, observer, node]`.
fn named_list(list: &[Named]) -> String {
    let items: Vec<String> = list
        .iter()
        .map(|(at, observer, subject)| {
            format!(
                "[{}, {}, {}]",
                json_number(Some(*at)),
                json_string(observer),
                json_string(subject)
            )
        })
        .collect();
    format!("[{}]", items.join(", "))
}

fn millis(d: Duration) -> String {
    d.as_millis().to_string()
}

impl Report {
    /// The false positives by the fault scenario's own definition:
    /// convictions of a node of the observer's own half
    /// ([`FlipReport::same_side`]), of a healthy node by anyone
    /// ([`LossyReport::healthy_convicted`]), or with crashes
    /// [`Report::false_positives`].
    pub fn fault_false_positives(&self) -> usize {
        match (&self.flip, &self.lossy) {
            (Some(f), _) => f.same_side,
            (None, Some(l)) => l.healthy_convicted,
            (None, None) => self.false_positives,
        }
    }

    /// The first [`faults::LISTED`] of [`Report::fault_false_positives`].
    pub fn fault_false_positive_list(&self) -> &[Named] {
        let list = match (&self.flip, &self.lossy) {
            (Some(f), _) => &f.same_side_list,
            (None, Some(l)) => &l.healthy_convicted_list,
            (None, None) => &self.false_positive_list,
        };
        &list[..list.len().min(faults::LISTED)]
    }

    /// The report's fields, in print order, as (name, JSON value); the
    /// schema is documented in `examples/simulate.rs`.
    pub fn json_fields(&self) -> Vec<(&'static str, String)> {
        let w = &self.workload;
        let config = w.config();
        let num = json_number;
        let c = self.capacity;
        let (f, l) = (self.flip.as_ref(), self.lossy.as_ref());
        vec![
            ("nodes", w.nodes.to_string()),
            ("loss", num(Some(w.loss))),
            ("seed", w.seed.to_string()),
            ("rounds", w.rounds.to_string()),
            ("max_nodes", c.nodes.to_string()),
            ("max_entries", c.entries.to_string()),
            ("max_state_bytes", c.state_bytes.to_string()),
            ("window", c.window.to_string()),
            ("mtu", MTU.to_string()),
            ("gossip_interval_ms", millis(w.interval)),
            ("fanout", w.fanout.to_string()),
            (
                "acceptable_pause_ms",
                millis(config.detector.acceptable_heartbeat_pause),
            ),
            (
                "min_std_deviation_ms",
                millis(config.detector.min_std_deviation),
            ),
            ("key", w.sealed.to_string()),
            ("keys_per_node", w.keys.to_string()),
            ("value_bytes", w.value_len.to_string()),
            ("latency", json_string(LATENCY)),
            ("joined_seconds", num(self.joined_seconds)),
            ("converged_seconds", num(self.converged_seconds)),
            ("rounds_to_full_propagation", num(self.propagation_median)),
            ("rounds_to_full_propagation_max", num(self.propagation_max)),
            ("updates", self.updates.to_string()),
            ("updates_incomplete", self.updates_incomplete.to_string()),
            ("bytes_per_node_per_round", num(Some(self.bytes_out))),
            (
                "datagrams_per_node_per_round",
                num(Some(self.datagrams_out)),
            ),
            ("bytes_in_per_node_per_round", num(Some(self.bytes_in))),
            (
                "datagrams_in_per_node_per_round",
                num(Some(self.datagrams_in)),
            ),
            (
                "busiest_node_bytes_per_round",
                num(self.busiest.as_ref().map(|b| b.1)),
            ),
            ("datagrams_lost", self.lost.to_string()),
            ("crashes", self.crashes.to_string()),
            ("mass_crash", num(w.mass_crash)),
            ("detection_pairs", self.detection_pairs.to_string()),
            ("detection_seconds_median", num(self.detection_median)),
            ("detection_seconds_max", num(self.detection_max)),
            (
                "detections_incomplete",
                self.detections_incomplete.to_string(),
            ),
            ("false_positives", self.false_positives.to_string()),
            (
                "false_positives_warmup",
                self.false_positives_warmup.to_string(),
            ),
            ("false_positive_list", named_list(&self.false_positive_list)),
            ("flapping", self.flapping.to_string()),
            ("fault", json_string(self.fault.name())),
            (
                "crash_count",
                w.crash_count.map_or("null".into(), |n| n.to_string()),
            ),
            (
                "flip_seconds",
                num(w.flip_partitions.map(|d| d.as_secs_f64())),
            ),
            ("flips", opt_count(f.map(|f| f.flips as usize))),
            ("same_side_convictions", opt_count(f.map(|f| f.same_side))),
            (
                "same_side_convictions_hearing",
                opt_count(f.map(|f| f.same_side_hearing)),
            ),
            ("deaf_side_convictions", opt_count(f.map(|f| f.deaf_side))),
            (
                "hearing_side_convictions",
                opt_count(f.map(|f| f.hearing_side)),
            ),
            (
                "cross_convictions_after_partitions",
                opt_count(f.map(|f| f.after_partitions)),
            ),
            (
                "unexpected_cross_list",
                f.map_or("null".into(), |f| named_list(&f.cross_list)),
            ),
            (
                "flapping_same_side",
                opt_count(f.map(|f| f.flapping_same_side)),
            ),
            (
                "flapping_cross_side",
                opt_count(f.map(|f| f.flapping_cross_side)),
            ),
            ("lossy_nodes", opt_count(l.map(|l| l.nodes.len()))),
            ("lossy_loss", num(l.map(|l| l.loss))),
            ("lossy_seconds", num(l.map(|l| l.duration.as_secs_f64()))),
            (
                "healthy_convicted",
                opt_count(l.map(|l| l.healthy_convicted)),
            ),
            (
                "healthy_convicted_by_lossy",
                opt_count(l.map(|l| l.healthy_convicted_by_lossy)),
            ),
            (
                "lossy_convicted_by_healthy",
                opt_count(l.map(|l| l.lossy_convicted_by_healthy)),
            ),
            ("flapping_healthy", opt_count(l.map(|l| l.flapping_healthy))),
            ("flapping_lossy", opt_count(l.map(|l| l.flapping_lossy))),
            (
                "heal_seconds",
                num(f
                    .map(|f| f.heal_seconds)
                    .or(l.map(|l| l.heal_seconds))
                    .flatten()),
            ),
            (
                "fault_false_positives",
                self.fault_false_positives().to_string(),
            ),
            (
                "fault_false_positive_list",
                named_list(self.fault_false_positive_list()),
            ),
            ("sealed_datagrams_out", self.sealed_out.to_string()),
            ("unsealed_datagrams_in", self.unsealed_in.to_string()),
            (
                "memory_bytes_per_node",
                self.memory_bytes_per_node.to_string(),
            ),
            ("engine_value_bytes", self.engine_value_bytes.to_string()),
            ("wall_seconds", num(Some(self.wall_total.as_secs_f64()))),
            (
                "peak_rss_bytes",
                self.peak_rss_bytes.map_or("null".into(), |b| b.to_string()),
            ),
            (
                "wall_ms_per_round",
                num(Some(self.wall_per_round.as_secs_f64() * 1000.0)),
            ),
            (
                "cpu_ms_per_round",
                num(self.cpu_per_round.map(|d| d.as_secs_f64() * 1000.0)),
            ),
        ]
    }

    /// The report as one JSON object on one line.
    pub fn to_json(&self) -> String {
        let body: Vec<String> = self
            .json_fields()
            .iter()
            .map(|(k, v)| format!("{}:{v}", json_string(k)))
            .collect();
        format!("{{{}}}", body.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_sizing_is_the_old_one_and_follows_the_keys() {
        let w = Workload::new();
        // The sizes simulate always used for 10 keys of 32 bytes.
        assert_eq!((w.entries_per_slot(), w.state_bytes_per_slot()), (12, 640));
        let c = Workload {
            nodes: 1000,
            ..Workload::new()
        }
        .capacity();
        assert_eq!((c.nodes, c.entries, c.state_bytes), (1024, 12_288, 655_360));
        let small = Workload {
            nodes: 5000,
            keys: 1,
            value_len: 8,
            window: 100,
            ..Workload::new()
        };
        let c = small.capacity();
        assert_eq!((c.nodes, c.entries, c.state_bytes), (5120, 15_360, 327_680));
        // Issue 12's 5000-node run fits 20 GiB: 3.55 MiB per engine (3.51
        // before the 8 bytes of a reply's chunk offset, module `chunk`).
        assert_eq!(small.check(), Ok(()));
        assert_eq!(c.memory_bytes(), 5120 * (c.bytes_per_node() + 3 * 52 + 64));
        assert!(c.memory_bytes() * 5000 < 18 << 30, "{}", c.memory_bytes());
        // The default share and config are the core's at the defaults.
        let mut core = Config::new();
        core.mtu = MTU;
        assert_eq!(Workload::new().config(), core);
    }

    #[test]
    fn a_small_workload_holds_its_keys_and_a_large_value_is_refused() {
        let zero = Workload {
            keys: 0,
            ..Workload::new()
        };
        assert_eq!(zero.check(), Ok(()));
        let many = Workload {
            keys: 400,
            value_len: 16,
            ..Workload::new()
        };
        assert_eq!(many.check(), Ok(()), "the share follows the keys");
        let chunked = Workload {
            value_len: 2000,
            ..Workload::new()
        };
        assert_eq!(
            chunked.check(),
            Ok(()),
            "a value longer than a datagram goes in chunks"
        );
        let big = Workload {
            value_len: 70_000,
            ..Workload::new()
        };
        let e = big.check().expect_err("beyond max_value_len");
        assert!(e.0.contains("--value-len"), "{e}");
    }

    #[test]
    fn peak_rss_is_read_from_vm_hwm() {
        let status = "Name:\tsimulate\nVmPeak:\t  100 kB\nVmHWM:\t  2048 kB\nVmRSS:\t 10 kB\n";
        assert_eq!(vm_hwm(status), Some(2048 * 1024));
        assert_eq!(vm_hwm("VmHWM: x kB"), None);
        assert_eq!(vm_hwm("Name: a"), None);
        if cfg!(target_os = "linux") {
            assert!(peak_rss_bytes().is_some_and(|b| b > 0));
        }
    }

    #[test]
    fn json_strings_and_numbers() {
        assert_eq!(json_string("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
        assert_eq!(json_number(Some(2.5)), "2.5");
        assert_eq!(json_number(Some(3.0)), "3");
        assert_eq!(json_number(Some(f64::NAN)), "null");
        assert_eq!(json_number(None), "null");
    }

    #[test]
    fn a_mass_crash_is_reported_by_every_live_node_without_false_positives() {
        let w = Workload {
            nodes: 30,
            rounds: MIN_ROUNDS,
            mass_crash: Some(0.1),
            seed: 5,
            ..Workload::new()
        };
        let r = run(&w).expect("runs");
        assert!(
            r.joined_seconds.is_some() && r.converged_seconds.is_some(),
            "{r:?}"
        );
        // 10 % of the 27 non-seed nodes, each awaited by the 27 nodes left
        // alive.
        assert_eq!(r.crashes, 3);
        assert_eq!(r.detection_pairs, 3 * 27);
        assert_eq!(r.detections_incomplete, 0, "{r:?}");
        assert_eq!(r.false_positives, 0, "{:?}", r.false_positive_list);
        let (median, max) = (
            r.detection_median.expect("median"),
            r.detection_max.expect("max"),
        );
        assert!(
            0.0 < median && median <= max && max < 60.0,
            "{median} {max}"
        );
        let json = r.to_json();
        assert!(
            json.contains("\"mass_crash\":0.1,") && json.contains("\"crashes\":3,"),
            "{json}"
        );
    }

    #[test]
    fn a_small_tradeoff_runs_and_plots_one_point_per_setting() {
        let grid =
            crate::grid::parse_settings("interval=1000,fanout=3;interval=500,fanout=2,pause=1000")
                .expect("grid");
        let base = Workload {
            nodes: 12,
            rounds: MIN_ROUNDS,
            ..Workload::new()
        };
        let points: Vec<crate::plot::Point> = grid
            .iter()
            .map(|s| {
                let w = s.apply(&base);
                let r = run(&w).expect("runs");
                assert_eq!(r.workload.interval, w.interval);
                crate::plot::Point {
                    x: r.bytes_out,
                    y: r.detection_median.expect("every crash detected"),
                    label: s.label(&w),
                }
            })
            .collect();
        // Half the interval and half the pause detect sooner.
        assert!(points[1].y < points[0].y, "{points:?}");
        let svg = crate::plot::scatter_svg("t", "bytes", "seconds", &points);
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(svg.contains("500 ms, fanout 2, pause 1000 ms"));
    }

    #[test]
    fn crashes_together_are_all_detected_and_the_json_names_the_fault() {
        let w = Workload {
            nodes: 30,
            rounds: MIN_ROUNDS,
            crash_count: Some(4),
            crash_together: true,
            seed: 6,
            ..Workload::new()
        };
        assert_eq!(w.fault(), Fault::CrashesTogether);
        let r = run(&w).expect("runs");
        assert_eq!((r.crashes, r.detection_pairs), (4, 4 * 26));
        assert_eq!(r.detections_incomplete, 0, "{r:?}");
        assert_eq!((r.false_positives, r.flapping), (0, 0), "{r:?}");
        assert_eq!(r.fault_false_positives(), 0);
        let json = r.to_json();
        for field in [
            "\"fault\":\"crashes-together\",",
            "\"crash_count\":4,",
            "\"flapping\":0,",
            "\"flip_seconds\":null,",
            "\"healthy_convicted\":null,",
            "\"fault_false_positives\":0,",
            "\"fault_false_positive_list\":[],",
        ] {
            assert!(json.contains(field), "{field} missing: {json}");
        }
    }

    #[test]
    fn flipping_partitions_and_lossy_nodes_report_their_own_counts() {
        // 12 nodes, 6 a side, two 20 s one-way partitions: each side is
        // deaf once and convicts the 6 far nodes then, each observer once.
        let w = Workload {
            nodes: 12,
            rounds: MIN_ROUNDS,
            flip_partitions: Some(Duration::from_secs(20)),
            flips: Some(2),
            ..Workload::new()
        };
        let r = run(&w).expect("runs");
        let f = r.flip.as_ref().expect("a flip report");
        assert_eq!((r.fault, r.crashes), (Fault::FlipPartitions, 0));
        assert_eq!(
            (f.sides, f.deaf_side, f.hearing_side + f.after_partitions),
            ((6, 6), 72, 0),
            "{f:?}"
        );
        // Nobody was deaf twice: no flapping yet.
        assert_eq!((f.flapping_cross_side, r.flapping), (0, 0), "{f:?}");
        assert!(f.heal_seconds.is_some(), "{f:?}");
        assert_eq!(r.fault_false_positives(), f.same_side);
        let json = r.to_json();
        assert!(json.contains("\"deaf_side_convictions\":72,"), "{json}");
        assert!(json.contains("\"fault\":\"flip-partitions\","), "{json}");

        let w = Workload {
            nodes: 12,
            rounds: MIN_ROUNDS,
            lossy_nodes: Some(0.2),
            lossy_seconds: Some(Duration::from_secs(30)),
            ..Workload::new()
        };
        let r = run(&w).expect("runs");
        let l = r.lossy.as_ref().expect("a lossy report");
        // 20 % of the 9 non-seed nodes, rounded.
        assert_eq!((l.nodes.len(), l.loss), (2, DEFAULT_LOSSY_LOSS));
        assert_eq!(r.fault_false_positives(), l.healthy_convicted);
        assert!(l.healthy_convicted >= l.healthy_convicted_by_lossy);
        assert!(l.heal_seconds.is_some(), "{l:?}");
        assert!(r.to_json().contains("\"lossy_nodes\":2,"));
    }

    #[test]
    fn mass_crash_counts_a_fraction_of_the_non_seed_nodes() {
        let w = |nodes, f| Workload {
            nodes,
            mass_crash: Some(f),
            ..Workload::new()
        };
        assert_eq!(w(1000, 0.1).crash_count(), 100);
        assert_eq!(w(30, 0.1).crash_count(), 3);
        assert_eq!(w(5, 0.01).crash_count(), 1);
        assert_eq!(w(10, 1.0).crash_count(), 7);
        assert_eq!(Workload::new().crash_count(), SPACED_CRASHES);
        assert_eq!(
            Workload {
                nodes: 4,
                ..Workload::new()
            }
            .crash_count(),
            0
        );
    }
}
