//! No reflection amplification: address tokens, the reply bound, and the
//! protocol version spoken to each peer.
//!
//! # The bound
//!
//! A UDP source address can be forged, so a reply is a datagram sent to
//! someone who may never have asked for it. In reply to a datagram from a
//! source address it has not validated, a node sends at most
//! [`AMPLIFICATION_FACTOR`] times the bytes of that datagram, all reply
//! datagrams together (the rule of QUIC, RFC 9000 §8). It bounds replies
//! only (the SynAck to a Syn piece, the Ack to a SynAck); a node's own
//! Syns, once per round per peer, are not replies. An empty SynAck is
//! never longer than the Syn it answers, so it always fits.
//!
//! # Tokens
//!
//! A source proves it receives at its address by echoing a token we sent
//! there. A token is SipHash-2-4 (module `siphash`) under a 128-bit
//! secret of this engine over the address and a coarse time bucket
//! ([`TOKEN_BUCKET_MS`]); the current and the previous bucket are accepted.
//! Tokens are stateless: thousands of newcomers at once need no table.
//! (The token minted for a known node is kept in its node slot for the
//! rest of the bucket, so answering a known peer costs no SipHash.)
//! From protocol version 4 on, every Syn and SynAck carries our token for
//! the address it goes to and echoes the token the receiver gave us (a
//! SynAck echoes its Syn's; a Syn the one kept in the peer's node slot). A
//! datagram whose echo is valid for its source address validates that
//! source for the reply to it, and for nothing else.
//!
//! The secret is drawn from the caller's rng at the first gossip round
//! ([`crate::Engine::handle_timeout`] or [`crate::Engine::tick`]). Until
//! then no token is valid, so every reply is bounded: safe, and the first
//! round is due at once after [`crate::Engine::new`].
//!
//! A peer speaking version 3 never echoes a token, so replies to it stay
//! bounded; heartbeats travel in Syns, which are not replies, so this
//! slows the transfer of large backlogs to old nodes, not liveness.
//!
//! # Versions
//!
//! Each node slot keeps the highest protocol version seen in the node's
//! datagrams. To a peer of known version we speak `min(ours, its)`; to a
//! known node never heard from, ours. To an address no node slot has (a
//! seed, before we know who is there) we send the Syn twice when ours is
//! above [`MIN_PROTOCOL_VERSION`]: in our version and in the oldest, so an
//! old seed answers the one and a new one learns at once that we speak
//! ours (and we learn its version from its replies). A reply is written in
//! the version of the datagram it answers. A new node can still be heard
//! only in the old version (its newer Syn was lost, or it answered our old
//! one): so one Syn in [`VERSION_PROBE_EVERY`] to a peer heard only in an
//! older version also goes in ours, and two new nodes never stay on the
//! old version. An old node refuses those (counted as
//! [`crate::DecodeError::UnsupportedVersion`] there), only while the
//! cluster is mixed.

use core::net::SocketAddr;

use crate::engine::{Engine, LOCAL};
use crate::membership::Sender;
use crate::memory::Memory;
use crate::siphash::siphash24;
use crate::time::Instant;
use crate::wire::{MIN_PROTOCOL_VERSION, Tokens};

/// A reply to an unvalidated source is at most this many times the bytes
/// of the datagram it answers (RFC 9000 §8).
pub const AMPLIFICATION_FACTOR: usize = 3;

/// Length of a token's time bucket: a token is accepted in its bucket and
/// the next, so for 4 to 8 minutes. Long enough that two nodes of a large
/// cluster, which may exchange only every few minutes, still hold a valid
/// token for each other; short enough that a token seen on the way to an
/// address stops working soon after.
pub const TOKEN_BUCKET_MS: u64 = 240_000;

/// One Syn in [`VERSION_PROBE_EVERY`] to peers heard only in an older
/// version than ours also goes in ours.
pub const VERSION_PROBE_EVERY: u32 = 4;

/// The version to speak to one destination, and what to echo to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Speak {
    /// The version of the Syn.
    pub version: u8,
    /// Another version to send the same Syn in: [`MIN_PROTOCOL_VERSION`]
    /// to an address whose version we do not know, ours now and then to a
    /// peer heard only in an older one.
    pub also: Option<u8>,
    /// The token the destination last gave us (zeros: none).
    pub echo: [u8; 8],
}

