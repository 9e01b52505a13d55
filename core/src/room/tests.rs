//! Capacity: accounting that matches what is stored, pieces stored whole or
//! refused whole, the local reserve and the per-node share.

use std::format;
use std::string::String;
use std::vec::Vec;

use crate::engine::*;
use crate::testkit::{Recorder, TestEngine, TestRng, addr, build, capacity, engine};
use crate::{
    config::{Config, ConfigError},
    event::Event,
    id::NodeId,
    store::EntryStatus,
    time::Instant,
};

/// One complete exchange opened by `a` towards `b`, nothing lost; `log_a`
/// records `a`'s key events.
fn sync(a: &mut TestEngine, b: &mut TestEngine, log_a: &mut Vec<String>) {
    let (a_addr, b_addr) = (a.id().addr, b.id().addr);
    crate::testkit::acquaint(a, b);
    let mut net = Recorder::default();
    a.start_exchange(b_addr, &mut net).expect("start");
    let mut observe = |e: &Event<'_>| match e {
        Event::KeySet { node, key, .. } => log_a.push(format!("set {}/{key}", node.name)),
        Event::KeyDeleted { node, key, .. } => log_a.push(format!("deleted {}/{key}", node.name)),
        _ => {}
    };
    while !net.sent.is_empty() {
        let mut next = Recorder::default();
        for (to, bytes) in net.sent.drain(..) {
            if to == b_addr {
                b.handle_datagram(
                    a_addr,
                    &mut bytes.clone(),
                    Instant::ZERO,
                    &mut next,
                    &mut (),
                )
                .expect("valid");
            } else {
                a.handle_datagram(
                    b_addr,
                    &mut bytes.clone(),
                    Instant::ZERO,
                    &mut next,
                    &mut observe,
                )
                .expect("valid");
            }
        }
        net = next;
    }
}

