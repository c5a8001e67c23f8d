//! Limits of memcached that must not silently stop caching: deadlines past
//! 2038-01-19 (memcached reads an expiry as a 32-bit Unix time) and values
//! larger than what memcached returns in one reply.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use antidogpile::{Cache, Ttl};
use common::memcached::Memcached;
use common::ComputeProbe;

const DAY: Duration = Duration::from_secs(24 * 3600);

/// Two caches on one server: two processes, as far as sharing goes.
fn two_caches(server: &Memcached) -> (Cache, Cache) {
    let url = server.url("timeout=2s");
    (
        Cache::from_url(&url).unwrap(),
        Cache::from_url(&url).unwrap(),
    )
}

#[test]
fn a_hard_deadline_past_2038_is_kept() {
    let server = Memcached::start();
    let (a, b) = two_caches(&server);
    let computes = AtomicU64::new(0);
    let compute = || {
        computes.fetch_add(1, Ordering::SeqCst);
        "report".to_owned()
    };
    // Fresh for 512 days, kept 30 times that: 42 years.
    let ttl = Ttl::soft(512 * DAY).factor(30);
    assert_eq!(a.get_or_compute(&"far", ttl, compute), "report");
    assert_eq!(b.get_or_compute(&"far", ttl, compute), "report");
    assert_eq!(computes.load(Ordering::SeqCst), 1, "the value was not kept");
    // A 20-year hard set too.
    a.set_hard(&"twenty years", &7u64, Some(20 * 365 * DAY))
        .unwrap();
    assert_eq!(b.peek::<u64, _>(&"twenty years").unwrap(), Some(7));
    b.set_hard(
        &"twenty years, raw",
        &"text".to_owned(),
        Some(20 * 365 * DAY),
    )
    .unwrap();
    assert_eq!(
        a.peek::<String, _>(&"twenty years, raw")
            .unwrap()
            .as_deref(),
        Some("text")
    );
}

#[test]
fn a_grace_past_2038_keeps_the_cold_miss_lease() {
    let server = Memcached::start();
    let (a, b) = two_caches(&server);
    static PROBE: ComputeProbe = ComputeProbe::new();
    let ttl = Ttl::soft(Duration::from_secs(60)).grace(40 * 365 * DAY);
    let slow = || {
        let _inside = PROBE.enter();
        std::thread::sleep(Duration::from_millis(400));
        "computed".to_owned()
    };
    std::thread::scope(|scope| {
        let first = scope.spawn(|| a.get_or_compute(&"leased", ttl, slow));
        std::thread::sleep(Duration::from_millis(100));
        // The other "process" finds the lease and waits for the value.
        let second = scope.spawn(|| b.get_or_compute(&"leased", ttl, slow));
        assert_eq!(first.join().unwrap(), "computed");
        assert_eq!(second.join().unwrap(), "computed");
    });
    assert_eq!(
        (PROBE.computes(), PROBE.overlaps()),
        (1, 0),
        "computes, overlapping"
    );
}
