//! A store written here, as a user's own store would be: every operation
//! handed on to a real store underneath (a `MemoryStore` unless another is
//! given), with one behaviour altered or watched for a test (a slow, counted
//! claim or lease; a write that ignores the hold it names; a claim that its
//! reads take holds when they do not; which threads read the clearing
//! generations; a call after each renewal). The batch operations keep each
//! alteration, as the trait's defaults (one operation per key) did.
//!
//! The cross-process tests' worker (`src/bin/antidogpile-worker`) wraps the
//! store of its URL in one too, to say when it renewed a hold: the store
//! underneath is any `Deref` to a store (a `Box`, or the worker's
//! `&'static dyn Store`).

use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use antidogpile::clock::Timestamp;
use antidogpile::custom_store::{
    Answer, ClaimId, Counted, Deadlines, Delta, Hold, Key, LeaseId, ManyReader, ReadFor, Reader,
    Renew, Stored, Version, Wait, Write,
};
use antidogpile::store::{MemoryStore, Store, StoreError};

/// What is altered.
#[derive(Debug, Default, Clone, Copy)]
pub struct Alterations {
    /// Each claim and lease attempt takes this long (a slow network).
    pub hold_delay: Duration,
    /// `write_held` is the trait's default: an unconditional write.
    pub unguarded_writes: bool,
    /// Says its reads take holds (they take none).
    pub says_reads_take_holds: bool,
    /// Called after each `renew_many` (through which the liveness thread
    /// renews every hold) that renewed at least one hold.
    pub after_renewal: Option<fn()>,
}

/// A store (`MemoryStore` by default) with [`Alterations`], counting claim
/// and lease attempts.
#[derive(Debug)]
pub struct AlteredStore<S = Box<MemoryStore>> {
    inner: S,
    alterations: Alterations,
    /// Claim attempts.
    pub claims: AtomicUsize,
    /// Lease attempts.
    pub leases: AtomicUsize,
    /// The name of the thread of each read of a clearing generation
    /// (a key of the namespace `antidogpile::generation`).
    pub generation_reads: Mutex<Vec<String>>,
}

impl AlteredStore {
    pub fn new(alterations: Alterations) -> AlteredStore {
        AlteredStore::over(Box::new(MemoryStore::new()), alterations)
    }
}

impl<S> AlteredStore<S>
where
    S: Deref,
    S::Target: Store,
{
    pub fn over(inner: S, alterations: Alterations) -> AlteredStore<S> {
        AlteredStore {
            inner,
            alterations,
            claims: AtomicUsize::new(0),
            leases: AtomicUsize::new(0),
            generation_reads: Mutex::new(Vec::new()),
        }
    }

    /// `attempts` claim or lease attempts, each counted and delayed.
    fn attempt(&self, counter: &AtomicUsize, attempts: usize) {
        for _ in 0..attempts {
            counter.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(self.alterations.hold_delay);
        }
    }

    fn watch_reads(&self, keys: &[Key]) {
        for key in keys {
            if key.namespace() == "antidogpile::generation" {
                let thread = std::thread::current();
                let name = thread.name().unwrap_or("unnamed").to_owned();
                self.generation_reads.lock().unwrap().push(name);
            }
        }
    }
}

