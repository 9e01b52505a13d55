//! # hearsay-ffi
//!
//! A C API over [`hearsay_std`]: C and C++ programs start a hearsay node,
//! set and read keys, list live members, read membership and key events,
//! and manage the cluster keys that seal its datagrams.
//! The crate builds a static library (`libhearsay_ffi.a`) and a shared one
//! (`libhearsay_ffi.so`); the header is `include/hearsay.h`, generated from
//! this crate by cbindgen (configuration in `cbindgen.toml`) and checked in.
//! `tests/header.rs` fails when it is out of date and says how to
//! regenerate it; the documentation comments of the items below are the
//! header's comments, so they are written for C readers.
//!
//! ```sh
//! cargo build --release -p hearsay-ffi
//! cc demo.c -Iffi/include target/release/libhearsay_ffi.a -lpthread -ldl -lm -o demo
//! ```
//!
//! `install.sh PREFIX` (Linux) installs the libraries, the header and a
//! pkg-config file (`hearsay.pc`, from `hearsay.pc.in`) under a prefix, so
//! that `cc demo.c $(pkg-config --cflags --libs hearsay)` builds a program;
//! `tests/pkg_config.rs` runs it with the libraries cargo built for the
//! tests and builds the demo that way.
//!
//! ## The rules at the boundary
//!
//! - **Status codes.** Every fallible function returns a
//!   [`hearsay_status`]; `HEARSAY_OK` is 0. Nothing is reported any other
//!   way (no errno, no global error state).
//! - **No panic crosses the boundary.** Every entry point runs its body
//!   inside [`std::panic::catch_unwind`] and returns
//!   `HEARSAY_INTERNAL_ERROR` if it panicked (a panic would be a bug in
//!   hearsay; Rust's default hook still prints its message to stderr). This
//!   needs the default `panic = "unwind"`: a build with `panic = "abort"`
//!   aborts instead.
//! - **Arguments are checked.** A NULL pointer where one is required, a
//!   string that is not UTF-8, an unparsable address or an invalid name or
//!   key is `HEARSAY_INVALID_ARGUMENT`. What cannot be checked is the
//!   caller's part: pointers must point to what they claim (a NUL-terminated
//!   string, `len` readable bytes, `cap` writable bytes, a node from
//!   `hearsay_start` not yet freed).
//! - **No memory is handed to C.** Results are copied into buffers the
//!   caller owns, with `HEARSAY_BUFFER_TOO_SMALL` and the needed size when
//!   they do not fit; strings in result structs are fixed-size inline arrays.
//!   The only thing to release is the node itself, with `hearsay_free`.
//! - **Threads.** A node handle may be used from any number of threads at
//!   once, except `hearsay_free`, which must not overlap any other call on
//!   the same node (the caller ensures that; the library cannot detect a
//!   use after free).
//!
//! ## Implementation
//!
//! A `hearsay_node` is a boxed [`hearsay_std::Node`] plus the two
//! subscriptions (membership, and keys with the empty prefix) taken on the
//! builder, so no event between `hearsay_start` and the first
//! `hearsay_next_event` is lost. Every call is a call on the `Node`, which
//! is `Send + Sync`; the subscriptions are crossbeam receivers, which are
//! too. `unsafe` is confined to this crate and to dereferencing what C
//! passes in; every block says why it is sound.
//!
//! ## Dependencies
//!
//! - `hearsay-std`: the runtime this wraps.
//! - `hearsay-core`: the limits the header's buffer sizes are checked
//!   against (name and key lengths) and the node status type.
//! - `crossbeam-channel` (already in the build through hearsay-std): the
//!   subscriptions are crossbeam receivers, and waiting on both at once with
//!   a timeout needs its `Select`.
//! - `zeroize` (already in the build through hearsay-core): the copies of
//!   cluster keys read from C memory are wiped when dropped.
//! - `cbindgen` (dev-dependency only): regenerates the header in a test.
//!
//! ## Module map
//!
//! - `boundary`: catching panics, checking pointers and strings, copying
//!   into C buffers.
//! - `status`: [`hearsay_status`] and `hearsay_status_str`.
//! - `options`: [`hearsay_options`] and `hearsay_start`.
//! - `node`: [`hearsay_node`], keys, `hearsay_leave`, `hearsay_free`.
//! - `keys`: cluster keys (sealed datagrams): the key modes,
//!   [`hearsay_cluster_key`] and the keyring calls.
//! - `members`: [`hearsay_member`] and the membership reads.
//! - `events`: [`hearsay_event`] and `hearsay_next_event`.

#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
// The exported types carry their C names, so that the header cbindgen
// writes is the C API as designed, with no renaming table to keep in sync.
#![allow(non_camel_case_types)]

mod boundary;
mod unwind;

// The header presents the API in this order, which cbindgen takes from the
// order of these declarations (one group each, so rustfmt keeps it).
pub mod status;

pub mod options;

pub mod node;

pub mod keys;

pub mod members;

pub mod events;

pub use events::{
    HEARSAY_EVENT_VALUE_SIZE, HEARSAY_KEY_SIZE, hearsay_event, hearsay_event_kind,
    hearsay_next_event,
};
pub use keys::{
    HEARSAY_CLUSTER_KEY_LEN, HEARSAY_KEY_MODE_LISTEN, HEARSAY_KEY_MODE_REQUIRED,
    HEARSAY_KEY_MODE_TRANSITIONAL, HEARSAY_MAX_CLUSTER_KEYS, hearsay_cluster_key,
    hearsay_cluster_keys, hearsay_install_key, hearsay_remove_key, hearsay_set_key_mode,
    hearsay_use_key,
};
pub use members::{
    HEARSAY_ADDR_SIZE, HEARSAY_NAME_SIZE, hearsay_live_count, hearsay_live_members, hearsay_member,
    hearsay_member_get, hearsay_member_status,
};
pub use node::{
    hearsay_delete, hearsay_free, hearsay_get, hearsay_leave, hearsay_local_addr, hearsay_node,
    hearsay_set, hearsay_set_with_ttl,
};
pub use options::{hearsay_options, hearsay_options_init, hearsay_start};
pub use status::{hearsay_status, hearsay_status_str};

#[cfg(test)]
mod tests;
