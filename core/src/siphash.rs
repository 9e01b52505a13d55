//! SipHash-2-4 (Aumasson and Bernstein, 2012): a keyed pseudo-random
//! function with a 128-bit key and a 64-bit output.
//!
//! It is what the address tokens ([`crate::token`]) are made with: a peer
//! sees the tokens we give it, and must not be able to work out the key
//! from them, nor make a valid token for an address it does not receive
//! at. An unkeyed hash (FNV) would let it do both. SipHash is small enough
//! to write here without a dependency, and is pinned by the reference
//! implementation's test vectors below.

/// One SipRound over the four state words.
#[inline]
fn round(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13);
    v[1] ^= v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16);
    v[3] ^= v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21);
    v[3] ^= v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17);
    v[1] ^= v[2];
    v[2] = v[2].rotate_left(32);
}

/// SipHash-2-4 of `msg` under the key `(k0, k1)` (the key's 16 bytes read
/// as two little-endian words).
#[allow(clippy::indexing_slicing)] // fixed indexes 0..4 of a [u64; 4]
pub(crate) fn siphash24(k0: u64, k1: u64, msg: &[u8]) -> u64 {
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    let mut chunks = msg.chunks_exact(8);
    for chunk in chunks.by_ref() {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let m = u64::from_le_bytes(word);
        v[3] ^= m;
        round(&mut v);
        round(&mut v);
        v[0] ^= m;
    }
    // The last word: the remaining bytes, and the length's low byte on top.
    let mut last = [0u8; 8];
    let rest = chunks.remainder();
    if let Some(dst) = last.get_mut(..rest.len()) {
        dst.copy_from_slice(rest);
    }
    last[7] = msg.len() as u8;
    let m = u64::from_le_bytes(last);
    v[3] ^= m;
    round(&mut v);
    round(&mut v);
    v[0] ^= m;
    v[2] ^= 0xff;
    for _ in 0..4 {
        round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The reference key: bytes 00..0f.
    const K0: u64 = 0x0706_0504_0302_0100;
    const K1: u64 = 0x0f0e_0d0c_0b0a_0908;

    /// Message 00, 01, .., n-1, as the reference vectors use.
    fn msg(n: usize) -> std::vec::Vec<u8> {
        (0..n).map(|i| i as u8).collect()
    }

    #[test]
    fn reference_vectors() {
        // `vectors_sip64` of the reference implementation (output bytes
        // read little-endian), and the paper's appendix example (15 bytes).
        let want: [(usize, u64); 5] = [
            (0, 0x726f_db47_dd0e_0e31),
            (1, 0x74f8_39c5_93dc_67fd),
            (2, 0x0d6c_8009_d9a9_4f5a),
            (3, 0x8567_6696_d7fb_7e2d),
            (15, 0xa129_ca61_49be_45e5),
        ];
        for (n, w) in want {
            assert_eq!(siphash24(K0, K1, &msg(n)), w, "{n} bytes");
        }
    }

    proptest! {
        /// The same function as std's SipHasher (SipHash-2-4, deprecated
        /// for hash tables but exact), on any key and message.
        #[test]
        fn matches_std(k0 in any::<u64>(), k1 in any::<u64>(),
                       m in proptest::collection::vec(any::<u8>(), 0..100)) {
            #[allow(deprecated)]
            let mut h = std::hash::SipHasher::new_with_keys(k0, k1);
            std::hash::Hasher::write(&mut h, &m);
            prop_assert_eq!(siphash24(k0, k1, &m), std::hash::Hasher::finish(&h));
        }
    }
}
