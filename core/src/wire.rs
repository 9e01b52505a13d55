//! The wire format: framing, message bodies, and their allocation-free codec.
//!
//! # Framing
//!
//! Every datagram starts with an 8-byte header, then a [postcard] body:
//!
//! | bytes | field |
//! |---|---|
//! | 0..2 | magic `"HS"` (`0x48 0x53`) |
//! | 2 | protocol version: [`MIN_PROTOCOL_VERSION`] to [`PROTOCOL_VERSION`] |
//! | 3 | message kind: 1 Syn, 2 SynAck, 3 Ack |
//! | 4..8 | cluster fingerprint ([`crate::ClusterId`]), little-endian |
//!
//! # Bodies
//!
//! Bodies follow postcard's rules: unsigned integers are LEB128 varints,
//! `bool` and `u8` are one byte, strings and byte strings are a varint length
//! then the bytes, a sequence is a varint count then its items, an `Option` is
//! a `0`/`1` byte then the value, an enum is a varint variant index then its
//! fields, and fixed arrays are their bytes. Ring hashes travel as 8
//! big-endian bytes.
//!
//! ```text
//! NodeId   = name: str, generation: varint, addr: Addr
//! Addr     = 0 ipv4: [u8; 4], port: varint | 1 ipv6: [u8; 16], port: varint
//! Syn      = sender: NodeId, piece_count: varint,
//!            ring_start: [u8; 8], ring_end: [u8; 8], [Tokens],
//!            digest: seq<Line>
//! Tokens   = token: [u8; 8], echo: [u8; 8]          (version 4 only)
//! (a version-4 Syn may end in zero bytes: padding, see below)
//! Line     = prefix: [u8; 4], heartbeat: varint, flags: varint,
//!            [last_gc_version: varint], [hash_low: [u8; 4]]
//!   flags  = max_version << 2 | has_last_gc << 1 | has_hash_low
//! SynAck   = sender: NodeId, piece_count: varint, [Tokens],
//!            requests: seq<Request>, updates: seq<Update>
//! Request  = hash: [u8; 8], known: bool, max_version: varint,
//!            last_gc_version: varint
//! Ack      = sender: NodeId, updates: seq<Update>
//! Update   = node: (0 hash: [u8; 8] | 1 full: NodeId | 2 prefix: [u8; 4]),
//!            heartbeat: varint, piece: Option<Piece>
//! Piece    = last_gc_version: varint, from: varint, to: varint,
//!            entries: seq<Entry>
//! Entry    = version_step: varint, status: u8, key: str, value: bytes
//! ```
//!
//! That is versions 3 and 4; version 5 adds compact digest blocks (module
//! `blocks`), version 6 chunks of long values and partials (module
//! `chunks`), each with its own grammar.
//!
//! `token` is the sender's token for the address the datagram goes to, and
//! `echo` the token the receiver last gave the sender (zeros if none): a
//! SynAck echoes the token of the Syn it answers. A reply is written in the
//! version of the datagram it answers.
//!
//! A version-4 Syn piece may be followed by zero bytes up to the end of the
//! datagram. A node pads a Syn of one piece that it sends to an address
//! that has given it no token yet, to the mtu: the reply to a datagram from an
//! address not yet validated is bounded to three times its size
//! ([`crate::token`]), so an unpadded first Syn of a newcomer, which knows
//! three seeds and is a hundred bytes long, would draw a reply of a few
//! introductions (QUIC pads its first datagrams for the same reason).
//!
//! A digest line names its node by the top 32 bits of its ring hash: in a
//! steady cluster both sides know the same nodes, and a prefix identifies a
//! node as surely as the whole hash, at half the bytes. Where two of the
//! sender's nodes share a prefix, their lines carry the low 32 bits too
//! (`has_hash_low`). A receiver that holds several nodes under a prefix the
//! sender sent alone does not guess: it introduces them all. `last_gc_version`
//! is present only when not zero. Lines come in ring order: prefixes never
//! decrease, and equal prefixes only on lines with full hashes, ascending.
//!
//! An update that carries only a heartbeat, about a node the receiver named
//! by a prefix in its digest, names it by that prefix as well (tag 2); it
//! may not carry a piece. The receiver applies it only if exactly one of its
//! nodes has that prefix, and only if the advance is plausible.
//!
//! An entry's version is the piece's `from` plus the steps of all entries up
//! to and including it, so versions are strictly ascending and cost one byte
//! each in the common case. Status is 0 set, 1 deleted (value must be empty),
//! 2 set with a time-to-live.
//!
//! Names never contain NUL, and keys only as their first byte (hearsay's
//! reserved keys): a C string ends at NUL, so otherwise two different names
//! or keys would look alike through the C API.
//!
//! # Validation
//!
//! A datagram is decoded completely, and every rule checked, before any state
//! changes: oversized or truncated datagrams, unknown magic, versions or
//! kinds, foreign clusters, our own datagrams, invalid varints, UTF-8, tags or
//! names, counts that the remaining bytes cannot hold, digests or requests not
//! strictly ascending on the ring, pieces whose versions leave `(from, to]`,
//! and trailing bytes each have their own [`DecodeError`]. Decoding borrows
//! from the datagram and never allocates.

use core::fmt;
use core::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use serde::{Deserialize, Serialize};

use crate::id::{MAX_NAME_LEN, NodeId, NodeName};
use crate::store::EntryStatus;

/// The first two bytes of every hearsay datagram.
pub const MAGIC: [u8; 2] = *b"HS";
/// Version of the protocol this crate speaks; bumped on any format change.
/// Version 2: digest lines name nodes by a 4-byte ring-hash prefix.
/// Version 3: a heartbeat sent alone may name its node by that prefix too.
/// Version 4: Syns and SynAcks carry an address token and an echo (see
/// [`crate::token`]), and a Syn may end in zero padding; the Ack is as in
/// version 3.
/// Version 5: a Syn may describe blocks of the ring compactly (hashes and
/// 16-bit heartbeats), and a SynAck carries a stamp, notices and beat runs
/// (module `blocks`); the Ack is as in version 3.
/// Version 6: a piece may end in a chunk of a value too long for one
/// datagram, and Syns and SynAcks list the values held in part (module
/// `chunks`).
pub const PROTOCOL_VERSION: u8 = 6;
/// Oldest version this crate still reads and speaks: each release reads the
/// previous ones, so a cluster can be upgraded node by node.
pub const MIN_PROTOCOL_VERSION: u8 = 3;
/// First version whose Syns and SynAcks carry [`Tokens`], and whose Syns
/// may end in zero padding.
pub(crate) const TOKENS_VERSION: u8 = 4;
/// Bytes the tokens take in a Syn or SynAck that carries them.
pub(crate) const TOKENS_LEN: usize = 16;
/// Largest version a node's namespace can reach (2⁶² − 1): digest lines pack
/// the max version with two flag bits into one varint.
pub const MAX_VERSION: u64 = (1 << 62) - 1;
/// Length of the fixed header in front of every body.
pub const HEADER_LEN: usize = 8;
/// Largest UDP payload over IPv4; longer datagrams are rejected.
pub const MAX_DATAGRAM_LEN: usize = 65_507;
/// Smallest configurable mtu: room for a header, a full sender id and one
/// entry of reasonable size.
pub const MIN_MTU: usize = 512;
/// Longest key, in bytes of UTF-8.
pub const MAX_KEY_LEN: usize = 255;

