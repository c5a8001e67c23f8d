//! The Redis store over TLS (`rediss://`, the `redis-tls` feature) against a
//! real redis-server that speaks TLS only, its certificate signed by a CA
//! made for the test: memoized functions compute once and then hit, blocking
//! and async; a certificate that does not verify is a store error and the
//! value is computed, never a panic or a hang; the conformance suite passes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use antidogpile::custom_store::conformance::{check_store, Expect};
use antidogpile::store::{RedisAddr, RedisConfig, RedisStore, RedisTls};
use antidogpile::{antidogpiled, install_named, Cache};
use antidogpile_test_support::redis::Redis;
use antidogpile_test_support::redis_tls::{percent_encode, RedisTls as TlsServer, RedisTlsCluster};

/// Far above the timeouts configured below: a call that takes this long hung.
const HUNG: Duration = Duration::from_secs(5);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

static HIT_CALLS: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(soft = "1h", cache = "redis_tls_hits", name = "redis_tls::hits")]
fn over_tls(id: u64) -> u64 {
    HIT_CALLS.fetch_add(1, Ordering::SeqCst);
    id * 2
}

#[antidogpiled(soft = "1h", cache = "redis_tls_hits", name = "redis_tls::hits_async")]
async fn over_tls_async(id: u64) -> u64 {
    HIT_CALLS.fetch_add(1, Ordering::SeqCst);
    id * 3
}

#[test]
fn a_memoized_function_over_rediss_computes_once_then_hits() {
    let server = TlsServer::start();
    let url = server.url("timeout=1s");
    install_named("redis_tls_hits", Cache::from_url(&url).unwrap());
    let runtime = runtime();
    for _ in 0..3 {
        assert_eq!(over_tls(7), 14);
        assert_eq!(runtime.block_on(over_tls_async(7)), 21);
    }
    assert_eq!(HIT_CALLS.load(Ordering::SeqCst), 2, "one compute each");
    for name in ["redis_tls::hits", "redis_tls::hits_async"] {
        let stats = antidogpile::stats(name).unwrap();
        assert_eq!(stats.store_errors, 0, "{name}: {stats:?}");
    }

    // A new cache (new connections, nothing in memory) finds both values on
    // the server: they were stored over TLS, not only served by this process.
    install_named("redis_tls_hits", Cache::from_url(&url).unwrap());
    assert_eq!(over_tls(7), 14);
    assert_eq!(runtime.block_on(over_tls_async(7)), 21);
    assert_eq!(HIT_CALLS.load(Ordering::SeqCst), 2, "hits from the server");
}

static UNVERIFIED_CALLS: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(
    soft = "1h",
    cache = "redis_tls_unverified",
    name = "redis_tls::unverified"
)]
fn unverified(id: u64) -> u64 {
    UNVERIFIED_CALLS.fetch_add(1, Ordering::SeqCst);
    id + 1
}

#[antidogpiled(
    soft = "1h",
    cache = "redis_tls_unverified",
    name = "redis_tls::unverified_async"
)]
async fn unverified_async(id: u64) -> u64 {
    UNVERIFIED_CALLS.fetch_add(1, Ordering::SeqCst);
    id + 2
}

#[test]
fn a_certificate_that_does_not_verify_is_a_store_error_and_the_value_is_computed() {
    let server = TlsServer::start();
    let plain = Redis::start();
    let port = server.port();
    let cases = [
        // Signed by a CA the client was not told to trust.
        format!(
            "rediss://127.0.0.1:{port}?ca={}",
            percent_encode(&server.other_ca())
        ),
        // The system's roots: the test CA is not among them.
        format!("rediss://127.0.0.1:{port}"),
        // TLS to a server that speaks plain RESP.
        format!(
            "rediss://127.0.0.1:{}?ca={}",
            plain.port(),
            percent_encode(&server.ca())
        ),
        // Plain RESP to a server that speaks TLS only.
        format!("redis://127.0.0.1:{port}"),
    ];
    let runtime = runtime();
    let mut calls = 0;
    for url in &cases {
        let url = format!(
            "{url}{}timeout=300ms&retry_after=50ms",
            if url.contains('?') { "&" } else { "?" }
        );
        install_named("redis_tls_unverified", Cache::from_url(&url).unwrap());
        for _ in 0..2 {
            let started = Instant::now();
            assert_eq!(unverified(5), 6, "{url}");
            assert_eq!(runtime.block_on(unverified_async(5)), 7, "{url}");
            assert!(
                started.elapsed() < HUNG,
                "{url}: took {:?}",
                started.elapsed()
            );
            std::thread::sleep(Duration::from_millis(60)); // past retry_after
            calls += 2;
        }
        assert_eq!(
            UNVERIFIED_CALLS.load(Ordering::SeqCst),
            calls,
            "{url}: every call computed"
        );
    }
    for name in ["redis_tls::unverified", "redis_tls::unverified_async"] {
        let stats = antidogpile::stats(name).unwrap();
        assert!(
            stats.store_errors >= cases.len() as u64,
            "{name}: {stats:?}"
        );
    }
}

