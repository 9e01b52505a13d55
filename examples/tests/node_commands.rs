//! `node`'s runtime interface, tried as a user would: commands on stdin
//! that set, set with a TTL and delete keys while the node runs (seen by
//! a second `node` process), a bad line answered by an error line, the
//! `members` snapshot as JSON (on demand and with `--members-every`), the
//! node's own lines when it leaves, `--help`, and the warning of a node on
//! loopback whose seed is elsewhere.
//!
//! Gossip every 100 ms; every wait polls for its condition, with the
//! generous bound of `support::PATIENCE`.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;

use serde_json::Value;
use support::{PATIENCE, Procs, event_kind, is_event, node_binary};

const COMMON: [&str; 4] = ["--listen", "127.0.0.1:0", "--interval-ms", "100"];

/// `line` as a JSON object if it is one whose event is `event`.
fn json_event(line: &str, event: &str) -> Option<Value> {
    let v: Value = serde_json::from_str(line).ok()?;
    (v["event"] == event).then_some(v)
}

/// Whether `line` is a JSON event `event` about the member named `name`.
fn json_about(line: &str, event: &str, name: &str) -> bool {
    json_event(line, event).is_some_and(|v| v["member"]["name"] == name)
}

#[test]
fn stdin_commands_set_expire_and_delete_keys_another_process_sees() {
    let mut p = Procs::new();
    let a = p.spawn_piped(&[&["--name", "ca"][..], &COMMON].concat());
    let seed = p.listening_addr(a).to_string();
    let b = p.spawn(&[&["--name", "cb", "--seed", &seed][..], &COMMON].concat());
    p.expect(b, "ca joined", |l| is_event(l, "joined", "ca"));

    p.send(a, "set color deep blue");
    p.expect(a, "ok for the set", |l| {
        event_kind(l) == Some("ok") && l.contains("set color=\"deep blue\"")
    });
    p.expect(b, "ca's color", |l| {
        is_event(l, "key-set", "ca") && l.contains("color=\"deep blue\"")
    });

    // A bad line: an error line, and the node goes on taking commands.
    p.send(a, "frobnicate the cluster");
    p.expect(a, "an error line", |l| {
        event_kind(l) == Some("error") && l.contains("unknown command \"frobnicate\"")
    });

    // A key with a TTL: the owner deletes it when the TTL has passed, and
    // the deletion reaches the other process. (Whether that process saw
    // the key before it expired depends on timing; its deletion it sees.)
    p.send(a, "set-ttl lease 0.3 holder");
    p.expect(a, "ok for the lease", |l| {
        event_kind(l) == Some("ok") && l.contains("lease=\"holder\" for 0.300s")
    });
    p.expect(a, "the lease expired", |l| {
        is_event(l, "key-del", "ca") && l.contains(" lease v")
    });
    p.expect(b, "the lease's deletion", |l| {
        is_event(l, "key-del", "ca") && l.contains(" lease v")
    });

    p.send(a, "delete color");
    p.expect(a, "ok for the delete", |l| {
        event_kind(l) == Some("ok") && l.contains("delete")
    });
    p.expect(b, "color deleted", |l| {
        is_event(l, "key-del", "ca") && l.contains(" color v")
    });
    p.send(a, "get cb color");
    p.expect(a, "the answer to get", |l| {
        event_kind(l) == Some("value") && l.contains("cb color not set")
    });

    // Leaving: the node's own lines say they are about itself.
    p.signal(a, "INT");
    p.expect(a, "its leaving line", |l| {
        event_kind(l) == Some("leaving") && l.contains("(this node) ca#")
    });
    p.expect(b, "ca left", |l| is_event(l, "left", "ca"));
    p.expect(a, "its stopped line", |l| {
        event_kind(l) == Some("stopped") && l.contains("(this node) ca#")
    });
}

