//! The memcached store keeps caching through ordinary connection events and
//! heavy batches: idle connections closed by the server, a restart, a proxy
//! that drops connections, a batch far larger than one timeout's worth, a
//! peer that reads slowly; and `get_or_compute_many` costs about what
//! `get_many` costs (one pipelined read per round), waits for many keys at
//! once, and resolves a key given twice once.

mod common;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use antidogpile::clock::{ManualClock, Timestamp};
use antidogpile::{antidogpiled, install_named, Cache, Got, Ttl};
use common::fault_proxy::FaultProxy;
use common::memcached::Memcached;
use common::slow_reader::SlowReader;
use common::{eventually, PATIENCE};

fn install(name: &str, url: &str) -> ManualClock {
    let clock = ManualClock::new(Timestamp::from_millis(1_700_000_000_000));
    let cache = Cache::from_url(url).unwrap().with_clock(clock.clock());
    install_named(name, cache);
    clock
}

fn stats(name: &str) -> antidogpile::Stats {
    antidogpile::stats(name).expect("the function was called")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

// ---- dead pooled connections ----

static IDLE_COMPUTES: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(soft = "60s", cache = "mc_idle", name = "mc::idle")]
fn idle_value(id: u64) -> u64 {
    IDLE_COMPUTES.fetch_add(1, Ordering::SeqCst);
    id * 7
}

#[antidogpiled(soft = "60s", cache = "mc_idle", name = "mc::idle_async")]
async fn idle_value_async(id: u64) -> u64 {
    IDLE_COMPUTES.fetch_add(1, Ordering::SeqCst);
    id * 7
}

#[test]
fn connections_closed_by_an_idle_timeout_are_replaced_without_a_miss() {
    let server = Memcached::start_with(&["-o", "idle_timeout=1"]);
    // The server's connections with none of the cache's: its listener and
    // the one that reads the stats.
    let connections = || server.stats().get("curr_connections").copied().unwrap_or(0);
    let without_ours = connections();
    install("mc_idle", &server.url("timeout=500ms&pool=4"));
    let rt = runtime();
    for id in 0..20 {
        assert_eq!(idle_value(id), id * 7);
        assert_eq!(rt.block_on(idle_value_async(id)), id * 7);
    }
    assert_eq!(IDLE_COMPUTES.load(Ordering::SeqCst), 40);
    // Quiet until memcached has closed the pooled connections as idle: all
    // of them, not only the two it kicked first.
    let quiet = Instant::now();
    while server.stats().get("idle_kicks").copied().unwrap_or(0) < 2 || connections() > without_ours
    {
        assert!(
            quiet.elapsed() < Duration::from_secs(15),
            "memcached did not close the idle connections: idle_kicks {:?}, {} connections, {without_ours} without the cache's",
            server.stats().get("idle_kicks"),
            connections()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    for id in 0..20 {
        assert_eq!(idle_value(id), id * 7);
        assert_eq!(rt.block_on(idle_value_async(id)), id * 7);
    }
    let (blocking, nonblocking) = (stats("mc::idle"), stats("mc::idle_async"));
    assert_eq!(
        (blocking.store_errors, nonblocking.store_errors),
        (0, 0),
        "a connection memcached closed while idle counted as a failure"
    );
    assert_eq!(
        IDLE_COMPUTES.load(Ordering::SeqCst),
        40,
        "values still cached were recomputed"
    );
}

static RESTART_COMPUTES: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(soft = "60s", cache = "mc_restart", name = "mc::restart")]
fn restart_value(id: u64) -> u64 {
    RESTART_COMPUTES.fetch_add(1, Ordering::SeqCst);
    id + 1
}

#[test]
fn a_restarted_server_is_recomputed_once_per_key_not_skipped() {
    let mut server = Memcached::start();
    // Default retry_after (5 s): a server wrongly marked down stays out of
    // the ring for the whole test.
    install("mc_restart", &server.url("timeout=500ms&pool=4"));
    for id in 0..10 {
        assert_eq!(restart_value(id), id + 1);
    }
    server.restart();
    let before = RESTART_COMPUTES.load(Ordering::SeqCst);
    for _round in 0..3 {
        for id in 0..10 {
            assert_eq!(restart_value(id), id + 1);
        }
    }
    let recomputed = RESTART_COMPUTES.load(Ordering::SeqCst) - before;
    assert_eq!(
        recomputed, 10,
        "after a restart, 3 rounds over 10 keys recomputed {recomputed} times"
    );
}

static DROPPED_COMPUTES: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(soft = "60s", cache = "mc_dropped", name = "mc::dropped")]
fn dropped_value(id: u64) -> u64 {
    DROPPED_COMPUTES.fetch_add(1, Ordering::SeqCst);
    id + 2
}

