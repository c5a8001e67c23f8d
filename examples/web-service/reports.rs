//! The two ways the service caches a report: `#[antidogpiled]`, and a plain
//! TTL cache (check, miss, call the backend) for contrast. Each has a backend
//! of its own so that their calls are counted apart.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use antidogpile::antidogpiled;

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
#[derive(Debug, Default)]
pub struct PlainTtlCache {
    entries: Mutex<HashMap<u64, (String, Instant)>>,
}

impl PlainTtlCache {
    /// The cached report if it is fresh, else a new one from the backend.
    pub async fn report(&self, customer: u64) -> String {
        if let Some((value, expires)) = self.entries().get(&customer) {
            if Instant::now() < *expires {
                return value.clone();
            }
        }
        let value = PLAIN_BACKEND.render(customer).await;
        let now = Instant::now();
        let mut entries = self.entries();
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, (_, expires)| now < *expires);
        }
        entries.insert(customer, (value.clone(), now + FRESH));
        value
    }

    fn entries(&self) -> MutexGuard<'_, HashMap<u64, (String, Instant)>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