/// `name`'s set keys as held by `e`, sorted.
fn live(e: &TestEngine, name: &str) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = e
        .node(name)
        .map(|n| {
            n.entries()
                .map(|x| (String::from(x.key), x.value.to_vec()))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn shrunk_values_give_their_room_back() {
    let mut a = engine::<4, 32, 1024>("a", 1, Config::new());
    for k in ["a", "b", "c", "d", "e"] {
        a.set(k, &[7; 150]).expect("fits");
    }
    for k in ["a", "b", "c", "d", "e"] {
        a.set(k, b"x").expect("a shrink always fits");
    }
    // Five entries of 2 key+value bytes and an 8-byte header each.
    assert_eq!(a.arena_bytes_used(), 50);
    a.set("f", &[0; 300]).expect("60 of 1024 bytes are live");
    assert_eq!(a.arena_bytes_used(), 50 + 8 + 301);
    assert_eq!(a.get("f"), Some(&[0; 300][..]));
    for k in ["a", "b", "c", "d", "e"] {
        assert_eq!(a.get(k), Some(&b"x"[..]));
    }
}

#[test]
fn a_relay_short_of_room_never_advances_over_a_hole() {
    // The relay has room for the owner's state at every version, but not
    // for the new key while the old value is still big: the piece that
    // brings both must be applied whole, never with the new key missing.
    let mut owner = engine::<4, 32, 4096>("owner", 1, Config::new());
    let mut relay = engine::<4, 32, 2048>("relay", 2, Config::new());
    let mut third = engine::<4, 32, 4096>("third", 3, Config::new());
    let mut log = Vec::new();
    owner.set("a", &[1; 1000]).expect("set");
    sync(&mut relay, &mut owner, &mut log);
    assert_eq!(live(&relay, "owner"), live(&owner, "owner"));
    owner.tick(
        Instant::ZERO,
        &mut TestRng(1),
        &mut Recorder::default(),
        &mut (),
    );
    crate::testkit::see_alive(&mut relay, &owner);
    owner.set("b", &[2; 1050]).expect("set");
    owner.set("a", b"x").expect("set");
    log.clear();
    sync(&mut relay, &mut owner, &mut log);
    assert_eq!(
        relay.node("owner").map(|n| n.max_version()),
        Some(3),
        "the piece (1, 3] was applied"
    );
    assert_eq!(live(&relay, "owner"), live(&owner, "owner"), "no hole");
    assert_eq!(
        log,
        ["set owner/b", "set owner/a"],
        "events in version order"
    );
    // The relay's entry list stays in version order.
    let versions: Vec<u64> = relay
        .node("owner")
        .expect("known")
        .all_entries()
        .map(|e| e.version)
        .collect();
    assert_eq!(versions, [2, 3]);
    // A node that hears of the owner only through the relay gets it all
    // (once the relay has seen the owner alive, so that it introduces it).
    owner.tick(
        Instant::from_millis(1000),
        &mut crate::testkit::TestRng(1),
        &mut crate::testkit::Recorder::default(),
        &mut (),
    );
    sync(&mut relay, &mut owner, &mut Vec::new());
    sync(&mut third, &mut relay, &mut Vec::new());
    assert_eq!(live(&third, "owner"), live(&owner, "owner"));
    assert_eq!(third.node("owner").map(|n| n.max_version()), Some(3));
}

#[test]
fn remote_state_leaves_the_local_reserve_and_the_leave_entry() {
    let config = Config::new();
    let mut local = engine::<16, 64, 4096>("local", 0, config.clone());
    // Remote nodes of one key each, biggest first, offered until remote
    // state has taken every byte it may: what is left is less than the
    // smallest refused key, far less than the reserve.
    for (i, size) in [1000, 1000, 1000, 400, 300, 200, 100, 30, 10]
        .into_iter()
        .enumerate()
    {
        let mut other = engine::<4, 16, 2048>(&format!("o{i}"), 1 + i as u16, config.clone());
        other.set("k", &std::vec![1; size]).expect("set");
        sync(&mut local, &mut other, &mut Vec::new());
    }
    assert!(
        local.counters().refused_pieces > 0,
        "remote state filled up"
    );
    let reserve = config.local_reserve_entries;
    let per_key = config.local_reserve_bytes / reserve;
    for i in 0..reserve {
        let key = format!("r{i}");
        local
            .set(&key, &std::vec![9; per_key - key.len()])
            .expect("a local write within the reserve");
    }
    local.leave(Instant::ZERO).expect("leave always has room");
    assert_eq!(local.get("r0"), Some(&std::vec![9; per_key - 2][..]));
}

#[test]
fn the_owner_keeps_its_namespace_within_its_share() {
    let mut config = Config::new();
    config.max_node_entries = 4;
    config.max_node_bytes = 64;
    let mut a = engine::<4, 64, 4096>("a", 1, config);
    // Four entries: three keys and the room kept for the leave entry.
    for k in ["k1", "k2", "k3"] {
        a.set(k, b"v").expect("within the share");
    }
    assert_eq!(a.set("k4", b"v"), Err(WriteError::NamespaceFull));
    // 64 bytes: 14 kept for the leave entry, 6 used by "k2" and "k3", so
    // "k1" may take 44: its key and 42 value bytes.
    assert_eq!(a.set("k1", &[0; 43]), Err(WriteError::NamespaceFull));
    a.set("k1", &[0; 42]).expect("exactly at the share");
    assert_eq!(a.local_node().map(|n| n.max_version()), Some(4));
    // Deleting never fails, and a tombstone still counts as an entry.
    assert_eq!(a.delete("k1", Instant::ZERO), Ok(true));
    assert_eq!(a.set("k4", b"v"), Err(WriteError::NamespaceFull));
    a.leave(Instant::ZERO).expect("leave fits the share");
}

#[test]
fn a_node_beyond_the_share_is_refused_whole_and_stays_frozen() {
    let mut big_share = Config::new();
    big_share.max_node_entries = 64;
    big_share.tombstone_grace = core::time::Duration::from_millis(1);
    let mut small_share = Config::new();
    small_share.max_node_entries = 8;
    let mut owner = engine::<4, 128, 8192>("owner", 1, big_share);
    let mut peer = engine::<4, 128, 8192>("peer", 2, small_share);
    for i in 0..4 {
        owner.set(&format!("k{i}"), b"v").expect("set");
    }
    sync(&mut peer, &mut owner, &mut Vec::new());
    assert_eq!(live(&peer, "owner").len(), 4);
    for i in 4..12 {
        owner.set(&format!("k{i}"), b"v").expect("set");
    }
    sync(&mut peer, &mut owner, &mut Vec::new());
    assert_eq!(peer.counters().oversized_namespaces, 1);
    assert_eq!(peer.counters().refused_pieces, 0, "not a capacity problem");
    let frozen = peer.node("owner").expect("known");
    assert_eq!(frozen.max_version(), 4, "nothing of the piece applied");
    assert_eq!(frozen.all_entries().count(), 4);
    // Once the owner shrinks back within the share, the copy catches up.
    for i in 0..8 {
        owner
            .delete(&format!("k{i}"), Instant::ZERO)
            .expect("delete");
    }
    owner.tick(
        Instant::from_millis(10),
        &mut crate::testkit::TestRng(1),
        &mut Recorder::default(),
        &mut (),
    );
    assert_eq!(owner.local_node().map(|n| n.all_entries().count()), Some(4));
    sync(&mut peer, &mut owner, &mut Vec::new());
    assert_eq!(live(&peer, "owner"), live(&owner, "owner"));
}

#[test]
fn the_owner_refuses_a_value_beyond_max_value_len() {
    let mut config = Config::new();
    config.max_value_len = 100;
    let mut a = engine::<4, 64, 4096>("a", 1, config.clone());
    assert_eq!(a.max_value_len(), 100);
    a.set("k", &[1; 100]).expect("exactly at the limit");
    assert_eq!(a.set("k", &[1; 101]), Err(WriteError::ValueTooLong));
    let ttl = core::time::Duration::from_secs(1);
    assert_eq!(
        a.set_with_ttl("t", &[1; 101], ttl, Instant::ZERO),
        Err(WriteError::ValueTooLong)
    );
    assert_eq!(
        a.get("k"),
        Some(&[1u8; 100][..]),
        "the refused write changed nothing"
    );
    // Bounded by the state capacity: no longer value could be stored.
    config.max_value_len = usize::MAX;
    let b = engine::<4, 64, 4096>("b", 2, config);
    assert_eq!(b.max_value_len(), 4096);
    assert_eq!(
        engine::<4, 64, 4096>("c", 3, Config::new()).max_value_len(),
        4096
    );
    assert_eq!(
        Config::new().max_value_len,
        Config::DEFAULT_MAX_VALUE_LEN,
        "64 KiB by default"
    );
}

/// A receiver whose limit is smaller than the owner's refuses the piece
/// carrying the longer value whole, counts it, and catches up once the
/// value is replaced by one within its limit.
#[test]
fn a_value_beyond_the_receivers_limit_is_refused_whole_and_counted() {
    let mut small = Config::new();
    small.max_value_len = 50;
    let mut owner = engine::<4, 128, 8192>("owner", 1, Config::new());
    let mut peer = engine::<4, 128, 8192>("peer", 2, small);
    owner.set("a", b"short").expect("set");
    sync(&mut peer, &mut owner, &mut Vec::new());
    assert_eq!(live(&peer, "owner").len(), 1);
    owner.set("b", &[2; 51]).expect("within the owner's limit");
    owner.set("c", b"after").expect("set");
    let mut log = Vec::new();
    sync(&mut peer, &mut owner, &mut log);
    assert!(peer.counters().oversized_values >= 1);
    assert_eq!(peer.counters().refused_pieces, 0, "not a capacity problem");
    let frozen = peer.node("owner").expect("known");
    assert_eq!(frozen.max_version(), 1, "nothing of the piece applied");
    assert!(log.is_empty(), "no event for a refused piece: {log:?}");
    assert_eq!(peer.check_invariants(), Ok(()));
    owner.set("b", &[2; 50]).expect("set");
    sync(&mut peer, &mut owner, &mut Vec::new());
    assert_eq!(live(&peer, "owner"), live(&owner, "owner"));
}

#[test]
fn a_reserve_the_engine_cannot_hold_is_refused() {
    let cap = capacity::<4, 8, 1024>();
    let id = NodeId::new("a", 1, addr(1)).expect("id");
    let mut config = Config::new();
    assert_eq!(
        build(cap, id.clone(), config.clone()).err(),
        Some(ConfigError::ReserveTooLarge)
    );
    config.local_reserve_entries = 7;
    config.local_reserve_bytes = 1024 - 7 * 8 - 22 + 1;
    assert_eq!(
        build(cap, id.clone(), config.clone()).err(),
        Some(ConfigError::ReserveTooLarge)
    );
    config.local_reserve_bytes -= 1;
    assert!(build(cap, id, config).is_ok());
}

/// Local writes, TTL expiry and tombstone collection against a plain map.
mod model {
    use std::collections::BTreeMap;
    use std::vec;

    use proptest::prelude::*;

    use super::*;
    use crate::testkit::TestRng;

    const E: usize = 16;
    const B: usize = 1024;
    const KEYS: usize = 20;
    const GRACE_MS: u64 = 100;
    /// Arena bytes of a block header.
    const HEADER: usize = 8;
    /// Key and value bytes of the leave entry, kept free until it is written.
    const LEAVE: usize = 14;

    #[derive(Debug, Clone)]
    enum Op {
        Set {
            key: usize,
            len: usize,
        },
        SetTtl {
            key: usize,
            len: usize,
            ttl: u64,
        },
        Delete {
            key: usize,
        },
        /// Rewrites a key with a value half as long.
        Shrink {
            key: usize,
        },
        /// Rewrites a key with a value twice as long, plus 40 bytes (at most
        /// 800, which always fits a datagram).
        Grow {
            key: usize,
        },
        /// Advances the clock and runs a tick (expiry, collection).
        Tick {
            ms: u64,
        },
    }

    fn op() -> impl Strategy<Value = Op> {
        let key = 0..KEYS;
        prop_oneof![
            4 => (key.clone(), 0..200usize).prop_map(|(key, len)| Op::Set { key, len }),
            2 => (key.clone(), 0..120usize, 1..300u64)
                .prop_map(|(key, len, ttl)| Op::SetTtl { key, len, ttl }),
            2 => key.clone().prop_map(|key| Op::Delete { key }),
            2 => key.clone().prop_map(|key| Op::Shrink { key }),
            2 => key.prop_map(|key| Op::Grow { key }),
            2 => (0..150u64).prop_map(|ms| Op::Tick { ms }),
        ]
    }

    #[derive(Debug, Clone, PartialEq)]
    struct Entry {
        value: Vec<u8>,
        status: EntryStatus,
        deadline: u64,
        version: u64,
    }

    /// What the engine should hold: the local namespace and its rules.
    struct Model {
        map: BTreeMap<String, Entry>,
        max_version: u64,
        max_entries: usize,
        max_bytes: usize,
    }

    impl Model {
        fn entries(&self) -> usize {
            self.map.len()
        }

        fn bytes(&self) -> usize {
            self.map.iter().map(|(k, e)| k.len() + e.value.len()).sum()
        }

        fn arena(&self) -> usize {
            self.entries() * HEADER + self.bytes()
        }

        /// The outcome the engine must give for writing `value` with
        /// `status` to `key`, and the change if it succeeds.
        fn write(
            &mut self,
            key: &str,
            value: &[u8],
            status: EntryStatus,
            deadline: u64,
        ) -> Result<(), WriteError> {
            let old = self.map.get(key).cloned();
            if let Some(o) = &old
                && o.status == status
                && o.value == value
            {
                if status == EntryStatus::SetWithTtl {
                    self.map.get_mut(key).expect("held").deadline = deadline;
                }
                return Ok(());
            }
            let old_len = old.as_ref().map_or(0, |o| key.len() + o.value.len());
            let new_len = key.len() + value.len();
            let grows = old.is_none() || new_len > old_len;
            if grows {
                let add = usize::from(old.is_none());
                let entries = self.entries() + add;
                let bytes = self.bytes() - old_len + new_len;
                // The share and the store both keep room for the leave entry.
                if entries + 1 > self.max_entries || bytes + LEAVE > self.max_bytes {
                    return Err(WriteError::NamespaceFull);
                }
                let arena = self.arena() + add * HEADER - old_len + new_len;
                if entries + 1 > E || arena + HEADER + LEAVE > B {
                    return Err(WriteError::CapacityFull);
                }
            }
            self.max_version += 1;
            self.map.insert(
                String::from(key),
                Entry {
                    value: value.to_vec(),
                    status,
                    deadline,
                    version: self.max_version,
                },
            );
            Ok(())
        }

        /// What a tick at `now` does: in version order, TTL entries due
        /// become tombstones, and the due prefix of tombstones goes.
        fn tick(&mut self, now: u64) {
            let mut order: Vec<(u64, String)> = self
                .map
                .iter()
                .map(|(k, e)| (e.version, k.clone()))
                .collect();
            order.sort();
            let mut collecting = true;
            for (_, key) in order {
                let e = self.map.get(&key).expect("held").clone();
                match e.status {
                    EntryStatus::Deleted => {
                        if collecting && e.deadline <= now {
                            self.map.remove(&key);
                        } else {
                            collecting = false;
                        }
                    }
                    EntryStatus::SetWithTtl if e.deadline <= now => {
                        self.max_version += 1;
                        self.map.insert(
                            key,
                            Entry {
                                value: Vec::new(),
                                status: EntryStatus::Deleted,
                                deadline: now + GRACE_MS,
                                version: self.max_version,
                            },
                        );
                    }
                    _ => {}
                }
            }
        }
    }

    fn value(len: usize, seed: usize) -> Vec<u8> {
        vec![(seed % 251) as u8; len]
    }

    fn run(ops: &[Op], max_entries: usize, max_bytes: usize) -> Result<(), TestCaseError> {
        let mut config = Config::new();
        config.tombstone_grace = core::time::Duration::from_millis(GRACE_MS);
        config.max_node_entries = max_entries;
        config.max_node_bytes = max_bytes;
        let id = NodeId::new("m", 1, addr(0)).expect("id");
        let mut engine = build(capacity::<4, E, B>(), id, config).expect("engine");
        let mut model = Model {
            map: BTreeMap::new(),
            max_version: 0,
            max_entries,
            max_bytes,
        };
        let mut now = 0u64;
        let mut rng = TestRng(3);
        for (i, op) in ops.iter().enumerate() {
            let key = |k: &usize| format!("key{k}");
            let current = |k: &usize| {
                model
                    .map
                    .get(&key(k))
                    .filter(|e| e.status.is_live())
                    .map_or(0, |e| e.value.len())
            };
            let (got, want) = match op {
                Op::Set { key: k, len } => {
                    let v = value(*len, i);
                    (
                        engine.set(&key(k), &v),
                        model.write(&key(k), &v, EntryStatus::Set, 0),
                    )
                }
                Op::SetTtl { key: k, len, ttl } => {
                    let v = value(*len, i);
                    let at = Instant::from_millis(now);
                    let ttl = core::time::Duration::from_millis(*ttl);
                    let deadline = now + ttl.as_millis() as u64;
                    (
                        engine.set_with_ttl(&key(k), &v, ttl, at),
                        model.write(&key(k), &v, EntryStatus::SetWithTtl, deadline),
                    )
                }
                Op::Shrink { key: k } | Op::Grow { key: k } => {
                    let len = match op {
                        Op::Shrink { .. } => current(k) / 2,
                        // Capped below what one datagram can carry.
                        _ => (current(k) * 2 + 40).min(800),
                    };
                    let v = value(len, i);
                    (
                        engine.set(&key(k), &v),
                        model.write(&key(k), &v, EntryStatus::Set, 0),
                    )
                }
                Op::Delete { key: k } => {
                    let live = current(k) > 0
                        || model.map.get(&key(k)).is_some_and(|e| e.status.is_live());
                    let got = engine.delete(&key(k), Instant::from_millis(now));
                    let want = if live {
                        model
                            .write(&key(k), &[], EntryStatus::Deleted, now + GRACE_MS)
                            .map(|()| true)
                    } else {
                        Ok(false)
                    };
                    prop_assert_eq!(got, want, "op {} {:?}", i, op);
                    (Ok(()), Ok(()))
                }
                Op::Tick { ms } => {
                    now += ms;
                    engine.tick(
                        Instant::from_millis(now),
                        &mut rng,
                        &mut Recorder::default(),
                        &mut (),
                    );
                    model.tick(now);
                    (Ok(()), Ok(()))
                }
            };
            prop_assert_eq!(got, want, "op {} {:?}", i, op);
            // Every accepted write is readable, with the right value; the
            // accounting is what is stored.
            for k in 0..KEYS {
                let want = model
                    .map
                    .get(&key(&k))
                    .filter(|e| e.status.is_live())
                    .map(|e| &e.value[..]);
                prop_assert_eq!(engine.get(&key(&k)), want, "key{} after op {}", k, i);
            }
            prop_assert_eq!(engine.entry_count(), model.entries());
            prop_assert_eq!(engine.arena_bytes_used(), model.arena());
            prop_assert_eq!(
                engine.local_node().map(|n| n.max_version()),
                Some(model.max_version)
            );
        }
        engine
            .leave(Instant::from_millis(now))
            .map_err(|e| TestCaseError::fail(format!("leave failed: {e}")))?;
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 256,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn local_writes_match_a_plain_map(
            ops in proptest::collection::vec(op(), 1..120),
            max_entries in prop_oneof![Just(8usize), Just(64)],
            max_bytes in prop_oneof![Just(400usize), Just(16 * 1024)],
        ) {
            run(&ops, max_entries, max_bytes)?;
        }
    }
}

#[test]
fn an_owner_at_its_share_that_collects_tombstones_is_not_refused() {
    let mut config = Config::new();
    config.max_node_entries = 4;
    config.tombstone_grace = core::time::Duration::from_millis(1);
    let mut owner = engine::<4, 64, 4096>("owner", 1, config.clone());
    let mut peer = engine::<4, 64, 4096>("peer", 2, config);
    for k in ["k1", "k2", "k3"] {
        owner.set(k, b"v").expect("set");
    }
    owner.delete("k1", Instant::ZERO).expect("delete");
    owner.delete("k2", Instant::ZERO).expect("delete");
    sync(&mut peer, &mut owner, &mut Vec::new());
    assert_eq!(peer.node("owner").map(|n| n.all_entries().count()), Some(3));
    // The owner collects both tombstones and uses the room again.
    owner.tick(
        Instant::from_millis(10),
        &mut crate::testkit::TestRng(1),
        &mut Recorder::default(),
        &mut (),
    );
    owner.set("k4", b"v").expect("set");
    owner.set("k5", b"v").expect("set");
    // The peer holds the tombstones until the piece that brings k4 and k5
    // tells it they are collected: that piece is within the share.
    sync(&mut peer, &mut owner, &mut Vec::new());
    assert_eq!(peer.counters().oversized_namespaces, 0);
    assert_eq!(live(&peer, "owner"), live(&owner, "owner"));
    assert_eq!(peer.node("owner").map(|n| n.all_entries().count()), Some(3));
}

/// Relays short of room, fed random changes: no copy ever holds a node
/// past an entry it did not store.
mod relay_model {
    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Step {
        /// The owner writes `len` bytes to key `key` (a shrink or a grow of
        /// what it holds, or a new key).
        Write {
            key: usize,
            len: usize,
        },
        Delete {
            key: usize,
        },
        /// The relay pulls from the owner.
        RelayPulls,
        /// The third node pulls from the relay.
        ThirdPulls,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (0..8usize, 0..900usize).prop_map(|(key, len)| Step::Write { key, len }),
            1 => (0..8usize).prop_map(|key| Step::Delete { key }),
            2 => Just(Step::RelayPulls),
            2 => Just(Step::ThirdPulls),
        ]
    }

    /// The copy of `owner` in `e` holds, for every key whose version at
    /// the owner is at most the copy's max version, exactly that entry.
    fn exact_up_to_max(owner: &TestEngine, e: &TestEngine) -> Result<(), TestCaseError> {
        let Some(copy) = e.node("owner") else {
            return Ok(());
        };
        let m = copy.max_version();
        let mine = owner.local_node().expect("local");
        for want in mine.all_entries().filter(|x| x.version <= m) {
            prop_assert_eq!(copy.entry(want.key), Some(want), "max {}", m);
        }
        let versions: Vec<u64> = copy.all_entries().map(|x| x.version).collect();
        prop_assert!(versions.windows(2).all(|w| w[0] < w[1]), "{:?}", versions);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 128,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn copies_never_advance_over_a_hole(steps in proptest::collection::vec(step(), 1..60)) {
            let mut config = Config::new();
            config.local_reserve_entries = 2;
            config.local_reserve_bytes = 64;
            let mut owner = engine::<4, 64, 8192>("owner", 1, config.clone());
            let mut relay = engine::<4, 32, 1536>("relay", 2, config.clone());
            let mut third = engine::<4, 32, 2048>("third", 3, config);
            for (i, s) in steps.iter().enumerate() {
                match s {
                    Step::Write { key, len } => {
                        let v = std::vec![i as u8; *len];
                        match owner.set(&format!("k{key}"), &v) {
                            Ok(()) | Err(WriteError::NamespaceFull) => {}
                            Err(e) => prop_assert!(false, "owner write: {e}"),
                        }
                    }
                    Step::Delete { key } => {
                        owner.delete(&format!("k{key}"), Instant::ZERO).expect("delete");
                    }
                    Step::RelayPulls => sync(&mut relay, &mut owner, &mut Vec::new()),
                    Step::ThirdPulls => sync(&mut third, &mut relay, &mut Vec::new()),
                }
                exact_up_to_max(&owner, &relay)?;
                exact_up_to_max(&owner, &third)?;
            }
        }
    }
}
