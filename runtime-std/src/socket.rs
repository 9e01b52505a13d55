//! The UDP socket: binding it, the receive thread, and the send sink.
//!
//! The socket is created with socket2 (for the receive buffer size and
//! dual-stack IPv6, which std cannot set) and then used as a plain blocking
//! `std::net::UdpSocket`. Two threads share it through `try_clone`:
//!
//! - the **receive thread** blocks in `recv_from` with a short read timeout,
//!   so it notices shutdown promptly, and hands each datagram to the engine
//!   thread over a bounded channel; when the channel is full the datagram is
//!   dropped and counted, as a congested network would drop it;
//! - the **engine thread** sends through [`SocketTx`], its
//!   [`hearsay_core::Transmit`] sink, directly from the gossip port, so
//!   peers see replies come from the address they know.
//!
//! Errors from `recv_from` are sorted by [`classify`]: timeouts are the
//! shutdown check; a peer's "port unreachable" (Windows reports the ICMP
//! message for an earlier send as `WSAECONNRESET` on a later receive) is
//! counted and reading goes on at once; only other errors pause the thread
//! briefly. Windows' reporting could be switched off instead
//! (`SIO_UDP_CONNRESET`), but socket2 does not expose that ioctl and this
//! crate has no `unsafe` to call it.
//!
//! Addresses are kept canonical: an IPv4 peer reaching a dual-stack IPv6
//! socket shows up as `::ffff:a.b.c.d`, which is turned back into
//! `a.b.c.d` before the engine sees it, and mapped again when sending.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, TrySendError};
use hearsay_core::Transmit;
use hearsay_core::wire::MAX_DATAGRAM_LEN;
use socket2::{Domain, Protocol, Socket, Type};

use crate::counters::{Stats, bump};
use crate::error::Error;
use crate::ratelimit::{LOG_PERIOD, RateLimiter, suppressed_note};

/// How long one `recv_from` blocks before the receive thread checks for
/// shutdown: the upper bound on how long shutting down waits for it.
pub(crate) const READ_TIMEOUT: Duration = Duration::from_millis(100);

/// A datagram read from the socket, on its way to the engine thread.
#[derive(Debug)]
pub(crate) struct Inbound {
    pub from: SocketAddr,
    pub bytes: Vec<u8>,
}

/// Creates the gossip socket bound to `addr`: dual-stack when it is the
/// IPv6 wildcard, with the requested receive buffer, and a read timeout.
pub(crate) fn bind(addr: SocketAddr, recv_buffer: Option<usize>) -> Result<UdpSocket, Error> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))
        .map_err(Error::Socket)?;
    if let IpAddr::V6(ip) = addr.ip()
        && ip.is_unspecified()
        // Accept IPv4 peers too where the system allows it; where it does
        // not (IPV6_V6ONLY forced on), the socket still serves IPv6.
        && let Err(e) = socket.set_only_v6(false)
    {
        log::debug!("hearsay: cannot make {addr} dual-stack: {e}");
    }
    if let Some(size) = recv_buffer {
        socket.set_recv_buffer_size(size).map_err(Error::Socket)?;
    }
    socket
        .bind(&addr.into())
        .map_err(|source| Error::Bind { addr, source })?;
    let socket: UdpSocket = socket.into();
    socket
        .set_read_timeout(Some(READ_TIMEOUT))
        .map_err(Error::Socket)?;
    Ok(socket)
}

/// An address as the engine should see it: IPv4-mapped IPv6 addresses
/// become plain IPv4.
pub(crate) fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

/// What the receive thread does about an error from `recv_from`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecvErrorAction {
    /// Nothing happened (read timeout, signal): check for shutdown, read
    /// again.
    Retry,
    /// One datagram we sent earlier was refused: an ICMP "port unreachable"
    /// from a dead peer, which Windows reports on the next `recv_from` as
    /// `WSAECONNRESET` (some systems as refused). Not a fault of the
    /// socket: count it and read again at once.
    PeerUnreachable,
    /// Anything else: count and log it, and pause briefly so that a
    /// persistent error cannot spin the thread.
    Backoff,
}

/// Sorts a `recv_from` error into what to do about it.
pub(crate) fn classify(e: &io::Error) -> RecvErrorAction {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted => {
            RecvErrorAction::Retry
        }
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionRefused => {
            RecvErrorAction::PeerUnreachable
        }
        _ => RecvErrorAction::Backoff,
    }
}

/// Indices of the receive thread's rate-limited log lines.
const LOG_DROPPED: usize = 0;
const LOG_RECV_ERROR: usize = 1;
const LOG_UNREACHABLE: usize = 2;

