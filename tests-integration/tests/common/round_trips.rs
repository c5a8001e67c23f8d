//! The round-trip scenarios every remote store's tests share: the steps of
//! a memoized fn and of the client, each counted by the store's own meter
//! (a proxy's request lines for memcached, the server's command stats for
//! Redis) and checked against what that step should cost the store.

use std::fmt::Debug;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use antidogpile::{antidogpiled, install_named, Cache, Got, Ttl};

/// Which of two processes' caches a step goes through ("another process"
/// is a second cache: nothing in process is shared between two caches).
#[derive(Clone, Copy, Debug)]
pub enum Party {
    A,
    B,
}

/// What a step does, as far as its cost goes; each store says what each
/// costs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// One read: a hit, a wait, or a read that takes the lease or the claim.
    Read,
    /// A fresh hit of a key this process last saw fresh (its own write or
    /// read): Redis reads it without a script.
    FreshHitSeenHere,
    /// A memoized call that computes: its read (taking the lease or the
    /// claim) and its write.
    ReadAndWrite,
    /// A memoized call that refreshes a value stale for over a second: its
    /// read (taking the claim) and its write.
    LateRefresh,
    /// The client's `get` finding a value stale by time and claiming it.
    StaleGetClaims,
    /// The write of a leased or claimed value.
    Write,
    /// A soft invalidation.
    SoftDelete,
    /// A claim or a lease given back (by dropping the duty).
    GiveBack,
}

/// Counts what a store's clients send, step by step.
pub trait Meter {
    /// What was sent during a step.
    type Sent: Debug;

    /// Runs `step` through `party`'s cache and counts what it sent.
    fn count<T>(&self, party: Party, step: impl FnOnce() -> T) -> (T, Self::Sent);

    /// Runs `event` and counts what `party`'s cache then sends on its own
    /// (a background give-back), waiting a few seconds at most for
    /// `requests` of it.
    fn count_eventually(&self, party: Party, requests: usize, event: impl FnOnce()) -> Self::Sent;

    /// Asserts that `sent` is what `step` costs this store; `label` names
    /// the step in a failure.
    fn expect(&self, step: Step, label: &str, sent: &Self::Sent);
}

static REPORT_COMPUTES: AtomicUsize = AtomicUsize::new(0);

#[antidogpiled(
    soft = "1s",
    factor = 4,
    cache = "round_trips_sync",
    name = "round_trips::report"
)]
fn report(customer: u64) -> u64 {
    REPORT_COMPUTES.fetch_add(1, Ordering::SeqCst);
    customer * 10 + REPORT_COMPUTES.load(Ordering::SeqCst) as u64
}

/// A memoized fn (soft 1 s, factor 4, a value that changes with each
/// compute) on `cache` misses, hits, refreshes once `past_soft` has passed,
/// and hits again, each step in the fewest requests. Returns what the
/// refresh sent.
pub fn a_memoized_fn_misses_hits_and_refreshes<M: Meter>(
    meter: &M,
    cache: Cache,
    past_soft: Duration,
) -> M::Sent {
    install_named("round_trips_sync", cache);
    let call = report;
    let computes = &REPORT_COMPUTES;
    // The first call also connects and reads its namespace's generation
    // (once per process): not counted.
    call(0);

    let (first, cold) = meter.count(Party::A, || call(7));
    assert_eq!(computes.load(Ordering::SeqCst), 2);
    meter.expect(Step::ReadAndWrite, "a cold miss, computed here", &cold);

    let (hit, fresh) = meter.count(Party::A, || call(7));
    assert_eq!(hit, first);
    meter.expect(Step::FreshHitSeenHere, "a fresh hit", &fresh);

    std::thread::sleep(past_soft);
    let (stale, refresh) = meter.count(Party::A, || call(7));
    assert_eq!(
        computes.load(Ordering::SeqCst),
        3,
        "refreshed here: {refresh:?}"
    );
    assert_ne!(stale, first, "the refreshing caller returns its new value");
    meter.expect(Step::LateRefresh, "a stale hit, refreshed here", &refresh);

    let (hit, fresh) = meter.count(Party::A, || call(7));
    assert_eq!(hit, stale);
    meter.expect(
        Step::FreshHitSeenHere,
        "a fresh hit after the refresh",
        &fresh,
    );
    refresh
}

