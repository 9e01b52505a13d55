//! hearsay-std across a real pause: `node` example processes on loopback,
//! one of them stopped with SIGSTOP and continued with SIGCONT (issue 9,
//! item 2). The resumed node must not report its healthy peers dead (it is
//! the one that was away), must still report a peer that was killed while
//! it was stopped, and must say that it noticed the stall.
//!
//! Gossip every 250 ms with the detector scaled to it (a timeout of about
//! a second), so that ordinary scheduling delays on a loaded two-core
//! machine do not convict anyone; the pause lasts 4 s, well past it. Every
//! wait polls for its condition, with generous bounds.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long any expected outcome may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(30);
/// How long the paused process stays stopped.
const PAUSE: Duration = Duration::from_secs(4);

/// Builds the `node` example and returns its path.
fn node_binary() -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new(env!("CARGO"))
        .current_dir(&root)
        .args([
            "build",
            "-p",
            "examples",
            "--example",
            "node",
            "--message-format=json",
        ])
        .stderr(Stdio::inherit())
        .output()
        .expect("cargo build runs");
    assert!(out.status.success(), "building the node example failed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .filter(|l| l.contains(r#""reason":"compiler-artifact""#) && l.contains(r#""name":"node""#))
        .find_map(|l| {
            let start = l.find(r#""executable":""#)? + r#""executable":""#.len();
            let len = l[start..].find('"')?;
            Some(std::path::PathBuf::from(&l[start..start + len]))
        })
        .expect("cargo reported the node executable")
}

/// Child processes, killed when the test ends however it ends (SIGKILL
/// ends a stopped process too).
struct Procs {
    children: Vec<Child>,
    lines: mpsc::Receiver<(usize, String)>,
    tx: mpsc::Sender<(usize, String)>,
    log: Vec<(usize, String)>,
}

impl Procs {
    fn new() -> Self {
        let (tx, lines) = mpsc::channel();
        Procs {
            children: Vec::new(),
            lines,
            tx,
            log: Vec::new(),
        }
    }

    /// Starts `bin args`, forwarding its stdout lines tagged with its index.
    fn spawn(&mut self, bin: &std::path::Path, args: &[&str]) -> usize {
        let mut child = Command::new(bin)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let index = self.children.len();
        let stdout = child.stdout.take().unwrap();
        let tx = self.tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send((index, line)).is_err() {
                    break;
                }
            }
        });
        self.children.push(child);
        index
    }

    /// Takes in every line printed so far.
    fn drain(&mut self) {
        while let Ok(l) = self.lines.try_recv() {
            self.log.push(l);
        }
    }

    /// Waits until process `who` printed a line for which `pred` holds;
    /// returns that line.
    fn expect(&mut self, who: usize, what: &str, pred: impl Fn(&str) -> bool) -> String {
        self.drain();
        if let Some((_, l)) = self.log.iter().find(|(i, l)| *i == who && pred(l)) {
            return l.clone();
        }
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((i, line)) => {
                    self.log.push((i, line.clone()));
                    if i == who && pred(&line) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "process {who} never printed {what}; output: {:#?}",
                    self.log
                ),
            }
        }
    }

    /// The lines process `who` printed so far.
    fn printed(&mut self, who: usize) -> Vec<String> {
        self.drain();
        self.log
            .iter()
            .filter(|(i, _)| *i == who)
            .map(|(_, l)| l.clone())
            .collect()
    }

    /// Sends `signal` (e.g. "STOP") to process `who` with kill(1).
    fn signal(&self, who: usize, signal: &str) {
        let pid = self.children[who].id().to_string();
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} {pid}");
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn is_event(line: &str, kind: &str, name: &str) -> bool {
    line.split_whitespace().nth(1) == Some(kind) && line.contains(&format!(" {name}#"))
}

#[test]
fn a_process_resumed_after_sigstop_reports_no_healthy_peer_dead() {
    let bin = node_binary();
    let mut p = Procs::new();
    let common = ["--listen", "127.0.0.1:0", "--interval-ms", "250"];
    let first = p.spawn(&bin, &[&["--name", "sp0"][..], &common].concat());
    // "listening ADDR as NAME#GEN@ADDR (cluster ...)"
    let line = p.expect(first, "its address", |l| l.starts_with("listening "));
    let addr: SocketAddr = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    let seed = addr.to_string();
    let names: Vec<String> = (0..6).map(|i| format!("sp{i}")).collect();
    for name in &names[1..] {
        p.spawn(
            &bin,
            &[&["--name", name, "--seed", &seed][..], &common].concat(),
        );
    }
    for who in 0..6 {
        for (other, name) in names.iter().enumerate() {
            if other != who {
                p.expect(who, &format!("{name} joined"), |l| {
                    is_event(l, "joined", name)
                });
            }
        }
    }

    // sp3 is stopped; while it is, sp5 is killed for good.
    let (paused, victim) = (3, 5);
    p.signal(paused, "STOP");
    let stopped = Instant::now();
    p.children[victim].kill().unwrap();
    p.children[victim].wait().unwrap();
    for who in [0, 1, 2, 4] {
        p.expect(who, "sp3 dead", |l| is_event(l, "dead", "sp3"));
        p.expect(who, "sp5 dead", |l| is_event(l, "dead", "sp5"));
    }
    // The stimulus: a pause well past every timeout.
    if let Some(rest) = PAUSE.checked_sub(stopped.elapsed()) {
        std::thread::sleep(rest);
    }
    p.signal(paused, "CONT");

    // The real crash is still detected by the resumed node, and the others
    // see it back.
    p.expect(paused, "sp5 dead", |l| is_event(l, "dead", "sp5"));
    for who in [0, 1, 2, 4] {
        p.expect(who, "sp3 alive again", |l| is_event(l, "alive", "sp3"));
    }
    let out = p.printed(paused);
    let wrong: Vec<&String> = out
        .iter()
        .filter(|l| {
            let kind = l.split_whitespace().nth(1);
            (kind == Some("dead") && !l.contains(" sp5#")) || kind == Some("alive")
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "the resumed node convicted healthy peers: {wrong:#?}"
    );
    // It says why: its stall counter went up.
    p.expect(paused, "a stall", |l| {
        l.split_whitespace().nth(1) == Some("stalled")
    });
    // The healthy nodes never suspected one another.
    for who in [0, 1, 2, 4] {
        let suspects: Vec<String> = p
            .printed(who)
            .into_iter()
            .filter(|l| {
                l.split_whitespace().nth(1) == Some("dead")
                    && !l.contains(" sp3#")
                    && !l.contains(" sp5#")
            })
            .collect();
        assert!(suspects.is_empty(), "sp{who}: {suspects:#?}");
    }
}
