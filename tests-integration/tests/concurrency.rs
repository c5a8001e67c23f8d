//! Real concurrency: 32 threads and 64 tokio tasks cross a soft expiry and a
//! cold miss together. Counted exactly: one compute per key per expiry, no
//! two computes of one key at once (a try-lock canary), and stale callers
//! return without waiting for the compute.
//!
//! "Without waiting" is shown causally, not by timing: the refresh does not
//! finish until every stale caller has returned. Had any of them waited for
//! it, the refresh would run out of patience and the test would fail.
//! Likewise a cold miss's compute does not finish until every other caller
//! of its key waits for it (the function's `waits` count), so the cold
//! callers are seen piling up, not given time to.

mod common;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use antidogpile::antidogpiled;
use common::{eventually, eventually_async, manual_cache, ComputeProbe, PATIENCE};

const THREADS: usize = 32;
const TASKS: usize = 64;
const ROUNDS: u64 = 3;

static STALE_PROBE: ComputeProbe = ComputeProbe::new();
static COLD_PROBE: ComputeProbe = ComputeProbe::new();
/// Callers of the stale key that have returned, this round.
static STALE_RETURNED: AtomicUsize = AtomicUsize::new(0);
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// Whether every other caller of the cold key of round `round` waits for
/// its compute: in each round, half of `callers` call that key, and all but
/// its computer wait (the stale key's callers never wait).
fn piled_up(namespace: &str, round: u64, callers: usize) -> bool {
    let waiters_per_round = (callers / 2 - 1) as u64;
    antidogpile::stats(namespace).is_some_and(|stats| stats.waits >= round * waiters_per_round)
}

#[antidogpiled(soft = "10s", cache = "threads", name = "concurrency::threads")]
fn hot(key: u64, stale_callers: usize) -> u64 {
    let probe = if key == 0 { &STALE_PROBE } else { &COLD_PROBE };
    let _canary = probe.enter();
    if key == 0 && probe.computes() > 1 {
        // A refresh: it may only finish once every stale caller has returned.
        assert!(
            eventually(PATIENCE, || STALE_RETURNED.load(Ordering::SeqCst)
                >= stale_callers),
            "stale callers waited for the refresh"
        );
    } else if key > 0 {
        // A cold miss: it may only finish once the other callers of its key
        // have piled up behind it.
        assert!(
            eventually(PATIENCE, || piled_up("concurrency::threads", key, THREADS)),
            "the cold callers did not pile up behind the compute"
        );
    }
    key * 1_000 + GENERATION.fetch_add(1, Ordering::SeqCst)
}

#[test]
fn threads_crossing_a_soft_expiry_and_a_cold_miss_compute_once_per_key_per_expiry() {
    let clock = manual_cache("threads");
    // Half the threads hit key 0 (which goes stale each round), half a new cold key.
    let stale_callers = THREADS / 2 - 1; // the claimer is not one of them
    let mut previous = hot(0, stale_callers);
    assert_eq!(STALE_PROBE.computes(), 1);

    for round in 1..=ROUNDS {
        clock.advance(Duration::from_secs(10));
        STALE_RETURNED.store(0, Ordering::SeqCst);
        let start = Arc::new(Barrier::new(THREADS));
        let callers: Vec<_> = (0..THREADS)
            .map(|i| {
                let start = Arc::clone(&start);
                std::thread::spawn(move || {
                    start.wait();
                    let key = if i % 2 == 0 { 0 } else { round };
                    let value = hot(key, stale_callers);
                    if key == 0 && value == previous {
                        STALE_RETURNED.fetch_add(1, Ordering::SeqCst);
                    }
                    (key, value)
                })
            })
            .collect();
        let results: Vec<(u64, u64)> = callers.into_iter().map(|c| c.join().unwrap()).collect();

        let stale_key: Vec<u64> = results.iter().filter(|r| r.0 == 0).map(|r| r.1).collect();
        let fresh = stale_key.iter().filter(|v| **v != previous).count();
        assert_eq!(
            fresh, 1,
            "exactly the claimer got the new value: {stale_key:?}"
        );
        assert_eq!(
            STALE_PROBE.computes() as u64,
            1 + round,
            "one refresh per expiry"
        );

        let cold: Vec<u64> = results
            .iter()
            .filter(|r| r.0 == round)
            .map(|r| r.1)
            .collect();
        assert!(
            cold.windows(2).all(|w| w[0] == w[1]),
            "every cold caller got one value: {cold:?}"
        );
        assert_eq!(
            COLD_PROBE.computes() as u64,
            round,
            "one compute per cold miss"
        );

        previous = *stale_key.iter().find(|v| **v != previous).unwrap();
    }
    assert_eq!(
        STALE_PROBE.overlaps() + COLD_PROBE.overlaps(),
        0,
        "overlapping computes"
    );
    let stats = antidogpile::stats("concurrency::threads").unwrap();
    assert_eq!(stats.calls(), 1 + ROUNDS * THREADS as u64);
    assert_eq!(stats.computes, 1 + 2 * ROUNDS);
}

