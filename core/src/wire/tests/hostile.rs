//! What one datagram from a peer inside the cluster, buggy or hostile, may
//! and may not do: pieces must be consistent in themselves, and values no
//! owner could exceed are refused.

use super::*;
use crate::id::GENERATION_MARGIN;
use crate::nodes::NodeStatus;

#[test]
fn a_tombstone_at_or_below_the_pieces_collection_point_is_rejected() {
    // The owner and every relay that learned last_gc 5 dropped tombstones
    // up to 5: a piece that still carries one is not an honest piece.
    let at = |gc: u64| {
        let u = upd(
            WireNodeRef::Full(a_wire()),
            3,
            piece(gc, 0, 6),
            vec![entry(5, 1, "t", b""), entry(1, 0, "k", b"v")],
        );
        synack_dg(&base_synack_head(), &base_requests(), &[u])
    };
    assert_rejected(&at(5), DecodeError::InvalidField);
    assert_rejected(&at(6), DecodeError::InvalidField);
    // Control: the same piece from a source that collected up to 4.
    assert_accepted(&at(4));
}

#[test]
fn a_key_twice_in_one_piece_is_rejected() {
    let d = synack_with_piece(
        0,
        4,
        vec![
            entry(1, 0, "k", b"old"),
            entry(1, 0, "x", b"1"),
            entry(2, 0, "k", b"new"),
        ],
    );
    assert_rejected(&d, DecodeError::InvalidField);
    // Many distinct keys (enough to make the filter say "maybe" now and
    // then) are fine.
    let keys: Vec<String> = (0..300).map(|i| format!("key-{i}")).collect();
    let entries: Vec<WireEntry<'_>> = keys.iter().map(|k| entry(1, 0, k, b"")).collect();
    let u = upd(WireNodeRef::Full(a_wire()), 3, piece(0, 0, 300), entries);
    let d = Dg::new(MessageKind::Ack)
        .put(&AckHead { sender: a_wire() })
        .put(&[u][..])
        .0;
    let mut rx = engine_with(r_id(), Config::new());
    assert_eq!(feed(&mut rx, sa("10.0.0.1:7001"), &d).result, Ok(()));
}

#[test]
fn a_collection_point_beyond_the_version_cap_is_rejected() {
    let u = upd(
        WireNodeRef::Full(a_wire()),
        3,
        piece(MAX_VERSION + 1, 0, 1),
        vec![],
    );
    let d = synack_dg(&base_synack_head(), &base_requests(), &[u]);
    assert_rejected(&d, DecodeError::InvalidField);
}

/// Regression: the check for removed nodes looked up `prefix << 32` among
/// full hashes and never matched, so a peer that still listed a removed node
/// by prefix cost an ask (and an introduction) in every exchange.
#[test]
fn a_removed_node_listed_by_prefix_is_not_asked_for() {
    let x = id("x", 1, "10.0.0.8:7008");
    let mut rx = engine_with(r_id(), Config::new());
    let intro = upd(WireNodeRef::Full(WireNodeId::from_id(&x)), 9, None, vec![]);
    assert_eq!(
        feed(&mut rx, sa("10.0.0.1:7001"), &ack_dg(a_wire(), &[intro])).result,
        Ok(())
    );
    let slot = rx.nodes.find_name("x").expect("x learned");
    rx.forget(slot);
    assert!(rx.node("x").is_none());
    // a still lists x, by prefix, with the heartbeat we remember.
    let lines = [digest(x.ring_hash(), 9, 0, 0)];
    let out = feed(
        &mut rx,
        sa("10.0.0.1:7001"),
        &syn_dg(&base_syn_head(), &lines),
    );
    assert_eq!(out.result, Ok(()));
    for (_, d) in &out.sent {
        let (kind, hv, _, body) = read_header(d).expect("header");
        assert_eq!(kind, MessageKind::SynAck);
        let msg = parse_synack(hv, body).expect("valid SynAck");
        assert_eq!(msg.request_len(), 0, "asked for the removed node");
    }
    // Control: a heartbeat past the remembered one shows it alive again.
    let lines = [digest(x.ring_hash(), 10, 0, 0)];
    let out = feed(
        &mut rx,
        sa("10.0.0.1:7001"),
        &syn_dg(&base_syn_head(), &lines),
    );
    let asked: usize = out
        .sent
        .iter()
        .map(|(_, d)| {
            {
                let h = read_header(d).expect("header");
                parse_synack(h.1, h.3)
            }
            .expect("SynAck")
            .request_len()
        })
        .sum();
    assert_eq!(asked, 1);
}

