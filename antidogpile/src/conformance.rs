//! A conformance suite for [`Store`] implementations: the whole soft/hard/
//! grace contract, exercised through the cache client, with a manual clock
//! and real threads. Enabled by the `conformance` feature.
//!
//! Call [`check_store`] from a test with a function that makes a store (a
//! fresh one, or one more handle on a shared server: every check uses keys
//! of its own). It panics, naming the check and what differed, at the first
//! violation.
//!
//! ```
//! # #[cfg(feature = "conformance")] {
//! use antidogpile::custom_store::conformance::{check_store, Expect};
//! use antidogpile::store::MemoryStore;
//!
//! check_store(Expect::Caching, || MemoryStore::new());
//! # }
//! ```
//!
//! Stores whose expiry runs on real time (memcached's TTLs) are covered:
//! the checks that need an entry or a lease to expire in the store sleep
//! past it as well as moving the manual clock, about 5 s in all.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cache::Cache;
use crate::client::{Got, Invalidate, Recompute, Ttl};
use crate::clock::{Clock, ManualClock};
use crate::error::{Error, StoreError};
use crate::key::{Fingerprint, Key};
use crate::policy::Deadlines;
use crate::store::{Hold, Lookup, ReadFor, Renew, Store, Stored, Wait};

/// What a store is expected to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Keep values: the whole contract.
    Caching,
    /// Keep nothing ([`NoopStore`](crate::store::NoopStore)): every read misses,
    /// every write is accepted, nothing ever fails.
    Nothing,
}

const SOFT: Duration = Duration::from_secs(10);
const FACTOR: u32 = 3;
const GRACE: Duration = Duration::from_secs(5);
/// Longer than a one-second TTL lasts in a store that counts whole seconds.
const REAL_SECOND_TTL_PASSED: Duration = Duration::from_millis(2_100);
const THREADS: usize = 8;

/// One check's fixture: a cache over a new store, a manual clock, and keys
/// no other check (or run) uses.
struct Fixture {
    cache: Cache,
    clock: ManualClock,
    run: u64,
    check: &'static str,
    /// The [`Recompute`] duties `get` handed out, kept (so their claims and
    /// leases are held) until the check ends.
    duties: std::sync::Mutex<Vec<Recompute>>,
}

/// A [`Got`] as the checks compare it: without its [`Recompute`] duty.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen<V> {
    Fresh(V),
    Stale(V),
    Recompute(Option<V>),
    Pending,
}

impl<V> Seen<V> {
    fn must_recompute(&self) -> bool {
        matches!(self, Seen::Recompute(_))
    }
}

#[derive(Serialize)]
struct CheckKey<'a> {
    run: u64,
    check: &'a str,
    name: &'a str,
}

/// A value that carries its own key, so a value read under another key is seen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Tagged {
    key: String,
    generation: u32,
    padding: Vec<u8>,
}

fn tagged(key: &str, generation: u32) -> Tagged {
    Tagged {
        key: key.to_owned(),
        generation,
        padding: vec![7; 100],
    }
}

impl Fixture {
    fn new(check: &'static str, store: Arc<dyn Store>) -> Fixture {
        static RUNS: AtomicU64 = AtomicU64::new(0);
        let clock = ManualClock::new(Clock::system().now());
        let run = Clock::system().now().as_millis() * 1_000 + RUNS.fetch_add(1, Ordering::Relaxed);
        let cache = Cache::from_store(store)
            .with_clock(clock.clock())
            .with_hard_timeout_factor(FACTOR)
            .with_default_grace(GRACE);
        Fixture {
            cache,
            clock,
            run,
            check,
            duties: std::sync::Mutex::default(),
        }
    }

    /// What `got` is, its duty (if any) kept until the check ends.
    fn seen<V>(&self, got: Got<V>) -> Seen<V> {
        match got {
            Got::Fresh(value) => Seen::Fresh(value),
            Got::Stale(value) => Seen::Stale(value),
            Got::Pending => Seen::Pending,
            Got::Recompute(stale, duty) => {
                self.duties
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .push(duty);
                Seen::Recompute(stale)
            }
        }
    }

    fn key<'a>(&'a self, name: &'a str) -> CheckKey<'a> {
        CheckKey {
            run: self.run,
            check: self.check,
            name,
        }
    }

    fn get(&self, name: &str) -> Seen<Tagged> {
        let got = self
            .cache
            .get(&self.key(name))
            .unwrap_or_else(|error| panic!("{}: get {name}: {error}", self.check));
        self.seen(got)
    }

    fn set(&self, name: &str, value: &Tagged) {
        self.cache
            .set(&self.key(name), value, SOFT)
            .unwrap_or_else(|error| panic!("{}: set {name}: {error}", self.check));
    }

    fn expect(&self, name: &str, got: Seen<Tagged>, expected: Seen<Tagged>) {
        assert_eq!(got, expected, "{}: {name}", self.check);
    }
}

