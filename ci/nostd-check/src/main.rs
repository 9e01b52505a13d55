//! Bare-metal link check for hearsay-core (see Cargo.toml).
//!
//! Builds an engine in storage it lends, writes a key and encodes a Syn into a
//! fixed buffer, all reachable from the entry point so the linker keeps
//! hearsay-core's code. There is deliberately no `#[global_allocator]`: if
//! `alloc` (or `std`) ever enters hearsay-core's dependency graph, this crate
//! fails to build.

#![no_std]
#![no_main]

use core::hint::black_box;
use core::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use core::panic::PanicInfo;

use hearsay_core::{ClusterKey, Config, Engine, NodeId, Storage, Transmit};

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

/// Entry point (the reset handler on a real board).
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    let result = exercise(black_box(1));
    black_box(result);
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
