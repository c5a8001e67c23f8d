//! A panicking or cancelled compute releases its claim or lease at once:
//! the next caller computes without waiting for the grace, waiters wake up,
//! and nothing is left poisoned. So does a panic in the user code the cache
//! runs after the body returned or around its hold (a value's `Clone`,
//! `Serialize` or `Drop`), on every store.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use antidogpile::clock::{ManualClock, Timestamp};
use antidogpile::{antidogpiled, store::MemoryStore, Cache, Ttl};
use antidogpile_test_support::temp_dir::TempDir;
use common::memcached::Memcached;
use common::{eventually, manual_cache, PATIENCE};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

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

// ---- a panic in the value's own code, after the body returned ----

/// The user code of a value that the cache runs after the compute returned.
#[derive(Clone, Copy, Debug, PartialEq)]
enum UserCode {
    Clone,
    Serialize,
}

/// A value whose `Clone` or `Serialize` panics (as `blows_up_in` says);
/// its copies, and the values read back from a store, do not.
#[derive(Debug, PartialEq)]
struct Fragile {
    id: u64,
    blows_up_in: Option<UserCode>,
}

impl Fragile {
    fn new(id: u64) -> Fragile {
        Fragile {
            id,
            blows_up_in: None,
        }
    }
}

impl Clone for Fragile {
    fn clone(&self) -> Fragile {
        assert_ne!(self.blows_up_in, Some(UserCode::Clone), "Clone blew up");
        Fragile::new(self.id)
    }
}

impl Serialize for Fragile {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        assert_ne!(
            self.blows_up_in,
            Some(UserCode::Serialize),
            "Serialize blew up"
        );
        self.id.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Fragile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Fragile, D::Error> {
        u64::deserialize(deserializer).map(Fragile::new)
    }
}

/// The grace, and the lease window of the stores that renew holds: what
/// the next caller waited when a panic left the lease held.
const LONG_GRACE: Duration = Duration::from_secs(10);
/// "At once", with a margin for a loaded machine (the lease left held cost the grace).
const AT_ONCE: Duration = Duration::from_millis(2_500);
/// A call that has not returned by then is stuck.
const HANG_AFTER: Duration = Duration::from_secs(15);

/// The first call for a cold key computes a value that panics in
/// `user_code` as it is stored; the next call must compute at once, not
/// wait for a lease that nobody holds any more, and its value is cached.
fn a_panic_as_the_value_is_stored_gives_the_lease_back(cache: Cache, user_code: UserCode) {
    let cache = Arc::new(cache.with_liveness(LONG_GRACE));
    let computes = Arc::new(AtomicUsize::new(0));
    let call = {
        let (cache, computes) = (Arc::clone(&cache), Arc::clone(&computes));
        move |blows_up_in: Option<UserCode>| {
            let ttl = Ttl::soft(Duration::from_secs(3600)).grace(LONG_GRACE);
            cache.get_or_compute(&"fragile", ttl, || Fragile {
                id: computes.fetch_add(1, Ordering::SeqCst) as u64 + 1,
                blows_up_in,
            })
        }
    };
    let first = catch_unwind(AssertUnwindSafe(|| call(Some(user_code))));
    assert!(first.is_err(), "{user_code:?} should have panicked");
    let next = call.clone();
    let second = antidogpile_test_support::within(HANG_AFTER, move || {
        let started = Instant::now();
        let value = next(None);
        (value, started.elapsed())
    });
    let (value, waited) = second.expect("HANG: the call after the panic did not finish in 15s");
    assert!(
        waited < AT_ONCE,
        "the call after a panicking {user_code:?} waited {waited:?} for the lease it left held"
    );
    assert_eq!(value, Fragile::new(2), "it computed");
    assert_eq!(call(None), Fragile::new(2), "and its value was cached");
    assert_eq!(computes.load(Ordering::SeqCst), 2);
}

#[test]
fn a_value_whose_clone_panics_as_it_is_stored_gives_the_lease_back_in_memory() {
    let cache = Cache::new(MemoryStore::new());
    a_panic_as_the_value_is_stored_gives_the_lease_back(cache, UserCode::Clone);
}

