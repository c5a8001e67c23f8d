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

use std::time::{Duration, Instant};

use antidogpile::{Cache, Ttl};
use common::fault_proxy::FaultProxy;
use common::memcached::Memcached;
use common::round_trips::{self, Meter, Party, Step};

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

/// What `proxy` was sent since it had `before` request lines: every
/// request but `mn`, and but the reads of the namespace generations a
/// process makes at most once a second before a memoized call (a
/// per-process cost of `clear`, not of the operation).
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
    round_trips::settle(|| proxy.request_lines().len() >= before + requests);
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

/// A cache through a proxy of its own to `server`.
fn cache_through_proxy(server: &Memcached) -> (FaultProxy, Cache) {
    let proxy = FaultProxy::start(server.port());
    let cache = Cache::from_url(&proxy.url("timeout=2s")).unwrap();
    (proxy, cache)
}

/// The proxies of the two processes' caches (one proxy may stand for both).
struct Proxies<'a> {
    a: &'a FaultProxy,
    b: &'a FaultProxy,
}

impl Proxies<'_> {
    fn of(&self, party: Party) -> &FaultProxy {
        match party {
            Party::A => self.a,
            Party::B => self.b,
        }
    }
}

impl Meter for Proxies<'_> {
    type Sent = Sent;

    fn count<T>(&self, party: Party, step: impl FnOnce() -> T) -> (T, Sent) {
        let proxy = self.of(party);
        let before = proxy.request_lines().len();
        let out = step();
        (out, sent_since(proxy, before))
    }

    fn count_eventually(&self, party: Party, requests: usize, event: impl FnOnce()) -> Sent {
        let proxy = self.of(party);
        let before = proxy.request_lines().len();
        event();
        sent_eventually(proxy, before, requests)
    }

    fn expect(&self, step: Step, label: &str, sent: &Sent) {
        let (requests, uploads) = match step {
            Step::Read | Step::FreshHitSeenHere | Step::GiveBack => (1, 0),
            Step::Write => (1, 1),
            Step::ReadAndWrite => (2, 1),
            // The client's `get` does not know how long values are kept
            // stale (its values' TTLs come with their writes), so it sends
            // no recache token: finding the value stale, it asks for the
            // win (a second read with a token above the remaining TTL)
            // and, as nobody could tell that win's age, records its claim
            // (a third request; a memoized function's read takes the claim
            // in one).
            Step::StaleGetClaims => (3, 1),
            // `md ... I`, pipelined (one round trip) behind a `mg ... f s`
            // that tells, without the value, whether there was one to mark
            // (a lease stub is not one; a raw value is deleted instead):
            // what `delete` answers. No value goes either way.
            Step::SoftDelete => (2, 0),
        };
        assert_sent(label, sent, requests, uploads);
        if step == Step::SoftDelete {
            assert!(sent.lines[0].starts_with("mg ") && sent.lines[1].starts_with("md "));
        }
    }
}

#[test]
fn a_memoized_fn_misses_hits_and_refreshes_in_the_fewest_requests() {
    let server = Memcached::start();
    let (proxy, cache) = cache_through_proxy(&server);
    let proxies = Proxies {
        a: &proxy,
        b: &proxy,
    };
    round_trips::a_memoized_fn_misses_hits_and_refreshes(&proxies, cache, PAST_THE_TOKEN);
}

#[test]
fn an_async_memoized_fn_misses_and_hits_in_the_fewest_requests() {
    let server = Memcached::start();
    let (proxy, cache) = cache_through_proxy(&server);
    let proxies = Proxies {
        a: &proxy,
        b: &proxy,
    };
    round_trips::an_async_memoized_fn_misses_and_hits(&proxies, cache, None);
}

#[test]
fn the_client_claims_leases_and_invalidates_in_the_fewest_requests() {
    let server = Memcached::start();
    // Two processes' caches, each counted by its own proxy.
    let (proxy_a, a) = cache_through_proxy(&server);
    let (proxy_b, b) = cache_through_proxy(&server);
    round_trips::the_client_claims_leases_and_invalidates(
        &Proxies {
            a: &proxy_a,
            b: &proxy_b,
        },
        &a,
        &b,
        PAST_THE_TOKEN,
    );
}

#[test]
fn a_waiter_in_another_process_reads_once_per_poll_and_wakes_soon() {
    let server = Memcached::start();
    let (proxy_a, a) = cache_through_proxy(&server);
    let (proxy_b, b) = cache_through_proxy(&server);
    let waited = round_trips::a_waiter_in_another_process_wakes_soon(
        &a,
        &b,
        || proxy_b.request_lines().len(),
        || (),
    );
    let lines = proxy_b.request_lines()[waited.mark..].to_vec();
    println!(
        "waiter in another process: {} requests while waiting 400 ms, woke {:?} after the write",
        lines.len(),
        waited.delay
    );
    assert!(
        lines.iter().all(|line| line.starts_with("mg ")),
        "a waiter only reads, once per poll: {lines:?}"
    );
    assert!(proxy_a.requests("ms") >= 1);
}

#[test]
fn a_stale_batch_claims_in_a_few_round_trips_at_its_soft_deadline() {
    let server = Memcached::start();
    let (proxy, cache) = cache_through_proxy(&server);
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
