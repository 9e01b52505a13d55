//! The Syn: this node's digest, split into pieces that tile the ring.
//!
//! Up to version 4 a piece is a list of lines, one per node. From version
//! 5 a piece is a list of runs over the blocks of the ring
//! ([`crate::compact`]): a block that fits a piece goes compact (hashes
//! and 16-bit heartbeats), others as a run of lines, which may be split
//! between pieces. Pieces end on block boundaries wherever they can, so a
//! responder can place every block it is sent. Planning (where pieces end)
//! and writing take the same decisions from the same state, so the piece
//! count is known before the first piece goes out.

use core::net::SocketAddr;

use crate::chunk::{OwnPartials, listed, partial_items};
use crate::counters::bump;
use crate::engine::{Engine, SendError, Transmit};
use crate::id::NodeId;
use crate::memory::Memory;
use crate::time::Instant;
use crate::wire::{self, Encoder, Full, SEQ_COUNT_RESERVE, Tokens};

/// Fixed part of a Syn piece of `version` before its digest lines (piece
/// count taken at its widest so both planning passes agree), with the
/// partials every piece lists (module `chunk`).
fn syn_head_len(own: &NodeId, version: u8, partials: Option<&OwnPartials>) -> usize {
    // The piece count is not known yet: room for the largest.
    let items = partial_items(partials);
    wire::syn_head_len(own, u16::MAX, version, listed(partials, &items))
}

/// How long a node table must have been still (no node added, removed,
/// hidden or shown) before its blocks go compact, in gossip intervals:
/// about the time a change takes to reach every peer, whose blocks would
/// differ until then.
const STILL_INTERVALS: u32 = 3;

/// How a Syn is laid out.
#[derive(Debug, Clone, Copy)]
struct Layout {
    version: u8,
    /// Block bits (version 5 on).
    bits: u8,
    /// Whether blocks may go compact.
    compact: bool,
    /// Bytes a piece has for its runs or lines.
    room: usize,
    now: Instant,
}

impl Layout {
    fn blocks(&self) -> bool {
        self.version >= wire::BLOCKS_VERSION
    }

    /// What opening a run of lines costs (its tag and count reserve).
    fn lines_run_len(&self) -> usize {
        if self.blocks() {
            1 + SEQ_COUNT_RESERVE
        } else {
            0
        }
    }
}

impl<M: Memory> Engine<M> {
    /// Opens an exchange with the node at `peer` by sending it this node's
    /// digest as Syn pieces, through a transmit that already seals (the
    /// public entry is [`Engine::start_exchange`], in `seal`). Returns the
    /// number of datagrams sent.
    ///
    /// The Syn is written in the highest protocol version both sides speak
    /// as far as we know; to an address of unknown version it goes twice,
    /// in ours and in the oldest we speak, and now and then also in ours to
    /// a peer heard only in an older one ([`crate::token`]).
    pub(crate) fn open_exchange(
        &mut self,
        peer: SocketAddr,
        tx: &mut impl Transmit,
    ) -> Result<usize, SendError> {
        let speak = self.speak_to(peer);
        let tokens = Tokens {
            token: self.token_for(peer),
            echo: speak.echo,
        };
        // An address that gave us no token answers within 3x what we send
        // it: a short Syn is padded (in versions that allow it) so that
        // the reply has room, for a newcomer that knows only its seeds.
        let pad = speak.echo == [0; 8];
        let mut sent = self.send_syn(peer, (speak.version, pad), &tokens, tx)?;
        if let Some(also) = speak.also {
            let more = self.send_syn(peer, (also, pad), &tokens, tx)?;
            sent = sent.saturating_add(more);
        }
        Ok(sent)
    }

    /// Sends this node's digest to `peer` as Syn pieces of `version`, a
    /// digest of one piece padded with zeros to the mtu if `pad` and the
    /// version allows.
    fn send_syn(
        &mut self,
        peer: SocketAddr,
        (version, pad): (u8, bool),
        tokens: &Tokens,
        tx: &mut impl Transmit,
    ) -> Result<usize, SendError> {
        let epoch = self.nodes.epoch();
        if epoch != self.still_epoch {
            self.still_epoch = epoch;
            self.still_since = self.now;
        }
        let layout = self.layout(version, tx, self.table_still())?;
        if layout.compact {
            self.refresh_stamp(layout.bits);
        }
        let ring_len = self.nodes.ring().len();
        self.plan_pieces((0, ring_len), &layout);
        self.write_pieces(peer, &layout, (0, u64::MAX), (pad, tokens), tx)
    }

