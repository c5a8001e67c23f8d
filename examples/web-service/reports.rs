//! The two ways the service caches a report: `#[antidogpiled]`, and a plain
//! TTL cache (check, miss, call the backend) for contrast. Each has a backend
//! of its own so that their calls are counted apart.

use antidogpile::antidogpiled;
use antidogpile_test_support::naive_ttl::NaiveTtlCache;

use crate::backend::{Backend, FRESH};

/// The backend behind the antidogpiled report.
pub static ANTIDOGPILE_BACKEND: Backend = Backend::new();
/// The backend behind the plain TTL cache.
pub static PLAIN_BACKEND: Backend = Backend::new();

/// The namespace of [`report`], for `antidogpile::stats`.
pub const NAMESPACE: &str = "web_service::report";

/// A customer's report: fresh for 1 s ([`FRESH`]), kept 8 s, and a refresh
/// that takes over 5 s may be taken over by another caller.
#[antidogpiled(soft = "1s", grace = "5s", name = "web_service::report")]
pub async fn report(customer: u64) -> String {
    ANTIDOGPILE_BACKEND.render(customer).await
}

/// Past this many entries, expired ones are dropped on the next store.
const MAX_ENTRIES: usize = 10_000;

/// The dogpile itself: every request that finds the report expired calls
/// the backend.
#[derive(Debug)]
pub struct PlainTtlCache(NaiveTtlCache<u64, String>);

impl Default for PlainTtlCache {
    fn default() -> Self {
        PlainTtlCache(NaiveTtlCache::new(FRESH).with_max_entries(MAX_ENTRIES))
    }
}

impl PlainTtlCache {
    /// The cached report if it is fresh, else a new one from the backend.
    pub async fn report(&self, customer: u64) -> String {
        self.0
            .get_or_compute_async(customer, || PLAIN_BACKEND.render(customer))
            .await
    }
}
