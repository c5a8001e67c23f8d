//! What the memcached rows and the Redis rows share, written once: the hit
//! rows (a memoized function's fresh hits against a plain client of the
//! same server, best of the rounds) and the stampede across processes (this
//! program started again as worker processes that call one hot key, each
//! compute reported to the parent). Each store's module says only what
//! differs: its URL, its server, its plain client and its naive cache.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::hit_path::value;
use crate::measure::{nanos, on_threads, ratio, show_ns, show_of, Summary};
use crate::stampede::{count_expiries, COMPUTE};

/// Distinct keys of the hit workload.
pub const KEYS: u64 = 1_000;
/// The thread counts of the hit workload.
pub const THREADS: [usize; 2] = [1, 2];
/// The hot key of the stampede.
pub const HOT: u64 = 7;
/// Pause between two calls of one caller in the stampede.
const THINK: Duration = Duration::from_millis(1);

/// Installs antidogpile's cache of the server at `url` under `name`.
pub fn install(name: &str, url: &str) -> Result<(), String> {
    let cache = antidogpile::Cache::from_url(url).map_err(|e| e.to_string())?;
    antidogpile::install_named(name, cache);
    Ok(())
}

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

impl HitRow {
    /// The row's figures as table cells, `hits/s | mean | p50 | p99` (hits/s
    /// with `decimals` decimals), then its mean over each of `baselines`'.
    pub fn cells(&self, decimals: usize, baselines: &[&HitRow]) -> String {
        let mut cells = format!(
            "{:.*} | {} | {} | {}",
            decimals,
            self.hits_per_second,
            show_ns(self.mean),
            show_of(&self.latency, self.latency.p50),
            show_of(&self.latency, self.latency.p99),
        );
        for baseline in baselines {
            cells.push_str(" | ");
            cells.push_str(&ratio(self.mean, baseline.mean));
        }
        cells
    }
}

/// `threads` threads call `get` `calls` times each over [`KEYS`] keys; each
/// call must answer the 100-byte value.
pub fn hits<F: Fn(u64) -> String + Sync>(threads: usize, calls: u64, get: F) -> HitRow {
    let begin = Instant::now();
    let mut latencies: Vec<u64> = on_threads(threads, |t, start| {
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
    .into_iter()
    .flatten()
    .collect();
    let elapsed = begin.elapsed();
    let mean = latencies.iter().sum::<u64>() as f64 / latencies.len().max(1) as f64;
    HitRow {
        hits_per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
        latency: Summary::of(&mut latencies),
        mean,
    }
}

/// `measure` (one round: a row per client, the clients interleaved) run
/// `rounds` times: each client's best row by mean.
pub fn best_of<const N: usize>(
    rounds: usize,
    mut measure: impl FnMut() -> [HitRow; N],
) -> Result<[HitRow; N], String> {
    let mut best: [Option<HitRow>; N] = std::array::from_fn(|_| None);
    for _ in 0..rounds {
        for (slot, row) in best.iter_mut().zip(measure()) {
            if slot.as_ref().is_none_or(|b| row.mean < b.mean) {
                *slot = Some(row);
            }
        }
    }
    let best: Vec<HitRow> = best
        .into_iter()
        .collect::<Option<_>>()
        .ok_or("no rounds measured")?;
    best.try_into().map_err(|_| "no rounds measured".to_owned())
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

fn wall_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Set in worker processes: their computes are reported to the parent.
static IN_WORKER: AtomicBool = AtomicBool::new(false);

/// The compute of the stampede: a worker prints its span for the parent.
pub fn backend(key: u64) -> String {
    let start = wall_us();
    std::thread::sleep(COMPUTE);
    if IN_WORKER.load(Ordering::Relaxed) {
        println!("compute {start} {}", wall_us());
    }
    value(key)
}

/// `processes` copies of this program (`--worker mode`), `threads` callers
/// each, call the hot key of the server on `port` for `duration`: their
/// computes and calls, counted. The caller has warmed the hot key.
pub fn run_stampede(
    mode: &str,
    port: u16,
    processes: usize,
    threads: usize,
    duration: Duration,
) -> Result<StampedeRow, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let children = (0..processes)
        .map(|_| {
            Command::new(&exe)
                .args(["--worker", mode])
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

/// The body of a worker process: `threads` callers, each with the caller
/// `caller()` makes on its thread, call the hot key until `duration` has
/// passed; then it prints its number of calls (its computes were printed
/// as they ran).
pub fn worker<F, C>(threads: usize, duration: Duration, caller: F)
where
    F: Fn() -> C + Sync,
    C: FnMut() -> String,
{
    IN_WORKER.store(true, Ordering::Relaxed);
    let calls: u64 = on_threads(threads, |_, start| {
        let mut call = caller();
        start.wait();
        let begin = Instant::now();
        let mut calls = 0u64;
        while begin.elapsed() < duration {
            assert_eq!(call().len(), 100);
            calls += 1;
            std::thread::sleep(THINK);
        }
        calls
    })
    .into_iter()
    .sum();
    println!("calls {calls}");
}
