//! Cold misses: exactly one caller computes, the others wait for its value;
//! after the grace a waiter may take over. A batch of keys never holds a
//! lease while it waits for another caller.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use antidogpile::{antidogpiled, store::MemoryStore, Cache, Got, Ttl};
use antidogpile_test_support::redis::Redis;
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

// ---- batches: a batch never holds a lease while it waits (issue 21.1) ----

/// The grace of the batch tests: what a batch that waits on another
/// caller's wait cost before (the whole grace).
const BATCH_GRACE: Duration = Duration::from_secs(10);
/// Well under the grace, generous for a loaded machine.
const BATCH_BOUND: Duration = Duration::from_millis(2500);

fn batch_ttl() -> Ttl {
    Ttl::soft(Duration::from_secs(600)).grace(BATCH_GRACE)
}

/// The cache client's waits so far (this test's process: nextest runs
/// each test in its own).
fn client_waits() -> u64 {
    antidogpile::stats(Cache::CLIENT_NAMESPACE).map_or(0, |stats| stats.waits)
}

/// A thread computes `"b"`; once a batch of `["a", "b"]` waits for it, its
/// compute calls `"a"`. The batch must compute `"a"` (which it holds)
/// before it waits, so both return in about one compute time, each key
/// computed once.
fn a_batch_and_a_compute_that_needs_one_of_its_keys(cache: Cache) {
    let cache = Arc::new(cache);
    let computed = Arc::new(Mutex::new(Vec::<String>::new()));
    let started = Instant::now();
    let waits_before = client_waits();
    let thread = {
        let (cache, computed) = (Arc::clone(&cache), Arc::clone(&computed));
        std::thread::spawn(move || {
            cache.get_or_compute(&"b", batch_ttl(), || {
                computed.lock().unwrap().push("b by the thread".to_owned());
                // The batch waits for this compute now.
                assert!(eventually(PATIENCE, || client_waits() > waits_before));
                let a: String = cache.get_or_compute(&"a", batch_ttl(), || {
                    computed.lock().unwrap().push("a by the thread".to_owned());
                    "va by the thread".to_owned()
                });
                format!("vb after {a}")
            })
        })
    };
    assert!(eventually(PATIENCE, || !computed
        .lock()
        .unwrap()
        .is_empty()));
    let batch = cache.get_or_compute_many(&["a", "b"], batch_ttl(), |missing| {
        println!("batch computes {missing:?} at {:?}", started.elapsed());
        computed
            .lock()
            .unwrap()
            .push(format!("{missing:?} by the batch"));
        missing.iter().map(|key| format!("v{key}")).collect()
    });
    let batch_took = started.elapsed();
    println!("batch got {batch:?} at {batch_took:?}");
    let thread = thread.join().unwrap();
    assert!(
        batch_took < BATCH_BOUND,
        "the batch took {batch_took:?} (grace {BATCH_GRACE:?}): it held \"a\" while it waited for \"b\""
    );
    assert_eq!(batch.unwrap(), ["va", "vb after va"]);
    assert_eq!(thread, "vb after va");
    assert_eq!(
        *computed.lock().unwrap(),
        ["b by the thread", "[\"a\"] by the batch"]
    );
}

#[test]
fn a_batch_computes_the_key_it_holds_before_it_waits_for_a_compute_that_needs_it() {
    a_batch_and_a_compute_that_needs_one_of_its_keys(Cache::new(MemoryStore::new()));
}

#[test]
fn on_redis_a_batch_computes_the_key_it_holds_before_it_waits_for_a_compute_that_needs_it() {
    let redis = Redis::start();
    let cache = Cache::from_url(&redis.url("")).unwrap();
    a_batch_and_a_compute_that_needs_one_of_its_keys(cache);
}

