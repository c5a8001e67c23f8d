//! [`RedisConfig`]: where Redis listens ([`RedisAddr`]), how to verify it
//! ([`RedisTls`]), and the store's settings; and the `redis://` URLs
//! (`rediss://`, `redis+unix://`, `redis+cluster://`) that say all of it.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::Error;
use crate::url_params::{
    own_params, parse_count, parse_duration, parse_port, percent_decode, Params, StoreUrl,
};

/// Where the Redis server listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RedisAddr {
    /// A host name or IP address, and a port.
    Tcp {
        /// Host name or IP address.
        host: String,
        /// Port (6379 by default).
        port: u16,
    },
    /// The path of a unix socket.
    Unix(PathBuf),
    /// Some nodes of a Redis Cluster, as `(host, port)`: the cluster's own
    /// map of slots decides where each key lives (the `redis-cluster`
    /// feature; the database is then 0).
    Cluster(Vec<(String, u16)>),
}

/// How to reach Redis, and the store's settings.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// The server.
    pub addr: RedisAddr,
    /// The database number (`SELECT`), 0 by default.
    pub db: i64,
    /// ACL user name, if any.
    pub username: Option<String>,
    /// Password, if any.
    pub password: Option<String>,
    /// How long connecting, and each request, may take (250 ms by default).
    pub timeout: Duration,
    /// How many idle blocking connections are kept for reuse (8 by default).
    pub pool: usize,
    /// How long the server is skipped after a connection to it failed (1 s by default).
    pub retry_after: Duration,
    /// Put before every key, so that applications can share a database
    /// (empty by default).
    pub prefix: Vec<u8>,
    /// Values (with their envelope) larger than this are served but not
    /// cached (1 MiB by default).
    pub max_value: usize,
    /// TLS (`rediss://`), or `None` for plain TCP (the default). Needs the
    /// `redis-tls` feature; not for a unix socket.
    pub tls: Option<RedisTls>,
}

/// How a `rediss://` connection verifies the server (the `redis-tls`
/// feature): its certificate must chain to a trusted root and name the host
/// connected to. There is no way to skip the verification.
///
/// ```no_run
/// # #[cfg(feature = "redis-tls")] {
/// use antidogpile::store::{RedisAddr, RedisConfig, RedisStore, RedisTls};
///
/// let mut config = RedisConfig::new(RedisAddr::Tcp { host: "cache.internal".into(), port: 6380 });
/// config.tls = Some(RedisTls { ca: Some("/etc/redis/ca.pem".into()) });
/// let store = RedisStore::new(config)?;
/// # }
/// # Ok::<(), antidogpile::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RedisTls {
    /// A PEM file of the certificate authorities to trust instead of the
    /// system's roots (a private CA), read when the store is made; `None`:
    /// the system's roots (read from its certificate files, no system
    /// library).
    pub ca: Option<PathBuf>,
}

impl RedisConfig {
    /// The defaults, for `addr`.
    pub fn new(addr: RedisAddr) -> RedisConfig {
        RedisConfig {
            addr,
            db: 0,
            username: None,
            password: None,
            timeout: Duration::from_millis(250),
            pool: 8,
            retry_after: Duration::from_secs(1),
            prefix: Vec::new(),
            max_value: 1 << 20,
            tls: None,
        }
    }

    /// `redis://[user:password@]host[:port][/db]`, `redis+unix:///path` (its
    /// database as `?db=N`) or `redis+cluster://[user:password@]host:port,host:port`,
    /// with the store's parameters (the others are left to the cache); the
    /// password is never repeated in an error, nor in [`StoreUrl::shown`].
    /// `rediss://` and `rediss+cluster://` are the same over TLS (`?ca=` a PEM
    /// file of the CAs to trust instead of the system's).
    pub(crate) fn from_url<'u>(
        url: &str,
        scheme: &str,
        location: &str,
        params: Params<'u>,
    ) -> Result<StoreUrl<'u, RedisConfig>, Error> {
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
        let rest = own_params(params, |name, value| {
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
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        let names = if tls {
            "timeout, retry_after, pool, max_value, prefix, ca, "
        } else {
            "timeout, retry_after, pool, max_value, prefix, "
        };
        // `url` is `shown`, the password hidden.
        Ok(StoreUrl::new(config, url, rest, names))
    }
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("addr", &self.addr)
            .field("db", &self.db)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("timeout", &self.timeout)
            .field("pool", &self.pool)
            .field("retry_after", &self.retry_after)
            .field("prefix", &String::from_utf8_lossy(&self.prefix))
            .field("max_value", &self.max_value)
            .field("tls", &self.tls)
            .finish()
    }
}

/// `host[:port]` (6379 if left out, IPv6 in brackets).
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
    let port = parse_port(url, port, 6379, None)?;
    Ok((host.to_owned(), port))
}

/// A Redis database number: what `SELECT` can take. Redis keeps at most
/// `i32::MAX` databases (its `databases` setting), numbered from 0, so a
/// larger number can only fail on every call; one below that may still be
/// past the server's own `databases`, which only the server can tell.
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
