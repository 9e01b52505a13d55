//! How much an engine holds ([`Capacity`]) and the buffers it is built in
//! ([`Buffers`], [`Storage`]).
//!
//! An engine's whole memory is a handful of tables whose sizes are fixed
//! when it is built: node slots and their detector windows, entry slots and
//! their hash index, the arena of keys and values, and scratch lists for
//! building replies. Nothing grows afterwards, so an engine never allocates.
//!
//! - **Lent, static memory** (`no_std`, no allocator): a [`Storage`] value
//!   whose capacities are const generics, placed in a `static` (or any
//!   place that outlives the engine); [`Storage::buffers`] lends it to one
//!   engine at a time, as `Buffers<`[`Borrowed`]`>`.
//! - **The heap**, sized at run time (feature `alloc`): [`Buffers::allocate`]
//!   with a [`Capacity`] makes every table once, as
//!   `Heap` (`crate::memory::Heap`) boxes the engine owns.
//!
//! Either way [`crate::Engine::new`] turns the buffers into a working
//! engine, and [`crate::Engine::into_buffers`] hands them back so the same
//! memory can hold the next engine (a restart with a new generation).
//!
//! ## How much memory
//!
//! [`Capacity::memory_bytes`] is the exact size of the tables:
//! per node slot about 410 bytes plus its detector window (one byte per
//! interval), per entry slot 52 bytes (48 for the slot, 4 for its hash
//! bucket), plus the state bytes. At [`Capacity::DEFAULT`] (1024 nodes,
//! 16,384 entries, 1 MiB, a 256-interval window) that is about 2.5 MiB; at
//! 16 nodes, 128 entries, 8 KiB and a 64-interval window, about 22 KiB.
//! Values arriving in chunks (module `chunk`) are assembled in the entry
//! slots and state bytes they will take once whole; what tracks them is a
//! fixed pool in the engine value.

use crate::config::ConfigError;
use crate::memory::{Allocate, Borrowed, Memory};
use crate::nodes::{NodeSlot, Removed};
use crate::phi::Detector;
use crate::plan::{Ask, BeatRunPlan, PlanItem};
use crate::store::{NIL, Slot};

/// Default node capacity: a 1000-node cluster with room to spare.
pub const DEFAULT_NODES: usize = 1024;
/// Default entry capacity: 16 keys per node at the default node capacity.
pub const DEFAULT_ENTRIES: usize = 16 * 1024;
/// Default bytes of keys and values (with their 8-byte block headers): 1 MiB.
pub const DEFAULT_STATE_BYTES: usize = 1024 * 1024;
/// Default failure-detector window: 256 intervals (one byte each) per node,
/// 85 s of history at the default beat of a third of a second: enough for
/// the mean and deviation of gossip's arrivals, and a quarter of the
/// memory of the 1000 Akka and Cassandra keep (Akka's beat is a second).
pub const DEFAULT_WINDOW: usize = 256;

/// How much an engine can hold, fixed when it is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Capacity {
    /// Nodes, the local one included (1..=65,535). A node past this many is
    /// not learned (counted in `nodes_refused`).
    pub nodes: usize,
    /// Entries over all nodes, tombstones included (< 2^32 - 1).
    pub entries: usize,
    /// Bytes of keys and values, 8 bytes of block header per entry
    /// included (< 2^32 - 1).
    pub state_bytes: usize,
    /// Failure-detector window: heartbeat intervals remembered per node,
    /// one byte each (1..=65,535).
    pub window: usize,
}

impl Capacity {
    /// Sized for a cluster of up to a thousand nodes with 16 keys each.
    pub const DEFAULT: Capacity = Capacity {
        nodes: DEFAULT_NODES,
        entries: DEFAULT_ENTRIES,
        state_bytes: DEFAULT_STATE_BYTES,
        window: DEFAULT_WINDOW,
    };

    /// Largest `window`.
    pub const MAX_WINDOW: usize = u16::MAX as usize;

