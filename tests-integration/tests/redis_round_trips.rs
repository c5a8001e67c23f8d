//! How many commands each operation sends to Redis, counted by the server
//! itself: `INFO commandstats` (calls per command, reset with `CONFIG
//! RESETSTAT` before each step).
//!
//! Redis counts the commands a Lua script runs as calls too, and a process
//! reads its namespaces' generations (two `EVALSHA`s, pipelined) at most
//! once a second before a memoized call: a per-process cost of `clear`, not
//! of the operation. The server's slow log, told to log every command,
//! names both (a script's commands come from the client `?:0`; a
//! generation read names a key under `antidogpile::generation`), and they
//! are subtracted, as are this test's own INFO, CONFIG and SLOWLOG.
//!
//! Every step of the store is one Lua script, and a read with intent to use
//! takes the claim or the lease in the same script, so: a fresh hit is 1
//! command (a plain `HMGET` where the process last saw the key fresh, the
//! read script elsewhere); a cold miss by the caller that computes is 2 (its read, which
//! takes the lease, and its write); a waiter in another process reads once
//! per poll; a stale hit by the caller that refreshes is 2 (its read, which
//! takes the claim, and its write); any other caller of a stale value reads
//! once; a soft invalidation is 1; giving a claim or a lease back is 1.
//!
//! "Another process" is a second cache: nothing in process is shared
//! between two caches. The steps run one after the other, so the server's
//! counts of a step are that step's.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use antidogpile::{antidogpiled, install_named, Cache, Got, Ttl};
use antidogpile_test_support::redis::Redis;

/// Past the soft deadline of 1 s (Redis's deadlines are milliseconds).
const PAST_SOFT: Duration = Duration::from_millis(1_200);

/// A redis-server that logs every command in its slow log.
fn server() -> Redis {
    Redis::start_with(&[
        "--slowlog-log-slower-than",
        "0",
        "--slowlog-max-len",
        "100000",
    ])
}

/// The server's view of what clients sent.
struct Counter {
    connection: redis::Connection,
}

/// What the clients sent during a step, per command, without the commands
/// scripts ran, the generation reads and the counter's own commands.
#[derive(Debug)]
struct Sent {
    commands: BTreeMap<String, u64>,
    /// The generation reads subtracted (for the record).
    generation_reads: u64,
    /// `EVALSHA` script digests, in order (from the slow log).
    scripts: Vec<String>,
}

impl Sent {
    fn total(&self) -> u64 {
        self.commands.values().sum()
    }
}

fn is_counters_own(command: &str) -> bool {
    command == "info" || command.starts_with("config|") || command.starts_with("slowlog|")
}

impl Counter {
    fn new(server: &Redis) -> Counter {
        let client = redis::Client::open(server.url("")).unwrap();
        Counter {
            connection: client.get_connection().unwrap(),
        }
    }

    fn reset(&mut self) {
        redis::cmd("SLOWLOG")
            .arg("RESET")
            .exec(&mut self.connection)
            .unwrap();
        redis::cmd("CONFIG")
            .arg("RESETSTAT")
            .exec(&mut self.connection)
            .unwrap();
    }

    /// Calls per command since the last reset, from `INFO commandstats`.
    fn commandstats(&mut self) -> BTreeMap<String, u64> {
        let info: String = redis::cmd("INFO")
            .arg("commandstats")
            .query(&mut self.connection)
            .unwrap();
        let mut calls = BTreeMap::new();
        for line in info.lines() {
            let Some(rest) = line.strip_prefix("cmdstat_") else {
                continue;
            };
            let (name, fields) = rest.split_once(':').unwrap();
            let count: u64 = fields
                .split(',')
                .find_map(|field| field.strip_prefix("calls="))
                .unwrap()
                .parse()
                .unwrap();
            calls.insert(name.to_owned(), count);
        }
        calls
    }

