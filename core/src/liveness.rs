//! Liveness: heartbeats in, verdicts out.
//!
//! A node's heartbeat advancing here feeds its failure detector and keeps
//! it alive; its deadline (last heartbeat plus the detector's adaptive
//! timeout) passing convicts it. Dead and departed nodes are hidden after
//! half the dead grace and removed after all of it; nodes only heard of
//! (pending) are dropped after `pending_timeout`. A local stall of this
//! node ([`crate::stall`]) restarts its live peers' silence, so the pause is
//! not taken for theirs.

use crate::counters::bump;
use crate::engine::*;
use crate::event::{Event, Observer};
use crate::memory::Memory;
use crate::nodes::{NodeSlot, NodeStatus};
use crate::stall::{LocalStall, stall_bound};
use crate::time::Instant;

impl<M: Memory> Engine<M> {
    /// Re-evaluates liveness only (phi against the threshold, and the
    /// lifecycle of dead, departed and never-live nodes), without gossiping
    /// or advancing the heartbeat. Lower-level, like [`Engine::tick`]:
    /// [`Engine::handle_timeout`] runs liveness exactly when it is due, which
    /// is what runtimes use; `sweep` is for callers driving `tick` by hand.
    pub fn sweep(&mut self, now: Instant, observer: &mut impl Observer) {
        self.note_time(now);
        // Nothing is due before `next_sweep` (kept by every change that
        // sets a deadline); ticks scan in full regardless.
        if now >= self.next_sweep {
            self.update_liveness(now, observer);
        }
    }

    /// Phi checks, and the lifecycle of dead, departed and never-live nodes.
    pub(crate) fn update_liveness(&mut self, now: Instant, observer: &mut impl Observer) {
        let grace = self.config.dead_grace;
        let half_grace = grace.checked_div(2).unwrap_or(grace);
        let mut next = Instant(u64::MAX);
        let mut pos = 0usize;
        while let Some((slot, n)) = self.nodes.at(pos) {
            pos = pos.saturating_add(1);
            if slot == LOCAL {
                continue;
            }
            let age = now.saturating_since(n.since);
            match n.status {
                NodeStatus::Alive => {
                    // Phi grows with silence, so "phi has reached the
                    // threshold" is "the deadline has passed".
                    if now >= n.deadline
                        && let Some(n) = self.nodes.get_mut(slot)
                    {
                        n.status = NodeStatus::Dead;
                        n.since = now;
                        observer.on_event(&Event::NodeDead { node: &n.id });
                    }
                }
                NodeStatus::Dead | NodeStatus::Left if age >= grace => {
                    if let Some(n) = self.nodes.get(slot).filter(|n| n.announced) {
                        observer.on_event(&Event::NodeRemoved { node: &n.id });
                    }
                    self.forget(slot);
                    // The ring shifted down by one.
                    pos = pos.saturating_sub(1);
                    continue;
                }
                NodeStatus::Pending if age >= self.config.pending_timeout => {
                    // Never seen alive: told of only if it replaced an
                    // incarnation the observer knew, and then it ends here.
                    if let Some(n) = self.nodes.get(slot).filter(|n| n.announced) {
                        observer.on_event(&Event::NodeRemoved { node: &n.id });
                    }
                    // Never seen alive: nothing to protect from stale
                    // gossip, so it is not remembered as removed.
                    self.drop_node(slot);
                    bump(&mut self.counters.pending_dropped);
                    pos = pos.saturating_sub(1);
                    continue;
                }
                NodeStatus::Dead | NodeStatus::Left if age >= half_grace && !n.hidden => {
                    if let Some(n) = self.nodes.get_mut(slot) {
                        n.hidden = true;
                    }
                    self.nodes.listing_changed();
                }
                _ => {}
            }
            if let Some(n) = self.nodes.get(slot) {
                next = next.min(self.next_check(n));
            }
        }
        self.next_sweep = next;
    }

    /// When `n` next needs the liveness sweep's attention.
    pub(crate) fn next_check(&self, n: &NodeSlot) -> Instant {
        let grace = self.config.dead_grace;
        match n.status {
            NodeStatus::Alive => n.deadline,
            NodeStatus::Dead | NodeStatus::Left if !n.hidden => n
                .since
                .saturating_add(grace.checked_div(2).unwrap_or(grace)),
            NodeStatus::Pending => n.since.saturating_add(self.config.pending_timeout),
            _ => n.since.saturating_add(grace),
        }
    }

