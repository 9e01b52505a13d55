//! The two [`Transmit`] sinks: [`Recorder`], which keeps what an engine
//! sends so a test can deliver or inspect it, and [`CountingSink`], which
//! keeps nothing so a benchmark measures the engine and not the sink.

use std::fmt;
use std::net::SocketAddr;

use hearsay_core::wire::MAX_DATAGRAM_LEN;
use hearsay_core::{Config, Transmit};

/// A sink that keeps every datagram with its destination, in the order
/// sent, and fails the test when one is longer than its mtu.
///
/// Its buffer is the largest UDP payload, not the mtu: the engine limits
/// itself to the smaller of its configured mtu and the buffer, so a buffer
/// of exactly the mtu would hide a datagram that ignores the setting; with
/// the large buffer the mtu check in [`Transmit::send`] sees it.
///
/// It allocates (a copy per datagram): for setup and verification, not for
/// measuring — that is [`CountingSink`].
#[derive(Clone)]
pub struct Recorder {
    buf: Vec<u8>,
    mtu: usize,
    /// Datagrams in the order sent, with their destination.
    pub sent: Vec<(SocketAddr, Vec<u8>)>,
}

impl Recorder {
    /// A recorder for engines configured with `mtu`: a longer datagram
    /// panics with a message naming both lengths.
    pub fn new(mtu: usize) -> Self {
        Recorder {
            buf: Vec::new(),
            mtu,
            sent: Vec::new(),
        }
    }

    /// The mtu datagrams are checked against.
    pub fn mtu(&self) -> usize {
        self.mtu
    }
}

impl Default for Recorder {
    /// A recorder for engines on the default [`Config`]'s mtu.
    fn default() -> Self {
        Recorder::new(Config::new().mtu)
    }
}

impl fmt::Debug for Recorder {
    // Without the 64 KiB scratch buffer.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recorder")
            .field("mtu", &self.mtu)
            .field("sent", &self.sent)
            .finish_non_exhaustive()
    }
}

impl Transmit for Recorder {
    fn buffer(&mut self) -> &mut [u8] {
        // Sized on first use, so a recorder nothing is sent through costs
        // no 64 KiB.
        self.buf.resize(MAX_DATAGRAM_LEN, 0);
        &mut self.buf
    }

    fn send(&mut self, to: SocketAddr, len: usize) {
        assert!(
            len <= self.mtu,
            "datagram of {len} bytes to {to} exceeds mtu {}",
            self.mtu
        );
        let Some(bytes) = self.buf.get(..len) else {
            panic!(
                "send of {len} bytes to {to} beyond the {}-byte buffer",
                self.buf.len()
            );
        };
        self.sent.push((to, bytes.to_vec()));
    }
}

/// The sink benchmarks measure with: encodes into one reusable buffer and
/// only counts datagrams and bytes.
///
/// `send` does not allocate (the buffer is allocated once, in
/// [`CountingSink::new`]), so a benchmark's time is the engine's.
#[derive(Clone)]
pub struct CountingSink {
    buf: Box<[u8]>,
    /// Datagrams sent through the sink.
    pub datagrams: u64,
    /// Bytes sent through the sink.
    pub bytes: u64,
}

impl CountingSink {
    /// A sink whose buffer is the default [`Config`]'s mtu (an engine with
    /// a larger mtu is limited to it).
    pub fn new() -> Self {
        CountingSink {
            buf: vec![0; Config::new().mtu].into_boxed_slice(),
            datagrams: 0,
            bytes: 0,
        }
    }
}

impl Default for CountingSink {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for CountingSink {
    // Without the scratch buffer.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CountingSink")
            .field("datagrams", &self.datagrams)
            .field("bytes", &self.bytes)
            .finish_non_exhaustive()
    }
}

impl Transmit for CountingSink {
    fn buffer(&mut self) -> &mut [u8] {
        &mut self.buf
    }

    fn send(&mut self, _to: SocketAddr, len: usize) {
        // Looked at, so the optimiser cannot drop the encoding; `get`
        // because a length beyond the buffer is the engine's bug, to be
        // counted, not to panic inside a measurement.
        std::hint::black_box(self.buf.get(..len));
        self.datagrams += 1;
        self.bytes += len as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to(i: u8) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, i], 9000))
    }

    fn send(sink: &mut impl Transmit, dest: SocketAddr, bytes: &[u8]) {
        sink.buffer()[..bytes.len()].copy_from_slice(bytes);
        sink.send(dest, bytes.len());
    }

    #[test]
    fn recorder_keeps_every_datagram_with_its_destination_in_order() {
        let mut r = Recorder::new(8);
        send(&mut r, to(1), b"abc");
        send(&mut r, to(2), b"12345678");
        send(&mut r, to(1), b"");
        assert_eq!(
            r.sent,
            vec![
                (to(1), b"abc".to_vec()),
                (to(2), b"12345678".to_vec()),
                (to(1), Vec::new()),
            ]
        );
    }

    #[test]
    fn recorder_buffer_is_larger_than_its_mtu() {
        let mut r = Recorder::default();
        assert_eq!(r.mtu(), Config::new().mtu);
        assert_eq!(r.buffer().len(), MAX_DATAGRAM_LEN);
    }

    #[test]
    #[should_panic(expected = "datagram of 9 bytes to 127.0.0.3:9000 exceeds mtu 8")]
    fn recorder_fails_a_datagram_beyond_its_mtu() {
        let mut r = Recorder::new(8);
        send(&mut r, to(3), b"123456789");
    }

    #[test]
    fn counting_sink_counts_without_keeping() {
        let mut c = CountingSink::new();
        assert_eq!(c.buffer().len(), Config::new().mtu);
        send(&mut c, to(1), b"abc");
        send(&mut c, to(2), &[7; 100]);
        assert_eq!((c.datagrams, c.bytes), (2, 103));
    }
}
