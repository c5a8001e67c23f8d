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

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::Duration;

use antidogpile::{Cache, Got, Ttl};
use antidogpile_test_support::redis::{Redis, RedisCluster};
use common::round_trips::{self, Meter, Party, Step};

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

/// The servers' view of what clients sent (one server, or every master of
/// a cluster, their counts summed).
struct Counter {
    connections: Vec<RefCell<redis::Connection>>,
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
        Counter::of(std::slice::from_ref(server))
    }

    /// Counts what every one of `servers` is sent, each told to log every
    /// command in its slow log.
    fn of(servers: &[Redis]) -> Counter {
        let connections = servers
            .iter()
            .map(|server| {
                let client = redis::Client::open(server.url("")).unwrap();
                let mut connection = client.get_connection().unwrap();
                for (name, value) in [
                    ("slowlog-log-slower-than", "0"),
                    ("slowlog-max-len", "100000"),
                ] {
                    redis::cmd("CONFIG")
                        .arg("SET")
                        .arg(name)
                        .arg(value)
                        .exec(&mut connection)
                        .unwrap();
                }
                RefCell::new(connection)
            })
            .collect();
        Counter { connections }
    }

    fn reset(&self) {
        for connection in &self.connections {
            redis::cmd("SLOWLOG")
                .arg("RESET")
                .exec(&mut *connection.borrow_mut())
                .unwrap();
            redis::cmd("CONFIG")
                .arg("RESETSTAT")
                .exec(&mut *connection.borrow_mut())
                .unwrap();
        }
    }

    /// Calls per command since the last reset, from `INFO commandstats`.
    fn commandstats(&self) -> BTreeMap<String, u64> {
        let mut calls = BTreeMap::new();
        for connection in &self.connections {
            let info: String = redis::cmd("INFO")
                .arg("commandstats")
                .query(&mut *connection.borrow_mut())
                .unwrap();
            Self::add_calls(&info, &mut calls);
        }
        calls
    }

    fn add_calls(info: &str, calls: &mut BTreeMap<String, u64>) {
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
            *calls.entry(name.to_owned()).or_default() += count;
        }
    }

    /// The slow log since the last reset: (client address, argv).
    fn slowlog(&self) -> Vec<(String, Vec<String>)> {
        let entries: Vec<redis::Value> = self
            .connections
            .iter()
            .flat_map(|connection| {
                redis::cmd("SLOWLOG")
                    .arg("GET")
                    .arg(-1)
                    .query::<Vec<redis::Value>>(&mut *connection.borrow_mut())
                    .unwrap()
            })
            .collect();
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
    fn sent(&self) -> Sent {
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
}

impl Meter for Counter {
    type Sent = Sent;

    /// Counts what `step` sends (the server counts every party's commands).
    fn count<T>(&self, _: Party, step: impl FnOnce() -> T) -> (T, Sent) {
        self.reset();
        let out = step();
        (out, self.sent())
    }

    fn count_eventually(&self, _: Party, commands: usize, event: impl FnOnce()) -> Sent {
        self.reset();
        event();
        round_trips::settle(|| self.sent().total() >= commands as u64);
        self.sent()
    }

    /// Every step of the store is one script, but a memoized call that
    /// computes (its read and its write) and a fresh hit of a key this
    /// process last saw fresh (a plain `HMGET`).
    fn expect(&self, step: Step, label: &str, sent: &Sent) {
        if step == Step::FreshHitSeenHere {
            return assert_plain_read(label, sent);
        }
        let commands = match step {
            Step::FreshHitSeenHere => unreachable!("answered above"),
            Step::ReadAndWrite | Step::LateRefresh => 2,
            Step::Read | Step::StaleGetClaims | Step::Write | Step::SoftDelete | Step::GiveBack => {
                1
            }
        };
        assert_scripts(label, sent, commands);
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

#[test]
fn a_memoized_fn_misses_hits_and_refreshes_in_the_fewest_commands() {
    let server = server();
    let counter = Counter::new(&server);
    let refresh =
        round_trips::a_memoized_fn_misses_hits_and_refreshes(&counter, cache(&server), PAST_SOFT);
    // The read and the write are two different scripts.
    assert_ne!(refresh.scripts[0], refresh.scripts[1]);
}

#[test]
fn an_async_memoized_fn_misses_hits_and_refreshes_in_the_fewest_commands() {
    let server = server();
    let counter = Counter::new(&server);
    round_trips::an_async_memoized_fn_misses_and_hits(&counter, cache(&server), Some(PAST_SOFT));
}

#[test]
fn the_client_claims_leases_and_invalidates_in_the_fewest_commands() {
    let server = server();
    let counter = Counter::new(&server);
    // Two processes' caches.
    let a = cache(&server);
    let b = cache(&server);
    // Connect both (not counted).
    let _ = a.get::<u64, _>("warm").unwrap();
    let _ = b.get::<u64, _>("warm").unwrap();
    round_trips::the_client_claims_leases_and_invalidates(&counter, &a, &b, PAST_SOFT);
}

#[test]
fn a_waiter_in_another_process_reads_once_per_poll_and_wakes_soon() {
    let server = server();
    let counter = Counter::new(&server);
    let a = cache(&server);
    let b = cache(&server);
    // Connect B; its read of a fresh key names the read script.
    a.set("warm", &0u64, Duration::from_secs(60)).unwrap();
    let (_, read) = counter.count(Party::B, || b.get::<u64, _>("warm").unwrap());
    assert_scripts("a fresh get", &read, 1);
    let read_script = read.scripts[0].clone();
    // What B sent while it waited, before A's write.
    let waited = round_trips::a_waiter_in_another_process_wakes_soon(
        &a,
        &b,
        || counter.reset(),
        || counter.sent(),
    );
    let waiting = waited.while_waiting;
    println!(
        "waiter in another process: {:?} while waiting 400 ms, woke {:?} after the write",
        waiting.commands, waited.delay
    );
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
}

/// A process reads a key it last saw fresh with a plain `HMGET`; when
/// another process has invalidated it meanwhile, the `HMGET` finds it stale
/// and the read script follows, taking the claim: one command more, and
/// never the invalidated value served as fresh.
#[test]
fn a_key_invalidated_by_another_process_is_read_again_by_the_script_and_claimed() {
    let server = server();
    let counter = Counter::new(&server);
    let (a, b) = (cache(&server), cache(&server));
    let ttl = Ttl::soft(Duration::from_secs(60)).factor(4);
    let _ = b.get::<u64, _>("warm").unwrap();
    a.set("k", &1u64, ttl).unwrap();

    let (got, fresh) = counter.count(Party::A, || a.get::<u64, _>("k").unwrap());
    assert_eq!(got, Got::Fresh(1));
    assert_plain_read("a fresh get of a key written here", &fresh);

    let (marked, delete) = counter.count(Party::B, || b.delete("k").unwrap());
    assert!(marked);
    assert_scripts("a soft delete in another process", &delete, 1);

    let (got, read) = counter.count(Party::A, || a.get::<u64, _>("k").unwrap());
    let Got::Recompute(Some(1), duty) = got else {
        panic!("the invalidated value is stale, and this caller refreshes it: {got:?}")
    };
    assert_sent(
        "a get of a key invalidated elsewhere",
        &read,
        &[("hmget", 1), ("evalsha", 1)],
    );
    assert!(duty.set(&2u64, ttl).unwrap());
    let (got, fresh) = counter.count(Party::A, || a.get::<u64, _>("k").unwrap());
    assert_eq!(got, Got::Fresh(2));
    assert_plain_read("a fresh get after the refresh", &fresh);
}

/// The same counts on a three-master cluster (every master's counts summed:
/// each command goes to the one master of its key's slot).
#[test]
fn on_a_cluster_a_memoized_fn_misses_hits_and_refreshes_in_the_fewest_commands() {
    let cluster = RedisCluster::start();
    let counter = Counter::of(&cluster.nodes);
    let cache = Cache::from_url(&cluster.url("timeout=2s")).unwrap();
    let refresh = round_trips::a_memoized_fn_misses_hits_and_refreshes(&counter, cache, PAST_SOFT);
    assert_eq!(refresh.scripts.len(), 2, "{refresh:?}");
    assert_ne!(refresh.scripts[0], refresh.scripts[1]);
}

#[test]
fn on_a_cluster_the_client_claims_leases_and_invalidates_in_the_fewest_commands() {
    let cluster = RedisCluster::start();
    let counter = Counter::of(&cluster.nodes);
    let a = Cache::from_url(&cluster.url("timeout=2s")).unwrap();
    let b = Cache::from_url(&cluster.url("timeout=2s")).unwrap();
    // Connect both (not counted).
    let _ = a.get::<u64, _>("warm").unwrap();
    let _ = b.get::<u64, _>("warm").unwrap();
    round_trips::the_client_claims_leases_and_invalidates(&counter, &a, &b, PAST_SOFT);
}
