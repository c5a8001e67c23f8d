//! Faults between the store and a real memcached, injected by a proxy
//! (`common/fault_proxy.rs`): connections dropped, replies delayed past the
//! timeout, replies cut part-way, the server behind the proxy restarted
//! empty. Through each, memoized `fn`s and `async fn`s return the right
//! values without hanging, the store errors are counted, and caching
//! resumes when the fault clears. (`memcached_faults.rs` covers a server
//! killed outright, one that never answers, garbage replies and a dead
//! server of two, without a proxy.)

mod common;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use antidogpile::antidogpiled;
use antidogpile::clock::{ManualClock, Timestamp};
use antidogpile::{install_named, Cache};
use common::fault_proxy::FaultProxy;
use common::memcached::Memcached;
use common::{eventually, ComputeProbe, PATIENCE};

/// A timeout under the injected delays, and a skip of a failed server
/// shorter than the timeout, so that the server is tried again at once.
const QUERY: &str = "timeout=250ms&retry_after=50ms&pool=2";
/// Far above any timeout here: a call that takes this long hung.
const HUNG: Duration = Duration::from_secs(10);
/// Far past the timeout: a connection reused after its timeout (a bug)
/// would carry the next request while the late reply is still held.
const DELAY: Duration = Duration::from_secs(1);

/// memcached, a proxy in front of it, and a cache `name` through the proxy.
fn through_proxy(name: &str) -> (Memcached, FaultProxy, ManualClock) {
    through_proxy_with(name, QUERY)
}

fn through_proxy_with(name: &str, query: &str) -> (Memcached, FaultProxy, ManualClock) {
    let server = Memcached::start();
    let proxy = FaultProxy::start(server.port());
    let clock = ManualClock::new(Timestamp::from_millis(1_700_000_000_000));
    let cache = Cache::from_url(&proxy.url(query)).unwrap();
    install_named(name, cache.with_clock(clock.clock()));
    (server, proxy, clock)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Runs `call`, failing the test if it hung.
fn within<T>(call: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let value = call();
    assert!(
        started.elapsed() < HUNG,
        "a call took {:?}",
        started.elapsed()
    );
    value
}

/// Whether caching resumes: eventually a call after another computes nothing.
fn caching_resumes(computes: &AtomicU64, mut call: impl FnMut()) -> bool {
    eventually(PATIENCE, || {
        call();
        let before = computes.load(Ordering::SeqCst);
        call();
        computes.load(Ordering::SeqCst) == before
    })
}

fn store_errors(namespace: &str) -> u64 {
    antidogpile::stats(namespace).map_or(0, |stats| stats.store_errors)
}

// ---- dropped connections ----

static DROP_SYNC: AtomicU64 = AtomicU64::new(0);
static DROP_ASYNC: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(soft = "1h", cache = "proxy_drop", name = "proxy::drop")]
fn after_drops(id: u64) -> String {
    DROP_SYNC.fetch_add(1, Ordering::SeqCst);
    format!("drop {id}")
}

#[antidogpiled(soft = "1h", cache = "proxy_drop", name = "proxy::drop_async")]
async fn after_drops_async(id: u64) -> String {
    DROP_ASYNC.fetch_add(1, Ordering::SeqCst);
    format!("drop async {id}")
}

