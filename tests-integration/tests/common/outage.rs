//! The fault scenarios every remote store's tests share: a server killed
//! and restarted (between calls, and under threads calling), a server that
//! never answers, and one that replies garbage. A scenario brings its
//! memoized fns, each in a named cache of its own that the scenario
//! installs with the store's URL (each test binary is a process of its own,
//! so two stores' binaries do not share the names); a store's test file
//! calls one scenario per test.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use antidogpile::{antidogpiled, install_named, Cache};

use antidogpile_test_support::memcached::Memcached;
use antidogpile_test_support::redis::Redis;
use antidogpile_test_support::server::Stopped;

/// Far above the timeouts of these tests: a call that takes this long hung.
const HUNG: Duration = Duration::from_secs(5);

/// A server a test can kill and start again on the same port, or stall.
pub trait Restartable {
    /// Its store URL, with the query parameters `query`.
    fn url(&self, query: &str) -> String;
    fn kill(&mut self);
    fn restart(&mut self);
    /// Stalls it (SIGSTOP) until the guard is dropped.
    fn stall(&self) -> Stopped;
}

impl Restartable for Memcached {
    fn url(&self, query: &str) -> String {
        Memcached::url(self, query)
    }
    fn kill(&mut self) {
        Memcached::kill(self);
    }
    fn restart(&mut self) {
        Memcached::restart(self);
    }
    fn stall(&self) -> Stopped {
        Stopped::stop(self)
    }
}

impl Restartable for Redis {
    fn url(&self, query: &str) -> String {
        Redis::url(self, query)
    }
    fn kill(&mut self) {
        Redis::kill(self);
    }
    fn restart(&mut self) {
        Redis::restart(self);
    }
    fn stall(&self) -> Stopped {
        Stopped::stop(self)
    }
}

/// Which of a store's transports a scenario's memoized calls go through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Calls {
    /// The blocking one.
    Blocking,
    /// The blocking one, then the async one (blocked on).
    BlockingAndAsync,
}

impl Calls {
    /// How many calls one round of calls makes.
    fn per_round(self) -> u64 {
        match self {
            Calls::Blocking => 1,
            Calls::BlockingAndAsync => 2,
        }
    }

    /// A runtime to block on the async calls, if there are any.
    fn runtime(self, builder: fn() -> tokio::runtime::Builder) -> Option<tokio::runtime::Runtime> {
        (self == Calls::BlockingAndAsync).then(|| builder().enable_all().build().unwrap())
    }
}

static LOAD_CALLS: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(soft = "1h", cache = "outage_under_load", name = "outage::under_load")]
fn under_load(id: u64) -> u64 {
    LOAD_CALLS.fetch_add(1, Ordering::SeqCst);
    id * 7
}

/// Four threads call a memoized fn over ten keys while `server` is killed
/// and restarted: no wrong value, no hung call, the outage counted as store
/// errors, and caching resumed afterwards.
pub fn threads_call_through_a_restart(server: &mut impl Restartable) {
    let url = server.url("timeout=300ms&retry_after=100ms");
    install_named("outage_under_load", Cache::from_url(&url).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let callers: Vec<_> = (0..4u64)
        .map(|thread| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut calls = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    let id = (thread + calls) % 10;
                    let started = Instant::now();
                    assert_eq!(under_load(id), id * 7, "a wrong value during a fault");
                    assert!(started.elapsed() < HUNG, "a call hung");
                    calls += 1;
                    std::thread::sleep(Duration::from_millis(1));
                }
                calls
            })
        })
        .collect();
    let stats = || antidogpile::stats("outage::under_load").unwrap_or_default();
    let until = |what: &str, condition: &dyn Fn() -> bool| {
        let start = Instant::now();
        while !condition() {
            assert!(start.elapsed() < HUNG * 4, "never {what}: {:?}", stats());
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    // The callers get cached values...
    until("cached", &|| stats().fresh_hits >= 10);
    server.kill();
    // ... meet the dead server, and retry it (past retry_after) while down...
    until("saw the outage", &|| stats().store_errors >= 1);
    std::thread::sleep(Duration::from_millis(150));
    let hits = stats().fresh_hits;
    server.restart();
    // ... and get cached values from the new server.
    until("cached again", &|| stats().fresh_hits > hits);
    stop.store(true, Ordering::SeqCst);
    let calls: u64 = callers
        .into_iter()
        .map(|c| c.join().expect("a caller panicked"))
        .sum();
    assert!(calls > 100, "only {calls} calls");
    let stats = antidogpile::stats("outage::under_load").unwrap();
    assert!(stats.store_errors >= 1, "the outage was seen: {stats:?}");

    // Caching resumed after the restart: all ten keys are cached again.
    for id in 0..10 {
        under_load(id);
    }
    let computed = LOAD_CALLS.load(Ordering::SeqCst);
    for id in 0..10 {
        assert_eq!(under_load(id), id * 7);
    }
    assert_eq!(LOAD_CALLS.load(Ordering::SeqCst), computed, "cached again");
}

static RESTART_CALLS: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(soft = "1h", cache = "outage_restart", name = "outage::restart")]
fn through_restarts(id: u64) -> u64 {
    RESTART_CALLS.fetch_add(1, Ordering::SeqCst);
    id * 2
}