/// Runs every check against stores made by `new_store`, one store per check.
pub fn check_store<S: Store>(expect: Expect, mut new_store: impl FnMut() -> S) {
    let mut fixture = |check| Fixture::new(check, Arc::new(new_store()));
    match expect {
        Expect::Caching => {
            fresh_then_stale_then_one_claim_per_grace(fixture("soft expiry"));
            gone_at_the_hard_timeout(fixture("hard expiry"));
            one_cold_miss_lease_per_grace(fixture("cold-miss lease"));
            a_lease_lapses_after_its_grace(fixture("lease lapse"));
            holds_are_renewed_by_their_current_token(fixture("renewal"));
            holds_are_renewed_together(fixture("renewals together"));
            reads_take_a_hold_only_when_free(fixture("reads that hold"));
            of_many_threads_one_claims_and_one_leases(fixture("concurrent claims"));
            add_only_where_nothing_is(fixture("add"));
            soft_and_hard_deletes(fixture("delete"));
            held_writes_end_at_invalidation(fixture("stale sets"));
            counters_count_raw_integers_only(fixture("counters"));
            hard_sets_are_never_stale_and_expire_on_time(fixture("hard set"));
            many_keys_at_once(fixture("many"));
            empty_batches_answer_at_once(fixture("empty batches"));
            get_or_compute_computes_once(fixture("get_or_compute"));
            values_of_another_type_are_misses(fixture("types"));
            #[cfg(feature = "tokio")]
            nonblocking_operations(fixture("nonblocking"));
        }
        Expect::Nothing => {
            keeps_nothing(fixture("keeps nothing"));
            a_duty_stores_nothing(fixture("duty keeps nothing"));
        }
    }
}

fn fresh_then_stale_then_one_claim_per_grace(f: Fixture) {
    let v1 = tagged("a", 1);
    f.expect("new", f.get("a"), Seen::Recompute(None));
    f.set("a", &v1);
    f.expect("fresh", f.get("a"), Seen::Fresh(v1.clone()));
    f.clock.advance(SOFT);
    f.expect("first stale", f.get("a"), Seen::Recompute(Some(v1.clone())));
    f.expect("second stale", f.get("a"), Seen::Stale(v1.clone()));
    f.clock.advance(GRACE);
    f.expect(
        "claim lapsed after the grace",
        f.get("a"),
        Seen::Recompute(Some(v1.clone())),
    );
    let v2 = tagged("a", 2);
    f.set("a", &v2);
    f.expect("refreshed", f.get("a"), Seen::Fresh(v2));
}

fn gone_at_the_hard_timeout(f: Fixture) {
    f.set("a", &tagged("a", 1));
    f.clock.advance(SOFT * FACTOR);
    f.expect("past hard", f.get("a"), Seen::Recompute(None));
}

fn one_cold_miss_lease_per_grace(f: Fixture) {
    f.expect("first", f.get("a"), Seen::Recompute(None));
    f.expect("second", f.get("a"), Seen::Pending);
    let v = tagged("a", 1);
    f.set("a", &v);
    f.expect("set ends the lease", f.get("a"), Seen::Fresh(v));
}

fn a_lease_lapses_after_its_grace(f: Fixture) {
    let grace = Duration::from_secs(1);
    let get = || {
        f.seen(
            f.cache
                .get_with_grace::<Tagged, _>(&f.key("a"), grace)
                .unwrap(),
        )
    };
    assert_eq!(get(), Seen::Recompute(None), "{}: first", f.check);
    assert_eq!(get(), Seen::Pending, "{}: second", f.check);
    std::thread::sleep(REAL_SECOND_TTL_PASSED);
    f.clock.advance(REAL_SECOND_TTL_PASSED);
    assert_eq!(get(), Seen::Recompute(None), "{}: after the grace", f.check);
}

