//! The phi-accrual failure detector.
//!
//! Each remote node's heartbeat arrivals (the moments its heartbeat counter
//! is seen to advance here) feed a window of inter-arrival intervals. `phi`
//! is how unlikely it is, given that history, that the node is still alive
//! after `elapsed` without a new heartbeat: `phi = -log10(P(interval > elapsed))`.
//! A node is suspected dead when phi reaches the threshold (8 by default:
//! one chance in 10⁸ of being wrong under the model).
//!
//! Two models are offered:
//!
//! - [`PhiModel::Normal`] (Akka's, the default): intervals are normally
//!   distributed with the window's mean `μ` plus `acceptable_heartbeat_pause`,
//!   and standard deviation `σ' = max(σ, min_std_deviation)`. With
//!   `y = (elapsed − μ') / σ'` and the logistic approximation of the normal
//!   CDF `e = exp(−y (1.5976 + 0.070566 y²))`,
//!   `phi = −log10(e / (1 + e))`.
//! - [`PhiModel::Exponential`] (Cassandra's): intervals are exponentially
//!   distributed with the window's mean, so
//!   `phi = −log10(exp(−elapsed / μ)) = elapsed / (μ · ln 10)`.
//!
//! The window holds the last `W` intervals, one byte each: an interval is
//! stored in units of `max_interval / 255` (40 ms at the 10 s default), and
//! the running sums are kept in milliseconds of the stored values, so adding
//! and evicting an interval is O(1) and exact. Intervals longer than
//! `max_interval` (a pause, a partition) are not learned. The first
//! heartbeat seeds the window with [`PRIOR_SAMPLES`] intervals of
//! `estimate ± estimate / 4` (Akka seeds two), so a node has a usable
//! distribution from its first heartbeat, and a young detector, which has
//! not yet seen the long gaps gossip brings now and then, is held to the
//! prior's longer timeout until its own samples outweigh it.
//!
//! # Lateness: arrivals measured against the beats they bring
//!
//! Gossip brings a node's heartbeat along paths of varying length: now
//! straight from the node, now three hops later. An arrival that came
//! early (a short path) is followed by a long wait, because the rest of
//! the cluster has yet to catch up with what we already hold; a late one
//! by a short wait. Timing silence from the arrival alone takes the lucky
//! early arrival's long wait for a failing node. When the caller says how
//! many beats an arrival advanced and the node's beat period
//! ([`Detector::heartbeat_beats`]), the detector also keeps the arrival's
//! *lateness*: how much later than the earliest recent path it came,
//! `r = max(0, r' + Δt − k·P − Δt / 64)`, a running minimum of
//! `arrival − beat · period` that forgets at 1/64 of the time passing (the
//! beat period jitters, and paths change), at most the acceptable pause
//! ([`max_lateness`]). Silence is then counted from
//! `lateness` before the arrival: each learned interval is the wait from
//! the previous arrival's lateness-corrected time, and phi and the timeout
//! add the last arrival's lateness to the elapsed time. An early arrival
//! (lateness 0) thus gets the whole usual wait; a late one, less. Should
//! the node beat faster than the caller assumes, lateness stays 0 and the
//! detector behaves as without it; slower, lateness settles at its bound,
//! every interval is learned that much longer and every timeout is that
//! much shorter, which comes to the same once the window has learned.
//!
//! When the local node itself stalled ([`crate::stall`]), the silence it
//! could not hear through is not the remote node's: [`Detector::restart`]
//! makes phi count from the end of the stall instead of from the last
//! heartbeat, and the next heartbeat then records no interval (the gap
//! spanned our own pause, not the node's behaviour), like the first one.

use core::time::Duration;

use crate::time::{Instant, duration_millis};

/// Intervals the first heartbeat seeds a detector's window with (half at
/// `first_heartbeat_estimate` − a quarter, half at + a quarter).
pub const PRIOR_SAMPLES: usize = 8;

/// Which distribution heartbeat intervals are assumed to follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhiModel {
    /// Normal distribution (Akka): sensitive to the variance of intervals,
    /// tolerant by `acceptable_heartbeat_pause`.
    Normal,
    /// Exponential distribution (Cassandra): uses only the mean.
    Exponential,
}

