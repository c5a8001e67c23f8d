//! [`RedisStore`]: one cache shared by every process and server, on Redis
//! (or Valkey), with one recompute per expiry across all of them.
//!
//! Layers: [`config`] holds the settings; [`client`] makes redis-rs clients
//! of them; the store (this file) maps the [`Store`](super::Store) trait
//! onto [`ops`], the operations as Lua scripts ([`scripts`], one round trip
//! and atomic each), sent over either transport ([`link`]: blocking
//! connections or a tokio one) as a pipeline; the `*_many` operations send
//! one pipeline for the batch; [`reply`] reads what the scripts answer.

mod client;
mod config;
mod hints;
mod link;
mod ops;
mod reply;
mod scripts;
mod tls;

use std::fmt;

#[cfg(feature = "redis-cluster")]
use self::client::cluster_client;
pub use self::config::{RedisAddr, RedisConfig, RedisTls};
use self::hints::FreshHints;
#[cfg(feature = "tokio")]
use self::link::Tokio;
use self::link::{Blocking, Health, LateSends, LateTarget};
#[cfg(feature = "redis-cluster")]
use self::link::{ClusterBlocking, ClusterTokio};
use self::ops::{Link, Ops, Tokens};
use super::Wait;
use crate::error::Error;

/// A store on a Redis (or Valkey) server, 6.2 or later.
///
/// Each key is a hash holding the value's envelope, its deadlines and a
/// token; every step that must be atomic across processes (a claim, a
/// lease, a held write, a renewal, a soft delete) is one Lua script, one
/// round trip. A read for use takes the claim or the lease it finds free
/// in the same script ([`Store::reads_take_holds`](super::Store::reads_take_holds)); a key this process
/// last saw fresh is read with a plain `HMGET` instead, the script
/// following only if it is no longer fresh. Raw values (hard sets)
/// are plain strings, readable by any client. A server that is down, slow
/// or restarted makes calls slower (they compute, within the timeout),
/// never wrong.
///
/// ```no_run
/// use antidogpile::Cache;
///
/// let cache = Cache::from_url("redis://10.0.0.1:6379/2?timeout=250ms&prefix=shop:")?;
/// antidogpile::install(cache);
/// # Ok::<(), antidogpile::Error>(())
/// ```
pub struct RedisStore {
    config: RedisConfig,
    health: Health,
    transports: Transports,
    late: LateSends,
    tokens: Tokens,
    hints: FreshHints,
}

/// How the store reaches Redis: one server, or a cluster.
enum Transports {
    Single {
        blocking: Blocking,
        #[cfg(feature = "tokio")]
        nonblocking: Tokio,
    },
    #[cfg(feature = "redis-cluster")]
    Cluster {
        blocking: ClusterBlocking,
        nonblocking: ClusterTokio,
    },
}

impl RedisStore {
    /// A store on the server of `config`. It connects at its first use.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidUrl`] if the address cannot be used.
    pub fn new(config: RedisConfig) -> Result<RedisStore, Error> {
        let late;
        let transports = match &config.addr {
            #[cfg(feature = "redis-cluster")]
            RedisAddr::Cluster(nodes) => {
                let client = cluster_client(&config, nodes)?;
                late = LateTarget::Cluster(client.clone());
                Transports::Cluster {
                    blocking: ClusterBlocking::new(client.clone(), config.pool, config.timeout),
                    nonblocking: ClusterTokio::new(client, config.timeout),
                }
            }
            #[cfg(not(feature = "redis-cluster"))]
            RedisAddr::Cluster(_) => {
                // Over TLS without `redis-tls` either: name both features,
                // not only the first one missing.
                let (scheme, reason) = if cfg!(not(feature = "redis-tls")) && config.tls.is_some() {
                    (
                        "rediss+cluster://",
                        "a Redis Cluster over TLS needs antidogpile's `redis-cluster` feature \
                         and its `redis-tls` feature",
                    )
                } else {
                    (
                        "redis+cluster://",
                        "a Redis Cluster needs antidogpile's `redis-cluster` feature",
                    )
                };
                return Err(Error::invalid_url(scheme, "scheme", reason));
            }
            _ => {
                let client = config.client()?;
                late = LateTarget::Single(client.clone());
                Transports::Single {
                    blocking: Blocking::new(client.clone(), config.pool, config.timeout),
                    #[cfg(feature = "tokio")]
                    nonblocking: Tokio::new(client, config.timeout),
                }
            }
        };
        Ok(RedisStore {
            health: Health::new(config.retry_after),
            transports,
            late: LateSends::new(late),
            tokens: Tokens::new(),
            hints: FreshHints::new(),
            config,
        })
    }

    /// The settings it was made with.
    pub fn config(&self) -> &RedisConfig {
        &self.config
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    fn ops(&self, wait: Wait) -> Ops<'_> {
        let link = match (&self.transports, wait) {
            #[cfg(feature = "tokio")]
            (Transports::Single { nonblocking, .. }, Wait::Async) => Link::Tokio(nonblocking),
            (Transports::Single { blocking, .. }, _) => Link::Blocking(blocking),
            #[cfg(feature = "redis-cluster")]
            (Transports::Cluster { nonblocking, .. }, Wait::Async) => {
                Link::ClusterTokio(nonblocking)
            }
            #[cfg(feature = "redis-cluster")]
            (Transports::Cluster { blocking, .. }, Wait::Blocking) => {
                Link::ClusterBlocking(blocking)
            }
        };
        Ops {
            link,
            health: &self.health,
            late: &self.late,
            config: &self.config,
            tokens: &self.tokens,
            hints: &self.hints,
        }
    }
}

/// A cluster's timeouts are each node's own.
impl super::remote::StallsAsOne for RedisStore {
    fn stalls_as_one(&self) -> bool {
        match self.transports {
            Transports::Single { .. } => true,
            #[cfg(feature = "redis-cluster")]
            Transports::Cluster { .. } => false,
        }
    }
}

super::remote::store_over_remote_ops!(RedisStore);
