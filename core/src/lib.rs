//! # hearsay-core
//!
//! The sans-IO heart of hearsay: cluster membership and a cluster-wide
//! key-value state, reconciled by Scuttlebutt anti-entropy gossip.
//!
//! Every node owns a namespace of keys it alone writes, and holds a copy of
//! every other node's namespace. Nodes reconcile those copies pairwise with a
//! three-way exchange (Syn → SynAck → Ack, see [`exchange`]) that sends only
//! what the peer lacks, in datagrams that never exceed the configured mtu.
//!
//! The crate is `no_std`, never allocates, never panics on input from the
//! network and has no I/O: the caller passes in time ([`Instant`]), received
//! datagrams ([`Engine::handle_datagram`]) and a sink for outgoing ones
//! ([`Transmit`]), and receives [`Event`]s through an [`Observer`]. The
//! engine owns its schedule: [`Engine::poll_timeout`] says when it next
//! needs the time, and [`Engine::handle_timeout`] does everything due then
//! (gossip rounds, convictions, TTL expiry; see [`deadline`]). The same
//! engine runs in a microcontroller loop, a threaded server and a simulator.
//!
//! ```
//! use core::net::SocketAddr;
//! use hearsay_core::{Config, Engine, Instant, NodeId, Storage, Transmit};
//!
//! /// Collects datagrams instead of sending them.
//! #[derive(Default)]
//! struct Outbox { buf: Vec<u8>, sent: Vec<(SocketAddr, Vec<u8>)> }
//! impl Transmit for Outbox {
//!     fn buffer(&mut self) -> &mut [u8] { self.buf.resize(1400, 0); &mut self.buf }
//!     fn send(&mut self, to: SocketAddr, len: usize) { self.sent.push((to, self.buf[..len].to_vec())) }
//! }
//!
//! let a_addr: SocketAddr = "127.0.0.1:7001".parse().unwrap();
//! let b_addr: SocketAddr = "127.0.0.1:7002".parse().unwrap();
//! // Static storage with small capacities for the example: 8 nodes, 64
//! // entries, 4 KiB of keys and values, a 64-interval detector window. (On
//! // a server, hearsay-std sizes engines at run time on the heap.)
//! let mut a_memory = Box::new(Storage::<8, 64, 4096, 64>::new());
//! let mut b_memory = Box::new(Storage::<8, 64, 4096, 64>::new());
//! let a_id = NodeId::new("a", 1, a_addr).unwrap();
//! let b_id = NodeId::new("b", 1, b_addr).unwrap();
//! // Where each engine's nonces start, should it seal datagrams: any
//! // `rand_core::RngCore` that differs between nodes and runs.
//! # struct Rng(u64);
//! # impl rand_core::RngCore for Rng {
//! #     fn next_u32(&mut self) -> u32 { self.next_u64() as u32 }
//! #     fn next_u64(&mut self) -> u64 { self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); self.0 >> 11 }
//! #     fn fill_bytes(&mut self, d: &mut [u8]) { for b in d { *b = self.next_u64() as u8 } }
//! # }
//! # let mut rng = Rng(7);
//! let mut a = Engine::new(a_memory.buffers(), a_id, Config::new(), &mut rng).unwrap();
//! let mut b = Engine::new(b_memory.buffers(), b_id, Config::new(), &mut rng).unwrap();
//! a.set("role", b"leader").unwrap();
//!
//! // a opens an exchange with b; deliver datagrams until the network is quiet.
//! let now = Instant::from_millis(0);
//! let mut net = Outbox::default();
//! a.start_exchange(b_addr, &mut net).unwrap();
//! while !net.sent.is_empty() {
//!     let mut next = Outbox::default();
//!     for (to, mut bytes) in net.sent.drain(..) {
//!         let (engine, from) = if to == b_addr { (&mut b, a_addr) } else { (&mut a, b_addr) };
//!         engine.handle_datagram(from, &mut bytes, now, &mut next, &mut ()).unwrap();
//!     }
//!     net = next;
//! }
//! assert_eq!(b.node("a").unwrap().get("role"), Some(&b"leader"[..]));
//! assert_eq!(a.node_count(), 2);
//! ```
//!
//! ## Module map
//!
//! - [`engine`]: the [`Engine`] façade (state, the one constructor,
//!   shared types). Its behaviour lives in one module per concept: local
//!   writes (`local`), membership and identity (`membership`), liveness
//!   (`liveness`), peer selection (`peers`), the replica and its piece rule
//!   (`replica`), the exchange ([`exchange`]: Syn/SynAck/Ack, mtu
//!   splitting, budget and fairness), the datagram entry point (`receive`),
//!   the schedule ([`deadline`]: `poll_timeout` / `handle_timeout`) and the
//!   read API ([`read`]).
//! - [`wire`]: datagram framing and the allocation-free codec, the only
//!   owner of the format.
//! - [`phi`]: the failure detector; [`stall`]: noticing that this node was
//!   itself paused, so that it does not convict its peers for its own
//!   silence; `refute`: when a node takes a new generation.
//! - [`capacity`]: how much an engine holds ([`Capacity`]) and the buffers
//!   it is built in (static [`Storage`] lent to it, or the heap);
//!   [`memory`]: where those buffers live ([`Borrowed`], or `Heap` with
//!   feature `alloc`).
//! - `store`, `arena`, `nodes`, `fixed`, `plan`, `room`: the fixed-capacity
//!   tables behind the engine, and whether state fits them.
//! - [`id`], [`config`], [`counters`], [`event`], [`time`]: identity,
//!   settings, counters, events, caller time.
//!
//! ## Features
//!
//! - `alloc`: `Heap`, engines whose tables are allocated once at run time.
//! - `serde`: `Serialize` and `Deserialize` on the data a caller keeps or
//!   reports ([`NodeId`], [`NodeName`] — checked on the way in —,
//!   [`NodeStatus`], [`Counters`], [`Capacity`], [`KeyFingerprint`],
//!   [`KeyMode`]). Derives only: still `no_std`, no allocation.

