//! The one small random number generator of the tests, the examples, the
//! soak tool and the benchmark (no `rand` crate): xorshift64*, fast, never
//! zero, good enough to pick keys, sizes and fault points. Seeded, so a test
//! that prints its seed can be run again the same way.
//!
//! The runtime crate cannot depend on this crate and keeps its own private
//! generator for retry jitter (`antidogpile/src/random.rs`).

/// xorshift64*: 64 bits of state, a full period of `2^64 - 1`.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator seeded with `seed` (any value: it is scrambled, and zero
    /// is never the state).
    pub fn new(seed: u64) -> XorShift {
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// A generator seeded from the time and a per-call address, different
    /// in each thread and each run.
    pub fn from_time() -> XorShift {
        let here = 0u8;
        let time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |since| since.as_nanos() as u64);
        XorShift::new(time ^ (std::ptr::addr_of!(here) as u64).rotate_left(32))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n`, such as an index (`0` when `n` is zero).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// A uniform float in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_repeats_and_two_seeds_differ() {
        let draw = |seed| {
            let mut random = XorShift::new(seed);
            (0..4).map(|_| random.next_u64()).collect::<Vec<_>>()
        };
        assert_eq!(draw(0), draw(0));
        assert_ne!(draw(0), draw(1));
        assert!(draw(0).iter().all(|&x| x != 0));
    }

    #[test]
    fn below_stays_below_and_reaches_every_value() {
        let mut random = XorShift::new(7);
        let mut seen = [0u32; 10];
        for _ in 0..10_000 {
            seen[random.below(10)] += 1;
        }
        // About 1,000 each; a broken generator would leave some far off.
        assert!(seen.iter().all(|&n| (800..1_200).contains(&n)), "{seen:?}");
        assert_eq!(random.below(0), 0);
        let unit = random.next_f64();
        assert!((0.0..1.0).contains(&unit));
    }
}
