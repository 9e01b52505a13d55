//! Runtime settings of an engine, validated once at [`crate::Engine::init`].

use core::fmt;
use core::time::Duration;

use crate::phi::DetectorConfig;
use crate::time::duration_millis;
use crate::wire::{MAX_DATAGRAM_LEN, MIN_MTU};

/// Identifies a cluster on the wire by a 32-bit fingerprint of its name.
///
/// Every datagram carries the fingerprint; datagrams with another one are
/// dropped and counted, so two clusters sharing a network never mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClusterId(u32);

impl ClusterId {
    /// The fingerprint of a cluster name (FNV-1a 32 of its UTF-8 bytes).
    pub const fn new(name: &str) -> Self {
        let mut rest = name.as_bytes();
        let mut h: u32 = 0x811c_9dc5;
        while let [b, tail @ ..] = rest {
            h ^= *b as u32;
            h = h.wrapping_mul(0x0100_0193);
            rest = tail;
        }
        ClusterId(h)
    }

    /// A cluster id from a fingerprint already computed elsewhere.
    pub const fn from_fingerprint(fingerprint: u32) -> Self {
        ClusterId(fingerprint)
    }

    /// The 32-bit value carried in every datagram header.
    pub const fn fingerprint(self) -> u32 {
        self.0
    }
}

/// Settings of one engine. Build with [`Config::new`] (or `Default`) and adjust
/// the public fields; [`crate::Engine::init`] rejects inconsistent values.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Which cluster this node belongs to. Default: `ClusterId::new("hearsay")`.
    pub cluster_id: ClusterId,
    /// Largest datagram this node sends, in bytes of UDP payload.
    /// Default 1400 (fits Ethernet without IP fragmentation); from
    /// [`MIN_MTU`] to [`MAX_DATAGRAM_LEN`].
    pub mtu: usize,
    /// Bytes this node sends at most in answer to one whole Syn (all its
    /// pieces together), and again in the Ack that completes an exchange.
    /// Default 64 KiB. At least `mtu`.
    pub exchange_budget: usize,
    /// How long a tombstone (a deleted key) is kept and gossiped before the
    /// owner garbage-collects it. Peers that are further behind than that
    /// get a reset. Default one hour.
    pub tombstone_grace: Duration,
    /// How often the runtime calls [`crate::Engine::tick`]. The engine does
    /// not keep time itself; runtimes and the simulator read this. Default 1 s.
    pub gossip_interval: Duration,
    /// Live peers each tick gossips with. Default 3.
    pub fanout: usize,
    /// The failure detector's settings.
    pub detector: DetectorConfig,
    /// How long a dead or departed node is kept: after half of it, it is no
    /// longer gossiped; after all of it, its state is removed (and its id
    /// remembered so that stale gossip cannot bring it back). Default one hour.
    pub dead_grace: Duration,
    /// How long a leaving node keeps gossiping its departure before it
    /// stops ([`crate::Engine::leave`]). Default 3 s.
    pub leave_linger: Duration,
    /// How long a node whose heartbeat has never been seen to advance here
    /// (pending) is kept before it is dropped. A live newcomer advances
    /// within a round or two, so this is short: made-up or long-gone ids
    /// must not hold slots of the node table. Pending nodes are never
    /// introduced to peers, and a dropped one is not remembered as removed,
    /// so it is welcome again the moment it shows life. Default 10 s (ten
    /// intervals at the default interval); at least two gossip intervals.
    pub pending_timeout: Duration,
}

impl Config {
    /// The default settings (see each field).
    pub const fn new() -> Self {
        Config {
            cluster_id: ClusterId::new("hearsay"),
            mtu: 1400,
            exchange_budget: 64 * 1024,
            tombstone_grace: Duration::from_secs(3600),
            gossip_interval: Duration::from_secs(1),
            fanout: 3,
            detector: DetectorConfig::new(),
            dead_grace: Duration::from_secs(3600),
            leave_linger: Duration::from_secs(3),
            pending_timeout: Duration::from_secs(10),
        }
    }

