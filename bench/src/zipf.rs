//! Key popularity for the sustained-load workload: a Zipf distribution over
//! ranks `0..n` drawn with test-support's xorshift generator (no `rand` crate).

use antidogpile_test_support::rng::XorShift;

/// Zipf(s) over ranks `0..n`: rank `k` is drawn with probability
/// proportional to `1 / (k + 1)^s`. Sampled by inverting the cumulative
/// distribution, precomputed once (one `f64` per rank).
#[derive(Debug, Clone)]
pub struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    /// The distribution over `n` ranks (at least one) with exponent `s`.
    pub fn new(n: usize, s: f64) -> Zipf {
        let mut total = 0.0;
        let mut cumulative: Vec<f64> = (1..=n.max(1))
            .map(|rank| {
                total += 1.0 / (rank as f64).powf(s);
                total
            })
            .collect();
        for weight in &mut cumulative {
            *weight /= total;
        }
        Zipf { cumulative }
    }

    /// One rank, `0` being the most popular.
    pub fn sample(&self, random: &mut XorShift) -> u64 {
        let u = random.next_f64();
        let rank = self.cumulative.partition_point(|&c| c <= u);
        rank.min(self.cumulative.len() - 1) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_follow_one_over_k() {
        let zipf = Zipf::new(1_000, 1.0);
        let mut random = XorShift::new(7);
        let mut counts = vec![0u32; 1_000];
        for _ in 0..200_000 {
            counts[zipf.sample(&mut random) as usize] += 1;
        }
        // Rank 0 is drawn about twice as often as rank 1 and ten times as often as rank 9.
        let ratio_1 = f64::from(counts[0]) / f64::from(counts[1]);
        let ratio_9 = f64::from(counts[0]) / f64::from(counts[9]);
        assert!((1.7..2.3).contains(&ratio_1), "{ratio_1}");
        assert!((8.0..12.5).contains(&ratio_9), "{ratio_9}");
        assert!(counts.iter().all(|&c| c < counts[0] + 1));
    }
}
