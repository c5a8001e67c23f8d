//! A Redis Cluster failing over: three masters with one replica each, a
//! master SIGKILLed while threads and a tokio task call memoized fns, its
//! replica promoted within seconds. Slower, never wrong: every call returns
//! the right value in bounded time, computes only where the store failed it
//! (or lost its value), and caching resumes once the cluster is ok again.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use antidogpile::{antidogpiled, install_named, Cache};
use antidogpile_test_support::redis::RedisCluster;

/// Far above the timeouts configured below: a call that takes this long hung.
const HUNG: Duration = Duration::from_secs(5);
/// The keys each fn is called with.
const IDS: u64 = 30;

static COMPUTES: AtomicU64 = AtomicU64::new(0);
/// The blocking fn's computes per id.
static PER_ID: [AtomicU64; IDS as usize] = [const { AtomicU64::new(0) }; IDS as usize];

#[antidogpiled(soft = "1h", cache = "redis_failover", name = "redis::failover")]
fn through_failover(id: u64) -> u64 {
    COMPUTES.fetch_add(1, Ordering::SeqCst);
    PER_ID[id as usize].fetch_add(1, Ordering::SeqCst);
    id * 17
}

#[antidogpiled(soft = "1h", cache = "redis_failover", name = "redis::failover_async")]
async fn through_failover_async(id: u64) -> u64 {
    COMPUTES.fetch_add(1, Ordering::SeqCst);
    id * 19
}

/// Store errors and computes of both fns, as counted by the cache.
fn counted() -> (u64, u64) {
    ["redis::failover", "redis::failover_async"]
        .iter()
        .map(|name| antidogpile::stats(name).unwrap())
        .fold((0, 0), |(errors, computes), stats| {
            (errors + stats.store_errors, computes + stats.computes)
        })
}