/// The token of `addr` in time bucket `bucket` under `secret`.
///
/// The message is as short as it can be (11 bytes for IPv4, 23 for IPv6:
/// two and three SipHash blocks), since one is minted for every reply.
/// The bucket's low 32 bits suffice: they wrap after 32,000 years.
fn mint(secret: [u64; 2], addr: SocketAddr, bucket: u64) -> [u8; 8] {
    // family tag, port, bucket, then the 4 or 16 address bytes
    let mut msg = [0u8; 1 + 2 + 4 + 16];
    let [p0, p1] = addr.port().to_le_bytes();
    let [b0, b1, b2, b3, ..] = bucket.to_le_bytes();
    let len = match addr {
        SocketAddr::V4(a) => {
            let [i0, i1, i2, i3] = a.ip().octets();
            if let Some(head) = msg.first_chunk_mut::<11>() {
                *head = [4, p0, p1, b0, b1, b2, b3, i0, i1, i2, i3];
            }
            11
        }
        SocketAddr::V6(a) => {
            if let Some((head, ip)) = msg.split_first_chunk_mut::<7>() {
                *head = [6, p0, p1, b0, b1, b2, b3];
                ip.copy_from_slice(&a.ip().octets());
            }
            msg.len()
        }
    };
    let [k0, k1] = secret;
    siphash24(k0, k1, msg.get(..len).unwrap_or(&msg)).to_le_bytes()
}

/// The time bucket of `now`.
fn bucket(now: Instant) -> u64 {
    now.as_millis().checked_div(TOKEN_BUCKET_MS).unwrap_or(0)
}

impl<M: Memory> Engine<M> {
    /// Draws the token secret from `rng` if there is none yet.
    pub(crate) fn ensure_token_secret(&mut self, rng: &mut impl rand_core::RngCore) {
        if self.token_secret.is_none() {
            self.token_secret = Some([rng.next_u64(), rng.next_u64()]);
        }
    }

    /// Our token for `addr` now (zeros before the secret is drawn).
    pub(crate) fn token_for(&self, addr: SocketAddr) -> [u8; 8] {
        self.token_secret
            .map_or([0; 8], |s| mint(s, addr, bucket(self.now)))
    }

    /// Our token for `addr` now, for a datagram from `sender`: kept in the
    /// sender's node slot for the rest of the time bucket, so answering a
    /// known peer costs no SipHash.
    pub(crate) fn token_for_sender(&mut self, sender: Sender, addr: SocketAddr) -> [u8; 8] {
        let Some(secret) = self.token_secret else {
            return [0; 8];
        };
        let b = bucket(self.now);
        // The low 32 bits are all that `mint` uses.
        let low = b as u32;
        let slot = match sender {
            Sender::Slot { slot, .. } => self.nodes.get_mut(slot).filter(|n| n.id.addr == addr),
            Sender::Stale { .. } | Sender::Unknown => None,
        };
        match slot {
            Some(n) if n.minted.0 == low && n.minted.1 != [0; 8] => n.minted.1,
            Some(n) => {
                let token = mint(secret, addr, b);
                n.minted = (low, token);
                token
            }
            None => mint(secret, addr, b),
        }
    }

    /// Whether `echo` is a token of ours for `addr`, of this time bucket or
    /// the previous one.
    #[cfg(test)]
    pub(crate) fn token_valid(&self, addr: SocketAddr, echo: &[u8; 8]) -> bool {
        self.token_valid_given(addr, echo, &self.token_for(addr))
    }

    /// [`Engine::token_valid`], given `current`, our token for `addr` now
    /// (a reply needs it anyway: one SipHash less per answer).
    pub(crate) fn token_valid_given(
        &self,
        addr: SocketAddr,
        echo: &[u8; 8],
        current: &[u8; 8],
    ) -> bool {
        let Some(secret) = self.token_secret else {
            return false;
        };
        let b = bucket(self.now);
        *current == *echo || (b > 0 && mint(secret, addr, b.saturating_sub(1)) == *echo)
    }

