//! Tests of the amplification bound, the address tokens and the version
//! each side speaks.

use core::net::SocketAddr;
use std::boxed::Box;
use std::format;
use std::vec::Vec;

use super::*;
use crate::capacity::Capacity;
use crate::config::Config;
use crate::event::Event;
use crate::id::NodeId;
use crate::nodes::NodeStatus;
use crate::testkit::{Recorder, TestEngine, TestRng, build, capacity};
use crate::wire::{self, Encoder, MessageKind, PROTOCOL_VERSION};

/// Room for 200 members and a namespace of 100 keys.
const CAPACITY: Capacity = capacity::<256, 512, { 64 * 1024 }>();

fn id(name: &str, generation: u64, addr: &str) -> NodeId {
    NodeId::new(name, generation, addr.parse().expect("addr")).expect("id")
}

fn engine_with(id: NodeId, config: Config) -> Box<TestEngine> {
    build(CAPACITY, id, config).expect("engine")
}

fn round(e: &mut TestEngine, now: Instant) -> Vec<(SocketAddr, Vec<u8>)> {
    let mut tx = Recorder::default();
    e.tick(now, &mut TestRng(7), &mut tx, &mut ());
    tx.sent
}

/// A responder holding 200 alive members and 100 keys of its own (about
/// 11 KB), its token secret drawn.
fn big_responder() -> Box<TestEngine> {
    let mut r = engine_with(id("r", 1, "10.0.0.9:7009"), Config::new());
    for i in 0..100 {
        r.set(&format!("key-{i:03}"), &[b'v'; 100]).expect("set");
    }
    let now = Instant::from_millis(0);
    for i in 0..200u32 {
        let [_, _, hi, lo] = (i + 1).to_be_bytes();
        let n = id(&format!("m{i}"), 1, &format!("10.1.{hi}.{lo}:7000"));
        let slot = r.learn(n, Some(5), now, &mut ()).expect("room");
        if let Some(s) = r.nodes.get_mut(slot) {
            s.status = NodeStatus::Alive;
        }
    }
    round(&mut r, now);
    assert!(r.token_secret.is_some());
    r
}

/// A Syn from `sender` of `version`, with one digest line about a node
/// nobody has (so every node of the responder is introduced), and
/// `tokens` from version 4 on.
fn syn(sender: &NodeId, version: u8, tokens: Tokens) -> Vec<u8> {
    let mut buf = std::vec![0u8; 1400];
    let mut enc = Encoder::new(&mut buf, 1400);
    let cluster = Config::new().cluster_id.fingerprint();
    let mark = enc
        .syn_head(
            version,
            cluster,
            sender,
            1,
            (0, u64::MAX),
            (&tokens, 0, 0),
            &[],
        )
        .expect("room");
    let run = (version >= wire::BLOCKS_VERSION).then(|| enc.lines_run().expect("room"));
    enc.digest_line(sender.ring_hash(), false, 1, 0, 0)
        .expect("room");
    if let Some(run) = run {
        enc.end_seq(run, 1);
    }
    enc.end_seq(mark, 1);
    let len = enc.pos();
    buf.truncate(len);
    buf
}

/// Bytes of every reply `r` sends to `datagram` from `from`, at `now`.
fn reply_bytes(r: &mut TestEngine, from: SocketAddr, datagram: &[u8], now: Instant) -> usize {
    let mut tx = Recorder::default();
    let mut datagram = datagram.to_vec();
    let result = r.handle_datagram(from, &mut datagram, now, &mut tx, &mut ());
    assert_eq!(result, Ok(()));
    tx.sent
        .iter()
        .map(|(to, d)| {
            assert_eq!(*to, from);
            d.len()
        })
        .sum()
}

/// The attacker's Syn claims the name "spoof" at the victim's address.
fn spoofer() -> NodeId {
    id("spoof", 1, "192.0.2.1:9000")
}

