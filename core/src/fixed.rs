//! Bounded collections over memory lent to the engine.
//!
//! The engine's tables are slices whose length is fixed when the engine is
//! built ([`crate::memory`]); these two wrappers add a length (and, for the
//! deque, a head) so a slice can serve as a vector or a ring buffer without
//! ever growing. They play the part `heapless::Vec` and `heapless::Deque`
//! played when capacities were const generics.

use crate::memory::Memory;

/// A vector whose capacity is the length of its lent buffer.
pub(crate) struct FixedVec<M: Memory, T: Copy + 'static> {
    buf: M::Buf<T>,
    len: usize,
}

#[cfg(any(test, all(feature = "fuzzing", feature = "alloc")))]
impl<T: Copy + 'static> Clone for FixedVec<crate::memory::Heap, T> {
    fn clone(&self) -> Self {
        FixedVec {
            buf: self.buf.clone(),
            len: self.len,
        }
    }
}

impl<M: Memory, T: Copy + 'static> FixedVec<M, T> {
    /// An empty vector over `buf`.
    pub(crate) fn new(buf: M::Buf<T>) -> Self {
        FixedVec { buf, len: 0 }
    }

    /// The buffer back, for building another engine in the same memory.
    pub(crate) fn into_buf(self) -> M::Buf<T> {
        self.buf
    }

    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }

    /// Appends `value`; gives it back when the vector is full.
    pub(crate) fn push(&mut self, value: T) -> Result<(), T> {
        match self.buf.as_mut().get_mut(self.len) {
            Some(slot) => {
                *slot = value;
                self.len = self.len.saturating_add(1);
                Ok(())
            }
            None => Err(value),
        }
    }

    /// Inserts `value` at `index`, shifting later elements up; gives it back
    /// when the vector is full or `index` is past the end.
    pub(crate) fn insert(&mut self, index: usize, value: T) -> Result<(), T> {
        let len = self.len;
        if index > len {
            return Err(value);
        }
        let Some(tail) = self.buf.as_mut().get_mut(index..=len) else {
            return Err(value);
        };
        tail.rotate_right(1);
        if let Some(slot) = tail.first_mut() {
            *slot = value;
        }
        self.len = len.saturating_add(1);
        Ok(())
    }

    /// Removes and returns the element at `index`, shifting later ones down.
    pub(crate) fn remove(&mut self, index: usize) -> Option<T> {
        let len = self.len;
        let tail = self.buf.as_mut().get_mut(index..len)?;
        let value = *tail.first()?;
        tail.rotate_left(1);
        self.len = len.saturating_sub(1);
        Some(value)
    }
}

impl<M: Memory, T: Copy + 'static> core::ops::Deref for FixedVec<M, T> {
    type Target = [T];

    #[inline]
    fn deref(&self) -> &[T] {
        let buf = self.buf.as_ref();
        buf.get(..self.len).unwrap_or(buf)
    }
}

impl<M: Memory, T: Copy + 'static> core::ops::DerefMut for FixedVec<M, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut [T] {
        let len = self.len;
        let buf = self.buf.as_mut();
        if len <= buf.len() {
            buf.split_at_mut(len).0
        } else {
            buf
        }
    }
}

/// A ring buffer whose capacity is the length of its lent buffer: when it
/// is full, pushing at the back drops the front.
pub(crate) struct FixedDeque<M: Memory, T: Copy + 'static> {
    buf: M::Buf<T>,
    head: usize,
    len: usize,
}

#[cfg(any(test, all(feature = "fuzzing", feature = "alloc")))]
impl<T: Copy + 'static> Clone for FixedDeque<crate::memory::Heap, T> {
    fn clone(&self) -> Self {
        FixedDeque {
            buf: self.buf.clone(),
            head: self.head,
            len: self.len,
        }
    }
}

