//! What a running node counts: the engine's own counters plus the runtime's.
//!
//! The engine counts what it is handed (datagrams and bytes in and out,
//! each kind of rejected datagram, refused state). The runtime adds what
//! happens around it: datagrams the receive thread read, datagrams and
//! events dropped because a bounded channel was full, socket errors and
//! failed name resolutions. The runtime's counters are atomics shared by
//! the threads; [`Counters`] is a snapshot of both.

use std::sync::atomic::{AtomicU64, Ordering};

use hearsay_core::DecodeError;

/// The runtime's counters, shared by its threads. Relaxed atomics: each is
/// an independent monotonic count, read only for reporting.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub datagrams_received: AtomicU64,
    pub inbound_dropped: AtomicU64,
    pub recv_errors: AtomicU64,
    pub send_errors: AtomicU64,
    pub events_dropped: AtomicU64,
    pub seed_updates_dropped: AtomicU64,
    pub resolve_failures: AtomicU64,
}

/// Adds one to a shared counter.
pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Stats {
    /// A snapshot of the runtime counters next to the engine's.
    pub(crate) fn snapshot(&self, engine: hearsay_core::Counters) -> Counters {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Counters {
            engine,
            datagrams_received: get(&self.datagrams_received),
            inbound_dropped: get(&self.inbound_dropped),
            recv_errors: get(&self.recv_errors),
            send_errors: get(&self.send_errors),
            events_dropped: get(&self.events_dropped),
            seed_updates_dropped: get(&self.seed_updates_dropped),
            resolve_failures: get(&self.resolve_failures),
        }
    }
}

/// A snapshot of a node's counters, all monotonic since it started.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Counters {
    /// The engine's counters: traffic it handled, each kind of rejected
    /// datagram, refused and applied state.
    pub engine: hearsay_core::Counters,
    /// Datagrams the receive thread read from the socket (some may then be
    /// dropped, see `inbound_dropped`).
    pub datagrams_received: u64,
    /// Received datagrams dropped because the engine's inbound channel was
    /// full (the engine was too busy), as a congested network would.
    pub inbound_dropped: u64,
    /// Errors reading from the socket (timeouts excluded), including peers
    /// reported unreachable (Windows: `WSAECONNRESET`).
    pub recv_errors: u64,
    /// Datagrams the engine produced that the socket refused to send.
    pub send_errors: u64,
    /// Events not delivered to subscribers whose channel was full, over
    /// all subscriptions.
    pub events_dropped: u64,
    /// Resolved seed lists not handed to the engine because the previous
    /// one was still queued (the resolver retries with its next result).
    pub seed_updates_dropped: u64,
    /// Seed host names that failed to resolve, per attempt.
    pub resolve_failures: u64,
}

impl Counters {
    /// Datagrams handed to the engine.
    pub fn datagrams_in(&self) -> u64 {
        self.engine.datagrams_in
    }

    /// Bytes of the datagrams handed to the engine.
    pub fn bytes_in(&self) -> u64 {
        self.engine.bytes_in
    }

    /// Datagrams the engine produced (see `send_errors` for those the
    /// socket refused).
    pub fn datagrams_out(&self) -> u64 {
        self.engine.datagrams_out
    }

    /// Bytes of the datagrams the engine produced.
    pub fn bytes_out(&self) -> u64 {
        self.engine.bytes_out
    }

    /// Datagrams rejected for `kind`.
    pub fn decode_errors(&self, kind: DecodeError) -> u64 {
        self.engine.rejected(kind)
    }

    /// Datagrams rejected for any reason, foreign clusters included.
    pub fn decode_errors_total(&self) -> u64 {
        self.engine.rejected_total()
    }

    /// Datagrams rejected because they carry another cluster's id.
    pub fn foreign_cluster(&self) -> u64 {
        self.engine.rejected(DecodeError::ForeignCluster)
    }

    /// Times this node noticed it had itself stalled (no engine step for
    /// over two gossip intervals: paused, suspended or starved of CPU) and
    /// gave its live peers a fresh chance to be heard from rather than
    /// convicting them. Each is also logged at warn, rate-limited.
    pub fn local_stalls(&self) -> u64 {
        self.engine.local_stalls
    }

    /// Everything dropped because a bounded channel was full: inbound
    /// datagrams, subscriber events and seed updates.
    pub fn channel_drops(&self) -> u64 {
        self.inbound_dropped
            .saturating_add(self.events_dropped)
            .saturating_add(self.seed_updates_dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_reads_every_counter() {
        let s = Stats::default();
        bump(&s.inbound_dropped);
        bump(&s.events_dropped);
        bump(&s.events_dropped);
        bump(&s.seed_updates_dropped);
        let mut engine = hearsay_core::Counters::default();
        engine.rejected_by_kind[DecodeError::ForeignCluster as usize] = 4;
        engine.local_stalls = 2;
        let c = s.snapshot(engine);
        assert_eq!(c.local_stalls(), 2);
        assert_eq!(c.channel_drops(), 4);
        assert_eq!(c.foreign_cluster(), 4);
        assert_eq!(c.decode_errors_total(), 4);
    }
}
