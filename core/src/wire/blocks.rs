//! Compact digest blocks and heartbeat runs (protocol version 5).
//!
//! A digest line costs 6 to 8 bytes, and a Syn carries one per node: at a
//! thousand nodes and three Syns a round that is most of what a node
//! sends. Yet two nodes of a steady cluster know the same nodes at the same
//! versions; only heartbeats differ. A version-5 Syn may therefore describe
//! a *block* of the ring (the ring hashes whose top `bits` bits are the
//! block's index) by hashes of its node set and of their versions, and send
//! only the low 16 bits of each node's heartbeat, in ring order: two bytes
//! per node instead of seven. A responder whose own block hashes to the
//! same node set reads the heartbeats by position; one whose block differs
//! says so in its SynAck (a *notice*), and the initiator sends that block
//! again as ordinary lines. The fresher heartbeats the responder has for
//! such a block go back as a *beat run*: a bitmap of positions and, for
//! each, how many beats it is ahead of what the initiator sent.
//!
//! ```text
//! Syn (v5) = sender, piece_count, ring_start, ring_end, Tokens,
//!            stamp: [u8; 4], block_bits: u8, runs: seq<Run>
//! Run      = 0 lines: seq<Line>  |  1 block: Block
//! Block    = index: varint, count: varint, set_hash: [u8; 8],
//!            version_hash: [u8; 4], explicit: seq<Explicit>,
//!            absent: seq<gap: varint>, beats: [u8; 2 × (count − absent)]
//! Explicit = gap: varint, flags: varint, [last_gc_version: varint]
//!   flags  = max_version << 1 | has_last_gc
//! SynAck (v5) = sender, piece_count, Tokens, stamp: [u8; 4],
//!            notices: seq<index: varint>, beat_runs: seq<BeatRun>,
//!            requests: seq<Request>, updates: seq<Update>
//! BeatRun  = index: varint, count: varint, bitmap: [u8; ⌈count / 8⌉],
//!            deltas: varint × (bits set in bitmap)
//! ```
//!
//! Positions count a block's nodes in ring order from 0. An explicit line
//! gives a node's versions outright (the initiator's recent changes, so a
//! cluster that writes often still compares by hash); gaps are a position
//! (the first) or the distance from the previous one (at least 1). A node
//! listed as absent has no heartbeat in the block (the initiator does not
//! hold it alive). A heartbeat's 16 bits are little-endian. Bitmap bit `i`
//! (byte `i / 8`, bit `i % 8`) is position `i`; the bits past `count` are
//! zero, and every delta is at least 1. The SynAck echoes the Syn's stamp,
//! so the initiator can tell whether the heartbeats it sent are still the
//! ones the deltas count from.

use super::{DecodeError, Encoder, Full, MAX_VERSION, Reader, Seq, varint_len};

/// First version whose Syns may carry blocks and whose SynAcks carry a
/// stamp, notices and beat runs.
pub(crate) const BLOCKS_VERSION: u8 = 5;
/// Largest `block_bits`: 65,536 blocks, as many as an engine has slots.
pub(crate) const MAX_BLOCK_BITS: u8 = 16;
/// Bytes of a heartbeat in a block.
pub(crate) const BEAT_LEN: usize = 2;
/// Bytes of the stamp in a version-5 Syn or SynAck.
pub(crate) const STAMP_LEN: usize = 4;

const RUN_LINES: u8 = 0;
const RUN_BLOCK: u8 = 1;
/// Smallest run: a tag and an empty line count.
pub(super) const MIN_RUN_LEN: usize = 2;
/// Smallest explicit line: a gap and a one-byte flags varint.
const MIN_EXPLICIT_LEN: usize = 2;
/// Smallest beat run: index, count, one bitmap byte.
const MIN_BEAT_RUN_LEN: usize = 3;

/// The ring range `[start, end]` of block `index` when blocks are the top
/// `bits` bits of the ring hash.
pub(crate) fn block_range(bits: u8, index: u32) -> (u64, u64) {
    let Some(shift) = 64u32.checked_sub(u32::from(bits)).filter(|s| *s < 64) else {
        return (0, u64::MAX);
    };
    let start = u64::from(index).checked_shl(shift).unwrap_or(0);
    let span = 1u64
        .checked_shl(shift)
        .map_or(u64::MAX, |s| s.wrapping_sub(1));
    (start, start | span)
}

