//! BLAKE2b-256, for the `blake2_256_digest` field of a PyPI upload, through RustCrypto's `blake2`.

use blake2::{Blake2b256, Digest};

/// The BLAKE2b digest of 32 bytes (Python's `hashlib.blake2b(digest_size=32)`), as lower-case hex.
pub fn blake2b_256_hex(bytes: &[u8]) -> String {
    hex::encode(Blake2b256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b2(out: usize, data: &[u8]) -> String {
        if out == 64 {
            return hex::encode(blake2::Blake2b512::digest(data));
        }
        blake2b_256_hex(data)
    }

    #[test]
    fn matches_the_reference_vectors() {
        // RFC 7693 appendix A.
        assert_eq!(
            b2(64, b"abc"),
            "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d17d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923"
        );
        assert_eq!(
            b2(32, b""),
            "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8"
        );
        // Python's hashlib.blake2b(digest_size=32): several blocks, and exactly one block.
        let data: Vec<u8> = (0..5).flat_map(|_| 0..=255u8).collect();
        assert_eq!(
            b2(32, &data),
            "82628cbfc9689e234b0923a531f4578fe2e7138a03e2f81ed6cde97517336650"
        );
        assert_eq!(
            b2(32, &[0u8; 128]),
            "378d0caaaa3855f1b38693c1d6ef004fd118691c95c959d4efa950d6d6fcf7c1"
        );
    }
}
