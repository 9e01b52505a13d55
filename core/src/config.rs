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

/// Smallest `max_node_entries`: the leave entry and one key.
pub const MIN_NODE_ENTRIES: usize = 2;
/// Smallest `max_node_bytes`: the leave entry (`"\0status"` = `"leaving"`,
/// 14 bytes) and a one-byte key with an empty value.
pub const MIN_NODE_BYTES: usize = 15;

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
    /// like [`Config::max_node_entries`]. Use the same value on every node.
    /// Default 16 KiB; at least 15 (the leave entry and a one-byte key).
    pub max_node_bytes: usize,
    /// Entries of the store kept for the local node: remote state never
    /// takes the last `local_reserve_entries` slots minus those the local
    /// node already uses, so local writes within the reserve never fail
    /// because of remote state. The entry [`crate::Engine::leave`] writes
    /// has room kept on top of this. Default 8; [`crate::Engine::init`]
    /// refuses a reserve the engine's capacity cannot hold.
    pub local_reserve_entries: usize,
    /// Key and value bytes kept for the local node, like
    /// [`Config::local_reserve_entries`] (the arena also keeps a block
    /// header for each reserved entry). Default 512.
    pub local_reserve_bytes: usize,
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
            max_node_entries: 256,
            max_node_bytes: 16 * 1024,
            local_reserve_entries: 8,
            local_reserve_bytes: 512,
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
        if self.max_node_entries < MIN_NODE_ENTRIES || self.max_node_bytes < MIN_NODE_BYTES {
            return Err(ConfigError::NodeShareTooSmall);
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
    /// The capacities chosen for the engine type cannot hold even the local
    /// node (zero nodes, or more than 65 535 nodes or 2³² entries or bytes).
    CapacityUnusable,
    /// `max_node_entries` is below 2 or `max_node_bytes` below 15: a node
    /// could not hold one key besides the entry that announces its leave.
    NodeShareTooSmall,
    /// The engine's entry or arena capacity cannot hold the local reserve
    /// (`local_reserve_entries`, `local_reserve_bytes` plus a block header
    /// per entry) together with the entry that announces a leave.
    ReserveTooLarge,
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
            ConfigError::CapacityUnusable => f.write_str("engine capacities are unusable"),
            ConfigError::NodeShareTooSmall => write!(
                f,
                "per-node share must allow at least {MIN_NODE_ENTRIES} entries and {MIN_NODE_BYTES} bytes"
            ),
            ConfigError::ReserveTooLarge => {
                f.write_str("local reserve does not fit the engine's entry or arena capacity")
            }
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
        c.max_node_entries = MIN_NODE_ENTRIES - 1;
        assert_eq!(c.validate(), Err(ConfigError::NodeShareTooSmall));
        let mut c = Config::new();
        c.max_node_bytes = MIN_NODE_BYTES - 1;
        assert_eq!(c.validate(), Err(ConfigError::NodeShareTooSmall));
        c.max_node_bytes = MIN_NODE_BYTES;
        assert_eq!(c.validate(), Ok(()));
    }
}
