//! `name_invalidate(args.., how)`, generated next to each memoized function:
//! a soft invalidation makes exactly one next caller recompute while the
//! others are served the old value at once; a hard one makes the next call a
//! miss (one computes, the others wait). Other arguments' values are
//! untouched, skipped arguments do not matter, and methods and `async fn`s
//! have theirs too, on the memory store and on memcached (whose keys carry
//! the namespace and version). The clocks never move: only invalidation
//! makes a value stale or missing here.

mod common;

use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Condvar, Mutex};
use std::thread::JoinHandle;

use antidogpile::{antidogpiled, install_named, Cache, Error, Invalidate};
use common::memcached::Memcached;
use common::{eventually, manual_cache, PATIENCE};
use serde::{Serialize, Serializer};

/// Holds the computes that pass through it until it is opened. Memoized
/// functions take it as a skipped argument.
struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
}

impl Gate {
    const fn new(open: bool) -> Gate {
        Gate {
            open: Mutex::new(open),
            opened: Condvar::new(),
        }
    }

    /// Waits until the gate is open (at most [`PATIENCE`]: a test that
    /// forgets to open it fails instead of hanging).
    fn pass(&self) {
        let open = self.open.lock().unwrap();
        let _open = self
            .opened
            .wait_timeout_while(open, PATIENCE, |open| !*open)
            .unwrap();
    }

    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }
}

/// Never closed.
static OPEN: Gate = Gate::new(true);

/// How many callers each concurrent test releases at once.
const CALLERS: usize = 8;

/// Calls `call` on [`CALLERS`] threads released together by a barrier;
/// each sends what it got on the returned channel as soon as it has it.
fn call_together<T: Send + 'static>(call: fn() -> T) -> (mpsc::Receiver<T>, Vec<JoinHandle<()>>) {
    let (got, results) = mpsc::channel();
    let start = Arc::new(Barrier::new(CALLERS));
    let callers = (0..CALLERS)
        .map(|_| {
            let (start, got) = (Arc::clone(&start), got.clone());
            std::thread::spawn(move || {
                start.wait();
                got.send(call()).unwrap();
            })
        })
        .collect();
    (results, callers)
}

// ---- soft ----

static SOFT_COMPUTES: AtomicU64 = AtomicU64::new(0);
static SOFT_GATE: Gate = Gate::new(false);

/// A report, numbered by the compute that made it.
#[antidogpiled(soft = "1h", cache = "inv_soft", name = "inv::soft", skip(gate))]
fn soft_report(customer: u64, gate: &Gate) -> (u64, u64) {
    let number = SOFT_COMPUTES.fetch_add(1, Ordering::SeqCst) + 1;
    gate.pass();
    (customer, number)
}

#[test]
fn soft_invalidation_makes_one_caller_recompute_while_the_others_get_the_old_value_at_once() {
    let _clock = manual_cache("inv_soft");
    assert_eq!(soft_report(1, &OPEN), (1, 1));
    assert_eq!(soft_report(2, &OPEN), (2, 2));
    assert_eq!(soft_report(1, &OPEN), (1, 1), "cached");

    // The skipped gate differs from the calls': it is not part of the key.
    assert_eq!(
        soft_report_invalidate(1, &SOFT_GATE, Invalidate::Soft),
        Ok(true)
    );

    // One of the callers recomputes, held at the gate; the others are all
    // served the old value while it is held.
    let (results, callers) = call_together(|| soft_report(1, &SOFT_GATE));
    let served: Vec<_> = (1..CALLERS)
        .map(|_| results.recv_timeout(PATIENCE).expect("served at once"))
        .collect();
    assert_eq!(served, vec![(1, 1); CALLERS - 1]);
    assert_eq!(
        SOFT_COMPUTES.load(Ordering::SeqCst),
        3,
        "exactly one recompute"
    );
    SOFT_GATE.open();
    assert_eq!(results.recv_timeout(PATIENCE), Ok((1, 3)));
    for caller in callers {
        caller.join().unwrap();
    }

    // The new value is fresh; the other customer's is untouched.
    assert_eq!(soft_report(1, &OPEN), (1, 3));
    assert_eq!(soft_report(2, &OPEN), (2, 2));
    assert_eq!(SOFT_COMPUTES.load(Ordering::SeqCst), 3);
    let stats = antidogpile::stats("inv::soft").unwrap();
    assert_eq!((stats.misses, stats.computes, stats.waits), (2, 3, 0));

    // Nothing cached for customer 3: nothing to invalidate.
    assert_eq!(
        soft_report_invalidate(3, &OPEN, Invalidate::Soft),
        Ok(false)
    );
    assert_eq!(SOFT_COMPUTES.load(Ordering::SeqCst), 3);
}

