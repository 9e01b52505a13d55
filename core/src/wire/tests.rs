//! Tests of the wire format.
//!
//! - The hand-written [`Encoder`] is checked byte for byte against postcard
//!   serialising the serde structs the decoder uses, for every body shape.
//! - Golden tests pin the exact bytes of a Syn, a SynAck and an Ack produced
//!   by real engines, so any format change breaks them.
//! - One test per [`DecodeError`] builds datagrams that trigger exactly that
//!   error and checks the counter and that nothing changed.
//! - Property tests feed random and mutated datagrams to the decoder and to
//!   an engine: no panics, and a rejected datagram changes nothing.

use core::net::SocketAddr;
use core::time::Duration;
use std::boxed::Box;
use std::format;
use std::string::{String, ToString};
use std::sync::OnceLock;
use std::vec;
use std::vec::Vec;

use proptest::prelude::*;
use serde::Serialize;
use serde::ser::SerializeTuple;

use super::*;
use crate::capacity::Capacity;
use crate::config::{ClusterId, Config};
use crate::event::Event;
use crate::testkit::{TestEngine, build, capacity};
use crate::time::Instant;

/// Version 6: chunks and partials.
mod chunks;
/// Datagrams a peer inside the cluster could forge, and what they may not do.
mod hostile;

// ---------------------------------------------------------------------------
// Shared helpers.

/// Small engines: 8 nodes, 64 entries, 4 KiB of keys and values.
type Eng = TestEngine;
/// Their capacity.
const CAPACITY: Capacity = capacity::<8, 64, 4096>();

const NOW: Instant = Instant::from_millis(0);

/// The default cluster's fingerprint, as every test datagram carries it.
const CLUSTER: u32 = ClusterId::new("hearsay").fingerprint();

/// Collects datagrams instead of sending them (the crate's one test
/// recorder).
type Outbox = crate::testkit::Recorder;

fn sa(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

fn id(name: &str, generation: u64, addr: &str) -> NodeId {
    NodeId::new(name, generation, sa(addr)).expect("test id")
}

fn a_id() -> NodeId {
    id("a", 1, "10.0.0.1:7001")
}

fn b_id() -> NodeId {
    id("b", 2, "10.0.0.2:7002")
}

fn c_id() -> NodeId {
    id("c", 3, "10.0.0.3:7003")
}

fn r_id() -> NodeId {
    id("r", 1, "10.0.0.9:7009")
}

fn engine_with(id: NodeId, config: Config) -> Box<Eng> {
    build(CAPACITY, id, config).expect("engine")
}

fn engine(id: NodeId) -> Box<Eng> {
    engine_with(id, Config::new())
}

/// Postcard's encoding of `v`, written into a fixed buffer (no `alloc`
/// feature needed).
fn pc<T: Serialize + ?Sized>(v: &T) -> Vec<u8> {
    let mut buf = vec![0u8; 1 << 20];
    let len = postcard::to_slice(v, &mut buf)
        .expect("postcard fits")
        .len();
    buf.truncate(len);
    buf
}

/// What the hand-written encoder writes when `f` runs on it.
fn enc(f: impl FnOnce(&mut Encoder<'_>) -> Result<(), Full>) -> Vec<u8> {
    let mut buf = vec![0u8; 1 << 20];
    let len = {
        let mut e = Encoder::new(&mut buf, usize::MAX);
        f(&mut e).expect("encoder has room");
        e.pos()
    };
    buf.truncate(len);
    buf
}

/// The 8-byte header as a postcard value: magic, version, kind and the
/// fingerprint's little-endian bytes (arrays and `u8` are raw bytes).
fn hdr(kind: MessageKind, cluster: u32) -> ([u8; 2], u8, u8, [u8; 4]) {
    (MAGIC, V3, kind as u8, cluster.to_le_bytes())
}

/// Protocol version 3: the hand-made datagrams of these tests are written
/// in it, which proves that version 3 is still read.
const V3: u8 = 3;

/// Builds a datagram by concatenating postcard values.
struct Dg(Vec<u8>);

impl Dg {
    fn new(kind: MessageKind) -> Self {
        Dg(pc(&hdr(kind, CLUSTER)))
    }

    fn put<T: Serialize + ?Sized>(mut self, v: &T) -> Self {
        self.0.extend(pc(v));
        self
    }

    fn raw(mut self, bytes: &[u8]) -> Self {
        self.0.extend_from_slice(bytes);
        self
    }
}

/// An update as the wire carries it: its head, then (with a piece) the
/// piece's entries as a sequence. Serialised like the `Update` rule.
#[derive(Debug, Clone)]
struct TUpdate<'a> {
    head: UpdateHead<'a>,
    entries: Vec<WireEntry<'a>>,
}

impl Serialize for TUpdate<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(2)?;
        t.serialize_element(&self.head)?;
        if self.head.piece.is_some() {
            t.serialize_element(self.entries.as_slice())?;
        }
        t.end()
    }
}

fn be(h: u64) -> [u8; 8] {
    h.to_be_bytes()
}

fn wire_v4(name: &str, generation: u64, ip: [u8; 4], port: u16) -> WireNodeId<'_> {
    WireNodeId {
        name,
        generation,
        addr: WireAddr::V4(ip, port),
    }
}

fn entry<'a>(step: u64, status: u8, key: &'a str, value: &'a [u8]) -> WireEntry<'a> {
    WireEntry {
        version_step: step,
        status,
        key,
        value,
    }
}

fn piece(last_gc: u64, from: u64, to: u64) -> Option<WirePieceHead> {
    Some(WirePieceHead { last_gc, from, to })
}

fn upd<'a>(
    node: WireNodeRef<'a>,
    heartbeat: u64,
    piece: Option<WirePieceHead>,
    entries: Vec<WireEntry<'a>>,
) -> TUpdate<'a> {
    TUpdate {
        head: UpdateHead {
            node,
            heartbeat,
            piece,
        },
        entries,
    }
}

/// A digest line as a test builds it; serialises to the v2 line format
/// with postcard's own primitives, as the reference for `Encoder`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct WireDigest {
    hash: [u8; 8],
    full: bool,
    heartbeat: u64,
    last_gc: u64,
    max_version: u64,
}

impl Serialize for WireDigest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let h = u64::from_be_bytes(self.hash);
        let flags =
            (self.max_version << 2) | (u64::from(self.last_gc != 0) << 1) | u64::from(self.full);
        let mut t = s.serialize_tuple(5)?;
        t.serialize_element(&((h >> 32) as u32).to_be_bytes())?;
        t.serialize_element(&self.heartbeat)?;
        t.serialize_element(&flags)?;
        if self.last_gc != 0 {
            t.serialize_element(&self.last_gc)?;
        }
        if self.full {
            t.serialize_element(&(h as u32).to_be_bytes())?;
        }
        t.end()
    }
}

impl WireDigest {
    /// What the decoder should read back.
    fn decoded(&self) -> DigestLine {
        let h = u64::from_be_bytes(self.hash);
        DigestLine {
            prefix: (h >> 32) as u32,
            full: self.full.then_some(h),
            heartbeat: self.heartbeat,
            last_gc: self.last_gc,
            max_version: self.max_version,
        }
    }
}

fn digest(hash: u64, heartbeat: u64, last_gc: u64, max_version: u64) -> WireDigest {
    WireDigest {
        hash: be(hash),
        full: false,
        heartbeat,
        last_gc,
        max_version,
    }
}

fn digest_full(hash: u64, heartbeat: u64, last_gc: u64, max_version: u64) -> WireDigest {
    WireDigest {
        full: true,
        ..digest(hash, heartbeat, last_gc, max_version)
    }
}

fn request(hash: u64, known: bool, max_version: u64, last_gc: u64) -> WireRequest {
    WireRequest {
        hash: be(hash),
        known,
        max_version,
        last_gc,
    }
}

/// Index of the only occurrence of `needle` in `hay`.
fn find_unique(hay: &[u8], needle: &[u8]) -> usize {
    let hits: Vec<usize> = hay
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(hits.len(), 1, "{needle:?} must occur exactly once");
    hits[0]
}

fn to_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Parses hex bytes separated by whitespace; `#` starts a comment.
fn hex(annotated: &str) -> Vec<u8> {
    annotated
        .lines()
        .flat_map(|line| line.split('#').next().unwrap_or("").split_whitespace())
        .map(|tok| u8::from_str_radix(tok, 16).expect("hex byte"))
        .collect()
}

// ---------------------------------------------------------------------------
// Engine harness.

/// What one `handle_datagram` call did.
struct Outcome {
    result: Result<(), DecodeError>,
    sent: Vec<(SocketAddr, Vec<u8>)>,
    events: usize,
}

fn feed(rx: &mut Eng, from: SocketAddr, datagram: &[u8]) -> Outcome {
    feed_at(rx, from, datagram, NOW)
}

fn feed_at(rx: &mut Eng, from: SocketAddr, datagram: &[u8], now: Instant) -> Outcome {
    let mut tx = Outbox::default();
    let mut events = 0usize;
    let result = rx.handle_datagram(
        from,
        &mut (datagram).to_vec(),
        now,
        &mut tx,
        &mut |_: &Event<'_>| {
            events += 1;
        },
    );
    Outcome {
        result,
        sent: tx.sent,
        events,
    }
}

/// Delivers `datagram` and returns the replies, which must be accepted.
fn deliver(rx: &mut Eng, from: SocketAddr, datagram: &[u8]) -> Vec<Vec<u8>> {
    deliver_at(rx, from, datagram, NOW)
}

fn deliver_at(rx: &mut Eng, from: SocketAddr, datagram: &[u8], now: Instant) -> Vec<Vec<u8>> {
    let out = feed_at(rx, from, datagram, now);
    assert_eq!(out.result, Ok(()), "datagram {}", to_hex(datagram));
    out.sent.into_iter().map(|(_, d)| d).collect()
}

/// Runs one complete exchange opened by `init`, delivering every datagram;
/// returns every datagram sent, in order.
fn run_exchange(init: &mut Eng, resp: &mut Eng) -> Vec<Vec<u8>> {
    run_exchange_at(init, resp, NOW)
}

/// [`run_exchange`] with every datagram delivered at `now`.
fn run_exchange_at(init: &mut Eng, resp: &mut Eng, now: Instant) -> Vec<Vec<u8>> {
    let (ia, ra) = (init.id().addr, resp.id().addr);
    let mut tx = Outbox::default();
    init.start_exchange(ra, &mut tx).expect("start exchange");
    let mut all = Vec::new();
    let mut queue: Vec<(SocketAddr, Vec<u8>)> = tx.sent;
    while !queue.is_empty() {
        let mut next = Vec::new();
        for (to, d) in queue.drain(..) {
            let replies = if to == ra {
                deliver_at(resp, ia, &d, now)
            } else {
                deliver_at(init, ra, &d, now)
            };
            let back = if to == ra { ia } else { ra };
            next.extend(replies.into_iter().map(|r| (back, r)));
            all.push(d);
        }
        queue = next;
    }
    all
}

type EntrySnap = (String, Vec<u8>, u64, EntryStatus);

/// Everything the public API shows about one node.
#[derive(Debug, PartialEq, Eq)]
struct NodeSnap {
    id: NodeId,
    heartbeat: u64,
    max_version: u64,
    last_gc: u64,
    entries: Vec<EntrySnap>,
}

/// Everything the public API shows about an engine's replicated state.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    nodes: Vec<NodeSnap>,
    entry_count: usize,
}

