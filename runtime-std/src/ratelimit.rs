//! Rate limiting of log lines about network input.
//!
//! Anyone who can reach the gossip port can send garbage, and a node cannot
//! stop them; logging every bad datagram would let them fill the disk. So
//! lines about input the node does not control (malformed datagrams, foreign
//! clusters, dropped datagrams, socket errors) go through a [`RateLimiter`]:
//! at most one line per kind per period, and the line that ends a quiet
//! period says how many were suppressed. Counters still count every one.

use std::time::{Duration, Instant};

/// How often one kind of line may be logged, by default.
pub(crate) const LOG_PERIOD: Duration = Duration::from_secs(10);

/// Per-kind state: when the kind was last let through, and how many lines
/// were suppressed since.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    last: Option<Instant>,
    suppressed: u64,
}

/// Lets one line per kind through per period. Kinds are small indices
/// chosen by the caller (e.g. a `DecodeError` discriminant).
#[derive(Debug)]
pub(crate) struct RateLimiter {
    period: Duration,
    slots: Vec<Slot>,
}

impl RateLimiter {
    /// A limiter for kinds `0..kinds`, one line per kind per `period`.
    pub(crate) fn new(kinds: usize, period: Duration) -> Self {
        RateLimiter {
            period,
            slots: vec![Slot::default(); kinds],
        }
    }

    /// Whether a line of `kind` may be logged at `now`. `Some(n)`: yes, and
    /// `n` lines of this kind were suppressed since the last one let through.
    /// `None`: suppress it (it is counted). Unknown kinds are always allowed.
    pub(crate) fn allow(&mut self, kind: usize, now: Instant) -> Option<u64> {
        let Some(slot) = self.slots.get_mut(kind) else {
            return Some(0);
        };
        match slot.last {
            Some(last) if now.saturating_duration_since(last) < self.period => {
                slot.suppressed = slot.suppressed.saturating_add(1);
                None
            }
            _ => {
                slot.last = Some(now);
                Some(std::mem::take(&mut slot.suppressed))
            }
        }
    }
}

/// " (N similar suppressed)" when `n > 0`, for appending to a log line.
pub(crate) fn suppressed_note(n: u64) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(" ({n} similar lines suppressed)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_kind_per_period_with_a_suppressed_count() {
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(2, Duration::from_secs(10));
        assert_eq!(rl.allow(0, t0), Some(0));
        assert_eq!(rl.allow(0, t0 + Duration::from_secs(1)), None);
        assert_eq!(rl.allow(0, t0 + Duration::from_secs(2)), None);
        // Another kind has its own budget.
        assert_eq!(rl.allow(1, t0 + Duration::from_secs(2)), Some(0));
        // After the period, the next line reports what was suppressed.
        assert_eq!(rl.allow(0, t0 + Duration::from_secs(10)), Some(2));
        assert_eq!(rl.allow(0, t0 + Duration::from_secs(11)), None);
        // Out-of-range kinds are never suppressed.
        assert_eq!(rl.allow(7, t0), Some(0));
        assert_eq!(suppressed_note(0), "");
        assert!(suppressed_note(3).contains('3'));
    }
}
