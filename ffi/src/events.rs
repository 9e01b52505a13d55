//! [`hearsay_event`] and `hearsay_next_event`: the node's membership and
//! key events, one at a time, copied into a self-contained struct.
//!
//! The node subscribes to every event at its start (on the builder, so
//! none is missed before the first call), in one ordered channel, and each
//! `hearsay_next_event` takes the next one: events follow hearsay's event
//! contract (see `hearsay_next_event`). A timeout is its own status,
//! `HEARSAY_TIMEOUT`, rather than an OK with an empty event: a loop on
//! `HEARSAY_OK` then only ever sees real events.
//!
//! Events are not owned memory: names, addresses and keys are inline arrays
//! and the value is an inline buffer as large as the default datagram, so
//! nothing needs freeing and an event can be kept or copied as a plain
//! struct.

use std::ffi::c_char;
use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;
use hearsay_core::NodeId;
use hearsay_core::wire::MAX_KEY_LEN;
use hearsay_std::{KeyEvent, MembershipEvent, NodeEvent};

use crate::boundary::{fill_c_str, guard_status, non_null_mut};
use crate::members::{HEARSAY_ADDR_SIZE, HEARSAY_NAME_SIZE, fill_addr};
use crate::node::{hearsay_node, node_arg};
use crate::status::hearsay_status;

/// Size of a key buffer: keys are 1 to 255 bytes, plus the NUL.
pub const HEARSAY_KEY_SIZE: usize = 256;
/// Size of an event's inline value buffer: the default datagram size.
/// Longer values (up to `max_value_len`, in chunks on the wire) are
/// flagged as truncated; `hearsay_get` reads them whole.
pub const HEARSAY_EVENT_VALUE_SIZE: usize = 1400;

const _: () = assert!(HEARSAY_KEY_SIZE == MAX_KEY_LEN + 1);

/// What a `hearsay_event` reports. Values start at 1 so that a zeroed
/// struct is not a valid event.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum hearsay_event_kind {
    /// A node's heartbeat was seen to advance for the first time: it is
    /// live. Its keys follow as `KEY_SET` events. A restart is
    /// `MEMBER_REPLACED` instead.
    HEARSAY_EVENT_MEMBER_JOINED = 1,
    /// A node that was considered dead is heartbeating again.
    HEARSAY_EVENT_MEMBER_ALIVE_AGAIN = 2,
    /// A live node's failure detector crossed the threshold: it is
    /// considered dead.
    HEARSAY_EVENT_MEMBER_DEAD = 3,
    /// A node announced that it is leaving.
    HEARSAY_EVENT_MEMBER_LEFT = 4,
    /// A newer generation of a node (a restart) superseded the one this
    /// node knew, in one event (no `MEMBER_JOINED` follows):
    /// `member`, `addr`, `generation` are the new one, `old_generation`,
    /// `old_addr` the old one. Its keys follow as `KEY_SET` events.
    HEARSAY_EVENT_MEMBER_REPLACED = 5,
    /// A dead or departed node was forgotten after the dead grace period
    /// (one hour by default), or one introduced by `MEMBER_REPLACED` was
    /// never seen alive and was dropped after the pending timeout.
    HEARSAY_EVENT_MEMBER_REMOVED = 6,
    /// `key` of `member` now holds `value`.
    HEARSAY_EVENT_KEY_SET = 7,
    /// `key` of `member` was deleted (explicitly or by its time-to-live).
    HEARSAY_EVENT_KEY_DELETED = 8,
    /// `missed` events were dropped because they were not read fast enough
    /// (1024 can wait): re-read the membership and the keys you need.
    HEARSAY_EVENT_LAGGED = 9,
}

/// One event, self-contained: every string is a NUL-terminated inline
/// array, the value an inline buffer. Fields that do not apply to `kind`
/// are zero (empty strings).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct hearsay_event {
    /// What happened.
    pub kind: hearsay_event_kind,
    /// The node concerned: the member that joined, died, left, was
    /// replaced (the new incarnation) or removed; the key's owner (this
    /// node included) for key events.
    pub member: [c_char; HEARSAY_NAME_SIZE],
    /// That node's gossip address, as text.
    pub addr: [c_char; HEARSAY_ADDR_SIZE],
    /// That node's generation.
    pub generation: u64,
    /// `HEARSAY_EVENT_MEMBER_REPLACED`: the superseded generation.
    pub old_generation: u64,
    /// `HEARSAY_EVENT_MEMBER_REPLACED`: the superseded incarnation's
    /// address.
    pub old_addr: [c_char; HEARSAY_ADDR_SIZE],
    /// Key events: the key.
    pub key: [c_char; HEARSAY_KEY_SIZE],
    /// Key events: the version of the change in the owner's namespace
    /// (a node's changes have increasing versions).
    pub version: u64,
    /// `HEARSAY_EVENT_KEY_SET`: the value's length, even when truncated.
    pub value_len: usize,
    /// `HEARSAY_EVENT_KEY_SET`: whether `value` holds only the first
    /// `HEARSAY_EVENT_VALUE_SIZE` bytes (read the whole value with
    /// `hearsay_get`; it may have changed since).
    pub value_truncated: bool,
    /// `HEARSAY_EVENT_KEY_SET`: the value (its first
    /// `HEARSAY_EVENT_VALUE_SIZE` bytes if longer), not NUL-terminated.
    pub value: [u8; HEARSAY_EVENT_VALUE_SIZE],
    /// `HEARSAY_EVENT_LAGGED`: how many events were dropped.
    pub missed: u64,
}

