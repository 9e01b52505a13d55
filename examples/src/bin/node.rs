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
//! It prints one line per membership or key event as it happens, each
//! starting with the wall-clock time (RFC 3339, UTC, milliseconds) and the
//! seconds since the node started, so that the output of processes on
//! different hosts (with synchronised clocks) or in different network
//! namespaces of one host can be lined up:
//!
//! ```text
//! 2026-12-02T21:40:01.000Z     0.000s listening 127.0.0.1:7946 as a#1732600000000@127.0.0.1:7946 (cluster "hearsay")
//! 2026-12-02T21:40:01.000Z     0.000s keys       none: datagrams are not sealed
//! 2026-12-02T21:40:01.412Z     0.412s joined     b#1732600000420@127.0.0.1:7947
//! 2026-12-02T21:40:01.412Z     0.412s key-set    b#1732600000420@127.0.0.1:7947 http="10.0.0.2:8080" v1
//! 2026-12-02T21:40:10.030Z     9.030s dead       b#1732600000420@127.0.0.1:7947
//! ```
//!
//! and a `stalled` line when the node notices that it was itself paused
//! (a SIGSTOP, a suspended laptop) for over two gossip intervals.
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
//! - `joined`, `alive` (alive again after dead), `dead`, `left`,
//!   `removed`: `member`, the node the event is about.
//! - `replaced`: `old` (the superseded incarnation) and `member` (the new
//!   one) — a restart with the same name.
//! - `key-set`: `member` (the key's owner), `key`, `value` (UTF-8, bytes
//!   that are not replaced by U+FFFD), `version`.
//! - `key-del`: `member`, `key`, `version`.
//! - `lagged`: `stream` (`membership` or `keys`), `missed`: events this
//!   process lost because it read them too slowly.
//! - `stalled`: `stalls`, how many local stalls the node has noticed.
//! - `probe`: `key`, `value`: this node wrote `key` after a SIGUSR1.
//! - `leaving`: a SIGINT/SIGTERM arrived and the node is leaving.
//! - `stopped`: the node has left and shut down; the process exits.
//! - `other`: `stream`, `debug`: an event kind this binary does not know
//!   yet (hearsay-std's event enums are non-exhaustive).
//!
//! # Signals
//!
//! Ctrl-C (or SIGTERM) leaves gracefully: peers see the node *left* rather
//! than waiting for the failure detector to declare it dead. A second
//! Ctrl-C quits at once. SIGUSR1 writes the key `probe` with the number
//! of SIGUSR1s received so far ("1", "2", ...) and prints a `probe` line:
//! how a test times one key's spread from its own output. Log lines go to
//! stderr; set `HEARSAY_LOG=debug` for more.
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

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::select;
use examples::key_file::read_key_file;
use examples::{init_logging, parse_flag};
use hearsay_std::builder::scaled_detector;
use hearsay_std::{KeyEvent, KeyMode, Keys, MembershipEvent, Node, NodeId};
use serde_json::{Value, json};
use zeroize::Zeroize;