/// Room reserved for a sequence count before its items are written: three
/// varint bytes count up to 2 097 151 items, more than any datagram holds.
pub(crate) const SEQ_COUNT_RESERVE: usize = 3;
/// The largest count a sequence reserve holds.
pub(crate) const MAX_SEQ_COUNT: usize = (1 << 21) - 1;

/// Smallest encoding of a digest line: prefix + two one-byte varints.
const MIN_DIGEST_LEN: usize = 6;
/// Smallest encoding of a request: hash + bool + two one-byte varints.
const MIN_REQUEST_LEN: usize = 11;
/// Smallest encoding of an update: tag + prefix + heartbeat + option byte.
const MIN_UPDATE_LEN: usize = 7;
/// Smallest encoding of an entry: step + status + 1-byte key + empty value.
const MIN_ENTRY_LEN: usize = 5;

/// The kind of message a datagram carries (byte 3 of the header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum MessageKind {
    /// Opens an exchange with a piece of the initiator's digest.
    Syn = 1,
    /// The responder's updates for the initiator plus what it wants back.
    SynAck = 2,
    /// The initiator's updates answering a SynAck's requests.
    Ack = 3,
}

impl MessageKind {
    fn from_byte(b: u8) -> Option<Self> {
        match b {
            1 => Some(MessageKind::Syn),
            2 => Some(MessageKind::SynAck),
            3 => Some(MessageKind::Ack),
            _ => None,
        }
    }
}

/// Why a received datagram was rejected. Each kind has its own counter
/// ([`crate::Counters::rejected`]); a rejected datagram changes no state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum DecodeError {
    /// Shorter than the 8-byte header.
    TooShort = 0,
    /// Longer than [`MAX_DATAGRAM_LEN`].
    Oversized,
    /// Does not start with [`MAGIC`].
    BadMagic,
    /// Speaks another protocol version.
    UnsupportedVersion,
    /// Unknown message kind byte.
    UnknownKind,
    /// Carries another cluster's fingerprint.
    ForeignCluster,
    /// Sent by this node (or another incarnation of its name).
    FromSelf,
    /// The body ends in the middle of a field.
    Truncated,
    /// A varint, bool, tag, option byte or UTF-8 string is invalid.
    InvalidEncoding,
    /// Bytes remain after the body.
    TrailingBytes,
    /// A count claims more items than the remaining bytes can hold.
    ImpossibleCount,
    /// Digest or request hashes are not strictly ascending inside the stated
    /// ring range, or entry versions leave their piece's `(from, to]`.
    OutOfOrder,
    /// A field breaks a rule of the protocol: empty or too long name or key,
    /// NUL in a name or (other than a reserved key's first byte) in a key,
    /// value on a tombstone, zero piece count, unknown entry status.
    InvalidField,
    /// Sealed, but no installed key opens it: sealed with a key this node
    /// does not hold, or changed on the way (header, nonce, body or tag).
    UnknownKey,
    /// Sealed, but shorter than the sealed envelope (header, key id, nonce
    /// and tag).
    SealedTruncated,
    /// Unsealed, and this node requires sealed datagrams
    /// ([`crate::KeyMode::Required`]).
    UnsealedRefused,
    /// Sealed, and this node has no keys: install the cluster key, or the
    /// sender belongs to a keyed cluster.
    SealedRefused,
    /// Sealed, and its sender's sequence was already seen (a replayed or
    /// duplicated datagram) or is too old for the replay window.
    Replayed,
}

impl DecodeError {
    /// Number of kinds, for counter arrays.
    pub const COUNT: usize = 18;

    /// Every kind, in counter order.
    pub const ALL: [DecodeError; DecodeError::COUNT] = [
        DecodeError::TooShort,
        DecodeError::Oversized,
        DecodeError::BadMagic,
        DecodeError::UnsupportedVersion,
        DecodeError::UnknownKind,
        DecodeError::ForeignCluster,
        DecodeError::FromSelf,
        DecodeError::Truncated,
        DecodeError::InvalidEncoding,
        DecodeError::TrailingBytes,
        DecodeError::ImpossibleCount,
        DecodeError::OutOfOrder,
        DecodeError::InvalidField,
        DecodeError::UnknownKey,
        DecodeError::SealedTruncated,
        DecodeError::UnsealedRefused,
        DecodeError::SealedRefused,
        DecodeError::Replayed,
    ];
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DecodeError::TooShort => "datagram shorter than the header",
            DecodeError::Oversized => "datagram longer than 65507 bytes",
            DecodeError::BadMagic => "not a hearsay datagram (bad magic)",
            DecodeError::UnsupportedVersion => "unsupported protocol version",
            DecodeError::UnknownKind => "unknown message kind",
            DecodeError::ForeignCluster => "datagram from another cluster",
            DecodeError::FromSelf => "datagram from this node itself",
            DecodeError::Truncated => "datagram ends in the middle of a field",
            DecodeError::InvalidEncoding => "invalid varint, tag or UTF-8",
            DecodeError::TrailingBytes => "trailing bytes after the message",
            DecodeError::ImpossibleCount => "count larger than the datagram can hold",
            DecodeError::OutOfOrder => "hashes or versions out of order",
            DecodeError::InvalidField => "field breaks a protocol rule",
            DecodeError::UnknownKey => {
                "sealed datagram that no installed key opens (other key, or tampered)"
            }
            DecodeError::SealedTruncated => "sealed datagram shorter than its envelope",
            DecodeError::UnsealedRefused => "unsealed datagram refused: this node requires keys",
            DecodeError::SealedRefused => {
                "sealed datagram refused: this node has no keys (install the cluster key)"
            }
            DecodeError::Replayed => "sealed datagram already seen (replay)",
        })
    }
}

impl From<postcard::Error> for DecodeError {
    fn from(e: postcard::Error) -> Self {
        match e {
            postcard::Error::DeserializeUnexpectedEnd => DecodeError::Truncated,
            _ => DecodeError::InvalidEncoding,
        }
    }
}

// ---------------------------------------------------------------------------
// Wire structs. Deserialize is the decoder; Serialize exists so tests can
// prove the hand-written encoder below produces exactly postcard's bytes.

/// A socket address as it travels (flow info and scope id are not carried).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum WireAddr {
    V4([u8; 4], u16),
    V6([u8; 16], u16),
}

impl WireAddr {
    #[cfg(test)]
    fn from_socket(a: SocketAddr) -> Self {
        match a {
            SocketAddr::V4(a) => WireAddr::V4(a.ip().octets(), a.port()),
            SocketAddr::V6(a) => WireAddr::V6(a.ip().octets(), a.port()),
        }
    }

    pub(crate) fn to_socket(self) -> SocketAddr {
        match self {
            WireAddr::V4(ip, port) => SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), port)),
            WireAddr::V6(ip, port) => {
                SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(ip), port, 0, 0))
            }
        }
    }
}

/// A node id as it travels, borrowing its name from the datagram.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct WireNodeId<'a> {
    #[serde(borrow)]
    pub name: &'a str,
    pub generation: u64,
    pub addr: WireAddr,
}

impl<'a> WireNodeId<'a> {
    #[cfg(test)]
    pub(crate) fn from_id(id: &'a NodeId) -> Self {
        WireNodeId {
            name: id.name.as_str(),
            generation: id.generation,
            addr: WireAddr::from_socket(id.addr),
        }
    }