impl<S> Store for AlteredStore<S>
where
    S: Deref + Send + Sync + std::fmt::Debug + 'static,
    S::Target: Store,
{
    fn keeps_bytes(&self) -> bool {
        self.inner.keeps_bytes()
    }

    fn reads_take_holds(&self) -> bool {
        self.alterations.says_reads_take_holds || self.inner.reads_take_holds()
    }

    fn read<'a>(
        &'a self,
        wait: Wait,
        key: Key,
        now: Timestamp,
        purpose: ReadFor,
        reader: &'a mut Reader<'_>,
    ) -> Answer<'a, Option<Hold>> {
        self.watch_reads(&[key]);
        self.inner.read(wait, key, now, purpose, reader)
    }

    fn try_claim(
        &self,
        wait: Wait,
        key: Key,
        seen: Version,
        now: Timestamp,
        until: Timestamp,
    ) -> Answer<'_, Option<ClaimId>> {
        self.attempt(&self.claims, 1);
        self.inner.try_claim(wait, key, seen, now, until)
    }

    fn release_claim(&self, wait: Wait, key: Key, claim: ClaimId) -> Answer<'_, ()> {
        self.inner.release_claim(wait, key, claim)
    }

    fn write(
        &self,
        wait: Wait,
        key: Key,
        value: Stored,
        deadlines: Deadlines,
        now: Timestamp,
    ) -> Answer<'_, ()> {
        self.inner.write(wait, key, value, deadlines, now)
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
        if self.alterations.unguarded_writes {
            let write = self.inner.write(wait, key, value, deadlines, now);
            return Answer::later(async move { write.await.map(|()| true) });
        }
        self.inner
            .write_held(wait, key, held, value, deadlines, now)
    }

    fn remove(&self, wait: Wait, key: Key) -> Answer<'_, ()> {
        self.inner.remove(wait, key)
    }

    fn try_lease(
        &self,
        wait: Wait,
        key: Key,
        now: Timestamp,
        grace: Duration,
    ) -> Answer<'_, Option<LeaseId>> {
        self.attempt(&self.leases, 1);
        self.inner.try_lease(wait, key, now, grace)
    }

    fn release_lease(&self, wait: Wait, key: Key, lease: LeaseId) -> Answer<'_, ()> {
        self.inner.release_lease(wait, key, lease)
    }

    fn renews_holds(&self) -> bool {
        self.inner.renews_holds()
    }

    fn stalls_as_one(&self) -> bool {
        self.inner.stalls_as_one()
    }

    fn renew(
        &self,
        wait: Wait,
        key: Key,
        hold: Hold,
        until: Timestamp,
        now: Timestamp,
    ) -> Answer<'_, Option<Hold>> {
        self.inner.renew(wait, key, hold, until, now)
    }

    fn renew_many<'a>(
        &'a self,
        wait: Wait,
        renewals: &'a [Renew],
        now: Timestamp,
    ) -> Answer<'a, Vec<Result<Option<Hold>, StoreError>>> {
        let renewed = self.inner.renew_many(wait, renewals, now);
        let Some(after_renewal) = self.alterations.after_renewal else {
            return renewed;
        };
        Answer::later(async move {
            let outcomes = renewed.await;
            let any = |outcomes: &Vec<_>| outcomes.iter().any(|o| matches!(o, Ok(Some(_))));
            if outcomes.as_ref().is_ok_and(any) {
                after_renewal();
            }
            outcomes
        })
    }

    fn add(&self, wait: Wait, write: Write, now: Timestamp) -> Answer<'_, bool> {
        self.inner.add(wait, write, now)
    }

    fn mark_stale(&self, wait: Wait, key: Key, now: Timestamp) -> Answer<'_, bool> {
        self.inner.mark_stale(wait, key, now)
    }

    fn count(&self, wait: Wait, key: Key, delta: Delta, now: Timestamp) -> Answer<'_, Counted> {
        self.inner.count(wait, key, delta, now)
    }

    fn read_many<'a>(
        &'a self,
        wait: Wait,
        keys: &'a [Key],
        now: Timestamp,
        purpose: ReadFor,
        reader: &'a mut ManyReader<'_>,
    ) -> Answer<'a, Vec<Option<Hold>>> {
        self.watch_reads(keys);
        self.inner.read_many(wait, keys, now, purpose, reader)
    }

    fn write_many(&self, wait: Wait, writes: Vec<Write>, now: Timestamp) -> Answer<'_, ()> {
        self.inner.write_many(wait, writes, now)
    }

    fn remove_many<'a>(&'a self, wait: Wait, keys: &'a [Key]) -> Answer<'a, ()> {
        self.inner.remove_many(wait, keys)
    }

    fn try_lease_many<'a>(
        &'a self,
        wait: Wait,
        keys: &'a [Key],
        now: Timestamp,
        grace: Duration,
    ) -> Answer<'a, Vec<Result<Option<LeaseId>, StoreError>>> {
        self.attempt(&self.leases, keys.len());
        self.inner.try_lease_many(wait, keys, now, grace)
    }

    fn try_claim_many<'a>(
        &'a self,
        wait: Wait,
        claims: &'a [(Key, Version)],
        now: Timestamp,
        until: Timestamp,
    ) -> Answer<'a, Vec<Result<Option<ClaimId>, StoreError>>> {
        self.attempt(&self.claims, claims.len());
        self.inner.try_claim_many(wait, claims, now, until)
    }

    fn write_held_many(
        &self,
        wait: Wait,
        writes: Vec<(Write, Hold)>,
        now: Timestamp,
    ) -> Answer<'_, Vec<Result<bool, StoreError>>> {
        if self.alterations.unguarded_writes {
            let landed = writes.len();
            let writes = writes.into_iter().map(|(write, _)| write).collect();
            let written = self.inner.write_many(wait, writes, now);
            return Answer::later(async move {
                written
                    .await
                    .map(|()| (0..landed).map(|_| Ok(true)).collect())
            });
        }
        self.inner.write_held_many(wait, writes, now)
    }

    fn ping(&self, wait: Wait) -> Answer<'_, ()> {
        self.inner.ping(wait)
    }
}
