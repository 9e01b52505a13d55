//! Cluster keys: the key modes, [`hearsay_cluster_key`], and the keyring
//! calls (`hearsay_install_key`, `hearsay_use_key`, `hearsay_remove_key`,
//! `hearsay_set_key_mode`, `hearsay_cluster_keys`).
//!
//! Key bytes come from C memory and are read into a buffer that is wiped
//! when dropped ([`zeroize::Zeroizing`]); the copy handed to hearsay-std
//! is wiped by `ClusterKey::new`. Nothing here returns key bytes: keys are
//! named by their 32-bit fingerprint.

use hearsay_core::seal::{KEY_LEN, MAX_KEYS};
use hearsay_std::{KeyFingerprint, KeyMode};
use zeroize::Zeroizing;

use crate::boundary::{Outcome, guard_status, non_null, non_null_mut};
use crate::node::hearsay_node;
use crate::node::node_arg;
use crate::status::hearsay_status;

/// Length of a cluster key in bytes.
pub const HEARSAY_CLUSTER_KEY_LEN: usize = 32;
/// Most keys a node holds at once (`key_count` in `hearsay_options`, and
/// `hearsay_install_key` beyond it is `HEARSAY_KEYRING_FULL`).
pub const HEARSAY_MAX_CLUSTER_KEYS: usize = 4;

const _: () = assert!(HEARSAY_CLUSTER_KEY_LEN == KEY_LEN);
const _: () = assert!(HEARSAY_MAX_CLUSTER_KEYS == MAX_KEYS);

/// Key mode (the default, 0): with keys, send sealed datagrams and accept
/// only sealed ones.
pub const HEARSAY_KEY_MODE_REQUIRED: u32 = 0;
/// Key mode: send unsealed, accept sealed and unsealed. The first step of
/// turning keys on in a running cluster: on every node in turn, install
/// the key in this mode; once all have it, switch every node to
/// `HEARSAY_KEY_MODE_TRANSITIONAL`; once all are transitional, switch every
/// node to `HEARSAY_KEY_MODE_REQUIRED`. At each step every node accepts
/// what every other node sends.
pub const HEARSAY_KEY_MODE_LISTEN: u32 = 1;
/// Key mode: send sealed, accept sealed and unsealed (the second step of
/// turning keys on, while some nodes still send unsealed).
pub const HEARSAY_KEY_MODE_TRANSITIONAL: u32 = 2;

/// One installed cluster key, as `hearsay_cluster_keys` lists it: never
/// its bytes.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct hearsay_cluster_key {
    /// What identifies the key without revealing it (what
    /// `hearsay_install_key` returned for it); print it as `%08x`.
    pub fingerprint: u32,
    /// Whether this is the key the node seals its datagrams with.
    pub primary: bool,
}

/// The [`KeyMode`] a C mode value stands for; anything else is
/// `INVALID_ARGUMENT`.
pub(crate) fn mode_arg(mode: u32) -> Outcome<KeyMode> {
    match mode {
        HEARSAY_KEY_MODE_REQUIRED => Ok(KeyMode::Required),
        HEARSAY_KEY_MODE_LISTEN => Ok(KeyMode::Listen),
        HEARSAY_KEY_MODE_TRANSITIONAL => Ok(KeyMode::Transitional),
        _ => Err(hearsay_status::HEARSAY_INVALID_ARGUMENT),
    }
}

fn mode_code(mode: KeyMode) -> u32 {
    match mode {
        KeyMode::Required => HEARSAY_KEY_MODE_REQUIRED,
        KeyMode::Listen => HEARSAY_KEY_MODE_LISTEN,
        KeyMode::Transitional => HEARSAY_KEY_MODE_TRANSITIONAL,
    }
}