    /// The slow log since the last reset: (client address, argv).
    fn slowlog(&mut self) -> Vec<(String, Vec<String>)> {
        let entries: Vec<redis::Value> = redis::cmd("SLOWLOG")
            .arg("GET")
            .arg(-1)
            .query(&mut self.connection)
            .unwrap();
        let text = |value: &redis::Value| match value {
            redis::Value::BulkString(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            redis::Value::SimpleString(text) => text.clone(),
            other => format!("{other:?}"),
        };
        entries
            .iter()
            .map(|entry| {
                let redis::Value::Array(fields) = entry else {
                    panic!("a slow log entry: {entry:?}")
                };
                let redis::Value::Array(argv) = &fields[3] else {
                    panic!("a slow log entry's arguments: {entry:?}")
                };
                (text(&fields[4]), argv.iter().map(text).collect())
            })
            .rev()
            .collect()
    }

    /// What the clients sent since the last reset.
    fn sent(&mut self) -> Sent {
        let mut commands = self.commandstats();
        commands.retain(|name, _| !is_counters_own(name));
        let mut generation_reads = 0;
        let mut scripts = Vec::new();
        for (client, argv) in self.slowlog() {
            let name = argv[0].to_ascii_lowercase();
            let name = match argv.get(1) {
                Some(sub) if name == "config" || name == "script" || name == "client" => {
                    format!("{name}|{}", sub.to_ascii_lowercase())
                }
                _ => name,
            };
            if is_counters_own(&name) {
                continue;
            }
            let by_script = client == "?:0";
            let generation = !by_script
                && name == "evalsha"
                && argv
                    .get(3)
                    .is_some_and(|key| key.contains("antidogpile::generation"));
            if by_script || generation {
                let Some(calls) = commands.get_mut(&name) else {
                    panic!("{name} in the slow log, not in commandstats: {argv:?}")
                };
                *calls -= 1;
                generation_reads += u64::from(generation);
            } else if name == "evalsha" {
                scripts.push(argv[1].clone());
            }
        }
        commands.retain(|_, calls| *calls > 0);
        Sent {
            commands,
            generation_reads,
            scripts,
        }
    }

    /// Counts what `step` sends.
    fn count<T>(&mut self, step: impl FnOnce() -> T) -> (T, Sent) {
        self.reset();
        let out = step();
        (out, self.sent())
    }

    /// Waits (a few seconds at most) until the clients sent `commands`
    /// since the last reset: for what the liveness thread sends on its own.
    fn sent_eventually(&mut self, commands: u64) -> Sent {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.sent().total() < commands && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        // Anything more would come at once: give it a moment to show.
        std::thread::sleep(Duration::from_millis(200));
        self.sent()
    }
}

/// Asserts the step sent `commands` `EVALSHA`s and nothing else.
fn assert_scripts(step: &str, sent: &Sent, commands: u64) {
    assert_sent(step, sent, &[("evalsha", commands)]);
}

/// Asserts the step sent these commands, so many of each, and nothing else.
fn assert_sent(step: &str, sent: &Sent, expected: &[(&str, u64)]) {
    let expected: BTreeMap<String, u64> = expected
        .iter()
        .map(|&(name, calls)| (name.to_owned(), calls))
        .collect();
    assert_eq!(
        sent.commands, expected,
        "{step}: expected {expected:?}, sent {sent:?}"
    );
    println!(
        "{step}: {:?} (generation reads subtracted: {})",
        sent.commands, sent.generation_reads
    );
}

/// A fresh hit of a key this process last saw fresh: one plain `HMGET`,
/// no script.
fn assert_plain_read(step: &str, sent: &Sent) {
    assert_sent(step, sent, &[("hmget", 1)]);
}

fn cache(server: &Redis) -> Cache {
    Cache::from_url(&server.url("timeout=2s")).unwrap()
}

static REPORT_COMPUTES: AtomicUsize = AtomicUsize::new(0);

#[antidogpiled(
    soft = "1s",
    factor = 4,
    cache = "redis_round_trips_sync",
    name = "redis_round_trips::report"
)]
fn report(customer: u64) -> u64 {
    REPORT_COMPUTES.fetch_add(1, Ordering::SeqCst);
    customer * 10 + REPORT_COMPUTES.load(Ordering::SeqCst) as u64
}

#[test]
fn a_memoized_fn_misses_hits_and_refreshes_in_the_fewest_commands() {
    let server = server();
    let mut counter = Counter::new(&server);
    install_named("redis_round_trips_sync", cache(&server));
    // The first call also connects and reads the generations: not counted.
    report(0);

    let (first, cold) = counter.count(|| report(7));
    assert_eq!(REPORT_COMPUTES.load(Ordering::SeqCst), 2);
    assert_scripts("a cold miss, computed here", &cold, 2);

    let (hit, fresh) = counter.count(|| report(7));
    assert_eq!(hit, first);
    assert_plain_read("a fresh hit", &fresh);

    std::thread::sleep(PAST_SOFT);
    let (stale, refresh) = counter.count(|| report(7));
    assert_eq!(
        REPORT_COMPUTES.load(Ordering::SeqCst),
        3,
        "refreshed here: {refresh:?}"
    );
    assert_ne!(stale, first, "the refreshing caller returns its new value");
    assert_scripts("a stale hit, refreshed here", &refresh, 2);
    // The read and the write are two different scripts.
    assert_ne!(refresh.scripts[0], refresh.scripts[1]);

    let (hit, fresh) = counter.count(|| report(7));
    assert_eq!(hit, stale);
    assert_plain_read("a fresh hit after the refresh", &fresh);
}

static SUMMARY_COMPUTES: AtomicUsize = AtomicUsize::new(0);