#[antidogpiled(soft = "60s", cache = "mc_dropped", name = "mc::dropped_async")]
async fn dropped_value_async(id: u64) -> u64 {
    DROPPED_COMPUTES.fetch_add(1, Ordering::SeqCst);
    id + 2
}

#[test]
fn connections_a_proxy_closed_while_idle_are_replaced_in_both_transports() {
    let server = Memcached::start();
    let proxy = FaultProxy::start(server.port());
    install("mc_dropped", &proxy.url("timeout=500ms&pool=4"));
    let rt = runtime();
    for id in 0..20 {
        assert_eq!(dropped_value(id), id + 2);
        assert_eq!(rt.block_on(dropped_value_async(id)), id + 2);
    }
    proxy.drop_connections();
    // Margin for the FINs to reach the pooled connections before they are
    // used (on loopback they arrive at once; nothing outside the kernel
    // tells when).
    std::thread::sleep(Duration::from_millis(50));
    for id in 0..20 {
        assert_eq!(dropped_value(id), id + 2);
        assert_eq!(rt.block_on(dropped_value_async(id)), id + 2);
    }
    let (blocking, nonblocking) = (stats("mc::dropped"), stats("mc::dropped_async"));
    assert_eq!((blocking.store_errors, nonblocking.store_errors), (0, 0));
    assert_eq!(DROPPED_COMPUTES.load(Ordering::SeqCst), 40);
}

// ---- large and slow batches ----

#[test]
fn a_batch_larger_than_one_timeout_succeeds_and_leaves_the_server_up() {
    let server = Memcached::start_with(&["-m", "400"]);
    let keys: Vec<u32> = (0..3_000).collect();
    let value = "v".repeat(50 * 1024);
    let filler = Cache::from_url(&server.url("timeout=20s")).unwrap();
    let entries: Vec<(u32, String)> = keys.iter().map(|k| (*k, value.clone())).collect();
    filler.set_many(&entries, Duration::from_secs(600)).unwrap();
    drop(entries);

    // 150 MB of replies: far more than 100 ms of work.
    let reader = Cache::from_url(&server.url("timeout=100ms")).unwrap();
    let got: Vec<Got<String>> = reader.get_many(&keys).expect("a large get_many");
    assert!(got.iter().all(|got| *got == Got::Fresh(value.clone())));
    // An unrelated call right after still reaches the server.
    assert_eq!(
        reader
            .get::<String, _>("unrelated")
            .map(|got| got.must_recompute()),
        Ok(true)
    );
    let got: Vec<Got<String>> = runtime()
        .block_on(reader.as_async().get_many(&keys))
        .expect("a large async get_many");
    assert!(got.iter().all(|got| *got == Got::Fresh(value.clone())));
    assert_eq!(
        reader
            .get::<String, _>("unrelated 2")
            .map(|got| got.must_recompute()),
        Ok(true)
    );
}

#[test]
fn a_slow_reader_cannot_stretch_a_write_past_its_deadline() {
    let peer = SlowReader::start();
    let cache = Cache::from_url(&peer.url("timeout=100ms&retry_after=1ms")).unwrap();
    let entries: Vec<(u32, String)> = (0..40).map(|k| (k, "w".repeat(500 * 1024))).collect();
    let started = Instant::now();
    let written = cache.set_many(&entries, Duration::from_secs(60));
    let took = started.elapsed();
    println!("blocking set_many of 40 x 500 KB to a slow reader: {took:?}");
    assert!(
        written.is_err(),
        "nothing answers: the write cannot succeed"
    );
    assert!(
        took < Duration::from_millis(2_500),
        "set_many to a slow reader with timeout=100ms returned after {took:?}"
    );
    let started = Instant::now();
    let written = runtime().block_on(cache.as_async().set_many(&entries, Duration::from_secs(60)));
    let took = started.elapsed();
    println!("async set_many of 40 x 500 KB to a slow reader: {took:?}");
    assert!(written.is_err());
    assert!(
        took < Duration::from_millis(2_500),
        "async set_many to a slow reader returned after {took:?}"
    );
}

