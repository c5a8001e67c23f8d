//! Writing a store of your own: the [`Store`](crate::store::Store) contract, the types its
//! operations take and answer, the byte layout of a value ([`envelope`]) and,
//! with the `conformance` feature, the suite that checks a store
//! (`conformance::check_store`).
//!
//! The store trait: where entries live, and the atomic steps the cache needs.
//!
//! A store keeps, per key, a value with its [`EntryMeta`] (soft deadline and
//! refresh claim) until its hard deadline. The cache reads an entry, makes
//! the pure soft/hard/grace decision, and applies it with
//! [`Store::try_claim`](crate::store::Store::try_claim) (a stale hit) or [`Store::try_lease`](crate::store::Store::try_lease) (a cold miss),
//! which must be atomic against every other caller sharing the store: under
//! a lock in memory, a compare-and-swap or an add on a remote store.
//!
//! In-process stores keep values as they are ([`Stored::Object`]); stores
//! that keep bytes say so with [`Store::keeps_bytes`](crate::store::Store::keeps_bytes) and receive the value
//! serialized with postcard ([`Stored::Bytes`]), which they wrap in an
//! [envelope] with its deadlines.
//!
//! The cache client's hard operations ([`Cache::set_hard`](crate::Cache::set_hard))
//! bypass anti-dogpiling: their values come as [`Stored::Raw`] bytes, kept
//! without an envelope (so that other clients and [`Store::count`](crate::store::Store::count) can read
//! them), never stale, until their TTL.
//!
//! # Writing a store
//!
//! Each method of [`Store`](crate::store::Store) is one operation, with its arguments and its
//! typed answer, written once for blocking and async callers: it is told
//! how its caller [`Wait`]s and returns an [`Answer`], ready at once for
//! an in-process store ([`Answer::ready`]) or a future for a store doing
//! I/O ([`Answer::later`]; with [`Wait::Async`] it must not block the
//! runtime). A store for another backend (Redis, a database) implements the
//! required methods: [`read`](crate::store::Store::read), [`try_claim`](crate::store::Store::try_claim),
//! [`release_claim`](crate::store::Store::release_claim), [`write`](crate::store::Store::write),
//! [`write_held`](crate::store::Store::write_held) and [`remove`](crate::store::Store::remove); a store
//! shared by several processes also [`try_lease`](crate::store::Store::try_lease),
//! [`release_lease`](crate::store::Store::release_lease) and [`renew`](crate::store::Store::renew).
//!
//! ```
//! use antidogpile::custom_store::{Fingerprint, Key, Lookup, ReadFor, Wait};
//! use antidogpile::store::{MemoryStore, Store};
//! use antidogpile::clock::Timestamp;
//!
//! let store = MemoryStore::new();
//! let key = Key::new(Fingerprint::from_u128(7), "doc", 0);
//! let mut found = false;
//! let mut reader = |lookup: Lookup<'_>| found = matches!(lookup, Lookup::Entry(_));
//! let now = Timestamp::from_millis(0);
//! store.read(Wait::Blocking, key, now, ReadFor::Peek, &mut reader).wait()?;
//! assert!(!found);
//! # Ok::<(), antidogpile::store::StoreError>(())
//! ```
//!
//! # What a read finds
//!
//! [`Store::read`](crate::store::Store::read) hands its reader a [`Lookup`]: an [`EntryView`] (the
//! entry's [`EntryMeta`], its [`Version`] and the value as a [`StoredRef`],
//! borrowed from the store) or `Leased` (no value, another caller is
//! computing it); it does not call the reader when it finds nothing. A read
//! [`ReadFor::Use`] may also take the claim or the lease its caller would
//! ask for next, in the same request, and answers that [`Hold`]. The
//! client's [`Got`](crate::Got) (what [`Cache::get`](crate::Cache::get)
//! found, and what its caller should do) is built from these, and is no
//! store's concern.
//!
//! # Invalidation ends claims and leases
//!
//! The cache settles a refresh or a cold-miss fill with
//! [`write_held`](crate::store::Store::write_held), naming the claim or lease it holds.
//! That write must land only if that claim or lease is still the live one:
//! [`mark_stale`](crate::store::Store::mark_stale), [`remove`](crate::store::Store::remove),
//! [`remove_many`](crate::store::Store::remove_many), a [`write`](crate::store::Store::write) and a
//! newer claim or lease all end it. That is what keeps a compute that
//! started before an invalidation from being stored as fresh after it (a
//! "stale set"): compare the claim's or lease's token under the store's
//! lock, or with a compare-and-swap on the token the holder got (memcached's
//! CAS). The conformance suite checks it.
//! A store shared by several processes should also [`renew`](crate::store::Store::renew)
//! claims and leases and say so with [`renews_holds`](crate::store::Store::renews_holds),
//! so that a dead holder's lapses within seconds (see [`renew`](crate::store::Store::renew)).
//!
//! The client operations [`add`](crate::store::Store::add), [`mark_stale`](crate::store::Store::mark_stale)
//! and [`count`](crate::store::Store::count) answer [`StoreErrorKind::Unsupported`](crate::store::StoreErrorKind::Unsupported) until a
//! store implements them; the `*_many` operations (reads, writes, removes,
//! and the leases, claims and held writes of a batch of memoized keys, and
//! the renewals of a process's holds) loop over the single ones until a
//! store batches them. The `conformance` feature's
//! `conformance::check_store` runs the whole contract against a store.

pub use crate::key::{Fingerprint, Key};
pub use crate::policy::{Deadlines, EntryMeta};
pub use crate::store::answer::{Answer, BoxFuture, Wait};
pub use crate::store::api::{
    ClaimId, Counted, Delta, EntryView, Hold, LeaseId, Lookup, ManyReader, ReadFor, Reader, Renew,
    Stored, StoredRef, Value, Version, Write, RAW_META,
};

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

/// A conformance suite for [`Store`](crate::store::Store) implementations:
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
/// use antidogpile::custom_store::conformance::{check_store, Expect};
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
