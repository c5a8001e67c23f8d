//! A soak run: minutes of mixed load over many keys against a memcached that
//! is killed and restarted now and then, with computes that panic or fail.
//! Every value embeds its key and every returned value is checked.
//!
//! ```text
//! antidogpile-soak [--seconds 180] [--keys 10000] [--threads 16] [--tasks 32]
//!                  [--restart-every SECONDS]
//! ```
//!
//! It starts its own memcached (the `memcached` binary, 1.6+) on an
//! ephemeral port. At the end it prints what it saw and exits non-zero if a
//! check failed: a wrong value, counters that do not add up, a call that
//! hung after the load stopped (a stuck claim or lease), memory that grew
//! without bound. `scripts/soak.sh` runs it in release.

use std::cell::RefCell;
use std::panic::AssertUnwindSafe;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use antidogpile::{antidogpiled, install_named, Cache};
use antidogpile_test_support::memcached::Memcached;
use antidogpile_test_support::rng::XorShift;

/// The cache's grace (every function inherits it): after the load, a call
/// that finds a claim or lease left behind waits at most this long.
const GRACE: &str = "2s";
/// A call after the load that takes longer than this found something stuck.
const STUCK: Duration = Duration::from_secs(6);
/// The message of the deliberate panics, kept out of stderr.
const DELIBERATE: &str = "soak: a deliberate panic in a compute";

/// While set, computes sometimes panic or fail; cleared for the final pass.
static FAULTS: AtomicBool = AtomicBool::new(true);
static STOP: AtomicBool = AtomicBool::new(false);

// ---- the memoized functions: each value is "TAG:KEY:SEQUENCE" ----

static SEQUENCE: AtomicU64 = AtomicU64::new(0);

fn make(tag: &str, key: u32) -> String {
    format!("{tag}:{key}:{}", SEQUENCE.fetch_add(1, Ordering::Relaxed))
}

/// A compute takes a moment, so that callers of one key meet during it.
fn work() {
    std::thread::sleep(Duration::from_micros(100));
}

/// True with probability 1 in `one_in`, while faults are on.
fn chance(one_in: u64) -> bool {
    FAULTS.load(Ordering::Relaxed) && random() % one_in == 0
}

#[antidogpiled(soft = "1s", cache = "soak", name = "soak::plain")]
fn plain(key: u32) -> String {
    if chance(200) {
        panic!("{DELIBERATE}");
    }
    work();
    make("plain", key)
}

#[antidogpiled(soft = "1s", cache = "soak", name = "soak::optional")]
fn optional(key: u32) -> Option<String> {
    work();
    (!chance(20)).then(|| make("optional", key))
}

#[antidogpiled(soft = "1s", cache = "soak", name = "soak::fallible")]
async fn fallible(key: u32) -> Result<String, String> {
    if chance(200) {
        panic!("{DELIBERATE}");
    }
    if chance(20) {
        return Err(format!("soak: failed {key}"));
    }
    tokio::task::yield_now().await;
    Ok(make("fallible", key))
}

const NAMESPACES: [&str; 3] = ["soak::plain", "soak::optional", "soak::fallible"];

// ---- what the callers saw ----

#[derive(Default)]
struct Tally {
    /// Calls made, per function (index into NAMESPACES).
    calls: [AtomicU64; 3],
    errors: AtomicU64,
    panics: AtomicU64,
    wrong: AtomicU64,
    slowest_us: AtomicU64,
}

/// What one call returned.
enum Seen {
    Value(String),
    Failure,
    Panic,
}

impl Tally {
    fn total_calls(&self) -> u64 {
        self.calls.iter().map(|c| c.load(Ordering::SeqCst)).sum()
    }

