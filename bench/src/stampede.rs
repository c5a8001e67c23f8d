//! Workload 2, the stampede: 64 callers (threads, then tokio tasks) keep
//! calling one hot key across several soft expiries; a compute takes 50 ms.
//! Counts the computes per expiry and splits the callers' latencies into the
//! ones that recomputed, the others that called during a refresh, and fresh
//! hits. Every call is kept as a (time since start, latency) sample.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use antidogpile::antidogpiled;
use antidogpile_test_support::naive_ttl::NaiveTtlCache;
use cached::cached;

use crate::hit_path::value;
use crate::measure::{nanos, on_threads, Summary};

/// How long the backend takes to produce the value.
pub const COMPUTE: Duration = Duration::from_millis(50);
/// How long a value is fresh (the TTL of the caches that have one).
pub const FRESH: Duration = Duration::from_millis(200);
/// Pause between two calls of one caller: busy, not saturated.
const THINK: Duration = Duration::from_millis(1);
/// The one hot key.
const HOT: u64 = 42;

thread_local! {
    static COMPUTED_ON_THREAD: Cell<bool> = const { Cell::new(false) };
}
tokio::task_local! {
    static COMPUTED_IN_TASK: Cell<bool>;
}

/// When each compute ran, since the process started computing.
static SPANS: Mutex<Vec<(Instant, Instant)>> = Mutex::new(Vec::new());

fn mark_computed() {
    if COMPUTED_IN_TASK.try_with(|c| c.set(true)).is_err() {
        COMPUTED_ON_THREAD.with(|c| c.set(true));
    }
}

fn record(start: Instant) {
    SPANS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((start, Instant::now()));
}

fn compute(key: u64) -> String {
    mark_computed();
    let start = Instant::now();
    std::thread::sleep(COMPUTE);
    record(start);
    value(key)
}

async fn compute_async(key: u64) -> String {
    mark_computed();
    let start = Instant::now();
    tokio::time::sleep(COMPUTE).await;
    record(start);
    value(key)
}

#[antidogpiled(soft = "200ms", factor = 10, grace = "5s")]
fn antidogpile_hot(key: u64) -> String {
    compute(key)
}

#[antidogpiled(soft = "200ms", factor = 10, grace = "5s")]
async fn antidogpile_hot_async(key: u64) -> String {
    compute_async(key).await
}

// `ttl = N` takes whole seconds; a 200 ms TTL needs the store spelled out.
#[cached(
    ty = "cached::TtlCache<u64, String>",
    create = r#"{ cached::TtlCache::builder().ttl(crate::stampede::FRESH).build().expect("a TTL cache") }"#,
    sync_writes = "by_key"
)]
fn cached_hot(key: u64) -> String {
    compute(key)
}

#[cached(
    ty = "cached::TtlCache<u64, String>",
    create = r#"{ cached::TtlCache::builder().ttl(crate::stampede::FRESH).build().expect("a TTL cache") }"#,
    sync_writes = "by_key"
)]
async fn cached_hot_async(key: u64) -> String {
    compute_async(key).await
}

static NAIVE: LazyLock<NaiveTtlCache<u64, String>> = LazyLock::new(|| NaiveTtlCache::new(FRESH));
static NAIVE_ASYNC: LazyLock<NaiveTtlCache<u64, String>> =
    LazyLock::new(|| NaiveTtlCache::new(FRESH));
static MOKA: LazyLock<moka::sync::Cache<u64, String>> =
    LazyLock::new(|| moka::sync::Cache::builder().time_to_live(FRESH).build());
static MOKA_ASYNC: LazyLock<moka::future::Cache<u64, String>> =
    LazyLock::new(|| moka::future::Cache::builder().time_to_live(FRESH).build());

/// The contenders: table name, and whether it is on the plot.
pub const CACHES: [(&str, bool); 4] = [
    ("naive TTL cache", true),
    ("moka `get_with`", true),
    ("cached `sync_writes = \"by_key\"`", false),
    ("antidogpile", true),
];

fn call_sync(cache: usize) -> String {
    match cache {
        0 => NAIVE.get_or_compute(HOT, || compute(HOT)),
        1 => MOKA.get_with(HOT, || compute(HOT)),
        2 => cached_hot(HOT),
        _ => antidogpile_hot(HOT),
    }
}

type Call = Pin<Box<dyn Future<Output = String> + Send>>;

fn call_async(cache: usize) -> Call {
    match cache {
        0 => Box::pin(NAIVE_ASYNC.get_or_compute_async(HOT, || compute_async(HOT))),
        1 => Box::pin(MOKA_ASYNC.get_with(HOT, compute_async(HOT))),
        2 => Box::pin(cached_hot_async(HOT)),
        _ => Box::pin(antidogpile_hot_async(HOT)),
    }
}

/// One call: when it started (ns since the run began), how long it took,
/// and whether this caller ran the compute.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Start, ns since the run began.
    pub at: u64,
    /// Latency, ns.
    pub latency: u64,
    /// This call ran the compute.
    pub computed: bool,
}

/// Every call and every compute of one contender.
#[derive(Debug)]
pub struct Run {
    /// Which contender (index into [`CACHES`]).
    pub cache: usize,
    /// Tokio tasks rather than threads.
    pub tasks: bool,
    /// Every call.
    pub samples: Vec<Sample>,
    /// Every compute as (start, end), ns since the run began.
    pub spans: Vec<(u64, u64)>,
}

