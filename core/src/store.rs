//! Entry storage: every key of every node, indexed two ways.
//!
//! Entries live in a fixed table of slots with their keys and values in a
//! shared [`Arena`]. Each node's entries form a doubly linked list
//! in ascending version order, so "everything newer than version v" is found by
//! walking back from the tail: answering a digest costs what is sent, not
//! what is stored. A chained hash index over `(node, key)` serves point
//! lookups. Every mutation takes the node's next version and moves the entry
//! to the tail, which keeps the list sorted without ever re-sorting.

use crate::arena::{Arena, BLOCK_HEADER};
use crate::id::fnv1a32;
use crate::memory::Memory;

/// Sentinel for "no slot" in links.
pub(crate) const NIL: u32 = u32::MAX;

/// What an entry says about its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryStatus {
    /// The key holds a value.
    Set,
    /// The key was deleted; the entry is a tombstone kept so that the
    /// deletion propagates, until garbage collection.
    Deleted,
    /// The key holds a value that its owner will delete when a time-to-live
    /// runs out.
    SetWithTtl,
}

impl EntryStatus {
    /// Whether the key currently holds a value.
    pub fn is_live(self) -> bool {
        self != EntryStatus::Deleted
    }
}

/// One entry slot. 48 bytes; the key and value live in the arena.
#[derive(Clone, Copy)]
pub(crate) struct Slot {
    pub version: u64,
    /// Owner-local deadline in caller milliseconds: when a TTL entry expires
    /// or a tombstone may be collected. Zero on remote entries.
    pub deadline: u64,
    off: u32,
    prev: u32,
    next: u32,
    hnext: u32,
    khash: u32,
    val_len: u32,
    node: u16,
    key_len: u8,
    /// Scratch flag used while checking and applying a piece.
    mark: bool,
    /// Scratch while applying a delta: the entry was shrunk ahead of its
    /// turn (`Some(was_live)`), to be moved into version order later.
    early: Option<bool>,
    /// `None` marks a free slot.
    status: Option<EntryStatus>,
}

impl Slot {
    pub(crate) const FREE: Slot = Slot {
        version: 0,
        deadline: 0,
        off: 0,
        prev: NIL,
        next: NIL,
        hnext: NIL,
        khash: 0,
        val_len: 0,
        node: 0,
        key_len: 0,
        mark: false,
        early: None,
        status: None,
    };

    #[inline]
    pub(crate) fn status(&self) -> EntryStatus {
        self.status.unwrap_or(EntryStatus::Deleted)
    }

    /// The status, `None` on a free slot (for the invariant checks).
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn status_opt(&self) -> Option<EntryStatus> {
        self.status
    }

    /// The node whose entry this is (for the invariant checks).
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn node(&self) -> u16 {
        self.node
    }

    /// The previous (older) entry of its list, or [`NIL`].
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn prev(&self) -> u32 {
        self.prev
    }

    /// The next (newer) entry of its list, or [`NIL`].
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn next(&self) -> u32 {
        self.next
    }

    /// Lengths of the key and the value, from the slot alone.
    #[inline]
    pub(crate) fn lens(&self) -> (usize, usize) {
        (usize::from(self.key_len), self.val_len as usize)
    }
}

/// The head and tail of one node's version-ordered list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EntryList {
    pub head: u32,
    pub tail: u32,
    /// Entries in the list, tombstones included.
    pub len: u32,
    /// Key and value bytes of the list's entries.
    pub bytes: u32,
}

impl EntryList {
    pub(crate) const EMPTY: EntryList = EntryList {
        head: NIL,
        tail: NIL,
        len: 0,
        bytes: 0,
    };
}

/// The store is full: no free slot, or no room in the arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StoreFull;

/// All entries of all nodes.
pub(crate) struct Store<M: Memory> {
    slots: M::Buf<Slot>,
    buckets: M::Buf<u32>,
    free_head: u32,
    used: usize,
    arena: Arena<M>,
}

/// The hash bucket of a key hash, among `buckets` buckets.
#[inline]
fn bucket_of(h: u32, buckets: usize) -> usize {
    (h as usize).checked_rem(buckets).unwrap_or(0)
}

