//! `background = true`: the claimer too gets the stale value at once, and the
//! refresh runs on a spawned thread (sync fn) or tokio task (async fn).

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use antidogpile::antidogpiled;
use common::{eventually, eventually_async, manual_cache, PATIENCE};

static GATE_OPEN: AtomicBool = AtomicBool::new(true);
static RUNS: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(
    soft = "10s",
    background,
    cache = "background_sync",
    name = "background::sync"
)]
fn report(id: u64) -> u64 {
    let run = RUNS.fetch_add(1, Ordering::SeqCst);
    // The refresh cannot finish until the test opens the gate: if the caller
    // waited for it, the test would time out below.
    assert!(eventually(PATIENCE, || GATE_OPEN.load(Ordering::SeqCst)));
    id * 100 + run
}

#[test]
fn the_claimer_returns_the_stale_value_and_a_thread_refreshes() {
    let clock = manual_cache("background_sync");
    assert_eq!(report(1), 100, "a cold miss is computed in the foreground");
    clock.advance(Duration::from_secs(10));
    GATE_OPEN.store(false, Ordering::SeqCst);
    assert_eq!(report(1), 100, "the claimer got the stale value at once");
    assert!(eventually(PATIENCE, || RUNS.load(Ordering::SeqCst) == 2));
    assert_eq!(report(1), 100, "still stale while the refresh runs");
    GATE_OPEN.store(true, Ordering::SeqCst);
    assert!(
        eventually(PATIENCE, || report(1) == 101),
        "the refresh landed"
    );
    assert_eq!(RUNS.load(Ordering::SeqCst), 2);
}

static ASYNC_GATE_OPEN: AtomicBool = AtomicBool::new(true);
static ASYNC_RUNS: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(
    soft = "10s",
    background,
    cache = "background_async",
    name = "background::async"
)]
async fn report_async(id: u64) -> Result<u64, String> {
    let run = ASYNC_RUNS.fetch_add(1, Ordering::SeqCst);
    if !eventually_async(PATIENCE, || ASYNC_GATE_OPEN.load(Ordering::SeqCst)).await {
        return Err("gate never opened".into());
    }
    Ok(id * 100 + run)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_async_claimer_returns_the_stale_value_and_a_task_refreshes() {
    let clock = manual_cache("background_async");
    assert_eq!(report_async(2).await, Ok(200));
    clock.advance(Duration::from_secs(10));
    ASYNC_GATE_OPEN.store(false, Ordering::SeqCst);
    assert_eq!(report_async(2).await, Ok(200));
    assert!(eventually_async(PATIENCE, || ASYNC_RUNS.load(Ordering::SeqCst) == 2).await);
    ASYNC_GATE_OPEN.store(true, Ordering::SeqCst);
    let mut refreshed = Ok(0);
    for _ in 0..20_000 {
        refreshed = report_async(2).await;
        if refreshed == Ok(201) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(refreshed, Ok(201));
    assert_eq!(ASYNC_RUNS.load(Ordering::SeqCst), 2);
}
