//! A small seeded RNG, the demo's stand-in for a board's random source.
//!
//! hearsay-core draws its round jitter, peer choices and the salt of its
//! nonces from a [`rand_core::RngCore`] the caller passes in, and smoltcp
//! wants a random seed once (TCP sequence numbers, ephemeral ports). On a
//! microcontroller that is the chip's hardware RNG (most Cortex-M parts
//! with Ethernet have one) or a generator seeded from it; in the demo it
//! is xorshift64*, seeded by the caller so that a run is reproducible.
//! It is not cryptographic: a node that seals its datagrams should seed
//! its engine from a real entropy source.

/// xorshift64* (Vigna, 2016): 64 bits of state, full period over the
/// non-zero states.
#[derive(Debug, Clone)]
pub struct XorShift64Star(u64);

impl XorShift64Star {
    /// A generator from `seed`; a zero seed (a fixed point of xorshift) is
    /// replaced by a constant.
    pub const fn new(seed: u64) -> Self {
        XorShift64Star(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }
}

impl rand_core::RngCore for XorShift64Star {
    fn next_u32(&mut self) -> u32 {
        // The high half is the better half of xorshift64*.
        (self.next_u64() >> 32) as u32
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for chunk in dst.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            for (d, s) in chunk.iter_mut().zip(bytes) {
                *d = s;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::RngCore;

    #[test]
    fn same_seed_same_stream_and_zero_is_not_stuck() {
        let (mut a, mut b) = (XorShift64Star::new(5), XorShift64Star::new(5));
        assert_eq!(a.next_u64(), b.next_u64());
        let mut zero = XorShift64Star::new(0);
        let first = zero.next_u64();
        assert_ne!(first, 0);
        assert_ne!(first, zero.next_u64());
        let mut buf = [0u8; 11];
        a.fill_bytes(&mut buf);
        assert!(buf.iter().any(|&x| x != 0));
    }
}