fn snapshot(e: &Eng) -> Snapshot {
    Snapshot {
        nodes: e
            .nodes()
            .map(|n| NodeSnap {
                id: n.id().clone(),
                heartbeat: n.heartbeat(),
                max_version: n.max_version(),
                last_gc: n.last_gc_version(),
                entries: n
                    .all_entries()
                    .map(|x| (x.key.to_string(), x.value.to_vec(), x.version, x.status))
                    .collect(),
            })
            .collect(),
        entry_count: e.entry_count(),
    }
}

/// Feeds `datagram` to `rx` and checks it is rejected with `want` and
/// nothing but that counter changed.
fn assert_rejected_by(mut rx: Box<Eng>, datagram: &[u8], want: DecodeError) {
    let before = snapshot(&rx);
    let mut counters = rx.counters().clone();
    let out = feed(&mut rx, sa("10.0.0.1:7001"), datagram);
    assert_eq!(out.result, Err(want), "datagram {}", to_hex(datagram));
    assert_eq!(rx.counters().rejected(want), 1);
    assert_eq!(rx.counters().rejected_total(), 1);
    // Its own counters moved, and no other.
    counters.datagrams_in += 1;
    counters.bytes_in += datagram.len() as u64;
    counters.rejected_by_kind[want as usize] += 1;
    assert_eq!(
        *rx.counters(),
        counters,
        "a rejected datagram moved other counters"
    );
    assert!(out.sent.is_empty(), "a rejected datagram sent a reply");
    assert_eq!(out.events, 0, "a rejected datagram emitted events");
    assert_eq!(snapshot(&rx), before, "a rejected datagram changed state");
    assert_eq!(rx.check_invariants(), Ok(()));
}

/// A receiver named "r" with some keys of its own.
fn receiver() -> Box<Eng> {
    let mut r = engine(r_id());
    r.set("own", b"value").expect("set");
    r.set("gone", b"soon").expect("set");
    r.delete("gone", NOW).expect("delete");
    r.tick(
        NOW,
        &mut crate::testkit::TestRng(7),
        &mut crate::testkit::Recorder::default(),
        &mut (),
    );
    r
}

fn assert_rejected(datagram: &[u8], want: DecodeError) {
    assert_rejected_by(receiver(), datagram, want);
}

/// Checks that `datagram` is accepted by a fresh receiver: the control case
/// for a rejected variant, proving the rejection is due to the one change.
fn assert_accepted(datagram: &[u8]) {
    let mut rx = receiver();
    let out = feed(&mut rx, sa("10.0.0.1:7001"), datagram);
    assert_eq!(out.result, Ok(()), "datagram {}", to_hex(datagram));
}

// ---------------------------------------------------------------------------
// 1. Encoder ↔ postcard cross-check.

const VARINT_SAMPLES: [u64; 20] = [
    0,
    1,
    0x7f,
    0x80,
    0xff,
    300,
    0x3fff,
    0x4000,
    0x1f_ffff,
    0x20_0000,
    u16::MAX as u64,
    0xfff_ffff,
    0x1000_0000,
    u32::MAX as u64,
    1 << 35,
    1 << 49,
    1 << 56,
    1 << 63,
    u64::MAX - 1,
    u64::MAX,
];

#[test]
fn varint_matches_postcard() {
    for v in VARINT_SAMPLES {
        let ours = enc(|e| e.varint(v));
        assert_eq!(ours, pc(&v), "varint {v:#x}");
        assert_eq!(varint_len(v), ours.len(), "varint_len {v:#x}");
        if let Ok(small) = u16::try_from(v) {
            assert_eq!(ours, pc(&small), "u16 {v:#x}");
        }
        if let Ok(small) = u32::try_from(v) {
            assert_eq!(ours, pc(&small), "u32 {v:#x}");
        }
    }
    // Spot checks against LEB128 by hand.
    assert_eq!(enc(|e| e.varint(0)), [0x00]);
    assert_eq!(enc(|e| e.varint(127)), [0x7f]);
    assert_eq!(enc(|e| e.varint(128)), [0x80, 0x01]);
    assert_eq!(enc(|e| e.varint(300)), [0xac, 0x02]);
    assert_eq!(enc(|e| e.varint(u64::MAX)).len(), 10);
}

#[test]
fn header_matches_postcard() {
    for kind in [MessageKind::Syn, MessageKind::SynAck, MessageKind::Ack] {
        for cluster in [0, 1, 0xdead_beef, u32::MAX, CLUSTER] {
            let ours = enc(|e| e.header(kind, V3, cluster));
            assert_eq!(ours, pc(&hdr(kind, cluster)));
            assert_eq!(ours.len(), HEADER_LEN);
            let c = cluster.to_le_bytes();
            assert_eq!(ours, [0x48, 0x53, 3, kind as u8, c[0], c[1], c[2], c[3]]);
            let body = [0xaa];
            let mut dg = ours.clone();
            dg.extend_from_slice(&body);
            assert_eq!(read_header(&dg), Ok((kind, V3, cluster, &body[..])));
        }
    }
}

fn sample_ids() -> Vec<NodeId> {
    vec![
        id("a", 0, "127.0.0.1:0"),
        id("node-7", 300, "10.0.0.1:7946"),
        id("n", 127, "192.168.1.254:127"),
        id("n", 128, "192.168.1.254:128"),
        id(&"x".repeat(MAX_NAME_LEN), u64::MAX, "[::1]:65535"),
        // 32 two-byte characters: 64 bytes of UTF-8.
        id(&"é".repeat(32), 1 << 40, "[2001:db8::7]:16384"),
        id("z", 5, "0.0.0.0:1"),
    ]
}

#[test]
fn node_id_matches_postcard() {
    for nid in sample_ids() {
        let ours = enc(|e| e.node_id(&nid));
        assert_eq!(ours, pc(&WireNodeId::from_id(&nid)), "{nid:?}");
        assert_eq!(node_id_len(&nid), ours.len(), "{nid:?}");
        let (back, rest) = postcard::take_from_bytes::<WireNodeId<'_>>(&ours).expect("decodes");
        assert!(rest.is_empty());
        assert_eq!(back.to_id(), Some(nid));
    }
}

/// `n` digest lines, ascending by hash, with varints of varied widths;
/// every seventh line carries its full hash.
fn sample_digests(n: usize) -> Vec<WireDigest> {
    let step = u64::MAX / 20_000;
    (0..n as u64)
        .map(|i| {
            let d = if i % 7 == 3 { digest_full } else { digest };
            d(
                (i + 1) * step,
                i.wrapping_mul(0x9e37_79b9) >> (i % 40),
                i / 2,
                i + (1u64 << (i % 61)),
            )
        })
        .collect()
}

fn syn_head<'a>(sender: WireNodeId<'a>, piece_count: u16, start: u64, end: u64) -> SynHead<'a> {
    SynHead {
        sender,
        piece_count,
        ring_start: be(start),
        ring_end: be(end),
    }
}

#[test]
fn syn_body_matches_postcard() {
    let ids = sample_ids();
    for (k, n) in [0usize, 1, 127, 128, 129, 300, 16_383, 16_384]
        .into_iter()
        .enumerate()
    {
        let nid = &ids[k % ids.len()];
        let sender = WireNodeId::from_id(nid);
        let piece_count = [1u16, 127, 128, u16::MAX][k % 4];
        let lines = sample_digests(n);
        let head = syn_head(sender, piece_count, 0, u64::MAX);
        let ours = enc(|e| {
            e.header(MessageKind::Syn, V3, CLUSTER)?;
            e.node_id(nid)?;
            e.varint(u64::from(piece_count))?;
            e.hash(0)?;
            e.hash(u64::MAX)?;
            let mark = e.begin_seq()?;
            for d in &lines {
                e.digest_line(
                    hash_from_wire(d.hash),
                    d.full,
                    d.heartbeat,
                    d.last_gc,
                    d.max_version,
                )?;
            }
            e.end_seq(mark, lines.len());
            Ok(())
        });
        let reference = pc(&(hdr(MessageKind::Syn, CLUSTER), &head, lines.as_slice()));
        assert_eq!(ours, reference, "Syn with {n} digest lines");
        let lens: usize = lines
            .iter()
            .map(|d| digest_len(d.full, d.heartbeat, d.last_gc, d.max_version))
            .sum();
        assert_eq!(
            ours.len(),
            HEADER_LEN
                + node_id_len(nid)
                + varint_len(u64::from(piece_count))
                + 16
                + varint_len(n as u64)
                + lens
        );
        // The decoder reads back exactly the values.
        let body = &ours[HEADER_LEN..];
        if ours.len() <= MAX_DATAGRAM_LEN {
            assert_eq!(
                read_header(&ours),
                Ok((MessageKind::Syn, V3, CLUSTER, body))
            );
        }
        let msg = parse_syn(V3, body).expect("valid Syn");
        assert_eq!(msg.sender.to_id().as_ref(), Some(nid));
        assert_eq!(msg.piece_count, piece_count);
        assert_eq!((msg.ring_start, msg.ring_end), (0, u64::MAX));
        let back: Vec<DigestLine> = msg
            .digest()
            .filter_map(|d| d.expect("valid").line())
            .collect();
        let want: Vec<DigestLine> = lines.iter().map(WireDigest::decoded).collect();
        assert_eq!(back, want);
    }
}

/// Writes an update the way `exchange.rs` does.
fn enc_update(e: &mut Encoder<'_>, u: &TUpdate<'_>) -> Result<(), Full> {
    match u.head.node {
        WireNodeRef::Hash(h) => {
            e.byte(0)?;
            e.hash(hash_from_wire(h))?;
        }
        WireNodeRef::Full(nid) => {
            e.byte(1)?;
            e.node_id(&nid.to_id().expect("valid id"))?;
        }
        WireNodeRef::Prefix(p) => {
            e.byte(2)?;
            e.raw(&p)?;
        }
    }
    e.varint(u.head.heartbeat)?;
    let Some(p) = u.head.piece else {
        return e.byte(0);
    };
    e.byte(1)?;
    e.varint(p.last_gc)?;
    e.varint(p.from)?;
    e.varint(p.to)?;
    let mark = e.begin_seq()?;
    for x in &u.entries {
        let status = EntryStatus::from_wire(x.status).expect("valid status");
        e.entry(x.version_step, status, x.key.as_bytes(), x.value)?;
    }
    e.end_seq(mark, u.entries.len());
    Ok(())
}

/// Keys and values for `n` entries, owned so entries can borrow them.
fn sample_kv(n: usize) -> Vec<(String, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let key = if i % 5 == 4 {
                // 200 bytes: a two-byte length prefix.
                format!("{i:0>200}")
            } else {
                format!("k{i}")
            };
            let value = if i % 3 == 1 {
                Vec::new()
            } else {
                vec![i as u8; (i * 37) % 300]
            };
            (key, value)
        })
        .collect()
}

/// Entries over `kv` with steps up to 300 and every status; tombstones
/// (status 1) have empty values as the format requires.
fn sample_entries(kv: &[(String, Vec<u8>)]) -> Vec<WireEntry<'_>> {
    kv.iter()
        .enumerate()
        .map(|(i, (k, v))| {
            let status = (i % 3) as u8;
            let value: &[u8] = if status == 1 { &[] } else { v };
            entry(1 + (i as u64 * 131) % 300, status, k, value)
        })
        .collect()
}

