//! Values larger than a datagram: how they travel in chunks and become
//! visible at a receiver only whole (issue 15).
//!
//! # The limit
//!
//! [`crate::Config::max_value_len`] (default 64 KiB) bounds a value. The
//! engine's own limit is that setting bounded by its state capacity
//! ([`crate::Engine::max_value_len`]: no copy of a longer value could ever
//! be stored here). The owner refuses a longer write with
//! [`crate::WriteError::ValueTooLong`]; a receiver whose limit is smaller
//! than a value it is sent refuses the piece (or chunk) that carries it,
//! whole, and counts it in [`crate::Counters::oversized_values`]: the limit
//! is meant to be the same on every node, so that count is a
//! misconfiguration to fix (hearsay-std logs it).
//!
//! # Chunks ride inside pieces (protocol version 6)
//!
//! A piece `(from, to]` still carries every entry of its range, whole. An
//! entry too long for the datagram it would go in is *chunked*: the sender
//! ends the piece just below it (`to = version − 1`, exact, since no entry
//! of the sender's copy lies between the last one sent and it) and appends
//! one chunk entry at `version = to + 1`, carrying the key, the value's
//! total length, an offset and as many of its bytes as the datagram and the
//! node's share of the budget take. The piece, the chunk, its node's
//! heartbeat and head all go through the ordinary emission of
//! [`crate::exchange`]: the same budget per Syn piece, the same equal share
//! per node from a rotating start, heartbeats first. A node publishing a
//! 64 KiB value therefore takes one node's share of each reply, as a node
//! with a long backlog of small entries does, and cannot starve the other
//! nodes' updates or anyone's heartbeat. Only the entries after the chunk
//! wait (see head-of-line below).
//!
//! An entry is identified by its node and version alone (every mutation
//! takes a new version), so a chunk names the value it belongs to without
//! naming anything else; a relay chunks a value from its own copy exactly
//! as the owner does. A relay's copy holds only complete values (partial
//! transfers are outside the copy, below), so **a relay passes on only
//! complete values**, by construction.
//!
//! # Assembly at the receiver, and atomic apply
//!
//! A receiver holding a node up to `m` takes a chunk at version `m + 1`
//! (after applying the piece in front of it): the first chunk of a version
//! opens a *transfer* — one per remote node at most, in the per-node
//! transfer table (part of the node slot's memory, so of
//! [`crate::Capacity::memory_bytes`] and of a static `Storage`) — after
//! checking, as for any piece, that the complete entry will fit the store,
//! the local reserve and the node's share. The transfer holds a detached
//! entry slot with an arena block of the value's full length: the bytes
//! land in their final place, are counted in the state bytes while in
//! flight, and need no second copy. The slot is in no node's list and not
//! in the hash index, so no read, iterator, event, digest or reply can see
//! it. The transfer records which byte ranges have arrived (a few ranges;
//! an overlapping or adjacent chunk merges into them).
//!
//! When the ranges cover the whole value, the transfer completes: the
//! detached slot replaces the key's entry (or joins the list) at the
//! node's tail as an ordinary one-entry delta `(m, m + 1]`, with the same
//! events, the same push of fresh versions and the same invariants as any
//! applied piece. Before that instant nothing of the new value is visible;
//! after it, all of it is. **No reader, event or relay ever sees a torn
//! value.**
//!
//! # Resuming, superseding, dropping
//!
//! - **Resumable.** A version-6 Syn (and SynAck) lists, for the nodes of
//!   its range that have a transfer in flight here, the version and the
//!   ranges already held. A sender skips those ranges, so a lost chunk
//!   costs that chunk, not the value.
//! - **Superseded.** When the node's copy moves to or past the transfer's
//!   version by any other way (a piece from a source whose copy holds a
//!   newer version of the key, so that version no longer exists there; a
//!   reset), the transfer is dropped: the version it assembles is gone.
//!   A chunk of the same version that disagrees with the transfer (key or
//!   length: made-up input) drops it too, and starts over.
//! - **Removed.** Forgetting a node (removal, replacement by a newer
//!   generation, a pending drop) drops its transfer.
//!
//! Every dropped transfer frees its slot and block at once, and is counted
//! (`Counters::transfers_dropped`), as are chunks taken and
//! completed transfers.
//!
//! # Head-of-line: a value in flight holds back its node's later versions
//!
//! A copy is exact up to its max version, so while version `m + 1` is in
//! flight the receiver holds the node at `m`, and that node's later
//! versions wait until it completes (its heartbeat does not: heartbeats
//! are not versions). The alternative — completion tracked per key, so a
//! copy could hold versions above a hole — gives up the one invariant
//! every piece rule, reset and relay rests on. The wait is bounded by the
//! transfer's own time (its node's share of a few exchanges), and other
//! nodes are not affected, so this crate keeps the per-node order; the
//! wait is measured in BENCHMARKS.md.
//!
//! # Older peers
//!
//! A peer that speaks version 5 or older cannot receive a chunk: a piece
//! to it ends below the first entry that needs one, and that peer's copy
//! of the node waits there until it upgrades (counted in
//! `Counters::values_held_back`). Values that fit one datagram
//! travel as before, to every version.
//!
//! # Status
//!
//! Built in increments (see the crate's ARCHITECTURE.md): the limit, its
//! enforcement and the refusal of oversized values are in place; until the
//! chunked wire format lands, an entry must still fit one datagram
//! ([`crate::WriteError::EntryTooLarge`]).
