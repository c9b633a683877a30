//! HMAC-SHA256 (RFC 2104, FIPS 180-4) for [`crate::token`], written small:
//! the `hmac` and `sha2` crates (an unrolled compression function and the
//! `digest` traits' generic plumbing) cost the Wasm module about 5 KiB for
//! one MAC per upgrade. Unit tests check it against those crates (now
//! dev-dependencies) and RFC 4231's test vectors.

/// The first 32 bits of the fractional parts of the cube roots of the
/// first 64 primes (FIPS 180-4 §4.2.2).
const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/// The initial hash value (FIPS 180-4 §5.3.3).
const H0: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// A SHA-256 computation in progress.
struct Sha256 {
    state: [u32; 8],
    block: [u8; 64],
    /// Bytes hashed so far.
    len: u64,
}

impl Sha256 {
    fn new() -> Self {
        Sha256 {
            state: H0,
            block: [0; 64],
            len: 0,
        }
    }

    fn update(&mut self, data: &[u8]) {
        for &byte in data {
            self.block[(self.len % 64) as usize] = byte;
            self.len += 1;
            if self.len % 64 == 0 {
                self.compress();
            }
        }
    }

    fn finish(mut self) -> [u8; 32] {
        let bits = self.len.wrapping_mul(8);
        self.update(&[0x80]);
        while self.len % 64 != 56 {
            self.update(&[0]);
        }
        self.update(&bits.to_be_bytes());
        let mut digest = [0; 32];
        for (out, word) in digest.chunks_exact_mut(4).zip(self.state) {
            out.copy_from_slice(&word.to_be_bytes());
        }
        digest
    }

    /// FIPS 180-4 §6.2.2, on the full block.
    fn compress(&mut self) {
        let mut w = [0u32; 64];
        for (word, bytes) in w.iter_mut().zip(self.block.chunks_exact(4)) {
            *word = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        }
        for t in 16..64 {
            let s0 = w[t - 15].rotate_right(7) ^ w[t - 15].rotate_right(18) ^ (w[t - 15] >> 3);
            let s1 = w[t - 2].rotate_right(17) ^ w[t - 2].rotate_right(19) ^ (w[t - 2] >> 10);
            w[t] = w[t - 16]
                .wrapping_add(s0)
                .wrapping_add(w[t - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = self.state;
        for (&k, &w) in K.iter().zip(&w) {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = h
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(k)
                .wrapping_add(w);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            h = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (state, value) in self.state.iter_mut().zip([a, b, c, d, e, f, g, h]) {
            *state = state.wrapping_add(value);
        }
    }
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(data);
    hash.finish()
}

/// HMAC-SHA256 of `message` under `key` (any length: one longer than the
/// 64-byte block is hashed first, RFC 2104 §2).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&sha256(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| {
        let mut hash = Sha256::new();
        hash.update(&block.map(|k| k ^ byte));
        hash
    };
    let mut inner = pad(0x36);
    inner.update(message);
    let mut outer = pad(0x5c);
    outer.update(&inner.finish());
    outer.finish()
}

/// Whether `tag` equals `expected`, in time that depends on their lengths
/// only (a comparison that stopped at the first difference would tell a
/// forger how much of a signature is right).
pub fn same_tag(tag: &[u8], expected: &[u8]) -> bool {
    let diff = tag
        .iter()
        .zip(expected)
        .fold(0u8, |diff, (a, b)| core::hint::black_box(diff | (a ^ b)));
    tag.len() == expected.len() && diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, Mac};
    use proptest::collection::vec;
    use proptest::prelude::*;
    use sha2::{Digest, Sha256 as Reference};

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn rfc_4231_test_vectors() {
        let cases: [(&[u8], &[u8], &str); 4] = [
            (
                &[0x0b; 20],
                b"Hi There",
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            ),
            (
                b"Jefe",
                b"what do ya want for nothing?",
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First",
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
            (
                &[0xaa; 20],
                &[0xdd; 50],
                "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
            ),
        ];
        for (key, message, mac) in cases {
            assert_eq!(hex(&hmac_sha256(key, message)), mac);
        }
        assert_eq!(
            hex(&sha256(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn tags_are_compared_whole() {
        assert!(same_tag(&[1, 2, 3], &[1, 2, 3]));
        assert!(!same_tag(&[1, 2, 3], &[1, 2, 4]));
        assert!(!same_tag(&[1, 2, 3], &[1, 2]));
        assert!(!same_tag(&[1, 2], &[1, 2, 3]));
        assert!(same_tag(&[], &[]));
    }

    proptest! {
        /// The same digests and MACs as the `sha2` and `hmac` crates, for
        /// messages across block boundaries and keys of any length.
        #[test]
        fn hashes_like_the_rustcrypto_crates(
            key in vec(any::<u8>(), 0..150),
            message in vec(any::<u8>(), 0..300),
        ) {
            prop_assert_eq!(sha256(&message).to_vec(), Reference::digest(&message).to_vec());
            let mut mac = Hmac::<Reference>::new_from_slice(&key).expect("any key length");
            mac.update(&message);
            prop_assert_eq!(hmac_sha256(&key, &message).to_vec(), mac.finalize().into_bytes().to_vec());
        }
    }
}
