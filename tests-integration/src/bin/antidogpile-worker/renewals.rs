//! With `WORKER_SAYS_RENEWALS` set, the worker's store says each renewal
//! of a claim or lease that succeeded (`renewed AT_MS`), so that a test can
//! kill a holder right after it renewed its hold instead of guessing when.
//!
//! The store of the URL is wrapped, every operation handed on unchanged;
//! only the outcome of `renew_many` (through which the library's liveness
//! thread renews every hold) is looked at.

use std::time::Duration;

use antidogpile::clock::Timestamp;
use antidogpile::custom_store::{
    Answer, ClaimId, Counted, Deadlines, Delta, Hold, Key, LeaseId, ManyReader, ReadFor, Reader,
    Renew, Stored, Version, Wait, Write,
};
use antidogpile::store::{Store, StoreError};
use antidogpile::Cache;

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
    Ok(Cache::new(SaysRenewals(inner.store()))
        .with_hard_timeout_factor(factor)
        .with_default_grace(grace)
        .with_liveness(liveness)
        .with_retry_spacing(spacing))
}

#[derive(Debug)]
struct SaysRenewals(&'static dyn Store);

impl Store for SaysRenewals {
    fn keeps_bytes(&self) -> bool {
        self.0.keeps_bytes()
    }

    fn reads_take_holds(&self) -> bool {
        self.0.reads_take_holds()
    }

    fn read<'a>(
        &'a self,
        wait: Wait,
        key: Key,
        now: Timestamp,
        purpose: ReadFor,
        reader: &'a mut Reader<'_>,
    ) -> Answer<'a, Option<Hold>> {
        self.0.read(wait, key, now, purpose, reader)
    }

    fn try_claim(
        &self,
        wait: Wait,
        key: Key,
        seen: Version,
        now: Timestamp,
        until: Timestamp,
    ) -> Answer<'_, Option<ClaimId>> {
        self.0.try_claim(wait, key, seen, now, until)
    }

    fn release_claim(&self, wait: Wait, key: Key, claim: ClaimId) -> Answer<'_, ()> {
        self.0.release_claim(wait, key, claim)
    }

    fn write(
        &self,
        wait: Wait,
        key: Key,
        value: Stored,
        deadlines: Deadlines,
        now: Timestamp,
    ) -> Answer<'_, ()> {
        self.0.write(wait, key, value, deadlines, now)
    }

    fn write_held(
        &self,
        wait: Wait,
        key: Key,
        held: Hold,
        value: Stored,
        deadlines: Deadlines,
        now: Timestamp,
    ) -> Answer<'_, bool> {
        self.0.write_held(wait, key, held, value, deadlines, now)
    }

    fn remove(&self, wait: Wait, key: Key) -> Answer<'_, ()> {
        self.0.remove(wait, key)
    }

    fn try_lease(
        &self,
        wait: Wait,
        key: Key,
        now: Timestamp,
        grace: Duration,
    ) -> Answer<'_, Option<LeaseId>> {
        self.0.try_lease(wait, key, now, grace)
    }

    fn release_lease(&self, wait: Wait, key: Key, lease: LeaseId) -> Answer<'_, ()> {
        self.0.release_lease(wait, key, lease)
    }

    fn renews_holds(&self) -> bool {
        self.0.renews_holds()
    }

    fn stalls_as_one(&self) -> bool {
        self.0.stalls_as_one()
    }

    fn renew(
        &self,
        wait: Wait,
        key: Key,
        hold: Hold,
        until: Timestamp,
        now: Timestamp,
    ) -> Answer<'_, Option<Hold>> {
        self.0.renew(wait, key, hold, until, now)
    }

    fn renew_many<'a>(
        &'a self,
        wait: Wait,
        renewals: &'a [Renew],
        now: Timestamp,
    ) -> Answer<'a, Vec<Result<Option<Hold>, StoreError>>> {
        let renewed = self.0.renew_many(wait, renewals, now);
        Answer::later(async move {
            let outcomes = renewed.await;
            if let Ok(outcomes) = &outcomes {
                if outcomes
                    .iter()
                    .any(|outcome| matches!(outcome, Ok(Some(_))))
                {
                    crate::say(&format!("renewed {}", crate::now_ms()));
                }
            }
            outcomes
        })
    }

    fn add(&self, wait: Wait, write: Write, now: Timestamp) -> Answer<'_, bool> {
        self.0.add(wait, write, now)
    }

    fn mark_stale(&self, wait: Wait, key: Key, now: Timestamp) -> Answer<'_, bool> {
        self.0.mark_stale(wait, key, now)
    }

    fn count(&self, wait: Wait, key: Key, delta: Delta, now: Timestamp) -> Answer<'_, Counted> {
        self.0.count(wait, key, delta, now)
    }

    fn read_many<'a>(
        &'a self,
        wait: Wait,
        keys: &'a [Key],
        now: Timestamp,
        purpose: ReadFor,
        reader: &'a mut ManyReader<'_>,
    ) -> Answer<'a, Vec<Option<Hold>>> {
        self.0.read_many(wait, keys, now, purpose, reader)
    }

    fn write_many(&self, wait: Wait, writes: Vec<Write>, now: Timestamp) -> Answer<'_, ()> {
        self.0.write_many(wait, writes, now)
    }

    fn remove_many<'a>(&'a self, wait: Wait, keys: &'a [Key]) -> Answer<'a, ()> {
        self.0.remove_many(wait, keys)
    }

    fn try_lease_many<'a>(
        &'a self,
        wait: Wait,
        keys: &'a [Key],
        now: Timestamp,
        grace: Duration,
    ) -> Answer<'a, Vec<Result<Option<LeaseId>, StoreError>>> {
        self.0.try_lease_many(wait, keys, now, grace)
    }

    fn try_claim_many<'a>(
        &'a self,
        wait: Wait,
        claims: &'a [(Key, Version)],
        now: Timestamp,
        until: Timestamp,
    ) -> Answer<'a, Vec<Result<Option<ClaimId>, StoreError>>> {
        self.0.try_claim_many(wait, claims, now, until)
    }

    fn write_held_many(
        &self,
        wait: Wait,
        writes: Vec<(Write, Hold)>,
        now: Timestamp,
    ) -> Answer<'_, Vec<Result<bool, StoreError>>> {
        self.0.write_held_many(wait, writes, now)
    }

    fn ping(&self, wait: Wait) -> Answer<'_, ()> {
        self.0.ping(wait)
    }
}
