//! antidogpile side by side with peer libraries, every workload in one run,
//! reported as ratios measured in that run.
//!
//! ```text
//! cargo run --release -p antidogpile-bench            # full run, writes docs/
//! cargo run -p antidogpile-bench -- --quick           # each workload briefly
//! cargo run --release -p antidogpile-bench -- --out DIR
//! cargo run --release -p antidogpile-bench -- --memory   # only memory per entry
//! cargo run --release -p antidogpile-bench -- --only hits # the in-process hit path alone
//! cargo run --release -p antidogpile-bench -- --only large-batch   # that row alone
//! cargo run --release -p antidogpile-bench -- --only memcached-hits # hits and get_many
//! cargo run --release -p antidogpile-bench -- --only redis # Redis hits and stampede
//! ```
//!
//! The tables go to stdout, progress to stderr; a full run writes
//! `docs/benchmarks.md` and `docs/stampede-latency.svg` (or into `--out DIR`).

mod hit_path;
mod machine;
mod measure;
mod memcached;
mod memory;
mod progress;
mod raw_get;
mod redis_rows;
mod redis_wakeup;
mod remote;
mod report;
mod stampede;
mod sustained;
mod svg;
mod zipf;

use std::path::PathBuf;
use std::time::Duration;

use antidogpile_test_support::memcached::Memcached;

use progress::Progress;
use remote::StampedeRow;
use report::{MemcachedResults, Results};

/// How long each workload runs.
#[derive(Debug, Clone, Copy)]
struct Budget {
    hit_calls: u64,
    hit_rounds: usize,
    stampede: Duration,
    sustained: Duration,
    memcached_calls: u64,
    memcached_rounds: usize,
    cross_process: Duration,
}

const FULL: Budget = Budget {
    hit_calls: 2_000_000,
    hit_rounds: 3,
    stampede: Duration::from_millis(2_200),
    sustained: Duration::from_secs(4),
    memcached_calls: 30_000,
    memcached_rounds: 3,
    cross_process: Duration::from_secs(3),
};

const QUICK: Budget = Budget {
    hit_calls: 20_000,
    hit_rounds: 1,
    stampede: Duration::from_millis(700),
    sustained: Duration::from_millis(300),
    memcached_calls: 500,
    memcached_rounds: 1,
    cross_process: Duration::from_millis(1_000),
};

/// Callers of the stampede.
const CALLERS: usize = 64;
/// Worker processes of the stampede across processes, and callers in each.
const PROCESSES: usize = 4;
const THREADS_PER_PROCESS: usize = 16;

fn value_of(args: &[String], name: &str) -> Option<String> {
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1).cloned()
}

fn number(args: &[String], name: &str) -> Result<u64, String> {
    value_of(args, name)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("{name} needs a whole number"))
}

