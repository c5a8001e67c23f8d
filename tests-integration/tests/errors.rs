//! `Err` and `None` are never cached; a stale value keeps being served when a
//! refresh fails (stale-if-error), and the next try waits for the retry
//! spacing (not for the grace).

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use antidogpile::antidogpiled;
use common::manual_cache;

static FAILING: AtomicBool = AtomicBool::new(false);
static CALLS: AtomicU64 = AtomicU64::new(0);

#[derive(Debug, PartialEq)]
struct Unavailable;

#[antidogpiled(
    soft = "10s",
    grace = "30s",
    cache = "errors_result",
    name = "errors::result"
)]
fn lookup(id: u32) -> Result<u64, Unavailable> {
    let call = CALLS.fetch_add(1, Ordering::SeqCst);
    if FAILING.load(Ordering::SeqCst) {
        Err(Unavailable)
    } else {
        Ok(u64::from(id) * 1000 + call)
    }
}

#[test]
fn failures_are_returned_then_stale_values_are_served_until_the_retry_spacing_passes() {
    let clock = manual_cache("errors_result");

    // With nothing cached, a failure is returned, and not cached.
    FAILING.store(true, Ordering::SeqCst);
    assert_eq!(lookup(5), Err(Unavailable));
    assert_eq!(lookup(5), Err(Unavailable));
    assert_eq!(CALLS.load(Ordering::SeqCst), 2);

    FAILING.store(false, Ordering::SeqCst);
    let good = lookup(5).unwrap();

    // Stale, and the refresh fails: the stale value is served instead.
    clock.advance(Duration::from_secs(10));
    FAILING.store(true, Ordering::SeqCst);
    assert_eq!(lookup(5), Ok(good), "stale-if-error");
    let calls_after_failure = CALLS.load(Ordering::SeqCst);

    // Within the retry spacing nobody retries: the stale value, with no compute.
    let spacing = antidogpile::Cache::DEFAULT_RETRY_SPACING;
    clock.advance(spacing - Duration::from_millis(1));
    assert_eq!(lookup(5), Ok(good));
    assert_eq!(CALLS.load(Ordering::SeqCst), calls_after_failure);

    // After it (long before the 30 s grace), the next caller retries; it
    // succeeds this time.
    clock.advance(Duration::from_millis(1));
    FAILING.store(false, Ordering::SeqCst);
    let refreshed = lookup(5).unwrap();
    assert_ne!(refreshed, good);
    assert_eq!(lookup(5), Ok(refreshed));

    let stats = antidogpile::stats("errors::result").unwrap();
    assert_eq!(stats.errors, 3);
    assert_eq!(stats.computes, 5);
}

static OPTION_CALLS: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(soft = "10s", cache = "errors_option", name = "errors::option")]
fn find(name: String) -> Option<usize> {
    OPTION_CALLS.fetch_add(1, Ordering::SeqCst);
    (name != "missing").then_some(name.len())
}

#[test]
fn none_is_not_cached_but_some_is() {
    let _clock = manual_cache("errors_option");
    assert_eq!(find("missing".into()), None);
    assert_eq!(find("missing".into()), None);
    assert_eq!(OPTION_CALLS.load(Ordering::SeqCst), 2);
    assert_eq!(find("here".into()), Some(4));
    assert_eq!(find("here".into()), Some(4));
    assert_eq!(OPTION_CALLS.load(Ordering::SeqCst), 3);
}