// ---- hard ----

static HARD_COMPUTES: AtomicU64 = AtomicU64::new(0);
static HARD_GATE: Gate = Gate::new(false);

#[antidogpiled(soft = "1h", cache = "inv_hard", name = "inv::hard", skip(gate))]
fn hard_report(customer: u64, gate: &Gate) -> (u64, u64) {
    let number = HARD_COMPUTES.fetch_add(1, Ordering::SeqCst) + 1;
    gate.pass();
    (customer, number)
}

#[test]
fn hard_invalidation_makes_the_next_call_a_miss_one_computes_the_others_wait() {
    let _clock = manual_cache("inv_hard");
    assert_eq!(hard_report(1, &OPEN), (1, 1));
    assert_eq!(hard_report(2, &OPEN), (2, 2));

    assert_eq!(
        hard_report_invalidate(1, &HARD_GATE, Invalidate::Hard),
        Ok(true)
    );

    // One caller computes, held at the gate; the others wait for it: none
    // has an answer once all of them are waiting.
    let (results, callers) = call_together(|| hard_report(1, &HARD_GATE));
    // The others may be counted waiting before the holder's body has begun:
    // both are awaited.
    assert!(eventually(PATIENCE, || {
        antidogpile::stats("inv::hard").unwrap().waits == CALLERS as u64 - 1
            && HARD_COMPUTES.load(Ordering::SeqCst) == 3
    }));
    assert_eq!(results.try_recv(), Err(mpsc::TryRecvError::Empty));
    assert_eq!(HARD_COMPUTES.load(Ordering::SeqCst), 3);
    HARD_GATE.open();
    let got: Vec<_> = (0..CALLERS)
        .map(|_| results.recv_timeout(PATIENCE).unwrap())
        .collect();
    assert_eq!(got, vec![(1, 3); CALLERS], "everyone gets the new value");
    for caller in callers {
        caller.join().unwrap();
    }

    assert_eq!(
        hard_report(2, &OPEN),
        (2, 2),
        "the other value is untouched"
    );
    assert_eq!(HARD_COMPUTES.load(Ordering::SeqCst), 3);
    let stats = antidogpile::stats("inv::hard").unwrap();
    // Every caller found nothing: the two first calls and all of these.
    assert_eq!(
        (stats.misses, stats.computes, stats.stale_hits),
        (2 + CALLERS as u64, 3, 0)
    );

    // A hard invalidation says `true` even when nothing was cached.
    assert_eq!(hard_report_invalidate(3, &OPEN, Invalidate::Hard), Ok(true));
}

// ---- methods ----

static PRICE_COMPUTES: AtomicU64 = AtomicU64::new(0);

struct Catalog {
    markup: u64,
}

impl Catalog {
    /// The receiver's value is not part of the key. A private method gets
    /// its invalidator when asked (it could be in a trait impl).
    #[antidogpiled(
        soft = "1h",
        cache = "inv_method",
        name = "inv::price",
        invalidate = true
    )]
    fn price(&self, sku: u64) -> u64 {
        let number = PRICE_COMPUTES.fetch_add(1, Ordering::SeqCst) + 1;
        sku * 1000 + self.markup * 100 + number
    }
}

