//! Store URLs: `memory://?max_entries=10000&factor=8&grace=60s`,
//! `memcached://host:11211,host2`, `file:///var/cache/app`, `dummy://`,
//! `redis://user:password@host:6379/2?prefix=app:`, `redis+unix:///run/redis.sock`,
//! `rediss://host:6380?ca=/etc/redis/ca.pem` (TLS).

use std::time::Duration;

use crate::cache::Cache;
use crate::error::Error;
use crate::store::{
    FileStore, MemcachedConfig, MemcachedStore, MemoryStore, NoopStore, ServerAddr,
};

/// The schemes [`Cache::from_url`] understands.
const SCHEMES: &str = "memory://, memcached://, file://, dummy://, redis://, redis+unix://, \
     redis+cluster://, rediss://, rediss+cluster://";

pub(crate) fn cache_from_url(url: &str) -> Result<Cache, Error> {
    let (scheme, rest) = url.split_once("://").ok_or_else(|| {
        Error::invalid_url(url, "scheme", format!("missing; expected one of {SCHEMES}"))
    })?;
    let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
    let params = parse_query(url, query)?;
    match scheme {
        "memory" => {
            if !location.is_empty() && location != "/" {
                return Err(Error::invalid_url(
                    url,
                    "host",
                    format!("memory:// takes no host or path, found {location:?}"),
                ));
            }
            let mut store = MemoryStore::new();
            let mut cache_params = Vec::new();
            for (name, value) in params {
                match name {
                    "max_entries" => {
                        store = store.with_max_entries(parse_max_entries(url, name, value)?)
                    }
                    _ => cache_params.push((name, value)),
                }
            }
            apply_cache_params(url, Cache::new(store), &cache_params, "max_entries, ")
        }
        "memcached" => {
            let mut config = MemcachedConfig::new(memcached_servers(url, location)?);
            let mut cache_params = Vec::new();
            for (name, value) in params {
                match name {
                    "timeout" => {
                        config.timeout = parse_duration(value)
                            .map_err(|reason| Error::invalid_url(url, name, reason))?
                    }
                    "retry_after" => {
                        config.retry_after = parse_duration(value)
                            .map_err(|reason| Error::invalid_url(url, name, reason))?
                    }
                    "pool" => config.pool = parse_count(url, name, value)?,
                    "max_value" => config.max_value = parse_count(url, name, value)?,
                    _ => cache_params.push((name, value)),
                }
            }
            if let Some(reason) = config.max_value_error() {
                return Err(Error::invalid_url(url, "max_value", reason));
            }
            let store = MemcachedStore::new(config)?;
            apply_cache_params(
                url,
                Cache::new(store),
                &cache_params,
                "timeout, retry_after, pool, max_value, ",
            )
        }
        "file" => {
            let dir = file_path(url, location)?;
            let mut cache_params = Vec::new();
            let (mut max_value, mut sweep_every) = (None, None);
            for (name, value) in params {
                match name {
                    "max_value" => max_value = Some(parse_count(url, name, value)?),
                    "sweep_every" => sweep_every = Some(parse_count(url, name, value)?),
                    _ => cache_params.push((name, value)),
                }
            }
            // Every parameter is checked before the directory is created.
            apply_cache_params(
                url,
                Cache::new(NoopStore),
                &cache_params,
                "max_value, sweep_every, ",
            )?;
            let mut store = FileStore::new(&dir).map_err(|error| {
                Error::invalid_url(
                    url,
                    "path",
                    format!(
                        "cannot use {} as the cache directory: {error}",
                        dir.display()
                    ),
                )
            })?;
            if let Some(max_value) = max_value {
                store = store.with_max_value(max_value);
            }
            if let Some(sweep_every) = sweep_every {
                store = store.with_sweep_every(sweep_every);
            }
            apply_cache_params(
                url,
                Cache::new(store),
                &cache_params,
                "max_value, sweep_every, ",
            )
        }
        "redis" | "redis+unix" | "redis+cluster" | "rediss" | "rediss+cluster" => {
            redis_cache(url, scheme, location, params)
        }
        "dummy" => {
            if !location.is_empty() && location != "/" {
                return Err(Error::invalid_url(
                    url,
                    "host",
                    format!("dummy:// takes no host or path, found {location:?}"),
                ));
            }
            apply_cache_params(url, Cache::new(NoopStore), &params, "")
        }
        _ => Err(Error::invalid_url(
            url,
            "scheme",
            format!("unknown scheme {scheme:?}; expected one of {SCHEMES}"),
        )),
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
            let port = match port {
                None => 11211,
                Some(port) => port
                    .parse::<u16>()
                    .ok()
                    .filter(|port| *port > 0)
                    .ok_or_else(|| {
                        Error::invalid_url(
                            url,
                            "port",
                            format!("{port:?} in {server:?} is not a port (1 to 65535)"),
                        )
                    })?,
            };
            Ok(ServerAddr::Tcp(format!("{host}:{port}")))
        })
        .collect()
}