#[test]
fn dropped_connections_are_replaced_without_an_error_or_a_compute() {
    let (_server, proxy, _clock) = through_proxy("proxy_drop");
    let runtime = runtime();
    let call_async = |id| runtime.block_on(after_drops_async(id));
    assert_eq!(after_drops(1), "drop 1");
    assert_eq!(call_async(1), "drop async 1");
    assert_eq!(after_drops(1), "drop 1");
    assert_eq!(call_async(1), "drop async 1");
    let warm = (
        DROP_SYNC.load(Ordering::SeqCst),
        DROP_ASYNC.load(Ordering::SeqCst),
    );
    assert_eq!(warm, (1, 1), "cached before the fault");
    assert_eq!(store_errors("proxy::drop"), 0);

    for round in 1..=3 {
        // Every idle connection of both transports dies under them: each
        // call retries on a new connection, with no error and no compute.
        proxy.drop_connections();
        assert_eq!(within(|| after_drops(1)), "drop 1", "round {round}");
        assert_eq!(within(|| call_async(1)), "drop async 1", "round {round}");
        assert_eq!(store_errors("proxy::drop"), 0, "round {round}");
        assert_eq!(store_errors("proxy::drop_async"), 0, "round {round}");
        assert_eq!(DROP_SYNC.load(Ordering::SeqCst), 1, "round {round}");
        assert_eq!(DROP_ASYNC.load(Ordering::SeqCst), 1, "round {round}");

        assert!(caching_resumes(&DROP_SYNC, || assert_eq!(
            after_drops(1),
            "drop 1"
        )));
        assert!(caching_resumes(&DROP_ASYNC, || assert_eq!(
            call_async(1),
            "drop async 1"
        )));
    }
    // The values were never lost from memcached, and the drops cost nothing.
    assert_eq!(DROP_SYNC.load(Ordering::SeqCst), 1);
    assert!(proxy.accepted() > 2, "new connections were made");
}

static CHURN: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(soft = "1h", cache = "proxy_churn", name = "proxy::churn")]
fn churned(id: u64) -> u64 {
    CHURN.fetch_add(1, Ordering::SeqCst);
    id * 31 + 5
}

#[antidogpiled(soft = "1h", cache = "proxy_churn", name = "proxy::churn_async")]
async fn churned_async(id: u64) -> u64 {
    CHURN.fetch_add(1, Ordering::SeqCst);
    id * 37 + 3
}

#[test]
fn connections_dropped_again_and_again_under_load_never_yield_a_wrong_value() {
    let (_server, proxy, _clock) = through_proxy("proxy_churn");
    let runtime = runtime();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let threads: Vec<_> = (0..4u64)
        .map(|thread| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut calls = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    let id = (thread * 7 + calls) % 20;
                    assert_eq!(within(|| churned(id)), id * 31 + 5);
                    calls += 1;
                }
                calls
            })
        })
        .collect();
    let tasks: Vec<_> = (0..8u64)
        .map(|task| {
            let stop = Arc::clone(&stop);
            runtime.spawn(async move {
                let mut calls = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    let id = (task * 3 + calls) % 20;
                    let started = Instant::now();
                    assert_eq!(churned_async(id).await, id * 37 + 3);
                    assert!(started.elapsed() < HUNG, "a call hung");
                    calls += 1;
                    tokio::task::yield_now().await;
                }
                calls
            })
        })
        .collect();
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(50));
        proxy.drop_connections();
    }
    stop.store(true, Ordering::SeqCst);
    let thread_calls: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let task_calls: u64 = tasks
        .into_iter()
        .map(|t| runtime.block_on(t).unwrap())
        .sum();
    assert!(
        thread_calls > 20 && task_calls > 20,
        "{thread_calls} + {task_calls} calls"
    );
    // The drops hit: each cost new connections (the calls on the dropped
    // ones were retried on them, or failed as store errors, never wrong).
    assert!(proxy.accepted() >= 20, "{} connections", proxy.accepted());
    assert!(caching_resumes(&CHURN, || {
        for id in 0..20 {
            assert_eq!(churned(id), id * 31 + 5);
        }
    }));
}

// ---- replies delayed past the timeout ----

static DELAY_SYNC: AtomicU64 = AtomicU64::new(0);
static DELAY_ASYNC: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(soft = "1h", cache = "proxy_delay", name = "proxy::delay")]
fn delayed(id: u64) -> String {
    DELAY_SYNC.fetch_add(1, Ordering::SeqCst);
    format!("delayed {id}")
}

#[antidogpiled(soft = "1h", cache = "proxy_delay", name = "proxy::delay_async")]
async fn delayed_async(id: u64) -> String {
    DELAY_ASYNC.fetch_add(1, Ordering::SeqCst);
    format!("delayed async {id}")
}

