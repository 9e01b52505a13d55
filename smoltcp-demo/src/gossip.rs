//! The glue between a hearsay engine and one smoltcp UDP socket.
//!
//! hearsay-core is sans-IO: it takes received datagrams
//! ([`Engine::handle_datagram`]), asks when it next needs the time
//! ([`Engine::poll_timeout`]) and does what is due then
//! ([`Engine::handle_timeout`]), and hands every datagram it wants sent to
//! a [`Transmit`] sink. [`Gossip`] connects those calls to a UDP socket in
//! the caller's smoltcp [`SocketSet`], beside whatever other sockets the
//! program has: it takes datagrams out of the socket one at a time and
//! queues the engine's datagrams into it. It never touches the interface;
//! the caller polls that (see [`crate::node::Node::poll`] for the order).
//!
//! The socket's buffers and two datagram-sized scratch buffers live in a
//! [`SocketMemory`] the caller lends (a `static` on a microcontroller), as
//! the engine's tables live in the [`hearsay_core::Storage`] it lends. UDP
//! may lose datagrams and so may the glue: a datagram the socket's send
//! buffer has no room for, one too long for the scratch buffer, or one to
//! an IPv6 address (the demo's stack speaks IPv4 only) is dropped and
//! counted ([`GossipCounters`]); gossip repairs what is lost at the next
//! exchange.

use core::net::SocketAddr;

use hearsay_core::{Borrowed, Engine, Instant, Observer, Transmit};
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::AnySocket;
use smoltcp::socket::udp::{self, PacketBuffer, PacketMetadata, RecvError};
use smoltcp::wire::IpEndpoint;

/// Largest hearsay datagram the glue sends or receives: the engine's
/// default mtu. An engine with a larger `Config::mtu` is refused by
/// [`Gossip::new`]; a received datagram longer than this is dropped.
pub const MAX_MTU: usize = 1400;

/// Default number of datagrams each socket buffer (receive, send) holds.
pub const DEFAULT_PACKETS: usize = 8;
/// Default payload bytes of each socket buffer (receive, send).
pub const DEFAULT_PAYLOAD: usize = 4096;

/// The memory of one gossip socket: its receive and send buffers
/// (`PACKETS` datagrams and `PAYLOAD` bytes each) and two scratch buffers
/// of [`MAX_MTU`] bytes (the datagram being handled, and the one the
/// engine is writing; hearsay opens sealed datagrams in place, so it needs
/// a mutable copy of what the socket received).
///
/// [`SocketMemory::new`] is `const`, so it can initialise a `static`.
pub struct SocketMemory<
    const PACKETS: usize = DEFAULT_PACKETS,
    const PAYLOAD: usize = DEFAULT_PAYLOAD,
> {
    rx_meta: [PacketMetadata; PACKETS],
    rx_payload: [u8; PAYLOAD],
    tx_meta: [PacketMetadata; PACKETS],
    tx_payload: [u8; PAYLOAD],
    rx_datagram: [u8; MAX_MTU],
    tx_datagram: [u8; MAX_MTU],
}

impl<const PACKETS: usize, const PAYLOAD: usize> SocketMemory<PACKETS, PAYLOAD> {
    /// Empty buffers.
    pub const fn new() -> Self {
        SocketMemory {
            rx_meta: [PacketMetadata::EMPTY; PACKETS],
            rx_payload: [0; PAYLOAD],
            tx_meta: [PacketMetadata::EMPTY; PACKETS],
            tx_payload: [0; PAYLOAD],
            rx_datagram: [0; MAX_MTU],
            tx_datagram: [0; MAX_MTU],
        }
    }
}

impl<const PACKETS: usize, const PAYLOAD: usize> Default for SocketMemory<PACKETS, PAYLOAD> {
    fn default() -> Self {
        Self::new()
    }
}