const USAGE: &str = "\
usage: node --name NAME [options]
  --name NAME          this node's name, unique in the cluster (required)
  --listen ADDR        address to bind the gossip socket to (default 127.0.0.1:7946)
  --advertise ADDR     address peers should use (default: the bound address;
                       required when listening on 0.0.0.0 or [::])
  --seed HOST:PORT     a node to join through (repeatable; names are re-resolved)
  --set KEY=VALUE      a key this node holds (repeatable)
  --cluster NAME       cluster name (default \"hearsay\")
  --interval-ms M      gossip interval in milliseconds (default 1000; the
                       failure detector's settings scale with it)
  --json               print one JSON object per line instead of text
  --key-file PATH      cluster keys, one per line as 64 hex digits (e.g.
                       `openssl rand -hex 32`); the first seals what this node
                       sends, all are accepted. Every node needs the key. The
                       file must not be readable by other users (chmod 600).
  --key-mode MODE      listen, transitional or required (default required):
                       listen sends in clear and accepts both, transitional
                       seals and accepts both, required accepts sealed only.

Output: one line per event on stdout, starting with the wall-clock time
(RFC 3339 UTC, milliseconds) and the seconds since start. With --json, one
object per line with the fields ts (that time), t (those seconds), node
(this node's name) and event: start (member, listen, cluster, pid), keys
(mode, installed, primary), joined / alive / dead / left / removed
(member), replaced (old, member), key-set (member, key, value, version),
key-del (member, key, version), lagged (stream, missed), stalled (stalls),
probe (key, value), leaving, stopped, other (stream, debug). A member is
{name, generation, addr}.

Signals: SIGINT or SIGTERM leaves the cluster gracefully (a second one
quits at once); SIGUSR1 sets the key \"probe\" to the number of SIGUSR1s
received so far and prints a probe line.

Turning keys on in a running cluster: restart every node, one by one, with
the key file and --key-mode listen; then each with transitional; then each
with required. Rotating a key: put the new key on the line after the old
one and restart every node in turn (both accepted, old one used); then put
the new key first and restart each again (new one used); then remove the
old line and restart each again. See the README's \"Cluster keys\".";

/// The key SIGUSR1 writes.
const PROBE_KEY: &str = "probe";

/// Parsed command line.
struct Args {
    name: String,
    listen: SocketAddr,
    advertise: Option<SocketAddr>,
    seeds: Vec<String>,
    keys: Vec<(String, String)>,
    cluster: String,
    interval: Duration,
    json: bool,
    key_file: Option<String>,
    key_mode: Option<KeyMode>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let mut name = None;
    let mut out = Args {
        name: String::new(),
        listen: SocketAddr::from(([127, 0, 0, 1], 7946)),
        advertise: None,
        seeds: Vec::new(),
        keys: Vec::new(),
        cluster: "hearsay".to_owned(),
        interval: Duration::from_secs(1),
        json: false,
        key_file: None,
        key_mode: None,
    };
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--name" => name = Some(parse_flag::<String>(&flag, args.next())?),
            "--listen" => out.listen = parse_flag(&flag, args.next())?,
            "--advertise" => out.advertise = Some(parse_flag(&flag, args.next())?),
            "--seed" => out.seeds.push(parse_flag(&flag, args.next())?),
            "--set" => {
                let kv: String = parse_flag(&flag, args.next())?;
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| format!("--set {kv:?}: expected KEY=VALUE"))?;
                out.keys.push((k.to_owned(), v.to_owned()));
            }
            "--cluster" => out.cluster = parse_flag(&flag, args.next())?,
            "--interval-ms" => {
                let ms: u64 = parse_flag(&flag, args.next())?;
                if ms == 0 {
                    return Err("--interval-ms must be positive".to_owned());
                }
                out.interval = Duration::from_millis(ms);
            }
            "--json" => out.json = true,
            "--key-file" => out.key_file = Some(parse_flag(&flag, args.next())?),
            "--key-mode" => {
                let mode: String = parse_flag(&flag, args.next())?;
                out.key_mode = Some(parse_key_mode(&mode)?);
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    out.name = name.ok_or("--name is required")?;
    if out.key_mode.is_some() && out.key_file.is_none() {
        return Err(
            "--key-mode needs --key-file: a node without keys sends and accepts \
                    unsealed datagrams only"
                .to_owned(),
        );
    }
    Ok(out)
}

fn parse_key_mode(text: &str) -> Result<KeyMode, String> {
    match text {
        "listen" => Ok(KeyMode::Listen),
        "transitional" => Ok(KeyMode::Transitional),
        "required" => Ok(KeyMode::Required),
        other => Err(format!(
            "--key-mode {other:?}: expected listen, transitional or required"
        )),
    }
}

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
    /// A membership event about one node.
    Member(&'a MembershipEvent),
    /// A key event.
    Key(&'a KeyEvent),
    /// The node noticed a stall of its own; `stalls` so far.
    Stalled { stalls: u64 },
    /// The node wrote [`PROBE_KEY`] after a SIGUSR1.
    Probe { value: &'a str },
    /// A signal asked the node to leave.
    Leaving,
    /// The node left and shut down.
    Stopped,
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
            Report::Stalled { .. } => "stalled",
            Report::Probe { .. } => "probe",
            Report::Leaving => "leaving",
            Report::Stopped => "stopped",
        }
    }

    /// The text line after the timestamps.
    fn text(&self) -> String {
        let word = self.event();
        match self {
            Report::Start {
                id,
                listen,
                cluster,
                ..
            } => format!("listening {listen} as {id} (cluster {cluster:?})"),
            Report::Keys(keys) => describe_keys(keys),
            Report::Member(e) => match e {
                MembershipEvent::Joined { node }
                | MembershipEvent::AliveAgain { node }
                | MembershipEvent::Dead { node }
                | MembershipEvent::Left { node }
                | MembershipEvent::Removed { node } => format!("{word:<10} {node}"),
                MembershipEvent::Replaced { old, new } => format!("{word:<10} {old} -> {new}"),
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
            Report::Stalled { stalls } => format!("{word:<10} local stall {stalls} noticed"),
            Report::Probe { value } => format!("{word:<10} {PROBE_KEY}={value:?} set locally"),
            Report::Leaving | Report::Stopped => word.to_owned(),
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
            Report::Stalled { stalls } => json!({ "stalls": stalls }),
            Report::Probe { value } => json!({ "key": PROBE_KEY, "value": value }),
            Report::Leaving | Report::Stopped => json!({}),
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
            return format!("{ts} {t:>9.3}s {}", report.text());
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

/// SIGINT / SIGTERM / SIGUSR1 handling without extra crates: the handlers
/// only touch atomics, which the main loop polls.
#[cfg(unix)]
mod signals {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    static STOP: AtomicBool = AtomicBool::new(false);
    static PROBES: AtomicU64 = AtomicU64::new(0);

    extern "C" fn on_stop(_: libc::c_int) {
        STOP.store(true, Ordering::SeqCst);
    }

    extern "C" fn on_probe(_: libc::c_int) {
        PROBES.fetch_add(1, Ordering::SeqCst);
    }

    /// Installs `handler` for `sig` with `flags`.
    fn install_one(
        sig: libc::c_int,
        handler: extern "C" fn(libc::c_int),
        flags: libc::c_int,
    ) -> std::io::Result<()> {
        // SAFETY: the handlers only perform atomic operations, which are
        // async-signal-safe. `action` is zero-initialised (a valid
        // `sigaction`) before the fields used are set.
        let rc = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handler as libc::sighandler_t;
            action.sa_flags = flags;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(sig, &action, std::ptr::null_mut())
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// Installs the handlers for SIGINT, SIGTERM and SIGUSR1.
    pub fn install() -> std::io::Result<()> {
        // SA_RESETHAND restores the default action after the first signal,
        // so a second Ctrl-C ends the process even if leaving hangs.
        for sig in [libc::SIGINT, libc::SIGTERM] {
            install_one(sig, on_stop, libc::SA_RESETHAND)?;
        }
        // SA_RESTART: a probe must not interrupt the node's blocking calls.
        install_one(libc::SIGUSR1, on_probe, libc::SA_RESTART)
    }

    /// Whether a signal asked us to stop.
    pub fn stop_requested() -> bool {
        STOP.load(Ordering::SeqCst)
    }

    /// How many SIGUSR1s arrived so far.
    pub fn probes() -> u64 {
        PROBES.load(Ordering::SeqCst)
    }
}

/// Without Unix signals, Ctrl-C simply ends the process.
#[cfg(not(unix))]
mod signals {
    pub fn install() -> std::io::Result<()> {
        Ok(())
    }

    pub fn stop_requested() -> bool {
        false
    }

    pub fn probes() -> u64 {
        0
    }
}

fn main() -> ExitCode {
    init_logging(log::LevelFilter::Warn);
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("error: {e}\n");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    signals::install()?;
    let mut builder = Node::builder(&args.name)
        .listen(args.listen)
        .seeds(args.seeds)
        .cluster(&args.cluster)
        .gossip_interval(args.interval)
        .detector(scaled_detector(args.interval));
    if let Some(a) = args.advertise {
        builder = builder.advertise(a);
    }
    for (k, v) in &args.keys {
        builder = builder.set(k, v);
    }
    if let Some(path) = &args.key_file {
        let mut keys = read_key_file(Path::new(path)).map_err(|e| format!("{path}: {e}"))?;
        builder = builder.keys(keys.iter().copied());
        // The builder holds its own (wiped on drop); ours go now.
        keys.iter_mut().for_each(Zeroize::zeroize);
    }
    if let Some(mode) = args.key_mode {
        builder = builder.key_mode(mode);
    }
    // Subscribed before start, so that nothing is missed.
    let members = builder.subscribe_membership();
    let keys = builder.subscribe_keys("");
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

    let poll = crossbeam_channel::tick(Duration::from_millis(100));
    let (mut stalls, mut probes) = (0, 0);
    loop {
        select! {
            recv(members.receiver()) -> e => match e {
                Ok(e) => out.emit(&Report::Member(&e)),
                Err(_) => break,
            },
            recv(keys.receiver()) -> e => match e {
                Ok(e) => out.emit(&Report::Key(&e)),
                Err(_) => break,
            },
            recv(poll) -> _ => {
                if signals::stop_requested() {
                    break;
                }
                // A pause of this process (SIGSTOP, suspend) shows here; the
                // node gave its peers a fresh chance instead of convicting them.
                let now = node.counters()?.local_stalls();
                if now > stalls {
                    stalls = now;
                    out.emit(&Report::Stalled { stalls });
                }
                let asked = signals::probes();
                if asked > probes {
                    probes = asked;
                    let value = probes.to_string();
                    // Stamped before the write: peers may print the key
                    // before this call returns.
                    let at = out.now();
                    node.set(PROBE_KEY, &value)?;
                    out.emit_at(at, &Report::Probe { value: &value });
                }
            },
        }
    }
    out.emit(&Report::Leaving);
    node.leave()?;
    node.shutdown()?;
    out.emit(&Report::Stopped);
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
            ("lagged", MembershipEvent::Lagged { missed: 3 }),
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
            ("lagged", KeyEvent::Lagged { missed: 2 }),
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
        ];
        reports.extend(members.iter().map(|(n, e)| (*n, Report::Member(e))));
        reports.extend(key_events.iter().map(|(n, e)| (*n, Report::Key(e))));
        reports.extend([
            ("stalled", Report::Stalled { stalls: 1 }),
            ("probe", Report::Probe { value: "1" }),
            ("leaving", Report::Leaving),
            ("stopped", Report::Stopped),
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

    #[test]
    fn json_lines_parse_back_with_the_common_fields() {
        for (name, v) in every_report() {
            assert_eq!(v["event"], name, "{v}");
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
        assert_eq!(get("lagged")["stream"], "membership");
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
        let stop = p.line(WALL, Duration::ZERO, &Report::Stopped);
        assert_eq!(stop, format!("{TS}     0.000s stopped"));
    }
}
