//! A store restarted empty loses the clearing generations: a process that
//! knows one writes it back, and processes started since take it within a
//! second, so that all invalidate the same keys (found by the history
//! checker, issue 23: a process started after a Redis restart read no
//! generation and kept using another one than the older processes for
//! good; its invalidations missed their values, which they served fresh).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use antidogpile::{antidogpiled, install_named, named_cache, Cache, Invalidate};
use antidogpile_test_support::memcached::Memcached;
use antidogpile_test_support::redis::Redis;

static COMPUTES: AtomicU64 = AtomicU64::new(0);

fn compute(key: u64) -> u64 {
    key * 1_000 + COMPUTES.fetch_add(1, Ordering::SeqCst)
}

// One function as two processes call it: one namespace, a cache each.
#[antidogpiled(
    soft = "1h",
    cache = "restart_old",
    name = "generation_after_a_restart::value"
)]
fn in_old(key: u64) -> u64 {
    compute(key)
}

#[antidogpiled(
    soft = "1h",
    cache = "restart_new",
    name = "generation_after_a_restart::value"
)]
fn in_new(key: u64) -> u64 {
    compute(key)
}

/// How long every process takes to read the generations again (once a
/// second), and the restored one to reach the other.
const TWO_ROUNDS: Duration = Duration::from_millis(2_300);

fn invalidations_reach_the_old_process(url: &str, restart: impl FnOnce()) {
    install_named("restart_old", Cache::from_url(url).unwrap());
    named_cache("restart_old").unwrap().clear().unwrap();
    let _ = in_old(1);
    restart();
    // A process started after the restart, and a value the old one
    // computes after it.
    install_named("restart_new", Cache::from_url(url).unwrap());
    let _ = in_new(1);
    let old = in_old(1);
    std::thread::sleep(TWO_ROUNDS);
    in_new_invalidate(1, Invalidate::Soft).unwrap();
    assert_ne!(
        in_old(1),
        old,
        "{url}: after the new process's invalidation returned, the old process served \
         as fresh a value computed before it"
    );
}

#[test]
fn after_a_redis_restart() {
    let mut server = Redis::start();
    let url = server.url("timeout=2s");
    invalidations_reach_the_old_process(&url, || {
        server.kill();
        server.restart();
    });
}

#[test]
fn after_a_memcached_restart() {
    let mut server = Memcached::start();
    let url = server.url("timeout=2s");
    invalidations_reach_the_old_process(&url, || {
        server.kill();
        server.restart();
    });
}
