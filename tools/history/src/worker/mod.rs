//! `antidogpile-history worker`: one process of the workload, writing its
//! history (see `/tools/history/README.md`).
//!
//! ```text
//! antidogpile-history worker --url URL --name w1.1 --ids-from N
//!     --until-ms T --out FILE [--skew-ms ±X] [--broken NAME] [--probe]
//!     [--threads 3] [--tasks 6]
//! ```
//!
//! It installs the cache of `URL` (its clock `X` ms off if `--skew-ms`),
//! prints `ready`, and until the real time `T` (ms since the epoch) runs
//! threads and tokio tasks that call the workload's functions and the
//! client on a small key space, each operation written to FILE as it ends.
//! With `--probe` it instead calls every key once with quick computes and
//! exits: after a run, every call must then be answered without waiting for
//! a hold left behind.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use antidogpile::__private::{break_promise, report_calls, Broken};
use antidogpile::clock::Clock;
use antidogpile::Cache;

mod functions;
mod history;
mod ops;

use functions::{random, Behaviour, CACHE, DELIBERATE};
use history::{now_ms, History};
use ops::KEYS;

/// A worker's command line.
#[derive(Debug)]
struct Options {
    url: String,
    name: String,
    ids_from: u64,
    until_ms: u64,
    out: String,
    skew_ms: i64,
    broken: Option<Broken>,
    probe: bool,
    threads: usize,
    tasks: usize,
}

fn parse(args: Vec<String>) -> Result<Options, String> {
    let mut options = Options {
        url: String::new(),
        name: String::new(),
        ids_from: 1,
        until_ms: 0,
        out: String::new(),
        skew_ms: 0,
        broken: None,
        probe: false,
        threads: 3,
        tasks: 6,
    };
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        if flag == "--probe" {
            options.probe = true;
            continue;
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = |what: &str| -> Result<u64, String> {
            value
                .parse()
                .map_err(|_| format!("{what} must be a whole number, found {value:?}"))
        };
        match flag.as_str() {
            "--url" => options.url = value.clone(),
            "--name" => options.name = value.clone(),
            "--ids-from" => options.ids_from = number("--ids-from")?,
            "--until-ms" => options.until_ms = number("--until-ms")?,
            "--out" => options.out = value.clone(),
            "--threads" => options.threads = number("--threads")? as usize,
            "--tasks" => options.tasks = number("--tasks")? as usize,
            "--skew-ms" => {
                options.skew_ms = value
                    .parse()
                    .map_err(|_| format!("--skew-ms must be a whole number, found {value:?}"))?
            }
            "--broken" => {
                let found = Broken::ALL.iter().find(|(name, _)| *name == value);
                let names: Vec<&str> = Broken::ALL.iter().map(|(name, _)| *name).collect();
                options.broken = Some(found.map(|(_, broken)| *broken).ok_or_else(|| {
                    format!("unknown --broken {value:?}: one of {}", names.join(", "))
                })?);
            }
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    for (what, missing) in [
        ("--url", options.url.is_empty()),
        ("--name", options.name.is_empty()),
        ("--out", options.out.is_empty()),
        ("--until-ms", options.until_ms == 0 && !options.probe),
    ] {
        if missing {
            return Err(format!("{what} is required"));
        }
    }
    Ok(options)
}

/// The worker's entry point.
pub fn main(args: Vec<String>) -> ExitCode {
    let options = match parse(args) {
        Ok(options) => options,
        Err(error) => {
            eprintln!("worker: {error}");
            return ExitCode::from(2);
        }
    };
    match run(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("worker {}: {error}", options.name);
            ExitCode::from(2)
        }
    }
}

fn run(options: &Options) -> Result<(), String> {
    quiet_deliberate_panics();
    let history = History::create(&options.out, options.name.clone(), options.ids_from)
        .map_err(|error| format!("cannot open {}: {error}", options.out))?;
    let behaviour = if options.probe {
        Behaviour::Quick
    } else {
        Behaviour::Faulty
    };
    functions::set_up(history, behaviour);
    report_calls();
    if let Some(broken) = options.broken {
        break_promise(broken);
    }
    let cache = Cache::from_url(&options.url)
        .map_err(|error| format!("bad --url {:?}: {error}", options.url))?
        .with_clock(Clock::__skewed(options.skew_ms));
    antidogpile::install_named(CACHE, cache);
    let cache = antidogpile::named_cache(CACHE).ok_or("the named cache was not installed")?;
    // Connect before the first call: a call's time is its wait, and a
    // store's first connection (six nodes of a cluster) is none. A store
    // that is down now is one of the run's faults: the calls say so.
    let _ = cache.ping();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|error| format!("no tokio runtime: {error}"))?;
    println!("ready");
    if options.probe {
        probe(&cache, &runtime);
        return Ok(());
    }
    let until = options.until_ms;
    std::thread::scope(|scope| {
        for _ in 0..options.threads {
            let cache = Arc::clone(&cache);
            scope.spawn(move || thread_load(&cache, until));
        }
        runtime.block_on(async {
            let tasks: Vec<_> = (0..options.tasks)
                .map(|_| tokio::spawn(task_load(Arc::clone(&cache), until)))
                .collect();
            for task in tasks {
                let _ = task.await;
            }
        });
    });
    // Calls still under way in the runtime (none: every task was awaited).
    runtime.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}

/// A small pause between operations.
fn pause() -> Duration {
    Duration::from_millis(random() % 15)
}

fn thread_load(cache: &Arc<antidogpile::Cache>, until: u64) {
    while now_ms() < until {
        let key = (random() % u64::from(KEYS)) as u32;
        match random() % 100 {
            0..=49 => ops::call_sync(key),
            50..=54 => ops::nested_sync(cache),
            55..=64 => ops::batch_sync(cache),
            65..=74 => ops::client_get(cache),
            75..=81 => ops::client_set(cache),
            82..=84 => ops::client_delete(cache),
            85..=86 => ops::batch_delete(cache),
            87..=98 => ops::invalidate_sync(key),
            _ if random() % 8 == 0 => ops::clear(cache),
            _ => {}
        }
        std::thread::sleep(pause());
    }
}

async fn task_load(cache: Arc<antidogpile::Cache>, until: u64) {
    while now_ms() < until {
        let key = (random() % u64::from(KEYS)) as u32;
        match random() % 100 {
            0..=64 => ops::call_async(key).await,
            65..=79 => ops::batch_async(Arc::clone(&cache)).await,
            _ => ops::invalidate_async(key).await,
        }
        tokio::time::sleep(pause()).await;
    }
}

/// Every key of every kind once, with quick computes.
fn probe(cache: &Arc<antidogpile::Cache>, runtime: &tokio::runtime::Runtime) {
    for key in 0..KEYS {
        ops::call_sync(key);
        runtime.block_on(ops::call_async(key));
        ops::client_get(cache);
    }
    for _ in 0..KEYS {
        ops::batch_sync(cache);
    }
}

/// Keeps the deliberate panics of computes out of stderr.
fn quiet_deliberate_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let deliberate = info
            .payload()
            .downcast_ref::<String>()
            .is_some_and(|message| message == DELIBERATE);
        if !deliberate {
            default(info);
        }
    }));
}
