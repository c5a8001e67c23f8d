//! A sync memoized call made inside a tokio runtime while a task of that
//! runtime computes the same key: it must never deadlock the runtime, nor
//! stall its other tasks while it waits. The client shares one key space
//! between its blocking and its async calls, so it sets the scene.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use antidogpile::{store::MemoryStore, Cache};
use antidogpile_test_support::within;
use common::{eventually_async, PATIENCE};

/// The default grace (60 s): the old code waited for all of it.
const TTL: Duration = Duration::from_secs(3600);

/// A task of `cache`'s runtime computing `"shared"`: it signals that it has
/// started, then takes `compute` (on tokio's clock) and returns `value`.
fn holder(
    cache: &Arc<Cache>,
    computes: &Arc<AtomicU64>,
    compute: Duration,
    value: u32,
) -> tokio::task::JoinHandle<u32> {
    let (cache, computes) = (Arc::clone(cache), Arc::clone(computes));
    tokio::spawn(async move {
        cache
            .as_async()
            .get_or_compute(&"shared", TTL, async {
                computes.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(compute).await;
                value
            })
            .await
    })
}

#[test]
fn a_sync_call_inside_a_current_thread_runtime_returns_within_its_compute_time() {
    const SYNC_COMPUTE: Duration = Duration::from_millis(100);
    let outcome = within(Duration::from_secs(5), || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(async {
            let cache = Arc::new(Cache::new(MemoryStore::new()));
            let computes = Arc::new(AtomicU64::new(0));
            let task = holder(&cache, &computes, Duration::from_millis(300), 1);
            assert!(eventually_async(PATIENCE, || computes.load(Ordering::SeqCst) == 1).await);

            // The task holds the lease and sleeps; this thread is the only
            // one that can wake it.
            let started = Instant::now();
            let sync_value = cache.get_or_compute(&"shared", TTL, || {
                computes.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(SYNC_COMPUTE);
                2u32
            });
            let sync_took = started.elapsed();
            let task_value = task.await.unwrap();
            // The task's value is the one cached.
            let cached = cache.get_or_compute(&"shared", TTL, || 3u32);
            (
                sync_value,
                sync_took,
                task_value,
                cached,
                computes.load(Ordering::SeqCst),
            )
        })
    });
    let Some((sync_value, sync_took, task_value, cached, computes)) = outcome else {
        panic!("the sync call deadlocked its current_thread runtime (5 s and counting)");
    };
    println!("the sync call took {sync_took:?}");
    assert_eq!((sync_value, task_value, cached), (2, 1, 1));
    assert_eq!(computes, 2, "the sync call computed without the cache");
    assert!(
        sync_took < SYNC_COMPUTE * 10,
        "the sync call took {sync_took:?} for a compute of {SYNC_COMPUTE:?}"
    );
}

/// On a multi-thread runtime the sync call may wait (one compute), but its
/// worker's other tasks must go on: a task spawned just before it, which
/// tokio keeps in the worker's own slot, runs on time.
#[test]
fn a_sync_call_waiting_inside_a_multi_thread_runtime_does_not_delay_its_timers() {
    const TIMER: Duration = Duration::from_millis(100);
    const HOLDER_COMPUTE: Duration = Duration::from_millis(800);
    let outcome = within(Duration::from_secs(10), || {
        let runtime = multi_thread(2);
        runtime.block_on(async {
            let cache = Arc::new(Cache::new(MemoryStore::new()));
            let computes = Arc::new(AtomicU64::new(0));
            let task = holder(&cache, &computes, HOLDER_COMPUTE, 1);
            assert!(eventually_async(PATIENCE, || computes.load(Ordering::SeqCst) == 1).await);

            let waiter_cache = Arc::clone(&cache);
            let waiter = tokio::spawn(async move {
                let started = Instant::now();
                let timer = tokio::spawn(async move {
                    tokio::time::sleep(TIMER).await;
                    started.elapsed()
                });
                let value = waiter_cache.get_or_compute(&"shared", TTL, || 2u32);
                (value, timer)
            });
            let (sync_value, timer) = waiter.await.unwrap();
            let fired_after = timer.await.unwrap();
            let task_value = task.await.unwrap();
            (
                sync_value,
                task_value,
                fired_after,
                computes.load(Ordering::SeqCst),
            )
        })
    });
    let Some((sync_value, task_value, fired_after, computes)) = outcome else {
        panic!("the sync call deadlocked its multi-thread runtime (10 s and counting)");
    };
    println!("a {TIMER:?} timer fired after {fired_after:?}");
    assert_eq!(
        (sync_value, task_value),
        (1, 1),
        "the sync call waited for the task's value"
    );
    assert_eq!(computes, 1);
    assert!(
        fired_after < TIMER * 4,
        "a {TIMER:?} timer fired after {fired_after:?} while a sync call waited for a {HOLDER_COMPUTE:?} compute"
    );
}