/// Settings of the failure detector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectorConfig {
    /// The distribution model. Default [`PhiModel::Normal`].
    pub model: PhiModel,
    /// Phi at or above which a node is considered dead. Default 8.
    pub threshold: f64,
    /// Floor of the standard deviation (normal model), so a very regular
    /// node is not convicted by a tiny delay. Default 400 ms: gossip's
    /// arrivals have rare long gaps that a regular history does not show
    /// (at 1000 simulated nodes and 10 % loss, a floor of 250 ms with a
    /// 1 s pause convicted healthy nodes about twice a simulated minute,
    /// 400 ms with 1.25 s none in ten, given direct beats and lateness);
    /// at most
    /// [`DetectorConfig::MAX_DURATION`].
    pub min_std_deviation: Duration,
    /// Added to the mean interval (normal model): a pause this long is not
    /// suspicious. Default 1.25 s; at most [`DetectorConfig::MAX_DURATION`].
    pub acceptable_heartbeat_pause: Duration,
    /// Interval assumed before any was measured. Default 1 s; from 1 ms to
    /// `max_interval`.
    pub first_heartbeat_estimate: Duration,
    /// Longer intervals are not learned. Default 10 s; from 1 ms to
    /// [`DetectorConfig::MAX_INTERVAL`].
    pub max_interval: Duration,
}

impl DetectorConfig {
    /// Longest `min_std_deviation` and `acceptable_heartbeat_pause`: a day
    /// (twice the pause [`DetectorConfig`]s scaled to the longest gossip
    /// interval use), keeping timeouts far from overflowing any clock.
    pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);
    /// Longest `max_interval`: 65 s, so that the window's one-byte units
    /// (`max_interval / 255`) and its running sums stay small.
    pub const MAX_INTERVAL: Duration = Duration::from_secs(65);

    /// The defaults (see each field).
    pub const fn new() -> Self {
        DetectorConfig {
            model: PhiModel::Normal,
            threshold: 8.0,
            min_std_deviation: Duration::from_millis(400),
            acceptable_heartbeat_pause: Duration::from_millis(1250),
            first_heartbeat_estimate: Duration::from_secs(1),
            max_interval: Duration::from_secs(10),
        }
    }

    /// Whether the settings make sense together ([`DetectorConfig::validate`]
    /// says what is wrong).
    pub fn is_valid(&self) -> bool {
        self.validate().is_ok()
    }

    /// Milliseconds one stored unit stands for.
    fn unit_ms(&self) -> u64 {
        duration_millis(self.max_interval).div_ceil(255).max(1)
    }
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig::new()
    }
}

/// Mean and standard deviation of the intervals, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IntervalStats {
    /// Mean interval.
    pub mean_ms: f64,
    /// Standard deviation of the intervals.
    pub std_dev_ms: f64,
}

/// Phi for `elapsed_ms` since the last heartbeat, given the interval stats.
pub fn phi(config: &DetectorConfig, stats: IntervalStats, elapsed_ms: f64) -> f64 {
    match config.model {
        PhiModel::Normal => {
            let mean = stats.mean_ms + duration_millis(config.acceptable_heartbeat_pause) as f64;
            let std = stats
                .std_dev_ms
                .max(duration_millis(config.min_std_deviation) as f64)
                .max(f64::MIN_POSITIVE);
            let y = (elapsed_ms - mean) / std;
            let e = libm::exp(-y * (1.5976 + 0.070566 * y * y));
            // Both branches are -log10(e / (1 + e)); each form keeps
            // precision on its side of the mean.
            let p = if elapsed_ms > mean {
                e / (1.0 + e)
            } else {
                1.0 - 1.0 / (1.0 + e)
            };
            clamp_phi(-libm::log10(p))
        }
        PhiModel::Exponential => {
            let mean = stats.mean_ms.max(f64::MIN_POSITIVE);
            clamp_phi(elapsed_ms.max(0.0) / (mean * core::f64::consts::LN_10))
        }
    }
}

fn clamp_phi(p: f64) -> f64 {
    if p.is_nan() {
        f64::INFINITY
    } else {
        p.max(0.0)
    }
}

/// The elapsed time (ms) at which phi reaches the threshold: the node's
/// adaptive timeout.
pub fn timeout_ms(config: &DetectorConfig, stats: IntervalStats) -> f64 {
    timeout_ms_with(config, stats, threshold_y(config.threshold))
}

/// The normal model's standardised distance past the (paused) mean,
/// `y = (elapsed − μ') / σ'`, at which phi reaches `threshold`. It depends
/// on the threshold alone, so engines compute it once.
pub fn threshold_y(threshold: f64) -> f64 {
    // Solve -log10(e / (1 + e)) = t for y: e = p / (1 - p) with p = 10^-t,
    // then 0.070566 y³ + 1.5976 y = ln((1 - p) / p), a depressed cubic with
    // one real root (Cardano).
    let p = libm::pow(10.0, -threshold);
    let l = libm::log((1.0 - p) / p);
    let a = 1.5976 / 0.070566;
    let b = -l / 0.070566;
    let d = libm::sqrt(b * b / 4.0 + a * a * a / 27.0);
    libm::cbrt(-b / 2.0 + d) + libm::cbrt(-b / 2.0 - d)
}

