//! Direct heartbeats: each beat of this node sent straight to a few peers.
//!
//! Anti-entropy spreads a heartbeat like any other news: the peer of the
//! exchange hears it at once, everyone else one to three hops later, and
//! at 1000 nodes the last of them 1.5–2 s later (BENCHMARKS.md, issue 12).
//! That spread is what the detector's acceptable pause must cover, and an
//! arrival that came early by a short path is followed by a long wait
//! while the rest catch up. So with each part of a round, beside its Syn,
//! a node sends its fresh heartbeat alone to [`BEAT_FANOUT`] other live
//! peers at random: an Ack of one update (the node by its hash, the
//! heartbeat, no piece), which needs no answer, which every protocol
//! version reads, and which receivers take as any heartbeat (checked for
//! plausibility) and do not pass on. Each costs one small datagram of
//! about 45 bytes at the simulator's names.

use crate::engine::{Engine, LOCAL, Transmit};
use crate::memory::Memory;
use crate::plan::PlanItem;
use crate::wire::{MessageKind, Tokens};

/// Peers each beat goes to directly, beside the part's exchange.
pub(crate) const BEAT_FANOUT: usize = 1;

impl<M: Memory> Engine<M> {
    /// Sends this node's heartbeat alone to [`BEAT_FANOUT`] live peers
    /// drawn with `rng`, through a transmit that already seals.
    pub(crate) fn send_beats(&mut self, rng: &mut impl rand_core::RngCore, tx: &mut impl Transmit) {
        if self.left_at.is_some() {
            return;
        }
        let mut peers = [None::<u16>; BEAT_FANOUT];
        self.pick_live_peers(rng, &mut peers);
        for peer in peers.into_iter().flatten() {
            let Some((addr, version)) = self.unasked_destination(peer) else {
                continue;
            };
            self.plan.clear();
            self.asks.clear();
            let _ = self.plan.push(PlanItem {
                slot: LOCAL,
                intro: false,
                by_prefix: false,
                data: false,
                from: 0,
                done: false,
                chunk_at: 0,
            });
            let before = self.counters.datagrams_out;
            self.send_plan(
                addr,
                MessageKind::Ack,
                1,
                (self.config.mtu, false),
                (version, Tokens::default(), 0),
                None,
                tx,
            );
            let sent = self.counters.datagrams_out.saturating_sub(before);
            self.counters.beats_out = self.counters.beats_out.saturating_add(sent);
        }
        self.plan.clear();
    }
}

#[cfg(test)]
mod tests;
