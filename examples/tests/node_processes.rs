//! `node` processes on loopback: three of them find each other, share a
//! key, and detect one killed with SIGKILL. Moved here from the `tests`
//! package so that cargo builds the binary (`CARGO_BIN_EXE_node`) instead
//! of the test running `cargo build`.
//!
//! Gossip every 100 ms; every wait polls for its condition, with the
//! generous bound of `support::PATIENCE`.

mod support;

use support::{Procs, event_kind, is_event};

#[test]
fn three_node_processes_find_each_other_and_detect_a_sigkill() {
    let mut p = Procs::new();
    let common = ["--listen", "127.0.0.1:0", "--interval-ms", "100"];
    let a = p.spawn(&[&["--name", "pa", "--set", "role=first"][..], &common].concat());
    let seed = p.listening_addr(a).to_string();
    let b = p.spawn(&[&["--name", "pb", "--seed", &seed][..], &common].concat());
    let c = p.spawn(&[&["--name", "pc", "--seed", &seed][..], &common].concat());

    for (who, others) in [(a, ["pb", "pc"]), (b, ["pa", "pc"]), (c, ["pa", "pb"])] {
        for other in others {
            p.expect(who, &format!("{other} joined"), |l| {
                is_event(l, "joined", other)
            });
        }
    }
    p.expect(b, "pa's key", |l| {
        l.contains("key-set") && l.contains("role=\"first\"")
    });

    // SIGKILL: no chance to leave; the others must detect it.
    p.kill(c);
    for who in [a, b] {
        p.expect(who, "pc dead", |l| is_event(l, "dead", "pc"));
    }
    // The survivors did not suspect each other.
    for who in [a, b] {
        let suspects: Vec<String> = p
            .printed(who)
            .into_iter()
            .filter(|l| event_kind(l) == Some("dead") && !l.contains(" pc#"))
            .collect();
        assert!(suspects.is_empty(), "process {who}: {suspects:#?}");
    }
}
