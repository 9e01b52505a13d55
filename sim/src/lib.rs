//! A deterministic network simulator for clusters of hearsay engines,
//! built on hearsay-core's public API only (`std`, test infrastructure).
//!
//! [`Sim`] runs many sans-IO [`Engine`](hearsay_core::Engine)s on one virtual clock
//! against a modelled network, in a single thread, as a discrete-event
//! simulation driven through the engines' own deadline API, as hearsay-std
//! drives them: after every call into node `i`'s engine (start, datagram,
//! local write, timeout), the node's one queued timeout moves to
//! [`Engine::poll_timeout`](hearsay_core::Engine::poll_timeout), where
//! [`Engine::handle_timeout`](hearsay_core::Engine::handle_timeout) does what is
//! due (a gossip round about once per `gossip_interval`, convictions, TTL
//! expiry...). Each node starts at its own random phase within one
//! interval; every datagram is an event delivered after a latency drawn
//! from its link's distribution, and nothing else moves time. Links lose,
//! duplicate and reorder datagrams; partitions (full or one-way, between any
//! node sets) come and go at any virtual time; nodes crash silently, resume
//! with their state, restart as a new generation, leave gracefully or join
//! late. It is what hearsay's scenario tests and its convergence, bandwidth
//! and failure-detection benchmarks run on, and what you can use to size
//! your own deployment.
//!
//! **Determinism.** All randomness — the network's, the start phases, the
//! generations and the engines' own peer choices — comes from one
//! [`SimRng`] seeded from [`SimConfig::seed`]; events at the same microsecond
//! run in the order they were scheduled. The same seed and the same calls
//! give the same run, bit for bit: [`Sim::trace_hash`] fingerprints every
//! datagram and event so tests can check it.
//!
//! **Measurements.** Traffic per node (datagrams and bytes, in and out, and
//! gossip rounds, so per-round averages are exact) — [`Sim::metrics`]; how long a
//! key update takes to reach every running node — [`Sim::set_tracked`],
//! [`Sim::propagation`]; how long until every live node reports a crash —
//! [`Sim::crash`], [`Sim::detection`]; false positives — any `NodeDead` about
//! a running node the observer can reach (outside a short grace after one
//! of the two resumed or restarted or a partition between them healed,
//! [`SimConfig::false_positive_grace`]), [`Sim::false_positives`]; every
//! `NodeDead` report, [`Sim::convictions`], and flapping — an observer
//! reporting the same incarnation dead, alive again, dead again —
//! [`Sim::flapping`]. Each
//! node's membership events (and optionally its key events) are recorded
//! with their virtual time: [`Sim::log`].
//!
//! # Example
//!
//! Sixteen nodes on a lossy network: converge, spread a key, detect a crash.
//!
//! ```
//! use std::time::Duration;
//! use hearsay_core::Capacity;
//! use hearsay_sim::{Latency, Sim, SimConfig};
//!
//! let mut config = SimConfig::new(7); // the seed
//! // Engine capacities: 32 nodes, 512 entries, 32 KiB of keys and values,
//! // 64-interval detector windows (about 72 KiB per node).
//! config.capacity = Capacity { nodes: 32, entries: 512, state_bytes: 32768, window: 64 };
//! config.network.loss = 0.10;
//! config.network.latency = Latency::Normal {
//!     mean: Duration::from_millis(2),
//!     std_dev: Duration::from_millis(1),
//!     min: Duration::from_micros(200),
//! };
//! let mut sim = Sim::new(config);
//! sim.add_nodes(16); // nodes 0, 1 and 2 are the seeds
//!
//! // Everyone lists everyone as alive within a minute of virtual time.
//! let took = sim.wait_for(Duration::from_secs(60), Duration::from_secs(1), |s| s.converged());
//! assert!(took.is_some());
//!
//! // Measure one key update and the steady-state traffic.
//! sim.reset_metrics();
//! let update = sim.set_tracked(5, "http", b"10.0.0.6:8080").unwrap();
//! sim.run_for(Duration::from_secs(20));
//! let p = sim.propagation(update);
//! assert!(p.rounds.unwrap() < 10.0, "{p:?}");
//! let m = sim.metrics();
//! println!(
//!     "{:.0} B and {:.1} datagrams sent per node per round",
//!     m.bytes_out_per_node_per_round(),
//!     m.datagrams_out_per_node_per_round()
//! );
//!
//! // A silent crash is reported by every running node.
//! sim.crash(9);
//! sim.run_for(Duration::from_secs(20));
//! let d = sim.detection(9).unwrap();
//! assert!(d.is_complete());
//! println!("detected in {:?} (median), {:?} (max)", d.median().unwrap(), d.max().unwrap());
//! assert!(sim.false_positives().is_empty());
//! ```
//!
//! # Sizing a deployment with it
//!
//! - **Capacities.** [`SimConfig::capacity`] is the
//!   [`Capacity`](hearsay_core::Capacity) of every node's engine: `nodes`
//!   slots (the cluster size with room for restarts: a replaced generation
//!   frees its slot at once, dead ones only after `dead_grace`), `entries`
//!   slots over all nodes (keys per node × nodes, plus tombstones kept for
//!   `tombstone_grace`), `state_bytes` (keys + values + 8 bytes per
//!   entry), `window` detector intervals per node. Each engine's tables are
//!   allocated once, [`Capacity::memory_bytes`](hearsay_core::Capacity::memory_bytes)
//!   of them (plus about 2 KiB for the engine value); a run needs that times
//!   the node count. A restarted node's new engine reuses the memory of the
//!   one it replaces. Capacity problems show in the engines' counters
//!   ([`Engine::counters`](hearsay_core::Engine::counters): `refused_nodes`,
//!   `refused_pieces`).
//! - **Settings.** [`SimConfig::engine`] is the [`Config`](hearsay_core::Config)
//!   every node uses: try your `mtu`, `fanout`, `gossip_interval`, detector
//!   and graces against your network ([`SimConfig::network`],
//!   [`Sim::set_link`]) and read bandwidth, propagation rounds, detection
//!   times and false positives.
//! - **Scale.** Engines live on the heap, so even debug builds never
//!   build one on the stack; but simulate hundreds of nodes in release
//!   mode (debug builds are about 25 times slower). A simulation holds up
//!   to [`MAX_NODES`] nodes (one address each in `10.0.0.0/8`); an engine
//!   up to 65,535 node slots. The
//!   cost of a round grows with the square of the cluster size (every
//!   exchange carries a digest of every node) and is almost all spent in the
//!   engines: about 5 ms of CPU for 100 nodes, 0.8 s for 1000 and 3.1 s for
//!   2000 on a shared two-core machine, of which the simulator's own
//!   queue, routing and trace hash are about 3 % (`examples/simulate.rs`
//!   prints its own). Nothing the simulator checks scans more than each
//!   engine's node table once ([`Sim::converged`]). Memory is the engines'
//!   size times the node count (2.6 GB for 1000 default-window engines
//!   sized for 1000 nodes, 10.8 GB for 2000), so it too grows with the
//!   square of the cluster size when node slots follow it; the simulator's
//!   own is a few megabytes. Record key events ([`SimConfig::record_keys`])
//!   only in small runs.
//! - **The standard measurement.** [`measure`] is the workload
//!   `examples/simulate.rs` runs (warm-up, steady state, spaced or mass
//!   crashes or a fault scenario of [`faults`], with its capacity sized
//!   from the keys per node) and `examples/tradeoff.rs` repeats over a
//!   grid of settings ([`grid`]; [`plot`] draws the trade-off as an SVG).
//!   Their command lines are parsed in `examples` (clap), not here.
//!
//! The simulator is test infrastructure: it allocates, and it panics on
//! misuse (a node index out of range, an invalid configuration:
//! [`Sim::try_new`] returns that as an error instead).

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod cluster;
pub mod contract;
pub mod faults;
pub mod grid;
pub mod measure;
mod metrics;
mod network;
mod observe;
pub mod plot;
mod queue;
mod record;
mod rng;
#[cfg(test)]
mod tests;

pub use cluster::{NodeState, Sim, SimConfig};
pub use metrics::{
    Conviction, Detection, FalsePositive, Flapping, Metrics, NetStats, Propagation, TrackId,
    Traffic,
};
pub use network::{Latency, LinkModel, MAX_NODES, PartitionId, SIM_PORT, node_addr, node_index};
pub use record::{Record, SimEvent, Subject};
pub use rng::SimRng;
