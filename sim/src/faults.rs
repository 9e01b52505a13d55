//! The fault scenarios of issue 13 that replace the crashes of a
//! measurement ([`super::measure`]): one-way partitions that flip, and
//! nodes whose input is lossy. Each plays its fault on a converged cluster,
//! lifts it, waits for full membership again, and sorts every `NodeDead`
//! report made from the fault's start to the end of the run by what the
//! scenario expects of it.
//!
//! These are Rapid's scenarios (Suresh et al., USENIX ATC 2018): a one-way
//! partition in which half of the cluster stops hearing the other half
//! while still being heard, reversed every 20 s; and a few nodes that lose
//! most of what is sent to them. A gossip failure detector on the deaf
//! side convicts the far side (it hears nothing of it: that is expected);
//! what must not happen is healthy nodes convicting nodes they can hear,
//! or nodes they share a side with. The reports keep the expected
//! convictions apart from those, and count flapping (an observer reporting
//! the same node dead, alive again, dead again), which the flips cause
//! across the cut by design and which should not happen anywhere else.

use std::string::{String, ToString};
use std::time::Duration;
use std::vec::Vec;

use super::cluster::Sim;
use super::metrics::Conviction;

/// What phase 3 of a measurement does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Crashes one at a time, 20 gossip intervals apart (the default).
    SpacedCrashes,
    /// `--crash-count` / `--crash-together`: that many crashes at one
    /// instant.
    CrashesTogether,
    /// `--mass-crash`: a fraction of the non-seed nodes at one instant.
    MassCrash,
    /// `--flip-partitions`: one-way partitions between two halves, flipped.
    FlipPartitions,
    /// `--lossy-nodes`: a few nodes lose most of their input.
    LossyNodes,
}

impl Fault {
    /// The name the JSON report gives it: `spaced-crashes`,
    /// `crashes-together`, `mass-crash`, `flip-partitions`, `lossy-nodes`.
    pub fn name(self) -> &'static str {
        match self {
            Fault::SpacedCrashes => "spaced-crashes",
            Fault::CrashesTogether => "crashes-together",
            Fault::MassCrash => "mass-crash",
            Fault::FlipPartitions => "flip-partitions",
            Fault::LossyNodes => "lossy-nodes",
        }
    }

    /// Whether the phase crashes nodes.
    pub fn crashes(self) -> bool {
        matches!(
            self,
            Fault::SpacedCrashes | Fault::CrashesTogether | Fault::MassCrash
        )
    }
}

/// At most this many false positives are listed by name in a report (the
/// counts are complete).
pub const LISTED: usize = 20;

/// A conviction named for a report: (seconds since the start, observer,
/// node reported dead).
pub type Named = (f64, String, String);

fn named(sim: &Sim, c: &Conviction) -> Named {
    let subject = if c.subject.node < sim.len() {
        sim.name(c.subject.node).to_string()
    } else {
        "?".to_string()
    };
    (
        c.at.as_secs_f64(),
        sim.name(c.observer).to_string(),
        subject,
    )
}