#[test]
fn a_value_whose_clone_panics_as_it_is_stored_gives_the_lease_back_on_files() {
    let dir = TempDir::new("panics-clone");
    let cache = Cache::from_url(&dir.file_url()).unwrap();
    a_panic_as_the_value_is_stored_gives_the_lease_back(cache, UserCode::Clone);
}

#[test]
fn a_value_whose_serialize_panics_as_it_is_stored_gives_the_lease_back_on_files() {
    let dir = TempDir::new("panics-serialize");
    let cache = Cache::from_url(&dir.file_url()).unwrap();
    a_panic_as_the_value_is_stored_gives_the_lease_back(cache, UserCode::Serialize);
}

#[test]
fn a_value_whose_clone_panics_as_it_is_stored_gives_the_lease_back_on_memcached() {
    let server = Memcached::start();
    let cache = Cache::from_url(&server.url("timeout=1s")).unwrap();
    a_panic_as_the_value_is_stored_gives_the_lease_back(cache, UserCode::Clone);
}

#[test]
fn a_value_whose_clone_panics_as_it_is_stored_gives_the_lease_back_on_redis() {
    let server = antidogpile_test_support::redis::Redis::start();
    let cache = Cache::from_url(&server.url("timeout=1s")).unwrap();
    a_panic_as_the_value_is_stored_gives_the_lease_back(cache, UserCode::Clone);
}

static PANICKING_CLONES: AtomicUsize = AtomicUsize::new(0);

#[antidogpiled(
    soft = "1h",
    grace = "10s",
    cache = "panics_clone_waiters",
    name = "panics::clone_waiters"
)]
fn clone_blows_up(id: u64) -> Fragile {
    PANICKING_CLONES.fetch_add(1, Ordering::SeqCst);
    // Long enough for the other callers to wait for this compute.
    std::thread::sleep(Duration::from_millis(50));
    Fragile {
        id,
        blows_up_in: Some(UserCode::Clone),
    }
}

/// Four callers of a cold key whose every value panics in `Clone` as it is
/// stored: each in turn computes and panics, none waits for a lease that
/// the one before left held.
#[test]
fn callers_of_a_value_whose_clone_panics_as_it_is_stored_each_compute_at_once() {
    antidogpile::install_named("panics_clone_waiters", Cache::new(MemoryStore::new()));
    let started = Instant::now();
    let panicked = antidogpile_test_support::within(HANG_AFTER, || {
        common::call_together(4, || catch_unwind(|| clone_blows_up(1)).is_err())
    });
    let panicked = panicked.expect("HANG: four callers did not finish in 15s");
    let took = started.elapsed();
    assert_eq!(panicked, [true; 4], "each caller computed, and panicked");
    assert!(took < AT_ONCE, "four callers took {took:?}");
    assert_eq!(PANICKING_CLONES.load(Ordering::SeqCst), 4);
    assert_eq!(
        antidogpile::stats("panics::clone_waiters").unwrap().panics,
        4
    );
}

/// A batch of two cold keys whose second value panics as it is stored: the
/// first key's write, queued with it, is never sent; its lease must be
/// given back too.
fn a_panic_in_a_batch_write_gives_every_lease_back(cache: Cache) {
    let cache = Arc::new(cache.with_liveness(LONG_GRACE));
    let ttl = Ttl::soft(Duration::from_secs(3600)).grace(LONG_GRACE);
    let batch = catch_unwind(AssertUnwindSafe(|| {
        cache.get_or_compute_many(&["first", "second"], ttl, |missing| {
            missing
                .iter()
                .map(|key| Fragile {
                    id: 1,
                    blows_up_in: (**key == "second").then_some(UserCode::Clone),
                })
                .collect()
        })
    }));
    assert!(
        batch.is_err(),
        "the second value's Clone should have panicked"
    );
    for key in ["first", "second"] {
        let cache = Arc::clone(&cache);
        let next = antidogpile_test_support::within(HANG_AFTER, move || {
            let started = Instant::now();
            let values = cache.get_or_compute_many(&[key], ttl, |missing| {
                missing.iter().map(|_| Fragile::new(2)).collect()
            });
            (values.unwrap(), started.elapsed())
        });
        let (values, waited) = next.expect("HANG: the call after the panic did not finish in 15s");
        assert!(
            waited < AT_ONCE,
            "the call for {key:?} after the batch's panic waited {waited:?} for a lease left held"
        );
        assert_eq!(values, [Fragile::new(2)], "{key:?} computed");
    }
}