/// [`timeout_ms`] with the normal model's `y` already computed
/// ([`threshold_y`]).
pub(crate) fn timeout_ms_with(config: &DetectorConfig, stats: IntervalStats, y: f64) -> f64 {
    match config.model {
        PhiModel::Normal => {
            let mean = stats.mean_ms + duration_millis(config.acceptable_heartbeat_pause) as f64;
            let std = stats
                .std_dev_ms
                .max(duration_millis(config.min_std_deviation) as f64);
            mean + y * std
        }
        PhiModel::Exponential => config.threshold * stats.mean_ms * core::f64::consts::LN_10,
    }
}

/// One node's heartbeat history: running sums over a window of intervals.
///
/// The window itself (one byte per interval, a unit of `max_interval /
/// 255`) is a slice the caller keeps beside the detector and passes to
/// [`Detector::heartbeat`]; its length is the window size. Keeping it
/// apart lets an engine size every window at run time and keeps the hot
/// table of detectors narrow.
#[derive(Clone, Copy, Debug)]
pub struct Detector {
    /// Index of the oldest interval (windows hold at most 65,535).
    head: u32,
    len: u32,
    /// How much later than the earliest recent path the last heartbeat
    /// arrived, in ms (see the module documentation); 0 without beat
    /// counts.
    lateness: u32,
    sum_ms: u64,
    sum_sq_ms: u64,
    /// Caller time (ms) of the last heartbeat, [`NO_TIME`] before the
    /// first. Plain `u64`s rather than `Option<Instant>`s keep the two
    /// times in 16 bytes instead of 32, per node.
    last: u64,
    /// End (ms) of a local stall after `last`: silence counts from here,
    /// and the next heartbeat records no interval. [`NO_TIME`] when there
    /// was none.
    restarted: u64,
}

/// "No time": the end of the caller's clock (584 million years of
/// milliseconds), which no caller reaches.
const NO_TIME: u64 = u64::MAX;

fn some_time(ms: u64) -> Option<Instant> {
    (ms != NO_TIME).then_some(Instant(ms))
}

impl Default for Detector {
    fn default() -> Self {
        Self::new()
    }
}

impl Detector {
    /// An empty history.
    pub const fn new() -> Self {
        Detector {
            head: 0,
            len: 0,
            lateness: 0,
            sum_ms: 0,
            sum_sq_ms: 0,
            last: NO_TIME,
            restarted: NO_TIME,
        }
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        *self = Self::new();
    }

    /// Time of the last recorded heartbeat.
    pub fn last_heartbeat(&self) -> Option<Instant> {
        some_time(self.last)
    }

    /// Number of intervals in the window.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// How much later than the earliest recent path the last heartbeat
    /// arrived (0 when beats are not counted, see
    /// [`Detector::heartbeat_beats`]); silence counts from this long
    /// before the arrival.
    pub fn lateness(&self) -> Duration {
        Duration::from_millis(u64::from(self.lateness))
    }

    /// Whether no interval was recorded yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Records a heartbeat arriving at `now`. `window` is this detector's
    /// window, the same slice at every call (an empty one records no
    /// intervals).
    pub fn heartbeat(&mut self, config: &DetectorConfig, now: Instant, window: &mut [u8]) {
        self.heartbeat_beats(config, now, None, window);
    }

