//! [`Member`]: an owned snapshot of one node as this node sees it.
//!
//! The engine's [`hearsay_core::NodeView`] borrows the engine, which lives
//! on the engine thread; readers on other threads get a copy instead, taken
//! by the engine thread between two events.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use hearsay_core::{Engine, Instant, Memory, NodeId, NodeStatus, NodeView};

/// One node of the cluster as this node saw it when the snapshot was taken.
///
/// With feature `serde` it serializes as a struct of these fields. In JSON
/// (serde_json), for instance:
///
/// ```json
/// {"name": "b", "generation": 1733212800000, "addr": "10.0.0.2:7946",
///  "status": "Alive", "is_local": false, "phi": 0.42, "heartbeat": 310,
///  "timeout": {"secs": 3, "nanos": 250000000},
///  "since_heartbeat": {"secs": 0, "nanos": 120000000},
///  "status_age": {"secs": 95, "nanos": 0},
///  "keys": {"http": "10.0.0.2:8080", "blob": [255, 0]}}
/// ```
///
/// `status` is the [`NodeStatus`] variant's name; durations are serde's
/// `{secs, nanos}`; `phi` is `null` when infinite; a key's value is a
/// string when it is valid UTF-8 and an array of byte numbers otherwise
/// (both read back as the same bytes; binary formats always carry bytes).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Member {
    /// The node's name.
    pub name: String,
    /// The node's generation (incarnation; by default its start time in ms
    /// since the UNIX epoch).
    pub generation: u64,
    /// Where the node receives gossip (its advertised address).
    pub addr: SocketAddr,
    /// Pending, alive, dead or left. This node itself is always alive.
    pub status: NodeStatus,
    /// Whether this is the local node.
    pub is_local: bool,
    /// The failure detector's phi now (0 before the node's first heartbeat
    /// arrival here, and for the local node). With feature `serde`, an
    /// option: none when infinite.
    #[cfg_attr(feature = "serde", serde(with = "crate::serde_fields::phi"))]
    pub phi: f64,
    /// The node's heartbeat counter as last seen here.
    pub heartbeat: u64,
    /// How long after its last heartbeat this node would consider it dead,
    /// given its history (`None` before the first heartbeat arrival).
    pub timeout: Option<Duration>,
    /// Time since the node's heartbeat last advanced here (`None` before the
    /// first arrival, and for the local node).
    pub since_heartbeat: Option<Duration>,
    /// Time since the node entered its current status.
    pub status_age: Duration,
    /// The node's keys that are set, with their values.
    #[cfg_attr(feature = "serde", serde(with = "crate::serde_fields::values"))]
    pub keys: BTreeMap<String, Vec<u8>>,
}

impl Member {
    /// The node's identity (name, generation, address).
    pub fn id(&self) -> Option<NodeId> {
        NodeId::new(&self.name, self.generation, self.addr).ok()
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&[u8]> {
        self.keys.get(key).map(Vec::as_slice)
    }

    /// Copies what `view` shows at `now`.
    pub(crate) fn snapshot<M: Memory>(view: &NodeView<'_, M>, now: Instant) -> Member {
        let id = view.id();
        let is_local = view.is_local();
        Member {
            name: id.name.as_str().to_owned(),
            generation: id.generation,
            addr: id.addr,
            status: view.status(),
            is_local,
            phi: view.phi(now),
            heartbeat: view.heartbeat(),
            timeout: view.timeout(),
            since_heartbeat: if is_local {
                None
            } else {
                view.last_heartbeat_at().map(|t| now.saturating_since(t))
            },
            status_age: now.saturating_since(view.status_since()),
            keys: view
                .entries()
                .map(|e| (e.key.to_owned(), e.value.to_vec()))
                .collect(),
        }
    }
}

/// Snapshots of every node `engine` knows, this one included, in ring order.
pub(crate) fn all<M: Memory>(engine: &Engine<M>, now: Instant) -> Vec<Member> {
    engine.nodes().map(|v| Member::snapshot(&v, now)).collect()
}
