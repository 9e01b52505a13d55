//! Caller-supplied time.
//!
//! The core never reads a clock: every call that depends on time takes an
//! [`Instant`] from the caller. This is what lets the same engine run in a
//! microcontroller loop, a threaded server and a deterministic simulator.

use core::time::Duration;

/// A point on the caller's monotonic clock, in milliseconds since an arbitrary
/// origin chosen by the caller (process start, boot, simulation start…).
///
/// Only differences between instants are meaningful. The clock must never go
/// backwards; if it does, elapsed times saturate at zero rather than wrap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(pub u64);

impl Instant {
    /// The origin of the caller's clock.
    pub const ZERO: Instant = Instant(0);

    /// Builds an instant from milliseconds since the caller's origin.
    pub const fn from_millis(millis: u64) -> Self {
        Instant(millis)
    }

    /// Milliseconds since the caller's origin.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Time from `earlier` to `self`, zero if `earlier` is later.
    pub const fn saturating_since(self, earlier: Instant) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }

    /// This instant moved forward by `d`, saturating at the end of time.
    pub fn saturating_add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(duration_millis(d)))
    }
}

/// Whole milliseconds of a duration, saturating instead of truncating to `u64`.
pub(crate) fn duration_millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_saturates_when_clock_goes_back() {
        assert_eq!(Instant(5).saturating_since(Instant(9)), Duration::ZERO);
        assert_eq!(
            Instant(9).saturating_since(Instant(5)),
            Duration::from_millis(4)
        );
    }

    #[test]
    fn add_saturates() {
        assert_eq!(
            Instant(u64::MAX - 1).saturating_add(Duration::from_secs(1)),
            Instant(u64::MAX)
        );
        assert_eq!(
            Instant(1).saturating_add(Duration::from_millis(2)),
            Instant(3)
        );
    }
}