    /// Records a heartbeat arriving at `now` that advanced the node's
    /// counter by `beats.0` beats of `beats.1` milliseconds each (the
    /// node's beat period as the caller expects it), so that the arrival's
    /// lateness is kept (module documentation). `None` is
    /// [`Detector::heartbeat`]: lateness stays 0.
    pub fn heartbeat_beats(
        &mut self,
        config: &DetectorConfig,
        now: Instant,
        beats: Option<(u64, u64)>,
        window: &mut [u8],
    ) {
        let restarted = core::mem::replace(&mut self.restarted, NO_TIME);
        if restarted != NO_TIME {
            // The time since `last` includes our own stall: not an interval
            // of this node's, nor a lateness.
            self.last = now.as_millis();
            self.lateness = 0;
            return;
        }
        match self.last_heartbeat() {
            None => {
                // A prior of `PRIOR_SAMPLES` intervals, `estimate ± estimate
                // / 4`: a young detector has seen too few gaps to know the
                // long ones, and its first samples alone would make its
                // timeout short exactly when it knows least. The prior
                // weighs less with every sample and leaves with the window.
                let est = duration_millis(config.first_heartbeat_estimate);
                let dev = est / 4;
                for _ in 0..PRIOR_SAMPLES / 2 {
                    self.push(config, est.saturating_sub(dev), window);
                    self.push(config, est.saturating_add(dev), window);
                }
            }
            Some(last) => {
                let elapsed = now.as_millis().saturating_sub(last.as_millis());
                // The wait counted from the previous arrival's corrected
                // time (its lateness earlier).
                let interval = elapsed.saturating_add(u64::from(self.lateness));
                if interval <= duration_millis(config.max_interval) {
                    self.push(config, interval, window);
                }
                self.lateness = match beats {
                    Some((count, period)) => {
                        next_lateness(config, self.lateness, elapsed, count, period)
                    }
                    None => 0,
                };
            }
        }
        self.last = now.as_millis();
    }

    fn push(&mut self, config: &DetectorConfig, interval_ms: u64, window: &mut [u8]) {
        // Windows longer than a u32 counts are used up to that length.
        let w = window.len().min(u32::MAX as usize);
        if w == 0 {
            return;
        }
        let unit = config.unit_ms();
        let code = interval_ms
            .saturating_add(unit / 2)
            .checked_div(unit)
            .unwrap_or(0)
            .min(255) as u8;
        let stored = u64::from(code).saturating_mul(unit);
        let (head, len) = (self.head as usize, self.len as usize);
        if len >= w {
            let old = window
                .get(head)
                .map_or(0, |c| u64::from(*c).saturating_mul(unit));
            self.sum_ms = self.sum_ms.saturating_sub(old);
            self.sum_sq_ms = self.sum_sq_ms.saturating_sub(old.saturating_mul(old));
            if let Some(slot) = window.get_mut(head) {
                *slot = code;
            }
            let next = head.saturating_add(1).checked_rem(w).unwrap_or(0);
            self.head = u32::try_from(next).unwrap_or(0);
        } else {
            let at = head.saturating_add(len).checked_rem(w).unwrap_or(0);
            if let Some(slot) = window.get_mut(at) {
                *slot = code;
            }
            self.len = self.len.saturating_add(1);
        }
        self.sum_ms = self.sum_ms.saturating_add(stored);
        self.sum_sq_ms = self.sum_sq_ms.saturating_add(stored.saturating_mul(stored));
    }

    /// Mean and standard deviation of the window, `None` when empty.
    pub fn stats(&self) -> Option<IntervalStats> {
        if self.len == 0 {
            return None;
        }
        let n = f64::from(self.len);
        let mean = self.sum_ms as f64 / n;
        let var = (self.sum_sq_ms as f64 / n - mean * mean).max(0.0);
        Some(IntervalStats {
            mean_ms: mean,
            std_dev_ms: libm::sqrt(var),
        })
    }

    /// Restarts the count of silence at `at`, the end of a stall of the
    /// local node: phi and the timeout count from `at` rather than from the
    /// last heartbeat, and the next heartbeat records no interval. Nothing
    /// changes before the first heartbeat (there is no silence to count).
    pub fn restart(&mut self, at: Instant) {
        if self.last != NO_TIME && at.as_millis() != NO_TIME {
            self.restarted = match self.restarted {
                NO_TIME => at.as_millis(),
                r => r.max(at.as_millis()),
            };
        }
    }

    /// Whether silence counts from a [`Detector::restart`] rather than from
    /// the last heartbeat (no heartbeat came since the restart).
    pub fn is_restarted(&self) -> bool {
        self.restarted != NO_TIME
    }

    /// Since when the node counts as silent: its last heartbeat, or the end
    /// of a later local stall. `None` before the first heartbeat.
    pub fn silent_since(&self) -> Option<Instant> {
        match (self.last_heartbeat(), some_time(self.restarted)) {
            (Some(last), Some(r)) => Some(last.max(r)),
            (last, _) => last,
        }
    }

    /// Phi at `now`; 0 before the first heartbeat. Silence counts from
    /// [`Detector::silent_since`], less the last arrival's
    /// [`Detector::lateness`] (none after a restart).
    pub fn phi(&self, config: &DetectorConfig, now: Instant) -> f64 {
        match (self.silent_since(), self.stats()) {
            (Some(last), Some(stats)) => {
                let elapsed = now
                    .as_millis()
                    .saturating_sub(last.as_millis())
                    .saturating_add(u64::from(self.counted_lateness()));
                phi(config, stats, elapsed as f64)
            }
            _ => 0.0,
        }
    }

