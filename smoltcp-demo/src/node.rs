//! One node: a smoltcp interface, its socket set and a [`Gossip`] socket.
//!
//! This is what a microcontroller's main loop holds: an [`Interface`] with
//! the board's IPv4 address on its network device, a [`SocketSet`] in
//! socket storage the program lends, and hearsay on one UDP socket of
//! that set. [`Node::poll`] is one turn of the loop at one instant of the
//! caller's clock; it returns when the loop must turn again at the latest
//! (a board sleeps until then or until its network interrupt fires).
//!
//! Everything a node holds is lent to it: the engine's tables
//! ([`hearsay_core::Storage`]), the socket's buffers ([`SocketMemory`])
//! and the socket storage. The `Node` value itself holds the smoltcp
//! `Interface` and the hearsay `Engine`; the crate's docs give the sizes.

use core::net::{IpAddr, Ipv4Addr};

use hearsay_core::{Borrowed, Engine, Observer};
use smoltcp::iface::{Config, Interface, PollIngressSingleResult, SocketSet, SocketStorage};
use smoltcp::phy::{Device, Medium};
use smoltcp::time::Instant;
use smoltcp::wire::{HardwareAddress, IpCidr};

use crate::gossip::{GlueError, Gossip, SocketMemory};

/// Most packets [`Node::poll`] takes from the device in one turn, so that
/// a turn's work is bounded however fast packets arrive; the rest wait for
/// the next turn, which [`Node::poll`] then asks for at once.
pub const MAX_PACKETS_PER_POLL: usize = 32;

/// A hearsay node on a smoltcp interface.
pub struct Node<'a> {
    iface: Interface,
    sockets: SocketSet<'a>,
    gossip: Gossip<'a>,
}

impl<'a> Node<'a> {
    /// Brings up an interface on `device` (which must be of medium IP)
    /// with the engine's address in a network of `prefix_len` bits, and
    /// puts the engine on a UDP socket made in `memory` and held in
    /// `slots` (at least one free slot; more if the program adds sockets
    /// of its own). `random_seed` seeds smoltcp (ephemeral ports, TCP
    /// sequence numbers); draw it from the board's random source.
    #[allow(clippy::too_many_arguments)]
    pub fn new<const PACKETS: usize, const PAYLOAD: usize>(
        device: &mut impl Device,
        engine: Engine<Borrowed<'a>>,
        memory: &'a mut SocketMemory<PACKETS, PAYLOAD>,
        slots: &'a mut [SocketStorage<'a>],
        prefix_len: u8,
        now_ms: u64,
        random_seed: u64,
    ) -> Result<Self, GlueError> {
        // smoltcp asserts that the address matches the medium; check first.
        if device.capabilities().medium != Medium::Ip {
            return Err(GlueError::NotMediumIp);
        }
        if slots.is_empty() {
            return Err(GlueError::NoSocketSlot);
        }
        let IpAddr::V4(addr) = engine.id().addr.ip() else {
            return Err(GlueError::NotIpv4);
        };
        let mut config = Config::new(HardwareAddress::Ip);
        config.random_seed = random_seed;
        let mut iface = Interface::new(config, device, smol_instant(now_ms));
        let mut pushed = Ok(());
        iface.update_ip_addrs(|addrs| pushed = addrs.push(IpCidr::new(addr.into(), prefix_len)));
        // A fresh interface has room for an address; this cannot fail.
        pushed.map_err(|_| GlueError::NoSocketSlot)?;
        let mut sockets = SocketSet::new(slots);
        let gossip = Gossip::new(engine, memory, &mut sockets)?;
        Ok(Node {
            iface,
            sockets,
            gossip,
        })
    }

    /// One turn of the main loop at `now_ms`: takes in what the device
    /// received, one packet at a time, giving the engine each datagram and
    /// sending its replies on before the next packet (so neither socket
    /// buffer has to hold a whole burst); then does what the engine has
    /// due and sends what that made. Returns when to poll again at the
    /// latest: now if the device may hold more than this turn took in
    /// ([`MAX_PACKETS_PER_POLL`]); `None` only once the engine has left
    /// and the stack has nothing planned.
    pub fn poll(
        &mut self,
        now_ms: u64,
        device: &mut impl Device,
        rng: &mut impl rand_core::RngCore,
        observer: &mut impl Observer,
    ) -> Option<u64> {
        let now = smol_instant(now_ms);
        let Node {
            iface,
            sockets,
            gossip,
        } = self;
        // What an earlier turn left in the sockets goes out first.
        iface.poll_egress(now, device, sockets);
        let mut more = true;
        for _ in 0..MAX_PACKETS_PER_POLL {
            let took = iface.poll_ingress_single(now, device, sockets);
            // Socket → engine → socket → device. Each receive empties the
            // receive buffer by one and poll_egress takes nothing in, so
            // this ends.
            while gossip.receive(now_ms, sockets, observer) {
                iface.poll_egress(now, device, sockets);
            }
            if took == PollIngressSingleResult::None {
                more = false;
                break;
            }
        }
        gossip.handle_timeout(now_ms, sockets, rng, observer);
        iface.poll_egress(now, device, sockets);
        if more {
            return Some(now_ms);
        }
        let stack = iface
            .poll_at(now, sockets)
            .map(|at| u64::try_from(at.total_millis()).unwrap_or(0));
        match (gossip.poll_timeout(), stack) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The hearsay side: the engine and the glue's counters.
    pub fn gossip(&self) -> &Gossip<'a> {
        &self.gossip
    }

    /// The hearsay side, to write keys, set seeds or leave.
    pub fn gossip_mut(&mut self) -> &mut Gossip<'a> {
        &mut self.gossip
    }

    /// The interface's IPv4 address.
    pub fn addr(&self) -> Option<Ipv4Addr> {
        self.iface.ipv4_addr()
    }
}

/// smoltcp time from the caller's clock (milliseconds).
fn smol_instant(now_ms: u64) -> Instant {
    Instant::from_millis(i64::try_from(now_ms).unwrap_or(i64::MAX))
}
