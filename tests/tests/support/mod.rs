//! What the hearsay-std tests on loopback share: test timings (gossip every
//! 100 ms, a detector that convicts in about 1.5 s but tolerates a second of
//! scheduling hiccups, so the files run in seconds and do not flap on a
//! loaded two-core CI machine) and polling for an outcome.

// Each test file uses its own part of this module.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use hearsay_std::Node;
use hearsay_std::builder::scaled_detector;

/// The gossip interval of every test node.
pub const INTERVAL: Duration = Duration::from_millis(100);
/// How long any expected outcome may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A node named `name` with the test timings.
pub fn builder(name: &str) -> hearsay_std::Builder {
    let mut detector = scaled_detector(INTERVAL);
    detector.acceptable_heartbeat_pause = Duration::from_secs(1);
    detector.min_std_deviation = Duration::from_millis(100);
    Node::builder(name)
        .gossip_interval(INTERVAL)
        .detector(detector)
}

/// Polls `cond` every 20 ms until it holds and returns how long that took;
/// panics with `what` after [`PATIENCE`].
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < PATIENCE, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}
