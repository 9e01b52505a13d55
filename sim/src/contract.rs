//! A checker of hearsay-core's event contract (`hearsay_core::event`):
//! each node's recorded events, replayed from an empty view, must give
//! exactly what its engine holds.
//!
//! [`EventContract::check`] reads the records each node added to its log
//! since the last call and applies them to a model of that observer's
//! view: per name, the one incarnation it was told of, its status and its
//! keys. An event that is not a legal step for the model (a second
//! `NodeJoined`, `NodeDead` about a node that is not alive, a key event
//! about a node never introduced…) is a violation. Then it compares every
//! model with its engine: the incarnations the engine holds as announced
//! must be the model's, with the same status and the same set keys and
//! values, so a transition the engine made without telling the observer is
//! a violation too. An incarnation introduced by `NodeReplaced` that the
//! engine still holds as pending (its first heartbeat advance not seen
//! yet) counts as alive, as the contract says.
//!
//! The simulation must record key events ([`crate::SimConfig::record_keys`])
//! as well as membership events, and the checker must see every record:
//! call `check` as often as you like (after every [`crate::Sim::step`] is
//! the strictest), but on one simulation from its start.

use std::collections::BTreeMap;
use std::fmt;
use std::format;
use std::string::String;
use std::vec::Vec;

use hearsay_core::NodeStatus;

use super::cluster::Sim;
use super::network::node_index;
use super::record::{Record, SimEvent, Subject};

/// What one observer was told of one node.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Told {
    generation: u64,
    status: NodeStatus,
    /// Set keys: value and version.
    keys: BTreeMap<String, (Vec<u8>, u64)>,
}

/// One observer's view, built from its events alone.
#[derive(Debug, Default, Clone)]
struct View {
    /// The observing engine's birth generation: a restarted node starts
    /// over from an empty view.
    born: u64,
    /// Told incarnations, by simulated node (one name each).
    nodes: BTreeMap<usize, Told>,
    /// How many of the node's log records were applied.
    read: usize,
}

/// A breach of the event contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The observing node.
    pub observer: usize,
    /// What went wrong, with the record or the state concerned.
    pub what: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "observer {}: {}", self.observer, self.what)
    }
}

/// The checker: one model per observing node. See the [module
/// documentation](self).
#[derive(Debug, Default)]
pub struct EventContract {
    views: Vec<View>,
    /// Events applied so far, over all observers.
    applied: u64,
}

impl EventContract {
    /// A checker that has seen nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many events the checker has applied so far (a run that checks
    /// nothing proves nothing).
    pub fn events_applied(&self) -> u64 {
        self.applied
    }

    /// Applies every record added since the last call, then compares each
    /// observer's model with its engine. The first violation found is
    /// returned.
    pub fn check(&mut self, sim: &Sim) -> Result<(), Violation> {
        while self.views.len() < sim.len() {
            self.views.push(View::default());
        }
        for i in 0..sim.len() {
            let born = sim.born_generation(i);
            let log = sim.log(i);
            let fail = |what: String| Violation { observer: i, what };
            let view = &mut self.views[i];
            while let Some(record) = log.get(view.read) {
                view.read += 1;
                if record.observer_generation != view.born {
                    view.born = record.observer_generation;
                    view.nodes.clear();
                }
                apply(view, record).map_err(|e| fail(format!("{e} (at {record:?})")))?;
                self.applied += 1;
            }
            if view.born != born {
                // Restarted, and the new engine has told nothing yet.
                view.born = born;
                view.nodes.clear();
            }
            compare(view, sim, i).map_err(fail)?;
        }
        Ok(())
    }
}

