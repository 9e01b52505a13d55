//! The virtual clock and its event queue.
//!
//! Time is a `u64` of microseconds since the start of the simulation; it only
//! moves when the driver takes the next event. Events are ordered by time,
//! then by a sequence number taken when they were scheduled, so two events
//! at the same microsecond always run in the order they were scheduled and a
//! run never depends on the heap's internal layout.

use std::collections::BinaryHeap;
use std::time::Duration;

/// Microseconds of virtual time.
pub(crate) type Micros = u64;

/// Whole microseconds of `d`, saturating.
pub(crate) fn micros(d: Duration) -> Micros {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// One scheduled item.
struct Entry<T> {
    at: Micros,
    seq: u64,
    item: T,
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl<T> Eq for Entry<T> {}

impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> Ord for Entry<T> {
    /// Reversed, so that the max-heap pops the earliest entry.
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// A min-queue of items by (time, scheduling order).
pub(crate) struct Queue<T> {
    heap: BinaryHeap<Entry<T>>,
    seq: u64,
}

impl<T> Queue<T> {
    pub(crate) fn new() -> Self {
        Queue {
            heap: BinaryHeap::new(),
            seq: 0,
        }
    }

    /// Schedules `item` at `at`.
    pub(crate) fn push(&mut self, at: Micros, item: T) {
        self.heap.push(Entry {
            at,
            seq: self.seq,
            item,
        });
        self.seq += 1;
    }

    /// Time of the earliest item.
    pub(crate) fn peek_time(&self) -> Option<Micros> {
        self.heap.peek().map(|e| e.at)
    }

    /// Removes and returns the earliest item.
    pub(crate) fn pop(&mut self) -> Option<(Micros, T)> {
        self.heap.pop().map(|e| (e.at, e.item))
    }

    /// Number of scheduled items.
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_by_time_then_by_scheduling_order() {
        let mut q = Queue::new();
        q.push(5, "c");
        q.push(1, "a");
        q.push(5, "d");
        q.push(1, "b");
        q.push(3, "x");
        let order: std::vec::Vec<_> = core::iter::from_fn(|| q.pop()).collect();
        assert_eq!(order, [(1, "a"), (1, "b"), (3, "x"), (5, "c"), (5, "d")]);
        assert_eq!(q.len(), 0);
        assert_eq!(q.peek_time(), None);
    }
}
