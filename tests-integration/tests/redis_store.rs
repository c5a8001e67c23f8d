//! The Redis store against a real redis-server started by each test: OS
//! processes sharing it recompute once per expiry; a SIGKILLed holder is
//! replaced within seconds; a server that is down, restarted (its scripts
//! gone), stalled or talking nonsense makes calls slower, never wrong; keys
//! are any bytes under a prefix; values over the limit are served, not cached.

mod common;

use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use antidogpile::antidogpiled;
use antidogpile::{install_named, Cache};
use antidogpile_test_support::redis::{Redis, RedisCluster, Stopped};
use common::fault_proxy::FaultProxy;
use common::outage::{self, Calls, FakeServer};
use common::{holds, workers};

/// Far above the timeouts configured below: a call that takes this long hung.
const HUNG: Duration = Duration::from_secs(5);

// ---- across OS processes ----

#[test]
fn four_processes_of_eight_threads_recompute_once_per_expiry() {
    let server = Redis::start();
    let hammered = workers::four_processes_hammer_one_key(&server.url("timeout=1s"));
    assert!(hammered.expiries() >= 3, "{} expiries", hammered.expiries());
}

#[test]
fn a_claimer_killed_mid_refresh_is_taken_over_after_the_grace() {
    let server = Redis::start();
    let taken_over = workers::a_claimer_is_killed_mid_refresh(&server.url("timeout=1s"));
    let stale_value = taken_over.calls[0][2];
    for call in taken_over.within_grace() {
        assert_eq!(call[1], 0, "no compute within the grace");
        assert_eq!(call[2], stale_value, "the stale value served meanwhile");
    }
}

#[test]
fn a_twenty_second_compute_is_computed_once_by_three_processes() {
    let server = Redis::start();
    workers::three_processes_want_a_twenty_second_compute(&server.url("timeout=1s"));
}

#[test]
fn a_killed_cold_miss_holder_is_replaced_within_seconds() {
    let server = Redis::start();
    workers::a_cold_holder_is_killed(&server.url("timeout=1s"));
}

#[test]
fn a_killed_refresh_claimer_is_replaced_within_seconds() {
    let server = Redis::start();
    workers::a_refresh_claimer_is_killed(&server.url("timeout=1s"));
}

#[test]
fn a_killed_client_duty_holder_is_replaced_within_seconds() {
    let server = Redis::start();
    workers::a_client_duty_holder_is_killed(&server.url("timeout=1s"));
}

#[test]
fn twenty_thousand_leases_held_through_a_long_compute_are_all_kept() {
    let server = Redis::start();
    let url = server.url("timeout=2s");
    holds::every_lease_is_kept(&url, &url);
}

// ---- faults ----

#[test]
fn a_server_killed_and_restarted_costs_computes_then_caching_resumes() {
    outage::a_restart_costs_computes_then_caching_resumes(
        &mut Redis::start(),
        Calls::BlockingAndAsync,
    );
}

static RUNTIME_CALLS: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(soft = "1h", cache = "redis_runtimes", name = "redis::runtimes")]
async fn across_runtimes(id: u64) -> u64 {
    RUNTIME_CALLS.fetch_add(1, Ordering::SeqCst);
    id + 5
}

/// The async connection is made on the runtime of the first call; once
/// that runtime is gone, the next runtime's calls make a new one instead of
/// failing (a dead shared connection is not a down server).
#[test]
fn a_runtime_dropped_after_making_the_connection_costs_nothing() {
    let server = Redis::start();
    install_named(
        "redis_runtimes",
        Cache::from_url(&server.url("timeout=1s")).unwrap(),
    );
    for round in 0..3 {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        assert_eq!(runtime.block_on(across_runtimes(1)), 6, "round {round}");
        drop(runtime);
    }
    assert_eq!(
        RUNTIME_CALLS.load(Ordering::SeqCst),
        1,
        "computed once, then hits"
    );
    let stats = antidogpile::stats("redis::runtimes").unwrap();
    assert_eq!(stats.store_errors, 0, "{stats:?}");
}

#[test]
fn a_server_that_never_answers_costs_timeouts_not_a_hang() {
    outage::a_server_that_never_answers_costs_one_timeout("redis", Calls::BlockingAndAsync);
}

