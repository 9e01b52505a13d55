//! Helpers shared by the crate's unit tests.

use core::net::SocketAddr;
use std::vec::Vec;

use crate::engine::Transmit;

/// A deterministic RNG (splitmix64) for tests.
pub(crate) struct TestRng(pub u64);

impl rand_core::RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for chunk in dst.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// A transmit sink that records datagrams.
#[derive(Default)]
pub(crate) struct Recorder {
    buf: Vec<u8>,
    pub sent: Vec<(SocketAddr, Vec<u8>)>,
}

impl Transmit for Recorder {
    fn buffer(&mut self) -> &mut [u8] {
        self.buf.resize(65_507, 0);
        &mut self.buf
    }

    fn send(&mut self, to: SocketAddr, len: usize) {
        self.sent.push((to, self.buf[..len].to_vec()));
    }
}
