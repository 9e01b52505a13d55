//! Runtime settings of an engine, validated once at [`crate::Engine::new`].

use core::fmt;
use core::time::Duration;

use crate::phi::DetectorConfig;
use crate::time::duration_millis;
use crate::wire::{MAX_DATAGRAM_LEN, MIN_MTU, MIN_PROTOCOL_VERSION, PROTOCOL_VERSION};

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

/// Smallest `max_node_entries`: the leave entry and one key.
pub const MIN_NODE_ENTRIES: usize = 2;
/// Smallest `max_node_bytes`: the leave entry (`"\0status"` = `"leaving"`,
/// 14 bytes) and a one-byte key with an empty value.
pub const MIN_NODE_BYTES: usize = 15;

/// Settings of one engine. Build with [`Config::new`] (or `Default`) and adjust
/// the public fields; [`crate::Engine::new`] rejects inconsistent values.
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
    /// get a reset. Default one hour; at most [`Config::MAX_GRACE`].
    pub tombstone_grace: Duration,
    /// How often the engine runs a gossip round, ±10 % of jitter (its
    /// schedule, [`crate::deadline`]: runtimes wake it at
    /// [`crate::Engine::poll_timeout`]). Driven by the deadline API, a
    /// round is spread over one part per peer of the fanout (at most 8),
    /// evenly, and the heartbeat advances at each part. Default 1 s; from
    /// 1 ms to [`Config::MAX_GOSSIP_INTERVAL`].
    pub gossip_interval: Duration,
    /// Live peers each round gossips with (one per part of the round).
    /// Default 3.
    pub fanout: usize,
    /// The failure detector's settings.
    pub detector: DetectorConfig,
    /// How long a dead or departed node is kept: after half of it, it is no
    /// longer gossiped; after all of it, its state is removed (and its id
    /// remembered so that stale gossip cannot bring it back). Default one
    /// hour; from [`Config::MIN_DEAD_GRACE`] to [`Config::MAX_GRACE`].
    pub dead_grace: Duration,
    /// How long a leaving node keeps gossiping its departure before it
    /// stops ([`crate::Engine::leave`]). Default 3 s; at most
    /// [`Config::MAX_LEAVE_LINGER`].
    pub leave_linger: Duration,
    /// How long a node whose heartbeat has never been seen to advance here
    /// (pending) is kept before it is dropped. A live newcomer advances
    /// within a round or two, so this is short: made-up or long-gone ids
    /// must not hold slots of the node table. Pending nodes are never
    /// introduced to peers, and a dropped one is not remembered as removed,
    /// so it is welcome again the moment it shows life. Default 10 s (ten
    /// intervals at the default interval); from two gossip intervals to
    /// [`Config::MAX_GRACE`].
    pub pending_timeout: Duration,
    /// Most entries one node's namespace may hold, tombstones and hearsay's
    /// reserved keys included: its share of every store in the cluster.
    /// The owner's writes fail with [`crate::WriteError::NamespaceFull`]
    /// beyond it (keeping room for the entry [`crate::Engine::leave`]
    /// writes); a receiver refuses a piece that would take a remote node
    /// beyond it, counted in [`crate::Counters::oversized_namespaces`], and
    /// that node's copy stays where it is until the owner shrinks. Use the
    /// same value on every node. Default 256; at least 2.
    pub max_node_entries: usize,
    /// Most key and value bytes one node's namespace may hold (tombstones
    /// and reserved keys included; block headers not counted), enforced
    /// like [`Config::max_node_entries`] — except that a receiver refuses a
    /// remote node only beyond twice this: a copy cut short by the mtu can
    /// hold new keys next to older values of keys the owner has shrunk
    /// since, each part within the share. Use the same value on every node.
    /// Default 80 KiB ([`Config::DEFAULT_MAX_NODE_BYTES`]: one value of the
    /// default [`Config::max_value_len`] and 16 KiB of other keys); at
    /// least 15 (the leave entry and a one-byte key).
    pub max_node_bytes: usize,
    /// Entries of the store kept for the local node: remote state never
    /// takes the last `local_reserve_entries` slots minus those the local
    /// node already uses, so local writes within the reserve never fail
    /// because of remote state. The entry [`crate::Engine::leave`] writes
    /// has room kept on top of this. Default 8; [`crate::Engine::new`]
    /// refuses a reserve the engine's capacity cannot hold.
    pub local_reserve_entries: usize,
    /// Highest protocol version this node speaks, from
    /// [`MIN_PROTOCOL_VERSION`] to [`PROTOCOL_VERSION`] (the default). A
    /// node always reads every version in that range and speaks to each
    /// peer the highest both support; setting it lower makes a node behave
    /// as the previous release on the wire (a simulator's "old" nodes in a
    /// rolling upgrade, or holding a cluster at the old version until every
    /// node runs the new release).
    pub protocol_version: u8,
    /// Key and value bytes kept for the local node, like
    /// [`Config::local_reserve_entries`] (the arena also keeps a block
    /// header for each reserved entry). Default 512.
    pub local_reserve_bytes: usize,
    /// Longest value a key may hold, in bytes. Meant to be the same on every
    /// node: the owner refuses a longer write
    /// ([`crate::WriteError::ValueTooLong`]), and a receiver refuses a piece
    /// carrying a longer value, counted in
    /// [`crate::Counters::oversized_values`] (a node configured with a larger
    /// limit than this one). The engine's limit is this bounded by its state
    /// capacity ([`crate::Engine::max_value_len`]); a value must also fit
    /// the node's share ([`Config::max_node_bytes`]). Default 64 KiB
    /// ([`Config::DEFAULT_MAX_VALUE_LEN`]). Values longer than a datagram
    /// travel in chunks (module `chunk`).
    pub max_value_len: usize,
}