fn piece_to(from: u64, entries: &[WireEntry<'_>], extra: u64) -> u64 {
    from + entries.iter().map(|e| e.version_step).sum::<u64>() + extra
}

/// Compares decoded updates with what was encoded.
fn assert_updates_decode_to(msg: &UpdateMsg<'_>, want: &[TUpdate<'_>]) {
    let got: Vec<Update<'_>> = msg.updates().map(|u| u.expect("valid")).collect();
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        match (g.node, w.head.node) {
            (WireNodeRef::Hash(a), WireNodeRef::Hash(b)) => assert_eq!(a, b),
            (WireNodeRef::Prefix(a), WireNodeRef::Prefix(b)) => assert_eq!(a, b),
            (WireNodeRef::Full(a), WireNodeRef::Full(b)) => {
                assert_eq!(
                    (a.name, a.generation, a.addr),
                    (b.name, b.generation, b.addr)
                );
            }
            (g, w) => panic!("node ref {g:?} decoded, {w:?} encoded"),
        }
        assert_eq!(g.heartbeat, w.head.heartbeat);
        assert_eq!(g.piece.map(|p| p.head), w.head.piece);
        if let (Some(p), Some(head)) = (g.piece, w.head.piece) {
            let mut version = head.from;
            let entries: Vec<EntryView<'_>> = p.entries().map(|e| e.expect("valid")).collect();
            assert_eq!(entries.len(), w.entries.len());
            for (ge, we) in entries.iter().zip(&w.entries) {
                version += we.version_step;
                assert_eq!(ge.version, version);
                assert_eq!(ge.status.to_wire(), we.status);
                assert_eq!((ge.key, ge.value), (we.key, we.value));
            }
        }
    }
}

/// Update lists of every shape: hash and full refs (IPv4 and IPv6), with and
/// without pieces, pieces of 0, 1, 3 and 130 entries, and 140 updates.
fn sample_update_lists<'a>(
    ids: &'a [NodeId],
    kv: &'a [(String, Vec<u8>)],
) -> Vec<Vec<TUpdate<'a>>> {
    let all = sample_entries(kv);
    let few = all[..3].to_vec();
    let one = all[..1].to_vec();
    let many = all[..130].to_vec();
    let full = |i: usize| WireNodeRef::Full(WireNodeId::from_id(&ids[i]));
    let hash = |h: u64| WireNodeRef::Hash(be(h));
    vec![
        vec![],
        vec![upd(hash(0x0102_0304_0506_0708), 5, None, vec![])],
        vec![upd(hash(u64::MAX), u64::MAX, piece(0, 7, 7), vec![])],
        vec![
            upd(full(1), 300, piece(2, 4, piece_to(4, &few, 0)), few.clone()),
            upd(hash(42), 0, None, vec![]),
        ],
        vec![upd(
            full(5),
            1 << 33,
            piece(MAX_VERSION, 1 << 50, piece_to(1 << 50, &one, 3)),
            one,
        )],
        vec![
            upd(full(4), 1, piece(0, 0, piece_to(0, &many, 0)), many.clone()),
            upd(full(0), 2, piece(1, 1, piece_to(1, &few, 9)), few.clone()),
        ],
        (0..140u64)
            .map(|i| match i % 4 {
                0 => upd(hash(i), i * 1000, None, vec![]),
                1 => upd(full(i as usize % ids.len()), i, None, vec![]),
                2 => upd(hash(i), i, piece(0, i, piece_to(i, &few, 0)), few.clone()),
                _ => upd(full(2), i, piece(0, i, i), vec![]),
            })
            .collect(),
    ]
}

#[test]
fn synack_body_matches_postcard() {
    let ids = sample_ids();
    let kv = sample_kv(130);
    let lists = sample_update_lists(&ids, &kv);
    for (k, n_req) in [0usize, 1, 127, 128, 300].into_iter().enumerate() {
        // Ascending hashes with every varint width; `known` alternates.
        let requests: Vec<WireRequest> = (0..n_req as u64)
            .map(|i| request(i * 0x0100_0000_0000, i % 2 == 0, i << (i % 57), i))
            .collect();
        for updates in &lists {
            let nid = &ids[k % ids.len()];
            let piece_count = [1u16, 2, 300, u16::MAX, 128][k];
            let ours = enc(|e| {
                e.header(MessageKind::SynAck, V3, CLUSTER)?;
                e.node_id(nid)?;
                e.varint(u64::from(piece_count))?;
                let req = e.begin_seq()?;
                for q in &requests {
                    e.request(hash_from_wire(q.hash), q.known, q.max_version, q.last_gc)?;
                }
                e.end_seq(req, requests.len());
                let ups = e.begin_seq()?;
                for u in updates {
                    enc_update(e, u)?;
                }
                e.end_seq(ups, updates.len());
                Ok(())
            });
            let head = SynAckHead {
                sender: WireNodeId::from_id(nid),
                piece_count,
            };
            let reference = pc(&(
                hdr(MessageKind::SynAck, CLUSTER),
                &head,
                requests.as_slice(),
                updates.as_slice(),
            ));
            assert_eq!(
                ours,
                reference,
                "SynAck with {n_req} requests, {} updates",
                updates.len()
            );
            let (_, hv, _, body) = read_header(&ours).expect("header");
            let msg = parse_synack(hv, body).expect("valid SynAck");
            assert_eq!(msg.sender.to_id().as_ref(), Some(nid));
            assert_eq!(msg.piece_count, piece_count);
            assert_eq!(msg.request_len(), n_req);
            let back: Vec<WireRequest> = msg.requests().map(|q| q.expect("valid").1).collect();
            assert_eq!(back, requests);
            assert_updates_decode_to(&msg, updates);
        }
    }
}

#[test]
fn ack_body_matches_postcard() {
    let ids = sample_ids();
    let kv = sample_kv(130);
    for (k, updates) in sample_update_lists(&ids, &kv).iter().enumerate() {
        let nid = &ids[k % ids.len()];
        let ours = enc(|e| {
            e.header(MessageKind::Ack, V3, CLUSTER)?;
            e.node_id(nid)?;
            let ups = e.begin_seq()?;
            for u in updates {
                enc_update(e, u)?;
            }
            e.end_seq(ups, updates.len());
            Ok(())
        });
        let head = AckHead {
            sender: WireNodeId::from_id(nid),
        };
        let reference = pc(&(hdr(MessageKind::Ack, CLUSTER), &head, updates.as_slice()));
        assert_eq!(ours, reference, "Ack with {} updates", updates.len());
        let (_, hv, _, body) = read_header(&ours).expect("header");
        let msg = parse_ack(hv, body).expect("valid Ack");
        assert_eq!(msg.sender.to_id().as_ref(), Some(nid));
        assert_eq!(msg.request_len(), 0);
        assert_updates_decode_to(&msg, updates);
    }
}

#[test]
fn entry_matches_postcard() {
    let kv = sample_kv(40);
    for x in sample_entries(&kv) {
        let status = EntryStatus::from_wire(x.status).expect("status");
        let ours = enc(|e| e.entry(x.version_step, status, x.key.as_bytes(), x.value));
        assert_eq!(ours, pc(&x));
        assert_eq!(
            entry_len(x.version_step, x.key.len(), x.value.len()),
            ours.len()
        );
    }
    // Every step width, including the largest.
    for step in VARINT_SAMPLES {
        let ours = enc(|e| e.entry(step, EntryStatus::SetWithTtl, b"k", b"v"));
        assert_eq!(ours, pc(&entry(step, 2, "k", b"v")));
    }
}

#[test]
fn end_seq_shifts_items_for_every_count_width() {
    // Items after the count move left by the unused part of the 3-byte
    // reserve; what follows the sequence must be intact too.
    for n in [0usize, 1, 2, 127, 128, 129, 16_383, 16_384, 20_000] {
        let items: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
        let ours = enc(|e| {
            e.byte(0xee)?;
            let mark = e.begin_seq()?;
            for &b in &items {
                e.byte(b)?;
            }
            e.end_seq(mark, n);
            e.byte(0xdd)
        });
        assert_eq!(ours, pc(&(0xeeu8, items.as_slice(), 0xddu8)), "n = {n}");
    }
}

// ---------------------------------------------------------------------------
// 2. Golden bytes of each message kind, as produced by real engines.

/// Two engines with fixed ids and state: `a` (heartbeat 3, one key) and
/// `b` (heartbeat 2, a set key, a tombstone and a TTL key).
fn golden_pair() -> (Box<Eng>, Box<Eng>) {
    golden_pair_at(V3)
}

/// [`golden_pair`] speaking protocol `version` at most.
fn golden_pair_at(version: u8) -> (Box<Eng>, Box<Eng>) {
    let config = Config {
        protocol_version: version,
        // These engines are driven by `tick`, one beat a round: with one
        // part a round, that is the beat period their detectors expect of
        // each other (the detector's lateness, `phi`).
        fanout: 1,
        ..Config::new()
    };
    let mut a = engine_with(a_id(), config.clone());
    a.set("role", b"leader").expect("set");
    for _ in 0..3 {
        a.tick(
            NOW,
            &mut crate::testkit::TestRng(7),
            &mut crate::testkit::Recorder::default(),
            &mut (),
        );
    }
    let mut b = engine_with(b_id(), config);
    b.set("x", b"1").expect("set"); // v1
    b.set("y", b"2").expect("set"); // v2
    b.set_with_ttl("z", b"tmp", Duration::from_secs(60), NOW)
        .expect("set"); // v3
    b.delete("y", NOW).expect("delete"); // v4, tombstone
    for _ in 0..2 {
        b.tick(
            NOW,
            &mut crate::testkit::TestRng(7),
            &mut crate::testkit::Recorder::default(),
            &mut (),
        );
    }
    (a, b)
}

/// Ring hash of a@1/10.0.0.1:7001, big-endian as on the wire.
const A_HASH: &str = "a1 48 9e 6d 14 ad 86 71";

const GOLDEN_SYN: &str = "
    48 53                    # magic 'HS'
    03                       # protocol version 3
    01                       # kind 1: Syn
    a0 d5 d2 fe              # cluster fingerprint of 'hearsay', little-endian
                             # sender NodeId:
    01 61                    #   name: length 1, 'a'
    01                       #   generation 1
    00 0a 00 00 01           #   addr: tag 0 (IPv4), 10.0.0.1
    d9 36                    #   port 7001 (varint 0xd9 0x36)
    01                       # piece_count 1
    00 00 00 00 00 00 00 00  # ring_start 0
    ff ff ff ff ff ff ff ff  # ring_end u64::MAX
    01                       # digest: 1 line
    a1 48 9e 6d              #   prefix: top 32 bits of a's ring hash
    03                       #   heartbeat 3
    04                       #   flags: max_version 1 << 2, no last_gc, no hash_low
";

const GOLDEN_SYNACK: &str = "
    48 53 03                 # magic 'HS', version 3
    02                       # kind 2: SynAck
    a0 d5 d2 fe              # cluster fingerprint
                             # sender NodeId:
    01 62                    #   name 'b'
    02                       #   generation 2
    00 0a 00 00 02           #   IPv4 10.0.0.2
    da 36                    #   port 7002
    01                       # piece_count 1 (of the Syn answered)
    01                       # requests: 1
    a1 48 9e 6d 14 ad 86 71  #   hash of a
    01                       #   known: true
    00                       #   max_version 0 (b knows nothing of a's keys)
    00                       #   last_gc_version 0
    01                       # updates: 1
    01                       #   node: tag 1, full NodeId (a does not know b)
    01 62 02 00 0a 00 00 02 da 36  # b@2/10.0.0.2:7002
    02                       #   heartbeat 2
    01                       #   piece: Some
    00                       #     last_gc_version 0
    00                       #     from 0
    04                       #     to 4
    03                       #     entries: 3
    01 00 01 78 01 31        #       step 1 (v1), status 0 set, key 'x', value '1'
    02 02 01 7a 03 74 6d 70  #       step 2 (v3), status 2 ttl, key 'z', value 'tmp'
    01 01 01 79 00           #       step 1 (v4), status 1 deleted, key 'y', no value