/// A store that [`renews_holds`](Store::renews_holds): a renewed lease
/// outlives the TTL it was taken with; a renewal names the current token
/// (an old one, once it changed, renews nothing); a claim can be shortened
/// (a failed refresh) so that another caller claims at once; nothing is
/// renewed once a value replaced the hold.
fn holds_are_renewed_by_their_current_token(f: Fixture) {
    let store = f.cache.store();
    if !store.renews_holds() {
        return;
    }
    let check = f.check;
    let key = Key::new(
        Fingerprint::from_u128(u128::from(f.run)),
        "conformance::renewal",
        0,
    );
    let ok = |result: Result<Option<Hold>, StoreError>, what: &str| {
        result.unwrap_or_else(|error| panic!("{check}: {what}: {error}"))
    };
    // A lease taken for 1 s, renewed for 5 s, is held after 2 s.
    let now = f.clock.now();
    let lease = store
        .try_lease(Wait::Blocking, key, now, Duration::from_secs(1))
        .wait()
        .unwrap();
    let lease = Hold::Lease(lease.unwrap_or_else(|| panic!("{check}: nothing to lease?")));
    let renewed = ok(
        store
            .renew(Wait::Blocking, key, lease, now.saturating_add(GRACE), now)
            .wait(),
        "renew a lease",
    )
    .unwrap_or_else(|| panic!("{check}: a live lease was not renewed"));
    std::thread::sleep(REAL_SECOND_TTL_PASSED);
    f.clock.advance(REAL_SECOND_TTL_PASSED);
    let now = f.clock.now();
    let again = store
        .try_lease(Wait::Blocking, key, now, Duration::from_secs(1))
        .wait()
        .unwrap();
    assert_eq!(
        again, None,
        "{check}: a renewed lease lapsed at its first TTL"
    );
    if renewed != lease {
        let stale = ok(
            store
                .renew(Wait::Blocking, key, lease, now.saturating_add(GRACE), now)
                .wait(),
            "renew",
        );
        assert_eq!(
            stale, None,
            "{check}: a renewal named a token that had changed"
        );
    }
    let Hold::Lease(current) = renewed else {
        panic!("{check}: a lease renewed as {renewed:?}");
    };
    store
        .release_lease(Wait::Blocking, key, current)
        .wait()
        .unwrap();
    // A value replaces the lease: nothing to renew any more.
    let fresh = store
        .try_lease(Wait::Blocking, key, now, Duration::from_secs(1))
        .wait()
        .unwrap();
    let fresh = fresh.unwrap_or_else(|| panic!("{check}: a released lease was kept"));
    let payload = crate::envelope::encode_payload(&tagged("renewal", 1)).unwrap();
    let value = if store.keeps_bytes() {
        Stored::Bytes(payload)
    } else {
        Stored::Object(Arc::new(tagged("renewal", 1)))
    };
    let stale_soon = Deadlines {
        soft: now.saturating_add(Duration::from_millis(1)),
        hard: now.saturating_add(SOFT * FACTOR),
    };
    store
        .write(Wait::Blocking, key, value, stale_soon, now)
        .wait()
        .unwrap();
    let after_write = ok(
        store
            .renew(
                Wait::Blocking,
                key,
                Hold::Lease(fresh),
                now.saturating_add(GRACE),
                now,
            )
            .wait(),
        "renew a lease a value replaced",
    );
    assert_eq!(
        after_write, None,
        "{check}: renewed a lease a value replaced"
    );
    // A claim renewed for the grace, then shortened to end now.
    f.clock.advance(Duration::from_millis(10));
    let now = f.clock.now();
    let version = || {
        let mut seen = None;
        store
            .read(
                Wait::Blocking,
                key,
                f.clock.now(),
                ReadFor::Peek,
                &mut |lookup| {
                    if let Lookup::Entry(entry) = lookup {
                        seen = Some(entry.version);
                    }
                },
            )
            .wait()
            .unwrap();
        seen.unwrap_or_else(|| panic!("{check}: the value is gone"))
    };
    let until = now.saturating_add(Duration::from_secs(1));
    let claim = store
        .try_claim(Wait::Blocking, key, version(), now, until)
        .wait()
        .unwrap();
    let claim = Hold::Claim(claim.unwrap_or_else(|| panic!("{check}: a stale value unclaimed")));
    let claim = ok(
        store
            .renew(Wait::Blocking, key, claim, now.saturating_add(GRACE), now)
            .wait(),
        "renew a claim",
    )
    .unwrap_or_else(|| panic!("{check}: a live claim was not renewed"));
    f.clock.advance(Duration::from_secs(2));
    let now = f.clock.now();
    let until = now.saturating_add(GRACE);
    let taken = store
        .try_claim(Wait::Blocking, key, version(), now, until)
        .wait()
        .unwrap();
    assert_eq!(
        taken, None,
        "{check}: a renewed claim lapsed at its first end"
    );
    let shortened = ok(
        store.renew(Wait::Blocking, key, claim, now, now).wait(),
        "shorten a claim",
    );
    assert!(
        shortened.is_some(),
        "{check}: a live claim could not be shortened"
    );
    let taken = store
        .try_claim(Wait::Blocking, key, version(), now, until)
        .wait()
        .unwrap();
    assert!(
        taken.is_some(),
        "{check}: a shortened claim kept others out"
    );
}

