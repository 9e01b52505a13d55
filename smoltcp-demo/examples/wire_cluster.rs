//! Five hearsay nodes on smoltcp, on a simulated wire, every buffer in a
//! static: watch them find each other and share their keys, then crash one
//! and watch the others convict it.
//!
//! ```sh
//! cargo run -p hearsay-smoltcp-demo --example wire_cluster
//! ```
//!
//! Time is simulated (milliseconds on one clock that smoltcp and hearsay
//! share), so the run takes a fraction of a second and prints the same
//! thing every time.

use core::net::{Ipv4Addr, SocketAddr};

use hearsay_core::{Config, Engine, Event, NodeId, NodeStatus, Storage};
use hearsay_smoltcp_demo::{Network, SocketMemory, Wire, XorShift64Star};
use smoltcp::iface::SocketStorage;
use static_cell::ConstStaticCell;

const NODES: usize = 5;
const PORT: u16 = 7946;
const ADDRS: [Ipv4Addr; NODES] = [
    Ipv4Addr::new(10, 0, 0, 1),
    Ipv4Addr::new(10, 0, 0, 2),
    Ipv4Addr::new(10, 0, 0, 3),
    Ipv4Addr::new(10, 0, 0, 4),
    Ipv4Addr::new(10, 0, 0, 5),
];
const NAMES: [&str; NODES] = ["gateway", "pump", "valve", "meter", "panel"];

/// The microcontroller configuration of docs/embedded.md: 16 node slots,
/// 128 entries, 8 KiB of keys and values, a 64-interval window.
type Mcu16 = Storage<16, 128, 8192, 64>;

// Every node's memory, built in place by const constructors: nothing on
// the heap, nothing large on the stack.
static WIRE: ConstStaticCell<Wire<NODES, 16>> = ConstStaticCell::new(Wire::new(ADDRS));
static STORAGE: [ConstStaticCell<Mcu16>; NODES] =
    [const { ConstStaticCell::new(Mcu16::new()) }; NODES];
static SOCKETS: [ConstStaticCell<SocketMemory>; NODES] =
    [const { ConstStaticCell::new(SocketMemory::new()) }; NODES];
static SLOTS: [ConstStaticCell<[SocketStorage<'static>; 1]>; NODES] =
    [const { ConstStaticCell::new([SocketStorage::EMPTY]) }; NODES];

fn main() {
    println!("memory of one node (this host's sizes, see docs/embedded.md for Cortex-M):");
    println!(
        "  engine tables (Storage<16, 128, 8192, 64>): {} bytes",
        size_of::<Mcu16>()
    );
    println!(
        "  socket buffers and scratch (SocketMemory): {} bytes",
        size_of::<SocketMemory>()
    );
    println!(
        "  the node value (smoltcp Interface + SocketSet + Engine): {} bytes",
        size_of::<hearsay_smoltcp_demo::Node<'static>>()
    );
    println!();

    let mut net = Network::new(WIRE.take(), 0);
    let seed = SocketAddr::new(ADDRS[0].into(), PORT);
    for i in 0..NODES {
        let id = NodeId::new(NAMES[i], 1, SocketAddr::new(ADDRS[i].into(), PORT)).unwrap();
        let mut rng = XorShift64Star::new(0x5eed + i as u64);
        let mut engine =
            Engine::new(STORAGE[i].take().buffers(), id, Config::new(), &mut rng).unwrap();
        engine.set_seeds(&[seed]);
        engine.set("fw", b"2.4.1").unwrap();
        engine.set("role", NAMES[i].as_bytes()).unwrap();
        net.start(
            i,
            engine,
            SOCKETS[i].take(),
            SLOTS[i].take(),
            100 + i as u64,
        )
        .unwrap();
        println!("{} at {}:{PORT}, seed {seed}", NAMES[i], ADDRS[i]);
    }

    let mut print = |port: usize, ms: u64, event: &Event<'_>| {
        let line = match event {
            Event::NodeJoined { node } => format!("sees {} join", node.name.as_str()),
            Event::NodeDead { node } => format!("convicts {}: dead", node.name.as_str()),
            Event::NodeAliveAgain { node } => format!("sees {} alive again", node.name.as_str()),
            Event::KeySet {
                node, key, value, ..
            } if *key == "role" => format!(
                "learns {}'s role = {}",
                node.name.as_str(),
                String::from_utf8_lossy(value)
            ),
            _ => return,
        };
        println!("{:>6.3} s  {:<8} {line}", ms as f64 / 1000.0, NAMES[port]);
    };

    println!("\n-- starting {NODES} nodes at 0 s");
    net.run_until(5_000, &mut print);
    table(&net, "after 5 s");

    let crashed = NODES - 1;
    println!(
        "\n-- {} crashes at {:.3} s (stops without leaving)",
        NAMES[crashed],
        net.now() as f64 / 1000.0
    );
    net.stop(crashed);
    net.run_until(15_000, &mut print);
    table(&net, "after 15 s");

    println!("\nwire: {:?}", net.wire().counters());
    for (i, name) in NAMES.iter().enumerate().take(crashed) {
        let node = net.node(i).unwrap();
        let engine = node.gossip().engine().counters();
        println!(
            "{name:<8} glue {:?}; engine: {} datagrams in, {} out, {} bytes out",
            node.gossip().counters(),
            engine.datagrams_in,
            engine.datagrams_out,
            engine.bytes_out
        );
    }
}

/// Every running node's view of every other: status and phi.
fn table<const P: usize, const Q: usize>(net: &Network<'static, P, Q>, title: &str) {
    let now = hearsay_core::Instant::from_millis(net.now());
    println!(
        "\n   view {title:<12} {}",
        NAMES.map(|n| format!("{n:<14}")).join("")
    );
    for (i, observer) in NAMES.iter().enumerate() {
        let Some(node) = net.node(i) else { continue };
        let engine = node.gossip().engine();
        let cells: String = NAMES
            .iter()
            .map(|name| match engine.node(name) {
                Some(v) if v.is_local() => format!("{:<14}", "(self)"),
                Some(v) => {
                    let status = match v.status() {
                        NodeStatus::Alive => "alive",
                        NodeStatus::Dead => "DEAD",
                        NodeStatus::Pending => "pending",
                        NodeStatus::Left => "left",
                    };
                    format!("{:<14}", format!("{status} φ{:.1}", v.phi(now)))
                }
                None => format!("{:<14}", "-"),
            })
            .collect();
        println!("   {observer:<17} {cells}");
    }
}
