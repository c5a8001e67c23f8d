//! Workload 3, sustained load: 100,000 keys with Zipf(1.0) popularity, a
//! 1 s soft TTL so thousands of keys expire during the run, a 200 µs compute
//! (a fast backend). Computes are compared with the ideal: one per key at
//! its first call and one per key each time it is called after its value
//! aged past the TTL.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use antidogpile::antidogpiled;
use antidogpile_test_support::naive_ttl::NaiveTtlCache;
use antidogpile_test_support::rng::XorShift;
use cached::cached;

use crate::hit_path::value;
use crate::measure::{nanos, on_threads, Summary};
use crate::progress::Progress;
use crate::zipf::Zipf;

/// Distinct keys.
pub const KEYS: usize = 100_000;
/// How long a value is fresh.
pub const TTL: Duration = Duration::from_secs(1);
/// How long a compute takes.
pub const COMPUTE: Duration = Duration::from_micros(200);
/// Callers, each calling without pause.
pub const THREADS: usize = 16;

static COMPUTES: AtomicU64 = AtomicU64::new(0);
/// Every compute as (key, start, end).
static SPANS: Mutex<Vec<(u64, Instant, Instant)>> = Mutex::new(Vec::new());

fn compute(key: u64) -> String {
    COMPUTES.fetch_add(1, Ordering::Relaxed);
    let start = Instant::now();
    std::thread::sleep(COMPUTE);
    SPANS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((key, start, Instant::now()));
    value(key)
}

/// Computes that started while another compute of the same key was still
/// running: the dogpile, independent of how each cache counts its TTL.
pub fn duplicates(mut spans: Vec<(u64, Instant, Instant)>) -> u64 {
    spans.sort_unstable();
    let mut duplicates = 0;
    let mut running: Option<(u64, Instant)> = None;
    for (key, start, end) in spans {
        match running {
            Some((k, until)) if k == key && start < until => {
                duplicates += 1;
                running = Some((key, until.max(end)));
            }
            _ => running = Some((key, end)),
        }
    }
    duplicates
}

#[antidogpiled(soft = "1s", factor = 10, grace = "5s")]
fn antidogpile_load(key: u64) -> String {
    compute(key)
}

#[cached(ttl = 1)]
fn cached_load(key: u64) -> String {
    compute(key)
}

#[cached(ttl = 1, sync_writes = "by_key")]
fn cached_load_by_key(key: u64) -> String {
    compute(key)
}

static NAIVE: LazyLock<NaiveTtlCache<u64, String>> = LazyLock::new(|| NaiveTtlCache::new(TTL));
static MOKA: LazyLock<moka::sync::Cache<u64, String>> =
    LazyLock::new(|| moka::sync::Cache::builder().time_to_live(TTL).build());

/// The contenders, in the order of the table.
pub const CACHES: [&str; 5] = [
    "naive TTL cache",
    "moka `get_with`",
    "cached `ttl`",
    "cached `ttl` + `sync_writes = \"by_key\"`",
    "antidogpile",
];

fn call(cache: usize, key: u64) -> String {
    match cache {
        0 => NAIVE.get_or_compute(key, || compute(key)),
        1 => MOKA.get_with(key, || compute(key)),
        2 => cached_load(key),
        3 => cached_load_by_key(key),
        _ => antidogpile_load(key),
    }
}

/// What one contender did.
#[derive(Debug)]
pub struct Row {
    /// Computes run.
    pub computes: u64,
    /// Computes a perfect cache would have run for the same calls.
    pub ideal: u64,
    /// Computes that overlapped a compute of the same key.
    pub duplicates: u64,
    /// Calls made.
    pub calls: usize,
    /// Calls per second, all threads together.
    pub throughput: f64,
    /// Latency of the calls.
    pub latency: Summary,
}

/// One call: the key (rank), its start in µs since the run began, its latency in ns.
type Call = (u32, u32, u64);

/// The computes of a perfect cache: a key computes at its first call and at
/// each call that comes `TTL` or more after its last compute.
pub fn ideal_computes(calls: &mut [(u32, u32)], ttl_us: u32) -> u64 {
    calls.sort_unstable();
    let mut computes = 0;
    let mut fresh_until: Option<(u32, u32)> = None;
    for &(key, at) in calls.iter() {
        match fresh_until {
            Some((k, until)) if k == key && at < until => {}
            _ => {
                computes += 1;
                fresh_until = Some((key, at.saturating_add(ttl_us)));
            }
        }
    }
    computes
}

/// Runs every contender for `duration` each.
pub fn run(duration: Duration, progress: &mut Progress) -> Vec<Row> {
    let zipf = Zipf::new(KEYS, 1.0);
    (0..CACHES.len())
        .map(|cache| {
            progress.step(&format!("sustained load: {}", CACHES[cache]));
            run_one(cache, &zipf, duration)
        })
        .collect()
}

fn run_one(cache: usize, zipf: &Zipf, duration: Duration) -> Row {
    let before = COMPUTES.load(Ordering::Relaxed);
    SPANS.lock().unwrap_or_else(|e| e.into_inner()).clear();
    let begin = Instant::now();
    let calls: Vec<Vec<Call>> = on_threads(THREADS, |t, start| {
        let mut random = XorShift::new(t as u64 + 1);
        let mut calls = Vec::with_capacity(1 << 16);
        start.wait();
        loop {
            let at = begin.elapsed();
            if at >= duration {
                break calls;
            }
            let key = zipf.sample(&mut random);
            let t0 = Instant::now();
            std::hint::black_box(call(cache, key));
            calls.push((key as u32, at.as_micros() as u32, nanos(t0.elapsed())));
        }
    });
    let elapsed = begin.elapsed();
    let computes = COMPUTES.load(Ordering::Relaxed) - before;
    let mut latencies: Vec<u64> = calls.iter().flatten().map(|c| c.2).collect();
    let mut keyed: Vec<(u32, u32)> = calls.iter().flatten().map(|c| (c.0, c.1)).collect();
    drop(calls);
    Row {
        computes,
        ideal: ideal_computes(&mut keyed, TTL.as_micros() as u32),
        duplicates: duplicates(std::mem::take(
            &mut *SPANS.lock().unwrap_or_else(|e| e.into_inner()),
        )),
        calls: latencies.len(),
        throughput: latencies.len() as f64 / elapsed.as_secs_f64(),
        latency: Summary::of(&mut latencies),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ideal_is_one_compute_per_key_per_ttl() {
        let mut calls = vec![(1, 0), (2, 5), (1, 50), (1, 100), (1, 150), (2, 99)];
        // key 1: computes at 0 and 100; key 2: at 5.
        assert_eq!(ideal_computes(&mut calls, 100), 3);
    }

    #[test]
    fn duplicates_are_overlapping_computes_of_one_key() {
        let t = Instant::now();
        let at = |ms: u64| t + Duration::from_millis(ms);
        let spans = vec![
            (1, at(0), at(10)),
            (1, at(5), at(15)),  // overlaps the first
            (1, at(12), at(20)), // overlaps the second
            (1, at(30), at(40)),
            (2, at(5), at(10)), // another key
        ];
        assert_eq!(duplicates(spans), 2);
    }
}
