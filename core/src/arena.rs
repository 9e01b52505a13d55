//! A byte arena holding every key and value, so memory follows content.
//!
//! Blocks are appended at the top; each starts with an 8-byte header naming
//! its owner (an entry slot) and its capacity, which is what lets
//! [`Arena::compact`] walk the arena and slide live blocks down without any
//! side table. A rewrite that fits the old block reuses it in place; freed and
//! outgrown blocks become garbage until the next compaction, which runs only
//! when an allocation would otherwise fail.
//!
//! Accounting counts what blocks *use* (header + payload), not their
//! capacity: a block shrunk in place keeps its capacity until the next
//! compaction, but the bytes it no longer uses are free for accounting
//! purposes, because a compaction gives them back. So
//! `live_bytes() + BLOCK_HEADER + len <= size` is exactly the condition under
//! which an allocation of `len` bytes succeeds (compacting if it must).

use crate::memory::Memory;

/// Bytes of the header in front of every block: owner `u32` + capacity `u32`.
pub(crate) const BLOCK_HEADER: usize = 8;

/// Arena bytes `entries` entries of `bytes` key and value bytes in all use.
pub(crate) fn arena_cost(entries: usize, bytes: usize) -> usize {
    bytes.saturating_add(entries.saturating_mul(BLOCK_HEADER))
}

/// Fixed-capacity byte storage: the length of its buffer.
pub(crate) struct Arena<M: Memory> {
    bytes: M::Buf<u8>,
    /// End of the last block; everything above is free.
    top: usize,
    /// Bytes that live blocks use: header plus the payload their owner
    /// uses, which may be less than the block's capacity after an in-place
    /// shrink. A compaction makes `top` equal to this.
    live: usize,
}

#[cfg(any(test, all(feature = "fuzzing", feature = "alloc")))]
impl Clone for Arena<crate::memory::Heap> {
    fn clone(&self) -> Self {
        Arena {
            bytes: self.bytes.clone(),
            top: self.top,
            live: self.live,
        }
    }
}

impl<M: Memory> Arena<M> {
    /// An empty arena in `bytes`.
    pub(crate) fn new(bytes: M::Buf<u8>) -> Self {
        Arena {
            bytes,
            top: 0,
            live: 0,
        }
    }

    /// The buffer back.
    pub(crate) fn into_buf(self) -> M::Buf<u8> {
        self.bytes
    }

    pub(crate) fn clear(&mut self) {
        self.top = 0;
        self.live = 0;
    }

    /// Size of the arena in bytes.
    pub(crate) fn size(&self) -> usize {
        self.bytes.as_ref().len()
    }

    /// Bytes that live blocks use, headers included (not counting capacity
    /// left over by in-place shrinks, which a compaction reclaims).
    pub(crate) fn live_bytes(&self) -> usize {
        self.live
    }

    /// Bytes available after a compaction.
    pub(crate) fn free_bytes(&self) -> usize {
        self.size().saturating_sub(self.live)
    }

    /// Whether a block of `len` payload bytes can be had, compacting if needed.
    pub(crate) fn can_fit(&self, len: usize) -> bool {
        len.saturating_add(BLOCK_HEADER) <= self.free_bytes()
    }

    /// Appends a block for `owner` with room for `len` bytes and returns its
    /// offset, or `None` when the top of the arena is reached (the caller may
    /// compact and retry).
    pub(crate) fn alloc(&mut self, owner: u32, len: usize) -> Option<u32> {
        let cap = u32::try_from(len).ok()?;
        let end = self.top.checked_add(BLOCK_HEADER)?.checked_add(len)?;
        if end > self.size() {
            return None;
        }
        let off = u32::try_from(self.top).ok()?;
        self.write_header(self.top, owner, cap);
        self.top = end;
        self.live = self.live.saturating_add(BLOCK_HEADER).saturating_add(len);
        Some(off)
    }

    fn write_header(&mut self, at: usize, owner: u32, cap: u32) {
        if let Some(h) = self
            .bytes
            .as_mut()
            .get_mut(at..at.saturating_add(BLOCK_HEADER))
        {
            let (o, c) = h.split_at_mut(4);
            o.copy_from_slice(&owner.to_le_bytes());
            c.copy_from_slice(&cap.to_le_bytes());
        }
    }

    fn read_header(&self, at: usize) -> (u32, usize) {
        let word = |i: usize| {
            self.bytes
                .as_ref()
                .get(i..i.saturating_add(4))
                .and_then(|s| <[u8; 4]>::try_from(s).ok())
                .map_or(0, u32::from_le_bytes)
        };
        (word(at), word(at.saturating_add(4)) as usize)
    }

    /// Payload capacity of the block at `off`.
    pub(crate) fn capacity(&self, off: u32) -> usize {
        self.read_header(off as usize).1
    }

