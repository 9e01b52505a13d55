//! One hearsay node per process: how to try hearsay across real hosts, and
//! the process that `tests/netns/run.sh` runs in every network namespace.
//!
//! ```sh
//! # host A (10.0.0.1)
//! cargo run --release -p examples --bin node -- \
//!     --name a --listen 0.0.0.0:7946 --advertise 10.0.0.1:7946 --set http=10.0.0.1:8080
//! # host B (10.0.0.2)
//! cargo run --release -p examples --bin node -- \
//!     --name b --listen 0.0.0.0:7946 --advertise 10.0.0.2:7946 --seed 10.0.0.1:7946
//! ```
//!
//! `node --help` lists the flags (parsed by clap, `args.rs`) and explains
//! the output, the commands, the signals and the log variable. `--listen`
//! defaults to `127.0.0.1:7946`, loopback: only processes on the same host
//! can reach such a node, so one that listens or advertises on loopback
//! while a seed is not loopback says so in a `warning` at start (and in a
//! `warn` log line on stderr).
//!
//! It prints one line per membership or key event as it happens, each
//! starting with the wall-clock time (RFC 3339, UTC, milliseconds) and the
//! seconds since the node started, so that the output of processes on
//! different hosts (with synchronised clocks) or in different network
//! namespaces of one host can be lined up. A node is written
//! `name#generation@addr`: its name, its generation (its incarnation; by
//! default its start time in milliseconds since the UNIX epoch, so a
//! restart under the same name replaces the old incarnation) and the
//! address it gossips on:
//!
//! ```text
//! 2026-12-02T21:40:01.000Z     0.000s listening 127.0.0.1:7946 as a#1732600000000@127.0.0.1:7946 (cluster "hearsay")
//! 2026-12-02T21:40:01.000Z     0.000s keys       none: datagrams are not sealed
//! 2026-12-02T21:40:01.412Z     0.412s joined     b#1732600000420@127.0.0.1:7947
//! 2026-12-02T21:40:01.412Z     0.412s key-set    b#1732600000420@127.0.0.1:7947 http="10.0.0.2:8080" v1
//! 2026-12-02T21:40:10.030Z     9.030s dead       b#1732600000420@127.0.0.1:7947
//! 2026-12-02T21:40:12.000Z    11.000s leaving    (this node) a#1732600000000@127.0.0.1:7946, announcing it for 3.000s
//! 2026-12-02T21:40:15.010Z    14.010s stopped    (this node) a#1732600000000@127.0.0.1:7946 left and shut down
//! ```
//!
//! and a `stalled` line when the node notices that it was itself paused
//! (a SIGSTOP, a suspended laptop) for over two gossip intervals. Lines
//! about this node itself say `(this node)`.
//!
//! # Commands on stdin
//!
//! One per line (`commands.rs` parses them):
//!
//! - `set KEY VALUE` — set one of this node's keys; the value is the rest
//!   of the line.
//! - `set-ttl KEY SECONDS VALUE` (or `ttl`) — set it until `SECONDS`
//!   (decimals allowed) have passed; then the node deletes it.
//! - `delete KEY` (or `del`) — delete one of this node's keys.
//! - `get [NODE] KEY` — the value of `KEY` in `NODE`'s namespace (this
//!   node's by default), as far as this node knows.
//! - `members` — a snapshot of every node this node knows (below).
//! - `help` — the list of commands.
//!
//! Each is answered by an `ok`, `value`, `members` or `help` line; a line
//! that is not a command, or a write the node refuses, gets an `error` line
//! and the node keeps running. Blank lines and `#` comments are skipped.
//! The end of stdin does not stop the node (run with stdin closed or from
//! `/dev/null`, it has no commands). In the background of an interactive
//! shell give it `< /dev/null`: the shell stops a background process that
//! reads the terminal (SIGTTIN). `--members-every SECS` prints a members
//! snapshot every `SECS` seconds besides.
//!
//! # JSON lines (`--json`)
//!
//! With `--json` every one of those lines is instead one JSON object on a
//! line of its own (stdout; log lines stay on stderr). Every object has:
//!
//! | field   | what                                                          |
//! |---------|---------------------------------------------------------------|
//! | `ts`    | wall-clock time, RFC 3339 UTC with milliseconds               |
//! | `t`     | seconds since this process started its node (monotonic clock) |
//! | `node`  | this node's name (`--name`)                                   |
//! | `event` | what happened, one of the names below                         |
//!
//! A *member* is `{"name": str, "generation": u64, "addr": "ip:port"}`.
//! The events and their other fields:
//!
//! - `start`: `member` (this node's id), `listen` (the bound address),
//!   `cluster`, `pid`.
//! - `keys`: `mode` (`listen`, `transitional`, `required`, or `null`
//!   without keys), `installed` (fingerprints, 8 hex digits), `primary`
//!   (a fingerprint or `null`). Never key bytes.
//! - `metrics`: `addr`: the node's metrics are served over HTTP there
//!   (`--metrics ADDR`; `GET /metrics`, Prometheus or OpenMetrics text as
//!   the scraper asks; `hearsay_std::metrics` lists every metric).
//! - `warning`: `reason` (`loopback`: listening or advertising on loopback
//!   while a seed is not), `message` (a sentence for people).
//! - `joined`, `alive` (alive again after dead), `dead`, `left`,
//!   `removed`: `member`, the node the event is about.
//! - `replaced`: `old` (the superseded incarnation) and `member` (the new
//!   one) — a restart with the same name.
//! - `key-set`: `member` (the key's owner), `key`, `value` (UTF-8, bytes
//!   that are not replaced by U+FFFD), `version`.
//! - `key-del`: `member`, `key`, `version`.
//! - `lagged`: `stream` (`all`: membership and key events come in one
//!   ordered stream), `missed`: events this process lost because it read
//!   them too slowly.
//! - `stalled`: `stalls`, how many local stalls the node has noticed.
//! - `probe`: `key`, `value`: this node wrote `key` after a SIGUSR1.
//! - `ok`: a command from stdin was done: `command` (`set`, `set-ttl`,
//!   `delete`), `key`; `ttl_s` (seconds, a number) for `set-ttl`;
//!   `existed` (bool) for `delete`, whether the key was set.
//! - `value`: the answer to `get`: `owner` (the name of the node whose
//!   namespace was read), `key`, `value` (a string, or `null` when the key
//!   is not set there or the node is unknown).
//! - `members`: the answer to `members` and each `--members-every` tick:
//!   `members`, an array with one object per node this node knows (itself
//!   included, in ring order):
//!
//!   | field | type | what |
//!   |---|---|---|
//!   | `name` | string | the node's name |
//!   | `generation` | u64 | its generation |
//!   | `addr` | string | `ip:port` it gossips on |
//!   | `local` | bool | whether it is this node |
//!   | `status` | string | `pending`, `alive`, `dead` or `left` |
//!   | `phi` | number or `null` | the failure detector's phi now (0 for this node and before the first heartbeat arrival; `null` if infinite) |
//!   | `heartbeat` | u64 | its heartbeat counter as last seen here |
//!   | `timeout_s` | number or `null` | seconds after its last heartbeat at which this node would call it dead (`null` before the first arrival) |
//!   | `since_heartbeat_s` | number or `null` | seconds since its heartbeat last advanced here (`null` before the first arrival, and for this node) |
//!   | `status_age_s` | number | seconds since it entered its status |
//!   | `keys` | object | its keys that are set: key → value (UTF-8 as in `key-set`) |
//!
//!   Seconds are numbers with millisecond precision, like `t`.
//! - `help`: `commands`, an array of strings, one per command.
//! - `error`: a line on stdin was not done: `line` (as read), `message`.
//! - `leaving`: a SIGINT/SIGTERM arrived and this node is leaving:
//!   `member` (this node's id), `linger_s` (how long it announces it).
//! - `stopped`: this node has left and shut down; the process exits:
//!   `member`.
//! - `other`: `stream`, `debug`: an event kind this binary does not know
//!   yet (hearsay-std's event enums are non-exhaustive).
//!
//! **Stability.** This schema only grows: new events and new fields may be
//! added, and readers must ignore what they do not know; an event or a
//! field is never removed or renamed, and never changes its type or unit.
//! A meaning that has to change gets a new name instead. That is why the
//! lines carry no schema version: there is nothing for one to tell.
//!
//! # Signals
//!
//! Ctrl-C (or SIGTERM) leaves gracefully: peers see the node *left* rather
//! than waiting for the failure detector to declare it dead; the node
//! announces its departure for the leave linger (`--leave-linger-ms`,
//! three gossip intervals by default), then exits. A second Ctrl-C quits at
//! once. SIGUSR1 writes the key `probe` with the number of SIGUSR1s
//! received so far ("1", "2", ...) and prints a `probe` line: how a test
//! times one key's spread from its own output. Signals are caught with
//! signal-hook (its iterator, on a thread of its own): no `unsafe` here.
//! Log lines go to stderr; set `HEARSAY_LOG=debug` for more.
//!
//! # Keys
//!
//! With `--key-file PATH` every datagram is sealed with the file's first
//! key and datagrams sealed with any of its keys are accepted; nodes
//! without one of those keys cannot join, read or change the cluster. The
//! file holds one key per line, 64 hex digits (e.g. from
//! `openssl rand -hex 32`), and must not be readable by other users
//! (`chmod 600`). The node prints the keys' fingerprints at start, never
//! their bytes. Rotation and turning keys on in a running cluster: the
//! README's "Cluster keys" section.

