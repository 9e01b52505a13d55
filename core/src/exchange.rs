//! The gossip exchange: Syn → SynAck → Ack, split to the mtu and budgeted.
//!
//! # Protocol
//!
//! 1. **Syn.** The initiator sends its whole digest, one `(ring hash,
//!    heartbeat, last_gc_version, max_version)` line per node, in ring order,
//!    split into as many datagrams ("pieces") as the mtu requires. Each piece
//!    states the ring range `[start, end]` it covers; the pieces tile the ring,
//!    so a node of that range missing from the piece is a node the initiator
//!    does not know.
//! 2. **SynAck.** For each Syn piece, the responder walks its own ring over
//!    the same range in step with the digest and answers with *requests* —
//!    the nodes where the initiator is ahead (or that the responder does not
//!    know), with the responder's versions — and *updates*: what the
//!    initiator lacks (full ids for nodes it does not know, newer heartbeats,
//!    and pieces of entries). This is Cassandra's shape (deltas plus a
//!    request list), not a second full digest. With nothing to send or ask,
//!    the responder still answers, with an empty SynAck no longer than the
//!    Syn: the initiator takes silence as a sign that the peer is cut off
//!    and stops spending its fanout on it (see [`crate::Engine::tick`]).
//! 3. **Ack.** The initiator answers the requests with updates.
//!
//! # Pieces and resets
//!
//! A piece `(from, to]` of a node carries every entry of that node whose
//! version lies in the range, tombstones included, ascending; the receiver
//! then holds the node up to `to`. A sender may cut a node's backlog at any
//! entry, so a lost datagram costs a later round, never a gap: a receiver only
//! applies a piece that starts at or below what it holds. When the receiver
//! is below the owner's `last_gc_version`, the sender sends a *reset*: pieces
//! from version 0, of which the first rebuilds the receiver's copy (keys it
//! does not carry are removed), so a deleted key can never survive a reset
//! cut short by the mtu or by loss. See [`crate::Engine`]'s piece rules.
//!
//! # Budget and fairness
//!
//! Replies to one Syn piece get `exchange_budget / piece_count` bytes (at
//! least one datagram; a reply to an address not yet validated gets at most
//! three times the request, see [`crate::token`]). Within it, heartbeats go
//! first, since one crowded out by entries lets a healthy node's silence
//! grow at the receiver: lone fresher heartbeats (a few bytes each, at most
//! about one per digest line of the request) and, in a reply cut by the
//! amplification bound, the head of every node whose entries are to be
//! sent, alone (its entries follow under a second head). A second pass
//! gives every node still to update (introductions of unknown nodes,
//! pieces) an equal share, starting at a rotating point of the ring; a
//! third spends what is left on the remaining backlogs. Unknown nodes,
//! nodes with few changes and fresh changes therefore all progress each
//! exchange, and a huge backlog cannot starve the rest.
//!
//! A value too long for a datagram goes in chunks (module `chunk`, version
//! 6 on) inside the same items and passes: its chunks are its node's
//! entries here, cut to that node's share (at least `MIN_CHUNK` bytes when
//! the share is spent), so a node publishing a long value takes one
//! node's share of a reply, like any node with a backlog.

use core::net::SocketAddr;

use crate::chunk::{MIN_CHUNK, OwnPartials, listed, next_gap, partial_items};
use crate::counters::bump;
use crate::engine::{Engine, LOCAL, Transmit};
use crate::event::Observer;
use crate::id::NodeId;
use crate::membership::Sender;
use crate::memory::Memory;
use crate::nodes::NodeSlot;
use crate::plan::{Ask, PlanItem, SynTally};
use crate::replica::send_from;
use crate::store::NIL;
use crate::time::Instant;
use crate::wire::{
    self, CHUNK_UNIT, CHUNKS_VERSION, DecodeError, DigestItem, Encoder, Full, MessageKind,
    Partials, SEQ_COUNT_RESERVE, SeqMark, SynMsg, Tokens, UpdateMsg, UpdateNode,
};

/// `total` split in `parts` equal shares (all of it for zero parts).
fn share_of(total: usize, parts: usize) -> usize {
    total.checked_div(parts).unwrap_or(total)
}

/// How many beats fresher than the initiator's a heartbeat must be for the
/// responder to send it on its own (without entries). Zero: any fresher
/// heartbeat is sent. Raising it saves SynAck bytes, but heartbeats then
/// travel only with digests (push), and a crashed node's last heartbeat
/// reaches everyone later, which delays detection (measured: a lag of 2
/// took detection in a 5-node cluster from about 5 s to 8 s).
const HEARTBEAT_LAG: u64 = 0;

/// Smallest datagram worth opening for a reply.
const MIN_REPLY_DATAGRAM: usize = 128;

