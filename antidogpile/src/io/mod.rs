//! A call's store I/O: the store, and how its caller waits for it
//! ([`Io`]); what a read found, decoded ([`Looked`], [`Read`]); and a
//! batch's gatherer ([`Gather`]), through which the calls of a batch send
//! their leases, claims and writes together.

mod gather;

use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::time::Duration;

pub(crate) use gather::Gather;

use crate::clock::Timestamp;
use crate::envelope::decode_payload;
use crate::error::StoreError;
use crate::key::Key;
use crate::outcome::Cacheable;
use crate::policy::EntryMeta;
use crate::store::{
    ClaimId, Hold, LeaseId, Lookup, ReadFor, Store, Stored, StoredRef, Version, Wait, Write,
};
use crate::warn::trace_store_error;

/// How to invalidate a value: see [`Cache::delete`](crate::Cache::delete) and [`Cache::delete_hard`](crate::Cache::delete_hard).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invalidate {
    /// Mark it stale: the next caller recomputes it while the others are
    /// served the old value.
    Soft,
    /// Remove it: the next callers find nothing (one computes, the others wait).
    Hard,
}

/// What a read found, with the value decoded as `V`.
pub(crate) enum Looked<V> {
    /// Nothing (or the store failed, or the bytes were of another type).
    Absent { overwrite: bool },
    /// Nothing yet: another process holds the cold-miss lease.
    Leased,
    /// A value.
    Entry {
        meta: EntryMeta,
        version: Version,
        value: V,
    },
}

/// The value as `V`, if it is one.
pub(crate) fn decode<V: Cacheable>(value: StoredRef<'_>) -> Option<V> {
    match value {
        StoredRef::Object(value) => value.downcast_ref::<V>().cloned(),
        StoredRef::Bytes(bytes) => decode_payload::<V>(bytes),
        StoredRef::Raw(bytes) => crate::raw::decode::<V>(bytes),
    }
}

impl<V: Cacheable> Looked<V> {
    /// What a reader was handed, decoded.
    pub(crate) fn of(lookup: Lookup<'_>) -> Looked<V> {
        match lookup {
            Lookup::Leased => Looked::Leased,
            Lookup::Entry(entry) => match decode::<V>(entry.value) {
                Some(value) => Looked::Entry {
                    meta: entry.meta,
                    version: entry.version,
                    value,
                },
                // Cached by code with another return type: a miss, overwritten.
                None => Looked::Absent { overwrite: true },
            },
        }
    }
}

/// What a read did about the claim or lease its caller would ask for next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Taking {
    /// It did not try (a peek, a batch read, or a store whose reads take nothing).
    NotTried,
    /// It took this hold.
    Took(Hold),
    /// It tried, and another holds it.
    Refused,
}

/// A read for a call: when, what it found, and what it took.
pub(crate) struct Read<V> {
    pub(crate) now: Timestamp,
    pub(crate) found: Result<Looked<V>, StoreError>,
    pub(crate) taking: Taking,
}

impl<V> Read<V> {
    /// A read at `now` for `purpose`, as [`Io::look`] answered it.
    pub(crate) fn of(
        now: Timestamp,
        purpose: ReadFor,
        answer: Result<(Looked<V>, Option<Hold>), StoreError>,
    ) -> Read<V> {
        let (found, took) = match answer {
            Ok((looked, took)) => (Ok(looked), took),
            Err(error) => (Err(error), None),
        };
        let tried = matches!(purpose, ReadFor::Use { .. });
        Read {
            now,
            taking: match took {
                Some(hold) => Taking::Took(hold),
                None if tried && found.is_ok() => Taking::Refused,
                None => Taking::NotTried,
            },
            found,
        }
    }
}

/// The store, and how this caller waits for it: the blocking and the async
/// paths differ in this value only.
#[derive(Clone, Copy)]
pub(crate) struct Io<'s> {
    pub(crate) store: &'s dyn Store,
    pub(crate) wait: Wait,
    /// A batch's gatherer: its keys' leases, claims and guarded writes go
    /// through it, sent together ([`Gather`]).
    pub(crate) gather: Option<&'s Gather<'s>>,
}

