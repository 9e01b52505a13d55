//! encode ∘ decode is the identity on whatever decodes: a datagram that
//! decodes is written again with the engine's own encoder
//! (`hearsay_core::fuzzing::reencode`), and
//! - the re-encoding decodes to the same fields, in the same order;
//! - it is no longer than the input (it is the canonical form: minimal
//!   varints, one run per stretch of lines, no padding);
//! - re-encoding it gives the same bytes (the canonical form is a fixed
//!   point), so on canonical input encode ∘ decode is the identity byte
//!   for byte.
#![no_main]

use std::cell::RefCell;

use hearsay_core::fuzzing::{Field, ReencodeError, reencode};
use libfuzzer_sys::fuzz_target;

thread_local! {
    static BUFS: RefCell<(Vec<u8>, Vec<u8>)> =
        RefCell::new((vec![0; 2 * 65_507], vec![0; 2 * 65_507]));
}

fuzz_target!(|data: &[u8]| {
    BUFS.with_borrow_mut(|(first, second)| {
        let mut fields: Vec<Field<'_>> = Vec::new();
        let n = match reencode(data, first, &mut |f| fields.push(f)) {
            Ok(n) => n,
            Err(ReencodeError::Decode(_)) => return,
            Err(e) => panic!("a datagram decodes but cannot be written again: {e:?}"),
        };
        let canonical = &first[..n];
        assert!(
            n <= data.len(),
            "the re-encoding ({n} bytes) is longer than the input ({})",
            data.len()
        );
        let mut again: Vec<Field<'_>> = Vec::new();
        let m = match reencode(canonical, second, &mut |f| again.push(f)) {
            Ok(m) => m,
            Err(e) => panic!("the re-encoding does not decode: {e:?}"),
        };
        assert_eq!(fields, again, "the re-encoding decodes to other fields");
        assert_eq!(
            &second[..m],
            canonical,
            "the canonical form is no fixed point"
        );
    });
});