/// A multi-thread runtime with one worker: the waiting sync call sits on the
/// only worker, and the task it waits for must still run.
#[test]
fn a_sync_call_on_the_only_worker_of_a_multi_thread_runtime_does_not_deadlock_it() {
    let outcome = within(Duration::from_secs(10), || {
        let runtime = multi_thread(1);
        runtime.block_on(async {
            let cache = Arc::new(Cache::new(MemoryStore::new()));
            let computes = Arc::new(AtomicU64::new(0));
            let task = holder(&cache, &computes, Duration::from_millis(200), 1);
            assert!(eventually_async(PATIENCE, || computes.load(Ordering::SeqCst) == 1).await);
            let waiter_cache = Arc::clone(&cache);
            let waiter = tokio::spawn(async move {
                let started = Instant::now();
                let value = waiter_cache.get_or_compute(&"shared", TTL, || 2u32);
                (value, started.elapsed())
            });
            let (value, waited) = waiter.await.unwrap();
            (
                value,
                waited,
                task.await.unwrap(),
                computes.load(Ordering::SeqCst),
            )
        })
    });
    let Some((value, waited, task_value, computes)) = outcome else {
        panic!("the sync call deadlocked the runtime's only worker (10 s and counting)");
    };
    println!("waited {waited:?} for a 200 ms compute");
    assert_eq!((value, task_value, computes), (1, 1, 1));
    assert!(waited < Duration::from_secs(3), "waited {waited:?}");
}

/// What did not change: inside a `current_thread` runtime, a sync call still
/// waits for a holder that another thread runs (one compute, its value).
#[test]
fn a_sync_call_inside_a_current_thread_runtime_still_waits_for_another_thread() {
    let cache = Arc::new(Cache::new(MemoryStore::new()));
    let computes = Arc::new(AtomicU64::new(0));
    let holder = {
        let (cache, computes) = (Arc::clone(&cache), Arc::clone(&computes));
        std::thread::spawn(move || {
            cache.get_or_compute(&"shared", TTL, || {
                computes.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(500));
                1u32
            })
        })
    };
    assert!(common::eventually(PATIENCE, || computes
        .load(Ordering::SeqCst)
        == 1));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let value = runtime.block_on(async {
        cache.get_or_compute(&"shared", TTL, || {
            computes.fetch_add(1, Ordering::SeqCst);
            2u32
        })
    });
    assert_eq!((value, holder.join().unwrap()), (1, 1));
    assert_eq!(computes.load(Ordering::SeqCst), 1);
}

/// The grace of the tests of holders on the blocking pool: what the old
/// code waited for.
const POOL_GRACE: Duration = Duration::from_secs(5);

/// A cache whose callers wait at most [`POOL_GRACE`] for a holder.
fn cache_with_pool_grace() -> Arc<Cache> {
    Arc::new(Cache::new(MemoryStore::new()).with_default_grace(POOL_GRACE))
}

/// A holder on `runtime`'s blocking pool computing `"shared"`: its compute
/// (a query, say) runs a future on the runtime with `Handle::block_on`,
/// sleeping `compute` on tokio's timer, then returns `value`.
fn holder_on_the_blocking_pool(
    runtime: &tokio::runtime::Handle,
    cache: &Arc<Cache>,
    computes: &Arc<AtomicU64>,
    compute: Duration,
    value: u32,
) -> tokio::task::JoinHandle<u32> {
    let (cache, computes) = (Arc::clone(cache), Arc::clone(computes));
    runtime.spawn_blocking(move || {
        let runtime = tokio::runtime::Handle::current();
        cache.get_or_compute(&"shared", TTL, || {
            computes.fetch_add(1, Ordering::SeqCst);
            runtime.block_on(tokio::time::sleep(compute));
            value
        })
    })
}

/// Where the holder of `"shared"` computes.
#[derive(Clone, Copy)]
enum HolderOn {
    /// A task of the runtime ([`holder`]).
    ATask,
    /// The runtime's blocking pool ([`holder_on_the_blocking_pool`]).
    TheBlockingPool,
}

/// The scene of the tests below: on a `current_thread` runtime, a cache
/// with [`POOL_GRACE`] and a holder of `"shared"` (value 1, computing for
/// 300 ms) seen to have started; then `body` with the cache, the compute
/// count and the holder. `None`: the runtime stalled past [`PATIENCE`].
fn with_a_holder_on_a_current_thread_runtime<T: Send + 'static>(
    on: HolderOn,
    body: impl AsyncFnOnce(Arc<Cache>, Arc<AtomicU64>, tokio::task::JoinHandle<u32>) -> T
        + Send
        + 'static,
) -> Option<T> {
    within(PATIENCE, move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(async {
            let cache = cache_with_pool_grace();
            let computes = Arc::new(AtomicU64::new(0));
            let compute = Duration::from_millis(300);
            let holder = match on {
                HolderOn::ATask => holder(&cache, &computes, compute, 1),
                HolderOn::TheBlockingPool => holder_on_the_blocking_pool(
                    &tokio::runtime::Handle::current(),
                    &cache,
                    &computes,
                    compute,
                    1,
                ),
            };
            assert!(eventually_async(PATIENCE, || computes.load(Ordering::SeqCst) == 1).await);
            body(cache, computes, holder).await
        })
    })
}

