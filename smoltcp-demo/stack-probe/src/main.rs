//! How much stack a hearsay node on smoltcp needs on a Cortex-M4.
//!
//! Runs in QEMU's MPS2 AN386 board (a Cortex-M4) and prints through
//! semihosting:
//!
//! ```sh
//! apt-get install qemu-system-arm          # Debian's package
//! cd smoltcp-demo/stack-probe && cargo run --release
//! ```
//!
//! Method: stack painting. Before each phase, the 64 KiB below the current
//! stack pointer are filled with a pattern; after it, the lowest word no
//! longer holding the pattern gives the deepest the stack went. Two phases
//! per scenario: building three nodes (`Engine::new` + `Node::new`, each
//! node's memory in statics of the 16-node configuration), and a firmware
//! main loop polling all three every simulated millisecond for 20 s (they
//! meet, one writes a key at 5 s, one stops at 10 s and the others convict
//! it). The scenario runs once unsealed and once with a cluster key
//! (ChaCha20-Poly1305 on every datagram). The figures count only what lies
//! below `main`'s frame: what the program needs on top of its own. It also
//! prints the sizes of what a node keeps in statics, as this target lays
//! them out.
//!
//! This is a measuring tool, not a test: the target's code is what a
//! firmware would run (same crates, same optimisation), but QEMU says
//! nothing about time, and another compiler version may use more or less
//! stack.

#![no_std]
#![no_main]

use core::net::{Ipv4Addr, SocketAddr};
use core::ptr::{read_volatile, write_volatile};

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use hearsay_core::{ClusterKey, Config, Engine, NodeId, NodeStatus, Storage};
use hearsay_smoltcp_demo::{Node, SocketMemory, Wire, XorShift64Star};
use smoltcp::iface::SocketStorage;
use static_cell::ConstStaticCell;

/// The 16-node configuration of docs/embedded.md.
type Mcu16 = Storage<16, 128, 8192, 64>;
const N: usize = 3;
const ADDRS: [Ipv4Addr; N] = [
    Ipv4Addr::new(10, 0, 0, 1),
    Ipv4Addr::new(10, 0, 0, 2),
    Ipv4Addr::new(10, 0, 0, 3),
];
const PORT: u16 = 7946;

/// Two scenarios' worth of statics (unsealed, sealed).
static WIRES: [ConstStaticCell<Wire<N, 8>>; 2] =
    [const { ConstStaticCell::new(Wire::new(ADDRS)) }; 2];
static STORAGE: [ConstStaticCell<Mcu16>; 2 * N] =
    [const { ConstStaticCell::new(Mcu16::new()) }; 2 * N];
static SOCKETS: [ConstStaticCell<SocketMemory>; 2 * N] =
    [const { ConstStaticCell::new(SocketMemory::new()) }; 2 * N];