#[test]
fn methods_have_an_invalidator_taking_self() {
    let _clock = manual_cache("inv_method");
    let catalog = Catalog { markup: 1 };
    assert_eq!(catalog.price(1), 1101);
    assert_eq!(catalog.price(2), 2102);

    assert_eq!(catalog.price_invalidate(1, Invalidate::Soft), Ok(true));
    assert_eq!(catalog.price(1), 1103, "the next caller recomputes");
    assert_eq!(catalog.price(1), 1103);
    assert_eq!(catalog.price(2), 2102, "untouched");

    // Another instance reaches the same value.
    let other = Catalog { markup: 5 };
    assert_eq!(other.price_invalidate(2, Invalidate::Hard), Ok(true));
    assert_eq!(catalog.price(2), 2104);
    assert_eq!(PRICE_COMPUTES.load(Ordering::SeqCst), 4);
}

// ---- async ----

static FETCHES: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(soft = "1h", cache = "inv_async", name = "inv::fetch", skip(trace))]
async fn fetch(id: u64, trace: String) -> Result<u64, String> {
    tokio::task::yield_now().await;
    let number = FETCHES.fetch_add(1, Ordering::SeqCst) + 1;
    if trace.is_empty() {
        return Err("no trace".to_owned());
    }
    Ok(id * 100 + number)
}

struct Shelf;

impl Shelf {
    #[antidogpiled(
        soft = "1h",
        cache = "inv_async",
        name = "inv::stock",
        invalidate = true
    )]
    async fn stock(&self, sku: u64) -> Option<u64> {
        tokio::task::yield_now().await;
        Some(sku * 100 + FETCHES.fetch_add(1, Ordering::SeqCst) + 1)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_functions_and_methods_have_an_async_invalidator() {
    let _clock = manual_cache("inv_async");
    let trace = || "request 1".to_owned();
    assert_eq!(fetch(1, trace()).await, Ok(101));
    assert_eq!(fetch(2, trace()).await, Ok(202));

    // The skipped `trace` differs: it does not matter.
    assert_eq!(
        fetch_invalidate(1, "request 2".to_owned(), Invalidate::Soft).await,
        Ok(true)
    );
    assert_eq!(fetch(1, trace()).await, Ok(103), "recomputed once");
    assert_eq!(fetch(1, trace()).await, Ok(103));
    assert_eq!(fetch(2, trace()).await, Ok(202), "untouched");
    assert_eq!(
        fetch_invalidate(2, String::new(), Invalidate::Hard).await,
        Ok(true)
    );
    assert_eq!(fetch(2, trace()).await, Ok(204));
    assert_eq!(
        fetch_invalidate(3, trace(), Invalidate::Soft).await,
        Ok(false)
    );

    let shelf = Shelf;
    assert_eq!(shelf.stock(7).await, Some(705));
    assert_eq!(shelf.stock_invalidate(7, Invalidate::Soft).await, Ok(true));
    assert_eq!(shelf.stock(7).await, Some(706));
    assert_eq!(shelf.stock(7).await, Some(706));
    assert_eq!(FETCHES.load(Ordering::SeqCst), 6);
}

// ---- nothing to invalidate, and failures ----

static UNCACHED: AtomicU64 = AtomicU64::new(0);

/// Its named cache is never installed: calls compute without caching.
#[antidogpiled(soft = "1h", cache = "inv_never_installed")]
fn uncached(id: u64) -> u64 {
    UNCACHED.fetch_add(1, Ordering::SeqCst);
    id
}

#[test]
fn a_named_cache_not_installed_has_nothing_to_invalidate() {
    assert_eq!(uncached(1), 1);
    assert_eq!(uncached_invalidate(1, Invalidate::Soft), Ok(false));
    assert_eq!(uncached_invalidate(1, Invalidate::Hard), Ok(false));
    assert_eq!(UNCACHED.load(Ordering::SeqCst), 1);
}

/// An argument that cannot be encoded into a key.
struct Unencodable;

impl Serialize for Unencodable {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("not encodable"))
    }
}

