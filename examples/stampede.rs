//! A stampede, side by side: N threads keep calling a slow function across
//! several soft expiries, once through a plain TTL cache (check, miss,
//! everyone recomputes) and once through `#[antidogpiled]`.
//!
//! ```text
//! cargo run --release --example stampede -- [--threads 64] [--seconds 2]
//! cargo run --release --example stampede -- --url memcached://127.0.0.1:11211 [--processes 4]
//! cargo run --release --example stampede -- --url redis://127.0.0.1:6379 [--processes 4]
//! ```
//!
//! With `--url`, the cache is that store and the callers are spread over
//! several processes (this program started again with `--worker`), so the
//! table shows one recompute per expiry across all of them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use antidogpile::antidogpiled;
// The dogpile itself: a TTL cache where every caller that finds the value
// expired recomputes it (check, miss, compute, store).
use antidogpile_test_support::naive_ttl::NaiveTtlCache;

/// How long the "backend" takes to produce a value.
const COMPUTE: Duration = Duration::from_millis(50);
/// How long a value is fresh (the TTL of the plain cache).
const FRESH: Duration = Duration::from_millis(200);
/// Pause between two calls of one thread: a busy but not saturated service.
const THINK: Duration = Duration::from_millis(1);

static BACKEND_CALLS: AtomicU64 = AtomicU64::new(0);
/// When each backend call started: recomputes that start within one compute
/// time of each other answer the same expiry.
static BACKEND_STARTS: Mutex<Vec<Instant>> = Mutex::new(Vec::new());
/// The same, as wall-clock milliseconds (start, end), comparable across processes.
static BACKEND_SPANS: Mutex<Vec<(u128, u128)>> = Mutex::new(Vec::new());

fn wall_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

fn backend(report: u64) -> String {
    BACKEND_CALLS.fetch_add(1, Ordering::Relaxed);
    BACKEND_STARTS.lock().unwrap().push(Instant::now());
    let start = wall_ms();
    std::thread::sleep(COMPUTE);
    BACKEND_SPANS.lock().unwrap().push((start, wall_ms()));
    format!("report {report} rendered")
}

#[antidogpiled(soft = "200ms", factor = 10, grace = "5s")]
fn report_antidogpiled(report: u64) -> String {
    backend(report)
}

struct Outcome {
    calls: usize,
    recomputes: u64,
    expiries: usize,
    latencies: Vec<Duration>,
}

/// Groups recompute start times into expiries.
fn count_expiries(mut starts: Vec<Instant>) -> usize {
    starts.sort_unstable();
    1 + starts
        .windows(2)
        .filter(|pair| pair[1] - pair[0] > COMPUTE)
        .count()
}

/// Runs `threads` callers of `call` for `run`, after one warm-up call.
fn hammer(threads: usize, run: Duration, call: Arc<dyn Fn() -> String + Send + Sync>) -> Outcome {
    call();
    let before = BACKEND_CALLS.load(Ordering::Relaxed);
    BACKEND_STARTS.lock().unwrap().clear();
    let start = Arc::new(Barrier::new(threads));
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (call, start) = (Arc::clone(&call), Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait();
                let begin = Instant::now();
                let mut latencies = Vec::new();
                while begin.elapsed() < run {
                    let t = Instant::now();
                    let value = call();
                    latencies.push(t.elapsed());
                    assert!(value.ends_with("rendered"));
                    std::thread::sleep(THINK);
                }
                latencies
            })
        })
        .collect();
    let mut latencies: Vec<Duration> = workers
        .into_iter()
        .flat_map(|worker| worker.join().expect("caller panicked"))
        .collect();
    latencies.sort_unstable();
    Outcome {
        calls: latencies.len(),
        recomputes: BACKEND_CALLS.load(Ordering::Relaxed) - before,
        expiries: count_expiries(std::mem::take(&mut *BACKEND_STARTS.lock().unwrap())),
        latencies,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[rank]
}

fn show(d: Duration) -> String {
    if d >= Duration::from_millis(1) {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.1} µs", d.as_secs_f64() * 1e6)
    }
}

fn text_flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1).map(String::as_str)
}

/// One worker process of the `--url` mode: prints its compute times and a
/// summary line for the parent.
fn worker(threads: usize, run: Duration) {
    let outcome = hammer(threads, run, Arc::new(|| report_antidogpiled(1)));
    for (start, end) in BACKEND_SPANS.lock().unwrap().iter() {
        println!("compute {start} {end}");
    }
    let waited = outcome.latencies.iter().filter(|l| **l >= COMPUTE).count();
    println!(
        "summary {} {} {} {} {}",
        outcome.calls,
        waited,
        percentile(&outcome.latencies, 0.50).as_nanos(),
        percentile(&outcome.latencies, 0.999).as_nanos(),
        percentile(&outcome.latencies, 1.0).as_nanos()
    );
}