fn feed_at(rx: &mut Eng, now: u64, datagram: &[u8]) -> Result<(), DecodeError> {
    let mut tx = Outbox::default();
    rx.handle_datagram(
        sa("10.0.0.1:7001"),
        &mut (datagram).to_vec(),
        Instant::from_millis(now),
        &mut tx,
        &mut (),
    )
}

fn beat(node: WireNodeRef<'_>, heartbeat: u64) -> Vec<u8> {
    ack_dg(a_wire(), &[upd(node, heartbeat, None, vec![])])
}

#[test]
fn a_heartbeat_no_owner_could_have_reached_is_refused_by_full_hash_too() {
    let v = id("v", 1, "10.0.0.6:7006");
    let hash = WireNodeRef::Hash(be(v.ring_hash()));
    let mut rx = engine_with(r_id(), Config::new());
    let full = WireNodeRef::Full(WireNodeId::from_id(&v));
    assert_eq!(feed_at(&mut rx, 0, &beat(full, 1)), Ok(()));
    assert_eq!(feed_at(&mut rx, 1000, &beat(hash, 2)), Ok(()));
    assert_eq!(rx.node("v").map(|n| n.status()), Some(NodeStatus::Alive));
    let before = rx.counters().implausible_heartbeats;
    // One forged update: by full hash, and by full id.
    assert_eq!(feed_at(&mut rx, 2000, &beat(hash, u64::MAX)), Ok(()));
    assert_eq!(feed_at(&mut rx, 2000, &beat(full, u64::MAX - 1)), Ok(()));
    assert_eq!(rx.counters().implausible_heartbeats, before + 2);
    assert_eq!(rx.node("v").map(|n| n.heartbeat()), Some(2));
    // v's own next heartbeat still counts.
    assert_eq!(feed_at(&mut rx, 3000, &beat(hash, 3)), Ok(()));
    let view = rx.node("v").expect("v");
    assert_eq!(view.heartbeat(), 3);
    assert_eq!(view.last_heartbeat_at(), Some(Instant::from_millis(3000)));
}

/// Names of the nodes `datagrams` (SynAcks or Acks) introduce by full id.
fn introduced(datagrams: &[(SocketAddr, Vec<u8>)]) -> Vec<String> {
    let mut names = Vec::new();
    for (_, d) in datagrams {
        let (kind, hv, _, body) = read_header(d).expect("header");
        let msg = match kind {
            MessageKind::SynAck => parse_synack(hv, body),
            MessageKind::Ack => parse_ack(hv, body),
            MessageKind::Syn => continue,
        }
        .expect("valid reply");
        for u in msg.updates() {
            if let WireNodeRef::Full(id) = u.expect("valid update").node {
                names.push(id.name.to_string());
            }
        }
    }
    names
}

#[test]
fn made_up_pending_nodes_are_not_introduced_and_are_dropped_unremembered() {
    let names: Vec<String> = (0..5).map(|i| format!("fake{i}")).collect();
    let ids: Vec<NodeId> = names
        .iter()
        .enumerate()
        .map(|(i, n)| id(n, 1, &format!("10.0.1.{i}:7000")))
        .collect();
    let forged: Vec<TUpdate<'_>> = ids
        .iter()
        .map(|i| upd(WireNodeRef::Full(WireNodeId::from_id(i)), 1, None, vec![]))
        .collect();
    let forged = ack_dg(a_wire(), &forged);
    let mut rx = engine_with(r_id(), Config::new());
    assert_eq!(feed(&mut rx, sa("10.0.0.1:7001"), &forged).result, Ok(()));
    assert_eq!(rx.node_count(), 7, "r, a and five made-up nodes");
    // b, a newcomer, sends a Syn with an empty digest: r introduces what
    // it vouches for (itself), not ids it only heard of.
    let b = wire_v4("b", 2, [10, 0, 0, 2], 7002);
    let out = feed(
        &mut rx,
        sa("10.0.0.2:7002"),
        &syn_dg(&syn_head(b, 1, 0, u64::MAX), &[]),
    );
    assert_eq!(out.result, Ok(()));
    assert_eq!(introduced(&out.sent), ["r"]);
    // Never seen alive, they are dropped after `pending_timeout`...
    let timeout = Config::new().pending_timeout.as_millis() as u64;
    rx.tick(
        Instant::from_millis(timeout + 1),
        &mut crate::testkit::TestRng(1),
        &mut crate::testkit::Recorder::default(),
        &mut (),
    );
    assert_eq!(rx.node_count(), 1, "only r is left");
    assert_eq!(rx.counters().pending_dropped, 7);
    // ...and not remembered: the same ids are welcome again.
    assert_eq!(feed(&mut rx, sa("10.0.0.1:7001"), &forged).result, Ok(()));
    assert!(rx.node("fake0").is_some());
    assert_eq!(rx.counters().resurrections_refused, 0);
}

