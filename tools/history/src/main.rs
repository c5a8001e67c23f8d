//! `cargo run -p antidogpile-history -- FILE...`: merges the histories of a
//! run's processes and checks them (see the library's docs); exits 1 and
//! prints each broken promise with its events if any, 2 if a file cannot
//! be read or parsed.

use std::process::ExitCode;

fn main() -> ExitCode {
    let files: Vec<String> = std::env::args().skip(1).collect();
    if files.is_empty() {
        eprintln!("usage: antidogpile-history FILE... (the histories of one run's processes)");
        return ExitCode::from(2);
    }
    let mut events = Vec::new();
    for file in &files {
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