static HALF_CALLS: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(soft = "1h", cache = "redis_half", name = "redis::half")]
fn against_a_server_stalled_after_connecting(id: u64) -> u64 {
    HALF_CALLS.fetch_add(1, Ordering::SeqCst);
    id + 1
}

#[antidogpiled(soft = "1h", cache = "redis_half", name = "redis::half_async")]
async fn against_a_server_stalled_after_connecting_async(id: u64) -> u64 {
    HALF_CALLS.fetch_add(1, Ordering::SeqCst);
    id + 2
}

/// A server that completes the connection handshake (`CLIENT SETINFO`)
/// and then never answers: a new connection's request that times out
/// marks it down, so later calls do not wait on it.
#[test]
fn a_server_that_stalls_after_connecting_is_skipped_after_one_timeout() {
    let server = FakeServer::start(|mut stream| {
        let mut request = [0u8; 4096];
        while let Ok(n) = stream.read(&mut request) {
            if n == 0 {
                break;
            }
            let text = String::from_utf8_lossy(&request[..n]);
            for _ in 0..text.matches("SETINFO").count() {
                let _ = stream.write_all(b"+OK\r\n");
            }
        }
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    outage::a_stalled_server_costs_one_timeout_then_is_skipped(
        &server,
        "redis",
        "redis_half",
        || assert_eq!(against_a_server_stalled_after_connecting(1), 2),
        || {
            for _ in 0..3 {
                assert_eq!(against_a_server_stalled_after_connecting(1), 2);
                assert_eq!(
                    runtime.block_on(against_a_server_stalled_after_connecting_async(1)),
                    3
                );
            }
        },
        &HALF_CALLS,
        7,
    );
}

#[test]
fn a_server_replying_garbage_is_a_store_error_and_the_value_is_computed() {
    outage::garbage_replies_cost_computes_never_a_wrong_value(
        "redis",
        &[
            // A value where a script's table is due, and the claim of an
            // entry with no fields.
            b"$5\r\nhello\r\n",
            b"*5\r\n$7\r\nclaimed\r\n$2\r\nAD\r\n$1\r\nx\r\n$1\r\ny\r\n$1\r\nz\r\n",
            b"\x00\xff\xfe garbage\r\n",
            b"-ERR out of memory\r\n",
            b"*2\r\n$5\r\nlease\r\n$3\r\n-17\r\n",
            b":-1\r\n",
        ],
    );
}

static ODD_CALLS: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(soft = "1h", grace = "5s", cache = "redis_odd", name = "redis::odd")]
fn against_odd_read_replies(id: u64) -> u64 {
    ODD_CALLS.fetch_add(1, Ordering::SeqCst);
    id + 1
}

#[antidogpiled(
    soft = "1h",
    grace = "5s",
    cache = "redis_odd",
    name = "redis::odd_async"
)]
async fn against_odd_read_replies_async(id: u64) -> u64 {
    ODD_CALLS.fetch_add(1, Ordering::SeqCst);
    id + 2
}

