//! Workload 4, memcached: fresh hits through antidogpile's `MemcachedStore`
//! against a plain client (the `memcache` crate, no envelope) reading the
//! same server; and the stampede across processes (this program started
//! again as worker processes), antidogpile against a naive get/compute/set.

use std::time::Duration;

use antidogpile::antidogpiled;

use crate::hit_path::value;
use crate::raw_get::RawGet;
use crate::remote::{backend, best_of, hits, HitRow, StampedeRow, HOT, KEYS, THREADS};

/// The name the memcached cache is installed under.
const CACHE: &str = "memcached";
/// The naive cache's TTL in memcached (whole seconds; an item of TTL 1
/// lives up to one second, memcached's clock ticking once a second).
const NAIVE_TTL: u32 = 1;

#[antidogpiled(soft = "1h", cache = "memcached")]
fn memcached_hit(key: u64) -> String {
    value(key)
}

#[antidogpiled(soft = "200ms", factor = 10, grace = "5s", cache = "memcached")]
fn memcached_hot(key: u64) -> String {
    backend(key)
}

/// Installs antidogpile's cache of the server at `url` under [`CACHE`].
pub fn install(url: &str) -> Result<(), String> {
    crate::remote::install(CACHE, url)
}

fn plain_url(port: u16) -> String {
    format!("memcache://127.0.0.1:{port}?protocol=ascii")
}

/// The `memcache` crate's client as its docs make it: its r2d2 pool checks
/// every connection at checkout with a `version` round trip.
fn default_client(port: u16, pool: u32) -> Result<memcache::Client, String> {
    memcache::Client::with_pool_size(plain_url(port).as_str(), pool).map_err(|e| e.to_string())
}

/// The same client with a pool that does not test connections at checkout:
/// one round trip per `get`, the fastest plain client.
fn plain_client(port: u16, pool: u32) -> Result<memcache::Client, String> {
    let url = memcache::Url::parse(&plain_url(port)).map_err(|e| e.to_string())?;
    let pool = r2d2::Pool::builder()
        .max_size(pool)
        .test_on_check_out(false)
        .build(memcache::ConnectionManager::new(url))
        .map_err(|e| e.to_string())?;
    memcache::Client::with_pool(pool).map_err(|e| e.to_string())
}

/// The clients of the hit table, in its order; the plain client (the
/// baseline of the ratios) is [`PLAIN`], the floor [`RAW`].
pub const CLIENTS: [&str; 4] = [
    "`memcache` crate `get`, default pool (a `version` check per checkout)",
    "`memcache` crate `get`, pool without the checkout check",
    "raw `get`: one write, a buffered read (the floor)",
    "antidogpile",
];
/// The floor in [`CLIENTS`].
pub const RAW: usize = 2;
/// The baseline of the ratios in [`CLIENTS`].
pub const PLAIN: usize = 1;

/// A row per [`CLIENTS`] at each of [`THREADS`], best (by mean) of `rounds`.
pub fn run_hits(port: u16, calls: u64, rounds: usize) -> Result<Vec<[HitRow; 4]>, String> {
    let keys: Vec<String> = (0..KEYS).map(|k| format!("plain:{k}")).collect();
    let mut rows = Vec::new();
    for threads in THREADS {
        let default = default_client(port, threads as u32)?;
        let plain = plain_client(port, threads as u32)?;
        let raw = RawGet::new(port);
        for (k, key) in keys.iter().enumerate() {
            plain
                .set(key, value(k as u64).as_str(), 0)
                .map_err(|e| e.to_string())?;
            memcached_hit(k as u64);
        }
        rows.push(best_of(rounds, || {
            [
                hits(threads, calls, |k| text_of(&default, &keys[k as usize])),
                hits(threads, calls, |k| text_of(&plain, &keys[k as usize])),
                hits(threads, calls, |k| {
                    raw.get(&keys[k as usize]).unwrap_or_default()
                }),
                hits(threads, calls, memcached_hit),
            ]
        })?);
    }
    Ok(rows)
}

/// Keys in one batch of the `get_many` row.
pub const BATCH: usize = 100;
/// The clients of the `get_many` row, in its order.
pub const BATCH_CLIENTS: [&str; 4] = [
    "`memcache` crate `gets` (pool without the checkout check)",
    "raw multi-key `get` (the floor)",
    "antidogpile `Cache::get_many`",
    "raw pipeline of meta gets (`mg ... v f c`, then `mn`; one write)",
];