/// A store that [`renews_holds`](Store::renews_holds) renews a batch of
/// holds ([`Store::renew_many`]) as it renews each: a live lease and a
/// live claim are kept past their first end, a released lease is lost; the
/// tokens it answers are the current ones.
fn holds_are_renewed_together(f: Fixture) {
    let store = f.cache.store();
    if !store.renews_holds() {
        return;
    }
    let check = f.check;
    let key = |n: u128| {
        Key::new(
            Fingerprint::from_u128(u128::from(f.run) * 8 + n),
            "conformance::renewals",
            0,
        )
    };
    let (leased, released, claimed) = (key(1), key(2), key(3));
    let now = f.clock.now();
    let lease = |key| {
        let lease = store
            .try_lease(Wait::Blocking, key, now, Duration::from_secs(1))
            .wait()
            .unwrap();
        lease.unwrap_or_else(|| panic!("{check}: nothing to lease?"))
    };
    let kept = lease(leased);
    let gone = lease(released);
    store
        .release_lease(Wait::Blocking, released, gone)
        .wait()
        .unwrap();
    let payload = crate::envelope::encode_payload(&tagged("renewals", 1)).unwrap();
    let value = if store.keeps_bytes() {
        Stored::Bytes(payload)
    } else {
        Stored::Object(Arc::new(tagged("renewals", 1)))
    };
    let stale_soon = Deadlines {
        soft: now.saturating_add(Duration::from_millis(1)),
        hard: now.saturating_add(SOFT * FACTOR),
    };
    store
        .write(Wait::Blocking, claimed, value, stale_soon, now)
        .wait()
        .unwrap();
    f.clock.advance(Duration::from_millis(10));
    let now = f.clock.now();
    let version = || {
        let mut seen = None;
        let mut reader = |lookup: Lookup<'_>| {
            if let Lookup::Entry(entry) = lookup {
                seen = Some(entry.version);
            }
        };
        store
            .read(
                Wait::Blocking,
                claimed,
                f.clock.now(),
                ReadFor::Peek,
                &mut reader,
            )
            .wait()
            .unwrap();
        seen.unwrap_or_else(|| panic!("{check}: the value is gone"))
    };
    let until = now.saturating_add(Duration::from_secs(1));
    let claim = store
        .try_claim(Wait::Blocking, claimed, version(), now, until)
        .wait()
        .unwrap();
    let claim = claim.unwrap_or_else(|| panic!("{check}: a stale value unclaimed"));
    let until = now.saturating_add(GRACE);
    let renew = |holds: [Hold; 3], now| {
        let renewals = [leased, released, claimed]
            .into_iter()
            .zip(holds)
            .map(|(key, hold)| Renew { key, hold, until })
            .collect::<Vec<_>>();
        let renewed = store.renew_many(Wait::Blocking, &renewals, now).wait();
        let renewed = renewed.unwrap_or_else(|error| panic!("{check}: renew_many: {error}"));
        assert_eq!(renewed.len(), 3, "{check}: one answer per renewal");
        renewed
            .into_iter()
            .map(|one| one.unwrap_or_else(|error| panic!("{check}: a renewal: {error}")))
            .collect::<Vec<_>>()
    };
    let holds = [Hold::Lease(kept), Hold::Lease(gone), Hold::Claim(claim)];
    let renewed = renew(holds, now);
    assert!(
        matches!(
            renewed[..],
            [Some(Hold::Lease(_)), None, Some(Hold::Claim(_))]
        ),
        "{check}: renewed a live lease, a released one and a live claim as {renewed:?}"
    );
    std::thread::sleep(REAL_SECOND_TTL_PASSED);
    f.clock.advance(REAL_SECOND_TTL_PASSED);
    let now = f.clock.now();
    let again = store
        .try_lease(Wait::Blocking, leased, now, Duration::from_secs(1))
        .wait()
        .unwrap();
    assert_eq!(
        again, None,
        "{check}: a renewed lease lapsed at its first TTL"
    );
    let taken = store
        .try_claim(Wait::Blocking, claimed, version(), now, until)
        .wait()
        .unwrap();
    assert_eq!(
        taken, None,
        "{check}: a renewed claim lapsed at its first end"
    );
    // Renewed again by the tokens the batch answered.
    let current = [renewed[0], Some(Hold::Lease(gone)), renewed[2]].map(Option::unwrap);
    let renewed = renew(current, now);
    assert!(
        matches!(
            renewed[..],
            [Some(Hold::Lease(_)), None, Some(Hold::Claim(_))]
        ),
        "{check}: renewed by their current tokens as {renewed:?}"
    );
    let empty = store.renew_many(Wait::Blocking, &[], now).wait();
    assert!(
        matches!(empty.as_deref(), Ok([])),
        "{check}: renewed nothing as {empty:?}"
    );
}

/// A read for [`ReadFor::Use`], through the store: what it handed its
/// reader (`Some(true)` a value, `Some(false)` a lease, `None` nothing) and
/// the hold it took.
fn read_using(f: &Fixture, key: Key, purpose: ReadFor) -> (Option<bool>, Option<Hold>) {
    let mut found = None;
    let mut reader = |lookup: Lookup<'_>| found = Some(matches!(lookup, Lookup::Entry(_)));
    let now = f.clock.now();
    let took = f
        .cache
        .store()
        .read(Wait::Blocking, key, now, purpose, &mut reader)
        .wait()
        .unwrap_or_else(|error| panic!("{}: read: {error}", f.check));
    (found, took)
}

/// A store whose reads take holds ([`Store::reads_take_holds`]): a read
/// for use takes the cold-miss lease of an absent key and the refresh claim
/// of a stale entry, once; a second read takes nothing (another holds it),
/// a peek never takes anything, and the hold taken lands its write. A store
/// whose reads take nothing answers `None` to every read.
fn reads_take_a_hold_only_when_free(f: Fixture) {
    let check = f.check;
    let store = f.cache.store();
    let key = Key::new(
        Fingerprint::from_u128(u128::from(f.run)),
        "conformance::reads",
        0,
    );
    let now = f.clock.now();
    let purpose = ReadFor::Use {
        claim_until: now.saturating_add(GRACE),
        lease_for: GRACE,
        keep_stale: SOFT * (FACTOR - 1),
    };
    let (_, peeked) = read_using(&f, key, ReadFor::Peek);
    assert_eq!(peeked, None, "{check}: a peek took a hold");
    let (found, first) = read_using(&f, key, purpose);
    if !store.reads_take_holds() {
        assert_eq!(
            first, None,
            "{check}: a store whose reads take nothing took {first:?}"
        );
        return;
    }
    assert_eq!(found, None, "{check}: found something under a new key");
    let Some(lease @ Hold::Lease(_)) = first else {
        panic!("{check}: a read for use of an absent key took {first:?}, not its lease");
    };
    let (found, second) = read_using(&f, key, purpose);
    assert_eq!(second, None, "{check}: a second read took the lease again");
    assert_ne!(found, Some(true), "{check}: a lease read as a value");
    let (_, peeked) = read_using(&f, key, ReadFor::Peek);
    assert_eq!(peeked, None, "{check}: a peek took a hold");
    // The fill lands under the lease; the value is stale at once.
    let value = if store.keeps_bytes() {
        Stored::Bytes(crate::envelope::encode_payload(&tagged("reads", 1)).unwrap())
    } else {
        Stored::Object(Arc::new(tagged("reads", 1)))
    };
    let deadlines = Deadlines {
        soft: now,
        hard: now.saturating_add(SOFT * FACTOR),
    };
    let landed = store
        .write_held(Wait::Blocking, key, lease, value.clone(), deadlines, now)
        .wait()
        .unwrap_or_else(|error| panic!("{check}: write under the lease: {error}"));
    assert!(
        landed,
        "{check}: the write under the lease taken by a read was refused"
    );
    f.clock.advance(Duration::from_millis(10));
    let (found, first) = read_using(&f, key, purpose);
    assert_eq!(found, Some(true), "{check}: the value written is not read");
    let Some(claim @ Hold::Claim(_)) = first else {
        panic!("{check}: a read for use of a stale entry took {first:?}, not its claim");
    };
    let (found, second) = read_using(&f, key, purpose);
    assert_eq!(
        found,
        Some(true),
        "{check}: a claimed stale value was not handed over"
    );
    assert_eq!(second, None, "{check}: a second read took the claim again");
    let (_, peeked) = read_using(&f, key, ReadFor::Peek);
    assert_eq!(peeked, None, "{check}: a peek took a hold");
    let fresh = Deadlines {
        soft: now.saturating_add(SOFT),
        hard: now.saturating_add(SOFT * FACTOR),
    };
    let landed = store
        .write_held(Wait::Blocking, key, claim, value, fresh, f.clock.now())
        .wait()
        .unwrap_or_else(|error| panic!("{check}: write under the claim: {error}"));
    assert!(
        landed,
        "{check}: the write under the claim taken by a read was refused"
    );
    let (found, third) = read_using(&f, key, purpose);
    assert_eq!(
        found,
        Some(true),
        "{check}: the refreshed value is not read"
    );
    assert_eq!(
        third, None,
        "{check}: a read of a fresh value took {third:?}"
    );
}

