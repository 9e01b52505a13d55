//! [`hearsay_status`]: what every fallible function returns, and how
//! hearsay-std's errors map onto it.

use std::ffi::{c_char, c_int};

use hearsay_std::{Error, KeyError};

use crate::unwind::guard;

/// What a hearsay function returns: `HEARSAY_OK` (0) or why it failed.
/// `hearsay_status_str` names each.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum hearsay_status {
    /// Success.
    HEARSAY_OK = 0,
    /// A required pointer was NULL, a string was not UTF-8, or a value was
    /// refused: an address that does not parse or cannot be used, a node
    /// name that is empty or longer than 64 bytes, a seed without a port, a
    /// key that is empty or longer than 255 bytes, a value longer than
    /// `max_value_len`, inconsistent settings.
    HEARSAY_INVALID_ARGUMENT = 1,
    /// The UDP socket could not be created or bound to `listen_addr`
    /// (address in use, not a local address, no permission...).
    HEARSAY_BIND_FAILED = 2,
    /// The node's table of keys or its storage for keys and values is full.
    HEARSAY_CAPACITY_FULL = 3,
    /// No such member, or no such key in its namespace.
    HEARSAY_NOT_FOUND = 4,
    /// The result does not fit the caller's buffer; the call says where it
    /// stored the size needed.
    HEARSAY_BUFFER_TOO_SMALL = 5,
    /// The node has stopped (its engine thread is gone); only
    /// `hearsay_free` is left to do. `hearsay_next_event` returns it once
    /// every queued event has been read.
    HEARSAY_SHUT_DOWN = 6,
    /// A bug in hearsay (a panic, caught at the boundary) or a failure of
    /// the system (a thread could not be started).
    HEARSAY_INTERNAL_ERROR = 7,
    /// Nothing happened within the timeout (`hearsay_next_event`), or the
    /// departure was not fully announced yet (`hearsay_leave`).
    HEARSAY_TIMEOUT = 8,
    /// The node has left the cluster (`hearsay_leave`): its keys can no
    /// longer change.
    HEARSAY_LEFT = 9,
    /// The write would take the node's namespace beyond the per-node share
    /// (`max_node_entries`, `max_node_bytes` in `hearsay_options`).
    HEARSAY_NAMESPACE_FULL = 10,
    /// `hearsay_start` could not allocate the engine's tables at the
    /// capacity asked for (`max_nodes`, `max_entries`, `max_state_bytes`,
    /// `detector_window` in `hearsay_options`).
    HEARSAY_OUT_OF_MEMORY = 11,
    /// The node already holds `HEARSAY_MAX_CLUSTER_KEYS` cluster keys
    /// (`hearsay_install_key`): remove one first.
    HEARSAY_KEYRING_FULL = 12,
    /// No installed cluster key has this fingerprint (`hearsay_use_key`,
    /// `hearsay_remove_key`).
    HEARSAY_UNKNOWN_KEY = 13,
    /// The key is the one the node seals with and cannot be removed
    /// (`hearsay_remove_key`): `hearsay_use_key` another one first.
    HEARSAY_PRIMARY_KEY = 14,
}

impl From<Error> for hearsay_status {
    fn from(e: Error) -> Self {
        match e {
            Error::InvalidName(_)
            | Error::InvalidConfig(_)
            | Error::InvalidSetting { .. }
            | Error::BadAddress { .. }
            | Error::InvalidKey(_)
            | Error::EntryTooLarge
            | Error::ValueTooLong => hearsay_status::HEARSAY_INVALID_ARGUMENT,
            // Creating or configuring the socket fails for the reasons
            // binding does (resources, permissions); one code for both.
            Error::Bind { .. } | Error::Socket(_) => hearsay_status::HEARSAY_BIND_FAILED,
            Error::CapacityFull => hearsay_status::HEARSAY_CAPACITY_FULL,
            Error::NamespaceFull => hearsay_status::HEARSAY_NAMESPACE_FULL,
            Error::OutOfMemory { .. } => hearsay_status::HEARSAY_OUT_OF_MEMORY,
            Error::Left => hearsay_status::HEARSAY_LEFT,
            Error::ShutDown => hearsay_status::HEARSAY_SHUT_DOWN,
            Error::Timeout => hearsay_status::HEARSAY_TIMEOUT,
            Error::Key(KeyError::Full) => hearsay_status::HEARSAY_KEYRING_FULL,
            Error::Key(KeyError::Unknown) => hearsay_status::HEARSAY_UNKNOWN_KEY,
            Error::Key(KeyError::Primary) => hearsay_status::HEARSAY_PRIMARY_KEY,
            // Spawn failures, panicked threads, an exhausted version
            // counter (2^62 writes), and whatever hearsay-std adds later.
            _ => hearsay_status::HEARSAY_INTERNAL_ERROR,
        }
    }
}

/// A `hearsay_status` as C passes it in. C may pass any `int` where a
/// `hearsay_status` is expected, and a Rust enum holding a value outside
/// its variants is undefined behaviour, so the Rust side takes the integer;
/// cbindgen.toml renames it to `hearsay_status` in the header (same ABI:
/// a C enum with these values is an `int`).
pub type hearsay_status_arg = c_int;

