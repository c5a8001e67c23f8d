//! `antidogpile-history worker`: one process of the workload, writing its history.

use std::process::ExitCode;

pub fn main(_args: Vec<String>) -> ExitCode {
    eprintln!("worker: not built yet");
    ExitCode::from(2)
}
