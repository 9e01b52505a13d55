//! Compact digests, the engine's side: which nodes a block lists, the
//! hashes both sides compare, heartbeats from their low 16 bits, and the
//! stamp that ties a SynAck's beat runs to the Syn they answer. The format
//! is in [`crate::wire`]'s `blocks` module.
//!
//! # Which nodes a block lists
//!
//! A block lists every node of the ring range that the digest would carry a
//! line for (not hidden), local node included, in ring order. Its *set
//! hash* chains their ring hashes and its *version hash* their
//! `(max_version, last_gc)`; a responder computes both over its own
//! listing, taking the initiator's versions where the block gives them
//! explicitly. Equal set hashes mean both list the same nodes, so positions
//! name nodes; equal version hashes mean no versions differ but the
//! explicit ones, which the responder compares like lines. Any difference
//! draws a notice, and the initiator sends the block as lines.
//!
//! # Heartbeats in 16 bits
//!
//! A block carries the low 16 bits of each heartbeat, and the receiver
//! takes the value with those bits nearest its own (within 2¹⁵). That is
//! exact while the two copies are less than 2¹⁵ beats apart. A node is
//! *present* in a block (has a heartbeat) only where the sender holds it
//! alive, and a block is written at all only when
//! [`Engine::compact_allowed`]: no node can be listed silent (detector
//! timeout plus half the dead grace) for 2¹⁵ of our beat periods, so no
//! listed copy of a node beating as we do is that far behind another.
//! Should a value still come out wrong, it
//! comes out below the truth unless the sender's copy was the stale one,
//! and the plausibility check bounds what an advance may add.
//!
//! A beat run's deltas count from the heartbeat the initiator sent, which
//! it keeps (16 bits, `NodeSlot::syn_beat`) beside the one it holds: the
//! sent value is the largest at or below the held one with those bits.
//! The stamp changes whenever a Syn sends different heartbeats, or the node
//! table changed since; a SynAck that echoes another stamp has its beat
//! runs and notices ignored.

use core::net::SocketAddr;

use crate::engine::{Engine, LOCAL, Transmit};
use crate::event::Observer;
use crate::id::fmix64;
use crate::memory::Memory;
use crate::nodes::{NodeSlot, NodeStatus};
use crate::plan::{Ask, BeatRunPlan, PlanItem, SynTally};
use crate::replica::send_from;
use crate::time::{Instant, duration_millis};
use crate::wire::{self, BlockView, Compact, MAX_BLOCK_BITS, MessageKind, SynMsg, Tokens};

/// Fewest nodes a block should hold on average: fewer blocks cost less
/// in hashes (16 bytes of a Syn each), more blocks cost less when one
/// differs (a block sent again as lines). With pushes, 0.16 % of the
/// blocks read at 1000 simulated nodes differed, so blocks are large: 4 of
/// about 250 nodes there (blocks of 48 to 96 nodes cost 10 % more bytes
/// in all, of 96 to 192, 5 %).
const MIN_BLOCK_AVERAGE: usize = 192;

/// How long after its versions changed a node's block lists them
/// explicitly, in gossip intervals: about the time an update takes to
/// reach everyone, after which the version hash covers it.
const EXPLICIT_INTERVALS: u64 = 4;

/// Most beats a listed node can have gone without being heard for 16-bit
/// heartbeats to stay exact: reconstruction is exact within 2¹⁵ beats.
const BEAT_SPAN: u64 = 1 << 15;

/// Bytes of a beat run's bitmap built at a time.
const BITMAP_CHUNK: usize = 32;

/// Bits of the ring hash that name a block, for `listed` nodes.
pub(crate) fn block_bits_for(listed: usize) -> u8 {
    let mut bits = 0u8;
    while bits < MAX_BLOCK_BITS
        && listed
            .checked_shr(u32::from(bits).saturating_add(1))
            .unwrap_or(0)
            >= MIN_BLOCK_AVERAGE
    {
        bits = bits.saturating_add(1);
    }
    bits
}

/// The heartbeat whose low 16 bits are `low` nearest to `near` (from
/// `near − 2¹⁵` to `near + 2¹⁵ − 1`); `None` below zero.
pub(crate) fn beat_near(low: u16, near: u64) -> Option<u64> {
    let diff = low.wrapping_sub(near as u16) as i16;
    near.checked_add_signed(i64::from(diff))
}