/// The block that ring hash `hash` falls in.
pub(crate) fn block_of(bits: u8, hash: u64) -> u32 {
    let Some(shift) = 64u32.checked_sub(u32::from(bits)).filter(|s| *s < 64) else {
        return 0;
    };
    u32::try_from(hash.checked_shr(shift).unwrap_or(0)).unwrap_or(u32::MAX)
}

/// One block of a version-5 Syn, validated.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BlockView<'a> {
    pub index: u32,
    /// Its ring range.
    pub start: u64,
    pub end: u64,
    /// Nodes the initiator holds in it.
    pub count: u16,
    pub set_hash: u64,
    pub version_hash: u32,
    explicit: Seq<'a>,
    absent: Seq<'a>,
    beats: &'a [u8],
}

/// What a block says about the node at one position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BlockEntry {
    /// The initiator's `(max_version, last_gc)`, when it listed them.
    pub explicit: Option<(u64, u64)>,
    /// The low 16 bits of the initiator's heartbeat, unless absent.
    pub beat: Option<u16>,
}

impl<'a> BlockView<'a> {
    /// The block's positions in order, `count` of them.
    pub(crate) fn entries(&self) -> BlockEntries<'a> {
        BlockEntries {
            pos: 0,
            count: self.count,
            explicit: GapReader::new(self.explicit),
            absent: GapReader::new(self.absent),
            next_explicit: None,
            next_absent: None,
            beats: self.beats,
            started: false,
        }
    }
}

/// Reads a validated sequence of gap-coded positions (and, for explicit
/// lines, their versions).
struct GapReader<'a> {
    reader: Reader<'a>,
    left: usize,
    prev: Option<u16>,
}

impl<'a> GapReader<'a> {
    fn new(seq: Seq<'a>) -> Self {
        GapReader {
            reader: Reader { rest: seq.bytes },
            left: seq.count,
            prev: None,
        }
    }

    /// The next position; `None` at the end (or, never after validation,
    /// on malformed bytes).
    fn next_pos(&mut self) -> Option<u16> {
        self.left = self.left.checked_sub(1)?;
        let gap = self.reader.varint().ok()?;
        let pos = match self.prev {
            None => gap,
            Some(p) => u64::from(p).checked_add(gap)?,
        };
        let pos = u16::try_from(pos).ok()?;
        self.prev = Some(pos);
        Some(pos)
    }

    /// The versions of an explicit line, after its position.
    fn versions(&mut self) -> Option<(u64, u64)> {
        let flags = self.reader.varint().ok()?;
        let gc = if flags & 1 != 0 {
            self.reader.varint().ok()?
        } else {
            0
        };
        Some((flags >> 1, gc))
    }
}

/// Iterates a validated block's positions.
pub(crate) struct BlockEntries<'a> {
    pos: u16,
    count: u16,
    explicit: GapReader<'a>,
    absent: GapReader<'a>,
    next_explicit: Option<(u16, (u64, u64))>,
    next_absent: Option<u16>,
    beats: &'a [u8],
    started: bool,
}

impl Iterator for BlockEntries<'_> {
    type Item = BlockEntry;

    fn next(&mut self) -> Option<BlockEntry> {
        if !self.started {
            self.started = true;
            self.load_explicit();
            self.next_absent = self.absent.next_pos();
        } else {
            self.pos = self.pos.checked_add(1)?;
        }
        if self.pos >= self.count {
            return None;
        }
        let explicit = match self.next_explicit {
            Some((p, v)) if p == self.pos => {
                self.load_explicit();
                Some(v)
            }
            _ => None,
        };
        let beat = if self.next_absent == Some(self.pos) {
            self.next_absent = self.absent.next_pos();
            None
        } else {
            let (b, rest) = self.beats.split_first_chunk::<BEAT_LEN>()?;
            self.beats = rest;
            Some(u16::from_le_bytes(*b))
        };
        Some(BlockEntry { explicit, beat })
    }
}

