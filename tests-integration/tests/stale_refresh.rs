//! Fresh hits, and stale hits: one claim per grace window, everyone else
//! served the stale value at once; a new claim once the grace has passed.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use antidogpile::antidogpiled;
use common::{eventually, manual_cache, PATIENCE};

static VERSION: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(soft = "10s", factor = 4, cache = "stale_fresh", name = "stale::fresh")]
fn versioned(key: u32) -> (u32, u64) {
    (key, VERSION.fetch_add(1, Ordering::SeqCst))
}

#[test]
fn fresh_until_soft_then_one_refresh_then_fresh_again() {
    let clock = manual_cache("stale_fresh");
    let first = versioned(1);
    clock.advance(Duration::from_millis(9_999));
    assert_eq!(
        versioned(1),
        first,
        "still fresh just before the soft deadline"
    );
    clock.advance(Duration::from_millis(1));
    let refreshed = versioned(1);
    assert_ne!(
        refreshed, first,
        "the first caller after the soft deadline refreshes"
    );
    assert_eq!(versioned(1), refreshed, "and the refreshed value is fresh");
    let stats = antidogpile::stats("stale::fresh").unwrap();
    assert_eq!(stats.computes, 2);
    assert_eq!(
        (stats.misses, stats.stale_hits, stats.fresh_hits),
        (1, 1, 2)
    );
}

#[test]
fn values_are_gone_at_the_hard_timeout() {
    let clock = manual_cache("stale_fresh");
    let first = versioned(2);
    clock.advance(Duration::from_secs(40)); // factor 4 * soft 10 s
    let after_hard = versioned(2);
    assert_ne!(after_hard, first);
}

// ---- one claim per grace window ----

static CLAIMS: AtomicU64 = AtomicU64::new(0);

/// A compute that runs until the test lets it go (or says which call it is).
#[antidogpiled(
    soft = "10s",
    grace = "30s",
    cache = "stale_claim",
    name = "stale::claim",
    skip(release)
)]
fn held_compute(key: u32, release: Option<&mpsc::Receiver<()>>) -> u64 {
    let claim = CLAIMS.fetch_add(1, Ordering::SeqCst);
    if let Some(release) = release {
        let _ = release.recv_timeout(PATIENCE);
    }
    claim * 100 + u64::from(key)
}

#[test]
fn a_stale_value_is_served_while_one_caller_refreshes_and_reclaimed_after_grace() {
    let clock = manual_cache("stale_claim");
    let old = held_compute(7, None);
    clock.advance(Duration::from_secs(10));

    // The first caller after the soft deadline claims, and hangs.
    let (release_first, first_waits) = mpsc::channel();
    let first_claimer = std::thread::spawn(move || held_compute(7, Some(&first_waits)));
    assert!(eventually(PATIENCE, || CLAIMS.load(Ordering::SeqCst) == 2));

    // Everyone else gets the stale value at once, for the whole grace.
    for _ in 0..5 {
        assert_eq!(held_compute(7, None), old);
    }
    clock.advance(Duration::from_millis(29_999));
    assert_eq!(held_compute(7, None), old);
    assert_eq!(
        CLAIMS.load(Ordering::SeqCst),
        2,
        "no second claim within the grace"
    );

    // The grace has passed without a new value: the next caller claims again.
    clock.advance(Duration::from_millis(1));
    let second = held_compute(7, None);
    assert_eq!(CLAIMS.load(Ordering::SeqCst), 3);
    assert_ne!(second, old);

    // The first claimer finishing late overwrites with its (older) value;
    // that is its right: it was a valid refresh.
    release_first.send(()).unwrap();
    let late = first_claimer.join().unwrap();
    assert_eq!(late, 107);
    let stats = antidogpile::stats("stale::claim").unwrap();
    assert_eq!(stats.computes, 3);
}
