//! What the observers record: owned copies of the engines' events, with the
//! virtual time they happened at, and the trace hash of the whole run.

use std::string::String;
use std::time::Duration;
use std::vec::Vec;

use hearsay_core::Event;
use hearsay_core::NodeId;

use super::network::node_index;
use super::queue::Micros;

/// One incarnation of a simulated node, as named in an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subject {
    /// Index of the simulated node (`usize::MAX` for an address that is not
    /// a simulated node's, which a correct engine never reports).
    pub node: usize,
    /// The incarnation's generation.
    pub generation: u64,
}

impl Subject {
    pub(crate) fn of(id: &NodeId) -> Self {
        Subject {
            node: node_index(id.addr).unwrap_or(usize::MAX),
            generation: id.generation,
        }
    }
}

/// An owned copy of an [`Event`], naming nodes by [`Subject`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimEvent {
    /// [`Event::NodeJoined`].
    Joined(Subject),
    /// [`Event::NodeAliveAgain`].
    AliveAgain(Subject),
    /// [`Event::NodeDead`].
    Dead(Subject),
    /// [`Event::NodeLeft`].
    Left(Subject),
    /// [`Event::NodeRemoved`].
    Removed(Subject),
    /// [`Event::NodeReplaced`].
    Replaced {
        /// The superseded incarnation.
        old: Subject,
        /// The incarnation that replaced it.
        new: Subject,
    },
    /// [`Event::KeySet`].
    KeySet {
        /// Owner of the key.
        node: Subject,
        /// The key.
        key: String,
        /// Its new value.
        value: Vec<u8>,
        /// Version of the change.
        version: u64,
    },
    /// [`Event::KeyDeleted`].
    KeyDeleted {
        /// Owner of the key.
        node: Subject,
        /// The key.
        key: String,
        /// Version of the deletion (or of the reset that removed the key).
        version: u64,
    },
    /// [`Event::KeyExpired`] (reported by the owner itself).
    KeyExpired {
        /// The owner.
        node: Subject,
        /// The key.
        key: String,
        /// Version of the deletion.
        version: u64,
    },
    /// [`Event::ResetApplied`].
    ResetApplied(Subject),
    /// [`Event::Refuted`] (reported by the node itself).
    Refuted {
        /// The incarnation the node was.
        old: Subject,
        /// The generation it took.
        new: Subject,
    },
    /// [`Event::NameConflict`] (reported by the node itself).
    NameConflict {
        /// The node.
        local: Subject,
        /// The other process's id.
        other: Subject,
    },
}

impl SimEvent {
    /// The node the event is about (for a replacement, the old incarnation).
    pub fn subject(&self) -> Subject {
        match self {
            SimEvent::Joined(s)
            | SimEvent::AliveAgain(s)
            | SimEvent::Dead(s)
            | SimEvent::Left(s)
            | SimEvent::Removed(s)
            | SimEvent::ResetApplied(s) => *s,
            SimEvent::Replaced { old, .. } | SimEvent::Refuted { old, .. } => *old,
            SimEvent::NameConflict { local, .. } => *local,
            SimEvent::KeySet { node, .. }
            | SimEvent::KeyDeleted { node, .. }
            | SimEvent::KeyExpired { node, .. } => *node,
        }
    }

    /// Whether the event is about simulated node `node` (for a replacement,
    /// either incarnation).
    pub fn involves(&self, node: usize) -> bool {
        match self {
            SimEvent::Replaced { old, new } | SimEvent::Refuted { old, new } => {
                old.node == node || new.node == node
            }
            SimEvent::NameConflict { local, other } => local.node == node || other.node == node,
            e => e.subject().node == node,
        }
    }

    /// Whether this is a membership event (joined, alive again, dead, left,
    /// removed, replaced) rather than a key event.
    pub fn is_membership(&self) -> bool {
        matches!(
            self,
            SimEvent::Joined(_)
                | SimEvent::AliveAgain(_)
                | SimEvent::Dead(_)
                | SimEvent::Left(_)
                | SimEvent::Removed(_)
                | SimEvent::Replaced { .. }
        )
    }