impl BlockEntries<'_> {
    fn load_explicit(&mut self) {
        self.next_explicit = self
            .explicit
            .next_pos()
            .and_then(|p| self.explicit.versions().map(|v| (p, v)));
    }
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, DecodeError> {
        let (&b, rest) = self.rest.split_first().ok_or(DecodeError::Truncated)?;
        self.rest = rest;
        Ok(b)
    }

    pub(super) fn raw<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let (head, rest) = self
            .rest
            .split_first_chunk::<N>()
            .ok_or(DecodeError::Truncated)?;
        self.rest = rest;
        Ok(*head)
    }

    /// A varint count of at most `max` items of at least `min_item_len`
    /// bytes each.
    pub(super) fn bounded_count(
        &mut self,
        min_item_len: usize,
        max: usize,
    ) -> Result<usize, DecodeError> {
        let n = usize::try_from(self.varint()?).map_err(|_| DecodeError::ImpossibleCount)?;
        if n > max
            || n.checked_mul(min_item_len)
                .is_none_or(|need| need > self.rest.len())
        {
            return Err(DecodeError::ImpossibleCount);
        }
        Ok(n)
    }

    /// The 4-byte stamp of a version-5 Syn or SynAck.
    pub(super) fn stamp(&mut self, version: u8) -> Result<Option<u32>, DecodeError> {
        if version < BLOCKS_VERSION {
            return Ok(None);
        }
        Ok(Some(u32::from_le_bytes(self.raw::<STAMP_LEN>()?)))
    }

    /// The tag of the next run: `true` for a block, `false` for lines.
    pub(super) fn run_tag(&mut self) -> Result<bool, DecodeError> {
        match self.byte()? {
            RUN_LINES => Ok(false),
            RUN_BLOCK => Ok(true),
            _ => Err(DecodeError::InvalidEncoding),
        }
    }

    /// Reads and validates one block of a Syn with `bits` block bits.
    pub(super) fn block(&mut self, bits: u8) -> Result<BlockView<'a>, DecodeError> {
        let index = u32::try_from(self.varint()?).map_err(|_| DecodeError::InvalidField)?;
        if u64::from(index) >= 1u64 << bits {
            return Err(DecodeError::InvalidField);
        }
        let count = self.varint()?;
        let count = u16::try_from(count)
            .ok()
            .filter(|c| *c > 0)
            .ok_or(DecodeError::InvalidField)?;
        let set_hash = u64::from_be_bytes(self.raw::<8>()?);
        let version_hash = u32::from_be_bytes(self.raw::<4>()?);
        let n = self.bounded_count(MIN_EXPLICIT_LEN, usize::from(count))?;
        let explicit = Seq {
            count: n,
            bytes: self.rest,
        };
        let mut prev: Option<u64> = None;
        for _ in 0..n {
            self.position(&mut prev, count)?;
            let flags = self.varint()?;
            if flags >> 1 > MAX_VERSION {
                return Err(DecodeError::InvalidField);
            }
            if flags & 1 != 0 {
                let gc = self.varint()?;
                if gc == 0 || gc > MAX_VERSION {
                    return Err(DecodeError::InvalidField);
                }
            }
        }
        let n_absent = self.bounded_count(1, usize::from(count))?;
        let absent = Seq {
            count: n_absent,
            bytes: self.rest,
        };
        let mut prev = None;
        for _ in 0..n_absent {
            self.position(&mut prev, count)?;
        }
        let present = usize::from(count).saturating_sub(n_absent);
        let len = present
            .checked_mul(BEAT_LEN)
            .ok_or(DecodeError::Truncated)?;
        let beats = self.rest.get(..len).ok_or(DecodeError::Truncated)?;
        self.rest = self.rest.get(len..).unwrap_or_default();
        let (start, end) = block_range(bits, index);
        Ok(BlockView {
            index,
            start,
            end,
            count,
            set_hash,
            version_hash,
            explicit,
            absent,
            beats,
        })
    }

    /// A gap-coded position after `prev`, below `count`.
    fn position(&mut self, prev: &mut Option<u64>, count: u16) -> Result<u64, DecodeError> {
        let gap = self.varint()?;
        let pos = match *prev {
            None => gap,
            Some(_) if gap == 0 => return Err(DecodeError::OutOfOrder),
            Some(p) => p.checked_add(gap).ok_or(DecodeError::OutOfOrder)?,
        };
        if pos >= u64::from(count) {
            return Err(DecodeError::OutOfOrder);
        }
        *prev = Some(pos);
        Ok(pos)
    }
}

/// The notices of a version-5 SynAck: blocks whose node set or versions
/// differ at the responder, ascending.
pub(crate) struct NoticeIter<'a> {
    reader: Reader<'a>,
    left: usize,
}

