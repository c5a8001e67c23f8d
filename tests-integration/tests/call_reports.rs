//! The hidden per-call hook the history checker reads (`__private::
//! report_calls`, `take_reports`): each call reports, on the thread where
//! it returns, whether it was served fresh, stale, waited for, computed
//! under a hold or without one, or computed without the cache.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use antidogpile::__private::{report_calls, take_reports, Served};
use antidogpile::{antidogpiled, Cache, Ttl};
use common::{eventually, manual_cache, PATIENCE};

static CALLS: AtomicU64 = AtomicU64::new(0);
static FAIL: AtomicBool = AtomicBool::new(false);

#[antidogpiled(
    soft = "10s",
    grace = "1h",
    cache = "reports_sync",
    name = "reports::sync"
)]
fn fallible(x: u64) -> Result<u64, String> {
    if FAIL.load(Ordering::SeqCst) {
        return Err("failed".into());
    }
    Ok(x + 10 * CALLS.fetch_add(1, Ordering::SeqCst))
}

const HELD: Served = Served::Computed { held: true };

#[test]
fn calls_report_computed_fresh_and_a_failed_refresh_stale() {
    report_calls();
    let clock = manual_cache("reports_sync");
    let first = fallible(1);
    assert_eq!(
        take_reports(),
        [HELD],
        "a cold miss computes under its lease"
    );
    assert_eq!(fallible(1), first);
    assert_eq!(take_reports(), [Served::Fresh]);
    clock.advance(Duration::from_secs(11));
    FAIL.store(true, Ordering::SeqCst);
    assert_eq!(
        fallible(1),
        first,
        "a failed refresh serves the stale value"
    );
    assert_eq!(take_reports(), [Served::Stale]);
    FAIL.store(false, Ordering::SeqCst);
    clock.advance(Duration::from_secs(6)); // past the retry spacing
    assert_ne!(fallible(1), first);
    assert_eq!(take_reports(), [HELD], "a refresh under its claim");
}

static GATE: std::sync::Mutex<Option<Arc<Barrier>>> = std::sync::Mutex::new(None);

#[antidogpiled(
    soft = "10s",
    grace = "1h",
    cache = "reports_wait",
    name = "reports::wait"
)]
fn slow(x: u64) -> u64 {
    let gate = GATE.lock().unwrap().clone();
    if let Some(gate) = gate {
        gate.wait();
    }
    x
}

#[test]
fn a_caller_that_waits_for_another_reports_waited() {
    report_calls();
    manual_cache("reports_wait");
    let gate = Arc::new(Barrier::new(2));
    *GATE.lock().unwrap() = Some(Arc::clone(&gate));
    // One of them computes (it waits at the gate), the other waits for it.
    let first = std::thread::spawn(|| (slow(7), take_reports()));
    let second = std::thread::spawn(|| (slow(7), take_reports()));
    assert!(
        eventually(PATIENCE, || {
            antidogpile::stats("reports::wait").is_some_and(|stats| stats.waits >= 1)
        }),
        "the second caller never waited"
    );
    *GATE.lock().unwrap() = None;
    gate.wait();
    let mut seen = [first.join().unwrap(), second.join().unwrap()];
    seen.sort_by_key(|(_, reports)| reports == &[Served::Waited]);
    assert_eq!(seen, [(7, vec![HELD]), (7, vec![Served::Waited])]);
}

#[antidogpiled(
    soft = "10s",
    cache = "reports_never_installed",
    name = "reports::uncached"
)]
fn uncached(x: u64) -> u64 {
    x
}

#[test]
fn a_call_without_its_cache_reports_uncached() {
    report_calls();
    assert_eq!(uncached(3), 3);
    assert_eq!(take_reports(), [Served::Uncached]);
}

#[antidogpiled(soft = "10s", cache = "reports_down", name = "reports::down")]
fn through_a_dead_store(x: u64) -> u64 {
    x
}

#[test]
fn a_compute_with_no_store_hold_reports_unheld() {
    report_calls();
    let port = antidogpile_test_support::memcached::free_port();
    let url = format!("memcached://127.0.0.1:{port}?timeout=200ms");
    antidogpile::install_named("reports_down", Cache::from_url(&url).unwrap());
    assert_eq!(through_a_dead_store(4), 4);
    assert_eq!(take_reports(), [Served::Computed { held: false }]);
}

#[antidogpiled(soft = "10s", cache = "reports_async", name = "reports::async")]
async fn later(x: u64) -> Option<u64> {
    tokio::task::yield_now().await;
    Some(x)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_call_reports_on_the_thread_it_returns_on() {
    report_calls();
    manual_cache("reports_async");
    assert_eq!(later(5).await, Some(5));
    assert_eq!(take_reports(), [HELD]);
    assert_eq!(later(5).await, Some(5));
    assert_eq!(take_reports(), [Served::Fresh]);
}

#[test]
fn a_batch_reports_each_key_in_the_order_of_its_keys() {
    report_calls();
    let cache = Cache::from_url("memory://").unwrap();
    let ttl = Ttl::soft(Duration::from_secs(10));
    cache.set(&2u32, &20u32, ttl).unwrap();
    let values = cache
        .get_or_compute_many(&[1u32, 2, 3, 1], ttl, |missing| {
            missing.iter().map(|key| **key * 10).collect()
        })
        .unwrap();
    assert_eq!(values, [10, 20, 30, 10]);
    assert_eq!(take_reports(), [HELD, Served::Fresh, HELD, HELD]);
}
