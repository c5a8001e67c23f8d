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
//! the value) if memcached has handed the win out and the soft deadline
//! passed at most a second ago, 3 before the win is out (a second read asks
//! for it: memcached hands it out up to 2 s after the deadline, counting
//! whole seconds), 3 more than a second after the deadline (the claim is
//! recorded, so that a killed holder's claim ends in time); any other
//! caller of a stale value reads once; releasing a claim or a lease is 1
//! request without the value.
//!
//! "Another process" is a second cache through a second proxy: nothing in
//! process is shared between two caches, and each proxy counts one side.

mod common;

use std::time::{Duration, Instant};

use std::sync::atomic::{AtomicU64, Ordering};

use antidogpile::{antidogpiled, install_named, Cache, Ttl};
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
            // A win taken over a second after the soft deadline is recorded
            // at once (the envelope rewritten with its claim, by CAS): a
            // claim memcached hands out, and a holder killed before it
            // renewed it, must end by the soft deadline + 1 s + the
            // liveness window (issue 20.5). So a refresh 1.3 s after the
            // deadline is a read, the claim, the write.
            Step::LateRefresh => (3, 2),
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

static EARLY_COMPUTES: AtomicU64 = AtomicU64::new(0);

/// Fresh for 1.5 s: memcached, counting whole seconds, hands its win out
/// 2 to 3 s after the write (see [`early_refreshes_take_a_second_read`]).
#[antidogpiled(
    soft = "1500ms",
    factor = 10,
    cache = "round_trips_early",
    name = "round_trips::early"
)]
fn early(id: u64) -> u64 {
    EARLY_COMPUTES.fetch_add(1, Ordering::SeqCst) + id
}

/// The first caller after the soft deadline usually comes before memcached
/// hands the recache win out (its TTLs and its clock count whole seconds,
/// so the win comes up to 2 s after the soft deadline, never before it: a
/// fresh value's reader must not win): its read finds the value stale and
/// no win handed out, so it asks for the win with a second read (a token
/// above the remaining TTL), then writes. Three requests, one upload: the
/// pinned cost of a refresh that starts 300 ms after the soft deadline (issue
/// 20.9); past the win it is two (see the test above).
#[test]
fn early_refreshes_take_a_second_read() {
    let server = Memcached::start();
    let (proxy, cache) = cache_through_proxy(&server);
    install_named("round_trips_early", cache);
    // Connects and reads the namespace's generation: not counted.
    assert_eq!(early(0), 0);
    assert_eq!(early(7), 8);
    std::thread::sleep(Duration::from_millis(1_500 + 300));
    let before = proxy.request_lines().len();
    assert_eq!(early(7), 9, "refreshed here");
    let sent = sent_since(&proxy, before);
    assert_sent("a refresh 300 ms after the soft deadline", &sent, 3, 1);
    let token = |line: &str| {
        line.split_ascii_whitespace()
            .find_map(|flag| flag.strip_prefix('R')?.parse::<u32>().ok())
    };
    let (first, second) = (token(&sent.lines[0]), token(&sent.lines[1]));
    assert!(
        sent.lines[0].starts_with("mg ")
            && sent.lines[1].starts_with("mg ")
            && first < second
            && sent.lines[2].starts_with("ms "),
        "a read, a read asking for the win, the write: {:?}",
        sent.lines
    );
}

static PROMPT_COMPUTES: AtomicU64 = AtomicU64::new(0);

/// Fresh for 1 s, kept 9 s more: memcached hands its win out once fewer
/// than 9 s of its TTL are left, within a second after the soft deadline.
#[antidogpiled(
    soft = "1s",
    factor = 10,
    cache = "round_trips_prompt",
    name = "round_trips::prompt"
)]
fn prompt(id: u64) -> u64 {
    PROMPT_COMPUTES.fetch_add(1, Ordering::SeqCst) + id
}

/// The remaining TTL of `key`, read without taking its win (no `R`).
fn remaining_ttl(memcached: &mut std::net::TcpStream, key: &str) -> u32 {
    use std::io::{BufRead, BufReader, Write};
    memcached
        .write_all(format!("mg {key} t\r\n").as_bytes())
        .unwrap();
    let mut reply = String::new();
    BufReader::new(memcached.try_clone().unwrap())
        .read_line(&mut reply)
        .unwrap();
    reply
        .split_ascii_whitespace()
        .find_map(|flag| flag.strip_prefix('t')?.parse().ok())
        .unwrap_or_else(|| panic!("no TTL in {reply:?}"))
}

/// Returns 750 ms after memcached's clock ticked (it counts whole seconds,
/// on a timer of its own): a value written then gets its win 1.25 s later,
/// 0.25 s after a soft deadline of 1 s.
fn just_before_memcached_ticks(memcached: &mut std::net::TcpStream) {
    use std::io::{BufRead, BufReader, Write};
    memcached
        .write_all(b"ms round_trips::tick 1 T100\r\nx\r\n")
        .unwrap();
    let mut reply = String::new();
    BufReader::new(memcached.try_clone().unwrap())
        .read_line(&mut reply)
        .unwrap();
    assert!(reply.starts_with("HD"), "{reply:?}");
    while remaining_ttl(memcached, "round_trips::tick") >= 100 {
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(Duration::from_millis(750));
}

/// A refresh by a caller that finds the win handed out, within a second
/// of the soft deadline, is 2 requests: its read, which takes the claim,
/// and its write. (The value is written just before memcached's clock
/// ticks, and the caller sent as soon as the win is out; a win that comes
/// later than 0.8 s after the deadline, on a machine too loaded for that,
/// is tried again with another key.)
#[test]
fn a_refresh_that_finds_the_win_handed_out_is_a_read_and_a_write() {
    let server = Memcached::start();
    let (proxy, cache) = cache_through_proxy(&server);
    install_named("round_trips_prompt", cache);
    let mut memcached = std::net::TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    // Connects and reads the namespace's generation: not counted.
    prompt(0);
    for id in 1..=5 {
        just_before_memcached_ticks(&mut memcached);
        let before = proxy.request_lines().len();
        prompt(id);
        let written = Instant::now();
        let key = proxy.request_lines()[before..]
            .iter()
            .find_map(|line| {
                let mut words = line.split_ascii_whitespace();
                (words.next() == Some("ms")).then(|| words.next()).flatten()
            })
            .expect("the value's write")
            .to_owned();
        while remaining_ttl(&mut memcached, &key) >= 9 {
            assert!(written.elapsed() < Duration::from_secs(5), "no win came");
            std::thread::sleep(Duration::from_millis(5));
        }
        println!("win out {:?} after the write", written.elapsed());
        if written.elapsed() > Duration::from_millis(1_800) {
            continue;
        }
        let before = proxy.request_lines().len();
        let computes = PROMPT_COMPUTES.load(Ordering::SeqCst);
        prompt(id);
        assert_eq!(PROMPT_COMPUTES.load(Ordering::SeqCst), computes + 1);
        let sent = sent_since(&proxy, before);
        assert_sent("a refresh that finds the win handed out", &sent, 2, 1);
        return;
    }
    panic!("memcached never handed a win out within 0.8 s of the soft deadline");
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