// This file is the crate root of a binary in `src/bin/`, so its modules
// are named by path to stay together in `src/bin/node/`.
#[path = "node/args.rs"]
mod args;
#[path = "node/commands.rs"]
mod commands;

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use clap::Parser;
use crossbeam_channel::{Receiver, never, select};
use examples::init_logging;
use examples::key_file::read_key_file;
use hearsay_std::builder::scaled_detector;
use hearsay_std::metrics::MetricsServer;
use hearsay_std::{
    KeyEvent, KeyMode, Keys, Member, MembershipEvent, Node, NodeEvent, NodeId, NodeStatus,
};
use serde_json::{Value, json};
use zeroize::Zeroize;

use args::Args;
use commands::Command;

/// The key SIGUSR1 writes.
const PROBE_KEY: &str = "probe";

fn mode_name(mode: KeyMode) -> &'static str {
    match mode {
        KeyMode::Listen => "listen",
        KeyMode::Transitional => "transitional",
        KeyMode::Required => "required",
    }
}

/// Wall-clock timestamps: RFC 3339 in UTC with milliseconds, written by
/// hand (days to a civil date, Howard Hinnant's `civil_from_days`) rather
/// than pulling in a date crate for one format.
mod clock {
    use std::time::{SystemTime, UNIX_EPOCH};

    /// 0000-01-01T00:00:00.000Z, in milliseconds since the UNIX epoch.
    const MIN_MS: i64 = -62_167_219_200_000;
    /// 9999-12-31T23:59:59.999Z: RFC 3339 years have four digits.
    const MAX_MS: i64 = 253_402_300_799_999;
    const MS_PER_DAY: i64 = 86_400_000;

    /// Milliseconds since the UNIX epoch of `t` (negative before it,
    /// saturating far outside the `i64` range).
    pub fn unix_millis(t: SystemTime) -> i64 {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
            Err(e) => i64::try_from(e.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
        }
    }

    /// The proleptic Gregorian date (year, month 1–12, day 1–31) of
    /// `days` days after 1970-01-01.
    pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
        // Days since 0000-03-01, so that the leap day ends a year; eras of
        // 400 years (146,097 days) repeat exactly.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097); // day of era, 0..=146_096
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // 0..=399
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of year from March 1
        let mp = (5 * doy + 2) / 153; // month from March, 0..=11
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        // All three are small and non-negative by construction.
        (year, month as u32, day as u32)
    }

    /// `ms` milliseconds since the UNIX epoch as RFC 3339 in UTC with
    /// milliseconds, e.g. `2026-12-02T21:40:01.123Z`; times outside years
    /// 0000–9999 are clamped to that range.
    pub fn rfc3339_millis(ms: i64) -> String {
        let ms = ms.clamp(MIN_MS, MAX_MS);
        let (days, in_day) = (ms.div_euclid(MS_PER_DAY), ms.rem_euclid(MS_PER_DAY));
        let (year, month, day) = civil_from_days(days);
        let (secs, milli) = (in_day / 1_000, in_day % 1_000);
        format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{milli:03}Z",
            secs / 3_600,
            secs / 60 % 60,
            secs % 60
        )
    }
}