/// A short static description of `status` ("ok", "invalid argument"...);
/// "unknown status" for a value that is not a `hearsay_status`. Never NULL;
/// the caller must not free it.
#[unsafe(no_mangle)]
pub extern "C" fn hearsay_status_str(status: hearsay_status_arg) -> *const c_char {
    guard(c"internal error".as_ptr(), || describe(status).as_ptr())
}

fn describe(status: c_int) -> &'static std::ffi::CStr {
    use hearsay_status::*;
    const ALL: [hearsay_status; 15] = [
        HEARSAY_OK,
        HEARSAY_INVALID_ARGUMENT,
        HEARSAY_BIND_FAILED,
        HEARSAY_CAPACITY_FULL,
        HEARSAY_NOT_FOUND,
        HEARSAY_BUFFER_TOO_SMALL,
        HEARSAY_SHUT_DOWN,
        HEARSAY_INTERNAL_ERROR,
        HEARSAY_TIMEOUT,
        HEARSAY_LEFT,
        HEARSAY_NAMESPACE_FULL,
        HEARSAY_OUT_OF_MEMORY,
        HEARSAY_KEYRING_FULL,
        HEARSAY_UNKNOWN_KEY,
        HEARSAY_PRIMARY_KEY,
    ];
    let Some(known) = ALL.into_iter().find(|&s| s as c_int == status) else {
        return c"unknown status";
    };
    match known {
        HEARSAY_OK => c"ok",
        HEARSAY_INVALID_ARGUMENT => c"invalid argument",
        HEARSAY_BIND_FAILED => c"cannot bind the UDP socket",
        HEARSAY_CAPACITY_FULL => c"capacity full",
        HEARSAY_NOT_FOUND => c"not found",
        HEARSAY_BUFFER_TOO_SMALL => c"buffer too small",
        HEARSAY_SHUT_DOWN => c"node shut down",
        HEARSAY_INTERNAL_ERROR => c"internal error",
        HEARSAY_TIMEOUT => c"timed out",
        HEARSAY_LEFT => c"node has left the cluster",
        HEARSAY_NAMESPACE_FULL => c"namespace beyond the per-node share",
        HEARSAY_OUT_OF_MEMORY => c"not enough memory for the node's capacity",
        HEARSAY_KEYRING_FULL => c"the keyring is full: remove a key first",
        HEARSAY_UNKNOWN_KEY => c"no installed key has this fingerprint",
        HEARSAY_PRIMARY_KEY => c"the primary key cannot be removed: use another key first",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn str_of(status: c_int) -> String {
        // SAFETY: hearsay_status_str returns a static NUL-terminated string.
        unsafe { CStr::from_ptr(hearsay_status_str(status)) }
            .to_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn every_status_has_its_own_name() {
        let names: Vec<String> = (0..15).map(str_of).collect();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 15, "{names:?}");
        assert!(!names.iter().any(|n| n == "unknown status"));
        assert_eq!(names[0], "ok");
        assert_eq!(names[5], "buffer too small");
    }

    #[test]
    fn any_other_int_is_an_unknown_status() {
        for v in [-1, 15, 1000, c_int::MIN, c_int::MAX] {
            assert_eq!(str_of(v), "unknown status");
        }
    }

    #[test]
    fn std_errors_map_to_their_codes() {
        use hearsay_status::*;
        let io = || std::io::Error::from(std::io::ErrorKind::AddrInUse);
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 1));
        let cases = [
            (Error::EntryTooLarge, HEARSAY_INVALID_ARGUMENT),
            (Error::ValueTooLong, HEARSAY_INVALID_ARGUMENT),
            (
                Error::InvalidSetting {
                    setting: "x",
                    reason: "y",
                },
                HEARSAY_INVALID_ARGUMENT,
            ),
            (
                Error::BadAddress {
                    input: "x".into(),
                    reason: "y",
                },
                HEARSAY_INVALID_ARGUMENT,
            ),
            (Error::Bind { addr, source: io() }, HEARSAY_BIND_FAILED),
            (Error::Socket(io()), HEARSAY_BIND_FAILED),
            (Error::CapacityFull, HEARSAY_CAPACITY_FULL),
            (Error::NamespaceFull, HEARSAY_NAMESPACE_FULL),
            (Error::OutOfMemory { bytes: 1 << 40 }, HEARSAY_OUT_OF_MEMORY),
            (Error::Left, HEARSAY_LEFT),
            (Error::ShutDown, HEARSAY_SHUT_DOWN),
            (Error::Timeout, HEARSAY_TIMEOUT),
            (Error::Spawn(io()), HEARSAY_INTERNAL_ERROR),
            (Error::ThreadPanicked("engine"), HEARSAY_INTERNAL_ERROR),
            (Error::Key(KeyError::Full), HEARSAY_KEYRING_FULL),
            (Error::Key(KeyError::Unknown), HEARSAY_UNKNOWN_KEY),
            (Error::Key(KeyError::Primary), HEARSAY_PRIMARY_KEY),
        ];
        for (e, want) in cases {
            let shown = e.to_string();
            assert_eq!(hearsay_status::from(e), want, "{shown}");
        }
    }
}
