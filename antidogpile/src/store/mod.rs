//! The store trait: where entries live, and the atomic steps the cache needs.
//!
//! A store keeps, per key, a value with its [`EntryMeta`] (soft deadline and
//! refresh claim) until its hard deadline. The cache reads an entry, makes
//! the pure soft/hard/grace decision, and applies it with
//! [`Store::try_claim`] (a stale hit) or [`Store::try_lease`] (a cold miss),
//! which must be atomic against every other caller sharing the store: under
//! a lock in memory, a compare-and-swap or an add on a remote store.
//!
//! In-process stores keep values as they are ([`Stored::Object`]); stores
//! that keep bytes say so with [`Store::keeps_bytes`] and receive the value
//! serialized with postcard ([`Stored::Bytes`]), which they wrap in an
//! [envelope] with its deadlines.
//!
//! The cache client's hard operations ([`Cache::set_hard`](crate::Cache::set_hard))
//! bypass anti-dogpiling: their values come as [`Stored::Raw`] bytes, kept
//! without an envelope (so that other clients and [`Store::count`] can read
//! them), never stale, until their TTL.
//!
//! # Writing a store
//!
//! A store for another backend (Redis, a database) implements the required
//! methods: [`read`](Store::read), [`try_claim`](Store::try_claim),
//! [`release_claim`](Store::release_claim), [`write`](Store::write),
//! [`write_held`](Store::write_held) and [`remove`](Store::remove); a store
//! shared by several processes also [`try_lease`](Store::try_lease) and
//! [`release_lease`](Store::release_lease).
//!
//! # What a read finds
//!
//! [`Store::read`] hands its reader a [`Lookup`]: an [`EntryView`] (the
//! entry's [`EntryMeta`], its [`Version`] and the value as a [`StoredRef`],
//! borrowed from the store) or `Leased` (no value, another caller is
//! computing it); it does not call the reader when it finds nothing.
//! [`OwnedLookup`] is the same, owned (the value as a [`Stored`]): what
//! [`StoreReply::Read`] and [`StoreReply::ReadMany`] carry out of
//! [`run_async`](Store::run_async). The client's [`Got`](crate::Got) (what
//! [`Cache::get`](crate::Cache::get) found, and what its caller should do)
//! is built from these, and is no store's concern.
//!
//! # Invalidation ends claims and leases
//!
//! The cache settles a refresh or a cold-miss fill with
//! [`write_held`](Store::write_held), naming the claim or lease it holds.
//! That write must land only if that claim or lease is still the live one:
//! [`mark_stale`](Store::mark_stale), [`remove`](Store::remove),
//! [`remove_many`](Store::remove_many), a [`write`](Store::write) and a
//! newer claim or lease all end it. That is what keeps a compute that
//! started before an invalidation from being stored as fresh after it (a
//! "stale set"): compare the claim's or lease's token under the store's
//! lock, or with a compare-and-swap on the token the holder got (memcached's
//! CAS). The conformance suite checks it.
//! A store shared by several processes should also [`renew`](Store::renew)
//! claims and leases and say so with [`renews_holds`](Store::renews_holds),
//! so that a dead holder's lapses within seconds (see [`renew`](Store::renew)).
//!
//! The client operations [`add`](Store::add), [`mark_stale`](Store::mark_stale)
//! and [`count`](Store::count) answer [`StoreErrorKind::Unsupported`] until a
//! store implements them; the `*_many` operations (reads, writes, removes,
//! and the leases, claims and held writes of a batch of memoized keys) loop
//! over the single ones until a store batches them. Stores that do I/O override
//! [`run_async`](Store::run_async). The `conformance` feature's
//! `conformance::check_store` runs the whole contract against a store.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

pub use crate::clock::Timestamp;
pub use crate::error::{StoreError, StoreErrorKind};
pub use crate::key::{Fingerprint, Key};
pub use crate::policy::{Deadlines, EntryMeta};

pub(crate) mod file;
pub(crate) mod memcached;
mod memory;
mod noop;

