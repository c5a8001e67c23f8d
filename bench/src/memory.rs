//! Workload 5, memory per entry: each cache is filled with `u64 -> u64`
//! entries in a child process of its own (so that no other workload's heap
//! is counted), and the resident set it grew by is divided by the entries,
//! less the 16 bytes of key and value. Then all but one entry in twenty go
//! (removed, or for antidogpile expired and swept), and the resident set is
//! read again: how much memory each cache gives back.
//!
//! The resident set is read from `/proc/self/statm` (Linux only). Freed
//! memory returns to the operating system only as far as the allocator lets
//! it (glibc keeps small freed blocks in its heap), so the second figure is
//! a floor on what a long-running process keeps, not the cache's own count.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use antidogpile::clock::{ManualClock, Timestamp};
use antidogpile::{store::MemoryStore, Cache, Ttl};

use crate::progress::Progress;

/// Entries each cache is filled with.
pub const ENTRIES: u64 = 2_000_000;
/// One entry in this many stays after the removal.
const KEEP_ONE_IN: u64 = 20;
/// Bytes of one key and one value (`u64` each).
const KEY_AND_VALUE: f64 = 16.0;

/// The contenders, in the order of the table.
pub const CACHES: [&str; 3] = [
    "moka `sync::Cache`",
    "quick_cache `sync::Cache`",
    "antidogpile `MemoryStore` (`Cache::set`)",
];

/// What one child process measured.
#[derive(Debug, Clone)]
pub struct Row {
    pub cache: usize,
    pub entries: u64,
    pub empty: u64,
    pub full: u64,
    pub kept: u64,
    pub after_removal: u64,
}

impl Row {
    /// Bytes per entry beyond key and value, filled.
    pub fn per_entry(&self) -> f64 {
        self.full.saturating_sub(self.empty) as f64 / self.entries as f64 - KEY_AND_VALUE
    }
}

/// Runs every cache in a child process of this binary.
pub fn run(entries: u64, progress: &mut Progress) -> Result<Vec<Row>, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    for (cache, name) in CACHES.iter().enumerate() {
        progress.step(&format!("memory: {entries} entries in {name}"));
        let output = Command::new(&exe)
            .args(["--memory-worker", &cache.to_string()])
            .args(["--entries", &entries.to_string()])
            .output()
            .map_err(|e| format!("could not start a memory worker: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "memory worker for {name} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        let text = String::from_utf8_lossy(&output.stdout);
        let figures: Vec<u64> = text
            .split_whitespace()
            .map(|word| {
                word.parse()
                    .map_err(|_| format!("bad worker output {text:?}"))
            })
            .collect::<Result<_, _>>()?;
        let [empty, full, kept, after_removal] = figures[..] else {
            return Err(format!("bad worker output {text:?}"));
        };
        rows.push(Row {
            cache,
            entries,
            empty,
            full,
            kept,
            after_removal,
        });
    }
    Ok(rows)
}

/// The resident set of this process, in bytes.
fn resident_bytes() -> Result<u64, String> {
    let statm = std::fs::read_to_string("/proc/self/statm").map_err(|e| e.to_string())?;
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .ok_or("unexpected /proc/self/statm")?;
    // 4 KiB pages on every machine this benchmark runs on (x86-64, aarch64 Linux defaults).
    Ok(pages * 4096)
}

/// In the child: fills one cache, removes most entries, prints the four figures.
pub fn worker(cache: usize, entries: u64) -> Result<(), String> {
    let kept = (0..entries).filter(|k| k % KEEP_ONE_IN == 0).count() as u64;
    let (empty, full, after_removal) = match cache {
        0 => {
            let moka = moka::sync::Cache::builder()
                .time_to_live(Duration::from_secs(3600))
                .build();
            let empty = resident_bytes()?;
            for key in 0..entries {
                moka.insert(key, key);
            }
            moka.run_pending_tasks();
            let full = resident_bytes()?;
            for key in (0..entries).filter(|k| k % KEEP_ONE_IN != 0) {
                moka.invalidate(&key);
            }
            moka.run_pending_tasks();
            (empty, full, resident_bytes()?)
        }
        1 => {
            let quick = quick_cache::sync::Cache::new(entries as usize);
            let empty = resident_bytes()?;
            for key in 0..entries {
                quick.insert(key, key);
            }
            let full = resident_bytes()?;
            for key in (0..entries).filter(|k| k % KEEP_ONE_IN != 0) {
                quick.remove(&key);
            }
            (empty, full, resident_bytes()?)
        }
        2 => {
            let clock = ManualClock::new(Timestamp::from_millis(1));
            let store = Arc::new(MemoryStore::new());
            let cache = Cache::from_store(Arc::clone(&store) as Arc<_>).with_clock(clock.clock());
            let empty = resident_bytes()?;
            let short = Ttl::soft(Duration::from_secs(1)).factor(1);
            let long = Ttl::soft(Duration::from_secs(3600)).factor(1);
            for key in 0..entries {
                let ttl = if key % KEEP_ONE_IN == 0 { long } else { short };
                cache.set(&key, &key, ttl).map_err(|e| e.to_string())?;
            }
            let full = resident_bytes()?;
            clock.advance(Duration::from_secs(2));
            store.sweep(clock.now());
            if store.len() as u64 != kept {
                return Err(format!(
                    "{} entries after the sweep, not {kept}",
                    store.len()
                ));
            }
            (empty, full, resident_bytes()?)
        }
        _ => return Err(format!("no memory workload {cache}")),
    };
    println!("{empty} {full} {kept} {after_removal}");
    Ok(())
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// The section for `docs/benchmarks.md`.
pub fn markdown(rows: &[Row]) -> String {
    let mut out = String::from("## 5. Memory per entry (in process)\n\n");
    let entries = rows.first().map_or(ENTRIES, |row| row.entries);
    out.push_str(&format!(
        "Each cache, in a process of its own, is filled with {entries} `u64 -> u64` entries (no \
         bound, an hour to live); `per entry` is the resident set it grew by, per entry, less the \
         16 bytes of key and value. Then all but one entry in {KEEP_ONE_IN} go (moka: \
         `invalidate` and `run_pending_tasks`; quick_cache: `remove`; antidogpile: expired, then \
         `MemoryStore::sweep`) and the resident set is read again. Freed memory goes back to the \
         system only as far as the allocator (glibc) returns it.\n\n"
    ));
    out.push_str(
        "| cache | RSS empty | RSS full | per entry | entries left | RSS after |\n\
         |---|---:|---:|---:|---:|---:|\n",
    );
    for row in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {:.0} B | {} | {} |\n",
            CACHES[row.cache],
            mib(row.empty),
            mib(row.full),
            row.per_entry(),
            row.kept,
            mib(row.after_removal),
        ));
    }
    out
}
