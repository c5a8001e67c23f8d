//! What every store URL is read with: whole numbers, durations and
//! percent-escapes in its parameters, and what a store hands back ([`StoreUrl`]). Below both [`url`](crate::url), which
//! splits a URL and hands it to its store, and the stores, which read their
//! own parameters: it imports neither.

use std::time::Duration;

use crate::error::Error;

/// A URL's parameters, `name=value`, in the order given.
pub(crate) type Params<'u> = Vec<(&'u str, &'u str)>;

/// What a store's configuration read of its URL: `store` (its settings,
/// or the store), and the parameters it left to the cache.
pub(crate) struct StoreUrl<'u, S> {
    /// The store's settings, or the store.
    pub(crate) store: S,
    /// The URL as errors show it from here on (a Redis password hidden).
    pub(crate) shown: String,
    /// The parameters the store does not take, in order: the cache's, or
    /// mistakes the cache refuses.
    pub(crate) rest: Params<'u>,
    /// The store's own parameters (`"max_entries, "`), for the error that
    /// lists the known ones.
    pub(crate) names: &'static str,
}

impl<'u, S> StoreUrl<'u, S> {
    /// The same, with `store` made of the settings by `make`, which is
    /// given the URL as errors show it.
    pub(crate) fn try_map<T>(
        self,
        make: impl FnOnce(S, &str) -> Result<T, Error>,
    ) -> Result<StoreUrl<'u, T>, Error> {
        Ok(StoreUrl {
            store: make(self.store, &self.shown)?,
            shown: self.shown,
            rest: self.rest,
            names: self.names,
        })
    }
}

/// Refuses a host or a path in `location` for a `scheme` that takes
/// neither (`memory://somewhere`); `memory:///` is `memory://`.
pub(crate) fn no_location(url: &str, scheme: &str, location: &str) -> Result<(), Error> {
    if !location.is_empty() && location != "/" {
        return Err(Error::invalid_url(
            url,
            "host",
            format!("{scheme}:// takes no host or path, found {location:?}"),
        ));
    }
    Ok(())
}

/// `text` with its `%XX` escapes decoded; `None` for a bad escape.
#[cfg(feature = "redis")]
pub(crate) fn percent_decode(text: &str) -> Option<Vec<u8>> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&byte, after)) = rest.split_first() {
        if byte != b'%' {
            bytes.push(byte);
            rest = after;
            continue;
        }
        let hex = std::str::from_utf8(after.get(..2)?).ok()?;
        bytes.push(u8::from_str_radix(hex, 16).ok()?);
        rest = &after[2..];
    }
    Some(bytes)
}

/// `value` of the parameter `name` as a whole number.
pub(crate) fn parse_count(url: &str, name: &str, value: &str) -> Result<usize, Error> {
    value.parse::<usize>().map_err(|_| {
        Error::invalid_url(
            url,
            name,
            format!("expected a whole number, found {value:?}"),
        )
    })
}

/// Parses a duration such as `"250ms"`, `"30s"`, `"1m30s"` with the macro's
/// grammar ([`crate::duration`]): the same strings, the same errors.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    crate::duration::parse_duration_ms(text)
        .map(Duration::from_millis)
        .map_err(|reason| crate::duration::duration_error(text, &reason))
}
