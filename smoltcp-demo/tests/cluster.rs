//! hearsay-core engines gossiping over smoltcp UDP sockets on a simulated
//! wire, everything in statics: they converge (each sees every other alive,
//! with its keys), and when one stops the others convict it. Simulated
//! time only: every bound below is on the simulated clock, and a run is the
//! same every time (checked).

use core::net::{Ipv4Addr, SocketAddr};

use hearsay_core::{Config, Engine, Event, NodeId, NodeStatus, Storage};
use hearsay_smoltcp_demo::{Network, SocketMemory, Wire, XorShift64Star};
use smoltcp::iface::SocketStorage;
use static_cell::ConstStaticCell;

/// The gossip port of every node.
const PORT: u16 = 7946;

/// Port `i` of the wire has 10.0.0.(i + 1).
const fn addrs<const N: usize>() -> [Ipv4Addr; N] {
    let mut out = [Ipv4Addr::UNSPECIFIED; N];
    let mut i = 0;
    while i < N {
        out[i] = Ipv4Addr::new(10, 0, 0, i as u8 + 1);
        i += 1;
    }
    out
}

/// The memory of an `$n`-node network in statics of its own (each use of
/// the macro makes new ones): the wire, and per node its engine storage,
/// socket memory and socket slot. Returns `(wire, [(storage, sockets,
/// slots); $n])`, each `&'static mut`.
macro_rules! statics {
    ($n:expr, $queue:expr, $storage:ty) => {{
        static WIRE: ConstStaticCell<Wire<$n, $queue>> = ConstStaticCell::new(Wire::new(addrs()));
        static STORAGE: [ConstStaticCell<$storage>; $n] =
            [const { ConstStaticCell::new(<$storage>::new()) }; $n];
        static SOCKETS: [ConstStaticCell<SocketMemory>; $n] =
            [const { ConstStaticCell::new(SocketMemory::new()) }; $n];
        static SLOTS: [ConstStaticCell<[SocketStorage<'static>; 1]>; $n] =
            [const { ConstStaticCell::new([SocketStorage::EMPTY]) }; $n];
        let nodes: [_; $n] =
            core::array::from_fn(|i| (STORAGE[i].take(), SOCKETS[i].take(), SLOTS[i].take()));
        (WIRE.take(), nodes)
    }};
}

/// The capacity the docs measure for a microcontroller: 16 node slots,
/// 128 entries, 8 KiB of keys and values, a 64-interval window.
type Mcu16 = Storage<16, 128, 8192, 64>;

fn name(i: usize) -> String {
    format!("n{i}")
}

fn value(i: usize) -> Vec<u8> {
    format!("fw-1.{i}").into_bytes()
}

fn addr(net_addr: Ipv4Addr) -> SocketAddr {
    SocketAddr::new(net_addr.into(), PORT)
}

/// Starts one node per port, seeded with port 0's address, each with key
/// `fw` set to `value(i)`.
fn start_all<
    const N: usize,
    const Q: usize,
    const NS: usize,
    const E: usize,
    const B: usize,
    const W: usize,
>(
    net: &mut Network<'static, N, Q>,
    memory: [(
        &'static mut Storage<NS, E, B, W>,
        &'static mut SocketMemory,
        &'static mut [SocketStorage<'static>; 1],
    ); N],
    config: &Config,
    seed: u64,
) {
    let seed_addr = addr(net.wire().addr(0).unwrap());
    for (i, (storage, sockets, slots)) in memory.into_iter().enumerate() {
        let id = NodeId::new(&name(i), 1, addr(net.wire().addr(i).unwrap())).unwrap();
        let mut rng = XorShift64Star::new(seed ^ ((i as u64 + 1) * 0x9e37));
        let mut engine = Engine::new(storage.buffers(), id, config.clone(), &mut rng).unwrap();
        engine.set_seeds(&[seed_addr]);
        engine.set("fw", &value(i)).unwrap();
        net.start(i, engine, sockets, slots, seed.wrapping_add(i as u64))
            .unwrap();
    }
}

/// Whether every running node sees every other running node alive with
/// its key.
fn converged<const N: usize, const Q: usize>(
    net: &Network<'static, N, Q>,
    running: &[usize],
) -> bool {
    running.iter().all(|&i| {
        let engine = net.node(i).unwrap().gossip().engine();
        running.iter().filter(|&&j| j != i).all(|&j| {
            engine.node(&name(j)).is_some_and(|view| {
                view.status() == NodeStatus::Alive && view.get("fw") == Some(&value(j)[..])
            })
        })
    })
}

/// Every datagram the wire delivered to a running node reached its
/// engine (nothing was lost in smoltcp's buffers or the glue), and every
/// datagram its engine sent went out.
fn no_datagram_lost<const N: usize, const Q: usize>(
    net: &Network<'static, N, Q>,
    running: &[usize],
) {
    for &i in running {
        let glue = net.node(i).unwrap().gossip().counters();
        let engine = net.node(i).unwrap().gossip().engine().counters();
        let wire = net.wire().port_counters(i);
        assert_eq!(wire.dropped_full, 0, "n{i}'s queue on the wire overflowed");
        assert_eq!(
            glue.received, wire.delivered,
            "n{i} lost datagrams in smoltcp"
        );
        assert_eq!(engine.datagrams_in, glue.received);
        assert_eq!(glue.sent, engine.datagrams_out, "n{i}: {glue:?}");
        assert_eq!(
            glue.send_full + glue.unsendable + glue.too_long,
            0,
            "n{i}: {glue:?}"
        );
    }
}

/// What a test records: every event, as (port, ms, text).
type Trace = Vec<(usize, u64, String)>;

fn record(trace: &mut Trace) -> impl FnMut(usize, u64, &Event<'_>) + '_ {
    |port, ms, event| trace.push((port, ms, format!("{event:?}")))
}

/// Runs in steps of 100 simulated ms until `done` holds; the time it
/// first held, or `None` past `limit_ms`.
fn run_until_cond<const N: usize, const Q: usize>(
    net: &mut Network<'static, N, Q>,
    limit_ms: u64,
    trace: &mut Trace,
    mut done: impl FnMut(&Network<'static, N, Q>, &Trace) -> bool,
) -> Option<u64> {
    while net.now() < limit_ms {
        let next = net.now() + 100;
        net.run_until(next, &mut record(trace));
        if done(net, trace) {
            return Some(net.now());
        }
    }
    None
}

/// The scenario of the issue on `N` nodes: converge, stop the last node,
/// see every other convict it. Returns the trace, the times from the
/// start to convergence and from the stop to the last conviction, and the
/// network.
fn converge_then_convict<
    const N: usize,
    const Q: usize,
    const NS: usize,
    const E: usize,
    const B: usize,
    const W: usize,
>(
    wire: &'static mut Wire<N, Q>,
    memory: [(
        &'static mut Storage<NS, E, B, W>,
        &'static mut SocketMemory,
        &'static mut [SocketStorage<'static>; 1],
    ); N],
    seed: u64,
) -> (Trace, u64, u64, Network<'static, N, Q>) {
    let start = 1_000;
    let mut net = Network::new(wire, start);
    start_all(&mut net, memory, &Config::new(), seed);
    let all: Vec<usize> = (0..N).collect();
    let mut trace = Trace::new();
    let converged_at = run_until_cond(&mut net, 60_000, &mut trace, |net, _| converged(net, &all))
        .expect("the nodes did not converge within 60 simulated seconds");

    let crashed = N - 1;
    let dead_name = name(crashed);
    let stopped_at = net.now();
    assert!(net.stop(crashed));
    let survivors = &all[..crashed];
    let convicted_by_all = |trace: &Trace| {
        survivors.iter().all(|&i| {
            trace.iter().any(|(port, ms, text)| {
                *port == i
                    && *ms > stopped_at
                    && text.starts_with("NodeDead")
                    && text.contains(&format!("{dead_name}#"))
            })
        })
    };
    let convicted_at = run_until_cond(&mut net, stopped_at + 60_000, &mut trace, |_, t| {
        convicted_by_all(t)
    })
    .expect("the survivors did not convict the stopped node within 60 simulated seconds");
    for &i in survivors {
        let view = net
            .node(i)
            .unwrap()
            .gossip()
            .engine()
            .node(&dead_name)
            .unwrap();
        assert_eq!(
            view.status(),
            NodeStatus::Dead,
            "n{i}'s view of {dead_name}"
        );
    }
    // Only the stopped node was ever convicted.
    let wrongly: Vec<_> = trace
        .iter()
        .filter(|(_, _, text)| {
            text.starts_with("NodeDead") && !text.contains(&format!("{dead_name}#"))
        })
        .collect();
    assert!(wrongly.is_empty(), "healthy nodes convicted: {wrongly:?}");
    // The survivors still see each other alive.
    assert!(converged(&net, survivors));
    no_datagram_lost(&net, survivors);
    // If the wire dropped anything, it was for the stopped node, whose
    // queue nobody empties any more.
    assert_eq!(
        net.wire().counters().dropped_full,
        net.wire().port_counters(crashed).dropped_full
    );
    (trace, converged_at - start, convicted_at - stopped_at, net)
}

#[test]
fn four_nodes_converge_then_convict_a_stopped_one() {
    let (wire, memory) = statics!(4, 16, Mcu16);
    let (trace, converged_at, detection_ms, net) = converge_then_convict(wire, memory, 42);
    println!(
        "4 nodes: converged {converged_at} ms after the start (checked every 100 ms), conviction {detection_ms} ms after the stop"
    );
    // Events reached the observer through the glue.
    assert!(trace.iter().any(|(_, _, t)| t.starts_with("NodeJoined")));
    for i in 0..3 {
        let counters = net.node(i).unwrap().gossip().counters();
        assert!(
            counters.received > 0 && counters.sent > 0,
            "n{i}: {counters:?}"
        );
        assert_eq!(
            counters.send_full + counters.unsendable + counters.too_long,
            0,
            "n{i}: {counters:?}"
        );
    }
    let wire = net.wire().counters();
    assert!(wire.delivered > 0);
    assert_eq!(wire.unroutable, 0);
}

#[test]
fn sixteen_nodes_in_the_documented_microcontroller_configuration() {
    // 32 frames a port on the wire: the 15 others' first Syns reach the
    // seed in the same simulated millisecond, with their follow-ups,
    // before it is polled again. The socket buffers are the defaults.
    let (wire, memory) = statics!(16, 32, Mcu16);
    let (_, converged_at, detection_ms, net) = converge_then_convict(wire, memory, 7);
    println!(
        "16 nodes: converged {converged_at} ms after the start (checked every 100 ms), conviction {detection_ms} ms after the stop"
    );
    for i in 0..15 {
        // All 16 slots in use: the stopped node is dead, not gone.
        let engine = net.node(i).unwrap().gossip().engine();
        assert_eq!(engine.node_count(), 16);
    }
}

#[test]
fn a_run_is_the_same_every_time() {
    let (wire_a, memory_a) = statics!(3, 16, Storage<8, 32, 2048, 64>);
    let (wire_b, memory_b) = statics!(3, 16, Storage<8, 32, 2048, 64>);
    let (trace_a, ..) = converge_then_convict(wire_a, memory_a, 3);
    let (trace_b, ..) = converge_then_convict(wire_b, memory_b, 3);
    assert!(trace_a.len() > 3);
    assert_eq!(trace_a, trace_b);
}
