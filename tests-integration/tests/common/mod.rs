//! Shared by the behaviour tests: a cache on a manual clock under a name of
//! the test's own (tests in one binary run in parallel and share the
//! registry), and a probe that counts computes and catches overlapping ones.
#![allow(dead_code)] // each test binary uses its own part of this module

pub mod altered_store;
pub mod holds;
pub mod outage;
pub mod round_trips;
pub mod workers;

#[allow(unused_imports)] // each test binary uses its own part
pub use antidogpile_test_support::{fault_proxy, memcached, slow_reader};

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use antidogpile::clock::{ManualClock, Timestamp};
use antidogpile::{install_named, store::MemoryStore, Cache};

/// Installs a memory cache on a manual clock as `name`; returns the clock.
pub fn manual_cache(name: &str) -> ManualClock {
    let manual = ManualClock::new(Timestamp::from_millis(1_700_000_000_000));
    install_named(
        name,
        Cache::new(MemoryStore::new()).with_clock(manual.clock()),
    );
    manual
}

/// Counts computes and detects two computes of one key running at once: a
/// non-blocking try-lock (the canary) taken for the whole compute. The lock
/// is an atomic flag so that its guard may be held across `.await`.
pub struct ComputeProbe {
    running: AtomicBool,
    computes: AtomicUsize,
    overlaps: AtomicUsize,
}

/// Held for the whole compute; unlocks the canary when dropped.
pub struct Canary<'a>(Option<&'a AtomicBool>);

impl Drop for Canary<'_> {
    fn drop(&mut self) {
        if let Some(running) = self.0 {
            running.store(false, Ordering::SeqCst);
        }
    }
}

impl ComputeProbe {
    pub const fn new() -> ComputeProbe {
        ComputeProbe {
            running: AtomicBool::new(false),
            computes: AtomicUsize::new(0),
            overlaps: AtomicUsize::new(0),
        }
    }

    /// Call at the start of a compute; hold the canary until its end.
    pub fn enter(&self) -> Canary<'_> {
        self.computes.fetch_add(1, Ordering::SeqCst);
        let locked = self
            .running
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok();
        if !locked {
            self.overlaps.fetch_add(1, Ordering::SeqCst);
        }
        Canary(locked.then_some(&self.running))
    }

    pub fn computes(&self) -> usize {
        self.computes.load(Ordering::SeqCst)
    }

    pub fn overlaps(&self) -> usize {
        self.overlaps.load(Ordering::SeqCst)
    }
}

/// Polls `condition` until it holds; false if it does not within `limit`
/// (a test then fails instead of hanging).
pub fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    condition()
}

/// The async twin of [`eventually`], which does not block the runtime.
pub async fn eventually_async(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    condition()
}

/// Long enough for anything that should happen at once, on a loaded machine.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Runs `call` on `threads` threads released at once by a barrier; returns
/// what each returned, in thread order.
pub fn call_together<T: Send + 'static>(threads: usize, call: fn() -> T) -> Vec<T> {
    let start = Arc::new(Barrier::new(threads));
    let callers: Vec<_> = (0..threads)
        .map(|_| {
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                start.wait();
                call()
            })
        })
        .collect();
    callers
        .into_iter()
        .map(|caller| caller.join().expect("a caller panicked"))
        .collect()
}