/// The directory of `file:///absolute/path` (percent-escapes decoded):
/// an absolute path, with no host before it.
fn file_path(url: &str, location: &str) -> Result<std::path::PathBuf, Error> {
    if location.is_empty() {
        return Err(Error::invalid_url(
            url,
            "path",
            "missing; expected file:///absolute/path/to/dir",
        ));
    }
    if !location.starts_with('/') {
        return Err(Error::invalid_url(
            url,
            "path",
            format!(
                "{location:?} is not an absolute path (file:// takes no host): \
                 expected file:///absolute/path/to/dir, with three slashes"
            ),
        ));
    }
    let mut bytes = Vec::with_capacity(location.len());
    let mut rest = location.as_bytes();
    while let Some((&byte, after)) = rest.split_first() {
        if byte != b'%' {
            bytes.push(byte);
            rest = after;
            continue;
        }
        let escaped = after
            .get(..2)
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok())
            .ok_or_else(|| {
                Error::invalid_url(
                    url,
                    "path",
                    "a % in the path must be followed by two hex digits",
                )
            })?;
        bytes.push(escaped);
        rest = &after[2..];
    }
    let path = String::from_utf8(bytes)
        .map_err(|_| Error::invalid_url(url, "path", "the decoded path is not UTF-8"))?;
    if path.contains('\0') {
        return Err(Error::invalid_url(url, "path", "the path has a NUL byte"));
    }
    Ok(path.into())
}