#[test]
fn a_spoofed_46_byte_syn_draws_at_most_three_times_its_size() {
    let mut r = big_responder();
    let victim = spoofer().addr;
    let now = Instant::from_millis(1000);
    for version in [wire::MIN_PROTOCOL_VERSION, PROTOCOL_VERSION] {
        let d = syn(&spoofer(), version, Tokens::default());
        if version == wire::MIN_PROTOCOL_VERSION {
            // The datagram of the issue: a one-line Syn of 46 bytes.
            assert_eq!(d.len(), 46);
        }
        let sent = reply_bytes(&mut r, victim, &d, now);
        assert!(
            sent <= AMPLIFICATION_FACTOR * d.len(),
            "v{version}: {sent} bytes in reply to {}",
            d.len()
        );
        assert!(sent > 0, "the reply is bounded, not suppressed");
    }
    assert_eq!(r.counters().replies_bounded, 2, "both replies were cut");
}

#[test]
fn a_peer_that_echoes_our_token_gets_the_full_budget() {
    let mut r = big_responder();
    let now = Instant::from_millis(1000);
    let peer = spoofer();
    let tokens = Tokens {
        token: [1; 8],
        echo: r.token_for(peer.addr),
    };
    let d = syn(&peer, PROTOCOL_VERSION, tokens);
    let sent = reply_bytes(&mut r, peer.addr, &d, now);
    // 200 introductions and 11 KB of keys: far beyond 3 × 62 bytes.
    assert!(sent > 10_000, "{sent} bytes");
}

#[test]
fn an_echo_for_another_address_or_an_expired_bucket_does_not_validate() {
    let mut r = big_responder();
    let peer = spoofer();
    let other: SocketAddr = "192.0.2.2:9".parse().expect("addr");
    let t0 = Instant::from_millis(1000);
    // Another address's token.
    r.note_time(t0);
    let foreign = Tokens {
        token: [0; 8],
        echo: r.token_for(other),
    };
    let d = syn(&peer, PROTOCOL_VERSION, foreign);
    assert!(reply_bytes(&mut r, peer.addr, &d, t0) <= 3 * d.len());
    // Our token for the peer, one bucket later: still valid.
    let own = Tokens {
        token: [0; 8],
        echo: r.token_for(peer.addr),
    };
    let d = syn(&peer, PROTOCOL_VERSION, own);
    let t1 = Instant::from_millis(1000 + TOKEN_BUCKET_MS);
    assert!(reply_bytes(&mut r, peer.addr, &d, t1) > 3 * d.len());
    // Two buckets later: expired.
    let t2 = Instant::from_millis(1000 + 2 * TOKEN_BUCKET_MS);
    r.note_time(t2);
    assert!(!r.token_valid(peer.addr, &own.echo));
    // (A datagram then would also be a stall; the check above is direct.)
}

#[test]
fn tokens_differ_per_address_port_and_bucket_and_need_the_secret() {
    let secret = [0x0123_4567_89ab_cdef, 0x0fed_cba9_8765_4321];
    let a: SocketAddr = "10.0.0.1:7000".parse().expect("addr");
    let b: SocketAddr = "10.0.0.2:7000".parse().expect("addr");
    let a2: SocketAddr = "10.0.0.1:7001".parse().expect("addr");
    let a6: SocketAddr = "[::ffff:10.0.0.1]:7000".parse().expect("addr");
    let t = mint(secret, a, 5);
    for other in [
        mint(secret, b, 5),
        mint(secret, a2, 5),
        mint(secret, a6, 5),
        mint(secret, a, 6),
        mint([secret[0], secret[1] ^ 1], a, 5),
    ] {
        assert_ne!(t, other);
    }
    assert_eq!(t, mint(secret, a, 5));
    // Before the secret is drawn nothing validates, zeros included.
    let e = engine_with(id("e", 1, "10.0.0.5:7005"), Config::new());
    assert!(e.token_secret.is_none());
    assert_eq!(e.token_for(a), [0; 8]);
    assert!(!e.token_valid(a, &[0; 8]));
}

