//! Sealing and opening one 1,400-byte datagram with each of the two AEADs
//! considered for `hearsay_core::seal` (ChaCha20-Poly1305, the one used,
//! and AES-256-GCM), in place and detached as the engine does it: the
//! 8-byte header is the associated data, 1,371 bytes of body are encrypted
//! (1,400 minus the 29-byte envelope).
//!
//! `cargo bench -p benches --bench seal`

use aes_gcm::Aes256Gcm;
use chacha20poly1305::ChaCha20Poly1305;
use chacha20poly1305::aead::generic_array::GenericArray;
use chacha20poly1305::aead::generic_array::typenum::U12;
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const DATAGRAM: usize = 1400;
const BODY: usize = DATAGRAM - 29;

fn seal_open<A: AeadInPlace<NonceSize = U12>>(aead: &A, c: &mut Criterion, name: &str) {
    let header = *b"HS\x03\x81abcd";
    let mut body = [0x5a_u8; BODY];
    let mut sequence = 0u64;
    let mut group = c.benchmark_group("seal_open_1400");
    group.throughput(Throughput::Bytes(DATAGRAM as u64));
    group.bench_function(name, |b| {
        b.iter(|| {
            sequence += 1;
            let mut nonce = [0u8; 12];
            nonce[4..].copy_from_slice(&sequence.to_be_bytes());
            let nonce = GenericArray::from(nonce);
            let tag = aead
                .encrypt_in_place_detached(&nonce, &header, &mut body)
                .expect("seal");
            aead.decrypt_in_place_detached(&nonce, &header, &mut body, &tag)
                .expect("open");
            std::hint::black_box(&body);
        })
    });
    group.finish();
}

fn bench(c: &mut Criterion) {
    let key = [7u8; 32];
    seal_open(&ChaCha20Poly1305::new(&key.into()), c, "chacha20poly1305");
    seal_open(&Aes256Gcm::new(&key.into()), c, "aes256gcm");
}

criterion_group!(benches, bench);
criterion_main!(benches);