";

const GOLDEN_ACK: &str = "
    48 53 03                 # magic 'HS', version 3
    03                       # kind 3: Ack
    a0 d5 d2 fe              # cluster fingerprint
    01 61 01 00 0a 00 00 01 d9 36  # sender a@1/10.0.0.1:7001
    02                       # updates: 2
    00                       #   node: tag 0, hash (b knows a)
    a1 48 9e 6d 14 ad 86 71  #   hash of a
    03                       #   heartbeat 3
    00                       #   piece: None (a reply to a version-3
                             #   peer is bounded, so heads go first)
    00                       #   node: tag 0, hash
    a1 48 9e 6d 14 ad 86 71  #   hash of a
    03                       #   heartbeat 3
    01                       #   piece: Some
    00 00 01                 #     last_gc_version 0, from 0, to 1
    01                       #     entries: 1
    01 00 04 72 6f 6c 65     #       step 1 (v1), set, key 'role'
    06 6c 65 61 64 65 72     #       value 'leader'
";

fn assert_golden(actual: &[u8], annotated: &str, what: &str) {
    assert_eq!(
        to_hex(actual),
        to_hex(&hex(annotated)),
        "{what}: wire bytes changed; if intended, bump PROTOCOL_VERSION and update the golden"
    );
}

/// The Syn, SynAck and Ack of one exchange between the golden engines, and
/// the engines afterwards.
struct Golden {
    syn: Vec<u8>,
    synack: Vec<u8>,
    ack: Vec<u8>,
    a: Box<Eng>,
    b: Box<Eng>,
}

fn golden_exchange() -> Golden {
    let (mut a, mut b) = golden_pair();
    let mut tx = Outbox::default();
    assert_eq!(a.start_exchange(b_id().addr, &mut tx), Ok(1));
    assert_eq!(tx.sent.len(), 1);
    assert_eq!(tx.sent[0].0, b_id().addr);
    let syn = tx.sent.remove(0).1;
    let mut synacks = deliver(&mut b, a_id().addr, &syn);
    assert_eq!(synacks.len(), 1);
    let synack = synacks.remove(0);
    let mut acks = deliver(&mut a, b_id().addr, &synack);
    assert_eq!(acks.len(), 1);
    let ack = acks.remove(0);
    assert!(deliver(&mut b, a_id().addr, &ack).is_empty());
    Golden {
        syn,
        synack,
        ack,
        a,
        b,
    }
}

#[test]
fn golden_syn() {
    let syn = golden_exchange().syn;
    assert_golden(&syn, GOLDEN_SYN, "Syn");
    // Fields checked independently of the hex above.
    assert_eq!(&syn[..2], b"HS");
    assert_eq!(syn[2], V3);
    assert_eq!(syn[3], MessageKind::Syn as u8);
    assert_eq!(syn[4..8], crate::id::fnv1a32(b"hearsay").to_le_bytes());
    assert_eq!(hex(A_HASH), a_id().ring_hash().to_be_bytes());
    // The line names a by the top half of its ring hash.
    assert_eq!(syn[syn.len() - 6..syn.len() - 2], hex(A_HASH)[..4]);
}

#[test]
fn golden_synack() {
    let synack = golden_exchange().synack;
    assert_golden(&synack, GOLDEN_SYNACK, "SynAck");
    assert_eq!(synack[3], MessageKind::SynAck as u8);
    // The full id of b in the update is exactly the encoder's node id.
    let b_wire = enc(|e| e.node_id(&b_id()));
    assert_eq!(b_wire, hex("01 62 02 00 0a 00 00 02 da 36"));
    assert_eq!(synack[8..8 + b_wire.len()], b_wire);
}

#[test]
fn golden_ack() {
    let Golden { ack, a, b, .. } = golden_exchange();
    assert_golden(&ack, GOLDEN_ACK, "Ack");
    assert_eq!(ack[3], MessageKind::Ack as u8);
    // The exchange did what the bytes say.
    assert_eq!(
        b.node("a").and_then(|n| n.get("role")),
        Some(&b"leader"[..])
    );
    let bv = a.node("b").expect("a learned b");
    assert_eq!(bv.get("x"), Some(&b"1"[..]));
    assert_eq!(bv.get("z"), Some(&b"tmp"[..]));
    assert_eq!(bv.get("y"), None);
    assert_eq!(bv.entry("y").map(|e| e.status), Some(EntryStatus::Deleted));
    assert_eq!((bv.heartbeat(), bv.max_version()), (2, 4));
}

/// The first exchange of the golden engines speaking version 4: a's Syn
/// in both versions (b is only an address to it), b's replies to each, and
/// a's Acks; then a's next Syn.
struct GoldenV4 {
    sent: Vec<Vec<u8>>,
    next_syn: Vec<u8>,
}

fn golden_exchange_v4() -> GoldenV4 {
    let (mut a, mut b) = golden_pair_at(TOKENS_VERSION);
    let sent = run_exchange(&mut a, &mut b);
    let mut tx = Outbox::default();
    assert_eq!(a.start_exchange(b_id().addr, &mut tx), Ok(1));
    GoldenV4 {
        sent,
        next_syn: tx.sent.remove(0).1,
    }
}

const GOLDEN_SYN_V4: &str = "
    48 53                    # magic 'HS'
    04                       # protocol version 4
    01                       # kind 1: Syn
    a0 d5 d2 fe              # cluster fingerprint
    01 61 01 00 0a 00 00 01 d9 36  # sender a@1/10.0.0.1:7001
    01                       # piece_count 1
    00 00 00 00 00 00 00 00  # ring_start 0
    ff ff ff ff ff ff ff ff  # ring_end u64::MAX
    2c b4 32 1f 12 23 8a 63  # token: a's for 10.0.0.2:7002 (SipHash of a's secret)
    00 00 00 00 00 00 00 00  # echo: none yet (b is only an address to a)
    01                       # digest: 1 line
    a1 48 9e 6d 03 04        #   a: prefix, heartbeat 3, max_version 1
                             # then zeros to the mtu: b gave a no token yet
";

const GOLDEN_SYNACK_V4: &str = "
    48 53 04 02 a0 d5 d2 fe  # magic, version 4, kind 2: SynAck, cluster
    01 62 02 00 0a 00 00 02 da 36  # sender b@2/10.0.0.2:7002
    01                       # piece_count 1
    ba 84 7c d8 d8 e8 d4 3f  # token: b's for 10.0.0.1:7001
    2c b4 32 1f 12 23 8a 63  # echo: the token of the Syn answered
    01                       # requests: 1
    a1 48 9e 6d 14 ad 86 71 01 00 00  # a, known, max 0, last_gc 0
    01                       # updates: 1
    01 01 62 02 00 0a 00 00 02 da 36  # introduces b
    02 01 00 00 04 03        #   heartbeat 2, piece (0, 4], 3 entries
    01 00 01 78 01 31        #     x = 1
    02 02 01 7a 03 74 6d 70  #     z = tmp (ttl)
    01 01 01 79 00           #     y deleted
";

const GOLDEN_ACK_V4: &str = "
    48 53 04                 # magic 'HS', version 4
    03                       # kind 3: Ack (no tokens: only Syn and SynAck carry them)
    a0 d5 d2 fe              # cluster fingerprint
    01 61 01 00 0a 00 00 01 d9 36  # sender a@1/10.0.0.1:7001
    01                       # updates: 1
    00                       #   node: tag 0, hash (b knows a)
    a1 48 9e 6d 14 ad 86 71  #   hash of a
    03                       #   heartbeat 3
    01                       #   piece: Some
    00 00 01                 #     last_gc_version 0, from 0, to 1
    01                       #     entries: 1
    01 00 04 72 6f 6c 65     #       step 1 (v1), set, key 'role'
    06 6c 65 61 64 65 72     #       value 'leader'
";

#[test]
fn golden_v4() {
    let GoldenV4 { sent, next_syn } = golden_exchange_v4();
    let versions: Vec<(u8, u8)> = sent.iter().map(|d| (d[2], d[3])).collect();
    // a's Syn in both versions, b's answer to each in its version, a's
    // Ack to each.
    assert_eq!(versions, [(4, 1), (3, 1), (4, 2), (3, 2), (4, 3), (3, 3)]);
    // The first Syn to an address that gave us no token is padded to the
    // mtu, so that the bounded reply has room (version 4 on); its copy in
    // version 3, which cannot be, is not.
    let syn_len = hex(GOLDEN_SYN_V4).len();
    assert_eq!(sent[0].len(), Config::new().mtu);
    let (syn, padding) = sent[0].split_at(syn_len);
    assert_golden(syn, GOLDEN_SYN_V4, "Syn v4");
    assert!(padding.iter().all(|&b| b == 0));
    assert_golden(&sent[1], GOLDEN_SYN, "Syn v3 beside it");
    assert_golden(&sent[2], GOLDEN_SYNACK_V4, "SynAck v4");
    assert_golden(&sent[3], GOLDEN_SYNACK, "SynAck v3");
    // b echoed a's token in its v4 SynAck, so a's v4 Ack has its full
    // budget and sends a's head once, with its piece; the v3 Ack is
    // bounded and sends the head alone first.
    assert_golden(&sent[4], GOLDEN_ACK_V4, "Ack v4");
    assert_golden(&sent[5], GOLDEN_ACK, "Ack v3");
    // The next Syn speaks 4 only and echoes b's token.
    assert_eq!(next_syn[2], 4);
    let (_, hv, _, body) = read_header(&next_syn).expect("header");
    let syn = parse_syn(hv, body).expect("valid");
    let (_, hv, _, body) = read_header(&sent[2]).expect("header");
    let synack = parse_synack(hv, body).expect("valid");
    let (syn_t, synack_t) = (syn.tokens.expect("v4"), synack.tokens.expect("v4"));
    assert_eq!(syn_t.echo, synack_t.token);
    assert_eq!(synack_t.echo, syn_t.token);
}

// ---------------------------------------------------------------------------
// 3. Decoder validation: one test per DecodeError.

/// a@1/10.0.0.1:7001 as a wire id.
fn a_wire() -> WireNodeId<'static> {
    wire_v4("a", 1, [10, 0, 0, 1], 7001)
}

/// Two digest hashes, ascending.
const H1: u64 = 0x1000_0000_0000_0000;
const H2: u64 = 0x2000_0000_0000_0000;

fn syn_dg(head: &SynHead<'_>, lines: &[WireDigest]) -> Vec<u8> {
    Dg::new(MessageKind::Syn).put(head).put(lines).0
}

fn base_syn_head() -> SynHead<'static> {
    syn_head(a_wire(), 1, 0, u64::MAX)
}

fn base_lines() -> Vec<WireDigest> {
    vec![digest(H1, 3, 0, 2), digest(H2, 1, 1, 5)]
}

/// A valid Syn from a.
fn base_syn() -> Vec<u8> {
    syn_dg(&base_syn_head(), &base_lines())
}

fn base_entries() -> Vec<WireEntry<'static>> {
    vec![entry(1, 0, "KEY", b"VALUE"), entry(2, 1, "dead", b"")]
}

/// A valid update: a's full id with a piece (0, 3] of two entries.
fn base_update() -> TUpdate<'static> {
    upd(
        WireNodeRef::Full(a_wire()),
        3,
        piece(0, 0, 3),
        base_entries(),
    )
}

