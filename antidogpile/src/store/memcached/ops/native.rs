//! Claims and leases decided by memcached itself, in the request that reads.
//!
//! memcached's meta protocol hands one reader of an item its *win* (`W`),
//! and every later reader sees it taken (`Z`), until the item is written
//! again:
//!
//! - `mg ... N<ttl>` on a miss creates an empty stub (client flags 0) with
//!   that TTL and wins it: the **cold-miss lease**, its CAS the lease's id.
//!   The holder fills it with `ms ... C<stub cas>`; if it dies, the stub
//!   expires (its TTL is the liveness window, renewed while it computes)
//!   and the next `mg N` wins a new one.
//! - `mg ... R<token>` wins an item whose remaining TTL is below the token:
//!   the **refresh claim**. Values are written with a TTL of (soft timeout,
//!   in whole seconds rounded up) + token, the token being the function's
//!   `hard - soft`, so that the win is handed out between the soft deadline
//!   and [`TOKEN_LAG`] after it (memcached counts whole seconds). A claim
//!   recorded in the envelope (the holder's renewals, `ms ... C<cas>`) is
//!   written with a TTL that keeps the win from being handed out until the
//!   claim ends.
//! - `md ... I T<ttl>` marks an item stale (`X`), bumps its CAS (so a write
//!   held by an older CAS is refused) and hands its win out again: the
//!   **soft invalidation**, and the release of a claim (`C<claim>`), with
//!   [`INVALIDATED_TTL`] so that readers can tell how long ago it was.
//!
//! A win is never taken back by the server, so a winner that dies before
//! it recorded its claim must still be replaced. A stale value's win is
//! dated by the value's own soft deadline, to the millisecond: a winner
//! holds it without recording it only if it won within
//! [`ON_TIME_AFTER_SOFT`] of that deadline (by its clock), else it records
//! its claim at once; so a reader that finds the win taken and no claim
//! recorded takes it over by CAS once the soft deadline plus
//! [`ON_TIME_AFTER_SOFT`] plus a claim's window has passed: the winner's
//! claim has ended by then, and a live winner would have renewed it, and
//! so recorded it. An invalidated item's win is dated by memcached's whole
//! seconds only (its remaining TTL), with their margins. A reader that
//! finds a stale value and no win handed out yet (memcached hands it out up
//! to [`TOKEN_LAG`] after the soft deadline) asks for it with a second read.
//!
//! Any `mg` of an invalidated item whose win is free takes it: a read that
//! must take nothing ([`ReadFor::Peek`]) gives a win it took back at once.

use std::time::Duration;

use super::{
    expiry, logical_key, only, unexpected, unless_all_failed, Exchange, Item, Ops, ENVELOPE_FLAGS,
    LEASE_FLAGS, LONGEST_RELATIVE_TTL, RAW_FLAGS,
};
use crate::clock::Timestamp;
use crate::envelope;
use crate::error::{StoreError, StoreErrorKind};
use crate::key::Key;
use crate::policy::{Deadlines, EntryMeta};
use crate::store::memcached::codec::{
    encode_delete, encode_get, encode_set, DeleteFlags, GetFlags, RemainingTtl, Reply, ReturnFlags,
    SetFlags, SetMode, WireKey,
};
use crate::store::{ClaimId, Found, Hold, LeaseId, ReadFor, Renew, Stored, Version, Write};

/// How long after the soft deadline (or the end of a recorded claim)
/// memcached may first hand out the recache win: its TTLs are whole
/// seconds, and its clock ticks once a second, at a phase of its own.
pub(crate) const TOKEN_LAG: Duration = Duration::from_secs(2);

/// How soon after a stale value's soft deadline its winner may take the
/// win and hold it without recording it (see [`judge`]): enough for the
/// first caller after the deadline, not so much that a dead winner's claim
/// outlasts its window by more than this.
const ON_TIME_AFTER_SOFT: Duration = Duration::from_secs(1);

/// How soon after an invalidation handed its win out (in memcached's whole
/// seconds) its winner may take it and hold it without recording it.
const ON_TIME_AFTER_INVALIDATION: Duration = Duration::from_secs(2);

/// The shortest claim a winner of an invalidated item holds without
/// recording it: the cache's default liveness window (renewed, and so
/// recorded, after a third of it).
const SHORTEST_UNRECORDED: Duration = Duration::from_secs(3);

/// The TTL an invalidation gives its item, in seconds: a reader reads how
/// long ago the item was invalidated off its remaining TTL. The envelope's
/// own hard deadline still says until when the value is served.
pub(crate) const INVALIDATED_TTL: u32 = 86_400;

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
/// token, between `not_before` and [`TOKEN_LAG`] after it.
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

/// What a `mg ... v f c t` or `mg ... f c t s` found: the item, and the
/// win flags memcached answered with.
pub(crate) struct Seen {
    pub(crate) item: Item,
    /// `W`: this read took the item's win.
    won: bool,
    /// `Z`: an earlier read took it.
    taken: bool,
    /// `X`: invalidated since it was written.
    invalidated: bool,
    remaining: Option<RemainingTtl>,
}

impl Seen {
    /// What `reply` to a read built for `asked` ([`read_request`]) found.
    /// A reply memcached cannot give to that read is a protocol error, so
    /// that its caller computes: never read as another process's lease or
    /// claim, which its caller would wait for. Such are a miss to a read
    /// that asked for a stub (`N`: memcached makes one, or answers so when
    /// it has no memory for one), a value without the CAS or the TTL every
    /// read asks for, a win both taken and not, and a lease item that never
    /// expires (every lease this library writes has a TTL that ends it).
    pub(crate) fn of(reply: Reply, asked: ReadFor) -> Result<Seen, StoreError> {
        let flags = match &reply {
            Reply::Value { flags, .. }
                if flags.cas.is_none()
                    || flags.ttl.is_none()
                    || (flags.win && flags.win_taken)
                    || (flags.client_flags == Some(LEASE_FLAGS)
                        && flags.ttl == Some(RemainingTtl::Unlimited)) =>
            {
                return Err(unexpected(&reply, "mg ... c t (a read)"));
            }
            Reply::Miss(_) if matches!(asked, ReadFor::Use { .. }) => {
                return Err(unexpected(&reply, "mg ... N (a read that makes a stub)"));
            }
            Reply::Value { flags, .. } | Reply::Miss(flags) => flags.clone(),
            _ => ReturnFlags::default(),
        };
        Ok(Seen {
            item: super::item_of(reply)?,
            won: flags.win,
            taken: flags.win_taken,
            invalidated: flags.stale,
            remaining: flags.ttl,
        })
    }

    /// What this read saw, but the value.
    fn glance(&self) -> Glance {
        Glance {
            envelope: match self.item {
                Item::Envelope { cas, .. } => Some(cas),
                _ => None,
            },
            cas: item_cas(&self.item),
            won: self.won,
            invalidated: self.invalidated,
            remaining: self.remaining,
        }
    }

    /// How long ago the item was invalidated (`X`), read off its remaining
    /// TTL; an item invalidated by another client without a TTL counts as
    /// long ago.
    fn invalidated_for(&self) -> Duration {
        match self.remaining {
            Some(RemainingTtl::Seconds(left)) => {
                Duration::from_secs(u64::from(INVALIDATED_TTL.saturating_sub(left)))
            }
            Some(RemainingTtl::Unlimited) | None => Duration::MAX,
        }
    }

    /// How long ago the remaining TTL dropped below `token` (when memcached
    /// began to hand the win out); `None` if it has not (or never expires).
    fn fired_for(&self, token: u32) -> Option<Duration> {
        match self.remaining {
            Some(RemainingTtl::Seconds(left)) if left < token => {
                Some(Duration::from_secs(u64::from(token - left - 1)))
            }
            _ => None,
        }
    }
}

/// The `mg` of a read for `purpose`.
pub(crate) fn read_request(wire: &WireKey, purpose: ReadFor) -> Vec<u8> {
    read_request_with(wire, purpose, None)
}

