//! The read API: views of nodes and entries, borrowed from the engine.

use crate::engine::*;
use crate::id::NodeId;
use crate::memory::Memory;
use crate::nodes::{NodeSlot, NodeStatus};
use crate::store::{EntryStatus, NIL, Store};
use crate::time::Instant;

impl<M: Memory> Engine<M> {
    /// This node's own state.
    pub fn local_node(&self) -> Option<NodeView<'_, M>> {
        self.view(LOCAL)
    }

    /// A view of the node in `slot`, if the slot is in use.
    pub(crate) fn view(&self, slot: u16) -> Option<NodeView<'_, M>> {
        let node = self.nodes.get(slot)?;
        Some(NodeView {
            engine: self,
            slot,
            node,
        })
    }

    /// The value of one of this node's own keys.
    pub fn get(&self, key: &str) -> Option<&[u8]> {
        self.local_node()?.get(key)
    }

    /// The node currently known under `name`, if any.
    pub fn node(&self, name: &str) -> Option<NodeView<'_, M>> {
        let slot = if self.id().name.as_str() == name {
            LOCAL
        } else {
            self.nodes.find_name(name)?
        };
        self.view(slot)
    }

    /// Every known node, this one included, in ring order.
    pub fn nodes(&self) -> impl Iterator<Item = NodeView<'_, M>> + '_ {
        self.nodes
            .ring()
            .iter()
            .filter_map(move |&slot| self.view(slot))
    }

    /// The remote nodes currently alive (heartbeat advancing, phi below the
    /// threshold), in ring order.
    pub fn live_nodes(&self) -> impl Iterator<Item = NodeView<'_, M>> + '_ {
        self.nodes()
            .filter(|n| !n.is_local() && n.status() == NodeStatus::Alive)
    }

    /// Number of known nodes, this one included.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Entries stored over all nodes, tombstones included (values still in
    /// flight, module `chunk`, are not entries yet).
    pub fn entry_count(&self) -> usize {
        self.store
            .len()
            .saturating_sub(usize::from(self.transfers_active))
    }

    /// Arena bytes in use by keys, values and block headers (those of
    /// values still arriving in chunks included).
    pub fn arena_bytes_used(&self) -> usize {
        self.store.arena_live_bytes()
    }
}

/// A read-only view of one node's state.
pub struct NodeView<'e, M: Memory> {
    engine: &'e Engine<M>,
    slot: u16,
    node: &'e NodeSlot,
}

impl<'e, M: Memory> NodeView<'e, M> {
    /// The node's id.
    pub fn id(&self) -> &'e NodeId {
        &self.node.id
    }

    /// Whether this is the local node.
    pub fn is_local(&self) -> bool {
        self.slot == LOCAL
    }

    /// Where the node stands: pending, alive, dead or left. The local node
    /// is always alive.
    pub fn status(&self) -> NodeStatus {
        self.node.status
    }

    /// Whether the observer has been told of this incarnation
    /// ([`crate::Event::NodeJoined`] at its first heartbeat advance here, or
    /// [`crate::Event::NodeReplaced`] when it superseded one the observer
    /// knew) and not yet of its end: the incarnations an observer following
    /// the event contract ([`crate::event`]) holds are exactly the announced
    /// ones. A node only heard of, or one that left before it was ever seen
    /// alive, is not; nor is the local node.
    pub fn is_announced(&self) -> bool {
        self.node.announced && !self.is_local()
    }

    /// Whether the node is dead or left long enough that it is no longer
    /// gossiped (half the dead grace).
    pub fn is_hidden(&self) -> bool {
        self.node.hidden
    }

    /// Since when the node has its current status, on the caller's clock.
    pub fn status_since(&self) -> Instant {
        self.node.since
    }

    /// Current phi at `now` (0 before the first heartbeat arrival here, and
    /// for the local node).
    pub fn phi(&self, now: Instant) -> f64 {
        if self.is_local() {
            return 0.0;
        }
        self.engine
            .nodes
            .detector(self.slot)
            .map_or(0.0, |d| d.phi(&self.engine.config.detector, now))
    }

    /// The node's adaptive timeout: how long after its last heartbeat phi
    /// reaches the threshold, given its history. `None` before the first
    /// heartbeat arrival.
    pub fn timeout(&self) -> Option<core::time::Duration> {
        if self.is_local() {
            return None;
        }
        self.engine
            .nodes
            .detector(self.slot)
            .and_then(|d| d.timeout(&self.engine.config.detector))
    }

    /// When the node's heartbeat last advanced here.
    pub fn last_heartbeat_at(&self) -> Option<Instant> {
        self.engine
            .nodes
            .detector(self.slot)
            .and_then(|d| d.last_heartbeat())
    }

    /// The node's heartbeat as last seen here.
    pub fn heartbeat(&self) -> u64 {
        self.node.heartbeat
    }

    /// Highest version of the node's entries held here.
    pub fn max_version(&self) -> u64 {
        self.node.max_version
    }

    /// Version up to which the node's tombstones have been collected.
    pub fn last_gc_version(&self) -> u64 {
        self.node.last_gc
    }

    /// The value of `key` if it is set.
    pub fn get(&self, key: &str) -> Option<&'e [u8]> {
        if is_reserved(key) {
            return None;
        }
        self.entry(key)
            .filter(|e| e.status.is_live())
            .map(|e| e.value)
    }

    /// The entry for `key`, tombstones included.
    pub fn entry(&self, key: &str) -> Option<EntryRef<'e>> {
        let idx = self.engine.store.find(self.slot, key)?;
        Some(entry_ref(&self.engine.store, idx))
    }

    /// Every entry of the node, in version order, tombstones and hearsay's
    /// reserved keys included.
    pub fn all_entries(&self) -> Entries<'e, M> {
        Entries {
            store: &self.engine.store,
            cur: self.node.entries.head,
        }
    }

    /// The node's keys that are set, in version order.
    pub fn entries(&self) -> impl Iterator<Item = EntryRef<'e>> + 'e {
        self.all_entries()
            .filter(|e| e.status.is_live() && !is_reserved(e.key))
    }

    /// The node's set keys starting with `prefix`, in version order.
    pub fn entries_with_prefix<'p>(
        &self,
        prefix: &'p str,
    ) -> impl Iterator<Item = EntryRef<'e>> + 'p
    where
        'e: 'p,
    {
        self.entries().filter(move |e| e.key.starts_with(prefix))
    }
}

/// One entry, borrowed from the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryRef<'e> {
    /// The key.
    pub key: &'e str,
    /// The value (empty for a tombstone).
    pub value: &'e [u8],
    /// Version of the last change, in the owner's namespace.
    pub version: u64,
    /// Set, deleted or set with a TTL.
    pub status: EntryStatus,
}

fn entry_ref<M: Memory>(store: &Store<M>, idx: u32) -> EntryRef<'_> {
    EntryRef {
        key: store.key(idx),
        value: store.value(idx),
        version: store.slot(idx).map_or(0, |s| s.version),
        status: store.slot(idx).map_or(EntryStatus::Deleted, |s| s.status()),
    }
}

/// Iterator over a node's entries in version order.
pub struct Entries<'e, M: Memory> {
    store: &'e Store<M>,
    cur: u32,
}

impl<'e, M: Memory> Iterator for Entries<'e, M> {
    type Item = EntryRef<'e>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.cur == NIL {
            return None;
        }
        let idx = self.cur;
        self.cur = self.store.next(idx);
        Some(entry_ref(self.store, idx))
    }
}