/// One complete exchange opened by `init` at `now`, every datagram
/// delivered; both sides tick first (their heartbeats advance).
fn round_at(init: &mut Eng, resp: &mut Eng, now: u64) {
    let now = Instant::from_millis(now);
    for e in [&mut *init, &mut *resp] {
        e.tick(
            now,
            &mut crate::testkit::TestRng(now.as_millis()),
            &mut crate::testkit::Recorder::default(),
            &mut (),
        );
    }
    let (ia, ra) = (init.id().addr, resp.id().addr);
    let mut tx = Outbox::default();
    init.start_exchange(ra, &mut tx).expect("start exchange");
    let mut queue = tx.sent;
    while !queue.is_empty() {
        let mut next = Vec::new();
        for (to, d) in queue.drain(..) {
            let (rx, from, back) = if to == ra {
                (&mut *resp, ia, ia)
            } else {
                (&mut *init, ra, ra)
            };
            let mut out = Outbox::default();
            // Replies to a stale sender may be refused as stale; that is
            // part of what these tests exercise.
            let _ = rx.handle_datagram(from, &mut d.clone(), now, &mut out, &mut ());
            next.extend(out.sent.into_iter().map(|(_, r)| (back, r)));
        }
        queue = next;
    }
}

fn v_id(generation: u64) -> NodeId {
    id("v", generation, "10.0.0.6:7006")
}

/// v with one key, known to r with that key.
fn v_and_r() -> (Box<Eng>, Box<Eng>) {
    let mut v = engine(v_id(1));
    v.set("k", b"1").expect("set");
    let mut r = engine(r_id());
    for t in 1..=3 {
        round_at(&mut v, &mut r, t * 1000);
    }
    assert_eq!(r.node("v").and_then(|n| n.get("k")), Some(&b"1"[..]));
    (v, r)
}

#[test]
fn a_forged_empty_reset_is_healed_by_self_refutation() {
    let (mut v, mut r) = v_and_r();
    let held = r.node("v").map_or(0, |n| n.heartbeat());
    // A peer sends r a reset of v "at the highest version there is".
    let forged = upd(
        WireNodeRef::Hash(be(v.id().ring_hash())),
        held,
        piece(MAX_VERSION, 0, MAX_VERSION),
        vec![],
    );
    assert_eq!(feed_at(&mut r, 3500, &ack_dg(a_wire(), &[forged])), Ok(()));
    assert_eq!(r.node("v").and_then(|n| n.get("k")), None, "the damage");
    // r's digest now shows v ahead of v itself: v takes a new generation,
    // which supersedes the forged copy everywhere.
    for t in 4..=6 {
        round_at(&mut r, &mut v, t * 1000);
        round_at(&mut v, &mut r, t * 1000 + 500);
    }
    assert!(v.id().generation > 1);
    assert_eq!(v.counters().refutations, 1);
    let seen = r.node("v").expect("v known");
    assert_eq!(seen.id(), v.id());
    assert_eq!(seen.get("k"), Some(&b"1"[..]));
    // And v's later writes are not ignored as stale.
    v.set("k2", b"2").expect("set");
    round_at(&mut v, &mut r, 7000);
    assert_eq!(r.node("v").and_then(|n| n.get("k2")), Some(&b"2"[..]));
}

fn syn_from(sender: WireNodeId<'_>) -> Vec<u8> {
    syn_dg(&syn_head(sender, 1, 0, u64::MAX), &[])
}

#[test]
fn a_generation_no_owner_could_exceed_is_refused() {
    let (_v, mut r) = v_and_r();
    for generation in [u64::MAX, 1 + GENERATION_MARGIN + 1] {
        let forged = wire_v4("v", generation, [10, 0, 0, 6], 7006);
        assert_eq!(feed_at(&mut r, 3500, &syn_from(forged)), Ok(()));
        let intro = upd(WireNodeRef::Full(forged), 1, None, vec![]);
        assert_eq!(feed_at(&mut r, 3500, &ack_dg(a_wire(), &[intro])), Ok(()));
    }
    assert_eq!(r.counters().implausible_generations, 4);
    assert_eq!(r.node("v").map(|n| n.id().generation), Some(1));
    assert_eq!(r.node("v").and_then(|n| n.get("k")), Some(&b"1"[..]));
}