/// The `mg` of a read for `purpose`, with `token` as its recache token if
/// given.
fn read_request_with(wire: &WireKey, purpose: ReadFor, token: Option<u32>) -> Vec<u8> {
    let mut flags = GetFlags {
        value: true,
        client_flags: true,
        cas: true,
        ttl: true,
        ..GetFlags::default()
    };
    if let ReadFor::Use {
        lease_for,
        keep_stale,
        ..
    } = purpose
    {
        flags.vivify = Some(lease_expiry(lease_for));
        flags.recache = token.or(recache_token(keep_stale));
    }
    let mut request = Vec::with_capacity(96);
    encode_get(&mut request, wire, &flags);
    request
}

/// The TTL of a lease stub held for `window`: whole seconds rounded up,
/// plus one, because an item lives between its TTL less one second and
/// its TTL.
pub(crate) fn lease_expiry(window: Duration) -> u32 {
    let seconds = window.as_millis().div_ceil(1000).max(1) + 1;
    seconds.min(u128::from(LONGEST_RELATIVE_TTL)) as u32
}

/// What to do about what a read found.
enum Verdict {
    /// Hand this to the reader: nothing more to send.
    Done(Option<Found>, Option<Hold>),
    /// Claim the stale envelope by CAS: rewrite it with its claim (and,
    /// if it was invalidated, stale in its own header).
    ClaimByCas {
        cas: u64,
        bytes: Vec<u8>,
        invalidated: bool,
        meta: EntryMeta,
        keep_stale: Duration,
    },
    /// Replace a dead item (a stub or an expired envelope) by a lease stub,
    /// by CAS.
    LeaseByCas { cas: u64 },
    /// A read took the win of a fresh value: give it back by writing the
    /// value again as it is (with its remaining TTL), then hand `lookup`.
    Unwin {
        cas: u64,
        ttl: Option<u32>,
        bytes: Vec<u8>,
        lookup: Option<Found>,
    },
    /// Read again with `R<token>`, a token above the remaining TTL: the
    /// win, if nobody took it meanwhile (atomic, as every win is); if it
    /// cannot be had, hand `waiting` over.
    ForceWin { token: u32, waiting: Option<Found> },
    /// A read that must take nothing took an invalidated item's win: give
    /// it back (invalidate it again, with the TTL it had), then hand this.
    GiveBack {
        cas: u64,
        ttl: Option<u32>,
        lookup: Option<Found>,
    },
}

/// An entry as the cache reads it.
fn entry(meta: EntryMeta, cas: u64, payload: &[u8]) -> Found {
    Found::Entry {
        meta,
        version: Version(cas),
        value: Stored::Bytes(payload.to_vec()),
    }
}

/// Decides what a read for `purpose` found at `now` gives its reader.
///
/// A win is *on time* when it was taken within [`ON_TIME_AFTER_SOFT`] of a
/// stale value's soft deadline, or within [`ON_TIME_AFTER_INVALIDATION`]
/// of an invalidation: its winner holds the claim without recording it (its
/// first renewal records it). A win taken later is recorded at once (one
/// `ms ... C<cas>`; nobody else can win it meanwhile). So a reader that
/// finds the win taken and no claim recorded knows when the winner took it,
/// at the latest, and takes over once that winner's claim has ended (a
/// live winner would have recorded it by then).
fn judge(mut found: Seen, now: Timestamp, purpose: ReadFor) -> Verdict {
    let (claim_until, lease_for, keep_stale) = match purpose {
        ReadFor::Peek => {
            let (won, remaining, cas) = (found.won, found.remaining, item_cas(&found.item));
            // A lease stub invalidated, and not leased since: no lease.
            let ended = won && found.invalidated && matches!(found.item, Item::Lease { .. });
            let lookup = if ended { None } else { peek_lookup(found, now) };
            let Some(cas) = cas.filter(|_| won) else {
                return Verdict::Done(lookup, None);
            };
            let ttl = remaining_ttl(remaining);
            return Verdict::GiveBack { cas, ttl, lookup };
        }
        ReadFor::Use {
            claim_until,
            lease_for,
            keep_stale,
        } => (claim_until, lease_for, keep_stale),
    };
    let token = recache_token(keep_stale);
    // How long a claim lasts, as this reader takes them.
    let window = now.until(claim_until).max(lease_for);
    // How long ago the win could first be handed out, in memcached's whole
    // seconds, if known: what dates the win of an invalidated item (or of
    // a dead one); a stale value's is dated by its soft deadline instead.
    let winnable_for = if found.invalidated {
        Some(found.invalidated_for())
    } else {
        token.and_then(|token| found.fired_for(token))
    };
    // A claim shorter than memcached's whole seconds can time is recorded
    // at once: its end must be known to the second.
    let long_enough = now.until(claim_until) >= SHORTEST_UNRECORDED;
    let on_time = long_enough && winnable_for.is_some_and(|ago| ago <= ON_TIME_AFTER_INVALIDATION);
    // A winner took the win by `ON_TIME_AFTER_INVALIDATION` after it could,
    // and records its claim at its first renewal (a third of its window):
    // past this, with no claim recorded, it is dead.
    let patience = window + ON_TIME_AFTER_INVALIDATION + TOKEN_LAG;
    let abandoned = winnable_for.is_some_and(|ago| ago > patience);
    let item = std::mem::replace(&mut found.item, Item::Missing);
    match item {
        Item::Missing => Verdict::Done(None, None),
        Item::Lease { cas, vivified } => {
            if found.won && (vivified || found.invalidated) {
                return Verdict::Done(None, Some(Hold::Lease(LeaseId(cas))));
            }
            if found.invalidated && found.taken && abandoned {
                return Verdict::LeaseByCas { cas };
            }
            Verdict::Done(Some(Found::Leased), None)
        }
        item @ (Item::Raw { .. } | Item::Foreign { .. }) => {
            Verdict::Done(super::lookup_of(item, now), None)
        }
        Item::Envelope { cas, bytes } => {
            let Ok((header, payload)) = envelope::open(&bytes) else {
                // (`item_of` reads these as foreign.) Overwritten, not waited for.
                return Verdict::Done(super::lookup_of(Item::Foreign { cas }, now), None);
            };
            let recorded_claim = !found.invalidated && header.meta.claimed_until > now;
            if header.hard_deadline <= now {
                // Nothing to serve: whoever wins it fills it, replacing it
                // at once by a lease stub (a stub's TTL ends a dead lease).
                if recorded_claim {
                    return Verdict::Done(Some(Found::Leased), None);
                }
                if found.won || (found.taken && abandoned) {
                    return Verdict::LeaseByCas { cas };
                }
                if found.taken {
                    return Verdict::Done(Some(Found::Leased), None);
                }
                return match found.remaining {
                    Some(RemainingTtl::Seconds(left)) => Verdict::ForceWin {
                        token: left.saturating_add(1),
                        waiting: Some(Found::Leased),
                    },
                    _ => Verdict::LeaseByCas { cas },
                };
            }
            if !found.invalidated && now < header.meta.soft_deadline {
                let fresh = Some(entry(header.meta, cas, payload));
                if found.won {
                    // Fresh, yet its win came (a read that asked for it at
                    // once found a value written meanwhile, or a token of
                    // another size than the writer's): given back, for the
                    // reader at its soft deadline.
                    // Written again with a TTL that hands the win out at
                    // the soft deadline for this reader's token too.
                    let keep = header
                        .meta
                        .soft_deadline
                        .until(header.hard_deadline)
                        .max(keep_stale);
                    let ttl =
                        aligned_expiry(header.meta.soft_deadline, header.hard_deadline, keep, now);
                    return Verdict::Unwin {
                        cas,
                        ttl: Some(ttl),
                        bytes: bytes.clone(),
                        lookup: fresh,
                    };
                }
                return Verdict::Done(fresh, None);
            }
            let (meta, on_time, abandoned) = if found.invalidated {
                let meta = EntryMeta {
                    soft_deadline: header.meta.soft_deadline.min(now),
                    claimed_until: Timestamp::EPOCH,
                };
                (meta, on_time, abandoned)
            } else {
                // Held without a record only if won by `ON_TIME_AFTER_SOFT`
                // after the soft deadline (a reader that knows no token,
                // the client, records always): such a claim has ended a
                // window after that, by every reader's clock, and a live
                // winner has recorded it by its first renewal.
                let on_time_until = header.meta.soft_deadline.saturating_add(ON_TIME_AFTER_SOFT);
                let on_time = token.is_some() && now <= on_time_until;
                (
                    header.meta,
                    on_time,
                    now > on_time_until.saturating_add(window),
                )
            };
            if recorded_claim {
                return Verdict::Done(Some(entry(meta, cas, payload)), None);
            }
            let by_cas = |meta| Verdict::ClaimByCas {
                cas,
                bytes: bytes.clone(),
                invalidated: found.invalidated,
                meta,
                keep_stale: header.meta.soft_deadline.until(header.hard_deadline),
            };
            if found.won {
                return if on_time {
                    Verdict::Done(
                        Some(entry(meta, cas, payload)),
                        Some(Hold::Claim(ClaimId(cas))),
                    )
                } else {
                    // A late win: recorded now (nobody else can win it).
                    by_cas(meta)
                };
            }
            // Its winner is computing: serve it stale, as if claimed, and
            // ask nothing more.
            let waiting = EntryMeta {
                claimed_until: now.saturating_add(Duration::from_secs(1)),
                ..meta
            };
            if found.taken {
                return if abandoned {
                    by_cas(meta)
                } else {
                    Verdict::Done(Some(entry(waiting, cas, payload)), None)
                };
            }
            match found.remaining {
                // Stale by the clock, and memcached (counting whole
                // seconds) has not handed the win out yet, or this reader
                // sent no token (it does not know the values' `hard -
                // soft`): take the win now (a reader without a token then
                // records its claim, as nobody can tell its win's age).
                Some(RemainingTtl::Seconds(left)) => Verdict::ForceWin {
                    token: left.saturating_add(1),
                    waiting: Some(entry(waiting, cas, payload)),
                },
                // An item that never expires: no reader is handed its win
                // but by invalidation, so a CAS claim races with none.
                _ => by_cas(meta),
            }
        }
    }
}