// ---- get_or_compute_many ----

/// A round trip costs `DELAY` through the proxy, so time counts exchanges.
const DELAY: Duration = Duration::from_millis(20);

#[test]
fn a_warm_get_or_compute_many_costs_about_one_get_many() {
    let server = Memcached::start();
    let proxy = FaultProxy::start(server.port());
    let cache = Cache::from_url(&proxy.url("timeout=2s")).unwrap();
    let keys: Vec<String> = (0..200).map(|k| format!("warm {k}")).collect();
    let entries: Vec<(String, u64)> = (0..200).map(|k| (format!("warm {k}"), k)).collect();
    let ttl = Duration::from_secs(600);
    cache.set_many(&entries, ttl).unwrap();
    proxy.delay_replies(DELAY);

    let started = Instant::now();
    let got: Vec<Got<u64>> = cache.get_many(&keys).unwrap();
    let get_many = started.elapsed();
    assert!(got.iter().all(|got| matches!(got, Got::Fresh(_))));

    let computes = AtomicUsize::new(0);
    let started = Instant::now();
    let values = cache
        .get_or_compute_many(&keys, ttl, |missing| {
            computes.fetch_add(missing.len(), Ordering::SeqCst);
            missing.iter().map(|_| u64::MAX).collect()
        })
        .unwrap();
    let many = started.elapsed();
    println!("200 warm keys, {DELAY:?} a round trip: get_many {get_many:?}, get_or_compute_many {many:?}");
    assert_eq!(values, (0..200).collect::<Vec<u64>>());
    assert_eq!(computes.load(Ordering::SeqCst), 0);
    assert!(
        many <= get_many * 3 / 2 + DELAY * 2,
        "get_or_compute_many of 200 warm keys took {many:?}, get_many {get_many:?}"
    );

    let started = Instant::now();
    let values = runtime()
        .block_on(cache.as_async().get_or_compute_many(&keys, ttl, |missing| {
            computes.fetch_add(missing.len(), Ordering::SeqCst);
            std::future::ready(missing.iter().map(|_| u64::MAX).collect())
        }))
        .unwrap();
    let many = started.elapsed();
    assert_eq!(values, (0..200).collect::<Vec<u64>>());
    assert!(
        many <= get_many * 3 / 2 + DELAY * 2,
        "async get_or_compute_many of 200 warm keys took {many:?}, get_many {get_many:?}"
    );
}

/// Returns once the cache client of this process has waited for `keys`
/// keys leased elsewhere (its `waits` count); panics after [`PATIENCE`].
fn waiting_for(keys: u64) {
    let waits = || antidogpile::stats(Cache::CLIENT_NAMESPACE).map_or(0, |stats| stats.waits);
    assert!(
        eventually(PATIENCE, || waits() >= keys),
        "the client waited for {} keys leased elsewhere, not {keys}",
        waits()
    );
}