#[test]
fn a_ca_file_that_is_missing_or_holds_no_certificate_is_refused_at_once() {
    let server = TlsServer::start();
    let missing = format!("rediss://127.0.0.1:{}?ca=/no/such/ca.pem", server.port());
    let message = Cache::from_url(&missing).unwrap_err().to_string();
    assert!(
        message.contains("ca: cannot read the CA file /no/such/ca.pem"),
        "{message}"
    );
    // The server's key: a PEM file, but no certificate in it.
    let key = server.ca().with_file_name("server.key");
    let not_a_ca = format!(
        "rediss://127.0.0.1:{}?ca={}",
        server.port(),
        percent_encode(&key)
    );
    let message = Cache::from_url(&not_a_ca).unwrap_err().to_string();
    assert!(message.contains("holds no PEM certificate"), "{message}");
}

#[test]
fn the_conformance_suite_passes_over_tls() {
    let server = TlsServer::start();
    check_store(Expect::Caching, || {
        let mut config = RedisConfig::new(RedisAddr::Tcp {
            host: "127.0.0.1".to_owned(),
            port: server.port(),
        });
        config.tls = Some(RedisTls {
            ca: Some(server.ca()),
        });
        RedisStore::new(config).expect("a redis store over TLS")
    });
}

static CLUSTER_CALLS: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(soft = "1h", cache = "redis_tls_cluster", name = "redis_tls::cluster")]
fn on_a_tls_cluster(id: u64) -> u64 {
    CLUSTER_CALLS.fetch_add(1, Ordering::SeqCst);
    id * 5
}

#[antidogpiled(
    soft = "1h",
    cache = "redis_tls_cluster",
    name = "redis_tls::cluster_async"
)]
async fn on_a_tls_cluster_async(id: u64) -> u64 {
    CLUSTER_CALLS.fetch_add(1, Ordering::SeqCst);
    id * 7
}

#[test]
fn on_a_tls_cluster_keys_spread_over_the_nodes_compute_once_then_hit() {
    let cluster = RedisTlsCluster::start();
    install_named(
        "redis_tls_cluster",
        Cache::from_url(&cluster.url("timeout=1s")).unwrap(),
    );
    let runtime = runtime();
    // Enough keys that every node owns some of them (16384 slots, 3 nodes).
    let ids = 0..30u64;
    for _ in 0..2 {
        for id in ids.clone() {
            assert_eq!(on_a_tls_cluster(id), id * 5);
            assert_eq!(runtime.block_on(on_a_tls_cluster_async(id)), id * 7);
        }
    }
    assert_eq!(
        CLUSTER_CALLS.load(Ordering::SeqCst),
        60,
        "one compute per key and function"
    );
    for name in ["redis_tls::cluster", "redis_tls::cluster_async"] {
        let stats = antidogpile::stats(name).unwrap();
        assert_eq!(stats.store_errors, 0, "{name}: {stats:?}");
    }
    let keys = cluster.keys_per_node();
    assert_eq!(keys.iter().sum::<u64>(), 60, "{keys:?}");
    assert!(keys.iter().all(|&count| count > 0), "{keys:?}");
}

static STALLED_CALLS: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(soft = "1h", cache = "redis_tls_stalled", name = "redis_tls::stalled")]
fn against_a_silent_tls_peer(id: u64) -> u64 {
    STALLED_CALLS.fetch_add(1, Ordering::SeqCst);
    id + 10
}

#[antidogpiled(
    soft = "1h",
    cache = "redis_tls_stalled",
    name = "redis_tls::stalled_async"
)]
async fn against_a_silent_tls_peer_async(id: u64) -> u64 {
    STALLED_CALLS.fetch_add(1, Ordering::SeqCst);
    id + 20
}

/// A peer that accepts connections and never answers the TLS handshake
/// costs each call about one timeout, never a hang.
#[test]
fn a_peer_that_never_finishes_the_handshake_costs_timeouts_not_a_hang() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Holds every connection open, reading nothing, until the test ends.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let server = TlsServer::start(); // only for its CA file
    let url = format!(
        "rediss://127.0.0.1:{port}?ca={}&timeout=200ms&retry_after=50ms",
        percent_encode(&server.ca())
    );
    install_named("redis_tls_stalled", Cache::from_url(&url).unwrap());
    let runtime = runtime();
    for round in 0..3 {
        let started = Instant::now();
        assert_eq!(against_a_silent_tls_peer(1), 11);
        assert!(
            started.elapsed() < HUNG,
            "blocking, round {round}: took {:?}",
            started.elapsed()
        );
        let started = Instant::now();
        assert_eq!(runtime.block_on(against_a_silent_tls_peer_async(1)), 21);
        assert!(
            started.elapsed() < HUNG,
            "async, round {round}: took {:?}",
            started.elapsed()
        );
        std::thread::sleep(Duration::from_millis(60)); // past retry_after
    }
    assert_eq!(
        STALLED_CALLS.load(Ordering::SeqCst),
        6,
        "every call computed"
    );
    for name in ["redis_tls::stalled", "redis_tls::stalled_async"] {
        let stats = antidogpile::stats(name).unwrap();
        assert!(stats.store_errors >= 1, "{name}: {stats:?}");
    }
}
