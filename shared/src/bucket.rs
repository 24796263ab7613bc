//! Rollout bucketing: xxh3-64 of `salt:flagKey:bucketValue` mapped to `[0, 100000)`.
//!
//! The map is Lemire's multiply-shift with rejection, so every bucket has exactly the same
//! number of preimages among 64-bit hashes (no modulo bias). A rejected hash (probability
//! about 5·10⁻¹⁵) is replaced deterministically by re-hashing the same bytes with seed 1, 2, …
//! so the result stays a pure function of the input on every platform.

use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::model::ROLLOUT_SCALE;

const SCALE: u64 = ROLLOUT_SCALE as u64;
/// `2^64 mod SCALE`: low products below this are the biased ones.
const THRESHOLD: u64 = SCALE.wrapping_neg() % SCALE;

/// The bucket of `bucket_value` for a flag whose precomputed prefix is `salt:flagKey:`.
#[inline]
pub fn bucket(prefix: &[u8], value: &[u8]) -> u32 {
    let mut buf = [0u8; 192];
    let total = prefix.len() + value.len();
    if let Some(dst) = buf.get_mut(..total) {
        let (p, v) = dst.split_at_mut(prefix.len());
        p.copy_from_slice(prefix);
        v.copy_from_slice(value);
        map_to_scale(|seed| xxh3_64_with_seed(dst, seed))
    } else {
        // Rare (a long value): one-shot over a heap copy, which hashes the same as streaming
        // and keeps xxh3's streaming code out of the browser package.
        let joined = [prefix, value].concat();
        map_to_scale(|seed| xxh3_64_with_seed(&joined, seed))
    }
}

#[inline]
fn map_to_scale(hash: impl Fn(u64) -> u64) -> u32 {
    let mut seed = 0;
    loop {
        let m = u128::from(hash(seed)) * u128::from(SCALE);
        // Accept unless the low half falls in the biased sliver; after 8 rejections in a row
        // (never observed; probability ~10⁻¹¹⁴) accept anyway so the loop always ends.
        if (m as u64) >= THRESHOLD || seed >= 8 {
            return (m >> 64) as u32;
        }
        seed += 1;
    }
}

/// The bucket prefix `salt:flagKey:`.
pub fn prefix(salt: &str, flag_key: &str) -> Box<[u8]> {
    let mut p = Vec::with_capacity(salt.len() + flag_key.len() + 2);
    p.extend_from_slice(salt.as_bytes());
    p.push(b':');
    p.extend_from_slice(flag_key.as_bytes());
    p.push(b':');
    p.into_boxed_slice()
}

/// The bucket in `[0, 100000)` a value falls into for a flag with this salt.
pub fn bucket_of(salt: &str, flag_key: &str, bucket_value: &str) -> u32 {
    bucket(&prefix(salt, flag_key), bucket_value.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_in_range_and_stable() {
        let b = bucket_of("salt", "flag", "user-1");
        assert!(b < ROLLOUT_SCALE);
        assert_eq!(b, bucket_of("salt", "flag", "user-1"));
        assert_ne!(bucket_of("salt", "flag", "user-1"), bucket_of("other", "flag", "user-1"));
    }

    #[test]
    fn long_inputs_bucket_as_the_whole_bytes_and_as_the_streaming_hash_did() {
        // Around the stack buffer's 192 bytes and far beyond: the bucket is that of the joined
        // bytes, and the same as hashing the two parts with xxh3's streaming API (what the
        // long path did before, so no stored bucket moves).
        let p = prefix("s", "f");
        for len in [180, 188, 189, 190, 191, 500, 5000] {
            let value = "u".repeat(len);
            let joined = [&p[..], value.as_bytes()].concat();
            let want = map_to_scale(|seed| xxh3_64_with_seed(&joined, seed));
            let streamed = map_to_scale(|seed| {
                let mut h = xxhash_rust::xxh3::Xxh3::with_seed(seed);
                h.update(&p);
                h.update(value.as_bytes());
                h.digest()
            });
            assert_eq!(bucket(&p, value.as_bytes()), want, "{len}");
            assert_eq!(want, streamed, "{len}");
        }
    }
}
