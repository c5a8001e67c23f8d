//! The HTTP routes:
//!
//! - `GET /report/{customer}`: the antidogpiled report;
//! - `GET /plain/{customer}`: the same report through a plain TTL cache;
//! - `GET /stats` (text) and `GET /stats.json`: backend calls and expiries of
//!   each, and the antidogpile counters of the report;
//! - `GET /metrics`: every memoized function's counters and compute and
//!   wait times, in the Prometheus text format.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::backend::Backend;
use crate::reports::{self, PlainTtlCache, ANTIDOGPILE_BACKEND, NAMESPACE, PLAIN_BACKEND};

/// The service's routes. A customer that is not a number is a 400.
pub fn router() -> Router {
    Router::new()
        .route("/report/{customer}", get(antidogpiled_report))
        .route("/plain/{customer}", get(plain_report))
        .route("/stats", get(stats_text))
        .route("/stats.json", get(stats_json))
        .route("/metrics", get(metrics_text))
        .with_state(Arc::new(PlainTtlCache::default()))
}

async fn antidogpiled_report(Path(customer): Path<u64>) -> String {
    reports::report(customer).await
}

async fn plain_report(
    State(cache): State<Arc<PlainTtlCache>>,
    Path(customer): Path<u64>,
) -> String {
    cache.report(customer).await
}

/// The report's antidogpile counters as (name, value) pairs.
fn counters() -> [(&'static str, u64); 9] {
    let stats = antidogpile::stats(NAMESPACE).unwrap_or_default();
    [
        ("fresh_hits", stats.fresh_hits),
        ("stale_hits", stats.stale_hits),
        ("misses", stats.misses),
        ("uncached", stats.uncached),
        ("computes", stats.computes),
        ("errors", stats.errors),
        ("panics", stats.panics),
        ("waits", stats.waits),
        ("store_errors", stats.store_errors),
    ]
}

async fn stats_text() -> String {
    let mut text = String::new();
    for (name, backend) in [
        ("antidogpile", &ANTIDOGPILE_BACKEND),
        ("plain TTL", &PLAIN_BACKEND),
    ] {
        let _ = writeln!(
            text,
            "{name}: {} backend calls for {} expiries",
            backend.calls(),
            backend.expiries()
        );
    }
    let _ = write!(text, "antidogpile counters ({NAMESPACE}):");
    for (name, value) in counters() {
        let _ = write!(text, " {name}={value}");
    }
    text.push('\n');
    text
}

async fn stats_json() -> impl IntoResponse {
    let backend = |backend: &Backend| {
        format!(
            r#"{{"backend_calls":{},"expiries":{}}}"#,
            backend.calls(),
            backend.expiries()
        )
    };
    let counters: Vec<String> = counters()
        .iter()
        .map(|(name, value)| format!(r#""{name}":{value}"#))
        .collect();
    let body = format!(
        r#"{{"antidogpile":{},"plain_ttl":{},"stats":{{{}}}}}"#,
        backend(&ANTIDOGPILE_BACKEND),
        backend(&PLAIN_BACKEND),
        counters.join(",")
    ) + "\n";
    ([(header::CONTENT_TYPE, "application/json")], body)
}

/// The Prometheus scrape: the counters published now, so the scrape is exact.
async fn metrics_text() -> impl IntoResponse {
    antidogpile::publish_metrics();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::prometheus::Prometheus::install().render(),
    )
}
