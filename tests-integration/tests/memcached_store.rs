//! The memoization contract on a real memcached (started per test on an
//! ephemeral port): shared values, one refresh per expiry, cold-miss leases,
//! async without blocking, undecodable bytes, and values too large to cache.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use antidogpile::antidogpiled;
use antidogpile::clock::{ManualClock, Timestamp};
use antidogpile::{install_named, Cache};
use common::memcached::{Memcached, UnixMemcached};
use common::{eventually_async, ComputeProbe, PATIENCE};

fn install(name: &str, server: &Memcached) -> ManualClock {
    install_with(name, server, "timeout=2s")
}

fn install_with(name: &str, server: &Memcached, query: &str) -> ManualClock {
    let clock = ManualClock::new(Timestamp::from_millis(1_700_000_000_000));
    let cache = Cache::from_url(&server.url(query))
        .unwrap()
        .with_clock(clock.clock());
    install_named(name, cache);
    clock
}

static SHARED_CALLS: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(soft = "10s", cache = "mc_shared_a", name = "mc::shared")]
fn shared_a(id: u64) -> String {
    SHARED_CALLS.fetch_add(1, Ordering::SeqCst);
    format!("value {id}")
}

#[antidogpiled(soft = "10s", cache = "mc_shared_b", name = "mc::shared")]
fn shared_b(id: u64) -> String {
    SHARED_CALLS.fetch_add(1, Ordering::SeqCst);
    format!("other {id}")
}

#[test]
fn two_caches_on_one_server_share_values() {
    let server = Memcached::start();
    install("mc_shared_a", &server);
    install("mc_shared_b", &server);
    assert_eq!(shared_a(1), "value 1");
    // Another cache (as another process would) finds the value: no compute.
    assert_eq!(shared_b(1), "value 1");
    assert_eq!(SHARED_CALLS.load(Ordering::SeqCst), 1);
}

static REFRESH_PROBE: ComputeProbe = ComputeProbe::new();
static REFRESHES: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(
    soft = "10s",
    grace = "30s",
    cache = "mc_refresh",
    name = "mc::refresh"
)]
fn refreshed(id: u64) -> u64 {
    let _canary = REFRESH_PROBE.enter();
    std::thread::sleep(Duration::from_millis(50));
    id * 1000 + REFRESHES.fetch_add(1, Ordering::SeqCst)
}

#[test]
fn threads_crossing_a_cold_miss_and_expiries_compute_once_each() {
    let server = Memcached::start();
    let clock = install("mc_refresh", &server);
    let hammer = |expected_computes: usize| {
        let values = common::call_together(16, || refreshed(3));
        assert_eq!(REFRESH_PROBE.computes(), expected_computes, "{values:?}");
        values
    };
    let cold = hammer(1);
    assert!(
        cold.iter().all(|v| *v == 3000),
        "every cold caller got the one value: {cold:?}"
    );
    for round in 1..=3 {
        clock.advance(Duration::from_secs(10));
        let values = hammer(1 + round);
        let new = values.iter().filter(|v| **v == 3000 + round as u64).count();
        assert_eq!(
            new, 1,
            "only the claimer got the new value, the rest the stale one: {values:?}"
        );
    }
    assert_eq!(REFRESH_PROBE.overlaps(), 0);
    let stats = antidogpile::stats("mc::refresh").unwrap();
    assert_eq!(stats.store_errors, 0);
    assert_eq!(stats.computes, 4);
}

static ASYNC_PROBE: ComputeProbe = ComputeProbe::new();

#[antidogpiled(soft = "10s", grace = "30s", cache = "mc_async", name = "mc::async")]
async fn refreshed_async(id: u64) -> Result<u64, String> {
    let _canary = ASYNC_PROBE.enter();
    tokio::time::sleep(Duration::from_millis(50)).await;
    Ok(id + ASYNC_PROBE.computes() as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_tasks_on_two_threads_compute_once_per_expiry() {
    let server = Memcached::start();
    let clock = install("mc_async", &server);
    for round in 0..3usize {
        if round > 0 {
            clock.advance(Duration::from_secs(10));
        }
        let tasks: Vec<_> = (0..64).map(|_| tokio::spawn(refreshed_async(7))).collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        assert_eq!(ASYNC_PROBE.computes(), round + 1);
    }
    assert_eq!(ASYNC_PROBE.overlaps(), 0);
    // The runtime's two threads were never blocked: a timer still fires on time.
    assert!(eventually_async(PATIENCE, || true).await);
}

static BEFORE_CALLS: AtomicU64 = AtomicU64::new(0);
static AFTER_CALLS: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(soft = "1h", cache = "mc_types", name = "mc::types")]
fn before_deploy(id: u64) -> u32 {
    BEFORE_CALLS.fetch_add(1, Ordering::SeqCst);
    id as u32
}

/// The same function after a deployment changed its return type.
#[antidogpiled(soft = "1h", cache = "mc_types", name = "mc::types")]
fn after_deploy(id: u64) -> String {
    AFTER_CALLS.fetch_add(1, Ordering::SeqCst);
    format!("#{id}")
}

#[test]
fn bytes_of_another_type_are_recomputed_and_overwritten() {
    let server = Memcached::start();
    install("mc_types", &server);
    assert_eq!(before_deploy(5), 5);
    assert_eq!(after_deploy(5), "#5", "not the u32's bytes misread");
    assert_eq!(after_deploy(5), "#5");
    assert_eq!(
        AFTER_CALLS.load(Ordering::SeqCst),
        1,
        "overwritten, then a hit"
    );
}

static LARGE_CALLS: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(soft = "1h", cache = "mc_large", name = "mc::large")]
fn large(size: usize) -> Vec<u8> {
    LARGE_CALLS.fetch_add(1, Ordering::SeqCst);
    vec![7; size]
}

