//! A hearsay-std node holds as many members as `Builder::max_nodes` says,
//! and one left at the default holds 1024 and refuses the rest.
//!
//! The cluster: two hearsay-std nodes (`big`, started with
//! `max_nodes(5000)`, and `default`) seeded with a hub, a hearsay-core
//! `Engine<Heap>` with room for all 5000 nodes, in this test's thread on a
//! real loopback socket. 4997 tiny engines (a few nodes of capacity each)
//! gossip with the hub in process, sans-IO: their datagrams go straight into
//! `hub.handle_datagram`, so the hub sees their heartbeats move, takes them
//! for alive and introduces them to the std nodes; the hub's replies to them
//! are dropped (they need nothing back). The std nodes see the tiny nodes'
//! heartbeats move through the hub, so they hold them alive too. The tiny
//! nodes' addresses are unused loopback ports: what the std nodes send them
//! directly goes nowhere, and the std nodes keep the hub, which answers, as
//! their peer. Since a std node's random picks among 5000 members seldom
//! land on the hub, the hub also opens an exchange with each std node twice
//! a second, as gossip from a cluster of reachable nodes would.
//!
//! 5000 nodes in all: the hub, 4997 tiny ones and the two std nodes. `big`
//! must list all 5000 (itself included), alive; `default` lists 1024
//! (itself included) and counts the others in `refused_nodes`.
//!
//! The tiny nodes are driven as fast as this thread can (a debug build on
//! a loaded machine takes seconds per pass over them); the detectors are
//! generous (a 10-minute acceptable pause) so that nobody is convicted for
//! the test's own slowness, and nobody pending is dropped for it either.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use hearsay_core::{
    Buffers, Capacity, Config, DetectorConfig, Engine, Heap, Instant, NodeId, NodeStatus, Transmit,
};
use hearsay_std::builder::scaled_detector;
use hearsay_std::{Builder, Node};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// Tiny engines fed in process: with the hub and the two std nodes, 5000.
const TINIES: usize = 4997;
/// How long the cluster may take to settle: a liveness bound for a debug
/// build on a loaded two-core machine, not a speed assertion.
const PATIENCE: Duration = Duration::from_secs(400);

/// Failure-detector settings for an interval, with a pause long enough
/// that the test's own slowness never convicts anyone.
fn patient_detector(interval: Duration) -> DetectorConfig {
    let mut d = scaled_detector(interval);
    d.acceptable_heartbeat_pause = Duration::from_secs(600);
    d
}

fn config(interval: Duration, budget: usize) -> Config {
    let mut c = Config::new();
    c.gossip_interval = interval;
    c.detector = patient_detector(interval);
    c.pending_timeout = Duration::from_secs(600);
    c.exchange_budget = budget;
    c
}

/// The address of tiny node `i`: a loopback address nobody listens on.
fn tiny_addr(i: usize) -> SocketAddr {
    let [hi, lo] = u16::try_from(i).unwrap().to_be_bytes();
    SocketAddr::from(([127, 1, hi, lo], 9))
}

/// The hub's sink: datagrams for the std nodes go out on the socket, those
/// for tiny nodes are dropped.
struct HubTx<'s> {
    socket: &'s UdpSocket,
    real: [SocketAddr; 2],
    buf: Vec<u8>,
}

impl Transmit for HubTx<'_> {
    fn buffer(&mut self) -> &mut [u8] {
        &mut self.buf
    }
    fn send(&mut self, to: SocketAddr, len: usize) {
        if self.real.contains(&to) {
            // A full socket buffer loses the datagram, as a network would.
            let _ = self.socket.send_to(&self.buf[..len], to);
        }
    }
}

/// A tiny node's sink: straight into the hub.
struct TinyTx<'a, 's> {
    from: SocketAddr,
    now: Instant,
    hub: &'a mut Engine<Heap>,
    hub_tx: &'a mut HubTx<'s>,
    buf: Vec<u8>,
}

impl Transmit for TinyTx<'_, '_> {
    fn buffer(&mut self) -> &mut [u8] {
        &mut self.buf
    }
    fn send(&mut self, to: SocketAddr, len: usize) {
        if to == self.hub.id().addr {
            let _ = self.hub.handle_datagram(
                self.from,
                &mut self.buf[..len],
                self.now,
                self.hub_tx,
                &mut (),
            );
        }
    }
}

/// Hands every datagram waiting on the hub's socket to the hub.
fn drain(socket: &UdpSocket, hub: &mut Engine<Heap>, tx: &mut HubTx<'_>, now: Instant) {
    let mut buf = vec![0u8; 65_536];
    while let Ok((len, from)) = socket.recv_from(&mut buf) {
        let _ = hub.handle_datagram(from, &mut buf[..len], now, tx, &mut ());
    }
}

/// (members, of which alive) as `node` lists them.
fn census(node: &Node) -> (usize, usize) {
    let members = node.members().expect("members");
    let alive = members
        .iter()
        .filter(|m| m.status == NodeStatus::Alive)
        .count();
    (members.len(), alive)
}

