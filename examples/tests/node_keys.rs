//! `node --key-file`: two processes with the same key file find each
//! other, a third with another key never joins them, and a key file other
//! users may read is refused before the node starts.
//!
//! Gossip every 100 ms; every wait polls for its condition, with the
//! generous bound of `support::PATIENCE`.
#![cfg(unix)]

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{PATIENCE, Procs, body, event_kind, is_event, node_binary};

const KEY_A: &str = "a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0";
const KEY_B: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

/// Writes a key file with permissions `mode` and returns its path.
fn key_file(name: &str, contents: &str, mode: u32) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, contents).expect("write the key file");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
        .expect("set the key file's mode");
    path
}

/// The fingerprints listed on process `who`'s "keys" line (without its
/// timestamps).
fn key_line(p: &mut Procs, who: usize) -> String {
    let line = p.expect(who, "its keys", |l| event_kind(l) == Some("keys"));
    body(&line).to_owned()
}

#[test]
fn nodes_with_one_key_file_meet_and_a_node_with_another_key_stays_out() {
    let file_a = key_file("node-keys-a", &format!("# cluster key\n{KEY_A}\n"), 0o600);
    let file_b = key_file("node-keys-b", &format!("{KEY_B}\n"), 0o600);
    let (file_a, file_b) = (file_a.to_str().unwrap(), file_b.to_str().unwrap());
    let mut p = Procs::new();
    let common = ["--listen", "127.0.0.1:0", "--interval-ms", "100"];
    let a = p.spawn(&[&["--name", "ka", "--key-file", file_a][..], &common].concat());
    let seed = p.listening_addr(a).to_string();
    let b = p.spawn(
        &[
            &["--name", "kb", "--seed", &seed, "--key-file", file_a][..],
            &["--key-mode", "required"],
            &common,
        ]
        .concat(),
    );
    let c = p.spawn(
        &[
            &["--name", "kc", "--seed", &seed, "--key-file", file_b][..],
            &common,
        ]
        .concat(),
    );

    // Fingerprints, never key bytes.
    let (ka, kb, kc) = (
        key_line(&mut p, a),
        key_line(&mut p, b),
        key_line(&mut p, c),
    );
    assert_eq!(ka, kb, "same key file, same fingerprint");
    assert_ne!(ka, kc);
    assert!(
        ka.contains("(primary)") && ka.ends_with("mode required"),
        "{ka}"
    );

    p.expect(a, "kb joined", |l| is_event(l, "joined", "kb"));
    p.expect(b, "ka joined", |l| is_event(l, "joined", "ka"));
    // kc has been sending its Syns to ka every 100 ms all along; over 30
    // more intervals nobody lets it in.
    let end = Instant::now() + Duration::from_secs(3);
    while Instant::now() < end {
        for who in [a, b, c] {
            let joined: Vec<String> = p
                .printed(who)
                .into_iter()
                .filter(|l| {
                    is_event(l, "joined", "kc") || (who == c && event_kind(l) == Some("joined"))
                })
                .collect();
            assert!(joined.is_empty(), "process {who}: {joined:#?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    for who in [a, b, c] {
        for line in p.printed(who) {
            let lower = line.to_ascii_lowercase();
            assert!(
                !lower.contains(&KEY_A[..16]) && !lower.contains(&KEY_B[..16]),
                "key bytes printed: {line}"
            );
        }
    }
}

#[test]
fn a_world_readable_key_file_is_refused() {
    let path = key_file("node-keys-open", &format!("{KEY_A}\n"), 0o644);
    let mut child = Command::new(node_binary())
        .args(["--name", "open", "--listen", "127.0.0.1:0", "--key-file"])
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the node binary starts");
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(s) = child.try_wait().expect("poll the process") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("node with a world-readable key file kept running");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = child.wait_with_output().expect("read its output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!status.success(), "exit status {status}; stderr: {stderr}");
    assert!(
        stderr.contains("readable by every user") && stderr.contains("chmod 600"),
        "{stderr}"
    );
    assert!(!stdout.contains("listening"), "it must not start: {stdout}");
    assert!(
        !stderr.to_ascii_lowercase().contains(&KEY_A[..16]),
        "{stderr}"
    );
}
