//! hearsay-std nodes on loopback with a value longer than a datagram
//! (issue 15): a 32 KiB value set on one node reaches the other whole,
//! sealed, and its one key event carries all of it.

use hearsay_std::{Error, KeyEvent};

mod support;
use support::wait_until;

const KEY: [u8; 32] = [0x42; 32];

fn builder(name: &str) -> hearsay_std::Builder {
    support::builder(name).cluster_key(KEY)
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
