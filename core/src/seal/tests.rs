//! Sealed datagrams between engines: round trips, foreign keys, tampering,
//! truncation, replay, the key modes, nonces and rotation.

use std::collections::HashSet;
use std::format;
use std::string::{String, ToString};
use std::vec::Vec;

use proptest::prelude::*;

use super::*;
use crate::config::Config;
use crate::engine::LOCAL;
use crate::testkit::{Recorder, TestEngine, TestRng, addr, engine};
use crate::time::Instant;
use crate::wire::{self, MessageKind};

const K1: [u8; 32] = [1; 32];
const K2: [u8; 32] = [2; 32];
const NOW: Instant = Instant::ZERO;

fn node(name: &str, i: u16) -> std::boxed::Box<TestEngine> {
    engine::<8, 64, 8192>(name, i, Config::new())
}

fn keyed(name: &str, i: u16, key: [u8; 32]) -> std::boxed::Box<TestEngine> {
    let mut e = node(name, i);
    e.install_key(ClusterKey::new(key)).expect("install");
    e
}

/// Everything a rejected datagram must leave alone.
fn snapshot(e: &TestEngine) -> String {
    let mut s = String::new();
    for n in e.nodes() {
        s += &format!(
            "{:?} hb={} max={} gc={} {:?};",
            n.id(),
            n.heartbeat(),
            n.max_version(),
            n.last_gc_version(),
            n.status()
        );
        for x in n.all_entries() {
            s += &format!("{}={:?}@{},", x.key, x.value, x.version);
        }
    }
    let slots: Vec<_> = (0..8u16)
        .filter_map(|i| e.nodes.get(i).map(|n| (n.id.clone(), n.replay)))
        .collect();
    s + &format!("{slots:?}")
}

/// `a` opens an exchange with `b` and datagrams go back and forth until
/// none is left; every one must be accepted. Returns every datagram sent.
fn exchange(a: &mut TestEngine, b: &mut TestEngine) -> Vec<Vec<u8>> {
    let (a_addr, b_addr) = (a.id().addr, b.id().addr);
    let mut net = Recorder::default();
    a.start_exchange(b_addr, &mut net).expect("start");
    let mut all = Vec::new();
    while !net.sent.is_empty() {
        let mut next = Recorder::default();
        for (to, bytes) in net.sent.drain(..) {
            all.push(bytes.clone());
            let mut d = bytes;
            if to == b_addr {
                b.handle_datagram(a_addr, &mut d, NOW, &mut next, &mut ())
            } else {
                a.handle_datagram(b_addr, &mut d, NOW, &mut next, &mut ())
            }
            .expect("accepted");
        }
        net = next;
    }
    all
}

/// The Syns `a` seals for `b`, one per call.
fn syns(a: &mut TestEngine, to: &TestEngine, n: usize) -> Vec<Vec<u8>> {
    let mut out = Recorder::default();
    for _ in 0..n {
        a.start_exchange(to.id().addr, &mut out).expect("syn");
    }
    out.sent.into_iter().map(|(_, d)| d).collect()
}

/// Feeds `d` to `rx` from `from` and checks it is refused for `want` and
/// changes nothing but that counter (and the traffic counters).
fn assert_refused(rx: &mut TestEngine, from: u16, d: &[u8], want: DecodeError) {
    let before = snapshot(rx);
    let counters = rx.counters().clone();
    let mut out = Recorder::default();
    let r = rx.handle_datagram(addr(from), &mut d.to_vec(), NOW, &mut out, &mut ());
    assert_eq!(r, Err(want));
    assert!(out.sent.is_empty(), "a refused datagram was answered");
    assert_eq!(snapshot(rx), before, "a refused datagram changed state");
    let after = rx.counters();
    assert_eq!(after.rejected(want), counters.rejected(want) + 1);
    assert_eq!(after.rejected_total(), counters.rejected_total() + 1);
    assert_eq!(after.sealed_in, counters.sealed_in);
    assert_eq!(after.unsealed_in, counters.unsealed_in);
}

