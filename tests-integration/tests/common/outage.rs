//! A server killed and restarted under callers: the scenario every remote
//! store's fault tests share.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use antidogpile_test_support::memcached::Memcached;
use antidogpile_test_support::redis::Redis;

/// Far above the timeouts of these tests: a call that takes this long hung.
const HUNG: Duration = Duration::from_secs(5);

/// A server a test can kill and start again on the same port.
pub trait Restartable {
    fn kill(&mut self);
    fn restart(&mut self);
}

impl Restartable for Memcached {
    fn kill(&mut self) {
        Memcached::kill(self);
    }
    fn restart(&mut self) {
        Memcached::restart(self);
    }
}

impl Restartable for Redis {
    fn kill(&mut self) {
        Redis::kill(self);
    }
    fn restart(&mut self) {
        Redis::restart(self);
    }
}

/// Four threads call `call` (a memoized fn answering `id * 7`, its computes
/// counted in `computes`, its stats under `namespace`) over ten keys while
/// `server` is killed and restarted: no wrong value, no hung call, the
/// outage counted as store errors, and caching resumed afterwards.
pub fn threads_call_through_a_restart(
    server: &mut impl Restartable,
    call: fn(u64) -> u64,
    namespace: &str,
    computes: &AtomicU64,
) {
    let stop = Arc::new(AtomicBool::new(false));
    let callers: Vec<_> = (0..4u64)
        .map(|thread| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut calls = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    let id = (thread + calls) % 10;
                    let started = Instant::now();
                    assert_eq!(call(id), id * 7, "a wrong value during a fault");
                    assert!(started.elapsed() < HUNG, "a call hung");
                    calls += 1;
                    std::thread::sleep(Duration::from_millis(1));
                }
                calls
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    server.kill();
    std::thread::sleep(Duration::from_millis(500));
    server.restart();
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::SeqCst);
    let calls: u64 = callers
        .into_iter()
        .map(|c| c.join().expect("a caller panicked"))
        .sum();
    assert!(calls > 100, "only {calls} calls");
    let stats = antidogpile::stats(namespace).unwrap();
    assert!(stats.store_errors >= 1, "the outage was seen: {stats:?}");

    // Caching resumed after the restart: all ten keys are cached again.
    for id in 0..10 {
        call(id);
    }
    let computed = computes.load(Ordering::SeqCst);
    for id in 0..10 {
        assert_eq!(call(id), id * 7);
    }
    assert_eq!(computes.load(Ordering::SeqCst), computed, "cached again");
}