    pub(crate) fn to_id(self) -> Option<NodeId> {
        Some(NodeId {
            name: NodeName::new(self.name).ok()?,
            generation: self.generation,
            addr: self.addr.to_socket(),
        })
    }

    fn validate(&self) -> Result<(), DecodeError> {
        if self.name.is_empty() || self.name.len() > MAX_NAME_LEN || self.name.contains('\0') {
            return Err(DecodeError::InvalidField);
        }
        Ok(())
    }
}

/// One node's line in a digest, as decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DigestLine {
    /// Top 32 bits of the node's ring hash.
    pub prefix: u32,
    /// The whole ring hash, when the sender had to disambiguate.
    pub full: Option<u64>,
    pub heartbeat: u64,
    pub last_gc: u64,
    pub max_version: u64,
}

impl DigestItem<'_> {
    /// The line, if the item is one.
    #[cfg(test)]
    pub(crate) fn line(self) -> Option<DigestLine> {
        match self {
            DigestItem::Line(l) => Some(l),
            DigestItem::Block(_) => None,
        }
    }
}

impl DigestLine {
    /// The smallest ring hash this line can stand for.
    pub(crate) fn lower_bound(&self) -> u64 {
        self.full.unwrap_or(u64::from(self.prefix) << 32)
    }
}

/// Top 32 bits of a ring hash.
#[inline]
pub(crate) fn prefix_of(hash: u64) -> u32 {
    (hash >> 32) as u32
}

/// The address tokens of a version-4 Syn or SynAck ([`crate::token`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Tokens {
    /// The sender's token for the address this datagram goes to.
    pub token: [u8; 8],
    /// The token the receiver last gave the sender, or zeros.
    pub echo: [u8; 8],
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct SynHead<'a> {
    #[serde(borrow)]
    sender: WireNodeId<'a>,
    piece_count: u16,
    ring_start: [u8; 8],
    ring_end: [u8; 8],
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct SynAckHead<'a> {
    #[serde(borrow)]
    sender: WireNodeId<'a>,
    piece_count: u16,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct AckHead<'a> {
    #[serde(borrow)]
    sender: WireNodeId<'a>,
}

/// What the responder wants back for one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct WireRequest {
    pub hash: [u8; 8],
    pub known: bool,
    pub max_version: u64,
    pub last_gc: u64,
}

/// How an update names its node.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) enum WireNodeRef<'a> {
    Hash([u8; 8]),
    #[serde(borrow)]
    Full(WireNodeId<'a>),
    /// The top 32 bits of the ring hash: only for a heartbeat alone (no
    /// piece), about a node the receiver itself named by that prefix.
    Prefix([u8; 4]),
}

/// Postcard's variant indexes of [`WireNodeRef`] and of `Option`, which the
/// hand-written encoder writes as tag bytes.
const TAG_BY_HASH: u8 = 0;
const TAG_INTRO: u8 = 1;
const TAG_BY_PREFIX: u8 = 2;
const TAG_NONE: u8 = 0;
const TAG_SOME: u8 = 1;

/// How an update being encoded names its node (see [`WireNodeRef`]).
#[derive(Debug, Clone, Copy)]
pub(crate) enum UpdateNode<'a> {
    /// By ring hash: the receiver knows the node.
    Hash(u64),
    /// The full id: an introduction.
    Intro(&'a NodeId),
    /// By the top 32 bits of its ring hash: a heartbeat alone, about a node
    /// the receiver named so.
    Prefix(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct WirePieceHead {
    pub last_gc: u64,
    pub from: u64,
    pub to: u64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct UpdateHead<'a> {
    #[serde(borrow)]
    node: WireNodeRef<'a>,
    heartbeat: u64,
    piece: Option<WirePieceHead>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct WireEntry<'a> {
    version_step: u64,
    status: u8,
    #[serde(borrow)]
    key: &'a str,
    #[serde(borrow)]
    value: &'a [u8],
}

impl EntryStatus {
    /// The status from its wire code.
    pub(crate) fn from_wire(b: u8) -> Option<Self> {
        match b {
            0 => Some(EntryStatus::Set),
            1 => Some(EntryStatus::Deleted),
            2 => Some(EntryStatus::SetWithTtl),
            _ => None,
        }
    }

    /// The status's wire code.
    pub(crate) fn to_wire(self) -> u8 {
        match self {
            EntryStatus::Set => 0,
            EntryStatus::Deleted => 1,
            EntryStatus::SetWithTtl => 2,
        }
    }
}

/// A ring hash from its 8 wire bytes.
#[inline]
pub(crate) fn hash_from_wire(b: [u8; 8]) -> u64 {
    u64::from_be_bytes(b)
}

// ---------------------------------------------------------------------------
// Decoding.

/// Splits a datagram into its kind, protocol version, cluster fingerprint
/// and body.
pub(crate) fn read_header(datagram: &[u8]) -> Result<(MessageKind, u8, u32, &[u8]), DecodeError> {
    if datagram.len() > MAX_DATAGRAM_LEN {
        return Err(DecodeError::Oversized);
    }
    let (head, body) = datagram
        .split_first_chunk::<HEADER_LEN>()
        .ok_or(DecodeError::TooShort)?;
    let [m0, m1, version, kind, c0, c1, c2, c3] = *head;
    if [m0, m1] != MAGIC {
        return Err(DecodeError::BadMagic);
    }
    if !(MIN_PROTOCOL_VERSION..=PROTOCOL_VERSION).contains(&version) {
        return Err(DecodeError::UnsupportedVersion);
    }
    let kind = MessageKind::from_byte(kind).ok_or(DecodeError::UnknownKind)?;
    Ok((kind, version, u32::from_le_bytes([c0, c1, c2, c3]), body))
}

/// A cursor over a body that decodes postcard values in place.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A postcard unsigned varint, decoded by hand: digest lines are the
    /// bulk of every Syn, and going through serde for each of their fields
    /// cost several times the bytes' worth of work.
    #[inline]
    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut value = 0u64;
        let mut shift = 0u32;
        for _ in 0..10 {
            let (&b, rest) = self.rest.split_first().ok_or(DecodeError::Truncated)?;
            self.rest = rest;
            let bits = u64::from(b & 0x7f);
            // The tenth byte may only hold the top bit of a u64.
            if shift == 63 && b > 1 {
                return Err(DecodeError::InvalidEncoding);
            }
            value |= bits.checked_shl(shift).unwrap_or(0);
            if b & 0x80 == 0 {
                return Ok(value);
            }
            shift = shift.saturating_add(7);
        }
        Err(DecodeError::InvalidEncoding)
    }

    /// Four raw bytes, big-endian.
    #[inline]
    fn u32_be(&mut self) -> Result<u32, DecodeError> {
        let (head, rest) = self
            .rest
            .split_first_chunk::<4>()
            .ok_or(DecodeError::Truncated)?;
        self.rest = rest;
        Ok(u32::from_be_bytes(*head))
    }

    fn take<T: Deserialize<'a>>(&mut self) -> Result<T, DecodeError> {
        let (v, rest) = postcard::take_from_bytes::<T>(self.rest)?;
        self.rest = rest;
        Ok(v)
    }

    /// Reads a sequence count, rejecting counts the remaining bytes cannot
    /// hold at `min_item_len` bytes per item.
    fn count(&mut self, min_item_len: usize) -> Result<usize, DecodeError> {
        let n: u32 = self.take()?;
        let n = usize::try_from(n).map_err(|_| DecodeError::ImpossibleCount)?;
        if n.checked_mul(min_item_len)
            .is_none_or(|need| need > self.rest.len())
        {
            return Err(DecodeError::ImpossibleCount);
        }
        Ok(n)
    }

    /// The tokens of a Syn or SynAck, present from [`TOKENS_VERSION`] on.
    /// The tokens of a version-4 Syn or SynAck: 16 raw bytes, read as
    /// such (through serde, each of the 16 bytes is a call of its own).
    #[inline]
    fn tokens(&mut self, version: u8) -> Result<Option<Tokens>, DecodeError> {
        if version < TOKENS_VERSION {
            return Ok(None);
        }
        let (token, rest) = self
            .rest
            .split_first_chunk::<8>()
            .ok_or(DecodeError::Truncated)?;
        let (echo, rest) = rest
            .split_first_chunk::<8>()
            .ok_or(DecodeError::Truncated)?;
        self.rest = rest;
        Ok(Some(Tokens {
            token: *token,
            echo: *echo,
        }))
    }

    fn finish(&self) -> Result<(), DecodeError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes)
        }
    }
}

