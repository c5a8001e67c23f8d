//! The short seeded runs of CI (issue 23): one run per store of the built
//! `antidogpile-history run`, 10 s of load under the seed's faults, that
//! must end with no violation. The long random-seed runs are
//! `bash scripts/history.sh STORE`, by hand.
//!
//! The runs take turns: each starts several processes and servers, and
//! their timing bounds assume they are not starved of CPU. With nextest
//! (every test a process) `scripts/test.sh` runs this file last, with one
//! test thread; under `cargo test` (one process, threads) a lock does it.
//!
//! The broken builds (`--broken NAME`, a promise undone at run time, see
//! `antidogpile::__private::Broken`) must each be reported.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Mutex;

use antidogpile_test_support::temp_dir::TempDir;

/// Held by the run going on.
static ONE_RUN_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The faults done to worker processes only.
const WORKER_FAULTS: &[&str] = &["kill", "restart", "stop", "skew"];

/// Runs `run --store STORE --seed SEED --seconds 10` into a directory of
/// its own, asserts exit 0 with calls and faults, and returns the summary
/// line's `faults_by_kind` (`kind` to count). The directory is kept if the
/// run fails, for `antidogpile-history check`.
fn run_passes(store: &str, seed: u64) -> BTreeMap<String, usize> {
    let _turn = ONE_RUN_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let dir = TempDir::new(&format!("history-{store}"));
    let output = Command::new(env!("CARGO_BIN_EXE_antidogpile-history"))
        .args(["run", "--store", store, "--seed", &seed.to_string()])
        .args(["--seconds", "10", "--out"])
        .arg(dir.path())
        .output()
        .expect("run antidogpile-history");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let summary = stdout
        .lines()
        .find(|line| line.starts_with("store="))
        .map(summary_fields);
    let passed = output.status.success()
        && summary
            .as_ref()
            .is_some_and(|fields| number(fields, "calls") > 0 && number(fields, "faults") > 0);
    if !passed {
        // Kept for `antidogpile-history check DIR/*.history`.
        std::mem::forget(dir);
        panic!(
            "the {store} run of seed {seed} failed ({}):\n{stdout}\n{stderr}",
            output.status
        );
    }
    let fields = summary.unwrap_or_default();
    let by_kind = fields.get("faults_by_kind").cloned().unwrap_or_default();
    by_kind
        .split(',')
        .filter_map(|pair| pair.split_once(':'))
        .map(|(kind, count)| (kind.to_owned(), count.parse().unwrap_or(0)))
        .collect()
}

/// `store=S seed=N ...` as a map of its fields.
fn summary_fields(line: &str) -> BTreeMap<String, String> {
    line.split_whitespace()
        .filter_map(|field| field.split_once('='))
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
}

fn number(fields: &BTreeMap<String, String>, key: &str) -> u64 {
    fields
        .get(key)
        .and_then(|value| value.parse().ok())
        .unwrap_or(0)
}

/// Asserts that only worker faults were done.
fn only_worker_faults(by_kind: &BTreeMap<String, usize>) {
    let others: Vec<&String> = by_kind
        .keys()
        .filter(|kind| !WORKER_FAULTS.contains(&kind.as_str()))
        .collect();
    assert!(others.is_empty(), "{by_kind:?}");
}

/// Asserts that a server was stopped or killed (the seed's schedule has one).
fn a_server_fault(by_kind: &BTreeMap<String, usize>) {
    assert!(
        by_kind.keys().any(|kind| kind.starts_with("server-")),
        "{by_kind:?}"
    );
}

#[test]
fn memory_seed_1_keeps_every_promise() {
    only_worker_faults(&run_passes("memory", 1));
}

#[test]
fn file_seed_2_keeps_every_promise() {
    only_worker_faults(&run_passes("file", 2));
}

#[test]
fn memcached_seed_2_keeps_every_promise() {
    a_server_fault(&run_passes("memcached", 2));
}

#[test]
fn redis_seed_5_keeps_every_promise() {
    a_server_fault(&run_passes("redis", 5));
}

#[test]
fn redis_cluster_seed_3_keeps_every_promise() {
    let by_kind = run_passes("redis-cluster", 3);
    a_server_fault(&by_kind);
    assert!(!by_kind.contains_key("cut"), "{by_kind:?}");
}

/// Runs `run --store memory --seed 1 --seconds 10 --broken NAME`, and
/// asserts that it fails (exit 1) naming `promise` among its violations.
fn broken_build_is_caught(name: &str, promise: &str) {
    let _turn = ONE_RUN_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let dir = TempDir::new(&format!("history-broken-{name}"));
    let output = Command::new(env!("CARGO_BIN_EXE_antidogpile-history"))
        .args(["run", "--store", "memory", "--seed", "1", "--seconds", "10"])
        .args(["--broken", name, "--out"])
        .arg(dir.path())
        .output()
        .expect("run antidogpile-history");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let caught = stdout
        .lines()
        .filter(|line| line.starts_with("VIOLATION ") && line.contains(promise))
        .count();
    assert!(
        output.status.code() == Some(1) && caught > 0,
        "the build broken with {name} was not reported as breaking {promise:?} ({}):\n{stdout}",
        output.status
    );
}

#[test]
fn a_build_without_the_stale_set_guard_is_caught() {
    broken_build_is_caught("stale-set-guard", "stale set");
}

#[test]
fn a_build_that_keeps_the_lease_of_a_panic_is_caught() {
    broken_build_is_caught("lease-kept-on-panic", "waited");
}

#[test]
fn a_build_whose_batches_wait_holding_leases_is_caught() {
    broken_build_is_caught("batch-waits-holding", "waited");
}

#[test]
fn bad_arguments_are_a_set_up_error() {
    let output = Command::new(env!("CARGO_BIN_EXE_antidogpile-history"))
        .args(["run", "--store", "disk", "--seed", "1"])
        .output()
        .expect("run antidogpile-history");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown store \"disk\""), "{stderr}");
}