fn take_spans(begin: Instant) -> Vec<(u64, u64)> {
    let mut spans: Vec<(u64, u64)> =
        std::mem::take(&mut *SPANS.lock().unwrap_or_else(|e| e.into_inner()))
            .into_iter()
            .map(|(s, e)| {
                (
                    nanos(s.saturating_duration_since(begin)),
                    nanos(e.saturating_duration_since(begin)),
                )
            })
            .collect();
    spans.sort_unstable();
    spans
}

/// `callers` threads call `cache` for `duration`, after one warm-up call.
pub fn run_threads(cache: usize, callers: usize, duration: Duration) -> Run {
    call_sync(cache);
    SPANS.lock().unwrap_or_else(|e| e.into_inner()).clear();
    let begin = Instant::now();
    let samples = on_threads(callers, |_, start| {
        start.wait();
        let mut samples = Vec::new();
        while begin.elapsed() < duration {
            COMPUTED_ON_THREAD.with(|c| c.set(false));
            let t = Instant::now();
            let value = call_sync(cache);
            let latency = nanos(t.elapsed());
            assert_eq!(value.len(), 100);
            samples.push(Sample {
                at: nanos(t - begin),
                latency,
                computed: COMPUTED_ON_THREAD.with(Cell::get),
            });
            std::thread::sleep(THINK);
        }
        samples
    })
    .into_iter()
    .flatten()
    .collect();
    Run {
        cache,
        tasks: false,
        samples,
        spans: take_spans(begin),
    }
}

/// `callers` tokio tasks on a multi-thread runtime call `cache` for `duration`.
pub fn run_tasks(cache: usize, callers: usize, duration: Duration) -> Run {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async move {
        call_async(cache).await;
        SPANS.lock().unwrap_or_else(|e| e.into_inner()).clear();
        let start = Arc::new(tokio::sync::Barrier::new(callers));
        let begin = Instant::now();
        let tasks: Vec<_> = (0..callers)
            .map(|_| {
                let start = Arc::clone(&start);
                tokio::spawn(COMPUTED_IN_TASK.scope(Cell::new(false), async move {
                    start.wait().await;
                    let mut samples = Vec::new();
                    while begin.elapsed() < duration {
                        COMPUTED_IN_TASK.with(|c| c.set(false));
                        let t = Instant::now();
                        let value = call_async(cache).await;
                        let latency = nanos(t.elapsed());
                        assert_eq!(value.len(), 100);
                        samples.push(Sample {
                            at: nanos(t - begin),
                            latency,
                            computed: COMPUTED_IN_TASK.with(Cell::get),
                        });
                        tokio::time::sleep(THINK).await;
                    }
                    samples
                }))
            })
            .collect();
        let mut samples = Vec::new();
        for task in tasks {
            samples.extend(task.await.expect("a caller task panicked"));
        }
        Run {
            cache,
            tasks: true,
            samples,
            spans: take_spans(begin),
        }
    })
}

/// What one run shows.
#[derive(Debug)]
pub struct Row {
    /// Computes during the run.
    pub computes: usize,
    /// Expiries: groups of computes that start within one compute time of
    /// the previous one.
    pub expiries: usize,
    /// Every call.
    pub all: Summary,
    /// The calls that ran the compute.
    pub recomputers: Summary,
    /// The other calls that started while a compute was running.
    pub during_refresh: Summary,
    /// The calls that started while no compute was running.
    pub fresh: Summary,
}

impl Row {
    /// Computes per expiry (0 when nothing expired).
    pub fn per_expiry(&self) -> f64 {
        if self.expiries == 0 {
            0.0
        } else {
            self.computes as f64 / self.expiries as f64
        }
    }
}

/// Groups of compute starts, each starting more than one compute time after
/// the previous start.
pub fn count_expiries(sorted_starts: &[u64]) -> usize {
    if sorted_starts.is_empty() {
        return 0;
    }
    1 + sorted_starts
        .windows(2)
        .filter(|pair| pair[1] - pair[0] > nanos(COMPUTE))
        .count()
}

impl Run {
    /// The figures of this run.
    pub fn row(&self) -> Row {
        let starts: Vec<u64> = self.spans.iter().map(|s| s.0).collect();
        let in_refresh = |at: u64| self.spans.iter().any(|&(s, e)| s <= at && at <= e);
        let (mut all, mut recomputers, mut during, mut fresh) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for sample in &self.samples {
            all.push(sample.latency);
            if sample.computed {
                recomputers.push(sample.latency);
            } else if in_refresh(sample.at) {
                during.push(sample.latency);
            } else {
                fresh.push(sample.latency);
            }
        }
        Row {
            computes: self.spans.len(),
            expiries: count_expiries(&starts),
            all: Summary::of(&mut all),
            recomputers: Summary::of(&mut recomputers),
            during_refresh: Summary::of(&mut during),
            fresh: Summary::of(&mut fresh),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computes_close_together_answer_one_expiry() {
        let ms = |m: u64| m * 1_000_000;
        assert_eq!(count_expiries(&[]), 0);
        assert_eq!(count_expiries(&[ms(200), ms(201), ms(230)]), 1);
        assert_eq!(count_expiries(&[ms(200), ms(450), ms(700)]), 3);
    }
}