impl<'s> Io<'s> {
    /// Blocking I/O: every answer is known when first polled.
    pub(crate) fn blocking(store: &'s dyn Store) -> Io<'s> {
        Io {
            store,
            wait: Wait::Blocking,
            gather: None,
        }
    }

    /// Non-blocking I/O, for `async fn`s.
    #[cfg(feature = "tokio")]
    pub(crate) fn nonblocking(store: &'s dyn Store) -> Io<'s> {
        Io {
            store,
            wait: Wait::Async,
            gather: None,
        }
    }

    /// What is stored under `key`, decoded as `V`, and the hold the read
    /// took, if it was for `purpose` [`ReadFor::Use`] and the store takes holds in reads.
    pub(crate) async fn look<V: Cacheable>(
        &self,
        key: &Key,
        now: Timestamp,
        purpose: ReadFor,
    ) -> Result<(Looked<V>, Option<Hold>), StoreError> {
        // Decoding is user code (`Clone`, `Deserialize`), run before the
        // store hands over the hold its read took: if it panics, the hold is
        // given back before the panic goes on, not left held by nobody.
        let mut decoded = Ok(Looked::Absent { overwrite: false });
        let took = self
            .store
            .read(self.wait, *key, now, purpose, &mut |lookup| {
                decoded = catch_unwind(AssertUnwindSafe(|| Looked::of(lookup)));
            })
            .await?;
        let looked = match decoded {
            Ok(looked) => looked,
            Err(panic) => {
                if let Some(hold) = took {
                    if let Err(error) = self.release(*key, hold).await {
                        trace_store_error(key.namespace(), &error);
                    }
                }
                resume_unwind(panic)
            }
        };
        Ok((looked, took))
    }
}

impl<'s> Io<'s> {
    /// This I/O, with `gather` batching its leases, claims and guarded writes.
    pub(crate) fn gathered(self, gather: &'s Gather<'s>) -> Io<'s> {
        Io {
            gather: Some(gather),
            ..self
        }
    }

    /// [`Store::try_claim`] (gathered in a batch).
    pub(crate) async fn try_claim(
        &self,
        key: Key,
        seen: Version,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<Option<ClaimId>, StoreError> {
        match self.gather {
            Some(gather) => gather.try_claim(key, seen, now, until).await,
            None => self.store.try_claim(self.wait, key, seen, now, until).await,
        }
    }

    /// [`Store::try_lease`] (gathered in a batch).
    pub(crate) async fn try_lease(
        &self,
        key: Key,
        now: Timestamp,
        grace: Duration,
    ) -> Result<Option<LeaseId>, StoreError> {
        match self.gather {
            Some(gather) => gather.try_lease(key, now, grace).await,
            None => self.store.try_lease(self.wait, key, now, grace).await,
        }
    }

    /// Writes `value` under `key`; only while `held` is the live claim or
    /// lease, if one is named (gathered in a batch). Whether it landed.
    pub(crate) async fn write(
        &self,
        key: Key,
        held: Option<Hold>,
        value: Stored,
        deadlines: crate::policy::Deadlines,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let (store, wait) = (self.store, self.wait);
        match (held, self.gather) {
            (Some(held), Some(gather)) => {
                let write = Write {
                    key,
                    value,
                    deadlines,
                };
                gather.write_held(write, held, now).await
            }
            (Some(held), None) => {
                store
                    .write_held(wait, key, held, value, deadlines, now)
                    .await
            }
            (None, Some(gather)) => {
                let write = Write {
                    key,
                    value,
                    deadlines,
                };
                gather.write(write, now).await.map(|()| true)
            }
            (None, None) => store
                .write(wait, key, value, deadlines, now)
                .await
                .map(|()| true),
        }
    }

    /// Gives `hold` back (a few at a time in a batch).
    pub(crate) async fn release(&self, key: Key, hold: Hold) -> Result<(), StoreError> {
        let release = match hold {
            Hold::Claim(claim) => self.store.release_claim(self.wait, key, claim),
            Hold::Lease(lease) => self.store.release_lease(self.wait, key, lease),
        };
        self.at_once(self.gather, release).await
    }

    /// [`Store::renew`] (a few at a time in a batch).
    pub(crate) async fn renew(
        &self,
        key: Key,
        hold: Hold,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<Option<Hold>, StoreError> {
        let renew = self.store.renew(self.wait, key, hold, until, now);
        self.at_once(self.gather, renew).await
    }

    /// `request`, now; through a batch's gatherer, which sends a few at a time.
    async fn at_once<T>(&self, gather: Option<&Gather<'_>>, request: impl Future<Output = T>) -> T {
        match gather {
            Some(gather) => gather.at_once(request).await,
            None => request.await,
        }
    }
}

impl Io<'_> {
    /// Invalidates `key`: `Hard` removes it (answers `true`), `Soft` marks
    /// it stale (answers whether there was a value).
    pub(crate) async fn invalidate(
        &self,
        key: Key,
        how: Invalidate,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        match how {
            Invalidate::Hard => self.store.remove(self.wait, key).await.map(|()| true),
            Invalidate::Soft => self.store.mark_stale(self.wait, key, now).await,
        }
    }
}

impl Io<'_> {
    /// What is stored under each of `keys`, decoded as `V`, in order (a
    /// peek: it takes nothing).
    pub(crate) async fn look_many<V: Cacheable>(
        &self,
        keys: &[Key],
        now: Timestamp,
    ) -> Result<Vec<Looked<V>>, StoreError> {
        let mut found: Vec<Looked<V>> = keys
            .iter()
            .map(|_| Looked::Absent { overwrite: false })
            .collect();
        let mut reader = |index: usize, lookup: Lookup<'_>| {
            if let Some(slot) = found.get_mut(index) {
                *slot = Looked::of(lookup);
            }
        };
        self.store
            .read_many(self.wait, keys, now, ReadFor::Peek, &mut reader)
            .await?;
        Ok(found)
    }
}
