//! Re-entrancy: a memoized function that, on a cold miss, calls itself with
//! the same key (directly, or through another memoized function) must not
//! wait for its own lease (a minute of grace here). The inner call computes
//! without the cache, at once, as the function would without memoization.
//! A value whose own code (`Clone`) calls the cache is served without
//! deadlock: no user code runs under a store's lock.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use antidogpile::{antidogpiled, install_named, store::MemoryStore, Cache};
use common::memcached::Memcached;
use serde::{Deserialize, Serialize};

/// What the issue asks: a re-entrant call returns within a second.
const AT_ONCE: Duration = Duration::from_secs(1);

/// Runs `call` on a thread of its own; its result, or `None` if it did not
/// return within [`AT_ONCE`] (the old code waited out the grace).
fn within_a_second<T: Send + 'static>(call: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    antidogpile_test_support::within(AT_ONCE, call)
}

static DIRECT: AtomicU64 = AtomicU64::new(0);

/// `nested` is not part of the key: the inner call has the outer's key.
#[antidogpiled(
    soft = "1h",
    grace = "60s",
    cache = "reentrant_direct",
    name = "reentrant::direct",
    skip(nested)
)]
fn direct(x: u64, nested: bool) -> u64 {
    DIRECT.fetch_add(1, Ordering::SeqCst);
    if nested {
        x
    } else {
        direct(x, true) + 1
    }
}

#[test]
fn a_function_calling_itself_with_its_own_key_does_not_wait_for_itself() {
    install_named("reentrant_direct", Cache::new(MemoryStore::new()));
    let started = Instant::now();
    let value = within_a_second(|| direct(7, false));
    assert_eq!(
        value,
        Some(8),
        "the re-entrant call waited for its own lease ({:?} and counting)",
        started.elapsed()
    );
    assert_eq!(DIRECT.load(Ordering::SeqCst), 2, "outer and inner computed");
    // The outer call's value was cached as usual.
    assert_eq!(direct(7, false), 8);
    assert_eq!(DIRECT.load(Ordering::SeqCst), 2);
    let stats = antidogpile::stats("reentrant::direct").unwrap();
    assert_eq!((stats.misses, stats.fresh_hits, stats.computes), (2, 1, 2));
}

static CYCLE: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(
    soft = "1h",
    grace = "60s",
    cache = "reentrant_cycle",
    name = "reentrant::outer",
    skip(depth)
)]
fn outer(x: u64, depth: u32) -> u64 {
    CYCLE.fetch_add(1, Ordering::SeqCst);
    if depth > 0 {
        x
    } else {
        inner(x) * 10
    }
}

#[antidogpiled(
    soft = "1h",
    grace = "60s",
    cache = "reentrant_cycle",
    name = "reentrant::inner"
)]
fn inner(x: u64) -> u64 {
    CYCLE.fetch_add(1, Ordering::SeqCst);
    outer(x, 1) + 1
}

#[test]
fn a_cycle_through_a_second_function_does_not_wait_for_itself() {
    install_named("reentrant_cycle", Cache::new(MemoryStore::new()));
    let started = Instant::now();
    let value = within_a_second(|| outer(3, 0));
    assert_eq!(
        value,
        Some(40),
        "outer -> inner -> outer waited for outer's own lease ({:?} and counting)",
        started.elapsed()
    );
    assert_eq!(CYCLE.load(Ordering::SeqCst), 3);
}

static DIRECT_ASYNC: AtomicU64 = AtomicU64::new(0);

/// A boxed recursive call: an `async fn` cannot await itself unboxed.
fn direct_async_boxed(x: u64) -> Pin<Box<dyn Future<Output = u64> + Send>> {
    Box::pin(direct_async(x, true))
}