#[test]
fn replies_delayed_past_the_timeout_are_timeouts_and_never_answer_a_later_request() {
    let (_server, proxy, _clock) = through_proxy("proxy_delay");
    let runtime = runtime();
    let call_async = |id| runtime.block_on(delayed_async(id));
    for id in [1, 2] {
        assert_eq!(delayed(id), format!("delayed {id}"));
        assert_eq!(call_async(id), format!("delayed async {id}"));
    }
    assert_eq!(DELAY_SYNC.load(Ordering::SeqCst), 2);
    assert_eq!(DELAY_ASYNC.load(Ordering::SeqCst), 2);

    for round in 1..=3u64 {
        // Key 1's requests time out; the last reply is still on its way when
        // the call returns, and must not be read as the reply to key 2 (as it
        // would be on a connection reused after its timeout).
        proxy.delay_replies(DELAY);
        assert_eq!(within(|| delayed(1)), "delayed 1", "round {round}");
        proxy.pass_through();
        assert_eq!(within(|| delayed(2)), "delayed 2", "round {round}");
        assert!(store_errors("proxy::delay") >= round);
        std::thread::sleep(DELAY); // every late reply has arrived

        proxy.delay_replies(DELAY);
        assert_eq!(within(|| call_async(1)), "delayed async 1", "round {round}");
        proxy.pass_through();
        assert_eq!(within(|| call_async(2)), "delayed async 2", "round {round}");
        assert!(store_errors("proxy::delay_async") >= round);
        std::thread::sleep(DELAY);

        assert_eq!(
            proxy.requests_behind_late_replies(),
            0,
            "a connection was reused after its request timed out"
        );
        assert!(caching_resumes(&DELAY_SYNC, || {
            assert_eq!(delayed(1), "delayed 1");
            assert_eq!(delayed(2), "delayed 2");
        }));
        assert!(caching_resumes(&DELAY_ASYNC, || {
            assert_eq!(call_async(1), "delayed async 1");
            assert_eq!(call_async(2), "delayed async 2");
        }));
    }
}

// ---- replies cut part-way ----

static CUT_SYNC: AtomicU64 = AtomicU64::new(0);
static CUT_ASYNC: AtomicU64 = AtomicU64::new(0);

/// Long enough that a cut can fall in the header, the value or the end line.
fn long_value(id: u64, kind: &str) -> String {
    format!("{kind} {id} ").repeat(200)
}

#[antidogpiled(soft = "1h", cache = "proxy_cut", name = "proxy::cut")]
fn cut_short(id: u64) -> String {
    CUT_SYNC.fetch_add(1, Ordering::SeqCst);
    long_value(id, "sync")
}

#[antidogpiled(soft = "1h", cache = "proxy_cut", name = "proxy::cut_async")]
async fn cut_short_async(id: u64) -> String {
    CUT_ASYNC.fetch_add(1, Ordering::SeqCst);
    long_value(id, "async")
}

#[test]
fn a_reply_cut_part_way_is_a_store_error_never_a_truncated_value() {
    let (_server, proxy, _clock) = through_proxy("proxy_cut");
    let runtime = runtime();
    let call_async = |id| runtime.block_on(cut_short_async(id));
    assert_eq!(cut_short(4), long_value(4, "sync"));
    assert_eq!(call_async(4), long_value(4, "async"));

    // In the "VA" header, in its numbers, in the value, one byte short of whole.
    let cuts = [1, 2, 4, 9, 30, 500, 1200, usize::MAX - 1];
    for (i, cut) in cuts.into_iter().enumerate() {
        // The value is cached again (the last cut's recompute did not reach
        // memcached: the server was skipped after the cut).
        assert!(caching_resumes(&CUT_SYNC, || assert_eq!(
            cut_short(4),
            long_value(4, "sync")
        )));
        let (errors, computes) = (store_errors("proxy::cut"), CUT_SYNC.load(Ordering::SeqCst));
        proxy.cut_next_reply(cut);
        assert_eq!(
            within(|| cut_short(4)),
            long_value(4, "sync"),
            "cut at {cut}"
        );
        assert_eq!(
            proxy.cuts_done(),
            2 * i + 1,
            "the reply to that call was cut"
        );
        assert!(store_errors("proxy::cut") > errors, "cut at {cut}");
        // Recomputed, or read again on a new connection: the server stays
        // up after a cut, since a no-op on a new connection is answered.
        assert!(
            CUT_SYNC.load(Ordering::SeqCst) <= computes + 1,
            "cut at {cut}"
        );

        assert!(caching_resumes(&CUT_ASYNC, || assert_eq!(
            call_async(4),
            long_value(4, "async")
        )));
        let errors = store_errors("proxy::cut_async");
        proxy.cut_next_reply(cut);
        assert_eq!(
            within(|| call_async(4)),
            long_value(4, "async"),
            "cut at {cut}"
        );
        assert_eq!(proxy.cuts_done(), 2 * i + 2);
        assert!(store_errors("proxy::cut_async") > errors, "cut at {cut}");
    }
}

