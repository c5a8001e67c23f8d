//! A batch that refreshes a stale key holds nothing else while it computes:
//! the in-process lease it took for a cold key, to read it again, is given
//! back first (found by the history checker, issue 23: a batch whose
//! refresh hung kept two cold keys' leases for 2 s, and every caller of
//! those keys waited with nobody computing them).

use std::sync::mpsc;
use std::time::Duration;

use antidogpile::clock::{ManualClock, Timestamp};
use antidogpile::{Cache, Ttl};

#[test]
fn a_batch_refreshing_one_key_keeps_no_lease_of_another() {
    let clock = ManualClock::new(Timestamp::from_millis(1_700_000_000_000));
    let cache = std::sync::Arc::new(
        Cache::from_url("memory://")
            .unwrap()
            .with_clock(clock.clock()),
    );
    let ttl = Ttl::soft(Duration::from_secs(1))
        .factor(10)
        .grace(Duration::from_secs(60));
    cache.set("stale", &1u64, ttl).unwrap();
    clock.advance(Duration::from_millis(1_500)); // "stale" is stale, "cold" absent
    let (computing, release) = (mpsc::channel::<()>(), mpsc::channel::<()>());
    std::thread::scope(|scope| {
        let batch = scope.spawn(|| {
            let (started, resume) = (computing.0, release.1);
            cache.get_or_compute_many(&["stale", "cold"], ttl, move |keys| {
                if keys == [&"stale"] {
                    // The refresh hangs until the test is done.
                    started.send(()).unwrap();
                    resume.recv().unwrap();
                }
                keys.iter().map(|_| 2u64).collect()
            })
        });
        computing.1.recv().unwrap();
        let other = antidogpile_test_support::within(Duration::from_secs(5), {
            let cache = std::sync::Arc::clone(&cache);
            move || cache.get_or_compute("cold", ttl, || 3u64)
        });
        release.0.send(()).unwrap();
        batch.join().unwrap().unwrap();
        assert_eq!(
            other,
            Some(3),
            "a caller of the cold key waited for the batch, which computed another key"
        );
    });
}