/// Builds reply datagrams (SynAck or Ack) one after another.
struct Out<'t, 'p, T: Transmit> {
    tx: &'t mut T,
    to: SocketAddr,
    kind: MessageKind,
    /// The version of the datagram answered, which the reply is written in.
    version: u8,
    /// A SynAck's tokens.
    tokens: Tokens,
    /// A version-5 SynAck's stamp echo.
    stamp: u32,
    cluster: u32,
    sender: NodeId,
    piece_count: u16,
    mtu: usize,
    budget_left: usize,
    /// Smallest datagram worth opening: [`MIN_REPLY_DATAGRAM`], or the
    /// whole budget when that is smaller (a reply bounded by the
    /// amplification rule to a small Syn, [`crate::token`]).
    min_datagram: usize,
    open: bool,
    pos: usize,
    limit: usize,
    /// The open datagram's request list (SynAck only) while it is open.
    req_mark: Option<SeqMark>,
    req_count: usize,
    /// The open datagram's update list, once requests are closed.
    upd_mark: Option<SeqMark>,
    upd_count: usize,
    datagrams: u64,
    bytes: u64,
    exhausted: bool,
    /// Whether values too long for a datagram go in chunks: a reply in
    /// version 6 or later (not a push or a direct beat).
    chunks: bool,
    /// What the peer said it holds in part (chunks it need not get again).
    theirs: Partials<'p>,
    /// What this node holds in part, listed in each SynAck datagram.
    own: Option<&'p OwnPartials>,
    /// Chunks written, and values held back from a peer of an older
    /// version, for the counters.
    chunks_out: u64,
    held_back: u64,
}

impl<'t, T: Transmit> Out<'t, '_, T> {
    fn items(&self) -> usize {
        self.req_count.saturating_add(self.upd_count)
    }

    fn room(&self) -> usize {
        self.limit.saturating_sub(self.pos)
    }

    fn write<R>(&mut self, f: impl FnOnce(&mut Encoder<'_>) -> Result<R, Full>) -> Result<R, Full> {
        let mut enc = Encoder::resume(self.tx.buffer(), self.limit, self.pos);
        let r = f(&mut enc)?;
        self.pos = enc.pos();
        Ok(r)
    }

    /// Opens a datagram if none is open; `false` once the budget is spent.
    fn ensure_open(&mut self) -> bool {
        if self.open {
            return true;
        }
        let limit = self.mtu.min(self.budget_left).min(self.tx.buffer().len());
        if limit < self.min_datagram {
            self.exhausted = true;
            return false;
        }
        self.limit = limit;
        self.pos = 0;
        self.req_count = 0;
        self.upd_count = 0;
        let (kind, version, cluster, piece_count) =
            (self.kind, self.version, self.cluster, self.piece_count);
        let (sender, tokens, stamp) = (self.sender.clone(), self.tokens, self.stamp);
        let answered = (kind == MessageKind::SynAck).then_some((piece_count, &tokens, stamp));
        let own = self.own;
        let items = partial_items(own);
        let partials = listed(own, &items);
        let opened =
            self.write(|enc| enc.reply_head(kind, version, cluster, &sender, answered, partials));
        match opened {
            Ok(mark) if kind == MessageKind::SynAck => {
                self.req_mark = Some(mark);
                self.upd_mark = None;
            }
            Ok(mark) => {
                self.req_mark = None;
                self.upd_mark = Some(mark);
            }
            Err(Full) => {
                self.exhausted = true;
                return false;
            }
        }
        self.open = true;
        true
    }

    /// Closes the request list of the open datagram and starts its update
    /// list. Cannot run out of room: requests leave [`SEQ_COUNT_RESERVE`].
    fn begin_updates(&mut self) -> Result<(), Full> {
        if self.upd_mark.is_some() {
            return Ok(());
        }
        if let Some(m) = self.req_mark.take() {
            let count = self.req_count;
            let mut enc = Encoder::resume(self.tx.buffer(), self.limit, self.pos);
            enc.end_seq(m, count);
            self.pos = enc.pos();
        }
        let mark = self.write(|enc| enc.begin_seq())?;
        self.upd_mark = Some(mark);
        Ok(())
    }

    fn push_request(&mut self, ask: &Ask) {
        let len = wire::request_len(ask.max_version, ask.last_gc).saturating_add(SEQ_COUNT_RESERVE);
        for _ in 0..2 {
            if !self.ensure_open() {
                return;
            }
            if self.req_mark.is_some() && self.room() >= len {
                if self
                    .write(|enc| enc.request(ask.hash, ask.known, ask.max_version, ask.last_gc))
                    .is_ok()
                {
                    self.req_count = self.req_count.saturating_add(1);
                }
                return;
            }
            if self.items() == 0 {
                return;
            }
            // Requests only precede updates, and this one does not fit:
            // start a fresh datagram.
            self.flush();
        }
    }

    fn count_update(&mut self) {
        self.upd_count = self.upd_count.saturating_add(1);
    }

    /// Closes and sends the open datagram, if it holds anything.
    fn flush(&mut self) {
        if !self.open {
            return;
        }
        self.open = false;
        if self.items() == 0 || self.begin_updates().is_err() {
            return;
        }
        let mut enc = Encoder::resume(self.tx.buffer(), self.limit, self.pos);
        if let Some(m) = self.upd_mark.take() {
            enc.end_seq(m, self.upd_count);
        }
        let len = enc.pos();
        self.tx.send(self.to, len);
        self.budget_left = self.budget_left.saturating_sub(len);
        self.datagrams = self.datagrams.saturating_add(1);
        self.bytes = self.bytes.saturating_add(len as u64);
    }
}

