//! A caller waits one grace in all, not one per thing it waits for: a
//! compute of its own process that hangs, then that compute's lease in
//! the store (found by the history checker, issue 23: a batch waited 3.9 s
//! with a grace of 2 s, first for a compute here, then for the store's
//! lease of the same hung holder).

use std::sync::mpsc;
use std::time::{Duration, Instant};

use antidogpile::{Cache, Ttl};
use antidogpile_test_support::memcached::Memcached;

const GRACE: Duration = Duration::from_secs(1);

#[test]
fn a_caller_behind_a_hung_holder_of_its_process_waits_one_grace() {
    let server = Memcached::start();
    let cache = Cache::from_url(&server.url("timeout=2s&liveness=3s")).unwrap();
    let ttl = Ttl::soft(Duration::from_secs(60)).grace(GRACE);
    let (holding, held) = mpsc::channel::<()>();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            cache.get_or_compute("k", ttl, move || {
                holding.send(()).unwrap();
                std::thread::sleep(GRACE * 4); // hangs past the grace
                1u64
            })
        });
        held.recv().unwrap();
        let started = Instant::now();
        let value = cache.get_or_compute("k", ttl, || 2u64);
        let waited = started.elapsed();
        assert_eq!(value, 2, "it computes itself once the grace is over");
        assert!(
            waited < GRACE.mul_f32(1.6),
            "waited {waited:?} behind a hung holder with a grace of {GRACE:?}"
        );
    });
}