#[test]
fn a_panic_in_a_batch_write_gives_every_lease_back_on_memcached() {
    let server = Memcached::start();
    let cache = Cache::from_url(&server.url("timeout=1s")).unwrap();
    a_panic_in_a_batch_write_gives_every_lease_back(cache);
}

#[test]
fn a_panic_in_a_batch_write_gives_every_lease_back_on_files() {
    let dir = TempDir::new("panics-batch");
    let cache = Cache::from_url(&dir.file_url()).unwrap();
    a_panic_in_a_batch_write_gives_every_lease_back(cache);
}

/// Whether the next [`Touchy`] decoded panics.
static DESERIALIZE_PANICS: AtomicBool = AtomicBool::new(false);

/// A value whose `Deserialize` panics once armed.
#[derive(Clone, Debug, PartialEq, Serialize)]
struct Touchy(u64);

impl<'de> Deserialize<'de> for Touchy {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Touchy, D::Error> {
        let id = u64::deserialize(deserializer)?;
        assert!(
            !DESERIALIZE_PANICS.swap(false, Ordering::SeqCst),
            "Deserialize blew up"
        );
        Ok(Touchy(id))
    }
}

/// A stale value, read by a request that also takes its refresh claim
/// (memcached, Redis), panics as it is decoded: the claim must be given
/// back, so that the next caller refreshes rather than is served the stale
/// value until the claim lapses.
fn a_panic_decoding_a_stale_value_gives_its_claim_back(cache: Cache) {
    let cache = cache.with_liveness(LONG_GRACE);
    let ttl = Ttl::soft(Duration::from_secs(1)).grace(LONG_GRACE);
    let computes = AtomicU64::new(0);
    let call = || {
        cache.get_or_compute(&"touchy", ttl, || {
            Touchy(computes.fetch_add(1, Ordering::SeqCst) + 1)
        })
    };
    assert_eq!(call(), Touchy(1));
    std::thread::sleep(Duration::from_millis(1_200));
    DESERIALIZE_PANICS.store(true, Ordering::SeqCst);
    assert!(catch_unwind(AssertUnwindSafe(call)).is_err());
    assert_eq!(
        call(),
        Touchy(2),
        "the next caller refreshes (not served the stale value for a claim left held)"
    );
    assert_eq!(computes.load(Ordering::SeqCst), 2);
}

#[test]
fn a_panic_decoding_a_stale_value_gives_its_claim_back_on_memcached() {
    let server = Memcached::start();
    let cache = Cache::from_url(&server.url("timeout=1s")).unwrap();
    a_panic_decoding_a_stale_value_gives_its_claim_back(cache);
}

#[test]
fn a_panic_decoding_a_stale_value_gives_its_claim_back_on_redis() {
    let server = antidogpile_test_support::redis::Redis::start();
    let cache = Cache::from_url(&server.url("timeout=1s")).unwrap();
    a_panic_decoding_a_stale_value_gives_its_claim_back(cache);
}

#[test]
fn a_refreshed_value_whose_clone_panics_as_it_is_stored_gives_the_claim_back() {
    let manual = ManualClock::new(Timestamp::from_millis(1_700_000_000_000));
    let cache = Cache::new(MemoryStore::new()).with_clock(manual.clock());
    let ttl = Ttl::soft(Duration::from_secs(10)).grace(Duration::from_secs(3600));
    let computes = AtomicUsize::new(0);
    let call = |blows_up_in| {
        cache.get_or_compute(&"fragile refresh", ttl, || Fragile {
            id: computes.fetch_add(1, Ordering::SeqCst) as u64 + 1,
            blows_up_in,
        })
    };
    assert_eq!(call(None), Fragile::new(1));
    manual.advance(Duration::from_secs(10));
    assert!(catch_unwind(AssertUnwindSafe(|| call(Some(UserCode::Clone)))).is_err());
    // No clock movement: the claim, had it stayed, would last the hour of grace.
    assert_eq!(
        call(None),
        Fragile::new(3),
        "the next caller refreshes at once (not served the stale value)"
    );
    assert_eq!(computes.load(Ordering::SeqCst), 3);
}

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
