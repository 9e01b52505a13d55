//! A local hearsay cluster in one process: watch it converge, lose a node,
//! notice, and take the node back.
//!
//! ```sh
//! cargo run --release -p examples --example cluster
//! cargo run --release -p examples --example cluster -- --nodes 8 --interval-ms 100
//! ```
//!
//! It starts `--nodes` nodes (default 5) on 127.0.0.1 with free ports, all
//! seeded with the first one, each holding an `http` key. A live table
//! shows every node's view of every other (status and phi), refreshed in
//! place. Once everyone sees everyone alive, the last node is stopped
//! *without leaving*, as a crash would, and the table shows each peer's
//! failure detector convicting it; then it restarts with a new generation,
//! which replaces the old one at once. The program exits by itself with a
//! summary of the measured times. When stdout is not a terminal, it prints
//! plain event lines instead of the table.
//!
//! The failure detector uses the core's defaults scaled to the gossip
//! interval (`hearsay_std::builder::scaled_detector`): with the default
//! 200 ms interval, a stopped node is convicted after roughly a second.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use clap::builder::RangedU64ValueParser;
use crossbeam_channel::{Receiver, Select};
use examples::init_logging;
use hearsay_std::builder::scaled_detector;
use hearsay_std::{Member, MembershipEvent, Node, NodeStatus, Subscription};

/// How often the table is redrawn.
const REDRAW: Duration = Duration::from_millis(100);
/// Event lines kept under the table.
const LOG_LINES: usize = 8;

/// The demo's command line.
#[derive(Debug, Parser)]
#[command(
    name = "cluster",
    about = "A local hearsay cluster in one process: it converges, loses a node, notices, \
             and takes the node back.",
    after_help = "Log lines go to stderr; HEARSAY_LOG sets their level (off, error, warn, \
                  info, debug, trace; default warn)."
)]
struct Settings {
    /// Nodes to start on 127.0.0.1, 2 to 16.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 5,
        value_parser = RangedU64ValueParser::<usize>::new().range(2..=16)
    )]
    nodes: usize,

    /// Gossip interval in milliseconds, 10 to 5000; the failure detector
    /// scales with it.
    #[arg(
        long = "interval-ms",
        value_name = "MS",
        default_value_t = 200,
        value_parser = clap::value_parser!(u64).range(10..=5000)
    )]
    interval_ms: u64,
}

impl Settings {
    /// The gossip interval.
    fn interval(&self) -> Duration {
        Duration::from_millis(self.interval_ms)
    }
}

