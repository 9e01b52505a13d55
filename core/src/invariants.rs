//! The state invariants of ARCHITECTURE.md ("Invariants"), checked on a
//! whole engine: [`Engine::check_invariants`], and [`Engine::state_digest`]
//! to tell whether a call changed the replicated state. Built for the
//! crate's unit tests and with feature `fuzzing` (the fuzz targets call
//! them after every input); not part of the stable API.
//!
//! The checks walk every table, so they cost what the engine holds: fine
//! for tests and small fuzzing engines, not for a production loop.

use core::fmt;

use crate::arena::BLOCK_HEADER;
use crate::engine::{Engine, LOCAL};
use crate::memory::Memory;
use crate::nodes::NodeStatus;
use crate::store::{EntryStatus, NIL};
use crate::wire::MAX_KEY_LEN;

/// A broken invariant: which rule, the node slot it was found at (or
/// `u16::MAX` for the engine as a whole) and a number that helps to read it
/// (a version, a count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Violation {
    /// The rule, in words.
    pub rule: &'static str,
    /// The node slot, or `u16::MAX`.
    pub slot: u16,
    /// A value that shows the break.
    pub value: u64,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (slot {}, value {})",
            self.rule, self.slot, self.value
        )
    }
}

fn fail(rule: &'static str, slot: u16, value: impl TryInto<u64>) -> Result<(), Violation> {
    Err(Violation {
        rule,
        slot,
        value: value.try_into().unwrap_or(u64::MAX),
    })
}

/// Checks `cond`, else fails with `rule`.
fn check(
    cond: bool,
    rule: &'static str,
    slot: u16,
    value: impl TryInto<u64>,
) -> Result<(), Violation> {
    if cond {
        Ok(())
    } else {
        fail(rule, slot, value)
    }
}

/// A 64-bit hash over the words fed to it, eight bytes at a time (the
/// fuzz targets take two digests per input: byte by byte, they cost more
/// than the datagram).
struct Digest(u64);

impl Digest {
    fn word(&mut self, w: u64) {
        self.0 = (self.0 ^ w)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(29);
    }

    fn bytes(&mut self, b: &[u8]) {
        let mut chunks = b.chunks_exact(8);
        for c in chunks.by_ref() {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.word(u64::from_le_bytes(w));
        }
        let mut w = [0u8; 8];
        let rest = chunks.remainder();
        if let Some(dst) = w.get_mut(..rest.len()) {
            dst.copy_from_slice(rest);
        }
        self.word(u64::from_le_bytes(w));
        // Lengths too, so that ("ab", "c") and ("a", "bc") differ.
        self.word(b.len() as u64);
    }

    fn num(&mut self, n: u64) {
        self.word(n);
    }
}

