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

use self::blocking::BlockingTransport;
use self::codec::Reply;
#[cfg(feature = "tokio")]
use self::nonblocking::TokioTransport;
use self::ops::{Exchange, Ops};
use self::ring::Ring;
use self::transport::{Failure, Reuse};
#[cfg(feature = "tokio")]
use super::BoxFuture;
use super::{
    ClaimId, Counted, Delta, Hold, LeaseId, Lookup, Store, StoreOp, StoreReply, Stored, Version,
    Write,
};
use crate::clock::Timestamp;
use crate::error::{Error, StoreError, StoreErrorKind};
use crate::key::Key;
use crate::memo::complete;
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

    fn blocking(&self) -> Ops<'_, BlockingTransport> {
        Ops {
            transport: &self.blocking,
            ring: &self.ring,
            max_value: self.config.max_value,
        }
    }
}

impl Exchange for BlockingTransport {
    async fn exchange(
        &self,
        server: usize,
        requests: &[&[u8]],
        reuse: Reuse,
    ) -> Result<Vec<Reply>, Failure> {
        self.request(server, requests, reuse)
    }
}

#[cfg(feature = "tokio")]
impl Exchange for TokioTransport {
    async fn exchange(
        &self,
        server: usize,
        requests: &[&[u8]],
        reuse: Reuse,
    ) -> Result<Vec<Reply>, Failure> {
        self.request(server, requests, reuse).await
    }
}

impl fmt::Debug for MemcachedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemcachedStore")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn unexpected(reply: &StoreReply) -> StoreError {
    StoreError::new(StoreErrorKind::Other, format!("unexpected {reply:?}"))
}

impl Store for MemcachedStore {
    fn keeps_bytes(&self) -> bool {
        true
    }

    fn read(
        &self,
        key: &Key<'_>,
        now: Timestamp,
        reader: &mut dyn FnMut(Lookup<'_>),
    ) -> Result<(), StoreError> {
        if let Some(found) = complete(self.blocking().read(key, now))? {
            reader(found.as_lookup());
        }
        Ok(())
    }

    fn try_claim(
        &self,
        key: &Key<'_>,
        seen: Version,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<Option<ClaimId>, StoreError> {
        complete(self.blocking().try_claim(key, seen, now, until))
    }

    fn release_claim(&self, key: &Key<'_>, claim: ClaimId) -> Result<(), StoreError> {
        complete(
            self.blocking()
                .run(StoreOp::ReleaseClaim { key: *key, claim }),
        )
        .map(|_| ())
    }

    fn write(
        &self,
        key: &Key<'_>,
        value: Stored,
        deadlines: Deadlines,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        complete(self.blocking().write(key, value, deadlines, now))
    }

    fn write_held(
        &self,
        key: &Key<'_>,
        held: Hold,
        value: Stored,
        deadlines: Deadlines,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        complete(self.blocking().write_held(key, held, value, deadlines, now))
    }

    fn remove(&self, key: &Key<'_>) -> Result<(), StoreError> {
        complete(self.blocking().run(StoreOp::Remove { key: *key })).map(|_| ())
    }

    fn try_lease(
        &self,
        key: &Key<'_>,
        now: Timestamp,
        grace: Duration,
    ) -> Result<Option<LeaseId>, StoreError> {
        complete(self.blocking().try_lease(key, now, grace))
    }

    fn release_lease(&self, key: &Key<'_>, lease: LeaseId) -> Result<(), StoreError> {
        match complete(
            self.blocking()
                .run(StoreOp::ReleaseLease { key: *key, lease }),
        )? {
            StoreReply::Done => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    fn renews_holds(&self) -> bool {
        true
    }

    fn renew(
        &self,
        key: &Key<'_>,
        hold: Hold,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<Option<Hold>, StoreError> {
        complete(self.blocking().renew(key, hold, until, now))
    }

    fn add(&self, write: Write<'_>, now: Timestamp) -> Result<bool, StoreError> {
        complete(self.blocking().add(write, now))
    }

    fn mark_stale(&self, key: &Key<'_>, now: Timestamp) -> Result<bool, StoreError> {
        complete(self.blocking().mark_stale(key, now))
    }

    fn count(&self, key: &Key<'_>, delta: Delta, _: Timestamp) -> Result<Counted, StoreError> {
        complete(self.blocking().count(key, delta))
    }

    fn read_many(
        &self,
        keys: &[Key<'_>],
        now: Timestamp,
        reader: &mut dyn FnMut(usize, Lookup<'_>),
    ) -> Result<(), StoreError> {
        let found = complete(self.blocking().read_many(keys, now))?;
        for (index, found) in found.iter().enumerate() {
            if let Some(found) = found {
                reader(index, found.as_lookup());
            }
        }
        Ok(())
    }

    fn write_many(&self, writes: Vec<Write<'_>>, now: Timestamp) -> Result<(), StoreError> {
        complete(self.blocking().write_many(writes, now))
    }

    fn remove_many(&self, keys: &[Key<'_>]) -> Result<(), StoreError> {
        complete(self.blocking().delete_many(keys))
    }

    fn ping(&self) -> Result<(), StoreError> {
        complete(self.blocking().ping())
    }

    fn try_lease_many(
        &self,
        keys: &[Key<'_>],
        now: Timestamp,
        grace: Duration,
    ) -> Result<Vec<Result<Option<LeaseId>, StoreError>>, StoreError> {
        complete(self.blocking().try_lease_many(keys, now, grace))
    }

    fn try_claim_many(
        &self,
        claims: &[(Key<'_>, Version)],
        now: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<Result<Option<ClaimId>, StoreError>>, StoreError> {
        complete(self.blocking().try_claim_many(claims, now, until))
    }

    fn write_held_many(
        &self,
        writes: Vec<(Write<'_>, Hold)>,
        now: Timestamp,
    ) -> Result<Vec<Result<bool, StoreError>>, StoreError> {
        complete(self.blocking().write_held_many(writes, now))
    }

    fn run(&self, op: StoreOp<'_>) -> Result<StoreReply, StoreError> {
        complete(self.blocking().run(op))
    }

    #[cfg(feature = "tokio")]
    fn run_async<'a>(&'a self, op: StoreOp<'a>) -> BoxFuture<'a, Result<StoreReply, StoreError>> {
        Box::pin(async move {
            let ops = Ops {
                transport: &self.nonblocking,
                ring: &self.ring,
                max_value: self.config.max_value,
            };
            ops.run(op).await
        })
    }
}

#[cfg(test)]
mod proptests;
