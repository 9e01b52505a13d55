//! Hooks for the fuzz targets in `fuzz/` (feature `fuzzing`; also built
//! for the crate's own unit tests). Not a stable API: it exists so that the
//! targets can reach the wire decoders and encoders, which are
//! `pub(crate)`, without making them public.
//!
//! - [`decode_all`] runs every decoder of [`crate::wire`] on a byte string,
//!   as a datagram and as a body of every version, and walks everything a
//!   validated message hands out; it reports an item that validation let
//!   through but iteration cannot read.
//! - [`reencode`] decodes a datagram, writes it again with the engine's own
//!   `Encoder` writers and reports every decoded field on the way, so a
//!   target can check that encode ∘ decode keeps every field and that the
//!   re-encoding is a fixed point.
//! - `Engine::fork` (engines on the heap) copies an engine whole, so a
//!   target builds its world once and forks it for every input.
//! - [`crate::Engine::check_invariants`] and
//!   [`crate::Engine::state_digest`] (module `invariants`) check the
//!   engine's state after each input.
//!
//! Nothing here panics: hooks return what they found, and the fuzz target
//! decides to crash.

use crate::id::NodeId;
use crate::wire::{
    self, BLOCKS_VERSION, BlockView, DecodeError, DigestItem, Encoder, Full, MIN_PROTOCOL_VERSION,
    MessageKind, PROTOCOL_VERSION, PartialItem, Partials, SynMsg, Tokens, UpdateMsg, UpdateNode,
    WireAddr, WireNodeId, WireNodeRef,
};

/// Runs every decoder on `bytes`: as a datagram (header, then the body of
/// its kind) and as a bare body of each kind in every protocol version.
/// Everything a decoder accepts is then walked to the end (digest items,
/// block positions, notices, beat runs and their deltas, requests,
/// updates, entries).
///
/// `Err` names an inconsistency between validation and iteration (an item
/// that fails to read, or a count that the items do not fill); rejecting
/// the input is not an error.
pub fn decode_all(bytes: &[u8]) -> Result<(), &'static str> {
    if let Ok((kind, version, _, body)) = wire::read_header(bytes) {
        decode_body(kind, version, body)?;
    }
    for version in MIN_PROTOCOL_VERSION..=PROTOCOL_VERSION {
        for kind in [MessageKind::Syn, MessageKind::SynAck, MessageKind::Ack] {
            decode_body(kind, version, bytes)?;
        }
    }
    Ok(())
}

fn decode_body(kind: MessageKind, version: u8, body: &[u8]) -> Result<(), &'static str> {
    match kind {
        MessageKind::Syn => {
            // The head alone may pass while the digest fails: the engine
            // validates the digest as it plans (`answer_syn`).
            let head = wire::parse_syn_head(version, body);
            let whole = wire::parse_syn(version, body);
            if whole.is_ok() && head.is_err() {
                return Err("a Syn passes whole but not its head");
            }
            if let Ok(msg) = whole {
                walk_syn(&msg)?;
            }
        }
        MessageKind::SynAck => {
            if let Ok(msg) = wire::parse_synack(version, body) {
                walk_updates(&msg)?;
            }
        }
        MessageKind::Ack => {
            if let Ok(msg) = wire::parse_ack(version, body) {
                walk_updates(&msg)?;
            }
        }
    }
    Ok(())
}

