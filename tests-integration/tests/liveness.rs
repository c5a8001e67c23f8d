//! Liveness: a caller waits only while someone is really computing its
//! value. A live holder of a slow compute keeps its lease or claim up to the
//! grace; a dead one (a SIGKILLed process, a dropped runtime) is replaced
//! within seconds whatever the grace; a failed refresh is retried after a
//! short spacing, not after the grace.
//!
//! The cross-process cases run `antidogpile-worker` (src/bin) processes
//! against memcached and the file store (tests/common/workers.rs).

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use antidogpile::clock::{ManualClock, Timestamp};
use antidogpile::{
    store::{FileStore, MemoryStore},
    Cache, Ttl,
};
use antidogpile_test_support::temp_dir::TempDir;
use common::fault_proxy::FaultProxy;
use common::memcached::Memcached;
use common::{holds, workers};

// ---- a live holder keeps its lease (20 s compute, grace 60 s) ----

#[test]
fn a_twenty_second_compute_is_computed_once_by_three_processes_on_memcached() {
    let server = Memcached::start();
    workers::three_processes_want_a_twenty_second_compute(&server.url("timeout=1s"));
}

#[test]
fn a_twenty_second_compute_is_computed_once_by_three_processes_on_files() {
    let dir = TempDir::new("liveness-slow");
    workers::three_processes_want_a_twenty_second_compute(&dir.file_url());
}

// ---- a dead holder is replaced within the target (grace 60 s) ----

#[test]
fn a_killed_cold_miss_holder_is_replaced_within_seconds_on_memcached() {
    let server = Memcached::start();
    workers::a_cold_holder_is_killed(&server.url("timeout=1s"));
}

#[test]
fn a_killed_cold_miss_holder_is_replaced_within_seconds_on_files() {
    let dir = TempDir::new("liveness-cold-kill");
    workers::a_cold_holder_is_killed(&dir.file_url());
}

#[test]
fn a_killed_refresh_claimer_is_replaced_within_seconds_on_memcached() {
    let server = Memcached::start();
    workers::a_refresh_claimer_is_killed(&server.url("timeout=1s"));
}

#[test]
fn a_killed_refresh_claimer_is_replaced_within_seconds_on_files() {
    let dir = TempDir::new("liveness-claim-kill");
    workers::a_refresh_claimer_is_killed(&dir.file_url());
}

// A grace no longer than the liveness window: the claim is never renewed,
// and its holder is killed as soon as it computes (issue 20.5).

#[test]
fn a_refresh_claimer_killed_before_any_renewal_is_replaced_within_the_window_on_memcached() {
    let server = Memcached::start();
    workers::a_refresh_claimer_is_killed_at_once(&server.url("timeout=1s"));
}

#[test]
fn a_refresh_claimer_killed_before_any_renewal_is_replaced_within_the_window_on_files() {
    let dir = TempDir::new("liveness-claim-kill-at-once");
    workers::a_refresh_claimer_is_killed_at_once(&dir.file_url());
}

#[test]
fn a_killed_client_duty_holder_is_replaced_within_seconds_on_memcached() {
    let server = Memcached::start();
    workers::a_client_duty_holder_is_killed(&server.url("timeout=1s"));
}

// ---- a process holding many leases at once keeps them all ----

#[test]
fn twenty_thousand_leases_held_through_a_long_compute_are_all_kept_on_memcached() {
    let server = Memcached::start();
    let url = server.url("timeout=2s");
    holds::every_lease_is_kept(&url, &url);
}

/// A millisecond of round trip: renewing one hold at a time, a process
/// could keep a few hundred holds alive in a one-second window.
#[test]
fn twenty_thousand_leases_a_millisecond_away_are_all_kept_on_memcached() {
    let server = Memcached::start();
    let proxy = FaultProxy::start(server.port());
    proxy.delay_replies(Duration::from_millis(1));
    holds::every_lease_is_kept(&proxy.url("timeout=2s"), &server.url("timeout=2s"));
}

/// One process holds a lease on two stores; one of them stops answering
/// (its replies held back past its timeout). The other store's lease is
/// still renewed: a renewal stuck on one store never delays another's.
#[test]
fn a_store_that_stops_answering_delays_no_other_stores_renewals() {
    let server = Memcached::start();
    let proxy = FaultProxy::start(server.port());
    let window = Duration::from_secs(1);
    let ttl = Ttl::soft(Duration::from_secs(600)).grace(Duration::from_secs(60));
    let stalled = Cache::from_url(&proxy.url("timeout=3s"))
        .unwrap()
        .with_liveness(window);
    let kept = Cache::from_url(&server.url("timeout=2s"))
        .unwrap()
        .with_liveness(window);
    let computing = Arc::new(AtomicUsize::new(0));
    let hold = |cache: Cache, key: &'static str| {
        let computing = Arc::clone(&computing);
        std::thread::spawn(move || {
            cache.get_or_compute(key, ttl, || {
                computing.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_secs(5));
                1u64
            })
        })
    };
    let holders = [
        hold(stalled, "on the stalled store"),
        hold(kept, "on the other store"),
    ];
    assert!(
        common::eventually(common::PATIENCE, || computing.load(Ordering::SeqCst) == 2),
        "the holders never started computing"
    );
    proxy.delay_replies(Duration::from_secs(10));
    std::thread::sleep(window * 3);
    let other = Cache::from_url(&server.url("timeout=2s")).unwrap();
    let got = other.get::<u64, _>("on the other store").unwrap();
    println!("three windows after one store stopped answering, the other store's key: {got:?}");
    proxy.pass_through();
    for holder in holders {
        holder.join().expect("a holder panicked");
    }
    assert!(
        matches!(got, antidogpile::Got::Pending),
        "the other store's lease lapsed while its holder lived: {got:?}"
    );
}

