//! Peer selection: whom a gossip round talks to.
//!
//! Each round opens exchanges with `fanout` peers chosen at random among the
//! live ones that still answer (a live peer that left
//! [`UNANSWERED_LIMIT`] exchanges unanswered in a row, or whose heartbeat
//! has not moved here for a quarter of its timeout, is only probed now and
//! then), plus a seed when no peer is live (or, now and then, when none of
//! the chosen peers is a seed), plus now and then a dead node, to notice it
//! coming back. A peer whose answer to our first Syn was cut by its
//! amplification bound ([`crate::token`]) goes first in the next round,
//! and so does a peer that sent us part of a value too long for one
//! exchange (module `chunk`): it holds the value whole.

use crate::engine::*;
use crate::memory::Memory;
use crate::nodes::NodeStatus;

/// Most peers a round exchanges with again because their answer to our
/// first Syn was cut by the amplification bound, or because they sent us
/// part of a value.
const MAX_RECONTACTS: usize = 4;

impl<M: Memory> Engine<M> {
    /// Opens this tick's exchanges: `picks` peers, and, if `whole` (a whole
    /// round's selection, or the first part of a spread round), the seeds,
    /// probes and dead nodes that a round adds now and then.
    pub(crate) fn gossip(
        &mut self,
        (picks, whole): (usize, bool),
        rng: &mut impl rand_core::RngCore,
        tx: &mut impl Transmit,
    ) {
        // Responsive live peers first, then pending ones, then live peers
        // that stopped answering. A node we have heard of but whose
        // heartbeat we have not seen move may well be alive, and talking
        // to it is how we find out: while few peers are live (a joining
        // node), pending ones fill the fanout, so a newcomer's heartbeat
        // reaches several nodes from its first rounds. A live peer that
        // stopped answering (see `is_unresponsive`) is most likely on the
        // far side of a partition: until it is convicted, every slot it
        // takes is an exchange lost, and heartbeats would spread through
        // our side at a fraction of the speed, late enough to get healthy
        // nodes convicted. Such peers only fill slots nobody else takes,
        // and are probed now and then (below) to notice them answering.
        // Peers whose answer to our first Syn was cut by their amplification
        // bound go first (at most `MAX_RECONTACTS` a round, within the
        // fanout): this time we echo their token, and they answer in full.
        let mut again = [0u16; MAX_RECONTACTS];
        let mut recontacts = 0usize;
        let limit = picks.min(MAX_RECONTACTS);
        for &slot in self.nodes.ring() {
            if recontacts >= limit {
                break;
            }
            let flagged = self.nodes.get(slot).is_some_and(|n| {
                n.recontact && matches!(n.status, NodeStatus::Alive | NodeStatus::Pending)
            });
            if flagged && let Some(a) = again.get_mut(recontacts) {
                *a = slot;
                recontacts = recontacts.saturating_add(1);
            }
        }
        // Then the nodes that sent us part of a value since the last round:
        // they hold it whole, and the rest comes from them in one exchange
        // (module `chunk`).
        let mut sources = [0u16; MAX_RECONTACTS];
        let room = limit.saturating_sub(recontacts);
        let found = self.take_transfer_sources(sources.get_mut(..room).unwrap_or_default());
        for &slot in sources.get(..found).unwrap_or_default() {
            if !again.get(..recontacts).unwrap_or_default().contains(&slot)
                && let Some(a) = again.get_mut(recontacts)
            {
                *a = slot;
                recontacts = recontacts.saturating_add(1);
            }
        }
        let mut seed_picked = false;
        for &slot in again.get(..recontacts).unwrap_or_default() {
            seed_picked |= self.exchange_with(slot, tx);
        }
        self.candidates.clear();
        let mut dead = 0usize;
        // Live peers, the responsive ones moved to the front as they come.
        let mut responsive = 0usize;
        for &slot in self.nodes.ring() {
            let status = self.nodes.get(slot).map(|n| n.status);
            if status == Some(NodeStatus::Dead) {
                dead = dead.saturating_add(1);
            } else if slot != LOCAL
                && status == Some(NodeStatus::Alive)
                && !again.get(..recontacts).unwrap_or_default().contains(&slot)
                && self.candidates.push(slot).is_ok()
                && !self.is_unresponsive(slot)
            {
                let last = self.candidates.len().saturating_sub(1);
                self.candidates.swap(responsive, last);
                responsive = responsive.saturating_add(1);
            }
        }
        let live = self.candidates.len();
        let unresponsive = live.saturating_sub(responsive);
        for &slot in self.nodes.ring() {
            if slot != LOCAL
                && self.nodes.get(slot).map(|n| n.status) == Some(NodeStatus::Pending)
                && !again.get(..recontacts).unwrap_or_default().contains(&slot)
                && self.candidates.push(slot).is_err()
            {
                break;
            }
        }
        let known = self.candidates.len();
        let fanout = picks.saturating_sub(recontacts);
        let from_responsive = fanout.min(responsive);
        let from_pending = fanout
            .saturating_sub(from_responsive)
            .min(known.saturating_sub(live));
        let filled = from_responsive.saturating_add(from_pending);
        // One unresponsive peer with probability unresponsive /
        // (responsive + 1) when the others fill the fanout, as for dead
        // nodes: about one probe a round while half the peers are silent.
        let from_unresponsive = if filled < fanout {
            fanout.saturating_sub(filled).min(unresponsive)
        } else {
            usize::from(
                whole
                    && unresponsive > 0
                    && chance(rng, unresponsive, responsive.saturating_add(1)),
            )
        };
        // Partial Fisher-Yates shuffles of each group.
        for (lo, hi, picks) in [
            (0, responsive, from_responsive),
            (live, known, from_pending),
            (responsive, live, from_unresponsive),
        ] {
            for i in lo..lo.saturating_add(picks) {
                let j = i.saturating_add(random_below(rng, hi.saturating_sub(i)));
                self.candidates.swap(i, j.min(hi.saturating_sub(1)));
                if let Some(slot) = self.candidates.get(i).copied() {
                    seed_picked |= self.exchange_with(slot, tx);
                }
            }
        }
        // Seeds: while nobody is live, up to `fanout` of them, so that one
        // lost datagram does not leave a newcomer isolated for a round;
        // otherwise, if no seed was among the picks, one with probability
        // seeds / (live + dead), as Cassandra does, so seeds keep the cluster
        // from splitting without drawing every node's traffic.
        let seeds = self.seeds.len();
        let seed_picks = if seed_picked || seeds == 0 || !whole {
            0
        } else if live == 0 {
            self.config.fanout.min(seeds)
        } else {
            usize::from(chance(rng, seeds, live.saturating_add(dead)))
        };
        let mut order = [0u8; MAX_SEEDS];
        for (k, o) in order.iter_mut().enumerate() {
            *o = k as u8;
        }
        for i in 0..seed_picks {
            let j = i.saturating_add(random_below(rng, seeds.saturating_sub(i)));
            order.swap(i, j.min(seeds.saturating_sub(1)));
            let k = order.get(i).copied().map_or(0, usize::from);
            if let Some(&addr) = self.seeds.get(k) {
                let _ = self.open_exchange(addr, tx);
            }
        }
        for &slot in again.get(..recontacts).unwrap_or_default() {
            if let Some(n) = self.nodes.get_mut(slot) {
                n.recontact = false;
            }
        }
        // A dead node with probability dead / (live + 1).
        if whole && dead > 0 && chance(rng, dead, live.saturating_add(1)) {
            let k = random_below(rng, dead);
            let addr = self
                .nodes
                .ring()
                .iter()
                .filter_map(|&s| self.nodes.get(s))
                .filter(|n| n.status == NodeStatus::Dead)
                .nth(k)
                .map(|n| n.id.addr);
            if let Some(addr) = addr {
                let _ = self.open_exchange(addr, tx);
            }
        }
    }