    /// Checks that an engine of this capacity can work: at least one node
    /// (the local one), no more slots than the tables can number.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let unusable = self.nodes == 0
            || self.nodes > usize::from(u16::MAX)
            || self.entries >= NIL as usize
            || self.state_bytes >= u32::MAX as usize
            || self.window == 0
            || self.window > Self::MAX_WINDOW;
        if unusable {
            Err(ConfigError::CapacityUnusable)
        } else {
            Ok(())
        }
    }

    /// Bytes of memory per node slot: the slot, its detector and window,
    /// its place on the ring and in the memory of removed nodes, and the
    /// scratch lists replies are planned in.
    pub const fn bytes_per_node(&self) -> usize {
        let fixed = size_of::<Option<NodeSlot>>()
            .saturating_add(size_of::<Detector>())
            .saturating_add(size_of::<u16>()) // ring
            .saturating_add(size_of::<Removed>())
            .saturating_add(size_of::<PlanItem>())
            .saturating_add(size_of::<Ask>())
            .saturating_add(size_of::<(u16, u64)>()) // heartbeats read from a digest
            .saturating_add(size_of::<u16>()) // peer candidates
            .saturating_add(size_of::<u16>()) // ends of Syn pieces
            .saturating_add(size_of::<u16>()) // notices of a SynAck
            .saturating_add(size_of::<(u16, u32)>()) // its heartbeat deltas
            .saturating_add(size_of::<BeatRunPlan>()); // and its beat runs
        fixed.saturating_add(self.window)
    }

    /// Bytes of memory per entry slot: the slot and its hash bucket.
    pub const fn bytes_per_entry() -> usize {
        size_of::<Slot>().saturating_add(size_of::<u32>())
    }

    /// The exact size of an engine's tables at this capacity (the engine
    /// value itself adds about 2 KiB), saturating at `usize::MAX`.
    pub const fn memory_bytes(&self) -> usize {
        self.nodes
            .saturating_mul(self.bytes_per_node())
            .saturating_add(self.entries.saturating_mul(Self::bytes_per_entry()))
            .saturating_add(self.state_bytes)
    }
}

impl Default for Capacity {
    fn default() -> Self {
        Capacity::DEFAULT
    }
}

/// Every table of one engine, in memory of kind `M`, ready to be turned
/// into an engine by [`crate::Engine::new`].
///
/// Made by [`Buffers::allocate`] (run-time capacity, on the heap) or
/// [`Storage::buffers`] (const capacity, lent); given back by
/// [`crate::Engine::into_buffers`]. The contents do not matter: the engine
/// clears what it uses.
pub struct Buffers<M: Memory> {
    pub(crate) capacity: Capacity,
    pub(crate) node_slots: M::Buf<Option<NodeSlot>>,
    pub(crate) detectors: M::Buf<Detector>,
    pub(crate) windows: M::Buf<u8>,
    pub(crate) ring: M::Buf<u16>,
    pub(crate) removed: M::Buf<Removed>,
    pub(crate) entry_slots: M::Buf<Slot>,
    pub(crate) buckets: M::Buf<u32>,
    pub(crate) arena: M::Buf<u8>,
    pub(crate) plan: M::Buf<PlanItem>,
    pub(crate) asks: M::Buf<Ask>,
    pub(crate) beats: M::Buf<(u16, u64)>,
    pub(crate) candidates: M::Buf<u16>,
    pub(crate) piece_ends: M::Buf<u16>,
    pub(crate) notices: M::Buf<u16>,
    pub(crate) deltas: M::Buf<(u16, u32)>,
    pub(crate) runs: M::Buf<BeatRunPlan>,
}

impl<M: Memory> Buffers<M> {
    /// The capacity these buffers give an engine.
    pub fn capacity(&self) -> Capacity {
        self.capacity
    }
}

impl<M: Allocate> Buffers<M> {
    /// Makes every table for `capacity`, once: [`Capacity::memory_bytes`]
    /// in all. Errors when the capacity is unusable
    /// ([`Capacity::validate`]) or the memory cannot be had
    /// ([`ConfigError::OutOfMemory`]).
    pub fn allocate(capacity: Capacity) -> Result<Self, ConfigError> {
        capacity.validate()?;
        let n = capacity.nodes;
        let oom = ConfigError::OutOfMemory;
        let windows = n.checked_mul(capacity.window).ok_or(oom)?;
        Ok(Buffers {
            capacity,
            node_slots: M::allocate(n, None).ok_or(oom)?,
            detectors: M::allocate(n, Detector::new()).ok_or(oom)?,
            windows: M::allocate(windows, 0u8).ok_or(oom)?,
            ring: M::allocate(n, 0u16).ok_or(oom)?,
            removed: M::allocate(n, Removed::EMPTY).ok_or(oom)?,
            entry_slots: M::allocate(capacity.entries, Slot::FREE).ok_or(oom)?,
            buckets: M::allocate(capacity.entries, NIL).ok_or(oom)?,
            arena: M::allocate(capacity.state_bytes, 0u8).ok_or(oom)?,
            plan: M::allocate(n, PlanItem::EMPTY).ok_or(oom)?,
            asks: M::allocate(n, Ask::EMPTY).ok_or(oom)?,
            beats: M::allocate(n, (0u16, 0u64)).ok_or(oom)?,
            candidates: M::allocate(n, 0u16).ok_or(oom)?,
            piece_ends: M::allocate(n, 0u16).ok_or(oom)?,
            notices: M::allocate(n, 0u16).ok_or(oom)?,
            deltas: M::allocate(n, (0u16, 0u32)).ok_or(oom)?,
            runs: M::allocate(n, BeatRunPlan::EMPTY).ok_or(oom)?,
        })
    }
}

