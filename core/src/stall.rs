//! Local stalls: noticing that this node itself was not running.
//!
//! A process that is paused (SIGSTOP, a VM pause, a suspended laptop, a long
//! stop of the host program) hears nothing while it is stopped. When it
//! resumes, every peer's last heartbeat is as old as the pause, so without
//! care the failure detector convicts every healthy peer at once, and they
//! come back alive a moment later, when the first exchange brings their
//! heartbeats. The silence was ours, not theirs (Cassandra suppresses
//! convictions after a local pause for the same reason; Lifeguard has a
//! node that is itself slow distrust its own suspicions).
//!
//! **What a stall is.** Every engine call that brings the time
//! (`handle_timeout`, `tick`, `sweep`, `handle_datagram`, `set_with_ttl`,
//! `delete`, `leave`) notes it. The engine's own schedule has a gossip
//! round due at most 1.1 intervals after the last ([`crate::deadline`]), so
//! even an idle caller that only wakes at [`crate::Engine::poll_timeout`]
//! brings the time about once per interval; when a call brings a time more
//! than [`STALL_INTERVALS`] gossip intervals after the previous call that
//! brought one, the node was not running in between (or not running its
//! engine, which for failure detection is the same): that is a *local
//! stall*. A round late by up to most of an interval (a loaded, slow, but
//! running machine) is not a stall. Pauses up to two intervals are left to
//! the detector, whose acceptable pause is two intervals at the default and
//! scaled settings. The first call after [`crate::Engine::new`] only starts the
//! watch; a clock that goes back is never a stall.
//!
//! **What a stall does.** It is counted ([`crate::Counters::local_stalls`])
//! and described by [`crate::Engine::last_stall`]. Every live peer whose
//! deadline had not passed when the engine last ran before the stall gets a
//! fair chance to be heard from again: its silence restarts at the call
//! that noticed the stall ([`crate::phi::Detector::restart`]), so it is
//! convicted only if nothing comes from it for its own timeout after that,
//! and the first heartbeat afterwards records no interval (the gap spanned
//! our pause). A peer whose deadline had passed while the engine was still
//! running is convicted by the next sweep as usual. A peer's silence is
//! restarted at most once until it is heard from again, so a crash during
//! the pause is still detected one timeout after the resume, and a machine
//! so slow that every call is late cannot postpone convictions forever.
//!
//! Noting the time is a comparison on every call; the restart walks the
//! node table once per stall.

use core::time::Duration;

use crate::time::{Instant, duration_millis};

/// A call that brings the time more than this many gossip intervals after
/// the previous one reveals a local stall.
pub const STALL_INTERVALS: u32 = 2;

/// One stall of the local node, as the engine noticed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalStall {
    /// The time brought by the call that noticed the stall: when the node
    /// ran again.
    pub noticed_at: Instant,
    /// How long no call brought the time: the stall's length, as far as the
    /// engine can tell.
    pub length: Duration,
    /// Live peers whose failure detection restarted at `noticed_at`.
    pub restarted_peers: u32,
}

/// What the engine remembers to notice stalls.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StallWatch {
    /// The latest time a call brought since [`crate::Engine::new`].
    last_call: Option<Instant>,
    /// The most recent stall.
    latest: Option<LocalStall>,
}

impl StallWatch {
    /// Nothing noted yet.
    pub(crate) const NEW: StallWatch = StallWatch {
        last_call: None,
        latest: None,
    };

    /// Notes the time `now` brought by a call. When it comes more than
    /// `bound` after the latest time noted before, the node was stalled:
    /// returns that time (when the engine last ran) and the gap. The first
    /// call only starts the watch; a time that goes back is never a stall.
    pub(crate) fn note(&mut self, now: Instant, bound: Duration) -> Option<(Instant, Duration)> {
        let Some(prev) = self.last_call else {
            self.last_call = Some(now);
            return None;
        };
        self.last_call = Some(prev.max(now));
        let gap = now.saturating_since(prev);
        (duration_millis(gap) > duration_millis(bound)).then_some((prev, gap))
    }

    /// Remembers `stall` as the most recent one.
    pub(crate) fn record(&mut self, stall: LocalStall) {
        self.latest = Some(stall);
    }

