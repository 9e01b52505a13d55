//! The engine's schedule: when it next needs the time, and doing what is due.
//!
//! The engine owns every timer it has: gossip rounds, convictions, hiding
//! and removal of dead, departed and never-live nodes, TTL expiry, tombstone
//! collection and the end of a leave's linger. A runtime asks
//! [`Engine::poll_timeout`] when the engine next needs the time, sleeps until
//! then (or until a datagram or a local write arrives), and calls
//! [`Engine::handle_timeout`], which does everything due at that instant.
//! Datagrams and writes can bring a deadline forward (a new peer's silence,
//! a shorter TTL), so the runtime asks again after every engine call. This
//! is quinn-proto's `poll_timeout` / `handle_timeout` contract.
//!
//! **Rounds.** The first gossip round is due at once after
//! [`Engine::new`]. A round is spread over one *part* per peer of the
//! fanout (at most `MAX_ROUND_PARTS`): each part opens one exchange,
//! advances the heartbeat and sends it straight to a few other peers
//! (module `beat_push`), and schedules the next part at
//! `now + gossip_interval / parts ± 10 %` ([`ROUND_JITTER_DIVISOR`]), the
//! jitter drawn from the caller's rng, so nodes started together drift out
//! of step instead of all gossiping at the same instant. The first part of
//! a round also takes its seeds, probes of silent peers and dead nodes.
//! Spreading the fanout this way, rather than opening all its exchanges at
//! once, lets what a node learns go on a third of a round later instead
//! of a whole one, and beats three times as often for the same bytes: at
//! 1000 simulated nodes it took the median time to detect a crash from
//! 6.8 s to 5.4 s (BENCHMARKS.md). [`Engine::leave`] makes a whole round
//! due at once, so the departure spreads without waiting. [`Engine::tick`]
//! is still a whole round at once, with a whole round's beats.
//!
//! **Local stalls.** [`Engine::handle_timeout`] notes the time first, like
//! every call that brings it ([`crate::stall`]). Because a round is always
//! due within 1.1 intervals, an idle engine driven only by its deadlines is
//! still called at least that often, well inside the stall bound of two
//! intervals; a longer gap means the caller did not run.

use crate::engine::{Engine, LOCAL, Transmit};
use crate::event::Observer;
use crate::memory::Memory;
use crate::time::{Instant, duration_millis};

/// The jitter of a round is at most the gossip interval divided by this,
/// either way (±10 %).
pub const ROUND_JITTER_DIVISOR: u64 = 10;

/// Most parts a round is spread over.
pub(crate) const MAX_ROUND_PARTS: usize = 8;

impl<M: Memory> Engine<M> {
    /// When this engine next needs [`Engine::handle_timeout`]: the earliest
    /// of the next gossip round, the next liveness check (a conviction, or
    /// hiding or removing a node), the next TTL expiry or tombstone
    /// collection (to the millisecond), the end of a leave's linger, and
    /// now when a local write waits to be pushed to peers
    /// (module `push`).
    ///
    /// A time at or before the current one means "now". `None` when nothing
    /// will ever be due: the engine is not initialised, or it has left.
    /// Ask again after every call into the engine: datagrams and local
    /// writes can bring the deadline forward.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut next = self.next_round.min(self.next_sweep);
        if self.pushes_due() {
            // A local write to push on.
            next = next.min(self.now);
        }
        if self.next_deadline != u64::MAX {
            next = next.min(Instant::from_millis(self.next_deadline));
        }
        if let Some(at) = self.left_at {
            let end = at.saturating_add(self.config.leave_linger);
            if self.now >= end {
                return None;
            }
            next = next.min(end);
        }
        // `next_sweep` is `u64::MAX` when no node needs checking, but the
        // round is always finite, so this is a real time.
        Some(next)
    }

    /// Does everything due at `now`: notes the time (a late call is a local
    /// stall, [`crate::stall`]); runs a gossip round if one is due
    /// (heartbeat, TTL expiry and tombstone collection if due, a full
    /// liveness check, new exchanges; see [`Engine::tick`]) and schedules
    /// the next at `now + gossip_interval` ± 10 %, the jitter drawn from
    /// `rng`; otherwise expires and collects if due, and checks liveness if
    /// due. Calling it early, or more often than needed, is harmless: what
    /// is not due is left alone. After the node has left, it does nothing.
    pub fn handle_timeout(
        &mut self,
        now: Instant,
        rng: &mut impl rand_core::RngCore,
        tx: &mut impl Transmit,
        observer: &mut impl Observer,
    ) {
        self.note_time(now);
        if self.has_left(now) {
            return;
        }
        if now >= self.next_round {
            let parts = self.round_parts();
            let k = usize::from(self.round_part).min(parts.saturating_sub(1));
            let fanout = self.config.fanout;
            // This part's share of the fanout: the k-th of `parts` equal
            // slices (one peer each when parts = fanout).
            let share = |k: usize| fanout.saturating_mul(k).checked_div(parts).unwrap_or(0);
            let picks = share(k.saturating_add(1)).saturating_sub(share(k));
            let mut tx = self.sealing(tx);
            self.round_step(now, ((picks, k == 0), 1), rng, &mut tx, observer);
            self.end_sealing(tx);
            self.round_part =
                u8::try_from(k.saturating_add(1).checked_rem(parts).unwrap_or(0)).unwrap_or(0);
            self.next_round = now.saturating_add(self.round_gap(rng));
            return;
        }
        if self.pushes_due() {
            let mut tx = self.sealing(tx);
            self.send_pushes(&mut tx);
            self.end_sealing(tx);
        }
        if now.as_millis() >= self.next_deadline {
            self.expire_and_collect(now, observer);
        }
        if now >= self.next_sweep {
            self.update_liveness(now, observer);
        }
    }

    /// Milliseconds between two heartbeats of this node (at least 1): the
    /// gossip interval over the beats a round makes.
    pub(crate) fn beat_period_ms(&self) -> u64 {
        duration_millis(self.config.gossip_interval)
            .checked_div(self.round_parts() as u64)
            .unwrap_or(0)
            .max(1)
    }

    /// How many heartbeats one round makes: one per part (see
    /// `Engine::round_parts`), so a round of the deadline API advances
    /// the heartbeat by this much, and so does [`Engine::tick`] at once.
    pub fn beats_per_round(&self) -> u64 {
        self.round_parts() as u64
    }

    /// How many parts a round is spread over: one per peer of the fanout
    /// (at most [`MAX_ROUND_PARTS`]).
    pub(crate) fn round_parts(&self) -> usize {
        self.config.fanout.clamp(1, MAX_ROUND_PARTS)
    }

    /// The time from one part of a round to the next: the gossip interval
    /// over the parts, moved by a uniform jitter of up to a tenth of it
    /// either way (whole ms).
    fn round_gap(&self, rng: &mut impl rand_core::RngCore) -> core::time::Duration {
        let interval = duration_millis(self.config.gossip_interval)
            .checked_div(self.round_parts() as u64)
            .unwrap_or(0);
        let spread = interval / ROUND_JITTER_DIVISOR;
        let draw = rng
            .next_u64()
            .checked_rem(spread.saturating_mul(2).saturating_add(1))
            .unwrap_or(0);
        let ms = interval.saturating_sub(spread).saturating_add(draw);
        core::time::Duration::from_millis(ms.max(1))
    }
}

