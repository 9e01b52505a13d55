//! hearsay-std across a real pause: `node` processes on loopback, one of
//! them stopped with SIGSTOP and continued with SIGCONT (issue 9, item 2).
//! The resumed node must not report its healthy peers dead (it is the one
//! that was away), must still report a peer that was killed while it was
//! stopped, and must say that it noticed the stall.
//!
//! Gossip every 250 ms with the detector scaled to it (a timeout of about
//! a second), so that ordinary scheduling delays on a loaded two-core
//! machine do not convict anyone; the pause lasts 4 s, well past it. Every
//! wait polls for its condition, with the generous bound of
//! `support::PATIENCE`. A test binary of its own, so that no other cluster
//! runs beside it.

mod support;

use std::time::{Duration, Instant};

use support::{Procs, event_kind, is_event};

/// How long the paused process stays stopped.
const PAUSE: Duration = Duration::from_secs(4);

#[test]
fn a_process_resumed_after_sigstop_reports_no_healthy_peer_dead() {
    let mut p = Procs::new();
    let common = ["--listen", "127.0.0.1:0", "--interval-ms", "250"];
    let first = p.spawn(&[&["--name", "sp0"][..], &common].concat());
    let seed = p.listening_addr(first).to_string();
    let names: Vec<String> = (0..6).map(|i| format!("sp{i}")).collect();
    for name in &names[1..] {
        p.spawn(&[&["--name", name, "--seed", &seed][..], &common].concat());
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
    p.kill(victim);
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
            let kind = event_kind(l);
            (kind == Some("dead") && !l.contains(" sp5#")) || kind == Some("alive")
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "the resumed node convicted healthy peers: {wrong:#?}"
    );
    // It says why: its stall counter went up.
    p.expect(paused, "a stall", |l| event_kind(l) == Some("stalled"));
    // The healthy nodes never suspected one another.
    for who in [0, 1, 2, 4] {
        let suspects: Vec<String> = p
            .printed(who)
            .into_iter()
            .filter(|l| {
                event_kind(l) == Some("dead") && !l.contains(" sp3#") && !l.contains(" sp5#")
            })
            .collect();
        assert!(suspects.is_empty(), "sp{who}: {suspects:#?}");
    }
}
