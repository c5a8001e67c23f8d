//! The fault scenarios every remote store's tests share: a server killed
//! and restarted (between calls, and under threads calling), a server that
//! never answers, and one that replies garbage. Each store's test file keeps
//! its memoized fns and URLs and calls one scenario per test.

use std::future::Future;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use antidogpile::{install_named, Cache};

use antidogpile_test_support::memcached::Memcached;
use antidogpile_test_support::redis::Redis;

/// Far above the timeouts of these tests: a call that takes this long hung.
const HUNG: Duration = Duration::from_secs(5);

/// A server a test can kill and start again on the same port.
pub trait Restartable {
    fn kill(&mut self);
    fn restart(&mut self);
}

impl Restartable for Memcached {
    fn kill(&mut self) {
        Memcached::kill(self);
    }
    fn restart(&mut self) {
        Memcached::restart(self);
    }
}

impl Restartable for Redis {
    fn kill(&mut self) {
        Redis::kill(self);
    }
    fn restart(&mut self) {
        Redis::restart(self);
    }
}

/// Four threads call `call` (a memoized fn answering `id * 7`, its computes
/// counted in `computes`, its stats under `namespace`) over ten keys while
/// `server` is killed and restarted: no wrong value, no hung call, the
/// outage counted as store errors, and caching resumed afterwards.
pub fn threads_call_through_a_restart(
    server: &mut impl Restartable,
    call: fn(u64) -> u64,
    namespace: &str,
    computes: &AtomicU64,
) {
    let stop = Arc::new(AtomicBool::new(false));
    let callers: Vec<_> = (0..4u64)
        .map(|thread| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut calls = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    let id = (thread + calls) % 10;
                    let started = Instant::now();
                    assert_eq!(call(id), id * 7, "a wrong value during a fault");
                    assert!(started.elapsed() < HUNG, "a call hung");
                    calls += 1;
                    std::thread::sleep(Duration::from_millis(1));
                }
                calls
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    server.kill();
    std::thread::sleep(Duration::from_millis(500));
    server.restart();
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::SeqCst);
    let calls: u64 = callers
        .into_iter()
        .map(|c| c.join().expect("a caller panicked"))
        .sum();
    assert!(calls > 100, "only {calls} calls");
    let stats = antidogpile::stats(namespace).unwrap();
    assert!(stats.store_errors >= 1, "the outage was seen: {stats:?}");

    // Caching resumed after the restart: all ten keys are cached again.
    for id in 0..10 {
        call(id);
    }
    let computed = computes.load(Ordering::SeqCst);
    for id in 0..10 {
        assert_eq!(call(id), id * 7);
    }
    assert_eq!(computes.load(Ordering::SeqCst), computed, "cached again");
}

/// Calls `round` (calls of one key that assert their values, making
/// `computes_per_round` computes when nothing is cached) while `server` is
/// up, killed and restarted; the cache's URL has `retry_after` of at most
/// 200 ms. Every round is right and none hangs; the rounds while the server
/// is down compute and count store errors under `namespace`; after the
/// restart (an empty server) caching resumes.
pub fn a_restart_costs_computes_then_caching_resumes(
    server: &mut impl Restartable,
    round: impl Fn(),
    computes_per_round: u64,
    namespace: &str,
    computes: &AtomicU64,
) {
    let timed_round = || {
        let started = Instant::now();
        round();
        assert!(started.elapsed() < HUNG, "took {:?}", started.elapsed());
    };
    timed_round();
    timed_round();
    assert_eq!(
        computes.load(Ordering::SeqCst),
        computes_per_round,
        "cached"
    );

    server.kill();
    for _ in 0..5 {
        timed_round();
    }
    assert_eq!(
        computes.load(Ordering::SeqCst),
        6 * computes_per_round,
        "computed while down"
    );
    assert!(antidogpile::stats(namespace).unwrap().store_errors >= 1);

    // A new server: empty (Redis's also without the scripts: NOSCRIPT,
    // loaded again).
    server.restart();
    std::thread::sleep(Duration::from_millis(250)); // past retry_after
    timed_round();
    let calls = computes.load(Ordering::SeqCst);
    timed_round();
    assert_eq!(computes.load(Ordering::SeqCst), calls, "caching resumed");
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

/// For each of `replies`, a server answering every request with it,
/// installed as `cache` (a `scheme` URL, a 200 ms timeout): `blocking(3)`
/// and `nonblocking(3)` (memoized fns answering `"right 3"`, their computes
/// counted in `computes`) return the right value without hanging, every
/// call computed.
pub fn garbage_replies_cost_computes_never_a_wrong_value<F>(
    scheme: &str,
    cache: &str,
    replies: &[&[u8]],
    blocking: fn(u64) -> String,
    nonblocking: fn(u64) -> F,
    computes: &AtomicU64,
) where
    F: Future<Output = String>,
{
    for reply in replies {
        let server = FakeServer::replying(reply);
        let url = server.url(scheme, "timeout=200ms");
        install_named(cache, Cache::from_url(&url).unwrap());
        let started = Instant::now();
        assert_eq!(
            blocking(3),
            "right 3",
            "reply {:?}",
            String::from_utf8_lossy(reply)
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        assert_eq!(runtime.block_on(nonblocking(3)), "right 3");
        assert!(started.elapsed() < HUNG);
    }
    assert_eq!(
        computes.load(Ordering::SeqCst),
        2 * replies.len() as u64,
        "every call computed"
    );
}
