//! [`hearsay_member`]: one node of the cluster as a fixed-size C struct,
//! and the membership reads (`hearsay_live_count`, `hearsay_live_members`,
//! `hearsay_member_get`).
//!
//! Each read takes a consistent snapshot on the node's engine thread (see
//! `hearsay_std::node`). hearsay-std's snapshots copy every member's keys
//! too, which these reads then drop: fine for the cluster sizes a C program
//! lists, but a read is not free.

use std::ffi::c_char;
use std::net::SocketAddr;

use hearsay_core::NodeStatus;
use hearsay_core::id::MAX_NAME_LEN;
use hearsay_std::Member;

use crate::boundary::{fill_c_str, found, guard_status, non_null_mut, str_arg};
use crate::node::{hearsay_node, node_arg};
use crate::status::hearsay_status;
use crate::unwind::guard;

/// Size of a member name buffer: names are 1 to 64 bytes, plus the NUL.
pub const HEARSAY_NAME_SIZE: usize = 65;
/// Size of an address buffer: the longest socket address hearsay writes,
/// `[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295]:65535`, is 58
/// bytes, plus the NUL.
pub const HEARSAY_ADDR_SIZE: usize = 64;

const _: () = assert!(HEARSAY_NAME_SIZE == MAX_NAME_LEN + 1);

/// Where a member stands, as this node sees it.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum hearsay_member_status {
    /// Known, but its heartbeat has not been seen to advance yet: not live,
    /// never reported dead.
    HEARSAY_MEMBER_PENDING = 0,
    /// Its heartbeat advances: live.
    HEARSAY_MEMBER_ALIVE = 1,
    /// The failure detector considers it dead (alive again if its
    /// heartbeat resumes).
    HEARSAY_MEMBER_DEAD = 2,
    /// It announced that it left the cluster.
    HEARSAY_MEMBER_LEFT = 3,
}

impl From<NodeStatus> for hearsay_member_status {
    fn from(s: NodeStatus) -> Self {
        match s {
            NodeStatus::Pending => hearsay_member_status::HEARSAY_MEMBER_PENDING,
            NodeStatus::Alive => hearsay_member_status::HEARSAY_MEMBER_ALIVE,
            NodeStatus::Dead => hearsay_member_status::HEARSAY_MEMBER_DEAD,
            NodeStatus::Left => hearsay_member_status::HEARSAY_MEMBER_LEFT,
        }
    }
}

/// One node of the cluster, as this node saw it when the call was made.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct hearsay_member {
    /// The node's name, NUL-terminated.
    pub name: [c_char; HEARSAY_NAME_SIZE],
    /// Where it receives gossip (its advertised address), as text such as
    /// `127.0.0.1:7946` or `[::1]:7946`, NUL-terminated.
    pub addr: [c_char; HEARSAY_ADDR_SIZE],
    /// Its generation (incarnation): by default its start time in
    /// milliseconds since the UNIX epoch; a restart has a higher one.
    pub generation: u64,
    /// Pending, alive, dead or left. A node is always alive to itself.
    pub status: hearsay_member_status,
    /// The failure detector's suspicion level now (0 before its first
    /// heartbeat here, and for the local node); dead at 8 by default.
    pub phi: f64,
}

impl hearsay_member {
    pub(crate) fn from_member(m: &Member) -> Self {
        let mut out = hearsay_member {
            name: [0; HEARSAY_NAME_SIZE],
            addr: [0; HEARSAY_ADDR_SIZE],
            generation: m.generation,
            status: m.status.into(),
            phi: m.phi,
        };
        fill_c_str(&mut out.name, &m.name);
        fill_addr(&mut out.addr, m.addr);
        out
    }
}

/// Writes a socket address as text into a C address buffer.
pub(crate) fn fill_addr(dst: &mut [c_char; HEARSAY_ADDR_SIZE], addr: SocketAddr) {
    fill_c_str(dst, &addr.to_string());
}