    /// The lateness silence counts from: none while restarted (silence
    /// then counts from the end of our own stall).
    fn counted_lateness(&self) -> u32 {
        if self.is_restarted() {
            0
        } else {
            self.lateness
        }
    }

    /// The adaptive timeout: how long after the last heartbeat (or the end
    /// of a later local stall, [`Detector::silent_since`]) phi reaches the
    /// threshold, the last arrival's [`Detector::lateness`] already spent.
    /// `None` before the first heartbeat.
    pub fn timeout(&self, config: &DetectorConfig) -> Option<Duration> {
        self.timeout_with(config, threshold_y(config.threshold))
    }

    /// [`Detector::timeout`] with the normal model's `y` already computed.
    pub(crate) fn timeout_with(&self, config: &DetectorConfig, y: f64) -> Option<Duration> {
        let stats = self.stats()?;
        let ms = timeout_ms_with(config, stats, y) - f64::from(self.counted_lateness());
        ms.is_finite()
            .then(|| Duration::from_micros((ms.max(0.0) * 1000.0) as u64))
    }
}

/// The most lateness may take off a timeout: the acceptable pause (and at
/// most half of `max_interval`, so that an interval plus the lateness it
/// counts from can still be learned). A node beating slower than the
/// caller expects (another gossip interval or fanout) keeps its lateness
/// at this bound; until its window has learned the longer intervals that
/// come with it, its timeout lacks the pause. Nodes of one cluster are
/// meant to share those settings.
pub fn max_lateness(config: &DetectorConfig) -> Duration {
    let ms = duration_millis(config.acceptable_heartbeat_pause)
        .min(duration_millis(config.max_interval) / 2);
    Duration::from_millis(ms)
}