/// `THREADS` threads `get` at once; returns how many were told to recompute.
fn recomputers(f: &Fixture, name: &str) -> usize {
    let barrier = Barrier::new(THREADS);
    let recompute = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                barrier.wait();
                if f.get(name).must_recompute() {
                    recompute.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    recompute.into_inner()
}

fn of_many_threads_one_claims_and_one_leases(f: Fixture) {
    for round in 0..5 {
        let name = format!("cold{round}");
        assert_eq!(recomputers(&f, &name), 1, "{}: cold miss {round}", f.check);
        let name = format!("stale{round}");
        f.set(&name, &tagged(&name, 1));
        f.clock.advance(SOFT);
        assert_eq!(recomputers(&f, &name), 1, "{}: stale {round}", f.check);
        f.clock.set(Clock::system().now());
    }
}

fn add_only_where_nothing_is(f: Fixture) {
    let (v1, v2) = (tagged("a", 1), tagged("a", 2));
    assert!(
        f.cache.add(&f.key("a"), &v1, SOFT).unwrap(),
        "{}: empty",
        f.check
    );
    assert!(
        !f.cache.add(&f.key("a"), &v2, SOFT).unwrap(),
        "{}: taken",
        f.check
    );
    f.expect("first add kept", f.get("a"), Seen::Fresh(v1));

    f.expect("lease", f.get("b"), Seen::Recompute(None));
    let vb = tagged("b", 1);
    assert!(
        f.cache.add(&f.key("b"), &vb, SOFT).unwrap(),
        "{}: a lease is not a value",
        f.check
    );
    f.expect("added over the lease", f.get("b"), Seen::Fresh(vb));

    let barrier = Barrier::new(THREADS);
    let added = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for generation in 0..THREADS as u32 {
            let (barrier, added, f) = (&barrier, &added, &f);
            scope.spawn(move || {
                barrier.wait();
                let key = f.key("c");
                if f.cache.add(&key, &tagged("c", generation), SOFT).unwrap() {
                    added.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    assert_eq!(added.into_inner(), 1, "{}: concurrent adds", f.check);
}

fn soft_and_hard_deletes(f: Fixture) {
    let v = tagged("a", 1);
    f.set("a", &v);
    assert!(f.cache.delete(&f.key("a")).unwrap(), "{}: soft", f.check);
    f.expect(
        "after soft delete",
        f.get("a"),
        Seen::Recompute(Some(v.clone())),
    );
    f.expect("others", f.get("a"), Seen::Stale(v.clone()));
    assert!(
        !f.cache.delete(&f.key("nothing")).unwrap(),
        "{}: nothing",
        f.check
    );

    f.set("b", &v);
    f.cache.delete_hard(&f.key("b")).unwrap();
    f.expect("after hard delete", f.get("b"), Seen::Recompute(None));
}

fn counters_count_raw_integers_only(f: Fixture) {
    let c = f.key("counter");
    f.cache.set_hard(&c, &10u64, None).unwrap();
    assert_eq!(f.cache.incr(&c, 5).unwrap(), 15, "{}: incr", f.check);
    assert_eq!(
        f.cache.decr(&c, 20).unwrap(),
        0,
        "{}: decr stops at 0",
        f.check
    );
    assert_eq!(
        f.seen(f.cache.get(&c).unwrap()),
        Seen::Fresh(0u64),
        "{}",
        f.check
    );

    let missing = f.cache.incr(&f.key("missing"), 1);
    assert_eq!(missing, Err(Error::NotFound), "{}: missing", f.check);

    let v = tagged("soft", 1);
    f.set("soft", &v);
    let enveloped = f.cache.incr(&f.key("soft"), 1);
    assert_eq!(enveloped, Err(Error::NotACounter), "{}: enveloped", f.check);
    f.expect("left as it was", f.get("soft"), Seen::Fresh(v));

    f.cache
        .set_hard(&f.key("text"), &"ten".to_owned(), None)
        .unwrap();
    let text = f.cache.incr(&f.key("text"), 1);
    assert_eq!(text, Err(Error::NotACounter), "{}: text", f.check);

    let shared = f.key("shared");
    f.cache.set_hard(&shared, &0u64, None).unwrap();
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                for _ in 0..50 {
                    f.cache.incr(&f.key("shared"), 1).unwrap();
                }
            });
        }
    });
    let total = f.seen::<u64>(f.cache.get(&shared).unwrap());
    assert_eq!(
        total,
        Seen::Fresh(THREADS as u64 * 50),
        "{}: atomic",
        f.check
    );
}

