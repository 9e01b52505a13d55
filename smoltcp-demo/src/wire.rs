//! A simulated wire: the medium the demo's smoltcp interfaces talk over.
//!
//! On a board, smoltcp's [`Device`] is the network driver (an Ethernet
//! MAC's DMA rings, a radio). Here it is a [`Tap`] on a [`Wire`]: a set of
//! ports, each with one IPv4 address and a fixed-capacity queue of frames
//! waiting for it. The medium is [`Medium::Ip`], so frames are bare IPv4
//! packets and there is no ARP: a frame is routed by reading its
//! destination address, and goes into that port's queue at once (zero
//! latency; a simulation orders delivery by the order it polls nodes in).
//! A frame for an unknown address, or for a port whose queue is full, is
//! dropped and counted ([`WireCounters`]), as a switch would drop it. A
//! node that is no longer polled (a crashed node) lets its queue fill up,
//! and everything sent to it is then dropped.
//!
//! Everything is fixed-size (heapless queues of frames of at most
//! [`FRAME_LEN`] bytes) and [`Wire::new`] is `const`, so a wire can be a
//! `static`. Nothing in it panics on the contents of a frame.

use core::net::Ipv4Addr;

use heapless::{Deque, Vec};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use smoltcp::wire::Ipv4Packet;

/// Largest frame the wire carries: an IPv4 packet of Ethernet's 1500-byte
/// MTU, so a hearsay datagram of the default 1400-byte mtu (plus 28 bytes
/// of IPv4 and UDP headers) fits without fragmentation.
pub const FRAME_LEN: usize = 1500;

/// One frame on the wire: an IPv4 packet.
type Frame = Vec<u8, FRAME_LEN, u16>;

/// What happened to the frames put on a [`Wire`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WireCounters {
    /// Frames queued for their destination port.
    pub delivered: u64,
    /// Frames dropped because the destination's queue was full.
    pub dropped_full: u64,
    /// Frames dropped because no port has their destination address, or
    /// they were not a well-formed IPv4 packet.
    pub unroutable: u64,
}

/// A medium of `PORTS` ports, each queueing at most `QUEUE` frames.
///
/// Memory: about `PORTS × QUEUE × 1.5 KiB` for the queues. This is the
/// simulation's stand-in for the network hardware, not something a
/// microcontroller carries (its driver's DMA rings play this part).
pub struct Wire<const PORTS: usize, const QUEUE: usize> {
    addrs: [Ipv4Addr; PORTS],
    queues: [Deque<Frame, QUEUE>; PORTS],
    /// Per destination port: `unroutable` stays 0 there.
    ports: [WireCounters; PORTS],
    unroutable: u64,
}

impl<const PORTS: usize, const QUEUE: usize> Wire<PORTS, QUEUE> {
    /// A wire whose port `i` has address `addrs[i]`; `const`, so it can
    /// initialise a `static`.
    pub const fn new(addrs: [Ipv4Addr; PORTS]) -> Self {
        Wire {
            addrs,
            queues: [const { Deque::new() }; PORTS],
            ports: [WireCounters {
                delivered: 0,
                dropped_full: 0,
                unroutable: 0,
            }; PORTS],
            unroutable: 0,
        }
    }

    /// The address of port `port`, if there is such a port.
    pub fn addr(&self, port: usize) -> Option<Ipv4Addr> {
        self.addrs.get(port).copied()
    }

    /// The smoltcp device of port `port`: what that node's interface
    /// polls. A port number past the last gives a tap that receives
    /// nothing (and still transmits).
    pub fn tap(&mut self, port: usize) -> Tap<'_, PORTS, QUEUE> {
        Tap { wire: self, port }
    }

    /// Frames waiting in port `port`'s queue.
    pub fn waiting(&self, port: usize) -> usize {
        self.queues.get(port).map_or(0, Deque::len)
    }

    /// What happened to the frames sent so far, over all ports.
    pub fn counters(&self) -> WireCounters {
        self.ports.iter().fold(
            WireCounters {
                unroutable: self.unroutable,
                ..WireCounters::default()
            },
            |sum, port| WireCounters {
                delivered: sum.delivered.saturating_add(port.delivered),
                dropped_full: sum.dropped_full.saturating_add(port.dropped_full),
                unroutable: sum.unroutable,
            },
        )
    }

    /// What happened to the frames sent to port `port` (`unroutable` is
    /// 0 there: those frames had no port).
    pub fn port_counters(&self, port: usize) -> WireCounters {
        self.ports.get(port).copied().unwrap_or_default()
    }

    /// Routes one IPv4 packet to its destination port's queue.
    fn carry(&mut self, frame: Frame) {
        let dst = match Ipv4Packet::new_checked(frame.as_slice()) {
            Ok(packet) => packet.dst_addr(),
            Err(_) => {
                self.unroutable = self.unroutable.saturating_add(1);
                return;
            }
        };
        let port = self.addrs.iter().position(|a| *a == dst);
        let found = port.and_then(|p| Some((self.queues.get_mut(p)?, self.ports.get_mut(p)?)));
        let Some((queue, counters)) = found else {
            self.unroutable = self.unroutable.saturating_add(1);
            return;
        };
        match queue.push_back(frame) {
            Ok(()) => counters.delivered = counters.delivered.saturating_add(1),
            Err(_) => counters.dropped_full = counters.dropped_full.saturating_add(1),
        }
    }
}

