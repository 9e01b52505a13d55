//! Running `node` processes from tests: spawning them, writing commands to
//! their stdin, reading what they print, signalling them, and killing them
//! when the test ends however it ends. Shared by the `node_*.rs` tests,
//! which are separate test binaries so that cargo runs them one after the
//! other: the pause test must not share the machine with another cluster.

// Each test binary uses part of this module.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long any expected outcome may take before the test fails: a liveness
/// bound, generous enough for a loaded two-core machine.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// The `node` binary cargo built for these tests.
pub fn node_binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_node"))
}

/// Child processes and every line they printed so far.
pub struct Procs {
    /// The processes, by the index `spawn` returned.
    pub children: Vec<Child>,
    lines: mpsc::Receiver<(usize, String)>,
    tx: mpsc::Sender<(usize, String)>,
    /// Every line taken in so far, tagged with its process's index.
    pub log: Vec<(usize, String)>,
}

impl Procs {
    /// No processes yet.
    pub fn new() -> Self {
        let (tx, lines) = mpsc::channel();
        Procs {
            children: Vec::new(),
            lines,
            tx,
            log: Vec::new(),
        }
    }

    /// Starts `node args` with stdin from /dev/null (so at its end from
    /// the start: a node does not stop for that), forwarding its stdout
    /// lines tagged with its index.
    pub fn spawn(&mut self, args: &[&str]) -> usize {
        self.spawn_with(args, Stdio::null())
    }

    /// Starts `node args` with stdin a pipe that [`Procs::send`] writes to.
    pub fn spawn_piped(&mut self, args: &[&str]) -> usize {
        self.spawn_with(args, Stdio::piped())
    }

    fn spawn_with(&mut self, args: &[&str], stdin: Stdio) -> usize {
        let mut child = Command::new(node_binary())
            .args(args)
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the node binary starts");
        let index = self.children.len();
        let stdout = child.stdout.take().expect("stdout is piped");
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

    /// Waits for process `who`'s first line, "TIME ELAPSED listening ADDR
    /// as NAME#GEN@ADDR (cluster ...)", and returns ADDR.
    pub fn listening_addr(&mut self, who: usize) -> SocketAddr {
        let line = self.expect(who, "its address", |l| event_kind(l) == Some("listening"));
        line.split_whitespace()
            .nth(3)
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
    }

    /// Takes in every line printed so far.
    fn drain(&mut self) {
        while let Ok(l) = self.lines.try_recv() {
            self.log.push(l);
        }
    }

    /// Waits until process `who` printed a line for which `pred` holds
    /// (`what` names it in the failure message); returns that line.
    pub fn expect(&mut self, who: usize, what: &str, pred: impl Fn(&str) -> bool) -> String {
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
    pub fn printed(&mut self, who: usize) -> Vec<String> {
        self.drain();
        self.log
            .iter()
            .filter(|(i, _)| *i == who)
            .map(|(_, l)| l.clone())
            .collect()
    }

    /// Writes `line` and a line break to the stdin of process `who`
    /// (started with [`Procs::spawn_piped`]).
    pub fn send(&mut self, who: usize, line: &str) {
        let stdin = self.children[who]
            .stdin
            .as_mut()
            .expect("started with spawn_piped");
        writeln!(stdin, "{line}").expect("write a command");
        stdin.flush().expect("flush the command");
    }

    /// Kills process `who` (SIGKILL: no chance to leave) and reaps it.
    pub fn kill(&mut self, who: usize) {
        let child = &mut self.children[who];
        child.kill().expect("kill the process");
        child.wait().expect("reap the process");
    }

    /// Sends `signal` (e.g. "STOP") to process `who` with kill(1).
    pub fn signal(&self, who: usize, signal: &str) {
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
        // SIGKILL ends a stopped process too.
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A `node` line without its wall-clock timestamp and elapsed seconds.
pub fn body(line: &str) -> &str {
    fn after_word(s: &str) -> &str {
        s.split_once(' ').map_or("", |(_, rest)| rest).trim_start()
    }
    after_word(after_word(line.trim_start()))
}

/// The kind of a `node` line ("listening", "joined", "dead", ...): the
/// word after its wall-clock timestamp and its elapsed seconds.
pub fn event_kind(line: &str) -> Option<&str> {
    line.split_whitespace().nth(2)
}

/// Whether `line` is a `node` event line of `kind` ("joined", "dead", ...)
/// about the node named `name`.
pub fn is_event(line: &str, kind: &str, name: &str) -> bool {
    event_kind(line) == Some(kind) && line.contains(&format!(" {name}#"))
}