#![no_std]
// On docs.rs (`--cfg docsrs`, nightly rustdoc), items gated by a feature
// (`alloc`, `serde`) say so in the docs.
#![cfg_attr(docsrs, feature(doc_cfg))]
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

#[cfg(any(feature = "alloc", test))]
extern crate alloc;
#[cfg(test)]
extern crate std;

mod arena;
mod beat_push;
pub mod capacity;
mod chunk;
mod compact;
pub mod config;
pub mod counters;
pub mod deadline;
pub mod engine;
pub mod event;
pub mod exchange;
mod fixed;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod id;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod invariants;
mod liveness;
mod local;
mod membership;
pub mod memory;
mod nodes;
mod peers;
pub mod phi;
mod plan;
mod push;
pub mod read;
mod receive;
mod refute;
mod replica;
mod room;
pub mod seal;
mod siphash;
pub mod stall;
mod store;
mod syn;
#[cfg(test)]
mod testkit;
pub mod time;
pub mod token;
pub mod wire;

pub use capacity::{
    Buffers, Capacity, DEFAULT_ENTRIES, DEFAULT_NODES, DEFAULT_STATE_BYTES, DEFAULT_WINDOW, Storage,
};
pub use config::{ClusterId, Config, ConfigError, MIN_NODE_BYTES, MIN_NODE_ENTRIES};
pub use counters::Counters;
pub use engine::{Engine, MAX_SEEDS, RESERVED_KEY_PREFIX, SendError, Transmit, WriteError};
pub use event::{Event, Observer};
pub use id::{NameError, NodeId, NodeName};
#[cfg(feature = "alloc")]
pub use memory::Heap;
pub use memory::{Allocate, Borrowed, Memory};
pub use nodes::NodeStatus;
pub use phi::{DetectorConfig, PhiModel};
pub use read::{Entries, EntryRef, NodeView};
pub use seal::{ClusterKey, KeyError, KeyFingerprint, KeyMode};
pub use stall::LocalStall;
pub use store::EntryStatus;
pub use time::Instant;
pub use wire::{DecodeError, MessageKind};
