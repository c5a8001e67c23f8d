//! The store's operations in memcached meta commands, written once over
//! either transport.
//!
//! - read: `mg <k> v f c`; the client flags tell an envelope from a lease
//!   (or from a value some other client wrote, which reads as a miss).
//! - claim: `mg`, then `ms ... C<cas>` of the same envelope with its claim
//!   set: of all processes that read one version, only one rewrites it.
//! - lease: `ms ... ME` (add) of a lease item whose TTL is the grace, so a
//!   crashed holder's lease simply expires.
//! - write: `ms` of the sealed envelope, TTL = the hard timeout.

use super::codec::{
    encode_delete, encode_get, encode_set, DeleteFlags, GetFlags, Reply, SetFlags, SetMode, WireKey,
};
use super::ring::Ring;
use crate::clock::{Clock, Timestamp};
use crate::envelope;
use crate::error::{StoreError, StoreErrorKind};
use crate::key::Key;
use crate::policy::{Deadlines, EntryMeta};
use crate::store::{ClaimId, LeaseId, OwnedLookup, StoreOp, StoreReply, Stored, Version};

/// Client flags of an antidogpile envelope ("AD", kind 1).
pub(crate) const ENVELOPE_FLAGS: u32 = 0x4144_0001;
/// Client flags of a cold-miss lease ("AD", kind 2).
pub(crate) const LEASE_FLAGS: u32 = 0x4144_0002;
/// memcached reads a TTL above 30 days as a Unix time.
const LONGEST_RELATIVE_TTL: u64 = 30 * 24 * 3600;

/// One request, one reply, on one server.
pub(crate) trait Exchange {
    async fn exchange(&self, server: usize, request: &[u8]) -> Result<Reply, StoreError>;
}

/// The operations over a transport.
pub(crate) struct Ops<'s, T> {
    pub(crate) transport: &'s T,
    pub(crate) ring: &'s Ring,
    pub(crate) max_value: usize,
}

/// A store key on the wire: readable namespace, version and fingerprint
/// (the codec makes any bytes safe and hashes what is too long).
pub(crate) fn logical_key(key: &Key<'_>) -> String {
    format!(
        "{}:{}:{:032x}",
        key.namespace(),
        key.version(),
        key.fingerprint().as_u128()
    )
}

/// memcached's TTL for an item that must live until `deadline`: whole
/// seconds rounded up, at least 1; past 30 days, the deadline as a Unix time.
pub(crate) fn expiry(deadline: Timestamp, now: Timestamp) -> u32 {
    let seconds = (now.until(deadline).as_millis() as u64)
        .div_ceil(1000)
        .max(1);
    if seconds <= LONGEST_RELATIVE_TTL {
        seconds as u32
    } else {
        u32::try_from(deadline.as_millis().div_ceil(1000)).unwrap_or(u32::MAX)
    }
}

fn unexpected(reply: &Reply, during: &str) -> StoreError {
    let kind = match reply {
        Reply::ServerError(message) if message.contains("too large") => StoreErrorKind::TooLarge,
        _ => StoreErrorKind::Protocol,
    };
    StoreError::new(kind, format!("memcached answered {reply:?} to {during}"))
}

/// What a `mg ... v f c` found, with its envelope opened.
enum Item {
    Missing,
    Lease,
    Envelope {
        cas: u64,
        bytes: Vec<u8>,
    },
    /// Something this version cannot read (another client's value, another
    /// envelope format): read as a miss, and overwritten.
    Foreign {
        cas: u64,
    },
}

