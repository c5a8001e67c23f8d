//! A `metrics` recorder that keeps what it is given, for tests to read:
//! counters (their last value and every value they were set to) and the
//! histograms' records, by `name{label="value",...}`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use metrics::{
    Counter, CounterFn, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};

#[derive(Default)]
pub struct Capture {
    counters: Mutex<BTreeMap<String, Arc<Sets>>>,
    histograms: Mutex<BTreeMap<String, Arc<Records>>>,
}

/// A counter's value, and each absolute value it was set to in order: a
/// scrape that reads a smaller value than the one before sees a reset.
#[derive(Default)]
pub struct Sets {
    value: AtomicU64,
    history: Mutex<Vec<u64>>,
}

impl CounterFn for Sets {
    fn increment(&self, value: u64) {
        self.value.fetch_add(value, Ordering::Relaxed);
    }

    fn absolute(&self, value: u64) {
        // As set, not the largest so far (`AtomicU64`'s own `absolute`
        // keeps the maximum, which would hide a counter going backwards).
        self.value.store(value, Ordering::Relaxed);
        self.history.lock().unwrap().push(value);
    }
}

#[derive(Default)]
pub struct Records(Mutex<Vec<f64>>);

impl HistogramFn for Records {
    fn record(&self, value: f64) {
        self.0.lock().unwrap().push(value);
    }
}

fn render(key: &Key) -> String {
    let labels: Vec<String> = key
        .labels()
        .map(|label| format!("{}=\"{}\"", label.key(), label.value()))
        .collect();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

impl Capture {
    /// The counter `name{labels}`, 0 if never set.
    pub fn counter(&self, rendered: &str) -> u64 {
        self.counters
            .lock()
            .unwrap()
            .get(rendered)
            .map_or(0, |sets| sets.value.load(Ordering::Relaxed))
    }

    /// Every absolute value the counter `name{labels}` was set to, in order.
    pub fn counter_history(&self, rendered: &str) -> Vec<u64> {
        self.counters
            .lock()
            .unwrap()
            .get(rendered)
            .map_or_else(Vec::new, |sets| sets.history.lock().unwrap().clone())
    }

    /// The values recorded in the histogram `name{labels}`.
    pub fn histogram(&self, rendered: &str) -> Vec<f64> {
        self.histograms
            .lock()
            .unwrap()
            .get(rendered)
            .map_or_else(Vec::new, |records| records.0.lock().unwrap().clone())
    }

    /// Every counter and histogram name seen (for failure messages).
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.counters.lock().unwrap().keys().cloned().collect();
        names.extend(self.histograms.lock().unwrap().keys().cloned());
        names
    }
}

impl Recorder for Capture {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let mut counters = self.counters.lock().unwrap();
        Counter::from_arc(Arc::clone(counters.entry(render(key)).or_default()))
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        let mut histograms = self.histograms.lock().unwrap();
        Histogram::from_arc(Arc::clone(histograms.entry(render(key)).or_default()))
    }
}