/// A decoded and fully validated Syn piece.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SynMsg<'a> {
    pub sender: WireNodeId<'a>,
    /// The protocol version it was written in.
    pub version: u8,
    /// Its tokens (version 4 on).
    pub tokens: Option<Tokens>,
    pub piece_count: u16,
    pub ring_start: u64,
    pub ring_end: u64,
    /// The initiator's stamp (version 5 on), echoed in the SynAck.
    pub stamp: Option<u32>,
    /// How many top bits of the ring hash name a block (version 5 on).
    pub block_bits: u8,
    /// The values the initiator holds in part (version 6 on).
    pub partials: Partials<'a>,
    /// The digest: lines (versions 3 and 4) or runs (version 5 on).
    digest: Seq<'a>,
}

/// A validated sequence: its count and the bytes from its first item on.
#[derive(Debug, Clone, Copy)]
struct Seq<'a> {
    count: usize,
    bytes: &'a [u8],
}

impl<'a> SynMsg<'a> {
    /// The digest's lines and blocks, in ring order.
    pub(crate) fn digest(&self) -> DigestIter<'a> {
        let blocks = self.version >= BLOCKS_VERSION;
        DigestIter {
            reader: Reader {
                rest: self.digest.bytes,
            },
            padded: self.version >= TOKENS_VERSION,
            left: if blocks { 0 } else { self.digest.count },
            runs_left: if blocks { self.digest.count } else { 0 },
            bits: self.block_bits,
            range: (self.ring_start, self.ring_end),
            covered: None,
        }
    }
}

/// One item of a digest: a line, or a block of the ring (version 5 on).
#[derive(Debug, Clone, Copy)]
pub(crate) enum DigestItem<'a> {
    Line(DigestLine),
    Block(BlockView<'a>),
}

/// Iterates a validated digest; yields errors only while validating.
pub(crate) struct DigestIter<'a> {
    reader: Reader<'a>,
    /// Zero bytes may follow the last line (version 4 on).
    padded: bool,
    /// Lines left in the current run (all lines before version 5).
    left: usize,
    /// Runs left after the current one (version 5 on).
    runs_left: usize,
    bits: u8,
    range: (u64, u64),
    /// The highest ring hash the items so far can stand for: each item
    /// must start above it.
    covered: Option<u64>,
}

impl<'a> Iterator for DigestIter<'a> {
    type Item = Result<DigestItem<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(left) = self.left.checked_sub(1) {
                self.left = left;
                return Some(self.next_entry().map(DigestItem::Line));
            }
            self.runs_left = self.runs_left.checked_sub(1)?;
            match self.reader.run_tag() {
                Ok(false) => match self.reader.count(MIN_DIGEST_LEN) {
                    Ok(n) => self.left = n,
                    Err(e) => return Some(Err(e)),
                },
                Ok(true) => return Some(self.next_block().map(DigestItem::Block)),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

impl<'a> DigestIter<'a> {
    /// Whether an item covering `[low, high]` may come next; records it.
    fn advance(&mut self, (low, high): (u64, u64)) -> Result<(), DecodeError> {
        if self.covered.is_some_and(|c| low <= c) {
            return Err(DecodeError::OutOfOrder);
        }
        self.covered = Some(high);
        Ok(())
    }

    fn next_block(&mut self) -> Result<BlockView<'a>, DecodeError> {
        let b = self.reader.block(self.bits)?;
        if b.start < self.range.0 || b.end > self.range.1 {
            return Err(DecodeError::OutOfOrder);
        }
        self.advance((b.start, b.end))?;
        Ok(b)
    }

    /// After the last item: the datagram must end here, or in zero
    /// padding from version 4 on.
    pub(crate) fn finish(&self) -> Result<(), DecodeError> {
        if self.left > 0 || self.runs_left > 0 {
            return Err(DecodeError::Truncated);
        }
        if self.padded && self.reader.rest.iter().all(|&b| b == 0) {
            return Ok(());
        }
        self.reader.finish()
    }

    fn next_entry(&mut self) -> Result<DigestLine, DecodeError> {
        let prefix = self.reader.u32_be()?;
        let heartbeat = self.reader.varint()?;
        let flags = self.reader.varint()?;
        let last_gc = if flags & 2 != 0 {
            let g = self.reader.varint()?;
            if g == 0 {
                // Zero is written by leaving the flag clear.
                return Err(DecodeError::InvalidField);
            }
            g
        } else {
            0
        };
        let full = if flags & 1 != 0 {
            let low = self.reader.u32_be()?;
            Some((u64::from(prefix) << 32) | u64::from(low))
        } else {
            None
        };
        let in_range = match full {
            Some(h) => (self.range.0..=self.range.1).contains(&h),
            None => (prefix_of(self.range.0)..=prefix_of(self.range.1)).contains(&prefix),
        };
        if !in_range {
            return Err(DecodeError::OutOfOrder);
        }
        // A prefix alone stands for every hash under it.
        let low = u64::from(prefix) << 32;
        self.advance(match full {
            Some(h) => (h, h),
            None => (low, low | u64::from(u32::MAX)),
        })?;
        Ok(DigestLine {
            prefix,
            full,
            heartbeat,
            last_gc,
            max_version: flags >> 2,
        })
    }
}

/// Decodes and validates a Syn body of protocol `version`.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn parse_syn(version: u8, body: &[u8]) -> Result<SynMsg<'_>, DecodeError> {
    let msg = parse_syn_head(version, body)?;
    let mut it = msg.digest();
    for item in it.by_ref() {
        item?;
    }
    it.finish()?;
    Ok(msg)
}

