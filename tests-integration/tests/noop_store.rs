//! `dummy://` (the no-op store) switches caching off by configuration:
//! every call computes, but concurrent callers of one process still share
//! one compute.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};

use antidogpile::{antidogpiled, install_named, Cache};
use common::{eventually, PATIENCE};

static CALLS: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(soft = "1h", cache = "noop", name = "noop::square")]
fn square(x: u64) -> u64 {
    CALLS.fetch_add(1, Ordering::SeqCst);
    // While concurrent callers arrive, hold the in-process lease.
    if x == 9 {
        assert!(eventually(PATIENCE, || {
            antidogpile::stats("noop::square").is_some_and(|s| s.waits >= 3)
        }));
    }
    x * x
}

#[test]
fn nothing_is_cached_but_concurrent_callers_share_one_compute() {
    install_named("noop", Cache::from_url("dummy://").unwrap());
    assert_eq!(square(3), 9);
    assert_eq!(square(3), 9);
    assert_eq!(
        CALLS.load(Ordering::SeqCst),
        2,
        "every sequential call computes"
    );

    for value in common::call_together(4, || square(9)) {
        assert_eq!(value, 81);
    }
    assert_eq!(
        CALLS.load(Ordering::SeqCst),
        3,
        "four concurrent callers, one compute"
    );
}
