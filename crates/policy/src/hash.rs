//! Bucket hashing for stable percentage splits (R5).
//!
//! A key (user id, client IP, header or cookie value) is placed in one of
//! [`BUCKETS`] buckets:
//!
//! ```text
//! seed   = xxh3_64(salt)
//! bucket = floor(xxh3_64_with_seed(key, seed) * 10000 / 2^64)
//! ```
//!
//! XXH3 is a published, versioned algorithm with a frozen output, so the same
//! key lands in the same bucket in every process, on every platform and in
//! every graygate release (a test pins a vector of ids → buckets). The
//! multiply-shift maps the 64-bit hash onto the buckets without the bias of a
//! modulo. Each split has its own salt, so two experiments pick independent
//! sets of users.

use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

/// Number of buckets: one per basis point (0.01 %).
pub const BUCKETS: u16 = 10_000;

/// The per-split seed derived from its salt; computed once at compile time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Salt(u64);

impl Salt {
    /// Derives the seed of a salt string.
    pub fn new(salt: &str) -> Self {
        Salt(xxh3_64(salt.as_bytes()))
    }

    /// The bucket, in `0..BUCKETS`, of `key` under this salt.
    #[inline]
    pub fn bucket(self, key: &[u8]) -> u16 {
        let h = xxh3_64_with_seed(key, self.0);
        ((u128::from(h) * u128::from(BUCKETS)) >> 64) as u16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed vector of ids → buckets. If this test fails, the hash changed and
    /// every running split would reshuffle its users: that must never ship.
    #[test]
    fn buckets_are_stable_across_releases() {
        let salt = Salt::new("checkout/canary");
        let got: Vec<u16> = ["1", "42", "1001", "user-7", "alice@example.com", ""]
            .iter()
            .map(|id| salt.bucket(id.as_bytes()))
            .collect();
        assert_eq!(got, GOLDEN);
    }
    const GOLDEN: [u16; 6] = [7300, 2121, 207, 5647, 2693, 4441];

    #[test]
    fn different_salts_choose_independent_users() {
        let (a, b) = (Salt::new("exp-a"), Salt::new("exp-b"));
        let n = 100_000u32;
        let both = (0..n)
            .filter(|i| {
                let k = i.to_string();
                a.bucket(k.as_bytes()) < 1000 && b.bucket(k.as_bytes()) < 1000
            })
            .count();
        // Independent 10 % splits overlap on ~1 % of users (not 10 %).
        assert!((800..1200).contains(&both), "overlap {both}");
    }

    #[test]
    fn every_bucket_is_in_range() {
        let s = Salt::new("x");
        assert!((0..50_000u32).all(|i| s.bucket(&i.to_le_bytes()) < BUCKETS));
    }
}