#[antidogpiled(soft = "1h", cache = "outage_restart", name = "outage::restart_async")]
async fn through_restarts_async(id: u64) -> u64 {
    RESTART_CALLS.fetch_add(1, Ordering::SeqCst);
    id * 3
}

/// Rounds of `calls` of one key while `server` is up, killed and restarted:
/// every call is right and none hangs; the calls while the server is down
/// compute and count store errors; after the restart (an empty server)
/// caching resumes.
pub fn a_restart_costs_computes_then_caching_resumes(server: &mut impl Restartable, calls: Calls) {
    let url = server.url("timeout=300ms&retry_after=200ms");
    install_named("outage_restart", Cache::from_url(&url).unwrap());
    let runtime = calls.runtime(|| {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(2);
        builder
    });
    let timed_round = || {
        let started = Instant::now();
        assert_eq!(through_restarts(1), 2);
        if let Some(runtime) = &runtime {
            assert_eq!(runtime.block_on(through_restarts_async(1)), 3);
        }
        assert!(started.elapsed() < HUNG, "took {:?}", started.elapsed());
    };
    timed_round();
    timed_round();
    assert_eq!(
        RESTART_CALLS.load(Ordering::SeqCst),
        calls.per_round(),
        "cached"
    );

    server.kill();
    for _ in 0..5 {
        timed_round();
    }
    assert_eq!(
        RESTART_CALLS.load(Ordering::SeqCst),
        6 * calls.per_round(),
        "computed while down"
    );
    assert!(antidogpile::stats("outage::restart").unwrap().store_errors >= 1);

    // A new server: empty (Redis's also without the scripts: NOSCRIPT,
    // loaded again).
    server.restart();
    std::thread::sleep(Duration::from_millis(250)); // past retry_after
    timed_round();
    let computed = RESTART_CALLS.load(Ordering::SeqCst);
    timed_round();
    assert_eq!(
        RESTART_CALLS.load(Ordering::SeqCst),
        computed,
        "caching resumed"
    );
}

/// A fake server on loopback that accepts connections and then misbehaves
/// (each connection on a thread of its own); it stops accepting when
/// dropped. It speaks no protocol, so it stands in for any store's server.
pub struct FakeServer {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl FakeServer {
    /// Hands every connection to `misbehave`.
    pub fn start(misbehave: impl Fn(TcpStream) + Send + Sync + 'static) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        listener.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            let misbehave = Arc::new(misbehave);
            while !stopping.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let _ = stream.set_nonblocking(false);
                        let misbehave = Arc::clone(&misbehave);
                        std::thread::spawn(move || misbehave(stream));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        FakeServer { port, stop }
    }

    /// Reads requests forever, answers nothing.
    pub fn silent() -> FakeServer {
        FakeServer::start(|mut stream| {
            let mut sink = [0u8; 1024];
            while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
        })
    }