fn synack_dg(head: &SynAckHead<'_>, requests: &[WireRequest], updates: &[TUpdate<'_>]) -> Vec<u8> {
    Dg::new(MessageKind::SynAck)
        .put(head)
        .put(requests)
        .put(updates)
        .0
}

fn base_synack_head() -> SynAckHead<'static> {
    SynAckHead {
        sender: a_wire(),
        piece_count: 1,
    }
}

fn base_requests() -> Vec<WireRequest> {
    vec![request(H1, true, 4, 1), request(H2, false, 0, 0)]
}

/// A valid SynAck from a: two requests, one update.
fn base_synack() -> Vec<u8> {
    synack_dg(&base_synack_head(), &base_requests(), &[base_update()])
}

fn ack_dg(sender: WireNodeId<'_>, updates: &[TUpdate<'_>]) -> Vec<u8> {
    Dg::new(MessageKind::Ack)
        .put(&AckHead { sender })
        .put(updates)
        .0
}

/// A valid Ack from a with one update.
fn base_ack() -> Vec<u8> {
    ack_dg(a_wire(), &[base_update()])
}

/// A SynAck from a whose single update carries `entries` in `(from, to]`.
fn synack_with_piece(from: u64, to: u64, entries: Vec<WireEntry<'_>>) -> Vec<u8> {
    let u = upd(WireNodeRef::Full(a_wire()), 3, piece(0, from, to), entries);
    synack_dg(&base_synack_head(), &base_requests(), &[u])
}

#[test]
fn base_datagrams_are_accepted() {
    for d in [base_syn(), base_synack(), base_ack()] {
        assert_accepted(&d);
    }
    // And the SynAck's update really is applied.
    let mut rx = receiver();
    assert_eq!(
        feed(&mut rx, sa("10.0.0.1:7001"), &base_ack()).result,
        Ok(())
    );
    let a = rx.node("a").expect("learned a");
    assert_eq!(a.get("KEY"), Some(&b"VALUE"[..]));
    assert_eq!(a.max_version(), 3);
}

#[test]
fn rejects_too_short() {
    let syn = base_syn();
    for len in [0, 1, 2, HEADER_LEN - 1] {
        assert_rejected(&syn[..len], DecodeError::TooShort);
    }
    // Control: exactly a header is no longer too short, just truncated.
    assert_rejected(&syn[..HEADER_LEN], DecodeError::Truncated);
}

#[test]
fn rejects_oversized() {
    let mut d = base_syn();
    d.resize(MAX_DATAGRAM_LEN + 1, 0);
    assert_eq!(d.len(), 65_508);
    assert_rejected(&d, DecodeError::Oversized);
    // Even a datagram that is not hearsay at all.
    assert_rejected(&[0u8; 70_000], DecodeError::Oversized);
    // Control: one byte less is read and fails on its trailing bytes.
    d.pop();
    assert_rejected(&d, DecodeError::TrailingBytes);
}

#[test]
fn rejects_bad_magic() {
    for (at, byte) in [(0, b'h'), (1, b's'), (0, 0), (1, 0xff)] {
        let mut d = base_syn();
        d[at] = byte;
        assert_rejected(&d, DecodeError::BadMagic);
    }
}

#[test]
fn rejects_unsupported_version() {
    // Versions 1 and 2 (before prefix references) are no longer spoken,
    // and versions after ours are not known yet.
    for v in [0, 1, 2, PROTOCOL_VERSION + 1, 0xff] {
        let mut d = base_syn();
        d[2] = v;
        assert_rejected(&d, DecodeError::UnsupportedVersion);
    }
}

#[test]
fn rejects_unknown_kind() {
    for k in [0, 4, 0x7f, 0xff] {
        let mut d = base_synack();
        d[3] = k;
        assert_rejected(&d, DecodeError::UnknownKind);
    }
    // 0x81 is a Syn with the sealed flag: refused without keys.
    let mut d = base_synack();
    d[3] = 0x81;
    assert_rejected(&d, DecodeError::SealedRefused);
}

#[test]
fn rejects_foreign_cluster() {
    let mut other = Config::new();
    other.cluster_id = ClusterId::new("other");
    for d in [base_syn(), base_synack(), base_ack()] {
        let mut rx = engine_with(r_id(), other.clone());
        rx.set("own", b"value").expect("set");
        assert_rejected_by(rx, &d, DecodeError::ForeignCluster);
    }
    // One bit of the fingerprint is enough.
    let mut d = base_syn();
    d[7] ^= 0x80;
    assert_rejected(&d, DecodeError::ForeignCluster);
}

#[test]
fn rejects_from_self() {
    // Another incarnation of the receiver's name, elsewhere, is still us.
    let me = wire_v4("r", 99, [192, 168, 0, 9], 9);
    assert_rejected(
        &syn_dg(&syn_head(me, 1, 0, u64::MAX), &base_lines()),
        DecodeError::FromSelf,
    );
    let head = SynAckHead {
        sender: me,
        piece_count: 1,
    };
    assert_rejected(
        &synack_dg(&head, &base_requests(), &[base_update()]),
        DecodeError::FromSelf,
    );
    assert_rejected(&ack_dg(me, &[base_update()]), DecodeError::FromSelf);
    // An engine's own datagram reflected back to it.
    let mut r = receiver();
    let mut tx = Outbox::default();
    r.start_exchange(sa("10.0.0.1:7001"), &mut tx).expect("syn");
    assert_rejected(&tx.sent[0].1, DecodeError::FromSelf);
}

#[test]
fn rejects_truncated() {
    // Bodies that end in the middle of the sender.
    for d in [base_syn(), base_synack(), base_ack()] {
        for len in [HEADER_LEN, HEADER_LEN + 1, HEADER_LEN + 5] {
            assert_rejected(&d[..len], DecodeError::Truncated);
        }
    }
    // A digest line with wide varints: the count allows it (19 > 11 bytes
    // minimum) but it is cut in its heartbeat.
    let wide = syn_dg(&base_syn_head(), &[digest(H1, 1 << 60, 0, 1 << 60)]);
    assert_accepted(&wide);
    assert_rejected(&wide[..wide.len() - 12], DecodeError::Truncated);
    // A SynAck whose entry value is cut short.
    let long_value = [7u8; 100];
    let d = synack_with_piece(0, 1, vec![entry(1, 0, "k", &long_value)]);
    assert_accepted(&d);
    assert_rejected(&d[..d.len() - 50], DecodeError::Truncated);
}

#[test]
fn rejects_invalid_encoding() {
    let syn = base_syn();
    // Sender layout: [8] name length, [9] 'a', [10] generation, [11] addr
    // tag, [12..16] ip, [16..18] port.
    assert_eq!(syn[8..18], hex("01 61 01 00 0a 00 00 01 d9 36"));

    // Invalid UTF-8 in the sender name.
    let mut d = syn.clone();
    d[9] = 0xff;
    assert_rejected(&d, DecodeError::InvalidEncoding);
    // Overlong u64 varint for the generation (ten continuation bytes).
    let mut d = syn.clone();
    d.splice(10..11, [0xff; 10]);
    assert_rejected(&d, DecodeError::InvalidEncoding);
    // u64 varint overflowing in its tenth byte.
    let mut d = syn.clone();
    d.splice(
        10..11,
        [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],
    );
    assert_rejected(&d, DecodeError::InvalidEncoding);
    // Port above u16::MAX.
    let mut d = syn.clone();
    d.splice(16..18, [0xff, 0xff, 0x07]);
    assert_rejected(&d, DecodeError::InvalidEncoding);
    // Address tag 2 (only 0 IPv4 and 1 IPv6 exist).
    let mut d = syn.clone();
    d[11] = 2;
    assert_rejected(&d, DecodeError::InvalidEncoding);
    // A sequence count that overflows u32.
    let d = Dg::new(MessageKind::Syn)
        .put(&base_syn_head())
        .raw(&[0xff, 0xff, 0xff, 0xff, 0x1f])
        .0;
    assert_rejected(&d, DecodeError::InvalidEncoding);

    // In a SynAck: `known` must be a bool.
    let synack = base_synack();
    let q = find_unique(&synack, &be(H1));
    let mut d = synack.clone();
    assert_eq!(d[q + 8], 1);
    d[q + 8] = 2;
    assert_rejected(&d, DecodeError::InvalidEncoding);
    // Invalid UTF-8 in a key.
    let k = find_unique(&synack, b"KEY");
    let mut d = synack.clone();
    d[k + 1] = 0xc3; // a lead byte followed by 'Y', not a continuation
    assert_rejected(&d, DecodeError::InvalidEncoding);

    // In an Ack: node-ref tag 3, and piece option byte 2.
    let ack = ack_dg(a_wire(), &[upd(WireNodeRef::Hash(be(H1)), 9, None, vec![])]);
    assert_accepted(&ack);
    let u = find_unique(&ack, &be(H1)) - 1;
    assert_eq!(ack[u..], hex("00 10 00 00 00 00 00 00 00 09 00"));
    let mut d = ack.clone();
    d[u] = 3;
    assert_rejected(&d, DecodeError::InvalidEncoding);
    let mut d = ack.clone();
    d[u + 10] = 2;
    assert_rejected(&d, DecodeError::InvalidEncoding);
}

#[test]
fn rejects_trailing_bytes() {
    for d in [base_syn(), base_synack(), base_ack()] {
        for extra in [&[0u8][..], &[1, 2, 3], &[0xff; 64]] {
            let mut d = d.clone();
            d.extend_from_slice(extra);
            assert_rejected(&d, DecodeError::TrailingBytes);
        }
    }
    // An empty digest followed by a stray byte.
    let d = Dg::new(MessageKind::Syn)
        .put(&base_syn_head())
        .put(&0u64)
        .raw(&[0])
        .0;
    assert_rejected(&d, DecodeError::TrailingBytes);
}

#[test]
fn rejects_impossible_count() {
    let line = pc(&digest(H1, 3, 0, 2));
    assert_eq!(line.len(), 6);
    // Digest counts the remaining bytes cannot hold at 6 bytes a line.
    for count in [2u64, 1000, u64::from(u32::MAX)] {
        let d = Dg::new(MessageKind::Syn)
            .put(&base_syn_head())
            .put(&count)
            .raw(&line)
            .0;
        assert_rejected(&d, DecodeError::ImpossibleCount);
    }
    // Control: a count of 1 with the same bytes is valid.
    let d = Dg::new(MessageKind::Syn)
        .put(&base_syn_head())
        .put(&1u64)
        .raw(&line)
        .0;
    assert_accepted(&d);

    // Requests, updates and entries, each in a SynAck.
    let u = base_update();
    let d = Dg::new(MessageKind::SynAck)
        .put(&base_synack_head())
        .put(&1_000_000u64)
        .put(&request(H1, true, 4, 1))
        .put(&[u.clone()][..])
        .0;
    assert_rejected(&d, DecodeError::ImpossibleCount);
    let d = Dg::new(MessageKind::SynAck)
        .put(&base_synack_head())
        .put(&base_requests()[..])
        .put(&10u64)
        .put(&u)
        .0;
    assert_rejected(&d, DecodeError::ImpossibleCount);
    let d = Dg::new(MessageKind::Ack)
        .put(&AckHead { sender: a_wire() })
        .put(&1u64)
        .put(&u.head)
        .put(&u64::from(u32::MAX))
        .put(&u.entries[0])
        .0;
    assert_rejected(&d, DecodeError::ImpossibleCount);
}