/// One thread reads [`BATCH`] keys at once, `calls` times, with each of
/// [`BATCH_CLIENTS`]; best (by mean) of `rounds`. Each call must find all.
pub fn run_get_many(port: u16, calls: u64, rounds: usize) -> Result<[HitRow; 4], String> {
    let cache = antidogpile::named_cache(CACHE).ok_or("the memcached cache is not installed")?;
    let keys: Vec<u64> = (0..BATCH as u64).collect();
    let entries: Vec<(u64, String)> = keys.iter().map(|&k| (k, value(k))).collect();
    cache
        .set_many(&entries, Duration::from_secs(3600))
        .map_err(|e| e.to_string())?;
    let plain = plain_client(port, 1)?;
    let raw = RawGet::new(port);
    let names: Vec<String> = keys.iter().map(|k| format!("plain:{k}")).collect();
    for (k, name) in keys.iter().zip(&names) {
        plain
            .set(name, value(*k).as_str(), 0)
            .map_err(|e| e.to_string())?;
    }
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let all = |found| all_found(found, BATCH);
    best_of(rounds, || {
        [
            hits(1, calls, |_| {
                all(plain.gets::<String>(&names).map_or(0, |found| found.len()))
            }),
            hits(1, calls, |_| all(raw.get_many(&names).unwrap_or(0))),
            hits(1, calls, |_| {
                all(fresh(
                    &cache.get_many::<String, u64>(&keys).unwrap_or_default(),
                ))
            }),
            hits(1, calls, |_| all(raw.meta_get_many(&names).unwrap_or(0))),
        ]
    })
}

/// Keys of the large-batch rows: one call reads them all.
pub const LARGE_BATCH: usize = 10_000;
/// The clients of the large-batch rows, in their order; the first is the
/// baseline of their ratio.
pub const LARGE_BATCH_CLIENTS: [&str; 2] = [
    "antidogpile `Cache::get_many`",
    "antidogpile `Cache::get_or_compute_many`",
];

/// One thread reads [`LARGE_BATCH`] warm keys at once, `calls` times, with
/// `get_many` and with `get_or_compute_many` (which must compute nothing),
/// alternating, best (by mean) of `rounds`.
pub fn run_large_batch(calls: u64, rounds: usize) -> Result<[HitRow; 2], String> {
    let cache = antidogpile::named_cache(CACHE).ok_or("the memcached cache is not installed")?;
    let keys: Vec<u64> = (0..LARGE_BATCH as u64).map(|k| 1_000_000 + k).collect();
    let entries: Vec<(u64, String)> = keys.iter().map(|&k| (k, value(k))).collect();
    cache
        .set_many(&entries, Duration::from_secs(3600))
        .map_err(|e| e.to_string())?;
    let all = |found| all_found(found, LARGE_BATCH);
    best_of(rounds, || {
        [
            hits(1, calls, |_| {
                all(fresh(
                    &cache.get_many::<String, u64>(&keys).unwrap_or_default(),
                ))
            }),
            hits(1, calls, |_| {
                let got = cache
                    .get_or_compute_many(&keys, Duration::from_secs(3600), |missing| {
                        missing.iter().map(|_| String::new()).collect()
                    })
                    .unwrap_or_default();
                all(got.iter().filter(|v| v.len() == 100).count())
            }),
        ]
    })
}

/// `processes` copies of this program, `threads` callers each, call the hot
/// key through the server for `duration`: `naive` or antidogpile.
pub fn run_stampede(
    port: u16,
    naive: bool,
    processes: usize,
    threads: usize,
    duration: Duration,
) -> Result<StampedeRow, String> {
    // Warm: the value is there when the workers start.
    if naive {
        plain_client(port, 1)?
            .set("naive:hot", value(HOT).as_str(), NAIVE_TTL)
            .map_err(|e| e.to_string())?;
    } else {
        memcached_hot(HOT);
    }
    let mode = if naive { "naive" } else { "antidogpile" };
    crate::remote::run_stampede(mode, port, processes, threads, duration)
}

/// The body of a worker process (`--worker naive|antidogpile`): its
/// callers call the hot key until `duration` has passed, then it prints
/// its computes and its number of calls.
pub fn worker(mode: &str, port: u16, threads: usize, duration: Duration) -> Result<(), String> {
    let naive = mode == "naive";
    let plain = plain_client(port, threads as u32)?;
    if !naive {
        install(&format!("memcached://127.0.0.1:{port}"))?;
    }
    crate::remote::worker(threads, duration, || {
        let plain = &plain;
        move || {
            if naive {
                naive_hot(plain)
            } else {
                memcached_hot(HOT)
            }
        }
    });
    Ok(())
}

/// The naive cache: `get`, else compute and `set` with [`NAIVE_TTL`].
fn naive_hot(plain: &memcache::Client) -> String {
    match plain.get::<String>("naive:hot") {
        Ok(Some(value)) => value,
        _ => {
            let value = backend(HOT);
            let _ = plain.set("naive:hot", value.as_str(), NAIVE_TTL);
            value
        }
    }
}

/// What a batch answers `hits`, which checks a 100-byte answer: one when
/// all `wanted` keys were `found`, else an empty one.
fn all_found(found: usize, wanted: usize) -> String {
    if found == wanted {
        value(0)
    } else {
        String::new()
    }
}

/// How many of `got` were fresh.
fn fresh(got: &[antidogpile::Got<String>]) -> usize {
    got.iter()
        .filter(|g| matches!(g, antidogpile::Got::Fresh(_)))
        .count()
}

/// The text a `memcache` client reads under `key` (empty on a miss or an error).
fn text_of(client: &memcache::Client, key: &str) -> String {
    client.get::<String>(key).ok().flatten().unwrap_or_default()
}
