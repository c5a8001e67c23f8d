//! The store trait: where entries live, and the atomic steps the cache needs.
//!
//! A store keeps, per key, a value with its [`EntryMeta`] (soft deadline and
//! refresh claim) until its hard deadline. The cache reads an entry, makes
//! the pure [`decide`](crate::policy::decide) decision, and applies it with
//! [`Store::try_claim`], which must be atomic against concurrent callers
//! (under a lock in memory, a compare-and-swap on a remote store).

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use crate::clock::Timestamp;
use crate::key::Key;
use crate::policy::{Deadlines, EntryMeta};

mod memory;

pub use memory::MemoryStore;

/// A cached value, type-erased. In-process stores keep it as it is: no
/// serialization on the hot path.
pub type Value = Arc<dyn Any + Send + Sync>;

/// Changes every time an entry is written: what a claim is conditional on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Version(pub u64);

/// Identifies one refresh claim, so that only its holder can release it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClaimId(pub u64);

/// An entry as [`Store::read`] shows it.
#[derive(Clone, Copy)]
pub struct EntryView<'a> {
    /// Soft deadline and refresh claim.
    pub meta: EntryMeta,
    /// What [`Store::try_claim`] must see unchanged.
    pub version: Version,
    /// The value.
    pub value: &'a (dyn Any + Send + Sync),
}

impl fmt::Debug for EntryView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EntryView")
            .field("meta", &self.meta)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// Where cached entries live.
///
/// Implementations must be safe to call from many threads at once, never
/// panic on what they read, and make [`try_claim`](Store::try_claim) atomic:
/// of all callers that saw the same [`Version`], at most one may win.
pub trait Store: Send + Sync + fmt::Debug + 'static {
    /// Calls `reader` with the entry under `key`, if there is one whose hard
    /// deadline is after `now`. Does not call it otherwise.
    fn read(&self, key: &Key<'_>, now: Timestamp, reader: &mut dyn FnMut(EntryView<'_>));

    /// Claims the refresh of the entry under `key` until `until`, if it still
    /// has version `seen`, is stale at `now`, and nobody holds a live claim.
    fn try_claim(
        &self,
        key: &Key<'_>,
        seen: Version,
        now: Timestamp,
        until: Timestamp,
    ) -> Option<ClaimId>;

    /// Gives up `claim` at once (the claimer panicked or was cancelled), so
    /// the next caller may refresh without waiting for the grace to pass.
    /// Does nothing if the entry changed since, or the claim is not the live one.
    fn release_claim(&self, key: &Key<'_>, claim: ClaimId);

    /// Stores `value` under `key` with `deadlines`, replacing what was there
    /// (and any claim on it). `now` is the time of the write.
    fn write(&self, key: &Key<'_>, value: Value, deadlines: Deadlines, now: Timestamp);

    /// Removes the entry under `key`, if any.
    fn remove(&self, key: &Key<'_>);
}

/// A shared store is a store: lets a test keep a handle on the store it gave a cache.
impl<S: Store> Store for Arc<S> {
    fn read(&self, key: &Key<'_>, now: Timestamp, reader: &mut dyn FnMut(EntryView<'_>)) {
        (**self).read(key, now, reader);
    }

    fn try_claim(
        &self,
        key: &Key<'_>,
        seen: Version,
        now: Timestamp,
        until: Timestamp,
    ) -> Option<ClaimId> {
        (**self).try_claim(key, seen, now, until)
    }

    fn release_claim(&self, key: &Key<'_>, claim: ClaimId) {
        (**self).release_claim(key, claim);
    }

    fn write(&self, key: &Key<'_>, value: Value, deadlines: Deadlines, now: Timestamp) {
        (**self).write(key, value, deadlines, now);
    }

    fn remove(&self, key: &Key<'_>) {
        (**self).remove(key);
    }
}