/// What `node` reports: one value per output line, printed as text or as
/// a JSON object by [`Printer`].
enum Report<'a> {
    /// The node is up.
    Start {
        id: &'a NodeId,
        listen: SocketAddr,
        cluster: &'a str,
        pid: u32,
    },
    /// Its cluster keys (fingerprints only).
    Keys(&'a Keys),
    /// Its metrics are served over HTTP at `addr` (`--metrics`).
    Metrics { addr: SocketAddr },
    /// Something the user should know, e.g. that this node can only be
    /// reached from its own host; `reason` is a stable word.
    Warning {
        reason: &'static str,
        message: &'a str,
    },
    /// A membership event about one node.
    Member(&'a MembershipEvent),
    /// A key event.
    Key(&'a KeyEvent),
    /// `missed` events (of either kind) were lost: read too slowly.
    Lagged { missed: u64 },
    /// An event of a kind this binary does not know yet (hearsay-std's
    /// event enums are non-exhaustive).
    Other(&'a NodeEvent),
    /// The node noticed a stall of its own; `stalls` so far.
    Stalled { stalls: u64 },
    /// The node wrote [`PROBE_KEY`] after a SIGUSR1.
    Probe { value: &'a str },
    /// A write from stdin was done; `existed` says, for a delete, whether
    /// the key was set.
    Done {
        command: &'a Command,
        existed: Option<bool>,
    },
    /// The answer to `get`: `value` of `key` in `owner`'s namespace.
    Value {
        owner: &'a str,
        key: &'a str,
        value: Option<&'a [u8]>,
    },
    /// A snapshot of every node this one knows.
    Members(&'a [Row]),
    /// The list of commands.
    Help,
    /// A line on stdin that was not done, and why.
    Error { line: &'a str, message: &'a str },
    /// A signal asked this node to leave; it announces it for `linger`.
    Leaving { id: &'a NodeId, linger: Duration },
    /// This node left and shut down.
    Stopped { id: &'a NodeId },
}

/// Whole milliseconds as seconds, the precision of every time `node`
/// prints.
fn seconds(d: Duration) -> f64 {
    d.as_millis() as f64 / 1_000.0
}

/// A node's status as `node` prints it.
fn status_name(status: NodeStatus) -> &'static str {
    match status {
        NodeStatus::Pending => "pending",
        NodeStatus::Alive => "alive",
        NodeStatus::Dead => "dead",
        NodeStatus::Left => "left",
    }
}

/// One node of a members snapshot: what `node` prints of a [`Member`].
/// (Its own type so that the printing can be tested without a running
/// node: `Member` is built by hearsay-std only.)
#[derive(Debug, Clone, PartialEq)]
struct Row {
    name: String,
    generation: u64,
    addr: SocketAddr,
    local: bool,
    status: NodeStatus,
    phi: f64,
    heartbeat: u64,
    timeout: Option<Duration>,
    since_heartbeat: Option<Duration>,
    status_age: Duration,
    keys: BTreeMap<String, Vec<u8>>,
}

impl From<Member> for Row {
    fn from(m: Member) -> Row {
        Row {
            name: m.name,
            generation: m.generation,
            addr: m.addr,
            local: m.is_local,
            status: m.status,
            phi: m.phi,
            heartbeat: m.heartbeat,
            timeout: m.timeout,
            since_heartbeat: m.since_heartbeat,
            status_age: m.status_age,
            keys: m.keys,
        }
    }
}

/// Every node `node` knows, as rows of a snapshot.
fn snapshot(node: &Node) -> Result<Vec<Row>, hearsay_std::Error> {
    Ok(node.members()?.into_iter().map(Row::from).collect())
}

/// A member of a snapshot as a JSON object (the table in the module docs).
fn member_snapshot(m: &Row) -> Value {
    let keys: serde_json::Map<String, Value> = m
        .keys
        .iter()
        .map(|(k, v)| (k.clone(), Value::from(String::from_utf8_lossy(v))))
        .collect();
    json!({
        "name": m.name,
        "generation": m.generation,
        "addr": m.addr.to_string(),
        "local": m.local,
        "status": status_name(m.status),
        // serde_json writes a non-finite number as null.
        "phi": m.phi,
        "heartbeat": m.heartbeat,
        "timeout_s": m.timeout.map(seconds),
        "since_heartbeat_s": m.since_heartbeat.map(seconds),
        "status_age_s": seconds(m.status_age),
        "keys": keys,
    })
}

/// A members snapshot as a table: a header line, then one row per node,
/// indented, with columns padded to their widest cell.
fn members_table(members: &[Row], local: &str) -> String {
    let opt = |d: Option<Duration>| d.map_or("-".to_owned(), |d| format!("{:.3}s", seconds(d)));
    let mut rows = vec![[
        "NODE".to_owned(),
        "STATUS".to_owned(),
        "PHI".to_owned(),
        "HEARTBEAT".to_owned(),
        "TIMEOUT".to_owned(),
        "SINCE-BEAT".to_owned(),
        "IN-STATUS".to_owned(),
        "KEYS".to_owned(),
    ]];
    for m in members {
        let id = format!("{}#{}@{}", m.name, m.generation, m.addr);
        let keys: Vec<String> = m
            .keys
            .iter()
            .map(|(k, v)| format!("{k}={:?}", String::from_utf8_lossy(v)))
            .collect();
        rows.push([
            if m.name == local {
                format!("{id} (this node)")
            } else {
                id
            },
            status_name(m.status).to_owned(),
            if m.local {
                "-".to_owned()
            } else {
                format!("{:.2}", m.phi)
            },
            m.heartbeat.to_string(),
            opt(m.timeout),
            opt(m.since_heartbeat),
            opt(Some(m.status_age)),
            keys.join(" "),
        ]);
    }
    let mut widths = [0; 8];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let n = members.len();
    let mut text = format!(
        "{:<10} {n} node{} known",
        "members",
        if n == 1 { "" } else { "s" }
    );
    for row in &rows {
        let mut line = String::from("\n   ");
        for (w, cell) in widths.iter().zip(row) {
            line.push_str(&format!(" {cell:<w$}"));
        }
        text.push_str(line.trim_end());
    }
    text
}

/// A node id as a JSON member object.
fn member(id: &NodeId) -> Value {
    json!({
        "name": id.name.as_str(),
        "generation": id.generation,
        "addr": id.addr.to_string(),
    })
}

impl Report<'_> {
    /// The event's name: the `event` field in JSON, the word after the
    /// timestamps in text (`listening` for `start`).
    fn event(&self) -> &'static str {
        match self {
            Report::Start { .. } => "start",
            Report::Keys(_) => "keys",
            Report::Metrics { .. } => "metrics",
            Report::Warning { .. } => "warning",
            Report::Member(e) => match e {
                MembershipEvent::Joined { .. } => "joined",
                MembershipEvent::AliveAgain { .. } => "alive",
                MembershipEvent::Dead { .. } => "dead",
                MembershipEvent::Left { .. } => "left",
                MembershipEvent::Removed { .. } => "removed",
                MembershipEvent::Replaced { .. } => "replaced",
                MembershipEvent::Lagged { .. } => "lagged",
                _ => "other",
            },
            Report::Key(e) => match e {
                KeyEvent::Set { .. } => "key-set",
                KeyEvent::Deleted { .. } => "key-del",
                KeyEvent::Lagged { .. } => "lagged",
                _ => "other",
            },
            Report::Lagged { .. } => "lagged",
            Report::Other(_) => "other",
            Report::Stalled { .. } => "stalled",
            Report::Probe { .. } => "probe",
            Report::Done { .. } => "ok",
            Report::Value { .. } => "value",
            Report::Members(_) => "members",
            Report::Help => "help",
            Report::Error { .. } => "error",
            Report::Leaving { .. } => "leaving",
            Report::Stopped { .. } => "stopped",
        }
    }

    /// The text line after the timestamps; `local` is this node's name, so
    /// that lines about this node say so.
    fn text(&self, local: &str) -> String {
        let word = self.event();
        let this = |node: &NodeId| {
            if node.name.as_str() == local {
                "(this node) "
            } else {
                ""
            }
        };
        match self {
            Report::Start {
                id,
                listen,
                cluster,
                ..
            } => format!("listening {listen} as {id} (cluster {cluster:?})"),
            Report::Keys(keys) => describe_keys(keys),
            Report::Metrics { addr } => format!("{word:<10} serving http://{addr}/metrics"),
            Report::Warning { message, .. } => format!("{word:<10} {message}"),
            Report::Member(e) => match e {
                MembershipEvent::Joined { node }
                | MembershipEvent::AliveAgain { node }
                | MembershipEvent::Dead { node }
                | MembershipEvent::Left { node }
                | MembershipEvent::Removed { node } => format!("{word:<10} {}{node}", this(node)),
                MembershipEvent::Replaced { old, new } => {
                    format!("{word:<10} {}{old} -> {new}", this(new))
                }
                MembershipEvent::Lagged { missed } => {
                    format!("{word:<10} {missed} membership events missed")
                }
                other => format!("{word:<10} {other:?}"),
            },
            Report::Key(e) => match e {
                KeyEvent::Set {
                    node,
                    key,
                    value,
                    version,
                } => format!(
                    "{word:<10} {node} {key}={:?} v{version}",
                    String::from_utf8_lossy(value)
                ),
                KeyEvent::Deleted { node, key, version } => {
                    format!("{word:<10} {node} {key} v{version}")
                }
                KeyEvent::Lagged { missed } => format!("{word:<10} {missed} key events missed"),
                other => format!("{word:<10} {other:?}"),
            },
            Report::Lagged { missed } => format!("{word:<10} {missed} events missed"),
            Report::Other(e) => format!("{word:<10} {e:?}"),
            Report::Stalled { stalls } => format!("{word:<10} local stall {stalls} noticed"),
            Report::Probe { value } => format!("{word:<10} {PROBE_KEY}={value:?} set locally"),
            Report::Done { command, existed } => match (command, existed) {
                (Command::Set { key, value }, _) => format!("{word:<10} set {key}={value:?}"),
                (Command::SetTtl { key, ttl, value }, _) => {
                    format!("{word:<10} set {key}={value:?} for {:.3}s", seconds(*ttl))
                }
                (Command::Delete { key }, Some(false)) => {
                    format!("{word:<10} delete {key} (it was not set)")
                }
                (other, _) => format!("{word:<10} {}", other.word()),
            },
            Report::Value { owner, key, value } => match value {
                Some(v) => format!("{word:<10} {owner} {key}={:?}", String::from_utf8_lossy(v)),
                None => format!("{word:<10} {owner} {key} not set"),
            },
            Report::Members(members) => members_table(members, local),
            Report::Help => {
                let mut text = format!("{word:<10} commands, one per line:");
                for line in commands::HELP {
                    text.push_str("\n    ");
                    text.push_str(line);
                }
                text
            }
            Report::Error { line, message } => format!("{word:<10} {message} (in {line:?})"),
            Report::Leaving { id, linger } => format!(
                "{word:<10} (this node) {id}, announcing it for {:.3}s",
                seconds(*linger)
            ),
            Report::Stopped { id } => format!("{word:<10} (this node) {id} left and shut down"),
        }
    }

    /// The fields of the JSON object beyond `ts`, `t`, `node` and `event`.
    fn fields(&self) -> Value {
        match self {
            Report::Start {
                id,
                listen,
                cluster,
                pid,
            } => json!({
                "member": member(id),
                "listen": listen.to_string(),
                "cluster": cluster,
                "pid": pid,
            }),
            Report::Keys(keys) => json!({
                "mode": (!keys.installed.is_empty()).then(|| mode_name(keys.mode)),
                "installed": keys.installed.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "primary": keys.primary.map(|fp| fp.to_string()),
            }),
            Report::Metrics { addr } => json!({ "addr": addr.to_string() }),
            Report::Warning { reason, message } => json!({ "reason": reason, "message": message }),
            Report::Member(e) => match e {
                MembershipEvent::Joined { node }
                | MembershipEvent::AliveAgain { node }
                | MembershipEvent::Dead { node }
                | MembershipEvent::Left { node }
                | MembershipEvent::Removed { node } => json!({ "member": member(node) }),
                MembershipEvent::Replaced { old, new } => {
                    json!({ "old": member(old), "member": member(new) })
                }
                MembershipEvent::Lagged { missed } => {
                    json!({ "stream": "membership", "missed": missed })
                }
                other => json!({ "stream": "membership", "debug": format!("{other:?}") }),
            },
            Report::Key(e) => match e {
                KeyEvent::Set {
                    node,
                    key,
                    value,
                    version,
                } => json!({
                    "member": member(node),
                    "key": key,
                    "value": String::from_utf8_lossy(value),
                    "version": version,
                }),
                KeyEvent::Deleted { node, key, version } => {
                    json!({ "member": member(node), "key": key, "version": version })
                }
                KeyEvent::Lagged { missed } => json!({ "stream": "keys", "missed": missed }),
                other => json!({ "stream": "keys", "debug": format!("{other:?}") }),
            },
            Report::Lagged { missed } => json!({ "stream": "all", "missed": missed }),
            Report::Other(e) => json!({ "stream": "all", "debug": format!("{e:?}") }),
            Report::Stalled { stalls } => json!({ "stalls": stalls }),
            Report::Probe { value } => json!({ "key": PROBE_KEY, "value": value }),
            Report::Done { command, existed } => {
                let mut fields = json!({ "command": command.word() });
                match command {
                    Command::Set { key, .. } | Command::Delete { key } => {
                        fields["key"] = json!(key)
                    }
                    Command::SetTtl { key, ttl, .. } => {
                        fields["key"] = json!(key);
                        fields["ttl_s"] = json!(seconds(*ttl));
                    }
                    Command::Get { .. } | Command::Members | Command::Help => {}
                }
                if let Some(existed) = existed {
                    fields["existed"] = json!(existed);
                }
                fields
            }
            Report::Value { owner, key, value } => json!({
                "owner": owner,
                "key": key,
                "value": value.map(String::from_utf8_lossy),
            }),
            Report::Members(members) => json!({
                "members": members.iter().map(member_snapshot).collect::<Vec<_>>(),
            }),
            Report::Help => json!({ "commands": commands::HELP }),
            Report::Error { line, message } => json!({ "line": line, "message": message }),
            Report::Leaving { id, linger } => {
                json!({ "member": member(id), "linger_s": seconds(*linger) })
            }
            Report::Stopped { id } => json!({ "member": member(id) }),
        }
    }
}

/// Prints reports on stdout, one line each, as text or JSON.
struct Printer {
    json: bool,
    name: String,
    start: Instant,
}

impl Printer {
    /// Prints `report` stamped with the current time.
    fn emit(&self, report: &Report<'_>) {
        self.emit_at(self.now(), report);
    }

    /// The current time: wall clock (milliseconds since the UNIX epoch) and
    /// time since start.
    fn now(&self) -> (i64, Duration) {
        (clock::unix_millis(SystemTime::now()), self.start.elapsed())
    }

    /// Prints `report` stamped with `at`, a time [`Printer::now`] gave.
    fn emit_at(&self, at: (i64, Duration), report: &Report<'_>) {
        println!("{}", self.line(at.0, at.1, report));
    }

    /// The line for `report` at `wall_ms` (milliseconds since the UNIX
    /// epoch), `elapsed` after start.
    fn line(&self, wall_ms: i64, elapsed: Duration, report: &Report<'_>) -> String {
        let ts = clock::rfc3339_millis(wall_ms);
        // Whole milliseconds, as in the text form.
        let t = elapsed.as_millis() as f64 / 1_000.0;
        if !self.json {
            return format!("{ts} {t:>9.3}s {}", report.text(&self.name));
        }
        // The common fields first, for people reading the lines; a Map
        // would sort them among the others.
        let mut line = format!(
            "{{\"ts\":{},\"t\":{},\"node\":{},\"event\":{}",
            Value::from(ts),
            Value::from(t),
            Value::from(self.name.as_str()),
            Value::from(report.event())
        );
        if let Value::Object(fields) = report.fields() {
            for (name, value) in fields {
                line.push_str(&format!(",{}:{value}", Value::from(name)));
            }
        }
        line.push('}');
        line
    }
}

/// The line `node` prints about its keys: fingerprints only.
fn describe_keys(keys: &Keys) -> String {
    if keys.installed.is_empty() {
        return "keys       none: datagrams are not sealed".to_owned();
    }
    let list: Vec<String> = keys
        .installed
        .iter()
        .map(|fp| {
            if keys.primary == Some(*fp) {
                format!("{fp} (primary)")
            } else {
                fp.to_string()
            }
        })
        .collect();
    format!(
        "keys       {} mode {}",
        list.join(", "),
        mode_name(keys.mode)
    )
}

/// SIGINT, SIGTERM and SIGUSR1, caught by signal-hook: its iterator runs on
/// a thread of its own and hands each signal to the main loop over a
/// channel, beside the node's events. No `unsafe` here.
#[cfg(unix)]
mod signals {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    use crossbeam_channel::Receiver;
    use signal_hook::consts::{SIGINT, SIGTERM, SIGUSR1};
    use signal_hook::flag;
    use signal_hook::iterator::Signals;

    /// What a signal asks of the node.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Signal {
        /// SIGINT or SIGTERM: leave.
        Stop,
        /// SIGUSR1: write the probe key.
        Probe,
    }

    /// Installs the handlers; the channel yields each signal as it comes.
    pub fn install() -> std::io::Result<Receiver<Signal>> {
        // Set by the first SIGINT/SIGTERM; a second one, while the node is
        // leaving, takes the default action and ends the process at once.
        // (The conditional handler is registered first, so the first
        // signal finds the flag still clear.)
        let stopping = Arc::new(AtomicBool::new(false));
        for sig in [SIGINT, SIGTERM] {
            flag::register_conditional_default(sig, Arc::clone(&stopping))?;
            flag::register(sig, Arc::clone(&stopping))?;
        }
        // signal-hook restarts interrupted calls (SA_RESTART): a probe does
        // not disturb the node's blocking calls.
        let mut signals = Signals::new([SIGINT, SIGTERM, SIGUSR1])?;
        let (tx, rx) = crossbeam_channel::unbounded();
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                for sig in signals.forever() {
                    let s = if sig == SIGUSR1 {
                        Signal::Probe
                    } else {
                        Signal::Stop
                    };
                    if tx.send(s).is_err() {
                        break;
                    }
                }
            })?;
        Ok(rx)
    }
}

/// Without Unix signals, Ctrl-C simply ends the process.
#[cfg(not(unix))]
mod signals {
    use crossbeam_channel::Receiver;

    /// What a signal asks of the node.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Signal {
        /// Leave.
        Stop,
        /// Write the probe key.
        Probe,
    }

    /// No signals to catch: a channel that never yields.
    pub fn install() -> std::io::Result<Receiver<Signal>> {
        Ok(crossbeam_channel::never())
    }
}