/// A server that completes the handshake and answers every script with
/// `reply`: a read's reply of a shape the scripts never send (no table
/// for a read for use, a tag it does not know, a lease whose token is no
/// number) is a protocol error and the value is computed at once, not read
/// as another process's lease and waited for (the grace, 5 s here).
#[test]
fn a_read_reply_of_an_unknown_shape_is_computed_at_once_not_waited_for() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let replies: [&[u8]; 4] = [
        b"*1\r\n$4\r\nnone\r\n",
        b"*2\r\n$5\r\nlease\r\n$3\r\nxyz\r\n",
        b"*1\r\n$5\r\nlease\r\n",
        b"*1\r\n$7\r\nunknown\r\n",
    ];
    for reply in replies {
        let answer = reply.to_vec();
        let server = FakeServer::start(move |mut stream| {
            let mut request = [0u8; 4096];
            while let Ok(n) = stream.read(&mut request) {
                if n == 0 {
                    break;
                }
                let text = String::from_utf8_lossy(&request[..n]);
                for _ in 0..text.matches("SETINFO").count() {
                    let _ = stream.write_all(b"+OK\r\n");
                }
                for _ in 0..text.matches("EVALSHA").count() {
                    let _ = stream.write_all(&answer);
                }
            }
        });
        install_named(
            "redis_odd",
            Cache::from_url(&server.url("redis", "timeout=1s")).unwrap(),
        );
        let shown = String::from_utf8_lossy(reply).into_owned();
        let before = ODD_CALLS.load(Ordering::SeqCst);
        let started = Instant::now();
        assert_eq!(against_odd_read_replies(1), 2, "reply {shown:?}");
        let blocking = started.elapsed();
        let started = Instant::now();
        assert_eq!(
            runtime.block_on(against_odd_read_replies_async(1)),
            3,
            "reply {shown:?}"
        );
        let nonblocking = started.elapsed();
        assert!(
            blocking < Duration::from_millis(2500) && nonblocking < Duration::from_millis(2500),
            "reply {shown:?}: a blocking call took {blocking:?}, an async one {nonblocking:?}"
        );
        assert_eq!(
            ODD_CALLS.load(Ordering::SeqCst),
            before + 2,
            "reply {shown:?}"
        );
    }
}
static RESENT_CALLS: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(
    soft = "1h",
    grace = "8s",
    cache = "redis_resent",
    name = "redis::resent"
)]
fn with_a_reply_lost(id: u64) -> u64 {
    RESENT_CALLS.fetch_add(1, Ordering::SeqCst);
    id + 1
}

#[antidogpiled(
    soft = "1h",
    grace = "8s",
    cache = "redis_resent",
    name = "redis::resent_async"
)]
async fn with_a_reply_lost_async(id: u64) -> u64 {
    RESENT_CALLS.fetch_add(1, Ordering::SeqCst);
    id + 2
}

/// Redis runs a cold read (its script takes the key's lease) and the
/// connection drops before the reply arrives: the store sends the read
/// again on a new connection, which must know the lease for its own, not
/// another process's to wait for (the grace, 8 s here), nor leave it behind.
#[test]
fn a_read_resent_after_its_reply_was_lost_keeps_its_own_lease() {
    let server = Redis::start();
    let proxy = FaultProxy::start(server.port());
    let url = format!("redis://127.0.0.1:{}?timeout=1s&liveness=8s", proxy.port());
    install_named("redis_resent", Cache::from_url(&url).unwrap());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Each transport's connection made, so that the next read goes out on
    // it (and is sent again when it drops).
    assert_eq!(with_a_reply_lost(0), 1);
    assert_eq!(runtime.block_on(with_a_reply_lost_async(0)), 2);
    let blocking = || with_a_reply_lost(1) == 2;
    let nonblocking = || runtime.block_on(with_a_reply_lost_async(1)) == 3;
    let calls: [&dyn Fn() -> bool; 2] = [&blocking, &nonblocking];
    for (round, call) in calls.into_iter().enumerate() {
        let computes = RESENT_CALLS.load(Ordering::SeqCst);
        proxy.cut_next_reply(0);
        let started = Instant::now();
        assert!(call(), "round {round}");
        let took = started.elapsed();
        assert_eq!(
            proxy.cuts_done(),
            round + 1,
            "round {round}: no reply was lost"
        );
        assert!(
            took < Duration::from_millis(2500),
            "round {round}: a cold call whose read was resent took {took:?}"
        );
        assert_eq!(
            RESENT_CALLS.load(Ordering::SeqCst),
            computes + 1,
            "round {round}"
        );
        // The value was written under the lease: the next call hits.
        assert!(call(), "round {round}");
        assert_eq!(
            RESENT_CALLS.load(Ordering::SeqCst),
            computes + 1,
            "round {round}"
        );
    }
}

#[test]
fn a_stalled_server_costs_a_call_about_one_timeout_not_one_per_step() {
    outage::a_stalled_server_costs_a_call_about_one_timeout(&Redis::start());
}

static SLOW_CALLS: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(soft = "1h", grace = "8s", cache = "redis_slow", name = "redis::slow")]
fn during_a_hiccup(id: u64) -> u64 {
    SLOW_CALLS.fetch_add(1, Ordering::SeqCst);
    id + 1
}

