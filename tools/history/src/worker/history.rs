//! A worker's history file: one event a line, each written with one
//! `write` as it ends, so that a process killed mid-run leaves every event
//! it finished (and nothing half-written but its last line at worst).

use std::fs::File;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Real time in milliseconds since the Unix epoch: the histories' shared
/// clock (never the cache's, which may be skewed on purpose).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}

/// Where this process writes its events, and the IDs it gives its values.
pub struct History {
    file: Mutex<File>,
    /// This process's name in the events (`w1.2`, `probe`).
    pub process: String,
    next_id: AtomicU64,
}

impl History {
    /// A history written to `path` (created, or appended to) by `process`,
    /// whose values are numbered from `first_id`.
    pub fn create(path: &str, process: String, first_id: u64) -> std::io::Result<History> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(History {
            file: Mutex::new(file),
            process,
            next_id: AtomicU64::new(first_id),
        })
    }

    /// A new value's ID, unique in the run.
    pub fn new_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Writes one event (`kind` and its fields after the process name, or
    /// in its place for kinds that name no process first).
    pub fn write(&self, line: std::fmt::Arguments<'_>) {
        let mut text = line.to_string();
        text.push('\n');
        let mut file = self
            .file
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // A history that cannot be written is a broken run: say so once per line.
        if let Err(error) = file.write_all(text.as_bytes()) {
            eprintln!("{}: cannot write the history: {error}", self.process);
        }
    }
}

/// `-` for none, else the ID.
pub fn id_or_dash(id: Option<u64>) -> String {
    id.map_or_else(|| "-".to_owned(), |id| id.to_string())
}
