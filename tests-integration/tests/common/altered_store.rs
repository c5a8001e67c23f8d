//! A store written here, as a user's own store would be: a real store
//! underneath (a `MemoryStore` unless another is given), with one behaviour
//! altered or watched for a test (a slow, counted claim or lease; a write
//! that ignores the hold it names; a claim that its reads take holds when
//! they do not; which threads read the clearing generations).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use antidogpile::clock::Timestamp;
use antidogpile::custom_store::{
    Answer, ClaimId, Counted, Deadlines, Delta, Hold, Key, LeaseId, ReadFor, Reader, Stored,
    Version, Wait, Write,
};
use antidogpile::store::{MemoryStore, Store};

/// What is altered.
#[derive(Debug, Default, Clone, Copy)]
pub struct Alterations {
    /// Each claim and lease attempt takes this long (a slow network).
    pub hold_delay: Duration,
    /// `write_held` is the trait's default: an unconditional write.
    pub unguarded_writes: bool,
    /// Says its reads take holds (they take none).
    pub says_reads_take_holds: bool,
}

/// A store (`MemoryStore` by default) with [`Alterations`], counting claim
/// and lease attempts.
#[derive(Debug)]
pub struct AlteredStore<S = MemoryStore> {
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
        AlteredStore::over(MemoryStore::new(), alterations)
    }
}

impl<S: Store> AlteredStore<S> {
    pub fn over(inner: S, alterations: Alterations) -> AlteredStore<S> {
        AlteredStore {
            inner,
            alterations,
            claims: AtomicUsize::new(0),
            leases: AtomicUsize::new(0),
            generation_reads: Mutex::new(Vec::new()),
        }
    }

    fn attempt(&self, counter: &AtomicUsize) {
        counter.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(self.alterations.hold_delay);
    }
}

impl<S: Store> Store for AlteredStore<S> {
    fn reads_take_holds(&self) -> bool {
        self.alterations.says_reads_take_holds
    }

    fn keeps_bytes(&self) -> bool {
        self.inner.keeps_bytes()
    }

    fn read<'a>(
        &'a self,
        wait: Wait,
        key: Key,
        now: Timestamp,
        purpose: ReadFor,
        reader: &'a mut Reader<'_>,
    ) -> Answer<'a, Option<Hold>> {
        if key.namespace() == "antidogpile::generation" {
            let thread = std::thread::current();
            let name = thread.name().unwrap_or("unnamed").to_owned();
            self.generation_reads.lock().unwrap().push(name);
        }
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
        self.attempt(&self.claims);
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
        self.attempt(&self.leases);
        self.inner.try_lease(wait, key, now, grace)
    }

    fn release_lease(&self, wait: Wait, key: Key, lease: LeaseId) -> Answer<'_, ()> {
        self.inner.release_lease(wait, key, lease)
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
}