/// The number of other nodes currently alive, as this node sees them.
/// Returns 0 as well when `node` is NULL or the call fails.
///
/// # Safety
///
/// `node` is NULL or a live node from `hearsay_start`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hearsay_live_count(node: *mut hearsay_node) -> usize {
    guard(0, || {
        // SAFETY: forwarded contract.
        let Ok(node) = (unsafe { node_arg(node) }) else {
            return 0;
        };
        node.node().live_members().map_or(0, |m| m.len())
    })
}

/// Lists the other nodes currently alive into `out`, an array of `*count`
/// members. On entry `*count` is the array's length; on return it is the
/// number of live members. `HEARSAY_BUFFER_TOO_SMALL` when they do not all
/// fit: `*count` is then the number needed and `out` is left unspecified
/// (membership may change before the next call: allow some slack). `out`
/// may be NULL when `*count` is 0, to ask for the size.
///
/// # Safety
///
/// `node` is NULL or a live node from `hearsay_start`; `count` is NULL or
/// points to a `size_t`; `out` is NULL or points to `*count` writable
/// `hearsay_member`s.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hearsay_live_members(
    node: *mut hearsay_node,
    out: *mut hearsay_member,
    count: *mut usize,
) -> hearsay_status {
    guard_status(|| {
        // SAFETY: forwarded contract.
        let node = unsafe { node_arg(node) }?;
        let count = non_null_mut(count)?;
        // SAFETY: not NULL, points to a size_t by the caller's contract.
        let cap = unsafe { count.read() };
        let live = node.node().live_members()?;
        // SAFETY: as above; written before any other check can fail so that
        // the needed size is reported with BUFFER_TOO_SMALL.
        unsafe { count.write(live.len()) };
        if live.len() > cap {
            return Err(hearsay_status::HEARSAY_BUFFER_TOO_SMALL);
        }
        if live.is_empty() {
            return Ok(());
        }
        let out = non_null_mut(out)?;
        for (i, m) in live.iter().enumerate() {
            // SAFETY: `out` has `cap >= live.len() > i` writable elements by
            // the caller's contract; `write` does not read or drop the old
            // (possibly uninitialised) contents.
            unsafe { out.add(i).write(hearsay_member::from_member(m)) };
        }
        Ok(())
    })
}

/// Copies what this node knows of the node named `name` (any status, this
/// node included) into `*out`; `HEARSAY_NOT_FOUND` if it knows no such node
/// (never heard of, or forgotten after the dead grace period).
///
/// # Safety
///
/// `node` is NULL or a live node from `hearsay_start`; `name` is NULL or a
/// NUL-terminated string; `out` is NULL or points to a writable
/// `hearsay_member`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hearsay_member_get(
    node: *mut hearsay_node,
    name: *const c_char,
    out: *mut hearsay_member,
) -> hearsay_status {
    guard_status(|| {
        // SAFETY: forwarded contract.
        let node = unsafe { node_arg(node) }?;
        // SAFETY: forwarded contract.
        let name = unsafe { str_arg(name) }?;
        let out = non_null_mut(out)?;
        let member = found(node.node().member(name)?)?;
        // SAFETY: not NULL, writable by the caller's contract.
        unsafe { out.write(hearsay_member::from_member(&member)) };
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv6Addr, SocketAddrV6};

    #[test]
    fn the_longest_address_fits_its_buffer() {
        let longest = SocketAddr::V6(SocketAddrV6::new(
            Ipv6Addr::new(
                0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff,
            ),
            65535,
            0,
            u32::MAX,
        ));
        let text = longest.to_string();
        assert_eq!(text.len(), 58, "{text}");
        assert!(text.len() < HEARSAY_ADDR_SIZE);
        let mut buf = [0; HEARSAY_ADDR_SIZE];
        fill_addr(&mut buf, longest);
        assert_eq!(crate::boundary::c_str_of(&buf), text);
    }
}
