//! Trade-off grids: the settings `tradeoff` (in `examples/`) runs the
//! measurement with, one [`Setting`] per point, each changing a base
//! [`Workload`]'s gossip interval, fanout or detector. [`parse_settings`]
//! reads the grid syntax of `tradeoff --settings`; the command lines
//! themselves are parsed in the `examples` package, so that this crate
//! stays a library without a command-line parser.
//!
//! Every value is checked: a malformed grid is a [`UsageError`] naming
//! `--settings`, and a setting's values are checked with the workload it
//! is applied to ([`Workload::check`]); never a panic.

use std::format;
use std::string::{String, ToString};
use std::time::Duration;
use std::vec::Vec;

use super::measure::{UsageError, Workload};

/// One point of a trade-off grid: the settings it changes from the base
/// workload (`None`: the base's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Setting {
    /// Gossip interval (`interval=MS`).
    pub interval: Option<Duration>,
    /// Fanout (`fanout=F`).
    pub fanout: Option<usize>,
    /// Detector acceptable pause (`pause=MS`).
    pub pause: Option<Duration>,
    /// Detector minimum standard deviation (`min-std=MS`).
    pub min_std: Option<Duration>,
}

impl std::fmt::Display for Setting {
    /// As written in a grid: `interval=500,fanout=2` (`base` when it
    /// changes nothing).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| d.as_millis().to_string();
        let parts: Vec<String> = [
            self.interval.map(|d| format!("interval={}", ms(d))),
            self.fanout.map(|n| format!("fanout={n}")),
            self.pause.map(|d| format!("pause={}", ms(d))),
            self.min_std.map(|d| format!("min-std={}", ms(d))),
        ]
        .into_iter()
        .flatten()
        .collect();
        if parts.is_empty() {
            f.write_str("base")
        } else {
            f.write_str(&parts.join(","))
        }
    }
}

impl Setting {
    /// `base` with this setting's changes.
    pub fn apply(&self, base: &Workload) -> Workload {
        let mut w = base.clone();
        w.interval = self.interval.unwrap_or(w.interval);
        w.fanout = self.fanout.unwrap_or(w.fanout);
        w.pause = self.pause.or(w.pause);
        w.min_std = self.min_std.or(w.min_std);
        w
    }

    /// A short label of the effective settings of `w` (this setting applied
    /// to a base): `1000 ms, fanout 3, pause 1250 ms`, with the minimum
    /// deviation when the setting names it.
    pub fn label(&self, w: &Workload) -> String {
        let detector = w.config().detector;
        let mut label = format!(
            "{} ms, fanout {}, pause {} ms",
            w.interval.as_millis(),
            w.fanout,
            detector.acceptable_heartbeat_pause.as_millis()
        );
        if self.min_std.is_some() || w.min_std.is_some() {
            label.push_str(&format!(
                ", min-std {} ms",
                detector.min_std_deviation.as_millis()
            ));
        }
        label
    }
}

/// The grid `tradeoff` runs when given no `--settings`: the defaults, the
/// pause shortened and lengthened by a third, fanout 2 and 4, and the
/// interval halved and doubled with the pause scaled alike.
pub const DEFAULT_GRID: &str = "interval=1000,fanout=3,pause=1250;\
interval=1000,fanout=3,pause=1000;\
interval=1000,fanout=3,pause=2000;\
interval=1000,fanout=2,pause=1250;\
interval=1000,fanout=4,pause=1250;\
interval=500,fanout=3,pause=625;\
interval=2000,fanout=3,pause=2500";

/// Parses a grid: settings separated by `;`, each a `,`-separated list of
/// `interval=MS`, `fanout=F`, `pause=MS`, `min-std=MS` (each at most once;
/// empty settings between separators are skipped). The values' ranges are
/// checked when the setting is applied to a workload
/// ([`Workload::check`]).
pub fn parse_settings(text: &str) -> Result<Vec<Setting>, UsageError> {
    let err = |m: String| UsageError(format!("--settings: {m}"));
    let mut grid = Vec::new();
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let mut s = Setting::default();
        for pair in part.split(',').map(str::trim) {
            let (name, v) = pair
                .split_once('=')
                .ok_or_else(|| err(format!("{pair:?} is not name=value")))?;
            let (name, v) = (name.trim(), v.trim());
            let ms = || {
                v.parse::<u64>()
                    .map(Duration::from_millis)
                    .map_err(|e| err(format!("{name}: {e} ({v:?})")))
            };
            let twice = || err(format!("{name} given twice in {part:?}"));
            match name {
                "interval" if s.interval.is_none() => s.interval = Some(ms()?),
                "pause" if s.pause.is_none() => s.pause = Some(ms()?),
                "min-std" if s.min_std.is_none() => s.min_std = Some(ms()?),
                "fanout" if s.fanout.is_none() => {
                    s.fanout = Some(v.parse().map_err(|e| err(format!("fanout: {e} ({v:?})")))?);
                }
                "interval" | "pause" | "min-std" | "fanout" => return Err(twice()),
                other => {
                    return Err(err(format!(
                        "unknown setting {other:?} (interval, fanout, pause, min-std)"
                    )));
                }
            }
        }
        grid.push(s);
    }
    if grid.is_empty() {
        return Err(err("no setting given".into()));
    }
    Ok(grid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_grids_parse_and_apply() {
        let grid = parse_settings(
            "interval=1000,fanout=3,pause=2000; interval=500, fanout=2 ,pause=1000;min-std=100;",
        )
        .expect("a valid grid");
        assert_eq!(grid.len(), 3);
        assert_eq!(grid[1].interval, Some(Duration::from_millis(500)));
        assert_eq!(grid[1].fanout, Some(2));
        assert_eq!(grid[2].min_std, Some(Duration::from_millis(100)));
        let base = Workload::new();
        let w = grid[1].apply(&base);
        assert_eq!((w.interval, w.fanout), (Duration::from_millis(500), 2));
        assert_eq!(grid[1].label(&w), "500 ms, fanout 2, pause 1000 ms");
        assert_eq!(
            grid[2].label(&grid[2].apply(&base)),
            "1000 ms, fanout 3, pause 1250 ms, min-std 100 ms"
        );
        assert_eq!(parse_settings(DEFAULT_GRID).map(|g| g.len()), Ok(7));
        assert_eq!(grid[1].to_string(), "interval=500,fanout=2,pause=1000");
        assert_eq!(Setting::default().to_string(), "base");
        for bad in [
            "",
            ";",
            "interval",
            "interval=x",
            "fanout=-1",
            "speed=3",
            "pause=1,pause=2",
        ] {
            let e = parse_settings(bad).expect_err(bad);
            assert!(e.0.starts_with("--settings"), "{bad:?} gave {e}");
        }
    }
}
