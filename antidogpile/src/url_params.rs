//! What every store URL is read with: its parameters split between the
//! store and the cache ([`own_params`]), whole numbers, durations, ports
//! and percent-escapes, and what a store hands back ([`StoreUrl`]). Below
//! both [`url`](crate::url), which splits a URL and hands it to its store,
//! and the stores, which read their own parameters: it imports neither.

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
    /// `store`, read from `url` (shown as it is), which left `rest` to the
    /// cache; `names` lists the store's own parameters.
    pub(crate) fn new(store: S, url: &str, rest: Params<'u>, names: &'static str) -> Self {
        StoreUrl {
            store,
            shown: url.to_owned(),
            rest,
            names,
        }
    }

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

/// Hands each of `params`, in order, to `own`, the store's reader of its
/// own parameters, which reads it into the store's settings and says
/// whether it was one of them; returns the others, in order, for the cache.
pub(crate) fn own_params<'u>(
    params: Params<'u>,
    mut own: impl FnMut(&'u str, &'u str) -> Result<bool, Error>,
) -> Result<Params<'u>, Error> {
    let mut rest = Vec::new();
    for (name, value) in params {
        if !own(name, value)? {
            rest.push((name, value));
        }
    }
    Ok(rest)
}

/// [`own_params`] of a URL whose `scheme` takes no host or path: refuses
/// one in `location` (`memory://somewhere`); `memory:///` is `memory://`.
pub(crate) fn own_params_only<'u>(
    url: &str,
    scheme: &str,
    location: &str,
    params: Params<'u>,
    own: impl FnMut(&'u str, &'u str) -> Result<bool, Error>,
) -> Result<Params<'u>, Error> {
    if !location.is_empty() && location != "/" {
        return Err(Error::invalid_url(
            url,
            "host",
            format!("{scheme}:// takes no host or path, found {location:?}"),
        ));
    }
    own_params(params, own)
}

/// The port of a server `host:port` of `url`: `default` if left out
/// (`None`), else a number from 1 to 65535. Its error names `server` if
/// the URL lists several.
pub(crate) fn parse_port(
    url: &str,
    port: Option<&str>,
    default: u16,
    server: Option<&str>,
) -> Result<u16, Error> {
    let Some(port) = port else {
        return Ok(default);
    };
    port.parse::<u16>()
        .ok()
        .filter(|port| *port > 0)
        .ok_or_else(|| {
            let reason = match server {
                Some(server) => format!("{port:?} in {server:?} is not a port (1 to 65535)"),
                None => format!("{port:?} is not a port (1 to 65535)"),
            };
            Error::invalid_url(url, "port", reason)
        })
}

/// `text` with its `%XX` escapes decoded; `None` for a bad escape.
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
