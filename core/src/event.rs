//! Events reported synchronously to the caller's [`Observer`].
//!
//! The engine calls the observer while it applies a change, with borrowed
//! views of the new state: nothing is queued, so nothing can be dropped. An
//! observer that needs to keep data copies it.

use crate::id::NodeId;

/// A change the engine made to its view of the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A node's heartbeat was seen to advance for the first time: it is live.
    NodeJoined {
        /// The node.
        node: &'a NodeId,
    },
    /// A node that was dead is heartbeating again.
    NodeAliveAgain {
        /// The node.
        node: &'a NodeId,
    },
    /// A live node's phi reached the threshold.
    NodeDead {
        /// The node.
        node: &'a NodeId,
    },
    /// A node announced that it is leaving; it will not be reported dead.
    NodeLeft {
        /// The node.
        node: &'a NodeId,
    },
    /// A dead, departed or never-live node's state was removed after the
    /// dead grace.
    NodeRemoved {
        /// The node.
        node: &'a NodeId,
    },
    /// A newer generation of a name superseded an older one, whose state was
    /// dropped at once.
    NodeReplaced {
        /// The superseded incarnation.
        old: &'a NodeId,
        /// The incarnation that replaced it.
        new: &'a NodeId,
    },
    /// A remote key got a new value.
    KeySet {
        /// Owner of the key.
        node: &'a NodeId,
        /// The key.
        key: &'a str,
        /// Its new value.
        value: &'a [u8],
        /// Version of the change in the owner's namespace.
        version: u64,
    },
    /// A remote key was deleted (or, during a reset, found to be gone).
    KeyDeleted {
        /// Owner of the key.
        node: &'a NodeId,
        /// The key.
        key: &'a str,
        /// Version of the deletion, or of the reset that removed the key.
        version: u64,
    },
    /// A local key reached the end of its time-to-live and was deleted.
    KeyExpired {
        /// This node.
        node: &'a NodeId,
        /// The key.
        key: &'a str,
        /// The value it held.
        value: &'a [u8],
        /// Version of the deletion.
        version: u64,
    },
    /// A node's state was rebuilt from a reset because this node had fallen
    /// behind its garbage collection.
    ResetApplied {
        /// The node whose state was reset.
        node: &'a NodeId,
    },
    /// This node heard of itself as something it is not — its name at a
    /// higher generation (an earlier incarnation whose clock was ahead, or
    /// a forged id), or its own namespace at a higher version, heartbeat or
    /// collection point than it holds — and took a new generation above
    /// what it heard. Peers replace every older incarnation with it, so the
    /// node's keys (which it keeps) win everywhere again.
    Refuted {
        /// The id this node had.
        old: &'a NodeId,
        /// The id it has from now on.
        new: &'a NodeId,
    },
    /// Another live process uses this node's name: the two kept taking
    /// generations above each other. This node stops doing so for the dead
    /// grace; peers keep whichever generation is higher, so one of the two
    /// is unreachable by name until one is stopped or renamed.
    NameConflict {
        /// This node's id.
        local: &'a NodeId,
        /// The other process's id, as last heard.
        other: &'a NodeId,
    },
}

/// Receives [`Event`]s as they happen.
pub trait Observer {
    /// Called once per change, synchronously.
    fn on_event(&mut self, event: &Event<'_>);
}

/// Ignores every event.
impl Observer for () {
    fn on_event(&mut self, _event: &Event<'_>) {}
}

impl<F: FnMut(&Event<'_>)> Observer for F {
    fn on_event(&mut self, event: &Event<'_>) {
        self(event)
    }
}