/// A cold read that times out (the server stalled 800 ms, the timeout
/// 300 ms) still runs once the server answers again, and takes the key's
/// lease under its token: the store gives that lease back in the
/// background, so the next caller computes at once rather than wait for a
/// lease nobody holds (up to the window, 8 s here).
#[test]
fn a_hold_taken_by_a_read_that_timed_out_is_given_back() {
    let server = Redis::start();
    let url = server.url("timeout=300ms&retry_after=50ms&liveness=8s");
    install_named("redis_slow", Cache::from_url(&url).unwrap());
    assert_eq!(during_a_hiccup(0), 1);
    let stopped = Stopped::stop(&server);
    assert_eq!(during_a_hiccup(1), 2, "computed while the server stalls");
    std::thread::sleep(Duration::from_millis(500));
    drop(stopped);
    // The stalled read has run by the time the server answers this.
    assert_eq!(server.command(&["PING"]).unwrap(), "+PONG");
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    assert_eq!(during_a_hiccup(1), 2);
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(2500),
        "the call after a timed-out read took {took:?}: it waited for that read's lease"
    );
    assert_eq!(
        SLOW_CALLS.load(Ordering::SeqCst),
        3,
        "each call computed once"
    );
}

#[test]
fn a_server_killed_and_restarted_while_threads_call_never_yields_a_wrong_value() {
    outage::threads_call_through_a_restart(&mut Redis::start());
}

// ---- keys, prefixes and limits ----

#[test]
fn keys_are_any_bytes_under_the_prefix_and_large_values_are_served_not_cached() {
    let server = Redis::start();
    any_bytes_under_a_prefix_and_large_values(&server.url(PREFIX_AND_MAX), &|args| {
        server.command(args).unwrap()
    });
}

#[test]
fn on_a_cluster_keys_are_any_bytes_under_the_prefix_and_large_values_are_served_not_cached() {
    let cluster = RedisCluster::start();
    // The counts of every master, summed (a key lives on one of them).
    let summed = |args: &[&str]| {
        let total: u64 = cluster
            .nodes
            .iter()
            .map(|node| count_of(&node.command(args).unwrap()))
            .sum();
        format!("{total}")
    };
    any_bytes_under_a_prefix_and_large_values(&cluster.url(PREFIX_AND_MAX), &|args| match args {
        ["DBSIZE"] => format!(":{}", summed(args)),
        _ => format!("*{}\n", summed(args)),
    });
}

/// A prefix with a space and a colon, and values over 2,000 bytes not cached.
const PREFIX_AND_MAX: &str = "prefix=app%3A1%20&max_value=2000";

/// The count in a reply as redis-cli prints it: `:N` (an integer) or `*N`
/// followed by the N elements (an array).
fn count_of(reply: &str) -> u64 {
    reply
        .trim_start_matches([':', '*'])
        .lines()
        .next()
        .and_then(|count| count.trim().parse().ok())
        .unwrap_or(0)
}

/// Against the store of `url` (prefix `app:1 `, `max_value=2000`): a key of
/// any bytes is cached under the prefix, one key in the database (`command`
/// runs a command on it, as redis-cli prints the reply), and a value over
/// the limit is computed each time, not cached.
fn any_bytes_under_a_prefix_and_large_values(url: &str, command: &dyn Fn(&[&str]) -> String) {
    let cache = Cache::from_url(url).unwrap();
    let ttl = Duration::from_secs(60);
    let key = "a key\r\nwith \u{0} and spaces é";
    let computes = AtomicU64::new(0);
    let compute = |len: usize| {
        computes.fetch_add(1, Ordering::SeqCst);
        "x".repeat(len)
    };
    for _ in 0..3 {
        let got: String = cache.get_or_compute(&key, ttl, || compute(10));
        assert_eq!(got, "x".repeat(10));
    }
    assert_eq!(computes.load(Ordering::SeqCst), 1, "cached");
    let keys = command(&["KEYS", "*"]);
    assert!(
        keys.starts_with("*1\n"),
        "one key in the database, found {keys:?}"
    );
    assert_eq!(command(&["DBSIZE"]), ":1");
    // Every key starts with the prefix.
    assert!(command(&["KEYS", "app:1 *"]).starts_with("*1\n"));

    let big_key = "big";
    for _ in 0..2 {
        let got: String = cache.get_or_compute(&big_key, ttl, || compute(5_000));
        assert_eq!(got.len(), 5_000);
    }
    assert_eq!(
        computes.load(Ordering::SeqCst),
        3,
        "too large: computed each time, not cached"
    );
}