// ---- the server behind the proxy restarted with an empty cache ----

static RESTART_SYNC: AtomicU64 = AtomicU64::new(0);
static RESTART_ASYNC: AtomicU64 = AtomicU64::new(0);
static IN_FLIGHT: ComputeProbe = ComputeProbe::new();
/// The compute of key 99 holds on until the test sends on this.
static HOLD: Mutex<Option<mpsc::Receiver<()>>> = Mutex::new(None);

#[antidogpiled(
    soft = "1h",
    grace = "30s",
    cache = "proxy_restart",
    name = "proxy::restart"
)]
fn across_restarts(id: u64) -> u64 {
    RESTART_SYNC.fetch_add(1, Ordering::SeqCst);
    if id == 99 {
        let _canary = IN_FLIGHT.enter();
        let hold = HOLD.lock().unwrap().take();
        if let Some(hold) = hold {
            let _ = hold.recv_timeout(PATIENCE);
        }
    }
    id * 11
}

#[antidogpiled(soft = "1h", cache = "proxy_restart", name = "proxy::restart_async")]
async fn across_restarts_async(id: u64) -> u64 {
    RESTART_ASYNC.fetch_add(1, Ordering::SeqCst);
    id * 13
}

#[test]
fn a_server_restarted_empty_behind_the_proxy_is_refilled_and_a_compute_in_flight_lands() {
    let (mut server, _proxy, _clock) = through_proxy("proxy_restart");
    let runtime = runtime();
    let call_async = |id| runtime.block_on(across_restarts_async(id));
    for id in 0..10 {
        assert_eq!(across_restarts(id), id * 11);
        assert_eq!(call_async(id), id * 13);
    }

    // Key 99's compute holds the cold-miss lease (in memcached and here)
    // while 7 more threads wait for it; the server restarts meanwhile.
    let (release, hold) = mpsc::channel();
    *HOLD.lock().unwrap() = Some(hold);
    let holder = std::thread::spawn(|| within(|| across_restarts(99)));
    assert!(eventually(PATIENCE, || IN_FLIGHT.computes() == 1));
    let start = Arc::new(Barrier::new(7));
    let waiters: Vec<_> = (0..7)
        .map(|_| {
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                start.wait();
                within(|| across_restarts(99))
            })
        })
        .collect();
    assert!(eventually(PATIENCE, || {
        antidogpile::stats("proxy::restart").is_some_and(|stats| stats.waits >= 7)
    }));

    server.kill();
    for id in 0..10 {
        assert_eq!(within(|| across_restarts(id)), id * 11, "while down");
        assert_eq!(within(|| call_async(id)), id * 13, "while down");
    }
    server.restart();
    release.send(()).unwrap();
    assert_eq!(holder.join().unwrap(), 99 * 11);
    for waiter in waiters {
        assert_eq!(waiter.join().unwrap(), 99 * 11);
    }
    assert_eq!(
        IN_FLIGHT.computes(),
        1,
        "the waiters got the holder's value"
    );
    assert_eq!(IN_FLIGHT.overlaps(), 0);
    assert!(store_errors("proxy::restart") >= 1);
    assert!(store_errors("proxy::restart_async") >= 1);

    // The restarted server is empty: each key is computed again, then cached.
    let before = RESTART_SYNC.load(Ordering::SeqCst);
    assert!(caching_resumes(&RESTART_SYNC, || {
        for id in 0..10 {
            assert_eq!(across_restarts(id), id * 11);
        }
    }));
    assert!(
        RESTART_SYNC.load(Ordering::SeqCst) >= before + 10,
        "refilled"
    );
    assert!(caching_resumes(&RESTART_ASYNC, || {
        for id in 0..10 {
            assert_eq!(call_async(id), id * 13);
        }
    }));
}

