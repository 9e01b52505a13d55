//! hearsay-std end to end, on real UDP sockets over loopback: convergence,
//! failure detection, leaving, restarts, subscriptions, seed names, hostile
//! input and shutdown. (Separate `node` processes are tested by the
//! `examples` package, which builds that binary.)
//!
//! Bounds are generous (these are not benchmarks) and gossip runs every
//! 100 ms with a tolerant detector, so the file runs in seconds and does not
//! flap on a loaded two-core CI machine.

use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::time::Duration;

use hearsay_core::ClusterId;
use hearsay_core::wire::{MAGIC, MAX_DATAGRAM_LEN, PROTOCOL_VERSION};
use hearsay_std::{DecodeError, KeyEvent, MembershipEvent, Node, NodeEvent, NodeStatus};

mod support;
use support::{PATIENCE, wait_until};

/// A node with the test timings (module `support`), lingering half a
/// second when it leaves.
fn builder(name: &str) -> hearsay_std::Builder {
    support::builder(name).leave_linger(Duration::from_millis(500))
}

/// `n` nodes named `{prefix}0..`, each seeded with the first and holding
/// `id = its name`.
fn cluster(prefix: &str, n: usize) -> Vec<Node> {
    let first = builder(&format!("{prefix}0"))
        .set("id", format!("{prefix}0"))
        .start()
        .unwrap();
    let seed = first.local_addr().to_string();
    let mut nodes = vec![first];
    for i in 1..n {
        let name = format!("{prefix}{i}");
        nodes.push(
            builder(&name)
                .seed(seed.clone())
                .set("id", &name)
                .start()
                .unwrap(),
        );
    }
    nodes
}

/// The status `observer` has for the node named `subject`.
fn status(observer: &Node, subject: &str) -> Option<NodeStatus> {
    observer.member(subject).unwrap().map(|m| m.status)
}

/// Whether every node sees every other one alive.
fn all_alive(nodes: &[Node]) -> bool {
    nodes.iter().all(|a| {
        nodes
            .iter()
            .all(|b| a.name() == b.name() || status(a, b.name()) == Some(NodeStatus::Alive))
    })
}

fn converge(nodes: &[Node]) -> Duration {
    wait_until("every node sees every other alive", || all_alive(nodes))
}

#[test]
fn five_nodes_converge_and_share_keys() {
    let nodes = cluster("conv", 5);
    converge(&nodes);
    wait_until("every node knows every node's key", || {
        nodes.iter().all(|a| {
            nodes.iter().all(|b| {
                a.get_from(b.name(), "id").unwrap().as_deref() == Some(b.name().as_bytes())
            })
        })
    });
    // A key written later spreads too.
    nodes[3].set("role", "leader").unwrap();
    wait_until("the new key reached everyone", || {
        nodes
            .iter()
            .all(|a| a.get_from("conv3", "role").unwrap().as_deref() == Some(&b"leader"[..]))
    });
    let members = nodes[0].members().unwrap();
    assert_eq!(members.len(), 5);
    let me = members.iter().find(|m| m.is_local).unwrap();
    assert_eq!(me.name, "conv0");
    assert_eq!(me.addr, nodes[0].local_addr());
    for m in members.iter().filter(|m| !m.is_local) {
        assert_eq!(m.status, NodeStatus::Alive);
        assert!(m.phi.is_finite() && m.phi < 8.0, "{m:?}");
        assert!(m.heartbeat > 0 && m.timeout.is_some(), "{m:?}");
        assert_eq!(m.get("id"), Some(m.name.as_bytes()));
    }
    assert_eq!(nodes[0].live_members().unwrap().len(), 4);
    let c = nodes[0].counters().unwrap();
    assert!(c.datagrams_in() > 0 && c.datagrams_out() > 0);
    assert!(c.bytes_in() > 0 && c.bytes_out() > 0);
    assert_eq!(c.decode_errors_total(), 0);
}

#[test]
fn a_node_stopped_without_leaving_is_detected_dead_by_all() {
    let nodes = cluster("dead", 4);
    converge(&nodes);
    let events = nodes[0].subscribe_membership().unwrap();
    nodes[3].shutdown().unwrap();
    // How fast the detector convicts is measured by the benchmarks and the
    // simulator; here it only has to, within the patience.
    wait_until("every peer sees dead3 dead", || {
        nodes[..3]
            .iter()
            .all(|a| status(a, "dead3") == Some(NodeStatus::Dead))
    });
    let dead = events
        .receiver()
        .try_iter()
        .find(|e| matches!(e, MembershipEvent::Dead { node } if node.name.as_str() == "dead3"));
    assert!(dead.is_some(), "no Dead event for dead3");
    // The survivors still see each other alive.
    assert!(all_alive(&nodes[..3]));
}