#[test]
fn a_unix_socket_a_database_and_a_password_are_used_as_the_url_says() {
    let socket = std::env::temp_dir().join(format!(
        "antidogpile-redis-{}-{}.sock",
        std::process::id(),
        antidogpile_test_support::memcached::free_port()
    ));
    let path = socket.to_string_lossy().into_owned();
    let server = Redis::start_with(&["--unixsocket", &path, "--unixsocketperm", "700"]);
    let computes = AtomicU64::new(0);
    let compute = || computes.fetch_add(1, Ordering::SeqCst) + 100;
    let ttl = Duration::from_secs(60);

    let unix = Cache::from_url(&format!("redis+unix://{path}?db=2")).unwrap();
    assert_eq!(unix.get_or_compute(&"k", ttl, compute), 100);
    assert_eq!(unix.get_or_compute(&"k", ttl, compute), 100, "cached");
    let keyspace = server.command(&["INFO", "keyspace"]).unwrap();
    assert!(keyspace.contains("db2:keys=1,"), "{keyspace}");
    assert!(!keyspace.contains("db0:"), "{keyspace}");

    // A password, and database 3 over TCP: a key of its own there.
    assert_eq!(
        server
            .command(&["CONFIG", "SET", "requirepass", "s:cret"])
            .unwrap(),
        "+OK"
    );
    let url = format!("redis://:s%3Acret@127.0.0.1:{}/3", server.port());
    let tcp = Cache::from_url(&url).unwrap();
    tcp.ping().expect("the password is accepted");
    assert_eq!(
        tcp.get_or_compute(&"k", ttl, compute),
        101,
        "db 3 is another database"
    );
    assert_eq!(tcp.get_or_compute(&"k", ttl, compute), 101, "cached");

    // A wrong password: an error for ping, and computed (never wrong) values.
    let wrong = Cache::from_url(&format!("redis://:nope@127.0.0.1:{}", server.port())).unwrap();
    assert!(wrong.ping().is_err(), "a wrong password answers ping");
    assert_eq!(wrong.get_or_compute(&"k", ttl, compute), 102);
    assert_eq!(wrong.get_or_compute(&"k", ttl, compute), 103);
    drop(server);
    let _ = std::fs::remove_file(&socket);
}

/// What another client left under a key (another type, a hash without the
/// store's fields, a plain string, an envelope of another format) is a miss:
/// the value is computed, right, and overwritten, so the next call is a hit.
#[test]
fn foreign_values_under_a_key_are_misses_and_overwritten() {
    let server = Redis::start();
    let cache = Cache::from_url(&server.url("prefix=t:")).unwrap();
    let ttl = Duration::from_secs(60);
    let computes = AtomicU64::new(0);
    let compute = || {
        computes.fetch_add(1, Ordering::SeqCst);
        (7u64, "seven".to_owned())
    };
    let right = (7u64, "seven".to_owned());
    assert_eq!(cache.get_or_compute(&"k", ttl, compute), right);
    let keys = server.command(&["KEYS", "t:*"]).unwrap();
    let key = keys.lines().nth(1).expect("the key").to_owned();
    let foreign: [&[&str]; 5] = [
        &["RPUSH", &key, "a", "b"],
        &["HSET", &key, "zz", "1"],
        &["SET", &key, "just a string"],
        &[
            "HSET",
            &key,
            "e",
            "AD\u{9}xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            "t",
            "1",
            "s",
            "0",
            "c",
            "0",
            "h",
            "99999999999999",
        ],
        &[
            "HSET", &key, "e", "AD", "t", "x", "s", "soon", "c", "", "h", "later",
        ],
    ];
    for (round, command) in foreign.iter().enumerate() {
        server.command(&["DEL", &key]).unwrap();
        let answer = server.command(command).unwrap();
        assert!(
            answer.starts_with(':') || answer == "+OK",
            "{command:?}: {answer}"
        );
        let before = computes.load(Ordering::SeqCst);
        assert_eq!(
            cache.get_or_compute(&"k", ttl, compute),
            right,
            "{command:?}"
        );
        assert_eq!(
            cache.get_or_compute(&"k", ttl, compute),
            right,
            "{command:?}"
        );
        assert_eq!(
            computes.load(Ordering::SeqCst),
            before + 1,
            "round {round}, {command:?}: computed once, then a hit"
        );
    }
}