fn fail(message: &str) -> ! {
    eprintln!("antidogpile-bench: {message}");
    std::process::exit(2);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("usage: antidogpile-bench [--quick] [--out DIR] [--memory] [--only hits|large-batch|memcached-hits|redis]");
        return;
    }
    if let Some(cache) = value_of(&args, "--memory-worker") {
        let run = || -> Result<(), String> {
            let cache = cache
                .parse()
                .map_err(|_| "--memory-worker needs a number")?;
            memory::worker(cache, number(&args, "--entries")?)
        };
        if let Err(error) = run() {
            fail(&error);
        }
        return;
    }
    if args.iter().any(|a| a == "--memory") {
        // Only the memory workload; its section is printed, not written.
        match memory::run(memory::ENTRIES, &mut Progress::new()) {
            Ok(rows) => println!("{}", memory::markdown(&rows)),
            Err(error) => fail(&error),
        }
        return;
    }
    if let Some(mode) = value_of(&args, "--worker") {
        let run = || -> Result<(), String> {
            let port = u16::try_from(number(&args, "--port")?).map_err(|e| e.to_string())?;
            let threads = number(&args, "--threads")? as usize;
            let millis = Duration::from_millis(number(&args, "--millis")?);
            if mode.starts_with("redis-") {
                redis_rows::worker(&mode, port, threads, millis)
            } else {
                memcached::worker(&mode, port, threads, millis)
            }
        };
        if let Err(error) = run() {
            fail(&error);
        }
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    // One part alone, printed (docs untouched): the large-batch rows; the
    // memcached hit rows and the get_many row, with their ratios to the raw
    // floor of the same run; or the Redis rows.
    let only: Option<fn(Budget) -> Result<String, String>> =
        match value_of(&args, "--only").as_deref() {
            Some("hits") => Some(only_hits),
            Some("large-batch") => Some(only_large_batch),
            Some("memcached-hits") => Some(only_memcached_hits),
            Some("redis") => Some(|budget| run_redis(budget, &mut Progress::new())),
            _ => None,
        };
    if let Some(only) = only {
        match only(if quick { QUICK } else { FULL }) {
            Ok(table) => println!("{table}"),
            Err(error) => fail(&error),
        }
        return;
    }
    let out = value_of(&args, "--out")
        .map(PathBuf::from)
        .or_else(|| (!quick).then(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs")));
    let budget = if quick { QUICK } else { FULL };
    let results = run(quick, budget);
    let entries = if quick {
        memory::ENTRIES / 20
    } else {
        memory::ENTRIES
    };
    let memory = memory::run(entries, &mut Progress::new()).map_or_else(
        |error| format!("## 5. Memory per entry\n\nnot measured: {error}\n"),
        |rows| memory::markdown(&rows),
    );
    let redis = run_redis(budget, &mut Progress::new())
        .unwrap_or_else(|error| format!("## 4b. Redis\n\nnot measured: {error}\n"));
    let markdown = format!("{}\n{redis}\n{memory}", report::markdown(&results));
    println!("{markdown}");
    if quick {
        print!("{}", report::computes_lines(&results));
    }
    if let Some(dir) = out {
        let plotted: Vec<svg::Series<'_>> = results
            .stampede
            .iter()
            .filter(|(run, _)| !run.tasks && stampede::CACHES[run.cache].1)
            .map(|(run, _)| svg::Series {
                name: stampede::CACHES[run.cache]
                    .0
                    .trim_end_matches(" `get_with`"),
                colour: ["#d62728", "#ff7f0e", "#2ca02c", "#1f77b4"][run.cache],
                run,
            })
            .collect();
        let plot = svg::render(&plotted, CALLERS, &results.machine.describe());
        let written = std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(dir.join("benchmarks.md"), &markdown))
            .and_then(|()| std::fs::write(dir.join("stampede-latency.svg"), plot));
        if let Err(error) = written {
            fail(&format!("could not write into {}: {error}", dir.display()));
        }
        eprintln!(
            "wrote {}/benchmarks.md and stampede-latency.svg",
            dir.display()
        );
    }
}

fn run(quick: bool, budget: Budget) -> Results {
    let mut progress = Progress::new();
    let hit = hit_path::run(budget.hit_calls, budget.hit_rounds, &mut progress);
    let mut stampedes = Vec::new();
    for tasks in [false, true] {
        for (cache, (name, _)) in stampede::CACHES.iter().enumerate() {
            progress.step(&format!(
                "stampede, {CALLERS} {}: {name}",
                if tasks { "tasks" } else { "threads" }
            ));
            let run = if tasks {
                stampede::run_tasks(cache, CALLERS, budget.stampede)
            } else {
                stampede::run_threads(cache, CALLERS, budget.stampede)
            };
            let row = run.row();
            stampedes.push((run, row));
        }
    }
    let sustained = sustained::run(budget.sustained, &mut progress);
    let memcached = run_memcached(budget, &mut progress);
    Results {
        machine: machine::Machine::detect(),
        quick,
        hit,
        stampede: stampedes,
        sustained,
        memcached,
        callers: CALLERS,
    }
}

fn run_memcached(budget: Budget, progress: &mut Progress) -> Result<MemcachedResults, String> {
    progress.step("memcached: starting a server");
    let server = start_memcached()?;
    memcached::install(&server.url(""))?;
    progress.step("memcached: hits, plain client and antidogpile");
    let hits = memcached::run_hits(
        server.port(),
        budget.memcached_calls,
        budget.memcached_rounds,
    )?;
    progress.step(&format!("memcached: get_many of {} keys", memcached::BATCH));
    let get_many = memcached::run_get_many(
        server.port(),
        budget.memcached_calls / 10,
        budget.memcached_rounds,
    )?;
    progress.step(&format!(
        "memcached: get_many and get_or_compute_many of {} keys",
        memcached::LARGE_BATCH
    ));
    let large_batch =
        memcached::run_large_batch(large_batch_calls(budget), budget.memcached_rounds)?;
    let stampede = stampedes(
        "memcached",
        memcached::run_stampede,
        server.port(),
        budget,
        progress,
    )?;
    Ok(MemcachedResults {
        hits,
        get_many,
        large_batch,
        stampede,
        processes: PROCESSES,
        threads: THREADS_PER_PROCESS,
    })
}

/// The Redis section: hits against a plain `GET` through redis-rs, and
/// the stampede across processes, against a redis-server of its own.
fn run_redis(budget: Budget, progress: &mut Progress) -> Result<String, String> {
    progress.step("redis: starting a server");
    let server = redis_rows::start()?;
    redis_rows::install(server.port())?;
    progress.step("redis: hits, plain GET and antidogpile");
    let hits = redis_rows::run_hits(
        server.port(),
        budget.memcached_calls,
        budget.memcached_rounds,
    )?;
    progress.step("redis: a waiter's wake-up, polling and pub/sub");
    let trials = if budget.hit_rounds > 1 { 30 } else { 8 };
    let wakeups = [
        redis_wakeup::polling(server.port(), trials)?,
        redis_wakeup::pubsub(server.port(), trials)?,
    ];
    let stampede = stampedes(
        "redis",
        redis_rows::run_stampede,
        server.port(),
        budget,
        progress,
    )?;
    Ok(format!(
        "## 4b. Redis\n\n{}\nA fresh hit of a memoized function on `redis://` against a plain `GET` of \
         the same 100-byte value through the same client library (redis-rs), measured in this run \
         (target ≤ 1.15×):\n\n{}\nHow soon a waiter in another process learns that a cold miss's value \
         landed (the store polls; a pub/sub message is the alternative it does not take, see the \
         README's design notes), from the start of the write:\n\n{}\nThe stampede across processes \
         (target: 1 compute per expiry):\n\n{}",
        redis_rows::targets(&hits, &stampede),
        redis_rows::hits_table(&hits),
        redis_wakeup::table(&wakeups),
        redis_rows::stampede_table(&stampede, PROCESSES, THREADS_PER_PROCESS, budget.cross_process)
    ))
}

/// A store's stampede across [`PROCESSES`] worker processes of
/// [`THREADS_PER_PROCESS`] callers, naive then antidogpile, each run by
/// `run` (the store's `run_stampede`) against the server on `port`.
fn stampedes(
    store: &str,
    run: fn(u16, bool, usize, usize, Duration) -> Result<StampedeRow, String>,
    port: u16,
    budget: Budget,
    progress: &mut Progress,
) -> Result<Vec<(&'static str, StampedeRow)>, String> {
    let mut rows = Vec::new();
    for (name, naive) in [("naive", true), ("antidogpile", false)] {
        progress.step(&format!(
            "{store}: stampede across {PROCESSES} processes, {name}"
        ));
        let row = run(
            port,
            naive,
            PROCESSES,
            THREADS_PER_PROCESS,
            budget.cross_process,
        )?;
        rows.push((name, row));
    }
    Ok(rows)
}

/// Batches of the large-batch rows per round: each reads 10,000 keys.
/// The in-process hit path alone: its table and the async hit's target.
fn only_hits(budget: Budget) -> Result<String, String> {
    let hit = hit_path::run(budget.hit_calls, budget.hit_rounds, &mut Progress::new());
    let mut table = String::new();
    report::hit_table(&hit, &mut table);
    table.push_str("| target | measured | met |\n|---|---|---|\n");
    table.push_str(&report::async_hit_target(&hit));
    Ok(table)
}

fn large_batch_calls(budget: Budget) -> u64 {
    (budget.memcached_calls / 1_000).max(3)
}

/// The large-batch rows alone, against a memcached of their own.
fn only_large_batch(budget: Budget) -> Result<String, String> {
    let server = start_memcached()?;
    memcached::install(&server.url(""))?;
    let rows = memcached::run_large_batch(large_batch_calls(budget), budget.memcached_rounds)?;
    Ok(format!(
        "| target | measured | met |\n|---|---|---|\n{}{}",
        report::large_batch_target(&rows),
        report::large_batch_table(&rows)
    ))
}

/// The memcached hit rows and the `get_many` row alone, against a
/// memcached of their own.
fn only_memcached_hits(budget: Budget) -> Result<String, String> {
    let server = start_memcached()?;
    memcached::install(&server.url(""))?;
    let hits = memcached::run_hits(
        server.port(),
        budget.memcached_calls,
        budget.memcached_rounds,
    )?;
    let get_many = memcached::run_get_many(
        server.port(),
        budget.memcached_calls / 10,
        budget.memcached_rounds,
    )?;
    Ok(report::memcached_hits_table(&hits, &get_many))
}

/// A memcached of the bench's own, on a free loopback port, stopped when
/// dropped.
fn start_memcached() -> Result<Memcached, String> {
    Memcached::try_start_with(&[]).map_err(|error| error.to_string())
}
