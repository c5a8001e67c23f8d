//! `antidogpile-history run`: starts the store's servers and the worker
//! processes, injects the seed's faults, merges the histories and checks them.
//!
//! A run, in order:
//! 1. its directory (`--out`, or a new temporary one, printed), with
//!    `run.history`: the `config` line, then each fault as it ends;
//! 2. the store's servers ([`servers`]), stopped when the run ends;
//! 3. `--workers` worker processes ([`workers`]), each with its clock skew;
//! 4. the seed's faults ([`plan`], [`inject`]) during the first 60% of the
//!    load;
//! 5. the workers waited for at the end of the load (one still running 10 s
//!    later is killed and is a failure: a hung call), then, once every
//!    fault's hold may have lapsed, the `probe` process that calls every
//!    key once;
//! 6. the histories merged and checked ([`verdict`]).
//!
//! Exit status: 0 no violation, 1 a violation or a failed worker, 2 a
//! set-up error (bad arguments, a server or a worker that does not start).

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

mod inject;
mod journal;
mod options;
mod plan;
mod servers;
mod verdict;
mod workers;

use journal::{now_ms, Journal, RunConfig};
use options::{Options, RunBounds, USAGE};
use plan::Plan;
use servers::Servers;
use workers::{WorkerSetup, Workers};

/// How long the final probe may take to call every key.
const PROBE_PATIENCE: Duration = Duration::from_secs(10);

/// How long after the end of the load a worker may still run.
const EXIT_PATIENCE_MS: u64 = 10_000;

/// `run ARGS`: the exit status as the module's docs say.
pub fn main(args: Vec<String>) -> ExitCode {
    let options = match Options::parse(&args) {
        Ok(options) => options,
        Err(error) => {
            eprintln!("run: {error}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    // The fixtures panic when a server does not start; their servers are
    // stopped as the panic unwinds.
    match std::panic::catch_unwind(AssertUnwindSafe(|| run(&options))) {
        Ok(Ok(0)) => ExitCode::SUCCESS,
        Ok(Ok(_)) => ExitCode::FAILURE,
        Ok(Err(error)) => {
            eprintln!("run: set-up error: {error}");
            ExitCode::from(2)
        }
        Err(_) => {
            eprintln!("run: set-up error: a server fixture failed (its message is above)");
            ExitCode::from(2)
        }
    }
}

/// One run: how many violations and failures it found.
fn run(options: &Options) -> Result<usize, String> {
    let dir = out_dir(options)?;
    println!("histories in {}", dir.display());
    let (workers, journal) = drive(options, &dir)?;
    judge(options, &dir, &workers, &journal)
}

/// Starts the servers and the workers, injects the faults, waits for the
/// workers, runs the probe, and stops the servers: the workers (their
/// figures and failures) and the journal.
fn drive(options: &Options, dir: &Path) -> Result<(Workers, Journal), String> {
    let load_ms = options.seconds * 1000;
    let plan = Plan::draw(
        options.seed,
        options.store,
        options.workers,
        load_ms * 6 / 10,
    );
    let config = RunConfig {
        store: options.store,
        seed: options.seed,
        skew_ms: plan.max_skew_ms(),
        broken: options.broken.as_deref(),
    };
    let mut journal = Journal::create(&dir.join("run.history"), &config)?;
    let mut servers = Servers::start(options.store, dir)?;
    let exe = std::env::current_exe()
        .map_err(|error| format!("could not find this program's path: {error}"))?;
    let load_start_ms = now_ms();
    let until_ms = load_start_ms + load_ms;
    let setup = WorkerSetup {
        exe,
        url: servers.url(),
        dir: dir.to_owned(),
        until_ms,
        broken: options.broken.clone(),
    };
    let mut workers = Workers::start(setup, options.workers, plan.skews.clone())?;
    inject::inject(
        &plan.steps,
        load_start_ms,
        &mut journal,
        &mut workers,
        &mut servers,
    )?;
    for ended in workers.finish(until_ms + EXIT_PATIENCE_MS) {
        inject::write_skew(&mut journal, &ended)?;
    }
    let probe_at_ms = journal.last_end_ms() + options.store.hold_bound_ms() + 1000;
    std::thread::sleep(Duration::from_millis(probe_at_ms.saturating_sub(now_ms())));
    let probe_ms = now_ms();
    journal.fault("probe", "all", probe_ms, probe_ms)?;
    workers.probe(PROBE_PATIENCE)?;
    drop(servers);
    Ok((workers, journal))
}

/// Merges and checks the histories of `dir`, prints the report, each
/// violation and failure with the commands that recheck and rerun it, and
/// the summary line: how many violations and failures.
fn judge(
    options: &Options,
    dir: &Path,
    workers: &Workers,
    journal: &Journal,
) -> Result<usize, String> {
    let histories = verdict::read(dir, workers.killed())?;
    let rerun = rerun_command(options);
    let report = verdict::check_and_report(&histories, dir, options.seed, &rerun);
    for failure in workers.failures() {
        println!("FAILURE {failure}");
        println!("  seed {}", options.seed);
        println!("  rerun:   {rerun}");
    }
    let violations = report.violations.len() + workers.failures().len();
    let calls: usize = report.calls.values().sum();
    let by_kind: Vec<String> = journal
        .faults_by_kind()
        .map(|(kind, count)| format!("{kind}:{count}"))
        .collect();
    let faults: usize = journal.faults_by_kind().map(|(_, count)| count).sum();
    println!("recheck: {}", verdict::recheck_command(dir));
    println!(
        "store={} seed={} processes={} calls={calls} faults={faults} violations={violations} \
         faults_by_kind={}",
        options.store.name(),
        options.seed,
        workers.processes(),
        if by_kind.is_empty() {
            "-".to_owned()
        } else {
            by_kind.join(",")
        },
    );
    Ok(violations)
}

/// The run's directory, created (absolute): `--out`, which must hold no
/// history yet, or a new one under the temporary directory.
fn out_dir(options: &Options) -> Result<PathBuf, String> {
    let dir = match &options.out {
        Some(dir) => dir.clone(),
        None => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |since| since.subsec_nanos());
            std::env::temp_dir().join(format!(
                "antidogpile-history-{}-{}-{}-{nanos}",
                options.store.name(),
                options.seed,
                std::process::id()
            ))
        }
    };
    std::fs::create_dir_all(&dir)
        .and_then(|()| dir.canonicalize())
        .map_err(|error| format!("could not create {}: {error}", dir.display()))
        .and_then(|dir| no_history_in(&dir).map(|()| dir))
}

/// An error if `dir` already holds a history (it would be merged in).
fn no_history_in(dir: &Path) -> Result<(), String> {
    let entries = std::fs::read_dir(dir)
        .map_err(|error| format!("could not read {}: {error}", dir.display()))?;
    let taken = entries
        .filter_map(|entry| entry.ok())
        .any(|entry| entry.path().extension().is_some_and(|ext| ext == "history"));
    if taken {
        Err(format!(
            "{} already holds histories: give an empty directory",
            dir.display()
        ))
    } else {
        Ok(())
    }
}

/// The command that runs the same seed again.
fn rerun_command(options: &Options) -> String {
    let broken = match &options.broken {
        Some(broken) => format!(" --broken {broken}"),
        None => String::new(),
    };
    format!(
        "antidogpile-history run --store {} --seed {} --seconds {} --workers {}{broken}",
        options.store.name(),
        options.seed,
        options.seconds,
        options.workers
    )
}
