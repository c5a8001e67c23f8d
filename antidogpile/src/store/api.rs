//! The store contract: the [`Store`] trait, and the types its operations
//! take and answer.

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::answer::{Answer, Wait};
use crate::clock::Timestamp;
use crate::error::{StoreError, StoreErrorKind};
use crate::key::Key;
use crate::policy::{Deadlines, EntryMeta};

/// A cached value, type-erased, as an in-process store keeps it.
pub type Value = Arc<dyn Any + Send + Sync>;

/// A value handed to [`Store::write`].
#[derive(Clone)]
pub enum Stored {
    /// The value itself (for stores where [`Store::keeps_bytes`] is false).
    Object(Value),
    /// The value serialized with postcard (for stores that keep bytes).
    Bytes(Vec<u8>),
    /// A raw value from a hard set: kept as these bytes, without an
    /// envelope, never stale; integers are their decimal digits.
    Raw(Vec<u8>),
}

/// A value as [`Store::read`] shows it.
#[derive(Clone, Copy)]
pub enum StoredRef<'a> {
    /// The value itself.
    Object(&'a Value),
    /// The postcard bytes of the value (the payload of its envelope).
    Bytes(&'a [u8]),
    /// A raw value (see [`Stored::Raw`]).
    Raw(&'a [u8]),
}

impl Stored {
    /// A borrowed view of this value.
    pub fn as_ref(&self) -> StoredRef<'_> {
        match self {
            Stored::Object(value) => StoredRef::Object(value),
            Stored::Bytes(bytes) => StoredRef::Bytes(bytes),
            Stored::Raw(bytes) => StoredRef::Raw(bytes),
        }
    }
}

impl StoredRef<'_> {
    /// This value, owned.
    pub fn to_owned(self) -> Stored {
        match self {
            StoredRef::Object(value) => Stored::Object(Arc::clone(value)),
            StoredRef::Bytes(bytes) => Stored::Bytes(bytes.to_vec()),
            StoredRef::Raw(bytes) => Stored::Raw(bytes.to_vec()),
        }
    }
}

impl fmt::Debug for Stored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_ref().fmt(f)
    }
}

impl fmt::Debug for StoredRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoredRef::Object(_) => f.write_str("Object(..)"),
            StoredRef::Bytes(bytes) => write!(f, "Bytes({} bytes)", bytes.len()),
            StoredRef::Raw(bytes) => write!(f, "Raw({} bytes)", bytes.len()),
        }
    }
}

/// Changes every time an entry is written: what a claim is conditional on
/// (a counter in memory, the CAS token in memcached).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Version(pub u64);

/// Identifies one refresh claim, so that only its holder can release it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClaimId(pub u64);

/// Identifies one cold-miss lease, so that only its holder can release it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LeaseId(pub u64);

/// A claim or a lease, as its holder keeps it: what releases (and, later,
/// renewals and guarded writes) name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Hold {
    /// A refresh claim on a stale entry.
    Claim(ClaimId),
    /// A cold-miss lease.
    Lease(LeaseId),
}

/// An entry as [`Store::read`] shows it.
#[derive(Clone, Copy, Debug)]
pub struct EntryView<'a> {
    /// Soft deadline and refresh claim.
    pub meta: EntryMeta,
    /// What [`Store::try_claim`] must see unchanged.
    pub version: Version,
    /// The value.
    pub value: StoredRef<'a>,
}

/// What [`Store::read`] found under a key (it reports nothing when it found nothing).
#[derive(Clone, Copy, Debug)]
pub enum Lookup<'a> {
    /// A value.
    Entry(EntryView<'a>),
    /// No value, but a cold-miss lease: another process is computing it.
    Leased,
}

/// What a read found, owned: what a store's I/O hands back before the
/// reader sees it borrowed (a file read on one of tokio's blocking threads,
/// a memcached reply).
#[derive(Debug)]
pub(crate) enum Found {
    Entry {
        meta: EntryMeta,
        version: Version,
        value: Stored,
    },
    Leased,
}

/// What one key's read found, and the hold it took.
pub(crate) type ReadOf = (Option<Found>, Option<Hold>);

