//! The `memory://` URL of a [`MemoryStore`].

use super::MemoryStore;
use crate::error::Error;
use crate::url_params::{own_params_only, parse_count, Params, StoreUrl};

impl MemoryStore {
    /// The store of `memory://?max_entries=N`: no host, no path.
    pub(crate) fn from_url<'u>(
        url: &str,
        location: &str,
        params: Params<'u>,
    ) -> Result<StoreUrl<'u, MemoryStore>, Error> {
        let mut max_entries = None;
        let rest = own_params_only(url, "memory", location, params, |name, value| {
            match name {
                "max_entries" => max_entries = Some(parse_max_entries(url, name, value)?),
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        let mut store = MemoryStore::new();
        if let Some(max_entries) = max_entries {
            store = store.with_max_entries(max_entries);
        }
        Ok(StoreUrl::new(store, url, rest, "max_entries, "))
    }
}

/// `max_entries` of `memory://`: a bound of zero would keep nothing, which
/// `dummy://` says plainly; the store would round it up to one entry per shard.
fn parse_max_entries(url: &str, name: &str, value: &str) -> Result<usize, Error> {
    match parse_count(url, name, value)? {
        0 => Err(Error::invalid_url(
            url,
            name,
            "must be at least 1 (to keep nothing, use dummy://)",
        )),
        count => Ok(count),
    }
}
