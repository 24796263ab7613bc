//! MurmurHash3 x86_32 and Unleash's bucketing on top of it, so flags imported from Unleash put
//! every user in exactly the bucket Unleash did. Native Vane rollouts use xxh3 ([`crate::bucket`]).
//!
//! Unleash: `normalized(group, id, n, seed) = murmur3_x86_32("{group}:{id}", seed) % n + 1`
//! over the UTF-8 bytes. Strategy percentages use seed 0 and `n = 100`; variants use seed
//! [`VARIANT_SEED`] and `n` = the sum of the variant weights.

/// The seed Unleash uses for variant selection.
pub const VARIANT_SEED: u32 = 86_028_157;

const C1: u32 = 0xcc9e_2d51;
const C2: u32 = 0x1b87_3593;

#[inline]
fn mix_k(mut k: u32) -> u32 {
    k = k.wrapping_mul(C1);
    k = k.rotate_left(15);
    k.wrapping_mul(C2)
}

#[inline]
fn block(h: u32, k: u32) -> u32 {
    (h ^ mix_k(k)).rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64)
}

/// MurmurHash3 x86_32 of the concatenation of `parts` (no buffer needed to join them).
pub fn murmur3_x86_32(parts: &[&[u8]], seed: u32) -> u32 {
    let mut m = Murmur::new(seed);
    for part in parts {
        m.update(part);
    }
    m.finish()
}

/// MurmurHash3 x86_32 fed in pieces. `Copy`: a compiled Unleash rollout keeps the state after
/// its `group_id:` prefix, so evaluation hashes only the user's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Murmur {
    h: u32,
    /// Bytes read so far (mixed in modulo 2^32, as the reference does).
    len: u32,
    /// The bytes of an incomplete block, little-endian, and how many there are (0–3).
    pending: u32,
    pending_len: u32,
}

impl Murmur {
    pub fn new(seed: u32) -> Self {
        Murmur { h: seed, len: 0, pending: 0, pending_len: 0 }
    }

    /// Reads `part` four bytes at a time (a block split with the previous part is put
    /// together byte by byte).
    #[inline]
    pub fn update(&mut self, part: &[u8]) {
        self.len = self.len.wrapping_add(part.len() as u32);
        let mut rest = part;
        while self.pending_len > 0 {
            let Some((&b, after)) = rest.split_first() else { return };
            self.pending |= u32::from(b) << (8 * self.pending_len);
            self.pending_len += 1;
            rest = after;
            if self.pending_len == 4 {
                self.h = block(self.h, self.pending);
                (self.pending, self.pending_len) = (0, 0);
            }
        }
        let mut chunks = rest.chunks_exact(4);
        for c in &mut chunks {
            // Always four bytes.
            self.h = block(self.h, u32::from_le_bytes(<[u8; 4]>::try_from(c).unwrap_or_default()));
        }
        for &b in chunks.remainder() {
            self.pending |= u32::from(b) << (8 * self.pending_len);
            self.pending_len += 1;
        }
    }

    /// The hash of everything read.
    #[inline]
    pub fn finish(self) -> u32 {
        let mut h = self.h;
        if self.pending_len > 0 {
            h ^= mix_k(self.pending);
        }
        h ^= self.len;
        h ^= h >> 16;
        h = h.wrapping_mul(0x85eb_ca6b);
        h ^= h >> 13;
        h = h.wrapping_mul(0xc2b2_ae35);
        h ^ (h >> 16)
    }

    /// The hash of everything read, then `rest`.
    #[inline]
    pub fn hash_with(mut self, rest: &[u8]) -> u32 {
        self.update(rest);
        self.finish()
    }
}