#[test]
fn a_sealed_exchange_round_trips_between_two_engines() {
    let mut a = keyed("a", 1, K1);
    let mut b = keyed("b", 2, K1);
    a.set("role", b"leader").unwrap();
    let sent = exchange(&mut a, &mut b);
    assert!(sent.len() >= 2);
    for d in &sent {
        assert_eq!(d[3] & SEALED_FLAG, SEALED_FLAG, "every datagram is sealed");
        assert!(d.len() <= Config::new().mtu);
        assert!(
            !d.windows(6).any(|w| w == b"leader"),
            "the body is encrypted"
        );
    }
    assert_eq!(b.node("a").unwrap().get("role"), Some(&b"leader"[..]));
    assert!(b.counters().sealed_in >= 1 && a.counters().sealed_out >= 1);
    // bytes_out counts what left: sealed datagrams, overhead included.
    let a_bytes: u64 = a.counters().bytes_out;
    assert!(a_bytes >= a.counters().sealed_out * SEAL_OVERHEAD as u64);
}

#[test]
fn clusters_with_different_keys_never_accept_each_others_datagrams() {
    let mut a = keyed("a", 1, K1);
    let mut b = keyed("b", 2, K2);
    a.set("x", b"1").unwrap();
    for d in syns(&mut a, &b, 3) {
        assert_refused(&mut b, 1, &d, DecodeError::UnknownKey);
    }
    for d in syns(&mut b, &a, 3) {
        assert_refused(&mut a, 2, &d, DecodeError::UnknownKey);
    }
    assert_eq!(b.node_count(), 1);
    assert_eq!(a.node_count(), 1);
}

#[test]
fn a_tampered_datagram_is_refused_whatever_byte_changed() {
    let mut a = keyed("a", 1, K1);
    let mut b = keyed("b", 2, K1);
    a.set("x", b"1").unwrap();
    let d = syns(&mut a, &b, 1).remove(0);
    let len = d.len();
    // Header (the kind stays a valid kind: Syn -> SynAck), key id, nonce,
    // body and tag: every one is authenticated.
    let mut kind = d.clone();
    kind[3] ^= 0x03;
    assert_eq!(kind[3] & 0x7f, MessageKind::SynAck as u8);
    assert_refused(&mut b, 1, &kind, DecodeError::UnknownKey);
    for at in [8, 9, 12, 20, 21, 22, len / 2, len - 17, len - 16, len - 1] {
        let mut t = d.clone();
        t[at] ^= 0x40;
        assert_refused(&mut b, 1, &t, DecodeError::UnknownKey);
    }
    // The untampered one is still good afterwards.
    let mut out = Recorder::default();
    b.handle_datagram(addr(1), &mut d.clone(), NOW, &mut out, &mut ())
        .expect("the original is accepted");
}

#[test]
fn a_truncated_sealed_datagram_is_refused() {
    let mut a = keyed("a", 1, K1);
    let mut b = keyed("b", 2, K1);
    let d = syns(&mut a, &b, 1).remove(0);
    for len in [8, 9, 21, 36] {
        assert_refused(&mut b, 1, &d[..len], DecodeError::SealedTruncated);
    }
    for len in [37, d.len() - 1] {
        assert_refused(&mut b, 1, &d[..len], DecodeError::UnknownKey);
    }
}

#[test]
fn a_replayed_datagram_is_refused_and_reordering_within_the_window_is_not() {
    let mut a = keyed("a", 1, K1);
    let mut b = keyed("b", 2, K1);
    let d = syns(&mut a, &b, 80);
    let deliver = |b: &mut TestEngine, d: &[u8]| {
        let mut out = Recorder::default();
        b.handle_datagram(addr(1), &mut d.to_vec(), NOW, &mut out, &mut ())
    };
    deliver(&mut b, &d[5]).expect("first");
    // Exact replay.
    assert_refused(&mut b, 1, &d[5], DecodeError::Replayed);
    // Earlier ones arriving late, inside the window: accepted once.
    deliver(&mut b, &d[0]).expect("reordered");
    deliver(&mut b, &d[3]).expect("reordered");
    assert_refused(&mut b, 1, &d[0], DecodeError::Replayed);
    assert_refused(&mut b, 1, &d[3], DecodeError::Replayed);
    // Far ahead: what lies 64 or more behind is refused unseen.
    deliver(&mut b, &d[75]).expect("ahead");
    assert_refused(&mut b, 1, &d[6], DecodeError::Replayed);
    assert_refused(&mut b, 1, &d[11], DecodeError::Replayed);
    deliver(&mut b, &d[12]).expect("63 behind, unseen");
    assert_refused(&mut b, 1, &d[75], DecodeError::Replayed);
    assert_eq!(b.counters().rejected(DecodeError::Replayed), 6);
}

