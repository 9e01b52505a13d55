//! What every entry point does at the C boundary: turn its outcome into a
//! status (panics caught by [`crate::unwind`]), check the pointers and
//! strings C passes in, copy results into C's buffers.
//!
//! Results are written through raw pointers (`ptr::write`,
//! `copy_nonoverlapping`), never through `&mut` references made from C's
//! pointers: an output buffer may hold uninitialised bytes, or bytes that
//! are not a valid value of the Rust type (an out-of-range enum), and a
//! reference to such memory would already be undefined behaviour.

use std::ffi::{CStr, c_char};

use crate::status::hearsay_status;
use crate::unwind::guard;

/// The outcome of an entry point's body: the error is the status to return.
pub(crate) type Outcome<T = ()> = Result<T, hearsay_status>;

/// [`guard`] for the common shape: a body returning an [`Outcome`].
pub(crate) fn guard_status(body: impl FnOnce() -> Outcome) -> hearsay_status {
    guard(hearsay_status::HEARSAY_INTERNAL_ERROR, || match body() {
        Ok(()) => hearsay_status::HEARSAY_OK,
        Err(status) => status,
    })
}

/// `NOT_FOUND` for `None`.
pub(crate) fn found<T>(v: Option<T>) -> Outcome<T> {
    v.ok_or(hearsay_status::HEARSAY_NOT_FOUND)
}

/// Checks a pointer C must not pass as NULL.
pub(crate) fn non_null<T>(p: *const T) -> Outcome<*const T> {
    if p.is_null() {
        Err(hearsay_status::HEARSAY_INVALID_ARGUMENT)
    } else {
        Ok(p)
    }
}

/// Checks a mutable pointer C must not pass as NULL.
pub(crate) fn non_null_mut<T>(p: *mut T) -> Outcome<*mut T> {
    if p.is_null() {
        Err(hearsay_status::HEARSAY_INVALID_ARGUMENT)
    } else {
        Ok(p)
    }
}

/// A required string argument.
///
/// # Safety
///
/// `p` is NULL or points to a NUL-terminated string that stays unchanged
/// while the returned reference is used.
pub(crate) unsafe fn str_arg<'a>(p: *const c_char) -> Outcome<&'a str> {
    let p = non_null(p)?;
    // SAFETY: not NULL, and NUL-terminated by the caller's contract.
    let c = unsafe { CStr::from_ptr(p) };
    c.to_str()
        .map_err(|_| hearsay_status::HEARSAY_INVALID_ARGUMENT)
}

/// An optional string argument (NULL: `None`).
///
/// # Safety
///
/// As for [`str_arg`].
pub(crate) unsafe fn opt_str_arg<'a>(p: *const c_char) -> Outcome<Option<&'a str>> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: forwarded contract.
    unsafe { str_arg(p) }.map(Some)
}

/// A byte-buffer argument; NULL is accepted only for an empty buffer.
///
/// # Safety
///
/// `p` is NULL or points to `len` readable bytes that stay unchanged while
/// the returned slice is used.
pub(crate) unsafe fn bytes_arg<'a>(p: *const u8, len: usize) -> Outcome<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    let p = non_null(p)?;
    // `from_raw_parts` requires it; no real buffer is that large.
    if len > isize::MAX as usize {
        return Err(hearsay_status::HEARSAY_INVALID_ARGUMENT);
    }
    // SAFETY: not NULL, `len` readable bytes by the caller's contract,
    // `len` within `isize::MAX`, and `u8` has no alignment or validity
    // requirement beyond being initialised, which readable bytes C
    // passes as a value are.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// Copies `bytes` to a caller's buffer of `cap` bytes.
///
/// # Safety
///
/// `dst` is NULL or points to `cap` writable bytes not overlapping `bytes`;
/// `dst` may be NULL only when `bytes` is empty or `cap` is 0.
pub(crate) unsafe fn copy_out(bytes: &[u8], dst: *mut u8, cap: usize) -> Outcome {
    if bytes.len() > cap {
        return Err(hearsay_status::HEARSAY_BUFFER_TOO_SMALL);
    }
    if bytes.is_empty() {
        return Ok(());
    }
    let dst = non_null_mut(dst)?;
    // SAFETY: `dst` is not NULL and has `cap >= bytes.len()` writable bytes
    // by the caller's contract; the regions do not overlap (one is ours).
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), dst, bytes.len()) };
    Ok(())
}

/// Writes `s` into a fixed C string array, NUL-terminated, cut at a
/// character boundary if it does not fit. Every array this is used on is
/// sized so that nothing hearsay accepts is ever cut; the cut only keeps a
/// broken invariant from becoming a panic. The rest of `dst` is zeroed.
pub(crate) fn fill_c_str(dst: &mut [c_char], s: &str) {
    let room = dst.len().saturating_sub(1);
    let mut end = s.len().min(room);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    for (d, b) in dst.iter_mut().zip(s.as_bytes()[..end].iter()) {
        // `c_char` is `i8` or `u8` depending on the target: a bit-for-bit
        // reinterpretation of each byte, as C's `char` holds UTF-8.
        *d = *b as c_char;
    }
    for d in dst.iter_mut().skip(end) {
        *d = 0;
    }
}

/// A C string array's contents up to its NUL, for tests.
#[cfg(test)]
pub(crate) fn c_str_of(a: &[c_char]) -> String {
    let bytes: Vec<u8> = a
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8(bytes).expect("UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_c_str_terminates_and_cuts_at_char_boundaries() {
        let mut a = [1 as c_char; 4];
        fill_c_str(&mut a, "ab");
        assert_eq!(a, [b'a' as c_char, b'b' as c_char, 0, 0]);
        fill_c_str(&mut a, "abcdef");
        assert_eq!(c_str_of(&a), "abc");
        // "é" is two bytes: "aé" + "é" cut to fit 3 bytes keeps "aé".
        fill_c_str(&mut a, "aéé");
        assert_eq!(c_str_of(&a), "aé");
        let mut one = [7 as c_char; 1];
        fill_c_str(&mut one, "x");
        assert_eq!(one, [0]);
    }

    #[test]
    fn guard_turns_a_panic_into_the_given_value() {
        assert_eq!(guard(1, || 2), 2);
        let v = guard(1, || panic!("boom"));
        assert_eq!(v, 1);
    }
}
