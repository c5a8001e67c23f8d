//! An invalidation made by a process that has not seen another process's
//! clear yet (it reads the generations once a second) reaches the values
//! of both generations: those the clearing process computes under the new
//! one, and those callers here still read under the old one (found by the
//! history checker, issue 23: the invalidation reached the old generation
//! only, and the clearing process served a value computed before it as
//! fresh).

use std::sync::atomic::{AtomicU64, Ordering};

use antidogpile::{antidogpiled, install_named, named_cache, Cache, Invalidate};
use antidogpile_test_support::memcached::Memcached;
use antidogpile_test_support::redis::Redis;
use antidogpile_test_support::temp_dir::TempDir;

static COMPUTES: AtomicU64 = AtomicU64::new(0);

fn compute(key: u64) -> u64 {
    key * 1_000 + COMPUTES.fetch_add(1, Ordering::SeqCst)
}

// One function as two processes call it: one namespace, a cache each.
#[antidogpiled(
    soft = "1h",
    cache = "across_a_clear_a",
    name = "across_a_clear::value"
)]
fn in_a(key: u64) -> u64 {
    compute(key)
}

#[antidogpiled(
    soft = "1h",
    cache = "across_a_clear_b",
    name = "across_a_clear::value"
)]
fn in_b(key: u64) -> u64 {
    compute(key)
}

fn an_invalidation_reaches_both_generations(url: &str) {
    install_named("across_a_clear_a", Cache::from_url(url).unwrap());
    install_named("across_a_clear_b", Cache::from_url(url).unwrap());
    let old = in_b(1); // b reads the generation now, then once a second
    named_cache("across_a_clear_a").unwrap().clear().unwrap();
    let new = in_a(1); // computed under the new generation
    assert_ne!(old, new, "{url}: the clear made a new generation");
    assert!(
        in_b_invalidate(1, Invalidate::Soft).unwrap(),
        "{url}: b found a value to invalidate"
    );
    assert_ne!(
        in_a(1),
        new,
        "{url}: after b's invalidation returned, the clearing process served as \
         fresh a value computed before it"
    );
    assert_ne!(
        in_b(1),
        old,
        "{url}: after its own invalidation returned, b served as fresh its value of \
         the old generation"
    );
}

#[test]
fn across_a_clear_on_memcached_redis_and_files() {
    let memcached = Memcached::start();
    an_invalidation_reaches_both_generations(&memcached.url("timeout=2s"));
    let redis = Redis::start();
    an_invalidation_reaches_both_generations(&redis.url("timeout=2s"));
    let dir = TempDir::new("antidogpile-across-a-clear");
    an_invalidation_reaches_both_generations(&dir.file_url());
}
