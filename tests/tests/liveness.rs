//! Failure detection and the membership lifecycle, on a fake clock: joins,
//! crashes, restarts, departures, removal, partitions.

use std::time::Duration;

use hearsay_core::{Config, Instant, NodeStatus};
use hearsay_testkit::{Cluster, Faults};

const SECOND: u64 = 1000;

fn config() -> Config {
    let mut c = Config::new();
    c.dead_grace = Duration::from_secs(60);
    c.leave_linger = Duration::from_secs(2);
    c
}

fn status(c: &Cluster, observer: usize, subject: usize) -> Option<NodeStatus> {
    c.nodes[observer]
        .node(&format!("node-{subject}"))
        .map(|n| n.status())
}

fn rounds(c: &mut Cluster, n: usize) {
    for _ in 0..n {
        c.round(SECOND, Faults::NONE);
    }
}

fn name(i: usize) -> String {
    format!("node-{i}")
}

#[test]
fn a_node_is_live_only_once_its_heartbeat_advances_here() {
    let mut c = Cluster::new(2, &config(), 1);
    // node-1 learns node-0 from node-0's Syn, but has seen no heartbeat move.
    c.start_exchange(0, 1);
    c.deliver_all(Faults::NONE);
    assert_eq!(status(&c, 1, 0), Some(NodeStatus::Pending));
    assert_eq!(c.nodes[1].live_nodes().count(), 0);
    assert!(c.events[1].about("node-0").is_empty());
    // The next round carries a higher heartbeat: live, and "joined" once.
    rounds(&mut c, 2);
    assert_eq!(status(&c, 1, 0), Some(NodeStatus::Alive));
    assert_eq!(status(&c, 0, 1), Some(NodeStatus::Alive));
    assert_eq!(c.events[1].about("node-0"), [("joined", 1)]);
    assert_eq!(c.nodes[0].live_nodes().count(), 1);
}

#[test]
fn a_crashed_node_is_detected_dead_by_everyone_within_the_bound() {
    let mut c = Cluster::new(5, &config(), 2);
    rounds(&mut c, 30);
    for o in 0..5 {
        assert_eq!(c.nodes[o].live_nodes().count(), 4, "node {o} sees everyone");
    }
    let crash_at = c.now;
    c.crash(3);
    rounds(&mut c, 20);
    for o in [0, 1, 2, 4] {
        let dead_at = c.events[o]
            .first("dead", "node-3")
            .unwrap_or_else(|| panic!("node {o} never detected node-3"));
        let after = dead_at.as_millis() - crash_at.as_millis();
        // Regular 1 s heartbeats (this harness ticks whole rounds), 1.25 s
        // acceptable pause, σ ≥ 400 ms: about 4.3 s after the last
        // heartbeat, which is at most a round old.
        assert!(
            (3 * SECOND..=7 * SECOND).contains(&after),
            "node {o} took {after} ms"
        );
        assert_eq!(status(&c, o, 3), Some(NodeStatus::Dead));
        // Everyone else stays alive: no false positive.
        assert!(
            c.events[o]
                .membership
                .iter()
                .all(|m| m.what != "dead" || m.name == "node-3")
        );
        let timeout = c.nodes[o].node("node-0").and_then(|n| n.timeout());
        if o != 0 {
            let t = timeout.expect("node-0 has a history");
            assert!(
                t > Duration::from_secs(2) && t < Duration::from_secs(6),
                "{t:?}"
            );
        }
    }
}

#[test]
fn a_restart_with_a_new_generation_replaces_the_old_at_once() {
    let mut c = Cluster::new(4, &config(), 3);
    rounds(&mut c, 10);
    c.restart(2, 2);
    rounds(&mut c, 3);
    for o in [0, 1, 3] {
        let node = c.nodes[o].node("node-2").expect("known");
        assert_eq!(node.id().generation, 2, "node {o}");
        let about = c.events[o].about("node-2");
        assert!(about.contains(&("replaced", 1)), "node {o}: {about:?}");
        assert!(
            !about.iter().any(|(w, _)| *w == "dead"),
            "node {o}: {about:?}"
        );
    }
    // Long after: generation 1 never comes back, nobody reports it dead.
    rounds(&mut c, 30);
    for o in [0, 1, 3] {
        assert_eq!(
            c.nodes[o].node("node-2").map(|n| n.id().generation),
            Some(2)
        );
        assert_eq!(status(&c, o, 2), Some(NodeStatus::Alive));
        assert!(
            !c.events[o]
                .about("node-2")
                .iter()
                .any(|(w, _)| *w == "dead")
        );
    }
}