/// Decodes and validates a Syn's head and the plausibility of its line
/// count; the lines themselves are validated by whoever iterates them (the
/// responder does it in the same pass that plans its reply, and finishes
/// with [`DigestIter::finish`] before changing any state).
pub(crate) fn parse_syn_head(version: u8, body: &[u8]) -> Result<SynMsg<'_>, DecodeError> {
    let mut r = Reader { rest: body };
    let head: SynHead<'_> = r.take()?;
    let tokens = r.tokens(version)?;
    let stamp = r.stamp(version)?;
    let block_bits = if version >= BLOCKS_VERSION {
        let bits = r.take::<u8>()?;
        if bits > MAX_BLOCK_BITS {
            return Err(DecodeError::InvalidField);
        }
        bits
    } else {
        0
    };
    let partials = r.partials(version)?;
    head.sender.validate()?;
    let ring_start = hash_from_wire(head.ring_start);
    let ring_end = hash_from_wire(head.ring_end);
    if head.piece_count == 0 {
        return Err(DecodeError::InvalidField);
    }
    if ring_start > ring_end {
        return Err(DecodeError::OutOfOrder);
    }
    let item_len = if version >= BLOCKS_VERSION {
        MIN_RUN_LEN
    } else {
        MIN_DIGEST_LEN
    };
    let count = r.count(item_len)?;
    Ok(SynMsg {
        sender: head.sender,
        version,
        tokens,
        piece_count: head.piece_count,
        ring_start,
        ring_end,
        stamp,
        block_bits,
        partials,
        digest: Seq {
            count,
            bytes: r.rest,
        },
    })
}

/// A decoded and fully validated SynAck or Ack.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UpdateMsg<'a> {
    pub sender: WireNodeId<'a>,
    /// The protocol version it was written in.
    pub version: u8,
    /// Its tokens (a SynAck of version 4 on).
    pub tokens: Option<Tokens>,
    /// Number of pieces of the Syn being answered (SynAck only; 1 for Ack).
    pub piece_count: u16,
    /// The stamp echo, notices and beat runs of a version-5 SynAck.
    pub compact: Option<Compact<'a>>,
    /// The values the sender of a SynAck holds in part (version 6 on).
    pub partials: Partials<'a>,
    requests: Seq<'a>,
    updates: Seq<'a>,
}

impl<'a> UpdateMsg<'a> {
    pub(crate) fn requests(&self) -> RequestIter<'a> {
        RequestIter {
            reader: Reader {
                rest: self.requests.bytes,
            },
            left: self.requests.count,
            prev: None,
        }
    }

    pub(crate) fn request_len(&self) -> usize {
        self.requests.count
    }

    pub(crate) fn updates(&self) -> UpdateIter<'a> {
        UpdateIter {
            reader: Reader {
                rest: self.updates.bytes,
            },
            left: self.updates.count,
            chunks: self.version >= CHUNKS_VERSION,
        }
    }
}

/// Iterates validated requests, ascending by hash.
pub(crate) struct RequestIter<'a> {
    reader: Reader<'a>,
    left: usize,
    prev: Option<u64>,
}

impl Iterator for RequestIter<'_> {
    type Item = Result<(u64, WireRequest), DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.left = self.left.checked_sub(1)?;
        Some(self.next_request())
    }
}

impl RequestIter<'_> {
    fn next_request(&mut self) -> Result<(u64, WireRequest), DecodeError> {
        let q: WireRequest = self.reader.take()?;
        let h = hash_from_wire(q.hash);
        if self.prev.is_some_and(|p| h < p) {
            return Err(DecodeError::OutOfOrder);
        }
        self.prev = Some(h);
        Ok((h, q))
    }
}

/// One node's update: heartbeat and optionally a piece of its entries.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Update<'a> {
    pub node: WireNodeRef<'a>,
    pub heartbeat: u64,
    pub piece: Option<Piece<'a>>,
}

/// A contiguous version range `(from, to]` of one node's entries, and
/// (version 6 on) a chunk of the entry at `to + 1`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Piece<'a> {
    pub head: WirePieceHead,
    /// The complete entries (the chunk is not among them).
    entries: Seq<'a>,
    /// The chunk that closes the piece, if any.
    pub chunk: Option<ChunkView<'a>>,
}

impl<'a> Piece<'a> {
    pub(crate) fn entries(&self) -> EntryIter<'a> {
        EntryIter {
            reader: Reader {
                rest: self.entries.bytes,
            },
            left: self.entries.count,
            version: self.head.from,
            to: self.head.to,
            last_gc: self.head.last_gc,
        }
    }
}

impl Piece<'_> {
    /// Whether one of the first `count` entries has `key` (entries already
    /// validated).
    fn has_key_before(&self, key: &str, count: usize) -> bool {
        self.entries()
            .take(count)
            .map_while(Result::ok)
            .any(|e| e.key == key)
    }
}

/// A one-sided filter over the keys of one piece: "no" is certain, "maybe"
/// is checked by a rescan. 4096 bits keep rescans rare even in a piece of
/// a few hundred entries, with no allocation.
struct KeyFilter([u64; 64]);

impl KeyFilter {
    fn new() -> Self {
        KeyFilter([0; 64])
    }

    /// Records `key` and says whether it may have been recorded before.
    fn maybe_seen(&mut self, key: &str) -> bool {
        let h = crate::id::fnv1a32(key.as_bytes());
        let bit = 1u64 << (h & 63);
        let Some(word) = self.0.get_mut(((h >> 6) & 63) as usize) else {
            return true;
        };
        let seen = *word & bit != 0;
        *word |= bit;
        seen
    }
}

/// An entry as decoded, with its absolute version.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EntryView<'a> {
    pub version: u64,
    pub status: EntryStatus,
    pub key: &'a str,
    pub value: &'a [u8],
}

/// Iterates a piece's entries, ascending by version.
pub(crate) struct EntryIter<'a> {
    reader: Reader<'a>,
    left: usize,
    version: u64,
    to: u64,
    last_gc: u64,
}

impl<'a> Iterator for EntryIter<'a> {
    type Item = Result<EntryView<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.left = self.left.checked_sub(1)?;
        Some(self.next_entry())
    }
}

impl<'a> EntryIter<'a> {
    fn next_entry(&mut self) -> Result<EntryView<'a>, DecodeError> {
        let e: WireEntry<'a> = self.reader.take()?;
        self.entry_from(e)
    }

    /// Validates the next item of a piece: an entry, or the chunk that
    /// closes it (`Err` inside `Ok`), allowed only where `chunk_allowed`.
    fn next_item(
        &mut self,
        chunk_allowed: bool,
    ) -> Result<Result<EntryView<'a>, ChunkView<'a>>, DecodeError> {
        let e: WireEntry<'a> = self.reader.take()?;
        if !is_chunk_status(e.status) {
            return self.entry_from(e).map(Ok);
        }
        if !chunk_allowed {
            return Err(DecodeError::InvalidField);
        }
        let version = self
            .version
            .checked_add(e.version_step)
            .filter(|v| e.version_step > 0 && Some(*v) == self.to.checked_add(1))
            .filter(|v| *v <= MAX_VERSION)
            .ok_or(DecodeError::OutOfOrder)?;
        self.reader
            .chunk_tail(version, e.status, e.key, e.value)
            .map(Err)
    }

    fn entry_from(&mut self, e: WireEntry<'a>) -> Result<EntryView<'a>, DecodeError> {
        if e.version_step == 0 {
            return Err(DecodeError::OutOfOrder);
        }
        let version = self
            .version
            .checked_add(e.version_step)
            .filter(|v| *v <= self.to)
            .ok_or(DecodeError::OutOfOrder)?;
        let status = EntryStatus::from_wire(e.status).ok_or(DecodeError::InvalidField)?;
        // Tombstones at or below the collection point were dropped by the
        // owner and by every relay that learned it: no honest piece has one.
        if e.key.is_empty()
            || e.key.len() > MAX_KEY_LEN
            || !key_nul_allowed(e.key)
            || (status == EntryStatus::Deleted && (!e.value.is_empty() || version <= self.last_gc))
        {
            return Err(DecodeError::InvalidField);
        }
        self.version = version;
        Ok(EntryView {
            version,
            status,
            key: e.key,
            value: e.value,
        })
    }
}