impl<M: Memory> Engine<M> {
    /// Checks the state invariants that can be read off the tables at any
    /// moment between calls:
    ///
    /// - node table: slot 0 holds this node's id; the ring lists exactly
    ///   the occupied slots, strictly ascending by ring hash, each slot's
    ///   hash its id's; no name twice; no more nodes than the capacity;
    ///   hidden nodes are dead or left;
    /// - entries: each node's list is linked both ways, strictly ascending
    ///   by version, every version at most the node's max version, its
    ///   count and bytes what the list records; keys non-empty, at most
    ///   255 bytes, NUL only as the first byte, found again by the hash
    ///   index; tombstones carry no value and none is at or below its
    ///   node's collection point;
    /// - capacity: the store holds Σ entries of the lists, at most its
    ///   slots; the arena's used bytes are Σ(8 + key + value) over stored
    ///   entries, at most its size; every namespace within its share
    ///   (`max_node_entries`, and `max_node_bytes` for ours, twice that for
    ///   copies);
    /// - counters: no more rejections than datagrams, no more sealed or
    ///   unsealed datagrams accepted than datagrams accepted, resets among
    ///   applied pieces, pushes and sealed datagrams among those sent,
    ///   bounded replies among budget cuts;
    /// - schedule: `poll_timeout` is `None` only once the node has left.
    #[doc(hidden)]
    pub fn check_invariants(&self) -> Result<(), Violation> {
        const ALL: u16 = u16::MAX;
        let cap = self.capacity;
        // Node table.
        let local = self.nodes.get(LOCAL);
        check(
            local.is_some_and(|n| n.id == self.id),
            "slot 0 holds this node's id",
            LOCAL,
            0u64,
        )?;
        let ring = self.nodes.ring();
        check(
            ring.len() <= cap.nodes,
            "nodes within capacity",
            ALL,
            ring.len(),
        )?;
        let occupied = (0..cap.nodes)
            .filter(|&i| u16::try_from(i).is_ok_and(|s| self.nodes.get(s).is_some()))
            .count();
        check(
            occupied == ring.len(),
            "the ring lists every occupied slot",
            ALL,
            occupied,
        )?;
        let mut prev_hash: Option<u64> = None;
        for &slot in ring {
            let Some(n) = self.nodes.get(slot) else {
                return fail("a ring slot is free", slot, 0u64);
            };
            check(
                n.hash == n.id.ring_hash(),
                "a slot's hash is its id's",
                slot,
                n.hash,
            )?;
            check(
                prev_hash.is_none_or(|p| p < n.hash),
                "the ring is strictly ascending",
                slot,
                n.hash,
            )?;
            prev_hash = Some(n.hash);
            check(
                self.nodes.find_name(n.id.name.as_str()) == Some(slot),
                "one slot per name",
                slot,
                0u64,
            )?;
            check(
                !n.hidden || matches!(n.status, NodeStatus::Dead | NodeStatus::Left),
                "only dead or left nodes are hidden",
                slot,
                0u64,
            )?;
        }
        // Entries, node by node.
        let (mut entries, mut arena, mut transfers) = (0usize, 0usize, 0usize);
        for &slot in ring {
            let Some(n) = self.nodes.get(slot) else {
                continue;
            };
            let list = n.entries;
            let (mut len, mut bytes) = (0usize, 0usize);
            let (mut prev, mut cur) = (NIL, list.head);
            let mut prev_version: Option<u64> = None;
            while let Some(s) = self.store.slot(cur) {
                check(len < cap.entries, "an entry list has no cycle", slot, len)?;
                let Some(status) = s.status_opt() else {
                    return fail("a listed entry slot is free", slot, cur);
                };
                check(
                    s.node() == slot,
                    "an entry is listed under its node",
                    slot,
                    cur,
                )?;
                check(s.prev() == prev, "entry lists link both ways", slot, cur)?;
                check(
                    prev_version.is_none_or(|p| p < s.version),
                    "a node's entries ascend strictly by version",
                    slot,
                    s.version,
                )?;
                prev_version = Some(s.version);
                check(
                    s.version <= n.max_version,
                    "every entry's version is at most its node's max version",
                    slot,
                    s.version,
                )?;
                let key = self.store.key(cur);
                let (k, v) = s.lens();
                check(
                    key.len() == k && !key.is_empty() && k <= MAX_KEY_LEN,
                    "keys are valid UTF-8 of 1 to 255 bytes",
                    slot,
                    k,
                )?;
                check(
                    !key.as_bytes().get(1..).unwrap_or_default().contains(&0),
                    "NUL only as a key's first byte",
                    slot,
                    s.version,
                )?;
                check(
                    self.store.find(slot, key) == Some(cur),
                    "the hash index finds every entry",
                    slot,
                    s.version,
                )?;
                if status == EntryStatus::Deleted {
                    check(v == 0, "tombstones carry no value", slot, s.version)?;
                    check(
                        s.version > n.last_gc,
                        "no tombstone at or below its node's collection point",
                        slot,
                        s.version,
                    )?;
                }
                len = len.saturating_add(1);
                bytes = bytes.saturating_add(k).saturating_add(v);
                prev = cur;
                cur = s.next();
            }
            check(
                list.tail == prev,
                "a list's tail is its last entry",
                slot,
                cur,
            )?;
            check(
                len == list.len as usize,
                "a list counts its entries",
                slot,
                len,
            )?;
            check(
                bytes == list.bytes as usize,
                "a list counts its bytes",
                slot,
                bytes,
            )?;
            let byte_share = if slot == LOCAL {
                self.config.max_node_bytes
            } else {
                self.config.max_node_bytes.saturating_mul(2)
            };
            check(
                len <= self.config.max_node_entries,
                "a namespace holds at most max_node_entries",
                slot,
                len,
            )?;
            check(
                bytes <= byte_share,
                "a namespace within its byte share",
                slot,
                bytes,
            )?;
            entries = entries.saturating_add(len);
            arena = arena.saturating_add(bytes.saturating_add(len.saturating_mul(BLOCK_HEADER)));
            // A value in flight: the version after the copy's, in a
            // detached entry of this node that no lookup finds, with
            // ranges held inside it (module `chunk`).
            let t = self.transfer(slot);
            if t.is_active() {
                let detached = self.store.slot(t.entry).copied();
                check(
                    slot != LOCAL && detached.is_some_and(|d| d.status_opt().is_some()),
                    "a transfer holds a detached entry of a remote node",
                    slot,
                    t.version,
                )?;
                let Some(d) = detached else {
                    continue;
                };
                let (k, v) = d.lens();
                let key = self.store.key(t.entry);
                check(
                    d.node() == slot
                        && d.version == t.version
                        && Some(t.version) == n.max_version.checked_add(1)
                        && d.status().is_live(),
                    "a transfer assembles its node's next version, a live value",
                    slot,
                    t.version,
                )?;
                check(
                    self.store.find(slot, key) != Some(t.entry)
                        && d.prev() == NIL
                        && d.next() == NIL,
                    "a detached entry is in no list and not indexed",
                    slot,
                    t.version,
                )?;
                let map = self.units_map(&t);
                let counted = map.iter().map(|b| b.count_ones()).sum::<u32>();
                let beyond = crate::chunk::units(t.total)..(map.len() as u32).saturating_mul(8);
                let stray = beyond.clone().any(|u| {
                    map.get((u / 8) as usize)
                        .is_some_and(|b| b & (1 << (u % 8)) != 0)
                });
                check(
                    v == crate::chunk::assembly_len(t.total)
                        && counted == t.units_held
                        && !stray
                        && !t.is_whole(),
                    "a transfer's entry holds its value and a map of the units held, not all",
                    slot,
                    t.version,
                )?;
                entries = entries.saturating_add(1);
                transfers = transfers.saturating_add(1);
                arena = arena.saturating_add(k.saturating_add(v).saturating_add(BLOCK_HEADER));
            }
        }
        check(
            transfers == usize::from(self.transfers_active),
            "the count of transfers is the transfers held",
            ALL,
            transfers,
        )?;
        check(
            entries == self.store.len(),
            "the store holds the lists' entries",
            ALL,
            entries,
        )?;
        check(
            entries <= cap.entries,
            "entries within capacity",
            ALL,
            entries,
        )?;
        check(
            arena == self.store.arena_live_bytes(),
            "arena bytes are the sum of 8 + key + value over stored entries",
            ALL,
            self.store.arena_live_bytes(),
        )?;
        check(
            arena <= cap.state_bytes,
            "arena within capacity",
            ALL,
            arena,
        )?;
        // Counters.
        let c = &self.counters;
        let rejected = c.rejected_total();
        check(
            rejected <= c.datagrams_in,
            "no more rejections than datagrams",
            ALL,
            rejected,
        )?;
        check(
            c.sealed_in.saturating_add(c.unsealed_in) <= c.datagrams_in.saturating_sub(rejected),
            "sealed and unsealed datagrams accepted are among those accepted",
            ALL,
            c.sealed_in,
        )?;
        check(
            c.resets_applied <= c.pieces_applied,
            "resets are among applied pieces",
            ALL,
            c.resets_applied,
        )?;
        check(
            c.pushes_out <= c.datagrams_out && c.sealed_out <= c.datagrams_out,
            "pushes and sealed datagrams are among datagrams sent",
            ALL,
            c.datagrams_out,
        )?;
        check(
            c.replies_bounded <= c.budget_exhausted,
            "bounded replies are among budget cuts",
            ALL,
            c.replies_bounded,
        )?;
        // Schedule.
        check(
            self.poll_timeout().is_some() || self.left_at.is_some(),
            "poll_timeout is None only after leaving",
            ALL,
            0u64,
        )?;
        Ok(())
    }

