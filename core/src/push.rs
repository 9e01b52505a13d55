//! Eager push of fresh versions: rumour mongering in front of the
//! anti-entropy.
//!
//! Push-pull anti-entropy at fanout `f` doubles and redoubles an update's
//! reach about `2f` times a round, so reaching a thousand nodes takes more
//! than two rounds however small the messages. A node that learns a
//! change therefore also pushes it on at once, once: when a delta advances
//! its copy of a node (or its own write advances its namespace), it sends
//! that delta to [`PUSH_FANOUT`] random live peers in an Ack, which needs
//! no answer and which every version reads. A receiver holding the node at
//! the delta's start applies it and pushes it on in turn; one that holds
//! it already, or is further behind, takes nothing and pushes nothing, so
//! each change travels about `N × PUSH_FANOUT` datagrams and the rumour
//! dies out by itself. Nodes the rumour misses (about `e^−PUSH_FANOUT` of
//! them, more under loss) get the change from the anti-entropy, as before.
//!
//! A node pushes only while its node table is still (the condition of
//! compact digests, [`crate::compact`]): a joining node or a cluster in
//! churn is learning whole namespaces, which the exchange already spreads,
//! and pushing all of them would flood. At most
//! [`PUSH_DATAGRAMS_PER_ROUND`] push datagrams go out per round; changes
//! beyond that wait for the next round and go together.
//!
//! A push carries no chunks (module `chunk`): a value too long for a
//! datagram ends the pushed piece below it, and spreads by the exchanges,
//! whose Syns say what each peer holds of it.

use crate::engine::{Engine, LOCAL, Transmit};
use crate::memory::Memory;
use crate::nodes::NodeStatus;
use crate::plan::PlanItem;
use crate::wire::{MessageKind, Tokens};

/// Peers each fresh change is pushed to, once per node that learns it.
pub(crate) const PUSH_FANOUT: usize = 3;

/// Most push datagrams one node sends per gossip round.
pub(crate) const PUSH_DATAGRAMS_PER_ROUND: u16 = 4 * PUSH_FANOUT as u16;

impl<M: Memory> Engine<M> {
    /// Notes that `slot`'s copy has just advanced to its max version from
    /// version `from` (a delta applied, or a local write): the change is
    /// pushed with the next [`Engine::send_pushes`], together with any
    /// change still waiting.
    pub(crate) fn note_fresh(&mut self, slot: u16, from: u64) {
        if !self.table_still() {
            return;
        }
        let Some(n) = self.nodes.get_mut(slot) else {
            return;
        };
        if slot != LOCAL && n.status != NodeStatus::Alive {
            return;
        }
        let waiting = n.push_lag > 0;
        let lag = u32::try_from(n.max_version.saturating_sub(from))
            .ok()
            .and_then(|d| d.checked_add(n.push_lag));
        // A change too large to say in a u32 is left to the exchange.
        n.push_lag = lag.unwrap_or(0);
        if !waiting && n.push_lag > 0 {
            self.pushes_pending = self.pushes_pending.saturating_add(1);
        }
    }

    /// Whether pushes wait and this round's allowance can send them.
    pub(crate) fn pushes_due(&self) -> bool {
        self.pushes_pending > 0 && usize::from(self.pushes_left) >= PUSH_FANOUT
    }

    /// Sends every pending change to [`PUSH_FANOUT`] random live peers
    /// (one Ack each, as much as fits one datagram), through a transmit
    /// that already seals; changes wait when this round's allowance is
    /// spent.
    pub(crate) fn send_pushes(&mut self, tx: &mut impl Transmit) {
        if !self.pushes_due() {
            return;
        }
        let mut peers = [None::<u16>; PUSH_FANOUT];
        self.pick_push_peers(&mut peers);
        for peer in peers.into_iter().flatten() {
            if self.pushes_left == 0 {
                break;
            }
            let Some((addr, version)) = self.unasked_destination(peer) else {
                continue;
            };
            self.plan_pushes();
            let budget = (self.config.mtu, false);
            let before = self.counters.datagrams_out;
            self.send_plan(
                addr,
                MessageKind::Ack,
                1,
                budget,
                (version, Tokens::default(), 0),
                None,
                tx,
            );
            let sent = self.counters.datagrams_out.saturating_sub(before);
            self.counters.pushes_out = self.counters.pushes_out.saturating_add(sent);
            self.pushes_left = self.pushes_left.saturating_sub(1);
        }
        for i in 0..self.nodes.ring().len() {
            let Some(&slot) = self.nodes.ring().get(i) else {
                break;
            };
            if let Some(n) = self.nodes.get_mut(slot) {
                n.push_lag = 0;
            }
        }
        self.pushes_pending = 0;
    }

    /// Fills the plan with every pending change.
    fn plan_pushes(&mut self) {
        self.plan.clear();
        for i in 0..self.nodes.ring().len() {
            let Some((slot, n)) = self.nodes.at(i) else {
                break;
            };
            if n.push_lag > 0 && !n.hidden {
                let _ = self.plan.push(PlanItem {
                    slot,
                    intro: false,
                    by_prefix: false,
                    data: true,
                    from: n.max_version.saturating_sub(u64::from(n.push_lag)),
                    done: false,
                    chunk_at: 0,
                });
            }
        }
    }

    /// Where a datagram nobody answers goes for peer `slot`, and in which
    /// protocol version: ours, or the peer's if it spoke an older one.
    pub(crate) fn unasked_destination(&self, slot: u16) -> Option<(core::net::SocketAddr, u8)> {
        let own = self.config.protocol_version;
        self.nodes
            .get(slot)
            .map(|n| (n.id.addr, n.version_to_speak(own)))
    }

    /// Up to [`PUSH_FANOUT`] distinct live peers at random, drawn from the
    /// engine's own xorshift: datagrams come without the caller's rng.
    fn pick_push_peers(&mut self, peers: &mut [Option<u16>; PUSH_FANOUT]) {
        let mut draws = XorShift(self.push_rng);
        self.pick_live_peers(&mut draws, peers);
        self.push_rng = draws.0;
    }

    /// As many distinct live peers at random as `peers` holds (a few draws
    /// each; fewer if few are live).
    pub(crate) fn pick_live_peers(
        &self,
        rng: &mut impl rand_core::RngCore,
        peers: &mut [Option<u16>],
    ) {
        let ring = self.nodes.ring().len();
        if ring < 2 {
            return;
        }
        let wanted = peers.len();
        let mut found = 0usize;
        for _ in 0..wanted.saturating_mul(8) {
            if found >= wanted {
                break;
            }
            let pos =
                usize::try_from(rng.next_u64().checked_rem(ring as u64).unwrap_or(0)).unwrap_or(0);
            let Some((slot, n)) = self.nodes.at(pos) else {
                continue;
            };
            if slot == LOCAL || !n.vouched_for() || peers.contains(&Some(slot)) {
                continue;
            }
            if let Some(p) = peers.get_mut(found) {
                *p = Some(slot);
                found = found.saturating_add(1);
            }
        }
    }
}

/// xorshift64, the engine's own draws where no rng of the caller's is at
/// hand (its state is never 0: the engine seeds it odd).
struct XorShift(u64);

impl rand_core::RngCore for XorShift {
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for chunk in dst.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            for (d, b) in chunk.iter_mut().zip(bytes) {
                *d = b;
            }
        }
    }
}

#[cfg(test)]
mod tests;