/// Applies one record to `view`, or says why it is not a legal step.
fn apply(view: &mut View, record: &Record) -> Result<(), String> {
    let nodes = &mut view.nodes;
    let get = |nodes: &mut BTreeMap<usize, Told>, s: Subject| -> Result<(), String> {
        match nodes.get(&s.node) {
            Some(t) if t.generation == s.generation => Ok(()),
            Some(t) => Err(format!(
                "about generation {} of node {} while told of generation {}",
                s.generation, s.node, t.generation
            )),
            None => Err(format!("about node {} never introduced", s.node)),
        }
    };
    let fresh = |generation| Told {
        generation,
        status: NodeStatus::Alive,
        keys: BTreeMap::new(),
    };
    match &record.event {
        SimEvent::Joined(s) => {
            if let Some(t) = nodes.get(&s.node) {
                return Err(format!(
                    "joined while told of generation {} ({:?})",
                    t.generation, t.status
                ));
            }
            nodes.insert(s.node, fresh(s.generation));
        }
        SimEvent::Replaced { old, new } => {
            get(nodes, *old)?;
            if new.node != old.node || new.generation <= old.generation {
                return Err("replaced by another name or an older generation".into());
            }
            nodes.insert(new.node, fresh(new.generation));
        }
        SimEvent::Dead(s) => step(nodes, *s, &[NodeStatus::Alive], NodeStatus::Dead)?,
        SimEvent::AliveAgain(s) => step(nodes, *s, &[NodeStatus::Dead], NodeStatus::Alive)?,
        SimEvent::Left(s) => step(
            nodes,
            *s,
            &[NodeStatus::Alive, NodeStatus::Dead],
            NodeStatus::Left,
        )?,
        SimEvent::Removed(s) => {
            get(nodes, *s)?;
            nodes.remove(&s.node);
        }
        SimEvent::KeySet {
            node,
            key,
            value,
            version,
        } => {
            get(nodes, *node)?;
            let t = nodes.get_mut(&node.node).ok_or("vanished")?;
            if let Some((_, v)) = t.keys.get(key)
                && v >= version
            {
                return Err(format!("key {key:?} set at v{version} after v{v}"));
            }
            t.keys.insert(key.clone(), (value.clone(), *version));
        }
        SimEvent::KeyDeleted { node, key, version } => {
            get(nodes, *node)?;
            let t = nodes.get_mut(&node.node).ok_or("vanished")?;
            match t.keys.remove(key) {
                Some((_, v)) if v < *version => {}
                Some((_, v)) => {
                    return Err(format!("key {key:?} deleted at v{version} after v{v}"));
                }
                None => return Err(format!("key {key:?} deleted but never set")),
            }
        }
        SimEvent::ResetApplied(s) => get(nodes, *s)?,
        // About the observer itself.
        SimEvent::KeyExpired { .. } | SimEvent::Refuted { .. } | SimEvent::NameConflict { .. } => {}
    }
    Ok(())
}

/// Moves a told node from one of `from` to `to`.
fn step(
    nodes: &mut BTreeMap<usize, Told>,
    s: Subject,
    from: &[NodeStatus],
    to: NodeStatus,
) -> Result<(), String> {
    match nodes.get_mut(&s.node) {
        Some(t) if t.generation == s.generation => {
            if !from.contains(&t.status) {
                return Err(format!("{:?} -> {to:?} is not a transition", t.status));
            }
            t.status = to;
            Ok(())
        }
        Some(t) => Err(format!(
            "about generation {} of node {} while told of generation {}",
            s.generation, s.node, t.generation
        )),
        None => Err(format!("about node {} never introduced", s.node)),
    }
}

/// Compares observer `i`'s model with its engine.
fn compare(view: &View, sim: &Sim, i: usize) -> Result<(), String> {
    let engine = sim.engine(i);
    let mut announced = BTreeMap::new();
    // Names the engine holds, with the generation, whatever their status.
    let mut held = BTreeMap::new();
    for n in engine.nodes() {
        if n.is_local() {
            continue;
        }
        let node = node_index(n.id().addr).ok_or("a node that is not simulated")?;
        held.insert(node, n.id().generation);
        if n.is_announced() {
            let status = match n.status() {
                NodeStatus::Pending => NodeStatus::Alive,
                other => other,
            };
            let keys: BTreeMap<String, (Vec<u8>, u64)> = n
                .entries()
                .map(|e| (String::from(e.key), (e.value.to_vec(), e.version)))
                .collect();
            announced.insert(node, (n.id().generation, status, keys));
        }
    }
    for (node, (generation, status, keys)) in &announced {
        let Some(t) = view.nodes.get(node) else {
            return Err(format!(
                "engine holds node {node} gen {generation} ({status:?}) announced, never told"
            ));
        };
        if t.generation != *generation || t.status != *status {
            return Err(format!(
                "node {node}: told gen {} {:?}, engine holds gen {generation} {status:?}",
                t.generation, t.status
            ));
        }
        if &t.keys != keys {
            return Err(format!(
                "node {node} gen {generation}: told keys {:?}, engine holds {:?}",
                t.keys.keys().collect::<Vec<_>>(),
                keys.keys().collect::<Vec<_>>()
            ));
        }
    }
    for (node, t) in &view.nodes {
        if !announced.contains_key(node) {
            return Err(format!(
                "told of node {node} gen {} ({:?}), which the engine {}",
                t.generation,
                t.status,
                match held.get(node) {
                    Some(g) => format!("holds unannounced, at gen {g}"),
                    None => "no longer holds".into(),
                }
            ));
        }
    }
    Ok(())
}

