//! Workload 4, memcached: fresh hits through antidogpile's `MemcachedStore`
//! against a plain client (the `memcache` crate, no envelope) reading the
//! same server; and the stampede across processes (this program started
//! again as worker processes), antidogpile against a naive get/compute/set.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use antidogpile::antidogpiled;

use crate::hit_path::value;
use crate::measure::{nanos, Summary};
use crate::raw_get::RawGet;
use crate::stampede::{count_expiries, COMPUTE};

/// The name the memcached cache is installed under.
const CACHE: &str = "memcached";
/// Distinct keys of the hit workload.
const KEYS: u64 = 1_000;
/// The hot key of the stampede.
const HOT: u64 = 7;
/// The thread counts of the hit workload.
pub const THREADS: [usize; 2] = [1, 2];
/// The naive cache's TTL in memcached (whole seconds; an item of TTL 1
/// lives up to one second, memcached's clock ticking once a second).
const NAIVE_TTL: u32 = 1;
/// Pause between two calls of one caller in the stampede.
const THINK: Duration = Duration::from_millis(1);

#[antidogpiled(soft = "1h", cache = "memcached")]
fn memcached_hit(key: u64) -> String {
    value(key)
}

#[antidogpiled(soft = "200ms", factor = 10, grace = "5s", cache = "memcached")]
fn memcached_hot(key: u64) -> String {
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

/// Installs antidogpile's cache of the server at `url` under [`CACHE`].
pub fn install(url: &str) -> Result<(), String> {
    let cache = antidogpile::Cache::from_url(url).map_err(|e| e.to_string())?;
    antidogpile::install_named(CACHE, cache);
    Ok(())
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

/// Hits of one client at one thread count.
#[derive(Debug)]
pub struct HitRow {
    /// Hits per second, all threads together.
    pub hits_per_second: f64,
    /// Latency of one hit.
    pub latency: Summary,
    /// Mean latency, ns.
    pub mean: f64,
}

pub fn hits<F: Fn(u64) -> String + Sync>(threads: usize, calls: u64, get: F) -> HitRow {
    let start = Barrier::new(threads);
    let begin = Instant::now();
    let mut latencies: Vec<u64> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (get, start) = (&get, &start);
                scope.spawn(move || {
                    start.wait();
                    let mut key = t as u64 * 7919;
                    (0..calls)
                        .map(|_| {
                            key = (key + 7919) % KEYS;
                            let t0 = Instant::now();
                            let value = get(key);
                            let latency = nanos(t0.elapsed());
                            assert_eq!(value.len(), 100, "a miss or a wrong value");
                            latency
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a caller panicked"))
            .collect()
    });
    let elapsed = begin.elapsed();
    let mean = latencies.iter().sum::<u64>() as f64 / latencies.len().max(1) as f64;
    HitRow {
        hits_per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
        latency: Summary::of(&mut latencies),
        mean,
    }
}

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
        let mut best: [Option<HitRow>; 4] = [None, None, None, None];
        for _ in 0..rounds {
            let measured = [
                hits(threads, calls, |k| text_of(&default, &keys[k as usize])),
                hits(threads, calls, |k| text_of(&plain, &keys[k as usize])),
                hits(threads, calls, |k| {
                    raw.get(&keys[k as usize]).unwrap_or_default()
                }),
                hits(threads, calls, memcached_hit),
            ];
            for (slot, row) in best.iter_mut().zip(measured) {
                if slot.as_ref().is_none_or(|b| row.mean < b.mean) {
                    *slot = Some(row);
                }
            }
        }
        let [Some(default), Some(plain), Some(raw), Some(ours)] = best else {
            return Err("no rounds measured".to_owned());
        };
        rows.push([default, plain, raw, ours]);
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
    // `hits` checks a 100-byte answer: give it one when every key was found.
    let all = |found: usize| {
        if found == BATCH {
            value(0)
        } else {
            String::new()
        }
    };
    let mut best: [Option<HitRow>; 4] = [None, None, None, None];
    for _ in 0..rounds {
        let measured = [
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
        ];
        for (slot, row) in best.iter_mut().zip(measured) {
            if slot.as_ref().is_none_or(|b| row.mean < b.mean) {
                *slot = Some(row);
            }
        }
    }
    let [Some(plain), Some(raw), Some(ours), Some(meta)] = best else {
        return Err("no rounds measured".to_owned());
    };
    Ok([plain, raw, ours, meta])
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
    // `hits` checks a 100-byte answer: give it one when every key was found.
    let all = |found: usize| {
        if found == LARGE_BATCH {
            value(0)
        } else {
            String::new()
        }
    };
    let mut best: [Option<HitRow>; 2] = [None, None];
    for _ in 0..rounds {
        let measured = [
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
        ];
        for (slot, row) in best.iter_mut().zip(measured) {
            if slot.as_ref().is_none_or(|b| row.mean < b.mean) {
                *slot = Some(row);
            }
        }
    }
    let [Some(get_many), Some(get_or_compute_many)] = best else {
        return Err("no rounds measured".to_owned());
    };
    Ok([get_many, get_or_compute_many])
}

/// The stampede across processes for one contender.
#[derive(Debug)]
pub struct StampedeRow {
    /// Computes across all processes.
    pub computes: usize,
    /// Expiries (computes grouped as in the in-process stampede).
    pub expiries: usize,
    /// Calls across all processes.
    pub calls: u64,
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
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let children = (0..processes)
        .map(|_| {
            Command::new(&exe)
                .args(["--worker", if naive { "naive" } else { "antidogpile" }])
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

/// The body of a worker process (`--worker naive|antidogpile`): its
/// callers call the hot key until `duration` has passed, then it prints
/// its computes and its number of calls.
pub fn worker(mode: &str, port: u16, threads: usize, duration: Duration) -> Result<(), String> {
    IN_WORKER.store(true, Ordering::Relaxed);
    let naive = mode == "naive";
    let plain = plain_client(port, threads as u32)?;
    if !naive {
        install(&format!("memcached://127.0.0.1:{port}"))?;
    }
    let start = Barrier::new(threads);
    let calls: u64 = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let (plain, start) = (&plain, &start);
                scope.spawn(move || {
                    start.wait();
                    let begin = Instant::now();
                    let mut calls = 0u64;
                    while begin.elapsed() < duration {
                        let value = if naive {
                            match plain.get::<String>("naive:hot") {
                                Ok(Some(value)) => value,
                                _ => {
                                    let value = backend(HOT);
                                    let _ = plain.set("naive:hot", value.as_str(), NAIVE_TTL);
                                    value
                                }
                            }
                        } else {
                            memcached_hot(HOT)
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