fn key_hash(node: u16, key: &[u8]) -> u32 {
    let n = node.to_le_bytes();
    let mut h: u32 = fnv1a32(&n);
    for &b in key {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

#[cfg(any(test, all(feature = "fuzzing", feature = "alloc")))]
impl Clone for Store<crate::memory::Heap> {
    fn clone(&self) -> Self {
        Store {
            slots: self.slots.clone(),
            buckets: self.buckets.clone(),
            free_head: self.free_head,
            used: self.used,
            arena: self.arena.clone(),
        }
    }
}

impl<M: Memory> Store<M> {
    /// An empty store in the given buffers (`buckets` as long as `slots`).
    pub(crate) fn new(slots: M::Buf<Slot>, buckets: M::Buf<u32>, arena: M::Buf<u8>) -> Self {
        let mut store = Store {
            slots,
            buckets,
            free_head: NIL,
            used: 0,
            arena: Arena::new(arena),
        };
        store.clear();
        store
    }

    /// The buffers back: slots, buckets, arena.
    pub(crate) fn into_bufs(self) -> (M::Buf<Slot>, M::Buf<u32>, M::Buf<u8>) {
        (self.slots, self.buckets, self.arena.into_buf())
    }

    /// Entry slots in all.
    #[inline]
    pub(crate) fn capacity(&self) -> usize {
        self.slots.as_ref().len()
    }

    #[inline]
    fn bucket(&self, h: u32) -> usize {
        bucket_of(h, self.buckets.as_ref().len())
    }

    /// Empties the store and threads every slot onto the free list.
    fn clear(&mut self) {
        let e = self.capacity();
        let last = e.saturating_sub(1);
        for (i, s) in self.slots.as_mut().iter_mut().enumerate() {
            *s = Slot::FREE;
            s.next = if i == last {
                NIL
            } else {
                i.saturating_add(1) as u32
            };
        }
        self.buckets.as_mut().fill(NIL);
        self.free_head = if e == 0 { NIL } else { 0 };
        self.used = 0;
        self.arena.clear();
    }

    #[inline]
    pub(crate) fn slot(&self, idx: u32) -> Option<&Slot> {
        self.slots.as_ref().get(idx as usize)
    }

    fn slot_mut(&mut self, idx: u32) -> Option<&mut Slot> {
        self.slots.as_mut().get_mut(idx as usize)
    }

    /// Free entry slots.
    pub(crate) fn free_slots(&self) -> usize {
        self.capacity().saturating_sub(self.used)
    }

    /// Entries stored.
    pub(crate) fn len(&self) -> usize {
        self.used
    }

    pub(crate) fn arena_live_bytes(&self) -> usize {
        self.arena.live_bytes()
    }

    /// Arena bytes not used by any entry: what an allocation may take, after
    /// a compaction if need be.
    pub(crate) fn arena_free_bytes(&self) -> usize {
        self.arena.free_bytes()
    }

    pub(crate) fn key(&self, idx: u32) -> &str {
        match self.slot(idx) {
            Some(s) => core::str::from_utf8(self.arena.get(s.off, usize::from(s.key_len)))
                .unwrap_or_default(),
            None => "",
        }
    }

    /// The key's bytes, without re-checking UTF-8 (it was checked when the
    /// key was stored); for encoding.
    #[inline]
    pub(crate) fn key_bytes(&self, idx: u32) -> &[u8] {
        match self.slot(idx) {
            Some(s) => self.arena.get(s.off, usize::from(s.key_len)),
            None => &[],
        }
    }

    #[inline]
    pub(crate) fn value(&self, idx: u32) -> &[u8] {
        match self.slot(idx) {
            Some(s) => {
                let all = self.arena.get(
                    s.off,
                    usize::from(s.key_len).saturating_add(s.val_len as usize),
                );
                all.get(usize::from(s.key_len)..).unwrap_or_default()
            }
            None => &[],
        }
    }

    /// Finds the entry of `node` for `key`.
    pub(crate) fn find(&self, node: u16, key: &str) -> Option<u32> {
        if self.capacity() == 0 {
            return None;
        }
        let h = key_hash(node, key.as_bytes());
        let mut cur = *self.buckets.as_ref().get(self.bucket(h))?;
        while let Some(s) = self.slot(cur) {
            if s.khash == h && s.node == node && self.key(cur) == key {
                return Some(cur);
            }
            cur = s.hnext;
        }
        None
    }

    /// Stores `key = value` at `version` as the newest entry of `list`.
    /// The key must not exist yet for `node`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn insert(
        &mut self,
        list: &mut EntryList,
        node: u16,
        key: &str,
        value: &[u8],
        version: u64,
        status: EntryStatus,
        deadline: u64,
    ) -> Result<u32, StoreFull> {
        let idx = self.take_slot(node, key, value.len(), version, status)?;
        let v = self.value_mut(idx);
        v.copy_from_slice(value.get(..v.len()).unwrap_or_default());
        self.set_deadline(idx, deadline);
        self.attach(list, idx);
        Ok(idx)
    }

    /// Takes the first free slot and an arena block for `key` and a value
    /// of `len` bytes (left as the block held them), at `version` with
    /// `status`: an entry in no list and not in the hash index. What
    /// [`Store::insert`] and [`Store::insert_detached`] share.
    fn take_slot(
        &mut self,
        node: u16,
        key: &str,
        len: usize,
        version: u64,
        status: EntryStatus,
    ) -> Result<u32, StoreFull> {
        if self.capacity() == 0 || key.len() > usize::from(u8::MAX) {
            return Err(StoreFull);
        }
        let val_len = u32::try_from(len).map_err(|_| StoreFull)?;
        let total = key.len().saturating_add(len);
        let idx = self.free_head;
        if self.slot(idx).is_none() || !self.arena.can_fit(total) {
            return Err(StoreFull);
        }
        let off = self.alloc(idx, total)?;
        let s = self.slot_mut(idx).ok_or(StoreFull)?;
        let next_free = s.next;
        *s = Slot {
            version,
            deadline: 0,
            off,
            prev: NIL,
            next: NIL,
            hnext: NIL,
            khash: key_hash(node, key.as_bytes()),
            val_len,
            node,
            key_len: key.len() as u8,
            mark: false,
            early: None,
            status: Some(status),
        };
        self.free_head = next_free;
        self.used = self.used.saturating_add(1);
        let dst = self.arena.get_mut(off, total);
        let k = dst.get_mut(..key.len()).unwrap_or_default();
        k.copy_from_slice(key.as_bytes().get(..k.len()).unwrap_or_default());
        Ok(idx)
    }

    /// Gives entry `idx` a new value, status and version and makes it the
    /// newest of `list`.
    pub(crate) fn update(
        &mut self,
        list: &mut EntryList,
        idx: u32,
        value: &[u8],
        version: u64,
        status: EntryStatus,
        deadline: u64,
    ) -> Result<(), StoreFull> {
        let s = *self.slot(idx).ok_or(StoreFull)?;
        let key_len = usize::from(s.key_len);
        let old_len = key_len.saturating_add(s.val_len as usize);
        let new_len = key_len.saturating_add(value.len());
        let old_cap = self.arena.capacity(s.off);
        if new_len <= old_cap {
            self.arena.resized(old_len, new_len);
        } else {
            // Needs a bigger block. Check first that one can be had once the
            // old block is released, so a full arena leaves the entry intact.
            let reclaimable = self
                .arena
                .free_bytes()
                .saturating_add(BLOCK_HEADER.saturating_add(old_len));
            if new_len.saturating_add(BLOCK_HEADER) > reclaimable {
                return Err(StoreFull);
            }
            let mut key = [0u8; 255];
            let kb = key.get_mut(..key_len).unwrap_or_default();
            kb.copy_from_slice(self.arena.get(s.off, key_len));
            self.arena.free(old_len);
            // Detach the slot so a compaction inside `alloc` drops the old block.
            if let Some(slot) = self.slot_mut(idx) {
                slot.off = NIL;
            }
            let off = self.alloc(idx, new_len)?;
            self.arena.get_mut(off, key_len).copy_from_slice(kb);
            if let Some(slot) = self.slot_mut(idx) {
                slot.off = off;
            }
        }
        let off = self.slot(idx).map_or(0, |s| s.off);
        let dst = self.arena.get_mut(off, new_len);
        if let Some(v) = dst.get_mut(key_len..) {
            v.copy_from_slice(value.get(..v.len()).unwrap_or_default());
        }
        if let Some(slot) = self.slot_mut(idx) {
            slot.val_len = value.len() as u32;
            slot.version = version;
            slot.status = Some(status);
            slot.deadline = deadline;
        }
        list.bytes = list
            .bytes
            .saturating_sub(old_len as u32)
            .saturating_add(new_len as u32);
        self.unlink(list, idx);
        self.push_back(list, idx);
        Ok(())
    }

    /// A *detached* entry of `node`: a slot and an arena block for `key` and
    /// a value of `len` zero bytes, at `version` with `status`, in no list
    /// and not in the hash index, so that no lookup or walk finds it (a
    /// value being assembled, module `chunk`). [`Store::attach`] makes it an
    /// ordinary entry; [`Store::free_detached`] frees it.
    pub(crate) fn insert_detached(
        &mut self,
        node: u16,
        key: &str,
        len: usize,
        version: u64,
        status: EntryStatus,
    ) -> Result<u32, StoreFull> {
        let idx = self.take_slot(node, key, len, version, status)?;
        self.value_mut(idx).fill(0);
        Ok(idx)
    }

    /// The value bytes of entry `idx`, to write into (a detached entry's).
    pub(crate) fn value_mut(&mut self, idx: u32) -> &mut [u8] {
        let Some(s) = self.slot(idx).copied() else {
            return &mut [];
        };
        let key_len = usize::from(s.key_len);
        let all = self
            .arena
            .get_mut(s.off, key_len.saturating_add(s.val_len as usize));
        all.get_mut(key_len..).unwrap_or_default()
    }

    /// Shortens the value of detached entry `idx` to `len` bytes in place
    /// (a value assembled with its map of units held, module `chunk`); the
    /// bytes cut are free for accounting at once.
    pub(crate) fn truncate_value(&mut self, idx: u32, len: usize) {
        let Some(s) = self.slot(idx).copied() else {
            return;
        };
        let old = s.val_len as usize;
        if len >= old {
            return;
        }
        let key_len = usize::from(s.key_len);
        self.arena
            .resized(key_len.saturating_add(old), key_len.saturating_add(len));
        if let Some(slot) = self.slot_mut(idx) {
            slot.val_len = len as u32;
        }
    }

    /// Makes detached entry `idx` an ordinary one: into the hash index and
    /// at the tail of `list`. Its key must not have another entry.
    pub(crate) fn attach(&mut self, list: &mut EntryList, idx: u32) {
        let Some(s) = self.slot(idx).copied() else {
            return;
        };
        if self.capacity() > 0 {
            let b = self.bucket(s.khash);
            let head = self.buckets.as_ref().get(b).copied().unwrap_or(NIL);
            if let Some(slot) = self.slot_mut(idx) {
                slot.hnext = head;
            }
            if let Some(head) = self.buckets.as_mut().get_mut(b) {
                *head = idx;
            }
        }
        self.push_back(list, idx);
        list.len = list.len.saturating_add(1);
        list.bytes = list
            .bytes
            .saturating_add(u32::from(s.key_len).saturating_add(s.val_len));
    }

    /// Frees detached entry `idx` (in no list, not indexed).
    pub(crate) fn free_detached(&mut self, idx: u32) {
        let Some(s) = self.slot(idx).copied() else {
            return;
        };
        if s.status.is_none() {
            return;
        }
        self.release(idx, &s);
    }

    /// Frees slot `idx` (holding `s`, already out of every list and of the
    /// hash index) and its arena block.
    fn release(&mut self, idx: u32, s: &Slot) {
        self.arena
            .free(usize::from(s.key_len).saturating_add(s.val_len as usize));
        let free_head = self.free_head;
        if let Some(slot) = self.slot_mut(idx) {
            *slot = Slot::FREE;
            slot.next = free_head;
        }
        self.free_head = idx;
        self.used = self.used.saturating_sub(1);
    }

    /// Changes only the deadline of an entry (no new version).
    pub(crate) fn set_deadline(&mut self, idx: u32, deadline: u64) {
        if let Some(s) = self.slot_mut(idx) {
            s.deadline = deadline;
        }
    }

    pub(crate) fn set_mark(&mut self, idx: u32, mark: bool) {
        if let Some(s) = self.slot_mut(idx) {
            s.mark = mark;
        }
    }

    pub(crate) fn marked(&self, idx: u32) -> bool {
        self.slot(idx).is_some_and(|s| s.mark)
    }

    /// Notes that entry `idx` was changed ahead of its turn, and whether it
    /// held a value before (`None` clears the note).
    pub(crate) fn set_early(&mut self, idx: u32, was_live: Option<bool>) {
        if let Some(s) = self.slot_mut(idx) {
            s.early = was_live;
        }
    }

    /// What [`Store::set_early`] noted for `idx`.
    pub(crate) fn early(&self, idx: u32) -> Option<bool> {
        self.slot(idx).and_then(|s| s.early)
    }

    /// Makes entry `idx` the newest of `list` without changing it.
    pub(crate) fn move_to_tail(&mut self, list: &mut EntryList, idx: u32) {
        self.unlink(list, idx);
        self.push_back(list, idx);
    }

    /// Removes entry `idx` from `list` and frees it.
    pub(crate) fn remove(&mut self, list: &mut EntryList, idx: u32) {
        let Some(s) = self.slot(idx).copied() else {
            return;
        };
        if s.status.is_none() {
            return;
        }
        self.unlink(list, idx);
        list.len = list.len.saturating_sub(1);
        list.bytes = list
            .bytes
            .saturating_sub(u32::from(s.key_len).saturating_add(s.val_len));
        // Unhook from the hash chain.
        if self.capacity() > 0 {
            let b = self.bucket(s.khash);
            let mut prev = NIL;
            let mut cur = self.buckets.as_ref().get(b).copied().unwrap_or(NIL);
            while cur != NIL && cur != idx {
                prev = cur;
                cur = self.slot(cur).map_or(NIL, |c| c.hnext);
            }
            if cur == idx {
                if prev == NIL {
                    if let Some(head) = self.buckets.as_mut().get_mut(b) {
                        *head = s.hnext;
                    }
                } else if let Some(p) = self.slot_mut(prev) {
                    p.hnext = s.hnext;
                }
            }
        }
        self.release(idx, &s);
    }

    /// Removes every entry of `list`.
    pub(crate) fn remove_all(&mut self, list: &mut EntryList) {
        while list.head != NIL {
            let head = list.head;
            self.remove(list, head);
        }
    }

    fn alloc(&mut self, owner: u32, len: usize) -> Result<u32, StoreFull> {
        if let Some(off) = self.arena.alloc(owner, len) {
            return Ok(off);
        }
        self.compact();
        self.arena.alloc(owner, len).ok_or(StoreFull)
    }

    fn compact(&mut self) {
        let slots = self.slots.as_mut();
        self.arena.compact(|owner, old, new| {
            let s = slots
                .get_mut(owner as usize)
                .filter(|s| s.status.is_some() && s.off == old)?;
            s.off = new;
            Some(usize::from(s.key_len).saturating_add(s.val_len as usize))
        });
    }

    fn push_back(&mut self, list: &mut EntryList, idx: u32) {
        let tail = list.tail;
        if let Some(s) = self.slot_mut(idx) {
            s.prev = tail;
            s.next = NIL;
        }
        if let Some(t) = self.slot_mut(tail) {
            t.next = idx;
        } else {
            list.head = idx;
        }
        list.tail = idx;
    }

    fn unlink(&mut self, list: &mut EntryList, idx: u32) {
        let Some(s) = self.slot(idx).copied() else {
            return;
        };
        match self.slot_mut(s.prev) {
            Some(p) => p.next = s.next,
            None => list.head = s.next,
        }
        match self.slot_mut(s.next) {
            Some(n) => n.prev = s.prev,
            None => list.tail = s.prev,
        }
        if let Some(slot) = self.slot_mut(idx) {
            slot.prev = NIL;
            slot.next = NIL;
        }
    }

    /// Entry following `idx` in its list (towards newer versions).
    #[inline]
    pub(crate) fn next(&self, idx: u32) -> u32 {
        self.slot(idx).map_or(NIL, |s| s.next)
    }

    /// The oldest entry of `list` whose version is above `version`, found by
    /// walking back from the newest: costs the number of entries it skips.
    #[inline]
    pub(crate) fn first_after(&self, list: &EntryList, version: u64) -> u32 {
        let mut first = NIL;
        let mut cur = list.tail;
        while let Some(s) = self.slot(cur) {
            if s.version <= version {
                break;
            }
            first = cur;
            cur = s.prev;
        }
        first
    }
}