/// Copies the 32-byte key at `p` into a buffer wiped when dropped.
///
/// # Safety
///
/// `p` is NULL or points to `HEARSAY_CLUSTER_KEY_LEN` readable bytes.
pub(crate) unsafe fn key_arg(p: *const u8) -> Outcome<Zeroizing<[u8; KEY_LEN]>> {
    let p = non_null(p)?;
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    // SAFETY: `p` is not NULL and has `KEY_LEN` readable bytes by the
    // caller's contract; `key` is our own buffer of that size, so the
    // regions do not overlap.
    unsafe { std::ptr::copy_nonoverlapping(p, key.as_mut_ptr(), KEY_LEN) };
    Ok(key)
}

/// Copies `count` consecutive 32-byte keys from `p` (the options' `keys`).
/// More than `HEARSAY_MAX_CLUSTER_KEYS`, or NULL with a non-zero count, is
/// `INVALID_ARGUMENT`.
///
/// # Safety
///
/// `p` is NULL or points to `count * HEARSAY_CLUSTER_KEY_LEN` readable bytes.
pub(crate) unsafe fn keys_arg(
    p: *const u8,
    count: usize,
) -> Outcome<Vec<Zeroizing<[u8; KEY_LEN]>>> {
    if count > MAX_KEYS {
        return Err(hearsay_status::HEARSAY_INVALID_ARGUMENT);
    }
    if count == 0 {
        return Ok(Vec::new());
    }
    let p = non_null(p)?;
    (0..count)
        // SAFETY: `i < count <= MAX_KEYS`, so the offset stays within the
        // `count * KEY_LEN` readable bytes of the caller's contract, and
        // each key is `KEY_LEN` readable bytes.
        .map(|i| unsafe { key_arg(p.add(i * KEY_LEN)) })
        .collect()
}

/// Installs a 32-byte cluster key: datagrams sealed with it are accepted
/// from now on. The node's first key also becomes the one it seals with;
/// later ones do with `hearsay_use_key`. Installing a key already held
/// changes nothing. Stores the key's fingerprint in `*fingerprint_out`
/// unless it is NULL. The library keeps no copy of `key` beyond the
/// keyring (the copies it makes on the way are wiped).
///
/// Rotation without downtime (Serf's): install the new key on every node,
/// then `hearsay_use_key` it on every node, then `hearsay_remove_key` the
/// old one on every node.
///
/// `HEARSAY_KEYRING_FULL` when the node holds `HEARSAY_MAX_CLUSTER_KEYS` keys
/// already (remove one first).
///
/// # Safety
///
/// `node` is NULL or a live node from `hearsay_start`; `key` is NULL or
/// points to `HEARSAY_CLUSTER_KEY_LEN` readable bytes; `fingerprint_out`
/// is NULL or points to a writable `uint32_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hearsay_install_key(
    node: *mut hearsay_node,
    key: *const u8,
    fingerprint_out: *mut u32,
) -> hearsay_status {
    guard_status(|| {
        // SAFETY: forwarded contract.
        let node = unsafe { node_arg(node) }?;
        // SAFETY: forwarded contract.
        let key = unsafe { key_arg(key) }?;
        let fp = node.node().install_key(*key)?;
        if !fingerprint_out.is_null() {
            // SAFETY: not NULL, writable by the caller's contract.
            unsafe { fingerprint_out.write(fp.0) };
        }
        Ok(())
    })
}

/// Makes the installed key `fingerprint` the one this node seals its
/// datagrams with. Install it on every node before using it on any.
/// `HEARSAY_UNKNOWN_KEY` if no installed key has that fingerprint.
///
/// # Safety
///
/// `node` is NULL or a live node from `hearsay_start`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hearsay_use_key(
    node: *mut hearsay_node,
    fingerprint: u32,
) -> hearsay_status {
    guard_status(|| {
        // SAFETY: forwarded contract.
        let node = unsafe { node_arg(node) }?;
        Ok(node.node().use_key(KeyFingerprint(fingerprint))?)
    })
}