pub use file::FileStore;
pub use memcached::{MemcachedConfig, MemcachedStore, ServerAddr};
pub use memory::MemoryStore;
pub use noop::NoopStore;

/// How a store that keeps bytes lays out a value and its deadlines: a fixed
/// header, then the value serialized with postcard.
///
/// ```text
/// magic "AD" | format 2 | soft deadline u64 LE | hard deadline u64 LE | claimed until u64 LE | payload
/// ```
///
/// A store receives [`Stored::Bytes`] (the payload), [`seal`](envelope::seal)s
/// them with their deadlines, [`open`](envelope::open)s what it reads back,
/// and rewrites the header of a claim ([`with_claim`](envelope::with_claim))
/// or an invalidation ([`marked_stale`](envelope::marked_stale)) without
/// decoding the payload. Bytes that do not open are a miss.
pub mod envelope {
    pub use crate::envelope::{
        decode_payload, encode_payload, marked_stale, open, seal, with_claim, EnvelopeError,
        Header, HEADER_LEN,
    };
}

/// A conformance suite for [`Store`] implementations:
/// the whole soft/hard/grace contract, exercised through the cache client,
/// with a manual clock and real threads. Enabled by the `conformance`
/// feature.
///
/// Call [`check_store`](conformance::check_store) from a test with a
/// function that makes a store (a fresh one, or one more handle on a shared
/// server: every check uses keys of its own). It panics, naming the check
/// and what differed, at the first violation.
///
/// ```
/// use antidogpile::store::conformance::{check_store, Expect};
/// use antidogpile::store::MemoryStore;
///
/// check_store(Expect::Caching, || MemoryStore::new());
/// ```
///
/// Stores whose expiry runs on real time (memcached's TTLs) are covered:
/// the checks that need an entry or a lease to expire in the store sleep
/// past it as well as moving the manual clock, about 5 s in all.
#[cfg(feature = "conformance")]
pub mod conformance {
    pub use crate::conformance::{check_store, Expect};
}

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

/// [`Lookup`], owned: what the non-blocking read returns.
#[derive(Clone, Debug)]
pub enum OwnedLookup {
    /// A value.
    Entry {
        /// Soft deadline and refresh claim.
        meta: EntryMeta,
        /// What [`Store::try_claim`] must see unchanged.
        version: Version,
        /// The value.
        value: Stored,
    },
    /// No value, but a cold-miss lease.
    Leased,
}