#[test]
fn max_nodes_5000_holds_5000_members_and_the_default_holds_1024() {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind the hub");
    socket.set_nonblocking(true).expect("non-blocking");
    let hub_addr = socket.local_addr().unwrap();
    let hub_interval = Duration::from_millis(200);
    let std_interval = Duration::from_millis(100);
    let tiny_interval = Duration::from_secs(1);

    let start_std = |name: &str, builder: Builder| {
        builder
            .seed(hub_addr.to_string())
            .gossip_interval(std_interval)
            .detector(patient_detector(std_interval))
            .pending_timeout(Duration::from_secs(600))
            .recv_buffer_size(4 << 20)
            .start()
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let big = start_std("big", Builder::new("big").max_nodes(5000));
    let default = start_std("default", Builder::new("default"));
    assert_eq!(big.capacity().nodes, 5000);
    assert_eq!(default.capacity().nodes, 1024);

    let hub_capacity = Capacity {
        nodes: 5000,
        ..Capacity::DEFAULT
    };
    let mut hub = Engine::new(
        Buffers::<Heap>::allocate(hub_capacity).expect("hub memory"),
        NodeId::new("hub", 1, hub_addr).unwrap(),
        config(hub_interval, 16 * 1024),
        &mut StdRng::seed_from_u64(1),
    )
    .expect("hub");
    hub.set_seeds(&[big.local_addr(), default.local_addr()]);
    let mut hub_tx = HubTx {
        socket: &socket,
        real: [big.local_addr(), default.local_addr()],
        buf: vec![0; 1400],
    };

    let tiny_capacity = Capacity {
        nodes: 4,
        entries: 16,
        state_bytes: 2048,
        window: 16,
    };
    let mut tinies: Vec<Engine<Heap>> = (0..TINIES)
        .map(|i| {
            let buffers = Buffers::<Heap>::allocate(tiny_capacity).expect("tiny memory");
            let id = NodeId::new(&format!("t{i}"), 1, tiny_addr(i)).unwrap();
            // The hub's replies to tiny nodes are dropped, so a tiny node
            // never holds the hub's token: in version 4 its every Syn would
            // be a first contact, padded to the mtu, and answered with up
            // to 3x that. Version 3 Syns are not padded: the hub's replies
            // stay a few hundred bytes, and 4,997 nodes fit one thread.
            let mut tiny_config = config(tiny_interval, 1400);
            tiny_config.protocol_version = 3;
            // A tiny node knows only the hub, so one exchange a round is
            // all a fanout could give it; a fanout of 3 would spread the
            // round over three parts, each a Syn to the hub, and triple the
            // hub's work in this one thread.
            tiny_config.fanout = 1;
            let mut e = Engine::new(
                buffers,
                id,
                tiny_config,
                &mut StdRng::seed_from_u64(100 + i as u64),
            )
            .expect("tiny");
            e.set_seeds(&[hub_addr]);
            e
        })
        .collect();

    let clock = std::time::Instant::now();
    let now = || Instant::from_millis(u64::try_from(clock.elapsed().as_millis()).unwrap());
    let mut rng = StdRng::seed_from_u64(7);
    let mut tiny_buf = vec![0u8; 1400];
    let mut last_census = std::time::Instant::now();
    let mut last_hub_syn = std::time::Instant::now();
    let seen = loop {
        for (i, tiny) in tinies.iter_mut().enumerate() {
            let t = now();
            if tiny.poll_timeout().is_some_and(|d| d <= t) {
                let mut tx = TinyTx {
                    from: tiny_addr(i),
                    now: t,
                    hub: &mut hub,
                    hub_tx: &mut hub_tx,
                    buf: std::mem::take(&mut tiny_buf),
                };
                tiny.handle_timeout(t, &mut rng, &mut tx, &mut ());
                tiny_buf = tx.buf;
            }
            // The std nodes' datagrams are served between tiny nodes, so
            // that the socket's buffer does not overflow while the tiny
            // nodes take their turn.
            if i % 64 == 0 {
                let t = now();
                drain(&socket, &mut hub, &mut hub_tx, t);
                if hub.poll_timeout().is_some_and(|d| d <= t) {
                    hub.handle_timeout(t, &mut rng, &mut hub_tx, &mut ());
                }
                // The std nodes pick their peers among 5000 members, all
                // but the hub unreachable, so they would seldom reach it:
                // the hub opens an exchange with each of them twice a
                // second, as a peer that picked them would.
                if last_hub_syn.elapsed() >= Duration::from_millis(500) {
                    last_hub_syn = std::time::Instant::now();
                    for to in hub_tx.real {
                        let _ = hub.start_exchange(to, &mut hub_tx);
                    }
                }
            }
        }
        if last_census.elapsed() >= Duration::from_secs(1) {
            last_census = std::time::Instant::now();
            let refused = default.counters().expect("counters").engine.refused_nodes;
            let seen = (census(&big), census(&default), refused);
            if seen.0 == (5000, 5000) && seen.1 == (1024, 1024) && refused > 0 {
                break seen;
            }
            assert!(
                clock.elapsed() < PATIENCE,
                "not settled: big (members, alive) = {:?}, default = {:?}, default refused {} nodes; hub knows {}",
                seen.0,
                seen.1,
                seen.2,
                hub.node_count()
            );
        }
    };
    eprintln!(
        "settled after {:?}: big {:?}, default {:?}, refused {}",
        clock.elapsed(),
        seen.0,
        seen.1,
        seen.2
    );
    big.shutdown().expect("shutdown");
    default.shutdown().expect("shutdown");
}