#[test]
fn a_forged_generation_within_the_margin_is_refuted() {
    let (mut v, mut r) = v_and_r();
    // The highest generation v can still answer with one peers accept.
    let forged_generation = GENERATION_MARGIN;
    let forged = wire_v4("v", forged_generation, [10, 0, 0, 66], 7066);
    assert_eq!(feed_at(&mut r, 3500, &syn_from(forged)), Ok(()));
    assert_eq!(
        r.node("v").map(|n| n.id().generation),
        Some(forged_generation),
        "the damage: v replaced by a made-up incarnation"
    );
    // v's next Syn is stale at r; r says which generation it holds, and v
    // refutes it.
    for t in 4..=6 {
        round_at(&mut v, &mut r, t * 1000);
    }
    assert_eq!(v.id().generation, forged_generation + 1);
    let seen = r.node("v").expect("v known");
    assert_eq!(seen.id(), v.id());
    assert_eq!(seen.get("k"), Some(&b"1"[..]));
}

#[test]
fn a_restart_with_the_same_fixed_generation_is_heard_and_refuted() {
    let (_old, mut r) = v_and_r();
    // v restarts with the same id: heartbeat and versions from zero.
    let mut v = engine(v_id(1));
    v.set("new", b"x").expect("set");
    for t in 4..=7 {
        round_at(&mut v, &mut r, t * 1000);
    }
    assert!(v.id().generation > 1);
    let seen = r.node("v").expect("v known");
    assert_eq!(seen.id(), v.id());
    assert_eq!(seen.get("new"), Some(&b"x"[..]));
    assert_eq!(seen.get("k"), None, "the old incarnation's key is gone");
}

#[test]
fn two_live_processes_with_one_name_stop_flapping() {
    let mut v1 = engine(v_id(1));
    let mut v2 = engine(id("v", 2, "10.0.0.7:7007"));
    let mut r = engine(r_id());
    let mut gens = Vec::new();
    for t in 1..=80u64 {
        round_at(&mut v1, &mut r, t * 1000);
        round_at(&mut v2, &mut r, t * 1000 + 500);
        gens.push((v1.id().generation, v2.id().generation));
    }
    let refutations = v1.counters().refutations + v2.counters().refutations;
    assert!(refutations >= 1, "the rival was never refuted: {gens:?}");
    let conflicts = v1.counters().name_conflicts + v2.counters().name_conflicts;
    assert!(conflicts >= 1, "conflict never detected: {gens:?}");
    // Once detected, the generations settle: nothing changes in the last
    // 40 rounds, and r holds the higher of the two.
    let last = gens[gens.len() - 1];
    assert!(
        gens[40..].iter().all(|g| *g == last),
        "still flapping: {gens:?}"
    );
    let top = last.0.max(last.1);
    assert_eq!(r.node("v").map(|n| n.id().generation), Some(top));
}

/// An honest copy cut short by the mtu can hold, next to new keys, older
/// values of keys the owner has shrunk since: up to twice the byte share.
/// Receivers accept that, and refuse beyond it.
#[test]
fn a_copy_cut_short_may_hold_up_to_twice_the_byte_share() {
    // A share smaller than the longest value, so that values fill it.
    let mut config = Config::new();
    config.max_node_bytes = 16 * 1024;
    let share = config.max_node_bytes;
    let mut rx = build(capacity::<8, 64, 131_072>(), r_id(), config).expect("engine");
    let old = vec![b'o'; share - 100];
    let new = vec![b'n'; share - 100];
    let from = sa("10.0.0.1:7001");
    let send = |rx: &mut TestEngine, from_v: u64, key: &str, value: &[u8]| {
        let u = upd(
            WireNodeRef::Full(a_wire()),
            3,
            piece(0, from_v, from_v + 1),
            vec![entry(1, 0, key, value)],
        );
        let mut tx = Outbox::default();
        rx.handle_datagram(
            from,
            &mut (ack_dg(a_wire(), &[u])).to_vec(),
            NOW,
            &mut tx,
            &mut (),
        )
    };
    // v1: "old" nearly fills the share. The owner then wrote "new" (v2)
    // and shrank "old" (v3); the piece (1, 2] arrives alone.
    assert_eq!(send(&mut rx, 0, "old", &old), Ok(()));
    assert_eq!(send(&mut rx, 1, "new", &new), Ok(()));
    let a = rx.node("a").expect("known");
    assert_eq!(a.max_version(), 2, "an honest cut copy is not refused");
    assert_eq!(rx.counters().oversized_namespaces, 0);
    // Beyond twice the share, no honest copy can be: refused.
    let more = vec![b'm'; 300];
    assert_eq!(send(&mut rx, 2, "more", &more), Ok(()));
    assert_eq!(rx.counters().oversized_namespaces, 1);
    assert_eq!(rx.node("a").map(|n| n.max_version()), Some(2));
}
