//! The store's operations in memcached meta commands, written once over
//! either transport; this file is the request plumbing they share.
//!
//! - here: [`Exchange`] (a transport: pipelined requests to one server, one
//!   reply each), [`Ops::send`] (one request) and [`Ops::send_batch`]
//!   (requests on many keys: one pipelined exchange per server, which the
//!   transport sends in windows: see `transport::windows`),
//!   [`Ops::batch_of`] (the one builder of a batch of requests on keys),
//!   [`Ops::set_request`] (the `ms` of a value), what a server's failure
//!   says about it, the keys on the wire, the TTLs memcached is given
//!   ([`expiry`], [`value_expiry`], [`lease_expiry`]) and what a reply's
//!   client flags say an item is ([`Item`]);
//! - [`judge`]: what a read's win flags decide, without I/O;
//! - [`native`]: the one claim and lease scheme, decided by memcached in
//!   the request that reads (`mg ... N` leases, `mg ... R` claims), for a
//!   single key and for batches alike: a single key's operation is its
//!   batch operation on one key;
//! - [`values`]: the operations outside that scheme (writes without a
//!   hold, add, mark stale, count, remove).
//!
//! Each file uses only the ones listed before it.

mod judge;
mod native;
mod values;

use std::time::Duration;

use super::codec::{encode_noop, encode_set, RemainingTtl, Reply, SetFlags, SetMode, WireKey};
use super::ring::Ring;
use super::transport::{Failure, Reuse};
use crate::clock::{Clock, Timestamp};
use crate::envelope;
use crate::error::{StoreError, StoreErrorKind};
use crate::key::Key;
use crate::policy::{Deadlines, EntryMeta};
use crate::store::{Found, Stored, Version, RAW_META};

/// Client flags of an antidogpile envelope ("AD", kind 1).
pub(crate) const ENVELOPE_FLAGS: u32 = 0x4144_0001;

/// Client flags of a cold-miss lease ("AD", kind 2).
pub(crate) const LEASE_FLAGS: u32 = 0x4144_0002;

/// Client flags of a raw value (a hard set): none, as plain clients write.
pub(crate) const RAW_FLAGS: u32 = 0;

/// memcached reads a TTL above 30 days as a Unix time.
const LONGEST_RELATIVE_TTL: u64 = 30 * 24 * 3600;

/// Requests and their replies, on one server: `requests` pipelined, one
/// reply each, in order (fewer only after an error line).
pub(crate) trait Exchange {
    async fn exchange(
        &self,
        server: usize,
        requests: &[&[u8]],
        reuse: Reuse,
    ) -> Result<Vec<Reply>, Failure>;
}

impl<T: Exchange> Exchange for &T {
    async fn exchange(
        &self,
        server: usize,
        requests: &[&[u8]],
        reuse: Reuse,
    ) -> Result<Vec<Reply>, Failure> {
        (**self).exchange(server, requests, reuse).await
    }
}

/// The operations over a transport.
pub(crate) struct Ops<'s, T> {
    pub(crate) transport: T,
    pub(crate) ring: &'s Ring,
    pub(crate) max_value: usize,
}

