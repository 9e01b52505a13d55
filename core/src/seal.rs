//! Sealed datagrams: the keyring, sealing on the way out, opening and the
//! replay window on the way in.
//!
//! # Envelope
//!
//! A sealed datagram keeps the 8-byte header in clear (magic, version,
//! kind, cluster fingerprint) with [`SEALED_FLAG`] set in the kind byte,
//! followed by one key-id byte, a 12-byte nonce, the usual body encrypted
//! with ChaCha20-Poly1305, and the 16-byte tag: [`SEAL_OVERHEAD`] = 29
//! bytes, memberlist's figure. The header as sent (flag included) and the
//! key-id byte are the AEAD's associated data, so none of them can be
//! changed either. The key-id
//! byte is the low byte of the key's [`KeyFingerprint`]: the receiver tries
//! the key it names first, then the other installed keys (a datagram
//! sealed with a key it does not hold fails them all: `UnknownKey`).
//!
//! Every sealed datagram fits the mtu: while keys are on, the encoder
//! writes into a buffer [`SEAL_OVERHEAD`] bytes shorter, and
//! [`crate::wire`]'s entry-size limit reserves those bytes whether keys are
//! on or not, so turning keys on never strands an entry accepted before.
//!
//! # Why ChaCha20-Poly1305
//!
//! hearsay-core runs on servers and on microcontrollers. AES-GCM is fast
//! only with AES and carry-less multiply instructions (AES-NI + PCLMULQDQ,
//! ARMv8 crypto); without them the RustCrypto implementation falls back to
//! bit-sliced software that is several times slower than ChaCha20-Poly1305,
//! which is constant time in plain software on every target. The criterion
//! benchmark `benches/benches/seal.rs` seals and opens a 1,400-byte
//! datagram with both (figures in BENCHMARKS.md).
//!
//! # Nonces
//!
//! A nonce is a 4-byte salt followed by an 8-byte big-endian sequence
//! number. Both are drawn from the caller's rng when the engine is built
//! (the sequence below 2⁶³), and the sequence goes up by one for every
//! sealed datagram, whichever key seals it. So one engine never repeats a
//! nonce under any key; two engines (two senders, or one node before and
//! after a restart, even with the same id) repeat one only if they drew the
//! same salt *and* their sequence ranges overlap. The bound is a birthday
//! bound over salts, one per engine built while a key is in use, not per
//! datagram: with `n` engines built under one key, the chance that any two
//! share a salt is below n²/2³³ (1,000 engines: 1.2 × 10⁻⁴), and even then
//! their 2⁶³-wide random sequence starts must come within the number of
//! datagrams either sends (10⁹ datagrams each: about 2⁻³³ more). Rotate
//! keys long before 10⁵ engine starts under one key.
//!
//! # Replay
//!
//! The sequence number doubles as the sender's datagram counter. The
//! receiver keeps, per known node (its slot), the generation it belongs to,
//! the highest sequence seen and a 64-bit bitmap of the 64 below it. A
//! sealed datagram whose sender (the id in its body, authenticated by the
//! tag) is known and whose sequence was seen, or lies below the window, or
//! that carries an older generation than the window's, is dropped and
//! counted (`Replayed`); a newer generation gets a new window. Sequences
//! are recorded only once the datagram has been accepted whole.
//!
//! What this does not protect:
//! - the first datagrams from a node not (or no longer) in the table: there
//!   is no window yet, so a datagram captured from a node that was since
//!   removed can be replayed once it is forgotten (it is then judged by the
//!   identity and removed-node rules, like any stale gossip);
//! - reordering by more than 64 datagrams from one sender: the late ones are
//!   dropped as replays (gossip repairs it in the next exchange);
//! - anything in unsealed mode, or unsealed datagrams accepted in the
//!   transitional modes;
//! - who inside the cluster says what: every key holder can seal any
//!   sender id. Keys keep outsiders out; they do not authenticate members
//!   to each other;
//! - traffic analysis: the header, sizes and timing are in clear.

use core::fmt;
use core::net::SocketAddr;

use chacha20poly1305::aead::AeadInPlace;
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce, Tag};
use zeroize::Zeroize;