#[antidogpiled(
    soft = "1h",
    grace = "60s",
    cache = "reentrant_direct_async",
    name = "reentrant::direct_async",
    skip(nested)
)]
async fn direct_async(x: u64, nested: bool) -> u64 {
    DIRECT_ASYNC.fetch_add(1, Ordering::SeqCst);
    // Crosses an await, so the task may move between threads.
    tokio::time::sleep(Duration::from_millis(5)).await;
    if nested {
        x
    } else {
        direct_async_boxed(x).await + 1
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_function_calling_itself_with_its_own_key_does_not_wait_for_itself() {
    install_named("reentrant_direct_async", Cache::new(MemoryStore::new()));
    let started = Instant::now();
    let value = tokio::time::timeout(AT_ONCE, direct_async(7, false)).await;
    assert_eq!(
        value,
        Ok(8),
        "the re-entrant call waited for its own lease ({:?})",
        started.elapsed()
    );
    assert_eq!(DIRECT_ASYNC.load(Ordering::SeqCst), 2);
    assert_eq!(direct_async(7, false).await, 8, "the outer value is cached");
    assert_eq!(DIRECT_ASYNC.load(Ordering::SeqCst), 2);
}

static CYCLE_ASYNC: AtomicU64 = AtomicU64::new(0);

fn outer_async_boxed(x: u64) -> Pin<Box<dyn Future<Output = u64> + Send>> {
    Box::pin(outer_async(x, 1))
}

#[antidogpiled(
    soft = "1h",
    grace = "60s",
    cache = "reentrant_cycle_async",
    name = "reentrant::outer_async",
    skip(depth)
)]
async fn outer_async(x: u64, depth: u32) -> u64 {
    CYCLE_ASYNC.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(5)).await;
    if depth > 0 {
        x
    } else {
        inner_async(x).await * 10
    }
}

#[antidogpiled(
    soft = "1h",
    grace = "60s",
    cache = "reentrant_cycle_async",
    name = "reentrant::inner_async"
)]
async fn inner_async(x: u64) -> u64 {
    CYCLE_ASYNC.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(5)).await;
    outer_async_boxed(x).await + 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_cycle_through_a_second_function_does_not_wait_for_itself() {
    install_named("reentrant_cycle_async", Cache::new(MemoryStore::new()));
    let started = Instant::now();
    let value = tokio::time::timeout(AT_ONCE, outer_async(3, 0)).await;
    assert_eq!(
        value,
        Ok(40),
        "outer -> inner -> outer waited for outer's own lease ({:?})",
        started.elapsed()
    );
    assert_eq!(CYCLE_ASYNC.load(Ordering::SeqCst), 3);
}

/// A sync memoized function called from inside an async compute of the same
/// key (through the client, which shares the key space): the same thread is
/// polling the holder, so waiting would be waiting for itself.
#[test]
fn a_sync_call_inside_an_async_compute_of_the_same_key_does_not_wait_for_it() {
    let started = Instant::now();
    let value = within_a_second(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_time()
            .build()
            .unwrap();
        let cache = std::sync::Arc::new(Cache::new(MemoryStore::new()));
        let ttl = Duration::from_secs(3600);
        let inner_cache = std::sync::Arc::clone(&cache);
        runtime.block_on(cache.as_async().get_or_compute(&"same", ttl, async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            inner_cache.get_or_compute(&"same", ttl, || 1u32) + 1
        }))
    });
    assert_eq!(
        value,
        Some(2),
        "the sync call waited for the async compute it runs in ({:?} and counting)",
        started.elapsed()
    );
}

static OVER_MEMCACHED: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(
    soft = "1h",
    grace = "60s",
    cache = "reentrant_memcached",
    name = "reentrant::memcached",
    skip(nested)
)]
fn over_memcached(x: u64, nested: bool) -> u64 {
    OVER_MEMCACHED.fetch_add(1, Ordering::SeqCst);
    if nested {
        x
    } else {
        over_memcached(x, true) + 1
    }
}

