//! What a read found decides: the verdicts of memcached's win flags
//! (see [`native`](super::native) for the scheme), and the requests that
//! carry them out, without any I/O.

use std::time::Duration;

use super::{
    aligned_expiry, expiry, lease_expiry, recache_token, remaining_ttl, unexpected, Item,
    ENVELOPE_FLAGS, LEASE_FLAGS,
};
use crate::clock::Timestamp;
use crate::envelope;
use crate::error::{StoreError, StoreErrorKind};
use crate::key::Key;
use crate::policy::EntryMeta;
use crate::store::memcached::codec::{
    encode_get, encode_set, DeleteFlags, GetFlags, RemainingTtl, Reply, ReturnFlags, SetFlags,
    SetMode, WireKey,
};
use crate::store::{ClaimId, Found, Hold, LeaseId, ReadFor, Stored, Version};

/// How long after the soft deadline (or the end of a recorded claim)
/// memcached may first hand out the recache win: its TTLs are whole
/// seconds, and its clock ticks once a second, at a phase of its own.
pub(crate) const TOKEN_LAG: Duration = Duration::from_secs(2);

/// How soon after a stale value's soft deadline its winner may take the
/// win and hold it without recording it (see [`judge`]): enough for the
/// first caller after the deadline, not so much that a dead winner's claim
/// outlasts its window by more than this.
pub(super) const ON_TIME_AFTER_SOFT: Duration = Duration::from_secs(1);

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