/// A store key on the wire: readable namespace, version and fingerprint
/// (the codec makes any bytes safe and hashes what is too long).
///
/// `namespace:version:fingerprint`, the fingerprint as 32 lowercase hex
/// digits, written by hand: it is built for every key of every read and
/// write, and the formatting machinery cost more than the copying.
pub(crate) fn logical_key(key: &Key) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let namespace = key.namespace();
    let mut version = [0u8; 20];
    let mut at = version.len();
    let mut n = key.version();
    loop {
        at -= 1;
        version[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let mut text = Vec::with_capacity(namespace.len() + 2 + (version.len() - at) + 32);
    text.extend_from_slice(namespace.as_bytes());
    text.push(b':');
    text.extend_from_slice(&version[at..]);
    text.push(b':');
    let fingerprint = key.fingerprint().as_u128();
    text.extend(
        (0..32)
            .rev()
            .map(|digit| HEX[((fingerprint >> (digit * 4)) & 0xf) as usize]),
    );
    // Only ASCII was added to a `str`.
    String::from_utf8(text).unwrap_or_default()
}

/// The latest Unix time memcached keeps an item until: it reads an expiry
/// as a signed 32-bit number, so one past 2038-01-19 03:14:07 UTC would be
/// negative, that is already expired.
const LATEST_UNIX_EXPIRY: u64 = i32::MAX as u64;

/// memcached's TTL for an item that must live until `deadline`: whole
/// seconds rounded up, at least 1; past 30 days, the deadline as a Unix
/// time, at most [`LATEST_UNIX_EXPIRY`] (a later deadline is kept until
/// then: the envelope's own deadlines still say when the value is stale).
pub(crate) fn expiry(deadline: Timestamp, now: Timestamp) -> u32 {
    if deadline == Timestamp::MAX {
        return 0; // no expiry
    }
    let seconds = (now.until(deadline).as_millis() as u64)
        .div_ceil(1000)
        .max(1);
    if seconds <= LONGEST_RELATIVE_TTL {
        seconds as u32
    } else {
        deadline.as_millis().div_ceil(1000).min(LATEST_UNIX_EXPIRY) as u32
    }
}

/// The recache token for values kept `keep_stale` after their soft
/// deadline: whole seconds, rounded up; none for values never stale.
pub(crate) fn recache_token(keep_stale: Duration) -> Option<u32> {
    if keep_stale.is_zero() {
        return None;
    }
    let seconds = keep_stale.as_millis().div_ceil(1000).max(1);
    Some(seconds.min(u128::from(LONGEST_RELATIVE_TTL)) as u32)
}

/// Whole seconds from `now` to `deadline`, rounded up (0 if it passed).
fn seconds_until(now: Timestamp, deadline: Timestamp) -> u64 {
    (now.until(deadline).as_millis() as u64).div_ceil(1000)
}

/// The TTL of an item whose recache win must not be handed out before
/// `not_before`, for values kept `keep_stale` after it, and which must live
/// until `hard`: the win comes when the remaining TTL drops below the
/// token, between `not_before` and [`TOKEN_LAG`](judge::TOKEN_LAG) after it.
pub(crate) fn aligned_expiry(
    not_before: Timestamp,
    hard: Timestamp,
    keep_stale: Duration,
    now: Timestamp,
) -> u32 {
    let Some(token) = recache_token(keep_stale) else {
        return expiry(hard, now);
    };
    if hard == Timestamp::MAX {
        return 0;
    }
    let seconds = seconds_until(now, not_before).saturating_add(u64::from(token));
    let aligned = now.saturating_add(Duration::from_secs(seconds));
    expiry(aligned.max(hard), now)
}

/// The TTL of a value written at `now` with `deadlines`.
pub(crate) fn value_expiry(deadlines: Deadlines, now: Timestamp) -> u32 {
    let keep_stale = deadlines.soft.until(deadlines.hard);
    aligned_expiry(deadlines.soft, deadlines.hard, keep_stale, now)
}

/// The TTL of a lease stub held for `window`: whole seconds rounded up,
/// plus one, because an item lives between its TTL less one second and
/// its TTL.
pub(crate) fn lease_expiry(window: Duration) -> u32 {
    let seconds = window.as_millis().div_ceil(1000).max(1) + 1;
    seconds.min(u128::from(LONGEST_RELATIVE_TTL)) as u32
}

/// A remaining TTL to give an item again (at least a second).
fn remaining_ttl(remaining: Option<RemainingTtl>) -> Option<u32> {
    match remaining {
        Some(RemainingTtl::Seconds(left)) if u64::from(left) > LONGEST_RELATIVE_TTL => {
            // memcached reads a TTL this long as a Unix time.
            let now = crate::clock::Clock::system().now();
            Some(expiry(
                now.saturating_add(Duration::from_secs(u64::from(left))),
                now,
            ))
        }
        Some(RemainingTtl::Seconds(left)) => Some(left.max(1)),
        _ => None,
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
    /// A lease: a stub `mg ... N` created (client flags 0, no value; with
    /// `vivified`), or one its holder renewed (or an older release wrote).
    Lease {
        cas: u64,
        vivified: bool,
    },
    Envelope {
        cas: u64,
        bytes: Vec<u8>,
    },
    Raw {
        cas: u64,
        bytes: Vec<u8>,
    },
    /// Something this version cannot read (another client's value, another
    /// envelope format): read as a miss, and overwritten.
    Foreign {
        cas: u64,
    },
}

/// What a reply to a `mg ... v f c` found.
fn item_of(reply: Reply) -> Result<Item, StoreError> {
    match reply {
        Reply::Miss(_) => Ok(Item::Missing),
        Reply::Value { flags, data } => {
            let cas = flags.cas.unwrap_or(0);
            Ok(match flags.client_flags {
                Some(LEASE_FLAGS) => Item::Lease {
                    cas,
                    vivified: false,
                },
                // A vivified stub: empty, client flags 0, and its win
                // handed out (a raw empty value never was, unless a
                // recache token took it: it then reads as leased).
                Some(RAW_FLAGS) if data.is_empty() && (flags.win || flags.win_taken) => {
                    Item::Lease {
                        cas,
                        vivified: true,
                    }
                }
                Some(ENVELOPE_FLAGS) if envelope::open(&data).is_ok() => {
                    Item::Envelope { cas, bytes: data }
                }
                Some(RAW_FLAGS) => Item::Raw { cas, bytes: data },
                _ => Item::Foreign { cas },
            })
        }
        other => Err(unexpected(&other, "mg")),
    }
}

/// An item as the cache reads it.
fn lookup_of(item: Item, now: Timestamp) -> Option<Found> {
    match item {
        Item::Missing => None,
        Item::Lease { .. } => Some(Found::Leased),
        Item::Foreign { cas } => Some(Found::Entry {
            meta: EntryMeta {
                soft_deadline: Timestamp::EPOCH,
                claimed_until: Timestamp::EPOCH,
            },
            version: Version(cas),
            // No payload decodes from nothing: the cache recomputes and overwrites.
            value: Stored::Bytes(Vec::new()),
        }),
        Item::Raw { cas, bytes } => Some(Found::Entry {
            meta: RAW_META,
            version: Version(cas),
            value: Stored::Raw(bytes),
        }),
        Item::Envelope { cas, mut bytes } => match envelope::open(&bytes) {
            Ok((header, payload)) if header.hard_deadline > now => {
                // The payload is the reply's own bytes, its header cut off
                // in place: no second copy of every value read.
                let header_len = bytes.len() - payload.len();
                bytes.drain(..header_len);
                Some(Found::Entry {
                    meta: header.meta,
                    version: Version(cas),
                    value: Stored::Bytes(bytes),
                })
            }
            _ => None,
        },
    }
}

fn all_down() -> StoreError {
    StoreError::new(
        StoreErrorKind::Unavailable,
        "every memcached server is down",
    )
}

/// A batch's answers, one per key; or the first failure, if every key
/// failed (an empty batch answers empty).
#[allow(clippy::type_complexity)]
pub(crate) fn unless_all_failed<T>(
    answers: Vec<Result<T, StoreError>>,
) -> Result<Vec<Result<T, StoreError>>, StoreError> {
    if answers.iter().any(Result::is_ok) {
        return Ok(answers);
    }
    match answers.into_iter().next() {
        Some(Err(error)) => Err(error),
        _ => Ok(Vec::new()),
    }
}

/// The answer of a batch of one: a single key's operation is its batch
/// operation on one key.
pub(crate) fn only<T>(
    answers: Result<Vec<Result<T, StoreError>>, StoreError>,
) -> Result<T, StoreError> {
    answers?.into_iter().next().unwrap_or_else(|| {
        Err(StoreError::new(
            StoreErrorKind::Protocol,
            "a batch of one key got no answer",
        ))
    })
}

impl<T: Exchange> Ops<'_, T> {
    /// Sends `request` to the server of `routing` and reads its reply.
    async fn send(&self, routing: &str, request: &[u8]) -> Result<Reply, StoreError> {
        // Server health is real time, whatever clock the cache reads.
        let now = Clock::system().now().as_millis();
        let server = self
            .ring
            .server_for_live(routing.as_bytes(), now)
            .ok_or_else(all_down)?;
        let replies = self.on_server(server, &[request], now).await?;
        replies
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::new(StoreErrorKind::Protocol, "memcached sent no reply"))
    }

    /// Sends `requests`, pipelined, to the server of `routing` and reads
    /// their replies.
    async fn send_all(&self, routing: &str, requests: &[&[u8]]) -> Result<Vec<Reply>, StoreError> {
        let now = Clock::system().now().as_millis();
        let server = self
            .ring
            .server_for_live(routing.as_bytes(), now)
            .ok_or_else(all_down)?;
        self.on_server(server, requests, now).await
    }

    /// Sends `requests` to `server`, and decides what a failure says
    /// about the server. A pooled connection that was closed while idle is
    /// retried once on a new one and says nothing. The server is marked down
    /// (skipped for `retry_after`) only when it cannot be connected to, when
    /// a new connection fails, or when a timeout is confirmed: a timed-out
    /// batch may be slow work, not a dead server, so a no-op on a new
    /// connection decides (a slow batch of one caller must not take the
    /// server away from every other caller); a single request timed out on
    /// a pooled connection says nothing yet, and the next call's new
    /// connection decides, so that a caller pays one timeout, not two.
    async fn on_server(
        &self,
        server: usize,
        requests: &[&[u8]],
        now: u64,
    ) -> Result<Vec<Reply>, StoreError> {
        let mut attempt = self
            .transport
            .exchange(server, requests, Reuse::Pooled)
            .await;
        if let Err(Failure::Stale(_)) = attempt {
            attempt = self
                .transport
                .exchange(server, requests, Reuse::Fresh)
                .await;
        }
        let failure = match attempt {
            Ok(replies) => return Ok(replies),
            Err(failure) => failure,
        };
        let down = match &failure {
            Failure::Connect(_) => true,
            Failure::Stale(error) | Failure::Exchange { error, .. }
                if !matches!(
                    error.kind(),
                    StoreErrorKind::Unavailable | StoreErrorKind::Timeout
                ) =>
            {
                false
            }
            Failure::Exchange { error, fresh: true }
                if error.kind() == StoreErrorKind::Unavailable || requests.len() == 1 =>
            {
                true
            }
            // One request timed out on a pooled connection: the next call's
            // new connection decides (the rule above), rather than a no-op
            // that would cost this caller a second timeout.
            Failure::Exchange { fresh: false, .. } if requests.len() == 1 => false,
            Failure::Stale(_) | Failure::Exchange { .. } => !self.answers_a_no_op(server).await,
        };
        if down {
            // From now, not from when the request started: a failure after a
            // long batch keeps the server out for the whole `retry_after`.
            self.ring
                .mark_down(server, now.max(Clock::system().now().as_millis()));
        }
        Err(failure.into_error())
    }

    /// Whether `server` answers `mn` on a new connection within the timeout.
    async fn answers_a_no_op(&self, server: usize) -> bool {
        let mut request = Vec::with_capacity(4);
        encode_noop(&mut request);
        matches!(
            self.transport
                .exchange(server, &[&request], Reuse::Fresh)
                .await
                .as_deref(),
            Ok([Reply::NoOp])
        )
    }

    /// One request per item, `(routing, request)` as [`send_batch`](Ops::send_batch)
    /// takes them, each written by `encode` for the item and its key (`key`)
    /// as it goes on the wire: the one builder of every batch of requests
    /// on keys without a value to upload.
    pub(crate) fn batch_of<I>(
        items: &[I],
        key: impl Fn(&I) -> &Key,
        encode: impl Fn(&mut Vec<u8>, &WireKey, &I),
    ) -> Vec<(String, Vec<u8>)> {
        items
            .iter()
            .map(|item| {
                let routing = logical_key(key(item));
                let mut request = Vec::with_capacity(64);
                encode(&mut request, &WireKey::new(routing.as_bytes()), item);
                (routing, request)
            })
            .collect()
    }

    /// Sends each `(routing, request)` to its server, pipelined: one
    /// exchange per server. Replies (or each one's failure) in order.
    async fn send_batch(&self, batch: &[(String, Vec<u8>)]) -> Vec<Result<Reply, StoreError>> {
        let now = Clock::system().now().as_millis();
        let mut by_server: Vec<(usize, Vec<usize>)> = Vec::new();
        let mut results: Vec<Option<Result<Reply, StoreError>>> = Vec::new();
        results.resize_with(batch.len(), || None);
        for (index, (routing, _)) in batch.iter().enumerate() {
            match self.ring.server_for_live(routing.as_bytes(), now) {
                None => results[index] = Some(Err(all_down())),
                Some(server) => match by_server.iter_mut().find(|(s, _)| *s == server) {
                    Some((_, indices)) => indices.push(index),
                    None => by_server.push((server, vec![index])),
                },
            }
        }
        for (server, indices) in by_server {
            let requests: Vec<&[u8]> = indices
                .iter()
                .map(|&index| batch[index].1.as_slice())
                .collect();
            match self.on_server(server, &requests, now).await {
                Ok(replies) => {
                    let mut replies = replies.into_iter();
                    for &index in &indices {
                        results[index] = Some(replies.next().ok_or_else(|| {
                            StoreError::new(
                                StoreErrorKind::Protocol,
                                "memcached stopped answering a pipeline after an error",
                            )
                        }));
                    }
                }
                Err(error) => {
                    for &index in &indices {
                        results[index] = Some(Err(error.clone()));
                    }
                }
            }
        }
        results
            .into_iter()
            .map(|result| result.unwrap_or_else(|| Err(all_down())))
            .collect()
    }

    /// The `ms` of `value`: an envelope, or raw bytes with flags 0.
    fn set_request(
        &self,
        key: &Key,
        value: Stored,
        deadlines: Deadlines,
        now: Timestamp,
        mode: SetMode,
        compare_cas: Option<u64>,
    ) -> Result<(String, Vec<u8>), StoreError> {
        let (data, client_flags) = match value {
            Stored::Bytes(payload) => (envelope::seal(deadlines, &payload), ENVELOPE_FLAGS),
            Stored::Raw(bytes) => (bytes, RAW_FLAGS),
            Stored::Object(_) => {
                return Err(StoreError::new(
                    StoreErrorKind::Other,
                    "memcached keeps bytes, not objects",
                ))
            }
        };
        if data.len() > self.max_value {
            return Err(StoreError::new(
                StoreErrorKind::TooLarge,
                format!(
                    "{} bytes is over the {} byte item limit: served, not cached",
                    data.len(),
                    self.max_value
                ),
            ));
        }
        let routing = logical_key(key);
        let ttl = match client_flags {
            // The recache win is handed out at the soft deadline.
            ENVELOPE_FLAGS => value_expiry(deadlines, now),
            _ => expiry(deadlines.hard, now),
        };
        let flags = SetFlags {
            mode,
            ttl,
            client_flags,
            compare_cas,
            ..SetFlags::default()
        };
        let mut request = Vec::with_capacity(64 + data.len());
        encode_set(
            &mut request,
            &WireKey::new(routing.as_bytes()),
            &data,
            &flags,
        );
        Ok((routing, request))
    }

    /// Asks every server for a no-op (`mn`), even one marked down (a
    /// server that answers is marked up again); names every server that
    /// does not answer.
    pub(crate) async fn ping(&self) -> Result<(), StoreError> {
        let mut request = Vec::with_capacity(4);
        encode_noop(&mut request);
        let mut failures = Vec::new();
        let mut kind = StoreErrorKind::Unavailable;
        for server in 0..self.ring.len() {
            let now = Clock::system().now().as_millis();
            let label = self.ring.label(server).unwrap_or("?");
            match self.on_server(server, &[&request], now).await.as_deref() {
                Ok([Reply::NoOp]) => self.ring.mark_up(server),
                Ok(other) => {
                    kind = StoreErrorKind::Protocol;
                    failures.push(format!("{label}: unexpected reply {other:?}"));
                }
                Err(error) => {
                    if error.kind() != StoreErrorKind::Unavailable {
                        kind = error.kind();
                    }
                    failures.push(format!("{label}: {error}"));
                }
            }
        }
        if failures.is_empty() {
            return Ok(());
        }
        Err(StoreError::new(
            kind,
            format!(
                "{} of {} memcached server(s) did not answer a no-op: {}",
                failures.len(),
                self.ring.len(),
                failures.join("; ")
            ),
        ))
    }
}