    /// Sends the nodes of ring range `[start, end]` to `peer` as lines in
    /// a version-5 Syn: the block a responder's notice named, which it
    /// could not read compactly.
    pub(crate) fn send_lines_syn(
        &mut self,
        peer: SocketAddr,
        (start, end): (u64, u64),
        tx: &mut impl Transmit,
    ) -> Result<usize, SendError> {
        let speak = self.speak_to(peer);
        if speak.version < wire::BLOCKS_VERSION {
            return Ok(0);
        }
        let tokens = Tokens {
            token: self.token_for(peer),
            echo: speak.echo,
        };
        let layout = self.layout(speak.version, tx, false)?;
        let first = self.nodes.ring_position(start);
        let last = match end.checked_add(1) {
            Some(next) => self.nodes.ring_position(next),
            None => self.nodes.ring().len(),
        };
        self.plan_pieces((first, last.max(first)), &layout);
        self.write_pieces(peer, &layout, (start, end), (false, &tokens), tx)
    }

    /// Whether the node table has not changed for [`STILL_INTERVALS`]
    /// gossip intervals, as far as our Syns have seen: a change since the
    /// last Syn counts as now.
    pub(crate) fn table_still(&self) -> bool {
        let still = self.config.gossip_interval.saturating_mul(STILL_INTERVALS);
        self.nodes.epoch() == self.still_epoch
            && self.now.saturating_since(self.still_since) >= still
    }

    fn layout(
        &self,
        version: u8,
        tx: &mut impl Transmit,
        compact: bool,
    ) -> Result<Layout, SendError> {
        let limit = self.config.mtu.min(tx.buffer().len());
        let partials = self.own_partials();
        let room = limit.saturating_sub(syn_head_len(&self.id, version, partials.as_ref()));
        let blocks = version >= wire::BLOCKS_VERSION;
        let run = if blocks { 1 + SEQ_COUNT_RESERVE } else { 0 };
        if room < wire::digest_len(true, u64::MAX, u64::MAX, u64::MAX).saturating_add(run) {
            return Err(SendError::BufferTooSmall);
        }
        Ok(Layout {
            version,
            bits: if blocks {
                crate::compact::block_bits_for(self.nodes.len())
            } else {
                0
            },
            compact: compact && blocks && self.compact_allowed(),
            room,
            now: self.now,
        })
    }

    /// The block span `[first, end)` starting at ring position `pos` (to
    /// the end of `last` for a layout without blocks), and its index.
    fn span_at(&self, pos: usize, last: usize, layout: &Layout) -> ((usize, usize), u32) {
        if !layout.blocks() {
            return ((pos, last), 0);
        }
        let index = self
            .nodes
            .hash_at(pos)
            .map_or(0, |h| wire::block_of(layout.bits, h));
        let (first, end) = self.block_positions(layout.bits, index);
        (
            (first.max(pos), end.min(last).max(pos.saturating_add(1))),
            index,
        )
    }

    /// The summary of the block at `span` if it goes compact: the whole
    /// block is in the span, it lists someone, and it fits a piece alone.
    fn compact_block(
        &self,
        (span, index): ((usize, usize), u32),
        layout: &Layout,
    ) -> Option<crate::compact::BlockSummary> {
        if !layout.compact || self.block_positions(layout.bits, index) != span {
            return None;
        }
        let s = self.block_summary(index, span, layout.now);
        (s.count > 0 && s.len <= layout.room).then_some(s)
    }

    /// Fills `piece_ends` with where each piece over ring positions
    /// `[first, last)` ends.
    fn plan_pieces(&mut self, (first, last): (usize, usize), layout: &Layout) {
        self.piece_ends.clear();
        let room = layout.room;
        let (mut pos, mut used, mut lines_open) = (first, 0usize, false);
        while pos < last {
            let (span, index) = self.span_at(pos, last, layout);
            if let Some(s) = self.compact_block((span, index), layout) {
                if used.saturating_add(s.len) > room {
                    self.end_piece(pos);
                    used = 0;
                }
                used = used.saturating_add(s.len);
                lines_open = false;
                pos = span.1;
                continue;
            }
            for p in span.0..span.1 {
                let Some((_, n)) = self.nodes.at(p).filter(|(_, n)| !n.hidden) else {
                    continue;
                };
                let len =
                    wire::digest_len(self.prefix_shared(p), n.heartbeat, n.last_gc, n.max_version);
                let open = if lines_open {
                    0
                } else {
                    layout.lines_run_len()
                };
                if used.saturating_add(open).saturating_add(len) > room && used > 0 {
                    self.end_piece(p);
                    used = 0;
                    lines_open = false;
                }
                let open = if lines_open {
                    0
                } else {
                    layout.lines_run_len()
                };
                used = used.saturating_add(open).saturating_add(len);
                lines_open = true;
            }
            pos = span.1;
        }
        self.end_piece(last);
    }

    fn end_piece(&mut self, pos: usize) {
        let _ = self.piece_ends.push(u16::try_from(pos).unwrap_or(u16::MAX));
    }

    /// The ring hash where a piece starting at ring position `pos` starts:
    /// its block's start if it starts a block, else its first node's hash.
    fn piece_bound(&self, pos: usize, layout: &Layout) -> u64 {
        let Some(hash) = self.nodes.hash_at(pos) else {
            return u64::MAX;
        };
        if layout.blocks() {
            let index = wire::block_of(layout.bits, hash);
            if self.block_positions(layout.bits, index).0 == pos {
                return wire::block_range(layout.bits, index).0;
            }
        }
        hash
    }