/// What the flipping one-way partitions did.
#[derive(Debug, Clone, PartialEq)]
pub struct FlipReport {
    /// How long each one-way partition lasted.
    pub period: Duration,
    /// How many one-way partitions there were (the direction reverses
    /// between two).
    pub flips: u32,
    /// Nodes in half A (the even-numbered ones, deaf first) and half B
    /// (the odd-numbered).
    pub sides: (usize, usize),
    /// Convictions of a node of the observer's own half: the false
    /// positives of this scenario (target 0).
    pub same_side: usize,
    /// Of which by an observer of the hearing half (the one whose
    /// datagrams were dropped, which still heard the other half) while the
    /// partitions lasted.
    pub same_side_hearing: usize,
    /// Convictions, by a node of the half that could not hear the other,
    /// of a node of the other half: expected, at most once per pair and
    /// one-way partition.
    pub deaf_side: usize,
    /// Convictions of a node of the other half by an observer that could
    /// hear it (it was on the hearing side then): not expected.
    pub hearing_side: usize,
    /// Convictions of a node of the other half after the last partition
    /// (everyone hears everyone again): not expected.
    pub after_partitions: usize,
    /// The first [`LISTED`] convictions counted in `hearing_side` or
    /// `after_partitions`.
    pub cross_list: Vec<Named>,
    /// Flapping pairs (an observer reporting a node dead twice or more)
    /// within one half (target 0).
    pub flapping_same_side: usize,
    /// Flapping pairs across the halves: expected for every pair once each
    /// half has been deaf twice (from 4 one-way partitions on).
    pub flapping_cross_side: usize,
    /// From the last partition's end to every running node listing every
    /// other alive, in virtual seconds (`None`: not within the limit).
    pub heal_seconds: Option<f64>,
    /// The first [`LISTED`] same-side convictions.
    pub same_side_list: Vec<Named>,
}

/// Half A of the flipping partitions: the even-numbered nodes.
pub fn in_half_a(node: usize) -> bool {
    node.is_multiple_of(2)
}

/// Plays `flips` one-way partitions of `period` each between the
/// even-numbered nodes (half A) and the odd-numbered (half B): first A
/// cannot hear B (datagrams from B to A are dropped, B still hears A),
/// then the reverse, and so on; then no partition, until every running
/// node lists every other alive (checked every tenth of an interval, for
/// at most `limit`).
pub fn flip_partitions(sim: &mut Sim, period: Duration, flips: u32, limit: Duration) -> FlipReport {
    let n = sim.len();
    let a: Vec<usize> = (0..n).filter(|&i| in_half_a(i)).collect();
    let b: Vec<usize> = (0..n).filter(|&i| !in_half_a(i)).collect();
    let start = sim.now();
    let first = sim.convictions().len();
    for k in 0..flips {
        let (deaf, far) = if k % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let cut = sim.partition_one_way(far, deaf);
        sim.run_for(period);
        sim.heal(cut);
    }
    let healed_at = sim.now();
    let heal = sim.wait_for(limit, sim.interval() / 10, Sim::converged);

    let mut report = FlipReport {
        period,
        flips,
        sides: (a.len(), b.len()),
        same_side: 0,
        same_side_hearing: 0,
        deaf_side: 0,
        hearing_side: 0,
        after_partitions: 0,
        cross_list: Vec::new(),
        flapping_same_side: 0,
        flapping_cross_side: 0,
        heal_seconds: heal.map(|d| d.as_secs_f64()),
        same_side_list: Vec::new(),
    };
    let period_us = period.as_micros().max(1);
    // Whether half A was deaf when `at` came (partition k, from 0, made A
    // deaf when k is even); `None` once the partitions were over.
    let a_deaf = |at: Duration| {
        (at < healed_at)
            .then(|| (at.saturating_sub(start).as_micros() / period_us).is_multiple_of(2))
    };
    for c in &sim.convictions()[first..] {
        let observer_a = in_half_a(c.observer);
        let a_deaf = a_deaf(c.at);
        if observer_a == in_half_a(c.subject.node) {
            report.same_side += 1;
            if a_deaf.is_some_and(|a_deaf| observer_a != a_deaf) {
                report.same_side_hearing += 1;
            }
            if report.same_side_list.len() < LISTED {
                report.same_side_list.push(named(sim, c));
            }
        } else {
            match a_deaf {
                Some(a_deaf) if observer_a == a_deaf => {
                    report.deaf_side += 1;
                    continue;
                }
                Some(_) => report.hearing_side += 1,
                None => report.after_partitions += 1,
            }
            if report.cross_list.len() < LISTED {
                report.cross_list.push(named(sim, c));
            }
        }
    }
    let flapping = super::metrics::flapping(&sim.convictions()[first..]);
    for f in flapping {
        if in_half_a(f.observer) == in_half_a(f.subject.node) {
            report.flapping_same_side += 1;
        } else {
            report.flapping_cross_side += 1;
        }
    }
    report
}