use signals::Signal;

/// The warning of a node that listens or advertises on loopback while a
/// seed is not loopback: it can only talk to its own host, and the seed
/// elsewhere will never hear from it. `None` when that is not the case.
/// Seeds that do not resolve are left out (they are retried by the node).
fn loopback_warning(
    listen: SocketAddr,
    advertise: Option<SocketAddr>,
    seeds: &[String],
) -> Option<String> {
    let local = [Some(listen), advertise]
        .into_iter()
        .flatten()
        .find(|a| a.ip().is_loopback())?;
    let (seed, addr) = seeds.iter().find_map(|s| {
        let addrs = s.as_str().to_socket_addrs().ok()?;
        addrs
            .into_iter()
            .find(|a| !a.ip().is_loopback())
            .map(|a| (s, a))
    })?;
    let which = if Some(local) == advertise && !listen.ip().is_loopback() {
        "advertises"
    } else {
        "listens on"
    };
    let seed = if seed.parse::<SocketAddr>().is_ok() {
        seed.clone()
    } else {
        format!("{seed} ({addr})")
    };
    Some(format!(
        "this node {which} {local}, a loopback address, but seed {seed} is not loopback: \
         nodes on other hosts cannot reach it. Across hosts, use --listen 0.0.0.0:{port} \
         --advertise THIS_HOST_IP:{port}",
        port = local.port()
    ))
}

