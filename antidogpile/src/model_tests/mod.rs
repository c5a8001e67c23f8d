//! Model checks of the in-process claim and lease state machines under every
//! thread interleaving (up to a preemption bound), with loom.
//!
//! Built only with `RUSTFLAGS="--cfg loom"`: `scripts/model-check.sh`. The
//! code under test is the production code; `crate::sync` hands it loom's
//! locks, condition variables and atomics instead of std's.

mod claims;
mod flights;
mod leases;
mod liveness;
mod refreshing;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::clock::Timestamp;
use crate::key::{Fingerprint, Key};
use crate::policy::Deadlines;
use crate::store::{Lookup, MemoryStore, ReadFor, Store, Stored, StoredRef, Version, Wait};

/// Runs `model` under every interleaving loom explores (at most `preemptions`
/// preemptions each, unless LOOM_MAX_PREEMPTIONS says otherwise), and prints
/// how many it ran and how long that took.
fn check<F>(name: &str, preemptions: Option<usize>, model: F)
where
    F: Fn() + Sync + Send + 'static,
{
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&runs);
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = preemptions;
    }
    let bound = builder.preemption_bound;
    let started = Instant::now();
    builder.check(move || {
        counted.fetch_add(1, Ordering::Relaxed);
        model();
    });
    let runs = runs.load(Ordering::Relaxed);
    println!(
        "model {name}: {runs} interleavings, preemption bound {bound:?}, {:.2?}",
        started.elapsed()
    );
    assert!(runs > 0, "loom ran no interleaving of {name}");
}

fn key(n: u128) -> Key {
    Key::new(Fingerprint::from_u128(n), "model_tests", 0)
}

fn at(millis: u64) -> Timestamp {
    Timestamp::from_millis(millis)
}

/// The time every model runs at: after the soft deadline of `stale()`.
const NOW: u64 = 20;

/// Stale at `NOW` (soft deadline passed), still stored (hard deadline not).
fn stale() -> Deadlines {
    Deadlines {
        soft: at(10),
        hard: at(1_000),
    }
}

fn object(value: u32) -> Stored {
    Stored::Object(Arc::new(value))
}

/// What a read of `key` at `NOW` sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Absent,
    Leased,
    Value { value: u32, version: Version },
}

fn read(store: &MemoryStore, key: &Key) -> Seen {
    let mut seen = Seen::Absent;
    store
        .read(
            Wait::Blocking,
            *key,
            at(NOW),
            ReadFor::Peek,
            &mut |lookup| {
                seen = match lookup {
                    Lookup::Leased => Seen::Leased,
                    Lookup::Entry(entry) => match entry.value {
                        StoredRef::Object(value) => Seen::Value {
                            value: *value
                                .downcast_ref::<u32>()
                                .expect("the models store u32 objects"),
                            version: entry.version,
                        },
                        other => panic!("the models store objects, saw {other:?}"),
                    },
                }
            },
        )
        .wait()
        .unwrap();
    seen
}

/// The version of the value under `key`.
fn version(store: &MemoryStore, key: &Key) -> Version {
    match read(store, key) {
        Seen::Value { version, .. } => version,
        other => panic!("expected a value, saw {other:?}"),
    }
}