use crate::engine::{Engine, Transmit};
use crate::memory::Memory;
use crate::wire::{DecodeError, HEADER_LEN, WireNodeId};

/// Length of a cluster key in bytes.
pub const KEY_LEN: usize = 32;
/// Most keys a keyring holds at once (enough for a rotation: old, new, and
/// one spare).
pub const MAX_KEYS: usize = 4;
pub use crate::wire::SEAL_OVERHEAD;
const _: () = assert!(SEAL_OVERHEAD == KEY_ID_LEN + NONCE_LEN + TAG_LEN);
/// Set in the header's kind byte of a sealed datagram.
pub const SEALED_FLAG: u8 = 0x80;

const KEY_ID_LEN: usize = 1;
const SALT_LEN: usize = 4;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Header and key id: authenticated, in clear.
const AAD_LEN: usize = HEADER_LEN + KEY_ID_LEN;
/// Where the ciphertext starts in a sealed datagram.
const BODY_AT: usize = HEADER_LEN + KEY_ID_LEN + NONCE_LEN;
/// Where the encoder writes the unsealed header while sealing is on, so
/// that its body lands where the ciphertext goes and sealing moves only
/// the 8 header bytes.
const SHIFT: usize = BODY_AT - HEADER_LEN;
/// Sequences are drawn below this so that no engine can run out.
const SEQUENCE_START_LIMIT: u64 = 1 << 63;

/// A 32-byte cluster key. Its bytes are wiped when it is dropped and never
/// shown: `Debug` prints its [`KeyFingerprint`] only.
pub struct ClusterKey {
    cipher: ChaCha20Poly1305,
    fingerprint: KeyFingerprint,
}

impl ClusterKey {
    /// The key made of `bytes`. The caller's copy of the bytes is theirs to
    /// wipe (e.g. with `zeroize`).
    pub fn new(bytes: [u8; KEY_LEN]) -> ClusterKey {
        let mut bytes = bytes;
        let cipher = ChaCha20Poly1305::new(&bytes.into());
        bytes.zeroize();
        // The tag of an empty message under a nonce no datagram uses (all
        // 0xff: sequence u64::MAX is never sealed with, see `send`): a keyed
        // function of the key that tells keys apart and reveals nothing
        // about it.
        let nonce = Nonce::from([0xff; NONCE_LEN]);
        let tag = cipher
            .encrypt_in_place_detached(&nonce, b"hearsay key fingerprint", &mut [])
            .map(|t| {
                let [a, b, c, d, ..] = <[u8; TAG_LEN]>::from(t);
                u32::from_le_bytes([a, b, c, d])
            })
            .unwrap_or(0);
        ClusterKey {
            cipher,
            fingerprint: KeyFingerprint(tag),
        }
    }

    /// What identifies this key without revealing it.
    pub fn fingerprint(&self) -> KeyFingerprint {
        self.fingerprint
    }
}

/// For `Engine::fork` only (feature `fuzzing`): a second copy of the key
/// material, wiped when dropped like the first.
#[cfg(any(test, all(feature = "fuzzing", feature = "alloc")))]
impl Clone for ClusterKey {
    fn clone(&self) -> Self {
        ClusterKey {
            cipher: self.cipher.clone(),
            fingerprint: self.fingerprint,
        }
    }
}

impl fmt::Debug for ClusterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClusterKey({})", self.fingerprint)
    }
}

/// Identifies a [`ClusterKey`] (a keyed hash of it, not its bytes): what
/// [`Engine::keys`] lists and [`Engine::use_key`] / [`Engine::remove_key`]
/// take. Its low byte is the key id sealed datagrams carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct KeyFingerprint(pub u32);

impl KeyFingerprint {
    fn key_id(self) -> u8 {
        self.0.to_le_bytes()[0]
    }
}

impl fmt::Display for KeyFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