#[test]
fn a_leaving_node_is_left_everywhere_and_never_dead() {
    let mut c = Cluster::new(4, &config(), 4);
    rounds(&mut c, 10);
    let now = c.now;
    c.nodes[1].leave(now).expect("leave");
    assert!(c.nodes[1].set("k", b"v").is_err(), "no writes after leave");
    rounds(&mut c, 2);
    for o in [0, 2, 3] {
        assert_eq!(status(&c, o, 1), Some(NodeStatus::Left), "node {o}");
    }
    assert!(c.nodes[1].has_left(c.now));
    // It has gone quiet; the others never call it dead, and remove it after
    // the grace.
    c.crash(1);
    rounds(&mut c, 70);
    for o in [0, 2, 3] {
        let about = c.events[o].about("node-1");
        assert_eq!(
            about.iter().filter(|(w, _)| *w == "left").count(),
            1,
            "{about:?}"
        );
        assert!(
            !about.iter().any(|(w, _)| *w == "dead"),
            "node {o}: {about:?}"
        );
        assert!(about.contains(&("removed", 1)), "node {o}: {about:?}");
        assert!(c.nodes[o].node("node-1").is_none());
    }
}

#[test]
fn removed_nodes_are_not_resurrected_by_a_late_joiner_relaying_stale_state() {
    let mut c = Cluster::new(4, &config(), 5);
    rounds(&mut c, 10);
    // A node that heard of node-3 long ago and then slept through its death.
    let sleeper = c.add_node();
    rounds(&mut c, 5);
    assert!(c.nodes[sleeper].node("node-3").is_some());
    c.crash(sleeper);
    c.crash(3);
    // Dead, hidden at grace/2, removed at grace (60 s).
    rounds(&mut c, 75);
    for o in [0, 1, 2] {
        assert!(
            c.nodes[o].node("node-3").is_none(),
            "node {o} still lists node-3"
        );
        assert!(c.events[o].about("node-3").contains(&("removed", 1)));
    }
    // The sleeper wakes up still holding node-3 and gossips it around.
    c.running[sleeper] = true;
    rounds(&mut c, 20);
    for o in [0, 1, 2] {
        assert!(
            c.nodes[o].node("node-3").is_none(),
            "node {o} resurrected node-3"
        );
        let joined_again = c.events[o]
            .about("node-3")
            .iter()
            .filter(|(w, _)| *w == "joined" || *w == "alive-again")
            .count();
        assert_eq!(joined_again, 1, "only the original join");
    }
    assert!(
        c.nodes[..3]
            .iter()
            .any(|n| n.counters().resurrections_refused > 0)
    );
    // The sleeper never saw node-3 live after waking, so never lists it live;
    // it may keep it as dead until its own grace runs out.
    assert!(
        c.nodes[sleeper]
            .live_nodes()
            .all(|n| n.id().name.as_str() != "node-3")
    );
}

#[test]
fn a_partition_heals_and_nodes_come_back_alive() {
    let mut c = Cluster::new(6, &config(), 6);
    rounds(&mut c, 15);
    for i in 3..6 {
        c.group[i] = 1;
    }
    rounds(&mut c, 15);
    assert_eq!(status(&c, 0, 4), Some(NodeStatus::Dead));
    assert_eq!(status(&c, 4, 0), Some(NodeStatus::Dead));
    for i in 3..6 {
        c.group[i] = 0;
    }
    rounds(&mut c, 10);
    for o in 0..6 {
        assert_eq!(c.nodes[o].live_nodes().count(), 5, "node {o} after heal");
        for s in 0..6 {
            if s == o {
                continue;
            }
            let about = c.events[o].about(&name(s));
            let across = (o < 3) != (s < 3);
            if across {
                assert_eq!(
                    about,
                    [("joined", 1), ("dead", 1), ("alive-again", 1)],
                    "{o} about {s}"
                );
            } else {
                assert_eq!(about, [("joined", 1)], "{o} about {s}");
            }
        }
    }
}

#[test]
fn a_node_never_live_is_never_reported_dead() {
    let mut c = Cluster::new(3, &config(), 7);
    rounds(&mut c, 5);
    // node-3 says hello once and dies before its heartbeat advances again.
    let ghost = c.add_node();
    c.start_exchange(ghost, 0);
    c.deliver_all(Faults::NONE);
    c.crash(ghost);
    rounds(&mut c, 80);
    for o in 0..3 {
        let about = c.events[o].about(&name(ghost));
        assert!(
            !about.iter().any(|(w, _)| *w == "dead" || *w == "joined"),
            "node {o}: {about:?}"
        );
        assert!(
            c.nodes[o].node(&name(ghost)).is_none(),
            "removed after the grace"
        );
    }
}

#[test]
fn phi_is_readable_and_grows_with_silence() {
    let mut c = Cluster::new(2, &config(), 8);
    rounds(&mut c, 20);
    let now = c.now;
    let n = c.nodes[0].node("node-1").expect("known");
    let phi_now = n.phi(now);
    let phi_later = n.phi(Instant::from_millis(now.as_millis() + 5 * SECOND));
    assert!(phi_now < 1.0, "{phi_now}");
    assert!(phi_later > phi_now && phi_later >= 8.0, "{phi_later}");
    assert!(n.last_heartbeat_at().is_some());
}