/// How much of a node's backlog after some version fits a piece.
struct Cut {
    /// The first entry to send.
    first: u32,
    /// How many entries fit.
    count: usize,
    /// The piece's end version.
    to: u64,
    /// Whether that is the whole backlog.
    complete: bool,
    /// The entry after `to` is too long for a datagram (its index): a
    /// chunk of it closes the piece, if one fits (`chunk`), and none ever
    /// goes to a peer of an older version.
    long_next: Option<u32>,
    chunk: Option<ChunkCut>,
}

/// The chunk that closes a piece: bytes `offset..offset + len` of entry
/// `idx`, and whether they reach the end of what the peer lacks.
#[derive(Debug, Clone, Copy)]
struct ChunkCut {
    idx: u32,
    offset: u32,
    len: u32,
    last: bool,
}

/// What became of one attempt to send a plan item.
enum Emitted {
    /// The item has nothing left to send.
    Done,
    /// Part was sent; the rest waits for the second pass.
    Partial,
    /// The budget is spent.
    Exhausted,
}

impl<M: Memory> Engine<M> {
    /// Answers one Syn piece (`syn_len` bytes) with SynAck datagrams.
    ///
    /// The digest is validated in the same pass that plans the reply; state
    /// changes (learning the sender, heartbeats) only happen once the whole
    /// datagram has proved valid. With nothing to send or ask, the reply is
    /// an empty SynAck: the initiator counts a peer that never answers as
    /// unresponsive, so silence must mean unreachable, not up to date.
    pub(crate) fn answer_syn(
        &mut self,
        from: SocketAddr,
        msg: &SynMsg<'_>,
        syn_len: usize,
        now: Instant,
        tx: &mut impl Transmit,
        observer: &mut impl Observer,
    ) -> Result<(), DecodeError> {
        let mut tally = self.plan_syn_reply(msg, now)?;
        let epoch = self.nodes.epoch();
        let sender = self.learn_sender(
            &msg.sender,
            (msg.version, msg.tokens.as_ref()),
            now,
            observer,
        );
        if self.heard_ahead {
            // A line showed our own id ahead of us: refute (our id changes).
            self.heard_own_state_ahead(now, observer);
        }
        if self.nodes.epoch() != epoch {
            // The sender was new (or a new generation), or we took a new
            // one: plan against the table as it is now. The digest is known
            // to be valid.
            tally = self.plan_syn_reply(msg, now)?;
        }
        if let Sender::Stale { newer: slot } = sender {
            // The sender is an older generation of a name we hold at a
            // newer one: tell it, whatever that node's status here, so it
            // can refute (a restart whose clock is behind).
            self.plan_newer_generation(slot);
        }
        // Counted now that the Syn proved valid, from the last planning.
        let c = &mut self.counters;
        c.implausible_heartbeats = c.implausible_heartbeats.saturating_add(tally.implausible);
        c.blocks_read = c.blocks_read.saturating_add(tally.blocks_read);
        c.blocks_differ = c.blocks_differ.saturating_add(tally.blocks_differ);
        for i in 0..self.beats.len() {
            if let Some(&(slot, heartbeat)) = self.beats.get(i) {
                self.observe_heartbeat(slot, heartbeat, now, observer);
            }
        }
        // Our token for the sender: it goes in the reply, and the echo is
        // checked against it. None is minted for a version-3 Syn, which
        // cannot carry one.
        let current = match msg.tokens {
            Some(_) => self.token_for_sender(sender, from),
            None => [0; 8],
        };
        let tokens = Self::reply_tokens(current, msg.tokens.as_ref());
        let compact = !self.notices.is_empty() || !self.runs.is_empty();
        if self.plan.is_empty() && self.asks.is_empty() && !compact {
            self.send_empty_synack(from, msg, syn_len, &tokens, tx);
            return Ok(());
        }
        let share = share_of(self.config.exchange_budget, usize::from(msg.piece_count));
        let normal = share.max(self.config.mtu);
        let (mut budget, bounded) =
            self.reply_budget(from, (msg.tokens.as_ref(), &current), syn_len, normal);
        let stamp = msg.stamp.unwrap_or(0);
        if compact {
            let spent = self.send_compact_synack(from, msg, (&tokens, stamp), budget, tx);
            budget = budget.saturating_sub(spent);
            if self.plan.is_empty() && self.asks.is_empty() {
                return Ok(());
            }
        }
        let budget = (budget, bounded);
        let reply = (msg.version, tokens, stamp);
        self.send_plan(
            from,
            MessageKind::SynAck,
            msg.piece_count,
            budget,
            reply,
            Some(msg.partials),
            tx,
        );
        Ok(())
    }

    /// Sends a SynAck with no requests and no updates, only if it is no
    /// longer than the `syn_len`-byte Syn it answers (a long sender name
    /// against a short one could make it longer): a forged Syn must never
    /// draw more bytes than it cost.
    fn send_empty_synack(
        &mut self,
        to: SocketAddr,
        syn: &SynMsg<'_>,
        syn_len: usize,
        tokens: &Tokens,
        tx: &mut impl Transmit,
    ) {
        let Some(own) = self.local().map(|n| n.id.clone()) else {
            return;
        };
        let cluster = self.config.cluster_id.fingerprint();
        let limit = syn_len.min(self.config.mtu).min(tx.buffer().len());
        let mut enc = Encoder::new(tx.buffer(), limit);
        let stamp = syn.stamp.unwrap_or(0);
        let written = enc
            .empty_synack(syn.version, cluster, &own, syn.piece_count, (tokens, stamp))
            .map(|()| enc.pos());
        let Ok(len) = written else {
            return;
        };
        tx.send(to, len);
        bump(&mut self.counters.datagrams_out);
        self.counters.bytes_out = self.counters.bytes_out.saturating_add(len as u64);
    }

