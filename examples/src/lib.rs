//! Support code shared by the example programs in `examples/examples/` and
//! the `node` binary (`src/bin/node.rs`): a minimal logger, reading cluster
//! keys from a file ([`key_file`]), and the command lines of the
//! measurement tools ([`measure_cli`]).
//!
//! Command lines are clap derives (generated `--help`, checked values);
//! logging is this small stderr logger rather than a logging framework, so
//! that what the examples show is hearsay.

pub mod key_file;
pub mod measure_cli;

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