/// `redis://[user:password@]host[:port][/db]`, `redis+unix:///path` (its
/// database as `?db=N`) or `redis+cluster://[user:password@]host:port,host:port`,
/// with the store's parameters; the password is never repeated in an error.
/// `rediss://` and `rediss+cluster://` are the same over TLS (`?ca=` a PEM
/// file of the CAs to trust instead of the system's).
#[cfg(feature = "redis")]
fn redis_cache(
    url: &str,
    scheme: &str,
    location: &str,
    params: Vec<(&str, &str)>,
) -> Result<Cache, Error> {
    use crate::store::{RedisAddr, RedisConfig, RedisStore, RedisTls};

    let (scheme, tls) = match scheme {
        "rediss" => ("redis", true),
        "rediss+cluster" => ("redis+cluster", true),
        other => (other, false),
    };

    let (userinfo, address) = match location.rsplit_once('@') {
        Some((userinfo, address)) => (Some(userinfo), address),
        None => (None, location),
    };
    // The URL as errors show it: without the password.
    let shown = match userinfo.and_then(|userinfo| userinfo.split_once(':')) {
        Some((user, _)) => url.replacen(location, &format!("{user}:***@{address}"), 1),
        None => url.to_owned(),
    };
    let url = shown.as_str();
    let decode = |part: &str, text: &str| {
        percent_decode(text)
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| {
                Error::invalid_url(url, part, "bad percent-escape, or not UTF-8 once decoded")
            })
    };
    let mut db = 0i64;
    let addr = if scheme == "redis+unix" {
        if userinfo.is_some() || !address.starts_with('/') {
            return Err(Error::invalid_url(
                url,
                "path",
                "expected redis+unix:///absolute/path/to/redis.sock, with three slashes",
            ));
        }
        RedisAddr::Unix(decode("path", address)?.into())
    } else {
        let (host_port, path) = match address.split_once('/') {
            Some((host_port, path)) => (host_port, path),
            None => (address, ""),
        };
        if !path.is_empty() {
            db = parse_db(url, "db", path)?;
        }
        if scheme == "redis+cluster" {
            if db != 0 {
                return Err(Error::invalid_url(
                    url,
                    "db",
                    "a Redis Cluster has database 0 only",
                ));
            }
            let nodes = host_port
                .split(',')
                .map(|node| redis_host_port(url, node))
                .collect::<Result<Vec<_>, _>>()?;
            RedisAddr::Cluster(nodes)
        } else {
            if host_port.contains(',') {
                return Err(Error::invalid_url(
                    url,
                    "host",
                    format!(
                        "{host_port:?} is not host:port (one server; a cluster is \
                         redis+cluster://host:port,host:port)"
                    ),
                ));
            }
            let (host, port) = redis_host_port(url, host_port)?;
            RedisAddr::Tcp { host, port }
        }
    };
    let mut config = RedisConfig::new(addr);
    config.db = db;
    if tls {
        config.tls = Some(RedisTls::default());
    }
    if let Some(userinfo) = userinfo {
        let (user, password) = match userinfo.split_once(':') {
            Some((user, password)) => (user, Some(password)),
            None => (userinfo, None),
        };
        if !user.is_empty() {
            config.username = Some(decode("user", user)?);
        }
        if let Some(password) = password {
            config.password = Some(decode("password", password)?);
        }
    }
    let mut cache_params = Vec::new();
    for (name, value) in params {
        match name {
            "timeout" | "retry_after" => {
                let duration = parse_duration(value)
                    .map_err(|reason| Error::invalid_url(url, name, reason))?;
                if duration.is_zero() {
                    return Err(Error::invalid_url(url, name, "must be more than zero"));
                }
                if name == "timeout" {
                    config.timeout = duration;
                } else {
                    config.retry_after = duration;
                }
            }
            "pool" => config.pool = parse_count(url, name, value)?,
            "max_value" => config.max_value = parse_count(url, name, value)?,
            "prefix" => {
                config.prefix = percent_decode(value).ok_or_else(|| {
                    Error::invalid_url(url, name, "a % must be followed by two hex digits")
                })?
            }
            "ca" if tls => {
                let path = percent_decode(value)
                    .and_then(|bytes| String::from_utf8(bytes).ok())
                    .filter(|path| !path.is_empty())
                    .ok_or_else(|| {
                        Error::invalid_url(url, name, "expected a file path (percent-escaped)")
                    })?;
                config.tls = Some(RedisTls {
                    ca: Some(path.into()),
                });
            }
            "db" if scheme == "redis+unix" => config.db = parse_db(url, name, value)?,
            _ => cache_params.push((name, value)),
        }
    }
    let store = RedisStore::new(config).map_err(|error| match error {
        // The store's own errors name the scheme only: this one names the URL.
        Error::InvalidUrl { part, reason, .. } => Error::invalid_url(url, &part, reason),
        other => other,
    })?;
    apply_cache_params(
        url,
        Cache::new(store),
        &cache_params,
        if tls {
            "timeout, retry_after, pool, max_value, prefix, ca, "
        } else {
            "timeout, retry_after, pool, max_value, prefix, "
        },
    )
}

#[cfg(not(feature = "redis"))]
fn redis_cache(url: &str, scheme: &str, _: &str, _: Vec<(&str, &str)>) -> Result<Cache, Error> {
    let feature = if scheme.starts_with("rediss") {
        "redis-tls"
    } else {
        "redis"
    };
    Err(Error::invalid_url(
        url,
        "scheme",
        format!("{scheme}:// needs antidogpile's `{feature}` feature"),
    ))
}

