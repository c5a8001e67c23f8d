//! [`RedisConfig`]: where Redis listens ([`RedisAddr`]), how to verify it
//! ([`RedisTls`]), and the store's settings.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

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
