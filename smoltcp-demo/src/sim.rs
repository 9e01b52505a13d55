//! A deterministic network of [`Node`]s on one [`Wire`], under one
//! simulated clock.
//!
//! [`Network`] is what the demo's example and tests drive: it owns the
//! clock (milliseconds the caller advances with [`Network::run_until`]),
//! gives each node its own seeded [`XorShift64Star`], and polls a node
//! only when it asked to be polled ([`Node::poll`]'s answer) or a frame
//! waits for it. At each instant it polls until the wire is quiet, so a
//! whole exchange (Syn, SynAck, Ack) happens at the instant it starts;
//! then it jumps to the earliest instant any node asked for. Nothing
//! depends on the wall clock, so a run is the same every time.
//!
//! [`Network::stop`] crashes a node: it is dropped without leaving, its
//! port stays on the wire, and what is sent to it fills its queue and is
//! then dropped.

use hearsay_core::{Borrowed, Engine, Event};
use rand_core::RngCore;
use smoltcp::iface::SocketStorage;

use crate::gossip::{GlueError, SocketMemory};
use crate::node::Node;
use crate::rng::XorShift64Star;
use crate::wire::Wire;

/// Most polling passes over the nodes at one instant. An exchange takes
/// three; a pass polls only the nodes with something to do, so this bound
/// is only reached by a network that keeps itself busy, and then the
/// clock moves on by a millisecond.
pub const MAX_PASSES: usize = 64;

/// A node of the network and what the simulation keeps for it.
struct Station<'a> {
    node: Node<'a>,
    rng: XorShift64Star,
    /// When the node asked to be polled next.
    wake: Option<u64>,
}

/// `PORTS` nodes (some ports may be empty) on a [`Wire`] of `QUEUE`
/// frames per port.
pub struct Network<'a, const PORTS: usize, const QUEUE: usize> {
    wire: &'a mut Wire<PORTS, QUEUE>,
    stations: [Option<Station<'a>>; PORTS],
    now_ms: u64,
}

impl<'a, const PORTS: usize, const QUEUE: usize> Network<'a, PORTS, QUEUE> {
    /// An empty network on `wire`, its clock at `start_ms`.
    pub fn new(wire: &'a mut Wire<PORTS, QUEUE>, start_ms: u64) -> Self {
        Network {
            wire,
            stations: [const { None }; PORTS],
            now_ms: start_ms,
        }
    }

    /// The simulated time, in milliseconds.
    pub fn now(&self) -> u64 {
        self.now_ms
    }

    /// The wire, for its counters and addresses.
    pub fn wire(&self) -> &Wire<PORTS, QUEUE> {
        self.wire
    }

    /// Starts a node on port `port` now: `engine` on a [`Node`] built in
    /// `memory` and `slots` (see [`Node::new`]), with an RNG seeded by
    /// `seed` (which also seeds smoltcp). The engine's address must be
    /// the port's. Replaces whatever node the port had.
    pub fn start<const PACKETS: usize, const PAYLOAD: usize>(
        &mut self,
        port: usize,
        engine: Engine<Borrowed<'a>>,
        memory: &'a mut SocketMemory<PACKETS, PAYLOAD>,
        slots: &'a mut [SocketStorage<'a>],
        seed: u64,
    ) -> Result<(), GlueError> {
        let mut rng = XorShift64Star::new(seed);
        let stack_seed = rng.next_u64();
        let node = Node::new(
            &mut self.wire.tap(port),
            engine,
            memory,
            slots,
            24,
            self.now_ms,
            stack_seed,
        )?;
        if let Some(slot) = self.stations.get_mut(port) {
            *slot = Some(Station {
                node,
                rng,
                wake: Some(self.now_ms),
            });
        }
        Ok(())
    }

    /// Crashes the node on `port`: it stops without leaving and is
    /// dropped. Returns whether there was one.
    pub fn stop(&mut self, port: usize) -> bool {
        self.stations.get_mut(port).and_then(Option::take).is_some()
    }

    /// The node on `port`, if it runs.
    pub fn node(&self, port: usize) -> Option<&Node<'a>> {
        self.stations.get(port)?.as_ref().map(|s| &s.node)
    }

    /// The node on `port`, to write keys or leave; it is polled at the
    /// current instant at the next [`Network::run_until`].
    pub fn node_mut(&mut self, port: usize) -> Option<&mut Node<'a>> {
        let station = self.stations.get_mut(port)?.as_mut()?;
        station.wake = Some(self.now_ms);
        Some(&mut station.node)
    }

    /// Runs the network until `until_ms` (the clock ends there), calling
    /// `observer` with the port, the instant and each event of a node.
    pub fn run_until(&mut self, until_ms: u64, observer: &mut impl FnMut(usize, u64, &Event<'_>)) {
        loop {
            self.settle(observer);
            let next = self
                .stations
                .iter()
                .flatten()
                .filter_map(|s| s.wake)
                .min()
                // Past MAX_PASSES a node may still be due now; move on.
                .map(|at| at.max(self.now_ms.saturating_add(1)));
            match next {
                Some(at) if at <= until_ms => self.now_ms = at,
                _ => {
                    self.now_ms = self.now_ms.max(until_ms);
                    return;
                }
            }
        }
    }

    /// Polls, at the current instant, every node that is due or has
    /// frames waiting, until none has (at most [`MAX_PASSES`] passes).
    fn settle(&mut self, observer: &mut impl FnMut(usize, u64, &Event<'_>)) {
        let now = self.now_ms;
        let Network { wire, stations, .. } = self;
        for _ in 0..MAX_PASSES {
            let mut polled = false;
            for (port, station) in stations.iter_mut().enumerate() {
                let Some(station) = station else { continue };
                let due = station.wake.is_some_and(|at| at <= now) || wire.waiting(port) > 0;
                if !due {
                    continue;
                }
                polled = true;
                station.wake = station.node.poll(
                    now,
                    &mut wire.tap(port),
                    &mut station.rng,
                    &mut |event: &Event<'_>| observer(port, now, event),
                );
            }
            if !polled {
                return;
            }
        }
    }
}
