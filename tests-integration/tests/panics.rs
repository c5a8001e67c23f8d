//! A panicking or cancelled compute releases its claim or lease at once:
//! the next caller computes without waiting for the grace, waiters wake up,
//! and nothing is left poisoned. So does a panic in the user code the cache
//! runs around a hold (here the `Drop` of a value a lease replaces).

mod common;

use std::panic::catch_unwind;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use antidogpile::antidogpiled;
use common::{eventually, manual_cache, PATIENCE};
use serde::{Deserialize, Serialize};

static PANIC_NEXT: AtomicBool = AtomicBool::new(false);
static CALLS: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(
    soft = "10s",
    grace = "1h",
    cache = "panics_claim",
    name = "panics::claim"
)]
fn fragile(x: u64) -> u64 {
    let call = CALLS.fetch_add(1, Ordering::SeqCst);
    assert!(!PANIC_NEXT.swap(false, Ordering::SeqCst), "compute blew up");
    x + call * 10
}

#[test]
fn a_panicking_refresh_releases_its_claim_at_once() {
    let clock = manual_cache("panics_claim");
    let old = fragile(1);
    clock.advance(Duration::from_secs(10));
    PANIC_NEXT.store(true, Ordering::SeqCst);
    assert!(catch_unwind(|| fragile(1)).is_err());
    // No clock movement: a 1 h grace would block a retry if the claim had stayed.
    let refreshed = fragile(1);
    assert_ne!(refreshed, old);
    assert_eq!(CALLS.load(Ordering::SeqCst), 3);
    assert_eq!(antidogpile::stats("panics::claim").unwrap().panics, 1);
}

static LEASE_CALLS: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(
    soft = "10s",
    grace = "1h",
    cache = "panics_lease",
    name = "panics::lease"
)]
fn fragile_first(x: u64) -> u64 {
    if LEASE_CALLS.fetch_add(1, Ordering::SeqCst) == 0 {
        // Hold the lease until a waiter is queued, then blow up.
        assert!(eventually(PATIENCE, || {
            antidogpile::stats("panics::lease").is_some_and(|s| s.waits == 1)
        }));
        panic!("first compute blew up");
    }
    x * 2
}

#[test]
fn a_panicking_cold_miss_wakes_its_waiters_and_one_of_them_computes() {
    let _clock = manual_cache("panics_lease");
    let holder = std::thread::spawn(|| catch_unwind(|| fragile_first(21)));
    assert!(eventually(PATIENCE, || LEASE_CALLS.load(Ordering::SeqCst) == 1));
    let waiter = std::thread::spawn(|| fragile_first(21));
    assert!(holder.join().unwrap().is_err());
    assert_eq!(
        waiter.join().unwrap(),
        42,
        "the waiter computed after the panic"
    );
    assert_eq!(LEASE_CALLS.load(Ordering::SeqCst), 2);
    assert_eq!(fragile_first(21), 42, "and the value is cached");
    assert_eq!(LEASE_CALLS.load(Ordering::SeqCst), 2);
}

static ASYNC_STARTED: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(
    soft = "10s",
    grace = "1h",
    cache = "panics_cancel",
    name = "panics::cancel"
)]
async fn slow_async(x: u64) -> u64 {
    if ASYNC_STARTED.fetch_add(1, Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    x + 1
}

#[tokio::test]
async fn a_cancelled_future_releases_its_lease_at_once() {
    let _clock = manual_cache("panics_cancel");
    let cancelled = tokio::time::timeout(Duration::from_millis(50), slow_async(1)).await;
    assert!(
        cancelled.is_err(),
        "the first call was cancelled mid-compute"
    );
    assert_eq!(
        tokio::time::timeout(PATIENCE, slow_async(1)).await,
        Ok(2),
        "the next call computes without waiting an hour of grace"
    );
    assert_eq!(ASYNC_STARTED.load(Ordering::SeqCst), 2);
}

static REFRESH_STARTED: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(
    soft = "10s",
    grace = "1h",
    cache = "panics_cancel_refresh",
    name = "panics::cancel_refresh"
)]
async fn slow_refresh(x: u64) -> u64 {
    if REFRESH_STARTED.fetch_add(1, Ordering::SeqCst) == 1 {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    x + REFRESH_STARTED.load(Ordering::SeqCst)
}

#[tokio::test]
async fn a_cancelled_refresh_releases_its_claim_at_once() {
    let clock = manual_cache("panics_cancel_refresh");
    assert_eq!(slow_refresh(10).await, 11);
    clock.advance(Duration::from_secs(10));
    let cancelled = tokio::time::timeout(Duration::from_millis(50), slow_refresh(10)).await;
    assert!(cancelled.is_err());
    assert_eq!(
        slow_refresh(10).await,
        13,
        "refreshed at once by the next caller"
    );
}

/// A call that has not returned by then is stuck.
const HANG_AFTER: Duration = Duration::from_secs(15);

/// The value of key 7 whose destructor panics, once armed.
static DROP_PANICS_FOR: AtomicU64 = AtomicU64::new(u64::MAX);
static BOMB_COMPUTES: AtomicU64 = AtomicU64::new(0);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct DropBomb(u64);

impl Drop for DropBomb {
    fn drop(&mut self) {
        let armed =
            DROP_PANICS_FOR.compare_exchange(self.0, u64::MAX, Ordering::SeqCst, Ordering::SeqCst);
        if armed.is_ok() && !std::thread::panicking() {
            panic!("Boom({})", self.0);
        }
    }
}

#[antidogpiled(
    soft = "10s",
    factor = 1,
    grace = "1h",
    cache = "panics_drop",
    name = "panics::drop"
)]
fn bomb(id: u64) -> DropBomb {
    BOMB_COMPUTES.fetch_add(1, Ordering::SeqCst);
    DropBomb(id)
}

#[test]
fn an_expired_value_whose_drop_panics_as_a_lease_replaces_it_gives_the_lease_back() {
    let clock = manual_cache("panics_drop");
    drop(bomb(7));
    // The value kept in the store panics when the lease that replaces it drops it.
    DROP_PANICS_FOR.store(7, Ordering::SeqCst);
    clock.advance(Duration::from_secs(10));
    assert!(
        catch_unwind(|| bomb(7)).is_err(),
        "the Drop should have panicked"
    );
    assert_eq!(
        DROP_PANICS_FOR.load(Ordering::SeqCst),
        u64::MAX,
        "it was the expired value's Drop"
    );
    // No clock movement: a lease left held would keep the next caller an hour.
    let next = antidogpile_test_support::within(HANG_AFTER, || bomb(7));
    assert_eq!(
        next,
        Some(DropBomb(7)),
        "HANG: the call after the panicking Drop did not finish in 15s"
    );
    assert_eq!(BOMB_COMPUTES.load(Ordering::SeqCst), 2);
    assert_eq!(antidogpile::stats("panics::drop").unwrap().panics, 1);
}