/// Unleash's normalised value in `1..=modulus` of `group:id` (0 when `modulus` is 0).
pub fn normalized(group: &str, id: &str, modulus: u32, seed: u32) -> u32 {
    if modulus == 0 {
        return 0;
    }
    murmur3_x86_32(&[group.as_bytes(), b":", id.as_bytes()], seed) % modulus + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_vectors() {
        // Published MurmurHash3 x86_32 vectors and the Unleash client specification's cases.
        assert_eq!(murmur3_x86_32(&[b""], 0), 0);
        assert_eq!(murmur3_x86_32(&[b""], 1), 0x514e_28b7);
        assert_eq!(murmur3_x86_32(&[b""], 0xffff_ffff), 0x81f1_6f39);
        assert_eq!(murmur3_x86_32(&[b"hello"], 0), 0x248b_fa47);
        assert_eq!(murmur3_x86_32(&[b"Hello, world!"], 1234), 0xfaf6_cdb3);
        assert_eq!(murmur3_x86_32(&[b"The quick brown fox jumps over the lazy dog"], 0), 0x2e4f_f723);
        assert_eq!(murmur3_x86_32(&[b"Feature.flexibleRollout.10:174"], 0), 0xb6dd_ee0d);
        assert_eq!(murmur3_x86_32(&[b"Feature.Variants.C:607"], VARIANT_SEED), 0x0dca_f523);
    }

    #[test]
    fn parts_hash_like_their_concatenation() {
        let whole = b"group-id:some user id with a tail";
        for cut in 0..whole.len() {
            let (a, b) = whole.split_at(cut);
            assert_eq!(murmur3_x86_32(&[a, b], 7), murmur3_x86_32(&[whole], 7), "cut at {cut}");
        }
    }

    /// The reference algorithm byte by byte over the joined input.
    fn bytewise(data: &[u8], seed: u32) -> u32 {
        let mut h = seed;
        let blocks = data.len() / 4 * 4;
        for i in (0..blocks).step_by(4) {
            h = block(h, u32::from_le_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]));
        }
        let mut k = 0u32;
        for (i, &b) in data[blocks..].iter().enumerate() {
            k |= u32::from(b) << (8 * i);
        }
        if data.len() > blocks {
            h ^= mix_k(k);
        }
        h ^= data.len() as u32;
        h ^= h >> 16;
        h = h.wrapping_mul(0x85eb_ca6b);
        h ^= h >> 13;
        h = h.wrapping_mul(0xc2b2_ae35);
        h ^ (h >> 16)
    }

    #[test]
    fn every_length_and_split_agrees_with_the_bytewise_reference() {
        let data: Vec<u8> = (0u32..40).map(|i| (i * 37 + 11) as u8).collect();
        for n in 0..data.len() {
            let d = &data[..n];
            let want = bytewise(d, VARIANT_SEED);
            assert_eq!(murmur3_x86_32(&[d], VARIANT_SEED), want, "length {n}");
            for i in 0..=n {
                for j in i..=n {
                    let parts = [&d[..i], &d[i..j], &d[j..]];
                    assert_eq!(murmur3_x86_32(&parts, VARIANT_SEED), want, "length {n}, cuts {i} {j}");
                }
            }
        }
        assert_eq!(murmur3_x86_32(&[], 3), bytewise(b"", 3));
    }

    #[test]
    fn normalisation_matches_unleash() {
        // The rollout boundaries of the specification (10%, 55%, 42%) and the `+ 1`.
        assert_eq!(normalized("Feature.flexibleRollout.10", "174", 100, 0), 10);
        assert_eq!(normalized("Feature.flexibleRollout.10", "499", 100, 0), 32);
        assert_eq!(normalized("Feature.flexibleRollout.userId.55", "25", 100, 0), 55);
        assert_eq!(normalized("Feature.flexibleRollout.sessionId.42", "147", 100, 0), 42);
        assert_eq!(normalized("AB12A", "122", 100, 0), 23);
        assert_eq!(normalized("AB12A", "155", 100, 0), 100);
        assert_eq!(normalized("boundary", "28", 100, 0), 50);
        assert_eq!(normalized("boundary", "68", 100, 0), 51);
        assert_eq!(normalized("boundary", "17", 100, 0), 1);
        assert_eq!(normalized("boundary", "40", 100, 0), 100);
        // Variants: seed 86028157 over the weight total.
        assert_eq!(normalized("Feature.Variants.C", "607", 99, VARIANT_SEED), 58);
        assert_eq!(normalized("Feature.Variants.D", "712", 100, VARIANT_SEED), 1);
        assert_eq!(normalized("boundary", "897", 1000, VARIANT_SEED), 333);
        assert_eq!(normalized("boundary", "1117", 1000, VARIANT_SEED), 334);
        assert_eq!(normalized("boundary", "1083", 1000, VARIANT_SEED), 1);
        assert_eq!(normalized("boundary", "532", 1000, VARIANT_SEED), 1000);
        assert_eq!(normalized("x", "y", 0, 0), 0);
    }
}