/// Another process (a second cache on the same store) holds the lease of
/// `"c"`; a thread here computes `"b"`, and once a batch of `["b", "c"]`
/// waits for it, its compute calls `"c"`. The batch, polling for `"c"`,
/// must not keep this process's lease of `"c"` while it waits for `"b"`:
/// the thread takes it, polls, and gets the other process's value.
fn a_batch_polling_for_a_key_that_a_compute_it_waits_for_needs(this: Cache, other: &Cache) {
    let Got::Recompute(None, duty) = other.get::<String, _>(&"c").unwrap() else {
        panic!("the other process takes the lease of \"c\"")
    };
    let this = Arc::new(this);
    let computed = Arc::new(Mutex::new(Vec::<String>::new()));
    let started = Instant::now();
    let waits_before = client_waits();
    let thread = {
        let (cache, computed) = (Arc::clone(&this), Arc::clone(&computed));
        std::thread::spawn(move || {
            cache.get_or_compute(&"b", batch_ttl(), || {
                computed.lock().unwrap().push("b by the thread".to_owned());
                // The batch waits for this compute now.
                assert!(eventually(PATIENCE, || client_waits() > waits_before));
                let c: String = cache.get_or_compute(&"c", batch_ttl(), || {
                    computed.lock().unwrap().push("c by the thread".to_owned());
                    "vc by the thread".to_owned()
                });
                format!("vb after {c}")
            })
        })
    };
    assert!(eventually(PATIENCE, || !computed
        .lock()
        .unwrap()
        .is_empty()));
    let batch = {
        let (this, computed) = (Arc::clone(&this), Arc::clone(&computed));
        std::thread::spawn(move || {
            let batch = this.get_or_compute_many(&["b", "c"], batch_ttl(), |missing| {
                computed
                    .lock()
                    .unwrap()
                    .push(format!("{missing:?} by the batch"));
                missing.iter().map(|key| format!("v{key}")).collect()
            });
            (batch, started.elapsed())
        })
    };
    // The batch waits for "b", and the thread for "c": the other process sets it.
    assert!(eventually(PATIENCE, || client_waits() >= waits_before + 2));
    assert!(duty.set(&"vc".to_owned(), batch_ttl()).unwrap());
    let (batch, batch_took) = batch.join().unwrap();
    println!("batch got {batch:?} at {batch_took:?}");
    assert!(
        batch_took < BATCH_BOUND,
        "the batch took {batch_took:?} (grace {BATCH_GRACE:?}): it kept \"c\" while it waited for \"b\""
    );
    assert_eq!(batch.unwrap(), ["vb after vc", "vc"]);
    assert_eq!(thread.join().unwrap(), "vb after vc");
    assert_eq!(*computed.lock().unwrap(), ["b by the thread"]);
}

#[test]
fn a_batch_gives_back_a_key_it_polls_for_while_it_waits_for_a_compute_that_needs_it() {
    let store: Arc<MemoryStore> = Arc::new(MemoryStore::new());
    let other = Cache::from_store(Arc::clone(&store) as _);
    a_batch_polling_for_a_key_that_a_compute_it_waits_for_needs(Cache::from_store(store), &other);
}

#[test]
fn on_redis_a_batch_gives_back_a_key_it_polls_for_while_it_waits_for_a_compute_that_needs_it() {
    let redis = Redis::start();
    let other = Cache::from_url(&redis.url("")).unwrap();
    let this = Cache::from_url(&redis.url("")).unwrap();
    a_batch_polling_for_a_key_that_a_compute_it_waits_for_needs(this, &other);
}

/// Two threads batch the same cold keys, in opposite orders, released
/// together (fifty times, new keys each time): where their turns overlap,
/// each takes the leases of the keys it reaches first and finds the others
/// taken (a race; before the fix it was lost within ten rounds). Each must
/// compute what it holds, then wait for the other's: about one compute
/// time, each key computed once.
fn two_batches_in_opposite_orders(cache: Cache) {
    const KEYS: u64 = 40;
    let cache = Arc::new(cache);
    for round in 0..50u64 {
        let keys: Vec<u64> = (round * 1000..round * 1000 + KEYS).collect();
        let computes = Arc::new(Mutex::new(HashMap::<u64, u32>::new()));
        // Released together: a spin, not a `Barrier`, whose waiter would
        // wake well after the last comer has gone on.
        let arrived = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = [false, true]
            .into_iter()
            .map(|reversed| {
                let (cache, computes, arrived) = (
                    Arc::clone(&cache),
                    Arc::clone(&computes),
                    Arc::clone(&arrived),
                );
                let mut keys = keys.clone();
                if reversed {
                    keys.reverse();
                }
                std::thread::spawn(move || {
                    arrived.fetch_add(1, Ordering::SeqCst);
                    while arrived.load(Ordering::SeqCst) < 2 {
                        std::hint::spin_loop();
                    }
                    let started = Instant::now();
                    let values = cache.get_or_compute_many(&keys, batch_ttl(), |missing| {
                        std::thread::sleep(Duration::from_millis(20));
                        let mut computes = computes.lock().unwrap();
                        for key in &missing {
                            *computes.entry(**key).or_default() += 1;
                        }
                        missing.iter().map(|key| **key * 3).collect()
                    });
                    let right: Vec<u64> = keys.iter().map(|key| key * 3).collect();
                    assert_eq!(values.unwrap(), right);
                    started.elapsed()
                })
            })
            .collect();
        let took: Vec<Duration> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert!(
            took.iter().all(|took| *took < BATCH_BOUND),
            "round {round}: the batches took {took:?} (grace {BATCH_GRACE:?}): each held keys while it waited for the other's"
        );
        let computes = computes.lock().unwrap();
        assert_eq!(computes.len() as u64, KEYS, "every key computed");
        assert!(
            computes.values().all(|times| *times == 1),
            "each key computed once: {computes:?}"
        );
    }
}

#[test]
fn two_batches_of_the_same_keys_in_opposite_orders_do_not_wait_for_each_other() {
    two_batches_in_opposite_orders(Cache::new(MemoryStore::new()));
}

#[test]
fn on_redis_two_batches_of_the_same_keys_in_opposite_orders_do_not_wait_for_each_other() {
    let redis = Redis::start();
    two_batches_in_opposite_orders(Cache::from_url(&redis.url("")).unwrap());
}