/// A SynAck from `sender` of `version` asking for `hash` from version 0.
fn synack_requesting(sender: &NodeId, version: u8, hash: u64, tokens: Tokens) -> Vec<u8> {
    let mut buf = std::vec![0u8; 1400];
    let mut enc = Encoder::new(&mut buf, 1400);
    let cluster = Config::new().cluster_id.fingerprint();
    let mark = enc
        .reply_head(
            MessageKind::SynAck,
            version,
            cluster,
            sender,
            Some((1, &tokens, 0)),
            &[],
        )
        .expect("room");
    enc.request(hash, true, 0, 0).expect("room");
    enc.end_seq(mark, 1);
    let ups = enc.begin_seq().expect("room");
    enc.end_seq(ups, 0);
    let len = enc.pos();
    buf.truncate(len);
    buf
}

#[test]
fn a_spoofed_synack_requesting_everything_draws_at_most_three_times_its_size() {
    let mut r = big_responder();
    let now = Instant::from_millis(1000);
    let own = r.id().ring_hash();
    for version in [wire::MIN_PROTOCOL_VERSION, PROTOCOL_VERSION] {
        let d = synack_requesting(&spoofer(), version, own, Tokens::default());
        let sent = reply_bytes(&mut r, spoofer().addr, &d, now);
        assert!(
            sent <= 3 * d.len(),
            "v{version}: {sent} bytes to {}",
            d.len()
        );
    }
    // The same request echoing our token is answered in full.
    let tokens = Tokens {
        token: [0; 8],
        echo: r.token_for(spoofer().addr),
    };
    let d = synack_requesting(&spoofer(), PROTOCOL_VERSION, own, tokens);
    let sent = reply_bytes(&mut r, spoofer().addr, &d, now);
    assert!(sent > 10_000, "{sent} bytes");
}

/// Delivers every datagram in `queue` to whichever of `a`, `b` it is for,
/// until nothing is left; returns every datagram sent, with its sender.
fn run(
    a: &mut TestEngine,
    b: &mut TestEngine,
    mut queue: Vec<(SocketAddr, Vec<u8>)>,
    now: Instant,
) -> Vec<(SocketAddr, SocketAddr, Vec<u8>)> {
    let mut all = Vec::new();
    while !queue.is_empty() {
        let mut next = Vec::new();
        for (to, d) in queue {
            let (rx, from) = if to == a.id().addr {
                (&mut *a, b.id().addr)
            } else {
                (&mut *b, a.id().addr)
            };
            all.push((from, to, d.clone()));
            let mut tx = Recorder::default();
            let mut d = d;
            let _ = rx.handle_datagram(from, &mut d, now, &mut tx, &mut |_: &Event<'_>| {});
            next.extend(tx.sent);
        }
        queue = next;
    }
    all
}

fn start(e: &mut TestEngine, to: SocketAddr) -> Vec<(SocketAddr, Vec<u8>)> {
    let mut tx = Recorder::default();
    e.start_exchange(to, &mut tx).expect("start");
    tx.sent
}

fn versions(sent: &[(SocketAddr, SocketAddr, Vec<u8>)], kind: MessageKind) -> Vec<u8> {
    sent.iter()
        .filter(|(_, _, d)| d[3] == kind as u8)
        .map(|(_, _, d)| d[2])
        .collect()
}

#[test]
fn two_new_nodes_move_to_the_new_version_and_validate_each_other() {
    let now = Instant::from_millis(0);
    let mut a = engine_with(id("a", 1, "10.0.0.1:7001"), Config::new());
    let mut b = engine_with(id("b", 1, "10.0.0.2:7002"), Config::new());
    for i in 0..40 {
        b.set(&format!("k{i}"), &[b'x'; 100]).expect("set");
    }
    round(&mut a, now);
    round(&mut b, now);
    // First contact: b is only an address (a seed) to a, so the Syn goes
    // in both versions.
    let first = start(&mut a, b.id().addr);
    assert_eq!(
        first.iter().map(|(_, d)| d[2]).collect::<Vec<_>>(),
        [PROTOCOL_VERSION, wire::MIN_PROTOCOL_VERSION]
    );
    let sent = run(&mut a, &mut b, first, now);
    // b answered each Syn in its own version.
    let mut v = versions(&sent, MessageKind::SynAck);
    v.dedup();
    assert_eq!(v, [PROTOCOL_VERSION, wire::MIN_PROTOCOL_VERSION]);
    let slot = a.nodes.find_name("b").expect("a learned b");
    assert_eq!(a.nodes.get(slot).map(|n| n.version), Some(PROTOCOL_VERSION));
    assert_ne!(a.nodes.get(slot).map(|n| n.token), Some([0; 8]));
    // Not all of b's 4 KB fitted the bounded first replies ...
    assert!(a.node("b").map_or(0, |n| n.entries().count()) < 40);
    // ... the next exchange, one Syn in version 4 echoing b's token, gets
    // b's full budget.
    let second = start(&mut a, b.id().addr);
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].1[2], PROTOCOL_VERSION);
    run(&mut a, &mut b, second, now);
    assert_eq!(a.node("b").map(|n| n.entries().count()), Some(40));
}