/// The receive thread's loop: read datagrams until `stop` is set or the
/// engine thread is gone.
pub(crate) fn receive_loop(
    socket: UdpSocket,
    inbound: Sender<Inbound>,
    stop: Arc<AtomicBool>,
    stats: Arc<Stats>,
    name: String,
) {
    // One byte more than the largest UDP payload, so an oversized datagram
    // (IPv6 allows them) reaches the engine as such instead of truncated.
    let mut buf = vec![0u8; MAX_DATAGRAM_LEN + 1];
    let mut limiter = RateLimiter::new(3, LOG_PERIOD);
    while !stop.load(Ordering::Relaxed) {
        match socket.recv_from(&mut buf) {
            Ok((len, from)) => {
                bump(&stats.datagrams_received);
                let bytes = buf.get(..len).unwrap_or(&buf[..]).to_vec();
                let datagram = Inbound {
                    from: canonical(from),
                    bytes,
                };
                match inbound.try_send(datagram) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) => {
                        bump(&stats.inbound_dropped);
                        if let Some(n) = limiter.allow(LOG_DROPPED, Instant::now()) {
                            log::warn!(
                                "hearsay {name}: engine busy, dropping received datagrams{}",
                                suppressed_note(n)
                            );
                        }
                    }
                    Err(TrySendError::Disconnected(_)) => break,
                }
            }
            Err(e) => match classify(&e) {
                RecvErrorAction::Retry => {}
                RecvErrorAction::PeerUnreachable => {
                    bump(&stats.recv_errors);
                    if let Some(n) = limiter.allow(LOG_UNREACHABLE, Instant::now()) {
                        log::debug!(
                            "hearsay {name}: a peer is unreachable: {e}{}",
                            suppressed_note(n)
                        );
                    }
                }
                RecvErrorAction::Backoff => {
                    bump(&stats.recv_errors);
                    if let Some(n) = limiter.allow(LOG_RECV_ERROR, Instant::now()) {
                        log::warn!("hearsay {name}: receive error: {e}{}", suppressed_note(n));
                    }
                    // Do not spin on a persistent error.
                    std::thread::sleep(Duration::from_millis(10));
                }
            },
        }
    }
}

/// The engine's send sink: encodes into a buffer of one mtu, sends straight
/// from the gossip socket.
#[derive(Debug)]
pub(crate) struct SocketTx {
    socket: UdpSocket,
    buf: Vec<u8>,
    /// Whether the socket is IPv6 (IPv4 destinations are then mapped).
    v6: bool,
    stats: Arc<Stats>,
    limiter: RateLimiter,
    name: String,
}

impl SocketTx {
    /// A sink sending through `socket`, datagrams of at most `mtu` bytes.
    pub(crate) fn new(socket: UdpSocket, mtu: usize, stats: Arc<Stats>, name: String) -> Self {
        let v6 = socket.local_addr().map(|a| a.is_ipv6()).unwrap_or(false);
        SocketTx {
            socket,
            buf: vec![0; mtu],
            v6,
            stats,
            limiter: RateLimiter::new(1, LOG_PERIOD),
            name,
        }
    }
}

impl Transmit for SocketTx {
    fn buffer(&mut self) -> &mut [u8] {
        &mut self.buf
    }

    fn send(&mut self, to: SocketAddr, len: usize) {
        let to = match to {
            SocketAddr::V4(v4) if self.v6 => {
                SocketAddr::new(IpAddr::V6(v4.ip().to_ipv6_mapped()), v4.port())
            }
            other => other,
        };
        let bytes = self.buf.get(..len).unwrap_or(&self.buf[..]);
        if let Err(e) = self.socket.send_to(bytes, to) {
            bump(&self.stats.send_errors);
            if let Some(n) = self.limiter.allow(0, Instant::now()) {
                log::warn!(
                    "hearsay {}: cannot send to {to}: {e}{}",
                    self.name,
                    suppressed_note(n)
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Windows reports an ICMP port unreachable (a dead peer) as
    /// `WSAECONNRESET` on the next `recv_from`; each one used to cost a
    /// 10 ms pause of the receive thread, so a few dead peers could slow
    /// reception to a crawl.
    #[test]
    fn a_dead_peers_reset_does_not_pause_the_receive_thread() {
        use io::ErrorKind as K;
        // The system's own codes, as recv_from returns them.
        #[cfg(windows)]
        for code in [10054, 10061] {
            // WSAECONNRESET, WSAECONNREFUSED
            let e = io::Error::from_raw_os_error(code);
            assert_eq!(classify(&e), RecvErrorAction::PeerUnreachable, "{e}");
        }
        #[cfg(target_os = "linux")]
        for code in [104, 111] {
            // ECONNRESET, ECONNREFUSED
            let e = io::Error::from_raw_os_error(code);
            assert_eq!(classify(&e), RecvErrorAction::PeerUnreachable, "{e}");
        }
        for kind in [K::ConnectionReset, K::ConnectionRefused] {
            assert_eq!(
                classify(&io::Error::from(kind)),
                RecvErrorAction::PeerUnreachable,
                "{kind:?}"
            );
        }
        for kind in [K::WouldBlock, K::TimedOut, K::Interrupted] {
            assert_eq!(classify(&io::Error::from(kind)), RecvErrorAction::Retry);
        }
        for kind in [K::PermissionDenied, K::Other, K::InvalidInput] {
            assert_eq!(classify(&io::Error::from(kind)), RecvErrorAction::Backoff);
        }
    }

    #[test]
    fn mapped_addresses_become_ipv4() {
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:7000".parse().unwrap();
        assert_eq!(canonical(mapped), "127.0.0.1:7000".parse().unwrap());
        let v6: SocketAddr = "[::1]:7000".parse().unwrap();
        assert_eq!(canonical(v6), v6);
    }

    #[test]
    fn binds_ipv4_and_ipv6_with_a_receive_buffer() {
        let s = bind("127.0.0.1:0".parse().unwrap(), Some(1 << 20)).unwrap();
        assert_ne!(s.local_addr().unwrap().port(), 0);
        // IPv6 loopback may be missing in some containers; only check when
        // the system has it.
        if UdpSocket::bind("[::1]:0").is_ok() {
            let s = bind("[::1]:0".parse().unwrap(), None).unwrap();
            assert!(s.local_addr().unwrap().is_ipv6());
        }
    }

    #[test]
    fn bind_failure_is_typed() {
        let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        assert!(matches!(bind(addr, None), Err(Error::Bind { .. })));
    }
}
