//! Chunks of long values and partial transfers (protocol version 6).
//!
//! A value too long for the datagram it would go in travels in *chunks*
//! (the engine's side is module `chunk`). A chunk is the last entry of a
//! piece `(from, to]`, at version `to + 1`: the piece is exact up to `to`,
//! and the chunk carries some bytes of the entry that follows. A receiver
//! that holds a value in part lists what it holds, per node, in its Syns
//! and SynAcks (*partials*), so that a sender skips those bytes.
//!
//! ```text
//! Syn (v6)    = sender, piece_count, ring_start, ring_end, Tokens, stamp,
//!               block_bits, partials: seq<Partial>, runs: seq<Run>
//! SynAck (v6) = sender, piece_count, Tokens, stamp, notices, beat_runs,
//!               partials: seq<Partial>, requests, updates
//! Partial     = hash: [u8; 8], version: varint, held: seq<Range>
//! Range       = start: varint, len: varint
//! Chunk       = version_step: varint, status: u8 (3 | 4), key: str,
//!               bytes: bytes, total: varint, offset: varint
//! ```
//!
//! A chunk's status is 3 for a chunk of a plain value, 4 for one of a value
//! with a time-to-live; it is the last entry of its piece (counted in the
//! piece's entry count) and its version is the piece's `to` plus one. It
//! carries at least one byte, `offset + len ≤ total`, and `total` fits 32
//! bits. It is aligned to [`CHUNK_UNIT`]: its offset is a multiple of it,
//! and so is its length unless it ends the value, so that a receiver can
//! record what it holds as one bit per unit, whatever order chunks arrive
//! in (module `chunk`). Partials are ascending by hash, with a version from 1 to
//! [`MAX_VERSION`]; their ranges ascending, non-empty, not overlapping and
//! within 32 bits. Everything is validated with the rest of the datagram,
//! before any state changes; the Ack and versions before 6 carry neither.

use super::{
    DecodeError, Encoder, EntryStatus, Full, MAX_KEY_LEN, MAX_VERSION, Reader, Seq,
    key_nul_allowed, varint_len,
};

/// First version whose pieces may end in a chunk and whose Syns and
/// SynAcks carry partials.
pub(crate) const CHUNKS_VERSION: u8 = 6;
/// Wire status of a chunk of a value set without a time-to-live.
const CHUNK_OF_SET: u8 = 3;
/// Wire status of a chunk of a value with a time-to-live.
const CHUNK_OF_TTL: u8 = 4;
/// Alignment of chunks, in bytes (see the module docs): a receiver keeps
/// one bit per unit of a value in flight, 1/256 of its length.
pub(crate) const CHUNK_UNIT: u32 = 32;
/// Largest total length, offset or range end: a value's length fits the
/// arena, whose size is below 2³².
pub(crate) const MAX_CHUNKED_LEN: u64 = u32::MAX as u64;
/// Smallest partial: hash, a one-byte version and an empty range count.
const MIN_PARTIAL_LEN: usize = 8 + 1 + 1;
/// Smallest range: two one-byte varints.
const MIN_RANGE_LEN: usize = 2;

/// Whether a wire status byte is a chunk's.
pub(super) fn is_chunk_status(b: u8) -> bool {
    b == CHUNK_OF_SET || b == CHUNK_OF_TTL
}

/// The wire status of a chunk of a value of `status` (a live status; a
/// tombstone has no value to chunk).
fn chunk_status(status: EntryStatus) -> u8 {
    match status {
        EntryStatus::SetWithTtl => CHUNK_OF_TTL,
        EntryStatus::Set | EntryStatus::Deleted => CHUNK_OF_SET,
    }
}

/// One chunk as decoded: bytes `offset..offset + bytes.len()` of the value
/// at `version` of `key`, `total` bytes long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChunkView<'a> {
    pub version: u64,
    pub status: EntryStatus,
    pub key: &'a str,
    pub total: u32,
    pub offset: u32,
    pub bytes: &'a [u8],
}

