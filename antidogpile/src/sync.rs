//! The synchronization primitives of the claim and lease state machines
//! (`store::memory`, `flight`): std's, or loom's under `--cfg loom`, so that
//! `model_tests` can check those state machines under every interleaving
//! without a line of them changing (scripts/model-check.sh).
//!
//! Under loom, `Condvar::wait_timeout` waits without a timeout (loom has no
//! time): a waiter wakes only when notified, and `Flight::wait`'s own loop
//! looks at the state again. A lost wake-up is then a deadlock that loom
//! reports, instead of a delay that a timeout would hide.
//!
//! `Arc` stays std's everywhere: stored values are `Arc<dyn Any>`, which
//! loom's `Arc` cannot hold, and the cache shares `Arc<Refreshing>` with
//! code outside these two modules. The model tests check for leaked leases
//! and marks themselves.

#[cfg(loom)]
pub(crate) use loom::sync::{
    atomic::{AtomicU64, Ordering},
    Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard,
};
#[cfg(not(loom))]
pub(crate) use std::sync::{
    atomic::{AtomicU64, Ordering},
    Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard,
};