    /// Walks a Syn piece's digest against our ring, validating it, and
    /// fills the reply plan, the asks and the heartbeats to record. Returns
    /// what goes into counters once the Syn proved valid.
    fn plan_syn_reply(&mut self, msg: &SynMsg<'_>, now: Instant) -> Result<SynTally, DecodeError> {
        let mut tally = SynTally::default();
        self.plan.clear();
        self.asks.clear();
        self.beats.clear();
        self.notices.clear();
        self.deltas.clear();
        self.runs.clear();
        self.heard_ahead = false;
        let mut pos = self.nodes.ring_position(msg.ring_start);
        let mut lines = msg.digest();
        for item in lines.by_ref() {
            let d = match item? {
                DigestItem::Line(d) => d,
                DigestItem::Block(b) => {
                    // Our nodes before the block are unknown to the
                    // initiator; those in it are its to list.
                    while let Some((slot, _)) = self.nodes.at(pos).filter(|(_, n)| n.hash < b.start)
                    {
                        self.plan_intro(slot);
                        pos = pos.saturating_add(1);
                    }
                    self.answer_block(msg.block_bits, &b, now, &mut tally);
                    pos = self.block_positions(msg.block_bits, b.index).1.max(pos);
                    continue;
                }
            };
            // Our nodes before this line are unknown to the initiator.
            let lower = d.lower_bound();
            while let Some((slot, _)) = self.nodes.at(pos).filter(|(_, n)| n.hash < lower) {
                self.plan_intro(slot);
                pos = pos.saturating_add(1);
            }
            // Our nodes this line may stand for.
            let matches = |n: &crate::nodes::NodeSlot| match d.full {
                Some(h) => n.hash == h,
                None => wire::prefix_of(n.hash) == d.prefix,
            };
            let mut candidates = 0usize;
            while self
                .nodes
                .at(pos.saturating_add(candidates))
                .is_some_and(|(_, n)| matches(n))
            {
                candidates = candidates.saturating_add(1);
            }
            if candidates == 0 {
                // Unknown here. Ask for it, unless it is a node we removed
                // and the initiator's heartbeat does not show it alive since.
                let removed = self
                    .nodes
                    .removed_heartbeat_for_line(d.prefix, d.full)
                    .is_some_and(|last| d.heartbeat <= last);
                if !removed {
                    let _ = self.asks.push(Ask {
                        hash: lower,
                        known: false,
                        max_version: 0,
                        last_gc: 0,
                    });
                }
                continue;
            }
            if candidates > 1 {
                // Several of ours share the prefix the initiator sent alone:
                // do not guess which one it means. Introduce them all (it
                // lacks at least one) and ask for each by its full hash (it
                // answers for the one it knows).
                for _ in 0..candidates {
                    if let Some((slot, n)) = self.nodes.at(pos) {
                        let ask = Ask {
                            hash: n.hash,
                            known: true,
                            max_version: n.max_version,
                            last_gc: n.last_gc,
                        };
                        let _ = self.asks.push(ask);
                        self.plan_intro(slot);
                    }
                    pos = pos.saturating_add(1);
                }
                continue;
            }
            let Some((slot, n)) = self.nodes.at(pos) else {
                continue;
            };
            pos = pos.saturating_add(1);
            let (hash, max_version, last_gc, heartbeat, hidden) =
                (n.hash, n.max_version, n.last_gc, n.heartbeat, n.hidden);
            if slot == LOCAL && self.own_state_behind(d.heartbeat, d.max_version, d.last_gc) {
                self.heard_ahead = true;
            }
            // The digest's heartbeat is as good as an update's — if it is
            // plausible: a line names its node by a hash prefix, and in the
            // rare case that an unknown node shares the prefix of one of
            // ours, its heartbeat must not be taken for our node's.
            if d.heartbeat > heartbeat {
                if self.plausible_beat(slot, heartbeat, d.heartbeat, now) {
                    let _ = self.beats.push((slot, d.heartbeat));
                } else {
                    bump(&mut tally.implausible);
                }
            }
            if !hidden {
                if let Some(from_version) =
                    send_from(max_version, last_gc, d.max_version, d.last_gc)
                {
                    let _ = self.plan.push(PlanItem {
                        slot,
                        intro: false,
                        by_prefix: false,
                        data: true,
                        from: from_version,
                        done: false,
                        chunk_at: 0,
                    });
                } else if heartbeat > d.heartbeat.saturating_add(HEARTBEAT_LAG) {
                    let _ = self.plan.push(PlanItem {
                        slot,
                        intro: false,
                        by_prefix: d.full.is_none(),
                        data: false,
                        from: max_version,
                        done: false,
                        chunk_at: 0,
                    });
                }
            }
            if d.max_version > max_version && slot != LOCAL {
                let _ = self.asks.push(Ask {
                    hash,
                    known: true,
                    max_version,
                    last_gc,
                });
            }
        }
        lines.finish()?;
        while let Some((slot, _)) = self.nodes.at(pos).filter(|(_, n)| n.hash <= msg.ring_end) {
            self.plan_intro(slot);
            pos = pos.saturating_add(1);
        }
        Ok(tally)
    }