#[antidogpiled(
    soft = "1s",
    factor = 4,
    cache = "redis_round_trips_async",
    name = "redis_round_trips::summary"
)]
async fn summary(customer: u64) -> u64 {
    SUMMARY_COMPUTES.fetch_add(1, Ordering::SeqCst);
    tokio::task::yield_now().await;
    customer + 1
}

#[test]
fn an_async_memoized_fn_misses_hits_and_refreshes_in_the_fewest_commands() {
    let server = server();
    let mut counter = Counter::new(&server);
    install_named("redis_round_trips_async", cache(&server));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // The first call also connects and reads the generations: not counted.
    runtime.block_on(summary(0));

    let (value, cold) = counter.count(|| runtime.block_on(summary(41)));
    assert_eq!(value, 42);
    assert_scripts("a cold miss, computed here (async)", &cold, 2);

    let (value, fresh) = counter.count(|| runtime.block_on(summary(41)));
    assert_eq!(value, 42);
    assert_plain_read("a fresh hit (async)", &fresh);
    assert_eq!(SUMMARY_COMPUTES.load(Ordering::SeqCst), 2);

    std::thread::sleep(PAST_SOFT);
    let (value, refresh) = counter.count(|| runtime.block_on(summary(41)));
    assert_eq!(value, 42);
    assert_eq!(SUMMARY_COMPUTES.load(Ordering::SeqCst), 3, "{refresh:?}");
    assert_scripts("a stale hit, refreshed here (async)", &refresh, 2);
}

#[test]
fn the_client_claims_leases_and_invalidates_in_the_fewest_commands() {
    let server = server();
    let mut counter = Counter::new(&server);
    // Two processes' caches.
    let a = cache(&server);
    let b = cache(&server);
    let ttl = Ttl::soft(Duration::from_secs(1)).factor(4);
    // Connect both (not counted).
    let _ = a.get::<u64, _>("warm").unwrap();
    let _ = b.get::<u64, _>("warm").unwrap();

    // A cold miss: A leases in its read, B is told to wait in one read.
    let (got, read) = counter.count(|| a.get::<u64, _>("k").unwrap());
    let Got::Recompute(None, duty) = got else {
        panic!("the first caller computes: {got:?}")
    };
    assert_scripts("a cold get, leased", &read, 1);
    let (got, wait) = counter.count(|| b.get::<u64, _>("k").unwrap());
    assert_eq!(got, Got::Pending);
    assert_scripts("a cold get in another process", &wait, 1);
    let (landed, write) = counter.count(|| duty.set(&1u64, ttl).unwrap());
    assert!(landed);
    assert_scripts("the leased write", &write, 1);
    let (got, fresh) = counter.count(|| b.get::<u64, _>("k").unwrap());
    assert_eq!(got, Got::Fresh(1));
    assert_scripts("a fresh get", &fresh, 1);

    // Stale by time: A claims in its read, B is served the stale value.
    std::thread::sleep(PAST_SOFT);
    let (got, read) = counter.count(|| a.get::<u64, _>("k").unwrap());
    let Got::Recompute(Some(1), duty) = got else {
        panic!("the first caller after the soft deadline refreshes: {got:?}")
    };
    assert_scripts("a stale get, claimed", &read, 1);
    let (got, stale) = counter.count(|| b.get::<u64, _>("k").unwrap());
    assert_eq!(got, Got::Stale(1));
    assert_scripts("a stale get in another process", &stale, 1);
    let (landed, write) = counter.count(|| duty.set(&2u64, ttl).unwrap());
    assert!(landed);
    assert_scripts("the claimed write", &write, 1);

    // A soft invalidation is one script; the next reader claims the
    // refresh in its read, the others are served the stale value.
    let (marked, delete) = counter.count(|| a.delete("k").unwrap());
    assert!(marked);
    assert_scripts("a soft delete", &delete, 1);
    let (got, read) = counter.count(|| b.get::<u64, _>("k").unwrap());
    let Got::Recompute(Some(2), duty) = got else {
        panic!("the first caller after a soft delete refreshes: {got:?}")
    };
    assert_scripts("a get after a soft delete, claimed", &read, 1);
    let (got, stale) = counter.count(|| a.get::<u64, _>("k").unwrap());
    assert_eq!(got, Got::Stale(2));
    assert_scripts("a get after a soft delete in another process", &stale, 1);

    // Giving the claim back: one script; the next reader claims.
    counter.reset();
    drop(duty);
    let release = counter.sent_eventually(1);
    assert_scripts("a claim given back", &release, 1);
    let (got, read) = counter.count(|| a.get::<u64, _>("k").unwrap());
    let Got::Recompute(Some(2), duty) = got else {
        panic!("a claim given back is taken by the next caller: {got:?}")
    };
    assert_scripts("a get after a claim was given back", &read, 1);
    drop(duty);

    // Giving a lease back: one script.
    let Got::Recompute(None, duty) = a.get::<u64, _>("cold").unwrap() else {
        panic!("the first caller computes")
    };
    counter.reset();
    drop(duty);
    let release = counter.sent_eventually(1);
    assert_scripts("a lease given back", &release, 1);
    let (got, read) = counter.count(|| b.get::<u64, _>("cold").unwrap());
    assert!(got.must_recompute(), "a lease given back: {got:?}");
    assert_scripts("a get after a lease was given back", &read, 1);
}

