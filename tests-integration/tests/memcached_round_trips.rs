//! How many requests each operation sends to memcached, and how many value
//! bytes it uploads, counted by a proxy between the store and a real
//! memcached (every command but `mn`, the no-op that ends a pipeline).
//!
//! memcached's meta protocol decides a claim or a lease in the request that
//! reads (`mg` with `N`, `R`, and the `W`/`Z`/`X` flags it answers), so:
//! a fresh hit is 1 request; a cold miss by the caller that computes is 2
//! (its read, which takes the lease, and its write); a waiter in another
//! process reads once per poll; a stale hit by the caller that refreshes is
//! 2 (its read, which takes the claim, and its write, the only upload of
//! the value); any other caller of a stale value reads once; releasing a
//! claim or a lease is 1 request without the value.
//!
//! "Another process" is a second cache through a second proxy: nothing in
//! process is shared between two caches, and each proxy counts one side.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use antidogpile::{antidogpiled, install_named, Cache, Got, Ttl};
use common::fault_proxy::FaultProxy;
use common::memcached::Memcached;

/// Long enough for a refresh to read the value as stale: memcached hands
/// the refresh token out within two seconds of the soft deadline (its TTLs
/// and its clock count whole seconds).
const PAST_THE_TOKEN: Duration = Duration::from_millis(2_300);

/// What one party sent through its proxy during a step.
#[derive(Debug)]
struct Sent {
    /// Requests, every command but `mn`.
    requests: usize,
    /// `ms` requests that uploaded a value (a lease item has none).
    uploads: usize,
    /// The request lines, to show in a failure.
    lines: Vec<String>,
}

/// Counts what `step` sends through `proxy`: every request but `mn`, and
/// but the reads of the namespace generations a process makes at most once
/// a second before a memoized call (a per-process cost of `clear`, not of
/// the operation).
fn sent<T>(proxy: &FaultProxy, step: impl FnOnce() -> T) -> (T, Sent) {
    let before = proxy.request_lines().len();
    let out = step();
    (out, sent_since(proxy, before))
}

fn sent_since(proxy: &FaultProxy, before: usize) -> Sent {
    let lines: Vec<String> = proxy.request_lines()[before..]
        .iter()
        .filter(|line| !line.starts_with("mn") && !line.contains(" antidogpile::generation:"))
        .cloned()
        .collect();
    Sent {
        requests: lines.len(),
        uploads: lines.iter().filter(|line| uploads_a_value(line)).count(),
        lines,
    }
}

/// Whether an `ms` request line announces data: `ms <key> <length> ...`.
fn uploads_a_value(line: &str) -> bool {
    let mut words = line.split_ascii_whitespace();
    words.next() == Some("ms") && words.nth(1).is_some_and(|length| length != "0")
}

/// Waits (a few seconds at most) until `proxy` has seen `requests` more
/// requests than `before`: for what the liveness thread sends on its own.
fn sent_eventually(proxy: &FaultProxy, before: usize, requests: usize) -> Sent {
    let deadline = Instant::now() + Duration::from_secs(5);
    while proxy.request_lines().len() < before + requests && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    // Anything more would come at once: give it a moment to show.
    std::thread::sleep(Duration::from_millis(200));
    sent_since(proxy, before)
}

fn assert_sent(step: &str, sent: &Sent, requests: usize, uploads: usize) {
    assert_eq!(
        (sent.requests, sent.uploads),
        (requests, uploads),
        "{step}: expected {requests} request(s) uploading the value {uploads} time(s), sent {:?}",
        sent.lines
    );
}

