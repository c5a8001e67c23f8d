//! `antidogpile-history`: the history checker's command.
//!
//! ```text
//! antidogpile-history run --store memcached --seed 7 [--seconds 12] [--out DIR]
//!     one seeded run: servers, worker processes, faults; then the check
//! antidogpile-history check FILE...
//!     merges the histories of a run's processes and checks them again
//! antidogpile-history worker ...
//!     one process of the workload (started by `run`)
//! ```
//!
//! Exit status: 0 no violation, 1 a broken promise (each printed with its
//! events), 2 a file that cannot be read or parsed, or bad arguments.

use std::process::ExitCode;

mod run;
mod worker;

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        eprintln!("usage: antidogpile-history run|check|worker ... (see --help)");
        return ExitCode::from(2);
    }
    let command = args.remove(0);
    match command.as_str() {
        "run" => run::main(args),
        "check" => check(&args),
        "worker" => worker::main(args),
        "--help" | "-h" | "help" => {
            println!("{}", USAGE);
            ExitCode::SUCCESS
        }
        other => {
            eprintln!("unknown command {other:?}: one of run, check, worker");
            ExitCode::from(2)
        }
    }
}

const USAGE: &str = "\
antidogpile-history run --store memory|memcached|redis|redis-cluster|file --seed N [--seconds N] [--out DIR] [--broken NAME]
antidogpile-history check FILE...
antidogpile-history worker ... (started by run)";

/// `check FILE...`: merges and checks saved histories.
fn check(files: &[String]) -> ExitCode {
    if files.is_empty() {
        eprintln!(
            "usage: antidogpile-history check FILE... (the histories of one run's processes)"
        );
        return ExitCode::from(2);
    }
    let mut events = Vec::new();
    for file in files {
        let parsed = std::fs::read_to_string(file)
            .map_err(|error| error.to_string())
            .and_then(|text| antidogpile_history::parse(&text).map_err(|error| error.to_string()));
        match parsed {
            Ok(mut more) => events.append(&mut more),
            Err(error) => {
                eprintln!("{file}: {error}");
                return ExitCode::from(2);
            }
        }
    }
    let violations = antidogpile_history::check(&events);
    for violation in &violations {
        print!("{violation}");
    }
    println!(
        "{} events from {} histories: {} violations",
        events.len(),
        files.len(),
        violations.len()
    );
    if violations.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