    /// A hash of the state datagrams may change: every node's id, status,
    /// heartbeat, versions, collection point, hidden flag, unanswered
    /// count, protocol version, token and sealed-sequence window, and every
    /// entry (key, value, version, status). Two equal digests mean the
    /// state is the same (barring a 64-bit collision). Detectors, deadlines
    /// and the time are left out: every call that brings time may move
    /// them, rejected or not.
    #[doc(hidden)]
    pub fn state_digest(&self) -> u64 {
        let mut d = Digest(0xcbf2_9ce4_8422_2325);
        for &slot in self.nodes.ring() {
            let Some(n) = self.nodes.get(slot) else {
                continue;
            };
            d.num(u64::from(slot));
            d.bytes(n.id.name.as_str().as_bytes());
            d.num(n.id.generation);
            d.num(n.hash);
            d.num(u64::from(n.id.addr.port()));
            d.num(n.heartbeat);
            d.num(n.max_version);
            d.num(n.last_gc);
            d.num(n.status as u64);
            d.num(u64::from(n.hidden));
            d.num(u64::from(n.unanswered));
            d.num(u64::from(n.version));
            d.bytes(&n.token);
            let (g, h, s) = n.replay.parts();
            d.num(g);
            d.num(h);
            d.num(s);
            let t = self.transfer(slot);
            if t.is_active() {
                d.num(t.version);
                d.bytes(self.store.key_bytes(t.entry));
                // The value and its map of units held.
                d.bytes(self.store.value(t.entry));
            }
            let mut cur = n.entries.head;
            while let Some(s) = self.store.slot(cur) {
                d.bytes(self.store.key_bytes(cur));
                d.bytes(self.store.value(cur));
                d.num(s.version);
                d.num(s.status() as u64);
                cur = s.next();
            }
        }
        d.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::testkit::{Recorder, TestEngine, TestRng, engine};
    use crate::time::Instant;
    use core::time::Duration;
    use std::boxed::Box;

    /// `a` opens an exchange with `b`; every datagram is delivered.
    fn exchange(a: &mut TestEngine, b: &mut TestEngine, now: Instant) {
        let (a_addr, b_addr) = (a.id().addr, b.id().addr);
        let mut net = Recorder::default();
        a.start_exchange(b_addr, &mut net).expect("start");
        while !net.sent.is_empty() {
            let mut next = Recorder::default();
            for (to, mut d) in net.sent.drain(..) {
                let (e, from) = if to == b_addr {
                    (&mut *b, a_addr)
                } else {
                    (&mut *a, b_addr)
                };
                e.handle_datagram(from, &mut d, now, &mut next, &mut ())
                    .expect("accepted");
            }
            net = next;
        }
    }

    /// Two engines with keys, a tombstone and a TTL key.
    fn pair() -> (Box<TestEngine>, Box<TestEngine>) {
        // Tombstones collected after 10 s, so that the run below sees it.
        let config = Config {
            tombstone_grace: Duration::from_secs(10),
            ..Config::new()
        };
        let mut a = engine::<8, 64, 4096>("a", 1, config.clone());
        let mut b = engine::<8, 64, 4096>("b", 2, config);
        a.set("role", b"leader").expect("set");
        a.set("gone", b"x").expect("set");
        a.delete("gone", Instant::ZERO).expect("delete");
        b.set_with_ttl("lease", b"1", Duration::from_secs(1), Instant::ZERO)
            .expect("set");
        (a, b)
    }

    #[test]
    fn engines_that_gossip_keep_every_invariant() {
        let (mut a, mut b) = pair();
        for e in [&a, &b] {
            assert_eq!(e.check_invariants(), Ok(()));
        }
        let mut rng = TestRng(3);
        for s in 0..200u64 {
            let now = Instant::from_millis(s * 500);
            for e in [&mut a, &mut b] {
                e.handle_timeout(now, &mut rng, &mut Recorder::default(), &mut ());
            }
            if s % 2 == 0 {
                exchange(&mut a, &mut b, now);
            } else {
                exchange(&mut b, &mut a, now);
            }
            for e in [&a, &b] {
                assert_eq!(e.check_invariants(), Ok(()), "at {s}");
            }
        }
        // The run got as far as collecting the tombstone at its owner.
        assert!(a.local_node().expect("local").last_gc_version() > 0);
    }

    #[test]
    fn a_broken_table_is_reported() {
        let (a, _) = pair();
        let mut broken = a;
        if let Some(n) = broken.nodes.get_mut(LOCAL) {
            n.entries.bytes += 1;
        }
        assert_eq!(
            broken.check_invariants().map_err(|v| v.rule),
            Err("a list counts its bytes")
        );
        let (mut a, _) = pair();
        if let Some(n) = a.nodes.get_mut(LOCAL) {
            n.max_version -= 1;
        }
        assert_eq!(
            a.check_invariants().map_err(|v| v.rule),
            Err("every entry's version is at most its node's max version")
        );
    }

    #[test]
    fn the_state_digest_sees_a_write_and_not_the_time() {
        let (mut a, _) = pair();
        let before = a.state_digest();
        a.handle_timeout(
            Instant::from_millis(10),
            &mut TestRng(1),
            &mut Recorder::default(),
            &mut (),
        );
        let after_round = a.state_digest();
        // A round beats the heartbeat: state, seen.
        assert_ne!(before, after_round);
        a.set("role", b"follower").expect("set");
        assert_ne!(a.state_digest(), after_round);
    }
}