    /// Answers every read with `reply`.
    pub fn replying(reply: &[u8]) -> FakeServer {
        let answer = reply.to_vec();
        FakeServer::start(move |mut stream| {
            let mut request = [0u8; 4096];
            while matches!(stream.read(&mut request), Ok(n) if n > 0) {
                let _ = stream.write_all(&answer);
            }
        })
    }

    /// A memcached that answers each request (`ms` with its data) with
    /// what `answer` makes of its command line, and each `mn` with `MN`.
    pub fn memcached_answering(
        answer: impl Fn(&str) -> Vec<u8> + Send + Sync + 'static,
    ) -> FakeServer {
        let answer = Arc::new(answer);
        FakeServer::start(move |mut stream| {
            let mut pending: Vec<u8> = Vec::new();
            let mut chunk = [0u8; 4096];
            while let Ok(n) = stream.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                pending.extend_from_slice(&chunk[..n]);
                while let Some(end) = pending.windows(2).position(|pair| pair == b"\r\n") {
                    let line = String::from_utf8_lossy(&pending[..end]).into_owned();
                    let mut words = line.split_ascii_whitespace();
                    // An `ms` line is followed by its data and a line end.
                    let data = match (words.next(), words.nth(1)) {
                        (Some("ms"), Some(length)) => length.parse::<usize>().unwrap_or(0) + 2,
                        _ => 0,
                    };
                    if pending.len() < end + 2 + data {
                        break;
                    }
                    pending.drain(..end + 2 + data);
                    let reply = if line == "mn" {
                        b"MN\r\n".to_vec()
                    } else {
                        answer(&line)
                    };
                    let _ = stream.write_all(&reply);
                }
            }
        })
    }

    /// `scheme://127.0.0.1:<port>?<query>`.
    pub fn url(&self, scheme: &str, query: &str) -> String {
        format!("{scheme}://127.0.0.1:{}?{query}", self.port)
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

static STALL_CALLS: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(soft = "1h", cache = "outage_stall", name = "outage::stall")]
fn against_a_stalled_server(id: u64) -> u64 {
    STALL_CALLS.fetch_add(1, Ordering::SeqCst);
    id + 1
}

#[antidogpiled(soft = "1h", cache = "outage_stall", name = "outage::stall_async")]
async fn against_a_stalled_server_async(id: u64) -> u64 {
    STALL_CALLS.fetch_add(1, Ordering::SeqCst);
    id + 2
}

/// A server at a `scheme` URL that reads requests and never answers: the
/// first call costs one timeout, not a hang; the server is then skipped for
/// `retry_after`, so the next `calls` do not wait at all.
pub fn a_server_that_never_answers_costs_one_timeout(scheme: &str, calls: Calls) {
    let runtime = calls.runtime(tokio::runtime::Builder::new_current_thread);
    a_stalled_server_costs_one_timeout_then_is_skipped(
        &FakeServer::silent(),
        scheme,
        "outage_stall",
        || assert_eq!(against_a_stalled_server(1), 2),
        || {
            assert_eq!(against_a_stalled_server(1), 2);
            if let Some(runtime) = &runtime {
                assert_eq!(runtime.block_on(against_a_stalled_server_async(1)), 3);
            }
        },
        &STALL_CALLS,
        1 + calls.per_round(),
    );
}

/// `server`, which stops answering (at once, or after a handshake), is
/// installed as `cache` (a `scheme` URL, a 200 ms timeout, a 10 s
/// `retry_after`): the `first` call costs one timeout, not a hang; the
/// server is then skipped, so the calls of `then` do not wait at all; every
/// call computed, `computes` ends at `computed`.
pub fn a_stalled_server_costs_one_timeout_then_is_skipped(
    server: &FakeServer,
    scheme: &str,
    cache: &str,
    first: impl FnOnce(),
    then: impl FnOnce(),
    computes: &AtomicU64,
    computed: u64,
) {
    let url = server.url(scheme, "timeout=200ms&retry_after=10s");
    install_named(cache, Cache::from_url(&url).unwrap());
    let started = Instant::now();
    first();
    assert!(started.elapsed() < HUNG, "took {:?}", started.elapsed());
    let started = Instant::now();
    then();
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "took {:?}: the stalled server was not skipped",
        started.elapsed()
    );
    assert_eq!(computes.load(Ordering::SeqCst), computed);
}