impl Found {
    pub(crate) fn of(lookup: Lookup<'_>) -> Found {
        match lookup {
            Lookup::Leased => Found::Leased,
            Lookup::Entry(entry) => Found::Entry {
                meta: entry.meta,
                version: entry.version,
                value: entry.value.to_owned(),
            },
        }
    }

    /// A batch read's finds, from each key's outcome: a key whose read
    /// failed reads as nothing; the batch fails, with the first failure,
    /// only if every key's read did.
    pub(crate) fn of_batch(
        outcomes: impl IntoIterator<Item = Result<ReadOf, StoreError>>,
    ) -> Result<Vec<ReadOf>, StoreError> {
        let mut first_error = None;
        let mut failures = 0;
        let found: Vec<_> = outcomes
            .into_iter()
            .map(|outcome| {
                outcome.unwrap_or_else(|error| {
                    failures += 1;
                    first_error.get_or_insert(error);
                    (None, None)
                })
            })
            .collect();
        match first_error {
            Some(error) if failures == found.len() => Err(error),
            _ => Ok(found),
        }
    }

    /// Hands each find of a batch to `reader`, with its index; the holds
    /// the batch's reads took, in order.
    pub(crate) fn hand_to(found: Vec<ReadOf>, reader: &mut ManyReader<'_>) -> Vec<Option<Hold>> {
        found
            .into_iter()
            .enumerate()
            .map(|(index, (found, hold))| {
                if let Some(found) = found {
                    reader(index, found.lookup());
                }
                hold
            })
            .collect()
    }

    pub(crate) fn lookup(&self) -> Lookup<'_> {
        match self {
            Found::Leased => Lookup::Leased,
            Found::Entry {
                meta,
                version,
                value,
            } => Lookup::Entry(EntryView {
                meta: *meta,
                version: *version,
                value: value.as_ref(),
            }),
        }
    }
}

/// What a read is for: whether the store may take a claim or a lease in
/// the same step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadFor {
    /// A look that must take nothing (the client's `peek`, a display, a test).
    Peek,
    /// A read by a caller that acts on what it finds: the store may, in the
    /// same request, take the refresh claim of a stale entry (until
    /// `claim_until`) or the cold-miss lease of an absent one (for
    /// `lease_for`), and say so (see [`Store::read`]). `keep_stale` is how
    /// long the caller keeps values after their soft deadline (hard − soft),
    /// for a store whose own expiry decides when a value turns stale.
    Use {
        /// Until when a refresh claim taken by the read lasts.
        claim_until: Timestamp,
        /// How long a cold-miss lease taken by the read lasts.
        lease_for: Duration,
        /// Hard minus soft timeout of the caller's values.
        keep_stale: Duration,
    },
}

/// What [`Store::read`] hands what it found to.
pub type Reader<'r> = dyn FnMut(Lookup<'_>) + Send + 'r;

/// What [`Store::read_many`] hands what it found under each key to, with
/// the key's index.
pub type ManyReader<'r> = dyn FnMut(usize, Lookup<'_>) + Send + 'r;

/// The meta a store reports for a raw value: fresh until it is gone.
pub const RAW_META: EntryMeta = EntryMeta {
    soft_deadline: Timestamp::MAX,
    claimed_until: Timestamp::EPOCH,
};

/// A change to a counter, for [`Store::count`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delta {
    /// Add, wrapping around at 2^64 (as memcached does).
    Incr(u64),
    /// Subtract, stopping at zero (as memcached does).
    Decr(u64),
}

impl Delta {
    /// `counter` changed by this delta.
    pub fn apply(self, counter: u64) -> u64 {
        match self {
            Delta::Incr(by) => counter.wrapping_add(by),
            Delta::Decr(by) => counter.saturating_sub(by),
        }
    }
}

/// What [`Store::count`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counted {
    /// The counter's new value.
    Value(u64),
    /// Nothing stored under the key.
    Absent,
    /// A value that is not a raw decimal integer (an enveloped value, or raw
    /// bytes of another type): left as it is.
    NotACounter,
}

/// One hold for [`Store::renew_many`] to extend: what [`Store::renew`]
/// is given, but for its caller's `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Renew {
    /// The key held.
    pub key: Key,
    /// The claim or lease on it, as its holder last got it.
    pub hold: Hold,
    /// Until when to extend it.
    pub until: Timestamp,
}