/// One partial as written: a node's ring hash, the version held in part and
/// the byte ranges `(start, end)` held, ascending.
pub(crate) type PartialItem<'r> = (u64, u64, &'r [(u32, u32)]);

/// The validated partials of a Syn or SynAck (empty before version 6).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Partials<'a> {
    seq: Seq<'a>,
}

impl<'a> Partials<'a> {
    /// No partials.
    pub(crate) const NONE: Partials<'static> = Partials {
        seq: Seq {
            count: 0,
            bytes: &[],
        },
    };

    /// The partials, ascending by hash.
    pub(crate) fn iter(&self) -> PartialIter<'a> {
        PartialIter {
            reader: Reader {
                rest: self.seq.bytes,
            },
            left: self.seq.count,
        }
    }

    /// How many there are.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn len(&self) -> usize {
        self.seq.count
    }

    /// The partial for the node of ring hash `hash`, if listed.
    pub(crate) fn find(&self, hash: u64) -> Option<PartialView<'a>> {
        self.iter().find(|p| p.hash == hash)
    }
}

/// One validated partial.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PartialView<'a> {
    pub hash: u64,
    pub version: u64,
    held: Seq<'a>,
}

impl<'a> PartialView<'a> {
    /// The byte ranges `(start, end)` held, ascending and disjoint.
    pub(crate) fn held(&self) -> RangeIter<'a> {
        RangeIter {
            reader: Reader {
                rest: self.held.bytes,
            },
            left: self.held.count,
        }
    }
}

/// Iterates validated partials.
pub(crate) struct PartialIter<'a> {
    reader: Reader<'a>,
    left: usize,
}

impl<'a> Iterator for PartialIter<'a> {
    type Item = PartialView<'a>;

    fn next(&mut self) -> Option<PartialView<'a>> {
        self.left = self.left.checked_sub(1)?;
        // Validated already: a failure here ends the iteration.
        self.reader.partial(None).ok()
    }
}

/// Iterates the validated ranges of a partial.
pub(crate) struct RangeIter<'a> {
    reader: Reader<'a>,
    left: usize,
}

impl Iterator for RangeIter<'_> {
    type Item = (u32, u32);

    fn next(&mut self) -> Option<(u32, u32)> {
        self.left = self.left.checked_sub(1)?;
        let start = self.reader.varint().ok()?;
        let len = self.reader.varint().ok()?;
        let end = start.checked_add(len)?;
        Some((u32::try_from(start).ok()?, u32::try_from(end).ok()?))
    }
}

