//! `GET /metrics`: a `metrics` recorder of our own that renders the
//! Prometheus text format (counters, gauges, and histograms with fixed
//! buckets). About 150 lines instead of `metrics-exporter-prometheus`,
//! whose dependencies (quantile sketches, an HTTP stack of its own even
//! with default features off) this demo does not need.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};

/// Bucket bounds of every histogram, in seconds (the library's are times).
const BUCKETS: [f64; 12] = [
    0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// One histogram: a count per bucket, the total count and the sum.
#[derive(Default)]
struct Buckets {
    counts: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    /// The sum, as f64 bits, added with a compare-and-swap loop.
    sum: AtomicU64,
}

impl HistogramFn for Buckets {
    fn record(&self, value: f64) {
        for (bound, count) in BUCKETS.iter().zip(&self.counts) {
            if value <= *bound {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let _ = self
            .sum
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + value).to_bits())
            });
    }
}

/// A metric's name and labels as written: `name` and `{a="x",b="y"}`.
type Series = (String, String);

#[derive(Default)]
pub struct Prometheus {
    counters: Mutex<BTreeMap<Series, Arc<AtomicU64>>>,
    gauges: Mutex<BTreeMap<Series, Arc<AtomicU64>>>,
    histograms: Mutex<BTreeMap<Series, Arc<Buckets>>>,
}

fn series(key: &Key) -> Series {
    let labels: Vec<String> = key
        .labels()
        .map(|label| format!("{}=\"{}\"", label.key(), escape(label.value())))
        .collect();
    let labels = if labels.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", labels.join(","))
    };
    (key.name().to_owned(), labels)
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// `{a="x"}` with `le="bound"` added.
fn with_le(labels: &str, le: &str) -> String {
    match labels.strip_suffix('}') {
        Some(open) => format!("{open},le=\"{le}\"}}"),
        None => format!("{{le=\"{le}\"}}"),
    }
}

impl Prometheus {
    /// Installs the recorder for the whole process (once); returns it.
    pub fn install() -> &'static Prometheus {
        static INSTALLED: OnceLock<&'static Prometheus> = OnceLock::new();
        INSTALLED.get_or_init(|| {
            let recorder: &'static Prometheus = Box::leak(Box::default());
            // Another recorder already installed: this one renders nothing.
            let _ = metrics::set_global_recorder(recorder);
            recorder
        })
    }

    /// Everything recorded, in the Prometheus text format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut text = String::new();
        let typed = |text: &mut String, name: &str, kind: &str, last: &mut String| {
            if last != name {
                let _ = writeln!(text, "# TYPE {name} {kind}");
                name.clone_into(last);
            }
        };
        let mut last = String::new();
        for ((name, labels), value) in self.counters.lock().unwrap().iter() {
            typed(&mut text, name, "counter", &mut last);
            let _ = writeln!(text, "{name}{labels} {}", value.load(Ordering::Relaxed));
        }
        for ((name, labels), value) in self.gauges.lock().unwrap().iter() {
            typed(&mut text, name, "gauge", &mut last);
            let value = f64::from_bits(value.load(Ordering::Relaxed));
            let _ = writeln!(text, "{name}{labels} {value}");
        }
        for ((name, labels), buckets) in self.histograms.lock().unwrap().iter() {
            typed(&mut text, name, "histogram", &mut last);
            for (bound, count) in BUCKETS.iter().zip(&buckets.counts) {
                let le = with_le(labels, &bound.to_string());
                let _ = writeln!(text, "{name}_bucket{le} {}", count.load(Ordering::Relaxed));
            }
            let count = buckets.count.load(Ordering::Relaxed);
            let _ = writeln!(text, "{name}_bucket{} {count}", with_le(labels, "+Inf"));
            let sum = f64::from_bits(buckets.sum.load(Ordering::Relaxed));
            let _ = writeln!(text, "{name}_sum{labels} {sum}");
            let _ = writeln!(text, "{name}_count{labels} {count}");
        }
        text
    }
}

impl Recorder for Prometheus {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let mut counters = self.counters.lock().unwrap();
        Counter::from_arc(Arc::clone(counters.entry(series(key)).or_default()))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        let mut gauges = self.gauges.lock().unwrap();
        Gauge::from_arc(Arc::clone(gauges.entry(series(key)).or_default()))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        let mut histograms = self.histograms.lock().unwrap();
        Histogram::from_arc(Arc::clone(histograms.entry(series(key)).or_default()))
    }
}
