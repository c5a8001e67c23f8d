//! With `WORKER_SAYS_RENEWALS` set, the worker's store says each renewal
//! of a claim or lease that succeeded (`renewed AT_MS`), so that a test can
//! kill a holder right after it renewed its hold instead of guessing when.
//!
//! The store of the URL is wrapped in the tests' `AlteredStore`, every
//! operation handed on unchanged; only after a `renew_many` (through which
//! the library's liveness thread renews every hold) that renewed a hold
//! does it say so.

use antidogpile::Cache;

#[path = "../../../tests/common/altered_store.rs"]
#[allow(dead_code)] // the worker alters nothing but the renewals
mod altered_store;

use altered_store::{Alterations, AlteredStore};

/// The cache of `url`, its store wrapped to say renewals if
/// `WORKER_SAYS_RENEWALS` is set.
pub fn cache_from_url(url: &str) -> Result<Cache, antidogpile::Error> {
    let cache = Cache::from_url(url)?;
    if std::env::var_os("WORKER_SAYS_RENEWALS").is_none() {
        return Ok(cache);
    }
    let (factor, grace, liveness, spacing) = (
        cache.hard_timeout_factor(),
        cache.default_grace(),
        cache.liveness(),
        cache.retry_spacing(),
    );
    // The URL's cache lives as long as the process: its store is wrapped.
    let inner: &'static Cache = Box::leak(Box::new(cache));
    let says_renewals = Alterations {
        after_renewal: Some(say_renewed),
        ..Alterations::default()
    };
    Ok(Cache::new(AlteredStore::over(inner.store(), says_renewals))
        .with_hard_timeout_factor(factor)
        .with_default_grace(grace)
        .with_liveness(liveness)
        .with_retry_spacing(spacing))
}

fn say_renewed() {
    crate::say(&format!("renewed {}", crate::now_ms()));
}