/// Whether a received key's NULs are where the protocol allows them: only
/// as the first byte, which marks hearsay's reserved keys. A NUL anywhere
/// else would make two keys look alike through the C API.
fn key_nul_allowed(key: &str) -> bool {
    !key.as_bytes().get(1..).unwrap_or_default().contains(&0)
}

/// Iterates validated updates.
pub(crate) struct UpdateIter<'a> {
    reader: Reader<'a>,
    left: usize,
    /// Whether pieces may end in a chunk (version 6 on).
    chunks: bool,
}

impl<'a> Iterator for UpdateIter<'a> {
    type Item = Result<Update<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.left = self.left.checked_sub(1)?;
        Some(self.next_update())
    }
}

impl<'a> UpdateIter<'a> {
    fn next_update(&mut self) -> Result<Update<'a>, DecodeError> {
        let head: UpdateHead<'a> = self.reader.take()?;
        match &head.node {
            WireNodeRef::Full(id) => id.validate()?,
            // Entries need an exact identity; a prefix only carries a beat.
            WireNodeRef::Prefix(_) if head.piece.is_some() => {
                return Err(DecodeError::InvalidField);
            }
            _ => {}
        }
        let piece = match head.piece {
            None => None,
            Some(p) => {
                if p.from > p.to {
                    return Err(DecodeError::OutOfOrder);
                }
                if p.to > MAX_VERSION || p.last_gc > MAX_VERSION {
                    return Err(DecodeError::InvalidField);
                }
                let count = self.reader.count(MIN_ENTRY_LEN)?;
                let bytes = self.reader.rest;
                let mut piece = Piece {
                    head: p,
                    entries: Seq { count, bytes },
                    chunk: None,
                };
                let mut seen = KeyFilter::new();
                let mut it = piece.entries();
                let mut index = 0usize;
                while let Some(left) = it.left.checked_sub(1) {
                    it.left = left;
                    // Only the last item may be a chunk.
                    match it.next_item(self.chunks && left == 0)? {
                        Ok(e) => {
                            if seen.maybe_seen(e.key) && piece.has_key_before(e.key, index) {
                                // A key changes version in place at its
                                // owner, so it appears at most once in any
                                // range of versions.
                                return Err(DecodeError::InvalidField);
                            }
                            index = index.saturating_add(1);
                        }
                        Err(chunk) => piece.chunk = Some(chunk),
                    }
                }
                self.reader.rest = it.reader.rest;
                piece.entries.count = index;
                Some(piece)
            }
        };
        Ok(Update {
            node: head.node,
            heartbeat: head.heartbeat,
            piece,
        })
    }
}

fn parse_updates<'a>(
    r: &mut Reader<'a>,
    sender: WireNodeId<'a>,
    piece_count: u16,
    with_requests: bool,
    (version, tokens): (u8, Option<Tokens>),
) -> Result<UpdateMsg<'a>, DecodeError> {
    sender.validate()?;
    let compact = match r.stamp(if with_requests { version } else { 0 })? {
        Some(stamp) => Some(read_compact(r, stamp)?),
        None => None,
    };
    let partials = if with_requests {
        r.partials(version)?
    } else {
        Partials::NONE
    };
    let requests = if with_requests {
        let count = r.count(MIN_REQUEST_LEN)?;
        let mut it = RequestIter {
            reader: Reader { rest: r.rest },
            left: count,
            prev: None,
        };
        let bytes = r.rest;
        for q in it.by_ref() {
            q?;
        }
        r.rest = it.reader.rest;
        Seq { count, bytes }
    } else {
        Seq {
            count: 0,
            bytes: &[],
        }
    };
    let count = r.count(MIN_UPDATE_LEN)?;
    let updates = Seq {
        count,
        bytes: r.rest,
    };
    let mut it = UpdateIter {
        reader: Reader { rest: r.rest },
        left: count,
        chunks: version >= CHUNKS_VERSION,
    };
    for u in it.by_ref() {
        u?;
    }
    r.rest = it.reader.rest;
    r.finish()?;
    Ok(UpdateMsg {
        sender,
        version,
        tokens,
        piece_count,
        compact,
        partials,
        requests,
        updates,
    })
}

/// Decodes and validates a SynAck body of protocol `version`.
pub(crate) fn parse_synack(version: u8, body: &[u8]) -> Result<UpdateMsg<'_>, DecodeError> {
    let mut r = Reader { rest: body };
    let head: SynAckHead<'_> = r.take()?;
    if head.piece_count == 0 {
        return Err(DecodeError::InvalidField);
    }
    let tokens = r.tokens(version)?;
    parse_updates(
        &mut r,
        head.sender,
        head.piece_count,
        true,
        (version, tokens),
    )
}

/// Decodes and validates an Ack body of protocol `version` (the same in
/// every version).
pub(crate) fn parse_ack(version: u8, body: &[u8]) -> Result<UpdateMsg<'_>, DecodeError> {
    let mut r = Reader { rest: body };
    let head: AckHead<'_> = r.take()?;
    parse_updates(&mut r, head.sender, 1, false, (version, None))
}

// ---------------------------------------------------------------------------
// Encoding.

/// The output buffer is full; the caller rolls back to a saved position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Full;

/// Bytes a value takes as a varint.
#[inline]
pub(crate) const fn varint_len(v: u64) -> usize {
    let bits = 64usize.saturating_sub((v | 1).leading_zeros() as usize);
    bits.div_ceil(7)
}

/// Bytes a node id takes on the wire.
pub(crate) fn node_id_len(id: &NodeId) -> usize {
    let name = id.name.as_str().len();
    let addr = match id.addr {
        SocketAddr::V4(_) => 1 + 4,
        SocketAddr::V6(_) => 1 + 16,
    };
    varint_len(name as u64)
        .saturating_add(name)
        .saturating_add(varint_len(id.generation))
        .saturating_add(addr)
        .saturating_add(varint_len(u64::from(id.addr.port())))
}

/// Writes postcard-encoded values into a caller's buffer, never past `limit`.
pub(crate) struct Encoder<'b> {
    buf: &'b mut [u8],
    pos: usize,
}

/// Where a sequence's count goes, remembered until the count is known.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SeqMark(usize);

impl<'b> Encoder<'b> {
    /// An encoder writing at most `limit` bytes into `buf`.
    #[inline]
    pub(crate) fn new(buf: &'b mut [u8], limit: usize) -> Self {
        let limit = limit.min(buf.len());
        let buf = buf.get_mut(..limit).unwrap_or_default();
        Encoder { buf, pos: 0 }
    }

