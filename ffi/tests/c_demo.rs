//! Builds `examples/demo.c` with the system C compiler against the static
//! library cargo built for this test run, and runs it: three nodes on
//! loopback, every check made in C (exit status 0 when all pass). Also
//! checks that the header compiles as C++.
//!
//! The library is the one cargo built for this test (no test runs `cargo
//! build`): it sits next to this test's executable in
//! `<target>/<profile>/deps/`. `CC` and `CXX` override the compilers (`cc`,
//! `c++`); a machine without a C++ compiler says so with
//! `HEARSAY_NO_CXX=1`, or the header test fails.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::{crate_dir, deps_dir, run};

/// The static library cargo built for this test run, next to the test
/// executable (see `deps_dir`).
fn static_lib() -> PathBuf {
    let name = if cfg!(windows) {
        "hearsay_ffi.lib"
    } else {
        "libhearsay_ffi.a"
    };
    let lib = deps_dir().join(name);
    assert!(
        lib.exists(),
        "{} not found: cargo builds it with this test (crate-type staticlib)",
        lib.display()
    );
    lib
}

#[test]
fn the_c_demo_passes_its_checks() {
    let lib = static_lib();
    let exe = Path::new(env!("CARGO_TARGET_TMPDIR")).join("hearsay-c-demo");
    let mut cc = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()));
    cc.args([
        "-std=c11",
        "-Wall",
        "-Wextra",
        "-Wpedantic",
        "-Werror",
        "-g",
    ])
    .arg("-I")
    .arg(crate_dir().join("include"))
    .arg(crate_dir().join("examples/demo.c"))
    .arg(&lib)
    // What Rust's standard library needs from the system when linked
    // statically (`--print native-static-libs` lists them).
    .args(["-lpthread", "-ldl", "-lm"])
    .arg("-o")
    .arg(&exe);
    run(cc, Duration::from_secs(120));

    let out = run(Command::new(&exe), Duration::from_secs(60));
    assert!(out.contains("all checks passed"), "{out}");
}

/// The environment variable that declares a machine without a C++ compiler.
const NO_CXX: &str = "HEARSAY_NO_CXX";

#[test]
fn the_header_compiles_as_cxx() {
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".into());
    if let Err(e) = Command::new(&cxx).arg("--version").output() {
        // Skipping must be declared: a test that quietly passes without a
        // compiler would hide a header that no longer compiles as C++.
        assert!(
            std::env::var(NO_CXX).is_ok_and(|v| v == "1"),
            "cannot run the C++ compiler {cxx:?}: {e}; set CXX, or {NO_CXX}=1 \
             on a machine without one"
        );
        eprintln!("SKIPPED the_header_compiles_as_cxx: {NO_CXX}=1 and no {cxx:?} ({e})");
        return;
    }
    let src = Path::new(env!("CARGO_TARGET_TMPDIR")).join("hearsay-header.cpp");
    std::fs::write(
        &src,
        "#include \"hearsay.h\"\n\
         int main() {\n\
         hearsay_options o;\n\
         hearsay_options_init(&o);\n\
         return hearsay_status_str(HEARSAY_OK) == nullptr;\n\
         }\n",
    )
    .expect("write the C++ source");
    let mut cmd = Command::new(cxx);
    cmd.args(["-std=c++11", "-Wall", "-Wextra", "-Werror", "-fsyntax-only"])
        .arg("-I")
        .arg(crate_dir().join("include"))
        .arg(&src);
    run(cmd, Duration::from_secs(60));
}
