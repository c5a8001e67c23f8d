//! Threads of one process do not all go to the store for the same refresh
//! claim or cold-miss lease: one asks, the others serve stale or wait.
//!
//! The store is a real `MemoryStore` behind a `Store` written here (as a
//! user's own store would be) that counts claim and lease attempts and
//! makes each one take 50 ms, as a slow network would.

mod common;

use common::altered_store::{Alterations, AlteredStore};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use antidogpile::clock::{ManualClock, Timestamp};
use antidogpile::{antidogpiled, install_named, store::Store, Cache};

static COMPUTES: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(soft = "10s", cache = "coalescing", name = "coalescing::hot")]
fn hot(id: u64) -> u64 {
    id + COMPUTES.fetch_add(1, Ordering::SeqCst)
}

fn sixteen_callers() -> Vec<u64> {
    common::call_together(16, || hot(1))
}

#[test]
fn sixteen_threads_make_one_lease_attempt_and_one_claim_attempt() {
    let store = Arc::new(AlteredStore::new(Alterations {
        hold_delay: Duration::from_millis(50),
        ..Alterations::default()
    }));
    let clock = ManualClock::new(Timestamp::from_millis(1_700_000_000_000));
    install_named(
        "coalescing",
        Cache::from_store(Arc::clone(&store) as Arc<dyn Store>).with_clock(clock.clock()),
    );

    let cold = sixteen_callers();
    assert!(cold.iter().all(|v| *v == 1), "{cold:?}");
    assert_eq!(
        store.leases.load(Ordering::SeqCst),
        1,
        "one lease attempt for sixteen cold callers"
    );

    clock.advance(Duration::from_secs(10));
    let stale = sixteen_callers();
    assert_eq!(stale.iter().filter(|v| **v == 2).count(), 1, "{stale:?}");
    assert_eq!(
        store.claims.load(Ordering::SeqCst),
        1,
        "one claim attempt for sixteen stale callers"
    );
    assert_eq!(COMPUTES.load(Ordering::SeqCst), 2);
}