impl hearsay_event {
    fn blank(kind: hearsay_event_kind) -> Self {
        hearsay_event {
            kind,
            member: [0; HEARSAY_NAME_SIZE],
            addr: [0; HEARSAY_ADDR_SIZE],
            generation: 0,
            old_generation: 0,
            old_addr: [0; HEARSAY_ADDR_SIZE],
            key: [0; HEARSAY_KEY_SIZE],
            version: 0,
            value_len: 0,
            value_truncated: false,
            value: [0; HEARSAY_EVENT_VALUE_SIZE],
            missed: 0,
        }
    }

    fn about(kind: hearsay_event_kind, node: &NodeId) -> Self {
        let mut e = hearsay_event::blank(kind);
        fill_c_str(&mut e.member, node.name.as_str());
        fill_addr(&mut e.addr, node.addr);
        e.generation = node.generation;
        e
    }

    fn lagged(missed: u64) -> Self {
        let mut e = Self::blank(hearsay_event_kind::HEARSAY_EVENT_LAGGED);
        e.missed = missed;
        e
    }

    /// The C form of any event; `None` for a kind this crate does not know
    /// (hearsay-std's enums are non-exhaustive).
    fn from_event(event: &NodeEvent) -> Option<Self> {
        match event {
            NodeEvent::Membership(e) => Self::from_membership(e),
            NodeEvent::Key(e) => Self::from_key(e),
            NodeEvent::Lagged { missed } => Some(Self::lagged(*missed)),
            _ => None,
        }
    }

    /// The C form of a membership event; `None` for a kind this crate does
    /// not know (hearsay-std's enum is non-exhaustive).
    fn from_membership(event: &MembershipEvent) -> Option<Self> {
        use hearsay_event_kind::*;
        Some(match event {
            MembershipEvent::Joined { node } => Self::about(HEARSAY_EVENT_MEMBER_JOINED, node),
            MembershipEvent::AliveAgain { node } => {
                Self::about(HEARSAY_EVENT_MEMBER_ALIVE_AGAIN, node)
            }
            MembershipEvent::Dead { node } => Self::about(HEARSAY_EVENT_MEMBER_DEAD, node),
            MembershipEvent::Left { node } => Self::about(HEARSAY_EVENT_MEMBER_LEFT, node),
            MembershipEvent::Removed { node } => Self::about(HEARSAY_EVENT_MEMBER_REMOVED, node),
            MembershipEvent::Replaced { old, new } => {
                let mut e = Self::about(HEARSAY_EVENT_MEMBER_REPLACED, new);
                e.old_generation = old.generation;
                fill_addr(&mut e.old_addr, old.addr);
                e
            }
            MembershipEvent::Lagged { missed } => Self::lagged(*missed),
            _ => return None,
        })
    }

    /// The C form of a key event; `None` for an unknown kind.
    fn from_key(event: &KeyEvent) -> Option<Self> {
        use hearsay_event_kind::*;
        Some(match event {
            KeyEvent::Set {
                node,
                key,
                value,
                version,
            } => {
                let mut e = Self::about(HEARSAY_EVENT_KEY_SET, node);
                fill_c_str(&mut e.key, key);
                e.version = *version;
                e.value_len = value.len();
                e.value_truncated = value.len() > HEARSAY_EVENT_VALUE_SIZE;
                for (d, s) in e.value.iter_mut().zip(value) {
                    *d = *s;
                }
                e
            }
            KeyEvent::Deleted { node, key, version } => {
                let mut e = Self::about(HEARSAY_EVENT_KEY_DELETED, node);
                fill_c_str(&mut e.key, key);
                e.version = *version;
                e
            }
            KeyEvent::Lagged { missed } => Self::lagged(*missed),
            _ => return None,
        })
    }
}