/// Polls `done` until it holds; panics with `what` after `patience`.
fn wait_for(what: &str, patience: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < patience,
            "{what}: not within {patience:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

#[test]
fn a_master_killed_and_its_replica_promoted_is_slower_never_wrong_then_caching_resumes() {
    let cluster = RedisCluster::start_with_replicas();
    let url = cluster.url("timeout=300ms&retry_after=100ms");
    install_named("redis_failover", Cache::from_url(&url).unwrap());
    // Batches of keys spread over every master, pipelined per node.
    let batches = Arc::new(Cache::from_url(&url).unwrap());
    let batch_keys: Vec<u64> = (1_000..1_000 + IDS).collect();
    let batch_computes = Arc::new(AtomicU64::new(0));
    let batch = {
        let (batches, batch_keys, batch_computes) =
            (batches.clone(), batch_keys.clone(), batch_computes.clone());
        move || {
            let values = batches
                .get_or_compute_many(
                    &batch_keys,
                    Duration::from_secs(3_600),
                    |missing: Vec<&u64>| {
                        batch_computes.fetch_add(missing.len() as u64, Ordering::SeqCst);
                        missing.iter().map(|key| **key * 23).collect::<Vec<u64>>()
                    },
                )
                .expect("a batch answered, computed where the store failed");
            assert_eq!(
                values,
                batch_keys.iter().map(|key| key * 23).collect::<Vec<_>>(),
                "a wrong value in a batch"
            );
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    // Every key cached: spread over the three masters (and their replicas).
    let pass = |runtime: &tokio::runtime::Runtime| {
        for id in 0..IDS {
            assert_eq!(through_failover(id), id * 17);
            assert_eq!(runtime.block_on(through_failover_async(id)), id * 19);
        }
    };
    pass(&runtime);
    batch();
    assert_eq!(COMPUTES.load(Ordering::SeqCst), 2 * IDS);
    assert_eq!(batch_computes.load(Ordering::SeqCst), IDS);
    pass(&runtime);
    batch();
    assert_eq!(COMPUTES.load(Ordering::SeqCst), 2 * IDS, "all cached");
    assert_eq!(batch_computes.load(Ordering::SeqCst), IDS, "all cached");

    let victim = (0..cluster.nodes.len())
        .find(|&node| cluster.role(node).as_deref() == Some("master"))
        .expect("a master");
    let replica = cluster.replica_of(victim).expect("the master's replica");

    // Four threads and a tokio task call through the failover.
    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicU64::new(0));
    let slowest_ms = Arc::new(AtomicU64::new(0));
    let callers: Vec<_> = (0..4u64)
        .map(|thread| {
            let (stop, calls, slowest_ms) = (stop.clone(), calls.clone(), slowest_ms.clone());
            std::thread::spawn(move || {
                let mut made = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    let id = (thread * 7 + made) % IDS;
                    let started = Instant::now();
                    assert_eq!(through_failover(id), id * 17, "a wrong value");
                    let took = started.elapsed();
                    assert!(took < HUNG, "a blocking call hung: {took:?}");
                    slowest_ms.fetch_max(took.as_millis() as u64, Ordering::SeqCst);
                    calls.fetch_add(1, Ordering::SeqCst);
                    made += 1;
                }
            })
        })
        .collect();
    let batcher = {
        let (stop, calls, slowest_ms, batch) = (
            stop.clone(),
            calls.clone(),
            slowest_ms.clone(),
            batch.clone(),
        );
        std::thread::spawn(move || {
            let mut batches = 0u64;
            while !stop.load(Ordering::SeqCst) {
                batches += 1;
                let started = Instant::now();
                batch();
                let took = started.elapsed();
                assert!(took < HUNG, "a batch hung: {took:?}");
                slowest_ms.fetch_max(took.as_millis() as u64, Ordering::SeqCst);
                calls.fetch_add(1, Ordering::SeqCst);
            }
            batches
        })
    };
    let task = {
        let (stop, calls, slowest_ms) = (stop.clone(), calls.clone(), slowest_ms.clone());
        runtime.spawn(async move {
            let mut made = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let id = made % IDS;
                let started = Instant::now();
                let got = tokio::time::timeout(HUNG, through_failover_async(id)).await;
                assert_eq!(got, Ok(id * 19), "a wrong value, or a hung async call");
                slowest_ms.fetch_max(started.elapsed().as_millis() as u64, Ordering::SeqCst);
                calls.fetch_add(1, Ordering::SeqCst);
                made += 1;
            }
        })
    };
    let calls_now = || calls.load(Ordering::SeqCst);
    let before = calls_now();
    wait_for("the callers calling", HUNG, || calls_now() >= before + 200);

    let (errors_before, computes_before) = counted();
    let per_id_before: Vec<u64> = PER_ID.iter().map(|c| c.load(Ordering::SeqCst)).collect();
    let mut cluster = cluster;
    let killed_at = Instant::now();
    cluster.nodes[victim].kill();
    let failed_over = wait_for(
        "the replica promoted and the cluster ok",
        Duration::from_secs(20),
        || cluster.role(replica).as_deref() == Some("master") && cluster.is_ok(),
    );
    let calls_in_failover = calls_now();
    // The callers go on a while on the healed cluster.
    wait_for("calls after the failover", HUNG, || {
        calls_now() >= calls_in_failover + 500
    });
    stop.store(true, Ordering::SeqCst);
    for caller in callers {
        caller.join().expect("a blocking caller panicked");
    }
    let batches_made = batcher.join().expect("the batch caller panicked");
    runtime.block_on(task).expect("the async caller panicked");
    let (errors_after, computes_after) = counted();
    let (errors, computes) = (
        errors_after - errors_before,
        computes_after - computes_before,
    );
    let total_calls = calls_now();
    let per_id: Vec<u64> = PER_ID
        .iter()
        .zip(&per_id_before)
        .map(|(c, before)| c.load(Ordering::SeqCst) - before)
        .collect();
    println!("blocking computes per id during and after the failover: {per_id:?}");
    println!(
        "failover: replica promoted and cluster ok {failed_over:?} after the kill; \
         {total_calls} calls, slowest {} ms; during and after: {errors} store errors, \
         {computes} computes; {batches_made} batches of {IDS} keys computed {} keys",
        slowest_ms.load(Ordering::SeqCst),
        batch_computes.load(Ordering::SeqCst) - IDS
    );
    assert!(errors >= 1, "the dead master was seen");
    // A compute has a cause: a store that failed the call, or a value that
    // was lost with the master (at most once per key and fn).
    assert!(
        computes <= errors + 2 * IDS,
        "{computes} computes for {errors} store errors"
    );
    // The dead master's keys compute on every call until its replica serves
    // them; the other masters' keys only while the whole cluster answers
    // CLUSTERDOWN (from the master's FAIL to the promotion): far fewer.
    let most = per_id.iter().copied().max().unwrap_or(0);
    let spared = per_id.iter().filter(|&&n| n <= most / 3).count();
    assert!(
        spared >= IDS as usize / 3,
        "only {spared} of {IDS} keys computed at most a third as often as the most \
         computed one ({most}): {per_id:?}"
    );
    assert!(
        computes < total_calls,
        "{computes} computes for {total_calls} calls: nothing cached"
    );

    // Caching resumed: a pass with no compute on the healed cluster.
    let resumed = wait_for("a pass with no compute", Duration::from_secs(10), || {
        let computed = COMPUTES.load(Ordering::SeqCst);
        let batch_computed = batch_computes.load(Ordering::SeqCst);
        pass(&runtime);
        batch();
        COMPUTES.load(Ordering::SeqCst) == computed
            && batch_computes.load(Ordering::SeqCst) == batch_computed
    });
    println!(
        "caching resumed {resumed:?} after the cluster was ok ({:?} after the kill)",
        killed_at.elapsed()
    );
}