#[test]
fn a_new_generation_of_the_sender_gets_a_new_window() {
    let mut a = keyed("a", 1, K1);
    let mut b = keyed("b", 2, K1);
    let old = syns(&mut a, &b, 2);
    let mut out = Recorder::default();
    b.handle_datagram(addr(1), &mut old[1].clone(), NOW, &mut out, &mut ())
        .expect("old generation");
    // The node restarts at generation 2: its sequences start anywhere.
    let id = crate::id::NodeId::new("a", 2, addr(1)).unwrap();
    let cap = crate::testkit::capacity::<8, 64, 8192>();
    let mut a2 = crate::testkit::build(cap, id, Config::new()).unwrap();
    a2.install_key(ClusterKey::new(K1)).unwrap();
    for d in syns(&mut a2, &b, 3) {
        b.handle_datagram(addr(1), &mut d.clone(), NOW, &mut out, &mut ())
            .expect("new generation");
    }
    // The old generation's datagrams are refused now.
    assert_refused(&mut b, 1, &old[0], DecodeError::Replayed);
}

#[test]
fn unsealed_to_a_keyed_node_and_sealed_to_an_unkeyed_node_are_refused() {
    let mut plain = node("p", 1);
    let mut keyed_b = keyed("b", 2, K1);
    let d = syns(&mut plain, &keyed_b, 1).remove(0);
    assert_eq!(d[3] & SEALED_FLAG, 0);
    assert_refused(&mut keyed_b, 1, &d, DecodeError::UnsealedRefused);
    let s = syns(&mut keyed_b, &plain, 1).remove(0);
    assert_refused(&mut plain, 2, &s, DecodeError::SealedRefused);
    assert!(
        DecodeError::SealedRefused
            .to_string()
            .contains("install the cluster key")
    );
}

#[test]
fn listen_and_transitional_modes_accept_both_and_count_unsealed() {
    let mut plain = node("p", 1);
    let mut l = keyed("l", 2, K1);
    l.set_key_mode(KeyMode::Listen);
    let mut t = keyed("t", 3, K1);
    t.set_key_mode(KeyMode::Transitional);
    // Listen sends unsealed, so an unkeyed node understands it.
    assert!(
        exchange(&mut l, &mut plain)
            .iter()
            .all(|d| d[3] & SEALED_FLAG == 0)
    );
    assert!(l.counters().unsealed_in >= 1);
    // Transitional sends sealed and accepts unsealed; Listen accepts sealed.
    assert!(syns(&mut t, &l, 2).iter().all(|d| d[3] & SEALED_FLAG != 0));
    exchange(&mut t, &mut l);
    exchange(&mut l, &mut t);
    assert!(l.counters().sealed_in >= 1 && t.counters().unsealed_in >= 1);
    let before = t.counters().unsealed_in;
    exchange(&mut plain, &mut l);
    let d = syns(&mut plain, &t, 1).remove(0);
    let mut out = Recorder::default();
    t.handle_datagram(addr(1), &mut d.clone(), NOW, &mut out, &mut ())
        .expect("transitional accepts unsealed");
    assert_eq!(t.counters().unsealed_in, before + 1);
    assert!(out.sent.iter().all(|(_, d)| d[3] & SEALED_FLAG != 0));
    // Required refuses it.
    t.set_key_mode(KeyMode::Required);
    assert_refused(&mut t, 1, &d, DecodeError::UnsealedRefused);
}

fn nonce_of(d: &[u8]) -> [u8; 12] {
    d[9..21].try_into().unwrap()
}

#[test]
fn nonces_never_repeat_over_many_datagrams_and_between_engines_with_equal_ids() {
    let b = keyed("b", 2, K1);
    let mut seen = HashSet::new();
    let mut sealed = 0;
    for _ in 0..2 {
        // Two engines with the very same id and key (a restart with a fixed
        // generation, or two processes started alike).
        let mut a = keyed("a", 1, K1);
        for d in syns(&mut a, &b, 2000) {
            assert!(seen.insert(nonce_of(&d)), "nonce repeated");
            sealed += 1;
        }
    }
    // A Syn to an address of unknown version goes in two versions.
    assert!(sealed >= 4000, "{sealed}");
    assert_eq!(seen.len(), sealed);
}