static UNENCODABLE: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(soft = "1h", cache = "inv_unencodable")]
fn with_unencodable(id: u64, _odd: &Unencodable) -> u64 {
    UNENCODABLE.fetch_add(1, Ordering::SeqCst);
    id
}

#[test]
fn a_key_that_cannot_be_encoded_has_nothing_to_invalidate() {
    let _clock = manual_cache("inv_unencodable");
    assert_eq!(with_unencodable(1, &Unencodable), 1);
    assert_eq!(with_unencodable(1, &Unencodable), 1);
    assert_eq!(UNENCODABLE.load(Ordering::SeqCst), 2, "never cached");
    assert_eq!(
        with_unencodable_invalidate(1, &Unencodable, Invalidate::Soft),
        Ok(false)
    );
    assert_eq!(
        with_unencodable_invalidate(1, &Unencodable, Invalidate::Hard),
        Ok(false)
    );
}

#[antidogpiled(soft = "1h", cache = "inv_down", name = "inv::down")]
fn on_a_store_that_is_down(id: u64) -> u64 {
    id
}

#[antidogpiled(soft = "1h", cache = "inv_down", name = "inv::down_async")]
async fn on_a_store_that_is_down_async(id: u64) -> u64 {
    id
}

#[tokio::test]
async fn a_store_failure_is_an_error() {
    // A port nothing listens on: connections are refused.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("memcached://127.0.0.1:{port}?timeout=500ms");
    install_named("inv_down", Cache::from_url(&url).unwrap());

    for how in [Invalidate::Soft, Invalidate::Hard] {
        let sync = tokio::task::spawn_blocking(move || on_a_store_that_is_down_invalidate(1, how));
        assert!(
            matches!(sync.await.unwrap(), Err(Error::Store(_))),
            "{how:?}"
        );
        assert!(
            matches!(
                on_a_store_that_is_down_async_invalidate(1, how).await,
                Err(Error::Store(_))
            ),
            "{how:?}"
        );
    }
    let errors = |name| antidogpile::stats(name).unwrap().store_errors;
    assert_eq!((errors("inv::down"), errors("inv::down_async")), (2, 2));
    // The functions themselves still answer, by computing.
    assert_eq!(on_a_store_that_is_down_async(4).await, 4);
}

// ---- on memcached ----

static SHARED_COMPUTES: AtomicU64 = AtomicU64::new(0);

/// A version, so that the key the invalidator builds must carry it too.
#[antidogpiled(
    soft = "1h",
    cache = "inv_memcached",
    name = "inv::shared",
    version = 3
)]
fn shared(id: u64) -> u64 {
    id * 100 + SHARED_COMPUTES.fetch_add(1, Ordering::SeqCst) + 1
}

#[test]
fn invalidation_reaches_the_values_in_memcached() {
    let server = Memcached::start();
    install_named(
        "inv_memcached",
        Cache::from_url(&server.url("timeout=2s")).unwrap(),
    );
    assert_eq!(shared(1), 101);
    assert_eq!(shared(2), 202);
    assert_eq!(shared(1), 101, "cached");

    assert_eq!(shared_invalidate(1, Invalidate::Soft), Ok(true));
    assert_eq!(shared(1), 103, "the next caller recomputes");
    assert_eq!(shared(1), 103);
    assert_eq!(shared_invalidate(2, Invalidate::Hard), Ok(true));
    assert_eq!(shared(2), 204);
    assert_eq!(shared_invalidate(3, Invalidate::Soft), Ok(false));
    assert_eq!(SHARED_COMPUTES.load(Ordering::SeqCst), 4);
}