/// What a node with keys sends and accepts. Without keys a node sends
/// unsealed datagrams and refuses sealed ones, whatever the mode.
///
/// Turning keys on in a running cluster without downtime (memberlist's
/// verify-incoming / verify-outgoing): on every node in turn,
/// [`KeyMode::Listen`] and install the key; once all have it,
/// [`KeyMode::Transitional`] on every node; once all are transitional,
/// [`KeyMode::Required`] on every node. At each step every node accepts
/// what every other node sends. Turning keys off is the same in reverse
/// (then remove the keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum KeyMode {
    /// Send unsealed, accept sealed and unsealed: the first step of turning
    /// keys on (nodes not yet keyed still understand us).
    Listen,
    /// Send sealed, accept sealed and unsealed: the second step, while
    /// some nodes still send unsealed.
    Transitional,
    /// Send sealed, accept sealed only (the default).
    Required,
}

/// Why a keyring change was refused. The keyring is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyError {
    /// The keyring already holds [`MAX_KEYS`] keys.
    Full,
    /// No installed key has this fingerprint.
    Unknown,
    /// The primary key cannot be removed: use another one first.
    Primary,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyError::Full => "the keyring is full (4 keys): remove one first",
            KeyError::Unknown => "no installed key has this fingerprint",
            KeyError::Primary => "the primary key cannot be removed: use another key first",
        })
    }
}

/// The engine's keys and its nonce state.
#[cfg_attr(any(test, all(feature = "fuzzing", feature = "alloc")), derive(Clone))]
pub(crate) struct Keyring {
    keys: [Option<ClusterKey>; MAX_KEYS],
    primary: Option<KeyFingerprint>,
    mode: KeyMode,
    salt: [u8; SALT_LEN],
    /// The sequence the next sealed datagram carries.
    next_sequence: u64,
}

impl Keyring {
    /// An empty keyring whose nonces start at a random salt and sequence.
    pub(crate) fn new(rng: &mut impl rand_core::RngCore) -> Keyring {
        let mut salt = [0; SALT_LEN];
        rng.fill_bytes(&mut salt);
        Keyring {
            keys: [const { None }; MAX_KEYS],
            primary: None,
            mode: KeyMode::Required,
            salt,
            next_sequence: rng.next_u64() % SEQUENCE_START_LIMIT,
        }
    }

    fn find(&self, fp: KeyFingerprint) -> Option<&ClusterKey> {
        self.keys.iter().flatten().find(|k| k.fingerprint == fp)
    }

    fn has_keys(&self) -> bool {
        self.primary.is_some()
    }
}

impl<M: Memory> Engine<M> {
    /// Installs `key`: datagrams sealed with it are accepted from now on.
    /// The first key installed also becomes the primary (the one this node
    /// seals with, in [`KeyMode::Transitional`] and [`KeyMode::Required`]);
    /// later ones become primary with [`Engine::use_key`]. Installing a key
    /// already held changes nothing. Returns the key's fingerprint.
    pub fn install_key(&mut self, key: ClusterKey) -> Result<KeyFingerprint, KeyError> {
        let fp = key.fingerprint;
        if self.keyring.find(fp).is_some() {
            return Ok(fp);
        }
        let free = self
            .keyring
            .keys
            .iter_mut()
            .find(|k| k.is_none())
            .ok_or(KeyError::Full)?;
        *free = Some(key);
        if self.keyring.primary.is_none() {
            self.keyring.primary = Some(fp);
        }
        Ok(fp)
    }

    /// Makes the installed key `fp` the primary: this node seals with it
    /// from now on. Install it on every node before using it on any.
    pub fn use_key(&mut self, fp: KeyFingerprint) -> Result<(), KeyError> {
        self.keyring.find(fp).ok_or(KeyError::Unknown)?;
        self.keyring.primary = Some(fp);
        Ok(())
    }

    /// Removes the installed key `fp` (its bytes are wiped): datagrams
    /// sealed with it are refused from now on. The primary key cannot be
    /// removed ([`KeyError::Primary`]); to turn keys off, see [`KeyMode`].
    pub fn remove_key(&mut self, fp: KeyFingerprint) -> Result<(), KeyError> {
        if self.keyring.primary == Some(fp) {
            return Err(KeyError::Primary);
        }
        let slot = self
            .keyring
            .keys
            .iter_mut()
            .find(|k| k.as_ref().is_some_and(|k| k.fingerprint == fp))
            .ok_or(KeyError::Unknown)?;
        *slot = None;
        Ok(())
    }

