//! `node`'s command line: the flags (clap derive, so `--help` is generated
//! from them), their checks, and the long help that explains the output,
//! the commands on stdin, the signals and the log variable.
//!
//! Every value is checked while parsing (ranges by clap's value parsers),
//! so a bad flag ends the process with clap's message and status 2 before
//! anything starts; what only the node can check (a name too long, a port
//! in use) is an error from `Builder::start`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum, value_parser};
use hearsay_std::{Config, KeyMode};

/// The library's dead grace, in whole seconds (the default of
/// `--dead-grace-s`).
const DEAD_GRACE_S: u64 = Config::new().dead_grace.as_secs();
/// The library's tombstone grace, in whole seconds.
const TOMBSTONE_GRACE_S: u64 = Config::new().tombstone_grace.as_secs();
/// The longest grace the library takes, in seconds (a year).
const MAX_GRACE_S: u64 = Config::MAX_GRACE.as_secs();
/// The longest gossip interval, in milliseconds (an hour).
const MAX_INTERVAL_MS: u64 = Config::MAX_GOSSIP_INTERVAL.as_secs() * 1000;
/// The longest leave linger, in milliseconds (an hour).
const MAX_LINGER_MS: u64 = Config::MAX_LEAVE_LINGER.as_secs() * 1000;
/// Gossip intervals a leaving node lingers by default: at the 1 s default
/// interval this is the library's 3 s, and it follows `--interval-ms`.
pub const LINGER_INTERVALS: u32 = 3;
/// The longest `--members-every`: a day.
const MAX_MEMBERS_EVERY: Duration = Duration::from_secs(24 * 3600);

/// The short help's last line: where the rest is.
const AFTER_HELP: &str = "\
`node --help` explains the output (name#generation@addr, --json), the
commands read from stdin, the signals, and the HEARSAY_LOG variable.";

/// The long help's text after the flags.
const AFTER_LONG_HELP: &str = "\
OUTPUT
  One line per event on stdout, e.g.

    2026-12-02T21:40:01.412Z     0.412s joined     b#1732600000420@10.0.0.2:7946

  the wall-clock time (RFC 3339, UTC, milliseconds), the seconds since this
  node started, the event, and what it is about. A node is written
  name#generation@addr: its name, its generation (its incarnation: by
  default the time it started, in milliseconds since the UNIX epoch, so a
  restart under the same name replaces the old one) and the address it
  gossips on. Lines about this node itself say \"(this node)\".

  Events: listening (start), keys, metrics, warning, joined, alive (again
  after dead), dead, left, removed, replaced, key-set, key-del, lagged,
  stalled (this process was paused), probe, and the replies to commands:
  ok, value, members, help, error; then leaving and stopped when it
  leaves.

  With --json, each line is one JSON object: ts, t, node, event and the
  event's own fields. The schema, stable (fields and events are only ever
  added), is in the docs of examples/src/bin/node.rs and README.md
  (\"Operating hearsay\").

COMMANDS (stdin, one per line)
  set KEY VALUE               set one of this node's keys; VALUE is the rest
                              of the line
  set-ttl KEY SECONDS VALUE   set it, deleted after SECONDS (alias: ttl)
  delete KEY                  delete one of this node's keys (alias: del)
  get [NODE] KEY              KEY's value in NODE's namespace (default: this
                              node's), as far as this node knows
  members                     a snapshot of every node this one knows: status,
                              phi, heartbeat, timeout, keys...
  help                        this list

  Each command is answered by an ok, value, members or help line; a bad
  line gets an error line and the node keeps running. The end of stdin
  (or stdin from /dev/null) does not stop the node. In the background of
  an interactive shell (`node ... &`), give it `< /dev/null`: the shell
  stops a background process that reads the terminal.

SIGNALS
  SIGINT, SIGTERM  leave gracefully: peers see this node left, not dead;
                   it announces its departure for the leave linger, then
                   exits. A second one quits at once.
  SIGUSR1          set the key \"probe\" to the number of SIGUSR1s received
                   so far and print a probe line.

NETWORK
  --listen defaults to 127.0.0.1:7946, loopback: only processes on this
  host can reach the node. If it listens or advertises on loopback and a
  seed is not loopback, it warns at start (a warning line). Across hosts:
  --listen 0.0.0.0:7946 --advertise THIS_HOST_IP:7946.

LOGGING
  Log lines go to stderr. HEARSAY_LOG sets their level: off, error, warn
  (the default), info, debug or trace.

CLUSTER KEYS
  Turning keys on in a running cluster: restart every node, one by one,
  with the key file and --key-mode listen; then each with transitional;
  then each with required. Rotating a key: put the new key on the line
  after the old one and restart every node in turn (both accepted, old one
  used); then put the new key first and restart each again (new one used);
  then remove the old line and restart each again. See the README's
  \"Cluster keys\".";

/// `node`'s command line.
#[derive(Debug, Parser)]
#[command(
    name = "node",
    about = "One hearsay node per process: joins a cluster and prints its membership and key events.",
    after_help = AFTER_HELP,
    after_long_help = AFTER_LONG_HELP
)]
pub struct Args {
    /// This node's name, unique in the cluster (1 to 64 bytes).
    #[arg(long, value_name = "NAME")]
    pub name: String,