#[test]
fn engines_built_from_the_same_rng_state_would_collide_so_salt_comes_from_it() {
    // The nonce start comes from the rng given to `Engine::new`: equal
    // rngs, equal nonces — the caller's rng must differ per engine, which
    // is what the docs ask. (Proves the rng is what the nonce depends on.)
    let build = |seed| {
        let buffers =
            crate::capacity::Buffers::allocate(crate::testkit::capacity::<8, 64, 8192>()).unwrap();
        let id = crate::id::NodeId::new("a", 1, addr(1)).unwrap();
        let mut e = Engine::new(buffers, id, Config::new(), &mut TestRng(seed)).unwrap();
        e.install_key(ClusterKey::new(K1)).unwrap();
        e
    };
    let b = keyed("b", 2, K1);
    let (mut x, mut y, mut z) = (build(1), build(1), build(2));
    let nx = nonce_of(&syns(&mut x, &b, 1)[0]);
    assert_eq!(nx, nonce_of(&syns(&mut y, &b, 1)[0]));
    assert_ne!(nx, nonce_of(&syns(&mut z, &b, 1)[0]));
}

#[test]
fn rotation_install_use_remove_between_two_engines_loses_nothing() {
    let mut a = keyed("a", 1, K1);
    let mut b = keyed("b", 2, K1);
    let k1 = ClusterKey::new(K1).fingerprint();
    a.set("v", b"0").unwrap();
    exchange(&mut a, &mut b);
    // Install everywhere, use on one side: the other still opens it.
    let k2 = a.install_key(ClusterKey::new(K2)).unwrap();
    assert_eq!(b.install_key(ClusterKey::new(K2)).unwrap(), k2);
    a.use_key(k2).unwrap();
    a.set("v", b"1").unwrap();
    let old = syns(&mut b, &a, 1).remove(0);
    exchange(&mut a, &mut b);
    assert_eq!(b.node("a").unwrap().get("v"), Some(&b"1"[..]));
    b.use_key(k2).unwrap();
    a.set("v", b"2").unwrap();
    exchange(&mut b, &mut a);
    exchange(&mut a, &mut b);
    assert_eq!(b.node("a").unwrap().get("v"), Some(&b"2"[..]));
    // Remove the old key everywhere: its datagrams are refused.
    a.remove_key(k1).unwrap();
    b.remove_key(k1).unwrap();
    assert_eq!(a.keys().collect::<Vec<_>>(), [k2]);
    a.set("v", b"3").unwrap();
    exchange(&mut a, &mut b);
    assert_eq!(b.node("a").unwrap().get("v"), Some(&b"3"[..]));
    assert_refused(&mut a, 2, &old, DecodeError::UnknownKey);
    assert_eq!(a.counters().rejected_total(), 1);
    assert_eq!(b.counters().rejected_total(), 0);
}

#[test]
fn the_keyring_refuses_what_it_cannot_do_and_never_shows_key_bytes() {
    let mut e = node("a", 1);
    assert_eq!(e.primary_key(), None);
    let fps: Vec<_> = (1..=4u8)
        .map(|i| e.install_key(ClusterKey::new([i; 32])).unwrap())
        .collect();
    assert_eq!(e.primary_key(), Some(fps[0]), "the first key is primary");
    assert_eq!(e.install_key(ClusterKey::new([9; 32])), Err(KeyError::Full));
    assert_eq!(e.install_key(ClusterKey::new([2; 32])), Ok(fps[1]));
    assert_eq!(e.remove_key(fps[0]), Err(KeyError::Primary));
    assert_eq!(e.use_key(KeyFingerprint(0)), Err(KeyError::Unknown));
    assert_eq!(e.remove_key(KeyFingerprint(0)), Err(KeyError::Unknown));
    e.use_key(fps[3]).unwrap();
    e.remove_key(fps[0]).unwrap();
    let mut listed: Vec<_> = e.keys().collect();
    listed.sort();
    let mut want = fps[1..].to_vec();
    want.sort();
    assert_eq!(listed, want);
    let shown = format!("{:?}", ClusterKey::new([0xab; 32]));
    assert!(shown.starts_with("ClusterKey(") && !shown.contains("ab, ab"));
    assert!(!shown.to_lowercase().contains("abab"));
    let fps_distinct: HashSet<_> = fps.iter().collect();
    assert_eq!(fps_distinct.len(), 4);
    e.clear_keys();
    assert_eq!(e.keys().count(), 0);
    assert_eq!(e.primary_key(), None);
}