#[test]
fn a_value_over_the_item_limit_is_served_not_cached_and_counted() {
    let server = Memcached::start();
    // A 64 KiB limit stands in for memcached's 1 MiB (postcard is slow on
    // megabytes in a debug build); the path is the same.
    install_with("mc_large", &server, "timeout=2s&max_value=65536");
    assert_eq!(large(100_000).len(), 100_000);
    assert_eq!(large(100_000).len(), 100_000);
    assert_eq!(LARGE_CALLS.load(Ordering::SeqCst), 2);
    let stats = antidogpile::stats("mc::large").unwrap();
    assert_eq!(stats.store_errors, 2);
    // Regression: the lease of the value that was not stored was left
    // behind, and the next caller waited a whole grace for it.
    assert_eq!(
        stats.waits, 0,
        "no caller waited on a lease that would never be filled"
    );
    assert_eq!(large(1000).len(), 1000);
    assert_eq!(large(1000).len(), 1000);
    assert_eq!(
        LARGE_CALLS.load(Ordering::SeqCst),
        3,
        "small values are cached"
    );
}

static HOSTILE_CALLS: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(
    soft = "1h",
    cache = "mc_hostile",
    name = "mc hostile\r\nflush_all\r\n"
)]
fn hostile(text: String) -> usize {
    HOSTILE_CALLS.fetch_add(1, Ordering::SeqCst);
    text.len()
}

#[antidogpiled(soft = "1h", cache = "mc_hostile", name = "mc::bystander")]
fn bystander(id: u64) -> u64 {
    HOSTILE_CALLS.fetch_add(1, Ordering::SeqCst);
    id
}

#[test]
fn a_namespace_with_spaces_and_line_breaks_cannot_inject_commands() {
    let server = Memcached::start();
    install("mc_hostile", &server);
    assert_eq!(bystander(1), 1);
    let text = "a\r\nflush_all\r\n".repeat(100);
    assert_eq!(hostile(text.clone()), text.len());
    assert_eq!(hostile(text.clone()), text.len());
    assert_eq!(bystander(1), 1);
    assert_eq!(
        HOSTILE_CALLS.load(Ordering::SeqCst),
        2,
        "both cached, nothing flushed"
    );
}

static UNIX_CALLS: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(soft = "1h", cache = "mc_unix", name = "mc::unix")]
fn over_a_unix_socket(id: u64) -> u64 {
    UNIX_CALLS.fetch_add(1, Ordering::SeqCst);
    id * 3
}

#[antidogpiled(soft = "1h", cache = "mc_unix", name = "mc::unix_async")]
async fn over_a_unix_socket_async(id: u64) -> u64 {
    UNIX_CALLS.fetch_add(1, Ordering::SeqCst);
    id * 4
}

#[test]
fn a_unix_socket_url_reaches_the_server_from_both_transports() {
    let server = UnixMemcached::start();
    let url = format!("memcached://{}", server.socket.display());
    install_named("mc_unix", Cache::from_url(&url).unwrap());
    assert_eq!(over_a_unix_socket(2), 6);
    assert_eq!(over_a_unix_socket(2), 6);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert_eq!(runtime.block_on(over_a_unix_socket_async(2)), 8);
    assert_eq!(runtime.block_on(over_a_unix_socket_async(2)), 8);
    assert_eq!(UNIX_CALLS.load(Ordering::SeqCst), 2);
    let stats = antidogpile::stats("mc::unix").unwrap();
    assert_eq!((stats.store_errors, stats.fresh_hits), (0, 1));
}

static REAL_LIMIT_CALLS: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(soft = "1h", cache = "mc_real_limit", name = "mc::real_limit")]
fn past_the_real_limit(size: usize) -> Vec<u8> {
    REAL_LIMIT_CALLS.fetch_add(1, Ordering::SeqCst);
    vec![1; size]
}

#[test]
fn memcached_refusing_an_item_over_its_own_1_mib_limit_is_a_counted_store_error() {
    let server = Memcached::start();
    // Our own size check raised past memcached's, so that memcached itself refuses.
    install_with("mc_real_limit", &server, "timeout=2s&max_value=2097152");
    let size = 1_500_000;
    assert_eq!(past_the_real_limit(size).len(), size);
    assert_eq!(past_the_real_limit(size).len(), size);
    assert_eq!(
        REAL_LIMIT_CALLS.load(Ordering::SeqCst),
        2,
        "served, not cached"
    );
    let stats = antidogpile::stats("mc::real_limit").unwrap();
    assert_eq!((stats.store_errors, stats.waits), (2, 0));
    // The refused write left the connection and the server usable.
    assert_eq!(past_the_real_limit(10).len(), 10);
    assert_eq!(past_the_real_limit(10).len(), 10);
    assert_eq!(REAL_LIMIT_CALLS.load(Ordering::SeqCst), 3);
}