    /// Checks the settings against each other and the protocol's limits.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(MIN_MTU..=MAX_DATAGRAM_LEN).contains(&self.mtu) {
            return Err(ConfigError::MtuOutOfRange);
        }
        if self.exchange_budget < self.mtu {
            return Err(ConfigError::BudgetBelowMtu);
        }
        if !self.detector.is_valid() {
            return Err(ConfigError::InvalidDetector);
        }
        if self.fanout == 0 || duration_millis(self.gossip_interval) == 0 {
            return Err(ConfigError::NoGossip);
        }
        if duration_millis(self.dead_grace) < 2 {
            return Err(ConfigError::GraceTooShort);
        }
        if self.pending_timeout < self.gossip_interval.saturating_mul(2) {
            return Err(ConfigError::PendingTimeoutTooShort);
        }
        Ok(())
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::new()
    }
}

/// Why an engine could not be initialised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigError {
    /// `mtu` is outside [`MIN_MTU`]..=[`MAX_DATAGRAM_LEN`].
    MtuOutOfRange,
    /// `exchange_budget` is smaller than one datagram.
    BudgetBelowMtu,
    /// Detector threshold not positive and finite, `max_interval` outside
    /// 1 ms..=65 s, or first estimate above `max_interval`.
    InvalidDetector,
    /// `fanout` or `gossip_interval` is zero.
    NoGossip,
    /// `dead_grace` is shorter than 2 ms.
    GraceTooShort,
    /// `pending_timeout` is shorter than two gossip intervals: a live
    /// newcomer would be dropped before it could show its heartbeat moving.
    PendingTimeoutTooShort,
    /// The capacities chosen for the engine type cannot hold even the local
    /// node (zero nodes, or more than 65 535 nodes or 2³² entries or bytes).
    CapacityUnusable,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::MtuOutOfRange => write!(
                f,
                "mtu must be between {MIN_MTU} and {MAX_DATAGRAM_LEN} bytes"
            ),
            ConfigError::BudgetBelowMtu => f.write_str("exchange budget is smaller than the mtu"),
            ConfigError::InvalidDetector => f.write_str("failure detector settings are invalid"),
            ConfigError::NoGossip => f.write_str("fanout and gossip interval must be positive"),
            ConfigError::GraceTooShort => f.write_str("dead grace is too short"),
            ConfigError::PendingTimeoutTooShort => {
                f.write_str("pending timeout is shorter than two gossip intervals")
            }
            ConfigError::CapacityUnusable => f.write_str("engine capacities are unusable"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::fnv1a32;

    #[test]
    fn cluster_fingerprint_matches_fnv() {
        assert_eq!(ClusterId::new("hearsay").fingerprint(), fnv1a32(b"hearsay"));
        assert_ne!(ClusterId::new("a"), ClusterId::new("b"));
    }

    #[test]
    fn validation() {
        assert_eq!(Config::new().validate(), Ok(()));
        let mut c = Config::new();
        c.mtu = MIN_MTU - 1;
        assert_eq!(c.validate(), Err(ConfigError::MtuOutOfRange));
        c.mtu = MAX_DATAGRAM_LEN + 1;
        assert_eq!(c.validate(), Err(ConfigError::MtuOutOfRange));
        c.mtu = MAX_DATAGRAM_LEN;
        c.exchange_budget = MAX_DATAGRAM_LEN - 1;
        assert_eq!(c.validate(), Err(ConfigError::BudgetBelowMtu));
        let mut c = Config::new();
        c.fanout = 0;
        assert_eq!(c.validate(), Err(ConfigError::NoGossip));
        let mut c = Config::new();
        c.detector.threshold = -1.0;
        assert_eq!(c.validate(), Err(ConfigError::InvalidDetector));
        let mut c = Config::new();
        c.dead_grace = Duration::ZERO;
        assert_eq!(c.validate(), Err(ConfigError::GraceTooShort));
        let mut c = Config::new();
        c.pending_timeout = c.gossip_interval * 2 - Duration::from_millis(1);
        assert_eq!(c.validate(), Err(ConfigError::PendingTimeoutTooShort));
        c.pending_timeout = c.gossip_interval * 2;
        assert_eq!(c.validate(), Ok(()));
    }
}