static SLOTS: [ConstStaticCell<[SocketStorage<'static>; 1]>; 2 * N] =
    [const { ConstStaticCell::new([SocketStorage::EMPTY]) }; 2 * N];

const PATTERN: u32 = 0xa5a5_a5a5;
/// Bytes painted below the stack pointer.
const DEPTH: usize = 64 * 1024;

/// Paints the `DEPTH` bytes below the caller's frame (inlined, so this is
/// `main`'s stack pointer, less a margin for this code's own use) and
/// returns the top of the painted region.
#[inline(always)]
fn paint() -> usize {
    let top = cortex_m::register::msp::read() as usize - 64;
    for addr in (top - DEPTH..top).step_by(4) {
        // SAFETY: free stack below the current frame, 4-aligned; nothing
        // lives there until the next call.
        unsafe { write_volatile(addr as *mut u32, PATTERN) };
    }
    top
}

/// Bytes below `top` that the stack reached since `paint`.
#[inline(always)]
fn used(top: usize) -> usize {
    let lowest = (top - DEPTH..top)
        .step_by(4)
        // SAFETY: the region `paint` wrote, now below the stack pointer.
        .find(|&addr| unsafe { read_volatile(addr as *const u32) } != PATTERN)
        .unwrap_or(top);
    top - lowest
}

fn addr(i: usize) -> SocketAddr {
    SocketAddr::new(ADDRS[i].into(), PORT)
}

/// Builds node `i` of the scenario (`set` 0 or 1 picks the statics).
#[inline(never)]
fn build(set: usize, i: usize, sealed: bool, wire: &mut Wire<N, 8>) -> Node<'static> {
    {
        let k = set * N + i;
        let mut rng = XorShift64Star::new(k as u64 + 1);
        let id = NodeId::new(["a", "b", "c"][i], 1, addr(i)).unwrap();
        let mut engine =
            Engine::new(STORAGE[k].take().buffers(), id, Config::new(), &mut rng).unwrap();
        engine.set_seeds(&[addr(0)]);
        engine.set("fw", b"2.4.1").unwrap();
        if sealed {
            engine.install_key(ClusterKey::new([7; 32])).unwrap();
        }
        Node::new(
            &mut wire.tap(i),
            engine,
            SOCKETS[k].take(),
            SLOTS[k].take(),
            24,
            0,
            k as u64,
        )
        .unwrap()
    }
}

/// A firmware's main loop over 20 simulated seconds, 1 ms a turn; node 1
/// writes a key at 5 s, node 2 stops at 10 s.
#[inline(never)]
fn run(wire: &mut Wire<N, 8>, nodes: &mut [Node<'static>; N]) {
    let mut rngs: [XorShift64Star; N] =
        core::array::from_fn(|i| XorShift64Star::new(100 + i as u64));
    for now in 0..20_000u64 {
        if now == 5_000 {
            nodes[1]
                .gossip_mut()
                .engine_mut()
                .set("mode", b"auto")
                .unwrap();
        }
        for (i, (node, rng)) in nodes.iter_mut().zip(&mut rngs).enumerate() {
            if i == 2 && now >= 10_000 {
                continue;
            }
            node.poll(now, &mut wire.tap(i), rng, &mut ());
        }
    }
}

fn scenario(set: usize, sealed: bool) -> bool {
    let wire = WIRES[set].take();
    let top = paint();
    let first = build(set, 0, sealed, wire);
    let build_bytes = used(top);
    let mut nodes = [
        first,
        build(set, 1, sealed, wire),
        build(set, 2, sealed, wire),
    ];
    let top = paint();
    run(wire, &mut nodes);
    let loop_bytes = used(top);

    let a = nodes[0].gossip().engine();
    let b_ok = a
        .node("b")
        .is_some_and(|v| v.status() == NodeStatus::Alive && v.get("mode") == Some(&b"auto"[..]));
    let c_dead = a.node("c").is_some_and(|v| v.status() == NodeStatus::Dead);
    let counters = a.counters();
    hprintln!(
        "{}: building a node (Engine::new, Node::new) {} bytes of stack; main loop {} bytes; a sees b alive with its key: {}, c dead: {}; a: {} datagrams in, {} out, {} sealed out",
        if sealed { "sealed" } else { "unsealed" },
        build_bytes,
        loop_bytes,
        b_ok,
        c_dead,
        counters.datagrams_in,
        counters.datagrams_out,
        counters.sealed_out
    );
    b_ok && c_dead
}

#[entry]
fn main() -> ! {
    let capacity = Mcu16::CAPACITY;
    hprintln!(
        "sizes on this target: Storage<16, 128, 8192, 64> {} bytes (Capacity::memory_bytes {}: {} a node slot, {} an entry slot, {} of state); SocketMemory {} bytes; SocketStorage {} bytes a slot; Node {} bytes (Engine {}, Interface {})",
        size_of::<Mcu16>(),
        capacity.memory_bytes(),
        capacity.bytes_per_node(),
        hearsay_core::Capacity::bytes_per_entry(),
        capacity.state_bytes,
        size_of::<SocketMemory>(),
        size_of::<SocketStorage<'static>>(),
        size_of::<Node<'static>>(),
        size_of::<Engine<hearsay_core::Borrowed<'static>>>(),
        size_of::<smoltcp::iface::Interface>()
    );
    let ok = scenario(1, true) & scenario(0, false);
    debug::exit(if ok {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    hprintln!("panic: {}", info);
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}
