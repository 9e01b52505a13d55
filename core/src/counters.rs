//! What the engine counts: traffic, rejected input and refused state.
//!
//! Nothing the network sends is dropped silently: every datagram or piece the
//! engine does not apply raises one of these counters, so operators can tell
//! a noisy neighbour from a full table from a version gap.

use crate::wire::DecodeError;

/// Monotonic counters since [`crate::Engine::new`]. With feature `serde`,
/// `rejected_by_kind` serializes as an array in [`DecodeError::ALL`]'s order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Counters {
    /// Datagrams handed to [`crate::Engine::handle_datagram`].
    pub datagrams_in: u64,
    /// Bytes of those datagrams.
    pub bytes_in: u64,
    /// Datagrams the engine produced.
    pub datagrams_out: u64,
    /// Bytes of those datagrams.
    pub bytes_out: u64,
    /// Rejected datagrams, indexed by [`DecodeError`] discriminant; read them
    /// with [`Counters::rejected`].
    pub rejected_by_kind: [u64; DecodeError::COUNT],
    /// Nodes not learned because the node table was full.
    pub refused_nodes: u64,
    /// Pieces not applied because the entry table or arena was full (for
    /// remote state: short of the local reserve and the leave entry's room).
    pub refused_pieces: u64,
    /// Node ids ignored because a newer generation of the name is known.
    pub stale_generations: u64,
    /// Node ids ignored because another id already has their ring hash or
    /// their name and generation.
    pub id_conflicts: u64,
    /// Updates naming a ring hash this node does not know.
    pub unknown_nodes: u64,
    /// Pieces that started above the version held (a gap: an earlier piece
    /// was lost) or whose garbage-collection state does not allow them.
    pub unusable_pieces: u64,
    /// Pieces that brought nothing new (duplicates, reordering).
    pub stale_pieces: u64,
    /// Pieces applied.
    pub pieces_applied: u64,
    /// Pieces applied as a reset (the receiver's copy was rebuilt).
    pub resets_applied: u64,
    /// Times a reply was cut short by the exchange budget.
    pub budget_exhausted: u64,
    /// Of those, replies to a source address not yet validated, cut by the
    /// amplification bound ([`crate::token`]): while they are frequent (a
    /// cold start, a cluster of mixed versions), backlogs spread slower.
    pub replies_bounded: u64,
    /// Ids of removed nodes ignored because their heartbeat had not advanced
    /// past the one remembered (stale gossip about a dead node).
    pub resurrections_refused: u64,
    /// Heartbeats in digest lines ignored because they jumped further ahead
    /// than the time since the node's last heartbeat allows (a line whose
    /// hash prefix was another node's).
    pub implausible_heartbeats: u64,
    /// Pending nodes (heartbeat never seen to advance) dropped after
    /// `pending_timeout`.
    pub pending_dropped: u64,
    /// Node ids refused because their generation is beyond what any owner
    /// could exceed: more than [`crate::id::GENERATION_MARGIN`] above the
    /// generation known for the name (or, for a new name, above ours).
    pub implausible_generations: u64,
    /// Times this node heard of itself as something it is not (a higher
    /// generation of its name, or its own namespace ahead of it) and took a
    /// new generation ([`crate::Event::Refuted`]).
    pub refutations: u64,
    /// Times another live process was found using this node's name
    /// ([`crate::Event::NameConflict`]).
    pub name_conflicts: u64,
    /// Local stalls: calls that brought the time more than two gossip
    /// intervals after the previous one (this node was paused). Failure
    /// detection restarted for the live peers; see [`crate::stall`].
    pub local_stalls: u64,
    /// Pieces refused because they would take a remote node's namespace
    /// beyond `max_node_entries` / `max_node_bytes`: a node configured with
    /// a larger share than ours, or made-up state. That node's copy stays
    /// where it is here until its owner shrinks it.
    pub oversized_namespaces: u64,
    /// Sealed datagrams opened with an installed key ([`crate::seal`]).
    pub sealed_in: u64,
    /// Unsealed datagrams accepted while this node has keys (in
    /// [`crate::KeyMode::Listen`] or [`crate::KeyMode::Transitional`]):
    /// when it stops moving on every node, every node seals.
    pub unsealed_in: u64,
    /// Datagrams this node sealed (`bytes_out` counts them sealed).
    pub sealed_out: u64,
    /// Datagrams not sent because this engine's nonce sequence ran out
    /// (after 2⁶³ sealed datagrams: never in practice).
    pub seal_failures: u64,
    /// Datagrams that pushed fresh changes on to peers unasked
    /// (module `push`; counted in `datagrams_out` too).
    pub pushes_out: u64,
    /// Datagrams that carried this node's heartbeat alone straight to a
    /// peer (direct beats, module `beat_push`; counted in
    /// `datagrams_out` too).
    pub beats_out: u64,
    /// Compact blocks of received Syns read by position
    /// (module `compact`).
    pub blocks_read: u64,
    /// Compact blocks of received Syns that differed here (node set or
    /// versions), answered with a notice.
    pub blocks_differ: u64,
    /// Pieces refused because they carry a value longer than this node's
    /// [`crate::Engine::max_value_len`]: a node configured with a larger
    /// `max_value_len` than this one (the setting is meant to be the same
    /// cluster-wide), or made-up state. That node's copy stays where it is
    /// here until the value is replaced.
    pub oversized_values: u64,
    /// Chunks of values longer than a datagram taken into a transfer here
    /// (module `chunk`).
    pub chunks_in: u64,
    /// Chunks this node sent.
    pub chunks_out: u64,
    /// Values assembled whole from chunks and applied.
    pub transfers_completed: u64,
    /// Values in flight given up: superseded by a newer version of their
    /// key (or a reset), their node removed, or chunks that disagreed.
    pub transfers_dropped: u64,
    /// Chunks not kept because as many values as a receiver tracks at once
    /// were already in flight here (they come again).
    pub transfers_refused: u64,
    /// Times a value that needs chunks was held back from a peer speaking
    /// a protocol version older than 6 (that peer's copy of the node waits
    /// below it until the peer upgrades).
    pub values_held_back: u64,
}