    /// Opens an exchange with the node in `slot`, counting it as
    /// unanswered until it is heard from. Returns whether it is a seed.
    fn exchange_with(&mut self, slot: u16, tx: &mut impl Transmit) -> bool {
        let Some(addr) = self.nodes.get(slot).map(|n| n.id.addr) else {
            return false;
        };
        if self.open_exchange(addr, tx).is_ok()
            && let Some(n) = self.nodes.get_mut(slot)
        {
            n.unanswered = n.unanswered.saturating_add(1);
        }
        self.seeds.contains(&addr)
    }

    /// Whether the live peer in `slot` seems cut off from us: it left
    /// [`UNANSWERED_LIMIT`] exchanges in a row unanswered, or its heartbeat
    /// has not moved here for a quarter of its detector timeout
    /// ([`crate::nodes::QUIET_FRACTION`]). The second sign is the one every node on our
    /// side sees within seconds of a partition: with a fanout of 3 among
    /// 100 nodes, a node tries a given peer about once in 30 rounds, long
    /// after the far side is convicted.
    pub(crate) fn is_unresponsive(&self, slot: u16) -> bool {
        let Some(n) = self.nodes.get(slot) else {
            return false;
        };
        if n.unanswered >= UNANSWERED_LIMIT {
            return true;
        }
        n.is_quiet(self.now)
    }
}

/// Exchanges a live peer may leave unanswered in a row before it stops
/// taking fanout slots (it is still probed now and then). At 10% loss an
/// exchange goes unanswered 19% of the time: 3 in a row set aside 0.1% of
/// healthy peers in the simulator (2: 1.3%).
pub(crate) const UNANSWERED_LIMIT: u8 = 3;

/// Uniform in `0..n` (0 when `n` is 0), by Lemire's multiply-shift.
fn random_below(rng: &mut impl rand_core::RngCore, n: usize) -> usize {
    let n = u64::try_from(n).unwrap_or(u64::MAX);
    let wide = u128::from(rng.next_u64()).wrapping_mul(u128::from(n));
    usize::try_from(wide >> 64).unwrap_or(0)
}

/// True with probability `num / den` (always when `num >= den`).
fn chance(rng: &mut impl rand_core::RngCore, num: usize, den: usize) -> bool {
    num >= den || random_below(rng, den) < num
}
