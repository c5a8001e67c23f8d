//! Several OS processes share one `file://` directory: exactly one
//! recompute per expiry across all of them, no two at once, stale callers
//! never wait for it, and a claimer killed with SIGKILL is taken over after
//! the grace (its lock on the file died with it; its claim ran out).
//!
//! The processes are `antidogpile-worker` (src/bin), as in
//! tests/cross_process.rs: its function is fresh for 1 s, takes 300 ms to
//! compute, and has a grace of 2 s.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const WORKER: &str = env!("CARGO_BIN_EXE_antidogpile-worker");
const SOFT_MS: u64 = 1_000;
const COMPUTE_MS: u64 = 300;
const GRACE_MS: u64 = 2_000;
/// The coarse clock deadlines are read from lags by up to a scheduler tick.
const CLOCK_SLACK_MS: u64 = 20;

/// A directory of its own under the system's temporary directory, removed on drop.
struct CacheDir(PathBuf);

impl CacheDir {
    fn new(name: &str) -> CacheDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos());
        CacheDir(std::env::temp_dir().join(format!(
            "antidogpile-file-store-{}-{nanos}-{name}",
            std::process::id()
        )))
    }

    fn url(&self) -> String {
        format!("file://{}", self.0.display())
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for CacheDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn worker(args: &[&str]) -> Command {
    let mut command = Command::new(WORKER);
    command
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    command
}

fn lines_of(child: Child) -> Vec<String> {
    let output = child.wait_with_output().expect("worker did not run");
    assert!(
        output.status.success(),
        "worker failed: {:?}",
        output.status
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn numbers(line: &str) -> Vec<u64> {
    line.split_whitespace()
        .skip(1)
        .filter_map(|n| n.parse().ok())
        .collect()
}

#[test]
fn four_processes_sharing_a_directory_recompute_once_per_expiry() {
    let dir = CacheDir::new("hammer");
    let url = dir.url();
    let processes: Vec<Child> = (0..4)
        .map(|_| {
            worker(&["hammer", &url, "8", "6"])
                .spawn()
                .expect("spawn worker")
        })
        .collect();
    let outputs: Vec<Vec<String>> = processes.into_iter().map(lines_of).collect();

    let mut computes: Vec<(u64, u64)> = outputs
        .iter()
        .flatten()
        .filter(|line| line.starts_with("compute "))
        .map(|line| {
            let n = numbers(line);
            (n[0], n[1])
        })
        .collect();
    computes.sort_unstable();
    // A 6 s run crosses at least four expiries (1 s fresh + 0.3 s compute each).
    assert!(
        computes.len() >= 4,
        "too few computes to judge: {computes:?}"
    );
    for pair in computes.windows(2) {
        let ((_, ended), (started, _)) = (pair[0], pair[1]);
        assert!(
            started + CLOCK_SLACK_MS >= ended + SOFT_MS,
            "two computes in one expiry (or overlapping): {pair:?} of {computes:?}"
        );
    }
    // Every process took part, and none of its stale callers waited for a compute.
    for output in &outputs {
        let calls = output
            .iter()
            .find(|l| l.starts_with("calls "))
            .map(|l| numbers(l)[0]);
        assert!(
            calls.unwrap_or(0) > 100,
            "a process made too few calls: {output:?}"
        );
        let slowest = output
            .iter()
            .find(|l| l.starts_with("slowest_stale_us "))
            .map(|l| numbers(l)[0])
            .expect("slowest_stale_us line");
        assert!(
            slowest < COMPUTE_MS * 1000,
            "a caller that did not compute took {slowest} µs: it waited for a compute"
        );
    }
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
    let dir = CacheDir::new("kill");
    let url = dir.url();
    // A first value, then let it go stale.
    let prime = lines_of(worker(&["hammer", &url, "1", "1"]).spawn().unwrap());
    assert_eq!(
        prime.iter().filter(|l| l.starts_with("compute ")).count(),
        1,
        "{prime:?}"
    );
    std::thread::sleep(Duration::from_millis(SOFT_MS + 100));

    // This process claims the refresh and hangs in it; then it is SIGKILLed.
    let mut hanging = worker(&["hang", &url])
        .env("WORKER_HANG", "1")
        .spawn()
        .unwrap();
    let mut first_line = String::new();
    BufReader::new(hanging.stdout.take().unwrap())
        .read_line(&mut first_line)
        .unwrap();
    let claimed_at = numbers(first_line.trim())[0];
    hanging.kill().expect("SIGKILL the claimer");
    let _ = hanging.wait();

    // Another process keeps calling: the value the first process stored
    // (read from the file: a later process sees it) until the grace has
    // passed, then it takes the refresh over, once.
    let polled = lines_of(worker(&["poll", &url, "4"]).spawn().unwrap());
    let calls: Vec<Vec<u64>> = polled
        .iter()
        .filter(|l| l.starts_with("call "))
        .map(|l| numbers(l))
        .collect();
    let computed: Vec<&Vec<u64>> = calls.iter().filter(|c| c[1] == 1).collect();
    assert!(
        !computed.is_empty(),
        "the refresh was never taken over: {polled:?}"
    );
    let took_over_at = computed[0][0] - COMPUTE_MS;
    // Later computes are the ordinary refreshes of later expiries.
    let before_next_expiry = computed
        .iter()
        .filter(|c| c[0] < computed[0][0] + SOFT_MS)
        .count();
    assert_eq!(before_next_expiry, 1, "exactly one takeover: {polled:?}");
    assert!(
        took_over_at + CLOCK_SLACK_MS >= claimed_at + GRACE_MS,
        "taken over {} ms after the claim, before the grace",
        took_over_at - claimed_at
    );
    let primed_start = prime
        .iter()
        .find(|l| l.starts_with("compute "))
        .map(|l| numbers(l)[0])
        .unwrap();
    let stale_value = 1 + primed_start; // what the worker's function returns
    let within_grace: Vec<&Vec<u64>> = calls
        .iter()
        .filter(|c| c[0] < claimed_at + GRACE_MS)
        .collect();
    assert!(
        !within_grace.is_empty(),
        "no call within the grace: {polled:?}"
    );
    for call in within_grace {
        assert_eq!(call[1], 0, "no compute within the grace");
        assert_eq!(
            call[2], stale_value,
            "the first process's value served meanwhile"
        );
    }
}
