//! Workload 4b, Redis: fresh hits of a memoized function through
//! antidogpile's `RedisStore` against a plain `GET` of the same 100-byte
//! values through the same client library (redis-rs, a sync connection per
//! thread); and the stampede across processes (this program started again
//! as worker processes), antidogpile against a naive get/compute/set.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::time::Duration;

use antidogpile::antidogpiled;
use antidogpile_test_support::redis::Redis;

use crate::hit_path::value;
use crate::measure::show_ns;
use crate::remote::{backend, best_of, hits, HitRow, StampedeRow, HOT, KEYS, THREADS};

/// The name the Redis cache is installed under.
const CACHE: &str = "redis";
/// The naive cache's TTL in Redis.
const NAIVE_TTL_MS: u64 = 200;

#[antidogpiled(soft = "1h", cache = "redis")]
fn redis_hit(key: u64) -> String {
    value(key)
}

#[antidogpiled(soft = "200ms", factor = 10, grace = "5s", cache = "redis")]
fn redis_hot(key: u64) -> String {
    backend(key)
}

/// A redis-server of the bench's own, on a free loopback port, stopped
/// when dropped.
pub fn start() -> Result<Redis, String> {
    Redis::try_start_with(&[]).map_err(|error| error.to_string())
}

/// Installs antidogpile's cache of the server on `port` under [`CACHE`].
pub fn install(port: u16) -> Result<(), String> {
    crate::remote::install(CACHE, &format!("redis://127.0.0.1:{port}"))
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
        rows.push(best_of(rounds, || {
            [
                hits(threads, calls, |k| plain_get(port, &keys[k as usize])),
                hits(threads, calls, redis_hit),
            ]
        })?);
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
                "| {threads} | {name} | {} |",
                client.cells(0, &[&row[0]])
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
    let mode = if naive {
        "redis-naive"
    } else {
        "redis-antidogpile"
    };
    crate::remote::run_stampede(mode, port, processes, threads, duration)
}

/// The body of a worker process (`--worker redis-naive|redis-antidogpile`):
/// its callers call the hot key until `duration` has passed, then it
/// prints its computes and its number of calls.
pub fn worker(mode: &str, port: u16, threads: usize, duration: Duration) -> Result<(), String> {
    let naive = mode == "redis-naive";
    if !naive {
        install(port)?;
    }
    crate::remote::worker(threads, duration, || {
        let mut plain = naive.then(|| connect(port).expect("a worker's redis connection"));
        move || match plain.as_mut() {
            Some(connection) => naive_hot(connection),
            None => redis_hot(HOT),
        }
    });
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
