//! No panic crosses the C boundary: every entry point runs its body inside
//! [`guard`], which turns a panic into an error value.
//!
//! Kept apart from [`crate::boundary`] (argument checks, which need the
//! status codes) so that `status`, whose own entry point is guarded too,
//! depends on nothing that depends on it.

use std::panic::{AssertUnwindSafe, catch_unwind};

/// Runs an entry point's body; a panic becomes `on_panic`.
///
/// `AssertUnwindSafe`: after a panic the caller only gets an error code.
/// What the body may have been touching is the node's `hearsay_std::Node`
/// (channels and atomics, consistent at every step), the node's list of
/// helper threads (behind a mutex whose poisoning is ignored: a list of
/// join handles stays valid) and the caller's output buffers (which the
/// error code tells the caller not to read).
pub(crate) fn guard<T>(on_panic: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(|| {
        test_hook::maybe_panic();
        body()
    }))
    .unwrap_or(on_panic)
}

/// A test-only way to make an entry point panic: the unit tests check that
/// every entry point turns a panic into its error value. Outside tests
/// `maybe_panic` is an empty inline function, so the shipped library has no
/// panicking path added for the test.
pub(crate) mod test_hook {
    #[cfg(test)]
    thread_local! {
        static PANIC_NEXT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    /// Makes the next guarded entry point called on this thread panic.
    #[cfg(test)]
    pub(crate) fn panic_next_call() {
        PANIC_NEXT.with(|p| p.set(true));
    }

    #[cfg(test)]
    pub(crate) fn maybe_panic() {
        if PANIC_NEXT.with(|p| p.replace(false)) {
            panic!("panic induced by a hearsay-ffi test");
        }
    }

    #[cfg(not(test))]
    #[inline(always)]
    pub(crate) fn maybe_panic() {}
}
