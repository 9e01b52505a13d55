//! The C user's way in: `install.sh` (the recipe README gives) installs the
//! library, the header and `hearsay.pc` into a temporary prefix, then
//! `examples/demo.c` is compiled with
//! `cc demo.c $(pkg-config --cflags --libs hearsay)`, through the shell as
//! a user types it, and run (three nodes on loopback, every check made in
//! C). Once per kind of install: the static library alone, the shared one
//! alone, and both (where the linker takes the shared one).
//!
//! The libraries are the ones cargo built for this test run (`install.sh
//! --from <target>/<profile>/deps`; no test runs `cargo build`), so what is
//! tested is the script, the `.pc` template and the libraries as they are.
//! Linux only, like `install.sh`. pkg-config must be installed: without it
//! these tests fail and say so (`.ci/run` installs it), since passing
//! without it would prove nothing. `CC` overrides the compiler (`cc`).
#![cfg(target_os = "linux")]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::{crate_dir, deps_dir, run};

/// Fails the test, with what to do, when there is no `pkg-config`.
fn require_pkg_config() {
    if let Err(e) = Command::new("pkg-config").arg("--version").output() {
        panic!(
            "cannot run pkg-config ({e}): these tests need it; install it \
             (Debian: apt-get install pkgconf), as .ci/run does"
        );
    }
}

/// Installs with `install.sh <option> --from <deps>` into a fresh prefix
/// under this test's temporary directory, and returns the prefix.
fn install(option: Option<&str>, name: &str) -> PathBuf {
    let prefix = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("pkg-config-{name}"));
    if prefix.exists() {
        std::fs::remove_dir_all(&prefix).expect("remove the previous prefix");
    }
    let mut cmd = Command::new(crate_dir().join("install.sh"));
    cmd.args(option).arg("--from").arg(deps_dir()).arg(&prefix);
    run(cmd, Duration::from_secs(60));
    prefix
}

/// `pkg-config <args> hearsay` with the prefix's `.pc` directory first on
/// pkg-config's path.
fn pkg_config(prefix: &Path, args: &[&str]) -> String {
    let mut cmd = Command::new("pkg-config");
    cmd.env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig"))
        .args(args)
        .arg("hearsay");
    run(cmd, Duration::from_secs(30))
}

/// Which library a program links.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Linked {
    Static,
    Shared,
}

/// Installs, checks what pkg-config says, builds the demo with the
/// pkg-config command line, checks which library the program loads, and
/// runs it.
fn demo_through_pkg_config(option: Option<&str>, name: &str, linked: Linked) {
    require_pkg_config();
    let prefix = install(option, name);
    let lib_dir = prefix.join("lib");

    assert_eq!(
        pkg_config(&prefix, &["--modversion"]).trim(),
        env!("CARGO_PKG_VERSION")
    );
    let flags = pkg_config(&prefix, &["--cflags", "--libs"]);
    assert!(
        flags.contains(&format!("-I{}", prefix.join("include").display())),
        "{flags}"
    );

    let exe = prefix.join("demo");
    let mut cc = Command::new("sh");
    cc.arg("-c")
        .arg(
            r#"${CC:-cc} -std=c11 -Wall -Wextra -Wpedantic -Werror "$DEMO" \
               $(pkg-config --cflags --libs hearsay) -o "$EXE""#,
        )
        .env("PKG_CONFIG_PATH", lib_dir.join("pkgconfig"))
        .env("DEMO", crate_dir().join("examples/demo.c"))
        .env("EXE", &exe);
    run(cc, Duration::from_secs(120));

    // The dynamic loader lists what the program would load, instead of
    // running it (what `ldd` does): the shared library from the prefix, or
    // no hearsay library at all when it was linked statically.
    let mut ld = Command::new(&exe);
    ld.env("LD_TRACE_LOADED_OBJECTS", "1")
        .env("LD_LIBRARY_PATH", &lib_dir);
    let loaded = run(ld, Duration::from_secs(30));
    let shared = lib_dir.join("libhearsay_ffi.so");
    match linked {
        Linked::Shared => assert!(
            loaded.contains(&format!("=> {}", shared.display())),
            "the demo does not load {}:\n{loaded}",
            shared.display()
        ),
        Linked::Static => assert!(
            !loaded.contains("libhearsay_ffi"),
            "the demo was meant to be linked statically:\n{loaded}"
        ),
    }

    let mut demo = Command::new(&exe);
    demo.env("LD_LIBRARY_PATH", &lib_dir);
    let out = run(demo, Duration::from_secs(60));
    assert!(out.contains("all checks passed"), "{out}");
}

#[test]
fn the_demo_builds_with_pkg_config_against_the_static_library() {
    demo_through_pkg_config(Some("--static"), "static", Linked::Static);
}

#[test]
fn the_demo_builds_with_pkg_config_against_the_shared_library() {
    demo_through_pkg_config(Some("--shared"), "shared", Linked::Shared);
}

/// The default install (both libraries): `--libs` links the shared one,
/// and `--static --libs` adds what the static one needs from the system.
#[test]
fn with_both_installed_the_demo_links_the_shared_library() {
    demo_through_pkg_config(None, "both", Linked::Shared);
    let prefix = Path::new(env!("CARGO_TARGET_TMPDIR")).join("pkg-config-both");
    let libs = pkg_config(&prefix, &["--static", "--libs"]);
    assert!(
        libs.contains("-lhearsay_ffi") && libs.contains("-lpthread"),
        "{libs}"
    );
    assert!(prefix.join("lib/libhearsay_ffi.a").exists());
}