    /// A short name of the kind: `"joined"`, `"alive-again"`, `"dead"`,
    /// `"left"`, `"removed"`, `"replaced"`, `"key-set"`, `"key-deleted"`,
    /// `"key-expired"`, `"reset"`, `"refuted"` or `"name-conflict"`.
    pub fn kind(&self) -> &'static str {
        match self {
            SimEvent::Joined(_) => "joined",
            SimEvent::AliveAgain(_) => "alive-again",
            SimEvent::Dead(_) => "dead",
            SimEvent::Left(_) => "left",
            SimEvent::Removed(_) => "removed",
            SimEvent::Replaced { .. } => "replaced",
            SimEvent::KeySet { .. } => "key-set",
            SimEvent::KeyDeleted { .. } => "key-deleted",
            SimEvent::KeyExpired { .. } => "key-expired",
            SimEvent::ResetApplied(_) => "reset",
            SimEvent::Refuted { .. } => "refuted",
            SimEvent::NameConflict { .. } => "name-conflict",
        }
    }

    /// The owned copy of `event`; `None` for a kind of event this
    /// simulator does not know yet (`Event` is non-exhaustive).
    pub fn from_event(event: &Event<'_>) -> Option<Self> {
        let s = Subject::of;
        Some(match *event {
            Event::NodeJoined { node } => SimEvent::Joined(s(node)),
            Event::NodeAliveAgain { node } => SimEvent::AliveAgain(s(node)),
            Event::NodeDead { node } => SimEvent::Dead(s(node)),
            Event::NodeLeft { node } => SimEvent::Left(s(node)),
            Event::NodeRemoved { node } => SimEvent::Removed(s(node)),
            Event::NodeReplaced { old, new } => SimEvent::Replaced {
                old: s(old),
                new: s(new),
            },
            Event::KeySet {
                node,
                key,
                value,
                version,
            } => SimEvent::KeySet {
                node: s(node),
                key: key.into(),
                value: value.into(),
                version,
            },
            Event::KeyDeleted { node, key, version } => SimEvent::KeyDeleted {
                node: s(node),
                key: key.into(),
                version,
            },
            Event::KeyExpired {
                node, key, version, ..
            } => SimEvent::KeyExpired {
                node: s(node),
                key: key.into(),
                version,
            },
            Event::ResetApplied { node } => SimEvent::ResetApplied(s(node)),
            Event::Refuted { old, new } => SimEvent::Refuted {
                old: s(old),
                new: s(new),
            },
            Event::NameConflict { local, other } => SimEvent::NameConflict {
                local: s(local),
                other: s(other),
            },
            _ => return None,
        })
    }
}

/// One event as one node's observer saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Virtual time since the start of the simulation.
    pub at: Duration,
    /// Generation of the observing incarnation: a node's log runs across its
    /// restarts, and a restarted node starts from nothing.
    pub observer_generation: u64,
    /// What happened.
    pub event: SimEvent,
}

/// A running 64-bit fingerprint of everything that happened: every datagram
/// (time, endpoints, bytes), every event, every fault injected. Two runs
/// with the same seed and the same calls end with the same value.
#[derive(Debug, Clone)]
pub(crate) struct TraceHash(u64);

impl TraceHash {
    pub(crate) fn new() -> Self {
        TraceHash(0x6a09_e667_f3bc_c908)
    }

    pub(crate) fn u64(&mut self, v: u64) {
        self.0 = (self.0 ^ v)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(29);
    }

    pub(crate) fn bytes(&mut self, b: &[u8]) {
        let mut chunks = b.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.u64(u64::from_le_bytes(w));
        }
        let mut w = [0u8; 8];
        let rest = chunks.remainder();
        w[..rest.len()].copy_from_slice(rest);
        self.u64(u64::from_le_bytes(w));
        self.u64(b.len() as u64);
    }

    /// Hashes `event` as seen by `observer` at `at`.
    pub(crate) fn event(&mut self, observer: usize, at: Micros, event: &Event<'_>) {
        let id = |h: &mut Self, n: &NodeId| {
            h.bytes(n.name.as_str().as_bytes());
            h.u64(n.generation);
        };
        self.u64(0xe7e7);
        self.u64(at);
        self.u64(observer as u64);
        match *event {
            Event::NodeJoined { node } => {
                self.u64(1);
                id(self, node);
            }
            Event::NodeAliveAgain { node } => {
                self.u64(2);
                id(self, node);
            }
            Event::NodeDead { node } => {
                self.u64(3);
                id(self, node);
            }
            Event::NodeLeft { node } => {
                self.u64(4);
                id(self, node);
            }
            Event::NodeRemoved { node } => {
                self.u64(5);
                id(self, node);
            }
            Event::NodeReplaced { old, new } => {
                self.u64(6);
                id(self, old);
                id(self, new);
            }
            Event::KeySet {
                node,
                key,
                value,
                version,
            } => {
                self.u64(7);
                id(self, node);
                self.bytes(key.as_bytes());
                self.bytes(value);
                self.u64(version);
            }
            Event::KeyDeleted { node, key, version } => {
                self.u64(8);
                id(self, node);
                self.bytes(key.as_bytes());
                self.u64(version);
            }
            Event::KeyExpired {
                node,
                key,
                value,
                version,
            } => {
                self.u64(9);
                id(self, node);
                self.bytes(key.as_bytes());
                self.bytes(value);
                self.u64(version);
            }
            Event::ResetApplied { node } => {
                self.u64(10);
                id(self, node);
            }
            Event::Refuted { old, new } => {
                self.u64(11);
                id(self, old);
                id(self, new);
            }
            Event::NameConflict { local, other } => {
                self.u64(12);
                id(self, local);
                id(self, other);
            }
            _ => self.u64(255),
        }
    }

    pub(crate) fn finish(&self) -> u64 {
        // MurmurHash3's fmix64, so every input bit reaches every output bit.
        let mut k = self.0;
        k ^= k >> 33;
        k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
        k ^= k >> 33;
        k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        k ^ (k >> 33)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_hash_sees_every_byte_and_the_length() {
        let h = |b: &[u8]| {
            let mut t = TraceHash::new();
            t.bytes(b);
            t.finish()
        };
        assert_eq!(h(b"abc"), h(b"abc"));
        assert_ne!(h(b"abc"), h(b"abd"));
        assert_ne!(h(b"abc"), h(b"abc\0"));
        assert_ne!(h(b"0123456789"), h(b"0123456788"));
    }
}