    /// Removes every key, the primary included: the node sends unsealed
    /// datagrams and refuses sealed ones again. The last step of turning
    /// keys off (after [`KeyMode::Listen`] on every node).
    pub fn clear_keys(&mut self) {
        self.keyring.keys = [const { None }; MAX_KEYS];
        self.keyring.primary = None;
    }

    /// The fingerprints of the installed keys (never their bytes), in no
    /// particular order.
    pub fn keys(&self) -> impl Iterator<Item = KeyFingerprint> + '_ {
        self.keyring.keys.iter().flatten().map(|k| k.fingerprint)
    }

    /// The key this node seals with, if it has keys.
    pub fn primary_key(&self) -> Option<KeyFingerprint> {
        self.keyring.primary
    }

    /// Sets what this node sends and accepts while it has keys; see
    /// [`KeyMode`] for turning keys on in a running cluster.
    pub fn set_key_mode(&mut self, mode: KeyMode) {
        self.keyring.mode = mode;
    }

    /// The current [`KeyMode`].
    pub fn key_mode(&self) -> KeyMode {
        self.keyring.mode
    }

    /// Wraps `tx` so that what the engine sends through it is sealed when
    /// this node seals; hand the result back to [`Engine::end_sealing`].
    pub(crate) fn sealing<'t, T: Transmit>(&self, tx: &'t mut T) -> Sealing<'t, T> {
        let ring = &self.keyring;
        let sealer = match (ring.mode, ring.primary) {
            (KeyMode::Listen, _) | (_, None) => None,
            (_, Some(fp)) => ring.find(fp).map(|k| Sealer {
                cipher: k.cipher.clone(),
                key_id: fp.key_id(),
                salt: ring.salt,
                next_sequence: ring.next_sequence,
            }),
        };
        Sealing {
            inner: tx,
            mtu: self.config.mtu,
            sealer,
            sealed: 0,
            exhausted: 0,
        }
    }

    /// Takes back the nonce state and counts what [`Engine::sealing`]'s
    /// wrapper sealed.
    pub(crate) fn end_sealing<T: Transmit>(&mut self, sealing: Sealing<'_, T>) {
        if let Some(s) = &sealing.sealer {
            self.keyring.next_sequence = s.next_sequence;
        }
        let c = &mut self.counters;
        c.sealed_out = c.sealed_out.saturating_add(sealing.sealed);
        c.bytes_out = c
            .bytes_out
            .saturating_add(sealing.sealed.saturating_mul(SEAL_OVERHEAD as u64));
        c.seal_failures = c.seal_failures.saturating_add(sealing.exhausted);
    }

    /// Checks a received datagram against the key mode and, when it is
    /// sealed, opens it in place: afterwards `datagram[..len]` is the
    /// unsealed datagram (header with the flag cleared, then the body).
    /// Returns that length and, for a sealed datagram, its sequence.
    /// Nothing in the engine changes (the datagram is counted once it is
    /// accepted, [`Engine::note_sequence`]).
    pub(crate) fn open(
        &mut self,
        datagram: &mut [u8],
    ) -> Result<(usize, Option<u64>), DecodeError> {
        let Some(&kind) = datagram.get(3) else {
            return Ok((datagram.len(), None));
        };
        let ring = &self.keyring;
        if kind & SEALED_FLAG == 0 {
            if ring.has_keys() && ring.mode == KeyMode::Required {
                return Err(DecodeError::UnsealedRefused);
            }
            return Ok((datagram.len(), None));
        }
        if !ring.has_keys() {
            return Err(DecodeError::SealedRefused);
        }
        let len = datagram.len();
        if len < BODY_AT.saturating_add(TAG_LEN) {
            return Err(DecodeError::SealedTruncated);
        }
        let body_len = len.saturating_sub(BODY_AT).saturating_sub(TAG_LEN);
        let (head, rest) = datagram
            .split_at_mut_checked(BODY_AT)
            .ok_or(DecodeError::SealedTruncated)?;
        let (body, tag) = rest
            .split_at_mut_checked(body_len)
            .ok_or(DecodeError::SealedTruncated)?;
        let (aad, nonce) = head
            .split_first_chunk::<AAD_LEN>()
            .ok_or(DecodeError::SealedTruncated)?;
        let [.., key_id] = *aad;
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| DecodeError::SealedTruncated)?;
        let tag: [u8; TAG_LEN] = (&*tag)
            .try_into()
            .map_err(|_| DecodeError::SealedTruncated)?;
        let (nonce, tag) = (Nonce::from(nonce), Tag::from(tag));
        // The named key first, then the others (a key-id byte can collide).
        let named = |k: &&ClusterKey| k.fingerprint.key_id() == key_id;
        let mut tries = ring
            .keys
            .iter()
            .flatten()
            .filter(named)
            .chain(ring.keys.iter().flatten().filter(|k| !named(k)));
        // A failed attempt leaves `body` as it was: the tag is checked
        // before anything is decrypted.
        if !tries.any(|k| {
            k.cipher
                .decrypt_in_place_detached(&nonce, aad, body, &tag)
                .is_ok()
        }) {
            return Err(DecodeError::UnknownKey);
        }
        let [.., s0, s1, s2, s3, s4, s5, s6, s7] = <[u8; NONCE_LEN]>::from(nonce);
        let sequence = u64::from_be_bytes([s0, s1, s2, s3, s4, s5, s6, s7]);
        datagram.copy_within(BODY_AT..BODY_AT.saturating_add(body_len), HEADER_LEN);
        if let Some(k) = datagram.get_mut(3) {
            *k &= !SEALED_FLAG;
        }
        Ok((HEADER_LEN.saturating_add(body_len), Some(sequence)))
    }

    /// Refuses a sealed datagram whose `sequence` from `sender` was seen
    /// (or lies below its window).
    pub(crate) fn check_replay(
        &self,
        sender: &WireNodeId<'_>,
        sequence: Option<u64>,
    ) -> Result<(), DecodeError> {
        let Some(sequence) = sequence else {
            return Ok(());
        };
        let window = self
            .nodes
            .find_name(sender.name)
            .and_then(|slot| self.nodes.get(slot))
            .map_or(ReplayWindow::EMPTY, |n| n.replay);
        if window.is_fresh(sender.generation, sequence) {
            Ok(())
        } else {
            Err(DecodeError::Replayed)
        }
    }

    /// Records an accepted datagram: its `sequence` from `sender` if it was
    /// sealed, and the count of sealed or unsealed datagrams accepted.
    pub(crate) fn note_sequence(&mut self, sender: &WireNodeId<'_>, sequence: Option<u64>) {
        let Some(sequence) = sequence else {
            if self.keyring.has_keys() {
                crate::counters::bump(&mut self.counters.unsealed_in);
            }
            return;
        };
        crate::counters::bump(&mut self.counters.sealed_in);
        let Some(slot) = self.nodes.find_name(sender.name) else {
            return;
        };
        if let Some(n) = self.nodes.get_mut(slot) {
            n.replay = n.replay.mark(sender.generation, sequence);
        }
    }

    /// Opens an exchange with the node at `peer` by sending it this node's
    /// digest as Syn pieces (sealed when this node seals). Returns the
    /// number of datagrams sent.
    pub fn start_exchange(
        &mut self,
        peer: SocketAddr,
        tx: &mut impl Transmit,
    ) -> Result<usize, crate::engine::SendError> {
        let mut tx = self.sealing(tx);
        let r = self.open_exchange(peer, &mut tx);
        self.end_sealing(tx);
        r
    }
}

