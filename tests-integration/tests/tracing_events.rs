//! What antidogpile tells `tracing`: a named cache that was never installed
//! is reported once (not once per call), a failing compute each time (at
//! WARN at most once per function per interval, the rest at DEBUG), under
//! the target `antidogpile`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use antidogpile::antidogpiled;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

mod common;

/// Keeps the message of every `antidogpile` event it sees.
#[derive(Clone, Default)]
struct Recorder {
    messages: Arc<Mutex<Vec<String>>>,
    /// The messages given at WARN or above.
    warnings: Arc<Mutex<Vec<String>>>,
    spans: Arc<AtomicUsize>,
}

struct Message<'a>(&'a mut String);

impl Visit for Message<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            *self.0 = format!("{value:?}");
        }
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target() == "antidogpile"
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1 + self.spans.fetch_add(1, Ordering::Relaxed) as u64)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut message = String::new();
        event.record(&mut Message(&mut message));
        if *event.metadata().level() <= tracing::Level::WARN {
            self.warnings.lock().unwrap().push(message.clone());
        }
        self.messages.lock().unwrap().push(message);
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

impl Recorder {
    fn count(&self, needle: &str) -> usize {
        self.messages
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.contains(needle))
            .count()
    }
}

#[antidogpiled(
    soft = "1h",
    cache = "tracing_never_installed",
    name = "tracing::missing"
)]
fn in_a_missing_cache(x: u64) -> u64 {
    x
}

#[antidogpiled(soft = "1h", cache = "tracing_failing", name = "tracing::failing")]
fn always_failing(x: u64) -> Result<u64, String> {
    Err(format!("backend down for {x}"))
}

#[test]
fn a_missing_named_cache_is_reported_once_and_failures_every_time() {
    let recorder = Recorder::default();
    tracing::subscriber::with_default(recorder.clone(), || {
        for _ in 0..5 {
            assert_eq!(in_a_missing_cache(1), 1);
        }
        antidogpile::install_named(
            "tracing_failing",
            antidogpile::Cache::new(antidogpile::store::MemoryStore::new()),
        );
        for _ in 0..3 {
            assert!(always_failing(2).is_err());
        }
    });
    assert_eq!(
        recorder.count("named cache not installed"),
        1,
        "{:?}",
        recorder.messages
    );
    assert_eq!(
        recorder.count("compute returned a failure"),
        3,
        "{:?}",
        recorder.messages
    );
}

#[antidogpiled(
    soft = "1h",
    grace = "60s",
    cache = "tracing_reentrant",
    name = "tracing::reentrant",
    skip(nested)
)]
fn calls_itself(x: u64, nested: bool) -> u64 {
    if nested {
        x
    } else {
        calls_itself(x, true) + 1
    }
}

#[test]
fn a_reentrant_call_is_reported_once_per_function() {
    let recorder = Recorder::default();
    antidogpile::install_named(
        "tracing_reentrant",
        antidogpile::Cache::new(antidogpile::store::MemoryStore::new()),
    );
    tracing::subscriber::with_default(recorder.clone(), || {
        for x in 0..3 {
            assert_eq!(calls_itself(x, false), x + 1);
        }
    });
    assert_eq!(
        recorder.count("re-entrant call"),
        1,
        "{:?}",
        recorder.messages
    );
}

#[test]
fn a_sync_call_that_would_deadlock_its_runtime_is_reported_once() {
    let recorder = Recorder::default();
    let cache = Arc::new(antidogpile::Cache::new(
        antidogpile::store::MemoryStore::new(),
    ));
    let ttl = std::time::Duration::from_secs(3600);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    tracing::subscriber::with_default(recorder.clone(), || {
        runtime.block_on(async {
            for key in 0..2u32 {
                let (started, holding) = tokio::sync::oneshot::channel();
                let holder = tokio::spawn({
                    let cache = Arc::clone(&cache);
                    async move {
                        cache
                            .as_async()
                            .get_or_compute(&key, ttl, async {
                                let _ = started.send(());
                                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                                1u32
                            })
                            .await
                    }
                });
                holding.await.unwrap();
                // The holder is a task of this thread's runtime.
                assert_eq!(cache.get_or_compute(&key, ttl, || 2u32), 2);
                assert_eq!(holder.await.unwrap(), 1);
            }
        });
    });
    assert_eq!(
        recorder.count("a sync call would block"),
        1,
        "{:?}",
        recorder.messages
    );
}

#[antidogpiled(soft = "1h", cache = "tracing_down", name = "tracing::down")]
fn on_a_down_store(x: u64) -> u64 {
    x
}

#[antidogpiled(soft = "1h", cache = "tracing_down", name = "tracing::nothing")]
fn finds_nothing(x: u64) -> Option<u64> {
    x.checked_sub(u64::MAX)
}

#[antidogpiled(soft = "1h", cache = "tracing_down", name = "tracing::erring")]
fn errs(x: u64) -> Result<u64, String> {
    Err(format!("backend down for {x}"))
}

/// A store that is down, or a function failing on every call, gives a
/// bounded number of warnings (one per function and kind per interval,
/// with the count held back), the rest at DEBUG; a function returning
/// `None` ("nothing found") is no warning at all.
#[test]
fn a_thousand_calls_against_a_down_store_give_a_bounded_number_of_warnings() {
    let recorder = Recorder::default();
    // Nothing listens there: every operation fails at once.
    let closed = common::memcached::free_port();
    antidogpile::install_named(
        "tracing_down",
        antidogpile::Cache::from_url(&format!("memcached://127.0.0.1:{closed}?timeout=1s"))
            .unwrap(),
    );
    tracing::subscriber::with_default(recorder.clone(), || {
        for x in 0..1_000 {
            assert_eq!(on_a_down_store(x % 10), x % 10);
        }
    });
    let warnings = recorder.warnings.lock().unwrap().clone();
    assert!(
        (1..=3).contains(&warnings.len()),
        "{} warnings: {:?}",
        warnings.len(),
        &warnings[..warnings.len().min(5)]
    );
    // The rest are still there for whoever looks at DEBUG.
    assert!(recorder.count("store failed") >= 1_000);

    let recorder = Recorder::default();
    antidogpile::install_named(
        "tracing_down",
        antidogpile::Cache::new(antidogpile::store::MemoryStore::new()),
    );
    tracing::subscriber::with_default(recorder.clone(), || {
        for x in 0..1_000 {
            assert_eq!(finds_nothing(x), None);
            assert!(errs(x).is_err());
        }
    });
    let warnings = recorder.warnings.lock().unwrap().clone();
    assert_eq!(
        warnings.len(),
        1,
        "{:?}",
        &warnings[..warnings.len().min(5)]
    );
    assert!(
        warnings[0].contains("compute returned a failure"),
        "{warnings:?}"
    );
    assert_eq!(recorder.count("compute returned a failure"), 1_000);
    assert_eq!(recorder.count("compute found nothing"), 1_000);
}
