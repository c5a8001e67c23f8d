//! A blocking batch on a Redis Cluster is pipelined per node: the keys of
//! one `*_many` call that live on one master reach it in one write, so the
//! master reads them in about one read event, not one per key. Counted by
//! each master itself (`INFO stats` `total_reads_processed`: the read
//! events on its clients' sockets, this test's own INFO included).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use antidogpile::{Cache, Got};
use antidogpile_test_support::redis::{Redis, RedisCluster, Stopped};

/// `total_reads_processed` of a node (its own INFO's read included).
fn reads_processed(node: &Redis) -> u64 {
    let info = node.command(&["INFO", "stats"]).unwrap();
    info.lines()
        .find_map(|line| line.strip_prefix("total_reads_processed:"))
        .and_then(|count| count.trim().parse().ok())
        .unwrap_or_else(|| panic!("no total_reads_processed in INFO stats: {info}"))
}

/// The read events each master processed during `step` (minus the one of
/// the INFO that ends the count).
fn reads_during<T>(cluster: &RedisCluster, step: impl FnOnce() -> T) -> (T, Vec<u64>) {
    let before: Vec<u64> = cluster.nodes.iter().map(reads_processed).collect();
    let done = step();
    let reads = cluster
        .nodes
        .iter()
        .zip(before)
        .map(|(node, before)| reads_processed(node) - before - 1)
        .collect();
    (done, reads)
}

/// What the batches are kept for.
const TTL: Duration = Duration::from_secs(600);

/// A three-master cluster, and a cache on it with the URL's `query`.
fn cluster_and_cache(query: &str) -> (RedisCluster, Cache) {
    let cluster = RedisCluster::start();
    let cache = Cache::from_url(&cluster.url(query)).unwrap();
    (cluster, cache)
}

/// Keys `0..count` and their right values, `key * factor`.
fn batch(count: u64, factor: u64) -> (Vec<u64>, Vec<u64>) {
    let keys: Vec<u64> = (0..count).collect();
    let right = keys.iter().map(|key| key * factor).collect();
    (keys, right)
}

/// A compute of a batch's missing keys (`key * factor`), counted in `computes`.
fn computing(computes: &AtomicU64, factor: u64) -> impl Fn(Vec<&u64>) -> Vec<u64> + Copy + '_ {
    move |missing| {
        computes.fetch_add(missing.len() as u64, Ordering::SeqCst);
        missing.iter().map(|key| **key * factor).collect()
    }
}

/// The number of `keys`' keys each master holds, from `DBSIZE`.
fn keys_per_node(cluster: &RedisCluster) -> Vec<usize> {
    cluster
        .nodes
        .iter()
        .map(|node| {
            let size = node.command(&["DBSIZE"]).unwrap();
            size.trim_start_matches(':').parse().unwrap()
        })
        .collect()
}