/// Removes the installed key `fingerprint`: datagrams sealed with it are
/// refused from now on. `HEARSAY_UNKNOWN_KEY` if no installed key has that
/// fingerprint; `HEARSAY_PRIMARY_KEY` if it is the key the node seals with
/// (use another one first).
///
/// # Safety
///
/// `node` is NULL or a live node from `hearsay_start`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hearsay_remove_key(
    node: *mut hearsay_node,
    fingerprint: u32,
) -> hearsay_status {
    guard_status(|| {
        // SAFETY: forwarded contract.
        let node = unsafe { node_arg(node) }?;
        Ok(node.node().remove_key(KeyFingerprint(fingerprint))?)
    })
}

/// Sets what the node sends and accepts while it has keys: one of the
/// `HEARSAY_KEY_MODE_*` values (see `HEARSAY_KEY_MODE_LISTEN` for turning
/// keys on in a running cluster); anything else is
/// `HEARSAY_INVALID_ARGUMENT`. A node without keys sends unsealed
/// datagrams and refuses sealed ones whatever its mode.
///
/// # Safety
///
/// `node` is NULL or a live node from `hearsay_start`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hearsay_set_key_mode(
    node: *mut hearsay_node,
    mode: u32,
) -> hearsay_status {
    guard_status(|| {
        // SAFETY: forwarded contract.
        let node = unsafe { node_arg(node) }?;
        let mode = mode_arg(mode)?;
        Ok(node.node().set_key_mode(mode)?)
    })
}

/// Lists the node's installed keys (fingerprints, never key bytes) into
/// `out`, an array of `*count` keys, and stores its key mode (a
/// `HEARSAY_KEY_MODE_*` value) in `*mode_out` unless it is NULL. On entry
/// `*count` is the array's length; on return it is the number of keys
/// (0 for a node without keys). `HEARSAY_BUFFER_TOO_SMALL` when they do
/// not all fit: `*count` is then the number needed and `out` is left
/// unspecified. An array of `HEARSAY_MAX_CLUSTER_KEYS` always suffices;
/// `out` may be NULL when `*count` is 0, to ask for the number.
///
/// # Safety
///
/// `node` is NULL or a live node from `hearsay_start`; `count` is NULL or
/// points to a `size_t`; `out` is NULL or points to `*count` writable
/// `hearsay_cluster_key`s; `mode_out` is NULL or points to a writable
/// `uint32_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hearsay_cluster_keys(
    node: *mut hearsay_node,
    out: *mut hearsay_cluster_key,
    count: *mut usize,
    mode_out: *mut u32,
) -> hearsay_status {
    guard_status(|| {
        // SAFETY: forwarded contract.
        let node = unsafe { node_arg(node) }?;
        let count = non_null_mut(count)?;
        // SAFETY: not NULL, points to a size_t by the caller's contract.
        let cap = unsafe { count.read() };
        let keys = node.node().keys()?;
        if !mode_out.is_null() {
            // SAFETY: not NULL, writable by the caller's contract.
            unsafe { mode_out.write(mode_code(keys.mode)) };
        }
        // SAFETY: as above; written before any other check can fail so that
        // the needed number is reported with BUFFER_TOO_SMALL.
        unsafe { count.write(keys.installed.len()) };
        if keys.installed.len() > cap {
            return Err(hearsay_status::HEARSAY_BUFFER_TOO_SMALL);
        }
        if keys.installed.is_empty() {
            return Ok(());
        }
        let out = non_null_mut(out)?;
        for (i, fp) in keys.installed.iter().enumerate() {
            let key = hearsay_cluster_key {
                fingerprint: fp.0,
                primary: keys.primary == Some(*fp),
            };
            // SAFETY: `out` has `cap >= installed.len() > i` writable
            // elements by the caller's contract; `write` does not read or
            // drop the old (possibly uninitialised) contents.
            unsafe { out.add(i).write(key) };
        }
        Ok(())
    })
}
