//! A process of the cross-process tests: calls one memoized function backed
//! by memcached and reports what it saw on stdout, one event per line.
//!
//! ```text
//! antidogpile-worker hammer URL THREADS SECONDS   many threads, many calls
//! antidogpile-worker hang URL                     one call whose compute never ends
//! antidogpile-worker poll URL SECONDS             one call every 20 ms
//! antidogpile-worker map URL                      one call with a 16-entry HashMap
//! ```
//!
//! Lines: `compute START_MS END_MS`, `computing START_MS` (hang),
//! `call AT_MS COMPUTED VALUE` (poll), `computed 0|1` (map), and for hammer at the end
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

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize| args.get(i).and_then(|a| a.parse::<u64>().ok());
    let (Some(mode), Some(url)) = (args.first(), args.get(1)) else {
        eprintln!("usage: antidogpile-worker hammer|hang|poll URL [...]");
        return ExitCode::from(2);
    };
    match antidogpile::Cache::from_url(url) {
        Ok(cache) => antidogpile::install(cache),
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::from(2);
        }
    }
    match (mode.as_str(), number(2), number(3)) {
        ("hammer", Some(threads), Some(seconds)) => {
            hammer(threads as usize, Duration::from_secs(seconds));
        }
        ("map", _, _) => map_call(),
        ("hang", _, _) => {
            call();
        }
        ("poll", Some(seconds), _) => {
            let begin = Instant::now();
            while begin.elapsed() < Duration::from_secs(seconds) {
                let (value, computed) = call();
                say(&format!("call {} {} {value}", now_ms(), u8::from(computed)));
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        _ => {
            eprintln!("usage: antidogpile-worker hammer URL THREADS SECONDS | hang URL | poll URL SECONDS | map URL");
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}