    /// Address to bind the gossip socket to. The default is loopback: only
    /// this host can reach it; across hosts listen on 0.0.0.0:7946 (or this
    /// host's address) and set --advertise.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7946")]
    pub listen: SocketAddr,

    /// Address peers should use (default: the bound address; required when
    /// listening on an unspecified address, 0.0.0.0 or ::).
    #[arg(long, value_name = "ADDR")]
    pub advertise: Option<SocketAddr>,

    /// A node to join through (repeatable; host names are re-resolved).
    #[arg(long = "seed", value_name = "HOST:PORT")]
    pub seeds: Vec<String>,

    /// A key this node holds from the start (repeatable; while running, use
    /// the set command on stdin).
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = key_value)]
    pub keys: Vec<(String, String)>,

    /// Cluster name: nodes of other clusters are ignored.
    #[arg(long, value_name = "NAME", default_value = "hearsay")]
    pub cluster: String,

    /// Gossip interval in milliseconds, 1 to 3600000. The failure
    /// detector's settings and the default leave linger scale with it.
    #[arg(
        long = "interval-ms",
        value_name = "MS",
        default_value_t = 1000,
        value_parser = value_parser!(u64).range(1..=MAX_INTERVAL_MS)
    )]
    pub interval_ms: u64,

    /// How long a leaving node keeps announcing its departure, in
    /// milliseconds, at most 3600000 [default: 3 × --interval-ms].
    #[arg(
        long = "leave-linger-ms",
        value_name = "MS",
        value_parser = value_parser!(u64).range(0..=MAX_LINGER_MS)
    )]
    pub leave_linger_ms: Option<u64>,

    /// How long dead and departed nodes are remembered before they are
    /// removed, in seconds, 1 to 31536000 (a year).
    #[arg(
        long = "dead-grace-s",
        value_name = "S",
        default_value_t = DEAD_GRACE_S,
        value_parser = value_parser!(u64).range(1..=MAX_GRACE_S)
    )]
    pub dead_grace_s: u64,

    /// How long a deleted key's tombstone is kept and gossiped, in seconds,
    /// at most 31536000 (a year).
    #[arg(
        long = "tombstone-grace-s",
        value_name = "S",
        default_value_t = TOMBSTONE_GRACE_S,
        value_parser = value_parser!(u64).range(0..=MAX_GRACE_S)
    )]
    pub tombstone_grace_s: u64,

    /// Longest value a key may hold, in bytes (values longer than a
    /// datagram travel in chunks and appear at peers only whole). Use the
    /// same value on every node: a peer with a smaller limit refuses longer
    /// values and logs it. A value must also fit the per-node share
    /// (--max-node-bytes).
    #[arg(
        long = "max-value-len",
        value_name = "BYTES",
        default_value_t = Config::DEFAULT_MAX_VALUE_LEN,
    )]
    pub max_value_len: usize,

    /// Most key and value bytes this node's namespace may hold, tombstones
    /// included: its share of every node's store (the default holds one
    /// value of the default --max-value-len and 16 KiB of other keys). Use
    /// the same value on every node: peers refuse a node beyond it.
    #[arg(
        long = "max-node-bytes",
        value_name = "BYTES",
        default_value_t = Config::DEFAULT_MAX_NODE_BYTES,
    )]
    pub max_node_bytes: usize,

    /// Print a members snapshot every SECS seconds (decimals allowed, at
    /// most a day); the members command prints one on demand.
    #[arg(
        long = "members-every",
        value_name = "SECS",
        value_parser = members_every,
        allow_negative_numbers = true
    )]
    pub members_every: Option<Duration>,

    /// Print one JSON object per line instead of text.
    #[arg(long)]
    pub json: bool,

    /// Serve this node's metrics (Prometheus / OpenMetrics text: traffic,
    /// rejections, events, members by status, phi, state in use) over HTTP
    /// at ADDR, e.g. 127.0.0.1:9946 (then GET /metrics).
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,

    /// Cluster keys, one per line as 64 hex digits (e.g. `openssl rand -hex
    /// 32`); the first seals what this node sends, all are accepted. Every
    /// node needs the key. The file must not be readable by other users
    /// (chmod 600).
    #[arg(long = "key-file", value_name = "PATH")]
    pub key_file: Option<PathBuf>,

    /// Needs --key-file. listen sends in clear and accepts both,
    /// transitional seals and accepts both, required accepts sealed only
    /// [default: required].
    #[arg(
        long = "key-mode",
        value_name = "MODE",
        value_enum,
        requires = "key_file"
    )]
    pub key_mode: Option<KeyModeArg>,
}

impl Args {
    /// The gossip interval.
    pub fn interval(&self) -> Duration {
        Duration::from_millis(self.interval_ms)
    }

    /// The leave linger: as given, else [`LINGER_INTERVALS`] gossip
    /// intervals, at most the library's longest.
    pub fn leave_linger(&self) -> Duration {
        match self.leave_linger_ms {
            Some(ms) => Duration::from_millis(ms),
            None => self
                .interval()
                .saturating_mul(LINGER_INTERVALS)
                .min(Config::MAX_LEAVE_LINGER),
        }
    }
}