    /// Brings the next sweep forward if `slot` needs it sooner.
    pub(crate) fn due_check(&mut self, slot: u16) {
        if let Some(at) = self.nodes.get(slot).map(|n| self.next_check(n)) {
            self.next_sweep = self.next_sweep.min(at);
        }
    }

    /// Records `heartbeat` for `slot`; an advance is a heartbeat arrival
    /// for the failure detector and makes a pending or dead node live.
    pub(crate) fn observe_heartbeat(
        &mut self,
        slot: u16,
        heartbeat: u64,
        now: Instant,
        observer: &mut impl Observer,
    ) {
        if slot == LOCAL {
            return;
        }
        let detector = self.config.detector;
        // Every node is expected to beat as this one does (the plausibility
        // check assumes it too); if one does not, its lateness settles at a
        // bound and the detector works as without it.
        let period = self.beat_period_ms();
        let Some(n) = self.nodes.get_mut(slot) else {
            return;
        };
        if heartbeat <= n.heartbeat {
            return;
        }
        let advanced = heartbeat.saturating_sub(n.heartbeat);
        n.heartbeat = heartbeat;
        let event = match n.status {
            NodeStatus::Pending => Some(true),
            NodeStatus::Dead => Some(false),
            NodeStatus::Alive | NodeStatus::Left => None,
        };
        let mut shown = false;
        let mut joined = false;
        if let Some(first) = event {
            n.status = NodeStatus::Alive;
            n.since = now;
            shown = core::mem::replace(&mut n.hidden, false);
            if !first {
                observer.on_event(&Event::NodeAliveAgain { node: &n.id });
            } else if !n.announced {
                // Seen alive for the first time: the one event that
                // introduces it, then its keys. (A restart of a node the
                // observer knew was introduced by `NodeReplaced` already.)
                n.announced = true;
                joined = true;
                observer.on_event(&Event::NodeJoined { node: &n.id });
            }
        }
        if shown {
            self.nodes.listing_changed();
        }
        if joined {
            self.announce_entries(slot, observer);
        }
        let y = self.threshold_y;
        let timeout = self
            .nodes
            .record_heartbeat(slot, &detector, now, Some((advanced, period)))
            .and_then(|d| d.timeout_with(&detector, y));
        if let Some(n) = self.nodes.get_mut(slot) {
            n.set_deadlines(now, timeout);
        }
        self.due_check(slot);
    }

    /// Notes the time brought by a call (the engine's latest time, `now`,
    /// never goes back); if it reveals a local stall,
    /// counts it and restarts the silence of the live peers (see the module
    /// documentation).
    pub(crate) fn note_time(&mut self, now: Instant) {
        self.now = self.now.max(now);
        let bound = stall_bound(self.config.gossip_interval);
        let Some((prev, gap)) = self.stall.note(now, bound) else {
            return;
        };
        let restarted_peers = self.restart_silences(prev, now);
        bump(&mut self.counters.local_stalls);
        self.stall.record(LocalStall {
            noticed_at: now,
            length: gap,
            restarted_peers,
        });
    }

    /// Restarts at `now` the silence of every live peer whose deadline had
    /// not passed at `running_until` (the last time the engine ran before
    /// the stall) and was not restarted already; returns how many.
    pub(crate) fn restart_silences(&mut self, running_until: Instant, now: Instant) -> u32 {
        let detector = self.config.detector;
        let mut restarted = 0u32;
        let mut pos = 0usize;
        while let Some((slot, n)) = self.nodes.at(pos) {
            pos = pos.saturating_add(1);
            if slot == LOCAL || n.status != NodeStatus::Alive || n.deadline <= running_until {
                continue;
            }
            let Some(d) = self.nodes.detector_mut(slot) else {
                continue;
            };
            if d.is_restarted() {
                continue;
            }
            d.restart(now);
            let timeout = d.timeout(&detector);
            if let Some(n) = self.nodes.get_mut(slot) {
                // Deadlines only move later here, so the sweep's earliest
                // due time stays a lower bound and needs no update.
                n.set_deadlines(now, timeout);
                restarted = restarted.saturating_add(1);
            }
        }
        restarted
    }

    /// The most recent local stall since [`Engine::new`], if any; their
    /// number is [`crate::Counters::local_stalls`]. Runtimes log it.
    pub fn last_stall(&self) -> Option<LocalStall> {
        self.stall.latest()
    }
}
