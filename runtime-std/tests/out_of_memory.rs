//! A capacity whose tables the system will not give is an error from
//! `Builder::start` (`Error::OutOfMemory`), not an abort.
//!
//! The test runs itself again in a child process whose address space is
//! limited (`ulimit -v`, 8 GiB), so that the 200-GiB request fails however
//! the machine overcommits memory; the child makes the request and checks
//! the error.

#![cfg(unix)]

use std::process::Command;

use hearsay_std::{Builder, Capacity, Error};

const CHILD: &str = "HEARSAY_OOM_CHILD";
const NAME: &str = "a_capacity_beyond_the_memory_is_an_error_from_start";

#[test]
fn a_capacity_beyond_the_memory_is_an_error_from_start() {
    if std::env::var_os(CHILD).is_some() {
        // The most entries a capacity may have: 48 + 4 bytes each, about
        // 223 GB in all, usable as a capacity but beyond the limit.
        let entries = usize::try_from(u32::MAX - 1).unwrap();
        let want = Capacity {
            nodes: 10,
            entries,
            ..Capacity::DEFAULT
        };
        assert_eq!(want.validate(), Ok(()));
        let r = Builder::new("a").max_nodes(10).max_entries(entries).start();
        match r {
            Err(Error::OutOfMemory { bytes }) => assert_eq!(bytes, want.memory_bytes()),
            other => panic!("expected OutOfMemory, got {other:?}"),
        }
        return;
    }
    let exe = std::env::current_exe().expect("test executable");
    let out = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 8388608 && exec \"$0\" --exact \"$1\" --nocapture --test-threads=1")
        .arg(&exe)
        .arg(NAME)
        .env(CHILD, "1")
        .output()
        .expect("run sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
}
