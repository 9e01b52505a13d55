//! The glue's losses are counted, not hidden: a datagram too long for the
//! scratch buffer, and datagrams the socket's send buffer has no room for.

use core::net::{Ipv4Addr, SocketAddr};

use hearsay_core::{Config, Engine, NodeId, Storage};
use hearsay_smoltcp_demo::{GlueError, Node, SocketMemory, Wire, XorShift64Star};
use smoltcp::iface::SocketStorage;
use smoltcp::phy::{ChecksumCapabilities, Device, TxToken};
use smoltcp::time::Instant;
use smoltcp::wire::{IpProtocol, Ipv4Packet, Ipv4Repr, UdpPacket, UdpRepr};
use static_cell::ConstStaticCell;

const ADDRS: [Ipv4Addr; 3] = [
    Ipv4Addr::new(10, 0, 0, 1),
    Ipv4Addr::new(10, 0, 0, 2),
    Ipv4Addr::new(10, 0, 0, 3),
];
const PORT: u16 = 7946;

type Small = Storage<8, 32, 2048, 16>;

fn engine(
    storage: &'static mut Small,
    seeds: &[Ipv4Addr],
) -> Engine<hearsay_core::Borrowed<'static>> {
    let id = NodeId::new("a", 1, SocketAddr::new(ADDRS[0].into(), PORT)).unwrap();
    let mut engine = Engine::new(
        storage.buffers(),
        id,
        Config::new(),
        &mut XorShift64Star::new(1),
    )
    .unwrap();
    let seeds: Vec<SocketAddr> = seeds
        .iter()
        .map(|a| SocketAddr::new((*a).into(), PORT))
        .collect();
    engine.set_seeds(&seeds);
    engine
}

/// Puts a UDP datagram of `payload_len` bytes from port 1 to port 0's
/// gossip port on the wire.
fn send_udp(wire: &mut Wire<3, 4>, payload_len: usize) {
    let payload = vec![0x55u8; payload_len];
    let udp = UdpRepr {
        src_port: PORT,
        dst_port: PORT,
    };
    let ip = Ipv4Repr {
        src_addr: ADDRS[1],
        dst_addr: ADDRS[0],
        next_header: IpProtocol::Udp,
        payload_len: udp.header_len() + payload_len,
        hop_limit: 64,
    };
    let caps = ChecksumCapabilities::default();
    let mut tap = wire.tap(1);
    let token = tap.transmit(Instant::ZERO).unwrap();
    token.consume(ip.buffer_len() + ip.payload_len, |buf| {
        let mut packet = Ipv4Packet::new_unchecked(&mut buf[..]);
        ip.emit(&mut packet, &caps);
        let mut datagram = UdpPacket::new_unchecked(packet.payload_mut());
        udp.emit(
            &mut datagram,
            &ADDRS[1].into(),
            &ADDRS[0].into(),
            payload_len,
            |p| p.copy_from_slice(&payload),
            &caps,
        );
    });
}

#[test]
fn a_datagram_longer_than_the_scratch_buffer_is_dropped_and_counted() {
    static WIRE: ConstStaticCell<Wire<3, 4>> = ConstStaticCell::new(Wire::new(ADDRS));
    static STORAGE: ConstStaticCell<Small> = ConstStaticCell::new(Small::new());
    static SOCKET: ConstStaticCell<SocketMemory> = ConstStaticCell::new(SocketMemory::new());
    static SLOTS: ConstStaticCell<[SocketStorage<'static>; 1]> =
        ConstStaticCell::new([SocketStorage::EMPTY]);
    let wire = WIRE.take();
    let engine = engine(STORAGE.take(), &[]);
    let mut node = Node::new(
        &mut wire.tap(0),
        engine,
        SOCKET.take(),
        SLOTS.take(),
        24,
        0,
        1,
    )
    .unwrap();
    let mut rng = XorShift64Star::new(2);
    // 1,401 bytes: one more than the glue's MAX_MTU; then a short one.
    send_udp(wire, hearsay_smoltcp_demo::MAX_MTU + 1);
    send_udp(wire, 10);
    node.poll(0, &mut wire.tap(0), &mut rng, &mut ());
    let glue = node.gossip().counters();
    assert_eq!((glue.too_long, glue.received), (1, 1), "{glue:?}");
    // The short one reached the engine, which refused it as malformed.
    assert_eq!(node.gossip().engine().counters().datagrams_in, 1);
}

#[test]
fn datagrams_the_send_buffer_cannot_take_are_dropped_and_counted() {
    static WIRE: ConstStaticCell<Wire<3, 4>> = ConstStaticCell::new(Wire::new(ADDRS));
    static STORAGE: ConstStaticCell<Small> = ConstStaticCell::new(Small::new());
    // Room for one datagram each way.
    static SOCKET: ConstStaticCell<SocketMemory<1, 2048>> =
        ConstStaticCell::new(SocketMemory::new());
    static SLOTS: ConstStaticCell<[SocketStorage<'static>; 1]> =
        ConstStaticCell::new([SocketStorage::EMPTY]);
    let wire = WIRE.take();
    // Two seeds and no live peer: the first round sends a Syn to each,
    // in one call, before the interface can send the first on.
    let engine = engine(STORAGE.take(), &ADDRS[1..]);
    let mut node = Node::new(
        &mut wire.tap(0),
        engine,
        SOCKET.take(),
        SLOTS.take(),
        24,
        0,
        1,
    )
    .unwrap();
    node.poll(0, &mut wire.tap(0), &mut XorShift64Star::new(2), &mut ());
    let glue = node.gossip().counters();
    let out = node.gossip().engine().counters().datagrams_out;
    assert!(out >= 2, "the round sent {out} datagrams");
    assert_eq!((glue.sent, glue.send_full), (1, out - 1), "{glue:?}");
    // What the socket took went out on the wire.
    assert_eq!(
        wire.port_counters(1).delivered + wire.port_counters(2).delivered,
        1
    );
}

#[test]
fn an_ipv6_engine_is_refused() {
    static WIRE: ConstStaticCell<Wire<3, 4>> = ConstStaticCell::new(Wire::new(ADDRS));
    static STORAGE: ConstStaticCell<Small> = ConstStaticCell::new(Small::new());
    static SOCKET: ConstStaticCell<SocketMemory> = ConstStaticCell::new(SocketMemory::new());
    static SLOTS: ConstStaticCell<[SocketStorage<'static>; 1]> =
        ConstStaticCell::new([SocketStorage::EMPTY]);
    let id = NodeId::new("v6", 1, "[::1]:7946".parse().unwrap()).unwrap();
    let engine = Engine::new(
        STORAGE.take().buffers(),
        id,
        Config::new(),
        &mut XorShift64Star::new(1),
    )
    .unwrap();
    let result = Node::new(
        &mut WIRE.take().tap(0),
        engine,
        SOCKET.take(),
        SLOTS.take(),
        24,
        0,
        1,
    );
    assert_eq!(result.err(), Some(GlueError::NotIpv4));
}