#[test]
fn leave_is_seen_as_left_everywhere_quickly() {
    let nodes = cluster("left", 4);
    converge(&nodes);
    let events = nodes[1].subscribe_membership().unwrap();
    nodes[3].leave().unwrap();
    // `Left` comes only from the gossiped departure, never from the failure
    // detector, so seeing it proves the departure was heard.
    wait_until("every peer sees left3 left", || {
        nodes[..3]
            .iter()
            .all(|a| status(a, "left3") == Some(NodeStatus::Left))
    });
    assert!(matches!(
        nodes[3].set("k", "v"),
        Err(hearsay_std::Error::Left)
    ));
    nodes[3].shutdown().unwrap();
    // Once left, a silent node is never reported dead.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        nodes[..3]
            .iter()
            .all(|a| status(a, "left3") == Some(NodeStatus::Left))
    );
    let seen: Vec<MembershipEvent> = events.receiver().try_iter().collect();
    assert!(
        seen.iter()
            .any(|e| matches!(e, MembershipEvent::Left { node } if node.name.as_str() == "left3")),
        "{seen:?}"
    );
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, MembershipEvent::Dead { .. })),
        "{seen:?}"
    );
}

#[test]
fn a_restart_with_a_new_generation_replaces_the_old_one() {
    let mut nodes = cluster("gen", 3);
    converge(&nodes);
    let events = nodes[0].subscribe_membership().unwrap();
    let all = nodes[1].subscribe().unwrap();
    let old = nodes[2].id().clone();
    let addr = nodes[2].local_addr();
    nodes[2].shutdown().unwrap();
    // Same name and address, new generation (the default: start time).
    let seed = nodes[0].local_addr().to_string();
    nodes[2] = builder("gen2")
        .listen(addr)
        .seed(seed)
        .set("id", "gen2-again")
        .start()
        .unwrap();
    let new = nodes[2].id().clone();
    assert!(new.generation > old.generation);
    wait_until("both peers know only the new generation, alive", || {
        nodes[..2].iter().all(|a| {
            let gens: Vec<(u64, NodeStatus)> = a
                .members()
                .unwrap()
                .into_iter()
                .filter(|m| m.name == "gen2")
                .map(|m| (m.generation, m.status))
                .collect();
            gens == [(new.generation, NodeStatus::Alive)]
        })
    });
    assert_eq!(
        nodes[1].get_from("gen2", "id").unwrap().as_deref(),
        Some(&b"gen2-again"[..])
    );
    let replaced = events.receiver().try_iter().find_map(|e| match e {
        MembershipEvent::Replaced { old, new } => Some((old, new)),
        _ => None,
    });
    assert_eq!(replaced, Some((old.clone(), new.clone())));
    // The event contract, in one ordered stream: the restart is one
    // event (no `Joined` for the new incarnation), and its keys come after
    // it. The old one may have been convicted first, if the new one took
    // longer to be seen alive than the detector's timeout.
    let about: Vec<NodeEvent> = all
        .receiver()
        .try_iter()
        .filter(|e| match e {
            NodeEvent::Membership(
                MembershipEvent::Joined { node }
                | MembershipEvent::Dead { node }
                | MembershipEvent::AliveAgain { node }
                | MembershipEvent::Left { node }
                | MembershipEvent::Removed { node },
            ) => node.name.as_str() == "gen2",
            NodeEvent::Membership(MembershipEvent::Replaced { new, .. }) => {
                new.name.as_str() == "gen2"
            }
            NodeEvent::Key(KeyEvent::Set { node, .. } | KeyEvent::Deleted { node, .. }) => {
                node.name.as_str() == "gen2"
            }
            _ => true,
        })
        .skip_while(|e| *e == NodeEvent::Membership(MembershipEvent::Dead { node: old.clone() }))
        .collect();
    assert_eq!(
        about,
        [
            NodeEvent::Membership(MembershipEvent::Replaced {
                old,
                new: new.clone()
            }),
            NodeEvent::Key(KeyEvent::Set {
                node: new,
                key: "id".into(),
                value: b"gen2-again".to_vec(),
                version: 1
            }),
        ]
    );
}

