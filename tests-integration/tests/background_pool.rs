//! `background = true` on a sync function: refreshes run on a small pool of
//! threads with a bounded queue, not on a thread each. (A file of its own:
//! the test counts the process's threads.)

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use antidogpile::antidogpiled;
use common::{eventually, manual_cache, PATIENCE};

const KEYS: u64 = 2_000;
/// What a compute returns with its key: 0 at first, 1 once refreshed.
static GENERATION: AtomicU64 = AtomicU64::new(0);
/// Refreshes block until the test opens this, so that every one is pending at once.
static GATE_OPEN: AtomicBool = AtomicBool::new(true);

#[antidogpiled(
    soft = "10s",
    background,
    cache = "background_pool",
    name = "background_pool::report"
)]
fn report(id: u64) -> (u64, u64) {
    let generation = GENERATION.load(Ordering::SeqCst);
    assert!(eventually(PATIENCE, || GATE_OPEN.load(Ordering::SeqCst)));
    (id, generation)
}

fn threads_of_this_process() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn two_thousand_stale_keys_are_refreshed_in_the_background_by_a_few_threads() {
    let clock = manual_cache("background_pool");
    for id in 0..KEYS {
        assert_eq!(report(id), (id, 0), "cold misses compute in the foreground");
    }
    let before = threads_of_this_process();
    clock.advance(Duration::from_secs(10));
    GATE_OPEN.store(false, Ordering::SeqCst);
    GENERATION.store(1, Ordering::SeqCst);
    for id in 0..KEYS {
        assert_eq!(report(id), (id, 0), "the stale value at once");
    }
    let during = threads_of_this_process();
    GATE_OPEN.store(true, Ordering::SeqCst);
    // The pool has 4 threads; 2 more for anything else the library may start.
    assert!(
        during <= before + 6,
        "{during} threads with {KEYS} refreshes pending, {before} before"
    );
    // Refreshes that found the queue full gave their claims back: later
    // calls claim again, until every key is refreshed.
    let stale = || (0..KEYS).filter(|&id| report(id) != (id, 1)).count();
    assert!(
        eventually(PATIENCE, || stale() == 0),
        "{} keys never refreshed",
        stale()
    );
}