#[test]
fn rejects_out_of_order() {
    let head = base_syn_head();
    // Digest prefixes descending, or repeated without full hashes.
    let d = syn_dg(&head, &[digest(H2, 0, 0, 0), digest(H1, 0, 0, 0)]);
    assert_rejected(&d, DecodeError::OutOfOrder);
    let d = syn_dg(&head, &[digest(H1, 0, 0, 0), digest(H1, 1, 0, 0)]);
    assert_rejected(&d, DecodeError::OutOfOrder);
    // A shared prefix needs full hashes on both lines, ascending.
    let d = syn_dg(&head, &[digest(H1, 0, 0, 0), digest_full(H1 + 1, 1, 0, 0)]);
    assert_rejected(&d, DecodeError::OutOfOrder);
    let d = syn_dg(
        &head,
        &[digest_full(H1 + 1, 0, 0, 0), digest_full(H1, 1, 0, 0)],
    );
    assert_rejected(&d, DecodeError::OutOfOrder);
    assert_accepted(&syn_dg(
        &head,
        &[digest_full(H1, 0, 0, 0), digest_full(H1 + 1, 1, 0, 0)],
    ));
    // Digest lines outside the piece's ring range (by prefix, or by full
    // hash when given), and a reversed range.
    let d = syn_dg(&syn_head(a_wire(), 2, H1 + (1 << 32), H2), &base_lines());
    assert_rejected(&d, DecodeError::OutOfOrder);
    let d = syn_dg(&syn_head(a_wire(), 2, 0, H2 - 1), &base_lines());
    assert_rejected(&d, DecodeError::OutOfOrder);
    let d = syn_dg(
        &syn_head(a_wire(), 2, H1 + 1, H2),
        &[digest_full(H1, 0, 0, 0)],
    );
    assert_rejected(&d, DecodeError::OutOfOrder);
    let d = syn_dg(&syn_head(a_wire(), 2, H2, H1), &[]);
    assert_rejected(&d, DecodeError::OutOfOrder);
    // Control: the exact range is fine.
    assert_accepted(&syn_dg(&syn_head(a_wire(), 2, H1, H2), &base_lines()));

    // Requests not ascending.
    let rq = [request(H2, true, 0, 0), request(H1, true, 0, 0)];
    let d = synack_dg(&base_synack_head(), &rq, &[base_update()]);
    assert_rejected(&d, DecodeError::OutOfOrder);

    // Entry version step 0.
    let d = synack_with_piece(0, 3, vec![entry(1, 0, "a", b""), entry(0, 0, "b", b"")]);
    assert_rejected(&d, DecodeError::OutOfOrder);
    // Entry version beyond `to`.
    let d = synack_with_piece(0, 3, vec![entry(1, 0, "a", b""), entry(3, 0, "b", b"")]);
    assert_rejected(&d, DecodeError::OutOfOrder);
    // Control: exactly `to` is allowed.
    assert_accepted(&synack_with_piece(
        0,
        3,
        vec![entry(1, 0, "a", b""), entry(2, 0, "b", b"")],
    ));
    // Entry version overflowing u64 (the piece's `to` is capped first, so
    // build the overflow from the largest valid `to`).
    let d = synack_with_piece(u64::MAX - 1, u64::MAX, vec![entry(2, 0, "a", b"")]);
    assert_rejected(&d, DecodeError::InvalidField);
    let d = synack_with_piece(MAX_VERSION - 1, MAX_VERSION, vec![entry(2, 0, "a", b"")]);
    assert_rejected(&d, DecodeError::OutOfOrder);
    // A piece whose range is reversed.
    let d = synack_with_piece(5, 4, vec![]);
    assert_rejected(&d, DecodeError::OutOfOrder);
}

#[test]
fn rejects_invalid_field() {
    // A prefix reference carries a heartbeat alone, never a piece.
    let prefixed = |p: Option<WirePieceHead>, e: Vec<WireEntry<'static>>| {
        upd(WireNodeRef::Prefix([0x10, 0, 0, 0]), 3, p, e)
    };
    let with_piece = prefixed(piece(0, 0, 1), vec![entry(1, 0, "k", b"v")]);
    assert_rejected(
        &synack_dg(&base_synack_head(), &base_requests(), &[with_piece]),
        DecodeError::InvalidField,
    );
    assert_accepted(&synack_dg(
        &base_synack_head(),
        &base_requests(),
        &[prefixed(None, vec![])],
    ));
    // Entries: empty key, key too long, tombstone with a value, unknown status.
    let long_key = "k".repeat(MAX_KEY_LEN + 1);
    let max_key = "k".repeat(MAX_KEY_LEN);
    for e in [
        entry(1, 0, "", b"v"),
        entry(1, 0, &long_key, b"v"),
        entry(1, 1, "t", b"x"),
        entry(1, 3, "k", b"v"),
        entry(1, 0xff, "k", b""),
    ] {
        assert_rejected(&synack_with_piece(0, 1, vec![e]), DecodeError::InvalidField);
    }
    // An empty tombstone key is 4 bytes, below the 5-byte minimum entry the
    // count check assumes: followed by another update it is InvalidField.
    let bad = upd(
        WireNodeRef::Full(a_wire()),
        3,
        piece(0, 0, 1),
        vec![entry(1, 1, "", b"")],
    );
    let next = upd(WireNodeRef::Hash(be(H1)), 0, None, vec![]);
    let d = synack_dg(&base_synack_head(), &base_requests(), &[bad, next]);
    assert_rejected(&d, DecodeError::InvalidField);
    assert_accepted(&synack_with_piece(0, 1, vec![entry(1, 0, &max_key, b"v")]));
    assert_accepted(&synack_with_piece(0, 1, vec![entry(1, 1, "t", b"")]));

    // Zero piece count, in a Syn and in a SynAck.
    let d = syn_dg(&syn_head(a_wire(), 0, 0, u64::MAX), &base_lines());
    assert_rejected(&d, DecodeError::InvalidField);
    let head = SynAckHead {
        sender: a_wire(),
        piece_count: 0,
    };
    assert_rejected(
        &synack_dg(&head, &base_requests(), &[base_update()]),
        DecodeError::InvalidField,
    );

    // Names: empty or longer than 64 bytes (also when 64 chars would fit
    // but the bytes do not), as sender or in a full node ref.
    let long = "n".repeat(MAX_NAME_LEN + 1);
    let wide = "é".repeat(33);
    for name in ["", long.as_str(), wide.as_str()] {
        let bad = wire_v4(name, 1, [10, 0, 0, 7], 7);
        assert_rejected(
            &syn_dg(&syn_head(bad, 1, 0, u64::MAX), &base_lines()),
            DecodeError::InvalidField,
        );
        assert_rejected(&ack_dg(bad, &[]), DecodeError::InvalidField);
        let u = upd(WireNodeRef::Full(bad), 1, None, vec![]);
        assert_rejected(&ack_dg(a_wire(), &[u]), DecodeError::InvalidField);
    }
    // Control: exactly 64 bytes is a valid name.
    let max = "é".repeat(32);
    assert_accepted(&ack_dg(wire_v4(&max, 1, [10, 0, 0, 7], 7), &[]));
}

/// A NUL inside a name or key would make distinct names and keys look
/// alike through the C API (which cuts strings at NUL), so decoding refuses
/// it; only a reserved key's leading NUL is allowed.
#[test]
fn rejects_nul_in_names_and_keys() {
    for name in ["a\0b", "\0a", "a\0"] {
        let bad = wire_v4(name, 1, [10, 0, 0, 7], 7);
        assert_rejected(
            &syn_dg(&syn_head(bad, 1, 0, u64::MAX), &base_lines()),
            DecodeError::InvalidField,
        );
        assert_rejected(&ack_dg(bad, &[]), DecodeError::InvalidField);
        let u = upd(WireNodeRef::Full(bad), 1, None, vec![]);
        assert_rejected(&ack_dg(a_wire(), &[u]), DecodeError::InvalidField);
    }
    for key in ["a\0b", "k\0", "\0status\0x", "\0\0"] {
        for status in [0, 1] {
            let value: &[u8] = if status == 1 { b"" } else { b"v" };
            assert_rejected(
                &synack_with_piece(0, 1, vec![entry(1, status, key, value)]),
                DecodeError::InvalidField,
            );
        }
    }
    // Control: a reserved key's leading NUL is the protocol's own.
    assert_accepted(&synack_with_piece(
        0,
        1,
        vec![entry(1, 0, "\0status", b"leaving")],
    ));
}

#[test]
fn accepts_last_gc_above_max_version() {
    // A receiver part-way through a reset holds a node at max_version below
    // the owner's last_gc_version, and says so in its digest and requests.
    let d = syn_dg(&base_syn_head(), &[digest(H1, 0, 3, 2)]);
    assert_accepted(&d);
    let d = synack_dg(&base_synack_head(), &[request(H1, true, 2, 3)], &[]);
    assert_accepted(&d);
}

/// Regression: a reset piece cut short (by the mtu, its continuation lost)
/// leaves the receiver holding the owner at `max_version < last_gc_version`,
/// a state the exchange supports ("receiver mid-reset at the same
/// collection point: continue"). The decoder used to reject digest lines and
/// requests with `last_gc_version > max_version` as `InvalidField`, so every
/// later Syn of the receiver, and every SynAck asking for that node, was
/// rejected whole and the reset could never complete.
#[test]
fn cut_short_reset_state_is_accepted_by_peers() {
    let o_id = id("o", 1, "10.0.0.5:7005");
    let mut o = engine(o_id.clone());
    // Eight entries of ~300 bytes: more than one 1400-byte datagram.
    for i in 0..8u8 {
        o.set(&format!("k{i}"), &[i; 300]).expect("set");
    }
    o.set("t", b"x").expect("set");
    o.delete("t", NOW).expect("delete");
    let after_grace = Instant::from_millis(3_600_000);
    o.tick(
        after_grace,
        &mut crate::testkit::TestRng(7),
        &mut crate::testkit::Recorder::default(),
        &mut (),
    );
    let ov = o.local_node().expect("local");
    assert_eq!((ov.max_version(), ov.last_gc_version()), (10, 10));

    // r learns o: o's Syn, r's SynAck asks for o, o answers with a reset
    // from version 0 split over several Ack datagrams; only the first arrives.
    let mut r = receiver();
    let mut tx = Outbox::default();
    o.start_exchange(r_id().addr, &mut tx).expect("syn");
    let synacks = deliver(&mut r, o_id.addr, &tx.sent[0].1);
    assert_eq!(synacks.len(), 1);
    let acks = deliver(&mut o, r_id().addr, &synacks[0]);
    assert!(acks.len() > 1, "the reset needs several datagrams");
    deliver(&mut r, o_id.addr, &acks[0]);
    let seen = r.node("o").expect("r knows o");
    assert!(
        seen.last_gc_version() > seen.max_version(),
        "r holds o mid-reset: max {} last_gc {}",
        seen.max_version(),
        seen.last_gc_version()
    );

    // r's next Syn carries that state in o's digest line; o must accept it.
    let mut tx = Outbox::default();
    r.start_exchange(o_id.addr, &mut tx).expect("syn");
    for (_, syn) in &tx.sent {
        assert_eq!(
            feed(&mut o, r_id().addr, syn).result,
            Ok(()),
            "r's Syn rejected"
        );
    }
    // When o opens the exchange, r's SynAck (asking for o) is accepted too.
    let mut tx = Outbox::default();
    o.start_exchange(r_id().addr, &mut tx).expect("syn");
    for (_, syn) in &tx.sent {
        for synack in deliver(&mut r, o_id.addr, syn) {
            assert_eq!(
                feed(&mut o, r_id().addr, &synack).result,
                Ok(()),
                "r's SynAck rejected"
            );
        }
    }
    // And a full exchange completes the reset.
    run_exchange(&mut r, &mut o);
    let seen = r.node("o").expect("r knows o");
    assert_eq!((seen.max_version(), seen.last_gc_version()), (10, 10));
    for i in 0..8u8 {
        assert_eq!(seen.get(&format!("k{i}")), Some(&[i; 300][..]));
    }
    assert_eq!(seen.entry("t"), None);
}

