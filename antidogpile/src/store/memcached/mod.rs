//! [`MemcachedStore`]: one cache shared by every process and server, with
//! one recompute per expiry across all of them.
//!
//! Layers, top to bottom: the store (this file) maps the [`Store`] trait
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

use std::fmt;
use std::time::Duration;

pub use transport::{MemcachedConfig, ServerAddr};

use std::future::Future;

use self::blocking::BlockingTransport;
use self::codec::Reply;
#[cfg(feature = "tokio")]
use self::nonblocking::TokioTransport;
use self::ops::{Exchange, Ops};
use self::ring::Ring;
use self::transport::{Failure, Reuse};
use super::{
    Answer, ClaimId, Counted, Delta, Found, Hold, LeaseId, ManyReader, ReadFor, Reader, Store,
    Stored, Version, Wait, Write,
};
use crate::clock::Timestamp;
use crate::error::{Error, StoreError};
use crate::key::Key;
use crate::policy::Deadlines;

/// A store on one or more memcached servers (1.6 or later: the meta protocol).
///
/// Values are kept in an envelope with their soft deadline; a refresh is
/// claimed with a compare-and-swap and a cold miss with an atomic add, so
/// of all the processes sharing the servers, one recomputes. A server that
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

    /// `op` over the fitting transport: run to its end here for a blocking
    /// caller (blocking I/O is done at the first poll), a future for an
    /// async one.
    fn answer<'a, T, F>(
        &'a self,
        wait: Wait,
        op: impl FnOnce(Ops<'a, Link<'a>>) -> F,
    ) -> Answer<'a, T>
    where
        F: Future<Output = Result<T, StoreError>> + Send + 'a,
    {
        Answer::for_caller(wait, op(self.ops(wait)))
    }
}

impl Store for MemcachedStore {
    fn keeps_bytes(&self) -> bool {
        true
    }

    fn renews_holds(&self) -> bool {
        true
    }

    /// A read for [`ReadFor::Use`] takes the lease (`mg ... N`) or the
    /// refresh claim (`mg ... R`, or the win of an invalidated item) in
    /// its one request.
    fn reads_take_holds(&self) -> bool {
        true
    }

    fn read<'a>(
        &'a self,
        wait: Wait,
        key: Key,
        now: Timestamp,
        purpose: ReadFor,
        reader: &'a mut Reader<'_>,
    ) -> Answer<'a, Option<Hold>> {
        self.answer(wait, move |ops| async move {
            let (found, hold) = ops.read_for(&key, now, purpose).await?;
            if let Some(found) = found {
                reader(found.lookup());
            }
            Ok(hold)
        })
    }

    fn try_claim(
        &self,
        wait: Wait,
        key: Key,
        seen: Version,
        now: Timestamp,
        until: Timestamp,
    ) -> Answer<'_, Option<ClaimId>> {
        self.answer(wait, move |ops| async move {
            ops.try_claim(&key, seen, now, until).await
        })
    }

    fn release_claim(&self, wait: Wait, key: Key, claim: ClaimId) -> Answer<'_, ()> {
        self.answer(wait, move |ops| async move {
            ops.release_claim(&key, claim).await
        })
    }

    fn write(
        &self,
        wait: Wait,
        key: Key,
        value: Stored,
        deadlines: Deadlines,
        now: Timestamp,
    ) -> Answer<'_, ()> {
        self.answer(wait, move |ops| async move {
            ops.write(&key, value, deadlines, now).await
        })
    }

    fn write_held(
        &self,
        wait: Wait,
        key: Key,
        held: Hold,
        value: Stored,
        deadlines: Deadlines,
        now: Timestamp,
    ) -> Answer<'_, bool> {
        self.answer(wait, move |ops| async move {
            ops.write_held(&key, held, value, deadlines, now).await
        })
    }

    fn remove(&self, wait: Wait, key: Key) -> Answer<'_, ()> {
        self.answer(wait, move |ops| async move { ops.delete(&key, None).await })
    }

    fn try_lease(
        &self,
        wait: Wait,
        key: Key,
        now: Timestamp,
        grace: Duration,
    ) -> Answer<'_, Option<LeaseId>> {
        self.answer(wait, move |ops| async move {
            ops.try_lease(&key, now, grace).await
        })
    }

    /// Deletes the holder's own lease item (its CAS), nothing newer.
    fn release_lease(&self, wait: Wait, key: Key, lease: LeaseId) -> Answer<'_, ()> {
        self.answer(wait, move |ops| async move {
            ops.delete(&key, Some(lease.0)).await
        })
    }

    fn renew(
        &self,
        wait: Wait,
        key: Key,
        hold: Hold,
        until: Timestamp,
        now: Timestamp,
    ) -> Answer<'_, Option<Hold>> {
        self.answer(wait, move |ops| async move {
            ops.renew(&key, hold, until, now).await
        })
    }

    fn add(&self, wait: Wait, write: Write, now: Timestamp) -> Answer<'_, bool> {
        self.answer(wait, move |ops| async move { ops.add(write, now).await })
    }

    fn mark_stale(&self, wait: Wait, key: Key, now: Timestamp) -> Answer<'_, bool> {
        self.answer(
            wait,
            move |ops| async move { ops.mark_stale(&key, now).await },
        )
    }

    fn count(&self, wait: Wait, key: Key, delta: Delta, _: Timestamp) -> Answer<'_, Counted> {
        self.answer(wait, move |ops| async move { ops.count(&key, delta).await })
    }

    fn read_many<'a>(
        &'a self,
        wait: Wait,
        keys: &'a [Key],
        now: Timestamp,
        purpose: ReadFor,
        reader: &'a mut ManyReader<'_>,
    ) -> Answer<'a, Vec<Option<Hold>>> {
        self.answer(wait, move |ops| async move {
            let found = ops.read_many_for(keys, now, purpose).await?;
            Ok(Found::hand_to(found, reader))
        })
    }

    fn write_many(&self, wait: Wait, writes: Vec<Write>, now: Timestamp) -> Answer<'_, ()> {
        self.answer(
            wait,
            move |ops| async move { ops.write_many(writes, now).await },
        )
    }

    fn remove_many<'a>(&'a self, wait: Wait, keys: &'a [Key]) -> Answer<'a, ()> {
        self.answer(wait, move |ops| async move { ops.delete_many(keys).await })
    }

    fn try_lease_many<'a>(
        &'a self,
        wait: Wait,
        keys: &'a [Key],
        now: Timestamp,
        grace: Duration,
    ) -> Answer<'a, Vec<Result<Option<LeaseId>, StoreError>>> {
        self.answer(wait, move |ops| async move {
            ops.try_lease_many(keys, now, grace).await
        })
    }

    fn try_claim_many<'a>(
        &'a self,
        wait: Wait,
        claims: &'a [(Key, Version)],
        now: Timestamp,
        until: Timestamp,
    ) -> Answer<'a, Vec<Result<Option<ClaimId>, StoreError>>> {
        self.answer(wait, move |ops| async move {
            ops.try_claim_many(claims, now, until).await
        })
    }

    fn write_held_many(
        &self,
        wait: Wait,
        writes: Vec<(Write, Hold)>,
        now: Timestamp,
    ) -> Answer<'_, Vec<Result<bool, StoreError>>> {
        self.answer(wait, move |ops| async move {
            ops.write_held_many(writes, now).await
        })
    }

    fn ping(&self, wait: Wait) -> Answer<'_, ()> {
        self.answer(wait, move |ops| async move { ops.ping().await })
    }
}

#[cfg(test)]
mod proptests;
