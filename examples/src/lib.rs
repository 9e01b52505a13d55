//! Support code shared by the example programs in `examples/examples/` and
//! the `node` binary (`src/bin/node.rs`): a minimal logger, command-line
//! helpers, and reading cluster keys from a file ([`key_file`]).
//!
//! The examples avoid extra dependencies (no clap, no env_logger) so that
//! what they show is hearsay, not a framework; these few helpers are what
//! that costs.

pub mod key_file;

use std::io::Write;
use std::str::FromStr;
use std::time::Instant;

/// A `log` logger writing `elapsed level target: message` lines to stderr.
struct StderrLogger {
    start: Instant,
}

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let t = self.start.elapsed().as_secs_f64();
            // A failed write to stderr has nowhere better to be reported.
            let _ = writeln!(
                std::io::stderr().lock(),
                "{t:8.3}s {:5} {}",
                record.level(),
                record.args()
            );
        }
    }

    fn flush(&self) {}
}

/// Installs a stderr logger whose level comes from the `HEARSAY_LOG`
/// environment variable (`off`, `error`, `warn`, `info`, `debug`, `trace`),
/// or `default` when it is unset or not a level.
pub fn init_logging(default: log::LevelFilter) {
    let level = std::env::var("HEARSAY_LOG")
        .ok()
        .and_then(|v| log::LevelFilter::from_str(&v).ok())
        .unwrap_or(default);
    // The logger lives as long as the program: leaking it is how `log`
    // gets a `&'static` one without a global.
    let logger: &'static StderrLogger = Box::leak(Box::new(StderrLogger {
        start: Instant::now(),
    }));
    // Fails only if a logger is already installed; keep that one.
    if log::set_logger(logger).is_ok() {
        log::set_max_level(level);
    }
}

/// Parses the value of a command-line flag, with an error naming the flag.
pub fn parse_flag<T: FromStr>(flag: &str, value: Option<String>) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    let value = value.ok_or_else(|| format!("{flag} needs a value"))?;
    value.parse().map_err(|e| format!("{flag} {value:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_with_named_errors() {
        assert_eq!(parse_flag::<u32>("--nodes", Some("5".into())), Ok(5));
        assert!(
            parse_flag::<u32>("--nodes", Some("x".into()))
                .unwrap_err()
                .contains("--nodes")
        );
        assert!(parse_flag::<u32>("--nodes", None).is_err());
    }
}