fn hard_sets_are_never_stale_and_expire_on_time(f: Fixture) {
    let v = tagged("a", 1);
    f.cache.set_hard(&f.key("forever"), &v, None).unwrap();
    f.cache
        .set_hard(&f.key("brief"), &v, Some(Duration::from_secs(1)))
        .unwrap();
    f.clock.advance(SOFT * FACTOR * 10);
    f.expect("no expiry", f.get("forever"), Seen::Fresh(v.clone()));
    std::thread::sleep(REAL_SECOND_TTL_PASSED);
    f.expect("its TTL passed", f.get("brief"), Seen::Recompute(None));
    assert!(
        !f.cache.add_hard(&f.key("forever"), &v, None).unwrap(),
        "{}: add_hard over a value",
        f.check
    );
    assert!(
        f.cache.add_hard(&f.key("new"), &v, None).unwrap(),
        "{}: add_hard",
        f.check
    );
}

/// Every batch operation takes an empty batch and answers it as empty,
/// never as an error (a server may refuse an empty pipeline).
fn empty_batches_answer_at_once(f: Fixture) {
    let (store, check, now) = (f.cache.store(), f.check, f.clock.now());
    let wait = Wait::Blocking;
    let empty = |what: &str, ok: bool| assert!(ok, "{check}: an empty {what}");
    let mut reader = |_: usize, _: Lookup<'_>| {};
    let read = store.read_many(wait, &[], now, ReadFor::Peek, &mut reader);
    empty("read_many", read.wait().is_ok_and(|holds| holds.is_empty()));
    empty(
        "write_many",
        store.write_many(wait, Vec::new(), now).wait().is_ok(),
    );
    empty("remove_many", store.remove_many(wait, &[]).wait().is_ok());
    let leases = store.try_lease_many(wait, &[], now, Duration::from_secs(1));
    empty(
        "try_lease_many",
        leases.wait().is_ok_and(|leases| leases.is_empty()),
    );
    let claims = store.try_claim_many(wait, &[], now, now);
    empty(
        "try_claim_many",
        claims.wait().is_ok_and(|claims| claims.is_empty()),
    );
    let writes = store.write_held_many(wait, Vec::new(), now);
    empty(
        "write_held_many",
        writes.wait().is_ok_and(|writes| writes.is_empty()),
    );
    let renewed = store.renew_many(wait, &[], now);
    empty(
        "renew_many",
        renewed.wait().is_ok_and(|renewed| renewed.is_empty()),
    );
    let none: [CheckKey<'_>; 0] = [];
    empty(
        "get_many",
        f.cache
            .get_many::<Tagged, _>(&none)
            .is_ok_and(|got| got.is_empty()),
    );
    let nothing: [(CheckKey<'_>, Tagged); 0] = [];
    empty("set_many", f.cache.set_many(&nothing, SOFT).is_ok());
    empty(
        "delete_many",
        f.cache.delete_many(&none, Invalidate::Hard).is_ok(),
    );
    let computed = f
        .cache
        .get_or_compute_many(&none, SOFT, |_| Vec::<Tagged>::new());
    empty(
        "get_or_compute_many",
        computed.is_ok_and(|values| values.is_empty()),
    );
}

fn many_keys_at_once(f: Fixture) {
    let names: Vec<String> = (0..60).map(|i| format!("k{i}")).collect();
    let keys: Vec<CheckKey<'_>> = names.iter().map(|name| f.key(name)).collect();
    let entries: Vec<(CheckKey<'_>, Tagged)> = names[..40]
        .iter()
        .enumerate()
        .map(|(i, name)| (f.key(name), tagged(name, i as u32)))
        .collect();
    f.cache.set_many(&entries, SOFT).unwrap();
    let got: Vec<Got<Tagged>> = f.cache.get_many(&keys).unwrap();
    for (i, got) in got.into_iter().map(|got| f.seen(got)).enumerate() {
        let expected = if i < 40 {
            Seen::Fresh(tagged(&names[i], i as u32))
        } else {
            Seen::Recompute(None)
        };
        assert_eq!(got, expected, "{}: get_many key {i}", f.check);
    }

    f.cache.delete_many(&keys[..10], Invalidate::Soft).unwrap();
    f.cache
        .delete_many(&keys[10..20], Invalidate::Hard)
        .unwrap();
    let got: Vec<Got<Tagged>> = f.cache.get_many(&keys[..30]).unwrap();
    for (i, got) in got.into_iter().map(|got| f.seen(got)).enumerate() {
        let value = tagged(&names[i], i as u32);
        let expected = match i {
            0..10 => Seen::Recompute(Some(value)),
            10..20 => Seen::Recompute(None),
            _ => Seen::Fresh(value),
        };
        assert_eq!(got, expected, "{}: after delete_many, key {i}", f.check);
    }

    let hard: Vec<(CheckKey<'_>, u64)> =
        (0..5).map(|i| (f.key(&names[50 + i]), i as u64)).collect();
    f.cache.set_many_hard(&hard, None).unwrap();
    assert_eq!(
        f.cache.incr(&f.key(&names[53]), 1).unwrap(),
        4,
        "{}",
        f.check
    );

    // (k40 to k59 are leased: get_many told this caller to compute them.)
    let wanted: Vec<CheckKey<'_>> = ["k20", "k21", "n1", "n2"]
        .into_iter()
        .map(|name| f.key(name))
        .collect();
    let values = f
        .cache
        .get_or_compute_many(&wanted, SOFT, |missing: Vec<&CheckKey<'_>>| {
            let names: Vec<&str> = missing.iter().map(|key| key.name).collect();
            assert_eq!(names, ["n1", "n2"], "{}: only the missing", f.check);
            missing.iter().map(|key| tagged(key.name, 99)).collect()
        })
        .unwrap();
    let expected = [
        tagged("k20", 20),
        tagged("k21", 21),
        tagged("n1", 99),
        tagged("n2", 99),
    ];
    assert_eq!(values, expected, "{}: get_or_compute_many", f.check);
    let again = f
        .cache
        .get_or_compute_many(&wanted, SOFT, |_: Vec<&CheckKey<'_>>| -> Vec<Tagged> {
            panic!("{}: all four are cached", f.check)
        })
        .unwrap();
    assert_eq!(again, expected, "{}", f.check);
}

fn get_or_compute_computes_once(f: Fixture) {
    let computes = AtomicUsize::new(0);
    let barrier = Barrier::new(THREADS);
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                barrier.wait();
                let value = f.cache.get_or_compute(&f.key("a"), SOFT, || {
                    computes.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(100));
                    tagged("a", 1)
                });
                assert_eq!(value, tagged("a", 1), "{}", f.check);
            });
        }
    });
    assert_eq!(computes.into_inner(), 1, "{}: cold miss", f.check);

    let failed: Result<Tagged, &str> = f.cache.get_or_try_compute(&f.key("b"), SOFT, || Err("no"));
    assert_eq!(failed, Err("no"), "{}", f.check);
    f.expect("a failure is not cached", f.get("b"), Seen::Recompute(None));
}