/// What the lossy nodes did and suffered.
#[derive(Debug, Clone, PartialEq)]
pub struct LossyReport {
    /// The lossy nodes, by name.
    pub nodes: Vec<String>,
    /// Loss on every datagram sent to a lossy node (its input).
    pub loss: f64,
    /// How long their input was lossy.
    pub duration: Duration,
    /// Convictions of a healthy (not lossy) node, by anyone: the false
    /// positives of this scenario (target 0).
    pub healthy_convicted: usize,
    /// Of which by a lossy observer (Rapid's point: a node that hears
    /// badly should not convict healthy ones).
    pub healthy_convicted_by_lossy: usize,
    /// Convictions of a lossy node by a healthy observer (its output is
    /// intact, so its heartbeats do spread).
    pub lossy_convicted_by_healthy: usize,
    /// Flapping pairs whose node is healthy, any observer (target 0).
    pub flapping_healthy: usize,
    /// Flapping pairs of a healthy observer and a lossy node.
    pub flapping_lossy: usize,
    /// From the end of the loss to every running node listing every other
    /// alive, in virtual seconds (`None`: not within the limit).
    pub heal_seconds: Option<f64>,
    /// The first [`LISTED`] convictions of healthy nodes.
    pub healthy_convicted_list: Vec<Named>,
}

/// Makes every datagram sent to one of `lossy` lost with probability
/// `loss` on top of the network's own loss (both drawn independently), for
/// `duration`; then restores their links and waits until every running
/// node lists every other alive (checked every tenth of an interval, for
/// at most `limit`).
pub fn lossy_nodes(
    sim: &mut Sim,
    lossy: &[usize],
    loss: f64,
    duration: Duration,
    limit: Duration,
) -> LossyReport {
    let n = sim.len();
    let mut is_lossy = std::vec![false; n];
    for &l in lossy {
        is_lossy[l] = true;
    }
    let first = sim.convictions().len();
    let mut model = *sim.network();
    model.loss = 1.0 - (1.0 - model.loss) * (1.0 - loss);
    for &l in lossy {
        for j in (0..n).filter(|&j| j != l) {
            sim.set_link(j, l, Some(model));
        }
    }
    sim.run_for(duration);
    for &l in lossy {
        for j in (0..n).filter(|&j| j != l) {
            sim.set_link(j, l, None);
        }
    }
    let heal = sim.wait_for(limit, sim.interval() / 10, Sim::converged);

    let lossy_at = |i: usize| is_lossy.get(i).copied().unwrap_or(false);
    let mut report = LossyReport {
        nodes: lossy.iter().map(|&l| sim.name(l).to_string()).collect(),
        loss,
        duration,
        healthy_convicted: 0,
        healthy_convicted_by_lossy: 0,
        lossy_convicted_by_healthy: 0,
        flapping_healthy: 0,
        flapping_lossy: 0,
        heal_seconds: heal.map(|d| d.as_secs_f64()),
        healthy_convicted_list: Vec::new(),
    };
    for c in &sim.convictions()[first..] {
        if !lossy_at(c.subject.node) {
            report.healthy_convicted += 1;
            if lossy_at(c.observer) {
                report.healthy_convicted_by_lossy += 1;
            }
            if report.healthy_convicted_list.len() < LISTED {
                report.healthy_convicted_list.push(named(sim, c));
            }
        } else if !lossy_at(c.observer) {
            report.lossy_convicted_by_healthy += 1;
        }
    }
    for f in super::metrics::flapping(&sim.convictions()[first..]) {
        if !lossy_at(f.subject.node) {
            report.flapping_healthy += 1;
        } else if !lossy_at(f.observer) {
            report.flapping_lossy += 1;
        }
    }
    report
}
