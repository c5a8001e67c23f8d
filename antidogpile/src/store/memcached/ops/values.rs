//! The operations outside the claim and lease scheme:
//!
//! - write: `ms` of the sealed envelope, its TTL the hard deadline plus the
//!   recache token (see [`value_expiry`](super::value_expiry)); a raw value
//!   (a hard set) as its bytes with client flags 0, as any client would.
//! - add: `ms ... ME` (memcached's atomic add) of the value; an item in the
//!   way that reads as nothing (a lease stub, an envelope dead by the
//!   cache's clock) is replaced by CAS. Not a lease: it stores a value.
//! - mark stale: `md ... I` behind a `mg ... f s` (was there a value, and a
//!   raw one, which is deleted instead).
//! - count: `ma`, on raw decimal values only (memcached refuses others).
//! - remove: `md`.

use super::judge::INVALIDATED_TTL;
use super::{logical_key, unexpected, Exchange, Item, Ops, ENVELOPE_FLAGS, RAW_FLAGS};
use crate::clock::Timestamp;
use crate::envelope;
use crate::error::{StoreError, StoreErrorKind};
use crate::key::Key;
use crate::policy::Deadlines;
use crate::store::memcached::codec::{
    encode_arithmetic, encode_delete, encode_get, parse_counter, ArithmeticFlags, ArithmeticMode,
    DeleteFlags, GetFlags, Reply, ReturnFlags, SetMode, WireKey,
};
use crate::store::{Counted, Delta, Stored, Write};

/// Whether `reply` to `mg ... f s` is a value (not a lease stub, not a
/// foreign item), and a raw one.
pub(crate) fn value_kind(reply: &Reply) -> Option<bool> {
    let (Reply::Value { flags, .. } | Reply::Done(flags)) = reply else {
        return None;
    };
    match flags.client_flags {
        Some(ENVELOPE_FLAGS) => Some(false),
        Some(RAW_FLAGS) if flags.size == Some(0) && (flags.win || flags.win_taken) => None,
        Some(RAW_FLAGS) => Some(true),
        _ => None,
    }
}