#[test]
fn a_waiter_in_another_process_reads_once_per_poll_and_wakes_soon() {
    let server = server();
    let mut counter = Counter::new(&server);
    let a = cache(&server);
    let b = cache(&server);
    let ttl = Duration::from_secs(60);
    // Connect B; its read of a fresh key names the read script.
    a.set("warm", &0u64, ttl).unwrap();
    let (_, read) = counter.count(|| b.get::<u64, _>("warm").unwrap());
    assert_scripts("a fresh get", &read, 1);
    let read_script = read.scripts[0].clone();
    let Got::Recompute(None, duty) = a.get::<u64, _>("slow").unwrap() else {
        panic!("the first caller computes")
    };
    let computes = AtomicUsize::new(0);
    let (landed_tx, landed_rx) = mpsc::channel::<(Instant, Sent)>();
    counter.reset();
    let (value, woke) = std::thread::scope(|scope| {
        let waiter = scope.spawn(|| {
            let value = b.get_or_compute("slow", ttl, || {
                computes.fetch_add(1, Ordering::SeqCst);
                0u64
            });
            (value, Instant::now())
        });
        std::thread::sleep(Duration::from_millis(400));
        // What B sent while it waited, before A's write.
        let waiting = counter.sent();
        assert!(duty.set(&9u64, ttl).unwrap());
        landed_tx.send((Instant::now(), waiting)).unwrap();
        waiter.join().unwrap()
    });
    let (landed, waiting) = landed_rx.recv().unwrap();
    let delay = woke.saturating_duration_since(landed);
    println!(
        "waiter in another process: {:?} while waiting 400 ms, woke {delay:?} after the write",
        waiting.commands
    );
    assert_eq!(value, 9, "the waiter gets the other process's value");
    assert_eq!(computes.load(Ordering::SeqCst), 0);
    // Only reads, one per poll (every 10 to 50 ms: 8 to 40 in 400 ms,
    // at least 2 on a loaded machine).
    let polls = waiting.commands.get("evalsha").copied().unwrap_or(0);
    assert_eq!(waiting.total(), polls, "a waiter only reads: {waiting:?}");
    assert!(
        (2..=60).contains(&polls),
        "{polls} reads in 400 ms: {waiting:?}"
    );
    assert!(
        waiting.scripts.iter().all(|sha| *sha == read_script),
        "a waiter only runs the read script: {waiting:?}"
    );
    assert!(
        delay < Duration::from_millis(500),
        "woke {delay:?} after the write"
    );
}

/// A process reads a key it last saw fresh with a plain `HMGET`; when
/// another process has invalidated it meanwhile, the `HMGET` finds it stale
/// and the read script follows, taking the claim: one command more, and
/// never the invalidated value served as fresh.
#[test]
fn a_key_invalidated_by_another_process_is_read_again_by_the_script_and_claimed() {
    let server = server();
    let mut counter = Counter::new(&server);
    let (a, b) = (cache(&server), cache(&server));
    let ttl = Ttl::soft(Duration::from_secs(60)).factor(4);
    let _ = b.get::<u64, _>("warm").unwrap();
    a.set("k", &1u64, ttl).unwrap();

    let (got, fresh) = counter.count(|| a.get::<u64, _>("k").unwrap());
    assert_eq!(got, Got::Fresh(1));
    assert_plain_read("a fresh get of a key written here", &fresh);

    let (marked, delete) = counter.count(|| b.delete("k").unwrap());
    assert!(marked);
    assert_scripts("a soft delete in another process", &delete, 1);

    let (got, read) = counter.count(|| a.get::<u64, _>("k").unwrap());
    let Got::Recompute(Some(1), duty) = got else {
        panic!("the invalidated value is stale, and this caller refreshes it: {got:?}")
    };
    assert_sent(
        "a get of a key invalidated elsewhere",
        &read,
        &[("hmget", 1), ("evalsha", 1)],
    );
    assert!(duty.set(&2u64, ttl).unwrap());
    let (got, fresh) = counter.count(|| a.get::<u64, _>("k").unwrap());
    assert_eq!(got, Got::Fresh(2));
    assert_plain_read("a fresh get after the refresh", &fresh);
}