#[test]
fn turning_keys_on_never_strands_an_entry_accepted_without_keys() {
    // The worst case of one entry in a datagram: longest ids, a full
    // update head, the entry, and the seal. An entry `set` accepts (keys
    // off) must fit that in the mtu, so it can still be sent sealed.
    let mtu = Config::new().mtu;
    let worst = |key: usize, value: usize| {
        SEAL_OVERHEAD
            + wire::HEADER_LEN
            + wire::MAX_NODE_ID_LEN
            + 3 * wire::SEQ_COUNT_RESERVE
            + wire::TOKENS_LEN
            + 1
            + wire::MAX_NODE_ID_LEN
            + 10
            + wire::PIECE_HEAD_MAX
            + wire::entry_len(u64::MAX, key, value)
    };
    let mut e = node("a", 1);
    let key = "k".repeat(40);
    // The largest that goes whole (a longer one goes in chunks, module
    // `chunk`, cut to whatever room the sealed datagram leaves).
    let largest = (0..mtu)
        .rev()
        .find(|&v| {
            wire::entry_always_fits(mtu, key.len(), v) && e.set(&key, &std::vec![7; v]).is_ok()
        })
        .expect("some value fits");
    assert!(worst(key.len(), largest) <= mtu);
    // And it is sent, sealed, once keys are on.
    let mut b = keyed("b", 2, K1);
    e.install_key(ClusterKey::new(K1)).unwrap();
    // Peers that hold each other's address token: a reply's full budget.
    crate::testkit::acquaint(&mut e, &mut b);
    exchange(&mut e, &mut b);
    assert_eq!(
        b.node("a").unwrap().get(&key).map(<[u8]>::len),
        Some(largest)
    );
}

#[test]
fn the_local_slot_has_no_window_and_sealing_is_off_without_keys() {
    let mut e = node("a", 1);
    let b = node("b", 2);
    assert_eq!(
        e.nodes.get(LOCAL).map(|n| n.replay),
        Some(ReplayWindow::EMPTY)
    );
    let d = syns(&mut e, &b, 1).remove(0);
    assert_eq!(d[3] & SEALED_FLAG, 0);
    assert_eq!(e.counters().sealed_out, 0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary bytes, with or without a sealed-looking header, never make
    /// a keyed engine panic, and are never accepted unless they open.
    #[test]
    fn opening_arbitrary_bytes_never_panics(
        body in proptest::collection::vec(any::<u8>(), 0..200),
        kind in any::<u8>(),
        mode in 0..3u8,
    ) {
        let mut b = keyed("b", 2, K1);
        b.set_key_mode([KeyMode::Listen, KeyMode::Transitional, KeyMode::Required][usize::from(mode)]);
        let mut d = std::vec![b'H', b'S', wire::PROTOCOL_VERSION, kind];
        d.extend_from_slice(&Config::new().cluster_id.fingerprint().to_le_bytes());
        d.extend_from_slice(&body);
        let before = snapshot(&b);
        let mut out = Recorder::default();
        let r = b.handle_datagram(addr(1), &mut d, NOW, &mut out, &mut ());
        if kind & SEALED_FLAG != 0 {
            prop_assert!(r.is_err());
            prop_assert_eq!(snapshot(&b), before);
        }
        let mut raw = body.clone();
        let _ = b.handle_datagram(addr(1), &mut raw, NOW, &mut out, &mut ());
    }

    /// Any single-byte change to a real sealed datagram is refused.
    #[test]
    fn any_changed_byte_of_a_sealed_datagram_is_refused(at in any::<prop::sample::Index>(), x in 1..=255u8) {
        let mut a = keyed("a", 1, K1);
        let mut b = keyed("b", 2, K1);
        a.set("x", b"1").unwrap();
        let mut d = syns(&mut a, &b, 1).remove(0);
        let i = at.index(d.len());
        d[i] ^= x;
        let before = snapshot(&b);
        let mut out = Recorder::default();
        prop_assert!(b.handle_datagram(addr(1), &mut d, NOW, &mut out, &mut ()).is_err());
        prop_assert_eq!(snapshot(&b), before);
    }
}
