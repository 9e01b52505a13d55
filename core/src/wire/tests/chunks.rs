//! Version 6: chunks at the end of pieces, partials in Syns and SynAcks.

use super::*;

/// A partial as postcard writes it: hash bytes, version, ranges as
/// `(start, len)` pairs.
type PcPartial<'r> = ([u8; 8], u64, &'r [(u64, u64)]);

/// Partials as read back: hash, version, ranges held.
type Listed = Vec<(u64, u64, Vec<(u32, u32)>)>;

/// A v6 SynAck from a (its own piece of one chunk, after `partials`),
/// written with the engine's encoder; `chunk` is `(step, key, bytes,
/// total, offset)` after a piece `(from, to]` of no entries.
fn synack_v6(
    version: u8,
    partials: &[PartialItem<'_>],
    (from, to): (u64, u64),
    (step, key, bytes, total, offset): (u64, &str, &[u8], u32, u32),
) -> Vec<u8> {
    let tokens = Tokens::default();
    enc(|e| {
        let requests = e.reply_head(
            MessageKind::SynAck,
            version,
            CLUSTER,
            &a_id(),
            Some((1, &tokens, 0)),
            partials,
        )?;
        e.end_seq(requests, 0);
        let updates = e.begin_seq()?;
        e.update_head(UpdateNode::Hash(a_id().ring_hash()), 1)?;
        e.piece_head(0, from, to, 1)?;
        e.chunk(
            step,
            EntryStatus::Set,
            key.as_bytes(),
            (bytes, total, offset),
        )?;
        e.end_seq(updates, 1);
        Ok(())
    })
}

fn good_synack() -> Vec<u8> {
    synack_v6(CHUNKS_VERSION, &[], (0, 0), (1, "big", b"abc", 35, 32))
}

#[test]
fn chunks_and_partials_match_postcard() {
    for (step, key, bytes, total, offset) in [
        (1u64, "k", &b"x"[..], 1u32, 0u32),
        (300, "long-key", &[7u8; 200][..], 70_000, 65_000),
        (u64::MAX, "k", &b"yz"[..], u32::MAX, u32::MAX - 2),
    ] {
        let want = pc(&(step, 4u8, key, bytes, u64::from(total), u64::from(offset)));
        let got = enc(|e| {
            e.chunk(
                step,
                EntryStatus::SetWithTtl,
                key.as_bytes(),
                (bytes, total, offset),
            )
        });
        assert_eq!(got, want);
        assert_eq!(
            chunk_len(step, key.len(), (bytes.len(), total, offset)),
            got.len()
        );
    }
    let held = [(0u32, 1400u32), (2800, 4000), (70_000, 70_001)];
    let items: [PartialItem<'_>; 2] = [(5, 9, &held), (u64::MAX, MAX_VERSION, &[])];
    let first: &[(u64, u64)] = &[(0, 1400), (2800, 1200), (70_000, 1)];
    let want: &[PcPartial<'_>] = &[(be(5), 9, first), (be(u64::MAX), MAX_VERSION, &[])];
    let got = enc(|e| e.partials(CHUNKS_VERSION, &items));
    assert_eq!(got, pc(want));
    assert_eq!(partials_len(CHUNKS_VERSION, &items), got.len());
    // Nothing before version 6.
    assert!(enc(|e| e.partials(BLOCKS_VERSION, &items)).is_empty());
    assert_eq!(partials_len(BLOCKS_VERSION, &items), 0);
}

#[test]
fn a_version_6_piece_may_end_in_a_chunk() {
    let d = good_synack();
    assert_accepted(&d);
    let (_, v, _, body) = read_header(&d).expect("header");
    let msg = parse_synack(v, body).expect("valid");
    let u = msg.updates().next().expect("one").expect("valid");
    let p = u.piece.expect("a piece");
    assert_eq!(p.entries().count(), 0, "the chunk is not an entry");
    assert_eq!(
        p.chunk,
        Some(ChunkView {
            version: 1,
            status: EntryStatus::Set,
            key: "big",
            total: 35,
            offset: 32,
            bytes: b"abc",
        })
    );
    // After complete entries: (0, 2] with two entries, the chunk at 3.
    let tokens = Tokens::default();
    let d = enc(|e| {
        let requests = e.reply_head(
            MessageKind::SynAck,
            CHUNKS_VERSION,
            CLUSTER,
            &a_id(),
            Some((1, &tokens, 0)),
            &[],
        )?;
        e.end_seq(requests, 0);
        let updates = e.begin_seq()?;
        e.update_head(UpdateNode::Hash(a_id().ring_hash()), 1)?;
        e.piece_head(0, 0, 2, 3)?;
        e.entry(1, EntryStatus::Set, b"x", b"1")?;
        e.entry(1, EntryStatus::Set, b"big", b"old")?;
        e.chunk(1, EntryStatus::SetWithTtl, b"big", (b"n", 33, 32))?;
        e.end_seq(updates, 1);
        Ok(())
    });
    assert_accepted(&d);
    let (_, v, _, body) = read_header(&d).expect("header");
    let msg = parse_synack(v, body).expect("valid");
    let p = msg.updates().next().expect("one").expect("valid").piece;
    let p = p.expect("piece");
    assert_eq!(p.entries().count(), 2);
    let c = p.chunk.expect("chunk");
    assert_eq!(
        (c.version, c.status, c.offset),
        (3, EntryStatus::SetWithTtl, 32)
    );
}

#[test]
fn malformed_chunks_are_refused() {
    // Before version 6 a chunk's status is unknown.
    let v5 = synack_v6(BLOCKS_VERSION, &[], (0, 0), (1, "big", b"abc", 35, 32));
    assert_rejected(&v5, DecodeError::InvalidField);
    // Not at `to + 1`.
    let far = synack_v6(CHUNKS_VERSION, &[], (0, 0), (2, "big", b"abc", 35, 32));
    assert_rejected(&far, DecodeError::OutOfOrder);
    let zero = synack_v6(CHUNKS_VERSION, &[], (3, 3), (0, "big", b"abc", 35, 32));
    assert_rejected(&zero, DecodeError::OutOfOrder);
    // Past the end of its value, empty, or longer than 32 bits allow.
    let past = synack_v6(CHUNKS_VERSION, &[], (0, 0), (1, "big", b"abc", 34, 32));
    assert_rejected(&past, DecodeError::InvalidField);
    let empty = synack_v6(CHUNKS_VERSION, &[], (0, 0), (1, "big", b"", 10, 0));
    assert_rejected(&empty, DecodeError::InvalidField);
    let bad_key = synack_v6(CHUNKS_VERSION, &[], (0, 0), (1, "b\0g", b"abc", 3, 0));
    // Off the grid of CHUNK_UNIT: its start, or an end before the value's.
    let unit = CHUNK_UNIT as usize;
    let off_start = synack_v6(CHUNKS_VERSION, &[], (0, 0), (1, "big", b"abc", 40, 4));
    assert_rejected(&off_start, DecodeError::InvalidField);
    let off_end = synack_v6(CHUNKS_VERSION, &[], (0, 0), (1, "big", b"abc", 40, 0));
    assert_rejected(&off_end, DecodeError::InvalidField);
    let on_grid = [7u8; 64];
    assert_accepted(&synack_v6(
        CHUNKS_VERSION,
        &[],
        (0, 0),
        (1, "big", &on_grid[..unit], 100, CHUNK_UNIT),
    ));
    assert_rejected(&bad_key, DecodeError::InvalidField);
    // A chunk that is not its piece's last item.
    let tokens = Tokens::default();
    let not_last = enc(|e| {
        let requests = e.reply_head(
            MessageKind::SynAck,
            CHUNKS_VERSION,
            CLUSTER,
            &a_id(),
            Some((1, &tokens, 0)),
            &[],
        )?;
        e.end_seq(requests, 0);
        let updates = e.begin_seq()?;
        e.update_head(UpdateNode::Hash(a_id().ring_hash()), 1)?;
        e.piece_head(0, 0, 1, 2)?;
        e.chunk(2, EntryStatus::Set, b"big", (b"abc", 3, 0))?;
        e.entry(1, EntryStatus::Set, b"x", b"1")?;
        e.end_seq(updates, 1);
        Ok(())
    });
    assert_rejected(&not_last, DecodeError::InvalidField);
    // A total beyond 32 bits, written by hand: the encoder cannot.
    let mut huge = good_synack();
    let at = huge.len() - 2; // total (35), offset (32)
    huge.splice(at..at + 1, [0x80, 0x80, 0x80, 0x80, 0x10]);
    assert_rejected(&huge, DecodeError::InvalidField);
}

#[test]
fn malformed_partials_are_refused() {
    let held = [(0u32, 10u32)];
    let good: [PartialItem<'_>; 2] = [(1, 5, &held), (2, 5, &held)];
    let chunk = (1, "big", &b"abc"[..], 35, 32);
    assert_accepted(&synack_v6(CHUNKS_VERSION, &good, (0, 0), chunk));
    let descending: [PartialItem<'_>; 2] = [(2, 5, &held), (1, 5, &held)];
    let d = synack_v6(CHUNKS_VERSION, &descending, (0, 0), chunk);
    assert_rejected(&d, DecodeError::OutOfOrder);
    let twice: [PartialItem<'_>; 2] = [(2, 5, &held), (2, 6, &held)];
    let d = synack_v6(CHUNKS_VERSION, &twice, (0, 0), chunk);
    assert_rejected(&d, DecodeError::OutOfOrder);
    let version_zero: [PartialItem<'_>; 1] = [(2, 0, &held)];
    let d = synack_v6(CHUNKS_VERSION, &version_zero, (0, 0), chunk);
    assert_rejected(&d, DecodeError::InvalidField);
    let overlapping = [(0u32, 10u32), (5, 20)];
    let d = synack_v6(CHUNKS_VERSION, &[(1, 5, &overlapping)], (0, 0), chunk);
    assert_rejected(&d, DecodeError::OutOfOrder);
    let adjacent = [(0u32, 10u32), (10, 20)];
    assert_accepted(&synack_v6(
        CHUNKS_VERSION,
        &[(1, 5, &adjacent)],
        (0, 0),
        chunk,
    ));
    let empty_range = [(4u32, 4u32)];
    let d = synack_v6(CHUNKS_VERSION, &[(1, 5, &empty_range)], (0, 0), chunk);
    assert_rejected(&d, DecodeError::InvalidField);
    // A count the bytes cannot hold (the count is where a SynAck without
    // partials first differs from one with).
    let mut d = synack_v6(CHUNKS_VERSION, &[], (0, 0), chunk);
    let with = synack_v6(CHUNKS_VERSION, &good, (0, 0), chunk);
    let at = d
        .iter()
        .zip(&with)
        .position(|(x, y)| x != y)
        .expect("differ");
    assert_eq!(d[at], 0);
    d[at] = 100;
    assert_rejected(&d, DecodeError::ImpossibleCount);
    // A Syn's partials too: a descending pair.
    let tokens = Tokens::default();
    let syn = |partials: &[PartialItem<'_>]| {
        enc(|e| {
            let runs = e.syn_head(
                CHUNKS_VERSION,
                CLUSTER,
                &a_id(),
                1,
                (0, u64::MAX),
                (&tokens, 0, 0),
                partials,
            )?;
            e.end_seq(runs, 0);
            Ok(())
        })
    };
    assert_accepted(&syn(&good));
    assert_rejected(&syn(&descending), DecodeError::OutOfOrder);
    let good_syn = syn(&good);
    let (_, v, _, body) = read_header(&good_syn).expect("header");
    let msg = parse_syn(v, body).expect("valid");
    let listed: Listed = msg
        .partials
        .iter()
        .map(|p| (p.hash, p.version, p.held().collect()))
        .collect();
    assert_eq!(listed, [(1, 5, vec![(0, 10)]), (2, 5, vec![(0, 10)])]);
    assert_eq!(msg.partials.find(2).map(|p| p.version), Some(5));
    assert!(msg.partials.find(3).is_none());
}

proptest! {
    /// Whatever chunk and partials the encoder writes decode to the same
    /// fields, and the predicted lengths are the bytes written.
    #[test]
    fn chunks_and_partials_round_trip(
        to in 0u64..MAX_VERSION,
        key in "[a-z]{1,40}",
        bytes in proptest::collection::vec(any::<u8>(), 1..200),
        before in 0u32..100_000,
        after in 0u32..100_000,
        ttl in any::<bool>(),
        starts in proptest::collection::vec((0u32..1000, 1u32..1000), 0..6),
        hashes in proptest::collection::btree_set(any::<u64>(), 0..4),
    ) {
        // On the grid: an aligned start, and an aligned end or the value's.
        let offset = before - before % CHUNK_UNIT;
        let unit = CHUNK_UNIT as usize;
        let mut bytes = bytes;
        if after > 0 && bytes.len() >= unit {
            bytes.truncate(bytes.len() - bytes.len() % unit);
        }
        let after = if bytes.len() % unit == 0 { after } else { 0 };
        let total = offset + bytes.len() as u32 + after;
        let status = if ttl { EntryStatus::SetWithTtl } else { EntryStatus::Set };
        let mut held = Vec::new();
        let mut at = 0u32;
        for (gap, len) in starts {
            held.push((at + gap, at + gap + len));
            at += gap + len;
        }
        let items: Vec<PartialItem<'_>> =
            hashes.iter().map(|&h| (h, to + 1, held.as_slice())).collect();
        let tokens = Tokens::default();
        let d = enc(|e| {
            let requests = e.reply_head(
                MessageKind::SynAck, CHUNKS_VERSION, CLUSTER, &a_id(),
                Some((1, &tokens, 0)), &items,
            )?;
            e.end_seq(requests, 0);
            let updates = e.begin_seq()?;
            e.update_head(UpdateNode::Hash(7), 1)?;
            e.piece_head(0, to, to, 1)?;
            e.chunk(1, status, key.as_bytes(), (&bytes, total, offset))?;
            e.end_seq(updates, 1);
            Ok(())
        });
        let (_, v, _, body) = read_header(&d).expect("header");
        let msg = parse_synack(v, body).expect("valid");
        let listed: Listed =
            msg.partials.iter().map(|p| (p.hash, p.version, p.held().collect())).collect();
        let want: Listed =
            items.iter().map(|&(h, v, r)| (h, v, r.to_vec())).collect();
        prop_assert_eq!(listed, want);
        let p = msg.updates().next().expect("one").expect("valid").piece.expect("piece");
        prop_assert_eq!(p.chunk, Some(ChunkView {
            version: to + 1, status, key: key.as_str(), total, offset, bytes: &bytes,
        }));
        prop_assert_eq!(
            partials_len(CHUNKS_VERSION, &items),
            enc(|e| e.partials(CHUNKS_VERSION, &items)).len()
        );
        prop_assert_eq!(
            chunk_len(1, key.len(), (bytes.len(), total, offset)),
            enc(|e| e.chunk(1, status, key.as_bytes(), (&bytes, total, offset))).len()
        );
        // And the fuzzing hooks read and re-encode it to the same bytes.
        prop_assert_eq!(crate::fuzzing::decode_all(&d), Ok(()));
        let mut out = vec![0u8; d.len() + 64];
        let n = crate::fuzzing::reencode(&d, &mut out, &mut |_| {}).expect("re-encodes");
        prop_assert_eq!(&out[..n], &d[..]);
    }
}

/// The golden exchange of [`golden_exchange_v5`] in version 6: the same
/// bytes and one more, the empty list of partials, in the Syn and the
/// SynAck.
#[test]
fn golden_v6() {
    let (mut a, mut b) = golden_pair_at(CHUNKS_VERSION);
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
    b.tick(at(2), &mut rng, &mut Outbox::default(), &mut ());
    let sent = run_exchange_at(&mut a, &mut b, at(5));
    assert_eq!(sent.len(), 2, "a Syn and a SynAck, nothing to ack");
    assert_golden(&sent[0], GOLDEN_SYN_V6, "version-6 Syn");
    assert_golden(&sent[1], GOLDEN_SYNACK_V6, "version-6 SynAck");
}

const GOLDEN_SYN_V6: &str = "
    48 53 06 01              # magic 'HS', version 6, kind 1: Syn
    a0 d5 d2 fe              # cluster fingerprint
    01 61 01 00 0a 00 00 01 d9 36  # sender a@1/10.0.0.1:7001
    01                       # piece_count 1
    00 00 00 00 00 00 00 00  # ring_start 0
    ff ff ff ff ff ff ff ff  # ring_end u64::MAX
    2c b4 32 1f 12 23 8a 63  # token: a's for b's address
    ba 84 7c d8 d8 e8 d4 3f  # echo: b's token for a's address
    02 00 00 00              # stamp 2, little-endian
    00                       # block bits 0: one block, the whole ring
    00                       # partials: none (no value held in part)
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

const GOLDEN_SYNACK_V6: &str = "
    48 53 06 02              # magic 'HS', version 6, kind 2: SynAck
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
    00                       # partials: none
    00                       # requests: none
    00                       # updates: none
";