/// One port of a [`Wire`], as a smoltcp [`Device`] (medium IP).
pub struct Tap<'w, const PORTS: usize, const QUEUE: usize> {
    wire: &'w mut Wire<PORTS, QUEUE>,
    port: usize,
}

impl<const PORTS: usize, const QUEUE: usize> Device for Tap<'_, PORTS, QUEUE> {
    type RxToken<'a>
        = RxToken
    where
        Self: 'a;
    type TxToken<'a>
        = TxToken<'a, PORTS, QUEUE>
    where
        Self: 'a;

    fn receive(&mut self, _timestamp: Instant) -> Option<(RxToken, TxToken<'_, PORTS, QUEUE>)> {
        let frame = self.wire.queues.get_mut(self.port)?.pop_front()?;
        Some((RxToken(frame), TxToken(self.wire)))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<TxToken<'_, PORTS, QUEUE>> {
        // The wire always takes a frame; a full destination drops it later,
        // where a real network would.
        Some(TxToken(self.wire))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = FRAME_LEN;
        caps
    }
}

/// A received frame, owned: taken off the port's queue by
/// [`Device::receive`].
pub struct RxToken(Frame);

impl phy::RxToken for RxToken {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        f(self.0.as_slice())
    }
}

/// Room for one frame to send; the frame is routed when the token is
/// consumed.
pub struct TxToken<'w, const PORTS: usize, const QUEUE: usize>(&'w mut Wire<PORTS, QUEUE>);

impl<const PORTS: usize, const QUEUE: usize> phy::TxToken for TxToken<'_, PORTS, QUEUE> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let mut frame = Frame::new();
        // smoltcp never asks for more than `max_transmission_unit`
        // (FRAME_LEN); were it to, the frame is cut to what the wire
        // carries, and routing drops it as malformed.
        let _ = frame.resize(len.min(FRAME_LEN), 0);
        let result = f(frame.as_mut_slice());
        self.0.carry(frame);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::phy::{RxToken as _, TxToken as _};
    use smoltcp::wire::{IpProtocol, Ipv4Repr};

    const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    fn send(wire: &mut Wire<2, 2>, from: usize, dst: Ipv4Addr, payload: u8) {
        let repr = Ipv4Repr {
            src_addr: A,
            dst_addr: dst,
            next_header: IpProtocol::Udp,
            payload_len: 1,
            hop_limit: 64,
        };
        let len = repr.buffer_len() + 1;
        let mut tap = wire.tap(from);
        let token = tap.transmit(Instant::ZERO).unwrap();
        token.consume(len, |buf| {
            let mut packet = Ipv4Packet::new_unchecked(&mut buf[..]);
            repr.emit(&mut packet, &smoltcp::phy::ChecksumCapabilities::default());
            packet.payload_mut()[0] = payload;
        });
    }

    #[test]
    fn frames_go_to_the_port_of_their_destination_address() {
        let mut wire = Wire::<2, 2>::new([A, B]);
        send(&mut wire, 0, B, 7);
        assert_eq!((wire.waiting(0), wire.waiting(1)), (0, 1));
        assert!(wire.tap(0).receive(Instant::ZERO).is_none());
        let mut tap = wire.tap(1);
        let (rx, _) = tap.receive(Instant::ZERO).unwrap();
        let payload = rx.consume(|buf| Ipv4Packet::new_checked(buf).unwrap().payload()[0]);
        assert_eq!(payload, 7);
        assert_eq!(wire.waiting(1), 0);
        assert_eq!(wire.counters().delivered, 1);
    }

    #[test]
    fn a_full_queue_and_an_unknown_address_drop_the_frame() {
        let mut wire = Wire::<2, 2>::new([A, B]);
        for i in 0..3 {
            send(&mut wire, 0, B, i);
        }
        send(&mut wire, 0, Ipv4Addr::new(10, 0, 0, 9), 0);
        // A frame too short to be an IPv4 packet.
        wire.tap(0)
            .transmit(Instant::ZERO)
            .unwrap()
            .consume(3, |_| ());
        let counters = wire.counters();
        assert_eq!(wire.waiting(1), 2);
        assert_eq!(
            (
                counters.delivered,
                counters.dropped_full,
                counters.unroutable
            ),
            (2, 1, 2)
        );
        // The oldest frames are the ones kept.
        let mut tap = wire.tap(1);
        let (rx, _) = tap.receive(Instant::ZERO).unwrap();
        assert_eq!(
            rx.consume(|b| Ipv4Packet::new_checked(b).unwrap().payload()[0]),
            0
        );
    }
}
