//! A process of the cross-process tests: calls one memoized function backed
//! by memcached and reports what it saw on stdout, one event per line.
//!
//! ```text
//! antidogpile-worker hammer URL THREADS SECONDS   many threads, many calls
//! antidogpile-worker hang URL                     one call whose compute never ends
//! antidogpile-worker poll URL SECONDS             one call every 20 ms
//! antidogpile-worker slow URL COMPUTE_MS          one call of a cold value (grace 60 s)
//! antidogpile-worker stale URL COMPUTE_MS SECONDS one call every 20 ms of a value fresh
//!                                                 for 1 s (grace 60 s), until one computes
//! antidogpile-worker brief URL COMPUTE_MS SECONDS  one call every 250 ms of a value fresh
//!                                                 for 1 s (grace 3 s), until one computes
//! antidogpile-worker stale-set URL DB GO client|macro [JOIN]
//!                                                 one call whose compute reads DB,
//!                                                 then waits for the file GO (and,
//!                                                 once JOIN exists, another call)
//! antidogpile-worker price URL MILLIS              `price(1)` every 5 ms (at least once)
//! antidogpile-worker price-client URL              the client's `peek`, then `set` on a miss
//! antidogpile-worker nested-price URL MILLIS       as `price`, of a `Wrapper<Wrapper<Price>>`
//! antidogpile-worker nested-price-client URL       as `price-client`, of one too
//! antidogpile-worker currency URL                  `currency(1)` twice: `got CODE`, `computes N`
//! antidogpile-worker map URL                      one call with a 16-entry HashMap
//! antidogpile-worker clearable URL SECONDS        `clearable(1)` (fresh for an hour)
//!                                                 every 20 ms: `call AT_MS COMPUTED`
//! antidogpile-worker duty URL                     the client's `get("duty")`; told to
//!                                                 recompute, says `holding AT_MS` and
//!                                                 keeps the duty for an hour
//! ```
//!
//! `price` stands for one build of an application: `PRICE_SHAPE` (read at
//! start) changes the serde shape of `Price` but not its Rust name, as a
//! deploy that edits the struct would. It prints `price CENTS TAX COMPUTED`
//! for each call whose value differs from the last one, then `calls N`,
//! `computes N` and `wrong N` (calls that returned another price than the
//! one computed: bytes misread).
//!
//! Lines: `compute START_MS END_MS`, `computing START_MS` (hang),
//! `call AT_MS COMPUTED VALUE` (poll, stale, brief; `got` for slow), `computing VALUE`
//! then `got VALUE` (stale-set: the number in DB when a compute began, and what
//! the call returned; `calling` and `joined VALUE` for the second call),
//! `computed 0|1` (map), `waiting AT_MS` (slow: once its call waits for
//! another process's compute), `renewed AT_MS` (any mode, with
//! `WORKER_SAYS_RENEWALS` set: each renewal of a hold), and for hammer at the end
//! `calls N` and `slowest_stale_us N` (the slowest call that did not compute
//! in this process, after each thread's first call).

use std::cell::Cell;
use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use antidogpile::antidogpiled;

/// How long the shared value takes to compute.
const COMPUTE: Duration = Duration::from_millis(300);

