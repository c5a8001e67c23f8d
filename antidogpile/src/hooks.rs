//! Hidden hooks for the history checker (`tools/history`, issue 23), off
//! unless a program turns them on through `__private`:
//!
//! - **what each call did** ([`Served`]): fresh, stale, waited for, computed
//!   under a hold or without one, or without the cache. Reported to the
//!   calling thread at the moment the call returns, so the caller reads it
//!   right after its call (also after an `.await`: the call's last poll and
//!   the caller's next line run in one poll, on one thread);
//! - **broken promises** ([`Broken`]): run-time switches that undo one
//!   guarantee each, so that the checker can be shown to catch what they
//!   break. They are switched at run time, not by a cargo feature, since the
//!   workspace builds with `--all-features`.
//!
//! Unused, they cost one relaxed load of a static per call (reports) or per
//! guarded step off the hit path (switches).

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

/// How a call was served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Served {
    /// A fresh value of the cache.
    Fresh,
    /// A stale value: someone else refreshes it, or this call's refresh
    /// failed and the stale value stands in.
    Stale,
    /// The value of another caller's compute, waited for.
    Waited,
    /// Its own compute, through the cache: `held` if under a claim or lease
    /// of the store (for an in-process store, of the process); without one
    /// when the store failed or timed out, or a holder overran the grace.
    Computed {
        /// Whether the compute held a claim or lease.
        held: bool,
    },
    /// Its own compute, without the cache (re-entrant, a wait that would
    /// deadlock, after a failed compute, no cache installed, a key that
    /// could not be encoded).
    Uncached,
}

static REPORTING: AtomicBool = AtomicBool::new(false);

thread_local! {
    static REPORTS: RefCell<Vec<Served>> = const { RefCell::new(Vec::new()) };
}

/// From now on every call of this process reports how it was served (see
/// [`take_reports`]).
pub fn report_calls() {
    REPORTING.store(true, Ordering::Relaxed);
}

/// What the calls that returned on this thread since the last take did,
/// in the order they returned (a batch: one per key, in the order of its
/// keys). Empty unless [`report_calls`] was called.
pub fn take_reports() -> Vec<Served> {
    REPORTS.with(|reports| std::mem::take(&mut *reports.borrow_mut()))
}

/// Reports how a call was served, if reports are on.
#[inline]
pub(crate) fn report(served: impl FnOnce() -> Served) {
    if REPORTING.load(Ordering::Relaxed) {
        push(served());
    }
}

/// Whether reports are on (a batch reports each key).
#[inline]
pub(crate) fn reporting() -> bool {
    REPORTING.load(Ordering::Relaxed)
}

#[cold]
fn push(served: Served) {
    // `try_with`: never panic while the thread's locals are torn down.
    let _ = REPORTS.try_with(|reports| reports.borrow_mut().push(served));
}

/// A promise a broken build breaks (see [`break_promise`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Broken {
    /// A computed value is written plainly, not guarded by the claim or
    /// lease its compute took: an invalidation during the compute no longer
    /// refuses it (a stale set).
    StaleSetGuard = 1,
    /// A claim or lease whose holder panicked is not given back: the next
    /// caller waits for it to lapse instead of taking over at once.
    LeaseKeptOnPanic = 2,
    /// A batch waits for this process's other computes before it computes
    /// the keys it holds, holding their leases meanwhile (two batches of
    /// the same keys in opposite orders wait for each other until the grace).
    BatchWaitsHolding = 4,
}

impl Broken {
    /// Every switch, by the name a command line gives it.
    pub const ALL: [(&'static str, Broken); 3] = [
        ("stale-set-guard", Broken::StaleSetGuard),
        ("lease-kept-on-panic", Broken::LeaseKeptOnPanic),
        ("batch-waits-holding", Broken::BatchWaitsHolding),
    ];
}

static BROKEN: AtomicU8 = AtomicU8::new(0);

/// Breaks `promise` in this process from now on: for proving that the
/// history checker catches it, never for use.
pub fn break_promise(promise: Broken) {
    BROKEN.fetch_or(promise as u8, Ordering::Relaxed);
}

/// Whether `promise` is broken in this process.
#[inline]
pub(crate) fn broken(promise: Broken) -> bool {
    BROKEN.load(Ordering::Relaxed) & promise as u8 != 0
}