static SUMMARY_COMPUTES: AtomicUsize = AtomicUsize::new(0);

#[antidogpiled(
    soft = "1s",
    factor = 4,
    cache = "round_trips_async",
    name = "round_trips::summary"
)]
async fn summary(customer: u64) -> u64 {
    SUMMARY_COMPUTES.fetch_add(1, Ordering::SeqCst);
    tokio::task::yield_now().await;
    customer + 1
}

/// An async memoized fn (soft 1 s, factor 4) on `cache` misses and hits in
/// the fewest requests; then, if `refreshes_after` is given, refreshes
/// once that has passed.
pub fn an_async_memoized_fn_misses_and_hits<M: Meter>(
    meter: &M,
    cache: Cache,
    refreshes_after: Option<Duration>,
) {
    install_named("round_trips_async", cache);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let call = |customer| runtime.block_on(summary(customer));
    let computes = &SUMMARY_COMPUTES;
    // The first call also connects and reads the namespace's generation:
    // not counted.
    call(0);

    let (value, cold) = meter.count(Party::A, || call(41));
    assert_eq!(value, 42);
    meter.expect(
        Step::ReadAndWrite,
        "a cold miss, computed here (async)",
        &cold,
    );

    let (value, fresh) = meter.count(Party::A, || call(41));
    assert_eq!(value, 42);
    meter.expect(Step::FreshHitSeenHere, "a fresh hit (async)", &fresh);
    assert_eq!(computes.load(Ordering::SeqCst), 2);

    if let Some(past_soft) = refreshes_after {
        std::thread::sleep(past_soft);
        let (value, refresh) = meter.count(Party::A, || call(41));
        assert_eq!(value, 42);
        assert_eq!(computes.load(Ordering::SeqCst), 3, "{refresh:?}");
        meter.expect(
            Step::LateRefresh,
            "a stale hit, refreshed here (async)",
            &refresh,
        );
    }
}

/// Two processes' caches, `a` and `b`, take and give back leases and
/// claims, write, and invalidate through the client, each step in the
/// fewest requests; `past_soft` makes a value of soft 1 s stale.
pub fn the_client_claims_leases_and_invalidates<M: Meter>(
    meter: &M,
    a: &Cache,
    b: &Cache,
    past_soft: Duration,
) {
    let ttl = Ttl::soft(Duration::from_secs(1)).factor(4);

    // A cold miss: A leases in its read, B is told to wait in one read.
    let (got, read) = meter.count(Party::A, || a.get::<u64, _>("k").unwrap());
    let Got::Recompute(None, duty) = got else {
        panic!("the first caller computes: {got:?}")
    };
    meter.expect(Step::Read, "a cold get, leased", &read);
    let (got, wait) = meter.count(Party::B, || b.get::<u64, _>("k").unwrap());
    assert_eq!(got, Got::Pending);
    meter.expect(Step::Read, "a cold get in another process", &wait);
    let (landed, write) = meter.count(Party::A, || duty.set(&1u64, ttl).unwrap());
    assert!(landed);
    meter.expect(Step::Write, "the leased write", &write);
    let (got, fresh) = meter.count(Party::B, || b.get::<u64, _>("k").unwrap());
    assert_eq!(got, Got::Fresh(1));
    meter.expect(Step::Read, "a fresh get", &fresh);

    // Stale by time: A claims, B is served the stale value.
    std::thread::sleep(past_soft);
    let (got, read) = meter.count(Party::A, || a.get::<u64, _>("k").unwrap());
    let Got::Recompute(Some(1), duty) = got else {
        panic!("the first caller after the soft deadline refreshes: {got:?}")
    };
    meter.expect(Step::StaleGetClaims, "a stale get, claimed", &read);
    let (got, stale) = meter.count(Party::B, || b.get::<u64, _>("k").unwrap());
    assert_eq!(got, Got::Stale(1));
    meter.expect(Step::Read, "a stale get in another process", &stale);
    let (landed, write) = meter.count(Party::A, || duty.set(&2u64, ttl).unwrap());
    assert!(landed);
    meter.expect(Step::Write, "the claimed write", &write);

    // A soft invalidation sends no value; the next reader claims the
    // refresh in its read, the others are served the stale value.
    let (marked, delete) = meter.count(Party::A, || a.delete("k").unwrap());
    assert!(marked);
    meter.expect(Step::SoftDelete, "a soft delete", &delete);
    let (got, read) = meter.count(Party::B, || b.get::<u64, _>("k").unwrap());
    let Got::Recompute(Some(2), duty) = got else {
        panic!("the first caller after a soft delete refreshes: {got:?}")
    };
    meter.expect(Step::Read, "a get after a soft delete, claimed", &read);
    let (got, stale) = meter.count(Party::A, || a.get::<u64, _>("k").unwrap());
    assert_eq!(got, Got::Stale(2));
    meter.expect(
        Step::Read,
        "a get after a soft delete in another process",
        &stale,
    );

    // Giving the claim back: one request, no value; the next reader claims.
    let release = meter.count_eventually(Party::B, 1, || drop(duty));
    meter.expect(Step::GiveBack, "a claim given back", &release);
    let (got, read) = meter.count(Party::A, || a.get::<u64, _>("k").unwrap());
    let Got::Recompute(Some(2), duty) = got else {
        panic!("a claim given back is taken by the next caller: {got:?}")
    };
    meter.expect(Step::Read, "a get after a claim was given back", &read);
    drop(duty);

    // Giving a lease back: one request, no value.
    let got = a.get::<u64, _>("cold").unwrap();
    let Got::Recompute(None, duty) = got else {
        panic!("the first caller computes: {got:?}")
    };
    let release = meter.count_eventually(Party::A, 1, || drop(duty));
    meter.expect(Step::GiveBack, "a lease given back", &release);
    let (got, read) = meter.count(Party::B, || b.get::<u64, _>("cold").unwrap());
    assert!(got.must_recompute(), "a lease given back: {got:?}");
    meter.expect(Step::Read, "a get after a lease was given back", &read);
}