fn values_of_another_type_are_misses(f: Fixture) {
    f.cache.set(&f.key("a"), &7u32, SOFT).unwrap();
    let other = f.seen::<String>(f.cache.get(&f.key("a")).unwrap());
    assert_eq!(
        other,
        Seen::Recompute(None),
        "{}: never a wrong value",
        f.check
    );
    f.cache.set_hard(&f.key("b"), &7u32, None).unwrap();
    let other = f.seen::<Tagged>(f.cache.get(&f.key("b")).unwrap());
    assert_eq!(other, Seen::Recompute(None), "{}: raw", f.check);
}

#[cfg(feature = "tokio")]
fn nonblocking_operations(f: Fixture) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        let cache = f.cache.as_async();
        let v = tagged("a", 1);
        let first = f.seen::<Tagged>(cache.get(&f.key("a")).await.unwrap());
        assert_eq!(first, Seen::Recompute(None), "{}", f.check);
        cache.set(&f.key("a"), &v, SOFT).await.unwrap();
        assert_eq!(
            f.seen(cache.get(&f.key("a")).await.unwrap()),
            Seen::Fresh(v.clone())
        );
        assert!(cache.delete(&f.key("a")).await.unwrap());
        assert_eq!(
            f.seen(cache.get(&f.key("a")).await.unwrap()),
            Seen::Recompute(Some(v.clone())),
            "{}",
            f.check
        );
        cache.set_hard(&f.key("n"), &1u64, None).await.unwrap();
        assert_eq!(cache.incr(&f.key("n"), 2).await.unwrap(), 3, "{}", f.check);
        let many: Vec<Got<u64>> = cache.get_many(&[f.key("n"), f.key("x")]).await.unwrap();
        let many: Vec<Seen<u64>> = many.into_iter().map(|got| f.seen(got)).collect();
        assert_eq!(many, [Seen::Fresh(3), Seen::Recompute(None)], "{}", f.check);
        let computed = cache
            .get_or_compute(&f.key("c"), SOFT, async { tagged("c", 1) })
            .await;
        assert_eq!(computed, tagged("c", 1), "{}", f.check);
        let values = cache
            .get_or_compute_many(&[f.key("m1"), f.key("m2")], SOFT, |missing| {
                let values = missing.iter().map(|key| key.name.len() as u64).collect();
                async move { values }
            })
            .await
            .unwrap();
        assert_eq!(values, [2, 2], "{}", f.check);
    });
}

impl Fixture {
    /// `get`, which must answer [`Got::Recompute`]: its stale value and duty.
    fn duty(&self, name: &str) -> (Option<Tagged>, Recompute) {
        match self.cache.get::<Tagged, _>(&self.key(name)) {
            Ok(Got::Recompute(stale, duty)) => (stale, duty),
            other => panic!("{}: {name}: expected Recompute, got {other:?}", self.check),
        }
    }

    fn set_through(&self, what: &str, duty: Recompute, value: &Tagged) -> bool {
        duty.set(value, SOFT)
            .unwrap_or_else(|error| panic!("{}: {what}: {error}", self.check))
    }
}