fn walk_syn(msg: &SynMsg<'_>) -> Result<(), &'static str> {
    walk_partials(&msg.partials)?;
    let mut it = msg.digest();
    for item in it.by_ref() {
        match item {
            Err(_) => return Err("a validated digest item fails to read"),
            Ok(DigestItem::Line(_)) => {}
            Ok(DigestItem::Block(b)) => walk_block(&b)?,
        }
    }
    it.finish()
        .map_err(|_| "a validated digest fails to finish")
}

fn walk_block(b: &BlockView<'_>) -> Result<(), &'static str> {
    if b.entries().count() != usize::from(b.count) {
        return Err("a validated block yields a position count other than its count");
    }
    Ok(())
}

/// Walks validated partials and their ranges to the end.
fn walk_partials(p: &Partials<'_>) -> Result<(), &'static str> {
    let mut n = 0usize;
    for partial in p.iter() {
        n = n.saturating_add(1);
        let mut end = 0u32;
        for (i, (s, e)) in partial.held().enumerate() {
            if s >= e || (i > 0 && s < end) {
                return Err("a validated partial yields an empty or overlapping range");
            }
            end = e;
        }
    }
    if n != p.len() {
        return Err("validated partials do not fill their count");
    }
    Ok(())
}

fn walk_updates(msg: &UpdateMsg<'_>) -> Result<(), &'static str> {
    walk_partials(&msg.partials)?;
    if let Some(c) = &msg.compact {
        if c.notices().count() != c.notice_count() {
            return Err("validated notices do not fill their count");
        }
        let mut runs = 0usize;
        for run in c.beat_runs() {
            runs = runs.saturating_add(1);
            if run.deltas().count() != run.bits_set() {
                return Err("a validated beat run yields fewer deltas than bits set");
            }
        }
        if runs != c.run_count() {
            return Err("validated beat runs do not fill their count");
        }
    }
    let mut requests = 0usize;
    for q in msg.requests() {
        q.map_err(|_| "a validated request fails to read")?;
        requests = requests.saturating_add(1);
    }
    if requests != msg.request_len() {
        return Err("validated requests do not fill their count");
    }
    for u in msg.updates() {
        let u = u.map_err(|_| "a validated update fails to read")?;
        if let Some(p) = u.piece {
            for e in p.entries() {
                e.map_err(|_| "a validated entry fails to read")?;
            }
        }
    }
    Ok(())
}

/// One decoded field, as [`reencode`] reports it: a name and a number, or a
/// name and bytes borrowed from the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field<'a> {
    /// A number (an integer, a flag, a tag, a count).
    Num(&'static str, u64),
    /// Bytes (a name, a key, a value, a token, an address).
    Bytes(&'static str, &'a [u8]),
}

/// Why [`reencode`] wrote nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReencodeError {
    /// The datagram does not decode (that is no finding).
    Decode(DecodeError),
    /// The output buffer is too small.
    Full,
    /// A node id decodes, but is no [`NodeId`] the encoder can write.
    NotAnId,
}

impl From<Full> for ReencodeError {
    fn from(_: Full) -> Self {
        ReencodeError::Full
    }
}

/// Decodes `datagram` (header and body, fully validated, as
/// `handle_datagram` would after the header checks), writes the message
/// again into `out` with the engine's `Encoder` writers, and returns the
/// bytes written. Every decoded field is reported to `field` in order.
///
/// The result is the message's canonical form: the wire format accepts a
/// few encodings of one message (varints with redundant high bytes, a
/// version-5 digest's lines split over several runs or in empty runs, and
/// zero padding after a Syn from version 4 on) and this writes the one the
/// engine writes: minimal varints, consecutive lines in one run, no
/// padding. So a target checks that the fields of the re-encoding equal
/// those of the input, and that re-encoding the re-encoding gives the same
/// bytes.
pub fn reencode<'a>(
    datagram: &'a [u8],
    out: &mut [u8],
    field: &mut dyn FnMut(Field<'a>),
) -> Result<usize, ReencodeError> {
    let (kind, version, cluster, body) =
        wire::read_header(datagram).map_err(ReencodeError::Decode)?;
    field(Field::Num("kind", kind as u64));
    field(Field::Num("version", u64::from(version)));
    field(Field::Num("cluster", u64::from(cluster)));
    let limit = out.len();
    let mut e = Encoder::new(out, limit);
    match kind {
        MessageKind::Syn => {
            let msg = wire::parse_syn(version, body).map_err(ReencodeError::Decode)?;
            write_syn(&mut e, cluster, &msg, field)?;
        }
        MessageKind::SynAck => {
            let msg = wire::parse_synack(version, body).map_err(ReencodeError::Decode)?;
            write_updates(&mut e, MessageKind::SynAck, cluster, &msg, field)?;
        }
        MessageKind::Ack => {
            let msg = wire::parse_ack(version, body).map_err(ReencodeError::Decode)?;
            write_updates(&mut e, MessageKind::Ack, cluster, &msg, field)?;
        }
    }
    Ok(e.pos())
}

/// Reports a wire id's fields and returns it as a [`NodeId`].
fn sender_id<'a>(
    id: &WireNodeId<'a>,
    field: &mut dyn FnMut(Field<'a>),
) -> Result<NodeId, ReencodeError> {
    field(Field::Bytes("name", id.name.as_bytes()));
    field(Field::Num("generation", id.generation));
    match &id.addr {
        WireAddr::V4(ip, port) => {
            field(Field::Num("addr tag", 0));
            field(Field::Num("ip", u64::from(u32::from_be_bytes(*ip))));
            field(Field::Num("port", u64::from(*port)));
        }
        WireAddr::V6(ip, port) => {
            field(Field::Num("addr tag", 1));
            let ip = u128::from_be_bytes(*ip);
            field(Field::Num("ip high", (ip >> 64) as u64));
            field(Field::Num("ip low", ip as u64));
            field(Field::Num("port", u64::from(*port)));
        }
    }
    id.to_id().ok_or(ReencodeError::NotAnId)
}

/// Reports the tokens of a version-4 message (none before).
fn tokens_fields<'a>(tokens: Option<Tokens>, field: &mut dyn FnMut(Field<'a>)) -> Tokens {
    match tokens {
        Some(t) => {
            field(Field::Num("tokens", 1));
            field(Field::Num("token", u64::from_be_bytes(t.token)));
            field(Field::Num("echo", u64::from_be_bytes(t.echo)));
            t
        }
        None => {
            field(Field::Num("tokens", 0));
            Tokens::default()
        }
    }
}

fn write_syn<'a>(
    e: &mut Encoder<'_>,
    cluster: u32,
    msg: &SynMsg<'a>,
    field: &mut dyn FnMut(Field<'a>),
) -> Result<(), ReencodeError> {
    let id = sender_id(&msg.sender, field)?;
    field(Field::Num("piece count", u64::from(msg.piece_count)));
    field(Field::Num("ring start", msg.ring_start));
    field(Field::Num("ring end", msg.ring_end));
    let tokens = tokens_fields(msg.tokens, field);
    field(Field::Num("stamp", msg.stamp.map_or(u64::MAX, u64::from)));
    field(Field::Num("block bits", u64::from(msg.block_bits)));
    let stamp = msg.stamp.unwrap_or(0);
    let mut ranges = [(0u32, 0u32); MAX_REENCODED_RANGES];
    let mut items: [PartialItem<'_>; MAX_REENCODED_PARTIALS] =
        [(0, 0, &[]); MAX_REENCODED_PARTIALS];
    let n = partial_fields(&msg.partials, &mut ranges, &mut items, field)?;
    let mark = e.syn_head(
        msg.version,
        cluster,
        &id,
        msg.piece_count,
        (msg.ring_start, msg.ring_end),
        (&tokens, stamp, msg.block_bits),
        items.get(..n).unwrap_or_default(),
    )?;
    let blocks = msg.version >= BLOCKS_VERSION;
    // Before version 5 the digest is lines; from 5 on it is runs, and
    // consecutive lines go in one run.
    let mut items = 0usize;
    let mut open_run: Option<(wire::SeqMark, usize)> = None;
    for item in msg.digest() {
        let item = item.map_err(ReencodeError::Decode)?;
        match item {
            DigestItem::Line(l) => {
                field(Field::Num("line prefix", u64::from(l.prefix)));
                field(Field::Num("line full", l.full.map_or(u64::MAX, |h| h)));
                field(Field::Num("line heartbeat", l.heartbeat));
                field(Field::Num("line last gc", l.last_gc));
                field(Field::Num("line max version", l.max_version));
                if blocks && open_run.is_none() {
                    open_run = Some((e.lines_run()?, 0));
                    items = items.saturating_add(1);
                }
                if !blocks {
                    items = items.saturating_add(1);
                }
                if let Some((_, n)) = open_run.as_mut() {
                    *n = n.saturating_add(1);
                }
                let hash = l.full.unwrap_or(u64::from(l.prefix) << 32);
                e.digest_line(
                    hash,
                    l.full.is_some(),
                    l.heartbeat,
                    l.last_gc,
                    l.max_version,
                )?;
            }
            DigestItem::Block(b) => {
                if let Some((m, n)) = open_run.take() {
                    e.end_seq(m, n);
                }
                items = items.saturating_add(1);
                write_block(e, &b, field)?;
            }
        }
    }
    if let Some((m, n)) = open_run.take() {
        e.end_seq(m, n);
    }
    e.end_seq(mark, items);
    Ok(())
}

fn write_block<'a>(
    e: &mut Encoder<'_>,
    b: &BlockView<'a>,
    field: &mut dyn FnMut(Field<'a>),
) -> Result<(), ReencodeError> {
    field(Field::Num("block index", u64::from(b.index)));
    field(Field::Num("block count", u64::from(b.count)));
    field(Field::Num("block set hash", b.set_hash));
    field(Field::Num("block version hash", u64::from(b.version_hash)));
    let explicit = b.entries().filter(|p| p.explicit.is_some()).count();
    e.block_head(b.index, b.count, (b.set_hash, b.version_hash), explicit)?;
    let mut prev: Option<u16> = None;
    for (pos, p) in (0u16..).zip(b.entries()) {
        field(Field::Num("position", u64::from(pos)));
        match p.explicit {
            Some((max, gc)) => {
                field(Field::Num("explicit max", max));
                field(Field::Num("explicit gc", gc));
                e.explicit_line(gap(&mut prev, pos), max, gc)?;
            }
            None => field(Field::Num("explicit max", u64::MAX)),
        }
        field(Field::Num("beat", p.beat.map_or(u64::MAX, u64::from)));
    }
    let absent = b.entries().filter(|p| p.beat.is_none()).count();
    e.count_or_gap(absent as u64)?;
    let mut prev: Option<u16> = None;
    for (pos, p) in (0u16..).zip(b.entries()) {
        if p.beat.is_none() {
            e.count_or_gap(u64::from(gap(&mut prev, pos)))?;
        }
    }
    for p in b.entries() {
        if let Some(beat) = p.beat {
            e.beat(u64::from(beat))?;
        }
    }
    Ok(())
}

/// Most partials and ranges (over all partials) [`reencode`] writes again;
/// a message with more cannot be re-encoded (`ReencodeError::Full`).
const MAX_REENCODED_PARTIALS: usize = 64;
const MAX_REENCODED_RANGES: usize = 256;

/// Reports the partials' fields and lays them out in `items` (their ranges
/// in `ranges`) for the encoder; returns how many there are.
fn partial_fields<'a, 'r>(
    partials: &Partials<'a>,
    ranges: &'r mut [(u32, u32)],
    items: &mut [PartialItem<'r>],
    field: &mut dyn FnMut(Field<'a>),
) -> Result<usize, ReencodeError> {
    field(Field::Num("partials", partials.len() as u64));
    let mut used = 0usize;
    for p in partials.iter() {
        field(Field::Num("partial hash", p.hash));
        field(Field::Num("partial version", p.version));
        for (s, end) in p.held() {
            field(Field::Num("held start", u64::from(s)));
            field(Field::Num("held end", u64::from(end)));
            *ranges.get_mut(used).ok_or(ReencodeError::Full)? = (s, end);
            used = used.saturating_add(1);
        }
    }
    let mut rest: &'r [(u32, u32)] = ranges;
    for (slot, p) in items.iter_mut().zip(partials.iter()) {
        let n = p.held().count();
        let (held, tail) = rest.split_at(n.min(rest.len()));
        rest = tail;
        *slot = (p.hash, p.version, held);
    }
    if partials.len() > items.len() {
        return Err(ReencodeError::Full);
    }
    Ok(partials.len())
}

/// A block position as written: the first itself, later ones the distance
/// from the one before.
fn gap(prev: &mut Option<u16>, pos: u16) -> u16 {
    let g = match *prev {
        None => pos,
        Some(p) => pos.saturating_sub(p),
    };
    *prev = Some(pos);
    g
}

fn write_updates<'a>(
    e: &mut Encoder<'_>,
    kind: MessageKind,
    cluster: u32,
    msg: &UpdateMsg<'a>,
    field: &mut dyn FnMut(Field<'a>),
) -> Result<(), ReencodeError> {
    let id = sender_id(&msg.sender, field)?;
    let tokens = tokens_fields(msg.tokens, field);
    let synack = kind == MessageKind::SynAck;
    if synack {
        field(Field::Num("piece count", u64::from(msg.piece_count)));
    }
    let stamp = msg.compact.as_ref().map_or(0, |c| c.stamp);
    field(Field::Num(
        "stamp",
        msg.compact
            .as_ref()
            .map_or(u64::MAX, |c| u64::from(c.stamp)),
    ));
    e.synack_open(
        kind,
        msg.version,
        cluster,
        &id,
        synack.then_some((msg.piece_count, &tokens, stamp)),
    )?;
    let mut ranges = [(0u32, 0u32); MAX_REENCODED_RANGES];
    let mut items: [PartialItem<'_>; MAX_REENCODED_PARTIALS] =
        [(0, 0, &[]); MAX_REENCODED_PARTIALS];
    let partials = if synack {
        partial_fields(&msg.partials, &mut ranges, &mut items, field)?
    } else {
        0
    };
    let partials = items.get(..partials).unwrap_or_default();
    if let Some(c) = &msg.compact {
        e.count_or_gap(c.notice_count() as u64)?;
        for n in c.notices() {
            field(Field::Num("notice", u64::from(n)));
            e.count_or_gap(u64::from(n))?;
        }
        e.count_or_gap(c.run_count() as u64)?;
        for run in c.beat_runs() {
            field(Field::Num("beat run index", u64::from(run.index)));
            field(Field::Num("beat run count", u64::from(run.count)));
            e.count_or_gap(u64::from(run.index))?;
            e.count_or_gap(u64::from(run.count))?;
            // The bitmap, byte by byte, from the positions the deltas name.
            let bytes = usize::from(run.count).div_ceil(8);
            let mut deltas = run.deltas().peekable();
            for i in 0..bytes {
                let mut byte = 0u8;
                while let Some(&(pos, _)) = deltas.peek() {
                    if usize::from(pos / 8) != i {
                        break;
                    }
                    byte |= 1 << (pos % 8);
                    deltas.next();
                }
                e.raw_bytes(&[byte])?;
            }
            for (pos, d) in run.deltas() {
                field(Field::Num("delta position", u64::from(pos)));
                field(Field::Num("delta", d));
                e.count_or_gap(d)?;
            }
        }
    }
    if synack {
        e.partials(msg.version, partials)?;
        let mark = e.begin_seq()?;
        for q in msg.requests() {
            let (hash, q) = q.map_err(ReencodeError::Decode)?;
            field(Field::Num("request hash", hash));
            field(Field::Num("request known", u64::from(q.known)));
            field(Field::Num("request max version", q.max_version));
            field(Field::Num("request last gc", q.last_gc));
            e.request(hash, q.known, q.max_version, q.last_gc)?;
        }
        e.end_seq(mark, msg.request_len());
    }
    let mark = e.begin_seq()?;
    let mut count = 0usize;
    for u in msg.updates() {
        let u = u.map_err(ReencodeError::Decode)?;
        count = count.saturating_add(1);
        let intro;
        let node = match &u.node {
            WireNodeRef::Hash(h) => {
                field(Field::Num("update by hash", u64::from_be_bytes(*h)));
                UpdateNode::Hash(u64::from_be_bytes(*h))
            }
            WireNodeRef::Full(id) => {
                field(Field::Num("update intro", 1));
                intro = sender_id(id, field)?;
                UpdateNode::Intro(&intro)
            }
            WireNodeRef::Prefix(p) => {
                field(Field::Num(
                    "update by prefix",
                    u64::from(u32::from_be_bytes(*p)),
                ));
                UpdateNode::Prefix(u32::from_be_bytes(*p))
            }
        };
        field(Field::Num("heartbeat", u.heartbeat));
        e.update_head(node, u.heartbeat)?;
        match u.piece {
            None => {
                field(Field::Num("piece", 0));
                e.no_piece()?;
            }
            Some(p) => {
                field(Field::Num("piece last gc", p.head.last_gc));
                field(Field::Num("piece from", p.head.from));
                field(Field::Num("piece to", p.head.to));
                let n = p.entries().count();
                let with_chunk = n.saturating_add(usize::from(p.chunk.is_some()));
                e.piece_head(p.head.last_gc, p.head.from, p.head.to, with_chunk)?;
                let mut version = p.head.from;
                for x in p.entries() {
                    let x = x.map_err(ReencodeError::Decode)?;
                    field(Field::Num("entry version", x.version));
                    field(Field::Num("entry status", u64::from(x.status.to_wire())));
                    field(Field::Bytes("entry key", x.key.as_bytes()));
                    field(Field::Bytes("entry value", x.value));
                    let step = x.version.saturating_sub(version);
                    version = x.version;
                    e.entry(step, x.status, x.key.as_bytes(), x.value)?;
                }
                if let Some(c) = p.chunk {
                    field(Field::Num("chunk version", c.version));
                    field(Field::Num("chunk status", u64::from(c.status.to_wire())));
                    field(Field::Bytes("chunk key", c.key.as_bytes()));
                    field(Field::Bytes("chunk bytes", c.bytes));
                    field(Field::Num("chunk total", u64::from(c.total)));
                    field(Field::Num("chunk offset", u64::from(c.offset)));
                    let step = c.version.saturating_sub(version);
                    e.chunk(
                        step,
                        c.status,
                        c.key.as_bytes(),
                        (c.bytes, c.total, c.offset),
                    )?;
                }
            }
        }
    }
    e.end_seq(mark, count);
    Ok(())
}

/// Engines on the heap can be forked: the fuzz targets build their world
/// once and fork it for every input, instead of replaying how it was
/// built.
#[cfg(any(test, feature = "alloc"))]
impl crate::engine::Engine<crate::memory::Heap> {
    /// A second engine in its own memory, in exactly this one's state
    /// (keys and nonce sequence included: the two must not both seal
    /// under one key outside a fuzz target, or nonces repeat).
    #[doc(hidden)]
    pub fn fork(&self) -> Self {
        crate::engine::Engine {
            config: self.config.clone(),
            id: self.id.clone(),
            capacity: self.capacity,
            nodes: self.nodes.clone(),
            store: self.store.clone(),
            counters: self.counters.clone(),
            plan: self.plan.clone(),
            asks: self.asks.clone(),
            beats: self.beats.clone(),
            rotation: self.rotation,
            next_deadline: self.next_deadline,
            seeds: self.seeds.clone(),
            candidates: self.candidates.clone(),
            piece_ends: self.piece_ends.clone(),
            notices: self.notices.clone(),
            deltas: self.deltas.clone(),
            runs: self.runs.clone(),
            syn_stamp: self.syn_stamp,
            syn_epoch: self.syn_epoch,
            syn_bits: self.syn_bits,
            still_epoch: self.still_epoch,
            still_since: self.still_since,
            pushes_pending: self.pushes_pending,
            pushes_left: self.pushes_left,
            push_rng: self.push_rng,
            left_at: self.left_at,
            now: self.now,
            threshold_y: self.threshold_y,
            next_sweep: self.next_sweep,
            next_round: self.next_round,
            round_part: self.round_part,
            refute: self.refute.clone(),
            heard_ahead: self.heard_ahead,
            stall: self.stall,
            keyring: self.keyring.clone(),
            token_secret: self.token_secret,
            version_probes: self.version_probes,
            transfers: self.transfers,
            transfers_active: self.transfers_active,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::testkit::{Recorder, TestRng, engine};
    use crate::time::Instant;
    use std::vec::Vec;

    /// A fork answers a Syn byte for byte as its original does, and ends in
    /// the same state; changing one leaves the other alone.
    #[test]
    fn a_fork_runs_exactly_as_its_original() {
        let mut a = engine::<8, 64, 4096>("a", 1, Config::new());
        let mut b = engine::<8, 64, 4096>("b", 2, Config::new());
        a.set("k", b"v").expect("set");
        let mut syn = Recorder::default();
        b.start_exchange(a.id().addr, &mut syn).expect("start");
        let mut fork = a.fork();
        assert_eq!(fork.state_digest(), a.state_digest());
        let now = Instant::from_millis(5);
        let mut replies = [Recorder::default(), Recorder::default()];
        for (e, out) in [&mut *a, &mut fork].into_iter().zip(&mut replies) {
            let mut d = syn.sent[0].1.clone();
            e.handle_datagram(b.id().addr, &mut d, now, out, &mut ())
                .expect("accepted");
            e.handle_timeout(now, &mut TestRng(9), out, &mut ());
        }
        assert_eq!(replies[0].sent, replies[1].sent);
        assert!(!replies[0].sent.is_empty());
        assert_eq!(fork.state_digest(), a.state_digest());
        assert_eq!(fork.counters(), a.counters());
        fork.set("k", b"w").expect("set");
        assert_ne!(fork.state_digest(), a.state_digest());
        assert_eq!(a.get("k"), Some(&b"v"[..]));
    }

    /// A version-3 Ack like the golden one of `wire/tests.rs` (one update
    /// with a piece of one entry), re-encoded: the same bytes and fields.
    #[test]
    fn a_canonical_datagram_reencodes_to_itself() {
        let ack: &[u8] = &[
            0x48, 0x53, 0x03, 0x03, 0xa0, 0xd5, 0xd2, 0xfe, 0x01, 0x61, 0x01, 0x00, 0x0a, 0x00,
            0x00, 0x01, 0xd9, 0x36, 0x01, 0x00, 0xa1, 0x48, 0x9e, 0x6d, 0x14, 0xad, 0x86, 0x71,
            0x03, 0x01, 0x00, 0x00, 0x01, 0x01, 0x01, 0x00, 0x01, 0x72, 0x01, 0x78,
        ];
        let mut out = [0u8; 128];
        let mut fields = Vec::new();
        let n = reencode(ack, &mut out, &mut |f| fields.push(f)).expect("decodes");
        assert_eq!(&out[..n], ack);
        assert!(fields.contains(&Field::Bytes("entry key", b"r")));
        assert_eq!(decode_all(ack), Ok(()));
    }

    /// An overlong varint (the heartbeat 3 as `83 00`) decodes to the same
    /// fields and re-encodes to the minimal form.
    #[test]
    fn an_overlong_varint_reencodes_minimal() {
        let canonical: &[u8] = &[
            0x48, 0x53, 0x03, 0x03, 0xa0, 0xd5, 0xd2, 0xfe, 0x01, 0x61, 0x01, 0x00, 0x0a, 0x00,
            0x00, 0x01, 0xd9, 0x36, 0x01, 0x00, 0xa1, 0x48, 0x9e, 0x6d, 0x14, 0xad, 0x86, 0x71,
            0x03, 0x00,
        ];
        let mut overlong = canonical.to_vec();
        overlong.splice(28..29, [0x83, 0x00]);
        let (mut a, mut b) = ([0u8; 64], [0u8; 64]);
        let (mut fa, mut fb) = (Vec::new(), Vec::new());
        let na = reencode(canonical, &mut a, &mut |f| fa.push(f)).expect("decodes");
        let nb = reencode(&overlong, &mut b, &mut |f| fb.push(f)).expect("decodes");
        assert_eq!(fa, fb);
        assert_eq!(&b[..nb], canonical);
        assert_eq!(&a[..na], canonical);
    }
}
