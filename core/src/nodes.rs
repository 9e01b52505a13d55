//! The node table: every known node's metadata, and the ring that orders them.
//!
//! Slots are fixed (`N` of them); slot 0 is always the local node. The ring is
//! the list of occupied slots sorted by [`NodeId::ring_hash`], which is the
//! order digests are written in and the order the responder walks in step
//! with a received digest, so matching a digest costs its length, not N.

use crate::id::{NodeId, name_hash};
use crate::store::EntryList;

/// Everything the engine knows about one node besides its entries.
#[derive(Clone)]
pub(crate) struct NodeSlot {
    pub in_use: bool,
    pub id: NodeId,
    pub hash: u64,
    pub name_hash: u64,
    pub heartbeat: u64,
    pub max_version: u64,
    pub last_gc: u64,
    pub entries: EntryList,
}

impl NodeSlot {
    const EMPTY: NodeSlot = NodeSlot {
        in_use: false,
        id: NodeId::placeholder(),
        hash: 0,
        name_hash: 0,
        heartbeat: 0,
        max_version: 0,
        last_gc: 0,
        entries: EntryList::EMPTY,
    };
}

/// Fixed-capacity table of `N` nodes plus their ring order.
pub(crate) struct NodeTable<const N: usize> {
    slots: [NodeSlot; N],
    ring: heapless::Vec<u16, N>,
}

impl<const N: usize> NodeTable<N> {
    pub(crate) const fn new() -> Self {
        NodeTable {
            slots: [NodeSlot::EMPTY; N],
            ring: heapless::Vec::new(),
        }
    }

    pub(crate) fn clear(&mut self) {
        for s in self.slots.iter_mut() {
            *s = NodeSlot::EMPTY;
        }
        self.ring.clear();
    }

    pub(crate) fn get(&self, slot: u16) -> Option<&NodeSlot> {
        self.slots.get(usize::from(slot)).filter(|s| s.in_use)
    }

    pub(crate) fn get_mut(&mut self, slot: u16) -> Option<&mut NodeSlot> {
        self.slots.get_mut(usize::from(slot)).filter(|s| s.in_use)
    }

    /// Number of known nodes, the local one included.
    pub(crate) fn len(&self) -> usize {
        self.ring.len()
    }

    /// Slots in ring order.
    pub(crate) fn ring(&self) -> &[u16] {
        &self.ring
    }

    /// Ring position of the first node whose hash is at least `hash`.
    pub(crate) fn ring_position(&self, hash: u64) -> usize {
        self.ring.partition_point(|&s| {
            self.slots
                .get(usize::from(s))
                .is_some_and(|n| n.hash < hash)
        })
    }

    /// Hash of the node at ring position `pos`.
    pub(crate) fn hash_at(&self, pos: usize) -> Option<u64> {
        let slot = *self.ring.get(pos)?;
        self.get(slot).map(|n| n.hash)
    }

    /// The slot and node at ring position `pos`.
    pub(crate) fn at(&self, pos: usize) -> Option<(u16, &NodeSlot)> {
        let slot = *self.ring.get(pos)?;
        self.get(slot).map(|n| (slot, n))
    }

    /// The slot of the node with this ring hash.
    pub(crate) fn find_hash(&self, hash: u64) -> Option<u16> {
        let pos = self.ring_position(hash);
        let slot = *self.ring.get(pos)?;
        (self.get(slot)?.hash == hash).then_some(slot)
    }

    /// The slot holding any generation of `name`.
    pub(crate) fn find_name(&self, name: &str) -> Option<u16> {
        let h = name_hash(name);
        self.ring.iter().copied().find(|&s| {
            self.get(s)
                .is_some_and(|n| n.name_hash == h && n.id.name.as_str() == name)
        })
    }

    /// Puts `id` into slot `slot` (which must be free) with empty state.
    pub(crate) fn insert_at(&mut self, slot: u16, id: NodeId) -> Option<u16> {
        let hash = id.ring_hash();
        let pos = self.ring_position(hash);
        let s = self.slots.get_mut(usize::from(slot))?;
        if s.in_use {
            return None;
        }
        *s = NodeSlot {
            in_use: true,
            hash,
            name_hash: name_hash(id.name.as_str()),
            id,
            ..NodeSlot::EMPTY
        };
        if self.ring.insert(pos, slot).is_err() {
            if let Some(s) = self.slots.get_mut(usize::from(slot)) {
                *s = NodeSlot::EMPTY;
            }
            return None;
        }
        Some(slot)
    }

    /// Puts `id` into the first free slot; `None` when the table is full.
    pub(crate) fn insert(&mut self, id: NodeId) -> Option<u16> {
        let free = self.slots.iter().position(|s| !s.in_use)?;
        self.insert_at(u16::try_from(free).ok()?, id)
    }

    /// Frees a slot. Its entries must already be removed from the store.
    pub(crate) fn remove(&mut self, slot: u16) {
        let Some(hash) = self.get(slot).map(|n| n.hash) else {
            return;
        };
        let pos = self.ring_position(hash);
        if self.ring.get(pos) == Some(&slot) {
            self.ring.remove(pos);
        }
        if let Some(s) = self.slots.get_mut(usize::from(slot)) {
            *s = NodeSlot::EMPTY;
        }
    }
}