/// With a store shared across processes, the outer call also holds the
/// store's lease: the inner call finds the key leased, and must still see
/// that the lease is its own caller's.
#[test]
fn a_reentrant_call_over_memcached_does_not_wait_for_its_own_lease() {
    let server = Memcached::start();
    install_named(
        "reentrant_memcached",
        Cache::from_url(&server.url("timeout=2s")).unwrap(),
    );
    let started = Instant::now();
    let value = within_a_second(|| over_memcached(5, false));
    assert_eq!(
        value,
        Some(6),
        "the re-entrant call waited for its own lease ({:?} and counting)",
        started.elapsed()
    );
    assert_eq!(over_memcached(5, false), 6, "the outer value is cached");
    assert_eq!(OVER_MEMCACHED.load(Ordering::SeqCst), 2);
}

/// A batch whose compute calls one of the keys it is computing (directly
/// through the client), and a compute that calls a batch of its own key:
/// neither waits for its own lease; the inner call computes.
#[test]
fn a_batch_and_its_compute_do_not_wait_for_each_other_s_lease() {
    let outcome = within_a_second(|| {
        let cache = std::sync::Arc::new(Cache::new(MemoryStore::new()));
        let ttl = Duration::from_secs(3600);
        let inner = std::sync::Arc::clone(&cache);
        let batch = cache.get_or_compute_many(&[1u64, 2], ttl, |missing| {
            let one: u64 = inner.get_or_compute(&1u64, ttl, || 100);
            missing.iter().map(|key| **key + one).collect()
        });
        let single = cache.get_or_compute(&3u64, ttl, || {
            let batch = cache.get_or_compute_many(&[3u64, 4], ttl, |missing| {
                missing.iter().map(|key| **key * 10).collect()
            });
            batch.unwrap()[0] + 1
        });
        (batch.unwrap(), single)
    });
    let Some((batch, single)) = outcome else {
        panic!("a batch waited for its own lease (more than {AT_ONCE:?})");
    };
    assert_eq!(batch, [101, 102], "the inner call computed 100");
    assert_eq!(single, 31, "the inner batch computed 3 * 10");
}

/// Keys [`lookup`] was never called with.
static NEXT_LOOKUP: AtomicU64 = AtomicU64::new(0);
/// A thousand cold keys a clone looks up: some of them surely fall in the
/// shard of the key whose value is being cloned (the memory store has 64).
const LOOKUPS_PER_CLONE: u64 = 1_000;

/// A value whose `Clone` calls another memoized function of its cache (as
/// a value holding a lazily loaded handle might).
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct LooksUpOnClone(u64);

impl Clone for LooksUpOnClone {
    fn clone(&self) -> LooksUpOnClone {
        let first = NEXT_LOOKUP.fetch_add(LOOKUPS_PER_CLONE, Ordering::SeqCst);
        for key in first..first + LOOKUPS_PER_CLONE {
            assert_eq!(lookup(key), key + 1);
        }
        LooksUpOnClone(self.0)
    }
}

#[antidogpiled(
    soft = "1h",
    grace = "60s",
    cache = "reentrant_clone",
    name = "reentrant::clone_outer"
)]
fn looks_up_on_clone(x: u64) -> LooksUpOnClone {
    LooksUpOnClone(x)
}

#[antidogpiled(
    soft = "1h",
    grace = "60s",
    cache = "reentrant_clone",
    name = "reentrant::clone_lookup"
)]
fn lookup(x: u64) -> u64 {
    x + 1
}

#[test]
fn a_value_whose_clone_calls_the_cache_is_served_without_deadlock() {
    install_named("reentrant_clone", Cache::new(MemoryStore::new()));
    let served = antidogpile_test_support::within(Duration::from_secs(15), || {
        for x in 0..4 {
            assert_eq!(looks_up_on_clone(x), LooksUpOnClone(x), "cold");
        }
        for x in 0..4 {
            assert_eq!(looks_up_on_clone(x), LooksUpOnClone(x), "fresh hit");
        }
    });
    assert!(
        served.is_some(),
        "HANG: fresh hits of a value whose Clone calls the cache did not finish in 15s"
    );
    let stats = antidogpile::stats("reentrant::clone_outer").unwrap();
    assert_eq!((stats.computes, stats.fresh_hits), (4, 4));
}