/// Resolves the seeds on a thread of its own (a name may take DNS a while)
/// and sends [`loopback_warning`]'s warning, if any, about the node bound
/// to `listen` that advertises `advertise`.
fn check_loopback(listen: SocketAddr, advertise: SocketAddr, seeds: &[String]) -> Receiver<String> {
    let seeds = seeds.to_vec();
    let advertise = (advertise != listen).then_some(advertise);
    let (tx, rx) = crossbeam_channel::bounded(1);
    let spawned = std::thread::Builder::new()
        .name("seed-check".into())
        .spawn(move || {
            if let Some(w) = loopback_warning(listen, advertise, &seeds) {
                let _ = tx.send(w);
            }
        });
    if let Err(e) = spawned {
        log::debug!("no loopback check: {e}");
    }
    rx
}

/// Runs one command from stdin and prints its answer (or what went
/// wrong): a bad line never stops the node.
fn run_command(node: &Node, out: &Printer, line: &str) {
    let command = match commands::parse(line) {
        Ok(Some(c)) => c,
        Ok(None) => return,
        Err(message) => {
            return out.emit(&Report::Error {
                line,
                message: &message,
            });
        }
    };
    let done = match &command {
        Command::Set { key, value } => node.set(key, value).map(|()| None),
        Command::SetTtl { key, ttl, value } => node.set_with_ttl(key, value, *ttl).map(|()| None),
        Command::Delete { key } => node.delete(key).map(Some),
        Command::Get { node: owner, key } => {
            let owner = owner.clone().unwrap_or_else(|| node.name().to_owned());
            match node.get_from(&owner, key) {
                Ok(value) => {
                    return out.emit(&Report::Value {
                        owner: &owner,
                        key,
                        value: value.as_deref(),
                    });
                }
                Err(e) => Err(e),
            }
        }
        Command::Members => match snapshot(node) {
            Ok(members) => return out.emit(&Report::Members(&members)),
            Err(e) => Err(e),
        },
        Command::Help => return out.emit(&Report::Help),
    };
    match done {
        Ok(existed) => out.emit(&Report::Done {
            command: &command,
            existed,
        }),
        Err(e) => out.emit(&Report::Error {
            line,
            message: &format!("{}: {e}", command.word()),
        }),
    }
}