// ---- a Redis Cluster of three masters ----

#[test]
fn on_a_cluster_four_processes_of_eight_threads_recompute_once_per_expiry() {
    let cluster = RedisCluster::start();
    let hammered = workers::four_processes_hammer_one_key(&cluster.url("timeout=1s"));
    assert!(hammered.expiries() >= 3, "{} expiries", hammered.expiries());
}

#[test]
fn on_a_cluster_a_killed_cold_miss_holder_is_replaced_within_seconds() {
    let cluster = RedisCluster::start();
    workers::a_cold_holder_is_killed(&cluster.url("timeout=1s"));
}

#[test]
fn on_a_cluster_a_killed_refresh_claimer_is_replaced_within_seconds() {
    let cluster = RedisCluster::start();
    workers::a_refresh_claimer_is_killed(&cluster.url("timeout=1s"));
}

static NODE_CALLS: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(soft = "1h", cache = "redis_cluster_node", name = "redis::node")]
fn on_the_cluster(id: u64) -> u64 {
    NODE_CALLS.fetch_add(1, Ordering::SeqCst);
    id * 11
}

#[antidogpiled(soft = "1h", cache = "redis_cluster_node", name = "redis::node_async")]
async fn on_the_cluster_async(id: u64) -> u64 {
    NODE_CALLS.fetch_add(1, Ordering::SeqCst);
    id * 13
}

/// Keys spread over the three masters' slots are cached; with one master
/// killed, every call still returns the right value without hanging.
#[test]
fn a_cluster_with_a_master_killed_is_slower_never_wrong() {
    let mut cluster = RedisCluster::start();
    let url = cluster.url("timeout=300ms&retry_after=100ms");
    install_named("redis_cluster_node", Cache::from_url(&url).unwrap());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let all = |round: &str| {
        for id in 0..30 {
            let started = Instant::now();
            assert_eq!(on_the_cluster(id), id * 11, "{round}");
            assert_eq!(
                runtime.block_on(on_the_cluster_async(id)),
                id * 13,
                "{round}"
            );
            assert!(
                started.elapsed() < HUNG,
                "{round}: took {:?}",
                started.elapsed()
            );
        }
    };
    all("first");
    assert_eq!(NODE_CALLS.load(Ordering::SeqCst), 60);
    all("cached");
    assert_eq!(NODE_CALLS.load(Ordering::SeqCst), 60, "all cached");
    let keys: usize = cluster
        .nodes
        .iter()
        .map(|node| {
            let size = node.command(&["DBSIZE"]).unwrap();
            size.trim_start_matches(':').parse::<usize>().unwrap()
        })
        .collect::<Vec<_>>()
        .iter()
        .inspect(|keys| assert!(**keys > 0, "a master holds no key"))
        .sum();
    assert!(keys >= 60, "{keys} keys on the masters");

    cluster.nodes[1].kill();
    all("a master killed");
    all("a master still down");
    // The keys of the dead master were computed again; the others' were
    // still served from their masters.
    let calls = NODE_CALLS.load(Ordering::SeqCst);
    assert!(
        calls > 60 && calls < 60 + 2 * 60,
        "{calls} computes: the dead master's keys only?"
    );
}

