//! A refresh still running when its value reaches the hard deadline stays
//! the one compute: a caller after the deadline waits for it instead of
//! computing the key a second time at once (found by the history checker,
//! issue 23, on the memory store: a soft invalidation of a value close to
//! its hard deadline, then a refresh and a cold miss computing side by side).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use antidogpile::clock::{ManualClock, Timestamp};
use antidogpile::{Cache, Ttl};

fn a_caller_after_the_hard_deadline_waits_for_the_refresh_under_way(url: &str) {
    let clock = ManualClock::new(Timestamp::from_millis(1_700_000_000_000));
    let cache = Cache::from_url(url).unwrap().with_clock(clock.clock());
    let ttl = Ttl::soft(Duration::from_secs(1))
        .factor(2)
        .grace(Duration::from_secs(60));
    let computes = AtomicU64::new(0);
    let compute = |value: u64| {
        computes.fetch_add(1, Ordering::SeqCst);
        value
    };
    assert_eq!(cache.get_or_compute("k", ttl, || compute(1)), 1);
    clock.advance(Duration::from_millis(1_990));
    let (refreshing, finish) = (mpsc::channel::<()>(), mpsc::channel::<()>());
    std::thread::scope(|scope| {
        let refresher = scope.spawn(|| {
            let (started, resume) = (refreshing.0, finish.1);
            cache.get_or_compute("k", ttl, move || {
                started.send(()).unwrap();
                resume.recv().unwrap();
                2u64
            })
        });
        refreshing.1.recv().unwrap();
        // The value's hard deadline passes while its refresh runs.
        clock.advance(Duration::from_millis(20));
        let late = scope.spawn(|| cache.get_or_compute("k", ttl, || compute(3)));
        std::thread::sleep(Duration::from_millis(100));
        finish.0.send(()).unwrap();
        assert_eq!(refresher.join().unwrap(), 2);
        assert_eq!(
            late.join().unwrap(),
            2,
            "{url}: the caller after the hard deadline computed the key a second time"
        );
    });
    assert_eq!(
        computes.load(Ordering::SeqCst),
        1,
        "{url}: the first fill only"
    );
}

#[test]
fn in_memory() {
    a_caller_after_the_hard_deadline_waits_for_the_refresh_under_way("memory://");
}

#[test]
fn on_redis() {
    let server = antidogpile_test_support::redis::Redis::start();
    a_caller_after_the_hard_deadline_waits_for_the_refresh_under_way(&server.url("timeout=2s"));
}

#[test]
fn on_files() {
    let dir = antidogpile_test_support::temp_dir::TempDir::new("antidogpile-refresh-at-hard");
    a_caller_after_the_hard_deadline_waits_for_the_refresh_under_way(&dir.file_url());
}

/// A refresh that fails at or shortly before its value's hard deadline
/// (`during` passes while it computes, `after` once it failed, from
/// `before` after the value was written): no stale value is left to serve
/// while its retry is spaced, so its claim is given back or ends at the
/// deadline, and the next caller computes at once rather than wait for a
/// claim nobody computes under (the history checker found such waits once
/// the claimed entry was kept past the deadline).
fn a_failed_refresh_holds_nobody_up(url: &str, [before, during, after]: [u64; 3]) {
    let clock = ManualClock::new(Timestamp::from_millis(1_700_000_000_000));
    let cache = std::sync::Arc::new(Cache::from_url(url).unwrap().with_clock(clock.clock()));
    let ttl = Ttl::soft(Duration::from_secs(1))
        .factor(2)
        .grace(Duration::from_secs(60));
    assert_eq!(cache.get_or_compute("k", ttl, || 1u64), 1);
    clock.advance(Duration::from_millis(before));
    let failed = cache.get_or_try_compute("k", ttl, || {
        clock.advance(Duration::from_millis(during));
        Err::<u64, &str>("the refresh fails")
    });
    assert_eq!(
        failed,
        Ok(1),
        "{url}: the stale value stands in for the failure"
    );
    clock.advance(Duration::from_millis(after));
    let next = antidogpile_test_support::within(Duration::from_secs(5), {
        let cache = std::sync::Arc::clone(&cache);
        move || cache.get_or_compute("k", ttl, || 2u64)
    });
    assert_eq!(
        next,
        Some(2),
        "{url}: the next caller waited for a claim nobody computes under"
    );
}

/// Fails as the hard deadline (2 s) passes; then one that fails 100 ms
/// before it, whose spaced retry would outlast it.
const FAILURES: [[u64; 3]; 2] = [[1_990, 20, 0], [1_900, 0, 200]];

#[test]
fn a_failed_refresh_in_memory() {
    for timing in FAILURES {
        a_failed_refresh_holds_nobody_up("memory://", timing);
    }
}

#[test]
fn a_failed_refresh_on_files() {
    for timing in FAILURES {
        let dir = antidogpile_test_support::temp_dir::TempDir::new("antidogpile-failed-at-hard");
        a_failed_refresh_holds_nobody_up(&dir.file_url(), timing);
    }
}

#[test]
fn a_failed_refresh_on_redis() {
    let server = antidogpile_test_support::redis::Redis::start();
    for (index, timing) in FAILURES.into_iter().enumerate() {
        let url = server.url(&format!("timeout=2s&prefix=f{index}"));
        a_failed_refresh_holds_nobody_up(&url, timing);
    }
}