impl Config {
    /// Longest `tombstone_grace` and `dead_grace`: a year. Far beyond any
    /// useful value, yet `now + grace` stays far from the end of a `u64`
    /// millisecond clock whatever origin the caller picked.
    pub const MAX_GRACE: Duration = Duration::from_secs(365 * 24 * 3600);
    /// Shortest `dead_grace`: 2 ms, so that its half (when a dead node
    /// stops being gossiped) is not zero.
    pub const MIN_DEAD_GRACE: Duration = Duration::from_millis(2);
    /// Longest `gossip_interval`: an hour. The runtime's timers add it to
    /// the system clock, which must not overflow.
    pub const MAX_GOSSIP_INTERVAL: Duration = Duration::from_secs(3600);
    /// Longest `leave_linger`: an hour ([`crate::Engine::leave`] waits that
    /// long; runtimes add a margin to it, which must not overflow).
    pub const MAX_LEAVE_LINGER: Duration = Duration::from_secs(3600);
    /// Default `max_value_len`: 64 KiB.
    pub const DEFAULT_MAX_VALUE_LEN: usize = 64 * 1024;
    /// Default `max_node_bytes`: 80 KiB, so that a node's share holds a
    /// value of the default longest length with 16 KiB to spare for its
    /// other keys. The share only caps what one node may claim of every
    /// store; it allocates nothing.
    pub const DEFAULT_MAX_NODE_BYTES: usize = Self::DEFAULT_MAX_VALUE_LEN + 16 * 1024;

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
            max_node_entries: 256,
            max_node_bytes: Self::DEFAULT_MAX_NODE_BYTES,
            local_reserve_entries: 8,
            local_reserve_bytes: 512,
            protocol_version: PROTOCOL_VERSION,
            max_value_len: Self::DEFAULT_MAX_VALUE_LEN,
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
        // The engine's own durations first: a detector scaled to an
        // out-of-range gossip interval should name the interval.
        self.check_durations()?;
        self.detector.validate()?;
        if self.fanout == 0 || duration_millis(self.gossip_interval) == 0 {
            return Err(ConfigError::NoGossip);
        }
        if self.max_node_entries < MIN_NODE_ENTRIES || self.max_node_bytes < MIN_NODE_BYTES {
            return Err(ConfigError::NodeShareTooSmall);
        }
        if !(MIN_PROTOCOL_VERSION..=PROTOCOL_VERSION).contains(&self.protocol_version) {
            return Err(ConfigError::ProtocolVersionUnsupported);
        }
        Ok(())
    }

    /// Each duration against its documented range, so that no derived
    /// computation (`now + grace`, `linger + margin`, timers on the system
    /// clock) can overflow.
    fn check_durations(&self) -> Result<(), ConfigError> {
        let ms = Duration::from_millis;
        let checks = [
            (
                self.tombstone_grace,
                Duration::ZERO,
                Self::MAX_GRACE,
                ConfigError::TombstoneGraceOutOfRange,
            ),
            (
                self.gossip_interval,
                ms(1),
                Self::MAX_GOSSIP_INTERVAL,
                ConfigError::GossipIntervalOutOfRange,
            ),
            (
                self.dead_grace,
                Self::MIN_DEAD_GRACE,
                Self::MAX_GRACE,
                ConfigError::DeadGraceOutOfRange,
            ),
            (
                self.leave_linger,
                Duration::ZERO,
                Self::MAX_LEAVE_LINGER,
                ConfigError::LeaveLingerOutOfRange,
            ),
        ];
        for (value, min, max, error) in checks {
            if !(min..=max).contains(&value) {
                return Err(error);
            }
        }
        let pending = self.gossip_interval.saturating_mul(2)..=Self::MAX_GRACE;
        if !pending.contains(&self.pending_timeout) {
            return Err(ConfigError::PendingTimeoutOutOfRange);
        }
        Ok(())
    }
}

