//! Percentiles, how durations are printed, and the callers' threads.

use std::sync::Barrier;
use std::time::Duration;

/// Runs `caller(t, start)` on `threads` scoped threads, `t` from 0, and
/// returns what each returned, in order; `start` is a barrier of them all,
/// which each caller waits on when it is ready to start.
pub fn on_threads<T: Send>(threads: usize, caller: impl Fn(usize, &Barrier) -> T + Sync) -> Vec<T> {
    let start = Barrier::new(threads);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (caller, start) = (&caller, &start);
                scope.spawn(move || caller(t, start))
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a caller panicked"))
            .collect()
    })
}

/// Latency figures of a set of calls, in nanoseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Summary {
    /// How many calls.
    pub count: usize,
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Slowest.
    pub max: u64,
}

impl Summary {
    /// The figures of `latencies` (nanoseconds, any order; sorted in place).
    pub fn of(latencies: &mut [u64]) -> Summary {
        latencies.sort_unstable();
        Summary {
            count: latencies.len(),
            p50: percentile(latencies, 0.50),
            p99: percentile(latencies, 0.99),
            p999: percentile(latencies, 0.999),
            max: latencies.last().copied().unwrap_or(0),
        }
    }
}

/// The `p` quantile (0..=1) of sorted values; 0 when there are none.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Nanoseconds of a duration, saturating.
pub fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// `39.2 ns`, `13.1 µs`, `50.2 ms`, `1.20 s`; `–` for no calls.
pub fn show_ns(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.2} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.1} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}

/// [`show_ns`] for a figure of a set of calls that may be empty.
pub fn show_of(summary: &Summary, figure: u64) -> String {
    if summary.count == 0 {
        "–".to_owned()
    } else {
        show_ns(figure as f64)
    }
}

/// `1.23×`.
pub fn ratio(ours: f64, theirs: f64) -> String {
    if theirs <= 0.0 {
        "–".to_owned()
    } else {
        format!("{:.2}×", ours / theirs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_hundred() {
        let mut values: Vec<u64> = (1..=100).rev().collect();
        let summary = Summary::of(&mut values);
        assert_eq!((summary.p50, summary.p99, summary.max), (51, 99, 100));
        assert_eq!(Summary::of(&mut []).count, 0);
    }

    #[test]
    fn units() {
        assert_eq!(show_ns(39.24), "39.2 ns");
        assert_eq!(show_ns(13_100.0), "13.1 µs");
        assert_eq!(show_ns(50_200_000.0), "50.2 ms");
    }
}
