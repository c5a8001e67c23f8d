//! A compute that fails on a cold key must not line its callers up: the
//! callers that waited for a failed compute compute side by side instead of
//! queueing for the next lease one at a time, or, for `None`, are handed the
//! holder's `None`. A compute that succeeds is still the only one.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use antidogpile::{antidogpiled, install_named, store::MemoryStore, Cache};
use common::{eventually, PATIENCE};

const CALLERS: usize = 32;
const COMPUTE: Duration = Duration::from_millis(100);
/// "A few compute times": the old code made the last caller wait 32 of them.
const FEW_COMPUTES: Duration = Duration::from_millis(500);

#[derive(Clone, Debug, PartialEq)]
struct Unavailable;

static FAILING_COMPUTES: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(
    soft = "1h",
    grace = "60s",
    cache = "failing_threads",
    name = "failing::threads"
)]
fn failing(id: u32) -> Result<u32, Unavailable> {
    FAILING_COMPUTES.fetch_add(1, Ordering::SeqCst);
    std::thread::sleep(COMPUTE);
    let _ = id;
    Err(Unavailable)
}

static SUCCEEDING_COMPUTES: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(
    soft = "1h",
    grace = "60s",
    cache = "succeeding_threads",
    name = "failing::succeeding_threads"
)]
fn succeeding(id: u32) -> Result<u32, Unavailable> {
    SUCCEEDING_COMPUTES.fetch_add(1, Ordering::SeqCst);
    std::thread::sleep(COMPUTE);
    Ok(id * 2)
}

/// Calls `call` from [`CALLERS`] threads released together; what each got
/// and how long each took.
fn together<T: Send + 'static>(call: fn() -> T) -> Vec<(T, Duration)> {
    let start = Arc::new(Barrier::new(CALLERS));
    let threads: Vec<_> = (0..CALLERS)
        .map(|_| {
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                start.wait();
                let started = Instant::now();
                let got = call();
                (got, started.elapsed())
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

/// What each caller got and how long it took.
type Results = [(Result<u32, Unavailable>, Duration)];

/// Every caller (thread or task) got the failure, the slowest within a few
/// compute times, and each computed once: none was served another's
/// failure.
fn each_failed_within_a_few_compute_times(callers: &str, results: &Results, computes: &AtomicU64) {
    let slowest = results.iter().map(|(_, took)| *took).max().unwrap();
    println!("slowest of {CALLERS} {callers}: {slowest:?}");
    assert!(
        results.iter().all(|(got, _)| *got == Err(Unavailable)),
        "every caller gets a failure"
    );
    assert!(
        slowest < FEW_COMPUTES,
        "the slowest of {CALLERS} {callers} took {slowest:?} for a {COMPUTE:?} compute that fails"
    );
    assert_eq!(computes.load(Ordering::SeqCst), CALLERS as u64);
}

/// Every caller got the value of the one compute (4 doubled).
fn all_got_the_value_computed_once(results: &Results, computes: &AtomicU64) {
    assert!(results.iter().all(|(got, _)| *got == Ok(8)));
    assert_eq!(computes.load(Ordering::SeqCst), 1);
}

#[test]
fn threads_on_a_failing_cold_key_all_return_within_a_few_compute_times() {
    install_named("failing_threads", Cache::new(MemoryStore::new()));
    let results = together(|| failing(1));
    each_failed_within_a_few_compute_times("threads", &results, &FAILING_COMPUTES);
    let stats = antidogpile::stats("failing::threads").unwrap();
    assert_eq!((stats.computes, stats.errors), (32, 32));
}

#[test]
fn threads_on_a_succeeding_cold_key_compute_it_once() {
    install_named("succeeding_threads", Cache::new(MemoryStore::new()));
    let results = together(|| succeeding(4));
    all_got_the_value_computed_once(&results, &SUCCEEDING_COMPUTES);
}

static FAILING_ASYNC: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(
    soft = "1h",
    grace = "60s",
    cache = "failing_tasks",
    name = "failing::tasks"
)]
async fn failing_async(id: u32) -> Result<u32, Unavailable> {
    FAILING_ASYNC.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(COMPUTE).await;
    let _ = id;
    Err(Unavailable)
}

static SUCCEEDING_ASYNC: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(
    soft = "1h",
    grace = "60s",
    cache = "succeeding_tasks",
    name = "failing::succeeding_tasks"
)]
async fn succeeding_async(id: u32) -> Result<u32, Unavailable> {
    SUCCEEDING_ASYNC.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(COMPUTE).await;
    Ok(id * 2)
}

/// Spawns [`CALLERS`] tasks released together; what each got and how long
/// each took.
async fn together_async<F>(call: fn() -> F) -> Vec<(Result<u32, Unavailable>, Duration)>
where
    F: std::future::Future<Output = Result<u32, Unavailable>> + Send + 'static,
{
    let start = Arc::new(tokio::sync::Barrier::new(CALLERS));
    let tasks: Vec<_> = (0..CALLERS)
        .map(|_| {
            let start = Arc::clone(&start);
            tokio::spawn(async move {
                start.wait().await;
                let started = Instant::now();
                let got = call().await;
                (got, started.elapsed())
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_on_a_failing_cold_key_all_return_within_a_few_compute_times() {
    install_named("failing_tasks", Cache::new(MemoryStore::new()));
    let results = together_async(|| failing_async(1)).await;
    each_failed_within_a_few_compute_times("tasks", &results, &FAILING_ASYNC);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_on_a_succeeding_cold_key_compute_it_once() {
    install_named("succeeding_tasks", Cache::new(MemoryStore::new()));
    let results = together_async(|| succeeding_async(4)).await;
    all_got_the_value_computed_once(&results, &SUCCEEDING_ASYNC);
}

static NOT_FOUND: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(
    soft = "1h",
    grace = "60s",
    cache = "failing_none",
    name = "failing::none"
)]
fn not_found(id: u32) -> Option<u32> {
    NOT_FOUND.fetch_add(1, Ordering::SeqCst);
    // Let every other caller arrive and wait for this compute.
    assert!(eventually(PATIENCE, || {
        antidogpile::stats("failing::none").is_some_and(|s| s.waits >= CALLERS as u64 - 1)
    }));
    std::thread::sleep(COMPUTE);
    let _ = id;
    None
}

/// `None` says the same to every caller of the key: the callers waiting for
/// it are handed it, as they would be a value.
#[test]
fn threads_waiting_for_a_none_are_handed_it_without_computing() {
    install_named("failing_none", Cache::new(MemoryStore::new()));
    let results = together(|| not_found(1));
    assert!(results.iter().all(|(got, _)| got.is_none()));
    assert_eq!(NOT_FOUND.load(Ordering::SeqCst), 1);
    let stats = antidogpile::stats("failing::none").unwrap();
    assert_eq!((stats.computes, stats.errors, stats.waits), (1, 1, 31));
}
