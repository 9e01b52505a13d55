//! The datagram entry point: header checks, the sender's identity, and
//! dispatch to the exchange ([`crate::exchange`]) or the replica
//! ([`crate::replica`]).
//!
//! Every message is decoded and validated whole before anything changes.

use core::net::SocketAddr;

use crate::counters::bump;
use crate::engine::*;
use crate::event::Observer;
use crate::memory::Memory;
use crate::time::Instant;
use crate::wire::{self, DecodeError, MessageKind, UpdateMsg, WireNodeId};

impl<M: Memory> Engine<M> {
    /// Handles one received datagram from `from`: opens it if it is sealed
    /// ([`crate::seal`]), validates it completely, then applies what it
    /// carries and sends any reply through `tx` (sealed when this node
    /// seals).
    ///
    /// A sealed datagram is opened in place, so `datagram`'s bytes are
    /// overwritten. A rejected datagram changes nothing but its counter.
    pub fn handle_datagram(
        &mut self,
        from: SocketAddr,
        datagram: &mut [u8],
        now: Instant,
        tx: &mut impl Transmit,
        observer: &mut impl Observer,
    ) -> Result<(), DecodeError> {
        bump(&mut self.counters.datagrams_in);
        self.counters.bytes_in = self.counters.bytes_in.saturating_add(datagram.len() as u64);
        let mut tx = self.sealing(tx);
        let result = self.dispatch(from, datagram, now, &mut tx, observer);
        if result.is_ok() {
            // What the datagram made fresh goes on at once.
            self.send_pushes(&mut tx);
        }
        self.end_sealing(tx);
        if let Err(e) = result {
            self.counters.reject(e);
        }
        result
    }

    pub(crate) fn dispatch(
        &mut self,
        from: SocketAddr,
        datagram: &mut [u8],
        now: Instant,
        tx: &mut impl Transmit,
        observer: &mut impl Observer,
    ) -> Result<(), DecodeError> {
        self.note_time(now);
        if datagram.len() > wire::MAX_DATAGRAM_LEN {
            return Err(DecodeError::Oversized);
        }
        // The header is checked before any key is tried: opening costs a
        // pass over the datagram, and a foreign or malformed one needs none.
        let mut head = *datagram
            .first_chunk::<{ wire::HEADER_LEN }>()
            .ok_or(DecodeError::TooShort)?;
        head[3] &= !crate::seal::SEALED_FLAG;
        let (_, _, cluster, _) = wire::read_header(&head)?;
        if cluster != self.config.cluster_id.fingerprint() {
            return Err(DecodeError::ForeignCluster);
        }
        let (len, sequence) = self.open(datagram)?;
        let datagram: &[u8] = datagram.get(..len).ok_or(DecodeError::Truncated)?;
        let (kind, version, cluster, body) = wire::read_header(datagram)?;
        if version > self.config.protocol_version {
            // A node held at an older version reads as that release did.
            return Err(DecodeError::UnsupportedVersion);
        }
        if cluster != self.config.cluster_id.fingerprint() {
            return Err(DecodeError::ForeignCluster);
        }
        match kind {
            MessageKind::Syn => {
                // The digest lines are validated while the reply is planned,
                // before anything changes; see `answer_syn`.
                let msg = wire::parse_syn_head(version, body)?;
                self.check_not_self(&msg.sender)?;
                self.check_replay(&msg.sender, sequence)?;
                self.answer_syn(from, &msg, datagram.len(), now, tx, observer)?;
                self.note_sequence(&msg.sender, sequence);
            }
            MessageKind::SynAck => {
                let msg = wire::parse_synack(version, body)?;
                self.check_not_self(&msg.sender)?;
                self.check_replay(&msg.sender, sequence)?;
                let sender =
                    self.learn_sender(&msg.sender, (version, msg.tokens.as_ref()), now, observer);
                self.note_first_reply(sender, datagram.len(), msg.piece_count);
                self.apply_updates(&msg, sender, now, observer);
                if self.requests_show_us_ahead(&msg) {
                    self.heard_own_state_ahead(now, observer);
                }
                self.answer_requests(from, sender, &msg, datagram.len(), tx);
                if let Some(compact) = msg.compact.as_ref().filter(|c| !c.is_empty()) {
                    // Notices are answered with lines only to an address
                    // that proved it is the peer's (it echoed our token).
                    let current = self.token_for_sender(sender, from);
                    let validated = msg
                        .tokens
                        .is_some_and(|t| self.token_valid_given(from, &t.echo, &current));
                    self.take_compact(from, (compact, validated), now, tx, observer);
                }
                self.note_sequence(&msg.sender, sequence);
            }
            MessageKind::Ack => {
                let msg = wire::parse_ack(version, body)?;
                self.check_not_self(&msg.sender)?;
                self.check_replay(&msg.sender, sequence)?;
                let sender = self.learn_sender(&msg.sender, (version, None), now, observer);
                self.apply_updates(&msg, sender, now, observer);
                self.note_sequence(&msg.sender, sequence);
            }
        }
        Ok(())
    }

    /// Whether a SynAck asks for our own id holding it ahead of us.
    pub(crate) fn requests_show_us_ahead(&self, msg: &UpdateMsg<'_>) -> bool {
        let own = self.local().map_or(0, |n| n.hash);
        msg.requests().map_while(Result::ok).any(|(hash, q)| {
            q.known && hash == own && self.own_state_behind(0, q.max_version, q.last_gc)
        })
    }

    pub(crate) fn check_not_self(&self, sender: &WireNodeId<'_>) -> Result<(), DecodeError> {
        if sender.name == self.id().name.as_str() {
            return Err(DecodeError::FromSelf);
        }
        Ok(())
    }
}
