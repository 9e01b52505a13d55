//! The runtime's error type.
//!
//! Every fallible operation of hearsay-std returns [`Error`]: setting up a
//! node (bad settings, addresses that cannot be used, sockets that cannot be
//! bound, threads that cannot be spawned) and using one (rejected keys, a
//! full table, a node that has left or was shut down). Nothing in the
//! runtime panics on these conditions.

use std::fmt;
use std::io;
use std::net::SocketAddr;

use hearsay_core::{ConfigError, KeyError, NameError, WriteError};

/// Why a hearsay-std operation failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The node name is empty, longer than 64 bytes or contains NUL.
    InvalidName(NameError),
    /// The engine settings are inconsistent (see [`ConfigError`]).
    InvalidConfig(ConfigError),
    /// A runtime setting of the [`crate::Builder`] (not part of the
    /// engine's [`hearsay_core::Config`]) is outside its range.
    InvalidSetting {
        /// The setting, named as its builder method.
        setting: &'static str,
        /// What its valid values are.
        reason: &'static str,
    },
    /// The memory for the engine's tables could not be allocated at the
    /// capacity asked for ([`crate::Builder::max_nodes`] and its siblings).
    OutOfMemory {
        /// The bytes the tables need ([`hearsay_core::Capacity::memory_bytes`]).
        bytes: usize,
    },
    /// An address given to the builder cannot be used.
    BadAddress {
        /// The address as given.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The UDP socket could not be bound to the listen address.
    Bind {
        /// The listen address.
        addr: SocketAddr,
        /// The operating system's error.
        source: io::Error,
    },
    /// Creating or configuring the UDP socket failed (other than binding).
    Socket(io::Error),
    /// A runtime thread could not be spawned.
    Spawn(io::Error),
    /// The key is empty, longer than 255 bytes, starts with NUL (reserved
    /// for hearsay) or contains NUL. The [`WriteError`] says which.
    InvalidKey(WriteError),
    /// Key and value together would not fit in one datagram at the
    /// configured mtu, so they could never be gossiped (only on a node held
    /// at a protocol version before 6; from 6 on, long values travel in
    /// chunks up to [`crate::Builder::max_value_len`]).
    EntryTooLarge,
    /// The value is longer than the node's limit
    /// ([`crate::Builder::max_value_len`], bounded by
    /// [`crate::Builder::max_state_bytes`]).
    ValueTooLong,
    /// The engine's entry table or key/value arena is full.
    CapacityFull,
    /// The write would take this node's namespace beyond the per-node share
    /// ([`crate::Builder::max_node_entries`], [`crate::Builder::max_node_bytes`]).
    NamespaceFull,
    /// The node has left the cluster; its keys can no longer change.
    Left,
    /// Any other write refusal of the engine (e.g. its version counter is
    /// exhausted).
    Write(WriteError),
    /// The node was shut down (or its engine thread stopped); the handle can
    /// no longer be used.
    ShutDown,
    /// [`crate::Node::leave`] did not finish announcing within its bound.
    Timeout,
    /// A runtime thread panicked; this is a bug in hearsay.
    ThreadPanicked(&'static str),
    /// A cluster-key change was refused (keyring full, unknown key, or
    /// removing the primary); the keyring is unchanged.
    Key(KeyError),
    /// The metrics listener could not be set up on its address (feature
    /// `metrics`).
    #[cfg(feature = "metrics")]
    MetricsListen {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's error.
        source: io::Error,
    },
    /// The metrics encoder failed (feature `metrics`); a bug, not a
    /// condition of the node.
    #[cfg(feature = "metrics")]
    MetricsEncoding,
}

impl Error {
    /// Maps a refused local write of the engine to the runtime's error.
    pub(crate) fn from_write(e: WriteError) -> Self {
        match e {
            WriteError::EmptyKey
            | WriteError::KeyTooLong
            | WriteError::ReservedKey
            | WriteError::KeyContainsNul => Error::InvalidKey(e),
            WriteError::EntryTooLarge => Error::EntryTooLarge,
            WriteError::ValueTooLong => Error::ValueTooLong,
            WriteError::CapacityFull => Error::CapacityFull,
            WriteError::NamespaceFull => Error::NamespaceFull,
            WriteError::Left => Error::Left,
            other => Error::Write(other),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidName(e) => write!(f, "invalid node name: {e}"),
            Error::InvalidConfig(e) => write!(f, "invalid settings: {e}"),
            Error::InvalidSetting { setting, reason } => write!(f, "invalid {setting}: {reason}"),
            Error::OutOfMemory { bytes } => write!(
                f,
                "cannot allocate {bytes} bytes for the engine's tables at this capacity"
            ),
            Error::BadAddress { input, reason } => write!(f, "bad address {input:?}: {reason}"),
            Error::Bind { addr, source } => write!(f, "cannot bind UDP socket to {addr}: {source}"),
            Error::Socket(e) => write!(f, "cannot set up the UDP socket: {e}"),
            Error::Spawn(e) => write!(f, "cannot spawn a runtime thread: {e}"),
            Error::InvalidKey(e) => write!(f, "invalid key: {e}"),
            Error::EntryTooLarge => f.write_str("key and value do not fit in one datagram"),
            Error::ValueTooLong => f.write_str("the value is longer than max_value_len"),
            Error::CapacityFull => f.write_str("the engine's entry table or arena is full"),
            Error::NamespaceFull => {
                f.write_str("the node's namespace would exceed its per-node share")
            }
            Error::Left => f.write_str("the node has left the cluster"),
            Error::Write(e) => write!(f, "write refused: {e}"),
            Error::ShutDown => f.write_str("the node is shut down"),
            Error::Timeout => f.write_str("timed out"),
            Error::ThreadPanicked(which) => write!(f, "the {which} thread panicked"),
            Error::Key(e) => write!(f, "cluster key: {e}"),
            #[cfg(feature = "metrics")]
            Error::MetricsListen { addr, source } => {
                write!(f, "cannot listen for metrics scrapes on {addr}: {source}")
            }
            #[cfg(feature = "metrics")]
            Error::MetricsEncoding => f.write_str("the metrics encoder failed"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Bind { source, .. } => Some(source),
            #[cfg(feature = "metrics")]
            Error::MetricsListen { source, .. } => Some(source),
            Error::Socket(e) | Error::Spawn(e) => Some(e),
            _ => None,
        }
    }
}

impl From<NameError> for Error {
    fn from(e: NameError) -> Self {
        Error::InvalidName(e)
    }
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::InvalidConfig(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_errors_map_to_typed_variants() {
        assert!(matches!(
            Error::from_write(WriteError::ReservedKey),
            Error::InvalidKey(WriteError::ReservedKey)
        ));
        assert!(matches!(
            Error::from_write(WriteError::CapacityFull),
            Error::CapacityFull
        ));
        assert!(matches!(Error::from_write(WriteError::Left), Error::Left));
        assert!(matches!(
            Error::from_write(WriteError::KeyContainsNul),
            Error::InvalidKey(WriteError::KeyContainsNul)
        ));
        assert!(matches!(
            Error::from_write(WriteError::NamespaceFull),
            Error::NamespaceFull
        ));
        assert!(matches!(
            Error::from_write(WriteError::VersionsExhausted),
            Error::Write(WriteError::VersionsExhausted)
        ));
    }

    #[test]
    fn errors_are_std_errors_with_sources() {
        let e = Error::Bind {
            addr: SocketAddr::from(([127, 0, 0, 1], 1)),
            source: io::Error::from(io::ErrorKind::AddrInUse),
        };
        let dynamic: &dyn std::error::Error = &e;
        assert!(dynamic.source().is_some());
        assert!(e.to_string().contains("127.0.0.1:1"));
    }
}