static ASYNC_STALE_PROBE: ComputeProbe = ComputeProbe::new();
static ASYNC_COLD_PROBE: ComputeProbe = ComputeProbe::new();
static ASYNC_STALE_RETURNED: AtomicUsize = AtomicUsize::new(0);
static ASYNC_GENERATION: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(soft = "10s", cache = "tasks", name = "concurrency::tasks")]
async fn hot_async(key: u64, stale_callers: usize) -> Result<u64, String> {
    let probe = if key == 0 {
        &ASYNC_STALE_PROBE
    } else {
        &ASYNC_COLD_PROBE
    };
    let _canary = probe.enter();
    if key == 0 && probe.computes() > 1 {
        let all_returned = eventually_async(PATIENCE, || {
            ASYNC_STALE_RETURNED.load(Ordering::SeqCst) >= stale_callers
        })
        .await;
        if !all_returned {
            return Err("stale callers waited for the refresh".into());
        }
    } else if key > 0 {
        let piled_up =
            eventually_async(PATIENCE, || piled_up("concurrency::tasks", key, TASKS)).await;
        if !piled_up {
            return Err("the cold callers did not pile up behind the compute".into());
        }
    }
    Ok(key * 1_000 + ASYNC_GENERATION.fetch_add(1, Ordering::SeqCst))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tasks_crossing_a_soft_expiry_and_a_cold_miss_compute_once_per_key_per_expiry() {
    let clock = manual_cache("tasks");
    let stale_callers = TASKS / 2 - 1;
    let mut previous = hot_async(0, stale_callers).await.unwrap();

    for round in 1..=ROUNDS {
        clock.advance(Duration::from_secs(10));
        ASYNC_STALE_RETURNED.store(0, Ordering::SeqCst);
        let start = Arc::new(tokio::sync::Barrier::new(TASKS));
        let callers: Vec<_> = (0..TASKS)
            .map(|i| {
                let start = Arc::clone(&start);
                tokio::spawn(async move {
                    start.wait().await;
                    let key = if i % 2 == 0 { 0 } else { round };
                    let value = hot_async(key, stale_callers).await.unwrap();
                    if key == 0 && value == previous {
                        ASYNC_STALE_RETURNED.fetch_add(1, Ordering::SeqCst);
                    }
                    (key, value)
                })
            })
            .collect();
        let mut results = Vec::new();
        for caller in callers {
            results.push(caller.await.unwrap());
        }
        let stale_key: Vec<u64> = results.iter().filter(|r| r.0 == 0).map(|r| r.1).collect();
        assert_eq!(
            stale_key.iter().filter(|v| **v != previous).count(),
            1,
            "{stale_key:?}"
        );
        assert_eq!(ASYNC_STALE_PROBE.computes() as u64, 1 + round);
        let cold: Vec<u64> = results
            .iter()
            .filter(|r| r.0 == round)
            .map(|r| r.1)
            .collect();
        assert!(cold.windows(2).all(|w| w[0] == w[1]), "{cold:?}");
        assert_eq!(ASYNC_COLD_PROBE.computes() as u64, round);
        previous = *stale_key.iter().find(|v| **v != previous).unwrap();
    }
    assert_eq!(
        ASYNC_STALE_PROBE.overlaps() + ASYNC_COLD_PROBE.overlaps(),
        0
    );
    let stats = antidogpile::stats("concurrency::tasks").unwrap();
    assert_eq!(stats.calls(), 1 + ROUNDS * TASKS as u64);
    assert_eq!(stats.computes, 1 + 2 * ROUNDS);
}