#[test]
fn a_new_node_speaks_the_old_version_to_an_old_node() {
    let now = Instant::from_millis(0);
    let old = Config {
        protocol_version: wire::MIN_PROTOCOL_VERSION,
        ..Config::new()
    };
    let mut a = engine_with(id("a", 1, "10.0.0.1:7001"), Config::new());
    let mut b = engine_with(id("b", 1, "10.0.0.2:7002"), old);
    round(&mut a, now);
    round(&mut b, now);
    let q = start(&mut a, b.id().addr);
    let sent = run(&mut a, &mut b, q, now);
    // The old node refused the new Syn and answered the old one.
    assert_eq!(
        b.counters()
            .rejected(crate::DecodeError::UnsupportedVersion),
        1
    );
    assert!(
        versions(&sent, MessageKind::SynAck)
            .iter()
            .all(|&v| v == wire::MIN_PROTOCOL_VERSION)
    );
    assert!(a.node("b").is_some());
    // From now on a speaks version 3 to b, once.
    let next = start(&mut a, b.id().addr);
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].1[2], wire::MIN_PROTOCOL_VERSION);
    // And the old node's own Syns are read and answered in its version.
    let q = start(&mut b, a.id().addr);
    let back = run(&mut b, &mut a, q, now);
    assert!(
        back.iter()
            .all(|(_, _, d)| d[2] == wire::MIN_PROTOCOL_VERSION)
    );
    assert!(versions(&back, MessageKind::SynAck).len() == 1);
}

#[test]
fn protocol_version_is_validated() {
    for v in [0, 1, 2, PROTOCOL_VERSION + 1, u8::MAX] {
        let c = Config {
            protocol_version: v,
            ..Config::new()
        };
        assert_eq!(
            c.validate(),
            Err(crate::ConfigError::ProtocolVersionUnsupported),
            "{v}"
        );
    }
    for v in wire::MIN_PROTOCOL_VERSION..=PROTOCOL_VERSION {
        let c = Config {
            protocol_version: v,
            ..Config::new()
        };
        assert_eq!(c.validate(), Ok(()));
    }
}