    /// The most recent stall, if any.
    pub(crate) fn latest(&self) -> Option<LocalStall> {
        self.latest
    }
}

/// The longest gap between two calls that bring the time which is not a
/// stall: [`STALL_INTERVALS`] gossip intervals.
pub fn stall_bound(gossip_interval: Duration) -> Duration {
    gossip_interval.saturating_mul(STALL_INTERVALS)
}

#[cfg(test)]
mod tests {
    use core::net::SocketAddr;
    use std::vec::Vec;

    use super::*;
    use crate::config::Config;
    use crate::event::{Event, Observer};
    use crate::nodes::NodeStatus;

    use crate::id::NodeId;
    use crate::testkit::{Recorder, TestEngine, TestRng, build, capacity_w};

    type Small = TestEngine;

    /// Membership events by node name.
    #[derive(Default)]
    struct Log(Vec<(&'static str, std::string::String)>);

    impl Observer for Log {
        fn on_event(&mut self, event: &Event<'_>) {
            let (kind, node) = match event {
                Event::NodeJoined { node } => ("joined", node),
                Event::NodeDead { node } => ("dead", node),
                Event::NodeAliveAgain { node } => ("alive-again", node),
                _ => return,
            };
            self.0.push((kind, node.name.as_str().into()));
        }
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn engine(name: &str, port: u16) -> std::boxed::Box<Small> {
        let config = Config {
            gossip_interval: Duration::from_millis(100),
            // `tick` beats once a round: with one part a round, that is the
            // beat period the detectors' lateness expects of a peer.
            fanout: 1,
            ..Config::new()
        };
        let id = NodeId::new(name, 1, addr(port)).expect("id");
        build(capacity_w::<8, 64, 4096, 32>(), id, config).expect("engine")
    }

    /// Delivers datagrams between `a` and `b` until both are quiet;
    /// `sent` were sent by `a` if `by_a`, else by `b`. Only `a`'s events
    /// are logged.
    fn settle(
        a: &mut Small,
        b: &mut Small,
        by_a: bool,
        sent: Vec<(SocketAddr, Vec<u8>)>,
        now: Instant,
        log: &mut Log,
    ) {
        let mut queue: Vec<(bool, Vec<u8>)> = sent.into_iter().map(|(_, d)| (by_a, d)).collect();
        while let Some((by_a, d)) = queue.pop() {
            let mut out = Recorder::default();
            if by_a {
                b.handle_datagram(addr(1), &mut d.clone(), now, &mut out, &mut Log::default())
            } else {
                a.handle_datagram(addr(2), &mut d.clone(), now, &mut out, log)
            }
            .expect("valid datagram");
            queue.extend(out.sent.into_iter().map(|(_, d)| (!by_a, d)));
        }
    }

    /// `a` and `b` both tick every 100 ms from `from` until `until` (ms),
    /// every datagram delivered at once.
    fn run(a: &mut Small, b: &mut Small, from: u64, until: u64, log: &mut Log) {
        let mut rng = TestRng(7);
        for t in (from..until).step_by(100) {
            let now = Instant(t);
            let mut tx = Recorder::default();
            a.tick(now, &mut rng, &mut tx, log);
            settle(a, b, true, tx.sent, now, log);
            let mut tx = Recorder::default();
            b.tick(now, &mut rng, &mut tx, &mut Log::default());
            settle(a, b, false, tx.sent, now, log);
        }
    }

    /// Two engines that see each other alive at `t` = 3 s (a's view).
    fn pair() -> (std::boxed::Box<Small>, std::boxed::Box<Small>, Log) {
        let mut a = engine("a", 1);
        let mut b = engine("b", 2);
        a.set_seeds(&[addr(2)]);
        let mut log = Log::default();
        run(&mut a, &mut b, 0, 3000, &mut log);
        assert_eq!(
            a.node("b").map(|v| v.status()),
            Some(NodeStatus::Alive),
            "{:?}",
            log.0
        );
        (a, b, log)
    }

    fn status(e: &Small, name: &str) -> Option<NodeStatus> {
        e.node(name).map(|v| v.status())
    }

    #[test]
    fn ordinary_cadences_are_not_stalls() {
        let (mut a, _b, _) = pair();
        let mut log = Log::default();
        // Sweeps at a quarter interval, ticks late by a whole interval (two
        // intervals apart): running, not stalled.
        let mut t = 3000;
        for gap in [25, 25, 100, 200, 200, 150, 200] {
            t += gap;
            a.sweep(Instant(t), &mut log);
        }
        assert_eq!(a.counters().local_stalls, 0);
        assert_eq!(a.last_stall(), None);
        // A clock that went back is not a stall either.
        a.sweep(Instant(1000), &mut log);
        a.sweep(Instant(t + 150), &mut log);
        assert_eq!(a.counters().local_stalls, 0);
    }

    #[test]
    fn a_sweep_after_a_pause_convicts_nobody_and_counts_the_stall() {
        let (mut a, _b, _) = pair();
        let mut log = Log::default();
        // Paused for 30 s; the first call afterwards is a sweep, as in
        // hearsay-std when its sweeper fires before its ticker.
        a.sweep(Instant(33_000), &mut log);
        assert_eq!(status(&a, "b"), Some(NodeStatus::Alive), "{:?}", log.0);
        assert!(log.0.is_empty(), "{:?}", log.0);
        assert_eq!(a.counters().local_stalls, 1);
        let stall = a.last_stall().expect("noticed");
        assert_eq!(stall.noticed_at, Instant(33_000));
        assert!(
            stall.length >= Duration::from_millis(30_000 - 100),
            "{stall:?}"
        );
        assert_eq!(stall.restarted_peers, 1);
        let b = a.node("b").expect("b");
        assert!(b.phi(Instant(33_000)) < 1.0);
        // b's timeout now counts from the resume: b is still convicted if
        // nothing comes (it may have crashed while we were paused).
        let timeout = b.timeout().expect("timeout");
        let due = 33_000 + timeout.as_millis() as u64;
        a.sweep(Instant(due - 50), &mut log);
        assert_eq!(status(&a, "b"), Some(NodeStatus::Alive));
        a.sweep(Instant(due + 1), &mut log);
        assert_eq!(status(&a, "b"), Some(NodeStatus::Dead));
        assert_eq!(log.0, [("dead", "b".into())]);
    }

    #[test]
    fn every_call_that_brings_time_notices_a_stall() {
        type Call = fn(&mut Small, Instant);
        let calls: [(&str, Call); 5] = [
            ("tick", |e, now| {
                e.tick(
                    now,
                    &mut TestRng(1),
                    &mut Recorder::default(),
                    &mut Log::default(),
                )
            }),
            ("sweep", |e, now| e.sweep(now, &mut Log::default())),
            ("set_with_ttl", |e, now| {
                e.set_with_ttl("k", b"v", Duration::from_secs(60), now)
                    .expect("set");
            }),
            ("delete", |e, now| {
                e.delete("nothing", now).expect("delete");
            }),
            ("leave", |e, now| e.leave(now).expect("leave")),
        ];
        for (what, call) in calls {
            let (mut a, _b, _) = pair();
            call(&mut a, Instant(13_000));
            assert_eq!(a.counters().local_stalls, 1, "{what}");
            let mut log = Log::default();
            a.sweep(Instant(13_010), &mut log);
            assert_eq!(status(&a, "b"), Some(NodeStatus::Alive), "{what}");
        }
        // A datagram too: one that is even rejected still brings the time.
        let (mut a, _b, _) = pair();
        let mut log = Log::default();
        let _ = a.handle_datagram(
            addr(9),
            &mut (b"garbage").to_vec(),
            Instant(13_000),
            &mut Recorder::default(),
            &mut log,
        );
        assert_eq!(a.counters().local_stalls, 1);
    }

    #[test]
    fn heartbeats_after_the_pause_keep_peers_alive_and_the_gap_is_not_learned() {
        let (mut a, mut b, _) = pair();
        let slot = a.nodes.find_name("b").expect("b");
        let before_len = a.nodes.detector(slot).map_or(0, |d| d.len());
        // a is paused for 8 s (within max_interval, 10 s, so the gap would
        // be learned); b runs on meanwhile.
        let mut rng = TestRng(3);
        for t in (3000..11_000).step_by(100) {
            b.tick(
                Instant(t),
                &mut rng,
                &mut Recorder::default(),
                &mut Log::default(),
            );
        }
        let mut log = Log::default();
        run(&mut a, &mut b, 11_000, 12_000, &mut log);
        assert!(log.0.is_empty(), "{:?}", log.0);
        assert_eq!(a.counters().local_stalls, 1);
        let d = a.nodes.detector(slot).expect("detector");
        // Heard after the pause (the window, full of the prior and earlier
        // intervals, may not grow).
        assert!(d.len() >= before_len);
        assert!(d.last_heartbeat().is_some_and(|t| t >= Instant(11_000)));
        // 100 ms intervals are stored as 120 ms (40 ms units); one 8 s
        // interval in this 32-interval window would lift the mean over 350.
        let s = d.stats().expect("stats");
        assert!(s.mean_ms < 200.0, "{s:?}");
    }

    #[test]
    fn fresh_heartbeats_after_a_stale_datagram_from_the_pause_are_plausible() {
        let (mut a, mut b, _) = pair();
        // a is paused for 8 s; b runs on, and the first datagram it sends
        // a waits in a's socket meanwhile (the rest overflow and are lost).
        let mut rng = TestRng(3);
        let mut queued = None;
        for t in (3000..11_000).step_by(100) {
            let mut tx = Recorder::default();
            b.tick(Instant(t), &mut rng, &mut tx, &mut Log::default());
            if queued.is_none() {
                queued = tx.sent.into_iter().next();
            }
        }
        let (_, stale) = queued.expect("b gossiped");
        let mut log = Log::default();
        // On resuming, a reads the stale datagram first: b's heartbeat
        // moves a little, then the fresh ones come, 80 beats ahead.
        let mut out = Recorder::default();
        a.handle_datagram(
            addr(2),
            &mut stale.clone(),
            Instant(11_000),
            &mut out,
            &mut log,
        )
        .expect("valid datagram");
        assert_eq!(a.counters().local_stalls, 1);
        run(&mut a, &mut b, 11_000, 12_000, &mut log);
        assert_eq!(a.counters().implausible_heartbeats, 0);
        assert!(log.0.is_empty(), "{:?}", log.0);
        let beat = |e: &Small| e.node("b").map(|v| v.heartbeat());
        assert_eq!(beat(&a), b.local_node().map(|v| v.heartbeat()));
    }

    #[test]
    fn a_peer_overdue_before_the_pause_is_convicted_after_it() {
        let (mut a, _b, _) = pair();
        let mut log = Log::default();
        let slot = a.nodes.find_name("b").expect("b");
        let deadline = a.nodes.get(slot).map(|n| n.deadline).expect("b");
        // The engine kept running (local writes every 200 ms, no sweep)
        // past b's deadline, then paused.
        let mut t = 2900;
        while t <= deadline.as_millis() {
            t += 200;
            a.set_with_ttl("k", b"v", Duration::from_secs(60), Instant(t))
                .expect("set");
        }
        assert_eq!(a.counters().local_stalls, 0);
        a.sweep(Instant(t + 5000), &mut log);
        assert_eq!(a.counters().local_stalls, 1);
        assert_eq!(a.last_stall().map(|s| s.restarted_peers), Some(0));
        assert_eq!(status(&a, "b"), Some(NodeStatus::Dead));
        assert_eq!(log.0, [("dead", "b".into())]);
    }

    #[test]
    fn a_silence_is_restarted_once_until_the_peer_is_heard_from() {
        let (mut a, _b, _) = pair();
        let mut log = Log::default();
        let slot = a.nodes.find_name("b").expect("b");
        a.sweep(Instant(8000), &mut log);
        assert_eq!(a.last_stall().map(|s| s.restarted_peers), Some(1));
        let restarted = a.nodes.get(slot).map(|n| n.deadline).expect("b");
        assert!(restarted > Instant(8000));
        // From now on every call comes 300 ms after the previous one (a
        // machine slower than two intervals): each is a stall, but b, not
        // heard from, is not given more time, and is convicted at the first
        // call past the restarted deadline.
        let mut t = 8000;
        while t <= restarted.as_millis() {
            t += 300;
            a.sweep(Instant(t), &mut log);
        }
        assert!(a.counters().local_stalls >= 3, "{:?}", a.counters());
        assert_eq!(status(&a, "b"), Some(NodeStatus::Dead));
        assert_eq!(log.0, [("dead", "b".into())]);
    }
}