    /// Releases the block at `off`, of which the owner used `used` payload
    /// bytes; its bytes come back at the next compaction.
    pub(crate) fn free(&mut self, used: usize) {
        self.live = self.live.saturating_sub(BLOCK_HEADER.saturating_add(used));
    }

    /// Records that a block's owner now uses `new_used` payload bytes instead
    /// of `old_used`, in place (`new_used` must not exceed the capacity).
    pub(crate) fn resized(&mut self, old_used: usize, new_used: usize) {
        self.live = self.live.saturating_sub(old_used).saturating_add(new_used);
    }

    /// The first `len` payload bytes of the block at `off`.
    pub(crate) fn get(&self, off: u32, len: usize) -> &[u8] {
        let start = (off as usize).saturating_add(BLOCK_HEADER);
        self.bytes
            .as_ref()
            .get(start..start.saturating_add(len))
            .unwrap_or_default()
    }

    /// The first `len` payload bytes of the block at `off`, writable.
    pub(crate) fn get_mut(&mut self, off: u32, len: usize) -> &mut [u8] {
        let start = (off as usize).saturating_add(BLOCK_HEADER);
        self.bytes
            .as_mut()
            .get_mut(start..start.saturating_add(len))
            .unwrap_or_default()
    }

    /// Slides every live block down over the garbage.
    ///
    /// For each block, `relocate(owner, old_off, new_off)` answers how many
    /// payload bytes its owner still uses, after repointing the owner to
    /// `new_off`; or `None` if the block is garbage (the owner no longer
    /// points at `old_off`). Kept blocks shrink to what they use.
    pub(crate) fn compact(&mut self, mut relocate: impl FnMut(u32, u32, u32) -> Option<usize>) {
        let mut read = 0usize;
        let mut write = 0usize;
        while read < self.top {
            let (owner, cap) = self.read_header(read);
            let next = read.saturating_add(BLOCK_HEADER).saturating_add(cap);
            let keep = match (u32::try_from(read), u32::try_from(write)) {
                (Ok(old), Ok(new)) => relocate(owner, old, new).map(|u| u.min(cap)),
                _ => None,
            };
            if let Some(len) = keep {
                let src = read.saturating_add(BLOCK_HEADER);
                let dst = write.saturating_add(BLOCK_HEADER);
                self.bytes
                    .as_mut()
                    .copy_within(src..src.saturating_add(len), dst);
                self.write_header(write, owner, len as u32);
                write = dst.saturating_add(len);
            }
            read = next;
        }
        self.top = write;
        self.live = write;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::Borrowed;

    #[test]
    fn alloc_free_compact_keeps_live_payloads() {
        let mut bytes = [0u8; 64];
        let mut a = Arena::<Borrowed<'_>>::new(&mut bytes);
        let x = a.alloc(1, 4).expect("fits");
        a.get_mut(x, 4).copy_from_slice(b"aaaa");
        let y = a.alloc(2, 8).expect("fits");
        a.get_mut(y, 8).copy_from_slice(b"bbbbbbbb");
        let z = a.alloc(3, 4).expect("fits");
        a.get_mut(z, 4).copy_from_slice(b"cccc");
        assert_eq!(a.live_bytes(), 40);
        assert!(a.alloc(4, 20).is_none(), "top reached");
        a.free(8);
        assert_eq!(a.live_bytes(), 24);
        assert!(a.can_fit(20));
        let mut owners = [0u32; 8];
        a.compact(|owner, old, new| {
            let used = match owner {
                1 if old == x => Some(4),
                3 if old == z => Some(3),
                _ => None,
            };
            if used.is_some() {
                owners[owner as usize] = new;
            }
            used
        });
        assert_eq!(owners[1], 0);
        assert_eq!(owners[3], 12);
        assert_eq!(a.get(0, 4), b"aaaa");
        assert_eq!(a.get(12, 3), b"ccc");
        assert_eq!(a.capacity(12), 3);
        assert_eq!(a.live_bytes(), 23);
        let w = a.alloc(4, 20).expect("fits after compaction");
        assert_eq!(w, 23);
    }

    #[test]
    fn an_in_place_shrink_frees_its_bytes_for_accounting() {
        let mut bytes = [0u8; 64];
        let mut a = Arena::<Borrowed<'_>>::new(&mut bytes);
        let x = a.alloc(1, 40).expect("fits");
        a.resized(40, 2);
        assert_eq!(a.live_bytes(), 10);
        assert_eq!(a.capacity(x), 40, "the block keeps its capacity");
        assert!(a.can_fit(40));
        assert!(a.alloc(2, 40).is_none(), "needs a compaction first");
        a.compact(|owner, old, _new| (owner == 1 && old == x).then_some(2));
        assert_eq!(a.live_bytes(), 10);
        assert!(a.alloc(2, 40).is_some());
    }
}
