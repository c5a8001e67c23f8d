//! Several OS processes share one `file://` directory: exactly one
//! recompute per expiry across all of them, no two at once, stale callers
//! never wait for it, and a claimer killed with SIGKILL is taken over after
//! the grace (its lock on the file died with it; its claim ran out).
//!
//! The processes are `antidogpile-worker` (src/bin), as in
//! tests/cross_process.rs: its function is fresh for 1 s, takes 300 ms to
//! compute, and has a grace of 2 s; the scenarios are in
//! tests/common/workers.rs.

mod common;

use std::path::PathBuf;

use antidogpile_test_support::temp_dir::TempDir;
use common::workers::{self, numbers};

#[test]
fn four_processes_sharing_a_directory_recompute_once_per_expiry() {
    let dir = TempDir::new("file-store-hammer");
    workers::four_processes_hammer_one_key(&dir.file_url());
    // One key, one file: no temporary file or lease left behind.
    let files: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .flat_map(|shard| std::fs::read_dir(shard.unwrap().path()).unwrap())
        .map(|file| file.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
}

#[test]
fn a_claimer_killed_mid_refresh_is_taken_over_after_the_grace() {
    let dir = TempDir::new("file-store-kill");
    let taken_over = workers::a_claimer_is_killed_mid_refresh(&dir.file_url());
    // Until the grace has passed, the poller was served the value the first
    // process stored (read from the file: a later process sees it).
    let primed_start = taken_over
        .prime
        .iter()
        .find(|l| l.starts_with("compute "))
        .map(|l| numbers(l)[0])
        .unwrap();
    let stale_value = 1 + primed_start; // what the worker's function returns
    let within_grace = taken_over.within_grace();
    assert!(
        !within_grace.is_empty(),
        "no call within the grace: {:?}",
        taken_over.polled
    );
    for call in within_grace {
        assert_eq!(call[1], 0, "no compute within the grace");
        assert_eq!(
            call[2], stale_value,
            "the first process's value served meanwhile"
        );
    }
}