// The detector's settings are checked here, beside every other setting
// and the error that names them, so that `phi` stays free of `config`.
impl DetectorConfig {
    /// Checks each setting against its documented range; the error names
    /// the first one outside it.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(self.threshold.is_finite() && self.threshold > 0.0) {
            return Err(ConfigError::InvalidDetector);
        }
        let ms = Duration::from_millis(1);
        if self.min_std_deviation > Self::MAX_DURATION {
            return Err(ConfigError::MinStdDeviationOutOfRange);
        }
        if self.acceptable_heartbeat_pause > Self::MAX_DURATION {
            return Err(ConfigError::HeartbeatPauseOutOfRange);
        }
        if !(ms..=Self::MAX_INTERVAL).contains(&self.max_interval) {
            return Err(ConfigError::MaxIntervalOutOfRange);
        }
        if !(ms..=self.max_interval).contains(&self.first_heartbeat_estimate) {
            return Err(ConfigError::FirstHeartbeatEstimateOutOfRange);
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
    /// The detector's threshold is not positive and finite.
    InvalidDetector,
    /// `fanout` is zero.
    NoGossip,
    /// `tombstone_grace` is longer than [`Config::MAX_GRACE`].
    TombstoneGraceOutOfRange,
    /// `gossip_interval` is outside 1 ms..=[`Config::MAX_GOSSIP_INTERVAL`].
    GossipIntervalOutOfRange,
    /// `dead_grace` is outside
    /// [`Config::MIN_DEAD_GRACE`]..=[`Config::MAX_GRACE`].
    DeadGraceOutOfRange,
    /// `leave_linger` is longer than [`Config::MAX_LEAVE_LINGER`].
    LeaveLingerOutOfRange,
    /// The detector's `min_std_deviation` is longer than
    /// [`DetectorConfig::MAX_DURATION`].
    MinStdDeviationOutOfRange,
    /// The detector's `acceptable_heartbeat_pause` is longer than
    /// [`DetectorConfig::MAX_DURATION`].
    HeartbeatPauseOutOfRange,
    /// The detector's `max_interval` is outside
    /// 1 ms..=[`DetectorConfig::MAX_INTERVAL`].
    MaxIntervalOutOfRange,
    /// The detector's `first_heartbeat_estimate` is outside 1 ms..=its
    /// `max_interval`.
    FirstHeartbeatEstimateOutOfRange,
    /// `pending_timeout` is outside two gossip intervals..=
    /// [`Config::MAX_GRACE`]: shorter, a live newcomer would be dropped
    /// before it could show its heartbeat moving.
    PendingTimeoutOutOfRange,
    /// The engine's capacity cannot work: zero nodes or more than 65,535,
    /// 2³² - 1 entries or state bytes or more, or a detector window outside
    /// 1..=65,535 ([`crate::Capacity::validate`]).
    CapacityUnusable,
    /// The memory for the engine's tables could not be allocated
    /// ([`crate::capacity::Buffers::allocate`]).
    OutOfMemory,
    /// `max_node_entries` is below 2 or `max_node_bytes` below 15: a node
    /// could not hold one key besides the entry that announces its leave.
    NodeShareTooSmall,
    /// The engine's entry or arena capacity cannot hold the local reserve
    /// (`local_reserve_entries`, `local_reserve_bytes` plus a block header
    /// per entry) together with the entry that announces a leave.
    ReserveTooLarge,
    /// `protocol_version` is outside
    /// [`MIN_PROTOCOL_VERSION`]..=[`PROTOCOL_VERSION`].
    ProtocolVersionUnsupported,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::MtuOutOfRange => write!(
                f,
                "mtu must be between {MIN_MTU} and {MAX_DATAGRAM_LEN} bytes"
            ),
            ConfigError::BudgetBelowMtu => f.write_str("exchange budget is smaller than the mtu"),
            ConfigError::InvalidDetector => {
                f.write_str("failure detector threshold must be positive and finite")
            }
            ConfigError::NoGossip => f.write_str("fanout must be positive"),
            ConfigError::TombstoneGraceOutOfRange => {
                f.write_str("tombstone_grace must be at most 365 days")
            }
            ConfigError::GossipIntervalOutOfRange => {
                f.write_str("gossip_interval must be from 1 ms to 1 hour")
            }
            ConfigError::DeadGraceOutOfRange => {
                f.write_str("dead_grace must be from 2 ms to 365 days")
            }
            ConfigError::LeaveLingerOutOfRange => f.write_str("leave_linger must be at most 1 hour"),
            ConfigError::MinStdDeviationOutOfRange => {
                f.write_str("detector min_std_deviation must be at most 1 day")
            }
            ConfigError::HeartbeatPauseOutOfRange => {
                f.write_str("detector acceptable_heartbeat_pause must be at most 1 day")
            }
            ConfigError::MaxIntervalOutOfRange => {
                f.write_str("detector max_interval must be from 1 ms to 65 s")
            }
            ConfigError::FirstHeartbeatEstimateOutOfRange => f.write_str(
                "detector first_heartbeat_estimate must be from 1 ms to the detector's max_interval",
            ),
            ConfigError::PendingTimeoutOutOfRange => f.write_str(
                "pending_timeout must be from two gossip intervals to 365 days",
            ),
            ConfigError::CapacityUnusable => f.write_str(
                "engine capacity is unusable: nodes must be 1..=65535, entries and state bytes below 2^32 - 1, the detector window 1..=65535",
            ),
            ConfigError::OutOfMemory => {
                f.write_str("not enough memory for the engine's tables at this capacity")
            }
            ConfigError::NodeShareTooSmall => write!(
                f,
                "per-node share must allow at least {MIN_NODE_ENTRIES} entries and {MIN_NODE_BYTES} bytes"
            ),
            ConfigError::ReserveTooLarge => {
                f.write_str("local reserve does not fit the engine's entry or arena capacity")
            }
            ConfigError::ProtocolVersionUnsupported => write!(
                f,
                "protocol_version must be from {MIN_PROTOCOL_VERSION} to {PROTOCOL_VERSION}"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::fnv1a32;
    use std::vec;

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
    }

    /// Every duration setting has a range, and its own error past either
    /// end; the ends themselves are accepted.
    #[test]
    fn every_duration_is_range_checked() {
        type Set = fn(&mut Config, Duration);
        let ms = Duration::from_millis;
        let cases: [(Set, Duration, Duration, ConfigError); 8] = [
            (
                |c, d| c.tombstone_grace = d,
                Duration::ZERO,
                Config::MAX_GRACE,
                ConfigError::TombstoneGraceOutOfRange,
            ),
            (
                // With the pending timeout at least two intervals, so
                // that only this limit is tested.
                |c, d| {
                    c.gossip_interval = d;
                    c.pending_timeout = d.saturating_mul(2).min(Config::MAX_GRACE);
                },
                ms(1),
                Config::MAX_GOSSIP_INTERVAL,
                ConfigError::GossipIntervalOutOfRange,
            ),
            (
                |c, d| c.dead_grace = d,
                Config::MIN_DEAD_GRACE,
                Config::MAX_GRACE,
                ConfigError::DeadGraceOutOfRange,
            ),
            (
                |c, d| c.leave_linger = d,
                Duration::ZERO,
                Config::MAX_LEAVE_LINGER,
                ConfigError::LeaveLingerOutOfRange,
            ),
            (
                |c, d| c.detector.min_std_deviation = d,
                Duration::ZERO,
                DetectorConfig::MAX_DURATION,
                ConfigError::MinStdDeviationOutOfRange,
            ),
            (
                |c, d| c.detector.acceptable_heartbeat_pause = d,
                Duration::ZERO,
                DetectorConfig::MAX_DURATION,
                ConfigError::HeartbeatPauseOutOfRange,
            ),
            (
                // With the estimate at its floor, so that only this limit
                // is tested.
                |c, d| {
                    c.detector.first_heartbeat_estimate = Duration::from_millis(1);
                    c.detector.max_interval = d;
                },
                ms(1),
                DetectorConfig::MAX_INTERVAL,
                ConfigError::MaxIntervalOutOfRange,
            ),
            (
                |c, d| c.detector.first_heartbeat_estimate = d,
                ms(1),
                DetectorConfig::new().max_interval,
                ConfigError::FirstHeartbeatEstimateOutOfRange,
            ),
        ];
        // A detector scaled to a too-long interval names the interval.
        let mut c = Config::new();
        c.gossip_interval = Duration::from_secs(100 * 24 * 3600);
        c.detector.acceptable_heartbeat_pause = c.gossip_interval * 2;
        assert_eq!(c.validate(), Err(ConfigError::GossipIntervalOutOfRange));
        for (set, min, max, error) in cases {
            for ok in [min, max] {
                let mut c = Config::new();
                set(&mut c, ok);
                assert_eq!(c.validate(), Ok(()), "{error:?} at {ok:?}");
            }
            let mut bad = vec![max + Duration::from_nanos(1), max * 2, Duration::MAX];
            if let Some(below) = min.checked_sub(Duration::from_nanos(1)) {
                bad.push(below);
            }
            for d in bad {
                let mut c = Config::new();
                set(&mut c, d);
                assert_eq!(c.validate(), Err(error), "{d:?}");
            }
        }
        let mut c = Config::new();
        c.pending_timeout = c.gossip_interval * 2 - Duration::from_millis(1);
        assert_eq!(c.validate(), Err(ConfigError::PendingTimeoutOutOfRange));
        c.pending_timeout = c.gossip_interval * 2;
        assert_eq!(c.validate(), Ok(()));
        c.pending_timeout = Config::MAX_GRACE + Duration::from_nanos(1);
        assert_eq!(c.validate(), Err(ConfigError::PendingTimeoutOutOfRange));
        let mut c = Config::new();
        c.max_node_entries = MIN_NODE_ENTRIES - 1;
        assert_eq!(c.validate(), Err(ConfigError::NodeShareTooSmall));
        let mut c = Config::new();
        c.max_node_bytes = MIN_NODE_BYTES - 1;
        assert_eq!(c.validate(), Err(ConfigError::NodeShareTooSmall));
        c.max_node_bytes = MIN_NODE_BYTES;
        assert_eq!(c.validate(), Ok(()));
    }
}