impl Iterator for NoticeIter<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        self.left = self.left.checked_sub(1)?;
        self.reader
            .varint()
            .ok()
            .and_then(|v| u32::try_from(v).ok())
    }
}

/// One beat run of a version-5 SynAck, validated.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BeatRun<'a> {
    pub index: u32,
    pub count: u16,
    bitmap: &'a [u8],
    deltas: &'a [u8],
}

impl<'a> BeatRun<'a> {
    /// How many positions its bitmap names (each has a delta).
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn bits_set(&self) -> usize {
        self.bitmap.iter().map(|b| b.count_ones() as usize).sum()
    }

    /// `(position, delta)` for every position the responder is ahead at.
    pub(crate) fn deltas(&self) -> impl Iterator<Item = (u16, u64)> + 'a {
        let mut reader = Reader { rest: self.deltas };
        let bitmap = self.bitmap;
        let count = self.count;
        (0..count).filter_map(move |pos| {
            let byte = bitmap.get(usize::from(pos / 8))?;
            if byte & (1 << (pos % 8)) == 0 {
                return None;
            }
            reader.varint().ok().map(|d| (pos, d))
        })
    }
}

/// Iterates validated beat runs.
pub(crate) struct BeatRunIter<'a> {
    reader: Reader<'a>,
    left: usize,
}

impl<'a> Iterator for BeatRunIter<'a> {
    type Item = BeatRun<'a>;

    fn next(&mut self) -> Option<BeatRun<'a>> {
        self.left = self.left.checked_sub(1)?;
        read_beat_run(&mut self.reader).ok()
    }
}

fn read_beat_run<'a>(r: &mut Reader<'a>) -> Result<BeatRun<'a>, DecodeError> {
    let index = u32::try_from(r.varint()?).map_err(|_| DecodeError::InvalidField)?;
    let count = u16::try_from(r.varint()?)
        .ok()
        .filter(|c| *c > 0)
        .ok_or(DecodeError::InvalidField)?;
    let len = usize::from(count).div_ceil(8);
    let bitmap = r.rest.get(..len).ok_or(DecodeError::Truncated)?;
    r.rest = r.rest.get(len..).unwrap_or_default();
    // Bits past `count` in the last byte must be clear.
    let used_bits = usize::from(count) % 8;
    if let Some(&last) = bitmap.last()
        && used_bits != 0
        && last.checked_shr(used_bits as u32).unwrap_or(0) != 0
    {
        return Err(DecodeError::InvalidField);
    }
    let set: u32 = bitmap.iter().map(|b| b.count_ones()).sum();
    let deltas = r.rest;
    for _ in 0..set {
        if r.varint()? == 0 {
            return Err(DecodeError::InvalidField);
        }
    }
    let used = deltas.len().saturating_sub(r.rest.len());
    Ok(BeatRun {
        index,
        count,
        bitmap,
        deltas: deltas.get(..used).unwrap_or_default(),
    })
}

/// The version-5 parts of a SynAck: stamp echo, notices and beat runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Compact<'a> {
    pub stamp: u32,
    notices: Seq<'a>,
    runs: Seq<'a>,
}

impl<'a> Compact<'a> {
    pub(crate) fn notices(&self) -> NoticeIter<'a> {
        NoticeIter {
            reader: Reader {
                rest: self.notices.bytes,
            },
            left: self.notices.count,
        }
    }

    pub(crate) fn beat_runs(&self) -> BeatRunIter<'a> {
        BeatRunIter {
            reader: Reader {
                rest: self.runs.bytes,
            },
            left: self.runs.count,
        }
    }

    /// How many notices it carries.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn notice_count(&self) -> usize {
        self.notices.count
    }

    /// How many beat runs it carries.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn run_count(&self) -> usize {
        self.runs.count
    }

    /// Whether it carries nothing but the stamp.
    pub(crate) fn is_empty(&self) -> bool {
        self.notices.count == 0 && self.runs.count == 0
    }
}