#[test]
fn waits_for_many_keys_leased_elsewhere_overlap() {
    let server = Memcached::start();
    let ours = Cache::from_url(&server.url("timeout=2s")).unwrap();
    // Another process's cache: it holds the cold-miss leases.
    let theirs = Cache::from_url(&server.url("timeout=2s")).unwrap();
    let keys: Vec<String> = (0..1_000).map(|k| format!("leased {k}")).collect();
    let leased: Vec<Got<u64>> = theirs.get_many(&keys).unwrap();
    // Kept until the end: a dropped duty gives its lease back.
    assert!(leased
        .iter()
        .all(|got| matches!(got, Got::Recompute(None, _))));
    let entries: Vec<(String, u64)> = (0..1_000).map(|k| (format!("leased {k}"), k)).collect();
    let ttl = Ttl::soft(Duration::from_secs(600)).grace(Duration::from_secs(10));
    let started = Instant::now();
    let values: Vec<u64> = std::thread::scope(|scope| {
        scope.spawn(|| {
            // The values land once ours waits for every key.
            waiting_for(1_000);
            theirs.set_many(&entries, ttl).unwrap();
        });
        ours.get_or_compute_many(&keys, ttl, |missing| {
            panic!("{} keys computed while leased elsewhere", missing.len())
        })
        .unwrap()
    });
    let took = started.elapsed();
    drop(leased);
    println!("1,000 keys leased elsewhere, landing once all were waited for: {took:?}");
    assert_eq!(values, (0..1_000).collect::<Vec<u64>>());
    assert!(
        took < Duration::from_millis(700),
        "1,000 keys whose values landed once all were waited for took {took:?}"
    );
}

#[test]
fn a_key_twice_in_a_batch_leased_elsewhere_returns_when_its_value_lands() {
    let server = Memcached::start();
    let ours = Cache::from_url(&server.url("timeout=2s")).unwrap();
    let theirs = Cache::from_url(&server.url("timeout=2s")).unwrap();
    // Kept until its value lands: a dropped duty gives its lease back.
    let duty = theirs.get::<u64, _>("twice").unwrap();
    assert!(matches!(duty, Got::Recompute(None, _)));
    let ttl = Ttl::soft(Duration::from_secs(600)).grace(Duration::from_secs(3));
    let started = Instant::now();
    let values: Vec<u64> = std::thread::scope(|scope| {
        scope.spawn(|| {
            waiting_for(1);
            theirs.set("twice", &5u64, ttl).unwrap();
        });
        ours.get_or_compute_many(&["twice", "other", "twice"], ttl, |missing| {
            assert_eq!(missing, [&"other"], "only the free key is computed");
            vec![9u64]
        })
        .unwrap()
    });
    let took = started.elapsed();
    drop(duty);
    println!("a key twice, leased elsewhere, landing once it was waited for: {took:?}");
    assert_eq!(values, [5, 9, 5]);
    assert!(
        took < Duration::from_millis(1_500),
        "a key twice in a batch waited {took:?} (grace 3 s)"
    );

    // Both copies of a missing key: computed once, filled in both places.
    let computed = AtomicUsize::new(0);
    let values = ours
        .get_or_compute_many(&["new", "new", "new"], ttl, |missing| {
            computed.fetch_add(missing.len(), Ordering::SeqCst);
            missing.iter().map(|_| 1u64).collect()
        })
        .unwrap();
    assert_eq!(values, [1, 1, 1]);
    assert_eq!(computed.load(Ordering::SeqCst), 1);
}

#[test]
fn a_cold_get_or_compute_many_of_many_keys_leaves_the_server_up() {
    let server = Memcached::start();
    // A short timeout and the default retry_after (5 s).
    let cache = Cache::from_url(&server.url("timeout=30ms")).unwrap();
    let keys: Vec<u32> = (0..10_000).collect();
    let ttl = Duration::from_secs(600);
    let computed = AtomicUsize::new(0);
    let values = cache
        .get_or_compute_many(&keys, ttl, |missing| {
            computed.fetch_add(missing.len(), Ordering::SeqCst);
            missing.iter().map(|k| u64::from(**k) * 3).collect()
        })
        .unwrap();
    assert_eq!(
        values,
        keys.iter().map(|k| u64::from(*k) * 3).collect::<Vec<_>>()
    );
    assert_eq!(computed.load(Ordering::SeqCst), 10_000);
    assert_eq!(
        cache
            .get::<u64, _>("unrelated")
            .map(|got| got.must_recompute()),
        Ok(true),
        "the server was taken out after a cold batch"
    );
    let again = cache
        .get_or_compute_many(&keys, ttl, |missing| {
            missing.iter().map(|k| u64::from(**k) * 3).collect()
        })
        .unwrap();
    assert_eq!(again, values);
}