fn main() -> ExitCode {
    init_logging(log::LevelFilter::Warn);
    // Usage errors end here, with clap's message and status 2.
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let signals = signals::install()?;
    let interval = args.interval();
    let linger = args.leave_linger();
    let mut builder = Node::builder(&args.name)
        .listen(args.listen)
        .seeds(args.seeds.iter().cloned())
        .cluster(&args.cluster)
        .gossip_interval(interval)
        .detector(scaled_detector(interval))
        .leave_linger(linger)
        .dead_grace(Duration::from_secs(args.dead_grace_s))
        .tombstone_grace(Duration::from_secs(args.tombstone_grace_s))
        .max_value_len(args.max_value_len)
        .max_node_bytes(args.max_node_bytes);
    if let Some(a) = args.advertise {
        builder = builder.advertise(a);
    }
    for (k, v) in &args.keys {
        builder = builder.set(k, v);
    }
    if let Some(path) = &args.key_file {
        let mut keys = read_key_file(path).map_err(|e| format!("{}: {e}", path.display()))?;
        builder = builder.keys(keys.iter().copied());
        // The builder holds its own (wiped on drop); ours go now.
        keys.iter_mut().for_each(Zeroize::zeroize);
    }
    if let Some(mode) = args.key_mode {
        builder = builder.key_mode(mode.into());
    }
    // Subscribed before start, so that nothing is missed; one ordered
    // stream, so that a member's keys never print before its `joined`.
    let events = builder.subscribe();
    let node = builder.start()?;
    let out = Printer {
        json: args.json,
        name: args.name.clone(),
        start: Instant::now(),
    };
    out.emit(&Report::Start {
        id: &node.id(),
        listen: node.local_addr(),
        cluster: &args.cluster,
        pid: std::process::id(),
    });
    out.emit(&Report::Keys(&node.keys()?));
    // Stopped (and its thread joined) when dropped at the end of `run`.
    let metrics = match args.metrics {
        Some(addr) => {
            let server = MetricsServer::start(addr, node.clone())?;
            out.emit(&Report::Metrics {
                addr: server.local_addr(),
            });
            Some(server)
        }
        None => None,
    };

    let mut warnings = check_loopback(node.local_addr(), node.id().addr, &args.seeds);
    let mut lines = commands::read_stdin()?;
    let mut signals = signals;
    let snapshots = args
        .members_every
        .map_or_else(never, crossbeam_channel::tick);
    let poll = crossbeam_channel::tick(Duration::from_millis(100));
    let (mut stalls, mut probes) = (0, 0u64);
    loop {
        // Channels that are done (stdin at its end, the check made) are
        // replaced by ones that never yield, after the select.
        let (mut lines_done, mut warnings_done, mut signals_done) = (false, false, false);
        let mut stop = false;
        select! {
            recv(events.receiver()) -> e => match e {
                Ok(NodeEvent::Membership(e)) => out.emit(&Report::Member(&e)),
                Ok(NodeEvent::Key(e)) => out.emit(&Report::Key(&e)),
                Ok(NodeEvent::Lagged { missed }) => out.emit(&Report::Lagged { missed }),
                Ok(other) => out.emit(&Report::Other(&other)),
                Err(_) => break,
            },
            recv(signals) -> s => match s {
                Ok(Signal::Stop) => stop = true,
                Ok(Signal::Probe) => {
                    probes += 1;
                    let value = probes.to_string();
                    // Stamped before the write: peers may print the key
                    // before this call returns.
                    let at = out.now();
                    node.set(PROBE_KEY, &value)?;
                    out.emit_at(at, &Report::Probe { value: &value });
                }
                Err(_) => signals_done = true,
            },
            recv(lines) -> l => match l {
                Ok(line) => run_command(&node, &out, &line),
                Err(_) => lines_done = true,
            },
            recv(warnings) -> w => match w {
                Ok(message) => {
                    log::warn!("{message}");
                    // Text output has the log line on stderr; JSON readers
                    // get it as an event.
                    if out.json {
                        out.emit(&Report::Warning { reason: "loopback", message: &message });
                    }
                }
                Err(_) => warnings_done = true,
            },
            recv(snapshots) -> _ => out.emit(&Report::Members(&snapshot(&node)?)),
            recv(poll) -> _ => {
                // A pause of this process (SIGSTOP, suspend) shows here; the
                // node gave its peers a fresh chance instead of convicting them.
                let now = node.counters()?.local_stalls();
                if now > stalls {
                    stalls = now;
                    out.emit(&Report::Stalled { stalls });
                }
            },
        }
        if stop {
            break;
        }
        if lines_done {
            lines = never();
        }
        if warnings_done {
            warnings = never();
        }
        if signals_done {
            signals = never();
        }
    }
    let id = node.id();
    out.emit(&Report::Leaving { id: &id, linger });
    node.leave()?;
    node.shutdown()?;
    if let Some(server) = metrics {
        server.stop();
    }
    out.emit(&Report::Stopped { id: &id });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn timestamps_are_rfc3339_utc_with_milliseconds() {
        // Expected values from Python's datetime.
        for (ms, text) in [
            (0, "1970-01-01T00:00:00.000Z"),
            (-1, "1969-12-31T23:59:59.999Z"),
            (951_782_400_000, "2000-02-29T00:00:00.000Z"),
            (1_709_164_800_000, "2024-02-29T00:00:00.000Z"),
            (1_735_689_599_999, "2024-12-31T23:59:59.999Z"),
            (1_780_000_000_123, "2026-05-28T20:26:40.123Z"),
            (4_102_444_800_000, "2100-01-01T00:00:00.000Z"),
            (4_107_542_399_999, "2100-02-28T23:59:59.999Z"),
            (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
            (-62_167_219_200_000, "0000-01-01T00:00:00.000Z"),
        ] {
            assert_eq!(clock::rfc3339_millis(ms), text, "{ms}");
        }
        // Outside four-digit years: clamped, never a panic or a fifth digit.
        assert_eq!(clock::rfc3339_millis(i64::MAX), "9999-12-31T23:59:59.999Z");
        assert_eq!(clock::rfc3339_millis(i64::MIN), "0000-01-01T00:00:00.000Z");
    }

    #[test]
    fn every_day_of_four_centuries_follows_the_one_before() {
        // 1600-03-01 to 2400-03-01 (two 400-year eras, both sides of the
        // epoch): each date is the day after the previous one, so month
        // lengths and every leap-year rule hold.
        let days_in = |y: i64, m: u32| match m {
            2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        let first = -135_080; // 1600-03-01
        let mut prev = clock::civil_from_days(first);
        assert_eq!(prev, (1600, 3, 1));
        for days in first + 1..=first + 2 * 146_097 {
            let (y, m, d) = clock::civil_from_days(days);
            let (py, pm, pd) = prev;
            let expected = if pd < days_in(py, pm) {
                (py, pm, pd + 1)
            } else if pm < 12 {
                (py, pm + 1, 1)
            } else {
                (py + 1, 1, 1)
            };
            assert_eq!((y, m, d), expected, "day {days}");
            prev = (y, m, d);
        }
        assert_eq!(prev, (2400, 3, 1));
    }

    #[test]
    fn wall_clock_millis_work_both_sides_of_the_epoch() {
        let after = UNIX_EPOCH + Duration::from_millis(1_500);
        let before = UNIX_EPOCH - Duration::from_millis(1_500);
        assert_eq!(clock::unix_millis(after), 1_500);
        assert_eq!(clock::unix_millis(before), -1_500);
    }

    fn id(name: &str, generation: u64, port: u16) -> NodeId {
        NodeId::new(name, generation, SocketAddr::from(([10, 77, 0, 2], port)))
            .expect("a valid name")
    }

    fn printer(json: bool) -> Printer {
        Printer {
            json,
            name: "n0".to_owned(),
            start: Instant::now(),
        }
    }

    const WALL: i64 = 1_780_000_000_123;
    const TS: &str = "2026-05-28T20:26:40.123Z";

    /// Every kind of report `node` prints, with the event name it must carry.
    fn every_report() -> Vec<(&'static str, Value)> {
        let a = id("n1", 7, 7946);
        let b = id("n1", 9, 7946);
        let keys_none = Keys {
            installed: Vec::new(),
            primary: None,
            mode: KeyMode::Required,
        };
        let members = [
            ("joined", MembershipEvent::Joined { node: a.clone() }),
            ("alive", MembershipEvent::AliveAgain { node: a.clone() }),
            ("dead", MembershipEvent::Dead { node: a.clone() }),
            ("left", MembershipEvent::Left { node: a.clone() }),
            ("removed", MembershipEvent::Removed { node: a.clone() }),
            (
                "replaced",
                MembershipEvent::Replaced {
                    old: a.clone(),
                    new: b,
                },
            ),
        ];
        let key_events = [
            (
                "key-set",
                KeyEvent::Set {
                    node: a.clone(),
                    key: "probe".into(),
                    value: b"1 \"quoted\"\n".to_vec(),
                    version: 5,
                },
            ),
            (
                "key-del",
                KeyEvent::Deleted {
                    node: a.clone(),
                    key: "probe".into(),
                    version: 6,
                },
            ),
        ];
        let set = Command::SetTtl {
            key: "lease".into(),
            ttl: Duration::from_millis(1_500),
            value: "x".into(),
        };
        let delete = Command::Delete { key: "gone".into() };
        let snapshot = [
            snapshot_member("n0", true, NodeStatus::Alive),
            snapshot_member("n1", false, NodeStatus::Dead),
        ];
        let mut reports: Vec<(&str, Report<'_>)> = vec![
            (
                "start",
                Report::Start {
                    id: &a,
                    listen: a.addr,
                    cluster: "hearsay",
                    pid: 42,
                },
            ),
            ("keys", Report::Keys(&keys_none)),
            (
                "metrics",
                Report::Metrics {
                    addr: SocketAddr::from(([127, 0, 0, 1], 9946)),
                },
            ),
        ];
        reports.extend(members.iter().map(|(n, e)| (*n, Report::Member(e))));
        reports.extend(key_events.iter().map(|(n, e)| (*n, Report::Key(e))));
        reports.extend([
            ("lagged", Report::Lagged { missed: 3 }),
            ("stalled", Report::Stalled { stalls: 1 }),
            ("probe", Report::Probe { value: "1" }),
            (
                "warning",
                Report::Warning {
                    reason: "loopback",
                    message: "m",
                },
            ),
            (
                "ok",
                Report::Done {
                    command: &set,
                    existed: None,
                },
            ),
            (
                "ok-delete",
                Report::Done {
                    command: &delete,
                    existed: Some(false),
                },
            ),
            (
                "value",
                Report::Value {
                    owner: "n1",
                    key: "http",
                    value: Some(b"10.0.0.1:80"),
                },
            ),
            (
                "value-unset",
                Report::Value {
                    owner: "n1",
                    key: "nope",
                    value: None,
                },
            ),
            ("members", Report::Members(&snapshot)),
            ("help", Report::Help),
            (
                "error",
                Report::Error {
                    line: "put a b",
                    message: "unknown",
                },
            ),
            (
                "leaving",
                Report::Leaving {
                    id: &a,
                    linger: Duration::from_millis(600),
                },
            ),
            ("stopped", Report::Stopped { id: &a }),
        ]);
        let p = printer(true);
        reports
            .iter()
            .map(|(name, r)| {
                let line = p.line(WALL, Duration::from_millis(2_345), r);
                assert!(!line.contains('\n'), "one line: {line}");
                let v: Value = serde_json::from_str(&line).expect("every line parses");
                (*name, v)
            })
            .collect()
    }

    /// A member of a snapshot: `name` at 10.77.0.2:7946, generation 7,
    /// heartbeat 42, one key.
    fn snapshot_member(name: &str, local: bool, status: NodeStatus) -> Row {
        Row {
            name: name.to_owned(),
            generation: 7,
            addr: SocketAddr::from(([10, 77, 0, 2], 7946)),
            local,
            status,
            phi: if local { 0.0 } else { f64::INFINITY },
            heartbeat: 42,
            timeout: (!local).then_some(Duration::from_millis(2_500)),
            since_heartbeat: (!local).then_some(Duration::from_millis(12_345)),
            status_age: Duration::from_millis(1_500),
            keys: [("http".to_owned(), b"10.0.0.1:80".to_vec())].into(),
        }
    }

    #[test]
    fn json_lines_parse_back_with_the_common_fields() {
        for (name, v) in every_report() {
            // Two reports of one event are told apart by a suffix here.
            let event = name.split('-').next().unwrap_or(name);
            let event = if name.starts_with("key-") {
                name
            } else {
                event
            };
            assert_eq!(v["event"], event, "{v}");
            assert_eq!(v["ts"], TS, "{v}");
            assert_eq!(v["t"], 2.345, "{v}");
            assert_eq!(v["node"], "n0", "{v}");
        }
    }

    #[test]
    fn json_lines_carry_each_event_s_fields() {
        let all = every_report();
        let get = |name: &str| {
            all.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
                .expect("reported")
        };
        let n1 = json!({ "name": "n1", "generation": 7, "addr": "10.77.0.2:7946" });
        let start = get("start");
        assert_eq!(start["member"], n1);
        assert_eq!(start["listen"], "10.77.0.2:7946");
        assert_eq!(start["cluster"], "hearsay");
        assert_eq!(start["pid"], 42);
        assert_eq!(get("metrics")["addr"], "127.0.0.1:9946");
        let keys = get("keys");
        assert_eq!(keys["mode"], Value::Null);
        assert_eq!(keys["installed"], json!([]));
        assert_eq!(keys["primary"], Value::Null);
        for name in ["joined", "alive", "dead", "left", "removed"] {
            assert_eq!(get(name)["member"], n1, "{name}");
        }
        let replaced = get("replaced");
        assert_eq!(replaced["old"], n1);
        assert_eq!(replaced["member"]["generation"], 9);
        assert_eq!(get("lagged")["stream"], "all");
        assert_eq!(get("lagged")["missed"], 3);
        let set = get("key-set");
        assert_eq!(set["member"], n1);
        assert_eq!(set["key"], "probe");
        assert_eq!(set["value"], "1 \"quoted\"\n");
        assert_eq!(set["version"], 5);
        assert_eq!(get("key-del")["version"], 6);
        assert_eq!(get("stalled")["stalls"], 1);
        assert_eq!(get("probe")["key"], "probe");
        assert_eq!(get("probe")["value"], "1");
        assert_eq!(get("warning")["reason"], "loopback");
        assert_eq!(get("warning")["message"], "m");
        let ok = get("ok");
        assert_eq!(
            (&ok["command"], &ok["key"], &ok["ttl_s"]),
            (&json!("set-ttl"), &json!("lease"), &json!(1.5))
        );
        assert_eq!(ok.get("existed"), None);
        let del = get("ok-delete");
        assert_eq!(
            (&del["command"], &del["existed"]),
            (&json!("delete"), &json!(false))
        );
        let value = get("value");
        assert_eq!(
            (&value["owner"], &value["key"]),
            (&json!("n1"), &json!("http"))
        );
        assert_eq!(value["value"], "10.0.0.1:80");
        assert_eq!(get("value-unset")["value"], Value::Null);
        assert_eq!(get("help")["commands"].as_array().map(Vec::len), Some(6));
        assert_eq!(get("error")["line"], "put a b");
        assert_eq!(get("error")["message"], "unknown");
        assert_eq!(get("leaving")["member"], n1);
        assert_eq!(get("leaving")["linger_s"], 0.6);
        assert_eq!(get("stopped")["member"], n1);
    }

    #[test]
    fn a_members_snapshot_has_the_documented_fields_and_types() {
        let all = every_report();
        let (_, v) = all.iter().find(|(n, _)| *n == "members").expect("reported");
        let members = v["members"].as_array().expect("an array");
        assert_eq!(members.len(), 2);
        let (local, other) = (&members[0], &members[1]);
        assert_eq!(
            *other,
            json!({
                "name": "n1", "generation": 7, "addr": "10.77.0.2:7946", "local": false,
                "status": "dead", "phi": null, "heartbeat": 42, "timeout_s": 2.5,
                "since_heartbeat_s": 12.345, "status_age_s": 1.5,
                "keys": { "http": "10.0.0.1:80" },
            })
        );
        assert_eq!(local["local"], true);
        assert_eq!(local["status"], "alive");
        assert_eq!(local["phi"], 0.0);
        assert_eq!(local["timeout_s"], Value::Null);
        assert_eq!(local["since_heartbeat_s"], Value::Null);
    }

    #[test]
    fn lines_about_this_node_say_so() {
        let p = printer(false);
        let me = id("n0", 7, 7946);
        let text = |r: &Report<'_>| body_of(&p.line(WALL, Duration::ZERO, r));
        assert_eq!(
            text(&Report::Leaving {
                id: &me,
                linger: Duration::from_millis(600)
            }),
            "leaving    (this node) n0#7@10.77.0.2:7946, announcing it for 0.600s"
        );
        assert_eq!(
            text(&Report::Stopped { id: &me }),
            "stopped    (this node) n0#7@10.77.0.2:7946 left and shut down"
        );
        // Should a membership event ever be about this node, it says so;
        // about another node, it does not.
        let left = MembershipEvent::Left { node: me.clone() };
        assert_eq!(
            text(&Report::Member(&left)),
            "left       (this node) n0#7@10.77.0.2:7946"
        );
        let other = MembershipEvent::Left {
            node: id("n1", 7, 7946),
        };
        assert_eq!(
            text(&Report::Member(&other)),
            "left       n1#7@10.77.0.2:7946"
        );
    }

    #[test]
    fn a_members_table_lines_up_its_columns() {
        let snapshot = [
            snapshot_member("n0", true, NodeStatus::Alive),
            snapshot_member("n1-with-a-long-name", false, NodeStatus::Dead),
        ];
        let p = printer(false);
        let text = p.line(WALL, Duration::ZERO, &Report::Members(&snapshot));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert_eq!(body_of(lines[0]), "members    2 nodes known");
        // Every row starts with spaces (no timestamp), and each column
        // starts at the same place on every row.
        for l in &lines[1..] {
            assert!(l.starts_with("    "), "{l:?}");
        }
        let column =
            |l: &str, word: &str| l.find(word).unwrap_or_else(|| panic!("{word} in {l:?}"));
        assert_eq!(column(lines[1], "STATUS"), column(lines[2], "alive"));
        assert_eq!(column(lines[1], "STATUS"), column(lines[3], "dead"));
        assert_eq!(column(lines[1], "KEYS"), column(lines[3], "http="));
        assert!(
            lines[2].contains("n0#7@10.77.0.2:7946 (this node)"),
            "{text}"
        );
        assert!(
            lines[3].contains(" inf "),
            "phi of a long-silent node: {text}"
        );
        assert!(lines[3].contains("12.345s"), "{text}");
    }

    #[test]
    fn loopback_with_a_seed_elsewhere_is_warned_of() {
        let addr = |s: &str| s.parse::<SocketAddr>().expect("an address");
        let seeds = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let lo = addr("127.0.0.1:7946");
        let far = seeds(&["127.0.0.1:7000", "10.0.0.1:7946"]);
        let w = loopback_warning(lo, None, &far).expect("warned");
        assert!(
            w.contains("listens on 127.0.0.1:7946") && w.contains("seed 10.0.0.1:7946"),
            "{w}"
        );
        assert!(
            w.contains("--listen 0.0.0.0:7946 --advertise THIS_HOST_IP:7946"),
            "{w}"
        );
        // Advertising loopback is as bad, and IPv6 loopback is loopback.
        let w = loopback_warning(addr("0.0.0.0:7946"), Some(lo), &far).expect("warned");
        assert!(w.contains("advertises 127.0.0.1:7946"), "{w}");
        assert!(loopback_warning(addr("[::1]:7946"), None, &far).is_some());
        // Loopback seeds only, no seed, or not on loopback: nothing to say.
        assert_eq!(
            loopback_warning(lo, None, &seeds(&["127.0.0.1:7000", "[::1]:1"])),
            None
        );
        assert_eq!(loopback_warning(lo, None, &[]), None);
        assert_eq!(loopback_warning(addr("10.0.0.2:7946"), None, &far), None);
        assert_eq!(
            loopback_warning(addr("0.0.0.0:7946"), Some(addr("10.0.0.2:7946")), &far),
            None
        );
        // A seed that does not resolve is left out.
        assert_eq!(
            loopback_warning(lo, None, &seeds(&["not an address"])),
            None
        );
    }

    /// A text line without its timestamp and elapsed seconds.
    fn body_of(line: &str) -> String {
        let after_word = |s: &str| {
            s.trim_start()
                .split_once(' ')
                .map_or("", |(_, rest)| rest)
                .trim_start()
                .to_owned()
        };
        after_word(&after_word(line))
    }

    #[test]
    fn text_lines_start_with_the_timestamp_and_the_elapsed_seconds() {
        let p = printer(false);
        let a = id("n1", 7, 7946);
        let line = p.line(
            WALL,
            Duration::from_millis(12_345),
            &Report::Member(&MembershipEvent::Dead { node: a }),
        );
        assert_eq!(
            line,
            format!("{TS}    12.345s dead       n1#7@10.77.0.2:7946")
        );
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields[..3], [TS, "12.345s", "dead"]);
        let help = p.line(WALL, Duration::ZERO, &Report::Help);
        assert!(
            help.starts_with(&format!("{TS}     0.000s help       commands")),
            "{help}"
        );
    }
}
