//! One hearsay node per process: how to try hearsay across real hosts.
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
//! It prints one line per membership or key event as it happens:
//!
//! ```text
//! listening 127.0.0.1:7946 as a#1732600000000@127.0.0.1:7946 (cluster "hearsay")
//!    0.412s joined     b#1732600000420@127.0.0.1:7947
//!    0.412s key-set    b#1732600000420@127.0.0.1:7947 http="10.0.0.2:8080" v1
//!    9.030s dead       b#1732600000420@127.0.0.1:7947
//! ```
//!
//! and a `stalled` line when the node notices that it was itself paused
//! (a SIGSTOP, a suspended laptop) for over two gossip intervals.
//!
//! With `--key-file PATH` every datagram is sealed with the file's first
//! key and datagrams sealed with any of its keys are accepted; nodes
//! without one of those keys cannot join, read or change the cluster. The
//! file holds one key per line, 64 hex digits (e.g. from
//! `openssl rand -hex 32`), and must not be readable by other users
//! (`chmod 600`). The node prints the keys' fingerprints at start, never
//! their bytes. Rotation and turning keys on in a running cluster: the
//! README's "Cluster keys" section.
//!
//! Ctrl-C (or SIGTERM) leaves gracefully: peers see the node *left* rather
//! than waiting for the failure detector to declare it dead. A second
//! Ctrl-C quits at once. Log lines go to stderr; set `HEARSAY_LOG=debug`
//! for more.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crossbeam_channel::select;
use examples::key_file::read_key_file;
use examples::{init_logging, parse_flag};
use hearsay_std::builder::scaled_detector;
use hearsay_std::{KeyEvent, KeyMode, Keys, MembershipEvent, Node};
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
  --key-file PATH      cluster keys, one per line as 64 hex digits (e.g.
                       `openssl rand -hex 32`); the first seals what this node
                       sends, all are accepted. Every node needs the key. The
                       file must not be readable by other users (chmod 600).
  --key-mode MODE      listen, transitional or required (default required):
                       listen sends in clear and accepts both, transitional
                       seals and accepts both, required accepts sealed only.

Turning keys on in a running cluster: restart every node, one by one, with
the key file and --key-mode listen; then each with transitional; then each
with required. Rotating a key: put the new key on the line after the old
one and restart every node in turn (both accepted, old one used); then put
the new key first and restart each again (new one used); then remove the
old line and restart each again. See the README's \"Cluster keys\".";

/// Parsed command line.
struct Args {
    name: String,
    listen: SocketAddr,
    advertise: Option<SocketAddr>,
    seeds: Vec<String>,
    keys: Vec<(String, String)>,
    cluster: String,
    interval: Duration,
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

/// SIGINT / SIGTERM handling without extra crates: the handler only stores
/// to an atomic flag, which the main loop polls.
#[cfg(unix)]
mod signals {
    use std::sync::atomic::{AtomicBool, Ordering};

    static STOP: AtomicBool = AtomicBool::new(false);

    extern "C" fn on_signal(_: libc::c_int) {
        STOP.store(true, Ordering::SeqCst);
    }

    /// Installs the handler for SIGINT and SIGTERM.
    pub fn install() -> std::io::Result<()> {
        let handler: extern "C" fn(libc::c_int) = on_signal;
        for sig in [libc::SIGINT, libc::SIGTERM] {
            // SAFETY: the handler only performs an atomic store, which is
            // async-signal-safe. `action` is zero-initialised (a valid
            // `sigaction`) before the fields used are set. SA_RESETHAND
            // restores the default action after the first signal, so a
            // second Ctrl-C ends the process even if leaving hangs.
            let rc = unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = handler as libc::sighandler_t;
                action.sa_flags = libc::SA_RESETHAND;
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(sig, &action, std::ptr::null_mut())
            };
            if rc != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    }

    /// Whether a signal asked us to stop.
    pub fn stop_requested() -> bool {
        STOP.load(Ordering::SeqCst)
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
    let start = Instant::now();
    println!(
        "listening {} as {} (cluster {:?})",
        node.local_addr(),
        node.id(),
        args.cluster
    );
    println!("{}", describe_keys(&node.keys()?));

    let poll = crossbeam_channel::tick(Duration::from_millis(100));
    let mut stalls = 0;
    loop {
        select! {
            recv(members.receiver()) -> e => match e {
                Ok(e) => print_membership(start, &e),
                Err(_) => break,
            },
            recv(keys.receiver()) -> e => match e {
                Ok(e) => print_key(start, &e),
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
                    let t = start.elapsed().as_secs_f64();
                    println!("{t:>9.3}s stalled    local stall {now} noticed");
                }
            },
        }
    }
    println!("{:>9.3}s leaving", start.elapsed().as_secs_f64());
    node.leave()?;
    node.shutdown()?;
    println!("{:>9.3}s left", start.elapsed().as_secs_f64());
    Ok(())
}

fn print_membership(start: Instant, e: &MembershipEvent) {
    let t = start.elapsed().as_secs_f64();
    match e {
        MembershipEvent::Joined { node } => println!("{t:>9.3}s joined     {node}"),
        MembershipEvent::AliveAgain { node } => println!("{t:>9.3}s alive      {node}"),
        MembershipEvent::Dead { node } => println!("{t:>9.3}s dead       {node}"),
        MembershipEvent::Left { node } => println!("{t:>9.3}s left       {node}"),
        MembershipEvent::Removed { node } => println!("{t:>9.3}s removed    {node}"),
        MembershipEvent::Replaced { old, new } => {
            println!("{t:>9.3}s replaced   {old} -> {new}")
        }
        MembershipEvent::Lagged { missed } => {
            println!("{t:>9.3}s lagged     {missed} membership events missed")
        }
        other => println!("{t:>9.3}s other      {other:?}"),
    }
}

fn print_key(start: Instant, e: &KeyEvent) {
    let t = start.elapsed().as_secs_f64();
    match e {
        KeyEvent::Set {
            node,
            key,
            value,
            version,
        } => println!(
            "{t:>9.3}s key-set    {node} {key}={:?} v{version}",
            String::from_utf8_lossy(value)
        ),
        KeyEvent::Deleted { node, key, version } => {
            println!("{t:>9.3}s key-del    {node} {key} v{version}")
        }
        KeyEvent::Lagged { missed } => println!("{t:>9.3}s lagged     {missed} key events missed"),
        other => println!("{t:>9.3}s other      {other:?}"),
    }
}