impl Counters {
    /// Every counter at zero; `const`, for [`crate::Engine::new`].
    pub const ZERO: Counters = Counters {
        datagrams_in: 0,
        bytes_in: 0,
        datagrams_out: 0,
        bytes_out: 0,
        rejected_by_kind: [0; DecodeError::COUNT],
        refused_nodes: 0,
        refused_pieces: 0,
        stale_generations: 0,
        id_conflicts: 0,
        unknown_nodes: 0,
        unusable_pieces: 0,
        stale_pieces: 0,
        pieces_applied: 0,
        resets_applied: 0,
        budget_exhausted: 0,
        replies_bounded: 0,
        resurrections_refused: 0,
        implausible_heartbeats: 0,
        pending_dropped: 0,
        implausible_generations: 0,
        refutations: 0,
        name_conflicts: 0,
        local_stalls: 0,
        oversized_namespaces: 0,
        sealed_in: 0,
        unsealed_in: 0,
        sealed_out: 0,
        seal_failures: 0,
        pushes_out: 0,
        beats_out: 0,
        blocks_read: 0,
        blocks_differ: 0,
        oversized_values: 0,
        chunks_in: 0,
        chunks_out: 0,
        transfers_completed: 0,
        transfers_dropped: 0,
        transfers_refused: 0,
        values_held_back: 0,
    };

    /// Datagrams rejected for `kind`.
    pub fn rejected(&self, kind: DecodeError) -> u64 {
        self.rejected_by_kind
            .get(kind as usize)
            .copied()
            .unwrap_or(0)
    }

    /// Datagrams rejected for any reason.
    pub fn rejected_total(&self) -> u64 {
        self.rejected_by_kind
            .iter()
            .fold(0, |a, b| a.saturating_add(*b))
    }

    pub(crate) fn reject(&mut self, kind: DecodeError) {
        if let Some(c) = self.rejected_by_kind.get_mut(kind as usize) {
            *c = c.saturating_add(1);
        }
    }
}

/// Adds one to a counter without ever overflowing.
pub(crate) fn bump(c: &mut u64) {
    *c = c.saturating_add(1);
}