    fn record(&self, function: usize, key: u32, seen: Seen, took: Duration) {
        self.slowest_us
            .fetch_max(took.as_micros() as u64, Ordering::Relaxed);
        match seen {
            Seen::Value(value) => {
                let tag = NAMESPACES[function].trim_start_matches("soak::");
                if !value.starts_with(&format!("{tag}:{key}:")) {
                    self.wrong.fetch_add(1, Ordering::Relaxed);
                    eprintln!("WRONG VALUE: {tag}({key}) returned {value:?}");
                }
            }
            Seen::Failure => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                if !FAULTS.load(Ordering::Relaxed) {
                    // With faults off, no compute fails: a failure now is wrong.
                    self.wrong.fetch_add(1, Ordering::Relaxed);
                }
            }
            Seen::Panic => {
                self.panics.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// One blocking call of `function` on `key`, checked.
    fn call_blocking(&self, function: usize, key: u32, runtime: &tokio::runtime::Handle) {
        self.calls[function].fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let seen = match function {
            0 => match std::panic::catch_unwind(AssertUnwindSafe(|| plain(key))) {
                Ok(value) => Seen::Value(value),
                Err(_) => Seen::Panic,
            },
            1 => optional(key).map_or(Seen::Failure, Seen::Value),
            _ => seen_async(runtime.block_on(runtime.spawn(fallible(key)))),
        };
        self.record(function, key, seen, started.elapsed());
    }
}

fn seen_async(joined: Result<Result<String, String>, tokio::task::JoinError>) -> Seen {
    match joined {
        Ok(Ok(value)) => Seen::Value(value),
        Ok(Err(_)) => Seen::Failure,
        Err(_) => Seen::Panic,
    }
}

// ---- load ----

fn random() -> u64 {
    thread_local! {
        static RANDOM: RefCell<XorShift> = RefCell::new(XorShift::from_time());
    }
    RANDOM.with(|random| random.borrow_mut().next_u64())
}

/// Half the calls on 100 hot keys, half spread over all of them.
fn pick_key(keys: u32) -> u32 {
    let r = random();
    if r & 1 == 0 {
        (r >> 1) as u32 % keys.min(100)
    } else {
        (r >> 1) as u32 % keys
    }
}

fn thread_load(tally: &Tally, keys: u32, runtime: &tokio::runtime::Handle) {
    while !STOP.load(Ordering::Relaxed) {
        let function = (random() % 2) as usize;
        tally.call_blocking(function, pick_key(keys), runtime);
    }
}

async fn task_load(tally: Arc<Tally>, keys: u32) {
    while !STOP.load(Ordering::Relaxed) {
        let key = pick_key(keys);
        tally.calls[2].fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        // A task of its own, so that a panicking compute is caught as a JoinError.
        let joined = tokio::spawn(fallible(key)).await;
        tally.record(2, key, seen_async(joined), started.elapsed());
    }
}

/// Calls every key of every function once, spread over `threads` threads.
fn every_key_once(tally: &Tally, keys: u32, threads: u32, runtime: &tokio::runtime::Handle) {
    std::thread::scope(|scope| {
        for first in 0..threads {
            scope.spawn(move || {
                for key in (first..keys).step_by(threads as usize) {
                    for function in 0..NAMESPACES.len() {
                        tally.call_blocking(function, key, runtime);
                    }
                }
            });
        }
    });
}

// ---- the run ----

struct Options {
    seconds: u64,
    keys: u32,
    threads: u32,
    tasks: u32,
    restart_every: Option<u64>,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        seconds: 180,
        keys: 10_000,
        threads: 16,
        tasks: 32,
        restart_every: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = |what: &str| -> Result<u64, String> {
            value
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{what} must be a whole number above 0, not {value:?}"))
        };
        match flag.as_str() {
            "--seconds" => options.seconds = number("--seconds")?,
            "--keys" => {
                options.keys = u32::try_from(number("--keys")?).map_err(|e| e.to_string())?
            }
            "--threads" => options.threads = number("--threads")? as u32,
            "--tasks" => options.tasks = number("--tasks")? as u32,
            "--restart-every" => options.restart_every = Some(number("--restart-every")?),
            _ => {
                return Err(format!(
                    "unknown option {flag}; see the top of tools/soak/src/main.rs"
                ))
            }
        }
    }
    Ok(options)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmRSS:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kib| kib.parse().ok())
        })
        .unwrap_or(0)
}

