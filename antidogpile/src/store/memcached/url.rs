//! The `memcached://` URL of a [`MemcachedConfig`].

use super::{MemcachedConfig, ServerAddr};
use crate::error::Error;
use crate::url_params::{own_params, parse_count, parse_duration, parse_port, Params, StoreUrl};

impl MemcachedConfig {
    /// The settings of `memcached://host:port,host:port?timeout=&retry_after=&pool=&max_value=`
    /// (or `memcached:///path/to.sock`), checked as
    /// [`MemcachedStore::new`](super::MemcachedStore::new) checks them.
    pub(crate) fn from_url<'u>(
        url: &str,
        location: &str,
        params: Params<'u>,
    ) -> Result<StoreUrl<'u, MemcachedConfig>, Error> {
        let mut config = MemcachedConfig::new(memcached_servers(url, location)?);
        let duration = |name, value| {
            parse_duration(value).map_err(|reason| Error::invalid_url(url, name, reason))
        };
        let rest = own_params(params, |name, value| {
            match name {
                "timeout" => config.timeout = duration(name, value)?,
                "retry_after" => config.retry_after = duration(name, value)?,
                "pool" => config.pool = parse_count(url, name, value)?,
                "max_value" => config.max_value = parse_count(url, name, value)?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        if let Some(reason) = config.max_value_error() {
            return Err(Error::invalid_url(url, "max_value", reason));
        }
        let names = "timeout, retry_after, pool, max_value, ";
        Ok(StoreUrl::new(config, url, rest, names))
    }
}

/// `host:port[,host:port...]` (port 11211 if left out, IPv6 in brackets),
/// or the absolute path of a unix socket (`memcached:///run/memcached.sock`).
fn memcached_servers(url: &str, location: &str) -> Result<Vec<ServerAddr>, Error> {
    if location.starts_with('/') {
        return Ok(vec![ServerAddr::Unix(location.into())]);
    }
    let location = location.trim_end_matches('/');
    if location.is_empty() {
        return Err(Error::invalid_url(
            url,
            "host",
            "no server given; expected host:port[,host:port...]",
        ));
    }
    location
        .split(',')
        .map(|server| {
            let (host, port) = match server.rsplit_once(':') {
                // "[::1]" alone, or "::1" without brackets, has no port of its own.
                Some((host, port))
                    if !port.contains(']') && (!host.contains(':') || host.ends_with(']')) =>
                {
                    (host, Some(port))
                }
                _ => (server, None),
            };
            if host.is_empty() || host.contains(['/', '?', '@', ' ']) {
                return Err(Error::invalid_url(
                    url,
                    "host",
                    format!("{server:?} is not host:port"),
                ));
            }
            let port = parse_port(url, port, 11211, Some(server))?;
            Ok(ServerAddr::Tcp(format!("{host}:{port}")))
        })
        .collect()
}
