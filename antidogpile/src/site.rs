//! One memoized function: its namespace, options, counters and cache lookup.
//! The list of every function called so far is [`crate::telemetry`]'s.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::cache::Cache;
use crate::policy::Timeouts;
use crate::registry::{self, NamedSlot};
use crate::stats::Counters;

/// The options of one `#[antidogpiled]` function, as the macro wrote them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SiteOptions {
    /// Soft timeout in milliseconds.
    pub soft_ms: u64,
    /// Hard timeout factor; `None`: the cache's default.
    pub factor: Option<u32>,
    /// Grace in milliseconds; `None`: the cache's default.
    pub grace_ms: Option<u64>,
    /// Bumped to abandon values cached by older code.
    pub version: u32,
    /// The named cache to use; `None`: the default cache.
    pub cache: Option<&'static str>,
    /// Fraction by which soft deadlines are spread.
    pub jitter: f64,
    /// Refresh stale values on a spawned task or thread.
    pub background: bool,
}

impl SiteOptions {
    /// Every option at its default (the macro always sets `soft_ms`).
    pub const DEFAULT: SiteOptions = SiteOptions {
        soft_ms: 0,
        factor: None,
        grace_ms: None,
        version: 0,
        cache: None,
        jitter: 0.0,
        background: false,
    };
}

/// One memoized function. The macro puts one in a `static` per function.
#[derive(Debug)]
pub struct Site {
    pub(crate) namespace: &'static str,
    pub(crate) options: SiteOptions,
    pub(crate) counters: Counters,
    /// The seed of its fingerprints, once registered ([`crate::telemetry::seed`]).
    pub(crate) seed: OnceLock<u64>,
    named: OnceLock<Arc<NamedSlot>>,
    /// The warnings given already, one bit each (see [`Site::first_time`]).
    warned: AtomicU8,
}

impl std::fmt::Debug for Counters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.snapshot().fmt(f)
    }
}

/// The warnings a site gives once (bits for [`Site::first_time`]).
pub(crate) mod warned_once {
    /// A re-entrant call computed without the cache.
    pub(crate) const REENTRANT: u8 = 1;
    /// A sync call that would have blocked its own runtime's thread.
    pub(crate) const WOULD_DEADLOCK: u8 = 2;
    /// A plain `T` that is a `Result` or an `Option` under another name.
    pub(crate) const DISGUISED_OUTCOME: u8 = 4;
}

impl Site {
    /// A memoized function called `namespace`.
    pub const fn new(namespace: &'static str, options: SiteOptions) -> Site {
        Site {
            namespace,
            options,
            counters: Counters::new(),
            seed: OnceLock::new(),
            named: OnceLock::new(),
            warned: AtomicU8::new(0),
        }
    }

    pub(crate) fn soft(&self) -> Duration {
        Duration::from_millis(self.options.soft_ms)
    }

    /// Whether the warning `bit` (one bit of a `u8`) is given for the first
    /// time at this site: warnings that could repeat on every call are given once.
    pub(crate) fn first_time(&self, bit: u8) -> bool {
        self.warned.fetch_or(bit, Ordering::Relaxed) & bit == 0
    }

    /// This function's timeouts in `cache`: its own options, else the cache's defaults.
    pub(crate) fn timeouts_in(&self, cache: &Cache) -> Timeouts {
        let options = &self.options;
        Timeouts::new(
            self.soft(),
            options.factor.unwrap_or(cache.hard_timeout_factor()),
            options
                .grace_ms
                .map_or(cache.default_grace(), Duration::from_millis),
        )
        .with_jitter(options.jitter)
    }

    /// The named cache slot this site reads, if it names one.
    pub(crate) fn named_slot(&self) -> Option<&Arc<NamedSlot>> {
        let name = self.options.cache?;
        Some(self.named.get_or_init(|| registry::named_slot(name)))
    }
}