/// A checker that every value an engine exposes is one its owner wrote,
/// whole: no torn or made-up value is ever readable (issue 15's values in
/// chunks).
///
/// Writes go through [`WrittenValues::set`], which records a hash of each
/// value under its owner's incarnation and the version the write took;
/// [`WrittenValues::check`] walks every running engine's live entries and
/// compares each with the write of that very version. An entry is
/// verified once per observer and version, so checking after every step
/// costs a walk of the entries, not a hash of every value.
#[derive(Debug, Default)]
pub struct WrittenValues {
    /// Value hash by owner node, generation and version.
    written: BTreeMap<(usize, u64, u64), u64>,
    /// Entries already verified: observer, owner, generation, version.
    verified: std::collections::BTreeSet<(usize, usize, u64, u64)>,
    /// Entries verified so far.
    checked: u64,
}

impl WrittenValues {
    /// A checker that knows of no write yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Entries verified so far (a run that checks nothing proves nothing).
    pub fn checked(&self) -> u64 {
        self.checked
    }

    /// Sets `key` to `value` on node `i` ([`Sim::set`]) and records the
    /// write.
    pub fn set(
        &mut self,
        sim: &mut Sim,
        i: usize,
        key: &str,
        value: &[u8],
    ) -> Result<u64, hearsay_core::WriteError> {
        let version = sim.set(i, key, value)?;
        self.written
            .insert((i, sim.generation(i), version), value_hash(value));
        Ok(version)
    }

    /// Sets `key` to `value` on node `i` for `ttl` ([`Sim::set_with_ttl`])
    /// and records the write.
    pub fn set_with_ttl(
        &mut self,
        sim: &mut Sim,
        i: usize,
        key: &str,
        value: &[u8],
        ttl: core::time::Duration,
    ) -> Result<u64, hearsay_core::WriteError> {
        let version = sim.set_with_ttl(i, key, value, ttl)?;
        self.written
            .insert((i, sim.generation(i), version), value_hash(value));
        Ok(version)
    }

    /// Checks every live entry every running engine holds of any node
    /// (its own included) against the write of its version.
    pub fn check(&mut self, sim: &Sim) -> Result<(), Violation> {
        for observer in sim.running() {
            for n in sim.engine(observer).nodes() {
                let Some(owner) = node_index(n.id().addr) else {
                    continue;
                };
                let generation = n.id().generation;
                for e in n.entries() {
                    let at = (observer, owner, generation, e.version);
                    if self.verified.contains(&at) {
                        continue;
                    }
                    let wrote = self.written.get(&(owner, generation, e.version));
                    if wrote != Some(&value_hash(e.value)) {
                        return Err(Violation {
                            observer,
                            what: format!(
                                "exposes {} bytes for key {:?} of node {owner} at version {} \
                                 that its owner did not write",
                                e.value.len(),
                                e.key,
                                e.version
                            ),
                        });
                    }
                    self.verified.insert(at);
                    self.checked += 1;
                }
            }
        }
        Ok(())
    }
}

/// FNV-1a 64 of a value with its length: enough to tell one written value
/// from another in a test.
fn value_hash(v: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ v.len() as u64;
    for &b in v {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}