    /// Whether a heartbeat advance from `held` to `offered`, read in a
    /// digest line, fits the time since the node's last heartbeat here:
    /// at most four beats per beat period of ours plus sixteen, so that
    /// nodes with faster clocks or intervals are never refused.
    ///
    /// A local stall noticed shortly before (or after) that heartbeat
    /// counts too: after a pause, the datagrams queued during it come
    /// first and advance every peer a little, which would otherwise leave
    /// the fresh heartbeats that follow, a whole pause ahead, refused
    /// until the allowance caught up, and the peers convicted meanwhile.
    pub(crate) fn plausible_beat(&self, slot: u16, held: u64, offered: u64, now: Instant) -> bool {
        let Some(last) = self.nodes.detector(slot).and_then(|d| d.last_heartbeat()) else {
            return true;
        };
        let period = self.beat_period_ms();
        let mut elapsed = now.saturating_since(last);
        if let Some(stall) = self.stall.latest() {
            let margin = self.config.gossip_interval.saturating_mul(2);
            if stall.noticed_at.saturating_add(margin) >= last {
                elapsed = elapsed.saturating_add(stall.length);
            }
        }
        let elapsed = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        let beats = elapsed.checked_div(period).unwrap_or(0);
        let allowed = beats.saturating_mul(4).saturating_add(16);
        offered.saturating_sub(held) <= allowed
    }

    /// Introduces `slot` (the newer generation of a stale sender's name),
    /// without its entries: the sender only needs to hear of the id.
    fn plan_newer_generation(&mut self, slot: u16) {
        if self.nodes.get(slot).is_none() || self.plan.iter().any(|p| p.slot == slot) {
            return;
        }
        let _ = self.plan.push(PlanItem {
            slot,
            intro: true,
            by_prefix: false,
            data: false,
            from: 0,
            done: false,
            chunk_at: 0,
        });
    }

    fn plan_intro(&mut self, slot: u16) {
        let Some(n) = self.nodes.get(slot).filter(|n| n.vouched_for()) else {
            return;
        };
        let data = n.max_version > 0;
        let _ = self.plan.push(PlanItem {
            slot,
            intro: true,
            by_prefix: false,
            data,
            from: 0,
            done: false,
            chunk_at: 0,
        });
    }

    /// Answers the requests of a SynAck (`synack_len` bytes) with Ack
    /// datagrams.
    pub(crate) fn answer_requests(
        &mut self,
        from: SocketAddr,
        sender: Sender,
        msg: &UpdateMsg<'_>,
        synack_len: usize,
        tx: &mut impl Transmit,
    ) {
        if msg.request_len() == 0 {
            return;
        }
        self.plan.clear();
        self.asks.clear();
        for (hash, q) in msg.requests().map_while(Result::ok) {
            if q.known {
                let Some(slot) = self.nodes.find_hash(hash) else {
                    continue;
                };
                let Some(n) = self.nodes.get(slot).filter(|n| !n.hidden) else {
                    continue;
                };
                let from_version = send_from(n.max_version, n.last_gc, q.max_version, q.last_gc);
                let _ = self.plan.push(PlanItem {
                    slot,
                    intro: false,
                    by_prefix: false,
                    data: from_version.is_some(),
                    from: from_version.unwrap_or(n.max_version),
                    done: false,
                    chunk_at: 0,
                });
            } else {
                // The responder knows only the prefix we sent: introduce
                // every node of ours under it.
                let prefix = wire::prefix_of(hash);
                let mut pos = self.nodes.ring_position(u64::from(prefix) << 32);
                while let Some((slot, _)) = self
                    .nodes
                    .at(pos)
                    .filter(|(_, n)| wire::prefix_of(n.hash) == prefix)
                {
                    pos = pos.saturating_add(1);
                    if !self.plan.iter().any(|p| p.slot == slot) {
                        self.plan_intro(slot);
                    }
                }
            }
        }
        if self.plan.is_empty() {
            return;
        }
        let share = share_of(self.config.exchange_budget, usize::from(msg.piece_count));
        let current = match msg.tokens {
            Some(_) => self.token_for_sender(sender, from),
            None => [0; 8],
        };
        let normal = share.max(self.config.mtu);
        let budget = self.reply_budget(from, (msg.tokens.as_ref(), &current), synack_len, normal);
        let reply = (msg.version, Tokens::default(), 0);
        self.send_plan(
            from,
            MessageKind::Ack,
            1,
            budget,
            reply,
            Some(msg.partials),
            tx,
        );
    }

