//! Workload 4b, Redis: fresh hits of a memoized function through
//! antidogpile's `RedisStore` against a plain `GET` of the same 100-byte
//! values through the same client library (redis-rs, a sync connection per
//! thread); and the stampede across processes (this program started again
//! as worker processes), antidogpile against a naive get/compute/set.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use antidogpile::antidogpiled;
use antidogpile_test_support::redis::Redis;

use crate::hit_path::value;
use crate::measure::{ratio, show_ns, show_of};
use crate::memcached::{hits, HitRow, StampedeRow, THREADS};
use crate::stampede::{count_expiries, COMPUTE};

/// The name the Redis cache is installed under.
const CACHE: &str = "redis";
/// Distinct keys of the hit workload (as memcached's).
const KEYS: u64 = 1_000;
/// The hot key of the stampede.
const HOT: u64 = 7;
/// The naive cache's TTL in Redis.
const NAIVE_TTL_MS: u64 = 200;
/// Pause between two calls of one caller in the stampede.
const THINK: Duration = Duration::from_millis(1);

#[antidogpiled(soft = "1h", cache = "redis")]
fn redis_hit(key: u64) -> String {
    value(key)
}

#[antidogpiled(soft = "200ms", factor = 10, grace = "5s", cache = "redis")]
fn redis_hot(key: u64) -> String {
    backend(key)
}

fn wall_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Set in worker processes: their computes are reported to the parent.
static IN_WORKER: AtomicBool = AtomicBool::new(false);

/// The compute of the stampede: a worker prints its span for the parent.
fn backend(key: u64) -> String {
    let start = wall_us();
    std::thread::sleep(COMPUTE);
    if IN_WORKER.load(Ordering::Relaxed) {
        println!("compute {start} {}", wall_us());
    }
    value(key)
}

/// A redis-server of the bench's own, on a free loopback port, stopped
/// when dropped.
pub fn start() -> Result<Redis, String> {
    Redis::try_start_with(&[]).map_err(|error| error.to_string())
}

/// Installs antidogpile's cache of the server on `port` under [`CACHE`].
pub fn install(port: u16) -> Result<(), String> {
    let url = format!("redis://127.0.0.1:{port}");
    let cache = antidogpile::Cache::from_url(&url).map_err(|e| e.to_string())?;
    antidogpile::install_named(CACHE, cache);
    Ok(())
}

fn connect(port: u16) -> Result<::redis::Connection, String> {
    ::redis::Client::open(format!("redis://127.0.0.1:{port}"))
        .and_then(|client| client.get_connection())
        .map_err(|e| e.to_string())
}

thread_local! {
    /// Each caller thread's own redis-rs connection (the plain client).
    static PLAIN: RefCell<Option<::redis::Connection>> = const { RefCell::new(None) };
}

/// A plain `GET` through this thread's own connection (empty on an error).
fn plain_get(port: u16, key: &str) -> String {
    PLAIN.with(|slot| {
        let mut slot = slot.borrow_mut();
        if slot.is_none() {
            *slot = connect(port).ok();
        }
        let Some(connection) = slot.as_mut() else {
            return String::new();
        };
        ::redis::cmd("GET")
            .arg(key)
            .query::<Option<String>>(connection)
            .ok()
            .flatten()
            .unwrap_or_default()
    })
}

/// The clients of the hit table, in its order; the first is the floor.
pub const CLIENTS: [&str; 2] = [
    "redis-rs `GET`, a sync connection per thread (the floor)",
    "antidogpile, `#[antidogpiled]` fn on `redis://`",
];

/// A row per [`CLIENTS`] at each of [`THREADS`], best (by mean) of `rounds`.
pub fn run_hits(port: u16, calls: u64, rounds: usize) -> Result<Vec<[HitRow; 2]>, String> {
    let mut setup = connect(port)?;
    let keys: Vec<String> = (0..KEYS).map(|k| format!("plain:{k}")).collect();
    for (k, key) in keys.iter().enumerate() {
        ::redis::cmd("SET")
            .arg(key)
            .arg(value(k as u64))
            .exec(&mut setup)
            .map_err(|e| e.to_string())?;
        redis_hit(k as u64);
    }
    let mut rows = Vec::new();
    for threads in THREADS {
        let mut best: [Option<HitRow>; 2] = [None, None];
        for _ in 0..rounds {
            let measured = [
                hits(threads, calls, |k| plain_get(port, &keys[k as usize])),
                hits(threads, calls, redis_hit),
            ];
            for (slot, row) in best.iter_mut().zip(measured) {
                if slot.as_ref().is_none_or(|b| row.mean < b.mean) {
                    *slot = Some(row);
                }
            }
        }
        let [Some(plain), Some(ours)] = best else {
            return Err("no rounds measured".to_owned());
        };
        rows.push([plain, ours]);
    }
    Ok(rows)
}

/// The hit rows as a table, with each row's ratio to the floor.
pub fn hits_table(rows: &[[HitRow; 2]]) -> String {
    let mut out = String::from(
        "| threads | client | hits/s | mean | p50 | p99 | × `GET` floor (mean) |\n|---|---|---:|---:|---:|---:|---:|\n",
    );
    for (threads, row) in THREADS.iter().zip(rows) {
        for (name, client) in CLIENTS.iter().zip(row) {
            let _ = writeln!(
                out,
                "| {threads} | {name} | {:.0} | {} | {} | {} | {} |",
                client.hits_per_second,
                show_ns(client.mean),
                show_of(&client.latency, client.latency.p50),
                show_of(&client.latency, client.latency.p99),
                ratio(client.mean, row[0].mean),
            );
        }
    }
    out
}