impl<T: Exchange> Ops<'_, T> {
    /// What is under `key`, taking nothing (a win this read took of an
    /// invalidated item is given back).
    async fn get(&self, routing: &str, wire: &WireKey) -> Result<Item, StoreError> {
        self.peek_item(routing, wire).await
    }

    /// `ms` of the value: [`write_many`](Ops::write_many) of one.
    pub(crate) async fn write(
        &self,
        key: &Key,
        value: Stored,
        deadlines: Deadlines,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let write = Write {
            key: *key,
            value,
            deadlines,
        };
        self.write_many(vec![write], now).await
    }

    /// Writes every entry, one pipelined exchange per server; the first
    /// failure, if any, after all were tried.
    pub(crate) async fn write_many(
        &self,
        writes: Vec<Write>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut first_error = None;
        let mut batch = Vec::with_capacity(writes.len());
        for write in writes {
            let request = self.set_request(
                &write.key,
                write.value,
                write.deadlines,
                now,
                SetMode::Set,
                None,
            );
            match request {
                Ok(request) => batch.push(request),
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        for reply in self.send_batch(&batch).await {
            match reply {
                Ok(Reply::Done(_)) => {}
                Ok(other) => {
                    first_error.get_or_insert(unexpected(&other, "ms"));
                }
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// `ms ME` of `request(Add, None)`. An item in the way that reads as
    /// nothing at `now` (an envelope past its hard deadline by the cache's
    /// clock, which memcached, counting whole seconds, may still keep; and
    /// a lease, if `over_leases`) is replaced by CAS with `request(Set,
    /// Some(cas))`. Returns the stored item's reply flags, or `None`.
    async fn add_unless_live(
        &self,
        routing: &str,
        now: Timestamp,
        over_leases: bool,
        request: impl Fn(SetMode, Option<u64>) -> Result<Vec<u8>, StoreError>,
    ) -> Result<Option<ReturnFlags>, StoreError> {
        // An item that vanishes between the add and the read: add again, a few times.
        for _ in 0..4 {
            match self.send(routing, &request(SetMode::Add, None)?).await? {
                Reply::Done(flags) => return Ok(Some(flags)),
                Reply::NotStored(_) => {}
                other => return Err(unexpected(&other, "ms ME")),
            }
            let in_the_way = match self.get(routing, &WireKey::new(routing.as_bytes())).await? {
                Item::Lease { cas, .. } if over_leases => cas,
                Item::Envelope { cas, bytes }
                    if envelope::open(&bytes)
                        .is_ok_and(|(header, _)| header.hard_deadline <= now) =>
                {
                    cas
                }
                Item::Missing => continue,
                _ => return Ok(None),
            };
            return match self
                .send(routing, &request(SetMode::Set, Some(in_the_way))?)
                .await?
            {
                Reply::Done(flags) => Ok(Some(flags)),
                Reply::Exists(_) | Reply::NotFound(_) => Ok(None),
                other => Err(unexpected(&other, "ms C (replacing a dead item)")),
            };
        }
        Ok(None)
    }

    /// Stores `write` unless a value is there (a lease does not count).
    pub(crate) async fn add(&self, write: Write, now: Timestamp) -> Result<bool, StoreError> {
        let routing = logical_key(&write.key);
        let request = |mode, compare_cas| {
            let value = write.value.clone();
            self.set_request(&write.key, value, write.deadlines, now, mode, compare_cas)
                .map(|(_, request)| request)
        };
        let added = self.add_unless_live(&routing, now, true, request).await?;
        Ok(added.is_some())
    }

    /// Makes the envelope under `key` stale: `md ... I` (the value stays,
    /// stale, its CAS bumped so that every claim and lease on it ends, its
    /// win handed to the next reader), pipelined behind a `mg ... f s` that
    /// tells, without fetching the value, whether there was a value (a
    /// lease stub is not one) and a raw one (which has no stale state: it
    /// is then deleted). Sends no value.
    pub(crate) async fn mark_stale(&self, key: &Key, _now: Timestamp) -> Result<bool, StoreError> {
        let routing = logical_key(key);
        let wire = WireKey::new(routing.as_bytes());
        let mut look = Vec::with_capacity(96);
        let flags = GetFlags {
            client_flags: true,
            size: true,
            ..GetFlags::default()
        };
        encode_get(&mut look, &wire, &flags);
        let mut invalidate = Vec::with_capacity(96);
        let flags = DeleteFlags {
            invalidate: true,
            ttl: Some(INVALIDATED_TTL),
            ..DeleteFlags::default()
        };
        encode_delete(&mut invalidate, &wire, &flags);
        let replies = self.send_all(&routing, &[&look, &invalidate]).await?;
        let (Some(looked), Some(invalidated)) = (replies.first(), replies.get(1)) else {
            return Err(StoreError::new(
                StoreErrorKind::Protocol,
                "memcached stopped answering a pipeline after an error",
            ));
        };
        match invalidated {
            Reply::Done(_) | Reply::NotFound(_) | Reply::Exists(_) => {}
            other => return Err(unexpected(other, "md I")),
        }
        match value_kind(looked) {
            Some(true) => {
                self.delete(key, None).await?;
                Ok(true)
            }
            Some(false) => Ok(matches!(invalidated, Reply::Done(_))),
            None => Ok(false),
        }
    }

    /// `ma`: memcached changes raw decimal counters only.
    pub(crate) async fn count(&self, key: &Key, delta: Delta) -> Result<Counted, StoreError> {
        let routing = logical_key(key);
        let wire = WireKey::new(routing.as_bytes());
        let (mode, by) = match delta {
            Delta::Incr(by) => (ArithmeticMode::Increment, by),
            Delta::Decr(by) => (ArithmeticMode::Decrement, by),
        };
        let flags = ArithmeticFlags {
            mode,
            delta: by,
            value: true,
            ..ArithmeticFlags::default()
        };
        let mut request = Vec::with_capacity(64);
        encode_arithmetic(&mut request, &wire, &flags);
        match self.send(&routing, &request).await? {
            Reply::Value { data, .. } => parse_counter(&data)
                .map(Counted::Value)
                .map_err(|error| StoreError::new(StoreErrorKind::Protocol, error.to_string())),
            Reply::NotFound(_) | Reply::Miss(_) => Ok(Counted::Absent),
            Reply::ClientError(message) if message.contains("non-numeric") => {
                // A lease is nothing yet; anything else is not a counter.
                match self.get(&routing, &wire).await? {
                    Item::Lease { .. } | Item::Missing => Ok(Counted::Absent),
                    _ => Ok(Counted::NotACounter),
                }
            }
            other => Err(unexpected(&other, "ma")),
        }
    }

    /// Removes the entry or lease under `key`: [`remove_many`](Ops::remove_many) of one.
    pub(crate) async fn remove(&self, key: &Key) -> Result<(), StoreError> {
        self.remove_many(std::slice::from_ref(key)).await
    }

    /// Deletes every key, one pipelined exchange per server.
    pub(crate) async fn remove_many(&self, keys: &[Key]) -> Result<(), StoreError> {
        let batch = Self::batch_of(
            keys,
            |key| key,
            |request, wire, _| {
                encode_delete(request, wire, &DeleteFlags::default());
            },
        );
        let mut first_error = None;
        for reply in self.send_batch(&batch).await {
            match reply {
                Ok(Reply::Done(_) | Reply::NotFound(_)) => {}
                Ok(other) => {
                    first_error.get_or_insert(unexpected(&other, "md"));
                }
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}
