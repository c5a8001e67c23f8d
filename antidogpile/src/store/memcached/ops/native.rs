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
//!   and [`TOKEN_LAG`](super::judge::TOKEN_LAG) after it (memcached counts whole seconds). A claim
//!   recorded in the envelope (the holder's renewals, `ms ... C<cas>`) is
//!   written with a TTL that keeps the win from being handed out until the
//!   claim ends.
//! - `md ... I T<ttl>` marks an item stale (`X`), bumps its CAS (so a write
//!   held by an older CAS is refused) and hands its win out again: the
//!   **soft invalidation**, and the release of a claim (`C<claim>`), with
//!   [`INVALIDATED_TTL`](super::judge::INVALIDATED_TTL) so that readers can tell how long ago it was.
//!
//! A win is never taken back by the server, so a winner that dies before
//! it recorded its claim must still be replaced. A stale value's win is
//! dated by the value's own soft deadline, to the millisecond: a winner
//! holds it without recording it only if it won within
//! [`ON_TIME_AFTER_SOFT`](super::judge::ON_TIME_AFTER_SOFT) of that deadline (by its clock), else it records
//! its claim at once; so a reader that finds the win taken and no claim
//! recorded takes it over by CAS once the soft deadline plus
//! [`ON_TIME_AFTER_SOFT`](super::judge::ON_TIME_AFTER_SOFT) plus a claim's window has passed: the winner's
//! claim has ended by then, and a live winner would have renewed it, and
//! so recorded it. An invalidated item's win is dated by memcached's whole
//! seconds only (its remaining TTL), with their margins. A reader that
//! finds a stale value and no win handed out yet (memcached hands it out up
//! to [`TOKEN_LAG`](super::judge::TOKEN_LAG) after the soft deadline) asks for it with a second read.
//!
//! Any `mg` of an invalidated item whose win is free takes it: a read that
//! must take nothing ([`ReadFor::Peek`]) gives a win it took back at once.
//!
//! The operations, each defined once for a batch (a single key is a batch
//! of one: the same request, the same exchange), one pipelined exchange
//! per server for each round of requests:
//!
//! - read: `mg <k> v f c t`, with `N` and `R` for a read that acts on
//!   what it finds ([`ReadFor::Use`]); the rare second requests of a batch
//!   (a read that asks for a win not handed out yet, a claim recorded by
//!   CAS) are sent together, the rarer others one by one.
//! - lease (`try_lease_many`): the same `mg ... N`, without a recache
//!   token; a win that is not a lease (an invalidated value's) is given
//!   back.
//! - claim (`try_claim_many`): `mg` without `N` (a claim never creates
//!   anything), of the version the caller read.
//! - renew: a lease's item rewritten by CAS (`ms ... C<cas>`) with a new
//!   TTL; a claim recorded in its envelope (`mg`, then `ms ... C<cas>`).
//! - held write (a refresh or a fill settling): `ms ... C<cas>` with the
//!   CAS of the claimed envelope or of the lease stub: any `md`,
//!   invalidation, write or newer claim or lease since changed or removed
//!   it, so a compute that started before an invalidation is refused.
//! - release: a claim by `md ... I C<claim>` (its win goes to the next
//!   reader), a lease by `md ... C<lease>`.
//!
//! CAS here only guards a holder's own writes; who holds a claim or a
//! lease is decided by the wins alone.

use std::time::Duration;

use super::judge::{
    claim_recorded, claim_request, claimed, for_a_claim, for_a_lease, invalidation, item_cas,
    judge, lease_renewal, read_request, read_request_with, renewed_lease, Glance, Seen, Verdict,
};
use super::{
    lease_expiry, logical_key, only, remaining_ttl, unexpected, unless_all_failed, Exchange, Item,
    Ops, ENVELOPE_FLAGS, LEASE_FLAGS,
};
use crate::clock::Timestamp;
use crate::envelope;
use crate::error::{StoreError, StoreErrorKind};
use crate::key::Key;
use crate::policy::Deadlines;
use crate::store::memcached::codec::{
    encode_delete, encode_set, DeleteFlags, Reply, SetFlags, SetMode, WireKey,
};
use crate::store::{ClaimId, Found, Hold, LeaseId, ReadFor, Renew, Stored, Version, Write};

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
        let (routings, verdicts) = self.read_keys(keys, purpose, now, |verdict| verdict).await;
        let settled = self.settle_many(&routings, verdicts, now, purpose).await;
        Found::of_batch(settled)
    }

    /// [`read_and_judge`](Ops::read_and_judge) of `keys`, each read and
    /// judged for `purpose`, its verdict turned by `adapt`.
    #[allow(clippy::type_complexity)]
    async fn read_keys(
        &self,
        keys: &[Key],
        purpose: ReadFor,
        now: Timestamp,
        adapt: fn(Verdict) -> Verdict,
    ) -> (Vec<String>, Vec<Result<Verdict, StoreError>>) {
        self.read_and_judge(
            keys,
            |key| key,
            (purpose, purpose),
            now,
            |_, _, verdict| adapt(verdict),
        )
        .await
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

    /// Takes the cold-miss lease of `key` if nothing live is there:
    /// [`try_lease_many`](Ops::try_lease_many) of one.
    pub(crate) async fn try_lease(
        &self,
        key: &Key,
        now: Timestamp,
        grace: Duration,
    ) -> Result<Option<LeaseId>, StoreError> {
        only(
            self.try_lease_many(std::slice::from_ref(key), now, grace)
                .await,
        )
    }

    /// Takes the cold-miss lease of every key with nothing live under it,
    /// for `grace`: one `mg ... N` each (the stub it makes, and wins, is
    /// the lease), one pipelined exchange per server; a second request
    /// only to replace a dead item by CAS, or to give back the win of an
    /// invalidated value that a read takes (a claim, not a lease).
    #[allow(clippy::type_complexity)]
    pub(crate) async fn try_lease_many(
        &self,
        keys: &[Key],
        now: Timestamp,
        grace: Duration,
    ) -> Result<Vec<Result<Option<LeaseId>, StoreError>>, StoreError> {
        let purpose = ReadFor::Use {
            claim_until: now.saturating_add(grace),
            lease_for: grace,
            keep_stale: Duration::ZERO,
        };
        let (routings, verdicts) = self.read_keys(keys, purpose, now, for_a_lease).await;
        let verdicts = unless_all_failed(verdicts)?;
        let settled = self.settle_many(&routings, verdicts, now, purpose).await;
        Ok(settled
            .into_iter()
            .map(|outcome| {
                outcome.map(|(_, hold)| match hold {
                    Some(Hold::Lease(lease)) => Some(lease),
                    _ => None,
                })
            })
            .collect())
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

    pub(crate) async fn delete(
        &self,
        key: &Key,
        compare_cas: Option<u64>,
    ) -> Result<(), StoreError> {
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
}

#[cfg(test)]
mod tests {
    use super::super::judge::tests::{envelope_at, used, NOW};
    use super::*;
    use crate::store::memcached::codec::{RemainingTtl, ReturnFlags};

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