    /// An encoder continuing a datagram of which `pos` bytes are written.
    #[inline]
    pub(crate) fn resume(buf: &'b mut [u8], limit: usize, pos: usize) -> Self {
        let mut enc = Encoder::new(buf, limit);
        enc.pos = pos.min(enc.buf.len());
        enc
    }

    #[inline]
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    #[inline]
    fn raw(&mut self, bytes: &[u8]) -> Result<(), Full> {
        let end = self.pos.checked_add(bytes.len()).ok_or(Full)?;
        self.buf
            .get_mut(self.pos..end)
            .ok_or(Full)?
            .copy_from_slice(bytes);
        self.pos = end;
        Ok(())
    }

    #[inline]
    fn byte(&mut self, b: u8) -> Result<(), Full> {
        self.raw(&[b])
    }

    fn varint(&mut self, mut v: u64) -> Result<(), Full> {
        if v < 0x80 {
            return self.byte(v as u8);
        }
        let mut tmp = [0u8; 10];
        let mut n = 0usize;
        for slot in tmp.iter_mut() {
            let low = (v & 0x7f) as u8;
            v >>= 7;
            n = n.saturating_add(1);
            if v == 0 {
                *slot = low;
                break;
            }
            *slot = low | 0x80;
        }
        self.raw(tmp.get(..n).unwrap_or_default())
    }

    #[inline]
    fn bytes(&mut self, b: &[u8]) -> Result<(), Full> {
        self.varint(b.len() as u64)?;
        self.raw(b)
    }

    #[inline]
    fn hash(&mut self, h: u64) -> Result<(), Full> {
        self.raw(&h.to_be_bytes())
    }

    fn header(&mut self, kind: MessageKind, version: u8, cluster: u32) -> Result<(), Full> {
        self.raw(&MAGIC)?;
        self.byte(version)?;
        self.byte(kind as u8)?;
        self.raw(&cluster.to_le_bytes())
    }

    fn node_id(&mut self, id: &NodeId) -> Result<(), Full> {
        self.bytes(id.name.as_str().as_bytes())?;
        self.varint(id.generation)?;
        match id.addr {
            SocketAddr::V4(a) => {
                self.byte(0)?;
                self.raw(&a.ip().octets())?;
            }
            SocketAddr::V6(a) => {
                self.byte(1)?;
                self.raw(&a.ip().octets())?;
            }
        }
        self.varint(u64::from(id.addr.port()))
    }

    /// Reserves room for a sequence count; items follow.
    pub(crate) fn begin_seq(&mut self) -> Result<SeqMark, Full> {
        let mark = SeqMark(self.pos);
        self.raw(&[0; SEQ_COUNT_RESERVE])?;
        Ok(mark)
    }

    /// Writes the count at `mark` and closes the unused part of the reserve.
    pub(crate) fn end_seq(&mut self, mark: SeqMark, count: usize) {
        let mut tmp = [0u8; SEQ_COUNT_RESERVE];
        let count = count.min(MAX_SEQ_COUNT) as u64;
        let n = varint_len(count);
        let mut v = count;
        for (i, slot) in tmp.iter_mut().enumerate().take(n) {
            let low = (v & 0x7f) as u8;
            v >>= 7;
            *slot = if i.saturating_add(1) < n {
                low | 0x80
            } else {
                low
            };
        }
        let start = mark.0;
        let items = start.saturating_add(SEQ_COUNT_RESERVE);
        if let Some(dst) = self.buf.get_mut(start..start.saturating_add(n)) {
            dst.copy_from_slice(tmp.get(..n).unwrap_or_default());
        }
        let gap = SEQ_COUNT_RESERVE.saturating_sub(n);
        if gap > 0 && items <= self.pos {
            self.buf
                .copy_within(items..self.pos, start.saturating_add(n));
            self.pos = self.pos.saturating_sub(gap);
        }
    }

    /// Writes a digest line; `full` adds the low half of the hash.
    #[inline]
    pub(crate) fn digest_line(
        &mut self,
        hash: u64,
        full: bool,
        heartbeat: u64,
        last_gc: u64,
        max_version: u64,
    ) -> Result<(), Full> {
        self.raw(&prefix_of(hash).to_be_bytes())?;
        self.varint(heartbeat)?;
        let flags =
            (max_version.min(MAX_VERSION) << 2) | (u64::from(last_gc != 0) << 1) | u64::from(full);
        self.varint(flags)?;
        if last_gc != 0 {
            self.varint(last_gc)?;
        }
        if full {
            self.raw(&(hash as u32).to_be_bytes())?;
        }
        Ok(())
    }

    pub(crate) fn request(
        &mut self,
        hash: u64,
        known: bool,
        max_version: u64,
        last_gc: u64,
    ) -> Result<(), Full> {
        self.hash(hash)?;
        self.byte(u8::from(known))?;
        self.varint(max_version)?;
        self.varint(last_gc)
    }

    /// The tokens, if `version` carries them.
    #[inline]
    fn tokens(&mut self, version: u8, tokens: &Tokens) -> Result<(), Full> {
        if version < TOKENS_VERSION {
            return Ok(());
        }
        self.raw(&tokens.token)?;
        self.raw(&tokens.echo)
    }