/// The largest heartbeat at or below `held` whose low 16 bits are `low`.
pub(crate) fn beat_at_or_below(low: u16, held: u64) -> Option<u64> {
    held.checked_sub(u64::from((held as u16).wrapping_sub(low)))
}

/// The two hashes of a block's listing, chained in ring order.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BlockHash {
    set: u64,
    versions: u64,
}

impl BlockHash {
    pub(crate) fn new(index: u32) -> Self {
        BlockHash {
            set: fmix64(0x6865_6172_7361_7900 ^ u64::from(index)),
            versions: fmix64(0x7665_7273_696f_6e00 ^ u64::from(index)),
        }
    }

    /// Adds the next listed node.
    #[inline]
    pub(crate) fn add(&mut self, hash: u64, max_version: u64, last_gc: u64) {
        self.set = fmix64(self.set ^ hash);
        self.versions = fmix64(fmix64(self.versions ^ max_version) ^ last_gc);
    }

    /// The set hash and the version hash as they travel.
    pub(crate) fn finish(&self) -> (u64, u32) {
        (self.set, (self.versions >> 32) as u32)
    }
}

/// What the initiator writes for one block.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BlockSummary {
    pub count: u16,
    pub hashes: (u64, u32),
    pub explicit: usize,
    pub absent: usize,
    /// Encoded length of the whole block run.
    pub len: usize,
}

/// Whether a listed node's versions changed recently enough to go
/// explicitly.
fn recently_changed(n: &NodeSlot, now: Instant, window_ms: u64) -> bool {
    u64::from((now.as_millis() as u32).wrapping_sub(n.changed_at)) < window_ms
}

/// Whether a listed node's heartbeat goes in a block.
pub(crate) fn present(slot: u16, n: &NodeSlot) -> bool {
    slot == LOCAL || n.status == NodeStatus::Alive
}

impl<M: Memory> Engine<M> {
    /// Whether this node's settings let it send 16-bit heartbeats: a
    /// listed node cannot stay silent long enough (detector timeout plus
    /// half the dead grace) for two copies to drift 2¹⁵ of its beats
    /// apart, at our beat period.
    pub(crate) fn compact_allowed(&self) -> bool {
        let d = &self.config.detector;
        let period = self.beat_period_ms();
        let max_interval = duration_millis(d.max_interval) as f64;
        let stats = crate::phi::IntervalStats {
            mean_ms: max_interval,
            std_dev_ms: max_interval / 2.0,
        };
        let timeout = crate::phi::timeout_ms_with(d, stats, self.threshold_y);
        let silent = duration_millis(self.config.dead_grace) / 2;
        let span = BEAT_SPAN.saturating_mul(period);
        timeout.is_finite() && (timeout as u64).saturating_add(silent) < span
    }

    /// Ring positions `[first, end)` of block `index`.
    pub(crate) fn block_positions(&self, bits: u8, index: u32) -> (usize, usize) {
        let (start, end) = wire::block_range(bits, index);
        let first = self.nodes.ring_position(start);
        let last = match end.checked_add(1) {
            Some(next) => self.nodes.ring_position(next),
            None => self.nodes.ring().len(),
        };
        (first, last.max(first))
    }