#[test]
fn two_new_nodes_heard_only_in_the_old_version_move_to_the_new_one() {
    // a heard b only in version 3 (b's version-4 Syn was lost, say):
    // speaking 3 to it alone, the pair would stay on 3 for good.
    let now = Instant::from_millis(0);
    let mut a = engine_with(id("a", 1, "10.0.0.1:7001"), Config::new());
    let mut b = engine_with(id("b", 1, "10.0.0.2:7002"), Config::new());
    round(&mut a, now);
    round(&mut b, now);
    let slot = a.learn(b.id().clone(), None, now, &mut ()).expect("room");
    if let Some(n) = a.nodes.get_mut(slot) {
        n.version = wire::MIN_PROTOCOL_VERSION;
    }
    let mut offered = false;
    for _ in 0..VERSION_PROBE_EVERY {
        let syns = start(&mut a, b.id().addr);
        assert_eq!(syns[0].1[2], wire::MIN_PROTOCOL_VERSION);
        offered |= syns.iter().any(|(_, d)| d[2] == PROTOCOL_VERSION);
        run(&mut a, &mut b, syns, now);
    }
    assert!(offered, "a never offered version 4");
    assert_eq!(a.nodes.get(slot).map(|n| n.version), Some(PROTOCOL_VERSION));
    let next = start(&mut a, b.id().addr);
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].1[2], PROTOCOL_VERSION);
}

#[test]
fn a_bounded_reply_carries_every_fresher_heartbeat_before_introductions() {
    // The responder knows 200 members at heartbeat 5; the sender knows ten
    // of them at heartbeat 1 and none of the other 190. The reply, bounded
    // to three times a short Syn, cannot introduce 190 nodes; it must still
    // bring all ten heartbeats, or the sender's detectors see ten healthy
    // nodes fall silent while it catches up.
    let mut r = big_responder();
    let now = Instant::from_millis(1000);
    let sender = id("s", 1, "10.2.0.1:7000");
    let mut s = engine_with(sender.clone(), Config::new());
    let known: Vec<NodeId> = (0..10u32)
        .map(|i| {
            let [_, _, hi, lo] = (i * 20 + 1).to_be_bytes();
            id(&format!("m{}", i * 20), 1, &format!("10.1.{hi}.{lo}:7000"))
        })
        .collect();
    for n in &known {
        let slot = s.learn(n.clone(), Some(1), now, &mut ()).expect("room");
        if let Some(slot) = s.nodes.get_mut(slot) {
            slot.status = NodeStatus::Alive;
        }
    }
    // The sender's Syn, written by hand so that it carries no token the
    // responder could validate: its own line and the ten, in ring order.
    let mut lines: Vec<u64> = known.iter().map(NodeId::ring_hash).collect();
    lines.push(sender.ring_hash());
    lines.sort_unstable();
    let mut buf = std::vec![0u8; 1400];
    let mut enc = Encoder::new(&mut buf, 1400);
    let cluster = Config::new().cluster_id.fingerprint();
    let mark = enc
        .syn_head(
            PROTOCOL_VERSION,
            cluster,
            &sender,
            1,
            (0, u64::MAX),
            (&Tokens::default(), 0, 0),
            &[],
        )
        .expect("room");
    let run = enc.lines_run().expect("room");
    for &hash in &lines {
        enc.digest_line(hash, true, 1, 0, 0).expect("room");
    }
    enc.end_seq(run, lines.len());
    enc.end_seq(mark, 1);
    let len = enc.pos();
    buf.truncate(len);

    let mut tx = Recorder::default();
    assert_eq!(
        r.handle_datagram(sender.addr, &mut buf, now, &mut tx, &mut ()),
        Ok(())
    );
    let sent: usize = tx.sent.iter().map(|(_, d)| d.len()).sum();
    assert!(sent <= AMPLIFICATION_FACTOR * len, "{sent} bytes for {len}");
    for (_, mut d) in tx.sent {
        assert_eq!(
            s.handle_datagram(r.id().addr, &mut d, now, &mut Recorder::default(), &mut ()),
            Ok(())
        );
    }
    for n in &known {
        let view = s.node(n.name.as_str()).expect("still known");
        assert_eq!(view.heartbeat(), 5, "{} left behind", n.name.as_str());
    }
    assert!(
        s.node_count() < 200,
        "the bound held back the introductions"
    );
    assert_eq!(r.counters().replies_bounded, 1);
}

