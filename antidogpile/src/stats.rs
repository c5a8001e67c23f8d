//! Per-function counters, striped across cache lines so that threads hitting
//! the same function do not fight over one atomic on the hit path.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// What a call found, or what it did; one counter each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub(crate) enum Event {
    FreshHit = 0,
    StaleHit,
    Miss,
    Uncached,
    Compute,
    Error,
    Panic,
    Wait,
    StoreError,
}

const EVENTS: usize = 9;
const STRIPES: usize = 8;

#[repr(align(128))]
struct Stripe([AtomicU64; EVENTS]);

/// Live counters of one memoized function.
pub(crate) struct Counters {
    stripes: [Stripe; STRIPES],
}

impl Counters {
    pub(crate) const fn new() -> Counters {
        #[allow(clippy::declare_interior_mutable_const)] // a template copied into the array
        const ZERO: AtomicU64 = AtomicU64::new(0);
        #[allow(clippy::declare_interior_mutable_const)]
        const STRIPE: Stripe = Stripe([ZERO; EVENTS]);
        Counters {
            stripes: [STRIPE; STRIPES],
        }
    }

    #[inline]
    pub(crate) fn count(&self, event: Event) {
        self.stripes[stripe_of_this_thread()].0[event as usize].fetch_add(1, Ordering::Relaxed);
    }

    fn total(&self, event: Event) -> u64 {
        self.stripes
            .iter()
            .map(|stripe| stripe.0[event as usize].load(Ordering::Relaxed))
            .sum()
    }

    pub(crate) fn snapshot(&self) -> Stats {
        Stats {
            fresh_hits: self.total(Event::FreshHit),
            stale_hits: self.total(Event::StaleHit),
            misses: self.total(Event::Miss),
            uncached: self.total(Event::Uncached),
            computes: self.total(Event::Compute),
            errors: self.total(Event::Error),
            panics: self.total(Event::Panic),
            waits: self.total(Event::Wait),
            store_errors: self.total(Event::StoreError),
        }
    }
}

fn stripe_of_this_thread() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    STRIPE.with(|stripe| {
        if stripe.get() == usize::MAX {
            stripe.set(NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES);
        }
        stripe.get()
    })
}

/// A snapshot of one memoized function's counters.
///
/// Every call is counted once by what it found first, so
/// `fresh_hits + stale_hits + misses + uncached` is the number of calls.
/// Counters are read one by one while calls go on, so a snapshot taken
/// under load is approximate; one taken at rest is exact.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Calls that found a fresh value.
    pub fresh_hits: u64,
    /// Calls that found a stale value (whether they then refreshed it or not).
    pub stale_hits: u64,
    /// Calls that found nothing stored (cold misses).
    pub misses: u64,
    /// Calls computed without the cache: their named cache was not installed,
    /// or an argument could not be encoded into a key.
    pub uncached: u64,
    /// Times the function body ran (foreground or background).
    pub computes: u64,
    /// Computes that returned `Err` or `None` (never cached).
    pub errors: u64,
    /// Panics in the calls: of a compute, or of a value's `Clone`,
    /// `Serialize` or `Drop` that a call ran (the claim or lease was
    /// released at once).
    pub panics: u64,
    /// Calls that waited for another caller's compute on a cold miss.
    pub waits: u64,
    /// Store operations that failed (the calls computed without the store).
    pub store_errors: u64,
}

impl Stats {
    /// `fresh_hits + stale_hits + misses + uncached`.
    pub fn calls(&self) -> u64 {
        self.fresh_hits + self.stale_hits + self.misses + self.uncached
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn counts_from_many_threads_add_up_exactly() {
        let counters = Arc::new(Counters::new());
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let counters = Arc::clone(&counters);
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        counters.count(Event::FreshHit);
                    }
                    counters.count(Event::Miss);
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let stats = counters.snapshot();
        assert_eq!(stats.fresh_hits, 16_000);
        assert_eq!(stats.misses, 16);
        assert_eq!(stats.calls(), 16_016);
        assert_eq!(stats.computes, 0);
    }
}
