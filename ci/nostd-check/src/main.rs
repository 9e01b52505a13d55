//! Bare-metal link check for hearsay-core and hearsay-smoltcp-demo (see
//! Cargo.toml).
//!
//! Builds an engine in storage it lends, writes a key and encodes a Syn into a
//! fixed buffer; then runs two engines on smoltcp UDP sockets over the demo's
//! simulated wire, as a firmware's main loop would, every buffer in a static
//! (the 16-node configuration of docs/embedded.md). All of it is reachable
//! from the entry point so the linker keeps the code. There is deliberately
//! no `#[global_allocator]`: if `alloc` (or `std`) ever enters either crate's
//! dependency graph, this crate fails to build.

#![no_std]
#![no_main]

use core::hint::black_box;
use core::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use core::panic::PanicInfo;

use hearsay_core::{ClusterKey, Config, Engine, Event, NodeId, Storage, Transmit};
use hearsay_smoltcp_demo::{Node, SocketMemory, Wire, XorShift64Star};
use smoltcp::iface::SocketStorage;
use static_cell::ConstStaticCell;

/// Largest datagram the check encodes; matches the default mtu.
const MTU: usize = 1400;

/// A `Transmit` that writes into a fixed buffer and remembers what was sent.
struct Buffer {
    buf: [u8; MTU],
    datagrams: usize,
    bytes: usize,
    last_to: Option<SocketAddr>,
}

impl Transmit for Buffer {
    fn buffer(&mut self) -> &mut [u8] {
        &mut self.buf
    }

    fn send(&mut self, to: SocketAddr, len: usize) {
        self.datagrams = self.datagrams.wrapping_add(1);
        self.bytes = self.bytes.wrapping_add(len);
        self.last_to = Some(to);
        black_box(self.buf.get(..len));
    }
}

/// A stand-in for a hardware RNG (xorshift64*): where the engine's nonces
/// start.
struct BoardRng(u64);

impl rand_core::RngCore for BoardRng {
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for b in dst {
            *b = self.next_u64() as u8;
        }
    }
}

/// Exercises hearsay-core; returns the number of Syn datagrams sent, or
/// `None` if any step failed.
#[inline(never)]
fn exercise(generation: u64) -> Option<usize> {
    let addr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 7000));
    let peer = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 7000));

    // 4 nodes, 16 entries, 1 KiB of state, a 16-interval window: small
    // enough for an MCU stack (a larger one would be a `static`).
    let mut storage = Storage::<4, 16, 1024, 16>::new();
    let id = NodeId::new("mcu", generation, addr).ok()?;
    let mut rng = BoardRng(black_box(0x9e37_79b9_7f4a_7c15));
    let mut engine = Engine::new(storage.buffers(), id, Config::new(), &mut rng).ok()?;
    // Sealing (ChaCha20-Poly1305) links without `alloc` too.
    engine
        .install_key(ClusterKey::new(black_box([7; 32])))
        .ok()?;
    engine.set("fw", b"1.0.0").ok()?;

    let mut tx = Buffer {
        buf: [0; MTU],
        datagrams: 0,
        bytes: 0,
        last_to: None,
    };
    let sent = engine.start_exchange(peer, &mut tx).ok()?;
    black_box(&tx);
    black_box(engine.get("fw"));
    (sent == tx.datagrams && tx.bytes > 0 && tx.last_to == Some(peer)).then_some(sent)
}

/// The 16-node microcontroller configuration of docs/embedded.md: 16 node
/// slots, 128 entries, 8 KiB of keys and values, a 64-interval window.
type Mcu16 = Storage<16, 128, 8192, 64>;

const ADDRS: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)];

// What a firmware puts in statics, built in place by const constructors
// (in .bss, never on the stack): per node the engine's tables, the UDP
// socket's buffers and a socket slot; and the simulated wire, which stands
// in for the Ethernet driver's DMA rings.
static STORAGE_A: ConstStaticCell<Mcu16> = ConstStaticCell::new(Mcu16::new());
static STORAGE_B: ConstStaticCell<Mcu16> = ConstStaticCell::new(Mcu16::new());
static SOCKETS_A: ConstStaticCell<SocketMemory> = ConstStaticCell::new(SocketMemory::new());
static SOCKETS_B: ConstStaticCell<SocketMemory> = ConstStaticCell::new(SocketMemory::new());
static SLOTS_A: ConstStaticCell<[SocketStorage<'static>; 1]> =
    ConstStaticCell::new([SocketStorage::EMPTY]);
static SLOTS_B: ConstStaticCell<[SocketStorage<'static>; 1]> =
    ConstStaticCell::new([SocketStorage::EMPTY]);
static WIRE: ConstStaticCell<Wire<2, 4>> = ConstStaticCell::new(Wire::new(ADDRS));

/// Two engines gossiping over smoltcp on the simulated wire for `ms`
/// milliseconds of a clock stepped by 1 ms, the way a firmware's main loop
/// polls; returns how many nodes the first knows, or `None` if a step
/// failed.
#[inline(never)]
fn exercise_smoltcp(ms: u64) -> Option<usize> {
    let wire = WIRE.take();
    let mut rng = BoardRng(black_box(0x2545_f491_4f6c_dd1d));
    let addr = |i: usize| SocketAddr::V4(SocketAddrV4::new(ADDRS[i], 7946));
    let a_id = NodeId::new("a", 1, addr(0)).ok()?;
    let b_id = NodeId::new("b", 1, addr(1)).ok()?;
    let mut a = Engine::new(STORAGE_A.take().buffers(), a_id, Config::new(), &mut rng).ok()?;
    let b = Engine::new(STORAGE_B.take().buffers(), b_id, Config::new(), &mut rng).ok()?;
    a.set_seeds(&[addr(1)]);
    let seed = rng.0;
    let mut a = Node::new(
        &mut wire.tap(0),
        a,
        SOCKETS_A.take(),
        SLOTS_A.take(),
        24,
        0,
        seed,
    )
    .ok()?;
    let mut b = Node::new(
        &mut wire.tap(1),
        b,
        SOCKETS_B.take(),
        SLOTS_B.take(),
        24,
        0,
        !seed,
    )
    .ok()?;
    let mut rng_b = XorShift64Star::new(black_box(3));
    let mut joined = 0usize;
    let mut observer = |event: &Event<'_>| {
        if let Event::NodeJoined { .. } = event {
            joined = joined.wrapping_add(1);
        }
    };
    for now in 0..ms {
        a.poll(now, &mut wire.tap(0), &mut rng, &mut observer);
        b.poll(now, &mut wire.tap(1), &mut rng_b, &mut observer);
    }
    black_box(joined);
    Some(a.gossip().engine().node_count())
}

/// Entry point (the reset handler on a real board).
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    let result = exercise(black_box(1));
    black_box(result);
    let known = exercise_smoltcp(black_box(3_000));
    black_box(known);
    loop {
        core::hint::spin_loop();
    }
}

#[panic_handler]
fn panic(_info: &PanicInfo) -> ! {
    loop {
        core::hint::spin_loop();
    }
}