/// Waits (a few seconds at most) until `enough` holds, then a moment more
/// for anything else that would come at once: for what a cache's liveness
/// thread sends on its own.
pub fn settle(enough: impl FnMut() -> bool) {
    super::eventually(Duration::from_secs(5), enough);
    std::thread::sleep(Duration::from_millis(200));
}

/// What [`a_waiter_in_another_process_wakes_soon`] saw.
pub struct Waited<M, W> {
    /// What `mark` returned, before B began to wait.
    pub mark: M,
    /// What `while_waiting` returned, 400 ms into the wait.
    pub while_waiting: W,
    /// How long after A's write B woke.
    pub delay: Duration,
}

/// A holds the lease of a cold key while B's `get_or_compute` of it waits
/// 400 ms; then A writes 9. B gets A's value without computing, and wakes
/// soon after the write (the poll interval bounds the delay, 50 ms at
/// most; room for a loaded machine). `mark` runs once A holds the lease,
/// before B asks; `while_waiting` runs 400 ms into the wait, before A's
/// write.
pub fn a_waiter_in_another_process_wakes_soon<M, W>(
    a: &Cache,
    b: &Cache,
    mark: impl FnOnce() -> M,
    while_waiting: impl FnOnce() -> W,
) -> Waited<M, W> {
    let ttl = Duration::from_secs(60);
    let Got::Recompute(None, duty): Got<u64> = a.get("slow").unwrap() else {
        panic!("the first caller computes")
    };
    let computes = AtomicUsize::new(0);
    let (landed_tx, landed_rx) = mpsc::channel::<Instant>();
    let mark = mark();
    let ((value, woke), while_waiting) = std::thread::scope(|scope| {
        let waiter = scope.spawn(|| {
            let value = b.get_or_compute("slow", ttl, || {
                computes.fetch_add(1, Ordering::SeqCst);
                0u64
            });
            (value, Instant::now())
        });
        std::thread::sleep(Duration::from_millis(400));
        let while_waiting = while_waiting();
        assert!(duty.set(&9u64, ttl).unwrap());
        landed_tx.send(Instant::now()).unwrap();
        (waiter.join().unwrap(), while_waiting)
    });
    let landed = landed_rx.recv().unwrap();
    let delay = woke.saturating_duration_since(landed);
    assert_eq!(value, 9, "the waiter gets the other process's value");
    assert_eq!(computes.load(Ordering::SeqCst), 0);
    assert!(
        delay < Duration::from_millis(500),
        "woke {delay:?} after the write"
    );
    Waited {
        mark,
        while_waiting,
        delay,
    }
}