// ---------------------------------------------------------------------------
// 4. Property tests.

/// Engines a (early state) and c, after c has exchanged with a.
fn world_ac() -> (Box<Eng>, Box<Eng>) {
    let mut a = engine(a_id());
    a.set("role", b"leader").expect("set");
    a.set("zone", b"eu-west").expect("set");
    a.tick(
        NOW,
        &mut crate::testkit::TestRng(7),
        &mut crate::testkit::Recorder::default(),
        &mut (),
    );
    let mut c = engine(c_id());
    c.set("c-key", b"c-value").expect("set");
    c.set("gone", b"x").expect("set");
    c.delete("gone", NOW).expect("delete");
    c.tick(
        NOW,
        &mut crate::testkit::TestRng(7),
        &mut crate::testkit::Recorder::default(),
        &mut (),
    );
    run_exchange(&mut c, &mut a);
    (a, c)
}

/// The engine mutated datagrams are fed to: c, knowing an older state of a.
fn populated_receiver() -> Box<Eng> {
    world_ac().1
}

/// Valid datagrams from real exchanges between a and b, neither sent by c.
fn corpus() -> &'static [Vec<u8>] {
    static CORPUS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let (mut a, _) = world_ac();
        a.set("role", b"follower").expect("set");
        a.delete("zone", NOW).expect("delete");
        a.set_with_ttl("lease", b"42", Duration::from_secs(9), NOW)
            .expect("set");
        a.tick(
            NOW,
            &mut crate::testkit::TestRng(7),
            &mut crate::testkit::Recorder::default(),
            &mut (),
        );
        let mut b = engine(b_id());
        b.set("x", b"1").expect("set");
        b.set("y", b"2").expect("set");
        b.delete("y", NOW).expect("delete");
        b.set("big", &[0xab; 300]).expect("set");
        b.set(&"long-key-".repeat(20), b"v").expect("set");
        for _ in 0..4 {
            b.tick(
                NOW,
                &mut crate::testkit::TestRng(7),
                &mut crate::testkit::Recorder::default(),
                &mut (),
            );
        }
        let mut all = run_exchange(&mut a, &mut b);
        b.set("x", b"2").expect("set");
        b.tick(
            NOW,
            &mut crate::testkit::TestRng(7),
            &mut crate::testkit::Recorder::default(),
            &mut (),
        );
        all.extend(run_exchange(&mut b, &mut a));
        // Version 5's compact block and beat run.
        all.extend(golden_exchange_v5());
        all
    })
}

#[test]
fn corpus_is_valid_and_covers_every_kind() {
    let corpus = corpus();
    for kind in [MessageKind::Syn, MessageKind::SynAck, MessageKind::Ack] {
        assert!(corpus.iter().any(|d| d[3] == kind as u8), "{kind:?}");
    }
    for d in corpus {
        let mut rx = populated_receiver();
        assert_eq!(feed(&mut rx, sa("10.0.0.1:7001"), d).result, Ok(()));
    }
    // The SynAck and Ack do teach c something.
    let mut rx = populated_receiver();
    let before = snapshot(&rx);
    for d in corpus.iter().filter(|d| d[3] != MessageKind::Syn as u8) {
        assert_eq!(feed(&mut rx, sa("10.0.0.1:7001"), d).result, Ok(()));
    }
    assert_ne!(snapshot(&rx), before);
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip {
        at: usize,
        mask: u8,
    },
    Truncate {
        keep: usize,
    },
    Insert {
        at: usize,
        bytes: Vec<u8>,
    },
    Delete {
        at: usize,
        len: usize,
    },
    Splice {
        other: usize,
        from: usize,
        len: usize,
        at: usize,
        replace: usize,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), 1u8..=255).prop_map(|(at, mask)| Mutation::Flip { at, mask }),
        1 => any::<usize>().prop_map(|keep| Mutation::Truncate { keep }),
        2 => (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        2 => (any::<usize>(), 1usize..8).prop_map(|(at, len)| Mutation::Delete { at, len }),
        1 => (any::<usize>(), any::<usize>(), 1usize..64, any::<usize>(), 0usize..64)
            .prop_map(|(other, from, len, at, replace)| Mutation::Splice {
                other,
                from,
                len,
                at,
                replace,
            }),
    ]
}

fn apply(d: &mut Vec<u8>, m: &Mutation, corpus: &[Vec<u8>]) {
    let len = d.len();
    match m {
        Mutation::Flip { at, mask } => {
            if len > 0 {
                d[at % len] ^= mask;
            }
        }
        Mutation::Truncate { keep } => d.truncate(keep % (len + 1)),
        Mutation::Insert { at, bytes } => {
            let at = at % (len + 1);
            d.splice(at..at, bytes.iter().copied());
        }
        Mutation::Delete { at, len: n } => {
            if len > 0 {
                let at = at % len;
                d.drain(at..(at + n).min(len));
            }
        }
        Mutation::Splice {
            other,
            from,
            len: n,
            at,
            replace,
        } => {
            let src = &corpus[other % corpus.len()];
            let from = from % src.len();
            let seg = &src[from..(from + n).min(src.len())];
            let at = at % (len + 1);
            d.splice(at..(at + replace).min(len), seg.iter().copied());
        }
    }
}

/// Feeds `d` to a populated receiver and checks the no-change guarantee of
/// rejected datagrams.
fn check_datagram(d: &[u8]) -> Result<(), TestCaseError> {
    let mut rx = populated_receiver();
    let before = snapshot(&rx);
    let digest = rx.state_digest();
    let counters = rx.counters().clone();
    let out = feed(&mut rx, sa("10.0.0.2:7002"), d);
    if let Err(v) = rx.check_invariants() {
        return Err(TestCaseError::fail(format!("invariant broken: {v}")));
    }
    match out.result {
        Err(e) => {
            prop_assert_eq!(snapshot(&rx), before, "{:?} changed state", e);
            prop_assert_eq!(rx.state_digest(), digest, "{:?} changed state", e);
            prop_assert!(out.sent.is_empty(), "{:?} sent a reply", e);
            prop_assert_eq!(out.events, 0, "{:?} emitted events", e);
            prop_assert_eq!(rx.counters().rejected(e), counters.rejected(e) + 1);
            prop_assert_eq!(
                rx.counters().rejected_total(),
                counters.rejected_total() + 1
            );
        }
        Ok(()) => {
            let stored: usize = rx.nodes().map(|n| n.all_entries().count()).sum();
            prop_assert_eq!(stored, rx.entry_count());
            for (_, reply) in &out.sent {
                prop_assert!(reply.len() <= rx.config().mtu);
                prop_assert!(read_header(reply).is_ok());
            }
        }
    }
    Ok(())
}

/// Runs the parsers directly on `bytes`, as a body and as a datagram.
fn parse_everything(bytes: &[u8]) {
    if let Ok((_, hv, _, body)) = read_header(bytes) {
        let _ = parse_syn(hv, body).map(|m| m.digest().count());
        let _ = parse_synack(hv, body);
        let _ = parse_ack(hv, body);
    }
    for v in [V3, PROTOCOL_VERSION] {
        if let Ok(m) = parse_syn(v, bytes) {
            assert!(m.digest().all(|d| d.is_ok()));
        }
    }
    for m in [
        parse_synack(V3, bytes),
        parse_synack(PROTOCOL_VERSION, bytes),
        parse_ack(V3, bytes),
    ]
    .into_iter()
    .flatten()
    {
        assert!(m.requests().all(|q| q.is_ok()));
        for u in m.updates() {
            let u = u.expect("validated update");
            if let Some(p) = u.piece {
                assert!(p.entries().all(|e| e.is_ok()));
            }
        }
    }
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        parse_everything(&bytes);
        check_datagram(&bytes)?;
    }

    #[test]
    fn random_bodies_behind_a_valid_header_never_panic(
        kind in 1u8..=3,
        body in proptest::collection::vec(any::<u8>(), 0..2000),
    ) {
        let mut d = vec![0x48, 0x53, PROTOCOL_VERSION, kind];
        d.extend_from_slice(&CLUSTER.to_le_bytes());
        d.extend_from_slice(&body);
        parse_everything(&d);
        parse_everything(&body);
        check_datagram(&d)?;
    }

    #[test]
    fn valid_prefix_then_random_tail_never_panics(
        src in any::<usize>(),
        keep in any::<usize>(),
        tail in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let corpus = corpus();
        let src = &corpus[src % corpus.len()];
        let mut d = src[..HEADER_LEN + keep % (src.len() - HEADER_LEN + 1)].to_vec();
        d.extend_from_slice(&tail);
        parse_everything(&d);
        check_datagram(&d)?;
    }
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn mutated_datagrams_change_nothing_when_rejected(
        src in any::<usize>(),
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        let corpus = corpus();
        let mut d = corpus[src % corpus.len()].clone();
        for m in &mutations {
            apply(&mut d, m, corpus);
        }
        parse_everything(&d);
        check_datagram(&d)?;
    }
}

