//! A progress indicator on stderr: one line per step, with the time so far.

use std::io::Write;
use std::time::Instant;

/// Counts the steps of a run.
#[derive(Debug)]
pub struct Progress {
    started: Instant,
    step: usize,
}

impl Progress {
    /// Starts counting now.
    pub fn new() -> Progress {
        Progress {
            started: Instant::now(),
            step: 0,
        }
    }

    /// Announces the next step.
    pub fn step(&mut self, what: &str) {
        self.step += 1;
        let mut stderr = std::io::stderr().lock();
        let _ = writeln!(
            stderr,
            "[{:>6.1} s] {:>2}. {what}",
            self.started.elapsed().as_secs_f64(),
            self.step
        );
    }
}