thread_local! {
    static COMPUTED_HERE: Cell<bool> = const { Cell::new(false) };
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Fresh for 1 s; another process may take over a refresh after 2 s.
#[antidogpiled(soft = "1s", factor = 30, grace = "2s", name = "worker::hot")]
fn hot(key: u32) -> u64 {
    COMPUTED_HERE.with(|here| here.set(true));
    let start = now_ms();
    if std::env::var_os("WORKER_HANG").is_some() {
        say(&format!("computing {start}"));
        std::thread::sleep(Duration::from_secs(3600));
    }
    std::thread::sleep(COMPUTE);
    let end = now_ms();
    say(&format!("compute {start} {end}"));
    u64::from(key) + start
}

/// How long the liveness functions compute: `COMPUTE_MS` of their command line.
static LIVE_COMPUTE_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A liveness compute: says when it starts, takes `LIVE_COMPUTE_MS`.
fn live_compute(key: u32) -> u64 {
    COMPUTED_HERE.with(|here| here.set(true));
    let start = now_ms();
    say(&format!("computing {start}"));
    let took = LIVE_COMPUTE_MS.load(std::sync::atomic::Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(took));
    let end = now_ms();
    say(&format!("compute {start} {end}"));
    u64::from(key) + start
}

/// A cold value whose compute may take long: another process may take
/// over only after 60 s, unless its holder died.
#[antidogpiled(soft = "60s", factor = 10, grace = "60s", name = "worker::slow")]
fn slow(key: u32) -> u64 {
    live_compute(key)
}

/// Fresh for 1 s, with a grace of 60 s: a refresh claimer that dies must be
/// replaced long before the grace.
#[antidogpiled(soft = "1s", factor = 600, grace = "60s", name = "worker::stale")]
fn stale_soon(key: u32) -> u64 {
    live_compute(key)
}

/// Fresh for 1 s, with a grace of 3 s: no longer than the liveness
/// window, so its holds are taken for the grace and never renewed.
#[antidogpiled(soft = "1s", grace = "3s", name = "worker::brief")]
fn brief_grace(key: u32) -> u64 {
    live_compute(key)
}

/// Says `waiting AT_MS` once a call of the function `namespace` waits for
/// another process's compute (its `waits` count), from a thread of its own.
fn say_when_waiting(namespace: &'static str) {
    std::thread::spawn(move || loop {
        if antidogpile::stats(namespace).is_some_and(|stats| stats.waits > 0) {
            say(&format!("waiting {}", now_ms()));
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    });
}

/// Calls `function` once and says what it got.
fn call_live(function: fn(u32) -> u64) -> (u64, bool) {
    COMPUTED_HERE.with(|here| here.set(false));
    let value = function(1);
    (value, COMPUTED_HERE.with(Cell::get))
}

/// Calls `function` every `every_ms` for `run`, until one call computes:
/// `call AT_MS COMPUTED VALUE` each.
fn calls_until_one_computes(function: fn(u32) -> u64, run: Duration, every_ms: u64) {
    let begin = Instant::now();
    while begin.elapsed() < run {
        let (value, computed) = call_live(function);
        say(&format!("call {} {} {value}", now_ms(), u8::from(computed)));
        if computed {
            break;
        }
        std::thread::sleep(Duration::from_millis(every_ms));
    }
}

fn call() -> (u64, bool) {
    COMPUTED_HERE.with(|here| here.set(false));
    let value = hot(1);
    (value, COMPUTED_HERE.with(Cell::get))
}

/// Keyed by a map, whose iteration order is this process's own.
#[antidogpiled(soft = "1h", name = "worker::by_map")]
fn by_map(prices: std::collections::HashMap<String, u64>) -> u64 {
    COMPUTED_HERE.with(|here| here.set(true));
    prices.values().sum()
}

/// One call of `by_map` with the same 16 entries in every process.
fn map_call() {
    let prices = (0..16u64).map(|i| (format!("sku-{i}"), i * 100)).collect();
    COMPUTED_HERE.with(|here| here.set(false));
    let _ = by_map(prices);
    say(&format!(
        "computed {}",
        u8::from(COMPUTED_HERE.with(Cell::get))
    ));
}

fn hammer(threads: usize, run: Duration) {
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            std::thread::spawn(move || {
                let begin = Instant::now();
                let (mut calls, mut slowest_stale) = (0u64, Duration::ZERO);
                while begin.elapsed() < run {
                    let started = Instant::now();
                    let (_, computed) = call();
                    let took = started.elapsed();
                    if calls > 0 && !computed {
                        slowest_stale = slowest_stale.max(took);
                    }
                    calls += 1;
                    std::thread::sleep(Duration::from_millis(5));
                }
                (calls, slowest_stale)
            })
        })
        .collect();
    let (mut calls, mut slowest) = (0, Duration::ZERO);
    for worker in workers {
        let (n, s) = worker.join().expect("a worker thread panicked");
        calls += n;
        slowest = slowest.max(s);
    }
    say(&format!("calls {calls}"));
    say(&format!("slowest_stale_us {}", slowest.as_micros()));
}

/// Where the stale-set compute reads its value, and the file it waits for.
static STALE_SET_FILES: std::sync::OnceLock<(std::path::PathBuf, std::path::PathBuf)> =
    std::sync::OnceLock::new();

/// Reads the number in DB, says it, and waits (up to 20 s) for GO to exist.
fn stale_set_compute() -> u64 {
    let Some((db, go)) = STALE_SET_FILES.get() else {
        return 0;
    };
    let value = std::fs::read_to_string(db)
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(0);
    say(&format!("computing {value}"));
    let begin = Instant::now();
    while !go.exists() && begin.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(5));
    }
    value
}

/// The memoized side of stale-set (the test process declares the same name).
#[antidogpiled(soft = "1h", name = "worker::stale_set")]
fn stale_set(key: u32) -> u64 {
    let _ = key;
    stale_set_compute()
}

/// One call, through the cache client or the macro, whose compute is held
/// until GO exists; says what it returned. With JOIN, a second thread makes
/// the same call once JOIN exists (joining the first call's compute, if it
/// is still under way), and says what it got.
fn stale_set_call(url: &str, db: &str, go: &str, via: &str, join: Option<&str>) -> ExitCode {
    let _ = STALE_SET_FILES.set((db.into(), go.into()));
    let client = match (via, antidogpile::Cache::from_url(url)) {
        ("client", Ok(cache)) => Some(std::sync::Arc::new(cache)),
        ("macro", _) => None,
        (_, Err(error)) => {
            eprintln!("{error}");
            return ExitCode::from(2);
        }
        _ => {
            eprintln!("stale-set: client or macro");
            return ExitCode::from(2);
        }
    };
    let call = move || match &client {
        Some(cache) => {
            cache.get_or_compute("stale-set", Duration::from_secs(3600), stale_set_compute)
        }
        None => stale_set(1),
    };
    let second = join.map(|join| {
        let (join, call) = (std::path::PathBuf::from(join), call.clone());
        std::thread::spawn(move || {
            let begin = Instant::now();
            while !join.exists() && begin.elapsed() < Duration::from_secs(20) {
                std::thread::sleep(Duration::from_millis(5));
            }
            say("calling");
            let value = call();
            say(&format!("joined {value}"));
        })
    });
    let value = call();
    say(&format!("got {value}"));
    if let Some(second) = second {
        let _ = second.join();
    }
    ExitCode::SUCCESS
}