    /// The listed nodes of ring positions `[first, end)`, in order.
    pub(crate) fn listed_in(
        &self,
        (first, end): (usize, usize),
    ) -> impl Iterator<Item = (u16, &NodeSlot)> + '_ {
        (first..end)
            .filter_map(|pos| self.nodes.at(pos))
            .filter(|(_, n)| !n.hidden)
    }

    /// What block `index` holds here, as the initiator writes it.
    pub(crate) fn block_summary(
        &self,
        index: u32,
        span: (usize, usize),
        now: Instant,
    ) -> BlockSummary {
        let window = self.explicit_window_ms();
        let mut h = BlockHash::new(index);
        let (mut count, mut explicit, mut absent) = (0usize, 0usize, 0usize);
        let (mut body, mut prev_explicit, mut prev_absent) = (0usize, None, None);
        for (slot, n) in self.listed_in(span) {
            h.add(n.hash, n.max_version, n.last_gc);
            let pos = u16::try_from(count).unwrap_or(u16::MAX);
            if recently_changed(n, now, window) {
                let gap = gap_from(prev_explicit, pos);
                body = body.saturating_add(wire::explicit_len(gap, n.max_version, n.last_gc));
                prev_explicit = Some(pos);
                explicit = explicit.saturating_add(1);
            }
            if present(slot, n) {
                body = body.saturating_add(wire::BEAT_LEN);
            } else {
                let gap = gap_from(prev_absent, pos);
                body = body.saturating_add(wire::varint_len(u64::from(gap)));
                prev_absent = Some(pos);
                absent = absent.saturating_add(1);
            }
            count = count.saturating_add(1);
        }
        let count = u16::try_from(count).unwrap_or(u16::MAX);
        let len = wire::block_head_len(index, count, explicit)
            .saturating_add(wire::varint_len(absent as u64))
            .saturating_add(body);
        BlockSummary {
            count,
            hashes: h.finish(),
            explicit,
            absent,
            len,
        }
    }

    fn explicit_window_ms(&self) -> u64 {
        duration_millis(self.config.gossip_interval).saturating_mul(EXPLICIT_INTERVALS)
    }

    /// Writes block `index` (summarised by `s`) as a run.
    pub(crate) fn write_block(
        &self,
        enc: &mut wire::Encoder<'_>,
        (index, span): (u32, (usize, usize)),
        s: &BlockSummary,
        now: Instant,
    ) -> Result<(), wire::Full> {
        let window = self.explicit_window_ms();
        enc.block_head(index, s.count, s.hashes, s.explicit)?;
        let mut prev = None;
        for (pos, (_, n)) in self.listed_in(span).enumerate() {
            if recently_changed(n, now, window) {
                let pos = u16::try_from(pos).unwrap_or(u16::MAX);
                enc.explicit_line(gap_from(prev, pos), n.max_version, n.last_gc)?;
                prev = Some(pos);
            }
        }
        enc.count_or_gap(s.absent as u64)?;
        let mut prev = None;
        for (pos, (slot, n)) in self.listed_in(span).enumerate() {
            if !present(slot, n) {
                let pos = u16::try_from(pos).unwrap_or(u16::MAX);
                enc.count_or_gap(u64::from(gap_from(prev, pos)))?;
                prev = Some(pos);
            }
        }
        for (slot, n) in self.listed_in(span) {
            if present(slot, n) {
                enc.beat(n.heartbeat)?;
            }
        }
        Ok(())
    }

    /// Before a compact Syn with `bits` block bits: records the heartbeat
    /// each present node's block will carry, and takes a new stamp if any
    /// differs from the last Syn's or the table changed since.
    pub(crate) fn refresh_stamp(&mut self, bits: u8) {
        let epoch = self.nodes.epoch();
        let mut changed = epoch != self.syn_epoch || bits != self.syn_bits;
        for i in 0..self.nodes.ring().len() {
            let Some(&slot) = self.nodes.ring().get(i) else {
                break;
            };
            let Some(n) = self.nodes.get_mut(slot) else {
                continue;
            };
            let low = n.heartbeat as u16;
            if !n.hidden && n.syn_beat != low {
                n.syn_beat = low;
                changed = true;
            }
        }
        if changed {
            self.syn_stamp = self.syn_stamp.wrapping_add(1);
            self.syn_epoch = epoch;
            self.syn_bits = bits;
        }
    }

    /// Answers one block of a Syn whose blocks are the top `bits` bits of
    /// the ring hash: reads it by position if this node lists the same
    /// nodes (heartbeats, explicit versions), and adds a notice if
    /// anything differs. Adds what it found (implausible heartbeats set
    /// aside, the block read or differing) to `tally`.
    pub(crate) fn answer_block(
        &mut self,
        bits: u8,
        block: &BlockView<'_>,
        now: Instant,
        tally: &mut SynTally,
    ) {
        let index = block.index;
        let span = self.block_positions(bits, index);
        let mut h = BlockHash::new(index);
        let mut count = 0usize;
        let mut entries = block.entries();
        for (_, n) in self.listed_in(span) {
            let theirs = entries.next().and_then(|e| e.explicit);
            let (v, g) = theirs.unwrap_or((n.max_version, n.last_gc));
            h.add(n.hash, v, g);
            count = count.saturating_add(1);
        }
        let (set, versions) = h.finish();
        let Ok(notice) = u16::try_from(index) else {
            return;
        };
        if count != usize::from(block.count) || set != block.set_hash {
            let _ = self.notices.push(notice);
            crate::counters::bump(&mut tally.blocks_differ);
            return;
        }
        crate::counters::bump(&mut tally.blocks_read);
        if versions != block.version_hash {
            let _ = self.notices.push(notice);
            crate::counters::bump(&mut tally.blocks_differ);
        }
        let deltas_before = self.deltas.len();
        let mut entries = block.entries();
        let mut listed = 0u16;
        for pos in span.0..span.1 {
            let Some((slot, n)) = self.nodes.at(pos) else {
                break;
            };
            if n.hidden {
                continue;
            }
            let Some(entry) = entries.next() else {
                break;
            };
            let (hash, max_version, last_gc, heartbeat) =
                (n.hash, n.max_version, n.last_gc, n.heartbeat);
            let alive_here = present(slot, n);
            match entry.beat.and_then(|low| beat_near(low, heartbeat)) {
                Some(theirs) if theirs > heartbeat => {
                    if slot == LOCAL {
                        self.heard_ahead = true;
                    } else if self.plausible_beat(slot, heartbeat, theirs, now) {
                        let _ = self.beats.push((slot, theirs));
                    } else {
                        crate::counters::bump(&mut tally.implausible);
                    }
                }
                Some(theirs) if heartbeat > theirs && alive_here => {
                    match u32::try_from(heartbeat.saturating_sub(theirs)) {
                        Ok(delta) => {
                            let _ = self.deltas.push((listed, delta));
                        }
                        Err(_) => self.plan_beat(slot),
                    }
                }
                None if alive_here && heartbeat > 0 => {
                    // The initiator does not hold it alive (or its copy is
                    // below zero): send ours whole, it may show the node
                    // alive again.
                    self.plan_beat(slot);
                }
                _ => {}
            }
            if let Some((v, g)) = entry.explicit {
                if slot == LOCAL && self.own_state_behind(0, v, g) {
                    self.heard_ahead = true;
                }
                if let Some(from) = send_from(max_version, last_gc, v, g) {
                    let _ = self.plan.push(PlanItem {
                        slot,
                        intro: false,
                        by_prefix: false,
                        data: true,
                        from,
                        done: false,
                        chunk_at: 0,
                    });
                }
                if v > max_version && slot != LOCAL {
                    let _ = self.asks.push(Ask {
                        hash,
                        known: true,
                        max_version,
                        last_gc,
                    });
                }
            }
            listed = listed.saturating_add(1);
        }
        if self.deltas.len() > deltas_before {
            let end = u16::try_from(self.deltas.len()).unwrap_or(u16::MAX);
            let _ = self.runs.push(BeatRunPlan {
                index: notice,
                count: block.count,
                end,
            });
        }
    }

    /// Sends the notices and beat runs planned for a version-5 Syn piece
    /// as one SynAck datagram of at most `budget` bytes (runs that do not
    /// fit are left out); returns its length (0 if none was sent).
    pub(crate) fn send_compact_synack(
        &mut self,
        to: SocketAddr,
        syn: &SynMsg<'_>,
        (tokens, stamp): (&Tokens, u32),
        budget: usize,
        tx: &mut impl Transmit,
    ) -> usize {
        let own = self.id.clone();
        let cluster = self.config.cluster_id.fingerprint();
        let limit = self.config.mtu.min(budget).min(tx.buffer().len());
        let mut enc = wire::Encoder::new(tx.buffer(), limit);
        let synack = Some((syn.piece_count, tokens, stamp));
        let written = (|| {
            enc.synack_open(MessageKind::SynAck, syn.version, cluster, &own, synack)?;
            let notices = enc.begin_seq()?;
            let mut n = 0usize;
            for &index in self.notices.iter() {
                enc.count_or_gap(u64::from(index))?;
                n = n.saturating_add(1);
            }
            enc.end_seq(notices, n);
            let runs = enc.begin_seq()?;
            // Two empty lists (requests, updates) close the datagram, after
            // an empty list of partials from version 6 on.
            let room = limit
                .saturating_sub(2)
                .saturating_sub(wire::partials_len(syn.version, &[]));
            let (mut n, mut first) = (0usize, 0usize);
            for run in self.runs.iter() {
                let end = usize::from(run.end);
                let deltas = self.deltas.get(first..end).unwrap_or_default();
                first = end;
                let len = deltas
                    .iter()
                    .map(|&(_, d)| wire::varint_len(u64::from(d)))
                    .fold(
                        wire::beat_run_head_len(u32::from(run.index), run.count),
                        usize::saturating_add,
                    );
                if enc.pos().saturating_add(len) > room {
                    continue;
                }
                let mut bitmap = [0u8; BITMAP_CHUNK];
                let bytes = usize::from(run.count).div_ceil(8);
                enc.count_or_gap(u64::from(run.index))?;
                enc.count_or_gap(u64::from(run.count))?;
                // The bitmap, a chunk at a time (no buffer of its size).
                let mut next = deltas.iter().peekable();
                let mut done = 0usize;
                while done < bytes {
                    let take = bytes.saturating_sub(done).min(BITMAP_CHUNK);
                    bitmap.fill(0);
                    let base = done.saturating_mul(8);
                    while let Some(&&(pos, _)) = next.peek() {
                        let rel = usize::from(pos).saturating_sub(base);
                        if usize::from(pos) < base || rel >= take.saturating_mul(8) {
                            break;
                        }
                        if let Some(b) = bitmap.get_mut(rel / 8) {
                            *b |= 1 << (rel % 8);
                        }
                        next.next();
                    }
                    enc.raw_bytes(bitmap.get(..take).unwrap_or_default())?;
                    done = done.saturating_add(take);
                }
                for &(_, d) in deltas {
                    enc.count_or_gap(u64::from(d))?;
                }
                n = n.saturating_add(1);
            }
            enc.end_seq(runs, n);
            enc.partials(syn.version, &[])?;
            enc.count_or_gap(0)?;
            enc.count_or_gap(0)?;
            Ok::<usize, wire::Full>(enc.pos())
        })();
        let Ok(len) = written else {
            return 0;
        };
        tx.send(to, len);
        crate::counters::bump(&mut self.counters.datagrams_out);
        self.counters.bytes_out = self.counters.bytes_out.saturating_add(len as u64);
        len
    }

    /// Plans a heartbeat alone, by hash, for `slot`.
    fn plan_beat(&mut self, slot: u16) {
        let Some(n) = self.nodes.get(slot) else {
            return;
        };
        let max_version = n.max_version;
        let _ = self.plan.push(PlanItem {
            slot,
            intro: false,
            by_prefix: false,
            data: false,
            from: max_version,
            done: false,
            chunk_at: 0,
        });
    }

    /// Takes what a version-5 SynAck says about the blocks of our Syn:
    /// the heartbeats its beat runs show ahead (if it echoes our current
    /// stamp), and, for each notice, the block again as lines (only to a
    /// peer whose SynAck proved its address, since they are not a reply
    /// bounded by the amplification rule).
    pub(crate) fn take_compact(
        &mut self,
        from: SocketAddr,
        (compact, validated): (&Compact<'_>, bool),
        now: Instant,
        tx: &mut impl Transmit,
        observer: &mut impl Observer,
    ) {
        if compact.stamp != self.syn_stamp || self.nodes.epoch() != self.syn_epoch {
            return;
        }
        let bits = self.syn_bits;
        for run in compact.beat_runs() {
            let span = self.block_positions(bits, run.index);
            let mut deltas = run.deltas().peekable();
            let mut listed = 0u16;
            let count = self.listed_in(span).count();
            if count != usize::from(run.count) {
                continue;
            }
            for pos in span.0..span.1 {
                let Some(&(want, delta)) = deltas.peek() else {
                    break;
                };
                let Some((slot, n)) = self.nodes.at(pos) else {
                    break;
                };
                if n.hidden {
                    continue;
                }
                if listed == want {
                    deltas.next();
                    let held = n.heartbeat;
                    let offered =
                        beat_at_or_below(n.syn_beat, held).and_then(|sent| sent.checked_add(delta));
                    if let Some(beat) = offered.filter(|b| *b > held)
                        && self.plausible_beat(slot, held, beat, now)
                    {
                        self.observe_heartbeat(slot, beat, now, observer);
                    }
                }
                listed = listed.saturating_add(1);
            }
        }
        if !validated {
            return;
        }
        for index in compact.notices() {
            if index >= 1u32.checked_shl(u32::from(bits)).unwrap_or(u32::MAX) {
                continue;
            }
            let range = wire::block_range(bits, index);
            let _ = self.send_lines_syn(from, range, tx);
        }
    }
}

/// The gap that codes position `pos` after `prev`.
fn gap_from(prev: Option<u16>, pos: u16) -> u16 {
    match prev {
        None => pos,
        Some(p) => pos.saturating_sub(p),
    }
}

#[cfg(test)]
mod tests;