    /// The byte budget of the reply to a `len`-byte datagram from `from`
    /// carrying `tokens`: `normal` if its echo validates `from`, else at
    /// most [`AMPLIFICATION_FACTOR`] × `len`, and whether the bound cut it.
    /// `current` is our token for `from` now ([`Engine::token_for_sender`]).
    pub(crate) fn reply_budget(
        &self,
        from: SocketAddr,
        (tokens, current): (Option<&Tokens>, &[u8; 8]),
        len: usize,
        normal: usize,
    ) -> (usize, bool) {
        if tokens.is_some_and(|t| self.token_valid_given(from, &t.echo, current)) {
            (normal, false)
        } else {
            let bounded = normal.min(len.saturating_mul(AMPLIFICATION_FACTOR));
            (bounded, bounded < normal)
        }
    }

    /// The tokens of a SynAck answering a Syn that carried `answered`,
    /// given `current`, our token for its sender now.
    pub(crate) fn reply_tokens(current: [u8; 8], answered: Option<&Tokens>) -> Tokens {
        Tokens {
            token: current,
            echo: answered.map_or([0; 8], |t| t.token),
        }
    }

    /// Records what a valid datagram of `version` from the node in `slot`
    /// tells: the version it speaks, and the token it gave us. Returns
    /// whether that is the first token it gave us.
    pub(crate) fn note_peer(&mut self, slot: u16, version: u8, tokens: Option<&Tokens>) -> bool {
        if slot == LOCAL {
            return false;
        }
        let Some(n) = self.nodes.get_mut(slot) else {
            return false;
        };
        n.version = n.version.max(version);
        let Some(t) = tokens else {
            return false;
        };
        let first = n.token == [0; 8];
        n.token = t.token;
        first
    }

    /// Notes a SynAck of `len` bytes from `sender`, answering a Syn of
    /// `pieces` pieces. If it is the answer to our first Syn to that node
    /// (the first token it gives us), that Syn was one piece (a node that
    /// knows little: a longer digest draws replies in proportion) and the
    /// answer fills most of a datagram, the node had more to tell us than
    /// the amplification bound let it send: it goes first in our next
    /// round, when we echo its token and it answers with its full budget.
    /// So a newcomer's first round, bounded, costs it one round, not more.
    pub(crate) fn note_first_reply(&mut self, sender: Sender, len: usize, pieces: u16) {
        let full = pieces == 1 && len.saturating_mul(4) >= self.config.mtu.saturating_mul(3);
        if let Sender::Slot {
            slot,
            first_token: true,
        } = sender
            && full
            && let Some(n) = self.nodes.get_mut(slot)
        {
            n.recontact = true;
        }
    }

    /// How to open an exchange with `addr`: the node slot at that address
    /// (the newest generation if several) decides the version and the echo.
    pub(crate) fn speak_to(&mut self, addr: SocketAddr) -> Speak {
        let own = self.config.protocol_version;
        let ring = self.nodes.ring();
        let known = ring
            .iter()
            .filter(|&&s| s != LOCAL)
            .filter_map(|&s| self.nodes.get(s))
            .filter(|n| n.id.addr == addr)
            .max_by_key(|n| n.id.generation);
        let (version, echo) = match known {
            Some(n) => (n.version_to_speak(own), n.token),
            None => {
                return Speak {
                    version: own,
                    also: (own > MIN_PROTOCOL_VERSION).then_some(MIN_PROTOCOL_VERSION),
                    echo: [0; 8],
                };
            }
        };
        let mut also = None;
        if version < own {
            // Heard only in an older version: an old node, or a new one
            // whose newer datagrams were lost (or that met us as a seed
            // address). Offer ours now and then, or two new nodes could
            // stay on the old version for good.
            self.version_probes = self.version_probes.wrapping_add(1);
            if self.version_probes.is_multiple_of(VERSION_PROBE_EVERY) {
                also = Some(own);
            }
        }
        Speak {
            version,
            also,
            echo,
        }
    }
}

#[cfg(test)]
mod tests;