    /// Opens a Syn piece of protocol `version`: header, sender, piece
    /// count, the ring range it covers, its tokens (version 4 on), and the
    /// reserve of its digest line count.
    #[inline]
    #[allow(clippy::too_many_arguments)] // one per field of the head
    pub(crate) fn syn_head(
        &mut self,
        version: u8,
        cluster: u32,
        own: &NodeId,
        piece_count: u16,
        (ring_start, ring_end): (u64, u64),
        (tokens, stamp, bits): (&Tokens, u32, u8),
        partials: &[PartialItem<'_>],
    ) -> Result<SeqMark, Full> {
        self.header(MessageKind::Syn, version, cluster)?;
        self.node_id(own)?;
        self.varint(u64::from(piece_count))?;
        self.hash(ring_start)?;
        self.hash(ring_end)?;
        self.tokens(version, tokens)?;
        if version >= BLOCKS_VERSION {
            self.syn_compact_head(stamp, bits)?;
        }
        self.partials(version, partials)?;
        self.begin_seq()
    }

    /// Opens a reply of protocol `version`: header, sender, the piece
    /// count it answers, the tokens and the stamp echo (SynAck only:
    /// `Some`; tokens from version 4 on, the stamp and empty notices and
    /// beat runs from version 5 on, `partials` from version 6 on), and the
    /// reserve of its first list's count (requests in a SynAck, updates in
    /// an Ack).
    #[inline]
    pub(crate) fn reply_head(
        &mut self,
        kind: MessageKind,
        version: u8,
        cluster: u32,
        sender: &NodeId,
        synack: Option<(u16, &Tokens, u32)>,
        partials: &[PartialItem<'_>],
    ) -> Result<SeqMark, Full> {
        self.synack_open(kind, version, cluster, sender, synack)?;
        if synack.is_some() && version >= BLOCKS_VERSION {
            // No notices, no beat runs.
            self.varint(0)?;
            self.varint(0)?;
        }
        if synack.is_some() {
            self.partials(version, partials)?;
        }
        self.begin_seq()
    }

    /// Writes a reply's header, sender and, for a SynAck, piece count,
    /// tokens and stamp: everything before its lists.
    pub(crate) fn synack_open(
        &mut self,
        kind: MessageKind,
        version: u8,
        cluster: u32,
        sender: &NodeId,
        synack: Option<(u16, &Tokens, u32)>,
    ) -> Result<(), Full> {
        self.header(kind, version, cluster)?;
        self.node_id(sender)?;
        if let Some((count, tokens, stamp)) = synack {
            self.varint(u64::from(count))?;
            self.tokens(version, tokens)?;
            if version >= BLOCKS_VERSION {
                self.stamp(stamp)?;
            }
        }
        Ok(())
    }

    /// A whole SynAck of protocol `version` with no requests and no
    /// updates.
    pub(crate) fn empty_synack(
        &mut self,
        version: u8,
        cluster: u32,
        sender: &NodeId,
        piece_count: u16,
        (tokens, stamp): (&Tokens, u32),
    ) -> Result<(), Full> {
        let synack = Some((piece_count, tokens, stamp));
        self.synack_open(MessageKind::SynAck, version, cluster, sender, synack)?;
        if version >= BLOCKS_VERSION {
            self.varint(0)?;
            self.varint(0)?;
        }
        self.partials(version, &[])?;
        self.varint(0)?;
        self.varint(0)
    }

    /// The head of an update: how it names its node, and the heartbeat.
    #[inline]
    pub(crate) fn update_head(&mut self, node: UpdateNode<'_>, heartbeat: u64) -> Result<(), Full> {
        match node {
            UpdateNode::Hash(h) => {
                self.byte(TAG_BY_HASH)?;
                self.hash(h)?;
            }
            UpdateNode::Intro(id) => {
                self.byte(TAG_INTRO)?;
                self.node_id(id)?;
            }
            UpdateNode::Prefix(p) => {
                self.byte(TAG_BY_PREFIX)?;
                self.raw(&p.to_be_bytes())?;
            }
        }
        self.varint(heartbeat)
    }

    /// Ends an update that carries no piece.
    #[inline]
    pub(crate) fn no_piece(&mut self) -> Result<(), Full> {
        self.byte(TAG_NONE)
    }

    /// The head of a piece `(from, to]` at collection point `last_gc`, with
    /// its `count` entries to follow.
    #[inline]
    pub(crate) fn piece_head(
        &mut self,
        last_gc: u64,
        from: u64,
        to: u64,
        count: usize,
    ) -> Result<(), Full> {
        self.byte(TAG_SOME)?;
        self.varint(last_gc)?;
        self.varint(from)?;
        self.varint(to)?;
        self.varint(count as u64)
    }

    #[inline]
    pub(crate) fn entry(
        &mut self,
        version_step: u64,
        status: EntryStatus,
        key: &[u8],
        value: &[u8],
    ) -> Result<(), Full> {
        self.varint(version_step)?;
        self.byte(status.to_wire())?;
        self.bytes(key)?;
        self.bytes(value)
    }
}

/// Bytes one digest line takes.
#[inline]
pub(crate) fn digest_len(full: bool, heartbeat: u64, last_gc: u64, max_version: u64) -> usize {
    let flags = (max_version.min(MAX_VERSION) << 2) | 3;
    4usize
        .saturating_add(varint_len(heartbeat))
        .saturating_add(varint_len(flags))
        .saturating_add(if last_gc != 0 { varint_len(last_gc) } else { 0 })
        .saturating_add(if full { 4 } else { 0 })
}

/// Bytes one entry takes in a piece.
#[inline]
pub(crate) fn entry_len(version_step: u64, key_len: usize, value_len: usize) -> usize {
    varint_len(version_step)
        .saturating_add(1)
        .saturating_add(varint_len(key_len as u64))
        .saturating_add(key_len)
        .saturating_add(varint_len(value_len as u64))
        .saturating_add(value_len)
}

/// Bytes [`Encoder::syn_head`] writes.
#[inline]
pub(crate) fn syn_head_len(
    own: &NodeId,
    piece_count: u16,
    version: u8,
    partials: &[PartialItem<'_>],
) -> usize {
    (HEADER_LEN + 16 + SEQ_COUNT_RESERVE)
        .saturating_add(partials_len(version, partials))
        .saturating_add(node_id_len(own))
        .saturating_add(varint_len(u64::from(piece_count)))
        .saturating_add(tokens_len(version))
        .saturating_add(if version >= BLOCKS_VERSION {
            STAMP_LEN + 1
        } else {
            0
        })
}

/// Bytes the tokens take in a Syn or SynAck of `version`.
#[inline]
pub(crate) fn tokens_len(version: u8) -> usize {
    if version >= TOKENS_VERSION {
        TOKENS_LEN
    } else {
        0
    }
}

/// Bytes [`Encoder::request`] writes.
#[inline]
pub(crate) fn request_len(max_version: u64, last_gc: u64) -> usize {
    9usize
        .saturating_add(varint_len(max_version))
        .saturating_add(varint_len(last_gc))
}

/// Bytes [`Encoder::update_head`] writes.
#[inline]
pub(crate) fn update_head_len(node: UpdateNode<'_>, heartbeat: u64) -> usize {
    let name = match node {
        UpdateNode::Hash(_) => 8,
        UpdateNode::Intro(id) => node_id_len(id),
        UpdateNode::Prefix(_) => 4,
    };
    1usize
        .saturating_add(name)
        .saturating_add(varint_len(heartbeat))
}

/// Bytes [`Encoder::piece_head`] writes.
#[inline]
pub(crate) fn piece_head_len(last_gc: u64, from: u64, to: u64, count: usize) -> usize {
    1usize
        .saturating_add(varint_len(last_gc))
        .saturating_add(varint_len(from))
        .saturating_add(varint_len(to))
        .saturating_add(varint_len(count as u64))
}

/// Upper bound of a piece header (option byte + three varints + count).
pub(crate) const PIECE_HEAD_MAX: usize = 1 + 3 * 10 + SEQ_COUNT_RESERVE;

/// Largest encoded node id: name (1 + 64) + generation (10) + IPv6 address
/// (1 + 16 + 3).
pub(crate) const MAX_NODE_ID_LEN: usize = 1 + MAX_NAME_LEN + 10 + 1 + 16 + 3;

/// Bytes sealing adds to a datagram ([`crate::seal`]): key id, nonce and
/// tag.
pub const SEAL_OVERHEAD: usize = 29;

/// Whether an entry of `key_len` and `value_len` bytes can always be sent
/// in a datagram of `mtu` bytes: in an Ack or SynAck with the longest
/// possible ids, a piece head and the entry itself, sealed. The seal's
/// bytes are reserved whether keys are on or not, so that turning keys on
/// never strands an entry accepted before.
pub(crate) fn entry_always_fits(mtu: usize, key_len: usize, value_len: usize) -> bool {
    // seal + header + sender id + piece count + tokens + two sequence counts
    let fixed = SEAL_OVERHEAD + HEADER_LEN + MAX_NODE_ID_LEN + 3 * SEQ_COUNT_RESERVE + TOKENS_LEN;
    // update: tag + full id + heartbeat + piece head
    let update = 1 + MAX_NODE_ID_LEN + 10 + PIECE_HEAD_MAX;
    let entry = entry_len(u64::MAX, key_len, value_len);
    fixed.saturating_add(update).saturating_add(entry) <= mtu
}

mod blocks;
pub(crate) use blocks::*;
mod chunks;
pub(crate) use chunks::*;

#[cfg(test)]
mod tests;
