//! What is cached is decided by the return type: by its spelling, or by the
//! `result`, `option` and `value` options where the spelling does not say
//! (a type alias). A plain return type that is really a `Result` or an
//! `Option` is reported once, naming the option to add.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use antidogpile::antidogpiled;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct AppError(String);

type Res<T> = Result<T, AppError>;
type Maybe<T> = Option<T>;

static LOOKUPS: AtomicUsize = AtomicUsize::new(0);

#[antidogpiled(soft = "1h", result)]
fn lookup(id: u64) -> Res<u64> {
    let runs = LOOKUPS.fetch_add(1, Ordering::SeqCst);
    if runs < 2 {
        Err(AppError(format!("down {runs}")))
    } else {
        Ok(id * 10)
    }
}

/// With `result`, an alias of `Result` caches `Ok` only.
#[test]
fn an_aliased_result_with_the_result_option_does_not_cache_errors() {
    assert_eq!(lookup(4), Err(AppError("down 0".to_owned())));
    assert_eq!(lookup(4), Err(AppError("down 1".to_owned())));
    assert_eq!(lookup(4), Ok(40));
    assert_eq!(lookup(4), Ok(40));
    assert_eq!(LOOKUPS.load(Ordering::SeqCst), 3);
}

static FINDS: AtomicUsize = AtomicUsize::new(0);

#[antidogpiled(soft = "1h", option)]
fn find(id: u64) -> Maybe<u64> {
    FINDS.fetch_add(1, Ordering::SeqCst);
    (id > 0).then_some(id)
}

#[test]
fn an_aliased_option_with_the_option_option_does_not_cache_none() {
    assert_eq!(find(0), None);
    assert_eq!(find(0), None);
    assert_eq!(find(5), Some(5));
    assert_eq!(find(5), Some(5));
    assert_eq!(FINDS.load(Ordering::SeqCst), 3);
}

static NEGATIVE: AtomicUsize = AtomicUsize::new(0);

/// `value` caches every value, `None` included (negative caching).
#[antidogpiled(soft = "1h", value)]
fn find_cached(id: u64) -> Option<u64> {
    NEGATIVE.fetch_add(1, Ordering::SeqCst);
    (id > 0).then_some(id)
}

#[test]
fn the_value_option_caches_none_too() {
    assert_eq!(find_cached(0), None);
    assert_eq!(find_cached(0), None);
    assert_eq!(NEGATIVE.load(Ordering::SeqCst), 1);
}

/// Keeps the message of every `antidogpile` event.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

struct Message<'a>(&'a mut String);

impl Visit for Message<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write as _;
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target() == "antidogpile"
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut message = String::new();
        event.record(&mut Message(&mut message));
        self.0.lock().unwrap().push(message);
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

static DISGUISED: AtomicUsize = AtomicUsize::new(0);

/// Spelled as neither `Result` nor `Option`: a plain value, errors cached.
#[antidogpiled(soft = "1h")]
fn disguised(id: u64) -> Res<u64> {
    DISGUISED.fetch_add(1, Ordering::SeqCst);
    Err(AppError(format!("no {id}")))
}

static CHOSEN: AtomicUsize = AtomicUsize::new(0);

/// `value` says that errors are cached on purpose: nothing to report.
#[antidogpiled(soft = "1h", value)]
fn chosen(id: u64) -> Res<u64> {
    CHOSEN.fetch_add(1, Ordering::SeqCst);
    Err(AppError(format!("no {id}")))
}

/// The macro cannot see through the alias; the runtime can, and says so
/// once per function, naming the options.
#[test]
fn an_aliased_result_without_an_option_is_reported_once() {
    let recorder = Recorder::default();
    tracing::subscriber::with_default(recorder.clone(), || {
        for id in 0..3 {
            assert_eq!(disguised(id), Err(AppError(format!("no {id}"))));
            assert_eq!(disguised(id), Err(AppError(format!("no {id}"))));
            assert_eq!(chosen(id), Err(AppError(format!("no {id}"))));
        }
    });
    assert_eq!(CHOSEN.load(Ordering::SeqCst), 3);
    // Without an option the error is a value like any other: cached.
    assert_eq!(DISGUISED.load(Ordering::SeqCst), 3);
    let messages = recorder.0.lock().unwrap().clone();
    let warnings: Vec<&String> = messages
        .iter()
        .filter(|m| m.contains("add `result`"))
        .collect();
    assert_eq!(warnings.len(), 1, "{messages:?}");
    assert!(
        warnings[0].contains("namespace=\"return_type::disguised\""),
        "{warnings:?}"
    );
}
