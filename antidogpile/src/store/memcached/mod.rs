//! [`MemcachedStore`]: one cache shared by every process and server, with
//! one recompute per expiry across all of them.
//!
//! Layers, top to bottom: the store (this file) maps the [`Store`](super::Store) trait
//! onto [`ops`], the store's operations in meta commands, written once over
//! either transport; [`blocking`] and [`nonblocking`] move bytes; [`codec`]
//! is the pure meta-protocol encoder and decoder; [`ring`] spreads keys
//! over servers and skips the ones that are down.

mod blocking;
pub(crate) mod codec;
#[cfg(feature = "tokio")]
mod nonblocking;
mod ops;
pub(crate) mod ring;
mod transport;
mod url;

use std::fmt;

pub use transport::{MemcachedConfig, ServerAddr};

use self::blocking::BlockingTransport;
use self::codec::Reply;
#[cfg(feature = "tokio")]
use self::nonblocking::TokioTransport;
use self::ops::{Exchange, Ops};
use self::ring::Ring;
use self::transport::{Failure, Reuse};
use super::Wait;
use crate::error::Error;

/// A store on one or more memcached servers (1.6 or later: the meta protocol).
///
/// Values are kept in an envelope with their soft deadline; a refresh is
/// claimed and a cold miss leased by memcached itself, in the read (`mg`
/// with `R` and `N`: the server hands an item's win to one reader), so of
/// all the processes sharing the servers, one recomputes. A server that
/// is down, slow or garbled makes calls slower (they compute, within the
/// timeout), never wrong.
///
/// ```no_run
/// use antidogpile::Cache;
///
/// let cache = Cache::from_url("memcached://10.0.0.1:11211,10.0.0.2:11211?timeout=250ms&pool=16")?;
/// antidogpile::install(cache);
/// # Ok::<(), antidogpile::Error>(())
/// ```
pub struct MemcachedStore {
    config: MemcachedConfig,
    ring: Ring,
    blocking: BlockingTransport,
    #[cfg(feature = "tokio")]
    nonblocking: TokioTransport,
}

impl MemcachedStore {
    /// A store over `config.servers` (at least one).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidUrl`] without a server, or with a `max_value` above
    /// 2 MiB (the largest reply read).
    pub fn new(config: MemcachedConfig) -> Result<MemcachedStore, Error> {
        if config.servers.is_empty() {
            return Err(Error::invalid_url(
                "memcached://",
                "host",
                "at least one server is needed",
            ));
        }
        if let Some(reason) = config.max_value_error() {
            return Err(Error::invalid_url("memcached://", "max_value", reason));
        }
        let labels: Vec<String> = config.servers.iter().map(ToString::to_string).collect();
        let retry_after = u64::try_from(config.retry_after.as_millis()).unwrap_or(u64::MAX);
        Ok(MemcachedStore {
            ring: Ring::new(&labels).with_retry_after(retry_after),
            blocking: BlockingTransport::new(&config),
            #[cfg(feature = "tokio")]
            nonblocking: TokioTransport::new(&config),
            config,
        })
    }

    /// The settings it was made with.
    pub fn config(&self) -> &MemcachedConfig {
        &self.config
    }
}

impl fmt::Debug for MemcachedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemcachedStore")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A transport, chosen by how the caller waits.
#[derive(Clone, Copy)]
pub(crate) enum Link<'s> {
    Blocking(&'s BlockingTransport),
    #[cfg(feature = "tokio")]
    Tokio(&'s TokioTransport),
}

impl Exchange for Link<'_> {
    async fn exchange(
        &self,
        server: usize,
        requests: &[&[u8]],
        reuse: Reuse,
    ) -> Result<Vec<Reply>, Failure> {
        match self {
            Link::Blocking(transport) => transport.request(server, requests, reuse),
            #[cfg(feature = "tokio")]
            Link::Tokio(transport) => transport.request(server, requests, reuse).await,
        }
    }
}

impl MemcachedStore {
    /// The operations over the transport that fits how the caller waits
    /// (without the tokio feature, every caller blocks).
    fn ops(&self, wait: Wait) -> Ops<'_, Link<'_>> {
        let transport = match wait {
            #[cfg(feature = "tokio")]
            Wait::Async => Link::Tokio(&self.nonblocking),
            _ => Link::Blocking(&self.blocking),
        };
        Ops {
            transport,
            ring: &self.ring,
            max_value: self.config.max_value,
        }
    }
}

// Each `Store` method is its `Ops` method: a read for use takes the lease
// (`mg ... N`) or the refresh claim (`mg ... R`, or the win of an
// invalidated item) in its one request.
super::remote::store_over_remote_ops!(MemcachedStore);

#[cfg(test)]
mod proptests;