#[test]
fn on_a_cluster_a_blocking_batch_costs_about_one_read_per_node_not_one_per_key() {
    const KEYS: u64 = 60;
    let (cluster, cache) = cluster_and_cache("timeout=2s&pool=1");
    let ttl = TTL;
    let keys: Vec<u64> = (0..KEYS).collect();
    // The connection made (and its slot map read) before any count.
    cache.set(&u64::MAX, &0u64, ttl).unwrap();

    // A cold batch: every key read (taking its lease), computed, written.
    let computes = AtomicU64::new(0);
    let (values, cold_reads) = reads_during(&cluster, || {
        cache
            .get_or_compute_many(&keys, ttl, |missing: Vec<&u64>| {
                computes.fetch_add(missing.len() as u64, Ordering::SeqCst);
                missing.iter().map(|key| **key * 7).collect::<Vec<u64>>()
            })
            .unwrap()
    });
    assert_eq!(values, keys.iter().map(|key| key * 7).collect::<Vec<_>>());
    assert_eq!(
        computes.load(Ordering::SeqCst),
        KEYS,
        "each key computed once"
    );
    let spread = keys_per_node(&cluster);
    assert!(
        spread.iter().all(|&held| held >= 5),
        "the keys are spread over every master: {spread:?}"
    );

    // A warm batch: one read of every key, all hits.
    let (got, warm_reads) = reads_during(&cluster, || cache.get_many::<u64, _>(&keys).unwrap());
    assert_eq!(
        got,
        keys.iter()
            .map(|key| Got::Fresh(key * 7))
            .collect::<Vec<_>>()
    );
    println!(
        "{KEYS} keys over 3 masters (keys per master {spread:?}): read events per master: \
         get_or_compute_many (cold) {cold_reads:?}, get_many (warm) {warm_reads:?}"
    );
    let started = Instant::now();
    for _ in 0..200 {
        cache.get_many::<u64, _>(&keys).unwrap();
    }
    println!(
        "200 warm get_many of {KEYS} keys: {:?} each",
        started.elapsed() / 200
    );
    // One per key would be about 20 per master for each of the batches (the
    // cold call sends two: the reads and the writes); pipelined, about one
    // per master for each, with room for a write the kernel split.
    for (node, &reads) in warm_reads.iter().enumerate() {
        assert!(
            reads <= 4,
            "master {node} processed {reads} read events for a get_many of its {} keys: \
             one per key, not one per batch",
            spread[node]
        );
    }
    for (node, &reads) in cold_reads.iter().enumerate() {
        assert!(
            reads <= 8,
            "master {node} processed {reads} read events for a cold get_or_compute_many \
             of its {} keys: one per key, not one per batch",
            spread[node]
        );
    }
}

/// A master that lost its scripts (as a restarted or promoted one has)
/// answers NOSCRIPT to its keys' commands of a pipelined batch: the batch is
/// still answered key by key, the scripts loaded again, and every key of
/// every master read back as the hit it is.
#[test]
fn on_a_cluster_a_batch_meeting_a_master_without_its_scripts_is_answered_key_by_key() {
    const KEYS: u64 = 60;
    let (cluster, cache) = cluster_and_cache("timeout=2s&pool=1");
    let ttl = TTL;
    let (keys, right) = batch(KEYS, 9);
    let computes = AtomicU64::new(0);
    let compute = computing(&computes, 9);
    assert_eq!(
        cache.get_or_compute_many(&keys, ttl, compute).unwrap(),
        right
    );
    assert_eq!(computes.load(Ordering::SeqCst), KEYS);
    for round in 0..2 {
        let flushed = &cluster.nodes[round % cluster.nodes.len()];
        assert_eq!(flushed.command(&["SCRIPT", "FLUSH"]).unwrap(), "+OK");
        let got = cache.get_many::<u64, _>(&keys).unwrap();
        assert_eq!(
            got,
            right
                .iter()
                .map(|value| Got::Fresh(*value))
                .collect::<Vec<_>>(),
            "round {round}: every key a hit, those of the master without scripts too"
        );
        assert_eq!(flushed.command(&["SCRIPT", "FLUSH"]).unwrap(), "+OK");
        assert_eq!(
            cache.get_or_compute_many(&keys, ttl, compute).unwrap(),
            right,
            "round {round}"
        );
        assert_eq!(
            computes.load(Ordering::SeqCst),
            KEYS,
            "round {round}: nothing computed again"
        );
    }
}

/// A batch whose keys live on three masters, one of them dead: only the
/// dead master's keys are computed; the others are still hits from their
/// masters, in about the time a single call takes.
#[test]
fn on_a_cluster_a_batch_with_a_master_killed_computes_only_that_masters_keys() {
    a_batch_with_a_master_killed(|cache, keys, ttl, computes| {
        cache
            .get_or_compute_many(keys, ttl, |missing: Vec<&u64>| {
                computes.fetch_add(missing.len() as u64, Ordering::SeqCst);
                missing.iter().map(|key| **key * 5).collect::<Vec<u64>>()
            })
            .unwrap()
    });
}