/// Reads and validates the version-5 parts of a SynAck.
pub(super) fn read_compact<'a>(r: &mut Reader<'a>, stamp: u32) -> Result<Compact<'a>, DecodeError> {
    let n = r.bounded_count(1, usize::MAX)?;
    let notices = Seq {
        count: n,
        bytes: r.rest,
    };
    let mut prev: Option<u64> = None;
    for _ in 0..n {
        let i = r.varint()?;
        if i >= 1 << MAX_BLOCK_BITS || prev.is_some_and(|p| i <= p) {
            return Err(DecodeError::OutOfOrder);
        }
        prev = Some(i);
    }
    let n = r.bounded_count(MIN_BEAT_RUN_LEN, usize::MAX)?;
    let runs = Seq {
        count: n,
        bytes: r.rest,
    };
    let mut prev: Option<u32> = None;
    for _ in 0..n {
        let run = read_beat_run(r)?;
        if prev.is_some_and(|p| run.index <= p) {
            return Err(DecodeError::OutOfOrder);
        }
        prev = Some(run.index);
    }
    Ok(Compact {
        stamp,
        notices,
        runs,
    })
}

impl Encoder<'_> {
    /// The stamp and block bits of a version-5 Syn head.
    pub(super) fn syn_compact_head(&mut self, stamp: u32, bits: u8) -> Result<(), Full> {
        self.raw(&stamp.to_le_bytes())?;
        self.byte(bits)
    }

    /// Opens a run of lines (version 5); close it with `end_seq`.
    pub(crate) fn lines_run(&mut self) -> Result<super::SeqMark, Full> {
        self.byte(RUN_LINES)?;
        self.begin_seq()
    }

    /// The head of a block run: its index, node count, hashes and the
    /// number of explicit lines to follow.
    pub(crate) fn block_head(
        &mut self,
        index: u32,
        count: u16,
        (set_hash, version_hash): (u64, u32),
        explicit: usize,
    ) -> Result<(), Full> {
        self.byte(RUN_BLOCK)?;
        self.varint(u64::from(index))?;
        self.varint(u64::from(count))?;
        self.raw(&set_hash.to_be_bytes())?;
        self.raw(&version_hash.to_be_bytes())?;
        self.varint(explicit as u64)
    }

    /// An explicit line: position gap and versions.
    pub(crate) fn explicit_line(
        &mut self,
        gap: u16,
        max_version: u64,
        last_gc: u64,
    ) -> Result<(), Full> {
        self.varint(u64::from(gap))?;
        self.varint((max_version.min(MAX_VERSION) << 1) | u64::from(last_gc != 0))?;
        if last_gc != 0 {
            self.varint(last_gc)?;
        }
        Ok(())
    }

    /// A plain varint: a count or a position gap of a block.
    pub(crate) fn count_or_gap(&mut self, v: u64) -> Result<(), Full> {
        self.varint(v)
    }

    /// The low 16 bits of a heartbeat, in a block.
    pub(crate) fn beat(&mut self, heartbeat: u64) -> Result<(), Full> {
        self.raw(&(heartbeat as u16).to_le_bytes())
    }

    /// Raw bytes: a beat run's bitmap.
    pub(crate) fn raw_bytes(&mut self, bytes: &[u8]) -> Result<(), Full> {
        self.raw(bytes)
    }

    /// The stamp echo of a version-5 SynAck.
    pub(super) fn stamp(&mut self, stamp: u32) -> Result<(), Full> {
        self.raw(&stamp.to_le_bytes())
    }
}

/// Bytes [`Encoder::block_head`] writes.
pub(crate) fn block_head_len(index: u32, count: u16, explicit: usize) -> usize {
    (1 + 8 + 4usize)
        .saturating_add(varint_len(u64::from(index)))
        .saturating_add(varint_len(u64::from(count)))
        .saturating_add(varint_len(explicit as u64))
}

/// Bytes [`Encoder::explicit_line`] writes.
pub(crate) fn explicit_len(gap: u16, max_version: u64, last_gc: u64) -> usize {
    varint_len(u64::from(gap))
        .saturating_add(varint_len((max_version.min(MAX_VERSION) << 1) | 1))
        .saturating_add(if last_gc != 0 { varint_len(last_gc) } else { 0 })
}

/// Bytes [`Encoder::beat_run_head`] writes for a run of `count` positions.
pub(crate) fn beat_run_head_len(index: u32, count: u16) -> usize {
    varint_len(u64::from(index))
        .saturating_add(varint_len(u64::from(count)))
        .saturating_add(usize::from(count).div_ceil(8))
}