/// `host[:port]` (6379 if left out, IPv6 in brackets).
#[cfg(feature = "redis")]
fn redis_host_port(url: &str, text: &str) -> Result<(String, u16), Error> {
    let (host, port) = match text.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (host, Some(port)),
        _ => (text, None),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.contains([',', '/', '?', ' ']) {
        return Err(Error::invalid_url(
            url,
            "host",
            format!("{text:?} is not host:port"),
        ));
    }
    let port = match port {
        None => 6379,
        Some(port) => port
            .parse::<u16>()
            .ok()
            .filter(|port| *port > 0)
            .ok_or_else(|| {
                Error::invalid_url(url, "port", format!("{port:?} is not a port (1 to 65535)"))
            })?,
    };
    Ok((host.to_owned(), port))
}

/// `text` with its `%XX` escapes decoded; `None` for a bad escape.
#[cfg(feature = "redis")]
fn percent_decode(text: &str) -> Option<Vec<u8>> {
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

/// The parameters every scheme takes: `factor`, `grace`, `liveness` and `retry_spacing`.
fn apply_cache_params(
    url: &str,
    mut cache: Cache,
    params: &[(&str, &str)],
    store_params: &str,
) -> Result<Cache, Error> {
    for &(name, value) in params {
        cache = match name {
            "factor" => {
                let factor = parse_count(url, name, value)?;
                let factor = u32::try_from(factor)
                    .ok()
                    .filter(|factor| *factor >= 1)
                    .ok_or_else(|| {
                        Error::invalid_url(url, name, "must be a whole number from 1 to 4294967295")
                    })?;
                cache.with_hard_timeout_factor(factor)
            }
            "grace" => {
                let grace = parse_duration(value)
                    .map_err(|reason| Error::invalid_url(url, name, reason))?;
                cache.with_default_grace(grace)
            }
            "liveness" => {
                let window = parse_duration(value)
                    .map_err(|reason| Error::invalid_url(url, name, reason))?;
                if window.is_zero() {
                    return Err(Error::invalid_url(url, name, "must be more than zero"));
                }
                cache.with_liveness(window)
            }
            "retry_spacing" => {
                let spacing = parse_duration(value)
                    .map_err(|reason| Error::invalid_url(url, name, reason))?;
                cache.with_retry_spacing(spacing)
            }
            _ => {
                return Err(Error::invalid_url(
                    url,
                    name,
                    format!(
                        "unknown parameter; expected one of {store_params}factor, grace, \
                         liveness, retry_spacing"
                    ),
                ))
            }
        };
    }
    Ok(cache)
}

fn parse_query<'u>(url: &str, query: &'u str) -> Result<Vec<(&'u str, &'u str)>, Error> {
    let mut params: Vec<(&str, &str)> = Vec::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| Error::invalid_url(url, pair, "expected name=value"))?;
        if params.iter().any(|(seen, _)| *seen == name) {
            return Err(Error::invalid_url(url, name, "given twice"));
        }
        params.push((name, value));
    }
    Ok(params)
}