/// The same through the async (tokio) cluster transport.
#[test]
fn on_a_cluster_an_async_batch_with_a_master_killed_computes_only_that_masters_keys() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    a_batch_with_a_master_killed(|cache, keys, ttl, computes| {
        let compute = |missing: Vec<&u64>| {
            computes.fetch_add(missing.len() as u64, Ordering::SeqCst);
            let values: Vec<u64> = missing.iter().map(|key| **key * 5).collect();
            async move { values }
        };
        runtime
            .block_on(cache.as_async().get_or_compute_many(keys, ttl, compute))
            .unwrap()
    });
}

/// A batch of 60 keys through `get_or_compute_many` (given: the cache, the
/// keys, the TTL and the compute counter; it computes `key * 5`), once
/// cold, then with the master of some of its keys killed: the values are
/// right, and only that master's keys are computed again, not the batch.
fn a_batch_with_a_master_killed(
    get_or_compute_many: impl Fn(&Cache, &[u64], Duration, &AtomicU64) -> Vec<u64>,
) {
    const KEYS: u64 = 60;
    let (mut cluster, cache) = cluster_and_cache("timeout=1s&pool=1&retry_after=100ms");
    let ttl = TTL;
    let keys: Vec<u64> = (0..KEYS).collect();
    let computes = AtomicU64::new(0);
    let right: Vec<u64> = keys.iter().map(|key| key * 5).collect();
    assert_eq!(get_or_compute_many(&cache, &keys, ttl, &computes), right);
    assert_eq!(computes.load(Ordering::SeqCst), KEYS);
    // At least the keys each master holds (and any key of the cache's own).
    let held = keys_per_node(&cluster);

    cluster.nodes[1].kill();
    let started = Instant::now();
    assert_eq!(get_or_compute_many(&cache, &keys, ttl, &computes), right);
    let took = started.elapsed();
    let recomputed = computes.load(Ordering::SeqCst) - KEYS;
    println!(
        "a master of {held:?} keys killed: get_or_compute_many of {KEYS} keys \
         computed {recomputed} in {took:?}"
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(
        recomputed <= held[1] as u64,
        "{recomputed} of {KEYS} keys computed with the master of {} of them dead: \
         a batch fails whole for one dead node",
        held[1]
    );
}

/// A batch read with keys on a stalled master answers within about the
/// timeout (redis-rs alone reads a stalled node's replies one by one, each
/// up to the timeout: about 20 x 300 ms here), never with a wrong value;
/// and the batch is cached again once the master answers.
#[test]
fn on_a_cluster_a_batch_read_with_a_stalled_master_costs_a_timeout_not_one_per_key() {
    const KEYS: u64 = 60;
    let (cluster, cache) = cluster_and_cache("timeout=300ms&pool=1&retry_after=100ms");
    let ttl = TTL;
    let (keys, right) = batch(KEYS, 3);
    let computes = AtomicU64::new(0);
    let compute = computing(&computes, 3);
    assert_eq!(
        cache.get_or_compute_many(&keys, ttl, compute).unwrap(),
        right
    );
    let held = keys_per_node(&cluster);

    let stopped = Stopped::stop(&cluster.nodes[1]);
    let started = Instant::now();
    let got = cache.get_many::<u64, _>(&keys);
    let took = started.elapsed();
    drop(stopped);
    println!(
        "a get_many of {KEYS} keys with the master of {} of them stalled: {took:?}, {}",
        held[1],
        match &got {
            Ok(_) => "answered".to_owned(),
            Err(error) => format!("failed: {error}"),
        }
    );
    if let Ok(got) = got {
        for (got, right) in got.iter().zip(&right) {
            assert!(
                !matches!(got, Got::Fresh(value) | Got::Stale(value) if value != right),
                "a wrong value: {got:?}"
            );
        }
    }
    assert!(
        took < Duration::from_secs(2),
        "a batch read took {took:?} with the master of {} of its keys stalled",
        held[1]
    );

    // The master answers again: the batch is cached again (polled: the
    // master first answers what it was sent while stopped).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let before = computes.load(Ordering::SeqCst);
        if cache.get_or_compute_many(&keys, ttl, compute).ok() == Some(right.clone())
            && computes.load(Ordering::SeqCst) == before
        {
            break;
        }
        assert!(Instant::now() < deadline, "the batch was not cached again");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A batch computed while a master is stalled: its read fails, its keys are
/// computed without leases, and their values are written in one batch (one
/// timeout) rather than one write each, every write to the stalled master
/// a timeout of its own (about 54 s for 60 keys before). Right values.
#[test]
fn on_a_cluster_a_batch_computed_with_a_stalled_master_costs_timeouts_per_batch_not_per_key() {
    const KEYS: u64 = 60;
    let (cluster, cache) = cluster_and_cache("timeout=300ms&pool=1&retry_after=100ms");
    let ttl = TTL;
    let (keys, right) = batch(KEYS, 3);
    let computes = AtomicU64::new(0);
    let compute = computing(&computes, 3);
    let stopped = Stopped::stop(&cluster.nodes[1]);
    let started = Instant::now();
    let got = cache.get_or_compute_many(&keys, ttl, compute);
    let took = started.elapsed();
    drop(stopped);
    println!(
        "a get_or_compute_many of {KEYS} keys with a master stalled: {took:?}, {} computed",
        computes.load(Ordering::SeqCst)
    );
    assert_eq!(got.unwrap(), right, "the values are computed, never wrong");
    assert_eq!(
        computes.load(Ordering::SeqCst),
        KEYS,
        "each key computed once"
    );
    // A few batch timeouts (the reads, the writes), with room for a loaded
    // machine; one timeout a key is tens of seconds.
    assert!(
        took < Duration::from_secs(10),
        "a batch with a stalled master took {took:?}"
    );
}

/// Four threads batch the same 40 cold keys, two in each order, released
/// together (ten times, new keys each time): each computes the keys it
/// holds, then waits for the others', holding none. It took the grace (10 s
/// here) for all four when two held keys the others waited for (issue 21.1).
#[test]
fn on_a_cluster_four_batches_of_the_same_keys_in_two_orders_do_not_wait_out_the_grace() {
    const KEYS: u64 = 40;
    const THREADS: usize = 4;
    let (_cluster, cache) = cluster_and_cache("grace=10s");
    let cache = std::sync::Arc::new(cache);
    for round in 0..10u64 {
        let keys: Vec<u64> = (round * 1000..round * 1000 + KEYS).collect();
        let computes = std::sync::Arc::new(AtomicU64::new(0));
        // Released together: a spin, not a `Barrier`, whose waiters would
        // wake well after the last comer has gone on.
        let arrived = std::sync::Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..THREADS)
            .map(|thread| {
                let (cache, computes, arrived) = (
                    std::sync::Arc::clone(&cache),
                    std::sync::Arc::clone(&computes),
                    std::sync::Arc::clone(&arrived),
                );
                let mut keys = keys.clone();
                if thread % 2 == 1 {
                    keys.reverse();
                }
                std::thread::spawn(move || {
                    arrived.fetch_add(1, Ordering::SeqCst);
                    while arrived.load(Ordering::SeqCst) < THREADS as u64 {
                        std::hint::spin_loop();
                    }
                    let started = Instant::now();
                    let values = cache.get_or_compute_many(&keys, TTL, |missing| {
                        std::thread::sleep(Duration::from_millis(20));
                        computing(&computes, 3)(missing)
                    });
                    let right: Vec<u64> = keys.iter().map(|key| key * 3).collect();
                    assert_eq!(values.unwrap(), right);
                    started.elapsed()
                })
            })
            .collect();
        let took: Vec<Duration> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert!(
            took.iter().all(|took| *took < Duration::from_millis(2500)),
            "round {round}: the batches took {took:?} (grace 10 s): they held keys while they waited for each other's"
        );
        assert_eq!(
            computes.load(Ordering::SeqCst),
            KEYS,
            "round {round}: each key computed once"
        );
    }
}

/// An async batch of 40 keys over three masters, one of them stalled
/// (SIGSTOP, 2 s: within the cluster's node timeout): each call computes
/// only the stalled master's keys, the others still read from their
/// masters. (A failed command used to drop the shared connection; making
/// it again needs every node, timed out on the stalled one, and took the
/// whole cluster for down: every key computed on every call.)
#[test]
fn on_a_cluster_an_async_batch_with_a_master_stalled_computes_only_that_masters_keys() {
    const KEYS: u64 = 40;
    let (cluster, cache) = cluster_and_cache("timeout=250ms&retry_after=100ms");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (keys, right) = batch(KEYS, 5);
    let computes = AtomicU64::new(0);
    let call = || {
        let compute = |missing: Vec<&u64>| {
            computes.fetch_add(missing.len() as u64, Ordering::SeqCst);
            let values: Vec<u64> = missing.iter().map(|key| **key * 5).collect();
            async move { values }
        };
        runtime
            .block_on(cache.as_async().get_or_compute_many(&keys, TTL, compute))
            .unwrap()
    };
    assert_eq!(call(), right);
    assert_eq!(computes.load(Ordering::SeqCst), KEYS);
    // At least the keys the stalled master holds (and any of the cache's own).
    let held = keys_per_node(&cluster)[1] as u64;

    let stopped = Stopped::stop(&cluster.nodes[1]);
    let started = Instant::now();
    let mut calls = 0;
    while started.elapsed() < Duration::from_secs(2) {
        assert_eq!(call(), right, "never a wrong value");
        calls += 1;
    }
    drop(stopped);
    let recomputed = computes.load(Ordering::SeqCst) - KEYS;
    println!(
        "{calls} async batches of {KEYS} keys with the master of {held} of them stalled for \
         2 s: {recomputed} computed"
    );
    assert!(calls >= 2, "{calls} calls in 2 s");
    assert!(
        recomputed <= calls * held,
        "{recomputed} keys computed in {calls} calls with the master of {held} of {KEYS} \
         stalled: the other masters' keys too"
    );
}

/// One call of a key whose master is stalled costs about one timeout
/// (redis-rs's one retry aside), not one per step: after its own read timed
/// out, the call computes and skips its lease and write. A batch's read, a
/// timeout of another node's keys, stops nothing (`stalls_as_one` is false
/// for a cluster). The other masters' keys are still hits. (Issue 21.3:
/// calls of 1.3 to 1.6 s with a 250 ms timeout.)
#[test]
fn on_a_cluster_a_call_of_a_stalled_masters_key_costs_about_one_timeout() {
    let (cluster, cache) = cluster_and_cache("timeout=250ms&retry_after=100ms");
    // Three keys on the master to stall, three elsewhere, all cached.
    let (mut stalled_keys, mut other_keys) = (Vec::new(), Vec::new());
    for key in 0u64.. {
        if stalled_keys.len() == 3 && other_keys.len() == 3 {
            break;
        }
        let before = keys_per_node(&cluster)[1];
        assert_eq!(cache.get_or_compute(&key, TTL, || key * 3), key * 3);
        let on_the_stalled = keys_per_node(&cluster)[1] > before;
        match on_the_stalled {
            true if stalled_keys.len() < 3 => stalled_keys.push(key),
            false if other_keys.len() < 3 => other_keys.push(key),
            _ => {}
        }
    }
    let computes = AtomicU64::new(0);
    let stopped = Stopped::stop(&cluster.nodes[1]);
    let mut took = Vec::new();
    for &key in stalled_keys.iter().chain(&other_keys) {
        let started = Instant::now();
        let value = cache.get_or_compute(&key, TTL, || {
            computes.fetch_add(1, Ordering::SeqCst);
            key * 3
        });
        took.push(started.elapsed());
        assert_eq!(value, key * 3, "a wrong value");
    }
    drop(stopped);
    println!("calls of keys on the stalled master, then on the others: {took:?}");
    assert_eq!(
        computes.load(Ordering::SeqCst),
        3,
        "only the stalled master's keys computed"
    );
    assert!(
        took[..3]
            .iter()
            .all(|took| *took < Duration::from_millis(900)),
        "a call of a stalled master's key took {took:?} with timeout=250ms"
    );
}
