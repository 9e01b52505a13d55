//! What a reply will carry: the scratch lists an exchange plans in.
//!
//! Answering a Syn or a list of requests first decides, for each node, what
//! to send and from which version ([`PlanItem`]) and what to ask the peer
//! for ([`Ask`]); [`crate::exchange`] then writes datagrams from the plan
//! within the budget. The lists live in the engine's memory (one entry per
//! node slot), so planning never allocates.

/// One node to send in a reply, and how far its sending got.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PlanItem {
    pub(crate) slot: u16,
    /// Send the full id (the peer does not know the node).
    pub(crate) intro: bool,
    /// The peer named the node by its hash prefix alone, so a heartbeat
    /// sent alone may name it so too.
    pub(crate) by_prefix: bool,
    /// Send entries: the peer holds the node up to `from`.
    pub(crate) data: bool,
    pub(crate) from: u64,
    pub(crate) done: bool,
    /// Of a value sent in chunks after `from` (module `chunk`): the offset
    /// from which this reply has not sent it yet.
    pub(crate) chunk_at: u32,
}

/// What planning a Syn's reply found that goes into counters. It is
/// counted once, after the Syn proved valid: a Syn may still fail after
/// planning (its digest is validated in the same pass), and a Syn from a
/// new sender is planned twice.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SynTally {
    /// Heartbeats set aside as implausible.
    pub(crate) implausible: u64,
    /// Compact blocks read by position.
    pub(crate) blocks_read: u64,
    /// Compact blocks that differ here (answered with a notice).
    pub(crate) blocks_differ: u64,
}

/// One beat run of a SynAck being planned: a block whose deltas are
/// `deltas[previous run's end..end]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BeatRunPlan {
    pub(crate) index: u16,
    /// Nodes the block lists.
    pub(crate) count: u16,
    /// End of its deltas in the scratch list.
    pub(crate) end: u16,
}

impl BeatRunPlan {
    /// Filler for unused scratch.
    pub(crate) const EMPTY: BeatRunPlan = BeatRunPlan {
        index: 0,
        count: 0,
        end: 0,
    };
}

impl PlanItem {
    /// Filler for unused scratch.
    pub(crate) const EMPTY: PlanItem = PlanItem {
        slot: 0,
        intro: false,
        by_prefix: false,
        data: false,
        from: 0,
        done: false,
        chunk_at: 0,
    };
}

/// One node to ask the peer for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ask {
    pub(crate) hash: u64,
    pub(crate) known: bool,
    pub(crate) max_version: u64,
    pub(crate) last_gc: u64,
}

impl Ask {
    /// Filler for unused scratch.
    pub(crate) const EMPTY: Ask = Ask {
        hash: 0,
        known: false,
        max_version: 0,
        last_gc: 0,
    };
}