/// A Redis database number: what `SELECT` can take. Redis keeps at most
/// `i32::MAX` databases (its `databases` setting), numbered from 0, so a
/// larger number can only fail on every call; one below that may still be
/// past the server's own `databases`, which only the server can tell.
#[cfg(feature = "redis")]
fn parse_db(url: &str, name: &str, value: &str) -> Result<i64, Error> {
    const LAST: i64 = i32::MAX as i64 - 1;
    match value.parse::<i64>() {
        Ok(db @ 0..=LAST) => Ok(db),
        Ok(_) => Err(Error::invalid_url(
            url,
            name,
            format!("{value} is out of range: a Redis database is a number from 0 to {LAST}"),
        )),
        Err(_) => Err(Error::invalid_url(
            url,
            name,
            format!("{value:?} is not a database number"),
        )),
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

fn parse_count(url: &str, name: &str, value: &str) -> Result<usize, Error> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn error_part(url: &str) -> String {
        match cache_from_url(url) {
            Err(Error::InvalidUrl { part, .. }) => part,
            other => panic!("{url}: expected an error, got {other:?}"),
        }
    }

    #[test]
    fn memory_urls_configure_the_store_and_the_cache() {
        let cache = cache_from_url("memory://?max_entries=100&factor=3&grace=1m30s").unwrap();
        assert_eq!(cache.hard_timeout_factor(), 3);
        assert_eq!(cache.default_grace(), Duration::from_secs(90));
        assert!(
            format!("{cache:?}").contains("max_entries: Some(128)"),
            "{cache:?}"
        );
        assert!(cache_from_url("memory://").is_ok());
        assert!(cache_from_url("memory:///").is_ok());
    }

    #[test]
    fn each_mistake_names_the_part_that_is_wrong() {
        assert_eq!(error_part("localhost:11211"), "scheme");
        #[cfg(not(feature = "redis"))]
        assert_eq!(error_part("redis://localhost"), "scheme");
        assert_eq!(error_part("gopher://localhost"), "scheme");
        assert_eq!(error_part("memory://somewhere"), "host");
        assert_eq!(error_part("memory://?max_entries=lots"), "max_entries");
        assert_eq!(error_part("memory://?factor=0"), "factor");
        assert_eq!(error_part("memory://?factor=-2"), "factor");
        assert_eq!(error_part("memory://?grace=30x"), "grace");
        assert_eq!(error_part("memory://?colour=blue"), "colour");
        assert_eq!(error_part("memory://?grace"), "grace");
        assert_eq!(error_part("memory://?grace=1s&grace=2s"), "grace");
    }

    /// A mistake the server would refuse on every call, or a setting that
    /// would quietly mean something else, is refused here, naming its part.
    #[test]
    fn a_database_out_of_redis_range_and_zero_max_entries_are_refused() {
        assert_eq!(error_part("memory://?max_entries=0"), "max_entries");
        let message = cache_from_url("memory://?max_entries=0")
            .unwrap_err()
            .to_string();
        assert!(message.contains("dummy://"), "{message}");
        #[cfg(feature = "redis")]
        {
            assert_eq!(error_part("redis://127.0.0.1:6379/99999999999"), "db");
            assert_eq!(error_part("redis://127.0.0.1:6379/2147483647"), "db");
            assert_eq!(error_part("redis+unix:///s.sock?db=99999999999"), "db");
            let message = cache_from_url("redis://127.0.0.1:6379/99999999999")
                .unwrap_err()
                .to_string();
            assert!(message.contains("out of range"), "{message}");
            assert!(cache_from_url("redis://127.0.0.1:6379/2147483646").is_ok());
            assert!(cache_from_url("memory://?max_entries=1").is_ok());
        }
    }

    #[test]
    fn memcached_urls_list_servers_and_settings() {
        let cache = cache_from_url(
            "memcached://10.0.0.1:11211,cache-2,[::1]:11300?timeout=250ms&pool=3&factor=4",
        )
        .unwrap();
        let debug = format!("{cache:?}");
        for expected in [
            "Tcp(\"10.0.0.1:11211\")",
            "Tcp(\"cache-2:11211\")",
            "Tcp(\"[::1]:11300\")",
            "timeout: 250ms",
            "pool: 3",
        ] {
            assert!(debug.contains(expected), "{expected} not in {debug}");
        }
        assert_eq!(cache.hard_timeout_factor(), 4);
        let unix = format!(
            "{:?}",
            cache_from_url("memcached:///run/memcached.sock").unwrap()
        );
        assert!(unix.contains("Unix(\"/run/memcached.sock\")"), "{unix}");
    }

    #[test]
    fn memcached_mistakes_name_their_part() {
        assert_eq!(error_part("memcached://"), "host");
        assert_eq!(error_part("memcached://a:99999"), "port");
        assert_eq!(error_part("memcached://a:0"), "port");
        assert_eq!(error_part("memcached://a:b"), "port");
        assert_eq!(error_part("memcached://a,,b"), "host");
        assert_eq!(error_part("memcached://a?timeout=soon"), "timeout");
        assert_eq!(error_part("memcached://a?pool=-1"), "pool");
        assert_eq!(error_part("memcached://a?max_entries=5"), "max_entries");
    }

    #[cfg(feature = "redis")]
    #[test]
    fn redis_urls_name_the_server_database_user_and_settings() {
        let cache = cache_from_url(
            "redis://app:s%3Acret@cache-1:6380/3?timeout=150ms&pool=4&prefix=shop%3A&max_value=5000&factor=3",
        )
        .unwrap();
        let debug = format!("{cache:?}");
        for expected in [
            "Tcp { host: \"cache-1\", port: 6380 }",
            "db: 3",
            "username: Some(\"app\")",
            "password: Some(\"<hidden>\")",
            "timeout: 150ms",
            "pool: 4",
            "prefix: \"shop:\"",
            "max_value: 5000",
        ] {
            assert!(debug.contains(expected), "{expected} not in {debug}");
        }
        assert!(!debug.contains("s:cret"), "the password shown: {debug}");
        assert_eq!(cache.hard_timeout_factor(), 3);
        let plain = format!("{:?}", cache_from_url("redis://127.0.0.1").unwrap());
        assert!(plain.contains("port: 6379"), "{plain}");
        assert!(plain.contains("db: 0"), "{plain}");
        let v6 = format!("{:?}", cache_from_url("redis://[::1]:7000").unwrap());
        assert!(v6.contains("Tcp { host: \"::1\", port: 7000 }"), "{v6}");
        let unix = format!(
            "{:?}",
            cache_from_url("redis+unix:///run/redis/redis.sock?db=2").unwrap()
        );
        assert!(unix.contains("Unix(\"/run/redis/redis.sock\")"), "{unix}");
        assert!(unix.contains("db: 2"), "{unix}");
        #[cfg(feature = "redis-cluster")]
        {
            let cluster = format!(
                "{:?}",
                cache_from_url("redis+cluster://:pw@a:7000,[::1]:7001,c?prefix=x").unwrap()
            );
            let nodes = "Cluster([(\"a\", 7000), (\"::1\", 7001), (\"c\", 6379)])";
            assert!(cluster.contains(nodes), "{cluster}");
        }
    }

    #[cfg(feature = "redis")]
    #[test]
    fn redis_mistakes_name_their_part_and_never_show_the_password() {
        assert_eq!(error_part("redis://"), "host");
        assert_eq!(error_part("redis://a:0"), "port");
        assert_eq!(error_part("redis://a:99999"), "port");
        assert_eq!(error_part("redis://a:b"), "port");
        assert_eq!(error_part("redis://a,b"), "host");
        assert_eq!(error_part("redis://a/x"), "db");
        assert_eq!(error_part("redis://a/-1"), "db");
        assert_eq!(error_part("redis://a?timeout=soon"), "timeout");
        assert_eq!(error_part("redis://a?timeout=0s"), "timeout");
        assert_eq!(error_part("redis://a?pool=-1"), "pool");
        assert_eq!(error_part("redis://a?prefix=%zz"), "prefix");
        assert_eq!(error_part("redis://a?db=1"), "db");
        assert_eq!(error_part("redis://u:p%zz@a"), "password");
        assert_eq!(error_part("redis+unix://host/sock"), "path");
        assert_eq!(error_part("redis+unix:///s.sock?db=x"), "db");
        assert_eq!(error_part("redis+cluster://a:7000/2"), "db");
        assert_eq!(error_part("redis+cluster://a:7000,b:0"), "port");
        assert_eq!(error_part("redis+cluster://a:7000,,b"), "host");
        #[cfg(not(feature = "redis-cluster"))]
        assert_eq!(error_part("redis+cluster://a:7000"), "scheme");
        let message = cache_from_url("redis://user:hunter2@a:0")
            .unwrap_err()
            .to_string();
        assert!(!message.contains("hunter2"), "{message}");
        assert!(message.contains("user:***@a:0"), "{message}");
    }

    #[cfg(feature = "redis-tls")]
    #[test]
    fn rediss_urls_verify_against_the_system_roots_or_a_ca_file() {
        let plain = format!("{:?}", cache_from_url("rediss://cache-1:6380/2").unwrap());
        assert!(
            plain.contains("tls: Some(RedisTls { ca: None })"),
            "{plain}"
        );
        assert!(plain.contains("db: 2"), "{plain}");
        let ca = temp_dir("ca.pem");
        std::fs::write(
            &ca,
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let escaped = ca.display().to_string().replace('-', "%2D");
        let url = format!("rediss://u:pw@cache-1?ca={escaped}&prefix=a");
        let with_ca = cache_from_url(&url).map(|cache| format!("{cache:?}"));
        // Not a certificate inside: refused when the client is built.
        let message = with_ca.unwrap_err().to_string();
        std::fs::remove_file(&ca).unwrap();
        assert!(message.contains("ca: "), "{message}");
        assert!(!message.contains("pw"), "the password shown: {message}");
        assert_eq!(error_part("rediss://a?ca=/no/such/file.pem"), "ca");
        assert_eq!(error_part("rediss://a?ca="), "ca");
        assert_eq!(error_part("redis://a?ca=/etc/ca.pem"), "ca");
        #[cfg(feature = "redis-cluster")]
        {
            let cluster = format!(
                "{:?}",
                cache_from_url("rediss+cluster://a:7000,b:7001").unwrap()
            );
            assert!(
                cluster.contains("tls: Some(RedisTls { ca: None })"),
                "{cluster}"
            );
        }
    }

    #[cfg(not(feature = "redis-tls"))]
    #[test]
    fn rediss_urls_name_the_feature_they_need() {
        for url in ["rediss://a:6380", "rediss+cluster://a:7000,b:7001"] {
            let message = cache_from_url(url).unwrap_err().to_string();
            assert!(message.contains("`redis-tls` feature"), "{message}");
            assert_eq!(error_part(url), "scheme");
        }
    }

    #[test]
    fn a_memcached_max_value_larger_than_a_readable_reply_is_refused() {
        // Replies are read up to 2 MiB: a larger value would be written on
        // every call and never read back.
        let two_mib = 2 << 20;
        assert!(cache_from_url(&format!("memcached://a?max_value={two_mib}")).is_ok());
        assert_eq!(
            error_part(&format!("memcached://a?max_value={}", two_mib + 1)),
            "max_value"
        );
        let message = cache_from_url("memcached://a?max_value=10000000")
            .unwrap_err()
            .to_string();
        assert!(message.contains("2097152"), "{message}");
        let mut config = MemcachedConfig::new(vec![ServerAddr::Tcp("a:11211".to_owned())]);
        config.max_value = two_mib + 1;
        assert!(matches!(
            MemcachedStore::new(config),
            Err(Error::InvalidUrl { .. })
        ));
    }

    /// A directory of its own under the system's temporary directory.
    fn temp_dir(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("antidogpile-url-{}-{name}", std::process::id()))
    }

    #[test]
    fn file_urls_name_a_directory_and_configure_the_store() {
        let dir = temp_dir("a dir");
        let encoded = dir.display().to_string().replace(' ', "%20");
        let url = format!("file://{encoded}?max_value=1024&sweep_every=10&factor=3&grace=5s");
        let cache = cache_from_url(&url).unwrap();
        assert!(dir.is_dir(), "the directory is created");
        assert_eq!(cache.hard_timeout_factor(), 3);
        assert_eq!(cache.default_grace(), Duration::from_secs(5));
        let debug = format!("{cache:?}");
        for expected in [
            format!("dir: {dir:?}"),
            "max_value: 1024".to_owned(),
            "sweep_every: 10".to_owned(),
        ] {
            assert!(debug.contains(&expected), "{expected} not in {debug}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn file_mistakes_name_their_part() {
        assert_eq!(error_part("file://"), "path");
        assert_eq!(error_part("file://?grace=1s"), "path");
        assert_eq!(error_part("file://relative/dir"), "path");
        assert_eq!(error_part("file://localhost/var/cache"), "path");
        assert_eq!(error_part("file:///tmp/a%zzb"), "path");
        assert_eq!(error_part("file:///tmp/a%2"), "path");
        assert_eq!(error_part("file:///tmp/a%00b"), "path");
        let unused = temp_dir("never-created");
        let with = |query: &str| format!("file://{}?{query}", unused.display());
        assert_eq!(error_part(&with("max_value=big")), "max_value");
        assert_eq!(error_part(&with("sweep_every=-1")), "sweep_every");
        assert_eq!(error_part(&with("max_entries=5")), "max_entries");
        assert_eq!(error_part(&with("grace=soon")), "grace");
        assert!(!unused.exists(), "a rejected URL creates no directory");
        // A path that cannot be a directory: under a regular file.
        let file = temp_dir("plain-file");
        std::fs::write(&file, b"not a directory").unwrap();
        let under_a_file = format!("file://{}/cache", file.display());
        let message = cache_from_url(&under_a_file).unwrap_err().to_string();
        std::fs::remove_file(&file).unwrap();
        assert!(message.contains("path: cannot use"), "{message}");
        let relative = cache_from_url("file://var/cache").unwrap_err().to_string();
        assert!(relative.contains("three slashes"), "{relative}");
    }

    #[test]
    fn dummy_urls_make_a_store_that_keeps_nothing() {
        let cache = cache_from_url("dummy://?liveness=2s&retry_spacing=500ms").unwrap();
        assert_eq!(cache.liveness(), Duration::from_secs(2));
        assert_eq!(cache.retry_spacing(), Duration::from_millis(500));
        assert_eq!(error_part("dummy://?liveness=0s"), "liveness");
        assert_eq!(error_part("dummy://?retry_spacing=soon"), "retry_spacing");
        let cache = cache_from_url("dummy://?grace=5s").unwrap();
        assert_eq!(cache.default_grace(), Duration::from_secs(5));
        assert!(format!("{cache:?}").contains("NoopStore"));
        assert_eq!(error_part("dummy://somewhere"), "host");
        assert_eq!(error_part("dummy://?max_entries=3"), "max_entries");
    }

    #[test]
    fn unknown_parameters_list_the_known_ones() {
        let message = cache_from_url("memory://?colour=blue")
            .unwrap_err()
            .to_string();
        assert!(message.contains("max_entries, factor, grace"), "{message}");
    }

    /// The macro's grammar (`crate::duration`, compiled into both crates):
    /// a URL once took `1s1h`, ` 30s` and `0ms1s`, which the macro refuses.
    #[test]
    fn url_durations_follow_the_macro_grammar() {
        for (text, expected) in crate::duration::VECTORS {
            let expected = expected
                .map(Duration::from_millis)
                .map_err(|reason| crate::duration::duration_error(text, reason));
            assert_eq!(parse_duration(text), expected, "{text:?}");
        }
        let message = cache_from_url("memory://?grace=1s1h")
            .unwrap_err()
            .to_string();
        assert!(message.contains("largest to the smallest"), "{message}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(
            parse_duration("1h1m1s1ms"),
            Ok(Duration::from_millis(3_661_001))
        );
        for bad in [
            "",
            "30",
            "30x",
            "s",
            "1.5s",
            "-1s",
            "0s",
            "ms30",
            "99999999999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