static JUNK_CALLS: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(soft = "1h", cache = "outage_junk", name = "outage::junk")]
fn against_a_junk_server(id: u64) -> String {
    JUNK_CALLS.fetch_add(1, Ordering::SeqCst);
    format!("right {id}")
}

#[antidogpiled(soft = "1h", cache = "outage_junk", name = "outage::junk_async")]
async fn against_a_junk_server_async(id: u64) -> String {
    JUNK_CALLS.fetch_add(1, Ordering::SeqCst);
    format!("right {id}")
}

/// For each of `replies`, a server at a `scheme` URL answering every
/// request with it: a blocking and an async call return the right value
/// without hanging, every call computed.
pub fn garbage_replies_cost_computes_never_a_wrong_value(scheme: &str, replies: &[&[u8]]) {
    for reply in replies {
        let server = FakeServer::replying(reply);
        let url = server.url(scheme, "timeout=200ms");
        install_named("outage_junk", Cache::from_url(&url).unwrap());
        let started = Instant::now();
        assert_eq!(
            against_a_junk_server(3),
            "right 3",
            "reply {:?}",
            String::from_utf8_lossy(reply)
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        assert_eq!(runtime.block_on(against_a_junk_server_async(3)), "right 3");
        assert!(started.elapsed() < HUNG);
    }
    assert_eq!(
        JUNK_CALLS.load(Ordering::SeqCst),
        2 * replies.len() as u64,
        "every call computed"
    );
}

static STALLED_CALLS: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(soft = "1h", cache = "outage_stalled", name = "outage::stalled")]
fn during_a_stall(id: u64) -> u64 {
    STALLED_CALLS.fetch_add(1, Ordering::SeqCst);
    id + 1
}

#[antidogpiled(soft = "1h", cache = "outage_stalled", name = "outage::stalled_async")]
async fn during_a_stall_async(id: u64) -> u64 {
    STALLED_CALLS.fetch_add(1, Ordering::SeqCst);
    id + 2
}

/// A server that stalls (SIGSTOP: connections accepted, nothing answered)
/// costs each call about one timeout (1 s here), not one per step of the
/// call (the read, a second look, the write): after a timeout the call
/// computes and skips the store's steps left. `retry_after` is short, so
/// that every call meets the stalled server rather than skip it.
pub fn a_stalled_server_costs_a_call_about_one_timeout(server: &impl Restartable) {
    let url = server.url("timeout=1s&retry_after=50ms");
    install_named("outage_stalled", Cache::from_url(&url).unwrap());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Each transport's connection made.
    assert_eq!(during_a_stall(0), 1);
    assert_eq!(runtime.block_on(during_a_stall_async(0)), 2);
    let stalled = server.stall();
    let mut took = Vec::new();
    for id in 1..=3 {
        std::thread::sleep(Duration::from_millis(100));
        let started = Instant::now();
        assert_eq!(during_a_stall(id), id + 1);
        took.push(started.elapsed());
        std::thread::sleep(Duration::from_millis(100));
        let started = Instant::now();
        assert_eq!(runtime.block_on(during_a_stall_async(id)), id + 2);
        took.push(started.elapsed());
    }
    drop(stalled);
    println!("calls (blocking, async, ...) during a stall with timeout=1s: {took:?}");
    assert_eq!(
        STALLED_CALLS.load(Ordering::SeqCst),
        2 + 6,
        "each call computed once"
    );
    for (call, took) in took.iter().enumerate() {
        assert!(
            *took < Duration::from_millis(1600),
            "call {call} took {took:?} during a stall with timeout=1s"
        );
    }
}