/// Static storage for one engine of `N` nodes, `E` entries, `B` state
/// bytes and a `W`-interval detector window, for targets without an
/// allocator.
///
/// [`Storage::new`] is a `const fn`, so the value can be a `static`
/// (behind the platform's cell or mutex) and is never built on the stack;
/// [`Storage::buffers`] lends it to an engine. Its size is
/// [`Capacity::memory_bytes`] of [`Storage::CAPACITY`].
pub struct Storage<const N: usize, const E: usize, const B: usize, const W: usize = DEFAULT_WINDOW>
{
    node_slots: [Option<NodeSlot>; N],
    detectors: [Detector; N],
    windows: [[u8; W]; N],
    ring: [u16; N],
    removed: [Removed; N],
    entry_slots: [Slot; E],
    buckets: [u32; E],
    arena: [u8; B],
    plan: [PlanItem; N],
    asks: [Ask; N],
    beats: [(u16, u64); N],
    candidates: [u16; N],
    piece_ends: [u16; N],
    notices: [u16; N],
    deltas: [(u16, u32); N],
    runs: [BeatRunPlan; N],
}

impl<const N: usize, const E: usize, const B: usize, const W: usize> Storage<N, E, B, W> {
    /// The capacity this storage gives an engine.
    pub const CAPACITY: Capacity = Capacity {
        nodes: N,
        entries: E,
        state_bytes: B,
        window: W,
    };

    /// Empty storage; `const`, so it can initialise a `static`.
    pub const fn new() -> Self {
        Storage {
            node_slots: [const { None }; N],
            detectors: [const { Detector::new() }; N],
            windows: [[0; W]; N],
            ring: [0; N],
            removed: [Removed::EMPTY; N],
            entry_slots: [Slot::FREE; E],
            buckets: [NIL; E],
            arena: [0; B],
            plan: [PlanItem::EMPTY; N],
            asks: [Ask::EMPTY; N],
            beats: [(0, 0); N],
            candidates: [0; N],
            piece_ends: [0; N],
            notices: [0; N],
            deltas: [(0, 0); N],
            runs: [BeatRunPlan::EMPTY; N],
        }
    }

    /// Lends the storage to one engine ([`crate::Engine::new`]).
    pub fn buffers(&mut self) -> Buffers<Borrowed<'_>> {
        Buffers {
            capacity: Self::CAPACITY,
            node_slots: &mut self.node_slots,
            detectors: &mut self.detectors,
            windows: self.windows.as_flattened_mut(),
            ring: &mut self.ring,
            removed: &mut self.removed,
            entry_slots: &mut self.entry_slots,
            buckets: &mut self.buckets,
            arena: &mut self.arena,
            plan: &mut self.plan,
            asks: &mut self.asks,
            beats: &mut self.beats,
            candidates: &mut self.candidates,
            piece_ends: &mut self.piece_ends,
            notices: &mut self.notices,
            deltas: &mut self.deltas,
            runs: &mut self.runs,
        }
    }
}

impl<const N: usize, const E: usize, const B: usize, const W: usize> Default
    for Storage<N, E, B, W>
{
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::Heap;

    #[test]
    fn storage_is_exactly_the_documented_memory() {
        type S = Storage<16, 128, 8192, 64>;
        assert_eq!(size_of::<S>(), S::CAPACITY.memory_bytes());
        // Odd sizes: the struct only adds padding to its alignment.
        type D = Storage<3, 5, 7, 11>;
        let padding = size_of::<D>() - D::CAPACITY.memory_bytes();
        assert!(padding < align_of::<D>(), "{padding}");
    }

    #[test]
    fn allocated_buffers_have_the_asked_lengths() {
        let cap = Capacity {
            nodes: 5,
            entries: 7,
            state_bytes: 100,
            window: 3,
        };
        let b = Buffers::<Heap>::allocate(cap).expect("allocate");
        assert_eq!(b.capacity(), cap);
        assert_eq!(b.node_slots.len(), 5);
        assert_eq!(b.windows.len(), 15);
        assert_eq!(b.entry_slots.len(), 7);
        assert_eq!(b.arena.len(), 100);
    }

    #[test]
    fn unusable_capacities_are_refused_with_an_error() {
        let ok = Capacity::DEFAULT;
        for bad in [
            Capacity { nodes: 0, ..ok },
            Capacity {
                nodes: 65_536,
                ..ok
            },
            Capacity {
                entries: u32::MAX as usize,
                ..ok
            },
            Capacity {
                state_bytes: u32::MAX as usize,
                ..ok
            },
            Capacity { window: 0, ..ok },
            Capacity {
                window: 65_536,
                ..ok
            },
        ] {
            assert_eq!(
                Buffers::<Heap>::allocate(bad).err(),
                Some(ConfigError::CapacityUnusable),
                "{bad:?}"
            );
        }
        assert_eq!(ok.validate(), Ok(()));
    }
}