// ---- one compute per expiry, through a fault ----

const CALLERS: usize = 16;
static EXPIRY_PROBE: ComputeProbe = ComputeProbe::new();
/// How many callers, in all, must be waiting before a compute may finish.
static WAITS_BEFORE_FINISH: AtomicU64 = AtomicU64::new(0);
static CROSS_FAULT_CALLS: AtomicUsize = AtomicUsize::new(0);

#[antidogpiled(
    soft = "10s",
    grace = "1m",
    cache = "proxy_expiry",
    name = "proxy::expiry"
)]
fn per_expiry(id: u64) -> u64 {
    let _canary = EXPIRY_PROBE.enter();
    let waits = WAITS_BEFORE_FINISH.load(Ordering::SeqCst);
    assert!(
        eventually(PATIENCE, || antidogpile::stats("proxy::expiry")
            .is_some_and(|stats| stats.waits >= waits)),
        "the other callers did not wait for this compute"
    );
    id + 1_000
}

/// Every caller calls once, released together; returns what they got.
fn round_of_callers() -> Vec<u64> {
    let start = Arc::new(Barrier::new(CALLERS));
    let callers: Vec<_> = (0..CALLERS)
        .map(|_| {
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                start.wait();
                CROSS_FAULT_CALLS.fetch_add(1, Ordering::SeqCst);
                within(|| per_expiry(5))
            })
        })
        .collect();
    callers.into_iter().map(|c| c.join().unwrap()).collect()
}

/// A generous timeout: outside the fault, no read of this test may time
/// out on a loaded machine (a caller would then compute on its own).
const EXPIRY_QUERY: &str = "timeout=1s&retry_after=50ms&pool=4";
const EXPIRY_DELAY: Duration = Duration::from_millis(1_500);

#[test]
fn one_compute_per_expiry_in_a_process_holds_through_a_fault() {
    let (_server, proxy, clock) = through_proxy_with("proxy_expiry", EXPIRY_QUERY);
    assert_eq!(per_expiry(5), 1_005);
    let mut expected_computes = 1;
    for round in 0..6 {
        clock.advance(Duration::from_secs(11)); // every round starts stale
        let faulty = round == 2 || round == 3;
        if faulty {
            // Every read times out: callers see a miss, and the ones of this
            // process share one compute; it finishes once all others wait.
            proxy.delay_replies(EXPIRY_DELAY);
            let waits = antidogpile::stats("proxy::expiry").unwrap().waits;
            WAITS_BEFORE_FINISH.store(waits + CALLERS as u64 - 1, Ordering::SeqCst);
        } else {
            WAITS_BEFORE_FINISH.store(0, Ordering::SeqCst);
        }
        let values = round_of_callers();
        assert!(
            values.iter().all(|v| *v == 1_005),
            "round {round}: {values:?}"
        );
        expected_computes += 1;
        assert_eq!(EXPIRY_PROBE.computes(), expected_computes, "round {round}");
        if faulty {
            proxy.pass_through();
            std::thread::sleep(EXPIRY_DELAY); // every late reply has arrived
        }
    }
    assert_eq!(EXPIRY_PROBE.overlaps(), 0, "two computes at once");
    assert_eq!(proxy.requests_behind_late_replies(), 0);
    let stats = antidogpile::stats("proxy::expiry").unwrap();
    assert!(stats.store_errors >= 2, "{stats:?}");
    assert_eq!(
        stats.calls(),
        CROSS_FAULT_CALLS.load(Ordering::SeqCst) as u64 + 1,
        "every call counted once: {stats:?}"
    );
}