/// The write of a [`Recompute`] duty (the store's `write_held`, which every
/// memoized refresh and fill settles with) lands only while its claim or
/// lease is live: a soft or hard delete, or a plain set, since the `get`
/// refuses it, so a value computed before an invalidation is never stored
/// as fresh after it. Without one it lands; dropped, it gives the claim or
/// lease back at once.
fn held_writes_end_at_invalidation(f: Fixture) {
    let (v1, v2, v3) = (tagged("a", 1), tagged("a", 2), tagged("a", 3));
    // A fill with nothing in between lands.
    let (_, duty) = f.duty("a");
    assert!(
        f.set_through("fill", duty, &v1),
        "{}: a fill lands",
        f.check
    );
    f.expect("filled", f.get("a"), Seen::Fresh(v1.clone()));

    // A refresh across a soft delete is refused; the value stays stale.
    assert!(f.cache.delete(&f.key("a")).unwrap(), "{}", f.check);
    let (stale, duty) = f.duty("a");
    assert_eq!(stale.as_ref(), Some(&v1), "{}", f.check);
    assert!(f.cache.delete(&f.key("a")).unwrap(), "{}", f.check);
    assert!(
        !f.set_through("refresh across a soft delete", duty, &v2),
        "{}: a refresh that began before a soft delete was stored",
        f.check
    );
    let (stale, duty) = f.duty("a");
    assert_eq!(
        stale.as_ref(),
        Some(&v1),
        "{}: still the old, stale value",
        f.check
    );
    assert!(
        f.set_through("refresh", duty, &v3),
        "{}: a refresh lands",
        f.check
    );
    f.expect("refreshed", f.get("a"), Seen::Fresh(v3.clone()));

    // A refresh across a hard delete is refused: nothing is stored.
    assert!(f.cache.delete(&f.key("a")).unwrap(), "{}", f.check);
    let (_, duty) = f.duty("a");
    f.cache.delete_hard(&f.key("a")).unwrap();
    assert!(
        !f.set_through("refresh across a hard delete", duty, &v2),
        "{}: a refresh that began before a hard delete was stored",
        f.check
    );
    let (stale, duty) = f.duty("a");
    assert_eq!(stale, None, "{}: nothing stored", f.check);
    drop(duty);

    // A fill across a soft or a hard delete, or a plain set, is refused.
    for (name, invalidate) in [("b", Invalidate::Soft), ("c", Invalidate::Hard)] {
        let (_, duty) = f.duty(name);
        match invalidate {
            Invalidate::Soft => {
                assert!(!f.cache.delete(&f.key(name)).unwrap(), "{}", f.check);
            }
            Invalidate::Hard => f.cache.delete_hard(&f.key(name)).unwrap(),
        }
        assert!(
            !f.set_through("fill across a delete", duty, &tagged(name, 1)),
            "{}: a fill that began before a {invalidate:?} delete was stored",
            f.check
        );
        let (stale, duty) = f.duty(name);
        assert_eq!(stale, None, "{}: {name}: nothing stored", f.check);
        drop(duty);
    }
    let (_, duty) = f.duty("d");
    f.set("d", &tagged("d", 1));
    assert!(
        !f.set_through("fill across a set", duty, &tagged("d", 2)),
        "{}: a fill overwrote a later set",
        f.check
    );
    f.expect("the set stays", f.get("d"), Seen::Fresh(tagged("d", 1)));

    // Dropped, a duty gives its lease or claim back at once.
    let (_, duty) = f.duty("e");
    drop(duty);
    let (_, duty) = f.duty("e");
    duty.release();
    f.set("e", &tagged("e", 1));
    assert!(f.cache.delete(&f.key("e")).unwrap(), "{}", f.check);
    let (_, duty) = f.duty("e");
    drop(duty);
    let (stale, _duty) = f.duty("e");
    assert_eq!(stale, Some(tagged("e", 1)), "{}: claim given back", f.check);
}

/// A store that keeps nothing accepts a duty's value (nothing ended its
/// hold) and keeps it no more than any other.
fn a_duty_stores_nothing(f: Fixture) {
    let (_, duty) = f.duty("a");
    assert!(
        f.set_through("nothing", duty, &tagged("a", 1)),
        "{}: accepted, then forgotten",
        f.check
    );
    let (stale, _duty) = f.duty("a");
    assert_eq!(stale, None, "{}", f.check);
}

fn keeps_nothing(f: Fixture) {
    let v = tagged("a", 1);
    f.set("a", &v);
    f.expect("nothing kept", f.get("a"), Seen::Recompute(None));
    f.expect("no lease either", f.get("a"), Seen::Recompute(None));
    assert!(f.cache.add(&f.key("a"), &v, SOFT).unwrap(), "{}", f.check);
    assert!(!f.cache.delete(&f.key("a")).unwrap(), "{}", f.check);
    f.cache.delete_hard(&f.key("a")).unwrap();
    assert_eq!(
        f.cache.incr(&f.key("a"), 1),
        Err(Error::NotFound),
        "{}",
        f.check
    );
    let computes = AtomicUsize::new(0);
    for _ in 0..3 {
        let value = f.cache.get_or_compute(&f.key("b"), Ttl::soft(SOFT), || {
            computes.fetch_add(1, Ordering::Relaxed);
            v.clone()
        });
        assert_eq!(value, v, "{}", f.check);
    }
    assert_eq!(computes.into_inner(), 3, "{}: every call computes", f.check);
}