/// Per sender: which sealed sequences were seen (see the module docs).
/// 24 bytes in every node slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReplayWindow {
    generation: u64,
    highest: u64,
    /// Bit `i`: `highest - i` was seen. Bit 0 is set in every window that
    /// saw a datagram, so 0 means none was seen.
    seen: u64,
}

impl ReplayWindow {
    /// No sealed datagram seen yet.
    pub(crate) const EMPTY: ReplayWindow = ReplayWindow {
        generation: 0,
        highest: 0,
        seen: 0,
    };

    /// Generation, highest sequence and bitmap (for the state digest).
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn parts(&self) -> (u64, u64, u64) {
        (self.generation, self.highest, self.seen)
    }

    fn first(generation: u64, sequence: u64) -> ReplayWindow {
        ReplayWindow {
            generation,
            highest: sequence,
            seen: 1,
        }
    }

    fn is_fresh(&self, generation: u64, sequence: u64) -> bool {
        if self.seen == 0 {
            return true;
        }
        if generation != self.generation {
            return generation > self.generation;
        }
        match self.highest.checked_sub(sequence) {
            None => true,
            Some(back) => back < 64 && (self.seen >> back) & 1 == 0,
        }
    }

    /// The window after `sequence` was accepted.
    fn mark(self, generation: u64, sequence: u64) -> ReplayWindow {
        if self.seen == 0 || generation > self.generation {
            return ReplayWindow::first(generation, sequence);
        }
        if generation < self.generation {
            return self;
        }
        match self.highest.checked_sub(sequence) {
            None => {
                let ahead = sequence.saturating_sub(self.highest);
                let seen = if ahead >= 64 { 0 } else { self.seen << ahead };
                ReplayWindow {
                    generation,
                    highest: sequence,
                    seen: seen | 1,
                }
            }
            Some(back) if back < 64 => ReplayWindow {
                seen: self.seen | (1 << back),
                ..self
            },
            Some(_) => self,
        }
    }
}

