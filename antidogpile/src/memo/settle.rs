//! Settling a compute: storing its value (guarded by the claim or lease it
//! held), or, on failure, spacing the next retry.

use std::future::Future;
use std::sync::Arc;

use super::*;
use crate::clock::Clock;
use crate::envelope::encode_payload;
use crate::error::{StoreError, StoreErrorKind};
use crate::holds::Release;
use crate::io::Io;
use crate::key::Key;
use crate::outcome::{Cacheable, Outcome};
use crate::policy::Timeouts;
use crate::site::Site;
use crate::stats::Event;
use crate::store::{Stored, Value};
use crate::warn::trace_store_error;

impl<V: Cacheable> Refresh<V> {
    /// Stores a successful refresh, if its claim is still the live one (an
    /// invalidation since ends it: the refresh read data older than the
    /// invalidation, so it must not be stored as fresh). On failure keeps
    /// serving the stale value and keeps the claim for the retry spacing,
    /// so retries are spaced.
    pub(super) async fn settle<R: Outcome<Value = V>>(
        mut self,
        io: &Io<'_>,
        site: &'static Site,
        outcome: R,
    ) -> R {
        match outcome.into_value() {
            Ok(value) => {
                let key = self.claim.key;
                let (_, landed) = store_value(
                    io,
                    site,
                    &self.clock,
                    &key,
                    &self.timeouts,
                    Some(&mut self.claim),
                    &value,
                )
                .await;
                if landed == Landed::NotStored {
                    // Too large or the store failed: the next caller may try.
                    self.claim.give_back(io).await;
                }
                R::from_value(value)
            }
            Err(_) => {
                failed::<R>(site, "serving the stale value until the hard timeout");
                self.claim
                    .space_retry(io, self.clock.now(), self.retry_spacing)
                    .await;
                R::from_value(self.stale)
            }
        }
    }
}

/// Counts a compute's failure and tells it: an `Err` at WARN (rate-limited:
/// [`crate::warn`]), a `None` ("nothing found", an answer rather than
pub(super) fn failed<R: Outcome>(site: &'static Site, consequence: &str) {
    site.counters.count(Event::Error);
    if R::shared_failure().is_some() {
        tracing::debug!(
            target: "antidogpile",
            namespace = site.namespace,
            "compute found nothing (not cached): {consequence}"
        );
    } else {
        crate::warn::warn_limited!(
            site.namespace,
            crate::warn::Kind::Failure,
            "compute returned a failure (not cached): {consequence}"
        );
    }
}

/// What became of a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Landed {
    Stored,
    /// A held write whose claim or lease an invalidation had ended.
    Refused,
    /// Too large, not serializable, or the store failed.
    NotStored,
}

/// Writes `value` with fresh deadlines (only while `held` is the live claim
/// or lease, if given: disarmed once the write has answered); returns it
/// shared, for waiters in this process, and what became of the write. A
/// store that fails is counted and traced, nothing more; a held write
/// refused is traced.
///
/// The value's `Clone` and `Serialize` are user code: they run while `held`
/// is still armed, so that a panic there gives the claim or lease back as
/// a panicking compute does (its guard is dropped unwinding).
pub(super) async fn store_value<V: Cacheable>(
    io: &Io<'_>,
    site: &'static Site,
    clock: &Clock,
    key: &Key,
    timeouts: &Timeouts,
    held: Option<&mut Release>,
    value: &V,
) -> (Value, Landed) {
    let shared: Value = Arc::new(value.clone());
    let stored = if io.store.keeps_bytes() {
        match encode_payload(value) {
            Ok(bytes) => Stored::Bytes(bytes),
            Err(error) => {
                let error = StoreError::new(StoreErrorKind::Serialize, error.to_string());
                site.counters.count(Event::StoreError);
                trace_store_error(site.namespace, &error);
                return (shared, Landed::NotStored);
            }
        }
    } else {
        Stored::Object(Arc::clone(&shared))
    };
    // The hold as held now (a renewal may have changed its token); no
    // renewal follows. It stays armed until the write answers: a write
    // abandoned unanswered (a panic in a batch's other write, a cancelled
    // future) gives it back (a no-op if the write landed: that ended it).
    let token = held.as_deref().map(Release::stop_renewals);
    // A broken build's unguarded write (`hooks::Broken`), for the history checker.
    let token = token.filter(|_| !crate::hooks::broken(crate::hooks::Broken::StaleSetGuard));
    let now = clock.now();
    let deadlines = timeouts.deadlines(now, crate::random::unit());
    let written = io.write(*key, token, stored, deadlines, now).await;
    if let Some(held) = held {
        held.disarm();
    }
    match written {
        Ok(false) => {
            tracing::debug!(
                target: "antidogpile",
                namespace = site.namespace,
                "not stored: invalidated while it was computed (returned to its caller only)"
            );
            (shared, Landed::Refused)
        }
        Ok(_) => (shared, Landed::Stored),
        Err(error) => {
            site.counters.count(Event::StoreError);
            trace_store_error(site.namespace, &error);
            (shared, Landed::NotStored)
        }
    }
}

impl<V: Cacheable> Refresh<V> {
    /// A background refresh: computes (its panic watched) and settles; its
    /// caller counts the compute.
    pub(super) async fn compute_and_settle<R, F>(self, io: &Io<'_>, site: &'static Site, compute: F)
    where
        R: Outcome<Value = V>,
        F: Future<Output = R>,
    {
        let mut watch = PanicWatch::new(site);
        let outcome = compute.await;
        watch.computed();
        self.settle(io, site, outcome).await;
        drop(watch);
    }
}
