//! The test kit shared by hearsay's multi-node tests (package `tests`) and
//! its benchmarks (package `benches`), so they drive engines with the same
//! pieces instead of private copies:
//!
//! - [`Cluster`] and its companions ([`Faults`], [`EventLog`],
//!   [`Datagram`], [`View`]): the deterministic multi-node harness on a
//!   fake clock, with a lossy, duplicating, reordering network, crashes,
//!   restarts, partitions and late joiners. [`new_engine`] is the one
//!   place the kit builds an engine.
//! - [`SimRng`]: the one RNG, the simulator's (re-exported from
//!   `hearsay-sim`), so a seed means the same sequence everywhere.
//! - [`Recorder`]: the [`Transmit`](hearsay_core::Transmit) sink that keeps
//!   every datagram with its destination and checks it against the mtu.
//! - [`CountingSink`]: the sink benchmarks measure with; it only counts and
//!   does not allocate when sending.
//!
//! hearsay-core's own unit tests keep their helpers in `core/src/testkit.rs`:
//! they cannot depend on this crate without a second copy of core's types.
//!
//! ```
//! use hearsay_core::Config;
//! use hearsay_testkit::{Cluster, Faults};
//!
//! let mut c = Cluster::new(3, &Config::new(), 7);
//! c.nodes[2].set("k", b"v").unwrap();
//! for _ in 0..10 {
//!     c.round(1000, Faults::NONE);
//! }
//! assert_eq!(c.view(0, 2), Some(c.own_view(2)));
//! ```

mod harness;
mod sink;

pub use harness::{
    Cluster, Datagram, EventLog, Faults, Membership, TEST_CAPACITY, TestEngine, View, addr,
    new_engine,
};
pub use hearsay_sim::SimRng;
pub use sink::{CountingSink, Recorder};
