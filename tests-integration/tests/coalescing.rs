//! Threads of one process do not all go to the store for the same refresh
//! claim or cold-miss lease: one asks, the others serve stale or wait.
//!
//! The store is a real `MemoryStore` behind a `Store` written here (as a
//! user's own store would be) that counts claim and lease attempts and
//! makes each one take 50 ms, as a slow network would.

mod common;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use antidogpile::clock::{ManualClock, Timestamp};
use antidogpile::store::Deadlines;
use antidogpile::store::{Answer, ClaimId, Hold, LeaseId, ReadFor, Reader, Stored, Version, Wait};
use antidogpile::{
    antidogpiled, install_named,
    store::{Key, MemoryStore, Store},
    Cache,
};

#[derive(Debug, Default)]
struct SlowCountingStore {
    inner: MemoryStore,
    claims: AtomicUsize,
    leases: AtomicUsize,
}

impl Store for SlowCountingStore {
    fn read<'a>(
        &'a self,
        wait: Wait,
        key: Key,
        now: Timestamp,
        purpose: ReadFor,
        reader: &'a mut Reader<'_>,
    ) -> Answer<'a, Option<Hold>> {
        self.inner.read(wait, key, now, purpose, reader)
    }

    fn try_claim(
        &self,
        wait: Wait,
        key: Key,
        seen: Version,
        now: Timestamp,
        until: Timestamp,
    ) -> Answer<'_, Option<ClaimId>> {
        self.claims.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(50));
        self.inner.try_claim(wait, key, seen, now, until)
    }

    fn release_claim(&self, wait: Wait, key: Key, claim: ClaimId) -> Answer<'_, ()> {
        self.inner.release_claim(wait, key, claim)
    }

    fn write(
        &self,
        wait: Wait,
        key: Key,
        value: Stored,
        deadlines: Deadlines,
        now: Timestamp,
    ) -> Answer<'_, ()> {
        self.inner.write(wait, key, value, deadlines, now)
    }

    fn remove(&self, wait: Wait, key: Key) -> Answer<'_, ()> {
        self.inner.remove(wait, key)
    }

    fn try_lease(
        &self,
        wait: Wait,
        key: Key,
        now: Timestamp,
        grace: Duration,
    ) -> Answer<'_, Option<LeaseId>> {
        self.leases.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(50));
        self.inner.try_lease(wait, key, now, grace)
    }
}

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
    let store = Arc::new(SlowCountingStore::default());
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