/// Waits at most `timeout_ms` milliseconds (0: do not wait) for the node's
/// next membership or key event and copies it into `*out`.
///
/// `HEARSAY_OK`: `*out` holds the event. `HEARSAY_TIMEOUT`: none came in
/// time (`*out` is untouched). `HEARSAY_SHUT_DOWN`: the node stopped and
/// every event was read.
///
/// Events are recorded from `hearsay_start` on: this node's own key
/// changes included, not the keys it had at start. Membership and key
/// events come in one stream, in the order they happened, and follow the
/// event contract: each membership change is one event; a member is
/// introduced once: by `MEMBER_JOINED` when it is first seen alive, with a
/// `KEY_SET` for each key it holds right after (never before), or, when it
/// restarts a member this node knew, by `MEMBER_REPLACED` at once (no
/// `MEMBER_JOINED` follows; its keys come as they arrive); for one incarnation,
/// JOINED/REPLACED → (DEAD ⇄ ALIVE_AGAIN) → LEFT → REMOVED, where REMOVED
/// (or a later REPLACED) may end it from any state. 1024 unread events can
/// wait; beyond that new ones are dropped, and a `LAGGED` event with the
/// count comes where the gap is. Several threads may wait at once: each
/// event goes to one of them.
///
/// # Safety
///
/// `node` is NULL or a live node from `hearsay_start`; `out` is NULL or
/// points to a writable `hearsay_event`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hearsay_next_event(
    node: *mut hearsay_node,
    out: *mut hearsay_event,
    timeout_ms: u32,
) -> hearsay_status {
    guard_status(|| {
        // SAFETY: forwarded contract.
        let node = unsafe { node_arg(node) }?;
        let out = non_null_mut(out)?;
        let deadline = Instant::now() + Duration::from_millis(u64::from(timeout_ms));
        loop {
            let event = match node.events.receiver().recv_deadline(deadline) {
                Ok(e) => e,
                Err(RecvTimeoutError::Timeout) => return Err(hearsay_status::HEARSAY_TIMEOUT),
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(hearsay_status::HEARSAY_SHUT_DOWN);
                }
            };
            // An event of a kind added to hearsay-std after this crate was
            // written is skipped rather than misreported.
            if let Some(event) = hearsay_event::from_event(&event) {
                // SAFETY: not NULL, writable by the caller's contract;
                // `write` does not read the old contents.
                unsafe { out.write(event) };
                return Ok(());
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boundary::c_str_of;
    use std::net::SocketAddr;

    fn id(name: &str, generation: u64, port: u16) -> NodeId {
        NodeId::new(name, generation, SocketAddr::from(([127, 0, 0, 1], port))).unwrap()
    }

    #[test]
    fn membership_events_carry_the_node() {
        let e = hearsay_event::from_membership(&MembershipEvent::Dead {
            node: id("b", 7, 7001),
        })
        .unwrap();
        assert_eq!(e.kind, hearsay_event_kind::HEARSAY_EVENT_MEMBER_DEAD);
        assert_eq!(c_str_of(&e.member), "b");
        assert_eq!(c_str_of(&e.addr), "127.0.0.1:7001");
        assert_eq!(e.generation, 7);
        assert_eq!(c_str_of(&e.key), "");
        assert_eq!(e.old_generation, 0);
    }

    #[test]
    fn a_replacement_carries_both_incarnations() {
        let e = hearsay_event::from_membership(&MembershipEvent::Replaced {
            old: id("b", 7, 7001),
            new: id("b", 9, 7002),
        })
        .unwrap();
        assert_eq!(e.kind, hearsay_event_kind::HEARSAY_EVENT_MEMBER_REPLACED);
        assert_eq!((e.generation, e.old_generation), (9, 7));
        assert_eq!(c_str_of(&e.addr), "127.0.0.1:7002");
        assert_eq!(c_str_of(&e.old_addr), "127.0.0.1:7001");
    }

    #[test]
    fn key_events_carry_key_version_and_value() {
        let e = hearsay_event::from_key(&KeyEvent::Set {
            node: id("a", 1, 7000),
            key: "http".into(),
            value: b"10.0.0.1:80".to_vec(),
            version: 12,
        })
        .unwrap();
        assert_eq!(e.kind, hearsay_event_kind::HEARSAY_EVENT_KEY_SET);
        assert_eq!(c_str_of(&e.key), "http");
        assert_eq!(e.version, 12);
        assert_eq!(e.value_len, 11);
        assert!(!e.value_truncated);
        assert_eq!(&e.value[..11], b"10.0.0.1:80");
        assert!(e.value[11..].iter().all(|&b| b == 0));

        let d = hearsay_event::from_key(&KeyEvent::Deleted {
            node: id("a", 1, 7000),
            key: "k".repeat(MAX_KEY_LEN),
            version: 13,
        })
        .unwrap();
        assert_eq!(d.kind, hearsay_event_kind::HEARSAY_EVENT_KEY_DELETED);
        assert_eq!(c_str_of(&d.key).len(), MAX_KEY_LEN, "the longest key fits");
        assert_eq!(d.value_len, 0);
    }

    #[test]
    fn a_long_value_is_truncated_and_flagged() {
        let value: Vec<u8> = (0..2000u32).map(|i| i as u8).collect();
        let e = hearsay_event::from_key(&KeyEvent::Set {
            node: id("a", 1, 7000),
            key: "big".into(),
            value: value.clone(),
            version: 1,
        })
        .unwrap();
        assert!(e.value_truncated);
        assert_eq!(e.value_len, 2000);
        assert_eq!(&e.value[..], &value[..HEARSAY_EVENT_VALUE_SIZE]);
    }

    #[test]
    fn lag_markers_say_how_many_were_missed() {
        let m = hearsay_event::from_event(&NodeEvent::Lagged { missed: 3 }).unwrap();
        assert_eq!(m.kind, hearsay_event_kind::HEARSAY_EVENT_LAGGED);
        assert_eq!(m.missed, 3);
        assert_eq!(c_str_of(&m.member), "");
    }
}
