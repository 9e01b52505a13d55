//! Every decoder of the wire format, fed arbitrary bytes: as a datagram
//! and as a bare body of every kind in every protocol version. None may
//! panic, and whatever one accepts must read to the end
//! (`hearsay_core::fuzzing::decode_all`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(what) = hearsay_core::fuzzing::decode_all(data) {
        panic!("{what}");
    }
});
