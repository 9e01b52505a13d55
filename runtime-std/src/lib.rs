//! # hearsay-std
//!
//! Runs a [hearsay](hearsay_core) node on a server: a UDP socket, a gossip
//! timer and a handle to use it from any thread. No async runtime: a few
//! plain threads and bounded channels.
//!
//! ```
//! use std::time::Duration;
//! use hearsay_std::{MembershipEvent, Node};
//!
//! fn main() -> Result<(), hearsay_std::Error> {
//!     // Two nodes on loopback gossiping every 100 ms; b has a as its seed.
//!     let fast = Duration::from_millis(100);
//!     let a = Node::builder("a").gossip_interval(fast).start()?;
//!     let events = a.subscribe_membership()?;
//!     let b = Node::builder("b")
//!         .gossip_interval(fast)
//!         .leave_linger(Duration::from_millis(300))
//!         .seed(a.local_addr().to_string())
//!         .set("http", "127.0.0.1:8080")
//!         .start()?;
//!
//!     // a soon knows b's keys...
//!     let mut http = None;
//!     for _ in 0..500 {
//!         http = a.get_from("b", "http")?;
//!         if http.is_some() {
//!             break;
//!         }
//!         std::thread::sleep(Duration::from_millis(20));
//!     }
//!     assert_eq!(http.as_deref(), Some(&b"127.0.0.1:8080"[..]));
//!
//!     // ...and sees it leave when it departs gracefully.
//!     b.leave()?;
//!     loop {
//!         match events.recv_timeout(Duration::from_secs(10)) {
//!             Ok(MembershipEvent::Left { node }) => break assert_eq!(node.name.as_str(), "b"),
//!             Ok(_) => continue,
//!             Err(e) => panic!("no departure seen: {e}"),
//!         }
//!     }
//!     a.shutdown()?; // joins a's threads; dropping the last handle does too
//!     Ok(())
//! }
//! ```
//!
//! ## Threads
//!
//! ```text
//!  socket ──recv_from──▶ [receive thread] ──bounded──▶ ┐
//!  Node handles ───────── commands (+ reply) ────────▶ ├─ select! ─▶ [engine thread] ──send_to──▶ socket
//!  seed names ──DNS──▶ [resolver thread] ──bounded──▶  │              │ owns the Engine
//!  crossbeam at(engine's next deadline) ─────────────▶ ┘              └──try_send──▶ subscriptions
//! ```
//!
//! - The **receive thread** blocks in `recv_from` (read timeout 100 ms, so
//!   shutdown is prompt) and passes datagrams of up to 65,507 bytes on; when
//!   the engine is too busy to keep up they are dropped and counted.
//! - The **engine thread** owns the [`hearsay_core::Engine`], whose tables
//!   were allocated once on the heap by [`Builder::start`] at the capacity
//!   the builder chose ([`Builder::max_nodes`]; about 3.1 MiB by default),
//!   and is the only thread that touches it, so there is no lock around the
//!   protocol state.
//! - The **resolver thread** (only when there are seeds) re-resolves seed
//!   names every 30 s; a name that does not resolve is logged and retried.
//!   Shutdown does not wait for a lookup stuck in DNS: the thread is left
//!   to end when the lookup returns.
//!
//! ## Consistency of reads
//!
//! Every [`Node`] operation is a command to the engine thread, answered on a
//! reply channel. Reads therefore see all writes issued before them, and
//! [`Node::members`] is a snapshot of one moment. Remote state is, as always
//! with gossip, only as recent as the last exchange.
//!
//! ## Subscriptions
//!
//! [`Node::subscribe_keys`], [`Node::subscribe_membership`] and
//! [`Node::subscribe`] (both kinds in one channel, in the order they
//! happened) return [`Subscription`]s wrapping bounded crossbeam
//! receivers. Events follow hearsay-core's event contract: one event per
//! membership change; a node introduced once, by `Joined` when first seen
//! alive (its keys right after) or by `Replaced` when it restarts one this
//! node knew (see [`subscription`]). The engine never
//! waits for a subscriber: when one lags, new events are dropped and counted,
//! and a `Lagged { missed }` marker is queued where the gap is (see
//! [`subscription`]).
//!
//! ## Logging
//!
//! Through the [`log`] facade, target `hearsay_std`: membership changes at
//! `info`, seed resolution trouble and socket errors at `warn`, malformed or
//! foreign datagrams at `debug`. Lines about network input are limited to
//! one per kind per 10 s, with a count of the suppressed ones, so a flood of
//! garbage cannot flood the log; the [`Counters`] count every one.
//!
//! ## Metrics
//!
//! [`Node::counters`] counts everything the node does and refuses;
//! [`Node::gauges`] tells what it holds now. With feature `metrics`,
//! `metrics::encode` renders both as OpenMetrics text with a `cluster`
//! label, and `metrics::MetricsServer` serves them to Prometheus from a
//! plain blocking HTTP listener (module `metrics` lists every metric).
//!
//! ## Features
//!
//! - `metrics`: the `metrics` module (adds `prometheus-client`).
//! - `serde`: `Serialize` and `Deserialize` on [`Member`], [`Counters`],
//!   [`Gauges`], [`Keys`], [`MembershipEvent`] and [`KeyEvent`], and on the
//!   hearsay-core types inside them (hearsay-core's own `serde` feature).
//!   Key values are strings when valid UTF-8 in human-readable formats
//!   ([`Member`] shows the JSON).
//!
//! ## Dependencies
//!
//! - `hearsay-core`: the protocol itself.
//! - `socket2`: std's `UdpSocket` cannot set the receive buffer size or
//!   make an IPv6 socket dual-stack before binding; socket2 is the thin,
//!   widely used wrapper over the system calls (it only adds `libc`).
//! - `crossbeam-channel`: `select!` over several channels and timers
//!   (`at`, `never`) and bounded channels with `try_send`, which
//!   the engine loop is built on; std's `mpsc` has no `select`.
//! - `log`: the logging facade; the application picks the logger, and
//!   logging costs nothing when none is installed.
//! - `rand` (0.9, only `std_rng` and `os_rng`): the engine needs a
//!   `rand_core` 0.9 RNG to pick gossip peers; `StdRng` seeded from the OS
//!   makes nodes started together choose differently.
//! - `prometheus-client` (feature `metrics`, no default features): the
//!   Prometheus project's Rust client, for the OpenMetrics and Prometheus
//!   text encodings (names, escaping, the two formats) rather than writing
//!   them by hand; it adds `dtoa`, `itoa`, `parking_lot` and a derive
//!   crate, and no async runtime.
//! - `serde` (feature `serde`): the derives; hearsay-core already depends
//!   on it for its wire codec.
//!
//! ## Module map
//!
//! - [`builder`]: settings and starting a node.
//! - [`node`]: the [`Node`] handle.
//! - `engine_loop`: the engine thread and its commands.
//! - `socket`: binding, the receive thread, the send sink.
//! - [`resolver`]: the seed resolver thread, and [`Resolve`], how seed
//!   names become addresses.
//! - [`subscription`]: events, subscriptions, what happens when they lag.
//! - [`member`], [`counters`]: snapshots returned by reads ([`Member`];
//!   [`Counters`] and [`Gauges`]).
//! - `metrics` (feature `metrics`): the text exposition and
//!   `MetricsServer`, its HTTP listener.
//! - `serde_fields` (feature `serde`): how key values and phi serialize.
//! - [`error`]: the [`Error`] type. `ratelimit`: log rate limiting.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod builder;
pub mod counters;
mod engine_loop;
pub mod error;
mod identity;
pub mod member;
#[cfg(feature = "metrics")]
pub mod metrics;
pub mod node;
mod ratelimit;
pub mod resolver;
#[cfg(feature = "serde")]
mod serde_fields;
mod socket;
pub mod subscription;

pub use builder::Builder;
pub use counters::{Counters, Gauges};
pub use engine_loop::Keys;
pub use error::Error;
pub use hearsay_core::{
    Capacity, ClusterId, Config, DecodeError, DetectorConfig, KeyError, KeyFingerprint, KeyMode,
    NodeId, NodeStatus, PhiModel,
};
pub use member::Member;
pub use node::Node;
pub use resolver::Resolve;
pub use subscription::{KeyEvent, MembershipEvent, NodeEvent, Subscription};

/// The README's Rust examples (hearsay-core's and this crate's), compiled
/// and run as doctests here, where both crates are in scope.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