#[test]
fn a_restart_whose_clock_is_behind_refutes_the_old_generation() {
    let mut nodes = cluster("late", 3);
    converge(&nodes);
    let old = nodes[2].id();
    let addr = nodes[2].local_addr();
    nodes[2].shutdown().unwrap();
    // Same name and address; the new process's clock is a minute behind.
    let seed = nodes[0].local_addr().to_string();
    nodes[2] = builder("late2")
        .listen(addr)
        .seed(seed)
        .generation(old.generation - 60_000)
        .set("id", "late2-again")
        .start()
        .unwrap();
    wait_until(
        "the new process takes a generation above the old one",
        || nodes[2].id().generation > old.generation,
    );
    let new = nodes[2].id();
    assert_eq!(new.generation, old.generation + 1);
    assert_eq!(nodes[2].counters().unwrap().engine.refutations, 1);
    wait_until("both peers hold the new incarnation, with its key", || {
        nodes[..2].iter().all(|a| {
            a.member("late2").unwrap().map(|m| (m.generation, m.status))
                == Some((new.generation, NodeStatus::Alive))
                && a.get_from("late2", "id").unwrap().as_deref() == Some(&b"late2-again"[..])
        })
    });
}

#[test]
fn key_subscribers_get_every_value_in_version_order() {
    let nodes = cluster("keys", 2);
    converge(&nodes);
    let (writer, reader) = (&nodes[0], &nodes[1]);
    // The writer's own subscription records which value each version had.
    let local = writer.subscribe_keys("cfg/").unwrap();
    let remote = reader.subscribe_keys("cfg/").unwrap();
    for i in 0..30u32 {
        writer
            .set(&format!("cfg/{}", i % 4), i.to_string())
            .unwrap();
        writer.set("other/ignored", i.to_string()).unwrap();
        if i % 10 == 9 {
            writer.delete("cfg/0").unwrap();
        }
        std::thread::sleep(Duration::from_millis(7));
    }
    let mut written: BTreeMap<u64, KeyEvent> = BTreeMap::new();
    for e in local.receiver().try_iter() {
        match &e {
            KeyEvent::Set { version, .. } | KeyEvent::Deleted { version, .. } => {
                written.insert(*version, e.clone());
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(written.len(), 33, "30 sets and 3 deletes under cfg/");
    let last_version = *written.keys().last().unwrap();

    // The reader sees a subsequence of the writer's changes (gossip carries
    // only the latest value of a key), each with the value it had at that
    // version, in strictly increasing version order, ending with the last.
    let mut seen = Vec::new();
    wait_until("the reader saw the last change", || {
        seen.extend(remote.receiver().try_iter());
        seen.iter().any(|e| match e {
            KeyEvent::Set { version, .. } | KeyEvent::Deleted { version, .. } => {
                *version == last_version
            }
            _ => false,
        })
    });
    let mut prev = 0;
    for e in &seen {
        let version = match e {
            KeyEvent::Set { node, version, .. } | KeyEvent::Deleted { node, version, .. } => {
                assert_eq!(node.name.as_str(), "keys0");
                *version
            }
            other => panic!("unexpected {other:?}"),
        };
        assert!(version > prev, "versions out of order: {seen:?}");
        prev = version;
        assert_eq!(Some(e), written.get(&version), "wrong value at v{version}");
        assert!(e.key().unwrap().starts_with("cfg/"));
    }
    assert_eq!(remote.dropped(), 0);
    assert_eq!(reader.get_from("keys0", "cfg/0").unwrap(), None);
    assert_eq!(
        reader.get_from("keys0", "cfg/1").unwrap().as_deref(),
        Some(&b"29"[..])
    );
}

#[test]
fn a_slow_subscriber_loses_events_not_the_engine() {
    let a = builder("slow0").subscription_capacity(4).start().unwrap();
    let sub = a.subscribe_keys("").unwrap();
    for i in 0..20 {
        a.set("k", format!("{i}")).unwrap();
    }
    // The engine kept going: every write was applied.
    assert_eq!(a.get("k").unwrap().as_deref(), Some(&b"19"[..]));
    assert_eq!(sub.dropped(), 16);
    assert_eq!(a.counters().unwrap().events_dropped, 16);
    let first: Vec<KeyEvent> = sub.receiver().try_iter().collect();
    assert_eq!(first.len(), 4);
    // With room again, the next event comes after a marker for the gap.
    a.set("k", "20").unwrap();
    let next: Vec<KeyEvent> = sub.receiver().try_iter().collect();
    assert_eq!(next[0], KeyEvent::Lagged { missed: 16 });
    assert!(matches!(&next[1], KeyEvent::Set { value, .. } if value == b"20"));
}

#[test]
fn a_seed_given_as_localhost_and_port_works() {
    let a = builder("dns0").set("k", "v").start().unwrap();
    let mut b = builder("dns1").seed(format!("localhost:{}", a.local_addr().port()));
    // Subscribed on the builder: sees everything from the very start.
    let members = b.subscribe_membership();
    let keys = b.subscribe_keys("");
    let b = b.start().unwrap();
    let nodes = [a, b];
    converge(&nodes);
    assert_eq!(nodes[1].counters().unwrap().resolve_failures, 0);
    assert!(matches!(
        members.recv_timeout(PATIENCE),
        Ok(MembershipEvent::Joined { node }) if node.name.as_str() == "dns0"
    ));
    assert!(matches!(
        keys.recv_timeout(PATIENCE),
        Ok(KeyEvent::Set { node, key, value, version: 1 })
            if node.name.as_str() == "dns0" && key == "k" && value == b"v"
    ));
}

#[test]
fn an_unresolvable_seed_is_retried_not_fatal() {
    let a = builder("unres0").start().unwrap();
    let b = builder("unres1")
        .seed("no-such-host.invalid:7946")
        .seed(a.local_addr().to_string())
        .start()
        .unwrap();
    let nodes = [a, b];
    converge(&nodes);
    // The lookup may still be running when the literal seed has done its
    // job; it fails, is counted, and the node carries on.
    wait_until("the failed lookup is counted", || {
        nodes[1].counters().unwrap().resolve_failures >= 1
    });
    assert!(all_alive(&nodes));
}

#[test]
fn garbage_and_foreign_cluster_datagrams_are_counted_and_change_nothing() {
    let a = builder("junk0")
        .cluster("junk-test")
        .set("k", "v")
        .start()
        .unwrap();
    let b = builder("junk1")
        .cluster("junk-test")
        .seed(a.local_addr().to_string())
        .start()
        .unwrap();
    let nodes = [a, b];
    converge(&nodes);
    let view = |n: &Node| -> Vec<(String, u64, BTreeMap<String, Vec<u8>>)> {
        n.members()
            .unwrap()
            .into_iter()
            .map(|m| (m.name, m.generation, m.keys))
            .collect()
    };
    let before = view(&nodes[0]);
    let c0 = nodes[0].counters().unwrap();

    let target = nodes[0].local_addr();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let send = |bytes: &[u8]| {
        sock.send_to(bytes, target).unwrap();
    };
    let header = |version: u8, kind: u8, cluster: ClusterId| {
        let mut h = Vec::from(MAGIC);
        h.push(version);
        h.push(kind);
        h.extend_from_slice(&cluster.fingerprint().to_le_bytes());
        h
    };
    let ours = ClusterId::new("junk-test");
    let theirs = ClusterId::new("someone-else");
    for _ in 0..5 {
        send(b"GET / HTTP/1.1\r\n\r\n"); // BadMagic
        send(b"HS"); // TooShort
        send(&header(PROTOCOL_VERSION + 1, 1, ours)); // UnsupportedVersion
        send(&header(PROTOCOL_VERSION, 9, ours)); // UnknownKind
        let mut foreign = header(PROTOCOL_VERSION, 1, theirs);
        foreign.extend_from_slice(&[0xff; 40]);
        send(&foreign); // ForeignCluster
        let mut junk_body = header(PROTOCOL_VERSION, 1, ours);
        junk_body.extend_from_slice(&[0xff; 40]);
        send(&junk_body); // a body that does not decode
    }
    // The largest UDP payload arrives whole (and is rejected as garbage).
    let mut huge = header(PROTOCOL_VERSION, 3, ours);
    huge.resize(MAX_DATAGRAM_LEN, 0xee);
    send(&huge);

    wait_until("all 31 datagrams were handled", || {
        nodes[0].counters().unwrap().decode_errors_total() - c0.decode_errors_total() >= 31
    });
    let c1 = nodes[0].counters().unwrap();
    let delta = |k: DecodeError| c1.decode_errors(k) - c0.decode_errors(k);
    assert_eq!(delta(DecodeError::BadMagic), 5);
    assert_eq!(delta(DecodeError::TooShort), 5);
    assert_eq!(delta(DecodeError::UnsupportedVersion), 5);
    assert_eq!(delta(DecodeError::UnknownKind), 5);
    assert_eq!(c1.foreign_cluster() - c0.foreign_cluster(), 5);
    assert_eq!(c1.decode_errors_total() - c0.decode_errors_total(), 31);
    assert!(c1.bytes_in() - c0.bytes_in() >= MAX_DATAGRAM_LEN as u64);
    assert_eq!(c1.inbound_dropped, 0);
    // Nothing changed: same members, generations and keys; still converged.
    assert_eq!(view(&nodes[0]), before);
    assert!(all_alive(&nodes));
}

/// The environment variable that declares a machine without IPv6 loopback.
const NO_IPV6: &str = "HEARSAY_NO_IPV6";

/// Whether [`NO_IPV6`] is set to `1`.
fn no_ipv6_declared() -> bool {
    std::env::var(NO_IPV6).is_ok_and(|v| v == "1")
}

#[test]
fn ipv6_and_dual_stack_sockets_work() {
    if let Err(e) = UdpSocket::bind("[::1]:0") {
        // A machine without IPv6 must say so: a test that quietly passes
        // without testing anything would hide a broken IPv6 path.
        assert!(
            no_ipv6_declared(),
            "cannot bind [::1]: {e}; on a machine without IPv6 loopback, \
             set {NO_IPV6}=1 to skip this test"
        );
        eprintln!("SKIPPED ipv6_and_dual_stack_sockets_work: {NO_IPV6}=1 and no IPv6 ({e})");
        return;
    }
    let a = builder("v6a")
        .listen("[::1]:0".parse().unwrap())
        .start()
        .unwrap();
    let b = builder("v6b")
        .listen("[::1]:0".parse().unwrap())
        .seed(a.local_addr().to_string())
        .start()
        .unwrap();
    converge(&[a, b]);

    // An IPv6 wildcard socket, advertised on IPv4, gossiping with an IPv4
    // node: IPv4 peers arrive as mapped addresses and are answered as such.
    let port = UdpSocket::bind("[::]:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = builder("dsc")
        .listen(format!("[::]:{port}").parse().unwrap())
        .advertise(format!("127.0.0.1:{port}").parse().unwrap())
        .start()
        .unwrap();
    let d = builder("dsd")
        .seed(format!("127.0.0.1:{port}"))
        .start()
        .unwrap();
    converge(&[c, d]);
}

/// Names of this process's threads (Linux: /proc/self/task/*/comm).
fn thread_names() -> Option<Vec<String>> {
    let dir = std::fs::read_dir("/proc/self/task").ok()?;
    Some(
        dir.filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
            .map(|s| s.trim().to_owned())
            .collect(),
    )
}

#[test]
fn shutdown_joins_every_thread_and_frees_the_port() {
    // Short names: thread names are cut to 15 bytes ("hs-recv-jc").
    let node = builder("jc").seed("localhost:9").start().unwrap();
    let addr = node.local_addr();
    let ours = ["hs-eng-jc", "hs-recv-jc", "hs-dns-jc"];
    if thread_names().is_some() {
        // A new thread names itself once it runs: give it a moment.
        wait_until("the node's three threads are named", || {
            let names = thread_names().unwrap_or_default();
            ours.iter().all(|t| names.iter().any(|n| n == t))
        });
    }
    // Shutdown must return (it does not wait for the seed's DNS lookup);
    // how fast is not the point, so the bound is only the patience.
    let (done_tx, done) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(node.shutdown());
    });
    let outcome = done.recv_timeout(PATIENCE);
    assert!(matches!(outcome, Ok(Ok(()))), "shutdown: {outcome:?}");
    if let Some(names) = thread_names() {
        for t in ours {
            assert!(!names.iter().any(|n| n == t), "{t} still runs: {names:?}");
        }
    }
    // The socket is closed: its port can be bound again.
    UdpSocket::bind(addr).unwrap();

    // Dropping the last handle shuts down too.
    let node = builder("jd").start().unwrap();
    let addr = node.local_addr();
    let clone = node.clone();
    drop(node);
    assert!(!clone.is_shut_down());
    drop(clone);
    if let Some(names) = thread_names() {
        assert!(!names.iter().any(|n| n.ends_with("-jd")), "{names:?}");
    }
    UdpSocket::bind(addr).unwrap();
}
