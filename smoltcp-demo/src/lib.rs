//! # hearsay-smoltcp-demo
//!
//! hearsay-core on a real `no_std` TCP/IP stack: engines gossiping over
//! [`smoltcp`] UDP sockets, with every byte of memory lent by the
//! caller (statics on a microcontroller) and no allocator. The crate is
//! `#![no_std]`, allocation-free and `unsafe`-free, and CI builds it into
//! a bare-metal `thumbv7em-none-eabihf` binary (`ci/nostd-check`).
//!
//! - [`gossip`]: [`Gossip`], the glue between one engine and one smoltcp
//!   UDP socket, and [`SocketMemory`], that socket's buffers. This is the
//!   part a firmware reuses as is.
//! - [`node`]: [`Node`], an interface, its socket set and a `Gossip`: one
//!   board's network side, polled from its main loop.
//! - [`wire`]: [`Wire`], a simulated medium of fixed-capacity frame
//!   queues, whose ports are smoltcp devices (medium IP: no ARP).
//! - [`sim`]: [`Network`], nodes on a wire under one simulated clock, for
//!   the example and the tests.
//! - [`rng`]: [`XorShift64Star`], the stand-in for a hardware RNG.
//!
//! ## What the caller provides
//!
//! - **Time**: a monotonic clock in milliseconds, the same for smoltcp
//!   and hearsay ([`Node::poll`] takes one `u64` and makes both stacks'
//!   instants from it). Any origin will do; it must not go backwards.
//! - **Randomness**: a [`rand_core::RngCore`] (the chip's RNG, or a
//!   generator seeded from it) for the engine's round jitter, peer choice
//!   and nonce salt, and one `u64` to seed smoltcp.
//! - **A UDP socket**: a smoltcp [`SocketSet`](smoltcp::iface::SocketSet)
//!   with a free slot ([`Gossip`] adds its socket there, beside the
//!   program's others), on an [`Interface`](smoltcp::iface::Interface)
//!   the program polls; [`Node`] makes both for a device of medium IP.
//! - **Memory**: the engine's tables ([`hearsay_core::Storage`]), the
//!   socket's buffers ([`SocketMemory`]) and socket storage, each in a
//!   `static` (built in place by their `const fn new`, never on the
//!   stack), lent for `'static`.
//!
//! `docs/embedded.md` in the repository has the memory figures of a
//! 16-node configuration and how they were measured.
//!
//! ```
//! use core::net::{Ipv4Addr, SocketAddr};
//! use hearsay_core::{Config, Engine, NodeId, Storage};
//! use hearsay_smoltcp_demo::{Network, SocketMemory, Wire, XorShift64Star};
//! use smoltcp::iface::SocketStorage;
//! use static_cell::ConstStaticCell;
//!
//! const ADDRS: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)];
//! // Everything in statics, built in place: two nodes of 16 node slots,
//! // 128 entries, 8 KiB of keys and values and a 64-interval window.
//! static WIRE: ConstStaticCell<Wire<2, 8>> = ConstStaticCell::new(Wire::new(ADDRS));
//! static STORAGE: [ConstStaticCell<Storage<16, 128, 8192, 64>>; 2] =
//!     [const { ConstStaticCell::new(Storage::new()) }; 2];
//! static SOCKETS: [ConstStaticCell<SocketMemory>; 2] =
//!     [const { ConstStaticCell::new(SocketMemory::new()) }; 2];
//! static SLOTS: [ConstStaticCell<[SocketStorage<'static>; 1]>; 2] =
//!     [const { ConstStaticCell::new([SocketStorage::EMPTY]) }; 2];
//!
//! let mut net = Network::new(WIRE.take(), 0);
//! for port in 0..2 {
//!     let addr = SocketAddr::new(ADDRS[port].into(), 7946);
//!     let id = NodeId::new(["a", "b"][port], 1, addr).unwrap();
//!     let mut rng = XorShift64Star::new(port as u64 + 1);
//!     let mut engine =
//!         Engine::new(STORAGE[port].take().buffers(), id, Config::new(), &mut rng).unwrap();
//!     engine.set_seeds(&[SocketAddr::new(ADDRS[0].into(), 7946)]);
//!     engine.set("role", [&b"sensor"[..], b"gateway"][port]).unwrap();
//!     net.start(port, engine, SOCKETS[port].take(), SLOTS[port].take(), 10 + port as u64)
//!         .unwrap();
//! }
//! net.run_until(5_000, &mut |_port, _ms, _event| {});
//! let a = net.node(0).unwrap().gossip().engine();
//! assert_eq!(a.node("b").unwrap().get("role"), Some(&b"gateway"[..]));
//! ```

#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

#[cfg(test)]
extern crate std;

pub mod gossip;
pub mod node;
pub mod rng;
pub mod sim;
pub mod wire;

pub use gossip::{GlueError, Gossip, GossipCounters, MAX_MTU, SocketMemory};
pub use node::Node;
pub use rng::XorShift64Star;
pub use sim::Network;
pub use wire::{FRAME_LEN, Tap, Wire, WireCounters};