/// What [`Store::add`] and [`Store::write`] store: a value and its deadlines.
#[derive(Clone, Debug)]
pub struct Write {
    /// Where.
    pub key: Key,
    /// What.
    pub value: Stored,
    /// Until when (for a [`Stored::Raw`] value only `hard` counts;
    /// [`Timestamp::MAX`] is "no expiry").
    pub deadlines: Deadlines,
}

/// Where cached entries live.
///
/// Implementations must be safe to call from many threads at once, never
/// panic on what they read (bytes that do not decode are simply absent),
/// and make [`try_claim`](Store::try_claim) and [`try_lease`](Store::try_lease)
/// atomic: of all callers that saw the same [`Version`], at most one claims;
/// of all callers that found nothing, at most one leases per grace window.
///
/// A failing store returns a [`StoreError`]; the cache then computes and
/// returns the value without it (slower, never wrong).
///
/// Each method is one operation, defined once for blocking and async
/// callers: it is told how its caller [`Wait`]s and returns an [`Answer`].
/// An in-process store answers at once ([`Answer::ready`]); a store doing
/// I/O returns [`Answer::later`] with a future that, for [`Wait::Async`],
/// never blocks its runtime (and, for [`Wait::Blocking`], may block).
pub trait Store: Send + Sync + fmt::Debug + 'static {
    /// Whether values are handed over serialized ([`Stored::Bytes`]).
    fn keeps_bytes(&self) -> bool {
        false
    }

    /// Whether a [`read`](Store::read) for [`ReadFor::Use`] takes the claim
    /// or the lease its caller needs, when it can be had, in the same step.
    /// The cache then asks [`try_claim`](Store::try_claim) and
    /// [`try_lease`](Store::try_lease) nothing more after such a read: one
    /// that took nothing means another holds it. The default: `false`.
    fn reads_take_holds(&self) -> bool {
        false
    }

    /// Hands `reader` what is stored under `key` (an entry whose hard
    /// deadline is after `now`, or a lease); does not call it if nothing is.
    ///
    /// For a read that is [`ReadFor::Use`], a store may also take, in the
    /// same step, the refresh claim of the stale entry it found or the
    /// cold-miss lease of a key it found empty, and answer it
    /// (`Some(Hold::Claim)`, `Some(Hold::Lease)`): memcached decides both in
    /// the request that reads. `None`: it took nothing (the cache then asks
    /// [`try_claim`](Store::try_claim) or [`try_lease`](Store::try_lease)
    /// if it needs to). A [`ReadFor::Peek`] read takes nothing.
    fn read<'a>(
        &'a self,
        wait: Wait,
        key: Key,
        now: Timestamp,
        purpose: ReadFor,
        reader: &'a mut Reader<'_>,
    ) -> Answer<'a, Option<Hold>>;

    /// Claims the refresh of the entry under `key` until `until`, if it still
    /// has version `seen`, is stale at `now`, and nobody holds a live claim.
    fn try_claim(
        &self,
        wait: Wait,
        key: Key,
        seen: Version,
        now: Timestamp,
        until: Timestamp,
    ) -> Answer<'_, Option<ClaimId>>;

    /// Gives up `claim` at once (the claimer panicked or was cancelled), so
    /// the next caller may refresh without waiting for the grace to pass.
    /// Does nothing if the entry changed since, or the claim is not the live one.
    fn release_claim(&self, wait: Wait, key: Key, claim: ClaimId) -> Answer<'_, ()>;

    /// Stores `value` under `key` with `deadlines`, replacing what was there
    /// (any claim or lease included). `now` is the time of the write.
    fn write(
        &self,
        wait: Wait,
        key: Key,
        value: Stored,
        deadlines: Deadlines,
        now: Timestamp,
    ) -> Answer<'_, ()>;

    /// Stores `value` under `key` as [`write`](Store::write) does, but only
    /// if `held` is still the live claim or lease on `key`: not ended by
    /// [`mark_stale`](Store::mark_stale), [`remove`](Store::remove) (or
    /// their `*_many` forms), another write, or a newer claim or lease.
    /// Returns whether it was stored. Atomic against all of those: this is
    /// how a refresh or a fill that started before an invalidation is kept
    /// from being stored as fresh after it.
    ///
    /// The default writes unconditionally and says it landed: a store that
    /// keeps it fails the conformance suite's stale-set check.
    fn write_held(
        &self,
        wait: Wait,
        key: Key,
        held: Hold,
        value: Stored,
        deadlines: Deadlines,
        now: Timestamp,
    ) -> Answer<'_, bool> {
        let _ = held;
        let write = self.write(wait, key, value, deadlines, now);
        Answer::later(async move { write.await.map(|()| true) })
    }

    /// Removes the entry under `key`, if any, and ends any claim or lease on it.
    fn remove(&self, wait: Wait, key: Key) -> Answer<'_, ()>;

    /// Takes the cold-miss lease of `key` for `grace`, if nothing is stored
    /// and nobody holds it. Stores shared by one process only need none (the
    /// cache's in-process lease covers them): the default always grants it.
    fn try_lease(
        &self,
        wait: Wait,
        key: Key,
        now: Timestamp,
        grace: Duration,
    ) -> Answer<'_, Option<LeaseId>> {
        let _ = (wait, key, now, grace);
        Answer::ready(Ok(Some(LeaseId(0))))
    }

    /// Gives up a lease whose holder will not store a value (failure, panic).
    fn release_lease(&self, wait: Wait, key: Key, lease: LeaseId) -> Answer<'_, ()> {
        let _ = (wait, key, lease);
        Answer::ready(Ok(()))
    }

    /// Whether [`renew`](Store::renew) works, and claims and leases are
    /// seen by other processes. The cache then takes them for a short
    /// liveness window (3 s by default, [`Cache::with_liveness`](crate::Cache::with_liveness))
    /// and renews them while the compute runs, up to the grace, so that
    /// a holder that dies (a killed process) keeps others waiting seconds,
    /// not the grace. Otherwise (the default, right for in-process stores,
    /// whose holders die with their process) they are taken for the grace.
    fn renews_holds(&self) -> bool {
        false
    }

    /// Whether a request that timed out says the store is stalled for every
    /// key (one server), so that a call that met it stops using the store
    /// (the default: `true`). A store over several servers whose timeouts
    /// are each server's own (a Redis Cluster) answers `false`: there a
    /// call stops only after a timeout of its own key's.
    fn stalls_as_one(&self) -> bool {
        true
    }

    /// Extends `hold` (a claim or a lease on `key`, as
    /// [`try_claim`](Store::try_claim), [`try_lease`](Store::try_lease),
    /// a [`read`](Store::read) or an earlier renewal returned it) until
    /// `until`, if it is still the live one at `now`. Returns the hold as
    /// it now is (a store whose tokens change at every write, like
    /// memcached's CAS, returns the new one, which later renewals, releases
    /// and writes must name), or `None` if it was lost (a write, a release,
    /// another holder). `until` may be before the current end of the hold
    /// (a failed refresh shortens its claim, so that another caller retries
    /// soon). Atomic, like a claim.
    ///
    /// The default answers [`StoreErrorKind::Unsupported`]: claims and
    /// leases then last as long as they were taken for.
    ///
    /// ```
    /// use std::time::Duration;
    /// use antidogpile::clock::Timestamp;
    /// use antidogpile::store::{MemoryStore, Store};
    /// use antidogpile::custom_store::{Hold, Wait};
    /// use antidogpile::custom_store::{Fingerprint, Key};
    ///
    /// let (store, key) = (MemoryStore::new(), Key::new(Fingerprint::from_u128(1), "doc", 0));
    /// let at = Timestamp::from_millis;
    /// let block = Wait::Blocking;
    /// // A lease is renewed while its holder computes...
    /// let lease = store.try_lease(block, key, at(0), Duration::from_secs(3)).wait()?.unwrap();
    /// let renewed = store.renew(block, key, Hold::Lease(lease), at(4_000), at(1_000)).wait()?;
    /// assert_eq!(renewed, Some(Hold::Lease(lease)));
    /// // ...and not any more once it was released.
    /// store.release_lease(block, key, lease).wait()?;
    /// assert_eq!(store.renew(block, key, Hold::Lease(lease), at(5_000), at(2_000)).wait()?, None);
    /// # Ok::<(), antidogpile::store::StoreError>(())
    /// ```
    fn renew(
        &self,
        wait: Wait,
        key: Key,
        hold: Hold,
        until: Timestamp,
        now: Timestamp,
    ) -> Answer<'_, Option<Hold>> {
        let _ = (wait, key, hold, until, now);
        Answer::ready(Err(unsupported("renew")))
    }

    /// Renews every hold of `renewals`, as [`renew`](Store::renew) does,
    /// each for itself: what each one's `renew` would have answered, in
    /// order. `Err` only when the whole batch failed. The liveness thread
    /// renews all the holds of a store that are due in one call, so that a
    /// process holding thousands of claims and leases keeps them all; a
    /// remote store sends them together (memcached: one pipelined exchange
    /// per server; Redis: one pipeline per node). The default calls `renew`
    /// for each.
    ///
    /// ```
    /// use std::time::Duration;
    /// use antidogpile::clock::Timestamp;
    /// use antidogpile::store::{MemoryStore, Store};
    /// use antidogpile::custom_store::{Fingerprint, Hold, Key, Renew, Wait};
    ///
    /// let store = MemoryStore::new();
    /// let key = Key::new(Fingerprint::from_u128(1), "doc", 0);
    /// let at = Timestamp::from_millis;
    /// let lease = store.try_lease(Wait::Blocking, key, at(0), Duration::from_secs(3)).wait()?.unwrap();
    /// let renewal = Renew { key, hold: Hold::Lease(lease), until: at(4_000) };
    /// let renewed = store.renew_many(Wait::Blocking, &[renewal], at(1_000)).wait()?;
    /// assert!(matches!(renewed[..], [Ok(Some(Hold::Lease(_)))]));
    /// # Ok::<(), antidogpile::store::StoreError>(())
    /// ```
    fn renew_many<'a>(
        &'a self,
        wait: Wait,
        renewals: &'a [Renew],
        now: Timestamp,
    ) -> Answer<'a, Vec<Result<Option<Hold>, StoreError>>> {
        Answer::later(async move {
            let mut renewed = Vec::with_capacity(renewals.len());
            for renewal in renewals {
                let one = self.renew(wait, renewal.key, renewal.hold, renewal.until, now);
                renewed.push(one.await);
            }
            Ok(renewed)
        })
    }

    /// Stores `write` only if no value is stored under its key (a lease
    /// does not count: it is replaced). Returns whether it was stored.
    /// Atomic: of many concurrent adds, one stores.
    fn add(&self, wait: Wait, write: Write, now: Timestamp) -> Answer<'_, bool> {
        let _ = (wait, write, now);
        Answer::ready(Err(unsupported("add")))
    }

    /// The soft delete: makes the value under `key` stale at once (and
    /// ends any refresh claim, and removes a cold-miss lease, so that their
    /// holders' [`write_held`](Store::write_held) fails), so the next caller
    /// refreshes it while the others are served the old value. A raw value
    /// has no stale state: it is removed. Returns whether there was a value.
    fn mark_stale(&self, wait: Wait, key: Key, now: Timestamp) -> Answer<'_, bool> {
        let _ = (wait, key, now);
        Answer::ready(Err(unsupported("mark_stale")))
    }

    /// Changes the raw decimal counter under `key` by `delta`, atomically.
    fn count(&self, wait: Wait, key: Key, delta: Delta, now: Timestamp) -> Answer<'_, Counted> {
        let _ = (wait, key, delta, now);
        Answer::ready(Err(unsupported("count")))
    }

    /// Hands `reader` the index of each key and what is stored under it,
    /// as [`read`](Store::read) does (keys with nothing stored are skipped);
    /// answers the hold each read took (all `None` for a [`ReadFor::Peek`]),
    /// in order.
    fn read_many<'a>(
        &'a self,
        wait: Wait,
        keys: &'a [Key],
        now: Timestamp,
        purpose: ReadFor,
        reader: &'a mut ManyReader<'_>,
    ) -> Answer<'a, Vec<Option<Hold>>> {
        Answer::later(async move {
            let mut holds = Vec::with_capacity(keys.len());
            for (index, key) in keys.iter().enumerate() {
                let mut one = |lookup: Lookup<'_>| reader(index, lookup);
                holds.push(self.read(wait, *key, now, purpose, &mut one).await?);
            }
            Ok(holds)
        })
    }

    /// Writes every entry, as [`write`](Store::write) does.
    fn write_many(&self, wait: Wait, writes: Vec<Write>, now: Timestamp) -> Answer<'_, ()> {
        Answer::later(async move {
            for write in writes {
                self.write(wait, write.key, write.value, write.deadlines, now)
                    .await?;
            }
            Ok(())
        })
    }

    /// Removes every key, as [`remove`](Store::remove) does.
    fn remove_many<'a>(&'a self, wait: Wait, keys: &'a [Key]) -> Answer<'a, ()> {
        Answer::later(async move {
            for key in keys {
                self.remove(wait, *key).await?;
            }
            Ok(())
        })
    }

    /// Takes the cold-miss lease of every key, as [`try_lease`](Store::try_lease)
    /// does, each for itself (atomic per key, not across keys): what each
    /// key's `try_lease` would have answered, in order. `Err` only when the
    /// whole batch failed. A batch of cold misses
    /// ([`Cache::get_or_compute_many`](crate::Cache::get_or_compute_many))
    /// takes its leases with one call; a remote store sends them together
    /// (memcached: one pipelined exchange per server).
    ///
    /// ```
    /// use std::time::Duration;
    /// use antidogpile::clock::Timestamp;
    /// use antidogpile::store::{MemoryStore, Store};
    /// use antidogpile::custom_store::{Fingerprint, Key, Wait};
    ///
    /// let store = MemoryStore::new();
    /// let keys = [1, 2].map(|n| Key::new(Fingerprint::from_u128(n), "doc", 0));
    /// let (now, grace) = (Timestamp::from_millis(0), Duration::from_secs(3));
    /// let first = store.try_lease_many(Wait::Blocking, &keys, now, grace).wait()?;
    /// assert!(first.iter().all(|lease| matches!(lease, Ok(Some(_)))));
    /// # Ok::<(), antidogpile::store::StoreError>(())
    /// ```
    fn try_lease_many<'a>(
        &'a self,
        wait: Wait,
        keys: &'a [Key],
        now: Timestamp,
        grace: Duration,
    ) -> Answer<'a, Vec<Result<Option<LeaseId>, StoreError>>> {
        Answer::later(async move {
            let mut leases = Vec::with_capacity(keys.len());
            for key in keys {
                leases.push(self.try_lease(wait, *key, now, grace).await);
            }
            Ok(leases)
        })
    }

    /// Claims the refresh of every `(key, seen)`, as [`try_claim`](Store::try_claim)
    /// does, each for itself: what each key's `try_claim` would have
    /// answered, in order. `Err` only when the whole batch failed.
    fn try_claim_many<'a>(
        &'a self,
        wait: Wait,
        claims: &'a [(Key, Version)],
        now: Timestamp,
        until: Timestamp,
    ) -> Answer<'a, Vec<Result<Option<ClaimId>, StoreError>>> {
        Answer::later(async move {
            let mut won = Vec::with_capacity(claims.len());
            for (key, seen) in claims {
                won.push(self.try_claim(wait, *key, *seen, now, until).await);
            }
            Ok(won)
        })
    }

    /// Writes every `(write, held)`, as [`write_held`](Store::write_held)
    /// does, each for itself and each only while its claim or lease is the
    /// live one: whether each landed, in order. `Err` only when the whole
    /// batch failed.
    fn write_held_many(
        &self,
        wait: Wait,
        writes: Vec<(Write, Hold)>,
        now: Timestamp,
    ) -> Answer<'_, Vec<Result<bool, StoreError>>> {
        Answer::later(async move {
            let mut landed = Vec::with_capacity(writes.len());
            for (write, held) in writes {
                let one = self.write_held(wait, write.key, held, write.value, write.deadlines, now);
                landed.push(one.await);
            }
            Ok(landed)
        })
    }

    /// Whether the store answers: a health check for a service's startup or
    /// readiness probe ([`Cache::ping`](crate::Cache::ping)). A remote store
    /// asks each of its servers for a no-op and names the ones that fail; a
    /// store on disk checks that its directory is writable. The default (in
    /// process stores) answers `Ok` at once.
    fn ping(&self, wait: Wait) -> Answer<'_, ()> {
        let _ = wait;
        Answer::ready(Ok(()))
    }
}

fn unsupported(operation: &str) -> StoreError {
    StoreError::new(
        StoreErrorKind::Unsupported,
        format!("this store does not support {operation}"),
    )
}