struct Sealer {
    cipher: ChaCha20Poly1305,
    key_id: u8,
    salt: [u8; SALT_LEN],
    next_sequence: u64,
}

/// A [`Transmit`] that seals what the engine writes into it before passing
/// it on: the engine encodes at [`SHIFT`] into the caller's buffer, at most
/// `mtu - SEAL_OVERHEAD` bytes, and `send` moves the header to the front,
/// writes key id and nonce after it and encrypts the body where it is.
/// Without a sealer it is the caller's transmit, unchanged.
pub(crate) struct Sealing<'t, T: Transmit> {
    inner: &'t mut T,
    mtu: usize,
    sealer: Option<Sealer>,
    sealed: u64,
    exhausted: u64,
}

impl<T: Transmit> Transmit for Sealing<'_, T> {
    #[inline]
    fn buffer(&mut self) -> &mut [u8] {
        let buf = self.inner.buffer();
        if self.sealer.is_none() {
            return buf;
        }
        let end = buf.len().min(self.mtu).saturating_sub(TAG_LEN);
        match buf.get_mut(SHIFT..end) {
            Some(b) => b,
            None => &mut [],
        }
    }

    #[inline]
    fn send(&mut self, to: SocketAddr, len: usize) {
        let Some(sealer) = &mut self.sealer else {
            self.inner.send(to, len);
            return;
        };
        let sequence = sealer.next_sequence;
        let Some(next) = sequence.checked_add(1) else {
            // 2⁶³ datagrams from one engine: never in practice, but a
            // nonce must not repeat, so nothing more is sent.
            self.exhausted = self.exhausted.saturating_add(1);
            return;
        };
        let total = len.saturating_add(SEAL_OVERHEAD);
        let buf = self.inner.buffer();
        if len < HEADER_LEN || total > buf.len() {
            return;
        }
        buf.copy_within(SHIFT..BODY_AT, 0);
        let Some((head, rest)) = buf.split_at_mut_checked(BODY_AT) else {
            return;
        };
        let Some((aad, nonce_out)) = head.split_first_chunk_mut::<AAD_LEN>() else {
            return;
        };
        aad[3] |= SEALED_FLAG;
        aad[HEADER_LEN] = sealer.key_id;
        let mut nonce = [0; NONCE_LEN];
        let (salt, seq) = nonce.split_at_mut(SALT_LEN);
        salt.copy_from_slice(&sealer.salt);
        seq.copy_from_slice(&sequence.to_be_bytes());
        nonce_out.copy_from_slice(&nonce);
        let Some((body, tail)) = rest.split_at_mut_checked(len.saturating_sub(HEADER_LEN)) else {
            return;
        };
        let Ok(tag) = sealer
            .cipher
            .encrypt_in_place_detached(&Nonce::from(nonce), &*aad, body)
        else {
            return;
        };
        let Some(tag_out) = tail.get_mut(..TAG_LEN) else {
            return;
        };
        tag_out.copy_from_slice(&tag);
        sealer.next_sequence = next;
        self.sealed = self.sealed.saturating_add(1);
        self.inner.send(to, total);
    }
}

#[cfg(test)]
mod tests;
