//! The in-process hit path: a memoized function's fresh hit against the
//! floor (a `DashMap` get plus a clone of the value), at one and two threads,
//! 1,000 keys with 100-byte `String` values. Reported as ns per call and as
//! a ratio to the floor measured in the same run.
//!
//! ```text
//! cargo bench --bench hit_path
//! ```

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use antidogpile::antidogpiled;
use dashmap::DashMap;

const KEYS: u64 = 1_000;
const CALLS_PER_THREAD: u64 = 2_000_000;

fn value(key: u64) -> String {
    format!("{key:0>100}")
}

#[antidogpiled(soft = "1h")]
fn memoized(key: u64) -> String {
    value(key)
}

/// ns per call, each of `threads` threads making `CALLS_PER_THREAD` calls.
fn ns_per_call(threads: usize, call: Arc<dyn Fn(u64) -> String + Send + Sync>) -> f64 {
    let start = Arc::new(Barrier::new(threads + 1));
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (call, start) = (Arc::clone(&call), Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait();
                let begin = Instant::now();
                let mut key = t as u64 * 7919;
                for _ in 0..CALLS_PER_THREAD {
                    key = (key + 7919) % KEYS;
                    black_box(call(black_box(key)));
                }
                begin.elapsed()
            })
        })
        .collect();
    start.wait();
    let total: Duration = workers.into_iter().map(|w| w.join().unwrap()).sum();
    total.as_nanos() as f64 / (threads as u64 * CALLS_PER_THREAD) as f64
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for the list of benchmarks
    }
    let floor = Arc::new(DashMap::new());
    for key in 0..KEYS {
        floor.insert(key, value(key));
        memoized(key);
    }
    println!("| threads | DashMap get+clone | antidogpile hit | ratio |");
    println!("|---|---|---|---|");
    for threads in [1, 2] {
        // Best of three runs of each, interleaved, to damp a noisy machine.
        let (mut base, mut ours) = (f64::MAX, f64::MAX);
        for _ in 0..3 {
            let map = Arc::clone(&floor);
            base = base.min(ns_per_call(
                threads,
                Arc::new(move |k| map.get(&k).map(|v| v.clone()).unwrap_or_default()),
            ));
            ours = ours.min(ns_per_call(threads, Arc::new(memoized)));
        }
        println!(
            "| {threads} | {base:.1} ns | {ours:.1} ns | {:.2}× |",
            ours / base
        );
    }
}