/// The lateness of an arrival `elapsed` ms after one of lateness `prev`,
/// bringing `count` beats of `period` ms: `max(0, prev + elapsed −
/// count·period − elapsed / 64)`, at most [`max_lateness`].
fn next_lateness(config: &DetectorConfig, prev: u32, elapsed: u64, count: u64, period: u64) -> u32 {
    let cap = duration_millis(max_lateness(config));
    let expected = count.saturating_mul(period).saturating_add(elapsed / 64);
    let late = u64::from(prev)
        .saturating_add(elapsed)
        .saturating_sub(expected)
        .min(cap);
    u32::try_from(late).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normal(pause_ms: u64, min_std_ms: u64) -> DetectorConfig {
        DetectorConfig {
            acceptable_heartbeat_pause: Duration::from_millis(pause_ms),
            min_std_deviation: Duration::from_millis(min_std_ms),
            ..DetectorConfig::new()
        }
    }

    #[test]
    fn normal_model_reproduces_akka_vectors() {
        // Akka's PhiAccrualFailureDetectorSpec: mean 1000 ms, σ 100 ms, no pause.
        let c = normal(0, 100);
        let stats = IntervalStats {
            mean_ms: 1000.0,
            std_dev_ms: 100.0,
        };
        for (elapsed, expected) in [
            (0.0, 0.0),
            (500.0, 0.1),
            (1000.0, 0.3),
            (1200.0, 1.6),
            (1400.0, 4.7),
            (1600.0, 10.8),
            (1700.0, 15.3),
        ] {
            let got = phi(&c, stats, elapsed);
            assert!(
                (got - expected).abs() <= 0.1,
                "phi({elapsed}) = {got}, want {expected}"
            );
        }
    }

    #[test]
    fn normal_model_is_monotonic_and_respects_floor_and_pause() {
        let stats = IntervalStats {
            mean_ms: 1000.0,
            std_dev_ms: 1.0,
        };
        let floor = normal(0, 100);
        // σ is floored to 100 ms: same as the vector at 1400.
        assert!((phi(&floor, stats, 1400.0) - 4.7).abs() <= 0.1);
        // A 1 s pause shifts the curve by 1 s.
        let paused = normal(1000, 100);
        assert!((phi(&paused, stats, 2400.0) - 4.7).abs() <= 0.1);
        let mut last = 0.0;
        for ms in (0..5000).step_by(50) {
            let p = phi(&paused, stats, ms as f64);
            assert!(p >= last, "not monotonic at {ms}");
            last = p;
        }
        assert!(phi(&paused, stats, 1e9).is_infinite() || phi(&paused, stats, 1e9) > 1e6);
    }

    #[test]
    fn exponential_model_is_cassandras() {
        let c = DetectorConfig {
            model: PhiModel::Exponential,
            ..DetectorConfig::new()
        };
        let stats = IntervalStats {
            mean_ms: 1000.0,
            std_dev_ms: 0.0,
        };
        // phi = elapsed / mean / ln 10: 8 is reached at 18.42 × the mean.
        let ln10 = core::f64::consts::LN_10;
        assert!((phi(&c, stats, 1000.0) - 1.0 / ln10).abs() < 1e-12);
        assert!((phi(&c, stats, 18_420.7) - 8.0).abs() < 1e-3);
        assert!((timeout_ms(&c, stats) - 18_420.68).abs() < 0.1);
    }

    #[test]
    fn timeout_inverts_phi() {
        for c in [normal(0, 100), normal(3000, 500), DetectorConfig::new()] {
            for (mean, std) in [(1000.0, 100.0), (300.0, 20.0), (5000.0, 2000.0)] {
                let stats = IntervalStats {
                    mean_ms: mean,
                    std_dev_ms: std,
                };
                let t = timeout_ms(&c, stats);
                let p = phi(&c, stats, t);
                assert!((p - c.threshold).abs() < 1e-6, "phi(timeout) = {p}");
            }
        }
    }

    #[test]
    fn first_heartbeat_seeds_the_window() {
        let c = DetectorConfig::new();
        let mut w = [0u8; 16];
        let mut d = Detector::new();
        assert_eq!(d.phi(&c, Instant(5000)), 0.0);
        assert!(d.timeout(&c).is_none());
        d.heartbeat(&c, Instant(1000), &mut w);
        let s = d.stats().expect("seeded");
        // estimate 1000 ± 250 ms, stored in 40 ms units.
        assert_eq!(d.len(), PRIOR_SAMPLES);
        assert!((s.mean_ms - 1000.0).abs() <= 40.0, "{s:?}");
        assert!((s.std_dev_ms - 250.0).abs() <= 40.0, "{s:?}");
        assert_eq!(d.last_heartbeat(), Some(Instant(1000)));
    }

    #[test]
    fn window_wraps_and_forgets_the_oldest_exactly() {
        let c = DetectorConfig::new();
        let mut w = [0u8; 4];
        let mut d = Detector::new();
        let mut t = 0;
        d.heartbeat(&c, Instant(t), &mut w);
        // Fill with 2 s intervals, then wrap with 1 s intervals.
        for _ in 0..4 {
            t += 2000;
            d.heartbeat(&c, Instant(t), &mut w);
        }
        assert_eq!(d.len(), 4);
        let s = d.stats().expect("stats");
        assert!(
            (s.mean_ms - 2000.0).abs() < 1e-9 && s.std_dev_ms < 1e-6,
            "{s:?}"
        );
        for _ in 0..4 {
            t += 1000;
            d.heartbeat(&c, Instant(t), &mut w);
        }
        let s = d.stats().expect("stats");
        assert!(
            (s.mean_ms - 1000.0).abs() < 1e-9 && s.std_dev_ms < 1e-6,
            "{s:?}"
        );
        // Many more wraps keep the sums exact.
        for i in 0..1000u64 {
            t += 500 + (i % 3) * 500;
            d.heartbeat(&c, Instant(t), &mut w);
        }
        let s = d.stats().expect("stats");
        assert!(s.mean_ms > 500.0 && s.mean_ms < 1500.0, "{s:?}");
    }

    #[test]
    fn long_gaps_are_not_learned() {
        let c = DetectorConfig::new();
        let mut w = [0u8; 16];
        let mut d = Detector::new();
        d.heartbeat(&c, Instant(0), &mut w);
        d.heartbeat(&c, Instant(1000), &mut w);
        let before = d.stats().expect("stats");
        // 60 s pause: above max_interval (10 s), not learned...
        d.heartbeat(&c, Instant(61_000), &mut w);
        assert_eq!(d.stats(), Some(before));
        assert_eq!(d.len(), PRIOR_SAMPLES + 1);
        // ...but the arrival still counts as the last heartbeat.
        assert_eq!(d.last_heartbeat(), Some(Instant(61_000)));
        assert!(d.phi(&c, Instant(61_500)) < 1.0);
    }

    #[test]
    fn a_restart_moves_the_silence_and_skips_one_interval() {
        let c = DetectorConfig::new();
        let mut w = [0u8; 32];
        let mut d = Detector::new();
        // Nothing to restart before the first heartbeat.
        d.restart(Instant(500));
        assert!(!d.is_restarted());
        let mut t = 0;
        for _ in 0..10 {
            d.heartbeat(&c, Instant(t), &mut w);
            t += 1000;
        }
        let before = d.stats().expect("stats");
        let last = t - 1000;
        // We stalled for 8 s (within max_interval, so it would be learned):
        // phi is huge from the last heartbeat, low from the restart.
        let resumed = Instant(last + 8000);
        assert!(d.phi(&c, resumed) > c.threshold);
        d.restart(resumed);
        assert!(d.is_restarted());
        assert_eq!(d.silent_since(), Some(resumed));
        assert_eq!(d.last_heartbeat(), Some(Instant(last)));
        assert!(d.phi(&c, resumed) < 0.1);
        let timeout = d.timeout(&c).expect("timeout");
        let due = resumed.as_millis() + timeout.as_millis() as u64;
        assert!(d.phi(&c, Instant(due - 100)) < c.threshold);
        assert!(d.phi(&c, Instant(due + 1)) >= c.threshold - 0.01);
        // The first heartbeat after it records no interval (the 8.3 s gap
        // spans our pause)...
        d.heartbeat(&c, Instant(resumed.as_millis() + 300), &mut w);
        assert!(!d.is_restarted());
        assert_eq!(d.stats(), Some(before));
        assert_eq!(d.len(), PRIOR_SAMPLES + 9);
        // ...and the next ones are learned as usual.
        d.heartbeat(&c, Instant(resumed.as_millis() + 1300), &mut w);
        assert_eq!(d.len(), PRIOR_SAMPLES + 10);
    }

    #[test]
    fn detection_time_follows_the_history() {
        let c = DetectorConfig::new();
        let mut w = [0u8; 100];
        let mut d = Detector::new();
        let mut t = 0;
        for _ in 0..100 {
            d.heartbeat(&c, Instant(t), &mut w);
            t += 1000;
        }
        let timeout = d.timeout(&c).expect("timeout");
        let last = t - 1000;
        // Regular 1 s heartbeats, 1.5 s pause allowance, σ floored at
        // 400 ms: 1 + 1.5 + 5.23 × 0.4 s.
        assert!(
            timeout > Duration::from_millis(4300) && timeout < Duration::from_millis(4900),
            "{timeout:?}"
        );
        let at = Instant(last + timeout.as_millis() as u64 + 1);
        assert!(d.phi(&c, at) >= c.threshold - 0.01);
        assert!(d.phi(&c, Instant(at.0 - 200)) < c.threshold);
    }

    /// Feeds `d` a node beating every 333 ms whose beats reach us by
    /// paths of 300 to 1100 ms (cycling), one arrival per third beat, from
    /// beat 3 to beat `last_beat`; returns the time beat `last_beat` was
    /// made.
    fn gossiped(c: &DetectorConfig, d: &mut Detector, w: &mut [u8], last_beat: u64) -> u64 {
        let mut prev = 0u64;
        for (i, beat) in (3..=last_beat).step_by(3).enumerate() {
            let lag = 300 + (i as u64 % 5) * 200;
            let at = beat * 333 + lag;
            let k = beat - prev;
            d.heartbeat_beats(c, Instant(at), (prev > 0).then_some((k, 333)), w);
            prev = beat;
        }
        last_beat * 333
    }

    #[test]
    fn an_early_arrival_waits_as_long_from_the_beat_as_a_late_one() {
        let c = DetectorConfig::new();
        let (mut early, mut late) = (Detector::new(), Detector::new());
        let (mut we, mut wl) = ([0u8; 64], [0u8; 64]);
        let made = gossiped(&c, &mut early, &mut we, 297);
        gossiped(&c, &mut late, &mut wl, 297);
        // Beat 300: by the shortest path seen (300 ms) to one, by the
        // longest (1100 ms) to the other.
        early.heartbeat_beats(&c, Instant(made + 999 + 300), Some((3, 333)), &mut we);
        late.heartbeat_beats(&c, Instant(made + 999 + 1100), Some((3, 333)), &mut wl);
        assert_eq!(early.lateness(), Duration::ZERO);
        // 800 ms later than the shortest path, less what the minimum
        // forgot (1/64 of the time since it was last met).
        let l = late.lateness().as_millis();
        assert!((650..=800).contains(&l), "{l}");
        let deadline = |d: &Detector| {
            let last = d.last_heartbeat().expect("heard").as_millis();
            last + d.timeout(&c).expect("timeout").as_millis() as u64
        };
        // The same beat, so nearly the same deadline (apart from what the
        // minimum forgot): the early arrival does not start a clock 800
        // ms ahead of the late one.
        let (de, dl) = (deadline(&early), deadline(&late));
        assert!(de.abs_diff(dl) <= 150, "early {de} late {dl}");
        // Without beat counts, the early arrival's deadline comes sooner:
        // its clock starts at the arrival, the window's mean having been
        // learned from arrivals that were mostly later.
        let (mut plain, mut wp) = (Detector::new(), [0u8; 64]);
        let mut prev = 0;
        for (i, beat) in (3..=297u64).step_by(3).enumerate() {
            plain.heartbeat(
                &c,
                Instant(beat * 333 + 300 + (i as u64 % 5) * 200),
                &mut wp,
            );
            prev = beat;
        }
        assert_eq!(prev, 297);
        plain.heartbeat(&c, Instant(made + 999 + 300), &mut wp);
        let dp = deadline(&plain);
        assert!(dp + 300 < de, "plain {dp}, lateness-aware {de}");
        // And phi agrees with the timeout.
        let at = Instant(de);
        assert!(
            (early.phi(&c, at) - c.threshold).abs() < 0.05,
            "{}",
            early.phi(&c, at)
        );
    }

    #[test]
    fn lateness_is_bounded_and_vanishes_for_a_node_beating_faster_or_slower() {
        let c = DetectorConfig::new();
        let cap = max_lateness(&c);
        // A node beating every 100 ms, taken for 333: every arrival looks
        // early, lateness stays 0.
        let (mut fast, mut wf) = (Detector::new(), [0u8; 32]);
        for i in 0..200u64 {
            let k = (i > 0).then_some((10, 333));
            fast.heartbeat_beats(&c, Instant(i * 1000), k, &mut wf);
            assert_eq!(fast.lateness(), Duration::ZERO);
        }
        // A node beating every second, taken for 333 ms: lateness grows to
        // its bound and stays there, and the timeout stays the history's.
        let (mut slow, mut ws) = (Detector::new(), [0u8; 32]);
        for i in 0..200u64 {
            let k = (i > 0).then_some((1, 333));
            slow.heartbeat_beats(&c, Instant(i * 1000), k, &mut ws);
            assert!(slow.lateness() <= cap);
        }
        assert_eq!(slow.lateness(), cap);
        // Intervals are learned from the capped lateness on: each is 1 s
        // plus the bound, and the timeout takes the bound off again.
        let s = slow.stats().expect("stats");
        let expected = 1000.0 + cap.as_millis() as f64;
        assert!((s.mean_ms - expected).abs() <= 40.0, "{s:?}");
        let plain_timeout = timeout_ms(
            &c,
            IntervalStats {
                mean_ms: 1000.0,
                std_dev_ms: 0.0,
            },
        );
        let t = slow.timeout(&c).expect("timeout").as_millis() as f64;
        assert!((t - plain_timeout).abs() <= 60.0, "{t} vs {plain_timeout}");
    }

    #[test]
    fn a_restart_forgets_the_lateness() {
        let c = DetectorConfig::new();
        let (mut d, mut w) = (Detector::new(), [0u8; 32]);
        let made = gossiped(&c, &mut d, &mut w, 96);
        d.heartbeat_beats(&c, Instant(made + 999 + 1500), Some((3, 333)), &mut w);
        assert!(d.lateness() > Duration::ZERO);
        let before = d.timeout(&c).expect("timeout");
        // A local stall: silence counts from its end, lateness aside.
        let resumed = Instant(made + 999 + 4000);
        d.restart(resumed);
        let after = d.timeout(&c).expect("timeout");
        assert_eq!(after, before + d.lateness());
        d.heartbeat_beats(
            &c,
            Instant(resumed.as_millis() + 200),
            Some((9, 333)),
            &mut w,
        );
        assert_eq!(d.lateness(), Duration::ZERO);
    }

    #[test]
    fn config_validation() {
        assert!(DetectorConfig::new().is_valid());
        let bad = [
            DetectorConfig {
                threshold: f64::NAN,
                ..DetectorConfig::new()
            },
            DetectorConfig {
                threshold: 0.0,
                ..DetectorConfig::new()
            },
            DetectorConfig {
                max_interval: Duration::from_secs(66),
                ..DetectorConfig::new()
            },
            DetectorConfig {
                first_heartbeat_estimate: Duration::ZERO,
                ..DetectorConfig::new()
            },
        ];
        for c in bad {
            assert!(!c.is_valid(), "{c:?}");
        }
    }
}
