//! Workload 1, the in-process hit path: a memoized function with a small key
//! and a ~100-byte `String` value, 1,000 keys, every call a fresh hit, at one
//! and two threads. The floor is a `DashMap` get plus a clone of the value.

use std::hint::black_box;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use antidogpile::antidogpiled;
use antidogpile_test_support::naive_ttl::NaiveTtlCache;
use cached::cached;
use dashmap::DashMap;

use crate::measure::on_threads;
use crate::progress::Progress;

/// How many distinct keys are called.
pub const KEYS: u64 = 1_000;
/// The thread counts measured.
pub const THREADS: [usize; 2] = [1, 2];

/// The value of a key: 100 bytes.
pub fn value(key: u64) -> String {
    format!("{key:0>100}")
}

#[antidogpiled(soft = "1h")]
fn antidogpile_hit(key: u64) -> String {
    value(key)
}

/// The same, as an `async fn`: awaited in a loop on a `current_thread`
/// runtime (one runtime per measuring thread).
#[antidogpiled(soft = "1h")]
async fn antidogpile_async_hit(key: u64) -> String {
    value(key)
}

#[cached(ttl = 3600)]
fn cached_hit(key: u64) -> String {
    value(key)
}

static DASHMAP: LazyLock<DashMap<u64, String>> = LazyLock::new(DashMap::new);
static QUICK_CACHE: LazyLock<quick_cache::sync::Cache<u64, String>> =
    LazyLock::new(|| quick_cache::sync::Cache::new(KEYS as usize * 2));
static MOKA: LazyLock<moka::sync::Cache<u64, String>> = LazyLock::new(|| {
    moka::sync::Cache::builder()
        .time_to_live(Duration::from_secs(3600))
        .build()
});
static NAIVE: LazyLock<NaiveTtlCache<u64, String>> =
    LazyLock::new(|| NaiveTtlCache::new(Duration::from_secs(3600)));

/// The contenders, in the order of the table; the first is the floor.
pub const CACHES: [&str; 7] = [
    "DashMap get + clone (floor)",
    "quick_cache `get`",
    "moka sync `get_with`",
    "cached `#[cached(ttl)]`",
    "naive TTL cache (RwLock)",
    "antidogpile `#[antidogpiled]`",
    "antidogpile `#[antidogpiled] async fn`, awaited",
];

/// The row of antidogpile's sync hit, which the others are compared with.
pub const ANTIDOGPILE: usize = 5;
/// The row of antidogpile's async hit.
pub const ANTIDOGPILE_ASYNC: usize = 6;

fn call(cache: usize, key: u64) -> String {
    match cache {
        0 => DASHMAP.get(&key).map(|v| v.clone()).unwrap_or_default(),
        1 => QUICK_CACHE.get(&key).unwrap_or_default(),
        2 => MOKA.get_with(key, || value(key)),
        3 => cached_hit(key),
        4 => NAIVE.get_or_compute(key, || value(key)),
        _ => antidogpile_hit(key),
    }
}

/// ns per awaited call of the async contender: each thread awaits `calls`
/// calls in one `block_on` of a `current_thread` runtime of its own.
fn ns_per_async_call(threads: usize, calls: u64) -> f64 {
    let total: Duration = on_threads(threads, |t, start| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current_thread runtime");
        start.wait();
        runtime.block_on(async {
            let begin = Instant::now();
            let mut key = t as u64 * 7919;
            for _ in 0..calls {
                key = (key + 7919) % KEYS;
                black_box(antidogpile_async_hit(black_box(key)).await);
            }
            begin.elapsed()
        })
    })
    .into_iter()
    .sum();
    total.as_nanos() as f64 / (threads as u64 * calls) as f64
}

/// ns per call of one contender, each of `threads` threads making `calls` calls.
/// The contender is chosen outside the loop so each loop is monomorphic.
fn ns_per_call(threads: usize, calls: u64, cache: usize) -> f64 {
    fn run<F: Fn(u64) -> String + Sync>(threads: usize, calls: u64, f: F) -> f64 {
        let total: Duration = on_threads(threads, |t, start| {
            start.wait();
            let begin = Instant::now();
            let mut key = t as u64 * 7919;
            for _ in 0..calls {
                key = (key + 7919) % KEYS;
                black_box(f(black_box(key)));
            }
            begin.elapsed()
        })
        .into_iter()
        .sum();
        total.as_nanos() as f64 / (threads as u64 * calls) as f64
    }
    match cache {
        0 => run(threads, calls, |k| call(0, k)),
        1 => run(threads, calls, |k| call(1, k)),
        2 => run(threads, calls, |k| call(2, k)),
        3 => run(threads, calls, |k| call(3, k)),
        4 => run(threads, calls, |k| call(4, k)),
        ANTIDOGPILE_ASYNC => ns_per_async_call(threads, calls),
        _ => run(threads, calls, |k| call(5, k)),
    }
}

/// ns per call, `[contender][thread count]`, best of `rounds` interleaved runs.
pub fn run(calls: u64, rounds: usize, progress: &mut Progress) -> Vec<[f64; 2]> {
    for key in 0..KEYS {
        DASHMAP.insert(key, value(key));
        QUICK_CACHE.insert(key, value(key));
        for cache in 0..ANTIDOGPILE_ASYNC {
            call(cache, key); // the cold miss of every memoizing contender
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current_thread runtime");
    runtime.block_on(async {
        for key in 0..KEYS {
            antidogpile_async_hit(key).await;
        }
    });
    let mut best = vec![[f64::MAX; 2]; CACHES.len()];
    for round in 0..rounds {
        for (column, &threads) in THREADS.iter().enumerate() {
            progress.step(&format!(
                "hit path, {threads} thread(s), round {}/{rounds}",
                round + 1
            ));
            for (cache, row) in best.iter_mut().enumerate() {
                row[column] = row[column].min(ns_per_call(threads, calls, cache));
            }
        }
    }
    best
}
