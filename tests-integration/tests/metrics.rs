//! Metrics through the `metrics` facade: every memoized function's
//! counters, labelled by namespace and cache, and compute and wait times.
//! A thread-local recorder per test thread, so nothing global is installed.

#[path = "common/metrics_capture.rs"]
mod metrics_capture;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use antidogpile::store::MemoryStore;
use antidogpile::{antidogpiled, install_named, Cache};
use metrics_capture::Capture;

#[antidogpiled(soft = "1h", cache = "metrics_named", name = "metrics::square")]
fn square(x: u64) -> u64 {
    x * x
}

#[antidogpiled(soft = "1h", cache = "metrics_named", name = "metrics::failing")]
fn failing(x: u64) -> Result<u64, String> {
    Err(format!("no {x}"))
}

static STARTED: AtomicBool = AtomicBool::new(false);

#[antidogpiled(soft = "1h", cache = "metrics_named", name = "metrics::slow")]
fn slow(x: u64) -> u64 {
    STARTED.store(true, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(300));
    x
}

// Two functions that share a namespace share their values, and their
// counters are published as one series.
#[antidogpiled(soft = "1h", cache = "metrics_named", name = "metrics::shared")]
fn shared_a(x: u64) -> u64 {
    x + 1
}

#[antidogpiled(soft = "1h", cache = "metrics_named", name = "metrics::shared")]
fn shared_b(x: u64) -> u64 {
    x + 1
}

const SQUARE: &str = "namespace=\"metrics::square\",cache=\"metrics_named\"";
const FAILING: &str = "namespace=\"metrics::failing\",cache=\"metrics_named\"";
const SLOW: &str = "namespace=\"metrics::slow\",cache=\"metrics_named\"";

#[test]
fn counters_and_histograms_reach_the_installed_recorder() {
    install_named("metrics_named", Cache::new(MemoryStore::new()));
    let capture = Capture::default();
    std::thread::scope(|scope| {
        // A cold miss that another thread waits for.
        let computing = scope.spawn(|| metrics::with_local_recorder(&capture, || slow(7)));
        while !STARTED.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        let waiting = scope.spawn(|| metrics::with_local_recorder(&capture, || slow(7)));
        assert_eq!(computing.join().unwrap(), 7);
        assert_eq!(waiting.join().unwrap(), 7);
    });
    metrics::with_local_recorder(&capture, || {
        for _ in 0..3 {
            assert_eq!(square(3), 9);
        }
        assert!(failing(1).is_err());
        antidogpile::publish_metrics();
    });
    let counter = |name: &str, labels: &str| capture.counter(&format!("{name}{{{labels}}}"));
    let names = capture.names();
    assert_eq!(counter("antidogpile_misses_total", SQUARE), 1, "{names:?}");
    assert_eq!(counter("antidogpile_fresh_hits_total", SQUARE), 2);
    assert_eq!(counter("antidogpile_computes_total", SQUARE), 1);
    assert_eq!(counter("antidogpile_errors_total", FAILING), 1);
    assert_eq!(counter("antidogpile_computes_total", FAILING), 1);
    assert_eq!(counter("antidogpile_waits_total", SLOW), 1);
    assert_eq!(counter("antidogpile_computes_total", SLOW), 1);
    assert_eq!(counter("antidogpile_store_errors_total", SQUARE), 0);

    let computes = capture.histogram(&format!("antidogpile_compute_seconds{{{SLOW}}}"));
    assert_eq!(computes.len(), 1, "{names:?}");
    assert!(computes[0] >= 0.3, "{computes:?}");
    let waits = capture.histogram(&format!("antidogpile_wait_seconds{{{SLOW}}}"));
    assert_eq!(waits.len(), 1, "{names:?}");
    assert!(waits[0] > 0.05 && waits[0] < 30.0, "{waits:?}");
    assert_eq!(
        capture
            .histogram(&format!("antidogpile_compute_seconds{{{SQUARE}}}"))
            .len(),
        1
    );

    // The same counters, without a recorder: every function at once.
    let all = antidogpile::all_stats();
    let stats = |name: &str| all.iter().find(|(n, _)| *n == name).unwrap().1;
    assert_eq!(stats("metrics::square").calls(), 3);
    assert_eq!(stats("metrics::slow").waits, 1);
    assert_eq!(stats("metrics::failing").errors, 1);
    assert!(
        all.windows(2).all(|pair| pair[0].0 < pair[1].0),
        "sorted, one entry per namespace"
    );
}

/// Regression: each function of a shared namespace set the same labelled
/// counter in turn, so each publish flipped it between their counts
/// (`[10, 1, 10, 1, ...]`), which a scraper reads as counter resets.
#[test]
fn functions_sharing_a_namespace_publish_one_counter_that_never_goes_back() {
    install_named("metrics_named", Cache::new(MemoryStore::new()));
    for _ in 0..10 {
        assert_eq!(shared_a(1), 2);
    }
    assert_eq!(shared_b(1), 2);
    let capture = Capture::default();
    metrics::with_local_recorder(&capture, || {
        for _ in 0..3 {
            antidogpile::publish_metrics();
        }
    });
    let stats = antidogpile::stats("metrics::shared").unwrap();
    assert_eq!((stats.fresh_hits, stats.misses), (10, 1));
    let series =
        "antidogpile_fresh_hits_total{namespace=\"metrics::shared\",cache=\"metrics_named\"}";
    let history = capture.counter_history(series);
    assert!(
        history.windows(2).all(|pair| pair[0] <= pair[1]),
        "a counter went backwards: {history:?}"
    );
    assert_eq!(history.len(), 3, "one set per publish: {history:?}");
    assert_eq!(capture.counter(series), stats.fresh_hits, "{history:?}");
}