/// A holder on the blocking pool of a `current_thread` runtime whose
/// compute needs that runtime (its timer, its I/O driver) cannot progress
/// while a sync call blocks the runtime's only thread: that call computes
/// at once (its value returned, not stored) instead of waiting out the grace.
#[test]
fn a_sync_call_on_a_current_thread_runtime_does_not_wait_for_a_holder_that_needs_the_runtime() {
    let outcome = with_a_holder_on_a_current_thread_runtime(
        HolderOn::TheBlockingPool,
        async move |cache, computes, holder| {
            let started = Instant::now();
            let sync_value = cache.get_or_compute(&"shared", TTL, || {
                computes.fetch_add(1, Ordering::SeqCst);
                2u32
            });
            let sync_took = started.elapsed();
            let holder_value = holder.await.unwrap();
            let cached = cache.get_or_compute(&"shared", TTL, || 3u32);
            (
                sync_value,
                sync_took,
                holder_value,
                cached,
                computes.load(Ordering::SeqCst),
            )
        },
    );
    let Some((sync_value, sync_took, holder_value, cached, computes)) = outcome else {
        panic!("the sync call stalled its current_thread runtime ({PATIENCE:?} and counting)");
    };
    println!("the sync call took {sync_took:?} (grace {POOL_GRACE:?})");
    assert!(
        sync_took < Duration::from_millis(2500),
        "the sync call took {sync_took:?}: it waited for a holder that needed its runtime's thread"
    );
    assert_eq!(
        (sync_value, holder_value, cached),
        (2, 1, 1),
        "the sync call computed without the cache; the holder's value is the one cached"
    );
    assert_eq!(computes, 2);
}

/// What did not change: a sync call on the blocking pool of a
/// `current_thread` runtime blocks no thread the runtime needs, so it still
/// waits for a holder on the same pool (one compute, its value).
#[test]
fn a_sync_call_on_the_blocking_pool_still_waits_for_a_holder_on_the_same_pool() {
    let outcome = with_a_holder_on_a_current_thread_runtime(
        HolderOn::TheBlockingPool,
        async move |cache, computes, holder| {
            let waiter = {
                let (cache, computes) = (Arc::clone(&cache), Arc::clone(&computes));
                tokio::task::spawn_blocking(move || {
                    cache.get_or_compute(&"shared", TTL, || {
                        computes.fetch_add(1, Ordering::SeqCst);
                        2u32
                    })
                })
            };
            (
                waiter.await.unwrap(),
                holder.await.unwrap(),
                computes.load(Ordering::SeqCst),
            )
        },
    );
    let Some((waiter_value, holder_value, computes)) = outcome else {
        panic!("the runtime stalled ({PATIENCE:?} and counting)");
    };
    assert_eq!(
        (waiter_value, holder_value),
        (1, 1),
        "the waiter got the holder's value"
    );
    assert_eq!(computes, 1);
}

/// A sync batch (`get_or_compute_many`) on a `current_thread` runtime, one
/// of its keys held by a task of that runtime: the batch computes that key
/// without the cache instead of blocking the thread the task needs.
#[test]
fn a_sync_batch_inside_a_current_thread_runtime_does_not_wait_for_a_task_of_it() {
    let outcome = with_a_holder_on_a_current_thread_runtime(
        HolderOn::ATask,
        async move |cache, computes, task| {
            let started = Instant::now();
            let batch = cache.get_or_compute_many(&["shared", "other"], TTL, |missing| {
                computes.fetch_add(missing.len() as u64, Ordering::SeqCst);
                missing.iter().map(|key| key.len() as u32).collect()
            });
            let batch_took = started.elapsed();
            let task_value = task.await.unwrap();
            let cached = cache.get_or_compute(&"shared", TTL, || 3u32);
            (
                batch.unwrap(),
                batch_took,
                task_value,
                cached,
                computes.load(Ordering::SeqCst),
            )
        },
    );
    let Some((batch, batch_took, task_value, cached, computes)) = outcome else {
        panic!("the sync batch stalled its current_thread runtime ({PATIENCE:?} and counting)");
    };
    println!("the sync batch took {batch_took:?} (grace {POOL_GRACE:?})");
    assert!(
        batch_took < Duration::from_millis(2500),
        "the sync batch took {batch_took:?}: it waited for a task its thread must run"
    );
    assert_eq!(batch, [6, 5], "the batch computed both keys");
    assert_eq!(
        (task_value, cached),
        (1, 1),
        "the task's value is the one cached"
    );
    assert_eq!(computes, 3);
}

/// A multi-thread runtime of `workers` workers, with timers.
fn multi_thread(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_time()
        .build()
        .unwrap()
}
