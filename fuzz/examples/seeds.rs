//! Writes the seed corpus of the fuzz targets into `fuzz/seeds/`:
//!
//! - `datagrams/`: the golden datagrams of `core/src/wire/tests.rs`
//!   (versions 3 to 6; the padded version-4 Syn without its padding), a
//!   version-6 SynAck whose piece ends in a chunk, and every datagram of the unsealed world's own
//!   exchange (see the crate docs), raw, for `decode` and `roundtrip`;
//! - `engine/`: each of those as one record, from `b`, plus the world's
//!   datagrams to `a` in one input, for `engine`;
//! - `sealed/`: one record of each action, for `sealed`.
//!
//! Run `cargo +nightly run --manifest-path fuzz/Cargo.toml --example seeds`
//! after a change of the wire format (the golden tests fail then too).

use std::fs;
use std::path::Path;

use hearsay_fuzz::{records, script};

/// The golden datagrams, annotated hex as in `core/src/wire/tests.rs`.
const GOLDEN: &[(&str, &str)] = &[
    (
        "golden-syn-v3",
        "48 53 03 01 a0 d5 d2 fe 01 61 01 00 0a 00 00 01 d9 36 01
         00 00 00 00 00 00 00 00 ff ff ff ff ff ff ff ff 01 a1 48 9e 6d 03 04",
    ),
    (
        "golden-synack-v3",
        "48 53 03 02 a0 d5 d2 fe 01 62 02 00 0a 00 00 02 da 36 01 01
         a1 48 9e 6d 14 ad 86 71 01 00 00 01 01 01 62 02 00 0a 00 00 02 da 36
         02 01 00 00 04 03 01 00 01 78 01 31 02 02 01 7a 03 74 6d 70 01 01 01 79 00",
    ),
    (
        "golden-ack-v3",
        "48 53 03 03 a0 d5 d2 fe 01 61 01 00 0a 00 00 01 d9 36 02
         00 a1 48 9e 6d 14 ad 86 71 03 00
         00 a1 48 9e 6d 14 ad 86 71 03 01 00 00 01 01 01 00 04 72 6f 6c 65
         06 6c 65 61 64 65 72",
    ),
    (
        "golden-syn-v4",
        "48 53 04 01 a0 d5 d2 fe 01 61 01 00 0a 00 00 01 d9 36 01
         00 00 00 00 00 00 00 00 ff ff ff ff ff ff ff ff
         2c b4 32 1f 12 23 8a 63 00 00 00 00 00 00 00 00 01 a1 48 9e 6d 03 04",
    ),
    (
        "golden-synack-v4",
        "48 53 04 02 a0 d5 d2 fe 01 62 02 00 0a 00 00 02 da 36 01
         ba 84 7c d8 d8 e8 d4 3f 2c b4 32 1f 12 23 8a 63
         01 a1 48 9e 6d 14 ad 86 71 01 00 00
         01 01 01 62 02 00 0a 00 00 02 da 36 02 01 00 00 04 03
         01 00 01 78 01 31 02 02 01 7a 03 74 6d 70 01 01 01 79 00",
    ),
    (
        "golden-ack-v4",
        "48 53 04 03 a0 d5 d2 fe 01 61 01 00 0a 00 00 01 d9 36 01
         00 a1 48 9e 6d 14 ad 86 71 03 01 00 00 01 01 01 00 04 72 6f 6c 65
         06 6c 65 61 64 65 72",
    ),
    (
        "golden-syn-v5",
        "48 53 05 01 a0 d5 d2 fe 01 61 01 00 0a 00 00 01 d9 36 01
         00 00 00 00 00 00 00 00 ff ff ff ff ff ff ff ff
         2c b4 32 1f 12 23 8a 63 ba 84 7c d8 d8 e8 d4 3f 02 00 00 00 00
         01 01 00 02 9f b0 a3 0a 61 19 25 ee d8 90 6a 48 00 00 08 00 03 00",
    ),
    (
        "golden-synack-v5",
        "48 53 05 02 a0 d5 d2 fe 01 62 02 00 0a 00 00 02 da 36 01
         ba 84 7c d8 d8 e8 d4 3f 2c b4 32 1f 12 23 8a 63 02 00 00 00
         00 01 00 02 02 01 00 00",
    ),
    (
        "golden-syn-v6",
        "48 53 06 01 a0 d5 d2 fe 01 61 01 00 0a 00 00 01 d9 36 01
         00 00 00 00 00 00 00 00 ff ff ff ff ff ff ff ff
         2c b4 32 1f 12 23 8a 63 ba 84 7c d8 d8 e8 d4 3f 02 00 00 00 00 00
         01 01 00 02 9f b0 a3 0a 61 19 25 ee d8 90 6a 48 00 00 08 00 03 00",
    ),
    (
        "golden-synack-v6",
        "48 53 06 02 a0 d5 d2 fe 01 62 02 00 0a 00 00 02 da 36 01
         ba 84 7c d8 d8 e8 d4 3f 2c b4 32 1f 12 23 8a 63 02 00 00 00
         00 01 00 02 02 01 00 00 00",
    ),
    (
        // a's piece (0, 0] ending in a chunk: bytes 32..35 ("abc") of the
        // 35-byte value of "big" at version 1 (on the grid of 32-byte
        // units: an aligned start, the value's end).
        "chunk-synack-v6",
        "48 53 06 02 a0 d5 d2 fe 01 61 01 00 0a 00 00 01 d9 36 01
         00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
         00 00 00 00
         01 00 a1 48 9e 6d 14 ad 86 71 01 01 00 00 00 01
         01 03 03 62 69 67 03 61 62 63 23 20",
    ),
];

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|t| u8::from_str_radix(t, 16).expect("hex"))
        .collect()
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let dirs = ["datagrams", "engine", "sealed"].map(|d| root.join(d));
    for d in &dirs {
        let _ = fs::remove_dir_all(d);
        fs::create_dir_all(d).expect("mkdir");
    }
    let mut raw: Vec<(String, Vec<u8>, u8)> = GOLDEN
        .iter()
        .map(|(name, h)| (name.to_string(), hex(h), 0))
        .collect();
    // Typed right: each golden datagram is canonical, so it re-encodes to
    // itself.
    let mut out = vec![0; 65_507];
    for (name, d, _) in &raw {
        let n = hearsay_core::fuzzing::reencode(d, &mut out, &mut |_| {}).expect(name);
        assert_eq!(&out[..n], &d[..], "{name}");
    }
    let world = script(false);
    for (k, (from, to, d)) in world.datagrams.iter().enumerate() {
        // As `a` would get it: from `b` (0) or `c` (1).
        let sender = if *to == 0 && *from == 2 { 1 } else { 0 };
        raw.push((format!("world-{k:02}-{from}to{to}"), d.clone(), sender));
    }
    for (name, d, sender) in &raw {
        fs::write(dirs[0].join(name), d).expect("write");
        fs::write(dirs[1].join(name), records(&[(*sender, d)])).expect("write");
    }
    // The world's datagrams to `a`, from their senders, 0.4 s apart.
    let to_a: Vec<(u8, &[u8])> = world
        .datagrams
        .iter()
        .filter(|(_, to, _)| *to == 0)
        .map(|(from, _, d)| ((10 << 3) | if *from == 2 { 1 } else { 0 }, &d[..]))
        .collect();
    fs::write(dirs[1].join("world-to-a"), records(&to_a)).expect("write");
    // One record of each action of the sealed target, 0.4 s apart.
    let step = 10 << 3;
    let sealed: Vec<(u8, &[u8])> = vec![
        (step, &[]),
        (step | 5, &[]),
        (step | 1, &[20, 0, 1]),
        (step | 1, &[20, 0, 0]),
        (step | 2, &[40, 0]),
        (step | 3, &[1, 0]),
        (step | 4, &[1, 2, 3, 4]),
        (step | 6, &[0]),
        (step | 7, &[1, 1, 0x61]),
    ];
    for (k, rec) in sealed.iter().enumerate() {
        fs::write(dirs[2].join(format!("action-{k}")), records(&[*rec])).expect("write");
    }
    fs::write(dirs[2].join("all-actions"), records(&sealed)).expect("write");
    println!("wrote {} datagrams", raw.len());
}