impl<M: Memory> Engine<M> {
    /// Runs one gossip round now, outside the engine's schedule.
    ///
    /// Lower-level than the deadline API: a runtime calls
    /// [`Engine::poll_timeout`] and [`Engine::handle_timeout`], which run
    /// rounds when they are due (with jitter) and everything else on time.
    /// `tick` neither reads nor moves that schedule; it suits tests and
    /// callers that keep their own clock of rounds (then call it every
    /// `gossip_interval`).
    ///
    /// In order: advances this node's heartbeat by
    /// [`Engine::beats_per_round`] (a whole round's beats, so that peers
    /// see it beat at the rate their detectors expect); expires TTL keys and
    /// collects tombstones past their grace; re-evaluates every node's
    /// liveness (phi against the threshold, and the dead grace); then opens
    /// exchanges with `fanout` live peers chosen at random, among those that
    /// answer first (a live peer that left 3 exchanges unanswered, or whose
    /// heartbeat has not moved for a quarter of its timeout, is only probed
    /// now and then) — plus a seed when no peer is live, or, now and then,
    /// when none of the chosen peers is a seed; plus, now and then, a dead
    /// node, to notice it coming back.
    /// After [`Engine::leave`] and its linger time, it does nothing.
    pub fn tick(
        &mut self,
        now: Instant,
        rng: &mut impl rand_core::RngCore,
        tx: &mut impl Transmit,
        observer: &mut impl Observer,
    ) {
        self.note_time(now);
        if self.has_left(now) {
            return;
        }
        let mut tx = self.sealing(tx);
        self.round(now, rng, &mut tx, observer);
        self.end_sealing(tx);
    }

    /// The body of a gossip round (see [`Engine::tick`]), once the time has
    /// been noted.
    pub(crate) fn round(
        &mut self,
        now: Instant,
        rng: &mut impl rand_core::RngCore,
        tx: &mut impl Transmit,
        observer: &mut impl Observer,
    ) {
        let whole = (self.config.fanout, true);
        self.round_step(now, (whole, self.beats_per_round()), rng, tx, observer);
    }

    /// One part of a round: the heartbeat, TTL expiry and
    /// collection if due, liveness, `picks` exchanges (with a round's
    /// seeds, probes and dead nodes if `whole`), the direct beats, and
    /// waiting pushes.
    fn round_step(
        &mut self,
        now: Instant,
        ((picks, whole), beats): ((usize, bool), u64),
        rng: &mut impl rand_core::RngCore,
        tx: &mut impl Transmit,
        observer: &mut impl Observer,
    ) {
        self.ensure_token_secret(rng);
        if let Some(local) = self.nodes.get_mut(LOCAL) {
            local.heartbeat = local.heartbeat.saturating_add(beats);
        }
        if now.as_millis() >= self.next_deadline {
            self.expire_and_collect(now, observer);
        }
        self.update_liveness(now, observer);
        self.gossip((picks, whole), rng, tx);
        self.send_beats(rng, tx);
        if whole {
            self.pushes_left = crate::push::PUSH_DATAGRAMS_PER_ROUND;
        }
        self.send_pushes(tx);
    }
}

#[cfg(test)]
mod tests;