/// A batch of keys spread over the three masters' slots, blocking and async:
/// the misses computed once, in one call, and every key read back.
#[test]
fn on_a_cluster_batches_span_slots() {
    let cluster = RedisCluster::start();
    let cache = Cache::from_url(&cluster.url("timeout=1s")).unwrap();
    let ttl = Duration::from_secs(60);
    let keys: Vec<u64> = (0..100).collect();
    let batches = AtomicU64::new(0);
    let values = cache
        .get_or_compute_many(&keys, ttl, |missing: Vec<&u64>| {
            batches.fetch_add(1, Ordering::SeqCst);
            assert_eq!(missing.len(), 100, "all missing at first");
            missing.iter().map(|key| **key * 3).collect::<Vec<u64>>()
        })
        .unwrap();
    assert_eq!(values, keys.iter().map(|key| key * 3).collect::<Vec<_>>());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let again = runtime
        .block_on(
            cache
                .as_async()
                .get_or_compute_many(&keys, ttl, |_: Vec<&u64>| {
                    batches.fetch_add(1, Ordering::SeqCst);
                    async { Vec::<u64>::new() }
                }),
        )
        .unwrap();
    assert_eq!(again, values, "read back through the async transport");
    assert_eq!(
        batches.load(Ordering::SeqCst),
        1,
        "all cached after one batch"
    );
    runtime
        .block_on(
            cache
                .as_async()
                .delete_many(&keys, antidogpile::Invalidate::Hard),
        )
        .unwrap();
    let after = cache
        .get_or_compute_many(&keys, ttl, |missing: Vec<&u64>| {
            batches.fetch_add(1, Ordering::SeqCst);
            assert_eq!(missing.len(), 100, "all deleted");
            missing.iter().map(|key| **key * 3).collect::<Vec<u64>>()
        })
        .unwrap();
    assert_eq!(after, values);
    for node in &cluster.nodes {
        let size = node.command(&["DBSIZE"]).unwrap();
        let keys: usize = size.trim_start_matches(':').parse().unwrap();
        assert!(keys > 10, "a master holds {keys} of the 100 keys");
    }
}

// ---- connections ----

/// `total_connections_received` of the server (this INFO's own connection
/// included).
fn connections_received(server: &Redis) -> u64 {
    let info = server.command(&["INFO", "stats"]).unwrap();
    info.lines()
        .find_map(|line| line.strip_prefix("total_connections_received:"))
        .and_then(|count| count.trim().parse().ok())
        .unwrap()
}

#[test]
fn more_threads_than_the_pool_share_its_connections_instead_of_making_new_ones() {
    let server = Redis::start();
    let cache = Cache::from_url(&server.url("timeout=2s&pool=4")).unwrap();
    let keys: Vec<u64> = (0..16).collect();
    for &key in &keys {
        cache
            .set(&key, &(key * 3), std::time::Duration::from_secs(600))
            .unwrap();
    }
    let before = connections_received(&server);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for &key in &keys {
            let cache = &cache;
            scope.spawn(move || {
                for _ in 0..300 {
                    let got = cache.get::<u64, _>(&key).unwrap();
                    assert_eq!(got, antidogpile::Got::Fresh(key * 3));
                }
            });
        }
    });
    let took = started.elapsed();
    // Minus the INFO's own connection.
    let made = connections_received(&server) - before - 1;
    println!("16 threads, pool=4, 4800 hits: {made} connections made, {took:?}");
    assert!(
        made <= 4,
        "{made} connections made for 4800 hits by 16 threads on a pool of 4: \
         a call that finds every pooled connection busy connects anew"
    );
}

#[test]
fn on_a_cluster_more_threads_than_the_pool_share_its_connections() {
    let cluster = RedisCluster::start();
    let cache = Cache::from_url(&cluster.url("timeout=2s&pool=2")).unwrap();
    // Keys on every master.
    let keys: Vec<u64> = (0..16).collect();
    for &key in &keys {
        cache
            .set(&key, &(key * 5), std::time::Duration::from_secs(600))
            .unwrap();
    }
    let received = || -> u64 { cluster.nodes.iter().map(connections_received).sum() };
    let before = received();
    std::thread::scope(|scope| {
        for &key in &keys {
            let cache = &cache;
            scope.spawn(move || {
                for _ in 0..100 {
                    let got = cache.get::<u64, _>(&key).unwrap();
                    assert_eq!(got, antidogpile::Got::Fresh(key * 5));
                }
            });
        }
    });
    // Minus the INFOs' own connections, one per node.
    let made = received() - before - cluster.nodes.len() as u64;
    println!("16 threads, pool=2, 1600 hits on a cluster: {made} connections made");
    // A cluster connection connects to each master (3) once.
    assert!(
        made <= 2 * 3,
        "{made} connections made for 1600 hits by 16 threads on a pool of 2: \
         a call that finds every pooled cluster connection busy connects anew"
    );
}
