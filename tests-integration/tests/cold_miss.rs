//! Cold misses: exactly one caller computes, the others wait for its value;
//! after the grace a waiter may take over.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::time::Duration;

use antidogpile::antidogpiled;
use common::{eventually, manual_cache, PATIENCE};

static COMPUTES: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(soft = "10s", grace = "5s", cache = "cold_wait", name = "cold::wait")]
fn slow_square(x: u64) -> u64 {
    COMPUTES.fetch_add(1, Ordering::SeqCst);
    // Let the other callers arrive and start waiting.
    assert!(eventually(PATIENCE, || {
        antidogpile::stats("cold::wait").is_some_and(|s| s.waits >= 7)
    }));
    x * x
}

#[test]
fn one_caller_computes_and_the_waiters_receive_its_value() {
    let _clock = manual_cache("cold_wait");
    let start = Arc::new(Barrier::new(8));
    let callers: Vec<_> = (0..8)
        .map(|_| {
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                start.wait();
                slow_square(12)
            })
        })
        .collect();
    for caller in callers {
        assert_eq!(caller.join().unwrap(), 144);
    }
    assert_eq!(COMPUTES.load(Ordering::SeqCst), 1);
    let stats = antidogpile::stats("cold::wait").unwrap();
    assert_eq!((stats.misses, stats.waits, stats.computes), (8, 7, 1));
}

static TAKEOVERS: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(
    soft = "10s",
    grace = "5s",
    cache = "cold_takeover",
    name = "cold::takeover",
    skip(hang)
)]
fn maybe_hanging(x: u64, hang: Option<&mpsc::Receiver<()>>) -> u64 {
    let attempt = TAKEOVERS.fetch_add(1, Ordering::SeqCst);
    if let Some(hang) = hang {
        let _ = hang.recv_timeout(PATIENCE);
    }
    x + attempt * 1000
}

#[test]
fn a_waiter_takes_over_when_the_lease_holder_overruns_its_grace() {
    let clock = manual_cache("cold_takeover");
    let (release, hang) = mpsc::channel();
    let holder = std::thread::spawn(move || maybe_hanging(1, Some(&hang)));
    assert!(eventually(PATIENCE, || TAKEOVERS.load(Ordering::SeqCst) == 1));

    let waiter = std::thread::spawn(|| maybe_hanging(1, None));
    assert!(eventually(PATIENCE, || {
        antidogpile::stats("cold::takeover").is_some_and(|s| s.waits == 1)
    }));
    std::thread::sleep(Duration::from_millis(20));
    assert!(
        !waiter.is_finished(),
        "the waiter waits while the lease is live"
    );
    assert_eq!(TAKEOVERS.load(Ordering::SeqCst), 1);

    clock.advance(Duration::from_secs(5));
    assert_eq!(
        waiter.join().unwrap(),
        1001,
        "the waiter took over and computed"
    );
    release.send(()).unwrap();
    assert_eq!(holder.join().unwrap(), 1);
    assert_eq!(TAKEOVERS.load(Ordering::SeqCst), 2);
}