fn main() -> ExitCode {
    let options = match options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("antidogpile-soak: {message}");
            return ExitCode::from(2);
        }
    };
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let deliberate = payload.downcast_ref::<String>().map(String::as_str) == Some(DELIBERATE)
            || payload.downcast_ref::<&str>() == Some(&DELIBERATE);
        if !deliberate {
            default_hook(info);
        }
    }));
    match run(&options) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("antidogpile-soak: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(options: &Options) -> Result<bool, String> {
    let restart_every = options
        .restart_every
        .unwrap_or((options.seconds / 4).clamp(2, 15));
    let server = Memcached::try_start_with(&["-m", "256", "-c", "4096"])
        .map_err(|error| error.to_string())?;
    let server = Arc::new(Mutex::new(server));
    let port = server.lock().map_err(|_| "poisoned")?.port();
    let url = format!(
        "memcached://127.0.0.1:{port}?timeout=200ms&retry_after=100ms&pool=8&grace={GRACE}"
    );
    install_named(
        "soak",
        Cache::from_url(&url).map_err(|error| error.to_string())?,
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|error| error.to_string())?;
    let handle = runtime.handle().clone();
    let tally = Arc::new(Tally::default());

    println!(
        "antidogpile soak: {} s, {} keys, {} threads + {} tokio tasks, memcached on port {port} restarted every {restart_every} s",
        options.seconds, options.keys, options.threads, options.tasks
    );
    every_key_once(&tally, options.keys, options.threads, &handle);
    let warm_up_calls = tally.total_calls();
    let rss_start = rss_kib();

    let started = Instant::now();
    let threads: Vec<_> = (0..options.threads)
        .map(|_| {
            let (tally, handle, keys) = (Arc::clone(&tally), handle.clone(), options.keys);
            std::thread::spawn(move || thread_load(&tally, keys, &handle))
        })
        .collect();
    let tasks: Vec<_> = (0..options.tasks)
        .map(|_| handle.spawn(task_load(Arc::clone(&tally), options.keys)))
        .collect();
    let mut restarts = 0u64;
    let mut next_restart = Duration::from_secs(restart_every);
    let run_for = Duration::from_secs(options.seconds);
    while started.elapsed() < run_for {
        std::thread::sleep(Duration::from_millis(20));
        if started.elapsed() >= next_restart && started.elapsed() + Duration::from_secs(1) < run_for
        {
            let mut server = server.lock().map_err(|_| "poisoned")?;
            server.kill();
            std::thread::sleep(Duration::from_millis(250));
            server
                .try_restart_within(Duration::from_secs(5))
                .map_err(|error| error.to_string())?;
            restarts += 1;
            next_restart += Duration::from_secs(restart_every);
        }
    }
    STOP.store(true, Ordering::SeqCst);
    for thread in threads {
        thread
            .join()
            .map_err(|_| "a load thread panicked outside a compute")?;
    }
    for task in tasks {
        runtime
            .block_on(task)
            .map_err(|_| "a load task panicked outside a compute")?;
    }
    let duration = started.elapsed();
    let load_calls = tally.total_calls() - warm_up_calls;
    let load = Snapshot::of(&tally);

    // Stuck claims or leases: with faults off, every key of every function
    // once more; each call must return a right value within the grace and a bit.
    FAULTS.store(false, Ordering::SeqCst);
    tally.slowest_us.store(0, Ordering::SeqCst);
    every_key_once(&tally, options.keys, options.threads, &handle);
    let final_slowest = Duration::from_micros(tally.slowest_us.load(Ordering::SeqCst));
    let final_calls = tally.total_calls() - warm_up_calls - load_calls;
    let rss_end = rss_kib();
    let after = Snapshot::of(&tally);

    let mut ok = true;
    let mut check = |passed: bool, what: String| {
        println!("{} {what}", if passed { "ok  " } else { "FAIL" });
        ok &= passed;
    };
    let seconds = duration.as_secs_f64();
    println!("calls            {load_calls} in {seconds:.1} s ({:.0}/s); {warm_up_calls} to warm up, {final_calls} after the load", load_calls as f64 / seconds);
    println!(
        "errors           {} (Err or None returned to a caller)",
        load.errors
    );
    println!("panics           {} (caught)", load.panics);
    println!("wrong values     {}", after.wrong);
    println!("restarts         {restarts} of memcached");
    println!(
        "slowest call     {:.1} ms under load",
        load.slowest_us as f64 / 1000.0
    );
    println!("RSS              {rss_start} KiB after warm-up, {rss_end} KiB at the end");
    let mut stats_panics = 0;
    for (index, namespace) in NAMESPACES.iter().enumerate() {
        let stats = antidogpile::stats(namespace).ok_or("no stats")?;
        let ours = tally.calls[index].load(Ordering::SeqCst);
        stats_panics += stats.panics;
        println!(
            "{namespace:<16} fresh {} + stale {} + misses {} + uncached {} = {} (soak counted {ours}); computes {}, errors {}, panics {}, waits {}, store errors {}",
            stats.fresh_hits, stats.stale_hits, stats.misses, stats.uncached, stats.calls(),
            stats.computes, stats.errors, stats.panics, stats.waits, stats.store_errors
        );
        check(
            stats.calls() == ours,
            format!("{namespace}: every call counted once"),
        );
    }
    check(after.wrong == 0, format!("wrong values: {}", after.wrong));
    check(
        stats_panics == after.panics,
        format!(
            "panics counted by antidogpile ({stats_panics}) = caught ({})",
            after.panics
        ),
    );
    check(
        restarts >= 1,
        format!("memcached was restarted ({restarts} times)"),
    );
    check(
        final_slowest < STUCK,
        format!("after the load, every key once: slowest of {final_calls} calls {:.1} ms (bound {} s): nothing stuck", final_slowest.as_secs_f64() * 1000.0, STUCK.as_secs()),
    );
    check(
        rss_end <= (2 * rss_start).max(rss_start + 100 * 1024),
        format!("memory bounded: {rss_start} KiB -> {rss_end} KiB"),
    );
    println!("{}", if ok { "PASS" } else { "FAIL" });
    Ok(ok)
}

/// The tally at one moment.
struct Snapshot {
    errors: u64,
    panics: u64,
    wrong: u64,
    slowest_us: u64,
}

impl Snapshot {
    fn of(tally: &Tally) -> Snapshot {
        Snapshot {
            errors: tally.errors.load(Ordering::SeqCst),
            panics: tally.panics.load(Ordering::SeqCst),
            wrong: tally.wrong.load(Ordering::SeqCst),
            slowest_us: tally.slowest_us.load(Ordering::SeqCst),
        }
    }
}