/// Every length the engine plans with, predicted for a wire element, is
/// exactly what the encoder writes for it: planning never overfills a
/// datagram nor leaves room it thought was used.
mod predicted_lengths {
    use super::*;
    use core::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};

    fn any_id() -> impl Strategy<Value = NodeId> {
        (
            "[a-z0-9.-]{1,64}",
            any::<u64>(),
            any::<bool>(),
            any::<u32>(),
            any::<u128>(),
            any::<u16>(),
        )
            .prop_map(|(name, generation, v6, v4, ip6, port)| {
                let addr = if v6 {
                    SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(ip6), port, 0, 0))
                } else {
                    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(v4), port))
                };
                NodeId::new(&name, generation, addr).expect("valid id")
            })
    }

    /// Bytes `write` makes the encoder write into an empty datagram.
    fn written(write: impl FnOnce(&mut Encoder<'_>) -> Result<(), Full>) -> usize {
        let mut buf = vec![0u8; MAX_DATAGRAM_LEN];
        let mut enc = Encoder::new(&mut buf, MAX_DATAGRAM_LEN);
        write(&mut enc).expect("fits in a datagram");
        enc.pos()
    }

    fn varint_sized() -> impl Strategy<Value = u64> {
        // Every varint length, 1 to 10 bytes, equally likely.
        (0u32..64, any::<u64>()).prop_map(|(bits, v)| v >> bits)
    }

    proptest! {
        #[test]
        fn every_predicted_length_equals_the_bytes_written(
            id in any_id(),
            piece_count in any::<u16>(),
            hash in any::<u64>(),
            full in any::<bool>(),
            known in any::<bool>(),
            heartbeat in varint_sized(),
            last_gc in varint_sized(),
            max_version in varint_sized(),
            from in varint_sized(),
            count in 0..=MAX_SEQ_COUNT,
            step in varint_sized(),
            status in prop_oneof![
                Just(EntryStatus::Set),
                Just(EntryStatus::Deleted),
                Just(EntryStatus::SetWithTtl),
            ],
            key in "[a-z]{0,255}",
            value in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            prop_assert_eq!(written(|e| e.node_id(&id)), node_id_len(&id));
            let tokens = Tokens { token: hash.to_le_bytes(), echo: hash.to_be_bytes() };
            for version in MIN_PROTOCOL_VERSION..=PROTOCOL_VERSION {
                prop_assert_eq!(
                    written(|e| e
                        .syn_head(version, 7, &id, piece_count, (hash, hash), (&tokens, 0, 0), &[])
                        .map(|_| ())),
                    syn_head_len(&id, piece_count, version, &[])
                );
                // A reply's head: header, id, piece count, tokens, a reserve.
                prop_assert_eq!(
                    written(|e| e
                        .reply_head(MessageKind::SynAck, version, 7, &id, Some((piece_count, &tokens, 0)), &[])
                        .map(|_| ())),
                    HEADER_LEN + node_id_len(&id) + varint_len(u64::from(piece_count))
                        + tokens_len(version) + compact_len(version)
                        + partials_len(version, &[]) + SEQ_COUNT_RESERVE
                );
                prop_assert_eq!(
                    written(|e| e.empty_synack(version, 7, &id, piece_count, (&tokens, 0))),
                    HEADER_LEN + node_id_len(&id) + varint_len(u64::from(piece_count))
                        + tokens_len(version) + compact_len(version)
                        + partials_len(version, &[]) + 2
                );
            }
            prop_assert_eq!(
                written(|e| e.digest_line(hash, full, heartbeat, last_gc, max_version)),
                digest_len(full, heartbeat, last_gc, max_version)
            );
            prop_assert_eq!(
                written(|e| e.request(hash, known, max_version, last_gc)),
                request_len(max_version, last_gc)
            );
            let prefix = prefix_of(hash);
            for name in [UpdateNode::Hash(hash), UpdateNode::Intro(&id), UpdateNode::Prefix(prefix)] {
                prop_assert_eq!(
                    written(|e| e.update_head(name, heartbeat)),
                    update_head_len(name, heartbeat)
                );
            }
            prop_assert_eq!(written(|e| e.no_piece()), 1);
            prop_assert_eq!(
                written(|e| e.piece_head(last_gc, from, max_version, count)),
                piece_head_len(last_gc, from, max_version, count)
            );
            prop_assert!(piece_head_len(last_gc, from, max_version, count) <= PIECE_HEAD_MAX);
            prop_assert_eq!(
                written(|e| e.entry(step, status, key.as_bytes(), &value)),
                entry_len(step, key.len(), value.len())
            );
            prop_assert!(node_id_len(&id) <= MAX_NODE_ID_LEN);
        }
    }
}

/// A version-4 Syn from a (one digest line), then `tail`.
fn syn_v4_then(tail: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; 1400];
    let len = {
        let mut e = Encoder::new(&mut buf, 1400);
        let mark = e
            .syn_head(
                TOKENS_VERSION,
                CLUSTER,
                &a_id(),
                1,
                (0, u64::MAX),
                (&Tokens::default(), 0, 0),
                &[],
            )
            .expect("room");
        e.digest_line(a_id().ring_hash(), false, 3, 0, 1)
            .expect("room");
        e.end_seq(mark, 1);
        e.pos()
    };
    buf.truncate(len);
    buf.extend_from_slice(tail);
    buf
}

#[test]
fn a_version_4_syn_may_end_in_zero_padding_and_nothing_else() {
    assert_accepted(&syn_v4_then(&[]));
    assert_accepted(&syn_v4_then(&[0]));
    assert_accepted(&syn_v4_then(&[0; 1300]));
    for tail in [&[1u8][..], &[0, 0, 0, 7], &[0xff; 64]] {
        assert_rejected(&syn_v4_then(tail), DecodeError::TrailingBytes);
    }
    // Version 3 never allowed padding: its readers refuse it.
    let mut v3 = base_syn();
    v3.extend_from_slice(&[0; 16]);
    assert_rejected(&v3, DecodeError::TrailingBytes);
}

/// Bytes a version-5 SynAck adds before its requests: the stamp echo and
/// two empty lists (notices, beat runs).
fn compact_len(version: u8) -> usize {
    if version >= BLOCKS_VERSION {
        STAMP_LEN + 2
    } else {
        0
    }
}

/// The golden engines in version 5: they meet at 0 s and 1 s (lines, while
/// their tables change), then each takes four more rounds alone; at 5 s a
/// opens an exchange with a table still for four intervals, so its Syn is
/// one compact block.
fn golden_exchange_v5() -> Vec<Vec<u8>> {
    let (mut a, mut b) = golden_pair_at(BLOCKS_VERSION);
    let at = |s: u64| NOW.saturating_add(Duration::from_secs(s));
    let mut rng = crate::testkit::TestRng(7);
    run_exchange_at(&mut a, &mut b, at(0));
    for e in [&mut a, &mut b] {
        e.tick(at(1), &mut rng, &mut Outbox::default(), &mut ());
    }
    run_exchange_at(&mut a, &mut b, at(1));
    run_exchange_at(&mut b, &mut a, at(1));
    for s in 2..=5 {
        a.tick(at(s), &mut rng, &mut Outbox::default(), &mut ());
    }
    // b's own heartbeat moves once more than a has heard.
    b.tick(at(2), &mut rng, &mut Outbox::default(), &mut ());
    run_exchange_at(&mut a, &mut b, at(5))
}

const GOLDEN_SYN_V5: &str = "
    48 53 05 01              # magic 'HS', version 5, kind 1: Syn
    a0 d5 d2 fe              # cluster fingerprint
    01 61 01 00 0a 00 00 01 d9 36  # sender a@1/10.0.0.1:7001
    01                       # piece_count 1
    00 00 00 00 00 00 00 00  # ring_start 0
    ff ff ff ff ff ff ff ff  # ring_end u64::MAX
    2c b4 32 1f 12 23 8a 63  # token: a's for b's address
    ba 84 7c d8 d8 e8 d4 3f  # echo: b's token for a's address
    02 00 00 00              # stamp 2, little-endian
    00                       # block bits 0: one block, the whole ring
    01                       # runs: 1
    01                       #   tag 1: a block
    00                       #   index 0
    02                       #   count: 2 nodes (a, then b in ring order)
    9f b0 a3 0a 61 19 25 ee  #   set hash
    d8 90 6a 48              #   version hash
    00                       #   explicit versions: none (no change in 4 s)
    00                       #   absent: none (a holds b alive)
    08 00                    #   a's heartbeat 8, low 16 bits
    03 00                    #   b's heartbeat as a holds it: 3
";

const GOLDEN_SYNACK_V5: &str = "
    48 53 05 02              # magic 'HS', version 5, kind 2: SynAck
    a0 d5 d2 fe              # cluster fingerprint
    01 62 02 00 0a 00 00 02 da 36  # sender b@2/10.0.0.2:7002
    01                       # piece_count 1 (of the Syn answered)
    ba 84 7c d8 d8 e8 d4 3f  # token: b's for a's address
    2c b4 32 1f 12 23 8a 63  # echo: a's token, from its Syn
    02 00 00 00              # stamp echo 2
    00                       # notices: none (same node set and versions)
    01                       # beat runs: 1
    00                       #   block 0
    02                       #   count 2
    02                       #   bitmap: position 1 (b) is fresher here
    01                       #   delta: b is at 3 + 1
    00                       # requests: none
    00                       # updates: none
";

#[test]
fn golden_v5() {
    let sent = golden_exchange_v5();
    assert_eq!(sent.len(), 2, "a Syn and a SynAck, nothing to ack");
    assert_golden(&sent[0], GOLDEN_SYN_V5, "version-5 Syn");
    assert_golden(&sent[1], GOLDEN_SYNACK_V5, "version-5 SynAck");
    // Both decode, and the SynAck's beat run names b one beat ahead.
    let (_, v, _, body) = read_header(&sent[1]).expect("header");
    let msg = parse_synack(v, body).expect("valid");
    let compact = msg.compact.expect("version 5");
    let runs: Vec<Vec<(u16, u64)>> = compact.beat_runs().map(|r| r.deltas().collect()).collect();
    assert_eq!(runs, [vec![(1, 1)]]);
}

/// Found by the `engine` fuzz target: block counters moved for a Syn
/// rejected after its blocks were planned, and twice for a new sender (a
/// Syn from one is planned twice).
#[test]
fn block_counters_count_valid_syns_once() {
    let mut rx = receiver();
    let out = feed(&mut rx, sa("10.0.0.1:7001"), &hex(GOLDEN_SYN_V5));
    assert_eq!(out.result, Ok(()));
    assert_eq!(
        (rx.counters().blocks_read, rx.counters().blocks_differ),
        (0, 1)
    );
    let mut trailing = hex(GOLDEN_SYN_V5);
    trailing.push(1);
    let out = feed(&mut rx, sa("10.0.0.1:7001"), &trailing);
    assert_eq!(out.result, Err(DecodeError::TrailingBytes));
    assert_eq!(rx.counters().blocks_differ, 1);
}

#[test]
fn malformed_version_5_blocks_and_beat_runs_are_refused() {
    let syn = hex(GOLDEN_SYN_V5);
    let synack = hex(GOLDEN_SYNACK_V5);
    assert_accepted(&syn);
    assert_accepted(&synack);
    let with = |base: &[u8], at: usize, b: u8| {
        let mut d = base.to_vec();
        d[at] = b;
        d
    };
    let inserted = |base: &[u8], at: usize, bytes: &[u8]| {
        let mut d = base.to_vec();
        d.splice(at..at, bytes.iter().copied());
        d
    };
    // Syn: bits at 55, block index at 58, count at 59, explicit count at
    // 72, absent count at 73, beats from 74.
    assert_rejected(&with(&syn, 55, 17), DecodeError::InvalidField);
    assert_rejected(&with(&syn, 58, 1), DecodeError::InvalidField);
    assert_rejected(&with(&syn, 59, 0), DecodeError::InvalidField);
    assert_rejected(&with(&syn, 73, 3), DecodeError::ImpossibleCount);
    assert_rejected(&syn[..syn.len() - 1], DecodeError::Truncated);
    // An explicit line at position 5 of a 2-node block.
    let explicit = inserted(&with(&syn, 72, 1), 73, &[5, 2]);
    assert_rejected(&explicit, DecodeError::OutOfOrder);
    // Two explicit lines at the same position (a gap of 0 after the first).
    let twice = inserted(&with(&syn, 72, 2), 73, &[1, 2, 0, 2]);
    assert_rejected(&twice, DecodeError::OutOfOrder);
    let ok = inserted(&with(&syn, 72, 2), 73, &[0, 2, 1, 2]);
    assert_accepted(&ok);
    // A block then a line it covers.
    let mut overlapping = with(&syn, 56, 2);
    overlapping.extend_from_slice(&[0, 1, 0xa1, 0x48, 0x9e, 0x6d, 3, 4]);
    assert_rejected(&overlapping, DecodeError::OutOfOrder);
    // Padding after the runs is zeros only.
    let mut padded = syn.clone();
    padded.extend_from_slice(&[0; 32]);
    assert_accepted(&padded);
    padded.push(1);
    assert_rejected(&padded, DecodeError::TrailingBytes);
    // SynAck: notices count at 39, beat run bitmap at 43, delta at 44.
    assert_rejected(&with(&synack, 43, 0x06), DecodeError::InvalidField);
    assert_rejected(&with(&synack, 44, 0), DecodeError::InvalidField);
    let notices = inserted(&with(&synack, 39, 2), 40, &[3, 3]);
    assert_rejected(&notices, DecodeError::OutOfOrder);
    let notices = inserted(&with(&synack, 39, 2), 40, &[3, 4]);
    assert_accepted(&notices);
}