/// What a read that takes nothing hands over: an invalidated envelope
/// reads as stale.
fn peek_lookup(found: Seen, now: Timestamp) -> Option<Found> {
    let invalidated = found.invalidated;
    match super::lookup_of(found.item, now) {
        Some(Found::Entry {
            meta,
            version,
            value: value @ Stored::Bytes(_),
        }) if invalidated => Some(Found::Entry {
            meta: EntryMeta {
                soft_deadline: meta.soft_deadline.min(now),
                claimed_until: Timestamp::EPOCH,
            },
            version,
            value,
        }),
        other => other,
    }
}

fn item_cas(item: &Item) -> Option<u64> {
    match item {
        Item::Missing => None,
        Item::Lease { cas, .. }
        | Item::Envelope { cas, .. }
        | Item::Raw { cas, .. }
        | Item::Foreign { cas } => Some(*cas),
    }
}

/// The envelope `bytes` claimed until `until`; stale in its own header
/// from `now` if it was invalidated (a rewrite ends the `X` flag).
fn claimed_envelope(
    bytes: &[u8],
    until: Timestamp,
    invalidated: bool,
    now: Timestamp,
) -> Result<Vec<u8>, StoreError> {
    let protocol = |error: envelope::EnvelopeError| {
        StoreError::new(StoreErrorKind::Protocol, error.to_string())
    };
    let (header, _) = envelope::open(bytes).map_err(protocol)?;
    let mut claimed = envelope::with_claim(bytes, until).map_err(protocol)?;
    if invalidated && header.meta.soft_deadline > now {
        // The soft deadline is the 8 bytes after the magic and the format.
        claimed[3..11].copy_from_slice(&now.as_millis().to_le_bytes());
    }
    Ok(claimed)
}