/// What a `mg ... v f c t` or `mg ... f c t s` found: the item, and the
/// win flags memcached answered with.
pub(crate) struct Seen {
    pub(crate) item: Item,
    /// `W`: this read took the item's win.
    pub(super) won: bool,
    /// `Z`: an earlier read took it.
    pub(super) taken: bool,
    /// `X`: invalidated since it was written.
    pub(super) invalidated: bool,
    pub(super) remaining: Option<RemainingTtl>,
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
    pub(super) fn glance(&self) -> Glance {
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

/// What a read saw, but the value: what the operations that judge a read
/// by more than [`judge`] does ask of it.
#[derive(Clone, Copy)]
pub(super) struct Glance {
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

/// The `mg` of a read for `purpose`.
pub(crate) fn read_request(wire: &WireKey, purpose: ReadFor) -> Vec<u8> {
    read_request_with(wire, purpose, None)
}

/// The `mg` of a read for `purpose`, with `token` as its recache token if
/// given.
pub(super) fn read_request_with(wire: &WireKey, purpose: ReadFor, token: Option<u32>) -> Vec<u8> {
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

/// What to do about what a read found.
pub(super) enum Verdict {
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
///
/// One step per thing found: [`judge_peek`] for a read that takes
/// nothing, [`judge_lease`] for a lease stub, and for an envelope
/// [`judge_dead`] (past its hard deadline), [`judge_fresh`] or
/// [`judge_stale`] (or invalidated), each dated by its [`Timing`].
pub(super) fn judge(mut found: Seen, now: Timestamp, purpose: ReadFor) -> Verdict {
    let ReadFor::Use {
        claim_until,
        lease_for,
        keep_stale,
    } = purpose
    else {
        return judge_peek(found, now);
    };
    let timing = Timing::of(&found, now, claim_until, lease_for, keep_stale);
    match std::mem::replace(&mut found.item, Item::Missing) {
        Item::Missing => Verdict::Done(None, None),
        Item::Lease { cas, vivified } => judge_lease(&found, cas, vivified, &timing),
        item @ (Item::Raw { .. } | Item::Foreign { .. }) => {
            Verdict::Done(super::lookup_of(item, now), None)
        }
        Item::Envelope { cas, bytes } => {
            let Ok((header, payload)) = envelope::open(&bytes) else {
                // (`item_of` reads these as foreign.) Overwritten, not waited for.
                return Verdict::Done(super::lookup_of(Item::Foreign { cas }, now), None);
            };
            let recorded_claim = !found.invalidated && header.meta.claimed_until > now;
            let payload_from = bytes.len() - payload.len();
            let read = EnvelopeRead {
                found: &found,
                cas,
                header,
                payload_from,
                bytes,
                recorded_claim,
            };
            if read.header.hard_deadline <= now {
                judge_dead(&read, &timing)
            } else if !found.invalidated && now < read.header.meta.soft_deadline {
                judge_fresh(read, now, keep_stale)
            } else {
                judge_stale(read, now, &timing)
            }
        }
    }
}

/// When a read's win could be had, and whether its winner is presumed
/// dead: what dates every win [`judge`] decides on.
struct Timing {
    /// The recache token of the reader's values, if they are ever stale.
    token: Option<u32>,
    /// How long a claim lasts, as this reader takes them.
    window: Duration,
    /// A win taken now is on time (see [`judge`]): held without a record.
    on_time: bool,
    /// The win was handed out long enough ago that a winner that has not
    /// recorded its claim is dead.
    abandoned: bool,
}

impl Timing {
    fn of(
        found: &Seen,
        now: Timestamp,
        claim_until: Timestamp,
        lease_for: Duration,
        keep_stale: Duration,
    ) -> Timing {
        let token = recache_token(keep_stale);
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
        let on_time =
            long_enough && winnable_for.is_some_and(|ago| ago <= ON_TIME_AFTER_INVALIDATION);
        // A winner took the win by `ON_TIME_AFTER_INVALIDATION` after it could,
        // and records its claim at its first renewal (a third of its window):
        // past this, with no claim recorded, it is dead.
        let patience = window + ON_TIME_AFTER_INVALIDATION + TOKEN_LAG;
        let abandoned = winnable_for.is_some_and(|ago| ago > patience);
        Timing {
            token,
            window,
            on_time,
            abandoned,
        }
    }
}

/// An envelope a read found, opened.
struct EnvelopeRead<'f> {
    found: &'f Seen,
    cas: u64,
    header: envelope::Header,
    /// Where its payload begins in `bytes`.
    payload_from: usize,
    bytes: Vec<u8>,
    /// A claim recorded in it, live (an invalidation ends it).
    recorded_claim: bool,
}

impl EnvelopeRead<'_> {
    /// The value, as the cache reads it with `meta`.
    fn entry(&self, meta: EntryMeta) -> Found {
        entry(meta, self.cas, &self.bytes[self.payload_from..])
    }

    /// Claim it by CAS: rewritten with its claim.
    fn claim_by_cas(&self, meta: EntryMeta) -> Verdict {
        Verdict::ClaimByCas {
            cas: self.cas,
            bytes: self.bytes.clone(),
            invalidated: self.found.invalidated,
            meta,
            keep_stale: self
                .header
                .meta
                .soft_deadline
                .until(self.header.hard_deadline),
        }
    }
}

/// A read that must take nothing: what it found, and any win it took
/// given back.
fn judge_peek(found: Seen, now: Timestamp) -> Verdict {
    let (won, remaining, cas) = (found.won, found.remaining, item_cas(&found.item));
    // A lease stub invalidated, and not leased since: no lease.
    let ended = won && found.invalidated && matches!(found.item, Item::Lease { .. });
    let lookup = if ended { None } else { peek_lookup(found, now) };
    let Some(cas) = cas.filter(|_| won) else {
        return Verdict::Done(lookup, None);
    };
    let ttl = remaining_ttl(remaining);
    Verdict::GiveBack { cas, ttl, lookup }
}

/// A lease stub: the lease of the read that made it (or of the first read
/// after an invalidation ended it); replaced once its winner is dead.
fn judge_lease(found: &Seen, cas: u64, vivified: bool, timing: &Timing) -> Verdict {
    if found.won && (vivified || found.invalidated) {
        return Verdict::Done(None, Some(Hold::Lease(LeaseId(cas))));
    }
    if found.invalidated && found.taken && timing.abandoned {
        return Verdict::LeaseByCas { cas };
    }
    Verdict::Done(Some(Found::Leased), None)
}

/// An envelope past its hard deadline: nothing to serve. Whoever wins it
/// fills it, replacing it at once by a lease stub (a stub's TTL ends a
/// dead lease).
fn judge_dead(read: &EnvelopeRead<'_>, timing: &Timing) -> Verdict {
    let (found, cas) = (read.found, read.cas);
    if read.recorded_claim {
        return Verdict::Done(Some(Found::Leased), None);
    }
    if found.won || (found.taken && timing.abandoned) {
        return Verdict::LeaseByCas { cas };
    }
    if found.taken {
        return Verdict::Done(Some(Found::Leased), None);
    }
    match found.remaining {
        Some(RemainingTtl::Seconds(left)) => Verdict::ForceWin {
            token: left.saturating_add(1),
            waiting: Some(Found::Leased),
        },
        _ => Verdict::LeaseByCas { cas },
    }
}

/// A fresh envelope: served; a win its read took anyway is given back.
fn judge_fresh(read: EnvelopeRead<'_>, now: Timestamp, keep_stale: Duration) -> Verdict {
    let header = read.header;
    let fresh = Some(read.entry(header.meta));
    if !read.found.won {
        return Verdict::Done(fresh, None);
    }
    // Fresh, yet its win came (a read that asked for it at once found a
    // value written meanwhile, or a token of another size than the
    // writer's): given back, for the reader at its soft deadline.
    // Written again with a TTL that hands the win out at the soft deadline
    // for this reader's token too.
    let keep = header
        .meta
        .soft_deadline
        .until(header.hard_deadline)
        .max(keep_stale);
    let ttl = aligned_expiry(header.meta.soft_deadline, header.hard_deadline, keep, now);
    Verdict::Unwin {
        cas: read.cas,
        ttl: Some(ttl),
        bytes: read.bytes,
        lookup: fresh,
    }
}

/// A stale (or invalidated) envelope: its refresh claimed by the win, on
/// time or recorded at once; taken over by CAS from a dead winner; asked
/// for if memcached has not handed it out yet; else served stale.
fn judge_stale(read: EnvelopeRead<'_>, now: Timestamp, timing: &Timing) -> Verdict {
    let (found, header) = (read.found, read.header);
    let (meta, on_time, abandoned) = if found.invalidated {
        let meta = EntryMeta {
            soft_deadline: header.meta.soft_deadline.min(now),
            claimed_until: Timestamp::EPOCH,
        };
        (meta, timing.on_time, timing.abandoned)
    } else {
        // Held without a record only if won by `ON_TIME_AFTER_SOFT`
        // after the soft deadline (a reader that knows no token,
        // the client, records always): such a claim has ended a
        // window after that, by every reader's clock, and a live
        // winner has recorded it by its first renewal.
        let on_time_until = header.meta.soft_deadline.saturating_add(ON_TIME_AFTER_SOFT);
        let on_time = timing.token.is_some() && now <= on_time_until;
        (
            header.meta,
            on_time,
            now > on_time_until.saturating_add(timing.window),
        )
    };
    if read.recorded_claim {
        return Verdict::Done(Some(read.entry(meta)), None);
    }
    if found.won {
        return if on_time {
            Verdict::Done(Some(read.entry(meta)), Some(Hold::Claim(ClaimId(read.cas))))
        } else {
            // A late win: recorded now (nobody else can win it).
            read.claim_by_cas(meta)
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
            read.claim_by_cas(meta)
        } else {
            Verdict::Done(Some(read.entry(waiting)), None)
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
            waiting: Some(read.entry(waiting)),
        },
        // An item that never expires: no reader is handed its win
        // but by invalidation, so a CAS claim races with none.
        _ => read.claim_by_cas(meta),
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

pub(super) fn item_cas(item: &Item) -> Option<u64> {
    match item {
        Item::Missing => None,
        Item::Lease { cas, .. }
        | Item::Envelope { cas, .. }
        | Item::Raw { cas, .. }
        | Item::Foreign { cas } => Some(*cas),
    }
}

/// The envelope `bytes` claimed until `until`; stale in its own header if
/// it was invalidated (a rewrite ends the `X` flag): stale since the epoch,
/// not since `now`, which a process whose clock is behind this one's would
/// read as a soft deadline still to come, and serve the invalidated value
/// as fresh (issue 23's history checker found it).
fn claimed_envelope(
    bytes: &[u8],
    until: Timestamp,
    invalidated: bool,
) -> Result<Vec<u8>, StoreError> {
    let protocol = |error: envelope::EnvelopeError| {
        StoreError::new(StoreErrorKind::Protocol, error.to_string())
    };
    let mut claimed = envelope::with_claim(bytes, until).map_err(protocol)?;
    if invalidated {
        // The soft deadline is the 8 bytes after the magic and the format.
        claimed[3..11].copy_from_slice(&Timestamp::EPOCH.as_millis().to_le_bytes());
    }
    Ok(claimed)
}

/// What a claim's read of `seen` does about its verdict: take the claim
/// only of the version its caller read, or of an invalidated one whose
/// win this read took (only one read can: a read that had to give the win
/// back bumped the CAS of what its caller saw); give any other win back.
pub(super) fn for_a_claim(
    &(_, seen): &(Key, Version),
    glance: Glance,
    verdict: Verdict,
) -> Verdict {
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
pub(super) fn for_a_lease(verdict: Verdict) -> Verdict {
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
/// `until` in whole seconds rounded up, plus one (see [`Ops::renew_many`](super::Ops::renew_many)).
pub(super) fn lease_renewal(lease: LeaseId, until: Timestamp, now: Timestamp) -> SetFlags {
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
pub(super) fn renewed_lease(reply: Reply) -> Result<Option<Hold>, StoreError> {
    match reply {
        Reply::Done(flags) => Ok(Some(Hold::Lease(LeaseId(flags.cas.unwrap_or(0))))),
        Reply::Exists(_) | Reply::NotFound(_) => Ok(None),
        other => Err(unexpected(&other, "ms C (renewing a lease)")),
    }
}

/// What the reply to a [`claim_request`] says: the claim recorded (its new
/// CAS), or lost to another writer (`None`).
pub(super) fn claim_recorded(reply: Reply) -> Result<Option<u64>, StoreError> {
    match reply {
        Reply::Done(flags) => Ok(Some(flags.cas.unwrap_or(0))),
        Reply::Exists(_) | Reply::NotFound(_) => Ok(None),
        other => Err(unexpected(&other, "ms C (claim)")),
    }
}

/// The `ms ... C<cas>` of the envelope `bytes` with its claim until
/// `until`, with a TTL that keeps memcached from handing its win out
/// before then.
pub(super) fn claim_request(
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
    let claimed = claimed_envelope(bytes, until, invalidated)?;
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
pub(super) fn claimed(
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

/// The flags of an invalidation.
pub(super) fn invalidation(compare_cas: Option<u64>, ttl: Option<u32>) -> DeleteFlags {
    DeleteFlags {
        compare_cas,
        invalidate: true,
        ttl: Some(ttl.unwrap_or(INVALIDATED_TTL)),
        ..DeleteFlags::default()
    }
}

#[cfg(test)]
#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::policy::Deadlines;

    pub(in crate::store::memcached::ops) const NOW: Timestamp =
        Timestamp::from_millis(1_700_000_000_000);

    pub(in crate::store::memcached::ops) fn at(seconds_from_now: i64) -> Timestamp {
        let millis = NOW.as_millis() as i64 + seconds_from_now * 1000;
        Timestamp::from_millis(millis as u64)
    }

    /// A memoized function's read: claims and leases for the 3 s liveness
    /// window, values kept 70 s stale (the recache token).
    pub(in crate::store::memcached::ops) fn used() -> ReadFor {
        ReadFor::Use {
            claim_until: at(3),
            lease_for: Duration::from_secs(3),
            keep_stale: Duration::from_secs(70),
        }
    }

    /// An envelope soft at `soft`, hard at `soft + 70`, claimed until `claimed`.
    pub(in crate::store::memcached::ops) fn envelope_at(
        soft: i64,
        claimed: Option<i64>,
    ) -> Vec<u8> {
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

    /// A read that won the recache token, `left` seconds of TTL left.
    fn won(left: u32) -> Flags {
        Flags {
            won: true,
            left,
            ..NONE
        }
    }

    /// A read that found the recache token taken, `left` seconds left.
    fn taken(left: u32) -> Flags {
        Flags {
            taken: true,
            left,
            ..NONE
        }
    }

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
        judged_at(NOW, seconds, flags)
    }

    /// The same, read a millisecond later.
    fn a_millisecond_later(seconds: i64, flags: Flags) -> Verdict {
        judged_at(NOW.saturating_add(Duration::from_millis(1)), seconds, flags)
    }

    /// A read at `now` of an envelope stale for `seconds` at [`NOW`].
    fn judged_at(now: Timestamp, seconds: i64, flags: Flags) -> Verdict {
        let item = Item::Envelope {
            cas: 9,
            bytes: envelope_at(-seconds, None),
        };
        judge(seen(item, flags), now, used())
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
        let verdict = stale_for(30, won(40));
        assert!(matches!(verdict, Verdict::ClaimByCas { cas: 9, .. }));
        // Won 1.001 s after the soft deadline (whatever memcached's whole
        // seconds say): recorded too.
        let verdict = a_millisecond_later(1, won(69));
        assert!(matches!(verdict, Verdict::ClaimByCas { cas: 9, .. }));
    }

    #[test]
    fn a_taken_win_is_waited_for_until_its_winners_claim_has_ended() {
        // Its winner took it by a second after the soft deadline (or
        // recorded it), for a 3 s window: until 4 s after the deadline, by
        // the clock, whatever memcached's whole seconds say, it is alive.
        for (stale, left) in [(1, 68), (4, 72), (4, 40)] {
            let verdict = stale_for(stale, taken(left));
            assert!(hold(&verdict).is_none(), "stale {stale} s");
            assert!(
                served_claim(&verdict).is_some_and(|until| until > NOW),
                "stale {stale} s"
            );
        }
        // Past that, and still no claim recorded: its winner died.
        let verdict = a_millisecond_later(4, taken(72));
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
        let verdict = judge(seen(stub(true), won(3)), NOW, used());
        assert_eq!(hold(&verdict), Some(Hold::Lease(LeaseId(4))));
        // A renewed stub whose recache token came: still its holder's.
        let verdict = judge(seen(stub(false), won(3)), NOW, used());
        assert!(matches!(verdict, Verdict::Done(Some(Found::Leased), None)));
        let verdict = judge(seen(stub(true), taken(3)), NOW, used());
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
}
