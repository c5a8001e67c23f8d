//! One memoized function: its namespace, options, counters and cache lookup.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::key::namespace_seed;
use crate::registry::{self, NamedSlot};
use crate::stats::{Counters, Stats};

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
    seed: OnceLock<u64>,
    named: OnceLock<Arc<NamedSlot>>,
    /// The warnings given already, one bit each (see [`Site::first_time`]).
    warned: AtomicU8,
}

impl std::fmt::Debug for Counters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.snapshot().fmt(f)
    }
}

static SITES: Mutex<Vec<&'static Site>> = Mutex::new(Vec::new());

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

    /// The seed of this function's fingerprints; registers the site for
    /// [`stats`] on first use.
    pub(crate) fn seed(&'static self) -> u64 {
        *self.seed.get_or_init(|| {
            SITES
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push(self);
            crate::telemetry::start_publishing();
            namespace_seed(self.namespace, self.options.version)
        })
    }

    pub(crate) fn soft(&self) -> Duration {
        Duration::from_millis(self.options.soft_ms)
    }

    /// Whether the warning `bit` (one bit of a `u8`) is given for the first
    /// time at this site: warnings that could repeat on every call are given once.
    pub(crate) fn first_time(&self, bit: u8) -> bool {
        self.warned.fetch_or(bit, Ordering::Relaxed) & bit == 0
    }

    /// The named cache slot this site reads, if it names one.
    pub(crate) fn named_slot(&self) -> Option<&Arc<NamedSlot>> {
        let name = self.options.cache?;
        Some(self.named.get_or_init(|| registry::named_slot(name)))
    }
}

/// The counters of the memoized function(s) called `namespace`, summed if
/// several share it; `None` if none has been called yet.
///
/// A function's namespace is `module_path!()::fn_name` unless the macro's
/// `name = "..."` says otherwise.
///
/// ```
/// #[antidogpile::antidogpiled(soft = "1m", name = "docs::square")]
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// square(3);
/// square(3);
/// let stats = antidogpile::stats("docs::square").unwrap();
/// assert_eq!((stats.misses, stats.fresh_hits, stats.computes), (1, 1, 1));
/// ```
pub fn stats(namespace: &str) -> Option<Stats> {
    let sites = SITES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    sites
        .iter()
        .filter(|site| site.namespace == namespace)
        .map(|site| site.counters.snapshot())
        .reduce(sum)
}

fn sum(a: Stats, b: Stats) -> Stats {
    Stats {
        fresh_hits: a.fresh_hits + b.fresh_hits,
        stale_hits: a.stale_hits + b.stale_hits,
        misses: a.misses + b.misses,
        uncached: a.uncached + b.uncached,
        computes: a.computes + b.computes,
        errors: a.errors + b.errors,
        panics: a.panics + b.panics,
        waits: a.waits + b.waits,
        store_errors: a.store_errors + b.store_errors,
    }
}

/// Every memoized function called so far, with its counters (summed for
/// functions sharing a namespace), sorted by namespace: what
/// [`stats`] gives one namespace at a time, for a status page or a log line.
/// The cache client's calls are under [`CLIENT_NAMESPACE`](crate::CLIENT_NAMESPACE).
///
/// ```
/// #[antidogpile::antidogpiled(soft = "1m", name = "docs::all::double")]
/// fn double(x: u64) -> u64 {
///     x * 2
/// }
///
/// double(1);
/// let all = antidogpile::all_stats();
/// let (_, stats) = all.iter().find(|(name, _)| *name == "docs::all::double").unwrap();
/// assert_eq!(stats.computes, 1);
/// ```
pub fn all_stats() -> Vec<(&'static str, Stats)> {
    totals(|site| site.namespace).into_iter().collect()
}

/// Every site's counters summed by `group` (sites of one namespace share
/// their values, so they count as one), in `group`'s order: one pass and a
/// map, so thousands of functions cost a sort, not a comparison of each
/// with every other.
pub(crate) fn totals<G: Ord>(group: impl Fn(&Site) -> G) -> std::collections::BTreeMap<G, Stats> {
    let mut totals = std::collections::BTreeMap::new();
    for site in all_sites() {
        let stats = site.counters.snapshot();
        totals
            .entry(group(site))
            .and_modify(|total| *total = sum(*total, stats))
            .or_insert(stats);
    }
    totals
}

pub(crate) fn all_sites() -> Vec<&'static Site> {
    SITES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone()
}