fn main() -> ExitCode {
    init_logging(log::LevelFilter::Warn);
    // Usage errors end here, with clap's message and status 2.
    let settings = Settings::parse();
    let mut demo = Demo::new(settings);
    let outcome = demo.run();
    demo.stop_all();
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One node of the demo, running or stopped.
struct Slot {
    name: String,
    /// Where it was bound, reused when it restarts.
    addr: Option<SocketAddr>,
    /// When the running incarnation started.
    started: Option<Instant>,
    node: Option<Node>,
    events: Option<Subscription<MembershipEvent>>,
}

/// An event as an observer saw it.
struct Seen {
    observer: usize,
    event: MembershipEvent,
    at: Instant,
}

/// What was measured, for the summary.
#[derive(Default)]
struct Measured {
    converged: Option<Duration>,
    detected: Vec<(String, Option<Duration>)>,
    timeout_hint: Option<Duration>,
    replaced: Vec<(String, Option<Duration>)>,
    reconverged: Option<Duration>,
    false_deaths: Vec<String>,
    new_generation: u64,
}

struct Demo {
    settings: Settings,
    slots: Vec<Slot>,
    start: Instant,
    tty: bool,
    phase: String,
    phase_start: Instant,
    log: VecDeque<String>,
    /// Lines of the last frame (to redraw in place).
    drawn: usize,
    last_draw: Option<Instant>,
    measured: Measured,
    done: bool,
}

impl Demo {
    fn new(settings: Settings) -> Self {
        let slots = (1..=settings.nodes)
            .map(|i| Slot {
                name: format!("node-{i}"),
                addr: None,
                started: None,
                node: None,
                events: None,
            })
            .collect();
        let now = Instant::now();
        Demo {
            settings,
            slots,
            start: now,
            tty: std::io::stdout().is_terminal(),
            phase: String::new(),
            phase_start: now,
            log: VecDeque::new(),
            drawn: 0,
            last_draw: None,
            measured: Measured::default(),
            done: false,
        }
    }

    /// Longest any phase may take before the demo gives up on it.
    fn patience(&self) -> Duration {
        (self.settings.interval() * 150).max(Duration::from_secs(30))
    }

    /// The whole demo; `Ok(false)` if a phase did not complete in time.
    fn run(&mut self) -> Result<bool, hearsay_std::Error> {
        let n = self.settings.nodes;
        let victim = n - 1;
        println!(
            "hearsay: {n} nodes on 127.0.0.1, gossip every {} ms",
            self.settings.interval().as_millis()
        );

        // 1. Start everyone, seeded with node-1, and wait for convergence.
        self.set_phase("starting, every node seeded with node-1");
        let t0 = Instant::now();
        for i in 0..n {
            self.start_node(i)?;
        }
        self.measured.converged = self.wait_for(t0, |d| d.converged())?;
        if self.measured.converged.is_none() {
            self.note("did not converge in time");
            return Ok(false);
        }
        self.hold(Duration::from_secs(1))?;

        // 2. Stop the victim without leaving; wait until every peer
        //    convicts it.
        let victim_name = self.slots[victim].name.clone();
        self.measured.timeout_hint = self.slots[0]
            .node
            .as_ref()
            .and_then(|n| n.member(&victim_name).ok().flatten())
            .and_then(|m| m.timeout);
        self.set_phase(&format!(
            "{victim_name} stopped without leaving; peers detecting"
        ));
        let t_stop = Instant::now();
        if let Some(node) = self.slots[victim].node.take() {
            self.slots[victim].events = None;
            node.shutdown()?;
        }
        let mut detected: Vec<Option<Duration>> = vec![None; n];
        let deadline = t_stop + self.patience();
        while Instant::now() < deadline && (0..victim).any(|i| detected[i].is_none()) {
            for s in self.pump(REDRAW)? {
                match &s.event {
                    MembershipEvent::Dead { node } if node.name.as_str() == victim_name => {
                        let d = &mut detected[s.observer];
                        d.get_or_insert(s.at.saturating_duration_since(t_stop));
                    }
                    MembershipEvent::Dead { node } => self.measured.false_deaths.push(format!(
                        "{} saw {} dead",
                        self.slots[s.observer].name, node.name
                    )),
                    _ => {}
                }
            }
        }
        self.measured.detected = (0..victim)
            .map(|i| (self.slots[i].name.clone(), detected[i]))
            .collect();
        self.hold(Duration::from_millis(700))?;

        // 3. Restart it with a new generation; the old one is replaced.
        self.set_phase(&format!("{victim_name} restarted with a new generation"));
        let t_restart = Instant::now();
        self.start_node(victim)?;
        self.measured.new_generation = self.slots[victim]
            .node
            .as_ref()
            .map_or(0, |n| n.id().generation);
        let mut replaced: Vec<Option<Duration>> = vec![None; n];
        let deadline = t_restart + self.patience();
        let mut reconverged = None;
        while Instant::now() < deadline && reconverged.is_none() {
            for s in self.pump(REDRAW)? {
                if let MembershipEvent::Replaced { new, .. } = &s.event
                    && new.name.as_str() == victim_name
                {
                    let d = &mut replaced[s.observer];
                    d.get_or_insert(s.at.saturating_duration_since(t_restart));
                }
            }
            if (0..victim).all(|i| replaced[i].is_some()) && self.converged() {
                reconverged = Some(t_restart.elapsed());
            }
        }
        self.measured.replaced = (0..victim)
            .map(|i| (self.slots[i].name.clone(), replaced[i]))
            .collect();
        self.measured.reconverged = reconverged;
        self.hold(Duration::from_millis(700))?;
        self.set_phase("done");
        self.done = true;
        self.draw(true)?;
        Ok(self.summary())
    }

    /// Starts (or restarts) node `i`, seeded with node-1.
    fn start_node(&mut self, i: usize) -> Result<(), hearsay_std::Error> {
        let interval = self.settings.interval();
        let seed = if i == 0 { None } else { self.slots[0].addr };
        let name = self.slots[i].name.clone();
        let builder = |addr: SocketAddr| {
            let mut b = Node::builder(name.as_str())
                .listen(addr)
                .gossip_interval(interval)
                .detector(scaled_detector(interval))
                .set("http", format!("127.0.0.1:{}", 8080 + i));
            if let Some(s) = seed {
                b = b.seed(s.to_string());
            }
            b
        };
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        // A restart takes its old port back if it is still free.
        let node = match self.slots[i].addr {
            Some(addr) => builder(addr).start().or_else(|_| builder(any).start())?,
            None => builder(any).start()?,
        };
        self.slots[i].addr = Some(node.local_addr());
        self.slots[i].started = Some(Instant::now());
        self.slots[i].events = Some(node.subscribe_membership()?);
        self.slots[i].node = Some(node);
        Ok(())
    }

    /// Waits (drawing) until `done` holds, checked at every redraw; the
    /// time since `since` when it did, `None` if it did not in time.
    fn wait_for(
        &mut self,
        since: Instant,
        mut done: impl FnMut(&Self) -> bool,
    ) -> Result<Option<Duration>, hearsay_std::Error> {
        let deadline = Instant::now() + self.patience();
        while Instant::now() < deadline {
            self.pump(REDRAW)?;
            if done(self) {
                return Ok(Some(since.elapsed()));
            }
        }
        Ok(None)
    }

    /// Shows the table for `d` more.
    fn hold(&mut self, d: Duration) -> Result<(), hearsay_std::Error> {
        let end = Instant::now() + d;
        while Instant::now() < end {
            self.pump(REDRAW.min(end.saturating_duration_since(Instant::now())))?;
        }
        Ok(())
    }

    /// Whether every running node sees every other one alive, with its key.
    fn converged(&self) -> bool {
        let n = self.slots.len();
        self.slots.iter().all(|s| {
            let Some(node) = &s.node else {
                return false;
            };
            let Ok(members) = node.members() else {
                return false;
            };
            members.len() == n
                && members
                    .iter()
                    .all(|m| m.status == NodeStatus::Alive && m.get("http").is_some())
        })
    }

    /// Waits up to `max_wait` for membership events, takes every one queued,
    /// logs them, and redraws when due.
    fn pump(&mut self, max_wait: Duration) -> Result<Vec<Seen>, hearsay_std::Error> {
        let mut seen = Vec::new();
        {
            let receivers: Vec<(usize, &Receiver<MembershipEvent>)> = self
                .slots
                .iter()
                .enumerate()
                .filter_map(|(i, s)| s.events.as_ref().map(|e| (i, e.receiver())))
                .collect();
            let wait = match self.last_draw {
                Some(t) => max_wait.min((t + REDRAW).saturating_duration_since(Instant::now())),
                None => Duration::ZERO,
            };
            let mut sel = Select::new();
            for (_, r) in &receivers {
                sel.recv(r);
            }
            if let Ok(op) = sel.select_timeout(wait) {
                let (i, r) = receivers[op.index()];
                if let Ok(event) = op.recv(r) {
                    seen.push(Seen {
                        observer: i,
                        event,
                        at: Instant::now(),
                    });
                }
            }
            for &(i, r) in &receivers {
                for event in r.try_iter() {
                    seen.push(Seen {
                        observer: i,
                        event,
                        at: Instant::now(),
                    });
                }
            }
        }
        for s in &seen {
            let line = self.describe(s);
            self.note(&line);
        }
        if self.last_draw.is_none_or(|t| t.elapsed() >= REDRAW) {
            self.draw(false)?;
        }
        Ok(seen)
    }

    fn describe(&self, s: &Seen) -> String {
        let who = &self.slots[s.observer].name;
        let gen_of =
            |n: &hearsay_std::NodeId| format!("{} (gen …{})", n.name, n.generation % 100_000);
        let what = match &s.event {
            MembershipEvent::Joined { node } => format!("sees {} join", gen_of(node)),
            MembershipEvent::AliveAgain { node } => format!("sees {} alive again", node.name),
            MembershipEvent::Dead { node } => format!("declares {} DEAD", node.name),
            MembershipEvent::Left { node } => format!("sees {} leave", node.name),
            MembershipEvent::Removed { node } => format!("forgets {}", node.name),
            MembershipEvent::Replaced { old, new } => {
                format!("sees {} replaced by {}", gen_of(old), gen_of(new))
            }
            MembershipEvent::Lagged { missed } => format!("missed {missed} events"),
            other => format!("{other:?}"),
        };
        format!(
            "{:>7.3}s  {who} {what}",
            s.at.saturating_duration_since(self.start).as_secs_f64()
        )
    }

    /// Records an event line: under the table on a terminal, printed at
    /// once otherwise.
    fn note(&mut self, line: &str) {
        if self.tty {
            self.log.push_back(line.to_owned());
            while self.log.len() > LOG_LINES {
                self.log.pop_front();
            }
        } else {
            println!("{line}");
        }
    }

    fn set_phase(&mut self, phase: &str) {
        self.phase = phase.to_owned();
        self.phase_start = Instant::now();
        if !self.tty {
            println!("{:>7.3}s  == {phase}", self.start.elapsed().as_secs_f64());
        }
    }

    /// Redraws the table in place (terminal only; `force` also prints the
    /// final frame when stdout is not a terminal).
    fn draw(&mut self, force: bool) -> Result<(), hearsay_std::Error> {
        self.last_draw = Some(Instant::now());
        if !self.tty && !force {
            return Ok(());
        }
        let frame = self.frame()?;
        let mut out = String::new();
        if self.tty && self.drawn > 0 {
            // Back to the first line of the previous frame.
            let _ = write!(out, "\x1b[{}F", self.drawn);
        }
        for line in &frame {
            if self.tty {
                out.push_str("\x1b[2K");
            }
            out.push_str(line);
            out.push('\n');
        }
        if self.tty {
            // Clear whatever the previous, longer frame left below.
            out.push_str("\x1b[J");
        }
        let mut stdout = std::io::stdout().lock();
        // A closed stdout only loses the picture; the demo goes on.
        let _ = stdout.write_all(out.as_bytes());
        let _ = stdout.flush();
        self.drawn = frame.len();
        Ok(())
    }

    /// The table and the recent events, one string per line.
    fn frame(&self) -> Result<Vec<String>, hearsay_std::Error> {
        // Wider tables would wrap on an 80-column terminal, and wrapped
        // lines break redrawing in place.
        let compact = self.slots.len() > 7;
        let width = if compact { 3 } else { 9 };
        let mut lines = Vec::new();
        let mut status = format!(
            "{:>7.3}s  {}",
            self.start.elapsed().as_secs_f64(),
            self.phase
        );
        if !self.done {
            let _ = write!(
                status,
                " ({:.1}s)",
                self.phase_start.elapsed().as_secs_f64()
            );
        }
        lines.push(status);
        lines.push(String::new());
        let mut header = format!("  {:<8}", "view of");
        for s in &self.slots {
            if compact {
                let short = s.name.trim_start_matches("node-");
                let _ = write!(header, "{short:>width$}");
            } else {
                let _ = write!(header, " {:<w$}", s.name, w = width - 1);
            }
        }
        header.push_str("  keys");
        lines.push(header);
        for (i, s) in self.slots.iter().enumerate() {
            let mut row = format!("  {:<8}", s.name);
            let Some(node) = &s.node else {
                row.push_str(" (stopped)");
                lines.push(row);
                continue;
            };
            let members = node.members()?;
            for (j, other) in self.slots.iter().enumerate() {
                let m = members.iter().find(|m| m.name == other.name);
                row.push_str(&self.cell(i == j, m, width, compact));
            }
            let keys = members.iter().filter(|m| m.get("http").is_some()).count();
            let _ = write!(row, "  {keys}/{}", self.slots.len());
            lines.push(row);
        }
        lines.push(String::new());
        lines.push(if compact {
            "  ● alive  ○ pending  ✗ dead  ← left  · unknown".to_owned()
        } else {
            "  ● alive  ○ pending  ✗ dead  ← left  · unknown    (number: phi, dead at 8)".to_owned()
        });
        if self.tty {
            lines.push(String::new());
            lines.extend(self.log.iter().cloned());
        }
        Ok(lines)
    }

    /// One cell: this observer's view of one member.
    fn cell(&self, is_self: bool, m: Option<&Member>, width: usize, compact: bool) -> String {
        let (symbol, color) = match m.map(|m| m.status) {
            _ if is_self => ("self", ""),
            None => ("·", ""),
            Some(NodeStatus::Alive) => ("●", "\x1b[32m"),
            Some(NodeStatus::Pending) => ("○", "\x1b[33m"),
            Some(NodeStatus::Dead) => ("✗", "\x1b[31m"),
            Some(NodeStatus::Left) => ("←", "\x1b[34m"),
        };
        let text = if compact {
            let s = if is_self { "-" } else { symbol };
            format!("{s:>width$}")
        } else {
            let phi = match m {
                Some(m) if !is_self && m.status != NodeStatus::Pending => {
                    if m.phi >= 99.5 {
                        " >99".to_owned()
                    } else {
                        format!(" {:4.1}", m.phi)
                    }
                }
                _ => String::new(),
            };
            format!(" {:<w$}", format!("{symbol}{phi}"), w = width - 1)
        };
        if self.tty && !color.is_empty() {
            format!("{color}{text}\x1b[0m")
        } else {
            text
        }
    }

    /// Prints what was measured (in lines that fit 80 columns); whether
    /// every phase completed.
    fn summary(&self) -> bool {
        let m = &self.measured;
        let n = self.settings.nodes;
        let secs = |d: Duration| format!("{:.2} s", d.as_secs_f64());
        let victim = &self.slots[n - 1].name;
        let pad = " ".repeat(15);
        println!();
        println!(
            "Summary: {n} nodes on loopback, gossip every {} ms",
            self.settings.interval().as_millis()
        );
        match m.converged {
            Some(d) => println!(
                "  convergence  all alive everywhere, keys included, {} after start",
                secs(d)
            ),
            None => println!("  convergence  not reached"),
        }
        println!("  detection    {victim} stopped without leaving; declared dead after");
        for chunk in m.detected.chunks(4) {
            let cells: Vec<String> = chunk
                .iter()
                .map(|(name, d)| format!("{name:<7} {:>6}", d.map_or("never".to_owned(), secs)))
                .collect();
            println!("{pad}{}", cells.join("  "));
        }
        let detected: Vec<Duration> = m.detected.iter().filter_map(|(_, d)| *d).collect();
        if let (Some(first), Some(last)) = (detected.iter().min(), detected.iter().max()) {
            let hint = m
                .timeout_hint
                .map(|t| format!(" (node-1's adaptive timeout: {})", secs(t)))
                .unwrap_or_default();
            println!("{pad}first {}, last {}{hint}", secs(*first), secs(*last));
        }
        println!(
            "  restart      {victim} back as generation {}; old one replaced",
            m.new_generation
        );
        let replaced: Vec<Duration> = m.replaced.iter().filter_map(|(_, d)| *d).collect();
        let everywhere = replaced.len() == m.replaced.len();
        match (replaced.iter().min(), replaced.iter().max()) {
            (Some(first), Some(last)) if everywhere => println!(
                "{pad}everywhere after {} (first after {})",
                secs(*last),
                secs(*first)
            ),
            _ => println!(
                "{pad}only by {} of {} peers",
                replaced.len(),
                m.replaced.len()
            ),
        }
        match m.reconverged {
            Some(d) => println!("{pad}all alive everywhere again after {}", secs(d)),
            None => println!("{pad}the cluster did not converge again in time"),
        }
        if let Ok(traffic) = self.traffic() {
            println!("  traffic      {traffic}");
        }
        for note in &m.false_deaths {
            println!("  note         false suspicion: {note}");
        }
        m.converged.is_some()
            && detected.len() == m.detected.len()
            && everywhere
            && m.reconverged.is_some()
    }

    /// Datagrams and bytes sent per node per second, averaged over the
    /// running nodes' lifetimes.
    fn traffic(&self) -> Result<String, hearsay_std::Error> {
        let (mut datagrams, mut bytes, mut nodes) = (0.0, 0.0, 0.0);
        for s in &self.slots {
            if let (Some(node), Some(started)) = (&s.node, s.started) {
                let c = node.counters()?;
                let secs = started.elapsed().as_secs_f64().max(0.001);
                datagrams += c.datagrams_out() as f64 / secs;
                bytes += c.bytes_out() as f64 / secs;
                nodes += 1.0;
            }
        }
        let nodes = f64::max(nodes, 1.0);
        Ok(format!(
            "{:.1} datagrams/s and {:.2} KB/s sent per node",
            datagrams / nodes,
            bytes / nodes / 1000.0
        ))
    }

    /// Stops every node (without leaving: the demo is over).
    fn stop_all(&mut self) {
        for s in &mut self.slots {
            s.events = None;
            if let Some(node) = s.node.take()
                && let Err(e) = node.shutdown()
            {
                eprintln!("{}: {e}", s.name);
            }
        }
    }
}