impl<M: Memory, T: Copy + 'static> FixedDeque<M, T> {
    /// An empty deque over `buf`.
    pub(crate) fn new(buf: M::Buf<T>) -> Self {
        FixedDeque {
            buf,
            head: 0,
            len: 0,
        }
    }

    /// The buffer back, for building another engine in the same memory.
    pub(crate) fn into_buf(self) -> M::Buf<T> {
        self.buf
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Index in the buffer of the `i`-th element from the front.
    fn physical(&self, i: usize) -> usize {
        self.head
            .saturating_add(i)
            .checked_rem(self.buf.as_ref().len())
            .unwrap_or(0)
    }

    /// Appends `value`, dropping the oldest element when full (and doing
    /// nothing when the capacity is zero).
    pub(crate) fn push_back_evicting(&mut self, value: T) {
        let cap = self.buf.as_ref().len();
        if cap == 0 {
            return;
        }
        if self.len == cap {
            self.pop_front();
        }
        let at = self.physical(self.len);
        if let Some(slot) = self.buf.as_mut().get_mut(at) {
            *slot = value;
            self.len = self.len.saturating_add(1);
        }
    }

    pub(crate) fn pop_front(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        let value = *self.buf.as_ref().get(self.head)?;
        self.head = self.physical(1);
        self.len = self.len.saturating_sub(1);
        Some(value)
    }

    /// The elements, oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        let buf = self.buf.as_ref();
        let (wrapped, from_head) = buf.split_at(self.head.min(buf.len()));
        let first = from_head.len().min(self.len);
        let second = self.len.saturating_sub(first);
        from_head
            .iter()
            .take(first)
            .chain(wrapped.iter().take(second))
    }

    /// The elements, oldest first, mutably.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> + '_ {
        let len = self.len;
        let buf = self.buf.as_mut();
        let (wrapped, from_head) = buf.split_at_mut(self.head.min(buf.len()));
        let first = from_head.len().min(len);
        let second = len.saturating_sub(first);
        from_head
            .iter_mut()
            .take(first)
            .chain(wrapped.iter_mut().take(second))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::Borrowed;
    use std::vec::Vec;

    #[test]
    fn vector_pushes_inserts_and_removes_within_its_buffer() {
        let mut buf = [0u16; 4];
        let mut v = FixedVec::<Borrowed<'_>, u16>::new(&mut buf);
        assert_eq!(v.push(1), Ok(()));
        assert_eq!(v.push(3), Ok(()));
        assert_eq!(v.insert(1, 2), Ok(()));
        assert_eq!(v.insert(0, 0), Ok(()));
        assert_eq!(&v[..], &[0, 1, 2, 3]);
        assert_eq!(v.push(4), Err(4));
        assert_eq!(v.insert(2, 9), Err(9));
        assert_eq!(v.remove(1), Some(1));
        assert_eq!(&v[..], &[0, 2, 3]);
        assert_eq!(v.remove(3), None);
        assert_eq!(v.insert(4, 7), Err(7), "past the end");
        assert_eq!(v.insert(3, 7), Ok(()));
        assert_eq!(&v[..], &[0, 2, 3, 7]);
        v.clear();
        assert!(v.is_empty());
    }

    #[test]
    fn deque_keeps_the_newest_elements_in_order() {
        let mut buf = [0u8; 3];
        let mut d = FixedDeque::<Borrowed<'_>, u8>::new(&mut buf);
        for x in 1..=5 {
            d.push_back_evicting(x);
        }
        assert_eq!(d.iter().copied().collect::<Vec<_>>(), [3, 4, 5]);
        d.iter_mut().for_each(|x| *x *= 10);
        assert_eq!(d.pop_front(), Some(30));
        d.push_back_evicting(6);
        assert_eq!(d.iter().copied().collect::<Vec<_>>(), [40, 50, 6]);
        assert_eq!(d.len(), 3);
        let mut none: [u8; 0] = [];
        let mut empty = FixedDeque::<Borrowed<'_>, u8>::new(&mut none);
        empty.push_back_evicting(1);
        assert_eq!(empty.len(), 0);
        assert_eq!(empty.pop_front(), None);
    }
}
