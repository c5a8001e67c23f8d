//! Metrics through the [`metrics`](https://docs.rs/metrics) facade (cargo
//! feature `metrics`): the library emits, the application installs the
//! exporter (Prometheus, StatsD, ...). Without the feature every function
//! here does nothing and costs nothing.
//!
//! The per-call counters are the ones [`Stats`](crate::Stats) reads,
//! kept by every memoized function on its hit path (striped atomics); they
//! are handed to the facade as absolute values by [`publish_metrics`], which
//! a thread started with the first memoized call runs every second (and an
//! application may run right before it renders a scrape), so the hit path
//! pays nothing for metrics. Compute and wait times are recorded as each
//! compute or wait ends (a histogram record is small next to a compute).

#[cfg(feature = "metrics")]
use std::time::Duration;

use std::sync::Mutex;

use crate::key::namespace_seed;
use crate::site::Site;
use crate::stats::Stats;

/// Every memoized function called so far (the cache client's too).
static SITES: Mutex<Vec<&'static Site>> = Mutex::new(Vec::new());

/// The seed of `site`'s fingerprints; on its first use, registers the site
/// for [`stats`] (and starts publishing metrics).
#[inline]
pub(crate) fn seed(site: &'static Site) -> u64 {
    *site.seed.get_or_init(|| {
        SITES
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(site);
        start_publishing();
        namespace_seed(site.namespace, site.options.version)
    })
}

/// How often the publishing thread hands the counters to the facade.
#[cfg(feature = "metrics")]
pub(crate) const PUBLISH_EVERY: Duration = Duration::from_secs(1);

/// Reads one field of [`Stats`](crate::Stats).
#[cfg(feature = "metrics")]
type Field = fn(&crate::Stats) -> u64;

/// The counters' names, each with the [`Stats`](crate::Stats) field it carries.
#[cfg(feature = "metrics")]
const COUNTERS: [(&str, Field); 9] = [
    ("antidogpile_fresh_hits_total", |s| s.fresh_hits),
    ("antidogpile_stale_hits_total", |s| s.stale_hits),
    ("antidogpile_misses_total", |s| s.misses),
    ("antidogpile_uncached_total", |s| s.uncached),
    ("antidogpile_computes_total", |s| s.computes),
    ("antidogpile_errors_total", |s| s.errors),
    ("antidogpile_panics_total", |s| s.panics),
    ("antidogpile_waits_total", |s| s.waits),
    ("antidogpile_store_errors_total", |s| s.store_errors),
];

/// The name of the cache a function uses, as its `cache` label.
#[cfg(feature = "metrics")]
fn cache_label(site: &Site) -> &'static str {
    site.options.cache.unwrap_or("default")
}

/// Hands every memoized function's counters to the installed `metrics`
/// recorder, as absolute values labelled `namespace` and `cache` (the
/// named cache, or `"default"`; functions that share both are summed into
/// one series, as [`stats`](crate::stats) sums them):
///
/// `antidogpile_fresh_hits_total`, `antidogpile_stale_hits_total`,
/// `antidogpile_misses_total`, `antidogpile_uncached_total`,
/// `antidogpile_computes_total`, `antidogpile_errors_total`,
/// `antidogpile_panics_total`, `antidogpile_waits_total` and
/// `antidogpile_store_errors_total` (what each counts: [`Stats`](crate::Stats)).
/// The histograms `antidogpile_compute_seconds` and
/// `antidogpile_wait_seconds` (same labels) are recorded as computes and
/// cold-miss waits end.
///
/// A thread started by the first memoized call does this every second, so
/// an application only installs its recorder; it may also call this right
/// before rendering a scrape, so that the scrape is exact.
///
/// ```
/// #[antidogpile::antidogpiled(soft = "1m", name = "docs::metrics")]
/// fn cube(x: u64) -> u64 {
///     x * x * x
/// }
///
/// cube(2);
/// // With a recorder installed (metrics::set_global_recorder), this sets
/// // antidogpile_misses_total{namespace="docs::metrics",cache="default"} to 1.
/// antidogpile::publish_metrics();
/// ```
#[cfg(feature = "metrics")]
pub fn publish_metrics() {
    // Functions that share a namespace (and a cache) share one series: it
    // carries their sum, as `stats()` reads it, never one site after another.
    let totals = totals(|site| (site.namespace, cache_label(site)));
    for ((namespace, cache), stats) in totals {
        for (name, field) in COUNTERS {
            metrics::counter!(name, "namespace" => namespace, "cache" => cache)
                .absolute(field(&stats));
        }
    }
}

/// Starts the thread that publishes every [`PUBLISH_EVERY`] (once).
#[cfg(feature = "metrics")]
pub(crate) fn start_publishing() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        let spawned = std::thread::Builder::new()
            .name("antidogpile-metrics".into())
            .spawn(|| loop {
                publish_metrics();
                std::thread::sleep(PUBLISH_EVERY);
            });
        if let Err(error) = spawned {
            tracing::warn!(target: "antidogpile", %error,
                "could not start the metrics thread: call antidogpile::publish_metrics() instead");
        }
    });
}

#[cfg(not(feature = "metrics"))]
pub(crate) fn start_publishing() {}

/// When a compute (or a wait) started, if metrics are on.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Started(#[cfg(feature = "metrics")] std::time::Instant);

impl Started {
    #[inline]
    pub(crate) fn now() -> Started {
        Started(
            #[cfg(feature = "metrics")]
            std::time::Instant::now(),
        )
    }

    /// Records the time since as `antidogpile_compute_seconds` of `site`.
    #[inline]
    pub(crate) fn computed(self, site: &Site) {
        #[cfg(feature = "metrics")]
        record("antidogpile_compute_seconds", site, self.0.elapsed());
        #[cfg(not(feature = "metrics"))]
        let _ = site;
    }

    /// Records the time since as `antidogpile_wait_seconds` of `site`.
    #[inline]
    pub(crate) fn waited(self, site: &Site) {
        #[cfg(feature = "metrics")]
        record("antidogpile_wait_seconds", site, self.0.elapsed());
        #[cfg(not(feature = "metrics"))]
        let _ = site;
    }
}

#[cfg(feature = "metrics")]
fn record(name: &'static str, site: &Site, elapsed: Duration) {
    metrics::histogram!(name, "namespace" => site.namespace, "cache" => cache_label(site))
        .record(elapsed.as_secs_f64());
}

/// A cold-miss wait in progress: recorded when it is dropped (the call
/// got its value, or gave up waiting).
#[derive(Debug, Default)]
pub(crate) struct WaitClock(Option<(&'static Site, Started)>);

impl WaitClock {
    /// The wait starts now (a second start of the same call is ignored).
    pub(crate) fn start(&mut self, site: &'static Site) {
        if self.0.is_none() {
            self.0 = Some((site, Started::now()));
        }
    }

    /// It was not a wait after all: nothing is recorded.
    pub(crate) fn cancel(&mut self) {
        self.0 = None;
    }
}

impl Drop for WaitClock {
    fn drop(&mut self) {
        if let Some((site, started)) = self.0.take() {
            started.waited(site);
        }
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
/// The cache client's calls are under [`Cache::CLIENT_NAMESPACE`](crate::Cache::CLIENT_NAMESPACE).
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