impl<T: Exchange> Ops<'_, T> {
    /// Reads `key` for `purpose`: [`read_many`](Ops::read_many) of one
    /// (one request; a few rare cases take a second: a takeover by CAS, or
    /// a win given back).
    pub(crate) async fn read(
        &self,
        key: &Key,
        now: Timestamp,
        purpose: ReadFor,
    ) -> Result<(Option<Found>, Option<Hold>), StoreError> {
        let mut found = self
            .read_many(std::slice::from_ref(key), now, purpose)
            .await?;
        found.pop().ok_or_else(|| {
            StoreError::new(StoreErrorKind::Protocol, "a read of one key got no answer")
        })
    }

    /// Reads every key for `purpose`, one `mg` each, in one pipelined
    /// exchange per server, and returns what each found and the claim or
    /// lease its read took (see the module's notes); the second requests
    /// of a few rare cases are sent as [`settle_many`](Ops::settle_many)
    /// says. A key whose server failed reads as nothing; the first
    /// failure is returned if every key failed.
    #[allow(clippy::type_complexity)]
    pub(crate) async fn read_many(
        &self,
        keys: &[Key],
        now: Timestamp,
        purpose: ReadFor,
    ) -> Result<Vec<(Option<Found>, Option<Hold>)>, StoreError> {
        let (routings, verdicts) = self
            .read_and_judge(
                keys,
                |key| key,
                (purpose, purpose),
                now,
                |_, _, verdict| verdict,
            )
            .await;
        let settled = self.settle_many(&routings, verdicts, now, purpose).await;
        Found::of_batch(settled)
    }

    /// Reads the key of every item as a read for `asked` (one `mg` each,
    /// one pipelined exchange per server) and judges what each found as a
    /// read for `purpose`; `adapt` then turns the verdict into what the
    /// operation wants of that item (given the item and what its read
    /// saw). The routings, and the verdicts in order.
    #[allow(clippy::type_complexity)]
    async fn read_and_judge<I>(
        &self,
        items: &[I],
        key: impl Fn(&I) -> &Key,
        (asked, purpose): (ReadFor, ReadFor),
        now: Timestamp,
        adapt: impl Fn(&I, Glance, Verdict) -> Verdict,
    ) -> (Vec<String>, Vec<Result<Verdict, StoreError>>) {
        let batch = Self::batch_of(items, key, |request, wire, _| {
            *request = read_request(wire, asked);
        });
        let replies = self.send_batch(&batch).await;
        let verdicts = replies
            .into_iter()
            .zip(items)
            .map(|(reply, item)| {
                let found = Seen::of(reply?, asked)?;
                let glance = found.glance();
                Ok(adapt(item, glance, judge(found, now, purpose)))
            })
            .collect();
        let routings = batch.into_iter().map(|(routing, _)| routing).collect();
        (routings, verdicts)
    }

    /// Carries out the verdicts on the keys `routings` (in order), their
    /// second requests sent together where they are alike: the reads that
    /// ask for a win, then the claims recorded by CAS; the rare others one
    /// by one.
    #[allow(clippy::type_complexity)]
    async fn settle_many(
        &self,
        routings: &[String],
        mut verdicts: Vec<Result<Verdict, StoreError>>,
        now: Timestamp,
        purpose: ReadFor,
    ) -> Vec<Result<(Option<Found>, Option<Hold>), StoreError>> {
        // The wins memcached has not handed out yet, asked for together.
        let forced: Vec<usize> = (0..verdicts.len())
            .filter(|&index| matches!(verdicts[index], Ok(Verdict::ForceWin { .. })))
            .collect();
        if !forced.is_empty() {
            let again: Vec<(String, Vec<u8>)> = forced
                .iter()
                .map(|&index| {
                    let routing = routings[index].clone();
                    let token = match &verdicts[index] {
                        Ok(Verdict::ForceWin { token, .. }) => Some(*token),
                        _ => None,
                    };
                    let request =
                        read_request_with(&WireKey::new(routing.as_bytes()), purpose, token);
                    (routing, request)
                })
                .collect();
            for (&index, reply) in forced.iter().zip(self.send_batch(&again).await) {
                let waiting =
                    match std::mem::replace(&mut verdicts[index], Ok(Verdict::Done(None, None))) {
                        Ok(Verdict::ForceWin { waiting, .. }) => waiting,
                        _ => None,
                    };
                verdicts[index] = reply
                    .and_then(|reply| Seen::of(reply, purpose))
                    .map(|found| match judge(found, now, purpose) {
                        Verdict::ForceWin { .. } => Verdict::Done(waiting, None),
                        verdict => verdict,
                    });
            }
        }
        // The claims recorded by CAS, written together.
        let claim_until = match purpose {
            ReadFor::Use { claim_until, .. } => claim_until,
            ReadFor::Peek => now,
        };
        let mut settled: Vec<Option<Result<(Option<Found>, Option<Hold>), StoreError>>> =
            (0..verdicts.len()).map(|_| None).collect();
        let mut records: Vec<(usize, (String, Vec<u8>))> = Vec::new();
        for (index, verdict) in verdicts.iter().enumerate() {
            if let Ok(Verdict::ClaimByCas {
                cas,
                bytes,
                invalidated,
                keep_stale,
                ..
            }) = verdict
            {
                let routing = &routings[index];
                let wire = WireKey::new(routing.as_bytes());
                match claim_request(
                    &wire,
                    *cas,
                    bytes,
                    *invalidated,
                    claim_until,
                    *keep_stale,
                    now,
                ) {
                    Ok(request) => records.push((index, (routing.clone(), request))),
                    Err(error) => settled[index] = Some(Err(error)),
                }
            }
        }
        if !records.is_empty() {
            let requests: Vec<(String, Vec<u8>)> =
                records.iter().map(|(_, request)| request.clone()).collect();
            for ((index, _), reply) in records.iter().zip(self.send_batch(&requests).await) {
                let Ok(Verdict::ClaimByCas {
                    cas, bytes, meta, ..
                }) = &verdicts[*index]
                else {
                    continue;
                };
                settled[*index] = Some(match reply {
                    Ok(Reply::Done(flags)) => Ok(claimed(
                        meta,
                        *cas,
                        bytes,
                        Some(flags.cas.unwrap_or(0)),
                        claim_until,
                    )),
                    Ok(Reply::Exists(_) | Reply::NotFound(_)) => {
                        Ok(claimed(meta, *cas, bytes, None, claim_until))
                    }
                    Ok(other) => Err(unexpected(&other, "ms C (claim)")),
                    Err(error) => Err(error),
                });
            }
        }
        let mut outcomes = Vec::with_capacity(verdicts.len());
        for (index, verdict) in verdicts.into_iter().enumerate() {
            outcomes.push(match settled[index].take() {
                Some(outcome) => outcome,
                None => match verdict {
                    Ok(verdict) => {
                        let routing = &routings[index];
                        let wire = WireKey::new(routing.as_bytes());
                        self.apply(routing, &wire, verdict, now, purpose).await
                    }
                    Err(error) => Err(error),
                },
            });
        }
        outcomes
    }

    /// Carries out `verdict`.
    async fn apply(
        &self,
        routing: &str,
        wire: &WireKey,
        verdict: Verdict,
        now: Timestamp,
        purpose: ReadFor,
    ) -> Result<(Option<Found>, Option<Hold>), StoreError> {
        let (claim_until, lease_for) = match purpose {
            ReadFor::Use {
                claim_until,
                lease_for,
                ..
            } => (claim_until, lease_for),
            ReadFor::Peek => (now, Duration::ZERO),
        };
        match verdict {
            Verdict::Done(lookup, hold) => Ok((lookup, hold)),
            Verdict::ForceWin { token, waiting } => {
                let request = read_request_with(wire, purpose, Some(token));
                let found = Seen::of(self.send(routing, &request).await?, purpose)?;
                match judge(found, now, purpose) {
                    // Not taken after all (the item changed meanwhile):
                    // what the first read found, as if claimed.
                    Verdict::ForceWin { .. } => Ok((waiting, None)),
                    again => Box::pin(self.apply(routing, wire, again, now, purpose)).await,
                }
            }
            Verdict::Unwin {
                cas,
                ttl,
                bytes,
                lookup,
            } => {
                let flags = SetFlags {
                    ttl: ttl.unwrap_or(0),
                    client_flags: ENVELOPE_FLAGS,
                    compare_cas: Some(cas),
                    ..SetFlags::default()
                };
                let mut request = Vec::with_capacity(96 + bytes.len());
                encode_set(&mut request, wire, &bytes, &flags);
                match self.send(routing, &request).await? {
                    // Written again, or changed meanwhile: either way a new
                    // item, whose win nobody holds.
                    Reply::Done(_) | Reply::Exists(_) | Reply::NotFound(_) => Ok((lookup, None)),
                    other => Err(unexpected(&other, "ms C (a win given back)")),
                }
            }
            Verdict::GiveBack { cas, ttl, lookup } => {
                self.invalidate(routing, wire, Some(cas), ttl).await?;
                Ok((lookup, None))
            }
            Verdict::LeaseByCas { cas } => {
                let flags = SetFlags {
                    ttl: lease_expiry(lease_for),
                    client_flags: LEASE_FLAGS,
                    compare_cas: Some(cas),
                    return_cas: true,
                    ..SetFlags::default()
                };
                let mut request = Vec::with_capacity(96);
                encode_set(&mut request, wire, b"", &flags);
                match self.send(routing, &request).await? {
                    Reply::Done(flags) => {
                        Ok((None, Some(Hold::Lease(LeaseId(flags.cas.unwrap_or(0))))))
                    }
                    Reply::Exists(_) | Reply::NotFound(_) => Ok((Some(Found::Leased), None)),
                    other => Err(unexpected(&other, "ms C (a lease over a dead item)")),
                }
            }
            Verdict::ClaimByCas {
                cas,
                bytes,
                invalidated,
                meta,
                keep_stale,
            } => {
                let recorded = self
                    .record_claim(
                        routing,
                        wire,
                        cas,
                        &bytes,
                        invalidated,
                        claim_until,
                        keep_stale,
                        now,
                    )
                    .await?;
                Ok(claimed(&meta, cas, &bytes, recorded, claim_until))
            }
        }
    }

    /// `ms ... C<cas>` of the envelope `bytes` with its claim until
    /// `until`, with a TTL that keeps memcached from handing its win out
    /// before then. The new CAS, or `None` if the item changed.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn record_claim(
        &self,
        routing: &str,
        wire: &WireKey,
        cas: u64,
        bytes: &[u8],
        invalidated: bool,
        until: Timestamp,
        keep_stale: Duration,
        now: Timestamp,
    ) -> Result<Option<u64>, StoreError> {
        let request = claim_request(wire, cas, bytes, invalidated, until, keep_stale, now)?;
        claim_recorded(self.send(routing, &request).await?)
    }

    /// `md ... I [C<cas>] T<ttl>`: marks the item stale, bumps its CAS (any
    /// write held by the old one is refused) and hands its win out again.
    /// Whether it was done (`false`: gone, or changed since `cas`).
    pub(crate) async fn invalidate(
        &self,
        routing: &str,
        wire: &WireKey,
        compare_cas: Option<u64>,
        ttl: Option<u32>,
    ) -> Result<bool, StoreError> {
        let mut request = Vec::with_capacity(96);
        encode_delete(&mut request, wire, &invalidation(compare_cas, ttl));
        match self.send(routing, &request).await? {
            Reply::Done(_) => Ok(true),
            Reply::NotFound(_) | Reply::Exists(_) => Ok(false),
            other => Err(unexpected(&other, "md I")),
        }
    }

    /// What is under the key, taking nothing: a win this read took of an
    /// invalidated item is given back at once.
    pub(super) async fn peek_item(
        &self,
        routing: &str,
        wire: &WireKey,
    ) -> Result<Item, StoreError> {
        let found = Seen::of(
            self.send(routing, &read_request(wire, ReadFor::Peek))
                .await?,
            ReadFor::Peek,
        )?;
        if let Some(cas) = item_cas(&found.item).filter(|_| found.won) {
            self.invalidate(routing, wire, Some(cas), remaining_ttl(found.remaining))
                .await?;
        }
        Ok(found.item)
    }

    /// Claims the refresh of the envelope read as `seen`:
    /// [`try_claim_many`](Ops::try_claim_many) of one.
    pub(crate) async fn try_claim(
        &self,
        key: &Key,
        seen: Version,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<Option<ClaimId>, StoreError> {
        only(self.try_claim_many(&[(*key, seen)], now, until).await)
    }

    /// Claims the refresh of every envelope read as `seen`: by the win of
    /// an invalidated item if its read takes it, else by CAS, unless its
    /// win was handed to another reader who may still be recording its
    /// claim. One `mg` each (no `N`: a claim never creates anything), one
    /// pipelined exchange per server, then the second requests together
    /// ([`settle_many`](Ops::settle_many)).
    #[allow(clippy::type_complexity)]
    pub(crate) async fn try_claim_many(
        &self,
        claims: &[(Key, Version)],
        now: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<Result<Option<ClaimId>, StoreError>>, StoreError> {
        let purpose = ReadFor::Use {
            claim_until: until,
            lease_for: now.until(until),
            keep_stale: Duration::ZERO,
        };
        let reads = (ReadFor::Peek, purpose);
        let (routings, verdicts) = self
            .read_and_judge(claims, |(key, _)| key, reads, now, for_a_claim)
            .await;
        let verdicts = unless_all_failed(verdicts)?;
        let settled = self.settle_many(&routings, verdicts, now, purpose).await;
        let mut claimed = Vec::with_capacity(settled.len());
        for (outcome, (key, _)) in settled.into_iter().zip(claims) {
            claimed.push(match outcome {
                Ok((_, Some(Hold::Claim(claim)))) => Ok(Some(claim)),
                Ok((_, Some(Hold::Lease(lease)))) => {
                    // The value vanished before the read that asked for its
                    // win, which took the lease of the empty key: not this
                    // caller's.
                    self.delete(key, Some(lease.0)).await.map(|()| None)
                }
                Ok((_, None)) => Ok(None),
                Err(error) => Err(error),
            });
        }
        Ok(claimed)
    }

    pub(crate) async fn try_lease(
        &self,
        key: &Key,
        now: Timestamp,
        grace: Duration,
    ) -> Result<Option<LeaseId>, StoreError> {
        self.lease_in_read(key, now, grace).await
    }

    /// Takes the lease of every key: one pipelined `ms ... ME` per key, one
    /// exchange per server. A key refused because something is in the way
    /// is read (one more exchange for all of them); one whose item is gone
    /// or dead by the cache's clock is then leased as
    /// [`try_lease`](Ops::try_lease) does, on its own (rare).
    #[allow(clippy::type_complexity)]
    pub(crate) async fn try_lease_many(
        &self,
        keys: &[Key],
        now: Timestamp,
        grace: std::time::Duration,
    ) -> Result<Vec<Result<Option<LeaseId>, StoreError>>, StoreError> {
        let flags = SetFlags {
            mode: SetMode::Add,
            // As a lease taken by a read: a lease of a short window must not
            // lapse before its first renewal.
            ttl: lease_expiry(grace),
            client_flags: LEASE_FLAGS,
            return_cas: true,
            ..SetFlags::default()
        };
        let batch = Self::batch_of(
            keys,
            |key| key,
            |request, wire, _| {
                encode_set(request, wire, b"lease", &flags);
            },
        );
        let mut refused = Vec::new();
        let mut leases: Vec<Result<Option<LeaseId>, StoreError>> = Vec::with_capacity(keys.len());
        for (index, reply) in self.send_batch(&batch).await.into_iter().enumerate() {
            leases.push(match reply {
                Ok(Reply::Done(flags)) => Ok(Some(LeaseId(flags.cas.unwrap_or(0)))),
                Ok(Reply::NotStored(_)) => {
                    refused.push(index);
                    Ok(None)
                }
                Ok(other) => Err(unexpected(&other, "ms ME")),
                Err(error) => Err(error),
            });
        }
        let mut leases = unless_all_failed(leases)?;
        if refused.is_empty() {
            return Ok(leases);
        }
        let reads: Vec<(String, Vec<u8>)> = refused
            .iter()
            .map(|&index| {
                let routing = batch[index].0.clone();
                let request = read_request(&WireKey::new(routing.as_bytes()), ReadFor::Peek);
                (routing, request)
            })
            .collect();
        let found = self.send_batch(&reads).await;
        for ((&index, reply), (routing, _)) in refused.iter().zip(found).zip(&reads) {
            leases[index] = match self.lease_after_refusal(routing, reply, now).await {
                Ok(Some(decided)) => Ok(decided),
                Ok(None) => self.try_lease(&keys[index], now, grace).await,
                Err(error) => Err(error),
            };
        }
        Ok(leases)
    }

    /// For a key whose lease `ms ... ME` was refused, what the read of it
    /// says: its lease (an invalidated stub or a dead envelope whose win
    /// this read took), `None` (a live lease or value), or that it must be
    /// leased on its own ([`lease_in_read`](Ops::lease_in_read): nothing
    /// there, or a dead item to replace).
    pub(crate) async fn lease_after_refusal(
        &self,
        routing: &str,
        reply: Result<Reply, StoreError>,
        now: Timestamp,
    ) -> Result<Option<Option<LeaseId>>, StoreError> {
        let found = Seen::of(reply?, ReadFor::Peek)?;
        let (won, remaining) = (found.won, found.remaining);
        let dead = |bytes: &[u8]| {
            envelope::open(bytes).is_ok_and(|(header, _)| header.hard_deadline <= now)
        };
        match &found.item {
            Item::Missing => Ok(None),
            Item::Lease { cas, .. } if won && found.invalidated => Ok(Some(Some(LeaseId(*cas)))),
            Item::Envelope { cas, bytes } if dead(bytes) => {
                if won {
                    Ok(Some(Some(LeaseId(*cas))))
                } else {
                    Ok(None)
                }
            }
            item => {
                if let Some(cas) = item_cas(item).filter(|_| won) {
                    let wire = WireKey::new(routing.as_bytes());
                    self.invalidate(routing, &wire, Some(cas), remaining_ttl(remaining))
                        .await?;
                }
                Ok(Some(None))
            }
        }
    }

    /// Takes the cold-miss lease of `key` if nothing live is there: one
    /// `mg ... N` (a second request only to replace a dead item by CAS).
    pub(crate) async fn lease_in_read(
        &self,
        key: &Key,
        now: Timestamp,
        window: Duration,
    ) -> Result<Option<LeaseId>, StoreError> {
        let purpose = ReadFor::Use {
            claim_until: now.saturating_add(window),
            lease_for: window,
            keep_stale: Duration::ZERO,
        };
        let routing = logical_key(key);
        let wire = WireKey::new(routing.as_bytes());
        let found = Seen::of(
            self.send(&routing, &read_request(&wire, purpose)).await?,
            purpose,
        )?;
        let verdict = for_a_lease(judge(found, now, purpose));
        match self.apply(&routing, &wire, verdict, now, purpose).await? {
            (_, Some(Hold::Lease(lease))) => Ok(Some(lease)),
            _ => Ok(None),
        }
    }

    /// Extends `hold` until `until` if it is still the live one:
    /// [`renew_many`](Ops::renew_many) of one.
    pub(crate) async fn renew(
        &self,
        key: &Key,
        hold: Hold,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<Option<Hold>, StoreError> {
        let renewal = Renew {
            key: *key,
            hold,
            until,
        };
        only(self.renew_many(&[renewal], now).await)
    }

    /// Extends every hold that is still the live one. A lease: its item
    /// rewritten by CAS (`ms ... C<cas>`, no value) with a new TTL: `until`
    /// in whole seconds rounded up, plus one, because memcached's clock
    /// ticks once a second and an item lives between its TTL less one
    /// second and its TTL. A claim: as
    /// [`renew_claim_many`](Ops::renew_claim_many) does. One pipelined
    /// exchange per server for the leases, two for the claims. The renewed
    /// hold (its new CAS) of each, `None` if it was lost, in order.
    #[allow(clippy::type_complexity)]
    pub(crate) async fn renew_many(
        &self,
        renewals: &[Renew],
        now: Timestamp,
    ) -> Result<Vec<Result<Option<Hold>, StoreError>>, StoreError> {
        let mut leases = Vec::new();
        let mut claims = Vec::new();
        for (index, renewal) in renewals.iter().enumerate() {
            match renewal.hold {
                Hold::Lease(lease) => leases.push((index, renewal.key, lease, renewal.until)),
                Hold::Claim(claim) => claims.push((index, (renewal.key, claim, renewal.until))),
            }
        }
        let mut renewed: Vec<Option<Result<Option<Hold>, StoreError>>> = Vec::new();
        renewed.resize_with(renewals.len(), || None);
        let batch = Self::batch_of(
            &leases,
            |(_, key, _, _)| key,
            |request, wire, &(_, _, lease, until)| {
                encode_set(request, wire, b"", &lease_renewal(lease, until, now));
            },
        );
        for (&(index, ..), reply) in leases.iter().zip(self.send_batch(&batch).await) {
            renewed[index] = Some(reply.and_then(renewed_lease));
        }
        let claimed: Vec<(Key, ClaimId, Timestamp)> =
            claims.iter().map(|(_, claim)| *claim).collect();
        let outcomes = self.renew_claim_many(&claimed, now).await;
        for (&(index, _), outcome) in claims.iter().zip(outcomes) {
            renewed[index] = Some(outcome.map(|cas| cas.map(|cas| Hold::Claim(ClaimId(cas)))));
        }
        let renewed = renewed
            .into_iter()
            .map(|outcome| {
                outcome.unwrap_or_else(|| {
                    Err(StoreError::new(
                        StoreErrorKind::Protocol,
                        "a renewal got no reply",
                    ))
                })
            })
            .collect();
        unless_all_failed(renewed)
    }

    /// Extends every `(key, claim, until)` still live: one `mg` each, then
    /// the envelope rewritten by CAS with its claim recorded (and a TTL
    /// that keeps the win from being handed out before `until`), each an
    /// exchange per server. The new CAS of each (`None`: lost), in order.
    async fn renew_claim_many(
        &self,
        claims: &[(Key, ClaimId, Timestamp)],
        now: Timestamp,
    ) -> Vec<Result<Option<u64>, StoreError>> {
        let reads = Self::batch_of(
            claims,
            |(key, _, _)| key,
            |request, wire, _| *request = read_request(wire, ReadFor::Peek),
        );
        let mut renewed: Vec<Result<Option<u64>, StoreError>> = Vec::with_capacity(claims.len());
        let mut records: Vec<usize> = Vec::new();
        let mut batch: Vec<(String, Vec<u8>)> = Vec::new();
        for (index, reply) in self.send_batch(&reads).await.into_iter().enumerate() {
            let (_, claim, until) = claims[index];
            let routing = &reads[index].0;
            let wire = WireKey::new(routing.as_bytes());
            let found = match reply.and_then(|reply| Seen::of(reply, ReadFor::Peek)) {
                Ok(found) => found,
                Err(error) => {
                    renewed.push(Err(error));
                    continue;
                }
            };
            renewed.push(Ok(None));
            match found.item {
                Item::Envelope { cas, bytes } if cas == claim.0 => {
                    let Ok((header, _)) = envelope::open(&bytes) else {
                        continue;
                    };
                    if header.hard_deadline <= now {
                        continue;
                    }
                    let keep_stale = header.meta.soft_deadline.until(header.hard_deadline);
                    let invalidated = found.invalidated;
                    match claim_request(&wire, cas, &bytes, invalidated, until, keep_stale, now) {
                        Ok(request) => {
                            records.push(index);
                            batch.push((routing.clone(), request));
                        }
                        Err(error) => renewed[index] = Err(error),
                    }
                }
                Item::Envelope { cas, .. } if found.won => {
                    // Invalidated since: this read took the win; give it back.
                    let ttl = remaining_ttl(found.remaining);
                    let given_back = self.invalidate(routing, &wire, Some(cas), ttl).await;
                    renewed[index] = given_back.map(|_| None);
                }
                _ => {}
            }
        }
        for (&index, reply) in records.iter().zip(self.send_batch(&batch).await) {
            renewed[index] = reply.and_then(claim_recorded);
        }
        renewed
    }

    /// `ms C<cas>`: stores `value` only if the item still has the CAS of the
    /// claim or lease `held` (see the module's notes):
    /// [`write_held_many`](Ops::write_held_many) of one.
    pub(crate) async fn write_held(
        &self,
        key: &Key,
        held: Hold,
        value: Stored,
        deadlines: Deadlines,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let write = Write {
            key: *key,
            value,
            deadlines,
        };
        only(self.write_held_many(vec![(write, held)], now).await)
    }

    /// Writes every `(write, held)` only while its claim or lease is the
    /// live one: one pipelined `ms ... C<cas>` per write, one exchange per
    /// server. Whether each landed, in order.
    pub(crate) async fn write_held_many(
        &self,
        writes: Vec<(Write, Hold)>,
        now: Timestamp,
    ) -> Result<Vec<Result<bool, StoreError>>, StoreError> {
        let mut results: Vec<Result<bool, StoreError>> = Vec::with_capacity(writes.len());
        let mut sent: Vec<usize> = Vec::new();
        let mut batch: Vec<(String, Vec<u8>)> = Vec::new();
        for (index, (write, held)) in writes.into_iter().enumerate() {
            let cas = match held {
                Hold::Claim(claim) => claim.0,
                Hold::Lease(lease) => lease.0,
            };
            let request = self.set_request(
                &write.key,
                write.value,
                write.deadlines,
                now,
                SetMode::Set,
                Some(cas),
            );
            match request {
                Ok(request) => {
                    sent.push(index);
                    batch.push(request);
                    results.push(Ok(false));
                }
                Err(error) => results.push(Err(error)),
            }
        }
        for (&index, reply) in sent.iter().zip(self.send_batch(&batch).await) {
            results[index] = match reply {
                Ok(Reply::Done(_)) => Ok(true),
                Ok(Reply::Exists(_) | Reply::NotFound(_)) => Ok(false),
                Ok(other) => Err(unexpected(&other, "ms C (held write)")),
                Err(error) => Err(error),
            };
        }
        unless_all_failed(results)
    }

    /// `md ... I C<claim>`: one request, no value. The entry stays, stale,
    /// and its win goes to the next reader (a claim recorded in it ends
    /// too: an invalidated item's recorded claim counts for nothing).
    pub(crate) async fn release_claim(&self, key: &Key, claim: ClaimId) -> Result<(), StoreError> {
        let routing = logical_key(key);
        let wire = WireKey::new(routing.as_bytes());
        self.invalidate(&routing, &wire, Some(claim.0), None)
            .await
            .map(|_| ())
    }

    /// Deletes the holder's own lease item (its CAS), nothing newer.
    pub(crate) async fn release_lease(&self, key: &Key, lease: LeaseId) -> Result<(), StoreError> {
        self.delete(key, Some(lease.0)).await
    }
}

/// What a read saw, but the value: what the operations that judge a read
/// by more than [`judge`] does ask of it.
#[derive(Clone, Copy)]
struct Glance {
    /// The CAS of the envelope read, if it was one.
    envelope: Option<u64>,
    /// The CAS of what was read, if anything.
    cas: Option<u64>,
    won: bool,
    invalidated: bool,
    remaining: Option<RemainingTtl>,
}

impl Glance {
    /// A win this read took and does not keep, given back (`md ... I
    /// C<cas>` with the TTL it had); nothing to do if it took none.
    fn give_back(self) -> Verdict {
        match self.cas.filter(|_| self.won) {
            Some(cas) => Verdict::GiveBack {
                cas,
                ttl: remaining_ttl(self.remaining),
                lookup: None,
            },
            None => Verdict::Done(None, None),
        }
    }
}

/// What a claim's read of `seen` does about its verdict: take the claim
/// only of the version its caller read, or of an invalidated one whose
/// win this read took (only one read can: a read that had to give the win
/// back bumped the CAS of what its caller saw); give any other win back.
fn for_a_claim(&(_, seen): &(Key, Version), glance: Glance, verdict: Verdict) -> Verdict {
    let same = glance.envelope == Some(seen.0) || (glance.won && glance.invalidated);
    match verdict {
        verdict @ (Verdict::ClaimByCas { .. }
        | Verdict::ForceWin { .. }
        | Verdict::Done(_, Some(Hold::Claim(_))))
            if same =>
        {
            verdict
        }
        _ => glance.give_back(),
    }
}

/// What a lease's read does about its verdict: take a lease, nothing else.
fn for_a_lease(verdict: Verdict) -> Verdict {
    match verdict {
        // Not a lease: an invalidated value's claim, taken by any read.
        Verdict::Done(lookup, Some(Hold::Claim(ClaimId(cas)))) => Verdict::GiveBack {
            cas,
            ttl: None,
            lookup,
        },
        // A stale value to claim, not a lease to take.
        Verdict::ClaimByCas { .. }
        | Verdict::ForceWin {
            waiting: Some(Found::Entry { .. }),
            ..
        } => Verdict::Done(None, None),
        verdict => verdict,
    }
}

/// The `ms ... C<cas>` flags that renew `lease` until `until`: a TTL of
/// `until` in whole seconds rounded up, plus one (see [`Ops::renew_many`]).
fn lease_renewal(lease: LeaseId, until: Timestamp, now: Timestamp) -> SetFlags {
    SetFlags {
        mode: SetMode::Set,
        ttl: expiry(until, now).saturating_add(1),
        client_flags: LEASE_FLAGS,
        compare_cas: Some(lease.0),
        return_cas: true,
        ..SetFlags::default()
    }
}

/// What the reply to a lease's renewal says: the lease under its new CAS,
/// or `None` if it was lost.
fn renewed_lease(reply: Reply) -> Result<Option<Hold>, StoreError> {
    match reply {
        Reply::Done(flags) => Ok(Some(Hold::Lease(LeaseId(flags.cas.unwrap_or(0))))),
        Reply::Exists(_) | Reply::NotFound(_) => Ok(None),
        other => Err(unexpected(&other, "ms C (renewing a lease)")),
    }
}

/// What the reply to a [`claim_request`] says: the claim recorded (its new
/// CAS), or lost to another writer (`None`).
fn claim_recorded(reply: Reply) -> Result<Option<u64>, StoreError> {
    match reply {
        Reply::Done(flags) => Ok(Some(flags.cas.unwrap_or(0))),
        Reply::Exists(_) | Reply::NotFound(_) => Ok(None),
        other => Err(unexpected(&other, "ms C (claim)")),
    }
}

/// The `ms ... C<cas>` of the envelope `bytes` with its claim until
/// `until`, with a TTL that keeps memcached from handing its win out
/// before then.
fn claim_request(
    wire: &WireKey,
    cas: u64,
    bytes: &[u8],
    invalidated: bool,
    until: Timestamp,
    keep_stale: Duration,
    now: Timestamp,
) -> Result<Vec<u8>, StoreError> {
    let (header, _) = envelope::open(bytes)
        .map_err(|error| StoreError::new(StoreErrorKind::Protocol, error.to_string()))?;
    let claimed = claimed_envelope(bytes, until, invalidated, now)?;
    let flags = SetFlags {
        ttl: aligned_expiry(until, header.hard_deadline, keep_stale, now),
        client_flags: ENVELOPE_FLAGS,
        compare_cas: Some(cas),
        return_cas: true,
        ..SetFlags::default()
    };
    let mut request = Vec::with_capacity(96 + claimed.len());
    encode_set(&mut request, wire, &claimed, &flags);
    Ok(request)
}

/// What a claim by CAS of the envelope `bytes` (read with `cas` and
/// `meta`) hands its reader: the claim, with its new CAS; or, if the item
/// changed meanwhile, the value read, as if claimed (the next read sees
/// what changed it).
fn claimed(
    meta: &EntryMeta,
    cas: u64,
    bytes: &[u8],
    recorded: Option<u64>,
    claim_until: Timestamp,
) -> (Option<Found>, Option<Hold>) {
    let payload = envelope::open(bytes)
        .map(|(_, payload)| payload.to_vec())
        .unwrap_or_default();
    match recorded {
        Some(new_cas) => (
            Some(entry(*meta, cas, &payload)),
            Some(Hold::Claim(ClaimId(new_cas))),
        ),
        None => (
            Some(entry(
                EntryMeta {
                    claimed_until: claim_until,
                    ..*meta
                },
                cas,
                &payload,
            )),
            None,
        ),
    }
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

/// The flags of an invalidation.
fn invalidation(compare_cas: Option<u64>, ttl: Option<u32>) -> DeleteFlags {
    DeleteFlags {
        compare_cas,
        invalidate: true,
        ttl: Some(ttl.unwrap_or(INVALIDATED_TTL)),
        ..DeleteFlags::default()
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp::from_millis(1_700_000_000_000);

    fn at(seconds_from_now: i64) -> Timestamp {
        let millis = NOW.as_millis() as i64 + seconds_from_now * 1000;
        Timestamp::from_millis(millis as u64)
    }

    /// A memoized function's read: claims and leases for the 3 s liveness
    /// window, values kept 70 s stale (the recache token).
    fn used() -> ReadFor {
        ReadFor::Use {
            claim_until: at(3),
            lease_for: Duration::from_secs(3),
            keep_stale: Duration::from_secs(70),
        }
    }

    /// An envelope soft at `soft`, hard at `soft + 70`, claimed until `claimed`.
    fn envelope_at(soft: i64, claimed: Option<i64>) -> Vec<u8> {
        let sealed = envelope::seal(
            Deadlines {
                soft: at(soft),
                hard: at(soft + 70),
            },
            b"payload",
        );
        match claimed {
            Some(until) => envelope::with_claim(&sealed, at(until)).unwrap(),
            None => sealed,
        }
    }

    struct Flags {
        won: bool,
        taken: bool,
        invalidated: bool,
        left: u32,
    }

    const NONE: Flags = Flags {
        won: false,
        taken: false,
        invalidated: false,
        left: 75,
    };

    fn seen(item: Item, flags: Flags) -> Seen {
        Seen {
            item,
            won: flags.won,
            taken: flags.taken,
            invalidated: flags.invalidated,
            remaining: Some(RemainingTtl::Seconds(flags.left)),
        }
    }

    /// A read now of an envelope stale for `seconds`.
    fn stale_for(seconds: i64, flags: Flags) -> Verdict {
        let item = Item::Envelope {
            cas: 9,
            bytes: envelope_at(-seconds, None),
        };
        judge(seen(item, flags), NOW, used())
    }

    fn stale_envelope(flags: Flags) -> Verdict {
        stale_for(1, flags)
    }

    fn hold(verdict: &Verdict) -> Option<Hold> {
        match verdict {
            Verdict::Done(_, hold) => *hold,
            _ => None,
        }
    }

    /// The claimed-until of the entry a verdict serves.
    fn served_claim(verdict: &Verdict) -> Option<Timestamp> {
        match verdict {
            Verdict::Done(Some(Found::Entry { meta, .. }), _) => Some(meta.claimed_until),
            _ => None,
        }
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

    #[test]
    fn a_win_on_time_is_a_claim_held_without_a_write() {
        // The token (70) reached a second ago.
        let verdict = stale_envelope(Flags {
            won: true,
            left: 69,
            ..NONE
        });
        assert_eq!(hold(&verdict), Some(Hold::Claim(ClaimId(9))));
    }

    #[test]
    fn a_late_win_is_recorded_at_once() {
        // Nobody read the stale value for 30 s: its winner writes its claim.
        let verdict = stale_for(
            30,
            Flags {
                won: true,
                left: 40,
                ..NONE
            },
        );
        assert!(matches!(verdict, Verdict::ClaimByCas { cas: 9, .. }));
        // Won 1.001 s after the soft deadline (whatever memcached's whole
        // seconds say): recorded too.
        let item = Item::Envelope {
            cas: 9,
            bytes: envelope_at(-1, None),
        };
        let won = Flags {
            won: true,
            left: 69,
            ..NONE
        };
        let later = NOW.saturating_add(Duration::from_millis(1));
        let verdict = judge(seen(item, won), later, used());
        assert!(matches!(verdict, Verdict::ClaimByCas { cas: 9, .. }));
    }

    #[test]
    fn a_taken_win_is_waited_for_until_its_winners_claim_has_ended() {
        // Its winner took it by a second after the soft deadline (or
        // recorded it), for a 3 s window: until 4 s after the deadline, by
        // the clock, whatever memcached's whole seconds say, it is alive.
        for (stale, left) in [(1, 68), (4, 72), (4, 40)] {
            let verdict = stale_for(
                stale,
                Flags {
                    taken: true,
                    left,
                    ..NONE
                },
            );
            assert!(hold(&verdict).is_none(), "stale {stale} s");
            assert!(
                served_claim(&verdict).is_some_and(|until| until > NOW),
                "stale {stale} s"
            );
        }
        // Past that, and still no claim recorded: its winner died.
        let item = Item::Envelope {
            cas: 9,
            bytes: envelope_at(-4, None),
        };
        let taken = Flags {
            taken: true,
            left: 72,
            ..NONE
        };
        let later = NOW.saturating_add(Duration::from_millis(1));
        let verdict = judge(seen(item, taken), later, used());
        assert!(matches!(verdict, Verdict::ClaimByCas { cas: 9, .. }));
    }

    #[test]
    fn a_recorded_live_claim_is_served_stale() {
        let item = Item::Envelope {
            cas: 9,
            bytes: envelope_at(-5, Some(2)),
        };
        let verdict = judge(
            seen(
                item,
                Flags {
                    taken: true,
                    left: 40,
                    ..NONE
                },
            ),
            NOW,
            used(),
        );
        assert!(hold(&verdict).is_none());
        assert_eq!(served_claim(&verdict), Some(at(2)));
    }

    #[test]
    fn a_win_memcached_has_not_handed_out_yet_is_asked_for_at_once() {
        // Stale by the clock, 72 s left of a 70 s token: the server's whole
        // seconds are behind.
        let verdict = stale_envelope(Flags { left: 72, ..NONE });
        assert!(matches!(verdict, Verdict::ForceWin { token: 73, .. }));
        // A reader that knows no token (the client) asks for it too, and
        // records the claim it wins (nobody can tell that win's age)...
        let tokenless = ReadFor::Use {
            claim_until: at(60),
            lease_for: Duration::from_secs(60),
            keep_stale: Duration::ZERO,
        };
        let item = || Item::Envelope {
            cas: 9,
            bytes: envelope_at(-1, None),
        };
        let verdict = judge(seen(item(), NONE), NOW, tokenless);
        assert!(matches!(verdict, Verdict::ForceWin { token: 76, .. }));
        let won = Flags { won: true, ..NONE };
        let verdict = judge(seen(item(), won), NOW, tokenless);
        assert!(matches!(verdict, Verdict::ClaimByCas { cas: 9, .. }));
        // ...but claims by CAS an item that never expires (no win to ask for).
        let mut unlimited = seen(item(), NONE);
        unlimited.remaining = Some(RemainingTtl::Unlimited);
        let verdict = judge(unlimited, NOW, tokenless);
        assert!(matches!(verdict, Verdict::ClaimByCas { cas: 9, .. }));
    }

    #[test]
    fn a_win_of_a_fresh_value_is_given_back() {
        let item = Item::Envelope {
            cas: 9,
            bytes: envelope_at(10, None),
        };
        let verdict = judge(seen(item, Flags { won: true, ..NONE }), NOW, used());
        assert!(matches!(verdict, Verdict::Unwin { cas: 9, .. }));
    }

    #[test]
    fn an_invalidated_value_is_stale_and_its_win_a_claim() {
        let item = Item::Envelope {
            cas: 9,
            bytes: envelope_at(10, Some(30)),
        };
        let invalidated = Flags {
            won: true,
            invalidated: true,
            left: INVALIDATED_TTL - 1,
            ..NONE
        };
        let verdict = judge(seen(item, invalidated), NOW, used());
        assert_eq!(hold(&verdict), Some(Hold::Claim(ClaimId(9))));
        let Verdict::Done(Some(Found::Entry { meta, .. }), _) = verdict else {
            panic!("an entry");
        };
        assert!(meta.soft_deadline <= NOW && meta.claimed_until <= NOW);
    }

    #[test]
    fn a_stub_is_a_lease_to_its_vivifier_only() {
        let stub = |vivified| Item::Lease { cas: 4, vivified };
        let won = Flags {
            won: true,
            left: 3,
            ..NONE
        };
        let verdict = judge(seen(stub(true), won), NOW, used());
        assert_eq!(hold(&verdict), Some(Hold::Lease(LeaseId(4))));
        // A renewed stub whose recache token came: still its holder's.
        let won = Flags {
            won: true,
            left: 3,
            ..NONE
        };
        let verdict = judge(seen(stub(false), won), NOW, used());
        assert!(matches!(verdict, Verdict::Done(Some(Found::Leased), None)));
        let taken = Flags {
            taken: true,
            left: 3,
            ..NONE
        };
        let verdict = judge(seen(stub(true), taken), NOW, used());
        assert!(matches!(verdict, Verdict::Done(Some(Found::Leased), None)));
    }

    #[test]
    fn a_read_that_takes_nothing_gives_a_win_back() {
        let item = Item::Envelope {
            cas: 9,
            bytes: envelope_at(10, None),
        };
        let invalidated = Flags {
            won: true,
            invalidated: true,
            left: 500,
            ..NONE
        };
        let verdict = judge(seen(item, invalidated), NOW, ReadFor::Peek);
        assert!(matches!(
            verdict,
            Verdict::GiveBack {
                cas: 9,
                ttl: Some(500),
                ..
            }
        ));
    }

    /// A memcached whose every value is stale and whose wins have not come
    /// yet (72 s left of a 70 s token): a read with a token above that
    /// (`R73`) wins. Counts the exchanges.
    struct WinsNotYetHandedOut {
        envelope: Vec<u8>,
        exchanges: std::sync::atomic::AtomicUsize,
    }

    impl Exchange for WinsNotYetHandedOut {
        async fn exchange(
            &self,
            _server: usize,
            requests: &[&[u8]],
            _reuse: crate::store::memcached::transport::Reuse,
        ) -> Result<Vec<Reply>, crate::store::memcached::transport::Failure> {
            self.exchanges
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(requests
                .iter()
                .map(|request| {
                    let line = String::from_utf8_lossy(request);
                    assert!(line.starts_with("mg "), "only reads: {line}");
                    Reply::Value {
                        flags: ReturnFlags {
                            cas: Some(9),
                            client_flags: Some(ENVELOPE_FLAGS),
                            ttl: Some(RemainingTtl::Seconds(72)),
                            win: line.contains(" R73"),
                            ..ReturnFlags::default()
                        },
                        data: self.envelope.clone(),
                    }
                })
                .collect())
        }
    }

    #[test]
    fn a_batch_asks_for_its_wins_in_one_exchange() {
        let transport = WinsNotYetHandedOut {
            envelope: envelope_at(-1, None),
            exchanges: Default::default(),
        };
        let ring = crate::store::memcached::ring::Ring::new(&["127.0.0.1:11211"]);
        let ops = Ops {
            transport: &transport,
            ring: &ring,
            max_value: 1 << 20,
        };
        let keys: Vec<Key> = (0..10)
            .map(|n| Key::new(crate::key::Fingerprint::from_u128(n), "app::report", 1))
            .collect();
        let found = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(ops.read_many(&keys, NOW, used()))
            .unwrap();
        assert!(found
            .iter()
            .all(|(_, hold)| *hold == Some(Hold::Claim(ClaimId(9)))));
        assert_eq!(
            transport
                .exchanges
                .load(std::sync::atomic::Ordering::SeqCst),
            2,
            "the reads, then the reads that ask for the wins"
        );
    }
}