/// The `--url` mode: `processes` workers against one shared store.
fn across_processes(url: &str, processes: usize, threads: usize, run: Duration) {
    println!(
        "{processes} processes of {threads} threads call one hot key through {url} for {} s; \
         fresh for {} ms, {} ms to compute.\n",
        run.as_secs(),
        FRESH.as_millis(),
        COMPUTE.as_millis()
    );
    let exe = std::env::current_exe().expect("the path of this program");
    let children: Vec<_> = (0..processes)
        .map(|_| {
            std::process::Command::new(&exe)
                .args(["--worker", "--url", url, "--threads", &threads.to_string()])
                .args(["--seconds", &run.as_secs().to_string()])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("start a worker process")
        })
        .collect();
    let mut spans = Vec::new();
    println!(
        "| {:<9} | {:>7} | {:>13} | {:>8} | {:>8} | {:>8} |",
        "process", "calls", "waited ≥50 ms", "p50", "p99.9", "max"
    );
    println!(
        "|{:-<11}|{:->9}|{:->15}|{:->10}|{:->10}|{:->10}|",
        "", "", "", "", "", ""
    );
    for (i, child) in children.into_iter().enumerate() {
        let output = child.wait_with_output().expect("a worker process");
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            let fields: Vec<u128> = line
                .split_whitespace()
                .skip(1)
                .filter_map(|f| f.parse().ok())
                .collect();
            match (line.split_whitespace().next(), fields.as_slice()) {
                (Some("compute"), [start, end]) => spans.push((*start, *end)),
                (Some("summary"), [calls, waited, p50, p999, max]) => println!(
                    "| {:<9} | {:>7} | {:>13} | {:>8} | {:>8} | {:>8} |",
                    i + 1,
                    calls,
                    waited,
                    show(Duration::from_nanos(*p50 as u64)),
                    show(Duration::from_nanos(*p999 as u64)),
                    show(Duration::from_nanos(*max as u64)),
                ),
                _ => {}
            }
        }
    }
    spans.sort_unstable();
    let expiries = 1 + spans.windows(2).filter(|w| w[1].0 > w[0].1).count();
    let overlapping = spans.windows(2).filter(|w| w[1].0 < w[0].1).count();
    println!(
        "\n{} recomputes across all processes for {expiries} expiries ({:.1} per expiry), {overlapping} overlapping.",
        spans.len(),
        spans.len() as f64 / expiries as f64
    );
}

fn flag(args: &[String], name: &str, default: u64) -> u64 {
    match args.iter().position(|a| a == name) {
        None => default,
        Some(i) => match args.get(i + 1).map(|v| v.parse::<u64>()) {
            Some(Ok(value)) if value > 0 => value,
            _ => {
                eprintln!("{name} needs a whole number above zero");
                std::process::exit(2);
            }
        },
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("usage: stampede [--threads N] [--seconds S] [--url memcached://HOST:PORT|redis://HOST:PORT [--processes P]]");
        return;
    }
    let threads = flag(&args, "--threads", 64) as usize;
    let run = Duration::from_secs(flag(&args, "--seconds", 2));
    if let Some(url) = text_flag(&args, "--url") {
        match antidogpile::Cache::from_url(url) {
            Ok(cache) => antidogpile::install(cache),
            Err(error) => {
                eprintln!("{error}");
                std::process::exit(2);
            }
        }
        if args.iter().any(|a| a == "--worker") {
            worker(threads, run);
        } else {
            let processes = flag(&args, "--processes", 4) as usize;
            let per_process = flag(&args, "--threads", 16) as usize;
            across_processes(url, processes, per_process, run);
        }
        return;
    }
    println!(
        "{threads} threads call one hot key for {} s each; the value is fresh for {} ms \
         and takes {} ms to compute.\n",
        run.as_secs(),
        FRESH.as_millis(),
        COMPUTE.as_millis()
    );
    let plain = Arc::new(NaiveTtlCache::new(FRESH));
    let results = [
        (
            "plain TTL cache",
            hammer(
                threads,
                run,
                Arc::new(move || plain.get_or_compute(1, || backend(1))),
            ),
        ),
        (
            "antidogpile",
            hammer(threads, run, Arc::new(|| report_antidogpiled(1))),
        ),
    ];
    println!(
        "| {:<16} | {:>7} | {:>8} | {:>10} | {:>10} | {:>13} | {:>8} | {:>8} | {:>8} |",
        "cache",
        "calls",
        "expiries",
        "recomputes",
        "per expiry",
        "waited ≥50 ms",
        "p50",
        "p99.9",
        "max"
    );
    println!(
        "|{:-<18}|{:->9}|{:->10}|{:->12}|{:->12}|{:->15}|{:->10}|{:->10}|{:->10}|",
        "", "", "", "", "", "", "", "", ""
    );
    for (name, outcome) in &results {
        let waited = outcome.latencies.iter().filter(|l| **l >= COMPUTE).count();
        println!(
            "| {:<16} | {:>7} | {:>8} | {:>10} | {:>10.1} | {:>13} | {:>8} | {:>8} | {:>8} |",
            name,
            outcome.calls,
            outcome.expiries,
            outcome.recomputes,
            outcome.recomputes as f64 / outcome.expiries as f64,
            waited,
            show(percentile(&outcome.latencies, 0.50)),
            show(percentile(&outcome.latencies, 0.999)),
            show(percentile(&outcome.latencies, 1.0)),
        );
    }
    let stats =
        antidogpile::stats(concat!(module_path!(), "::report_antidogpiled")).unwrap_or_default();
    println!(
        "\nantidogpile counters: {} fresh hits, {} stale hits (served at once), {} misses, {} computes, {} waits.\n\
         The one caller per expiry that waited is the one that recomputed; with\n\
         `background = true` it too gets the stale value and the refresh runs on a thread.",
        stats.fresh_hits, stats.stale_hits, stats.misses, stats.computes, stats.waits
    );
}
