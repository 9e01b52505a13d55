//! Events reported synchronously to the caller's [`Observer`], and the
//! contract they keep.
//!
//! The engine calls the observer while it applies a change, with borrowed
//! views of the new state: nothing is queued, so nothing can be dropped. An
//! observer that needs to keep data copies it.
//!
//! # The event contract
//!
//! An observer that starts with an empty view and applies every event it
//! is given holds, after each call into the engine, exactly the remote
//! incarnations the engine holds as *announced*
//! ([`NodeView::is_announced`](crate::NodeView::is_announced)), each with
//! the engine's status (alive for an incarnation introduced by
//! `NodeReplaced` that is still pending) and the engine's set keys and
//! values. For that:
//!
//! - **Each membership transition yields exactly one event**, and every
//!   observer's sequence of events about one incarnation (a [`NodeId`]:
//!   name, generation, address) follows a path in this diagram:
//!
//! ```text
//!                NodeJoined, or
//!                NodeReplaced{new: it}           NodeDead
//!  (not known) ─────────────────────▶ alive ─────────────▶ dead
//!       ▲                              │    ◀─────────────  │
//!       │                              │    NodeAliveAgain  │
//!       │                     NodeLeft │                    │ NodeLeft
//!       │                              ▼                    │
//!       │                             left ◀────────────────┘
//!       │
//!       └── NodeRemoved, or NodeReplaced{old: it}: from alive, dead or left
//! ```
//!
//! - **A node is introduced once it is seen alive**: the first advance of
//!   its heartbeat here, as `NodeJoined`. Until then it is *pending* and
//!   makes no event at all — not its keys, not its leave, not its removal.
//!   A pending node that leaves, or is dropped after `pending_timeout`, was
//!   never seen.
//! - **A restart is one event.** When a newer generation of a name
//!   supersedes an incarnation the observer was told of, the old state is
//!   dropped and the observer hears `NodeReplaced { old, new }` at once: the
//!   end of `old` and the introduction of `new`, which makes no
//!   `NodeJoined`. The new incarnation may still be pending here until its
//!   first heartbeat advance ([`NodeView::status`](crate::NodeView::status)
//!   says so); if it never comes, it ends with `NodeRemoved` after
//!   `pending_timeout`. A newer generation of a name the observer was not
//!   told of is introduced as any node, by `NodeJoined`.
//! - **Keys follow their node.** Right after a `NodeJoined` come
//!   `KeySet`s for every key its copy already holds, in version order; from
//!   a node's introduction on, each change of its keys is one `KeySet` or
//!   `KeyDeleted`, until its end. A node's keys disappear with it without per-key events (its
//!   end says it). A key's versions only grow; a node's key events come in
//!   version order, except during a reset (`ResetApplied`), which reports
//!   the keys found gone (at the reset's version) before the ones it brings.
//! - **About itself** the local node reports only `KeyExpired`, `Refuted`
//!   and `NameConflict`.
//!
//! The simulator checks this contract after every step of runs with
//! restarts, leaves, crashes and partitions (`tests/tests/event_contract.rs`).

use crate::id::NodeId;

/// A change the engine made to its view of the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A node's heartbeat was seen to advance for the first time: it is
    /// live. Not sent for an incarnation that replaces one this observer
    /// was told of ([`Event::NodeReplaced`] introduces it instead).
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
    /// A newer generation of a name (a restart) superseded the incarnation
    /// this observer was told of, whose state was dropped at once: the end
    /// of `old` and the introduction of `new`, in one event (no
    /// [`Event::NodeJoined`] follows for `new`).
    NodeReplaced {
        /// The superseded incarnation.
        old: &'a NodeId,
        /// The incarnation that replaced it (pending here until its first
        /// heartbeat advance, which usually comes with the news).
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
