//! A node's memory is allocated once, at start, in proportion to its
//! capacity, and does not grow with traffic.
//!
//! A counting global allocator measures (a) the bytes `Builder::start`
//! allocates on the calling thread, which builds the engine, for several
//! capacities: the differences between them must be exactly the
//! differences of `Capacity::memory_bytes` (the tables are exact-size
//! boxes, and everything else `start` allocates does not depend on the
//! capacity); and (b) the live heap of the whole process while two nodes
//! gossip and take writes: it must stay within a small bound of where it
//! was once they were up.
//!
//! Everything runs in one test function: (b) counts every thread's
//! allocations, so nothing else may run beside it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use hearsay_std::{Builder, Capacity, Node, NodeStatus};

/// Counts bytes: live ones in the whole process, and allocated ones per
/// thread.
struct Counting;

/// Bytes allocated and not yet freed, all threads.
static LIVE: AtomicIsize = AtomicIsize::new(0);

thread_local! {
    /// Bytes this thread allocated (never decreased). Const-initialised
    /// and without a destructor, so using it never allocates.
    static MINE: Cell<usize> = const { Cell::new(0) };
}

fn note_alloc(size: usize) {
    LIVE.fetch_add(
        isize::try_from(size).unwrap_or(isize::MAX),
        Ordering::Relaxed,
    );
    let _ = MINE.try_with(|m| m.set(m.get().wrapping_add(size)));
}

fn note_free(size: usize) {
    LIVE.fetch_sub(
        isize::try_from(size).unwrap_or(isize::MAX),
        Ordering::Relaxed,
    );
}

// SAFETY: every call is forwarded to `System` with the caller's arguments;
// the counting only touches atomics and a const thread-local cell, which
// neither allocate nor unwind.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            note_alloc(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            note_alloc(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note_free(layout.size());
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            note_free(layout.size());
            note_alloc(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn mine() -> usize {
    MINE.with(Cell::get)
}

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// Starts `builder` and returns the node with the bytes `start` allocated
/// on this thread.
fn start_counted(builder: Builder) -> (Node, usize) {
    let before = mine();
    let node = builder.start().expect("start");
    (node, mine() - before)
}

/// A builder of the same name and settings every time, so that what
/// `start` allocates besides the tables is the same too.
fn builder() -> Builder {
    Builder::new("m")
}

fn small() -> Builder {
    builder()
        .max_nodes(10)
        .max_entries(128)
        .max_state_bytes(8 * 1024)
        .detector_window(64)
}

/// How far the live heap may move while two nodes gossip and take writes.
/// What can be allocated at a given moment, besides the tables, is
/// transient: datagrams waiting for the engine (at most `INBOUND`, each of
/// at most the 1400-byte mtu: 88 KiB), a datagram being read or sent, the
/// replies and timers of commands in flight, member snapshots a caller
/// holds (none here). 256 KiB covers that with room to spare; a leak of
/// even 64 bytes per write or per datagram would pass it within the
/// thousands of each this test makes, and the tables (MiBs) are far above.
const GROWTH_BOUND: isize = 256 * 1024;
const INBOUND: usize = 64;

#[test]
fn memory_is_allocated_once_at_start_in_proportion_to_the_capacity() {
    // (a) Bytes allocated by start, for three capacities.
    let mut measured = Vec::new();
    for (what, b) in [
        ("small", small()),
        ("default", builder()),
        ("max_nodes(5000)", builder().max_nodes(5000)),
    ] {
        let (node, bytes) = start_counted(b);
        let capacity = node.capacity();
        node.shutdown().expect("shutdown");
        eprintln!(
            "{what}: start allocated {bytes} bytes on its thread; tables {} bytes ({capacity:?})",
            capacity.memory_bytes()
        );
        measured.push((what, bytes, capacity.memory_bytes()));
    }
    let (_, small_bytes, small_tables) = measured[0];
    for &(what, bytes, tables) in &measured[1..] {
        assert_eq!(
            bytes - small_bytes,
            tables - small_tables,
            "{what}: start's allocations differ from small's by exactly the tables"
        );
    }
    // What start allocates besides the tables is small: mostly the slots
    // of the bounded channels, made up front (1024 for inbound datagrams,
    // 256 for commands), plus thread names and handles.
    let overhead = small_bytes - small_tables;
    assert!(overhead < 128 * 1024, "overhead {overhead}");
    assert_eq!(
        measured[1].2,
        Capacity::DEFAULT.memory_bytes(),
        "the default builder has the default capacity"
    );

    // (b) The live heap while two nodes gossip and take writes.
    let interval = Duration::from_millis(20);
    let a = builder()
        .gossip_interval(interval)
        .inbound_capacity(INBOUND)
        .start()
        .expect("a");
    let b = Builder::new("peer")
        .gossip_interval(interval)
        .inbound_capacity(INBOUND)
        .seed(a.local_addr().to_string())
        .start()
        .expect("b");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let sees = |n: &Node, name: &str| {
        n.member(name)
            .expect("member")
            .is_some_and(|m| m.status == NodeStatus::Alive)
    };
    while !(sees(&a, "peer") && sees(&b, "m")) {
        assert!(std::time::Instant::now() < deadline, "the nodes never met");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Warm up: every lazily made per-thread structure exists, every key
    // the loop writes exists at both nodes.
    let write_round = |round: usize| {
        for k in 0..32 {
            a.set(&format!("key{k}"), format!("value {round} {k}"))
                .expect("set a");
            b.set(&format!("key{k}"), format!("value {round} {k}"))
                .expect("set b");
        }
    };
    for round in 0..10 {
        write_round(round);
    }
    let settled_a = a.counters().expect("counters").engine.datagrams_in;
    while a.counters().expect("counters").engine.datagrams_in < settled_a + 20 {
        assert!(std::time::Instant::now() < deadline, "no gossip");
        std::thread::sleep(Duration::from_millis(10));
    }
    let baseline = live();
    let mut highest = baseline;
    let datagrams_before = a.counters().expect("counters").engine.datagrams_in;
    for round in 10..110 {
        write_round(round);
        highest = highest.max(live());
    }
    // Gossip keeps going while nothing is written.
    let idle_until = a.counters().expect("counters").engine.datagrams_in + 100;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while a.counters().expect("counters").engine.datagrams_in < idle_until {
        highest = highest.max(live());
        assert!(std::time::Instant::now() < deadline, "gossip stopped");
        std::thread::sleep(Duration::from_millis(5));
    }
    let datagrams = a.counters().expect("counters").engine.datagrams_in - datagrams_before;
    let end = live();
    eprintln!(
        "live heap: baseline {baseline}, highest {highest} (+{}), end {end} (+{}); \
         6400 writes, {datagrams} datagrams received by one node",
        highest - baseline,
        end - baseline
    );
    assert!(
        highest - baseline <= GROWTH_BOUND,
        "the live heap grew by {} bytes with traffic",
        highest - baseline
    );
    a.shutdown().expect("shutdown");
    b.shutdown().expect("shutdown");
}