/// Why [`Gossip::new`] (or [`crate::node::Node::new`]) refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GlueError {
    /// The engine's address is IPv6; the demo's stack is IPv4 only.
    NotIpv4,
    /// The engine's `Config::mtu` is above [`MAX_MTU`].
    MtuTooLarge,
    /// The UDP socket could not be bound to the engine's port (port 0).
    Bind,
    /// The device is not of medium IP ([`crate::node::Node`] only).
    NotMediumIp,
    /// No room for the socket in the socket storage
    /// ([`crate::node::Node`] only).
    NoSocketSlot,
}

impl core::fmt::Display for GlueError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            GlueError::NotIpv4 => "the engine's address is not IPv4",
            GlueError::MtuTooLarge => "the engine's mtu is above the glue's 1400 bytes",
            GlueError::Bind => "the UDP socket could not be bound",
            GlueError::NotMediumIp => "the device is not of medium IP",
            GlueError::NoSocketSlot => "no free socket slot",
        })
    }
}

/// Datagrams the glue moved or lost (the engine counts the rest:
/// [`Engine::counters`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GossipCounters {
    /// Datagrams handed to the engine.
    pub received: u64,
    /// Received datagrams dropped because they were longer than
    /// [`MAX_MTU`].
    pub too_long: u64,
    /// Datagrams of the engine queued in the socket.
    pub sent: u64,
    /// Datagrams of the engine dropped because the socket's send buffer
    /// was full.
    pub send_full: u64,
    /// Datagrams of the engine dropped because their destination is not
    /// an IPv4 address, or the socket refused it.
    pub unsendable: u64,
}

/// A hearsay engine and its UDP socket.
pub struct Gossip<'a> {
    engine: Engine<Borrowed<'a>>,
    handle: SocketHandle,
    rx: &'a mut [u8; MAX_MTU],
    tx: &'a mut [u8; MAX_MTU],
    counters: GossipCounters,
}

impl<'a> Gossip<'a> {
    /// Puts `engine` on a UDP socket made in `memory`, bound to the port of
    /// the engine's address, and adds that socket to `sockets`.
    ///
    /// # Panics
    ///
    /// As smoltcp's [`SocketSet::add`]: if `sockets` is full (its storage
    /// has no free [`smoltcp::iface::SocketStorage`] slot).
    pub fn new<const PACKETS: usize, const PAYLOAD: usize>(
        engine: Engine<Borrowed<'a>>,
        memory: &'a mut SocketMemory<PACKETS, PAYLOAD>,
        sockets: &mut SocketSet<'a>,
    ) -> Result<Self, GlueError> {
        let SocketAddr::V4(addr) = engine.id().addr else {
            return Err(GlueError::NotIpv4);
        };
        if engine.config().mtu > MAX_MTU {
            return Err(GlueError::MtuTooLarge);
        }
        let SocketMemory {
            rx_meta,
            rx_payload,
            tx_meta,
            tx_payload,
            rx_datagram,
            tx_datagram,
        } = memory;
        let mut socket = udp::Socket::new(
            PacketBuffer::new(&mut rx_meta[..], &mut rx_payload[..]),
            PacketBuffer::new(&mut tx_meta[..], &mut tx_payload[..]),
        );
        // Bound to the port only: the interface has the address.
        socket.bind(addr.port()).map_err(|_| GlueError::Bind)?;
        let handle = sockets.add(socket);
        Ok(Gossip {
            engine,
            handle,
            rx: rx_datagram,
            tx: tx_datagram,
            counters: GossipCounters::default(),
        })
    }

