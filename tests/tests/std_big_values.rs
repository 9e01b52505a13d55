//! hearsay-std nodes on loopback with a value longer than a datagram
//! (issue 15): a 32 KiB value set on one node reaches the other whole,
//! sealed, and its one key event carries all of it.

use std::time::{Duration, Instant};

use hearsay_std::builder::scaled_detector;
use hearsay_std::{Error, KeyEvent, Node};

const INTERVAL: Duration = Duration::from_millis(100);
const PATIENCE: Duration = Duration::from_secs(20);
const KEY: [u8; 32] = [0x42; 32];

fn builder(name: &str) -> hearsay_std::Builder {
    let mut detector = scaled_detector(INTERVAL);
    detector.acceptable_heartbeat_pause = Duration::from_secs(1);
    detector.min_std_deviation = Duration::from_millis(100);
    Node::builder(name)
        .gossip_interval(INTERVAL)
        .detector(detector)
        .cluster_key(KEY)
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < PATIENCE, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A value of `len` bytes, different at every position.
fn value(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 256) as u8).collect()
}

#[test]
fn a_32_kib_value_round_trips_through_hearsay_std_whole() {
    let a = builder("big-a").start().unwrap();
    let seed = a.local_addr().to_string();
    let b = builder("big-b").seed(&seed).start().unwrap();
    let events = b.subscribe_keys("big").unwrap();
    let big = value(32 * 1024);
    a.set("big", &big).unwrap();
    wait_until("b holds a's value", || {
        b.get_from("big-a", "big").unwrap().is_some()
    });
    assert!(b.get_from("big-a", "big").unwrap() == Some(big.clone()));
    // The one event about the key carries the whole value.
    let mut sets = 0;
    while let Ok(e) = events.try_recv() {
        if let KeyEvent::Set { key, value, .. } = e {
            assert_eq!(key, "big");
            assert!(value == big, "an event carried {} bytes", value.len());
            sets += 1;
        }
    }
    assert_eq!(sets, 1);
    let c = b.counters().unwrap().engine;
    assert_eq!(c.transfers_completed, 1);
    assert!(c.chunks_in >= 24 && c.sealed_in > 0, "{c:?}");
    // Beyond max_value_len (64 KiB by default) a write is refused.
    assert!(matches!(
        a.set("big", vec![0u8; 64 * 1024 + 1]),
        Err(Error::ValueTooLong)
    ));
}
