//! [`NoopStore`]: caches nothing.

use super::{
    Answer, ClaimId, Counted, Delta, Hold, ReadFor, Reader, Store, Stored, Version, Wait, Write,
};
use crate::clock::Timestamp;
use crate::error::Error;
use crate::key::Key;
use crate::policy::Deadlines;
use crate::url_params::{own_params_only, Params, StoreUrl};

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

    /// The store of `dummy://`: no host, no path, no parameter of its own.
    pub(crate) fn from_url<'u>(
        url: &str,
        location: &str,
        params: Params<'u>,
    ) -> Result<StoreUrl<'u, NoopStore>, Error> {
        let rest = own_params_only(url, "dummy", location, params, |_, _| Ok(false))?;
        Ok(StoreUrl::new(NoopStore, url, rest, ""))
    }
}

impl Store for NoopStore {
    fn read<'a>(
        &'a self,
        _: Wait,
        _: Key,
        _: Timestamp,
        _: ReadFor,
        _: &'a mut Reader<'_>,
    ) -> Answer<'a, Option<Hold>> {
        Answer::ready(Ok(None))
    }

    fn try_claim(
        &self,
        _: Wait,
        _: Key,
        _: Version,
        _: Timestamp,
        _: Timestamp,
    ) -> Answer<'_, Option<ClaimId>> {
        Answer::ready(Ok(None))
    }

    fn release_claim(&self, _: Wait, _: Key, _: ClaimId) -> Answer<'_, ()> {
        Answer::ready(Ok(()))
    }

    fn write(&self, _: Wait, _: Key, _: Stored, _: Deadlines, _: Timestamp) -> Answer<'_, ()> {
        Answer::ready(Ok(()))
    }

    /// Accepts the write and keeps nothing, as [`add`](Store::add) does: no
    /// invalidation can end a hold here (nothing is shared), so the cache
    /// hands the value to callers of this process waiting for it.
    fn write_held(
        &self,
        _: Wait,
        _: Key,
        _: Hold,
        _: Stored,
        _: Deadlines,
        _: Timestamp,
    ) -> Answer<'_, bool> {
        Answer::ready(Ok(true))
    }

    fn remove(&self, _: Wait, _: Key) -> Answer<'_, ()> {
        Answer::ready(Ok(()))
    }

    /// Stores nothing, and says it did (as a cache that forgot at once would).
    fn add(&self, _: Wait, _: Write, _: Timestamp) -> Answer<'_, bool> {
        Answer::ready(Ok(true))
    }

    fn mark_stale(&self, _: Wait, _: Key, _: Timestamp) -> Answer<'_, bool> {
        Answer::ready(Ok(false))
    }

    fn count(&self, _: Wait, _: Key, _: Delta, _: Timestamp) -> Answer<'_, Counted> {
        Answer::ready(Ok(Counted::Absent))
    }
}