impl<T: Exchange> Ops<'_, T> {
    async fn send(&self, routing: &str, request: &[u8]) -> Result<Reply, StoreError> {
        // Server health is real time, whatever clock the cache reads.
        let now = Clock::system().now().as_millis();
        let server = self
            .ring
            .server_for_live(routing.as_bytes(), now)
            .ok_or_else(|| {
                StoreError::new(
                    StoreErrorKind::Unavailable,
                    "every memcached server is down",
                )
            })?;
        let reply = self.transport.exchange(server, request).await;
        if let Err(error) = &reply {
            if matches!(
                error.kind(),
                StoreErrorKind::Unavailable | StoreErrorKind::Timeout
            ) {
                self.ring.mark_down(server, now);
            }
        }
        reply
    }

    async fn get(&self, routing: &str, wire: &WireKey) -> Result<Item, StoreError> {
        let mut request = Vec::with_capacity(64);
        let flags = GetFlags {
            value: true,
            client_flags: true,
            cas: true,
            ..GetFlags::default()
        };
        encode_get(&mut request, wire, &flags);
        match self.send(routing, &request).await? {
            Reply::Miss(_) => Ok(Item::Missing),
            Reply::Value { flags, data } => {
                let cas = flags.cas.unwrap_or(0);
                Ok(match flags.client_flags {
                    Some(LEASE_FLAGS) => Item::Lease,
                    Some(ENVELOPE_FLAGS) if envelope::open(&data).is_ok() => {
                        Item::Envelope { cas, bytes: data }
                    }
                    _ => Item::Foreign { cas },
                })
            }
            other => Err(unexpected(&other, "mg")),
        }
    }

    async fn set(
        &self,
        routing: &str,
        wire: &WireKey,
        data: &[u8],
        flags: SetFlags,
    ) -> Result<Reply, StoreError> {
        let mut request = Vec::with_capacity(64 + data.len());
        encode_set(&mut request, wire, data, &flags);
        self.send(routing, &request).await
    }

    pub(crate) async fn read(
        &self,
        key: &Key<'_>,
        now: Timestamp,
    ) -> Result<Option<OwnedLookup>, StoreError> {
        let routing = logical_key(key);
        Ok(
            match self
                .get(&routing, &WireKey::new(routing.as_bytes()))
                .await?
            {
                Item::Missing => None,
                Item::Lease => Some(OwnedLookup::Leased),
                Item::Foreign { cas } => Some(OwnedLookup::Entry {
                    meta: EntryMeta {
                        soft_deadline: Timestamp::EPOCH,
                        claimed_until: Timestamp::EPOCH,
                    },
                    version: Version(cas),
                    // No payload decodes from nothing: the cache recomputes and overwrites.
                    value: Stored::Bytes(Vec::new()),
                }),
                Item::Envelope { cas, bytes } => match envelope::open(&bytes) {
                    Ok((header, payload)) if header.hard_deadline > now => {
                        Some(OwnedLookup::Entry {
                            meta: header.meta,
                            version: Version(cas),
                            value: Stored::Bytes(payload.to_vec()),
                        })
                    }
                    _ => None,
                },
            },
        )
    }

    /// Rewrites the envelope last read as `seen` with its claim set to
    /// `until`, if nothing changed it since: CAS makes this atomic across
    /// processes. Returns the CAS of the claimed envelope, the claim's id.
    async fn rewrite_claim(
        &self,
        key: &Key<'_>,
        seen: Option<u64>,
        now: Timestamp,
        until: Timestamp,
        claimable: impl Fn(&envelope::Header) -> bool,
    ) -> Result<Option<u64>, StoreError> {
        let routing = logical_key(key);
        let wire = WireKey::new(routing.as_bytes());
        let Item::Envelope { cas, bytes } = self.get(&routing, &wire).await? else {
            return Ok(None);
        };
        let Ok((header, _)) = envelope::open(&bytes) else {
            return Ok(None);
        };
        if seen.is_some_and(|seen| seen != cas)
            || !claimable(&header)
            || header.hard_deadline <= now
        {
            return Ok(None);
        }
        let rewritten = envelope::with_claim(&bytes, until)
            .map_err(|error| StoreError::new(StoreErrorKind::Protocol, error.to_string()))?;
        let flags = SetFlags {
            ttl: expiry(header.hard_deadline, now),
            client_flags: ENVELOPE_FLAGS,
            compare_cas: Some(cas),
            return_cas: true,
            ..SetFlags::default()
        };
        match self.set(&routing, &wire, &rewritten, flags).await? {
            Reply::Done(flags) => Ok(Some(flags.cas.unwrap_or(0))),
            Reply::Exists(_) | Reply::NotFound(_) => Ok(None),
            other => Err(unexpected(&other, "ms C (claim)")),
        }
    }

    pub(crate) async fn try_claim(
        &self,
        key: &Key<'_>,
        seen: Version,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<Option<ClaimId>, StoreError> {
        let stale_and_free = |header: &envelope::Header| {
            header.meta.soft_deadline <= now && header.meta.claimed_until <= now
        };
        let claimed = self
            .rewrite_claim(key, Some(seen.0), now, until, stale_and_free)
            .await?;
        Ok(claimed.map(ClaimId))
    }

    pub(crate) async fn release_claim(
        &self,
        key: &Key<'_>,
        claim: ClaimId,
    ) -> Result<(), StoreError> {
        let now = Clock::system().now();
        self.rewrite_claim(key, Some(claim.0), now, Timestamp::EPOCH, |_| true)
            .await
            .map(|_| ())
    }

    pub(crate) async fn write(
        &self,
        key: &Key<'_>,
        value: Stored,
        deadlines: Deadlines,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let Stored::Bytes(payload) = value else {
            return Err(StoreError::new(
                StoreErrorKind::Other,
                "memcached keeps bytes, not objects",
            ));
        };
        let sealed = envelope::seal(deadlines, &payload);
        if sealed.len() > self.max_value {
            return Err(StoreError::new(
                StoreErrorKind::TooLarge,
                format!(
                    "{} bytes is over the {} byte item limit: served, not cached",
                    sealed.len(),
                    self.max_value
                ),
            ));
        }
        let routing = logical_key(key);
        let flags = SetFlags {
            ttl: expiry(deadlines.hard, now),
            client_flags: ENVELOPE_FLAGS,
            ..SetFlags::default()
        };
        match self
            .set(&routing, &WireKey::new(routing.as_bytes()), &sealed, flags)
            .await?
        {
            Reply::Done(_) => Ok(()),
            other => Err(unexpected(&other, "ms")),
        }
    }

    pub(crate) async fn try_lease(
        &self,
        key: &Key<'_>,
        now: Timestamp,
        grace: std::time::Duration,
    ) -> Result<Option<LeaseId>, StoreError> {
        let routing = logical_key(key);
        let flags = SetFlags {
            mode: SetMode::Add,
            ttl: expiry(now.saturating_add(grace), now),
            client_flags: LEASE_FLAGS,
            return_cas: true,
            ..SetFlags::default()
        };
        match self
            .set(&routing, &WireKey::new(routing.as_bytes()), b"lease", flags)
            .await?
        {
            Reply::Done(flags) => Ok(Some(LeaseId(flags.cas.unwrap_or(0)))),
            Reply::NotStored(_) => Ok(None),
            other => Err(unexpected(&other, "ms ME (lease)")),
        }
    }

    async fn delete(&self, key: &Key<'_>, compare_cas: Option<u64>) -> Result<(), StoreError> {
        let routing = logical_key(key);
        let mut request = Vec::with_capacity(64);
        let flags = DeleteFlags {
            compare_cas,
            ..DeleteFlags::default()
        };
        encode_delete(&mut request, &WireKey::new(routing.as_bytes()), &flags);
        match self.send(&routing, &request).await? {
            Reply::Done(_) | Reply::NotFound(_) | Reply::Exists(_) => Ok(()),
            other => Err(unexpected(&other, "md")),
        }
    }

    /// Runs one store operation.
    pub(crate) async fn run(&self, op: StoreOp<'_>) -> Result<StoreReply, StoreError> {
        Ok(match op {
            StoreOp::Read { key, now } => StoreReply::Read(self.read(&key, now).await?),
            StoreOp::TryClaim {
                key,
                seen,
                now,
                until,
            } => StoreReply::Claim(self.try_claim(&key, seen, now, until).await?),
            StoreOp::ReleaseClaim { key, claim } => {
                self.release_claim(&key, claim).await?;
                StoreReply::Done
            }
            StoreOp::Write {
                key,
                value,
                deadlines,
                now,
            } => {
                self.write(&key, value, deadlines, now).await?;
                StoreReply::Done
            }
            StoreOp::Remove { key } => {
                self.delete(&key, None).await?;
                StoreReply::Done
            }
            StoreOp::TryLease { key, now, grace } => {
                StoreReply::Lease(self.try_lease(&key, now, grace).await?)
            }
            // Only the holder's own lease item (its CAS) is deleted.
            StoreOp::ReleaseLease { key, lease } => {
                self.delete(&key, Some(lease.0)).await?;
                StoreReply::Done
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_round_up_to_seconds_and_turn_absolute_past_thirty_days() {
        let now = Timestamp::from_millis(1_700_000_000_000);
        let after = |ms| now.saturating_add(std::time::Duration::from_millis(ms));
        assert_eq!(expiry(after(1), now), 1);
        assert_eq!(expiry(after(1_000), now), 1);
        assert_eq!(expiry(after(1_001), now), 2);
        assert_eq!(expiry(now, now), 1, "never 0, which means no expiry");
        assert_eq!(expiry(after(30 * 24 * 3600 * 1000), now), 2_592_000);
        let far = after(31 * 24 * 3600 * 1000);
        assert_eq!(expiry(far, now) as u64, far.as_millis() / 1000);
    }

    #[test]
    fn logical_keys_name_the_function() {
        let key = Key::new(crate::key::Fingerprint::from_u128(0xab), "app::report", 3);
        assert_eq!(logical_key(&key), format!("app::report:3:{:032x}", 0xab));
    }
}