    /// Sends the asks and the plan within `budget` bytes, fairly, in
    /// protocol `version` (with `tokens`, in a SynAck that carries them).
    /// `bounded`: the budget was cut by the amplification bound, so it
    /// will not carry every planned node's entries. `chunking`: what the
    /// peer holds in part, when values too long for a datagram may go in
    /// chunks (`None` for pushes and direct beats, which send none).
    #[allow(clippy::too_many_arguments)] // the reply's parts, each its own
    pub(crate) fn send_plan(
        &mut self,
        to: SocketAddr,
        kind: MessageKind,
        piece_count: u16,
        (budget, bounded): (usize, bool),
        (version, tokens, stamp): (u8, Tokens, u32),
        chunking: Option<Partials<'_>>,
        tx: &mut impl Transmit,
    ) {
        let Some(sender) = self.local().map(|n| n.id.clone()) else {
            return;
        };
        let mtu = self.config.mtu;
        // A SynAck lists our partials (an Ack does not).
        let own = if kind == MessageKind::SynAck {
            self.own_partials()
        } else {
            None
        };
        let mut out = Out {
            tx,
            to,
            kind,
            version,
            tokens,
            stamp,
            cluster: self.config.cluster_id.fingerprint(),
            sender,
            piece_count,
            mtu,
            budget_left: budget,
            min_datagram: MIN_REPLY_DATAGRAM.min(budget),
            open: false,
            pos: 0,
            limit: 0,
            req_mark: None,
            req_count: 0,
            upd_mark: None,
            upd_count: 0,
            datagrams: 0,
            bytes: 0,
            exhausted: false,
            chunks: chunking.is_some() && version >= CHUNKS_VERSION,
            theirs: chunking.unwrap_or(Partials::NONE),
            own: own.as_ref(),
            chunks_out: 0,
            held_back: 0,
        };
        for i in 0..self.asks.len() {
            if let Some(ask) = self.asks.get(i).copied() {
                out.push_request(&ask);
            }
        }
        let n = self.plan.len();
        if n > 0 {
            self.rotation = self
                .rotation
                .wrapping_mul(1_664_525)
                .wrapping_add(1_013_904_223);
            let start = ((self.rotation >> 8) as usize).checked_rem(n).unwrap_or(0);
            let (mut with_data, mut lone_beats) = (0usize, false);
            for p in self.plan.iter() {
                with_data = with_data.saturating_add(usize::from(p.data));
                lone_beats |= !p.data && !p.intro;
            }
            let share = share_of(out.budget_left, with_data.max(1));
            // Heartbeats go first: one that loses its place to a backlog
            // of entries lets a healthy node's silence grow at the receiver
            // (measured: nodes catching up at N = 1000 heard nothing of some
            // others for over 4 s, and convicted them). Lone heartbeats cost
            // a few bytes each, at most one per digest line of the request.
            // A bounded reply cannot carry every backlog either, so it also
            // sends the head of each node with entries to send first, alone;
            // the entries follow with a second head in the passes below.
            let passes = [(0, true), (share, false), (usize::MAX, false)];
            let first = usize::from(!lone_beats && !bounded);
            'passes: for &(cap, beats_only) in passes.get(first..).unwrap_or_default() {
                for i in (start..n).chain(0..start) {
                    let Some(mut item) = self.plan.get(i).copied() else {
                        continue;
                    };
                    if item.done || (beats_only && (item.intro || (item.data && !bounded))) {
                        continue;
                    }
                    let r = if beats_only && item.data {
                        let mut head = PlanItem {
                            data: false,
                            ..item
                        };
                        self.emit_item(&mut out, &mut head, cap)
                    } else {
                        let r = self.emit_item(&mut out, &mut item, cap);
                        if let Some(p) = self.plan.get_mut(i) {
                            *p = item;
                        }
                        r
                    };
                    if matches!(r, Emitted::Exhausted) {
                        break 'passes;
                    }
                }
            }
        }
        out.flush();
        if out.exhausted {
            bump(&mut self.counters.budget_exhausted);
            if bounded {
                bump(&mut self.counters.replies_bounded);
            }
        }
        self.counters.datagrams_out = self.counters.datagrams_out.saturating_add(out.datagrams);
        self.counters.bytes_out = self.counters.bytes_out.saturating_add(out.bytes);
        self.counters.chunks_out = self.counters.chunks_out.saturating_add(out.chunks_out);
        // Pushes and direct beats carry no chunks to anyone: only a peer
        // that cannot take them has a value held back from it.
        if version < CHUNKS_VERSION {
            self.counters.values_held_back =
                self.counters.values_held_back.saturating_add(out.held_back);
        }
    }

    /// Writes updates for `item` — its head, and as much of its piece as
    /// fits in `cap` bytes (at least one entry, or a chunk of at least
    /// [`MIN_CHUNK`] bytes), over as many datagrams as that takes.
    fn emit_item<T: Transmit>(
        &self,
        out: &mut Out<'_, '_, T>,
        item: &mut PlanItem,
        cap: usize,
    ) -> Emitted {
        let Some(node) = self.nodes.get(item.slot) else {
            item.done = true;
            return Emitted::Done;
        };
        let mut cap_left = cap;
        // A fresh datagram that cannot take even one entry means the entry is
        // larger than our datagrams; bound the retries accordingly.
        let mut fresh_failures = 0u8;
        loop {
            if !out.ensure_open() {
                return Emitted::Exhausted;
            }
            if out.begin_updates().is_err() {
                out.flush();
                continue;
            }
            let wants_data = item.data && item.from < node.max_version;
            let name = if item.intro {
                UpdateNode::Intro(&node.id)
            } else if item.by_prefix && !wants_data {
                UpdateNode::Prefix(wire::prefix_of(node.hash))
            } else {
                UpdateNode::Hash(node.hash)
            };
            // The update's head and its option byte (no piece, or a piece).
            let head_len = wire::update_head_len(name, node.heartbeat).saturating_add(1);
            // The rest of a piece's head at most: its end is at most the
            // node's max version, its count takes at most a full sequence
            // reserve; plus two bytes of slack the planner has always kept.
            let piece_head = wire::piece_head_len(
                node.last_gc,
                item.from,
                node.max_version,
                wire::MAX_SEQ_COUNT,
            )
            .saturating_add(2);
            let room = out.room();
            let fresh = out.items() == 0;
            if head_len > room {
                if fresh {
                    item.done = true;
                    return Emitted::Done;
                }
                out.flush();
                continue;
            }
            if !wants_data {
                if self.write_update(out, node, item, None).is_err() {
                    out.flush();
                    continue;
                }
                item.done = true;
                return Emitted::Done;
            }
            let entry_room = room.saturating_sub(head_len).saturating_sub(piece_head);
            let cut = self.plan_piece(node, item, (entry_room, fresh), cap_left, out);
            let progress =
                cut.count > 0 || cut.complete || cut.chunk.is_some() || cut.to > item.from;
            if !progress {
                if cut.long_next.is_some() && !out.chunks {
                    // A value that needs chunks, to a peer that cannot take
                    // them: its heartbeat, and the entries wait there.
                    out.held_back = out.held_back.saturating_add(1);
                    let _ = self.write_update(out, node, item, None);
                    item.done = true;
                    return Emitted::Done;
                }
                if !fresh {
                    out.flush();
                    continue;
                }
                fresh_failures = fresh_failures.saturating_add(1);
                if fresh_failures > 1 || entry_room >= out.mtu.saturating_sub(head_len) {
                    // Nothing fits even a fresh datagram (a chunk's key and
                    // head beyond it): send the heartbeat and leave the
                    // entries to other peers.
                    let _ = self.write_update(out, node, item, None);
                    item.done = true;
                    return Emitted::Done;
                }
                out.flush();
                continue;
            }
            let before = out.pos;
            if self.write_update(out, node, item, Some(&cut)).is_err() {
                out.flush();
                continue;
            }
            cap_left = cap_left.saturating_sub(out.pos.saturating_sub(before));
            item.intro = false;
            item.from = cut.to;
            if let Some(c) = cut.chunk {
                out.chunks_out = out.chunks_out.saturating_add(1);
                if c.last {
                    // Every byte the peer lacks is on its way: what follows
                    // the value continues from it (a piece the peer can
                    // use once the value is whole; until then, unusable).
                    item.from = cut.to.saturating_add(1);
                    item.chunk_at = 0;
                } else {
                    item.chunk_at = c.offset.saturating_add(c.len);
                }
            } else {
                item.chunk_at = 0;
            }
            if cut.complete && cut.chunk.is_none_or(|c| c.last) {
                item.done = true;
                return Emitted::Done;
            }
            if cut.long_next.is_some() && !out.chunks {
                out.held_back = out.held_back.saturating_add(1);
                item.done = true;
                return Emitted::Done;
            }
            if cap_left == 0 {
                return Emitted::Partial;
            }
            let next = self.next_entry_len(node, item.from);
            if cut.chunk.is_some() || next == usize::MAX {
                // A long value goes on in this datagram while room lasts;
                // a chunk needs little of the share.
                if cap_left < MIN_CHUNK {
                    return Emitted::Partial;
                }
                continue;
            }
            if next > cap_left {
                return Emitted::Partial;
            }
            // Cut by the datagram, not the cap: continue in a fresh one.
            out.flush();
        }
    }

    /// Encoded length of the first entry of `node` after version `from`;
    /// `usize::MAX` for one too long for a datagram (it goes in chunks).
    fn next_entry_len(&self, node: &NodeSlot, from: u64) -> usize {
        let cur = self.store.first_after(&node.entries, from);
        self.store.slot(cur).map_or(0, |s| {
            let (key_len, value_len) = s.lens();
            if self.needs_chunks(key_len, value_len) {
                return usize::MAX;
            }
            wire::entry_len(s.version.saturating_sub(from), key_len, value_len)
        })
    }

    /// Whether an entry is too long to go whole in a datagram at our mtu
    /// (the bound every local write used to meet): it goes in chunks.
    fn needs_chunks(&self, key_len: usize, value_len: usize) -> bool {
        !wire::entry_always_fits(self.config.mtu, key_len, value_len)
    }

    /// How many entries after `item.from` fit in `room` bytes (and `cap`,
    /// past the first), the piece's end version, and whether that is all
    /// of them. An entry too long for a datagram ends the piece just below
    /// it; where the reply may carry chunks, a chunk of it closes the
    /// piece: the first bytes from `item.chunk_at` the peer lacks, as many
    /// as the room and the cap (at least [`MIN_CHUNK`]) allow.
    ///
    /// `fresh`: the datagram holds nothing yet. A value that fits a
    /// datagram at our mtu may still not fit this one, whose head lists
    /// our partials (a SynAck, version 6): where the reply may carry
    /// chunks, such a value at the start of a fresh datagram goes in
    /// chunks too, or it would never go in any SynAck while we have
    /// values in flight.
    fn plan_piece<T: Transmit>(
        &self,
        node: &NodeSlot,
        item: &PlanItem,
        (room, fresh): (usize, bool),
        cap: usize,
        out: &Out<'_, '_, T>,
    ) -> Cut {
        let from = item.from;
        let first = self.store.first_after(&node.entries, from);
        let mut cur = first;
        let (mut used, mut count, mut prev) = (0usize, 0usize, from);
        let mut long_next = None;
        while let Some(s) = self.store.slot(cur) {
            let (key_len, value_len) = s.lens();
            if self.needs_chunks(key_len, value_len) {
                long_next = Some(cur);
                break;
            }
            let len = wire::entry_len(s.version.saturating_sub(prev), key_len, value_len);
            let total = used.saturating_add(len);
            if fresh && out.chunks && count == 0 && total > room && value_len > 0 {
                long_next = Some(cur);
                break;
            }
            if total > room || (count > 0 && total > cap) {
                break;
            }
            used = total;
            count = count.saturating_add(1);
            prev = s.version;
            cur = self.store.next(cur);
        }
        let complete = cur == NIL;
        let mut cut = Cut {
            first,
            count,
            to: if complete { node.max_version } else { prev },
            complete,
            long_next,
            chunk: None,
        };
        let Some(idx) = long_next else {
            return cut;
        };
        let Some(s) = self.store.slot(idx) else {
            return cut;
        };
        // The piece is exact up to just below the long entry: no entry of
        // ours lies between the last one sent and it.
        cut.to = s.version.saturating_sub(1).max(prev);
        if !out.chunks {
            return cut;
        }
        let (key_len, value_len) = s.lens();
        let Ok(total) = u32::try_from(value_len) else {
            return cut;
        };
        // What the peer holds of this very version, if it said.
        let theirs = out
            .theirs
            .find(node.hash)
            .filter(|p| p.version == s.version);
        let held = theirs.into_iter().flat_map(|p| p.held());
        let Some((start, end)) = next_gap(held, item.chunk_at, total) else {
            return cut;
        };
        // Chunks are aligned to the unit receivers count in (module
        // `wire::chunks`); an honest peer's ranges are too, so this only
        // moves the start of a gap someone named off the grid.
        let start = start.saturating_sub(start % CHUNK_UNIT);
        let step = s.version.saturating_sub(prev);
        // The chunk's head, with room for a bytes length of any size.
        let head = wire::chunk_len(step, key_len, (0, total, start)).saturating_add(4);
        let fits = room.saturating_sub(used).saturating_sub(head);
        let share = cap.saturating_sub(used).saturating_sub(head).max(MIN_CHUNK);
        let len = (end.saturating_sub(start) as usize).min(fits).min(share) as u32;
        let len = if start.saturating_add(len) < total {
            len.saturating_sub(len % CHUNK_UNIT)
        } else {
            len
        };
        if len == 0 {
            return cut;
        }
        let after = start.saturating_add(len);
        let held = theirs.into_iter().flat_map(|p| p.held());
        cut.chunk = Some(ChunkCut {
            idx,
            offset: start,
            len,
            last: next_gap(held, after, total).is_none(),
        });
        cut
    }

    fn write_update<T: Transmit>(
        &self,
        out: &mut Out<'_, '_, T>,
        node: &NodeSlot,
        item: &PlanItem,
        piece: Option<&Cut>,
    ) -> Result<(), Full> {
        let store = &self.store;
        out.write(|enc| {
            let name = if item.intro {
                UpdateNode::Intro(&node.id)
            } else if item.by_prefix && piece.is_none() {
                UpdateNode::Prefix(wire::prefix_of(node.hash))
            } else {
                UpdateNode::Hash(node.hash)
            };
            enc.update_head(name, node.heartbeat)?;
            let Some(cut) = piece else {
                return enc.no_piece();
            };
            // The count is known: no reserve to close afterwards.
            let count = cut.count.saturating_add(usize::from(cut.chunk.is_some()));
            enc.piece_head(node.last_gc, item.from, cut.to, count)?;
            let mut cur = cut.first;
            let mut prev = item.from;
            for _ in 0..cut.count {
                let Some(s) = store.slot(cur) else {
                    break;
                };
                enc.entry(
                    s.version.saturating_sub(prev),
                    s.status(),
                    store.key_bytes(cur),
                    store.value(cur),
                )?;
                prev = s.version;
                cur = store.next(cur);
            }
            if let Some(c) = cut.chunk
                && let Some(s) = store.slot(c.idx)
            {
                let (start, end) = (c.offset as usize, c.offset.saturating_add(c.len) as usize);
                let bytes = store.value(c.idx).get(start..end).unwrap_or_default();
                let total = u32::try_from(s.lens().1).unwrap_or(u32::MAX);
                // Its step counts from the piece's last entry (or `from`).
                enc.chunk(
                    s.version.saturating_sub(prev),
                    s.status(),
                    store.key_bytes(c.idx),
                    (bytes, total, c.offset),
                )?;
            }
            Ok(())
        })?;
        out.count_update();
        Ok(())
    }
}