impl OwnedLookup {
    /// A borrowed view, as [`Store::read`] hands it to its reader.
    pub fn as_lookup(&self) -> Lookup<'_> {
        match self {
            OwnedLookup::Leased => Lookup::Leased,
            OwnedLookup::Entry {
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

impl From<Lookup<'_>> for OwnedLookup {
    fn from(lookup: Lookup<'_>) -> OwnedLookup {
        match lookup {
            Lookup::Leased => OwnedLookup::Leased,
            Lookup::Entry(entry) => OwnedLookup::Entry {
                meta: entry.meta,
                version: entry.version,
                value: entry.value.to_owned(),
            },
        }
    }
}

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

/// What [`Store::add`] and [`Store::write`] store: a value and its deadlines.
#[derive(Clone, Debug)]
pub struct Write<'a> {
    /// Where.
    pub key: Key<'a>,
    /// What.
    pub value: Stored,
    /// Until when (for a [`Stored::Raw`] value only `hard` counts;
    /// [`Timestamp::MAX`] is "no expiry").
    pub deadlines: Deadlines,
}

/// One store operation, for [`Store::run_async`].
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreOp<'a> {
    /// [`Store::read`].
    Read { key: Key<'a>, now: Timestamp },
    /// [`Store::try_claim`].
    TryClaim {
        key: Key<'a>,
        seen: Version,
        now: Timestamp,
        until: Timestamp,
    },
    /// [`Store::release_claim`].
    ReleaseClaim { key: Key<'a>, claim: ClaimId },
    /// [`Store::write`].
    Write {
        key: Key<'a>,
        value: Stored,
        deadlines: Deadlines,
        now: Timestamp,
    },
    /// [`Store::write_held`].
    WriteHeld {
        key: Key<'a>,
        held: Hold,
        value: Stored,
        deadlines: Deadlines,
        now: Timestamp,
    },
    /// [`Store::remove`].
    Remove { key: Key<'a> },
    /// [`Store::try_lease`].
    TryLease {
        key: Key<'a>,
        now: Timestamp,
        grace: Duration,
    },
    /// [`Store::release_lease`].
    ReleaseLease { key: Key<'a>, lease: LeaseId },
    /// [`Store::renew`].
    Renew {
        key: Key<'a>,
        hold: Hold,
        until: Timestamp,
        now: Timestamp,
    },
    /// [`Store::add`].
    Add { write: Write<'a>, now: Timestamp },
    /// [`Store::mark_stale`].
    MarkStale { key: Key<'a>, now: Timestamp },
    /// [`Store::count`].
    Count {
        key: Key<'a>,
        delta: Delta,
        now: Timestamp,
    },
    /// [`Store::read_many`].
    ReadMany { keys: &'a [Key<'a>], now: Timestamp },
    /// [`Store::write_many`].
    WriteMany {
        writes: Vec<Write<'a>>,
        now: Timestamp,
    },
    /// [`Store::remove_many`].
    RemoveMany { keys: &'a [Key<'a>] },
    /// [`Store::ping`].
    Ping,
    /// [`Store::try_lease_many`].
    TryLeaseMany {
        keys: &'a [Key<'a>],
        now: Timestamp,
        grace: Duration,
    },
    /// [`Store::try_claim_many`].
    TryClaimMany {
        claims: &'a [(Key<'a>, Version)],
        now: Timestamp,
        until: Timestamp,
    },
    /// [`Store::write_held_many`].
    WriteHeldMany {
        writes: Vec<(Write<'a>, Hold)>,
        now: Timestamp,
    },
}

/// What a [`StoreOp`] returned.
#[derive(Debug)]
pub enum StoreReply {
    /// From `Read`: what was found, if anything.
    Read(Option<OwnedLookup>),
    /// From `TryClaim`: the claim, if won.
    Claim(Option<ClaimId>),
    /// From `TryLease`: the lease, if won.
    Lease(Option<LeaseId>),
    /// From `Add`, `MarkStale` and `WriteHeld`: whether it changed anything.
    Changed(bool),
    /// From `Count`.
    Counted(Counted),
    /// From `ReadMany`: what was found under each key, in order.
    ReadMany(Vec<Option<OwnedLookup>>),
    /// From `Renew`: the renewed hold, if it was still live.
    Renewed(Option<Hold>),
    /// From `TryLeaseMany`: each key's lease, if won, in order.
    Leases(Vec<Result<Option<LeaseId>, StoreError>>),
    /// From `TryClaimMany`: each key's claim, if won, in order.
    Claims(Vec<Result<Option<ClaimId>, StoreError>>),
    /// From `WriteHeldMany`: whether each write landed, in order.
    ChangedMany(Vec<Result<bool, StoreError>>),
    /// From the other operations.
    Done,
}

/// A boxed future, as [`Store::run_async`] returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

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
/// Stores that do network or disk I/O override [`run_async`](Store::run_async)
/// so that `async fn`s never block their runtime; the default runs the
/// blocking method, which is right for in-process stores.
pub trait Store: Send + Sync + fmt::Debug + 'static {
    /// Whether values are handed over serialized ([`Stored::Bytes`]).
    fn keeps_bytes(&self) -> bool {
        false
    }

    /// Calls `reader` with what is stored under `key` (an entry whose hard
    /// deadline is after `now`, or a lease). Does not call it if nothing is.
    fn read(
        &self,
        key: &Key<'_>,
        now: Timestamp,
        reader: &mut dyn FnMut(Lookup<'_>),
    ) -> Result<(), StoreError>;

    /// Claims the refresh of the entry under `key` until `until`, if it still
    /// has version `seen`, is stale at `now`, and nobody holds a live claim.
    fn try_claim(
        &self,
        key: &Key<'_>,
        seen: Version,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<Option<ClaimId>, StoreError>;

    /// Gives up `claim` at once (the claimer panicked or was cancelled), so
    /// the next caller may refresh without waiting for the grace to pass.
    /// Does nothing if the entry changed since, or the claim is not the live one.
    fn release_claim(&self, key: &Key<'_>, claim: ClaimId) -> Result<(), StoreError>;

    /// Stores `value` under `key` with `deadlines`, replacing what was there
    /// (any claim or lease included). `now` is the time of the write.
    fn write(
        &self,
        key: &Key<'_>,
        value: Stored,
        deadlines: Deadlines,
        now: Timestamp,
    ) -> Result<(), StoreError>;

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
        key: &Key<'_>,
        held: Hold,
        value: Stored,
        deadlines: Deadlines,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let _ = held;
        self.write(key, value, deadlines, now).map(|()| true)
    }

    /// Removes the entry under `key`, if any, and ends any claim or lease on it.
    fn remove(&self, key: &Key<'_>) -> Result<(), StoreError>;

    /// Takes the cold-miss lease of `key` for `grace`, if nothing is stored
    /// and nobody holds it. Stores shared by one process only need none (the
    /// cache's in-process lease covers them): the default always grants it.
    fn try_lease(
        &self,
        key: &Key<'_>,
        now: Timestamp,
        grace: Duration,
    ) -> Result<Option<LeaseId>, StoreError> {
        let _ = (key, now, grace);
        Ok(Some(LeaseId(0)))
    }

    /// Gives up a lease whose holder will not store a value (failure, panic).
    fn release_lease(&self, key: &Key<'_>, lease: LeaseId) -> Result<(), StoreError> {
        let _ = (key, lease);
        Ok(())
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

    /// Extends `hold` (a claim or a lease on `key`, as
    /// [`try_claim`](Store::try_claim) or [`try_lease`](Store::try_lease)
    /// or an earlier renewal returned it) until `until`, if it is still the
    /// live one at `now`. Returns the hold as it now is (a store whose
    /// tokens change at every write, like memcached's CAS, returns the new
    /// one, which later renewals, releases and writes must name), or `None`
    /// if it was lost (a write, a release, another holder). `until` may be
    /// before the current end of the hold (a failed refresh shortens its
    /// claim, so that another caller retries soon). Atomic, like a claim.
    ///
    /// The default answers [`StoreErrorKind::Unsupported`]: claims and
    /// leases then last as long as they were taken for.
    ///
    /// ```
    /// use std::time::Duration;
    /// use antidogpile::clock::Timestamp;
    /// use antidogpile::store::{Hold, MemoryStore, Store};
    /// use antidogpile::store::{Fingerprint, Key};
    ///
    /// let (store, key) = (MemoryStore::new(), Key::new(Fingerprint::from_u128(1), "doc", 0));
    /// let at = Timestamp::from_millis;
    /// // A lease is renewed while its holder computes...
    /// let lease = store.try_lease(&key, at(0), Duration::from_secs(3))?.unwrap();
    /// let renewed = store.renew(&key, Hold::Lease(lease), at(4_000), at(1_000))?;
    /// assert_eq!(renewed, Some(Hold::Lease(lease)));
    /// // ...and not any more once it was released.
    /// store.release_lease(&key, lease)?;
    /// assert_eq!(store.renew(&key, Hold::Lease(lease), at(5_000), at(2_000))?, None);
    /// # Ok::<(), antidogpile::store::StoreError>(())
    /// ```
    fn renew(
        &self,
        key: &Key<'_>,
        hold: Hold,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<Option<Hold>, StoreError> {
        let _ = (key, hold, until, now);
        Err(unsupported("renew"))
    }

    /// Stores `write` only if no value is stored under its key (a lease
    /// does not count: it is replaced). Returns whether it was stored.
    /// Atomic: of many concurrent adds, one stores.
    fn add(&self, write: Write<'_>, now: Timestamp) -> Result<bool, StoreError> {
        let _ = (write, now);
        Err(unsupported("add"))
    }

    /// The soft delete: makes the value under `key` stale at once (and
    /// ends any refresh claim, and removes a cold-miss lease, so that their
    /// holders' [`write_held`](Store::write_held) fails), so the next caller
    /// refreshes it while the others are served the old value. A raw value
    /// has no stale state: it is removed. Returns whether there was a value.
    fn mark_stale(&self, key: &Key<'_>, now: Timestamp) -> Result<bool, StoreError> {
        let _ = (key, now);
        Err(unsupported("mark_stale"))
    }

    /// Changes the raw decimal counter under `key` by `delta`, atomically.
    fn count(&self, key: &Key<'_>, delta: Delta, now: Timestamp) -> Result<Counted, StoreError> {
        let _ = (key, delta, now);
        Err(unsupported("count"))
    }

    /// Calls `reader` with the index of each key and what is stored under it,
    /// as [`read`](Store::read) does (keys with nothing stored are skipped).
    fn read_many(
        &self,
        keys: &[Key<'_>],
        now: Timestamp,
        reader: &mut dyn FnMut(usize, Lookup<'_>),
    ) -> Result<(), StoreError> {
        for (index, key) in keys.iter().enumerate() {
            self.read(key, now, &mut |lookup| reader(index, lookup))?;
        }
        Ok(())
    }

    /// Writes every entry, as [`write`](Store::write) does.
    fn write_many(&self, writes: Vec<Write<'_>>, now: Timestamp) -> Result<(), StoreError> {
        for write in writes {
            self.write(&write.key, write.value, write.deadlines, now)?;
        }
        Ok(())
    }

    /// Removes every key, as [`remove`](Store::remove) does.
    fn remove_many(&self, keys: &[Key<'_>]) -> Result<(), StoreError> {
        keys.iter().try_for_each(|key| self.remove(key))
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
    /// use antidogpile::store::{Fingerprint, Key, MemoryStore, Store};
    ///
    /// let store = MemoryStore::new();
    /// let keys = [1, 2].map(|n| Key::new(Fingerprint::from_u128(n), "doc", 0));
    /// let (now, grace) = (Timestamp::from_millis(0), Duration::from_secs(3));
    /// let first = store.try_lease_many(&keys, now, grace)?;
    /// assert!(first.iter().all(|lease| matches!(lease, Ok(Some(_)))));
    /// # Ok::<(), antidogpile::store::StoreError>(())
    /// ```
    #[allow(clippy::type_complexity)]
    fn try_lease_many(
        &self,
        keys: &[Key<'_>],
        now: Timestamp,
        grace: Duration,
    ) -> Result<Vec<Result<Option<LeaseId>, StoreError>>, StoreError> {
        Ok(keys
            .iter()
            .map(|key| self.try_lease(key, now, grace))
            .collect())
    }

    /// Claims the refresh of every `(key, seen)`, as [`try_claim`](Store::try_claim)
    /// does, each for itself: what each key's `try_claim` would have
    /// answered, in order. `Err` only when the whole batch failed.
    #[allow(clippy::type_complexity)]
    fn try_claim_many(
        &self,
        claims: &[(Key<'_>, Version)],
        now: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<Result<Option<ClaimId>, StoreError>>, StoreError> {
        Ok(claims
            .iter()
            .map(|(key, seen)| self.try_claim(key, *seen, now, until))
            .collect())
    }

    /// Writes every `(write, held)`, as [`write_held`](Store::write_held)
    /// does, each for itself and each only while its claim or lease is the
    /// live one: whether each landed, in order. `Err` only when the whole
    /// batch failed.
    fn write_held_many(
        &self,
        writes: Vec<(Write<'_>, Hold)>,
        now: Timestamp,
    ) -> Result<Vec<Result<bool, StoreError>>, StoreError> {
        Ok(writes
            .into_iter()
            .map(|(write, held)| {
                self.write_held(&write.key, held, write.value, write.deadlines, now)
            })
            .collect())
    }

    /// Whether the store answers: a health check for a service's startup or
    /// readiness probe ([`Cache::ping`](crate::Cache::ping)). A remote store
    /// asks each of its servers for a no-op and names the ones that fail; a
    /// store on disk checks that its directory is writable. The default (in
    /// process stores) answers `Ok` at once.
    fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Runs one operation with the blocking methods above.
    fn run(&self, op: StoreOp<'_>) -> Result<StoreReply, StoreError> {
        Ok(match op {
            StoreOp::Read { key, now } => {
                let mut found = None;
                self.read(&key, now, &mut |lookup| found = Some(lookup.into()))?;
                StoreReply::Read(found)
            }
            StoreOp::TryClaim {
                key,
                seen,
                now,
                until,
            } => StoreReply::Claim(self.try_claim(&key, seen, now, until)?),
            StoreOp::ReleaseClaim { key, claim } => {
                self.release_claim(&key, claim)?;
                StoreReply::Done
            }
            StoreOp::Write {
                key,
                value,
                deadlines,
                now,
            } => {
                self.write(&key, value, deadlines, now)?;
                StoreReply::Done
            }
            StoreOp::WriteHeld {
                key,
                held,
                value,
                deadlines,
                now,
            } => StoreReply::Changed(self.write_held(&key, held, value, deadlines, now)?),
            StoreOp::Remove { key } => {
                self.remove(&key)?;
                StoreReply::Done
            }
            StoreOp::TryLease { key, now, grace } => {
                StoreReply::Lease(self.try_lease(&key, now, grace)?)
            }
            StoreOp::ReleaseLease { key, lease } => {
                self.release_lease(&key, lease)?;
                StoreReply::Done
            }
            StoreOp::Renew {
                key,
                hold,
                until,
                now,
            } => StoreReply::Renewed(self.renew(&key, hold, until, now)?),
            StoreOp::Add { write, now } => StoreReply::Changed(self.add(write, now)?),
            StoreOp::MarkStale { key, now } => StoreReply::Changed(self.mark_stale(&key, now)?),
            StoreOp::Count { key, delta, now } => {
                StoreReply::Counted(self.count(&key, delta, now)?)
            }
            StoreOp::ReadMany { keys, now } => {
                let mut found: Vec<Option<OwnedLookup>> = vec![None; keys.len()];
                self.read_many(keys, now, &mut |index, lookup| {
                    found[index] = Some(lookup.into());
                })?;
                StoreReply::ReadMany(found)
            }
            StoreOp::WriteMany { writes, now } => {
                self.write_many(writes, now)?;
                StoreReply::Done
            }
            StoreOp::RemoveMany { keys } => {
                self.remove_many(keys)?;
                StoreReply::Done
            }
            StoreOp::Ping => {
                self.ping()?;
                StoreReply::Done
            }
            StoreOp::TryLeaseMany { keys, now, grace } => {
                StoreReply::Leases(self.try_lease_many(keys, now, grace)?)
            }
            StoreOp::TryClaimMany { claims, now, until } => {
                StoreReply::Claims(self.try_claim_many(claims, now, until)?)
            }
            StoreOp::WriteHeldMany { writes, now } => {
                StoreReply::ChangedMany(self.write_held_many(writes, now)?)
            }
        })
    }

    /// Runs one operation without blocking the caller's async runtime.
    fn run_async<'a>(&'a self, op: StoreOp<'a>) -> BoxFuture<'a, Result<StoreReply, StoreError>> {
        let reply = self.run(op);
        Box::pin(std::future::ready(reply))
    }
}

/// A shared store is a store: lets a test keep a handle on the store it gave a cache.
impl<S: Store> Store for Arc<S> {
    fn keeps_bytes(&self) -> bool {
        (**self).keeps_bytes()
    }

    fn read(
        &self,
        key: &Key<'_>,
        now: Timestamp,
        reader: &mut dyn FnMut(Lookup<'_>),
    ) -> Result<(), StoreError> {
        (**self).read(key, now, reader)
    }

    fn try_claim(
        &self,
        key: &Key<'_>,
        seen: Version,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<Option<ClaimId>, StoreError> {
        (**self).try_claim(key, seen, now, until)
    }

    fn release_claim(&self, key: &Key<'_>, claim: ClaimId) -> Result<(), StoreError> {
        (**self).release_claim(key, claim)
    }

    fn write(
        &self,
        key: &Key<'_>,
        value: Stored,
        deadlines: Deadlines,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        (**self).write(key, value, deadlines, now)
    }

    fn write_held(
        &self,
        key: &Key<'_>,
        held: Hold,
        value: Stored,
        deadlines: Deadlines,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        (**self).write_held(key, held, value, deadlines, now)
    }

    fn remove(&self, key: &Key<'_>) -> Result<(), StoreError> {
        (**self).remove(key)
    }

    fn try_lease(
        &self,
        key: &Key<'_>,
        now: Timestamp,
        grace: Duration,
    ) -> Result<Option<LeaseId>, StoreError> {
        (**self).try_lease(key, now, grace)
    }

    fn release_lease(&self, key: &Key<'_>, lease: LeaseId) -> Result<(), StoreError> {
        (**self).release_lease(key, lease)
    }

    fn renews_holds(&self) -> bool {
        (**self).renews_holds()
    }

    fn renew(
        &self,
        key: &Key<'_>,
        hold: Hold,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<Option<Hold>, StoreError> {
        (**self).renew(key, hold, until, now)
    }

    fn add(&self, write: Write<'_>, now: Timestamp) -> Result<bool, StoreError> {
        (**self).add(write, now)
    }

    fn mark_stale(&self, key: &Key<'_>, now: Timestamp) -> Result<bool, StoreError> {
        (**self).mark_stale(key, now)
    }

    fn count(&self, key: &Key<'_>, delta: Delta, now: Timestamp) -> Result<Counted, StoreError> {
        (**self).count(key, delta, now)
    }

    fn read_many(
        &self,
        keys: &[Key<'_>],
        now: Timestamp,
        reader: &mut dyn FnMut(usize, Lookup<'_>),
    ) -> Result<(), StoreError> {
        (**self).read_many(keys, now, reader)
    }

    fn write_many(&self, writes: Vec<Write<'_>>, now: Timestamp) -> Result<(), StoreError> {
        (**self).write_many(writes, now)
    }

    fn remove_many(&self, keys: &[Key<'_>]) -> Result<(), StoreError> {
        (**self).remove_many(keys)
    }

    fn ping(&self) -> Result<(), StoreError> {
        (**self).ping()
    }

    fn try_lease_many(
        &self,
        keys: &[Key<'_>],
        now: Timestamp,
        grace: Duration,
    ) -> Result<Vec<Result<Option<LeaseId>, StoreError>>, StoreError> {
        (**self).try_lease_many(keys, now, grace)
    }

    fn try_claim_many(
        &self,
        claims: &[(Key<'_>, Version)],
        now: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<Result<Option<ClaimId>, StoreError>>, StoreError> {
        (**self).try_claim_many(claims, now, until)
    }

    fn write_held_many(
        &self,
        writes: Vec<(Write<'_>, Hold)>,
        now: Timestamp,
    ) -> Result<Vec<Result<bool, StoreError>>, StoreError> {
        (**self).write_held_many(writes, now)
    }

    fn run(&self, op: StoreOp<'_>) -> Result<StoreReply, StoreError> {
        (**self).run(op)
    }

    fn run_async<'a>(&'a self, op: StoreOp<'a>) -> BoxFuture<'a, Result<StoreReply, StoreError>> {
        (**self).run_async(op)
    }
}

fn unsupported(operation: &str) -> StoreError {
    StoreError::new(
        StoreErrorKind::Unsupported,
        format!("this store does not support {operation}"),
    )
}