/// `--key-mode`'s values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeyModeArg {
    /// Send in clear, accept sealed and clear.
    Listen,
    /// Seal, accept sealed and clear.
    Transitional,
    /// Seal, accept sealed only.
    Required,
}

impl From<KeyModeArg> for KeyMode {
    fn from(mode: KeyModeArg) -> KeyMode {
        match mode {
            KeyModeArg::Listen => KeyMode::Listen,
            KeyModeArg::Transitional => KeyMode::Transitional,
            KeyModeArg::Required => KeyMode::Required,
        }
    }
}

/// `--set KEY=VALUE`: split at the first `=` (a value may hold more).
fn key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) => Ok((k.to_owned(), v.to_owned())),
        None => Err("expected KEY=VALUE".to_owned()),
    }
}

/// Seconds, decimals allowed: more than zero and at most `max`.
pub fn seconds(text: &str, max: Duration) -> Result<Duration, String> {
    let secs: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    match Duration::try_from_secs_f64(secs) {
        Ok(d) if !d.is_zero() && d <= max => Ok(d),
        _ => Err(format!(
            "{text:?}: seconds must be more than 0 and at most {}",
            max.as_secs()
        )),
    }
}

/// `--members-every SECS`.
fn members_every(text: &str) -> Result<Duration, String> {
    seconds(text, MAX_MEMBERS_EVERY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use clap::error::ErrorKind;

    fn parse(line: &str) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("node").chain(line.split_whitespace()))
    }

    #[test]
    fn the_command_line_is_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn defaults_and_every_flag() {
        let a = parse("--name a").expect("a name is enough");
        assert_eq!(a.listen, SocketAddr::from(([127, 0, 0, 1], 7946)));
        assert_eq!((a.interval_ms, a.cluster.as_str()), (1000, "hearsay"));
        assert_eq!(a.leave_linger(), Duration::from_secs(3));
        assert_eq!((a.dead_grace_s, a.tombstone_grace_s), (3600, 3600));
        assert!(a.members_every.is_none() && !a.json && a.key_mode.is_none());
        assert_eq!((a.max_value_len, a.max_node_bytes), (65_536, 81_920));

        let a = parse(
            "--name b --listen 0.0.0.0:7000 --advertise 10.0.0.2:7000 --seed x:1 --seed y:2 \
             --set http=a=b --cluster c --interval-ms 200 --dead-grace-s 60 \
             --tombstone-grace-s 0 --members-every 0.5 --json --key-file k --key-mode listen \
             --max-value-len 4096 --max-node-bytes 8192",
        )
        .expect("valid");
        assert_eq!(a.seeds, ["x:1", "y:2"]);
        assert_eq!(a.keys, [("http".to_owned(), "a=b".to_owned())]);
        assert_eq!(a.advertise, Some(SocketAddr::from(([10, 0, 0, 2], 7000))));
        // The linger follows the interval unless given.
        assert_eq!(a.leave_linger(), Duration::from_millis(600));
        assert_eq!((a.dead_grace_s, a.tombstone_grace_s), (60, 0));
        assert_eq!(a.members_every, Some(Duration::from_millis(500)));
        assert_eq!((a.max_value_len, a.max_node_bytes), (4096, 8192));
        assert_eq!(a.key_mode.map(KeyMode::from), Some(KeyMode::Listen));
        let a = parse("--name c --interval-ms 200 --leave-linger-ms 50").expect("valid");
        assert_eq!(a.leave_linger(), Duration::from_millis(50));
        let a = parse("--name c --interval-ms 3600000").expect("valid");
        assert_eq!(a.leave_linger(), Config::MAX_LEAVE_LINGER);
    }

    #[test]
    fn bad_values_are_refused_with_the_flag_named() {
        for (line, flag) in [
            ("", "--name"),
            ("--name a --interval-ms 0", "--interval-ms"),
            ("--name a --interval-ms x", "--interval-ms"),
            ("--name a --interval-ms 3600001", "--interval-ms"),
            ("--name a --leave-linger-ms 3600001", "--leave-linger-ms"),
            ("--name a --dead-grace-s 0", "--dead-grace-s"),
            (
                "--name a --tombstone-grace-s 31536001",
                "--tombstone-grace-s",
            ),
            ("--name a --members-every 0", "--members-every"),
            ("--name a --members-every -1", "--members-every"),
            ("--name a --members-every soon", "--members-every"),
            ("--name a --set novalue", "--set"),
            ("--name a --listen nowhere", "--listen"),
            ("--name a --key-mode sometimes --key-file k", "--key-mode"),
            ("--name a --key-mode listen", "--key-file"),
            ("--name a --bogus", "--bogus"),
        ] {
            let e = parse(line).expect_err(line);
            assert_ne!(e.kind(), ErrorKind::DisplayHelp, "{line}");
            let text = e.to_string();
            assert!(text.contains(flag), "{line:?}: {text}");
        }
    }
}
