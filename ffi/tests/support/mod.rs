//! What the tests that build C programs share: where the crate and the
//! libraries cargo built for this test run are, and running a command
//! with a liveness bound.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// This crate's directory (`ffi/`).
pub fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `<target>/<profile>/deps`, where cargo put this test's executable and
/// the libraries it was built with. Building a test builds the library
/// target with every crate type of `[lib]` (staticlib and cdylib included)
/// into this directory; cargo copies them up to `<target>/<profile>/` only
/// when the library itself was asked for, so those copies may be stale or
/// missing.
pub fn deps_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .expect("<target>/<profile>/deps/<test>")
        .to_path_buf()
}

/// Runs `cmd`, failing the test with its output unless it succeeds within
/// `limit` (a liveness bound for a loaded machine, not a speed check).
/// Returns its standard output.
pub fn run(mut cmd: Command, limit: Duration) -> String {
    let shown = format!("{cmd:?}");
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "{shown} took more than {limit:?}\n--- stdout\n{}\n--- stderr\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{shown} failed ({})\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    print!("{stdout}{stderr}");
    stdout
}