    /// Writes and sends the planned pieces; the first starts at ring hash
    /// `range.0`, the last ends at `range.1`.
    fn write_pieces(
        &mut self,
        peer: SocketAddr,
        layout: &Layout,
        range: (u64, u64),
        (pad, tokens): (bool, &Tokens),
        tx: &mut impl Transmit,
    ) -> Result<usize, SendError> {
        let own = self.id.clone();
        let limit = self.config.mtu.min(tx.buffer().len());
        let piece_count = u16::try_from(self.piece_ends.len()).unwrap_or(u16::MAX);
        let cluster = self.config.cluster_id.fingerprint();
        let compact_head = (self.syn_stamp, layout.bits);
        // Every piece lists them: each is answered on its own.
        let partials = self.own_partials();
        let items = partial_items(partials.as_ref());
        let listed = listed(partials.as_ref(), &items);
        let first = self.nodes.ring_position(range.0);
        let mut start = first;
        let mut sent = 0usize;
        for k in 0..self.piece_ends.len() {
            let end = self.piece_ends.get(k).map_or(start, |&e| usize::from(e));
            let last = k.saturating_add(1) == self.piece_ends.len();
            let ring_start = if k == 0 {
                range.0
            } else {
                self.piece_bound(start, layout)
            };
            let ring_end = if last {
                range.1
            } else {
                self.piece_bound(end, layout).saturating_sub(1)
            };
            let mut enc = Encoder::new(tx.buffer(), limit);
            let written = (|| {
                let mark = enc.syn_head(
                    layout.version,
                    cluster,
                    &own,
                    piece_count,
                    (ring_start, ring_end),
                    (tokens, compact_head.0, compact_head.1),
                    listed,
                )?;
                let n = self.write_digest(&mut enc, (start, end), layout)?;
                enc.end_seq(mark, n);
                Ok::<usize, Full>(enc.pos())
            })();
            let Ok(mut len) = written else {
                return Err(SendError::BufferTooSmall);
            };
            // Only a short digest of one piece, a newcomer's: the pieces
            // of a longer one tile the ring, each near the mtu, and the
            // reply to each needs room in proportion; a digest of half the
            // mtu or more (a compact one of a few hundred nodes) already
            // allows a reply of one and a half.
            if pad
                && piece_count == 1
                && len < limit / 2
                && layout.version >= wire::TOKENS_VERSION
                && let Some(rest) = tx.buffer().get_mut(len..limit)
            {
                rest.fill(0);
                len = limit;
            }
            tx.send(peer, len);
            bump(&mut self.counters.datagrams_out);
            self.counters.bytes_out = self.counters.bytes_out.saturating_add(len as u64);
            sent = sent.saturating_add(1);
            start = end;
        }
        Ok(sent)
    }

    /// Writes the lines (before version 5) or runs of ring positions
    /// `[start, end)`; returns how many it wrote.
    fn write_digest(
        &self,
        enc: &mut Encoder<'_>,
        (start, end): (usize, usize),
        layout: &Layout,
    ) -> Result<usize, Full> {
        let mut items = 0usize;
        let mut lines: Option<(wire::SeqMark, usize)> = None;
        let mut pos = start;
        while pos < end {
            let (span, index) = self.span_at(pos, end, layout);
            if let Some(s) = self.compact_block((span, index), layout) {
                if let Some((mark, n)) = lines.take() {
                    enc.end_seq(mark, n);
                }
                self.write_block(enc, (index, span), &s, layout.now)?;
                items = items.saturating_add(1);
                pos = span.1;
                continue;
            }
            for p in span.0..span.1 {
                let Some((_, n)) = self.nodes.at(p).filter(|(_, n)| !n.hidden) else {
                    continue;
                };
                if layout.blocks() && lines.is_none() {
                    lines = Some((enc.lines_run()?, 0));
                    items = items.saturating_add(1);
                }
                enc.digest_line(
                    n.hash,
                    self.prefix_shared(p),
                    n.heartbeat,
                    n.last_gc,
                    n.max_version,
                )?;
                match lines.as_mut() {
                    Some((_, n)) => *n = n.saturating_add(1),
                    None => items = items.saturating_add(1),
                }
            }
            pos = span.1;
        }
        if let Some((mark, n)) = lines.take() {
            enc.end_seq(mark, n);
        }
        Ok(items)
    }

    /// Whether the node at ring position `pos` shares its 32-bit prefix
    /// with a ring neighbour, so its digest line needs the full hash.
    pub(crate) fn prefix_shared(&self, pos: usize) -> bool {
        let Some(p) = self.nodes.hash_at(pos).map(wire::prefix_of) else {
            return false;
        };
        let same = |q: Option<u64>| q.is_some_and(|h| wire::prefix_of(h) == p);
        (pos > 0 && same(self.nodes.hash_at(pos.saturating_sub(1))))
            || same(self.nodes.hash_at(pos.saturating_add(1)))
    }
}
