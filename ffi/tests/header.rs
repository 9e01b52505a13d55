//! The checked-in `include/hearsay.h` is what cbindgen generates from the
//! crate now. Regenerate it with
//! `HEARSAY_UPDATE_HEADER=1 cargo test -p hearsay-ffi --test header`.

use std::path::Path;

#[test]
fn the_checked_in_header_is_up_to_date() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config =
        cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml parses");
    let bindings = cbindgen::generate_with_config(crate_dir, config).expect("cbindgen runs");
    let mut generated = Vec::new();
    bindings.write(&mut generated);
    let generated = String::from_utf8(generated).expect("UTF-8 header");

    let path = crate_dir.join("include/hearsay.h");
    if std::env::var_os("HEARSAY_UPDATE_HEADER").is_some() {
        std::fs::write(&path, &generated).expect("write the header");
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    if checked_in != generated {
        let first = checked_in
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| checked_in.lines().count().min(generated.lines().count()));
        panic!(
            "ffi/include/hearsay.h is out of date (first difference at line {}).\n\
             Regenerate it with:\n\n    \
             HEARSAY_UPDATE_HEADER=1 cargo test -p hearsay-ffi --test header\n\n\
             and review and commit the diff.",
            first + 1
        );
    }
}