#[test]
fn a_members_snapshot_is_one_json_object_with_every_node() {
    let mut p = Procs::new();
    let a = p.spawn_piped(&[&["--name", "ja", "--json"][..], &COMMON].concat());
    let start = p.expect(a, "its start", |l| json_event(l, "start").is_some());
    let seed = json_event(&start, "start").expect("start")["listen"]
        .as_str()
        .expect("listen")
        .to_owned();
    // b prints snapshots by itself; its stdin is /dev/null.
    let b = p.spawn(
        &[
            &[
                "--name",
                "jb",
                "--seed",
                &seed,
                "--json",
                "--set",
                "role=second",
            ][..],
            &["--members-every", "0.2"],
            &COMMON,
        ]
        .concat(),
    );
    // Alive (its heartbeat seen to advance) and its key here.
    p.expect(a, "jb joined", |l| json_about(l, "joined", "jb"));
    p.expect(a, "jb's key", |l| {
        json_about(l, "key-set", "jb") && l.contains("\"role\"")
    });

    p.send(a, "members");
    let line = p.expect(a, "a members snapshot", |l| {
        json_event(l, "members").is_some()
    });
    let v = json_event(&line, "members").expect("members");
    assert_eq!(v["node"], "ja");
    let members = v["members"].as_array().expect("members is an array");
    assert_eq!(members.len(), 2, "{v}");
    let find = |name: &str| {
        members
            .iter()
            .find(|m| m["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {v}"))
    };
    let (ja, jb) = (find("ja"), find("jb"));
    for m in [ja, jb] {
        assert!(m["generation"].is_u64(), "{m}");
        assert!(
            m["addr"]
                .as_str()
                .is_some_and(|a| a.starts_with("127.0.0.1:"))
        );
        assert!(m["heartbeat"].is_u64(), "{m}");
        assert!(m["phi"].is_number(), "{m}");
        assert!(m["status_age_s"].is_number(), "{m}");
        assert!(m["keys"].is_object(), "{m}");
        assert!(m["local"].is_boolean(), "{m}");
    }
    assert_eq!(
        (&ja["local"], &ja["status"]),
        (&Value::from(true), &"alive".into())
    );
    assert!(ja["timeout_s"].is_null() && ja["since_heartbeat_s"].is_null());
    assert_eq!(
        (&jb["local"], &jb["status"]),
        (&Value::from(false), &"alive".into())
    );
    assert!(jb["timeout_s"].is_number() && jb["since_heartbeat_s"].is_number());
    assert_eq!(jb["keys"]["role"], "second");

    // get, and a bad line, answered in JSON.
    p.send(a, "get jb role");
    let value = p.expect(a, "a value", |l| json_event(l, "value").is_some());
    let value = json_event(&value, "value").expect("value");
    assert_eq!(
        (&value["owner"], &value["value"]),
        (&"jb".into(), &"second".into())
    );
    p.send(a, "set onlykey");
    let error = p.expect(a, "an error", |l| json_event(l, "error").is_some());
    let error = json_event(&error, "error").expect("error");
    assert_eq!(error["line"], "set onlykey");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("set KEY VALUE")),
        "{error}"
    );

    // --members-every: b's own snapshots, with a in them.
    p.expect(b, "a snapshot of b's with ja", |l| {
        json_event(l, "members").is_some_and(|v| {
            v["members"]
                .as_array()
                .is_some_and(|ms| ms.iter().any(|m| m["name"] == "ja"))
        })
    });
}

#[test]
fn help_explains_ids_logging_loopback_commands_signals_and_json() {
    let out = Command::new(node_binary())
        .arg("--help")
        .output()
        .expect("node --help runs");
    assert!(out.status.success(), "{out:?}");
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "name#generation@addr",
        "HEARSAY_LOG",
        "127.0.0.1:7946",
        "loopback",
        "set KEY VALUE",
        "set-ttl KEY SECONDS VALUE",
        "delete KEY",
        "get [NODE] KEY",
        "members",
        "SIGINT",
        "SIGTERM",
        "SIGUSR1",
        "--json",
        "--metrics",
        "examples/src/bin/node.rs",
        "--leave-linger-ms",
        "--dead-grace-s",
        "--tombstone-grace-s",
        "--members-every",
    ] {
        assert!(help.contains(needle), "--help lacks {needle:?}:\n{help}");
    }
    // A usage error names the flag and exits with status 2.
    let out = Command::new(node_binary())
        .args(["--name", "x", "--interval-ms", "0"])
        .output()
        .expect("node runs");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--interval-ms"));
}

/// 192.0.2.1 (TEST-NET-1) is not loopback and reaches nobody.
const FAR_SEED: &str = "192.0.2.1:7946";

#[test]
fn a_node_on_loopback_with_a_seed_elsewhere_warns_in_json() {
    let mut p = Procs::new();
    let a = p.spawn(&[&["--name", "lw", "--seed", FAR_SEED, "--json"][..], &COMMON].concat());
    let line = p.expect(a, "a warning", |l| json_event(l, "warning").is_some());
    let w = json_event(&line, "warning").expect("warning");
    assert_eq!(w["reason"], "loopback");
    let message = w["message"].as_str().expect("a message");
    assert!(
        message.contains(FAR_SEED) && message.contains("--listen 0.0.0.0:"),
        "{w}"
    );
}

#[test]
fn a_node_on_loopback_with_a_seed_elsewhere_warns_on_stderr() {
    let mut child = Command::new(node_binary())
        .args([&["--name", "lt", "--seed", FAR_SEED][..], &COMMON].concat())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node starts");
    let stderr = child.stderr.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + PATIENCE;
    let mut seen = Vec::new();
    let found = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) if l.contains("WARN") && l.contains("loopback") => break true,
            Ok(l) => seen.push(l),
            Err(_) => break false,
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(found, "no loopback warning on stderr: {seen:#?}");
}