#[test]
fn a_first_syn_is_padded_so_that_the_bounded_reply_has_room() {
    let mut r = big_responder();
    let now = Instant::from_millis(1000);
    let mut n = engine_with(id("n", 1, "10.3.0.1:7000"), Config::new());
    round(&mut n, now);
    let mtu = Config::new().mtu;
    // r is only an address to n: the Syn goes in version 4, padded to the
    // mtu, and in version 3, which cannot be padded.
    let first = start(&mut n, r.id().addr);
    let lens: Vec<(u8, usize)> = first.iter().map(|(_, d)| (d[2], d.len())).collect();
    assert_eq!(lens.len(), 2, "{lens:?}");
    assert_eq!(lens[0], (PROTOCOL_VERSION, mtu));
    let (v3, unpadded) = lens[1];
    assert_eq!(v3, wire::MIN_PROTOCOL_VERSION);
    assert!(unpadded < 100, "{unpadded}");
    // The reply to the padded Syn is bounded by its padded size: far more
    // than three times the bytes of the digest, never more than 3 x mtu.
    let (_, syn) = first[0].clone();
    let mut tx = Recorder::default();
    let mut d = syn;
    assert_eq!(
        r.handle_datagram(n.id().addr, &mut d, now, &mut tx, &mut ()),
        Ok(())
    );
    let sent: usize = tx.sent.iter().map(|(_, d)| d.len()).sum();
    assert!(sent > 3 * unpadded * 10, "{sent} bytes");
    assert!(sent <= AMPLIFICATION_FACTOR * mtu, "{sent} bytes");
    // n now holds r's token: its next Syn to r is neither padded nor sent
    // twice.
    for (_, mut d) in tx.sent {
        let _ = n.handle_datagram(r.id().addr, &mut d, now, &mut Recorder::default(), &mut ());
    }
    let next = start(&mut n, r.id().addr);
    assert_eq!(next.len(), 1);
    assert!(next[0].1.len() < mtu, "{}", next[0].1.len());
}

#[test]
fn a_peer_whose_first_answer_was_bounded_goes_first_in_the_next_round() {
    let mut r = big_responder();
    let now = Instant::from_millis(1000);
    let mut n = engine_with(id("n", 1, "10.3.0.1:7000"), Config::new());
    round(&mut n, now);
    // n's first Syn to r is answered within 3x: datagrams filled to the
    // bound, with much left unsaid.
    let mut first_reply = Vec::new();
    let syns = start(&mut n, r.id().addr);
    let syn_bytes: usize = syns.iter().map(|(_, d)| d.len()).sum();
    for (_, mut d) in syns {
        let mut tx = Recorder::default();
        let _ = r.handle_datagram(n.id().addr, &mut d, now, &mut tx, &mut ());
        first_reply.extend(tx.sent);
    }
    let bounded: usize = first_reply.iter().map(|(_, d)| d.len()).sum();
    assert!(bounded <= AMPLIFICATION_FACTOR * syn_bytes);
    for (_, mut d) in first_reply {
        let _ = n.handle_datagram(r.id().addr, &mut d, now, &mut Recorder::default(), &mut ());
    }
    let slot = n.nodes.find_hash(r.id().ring_hash()).expect("n learned r");
    assert!(n.nodes.get(slot).is_some_and(|s| s.recontact));
    // n's next round opens with r, echoing r's token: r answers in full.
    let later = Instant::from_millis(2000);
    let sent = round(&mut n, later);
    let to_r: Vec<Vec<u8>> = sent
        .into_iter()
        .filter(|(to, _)| *to == r.id().addr)
        .map(|(_, d)| d)
        .collect();
    assert!(!to_r.is_empty(), "r was not contacted again");
    let full: usize = to_r
        .iter()
        .map(|d| reply_bytes(&mut r, n.id().addr, d, later))
        .sum();
    let asked: usize = to_r.iter().map(Vec::len).sum();
    assert!(
        full > AMPLIFICATION_FACTOR * asked && full > bounded,
        "{full} bytes for {asked}, after {bounded}"
    );
    assert!(n.nodes.get(slot).is_some_and(|s| !s.recontact));
}
