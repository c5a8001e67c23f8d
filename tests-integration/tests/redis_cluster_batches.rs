//! A blocking batch on a Redis Cluster is pipelined per node: the keys of
//! one `*_many` call that live on one master reach it in one write, so the
//! master reads them in about one read event, not one per key. Counted by
//! each master itself (`INFO stats` `total_reads_processed`: the read
//! events on its clients' sockets, this test's own INFO included).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use antidogpile::{Cache, Got};
use antidogpile_test_support::redis::{Redis, RedisCluster};

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
    let cluster = RedisCluster::start();
    let cache = Cache::from_url(&cluster.url("timeout=2s&pool=1")).unwrap();
    let ttl = Duration::from_secs(600);
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
    let cluster = RedisCluster::start();
    let cache = Cache::from_url(&cluster.url("timeout=2s&pool=1")).unwrap();
    let ttl = Duration::from_secs(600);
    let keys: Vec<u64> = (0..KEYS).collect();
    let computes = AtomicU64::new(0);
    let compute = |missing: Vec<&u64>| {
        computes.fetch_add(missing.len() as u64, Ordering::SeqCst);
        missing.iter().map(|key| **key * 9).collect::<Vec<u64>>()
    };
    let right: Vec<u64> = keys.iter().map(|key| key * 9).collect();
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