#[path = "antidogpile-worker/price.rs"]
mod price;
#[path = "antidogpile-worker/renewals.rs"]
mod renewals;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize| args.get(i).and_then(|a| a.parse::<u64>().ok());
    let (Some(mode), Some(url)) = (args.first(), args.get(1)) else {
        eprintln!("usage: antidogpile-worker hammer|hang|poll URL [...]");
        return ExitCode::from(2);
    };
    match renewals::cache_from_url(url) {
        Ok(cache) => antidogpile::install(cache),
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::from(2);
        }
    }
    if let ("stale-set", Some(db), Some(go), Some(via)) =
        (mode.as_str(), args.get(2), args.get(3), args.get(4))
    {
        return stale_set_call(url, db, go, via, args.get(5).map(String::as_str));
    }
    match (mode.as_str(), number(2), number(3)) {
        ("hammer", Some(threads), Some(seconds)) => {
            hammer(threads as usize, Duration::from_secs(seconds));
        }
        ("map", _, _) => map_call(),
        ("clearable", Some(seconds), _) => clearable_calls(Duration::from_secs(seconds)),
        ("hang", _, _) => {
            call();
        }
        ("duty", _, _) => hold_a_duty(url),
        ("poll", Some(seconds), _) => {
            let begin = Instant::now();
            while begin.elapsed() < Duration::from_secs(seconds) {
                let (value, computed) = call();
                say(&format!("call {} {} {value}", now_ms(), u8::from(computed)));
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        ("slow", Some(compute_ms), _) => {
            LIVE_COMPUTE_MS.store(compute_ms, std::sync::atomic::Ordering::Relaxed);
            say_when_waiting("worker::slow");
            let (value, computed) = call_live(slow);
            say(&format!("got {} {} {value}", now_ms(), u8::from(computed)));
        }
        ("stale", Some(compute_ms), Some(seconds)) => {
            LIVE_COMPUTE_MS.store(compute_ms, std::sync::atomic::Ordering::Relaxed);
            calls_until_one_computes(stale_soon, Duration::from_secs(seconds), 20);
        }
        ("brief", Some(compute_ms), Some(seconds)) => {
            LIVE_COMPUTE_MS.store(compute_ms, std::sync::atomic::Ordering::Relaxed);
            calls_until_one_computes(brief_grace, Duration::from_secs(seconds), 250);
        }
        ("price", Some(millis), _) => price::run(Duration::from_millis(millis), false),
        ("nested-price", Some(millis), _) => price::run(Duration::from_millis(millis), true),
        ("price-client" | "nested-price-client", _, _) => {
            if let Err(error) = price::client(url, mode.starts_with("nested")) {
                eprintln!("{error}");
                return ExitCode::FAILURE;
            }
        }
        ("currency", _, _) => price::currency_calls(),
        _ => {
            eprintln!("usage: antidogpile-worker hammer URL THREADS SECONDS | hang URL | poll URL SECONDS | slow URL COMPUTE_MS | stale URL COMPUTE_MS SECONDS | brief URL COMPUTE_MS SECONDS | price URL MILLIS | price-client URL | nested-price URL MILLIS | nested-price-client URL | currency URL | stale-set URL DB GO client|macro [JOIN] | map URL");
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}

/// The client's `get` of a cold key: told to recompute it, holds the duty
/// (its lease) for an hour without setting it.
fn hold_a_duty(url: &str) {
    let Ok(cache) = renewals::cache_from_url(url) else {
        return;
    };
    match cache.get::<u64, _>("duty") {
        Ok(antidogpile::Got::Recompute(_, duty)) => {
            say(&format!("holding {}", now_ms()));
            std::thread::sleep(Duration::from_secs(3600));
            drop(duty);
        }
        other => say(&format!("not holding: {other:?}")),
    }
}

/// Fresh for an hour: only a clear (by another process) makes it compute again.
#[antidogpiled(soft = "1h", name = "worker::clearable")]
fn clearable(key: u32) -> u64 {
    COMPUTED_HERE.with(|here| here.set(true));
    u64::from(key)
}

/// `clearable(1)` every 20 ms for `seconds`: `call AT_MS COMPUTED`.
fn clearable_calls(seconds: Duration) {
    let begin = Instant::now();
    while begin.elapsed() < seconds {
        COMPUTED_HERE.with(|here| here.set(false));
        clearable(1);
        let computed = COMPUTED_HERE.with(Cell::get);
        say(&format!("call {} {}", now_ms(), u8::from(computed)));
        std::thread::sleep(Duration::from_millis(20));
    }
}