    /// The engine, to read the cluster's state.
    pub fn engine(&self) -> &Engine<Borrowed<'a>> {
        &self.engine
    }

    /// The engine, to write keys, set seeds, leave. A write makes the
    /// engine due at once (it pushes the change to peers), so poll it next.
    pub fn engine_mut(&mut self) -> &mut Engine<Borrowed<'a>> {
        &mut self.engine
    }

    /// What the glue moved and lost so far.
    pub fn counters(&self) -> GossipCounters {
        self.counters
    }

    /// Gives the engine the oldest datagram waiting in the socket, and
    /// queues its replies in the socket. Returns whether there was one;
    /// call again until there is none. Work per call is bounded: one
    /// datagram in, the engine's replies to it out.
    pub fn receive(
        &mut self,
        now_ms: u64,
        sockets: &mut SocketSet<'a>,
        observer: &mut impl Observer,
    ) -> bool {
        let Gossip {
            engine,
            handle,
            rx,
            tx,
            counters,
        } = self;
        let Some(socket) = find_socket(sockets, *handle) else {
            return false;
        };
        let (len, meta) = match socket.recv_slice(&mut rx[..]) {
            Ok(got) => got,
            Err(RecvError::Truncated) => {
                counters.too_long = counters.too_long.saturating_add(1);
                return true;
            }
            Err(RecvError::Exhausted) => return false,
        };
        counters.received = counters.received.saturating_add(1);
        let from = SocketAddr::new(meta.endpoint.addr.into(), meta.endpoint.port);
        let Some(datagram) = rx.get_mut(..len) else {
            return true;
        };
        let mut sink = UdpSink {
            socket: Some(socket),
            buf: tx,
            counters,
        };
        // A rejected datagram is counted by the engine (`Counters`); there
        // is nothing else to do about it.
        let _ = engine.handle_datagram(from, datagram, instant(now_ms), &mut sink, observer);
        true
    }

    /// Does what the engine has due at `now_ms` (a gossip round, a
    /// conviction, pushing a local write...), if anything, and queues the
    /// datagrams that makes in the socket.
    pub fn handle_timeout(
        &mut self,
        now_ms: u64,
        sockets: &mut SocketSet<'a>,
        rng: &mut impl rand_core::RngCore,
        observer: &mut impl Observer,
    ) {
        let now = instant(now_ms);
        if self.engine.poll_timeout().is_none_or(|at| at > now) {
            return;
        }
        let Gossip {
            engine,
            handle,
            tx,
            counters,
            ..
        } = self;
        let mut sink = UdpSink {
            socket: find_socket(sockets, *handle),
            buf: tx,
            counters,
        };
        engine.handle_timeout(now, rng, &mut sink, observer);
    }

    /// When the engine next needs [`Gossip::handle_timeout`], in
    /// milliseconds of the caller's clock; `None` once it has left.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.engine.poll_timeout().map(Instant::as_millis)
    }
}

/// hearsay time from the caller's clock (milliseconds).
fn instant(now_ms: u64) -> Instant {
    Instant::from_millis(now_ms)
}

/// Our socket in `sockets`, found without smoltcp's panicking `get_mut`:
/// `None` if the caller passed a set that does not hold it.
fn find_socket<'s, 'a>(
    sockets: &'s mut SocketSet<'a>,
    handle: SocketHandle,
) -> Option<&'s mut udp::Socket<'a>> {
    sockets
        .iter_mut()
        .find(|(h, _)| *h == handle)
        .and_then(|(_, socket)| udp::Socket::downcast_mut(socket))
}

/// The engine's [`Transmit`]: the engine writes a datagram into the scratch
/// buffer, which is then copied into the socket's send buffer.
struct UdpSink<'s, 'a> {
    socket: Option<&'s mut udp::Socket<'a>>,
    buf: &'s mut [u8; MAX_MTU],
    counters: &'s mut GossipCounters,
}

impl Transmit for UdpSink<'_, '_> {
    fn buffer(&mut self) -> &mut [u8] {
        &mut self.buf[..]
    }

    fn send(&mut self, to: SocketAddr, len: usize) {
        let counters = &mut *self.counters;
        let (SocketAddr::V4(to), Some(socket), Some(datagram)) =
            (to, self.socket.as_deref_mut(), self.buf.get(..len))
        else {
            counters.unsendable = counters.unsendable.saturating_add(1);
            return;
        };
        match socket.send_slice(datagram, IpEndpoint::from(to)) {
            Ok(()) => counters.sent = counters.sent.saturating_add(1),
            Err(udp::SendError::BufferFull) => {
                counters.send_full = counters.send_full.saturating_add(1)
            }
            Err(udp::SendError::Unaddressable) => {
                counters.unsendable = counters.unsendable.saturating_add(1)
            }
        }
    }
}
