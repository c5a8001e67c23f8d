//! [`NoopStore`]: caches nothing.

use std::time::Duration;

use super::{ClaimId, Counted, Delta, Hold, LeaseId, Lookup, Store, Stored, Version, Write};
use crate::clock::Timestamp;
use crate::error::StoreError;
use crate::key::Key;
use crate::policy::Deadlines;

/// A store that keeps nothing: every call computes. For tests, and for
/// switching caching off by configuration (`dummy://`) without touching code.
///
/// Concurrent callers of one process are still coalesced (one computes, the
/// others wait for its value), since that lease lives in the cache, not in
/// the store.
///
/// ```
/// let cache = antidogpile::Cache::from_url("dummy://")?;
/// # let _ = cache;
/// # Ok::<(), antidogpile::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct NoopStore;

impl NoopStore {
    /// The store that keeps nothing.
    pub fn new() -> NoopStore {
        NoopStore
    }
}

impl Store for NoopStore {
    fn read(
        &self,
        _: &Key<'_>,
        _: Timestamp,
        _: &mut dyn FnMut(Lookup<'_>),
    ) -> Result<(), StoreError> {
        Ok(())
    }

    fn try_claim(
        &self,
        _: &Key<'_>,
        _: Version,
        _: Timestamp,
        _: Timestamp,
    ) -> Result<Option<ClaimId>, StoreError> {
        Ok(None)
    }

    fn release_claim(&self, _: &Key<'_>, _: ClaimId) -> Result<(), StoreError> {
        Ok(())
    }

    fn write(&self, _: &Key<'_>, _: Stored, _: Deadlines, _: Timestamp) -> Result<(), StoreError> {
        Ok(())
    }

    /// Accepts the write and keeps nothing, as [`add`](Store::add) does: no
    /// invalidation can end a hold here (nothing is shared), so the cache
    /// hands the value to callers of this process waiting for it.
    fn write_held(
        &self,
        _: &Key<'_>,
        _: Hold,
        _: Stored,
        _: Deadlines,
        _: Timestamp,
    ) -> Result<bool, StoreError> {
        Ok(true)
    }

    fn remove(&self, _: &Key<'_>) -> Result<(), StoreError> {
        Ok(())
    }

    fn try_lease(
        &self,
        _: &Key<'_>,
        _: Timestamp,
        _: Duration,
    ) -> Result<Option<LeaseId>, StoreError> {
        Ok(Some(LeaseId(0)))
    }

    /// Stores nothing, and says it did (as a cache that forgot at once would).
    fn add(&self, _: Write<'_>, _: Timestamp) -> Result<bool, StoreError> {
        Ok(true)
    }

    fn mark_stale(&self, _: &Key<'_>, _: Timestamp) -> Result<bool, StoreError> {
        Ok(false)
    }

    fn count(&self, _: &Key<'_>, _: Delta, _: Timestamp) -> Result<Counted, StoreError> {
        Ok(Counted::Absent)
    }
}