impl<'a> Reader<'a> {
    /// The partials of a Syn or SynAck of `version`, validated.
    pub(super) fn partials(&mut self, version: u8) -> Result<Partials<'a>, DecodeError> {
        if version < CHUNKS_VERSION {
            return Ok(Partials::NONE);
        }
        let count = self.bounded_count(MIN_PARTIAL_LEN, usize::MAX)?;
        let bytes = self.rest;
        let mut prev = None;
        for _ in 0..count {
            prev = Some(self.partial(prev)?.hash);
        }
        Ok(Partials {
            seq: Seq { count, bytes },
        })
    }

    /// One partial, whose hash must be above `after` (the previous one's).
    fn partial(&mut self, after: Option<u64>) -> Result<PartialView<'a>, DecodeError> {
        let hash = super::hash_from_wire(self.raw::<8>()?);
        if after.is_some_and(|a| hash <= a) {
            return Err(DecodeError::OutOfOrder);
        }
        let version = self.varint()?;
        if version == 0 || version > MAX_VERSION {
            return Err(DecodeError::InvalidField);
        }
        let count = self.bounded_count(MIN_RANGE_LEN, usize::MAX)?;
        let bytes = self.rest;
        let mut covered = 0u64;
        for i in 0..count {
            let start = self.varint()?;
            let len = self.varint()?;
            let end = start
                .checked_add(len)
                .filter(|e| len > 0 && *e <= MAX_CHUNKED_LEN)
                .ok_or(DecodeError::InvalidField)?;
            if i > 0 && start < covered {
                return Err(DecodeError::OutOfOrder);
            }
            covered = end;
        }
        Ok(PartialView {
            hash,
            version,
            held: Seq { count, bytes },
        })
    }

    /// The rest of a chunk entry whose step, key and bytes are read, at
    /// `version` (already checked to be the piece's `to + 1`).
    pub(super) fn chunk_tail(
        &mut self,
        version: u64,
        status: u8,
        key: &'a str,
        bytes: &'a [u8],
    ) -> Result<ChunkView<'a>, DecodeError> {
        let total = self.varint()?;
        let offset = self.varint()?;
        let end = offset
            .checked_add(bytes.len() as u64)
            .ok_or(DecodeError::InvalidField)?;
        let unit = u64::from(CHUNK_UNIT);
        let aligned = offset.is_multiple_of(unit) && (end == total || end.is_multiple_of(unit));
        if bytes.is_empty()
            || !aligned
            || total > MAX_CHUNKED_LEN
            || end > total
            || key.is_empty()
            || key.len() > MAX_KEY_LEN
            || !key_nul_allowed(key)
        {
            return Err(DecodeError::InvalidField);
        }
        let status = if status == CHUNK_OF_TTL {
            EntryStatus::SetWithTtl
        } else {
            EntryStatus::Set
        };
        Ok(ChunkView {
            version,
            status,
            key,
            total: total as u32,
            offset: offset as u32,
            bytes,
        })
    }
}

impl Encoder<'_> {
    /// The partials of a Syn or SynAck of `version` (nothing before 6).
    pub(crate) fn partials(&mut self, version: u8, items: &[PartialItem<'_>]) -> Result<(), Full> {
        if version < CHUNKS_VERSION {
            return Ok(());
        }
        self.varint(items.len() as u64)?;
        for &(hash, v, held) in items {
            self.hash(hash)?;
            self.varint(v)?;
            self.varint(held.len() as u64)?;
            for &(start, end) in held {
                self.varint(u64::from(start))?;
                self.varint(u64::from(end.saturating_sub(start)))?;
            }
        }
        Ok(())
    }

    /// A chunk: `bytes` at `offset` of the `total`-byte value of `key`,
    /// `version_step` above the previous entry of its piece (or its
    /// `from`), as the piece's last entry.
    pub(crate) fn chunk(
        &mut self,
        version_step: u64,
        status: EntryStatus,
        key: &[u8],
        (bytes, total, offset): (&[u8], u32, u32),
    ) -> Result<(), Full> {
        self.varint(version_step)?;
        self.byte(chunk_status(status))?;
        self.bytes(key)?;
        self.bytes(bytes)?;
        self.varint(u64::from(total))?;
        self.varint(u64::from(offset))
    }
}

/// Bytes [`Encoder::partials`] writes.
pub(crate) fn partials_len(version: u8, items: &[PartialItem<'_>]) -> usize {
    if version < CHUNKS_VERSION {
        return 0;
    }
    items
        .iter()
        .fold(varint_len(items.len() as u64), |n, &(_, v, held)| {
            let ranges = held.iter().fold(0usize, |m, &(s, e)| {
                m.saturating_add(varint_len(u64::from(s)))
                    .saturating_add(varint_len(u64::from(e.saturating_sub(s))))
            });
            n.saturating_add(8)
                .saturating_add(varint_len(v))
                .saturating_add(varint_len(held.len() as u64))
                .saturating_add(ranges)
        })
}

/// Bytes [`Encoder::chunk`] writes, for `len` bytes of a `total`-byte
/// value at `offset`.
pub(crate) fn chunk_len(
    version_step: u64,
    key_len: usize,
    (len, total, offset): (usize, u32, u32),
) -> usize {
    super::entry_len(version_step, key_len, len)
        .saturating_add(varint_len(u64::from(total)))
        .saturating_add(varint_len(u64::from(offset)))
}
