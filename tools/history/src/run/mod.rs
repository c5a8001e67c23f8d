//! `antidogpile-history run`: starts the store's servers and the worker
//! processes, injects the seed's faults, merges the histories and checks them.

use std::process::ExitCode;

pub fn main(_args: Vec<String>) -> ExitCode {
    eprintln!("run: not built yet");
    ExitCode::from(2)
}