#[cfg(test)]
#[cfg(test)]
mod tests {
    use super::judge::tests::{at, NOW};
    use super::*;
    use crate::store::memcached::codec::ReturnFlags;

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
        // Past 2038-01-19, the last second memcached can keep.
        let past_2038 = Timestamp::from_millis((1u64 << 31) * 1000);
        assert_eq!(expiry(past_2038, now), i32::MAX as u32);
        assert_eq!(
            expiry(Timestamp::from_millis(u64::MAX - 1), now),
            i32::MAX as u32
        );
    }

    #[test]
    fn an_envelope_of_the_previous_format_is_a_miss_to_overwrite() {
        let deadlines = Deadlines {
            soft: Timestamp::from_millis(1_000),
            hard: Timestamp::from_millis(8_000),
        };
        let reply = Reply::Value {
            flags: ReturnFlags {
                client_flags: Some(ENVELOPE_FLAGS),
                cas: Some(9),
                ..ReturnFlags::default()
            },
            data: envelope::previous_release(deadlines, &(1999u64, 400u64)),
        };
        let found = lookup_of(item_of(reply).unwrap(), Timestamp::from_millis(500));
        // An entry (its CAS lets the write replace it) whose value decodes
        // as nothing: the cache recomputes and overwrites.
        let Some(Found::Entry { version, value, .. }) = found else {
            panic!("{found:?}");
        };
        assert_eq!(version, Version(9));
        let Stored::Bytes(payload) = value else {
            panic!("{value:?}");
        };
        assert_eq!(envelope::decode_payload::<(u64, u64)>(&payload), None);
    }

    #[test]
    fn logical_keys_are_written_as_the_format_has_them() {
        let namespaces = ["app::report", "", "é::ünïcode", "a b:c"];
        let versions = [0, 1, 9, 10, 4_294_967_295];
        let fingerprints = [
            0,
            1,
            0xab,
            u128::MAX,
            0x0123_4567_89ab_cdef_fedc_ba98_7654_3210,
        ];
        for namespace in namespaces {
            for version in versions {
                for fingerprint in fingerprints {
                    let key = Key::new(
                        crate::key::Fingerprint::from_u128(fingerprint),
                        namespace,
                        version,
                    );
                    assert_eq!(
                        logical_key(&key),
                        format!("{namespace}:{version}:{fingerprint:032x}")
                    );
                }
            }
        }
    }

    #[test]
    fn logical_keys_name_the_function() {
        let key = Key::new(crate::key::Fingerprint::from_u128(0xab), "app::report", 3);
        assert_eq!(logical_key(&key), format!("app::report:3:{:032x}", 0xab));
    }

    #[test]
    fn values_are_kept_past_hard_with_their_win_due_at_the_soft_deadline() {
        let deadlines = Deadlines {
            soft: at(10),
            hard: at(80),
        };
        // 10 s fresh + the 70 s token: the win comes once 70 s are left.
        assert_eq!(value_expiry(deadlines, NOW), 80);
        let rounded = Deadlines {
            soft: NOW.saturating_add(Duration::from_millis(1_500)),
            hard: NOW.saturating_add(Duration::from_millis(3_500)),
        };
        assert_eq!(
            value_expiry(rounded, NOW),
            4,
            "2 s rounded up + a 2 s token"
        );
        // Never stale: no token, the hard deadline only.
        let never_stale = Deadlines {
            soft: at(10),
            hard: at(10),
        };
        assert_eq!(value_expiry(never_stale, NOW), 10);
        assert_eq!(recache_token(Duration::ZERO), None);
        assert_eq!(recache_token(Duration::from_millis(1)), Some(1));
    }
}