/// memcached, and a cache through a proxy of its own installed as `name`.
fn cache_through_proxy(server: &Memcached, name: Option<&str>) -> (FaultProxy, Cache) {
    let proxy = FaultProxy::start(server.port());
    let cache = Cache::from_url(&proxy.url("timeout=2s")).unwrap();
    if let Some(name) = name {
        install_named(name, Cache::from_url(&proxy.url("timeout=2s")).unwrap());
    }
    (proxy, cache)
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

#[test]
fn a_memoized_fn_misses_hits_and_refreshes_in_the_fewest_requests() {
    let server = Memcached::start();
    let (proxy, _) = cache_through_proxy(&server, Some("round_trips_sync"));
    // A function's first call also reads its namespace's generation (once
    // per process): not counted here.
    report(0);

    let (first, cold) = sent(&proxy, || report(7));
    assert_eq!(REPORT_COMPUTES.load(Ordering::SeqCst), 2);
    assert_sent("a cold miss, computed here", &cold, 2, 1);

    let (hit, fresh) = sent(&proxy, || report(7));
    assert_eq!(hit, first);
    assert_sent("a fresh hit", &fresh, 1, 0);

    std::thread::sleep(PAST_THE_TOKEN);
    let (stale, refresh) = sent(&proxy, || report(7));
    assert_eq!(
        REPORT_COMPUTES.load(Ordering::SeqCst),
        3,
        "refreshed here: {refresh:?}"
    );
    assert_ne!(stale, first, "the refreshing caller returns its new value");
    assert_sent("a stale hit, refreshed here", &refresh, 2, 1);

    let (hit, fresh) = sent(&proxy, || report(7));
    assert_eq!(hit, stale);
    assert_sent("a fresh hit after the refresh", &fresh, 1, 0);
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

#[test]
fn an_async_memoized_fn_misses_and_hits_in_the_fewest_requests() {
    let server = Memcached::start();
    let (proxy, _) = cache_through_proxy(&server, Some("round_trips_async"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // The first call also reads the namespace's generation: not counted.
    runtime.block_on(summary(0));

    let (value, cold) = sent(&proxy, || runtime.block_on(summary(41)));
    assert_eq!(value, 42);
    assert_sent("a cold miss, computed here (async)", &cold, 2, 1);

    let (value, fresh) = sent(&proxy, || runtime.block_on(summary(41)));
    assert_eq!(value, 42);
    assert_sent("a fresh hit (async)", &fresh, 1, 0);
    assert_eq!(SUMMARY_COMPUTES.load(Ordering::SeqCst), 2);
}

#[test]
fn the_client_claims_leases_and_invalidates_in_the_fewest_requests() {
    let server = Memcached::start();
    // Two processes' caches, each counted by its own proxy.
    let (proxy_a, a) = cache_through_proxy(&server, None);
    let (proxy_b, b) = cache_through_proxy(&server, None);
    let ttl = Ttl::soft(Duration::from_secs(1)).factor(4);

    // A cold miss: A leases in its read, B is told to wait in one read.
    let (got, read) = sent(&proxy_a, || a.get::<u64, _>("k").unwrap());
    let Got::Recompute(None, duty) = got else {
        panic!("the first caller computes: {got:?}")
    };
    assert_sent("a cold get, leased", &read, 1, 0);
    let (got, wait) = sent(&proxy_b, || b.get::<u64, _>("k").unwrap());
    assert_eq!(got, Got::Pending);
    assert_sent("a cold get in another process", &wait, 1, 0);
    let (landed, write) = sent(&proxy_a, || duty.set(&1u64, ttl).unwrap());
    assert!(landed);
    assert_sent("the leased write", &write, 1, 1);
    let (got, fresh) = sent(&proxy_b, || b.get::<u64, _>("k").unwrap());
    assert_eq!(got, Got::Fresh(1));
    assert_sent("a fresh get", &fresh, 1, 0);

    // Stale by time: A claims in its read, B is served the stale value.
    std::thread::sleep(PAST_THE_TOKEN);
    let (got, read) = sent(&proxy_a, || a.get::<u64, _>("k").unwrap());
    let Got::Recompute(Some(1), duty) = got else {
        panic!("the first caller after the soft deadline refreshes: {got:?}")
    };
    // The client's `get` does not know how long values are kept stale
    // (its values' TTLs come with their writes), so it sends no recache
    // token: finding the value stale, it asks for the win (a second read
    // with a token above the remaining TTL) and, as nobody could tell that
    // win's age, records its claim (a third request; a memoized function's
    // read takes the claim in one: see the test above).
    assert_sent("a stale get, claimed", &read, 3, 1);
    let (got, stale) = sent(&proxy_b, || b.get::<u64, _>("k").unwrap());
    assert_eq!(got, Got::Stale(1));
    assert_sent("a stale get in another process", &stale, 1, 0);
    let (landed, write) = sent(&proxy_a, || duty.set(&2u64, ttl).unwrap());
    assert!(landed);
    assert_sent("the claimed write", &write, 1, 1);

    // A soft invalidation sends no value; the next reader claims the
    // refresh in its read, the others are served the stale value.
    let (marked, delete) = sent(&proxy_a, || a.delete("k").unwrap());
    assert!(marked);
    // `md ... I`, pipelined (one round trip) behind a `mg ... f s` that
    // tells, without the value, whether there was one to mark (a lease
    // stub is not one; a raw value is deleted instead): what `delete`
    // answers. No value goes either way.
    assert_sent("a soft delete", &delete, 2, 0);
    assert!(delete.lines[0].starts_with("mg ") && delete.lines[1].starts_with("md "));
    let (got, read) = sent(&proxy_b, || b.get::<u64, _>("k").unwrap());
    let Got::Recompute(Some(2), duty) = got else {
        panic!("the first caller after a soft delete refreshes: {got:?}")
    };
    assert_sent("a get after a soft delete, claimed", &read, 1, 0);
    let (got, stale) = sent(&proxy_a, || a.get::<u64, _>("k").unwrap());
    assert_eq!(got, Got::Stale(2));
    assert_sent("a get after a soft delete in another process", &stale, 1, 0);

    // Giving the claim back: one request, no value; the next reader claims.
    let before = proxy_b.request_lines().len();
    drop(duty);
    let release = sent_eventually(&proxy_b, before, 1);
    assert_sent("a claim given back", &release, 1, 0);
    let (got, read) = sent(&proxy_a, || a.get::<u64, _>("k").unwrap());
    let Got::Recompute(Some(2), duty) = got else {
        panic!("a claim given back is taken by the next caller: {got:?}")
    };
    assert_sent("a get after a claim was given back", &read, 1, 0);
    drop(duty);

    // Giving a lease back: one request, no value.
    let (got, _) = sent(&proxy_a, || a.get::<u64, _>("cold").unwrap());
    let Got::Recompute(None, duty) = got else {
        panic!("the first caller computes: {got:?}")
    };
    let before = proxy_a.request_lines().len();
    drop(duty);
    let release = sent_eventually(&proxy_a, before, 1);
    assert_sent("a lease given back", &release, 1, 0);
    let (got, read) = sent(&proxy_b, || b.get::<u64, _>("cold").unwrap());
    assert!(got.must_recompute(), "a lease given back: {got:?}");
    assert_sent("a get after a lease was given back", &read, 1, 0);
}

#[test]
fn a_waiter_in_another_process_reads_once_per_poll_and_wakes_soon() {
    let server = Memcached::start();
    let (proxy_a, a) = cache_through_proxy(&server, None);
    let (proxy_b, b) = cache_through_proxy(&server, None);
    let ttl = Duration::from_secs(60);
    let Got::Recompute(None, duty) = a.get::<u64, _>("slow").unwrap() else {
        panic!("the first caller computes")
    };
    let computes = AtomicUsize::new(0);
    let (landed_tx, landed_rx) = mpsc::channel::<Instant>();
    let before = proxy_b.request_lines().len();
    let (value, woke) = std::thread::scope(|scope| {
        let waiter = scope.spawn(|| {
            let value = b.get_or_compute("slow", ttl, || {
                computes.fetch_add(1, Ordering::SeqCst);
                0u64
            });
            (value, Instant::now())
        });
        std::thread::sleep(Duration::from_millis(400));
        assert!(duty.set(&9u64, ttl).unwrap());
        landed_tx.send(Instant::now()).unwrap();
        waiter.join().unwrap()
    });
    let landed = landed_rx.recv().unwrap();
    let delay = woke.saturating_duration_since(landed);
    let lines = proxy_b.request_lines()[before..].to_vec();
    println!(
        "waiter in another process: {} requests while waiting 400 ms, woke {delay:?} after the write",
        lines.len()
    );
    assert_eq!(value, 9, "the waiter gets the other process's value");
    assert_eq!(computes.load(Ordering::SeqCst), 0);
    assert!(
        lines.iter().all(|line| line.starts_with("mg ")),
        "a waiter only reads, once per poll: {lines:?}"
    );
    assert!(proxy_a.requests("ms") >= 1);
    // The poll interval bounds the delay (50 ms at most); room for a
    // loaded machine.
    assert!(
        delay < Duration::from_millis(500),
        "woke {delay:?} after the write"
    );
}

#[test]
fn a_stale_batch_claims_in_a_few_round_trips_at_its_soft_deadline() {
    let server = Memcached::start();
    let (proxy, cache) = cache_through_proxy(&server, None);
    // 1.5 s fresh: memcached, counting whole seconds, hands the wins out
    // 2 to 3 s after the write; at 1.6 s every key is stale by the clock
    // and none's win has come.
    let ttl = Ttl::soft(Duration::from_millis(1_500)).factor(30);
    let keys: Vec<String> = (0..50).map(|k| format!("batch {k:03}")).collect();
    let first = cache
        .get_or_compute_many(&keys, ttl, |missing| vec![1u64; missing.len()])
        .unwrap();
    assert_eq!(first, vec![1; 50]);
    std::thread::sleep(Duration::from_millis(1_600));
    let delay = Duration::from_millis(20);
    proxy.delay_replies(delay);
    let before = proxy.request_lines().len();
    let started = Instant::now();
    let refreshed = cache
        .get_or_compute_many(&keys, ttl, |missing| vec![2u64; missing.len()])
        .unwrap();
    let took = started.elapsed();
    proxy.pass_through();
    let sent = sent_since(&proxy, before);
    println!(
        "a stale batch of 50 keys, {delay:?} a round trip: {took:?}, {} requests, {} uploads",
        sent.requests, sent.uploads
    );
    assert_eq!(refreshed, vec![2; 50], "every key refreshed by this caller");
    // A read; the claims (a read, a read that asks for the win, the claim
    // recorded: the batch sends no recache token); the writes: five
    // pipelined exchanges, not one per key (50 round trips, 1 s).
    assert!(sent.requests <= 5 * 50, "{:?}", sent.lines);
    assert!(
        took < delay * 20,
        "a stale batch took {took:?}: its claims went one key at a time"
    );
}