// ---- a runtime dropped while a task holds a lease or a claim ----

const LONG_GRACE: Duration = Duration::from_secs(20);

/// Runs `task` on a current_thread runtime until `started` is set, then
/// drops the runtime with the task still pending (cancelled).
fn drop_runtime_while(
    task: impl std::future::Future<Output = ()> + Send + 'static,
    started: &AtomicBool,
) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        tokio::spawn(task);
        assert!(
            common::eventually_async(common::PATIENCE, || started.load(Ordering::SeqCst)).await,
            "the task never started computing"
        );
    });
    drop(runtime);
}

/// Calls `call` on a thread; its result, or `None` if it took over `limit`.
fn within<T: Send + 'static>(
    limit: Duration,
    call: impl FnOnce() -> T + Send + 'static,
) -> Option<(T, Duration)> {
    antidogpile_test_support::within(limit, move || {
        let start = Instant::now();
        (call(), start.elapsed())
    })
}

static LEASE_STARTED: AtomicBool = AtomicBool::new(false);

#[test]
fn a_runtime_dropped_while_its_task_holds_a_lease_releases_it_at_once() {
    let dir = TempDir::new("liveness-drop-lease");
    let ttl = Ttl::soft(Duration::from_secs(60)).grace(LONG_GRACE);
    // A liveness window far above the bound: only a release passes.
    let holder = Arc::new(
        Cache::new(FileStore::new(dir.path()).unwrap()).with_liveness(Duration::from_secs(15)),
    );
    let task_holder = Arc::clone(&holder);
    drop_runtime_while(
        async move {
            let _: u64 = task_holder
                .as_async()
                .get_or_compute(&"cold", ttl, async {
                    LEASE_STARTED.store(true, Ordering::SeqCst);
                    std::future::pending::<u64>().await
                })
                .await;
        },
        &LEASE_STARTED,
    );
    // Another cache on the same directory: another process, as far as leases go.
    let other = Cache::new(FileStore::new(dir.path()).unwrap());
    let taken = within(Duration::from_secs(10), move || {
        other.get_or_compute(&"cold", ttl, || 7u64)
    });
    let (value, took) = taken.expect("the next caller waited for the dropped task's lease");
    println!("the next caller got its value after {took:?}");
    assert_eq!(value, 7);
    assert!(
        took < Duration::from_secs(3),
        "waited {took:?} for a lease nobody held"
    );
}

static CLAIM_STARTED: AtomicBool = AtomicBool::new(false);

#[test]
fn a_runtime_dropped_while_its_task_holds_a_claim_releases_it_at_once() {
    let dir = TempDir::new("liveness-drop-claim");
    let ttl = Ttl::soft(Duration::from_millis(200))
        .factor(100)
        .grace(LONG_GRACE);
    let holder = Arc::new(
        Cache::new(FileStore::new(dir.path()).unwrap()).with_liveness(Duration::from_secs(15)),
    );
    assert_eq!(holder.get_or_compute(&"stale", ttl, || 1u64), 1);
    std::thread::sleep(Duration::from_millis(300));
    let task_holder = Arc::clone(&holder);
    drop_runtime_while(
        async move {
            let _: u64 = task_holder
                .as_async()
                .get_or_compute(&"stale", ttl, async {
                    CLAIM_STARTED.store(true, Ordering::SeqCst);
                    std::future::pending::<u64>().await
                })
                .await;
        },
        &CLAIM_STARTED,
    );
    let other = Cache::new(FileStore::new(dir.path()).unwrap());
    // The claim is released (on the liveness thread, as the runtime's own
    // thread must not block): within moments a caller claims the refresh
    // and computes, long before the grace.
    let begin = Instant::now();
    let mut refreshed = 1;
    while refreshed != 2 && begin.elapsed() < Duration::from_secs(3) {
        refreshed = other.get_or_compute(&"stale", ttl, || 2u64);
        if refreshed != 2 {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    println!("the claim was taken over after {:?}", begin.elapsed());
    assert_eq!(
        refreshed, 2,
        "the stale value was served for 3 s: the dropped task's claim was kept"
    );
}

// ---- a failed refresh is retried after the retry spacing ----

#[test]
fn a_failed_refresh_is_retried_after_the_retry_spacing() {
    let manual = ManualClock::new(Timestamp::from_millis(1_700_000_000_000));
    let cache = Cache::new(MemoryStore::new()).with_clock(manual.clock());
    let spacing = Duration::from_secs(5);
    let ttl = Ttl::soft(Duration::from_secs(1)).grace(Duration::from_secs(60));
    let attempts = AtomicUsize::new(0);
    let compute = |result: Result<u64, &'static str>| {
        attempts.fetch_add(1, Ordering::SeqCst);
        result
    };
    assert_eq!(
        cache.get_or_try_compute(&"k", ttl, || compute(Ok(1))),
        Ok(1)
    );
    manual.advance(Duration::from_secs(2));
    // The refresh fails: the stale value is served.
    assert_eq!(
        cache.get_or_try_compute(&"k", ttl, || compute(Err("down"))),
        Ok(1)
    );
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
    // Within the spacing, nobody retries.
    manual.advance(spacing - Duration::from_millis(1));
    assert_eq!(
        cache.get_or_try_compute(&"k", ttl, || compute(Ok(2))),
        Ok(1)
    );
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        2,
        "retried within the spacing"
    );
    // After it, the next caller retries (long before the 60 s grace).
    manual.advance(Duration::from_millis(1));
    assert_eq!(
        cache.get_or_try_compute(&"k", ttl, || compute(Ok(2))),
        Ok(2)
    );
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        3,
        "not retried after the spacing"
    );
}