/// The Redis targets, as rows of the targets table.
pub fn targets(hits: &[[HitRow; 2]], stampede: &[(&str, StampedeRow)]) -> String {
    let mut out = String::from("| target | measured | met |\n|---|---|---|\n");
    for (threads, row) in THREADS.iter().zip(hits) {
        let times = row[1].mean / row[0].mean;
        let _ = writeln!(
            out,
            "| a fresh hit through Redis ≤ 1.15× a plain `GET` (redis-rs), {threads} thread(s) | mean {} vs {}: {times:.2}× | {} |",
            show_ns(row[1].mean),
            show_ns(row[0].mean),
            if times <= 1.15 { "yes" } else { "**no**" }
        );
    }
    for (name, row) in stampede {
        if *name == "antidogpile" {
            let _ = writeln!(
                out,
                "| computes per expiry = 1 across processes on Redis | {}/{} | {} |",
                row.computes,
                row.expiries,
                if row.computes == row.expiries {
                    "yes"
                } else {
                    "**no**"
                }
            );
        }
    }
    out
}

/// The stampede rows as a table.
pub fn stampede_table(
    rows: &[(&str, StampedeRow)],
    processes: usize,
    threads: usize,
    duration: Duration,
) -> String {
    let mut out = format!(
        "{processes} processes × {threads} threads on one hot key for {duration:?} \
         (soft 200 ms; the naive cache: `GET`, else compute and `SET PX {NAIVE_TTL_MS}`):\n\n\
         | cache | computes | expiries | computes per expiry | calls |\n|---|---:|---:|---:|---:|\n"
    );
    for (name, row) in rows {
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {:.2} | {} |",
            row.computes,
            row.expiries,
            row.computes as f64 / row.expiries.max(1) as f64,
            row.calls
        );
    }
    out
}

/// The stampede across `processes` worker processes of `threads` callers
/// each, on one hot key, for `duration`.
pub fn run_stampede(
    port: u16,
    naive: bool,
    processes: usize,
    threads: usize,
    duration: Duration,
) -> Result<StampedeRow, String> {
    // Warm: the value is there when the workers start.
    if naive {
        ::redis::cmd("SET")
            .arg("naive:hot")
            .arg(value(HOT))
            .arg("PX")
            .arg(NAIVE_TTL_MS)
            .exec(&mut connect(port)?)
            .map_err(|e| e.to_string())?;
    } else {
        redis_hot(HOT);
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let children = (0..processes)
        .map(|_| {
            Command::new(&exe)
                .args([
                    "--worker",
                    if naive {
                        "redis-naive"
                    } else {
                        "redis-antidogpile"
                    },
                ])
                .args(["--port", &port.to_string()])
                .args(["--threads", &threads.to_string()])
                .args(["--millis", &duration.as_millis().to_string()])
                .stdout(Stdio::piped())
                .spawn()
                .map_err(|e| format!("could not start a worker process: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (mut starts, mut calls) = (Vec::new(), 0);
    for child in children {
        let output = child.wait_with_output().map_err(|e| e.to_string())?;
        if !output.status.success() {
            return Err(format!("a worker process failed: {}", output.status));
        }
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["compute", start, _end] => starts.push(start.parse::<u64>().unwrap_or(0) * 1_000),
                ["calls", n] => calls += n.parse::<u64>().unwrap_or(0),
                _ => {}
            }
        }
    }
    starts.sort_unstable();
    Ok(StampedeRow {
        computes: starts.len(),
        expiries: count_expiries(&starts),
        calls,
    })
}

/// The body of a worker process (`--worker redis-naive|redis-antidogpile`):
/// its callers call the hot key until `duration` has passed, then it
/// prints its computes and its number of calls.
pub fn worker(mode: &str, port: u16, threads: usize, duration: Duration) -> Result<(), String> {
    IN_WORKER.store(true, Ordering::Relaxed);
    let naive = mode == "redis-naive";
    if !naive {
        install(port)?;
    }
    let start = Barrier::new(threads);
    let calls: u64 = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let start = &start;
                scope.spawn(move || {
                    let mut plain =
                        naive.then(|| connect(port).expect("a worker's redis connection"));
                    start.wait();
                    let begin = Instant::now();
                    let mut calls = 0u64;
                    while begin.elapsed() < duration {
                        let value = match plain.as_mut() {
                            Some(connection) => naive_hot(connection),
                            None => redis_hot(HOT),
                        };
                        assert_eq!(value.len(), 100);
                        calls += 1;
                        std::thread::sleep(THINK);
                    }
                    calls
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a caller panicked"))
            .sum()
    });
    println!("calls {calls}");
    Ok(())
}

/// The naive cache: `GET`, else compute and `SET PX`.
fn naive_hot(connection: &mut ::redis::Connection) -> String {
    let got: Option<String> = ::redis::cmd("GET")
        .arg("naive:hot")
        .query(connection)
        .ok()
        .flatten();
    got.unwrap_or_else(|| {
        let value = backend(HOT);
        let _ = ::redis::cmd("SET")
            .arg("naive:hot")
            .arg(value.as_str())
            .arg("PX")
            .arg(NAIVE_TTL_MS)
            .exec(connection);
        value
    })
}
