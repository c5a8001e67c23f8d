//! The cache client: typed operations on a [`Cache`] for code that does not
//! use the macro, with the same soft/hard/grace semantics.
//!
//! Every operation is written once, as an `async fn` over the [`Io`]
//! adapter that memoized calls use: [`Cache`]'s methods drive it with
//! blocking I/O, [`AsyncCache`]'s await the store's non-blocking I/O.

use crate::store::block_on;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::cache::Cache;
use crate::clock::Timestamp;
use crate::envelope::encode_payload;
use crate::error::{Error, StoreError, StoreErrorKind};
use crate::flight::Flight;
use crate::hooks::Served;
pub use crate::io::Invalidate;
use crate::io::{Io, Looked, Read, Taking};
use crate::key::{ArgumentEncoder, Key};
use crate::memo::{fresh_hit, Call, Driver, Job, Next, Progress};
use crate::outcome::{Always, Cacheable, Outcome};
use crate::policy::{decide, Deadlines, Decision, Timeouts};
use crate::site::{Site, SiteOptions};
use crate::stats::Event;
use crate::store::{Counted, Delta, Hold, ReadFor, Store, Stored, Write};

mod recompute;

pub use recompute::Recompute;

static CLIENT: Site = Site::new(Cache::CLIENT_NAMESPACE, SiteOptions::DEFAULT);

/// The timeouts of a value set through the client: fresh for `soft`, kept
/// `soft * factor` (the cache's factor unless given), and recomputed by one
/// caller at a time for `grace` (the cache's grace unless given).
///
/// A [`Duration`] converts into a `Ttl` with only `soft` set.
///
/// ```
/// use antidogpile::Ttl;
/// use std::time::Duration;
///
/// let ttl = Ttl::soft(Duration::from_secs(30)).factor(4).grace(Duration::from_secs(5));
/// assert_eq!(ttl.soft_timeout(), Duration::from_secs(30));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ttl {
    soft: Duration,
    factor: Option<u32>,
    grace: Option<Duration>,
}

impl Ttl {
    /// Fresh for `soft`.
    pub const fn soft(soft: Duration) -> Ttl {
        Ttl {
            soft,
            factor: None,
            grace: None,
        }
    }

    /// Kept `soft * factor` in the store (0 is taken as 1).
    pub const fn factor(self, factor: u32) -> Ttl {
        Ttl {
            factor: Some(factor),
            ..self
        }
    }

    /// One caller at a time may recompute for `grace`.
    pub const fn grace(self, grace: Duration) -> Ttl {
        Ttl {
            grace: Some(grace),
            ..self
        }
    }

    /// How long a value is fresh.
    pub const fn soft_timeout(&self) -> Duration {
        self.soft
    }

    fn timeouts(&self, cache: &Cache) -> Timeouts {
        self.timeouts_with(cache.hard_timeout_factor(), cache.default_grace())
    }

    /// The timeouts, with these defaults for what it does not set.
    fn timeouts_with(&self, factor: u32, grace: Duration) -> Timeouts {
        Timeouts::new(
            self.soft,
            self.factor.unwrap_or(factor),
            self.grace.unwrap_or(grace),
        )
    }
}

impl From<Duration> for Ttl {
    fn from(soft: Duration) -> Ttl {
        Ttl::soft(soft)
    }
}

/// What [`Cache::get`] found, and what the caller should do about it.
///
/// Of all the callers that find a value stale, or nothing at all, exactly
/// one is told [`Recompute`](Got::Recompute): it holds the refresh claim or
/// the cold-miss lease, in the [`Recompute`] duty handed with it, until it
/// sets the value through it, drops it, or the grace runs out. It should
/// compute the value and [`set`](Recompute::set) it. The others are given
/// the stale value, or told the value is [`Pending`](Got::Pending).
#[derive(Debug, PartialEq, Eq)]
#[must_use]
pub enum Got<V> {
    /// A fresh value (a value from a hard set is always fresh).
    Fresh(V),
    /// A stale value, while another caller recomputes it: serve it.
    Stale(V),
    /// This caller should compute the value and set it through the
    /// [`Recompute`] duty (dropping the duty gives the claim or lease back
    /// at once). The stale value, if there is one, is here to serve should
    /// the computation fail.
    Recompute(Option<V>, Recompute),
    /// Nothing stored yet: another caller holds the cold-miss lease and is
    /// computing it. Ask again shortly, or use [`Cache::get_or_compute`],
    /// which waits.
    Pending,
}

impl<V> Got<V> {
    /// The value, fresh or stale, if there is one. (A [`Recompute`] duty
    /// is dropped: its claim or lease given back.)
    pub fn value(self) -> Option<V> {
        match self {
            Got::Fresh(value) | Got::Stale(value) | Got::Recompute(Some(value), _) => Some(value),
            Got::Recompute(None, _) | Got::Pending => None,
        }
    }

    /// Whether this caller should compute the value and set it.
    pub fn must_recompute(&self) -> bool {
        matches!(self, Got::Recompute(..))
    }
}

/// The store key of a client key.
fn key_of<K: Serialize + ?Sized>(key: &K) -> Result<Key, Error> {
    let mut encoder = ArgumentEncoder::new();
    encoder.push(key);
    encoder
        .finish(crate::telemetry::seed(&CLIENT))
        .map(|fingerprint| Key::new(fingerprint, Cache::CLIENT_NAMESPACE, 0))
        .ok_or_else(|| Error::InvalidKey("the key could not be serialized".to_owned()))
}

fn keys_of<K: Serialize>(keys: &[K]) -> Result<Vec<Key>, Error> {
    keys.iter().map(key_of).collect()
}

/// A value as a soft set stores it: as it is in memory, serialized for a
/// store that keeps bytes.
fn soft_value<V: Cacheable>(cache: &Cache, value: &V) -> Result<Stored, Error> {
    soft_value_in(&*cache.store, value)
}

/// [`soft_value`] for `store`.
fn soft_value_in<V: Cacheable>(store: &dyn Store, value: &V) -> Result<Stored, Error> {
    if store.keeps_bytes() {
        encode_payload(value)
            .map(Stored::Bytes)
            .map_err(|error| Error::Serialize(error.to_string()))
    } else {
        Ok(Stored::Object(Arc::new(value.clone())))
    }
}

fn hard_value<V: Cacheable>(value: &V) -> Result<Stored, Error> {
    crate::raw::encode(value)
        .map(Stored::Raw)
        .map_err(|error| Error::Serialize(error.to_string()))
}

/// Deadlines of a hard set: none but the TTL (`None`: no expiry).
fn hard_deadlines(now: Timestamp, ttl: Option<Duration>) -> Deadlines {
    let hard = ttl.map_or(Timestamp::MAX, |ttl| now.saturating_add(ttl));
    Deadlines { soft: hard, hard }
}

/// The write of a hard set.
fn hard_write_of<V: Cacheable, K: Serialize + ?Sized>(
    key: &K,
    value: &V,
    ttl: Option<Duration>,
    now: Timestamp,
) -> Result<Write, Error> {
    Ok(Write {
        key: key_of(key)?,
        value: hard_value(value)?,
        deadlines: hard_deadlines(now, ttl),
    })
}

fn store_error(error: StoreError) -> Error {
    CLIENT.counters.count(Event::StoreError);
    Error::Store(error)
}

/// How a client write keeps its value: anti-dogpiled for a TTL, or raw.
#[derive(Clone, Copy)]
enum Keep {
    Soft(Ttl),
    Hard(Option<Duration>),
}

/// The client's operations over one kind of I/O.
struct Ops<'c> {
    cache: &'c Cache,
    io: Io<'c>,
}

impl<'c> Ops<'c> {
    /// How long a `get` takes a claim or lease for: the grace, or the
    /// liveness window in a store that renews holds (its [`Recompute`]
    /// duty renews it up to the grace while it lives, so that a killed
    /// process's duty lapses within the window).
    fn hold_window(&self, grace: Duration) -> Duration {
        crate::holds::hold_window(self.io.store, self.cache.liveness(), grace)
    }

    /// What a `get` read may take in the same request (see [`ReadFor::Use`]).
    fn read_for(&self, now: Timestamp, grace: Duration) -> ReadFor {
        if !self.io.store.reads_take_holds() {
            return ReadFor::Peek;
        }
        let window = self.hold_window(grace);
        ReadFor::Use {
            claim_until: now.saturating_add(window),
            lease_for: window,
            // Unknown to a read: the values' TTLs come with their writes.
            keep_stale: Duration::ZERO,
        }
    }

    /// Decides on what was found under `key`, claiming or leasing as `get` does.
    async fn got<V: Cacheable>(
        &self,
        key: &Key,
        read: Read<V>,
        grace: Duration,
    ) -> Result<Got<V>, Error> {
        let counters = &CLIENT.counters;
        let Read { now, found, taking } = read;
        let looked = found.map_err(store_error)?;
        let held = |hold| Recompute::new(self.cache, *key, Some(hold), now, grace);
        let window = self.hold_window(grace);
        if let (Looked::Entry { value, .. }, Taking::Took(hold @ Hold::Claim(_))) =
            (&looked, taking)
        {
            counters.count(Event::StaleHit);
            return Ok(Got::Recompute(Some(value.clone()), held(hold)));
        }
        if let Taking::Took(hold @ Hold::Lease(_)) = taking {
            counters.count(Event::Miss);
            return Ok(Got::Recompute(None, held(hold)));
        }
        let refused = taking == Taking::Refused;
        match looked {
            Looked::Entry {
                meta,
                version,
                value,
            } => match decide(Some(meta), now, grace) {
                Decision::Fresh => {
                    counters.count(Event::FreshHit);
                    Ok(Got::Fresh(value))
                }
                Decision::ClaimRefresh { claim_until } if !refused => {
                    counters.count(Event::StaleHit);
                    let claim_until = claim_until.min(now.saturating_add(window));
                    let claim = self.io.try_claim(*key, version, now, claim_until).await;
                    match claim.map_err(store_error)? {
                        Some(claim) => Ok(Got::Recompute(Some(value), held(Hold::Claim(claim)))),
                        None => Ok(Got::Stale(value)),
                    }
                }
                Decision::ClaimRefresh { .. } | Decision::ServeStale | Decision::Miss => {
                    counters.count(Event::StaleHit);
                    Ok(Got::Stale(value))
                }
            },
            Looked::Leased => {
                counters.count(Event::Miss);
                Ok(Got::Pending)
            }
            // Bytes of another type: recompute and overwrite.
            Looked::Absent { overwrite: true } => {
                counters.count(Event::Miss);
                Ok(Got::Recompute(
                    None,
                    Recompute::new(self.cache, *key, None, now, grace),
                ))
            }
            Looked::Absent { overwrite: false } if refused => {
                counters.count(Event::Miss);
                Ok(Got::Pending)
            }
            Looked::Absent { overwrite: false } => {
                counters.count(Event::Miss);
                let lease = self.io.try_lease(*key, now, window).await;
                match lease.map_err(store_error)? {
                    Some(lease) => Ok(Got::Recompute(None, held(Hold::Lease(lease)))),
                    None => Ok(Got::Pending),
                }
            }
        }
    }

    async fn get<V: Cacheable, K: Serialize + ?Sized>(
        &self,
        key: &K,
        grace: Duration,
    ) -> Result<Got<V>, Error> {
        let key = key_of(key)?;
        let now = self.cache.clock.now();
        let purpose = self.read_for(now, grace);
        let read = Read::of(now, purpose, self.io.look::<V>(&key, now, purpose).await);
        self.got(&key, read, grace).await
    }

    async fn get_many<V: Cacheable, K: Serialize>(
        &self,
        keys: &[K],
        grace: Duration,
    ) -> Result<Vec<Got<V>>, Error> {
        let keys = keys_of(keys)?;
        let now = self.cache.clock.now();
        let found = self
            .io
            .look_many::<V>(&keys, now)
            .await
            .map_err(store_error)?;
        let mut got = Vec::with_capacity(keys.len());
        for (key, looked) in keys.iter().zip(found) {
            let read = Read::of(now, ReadFor::Peek, Ok((looked, None)));
            got.push(self.got(key, read, grace).await?);
        }
        Ok(got)
    }

    fn write_of<V: Cacheable, K: Serialize + ?Sized>(
        &self,
        key: &K,
        value: &V,
        keep: Keep,
        now: Timestamp,
    ) -> Result<Write, Error> {
        match keep {
            Keep::Soft(ttl) => Ok(Write {
                key: key_of(key)?,
                value: soft_value(self.cache, value)?,
                deadlines: ttl.timeouts(self.cache).deadlines(now, 0.0),
            }),
            Keep::Hard(ttl) => hard_write_of(key, value, ttl, now),
        }
    }

    /// `set` and `set_hard`.
    async fn set<V: Cacheable, K: Serialize + ?Sized>(
        &self,
        key: &K,
        value: &V,
        keep: Keep,
    ) -> Result<(), Error> {
        let now = self.cache.clock.now();
        let write = self.write_of(key, value, keep, now)?;
        self.write(write, now).await
    }

    /// `add` and `add_hard`.
    async fn add_one<V: Cacheable, K: Serialize + ?Sized>(
        &self,
        key: &K,
        value: &V,
        keep: Keep,
    ) -> Result<bool, Error> {
        let now = self.cache.clock.now();
        let write = self.write_of(key, value, keep, now)?;
        self.add(write, now).await
    }

    /// `set_many` and `set_many_hard`.
    async fn set_entries<V: Cacheable, K: Serialize>(
        &self,
        entries: &[(K, V)],
        keep: Keep,
    ) -> Result<(), Error> {
        let now = self.cache.clock.now();
        let writes = entries
            .iter()
            .map(|(key, value)| self.write_of(key, value, keep, now))
            .collect::<Result<Vec<_>, Error>>()?;
        self.set_many(writes, now).await
    }

    async fn write(&self, write: Write, now: Timestamp) -> Result<(), Error> {
        let Write {
            key,
            value,
            deadlines,
        } = write;
        let written = self.io.write(key, None, value, deadlines, now).await;
        written.map(drop).map_err(store_error)
    }

    async fn add(&self, write: Write, now: Timestamp) -> Result<bool, Error> {
        let added = self.io.store.add(self.io.wait, write, now).await;
        added.map_err(store_error)
    }

    async fn set_many(&self, writes: Vec<Write>, now: Timestamp) -> Result<(), Error> {
        let written = self.io.store.write_many(self.io.wait, writes, now).await;
        written.map_err(store_error)
    }

    async fn delete(&self, key: &Key, how: Invalidate) -> Result<bool, Error> {
        let now = self.cache.clock.now();
        let deleted = self.io.invalidate(*key, how, now).await;
        self.cache.forget_in_process(key);
        deleted.map_err(store_error)
    }

    async fn delete_many(&self, keys: &[Key], how: Invalidate) -> Result<(), Error> {
        match how {
            Invalidate::Hard => {
                let deleted = self.io.store.remove_many(self.io.wait, keys).await;
                let deleted = deleted.map_err(store_error);
                for key in keys {
                    self.cache.forget_in_process(key);
                }
                deleted
            }
            Invalidate::Soft => {
                for key in keys {
                    self.delete(key, Invalidate::Soft).await?;
                }
                Ok(())
            }
        }
    }

    async fn count<K: Serialize + ?Sized>(&self, key: &K, delta: Delta) -> Result<u64, Error> {
        let key = key_of(key)?;
        let now = self.cache.clock.now();
        let counted = self.io.store.count(self.io.wait, key, delta, now).await;
        match counted.map_err(store_error)? {
            Counted::Value(value) => Ok(value),
            Counted::Absent => Err(Error::NotFound),
            Counted::NotACounter => Err(Error::NotACounter),
        }
    }

    /// Resolves every key: values found are kept, the keys this caller must
    /// compute are computed in one `compute` call per round, and keys that
    /// others are computing are waited for, then looked at again.
    ///
    /// Each round reads every open key in one `Store::read_many` (on memcached, one
    /// pipelined exchange per server), takes the leases and claims the
    /// round's keys need in one batched request each, writes what was
    /// computed in one more (see [`Gather`](crate::io::Gather)), and pauses once for all the
    /// keys another process is computing. It computes the keys it holds
    /// before it waits for anyone, and waits holding no lease (issue 21.1).
    /// A key given more than once is resolved once: its copies would
    /// otherwise wait for each other's lease.
    async fn get_or_compute_many<V, K, C, F, P>(
        &self,
        keys: &[K],
        ttl: Ttl,
        pause: &P,
        mut compute: C,
    ) -> Result<Vec<V>, Error>
    where
        V: Cacheable,
        K: Serialize,
        C: FnMut(Vec<&K>) -> F,
        F: Future<Output = Vec<V>>,
        P: Driver,
    {
        let timeouts = ttl.timeouts(self.cache);
        let all = keys_of(keys)?;
        let batch = Batch::of(&all);
        let calls: Vec<Call<'c>> = batch
            .first
            .iter()
            .map(|&index| Call::with_key(self.cache, &CLIENT, all[index], timeouts))
            .collect();
        let mut progress: Vec<Progress<'c>> = calls.iter().map(|_| Progress::new()).collect();
        let mut values: Vec<Option<V>> = calls.iter().map(|_| None).collect();
        // How each key was served (for `hooks`).
        let mut served: Vec<Served> = calls.iter().map(|_| Served::Waited).collect();
        let gather = crate::io::Gather::new(self.io, Cache::CLIENT_NAMESPACE);
        let gathered = self.io.gathered(&gather);
        let (calls, gather, gathered) = (&calls, &gather, &gathered);
        loop {
            let open: Vec<usize> = (0..calls.len())
                .filter(|&slot| values[slot].is_none())
                .collect();
            if open.is_empty() {
                break;
            }
            let now = self.cache.clock.now();
            let read: Vec<Key> = open.iter().map(|&slot| all[batch.first[slot]]).collect();
            let mut found = self
                .io
                .look_many::<V>(&read, now)
                .await
                .map(|found| found.into_iter().map(Some).collect::<Vec<_>>());
            if let Ok(found) = &found {
                gather.found_leased(
                    read.iter()
                        .zip(found)
                        .filter(|(_, found)| matches!(found, Some(Looked::Leased)))
                        .map(|(key, _)| key.fingerprint().as_u128()),
                );
            }
            // The open keys' turns, side by side: their leases and claims go together.
            let turns = progress
                .iter_mut()
                .enumerate()
                .filter(|(slot, _)| values[*slot].is_none())
                .enumerate()
                .map(|(position, (slot, progress))| {
                    let looked = match &mut found {
                        Ok(found) => found[position]
                            .take()
                            .map(|looked| (looked, None))
                            .ok_or_else(|| StoreError::new(StoreErrorKind::Other, "read twice")),
                        Err(error) => Err(error.clone()),
                    };
                    let read = Read::of(now, ReadFor::Peek, looked);
                    async move {
                        let next = calls[slot].next_after(gathered, progress, Some(read)).await;
                        (slot, next)
                    }
                });
            let turns = gather.all(turns).await;
            let mut jobs: Vec<(usize, Job<'c, V>)> = Vec::new();
            let mut flights: Vec<(usize, Arc<Flight>)> = Vec::new();
            let mut polls: Vec<usize> = Vec::new();
            // Keys whose lease this round took, to be read again before they are computed.
            let mut looking_again: Vec<usize> = Vec::new();
            for (slot, next) in turns {
                match next {
                    Next::Value(value) => {
                        served[slot] = progress[slot].served;
                        values[slot] = Some(value);
                    }
                    Next::Compute(job) => {
                        served[slot] = Served::Computed { held: job.held() };
                        jobs.push((slot, job));
                    }
                    Next::Wait(flight) => flights.push((slot, flight)),
                    Next::Poll => polls.push(slot),
                    Next::LookAgain => looking_again.push(slot),
                }
            }
            // A key whose holder it must not wait for (itself, or a task its
            // blocked thread would have to run: see `Driver::may_wait`) is
            // computed with the keys it holds, its value returned, not stored.
            let mut bypassed: Vec<usize> = Vec::new();
            flights.retain(|(slot, flight)| {
                match calls[*slot].may_wait(pause, flight, &progress[*slot]) {
                    Ok(()) => true,
                    Err(bypass) => {
                        bypass.warn(&CLIENT);
                        served[*slot] = Served::Uncached;
                        bypassed.push(*slot);
                        false
                    }
                }
            });
            if crate::hooks::broken(crate::hooks::Broken::BatchWaitsHolding) && !jobs.is_empty() {
                // A broken build (`hooks::Broken`): waits for the others'
                // keys, in this process and in others, holding the leases
                // of `jobs` (up to the grace).
                for (slot, flight) in flights.drain(..) {
                    calls[slot].count_wait(&mut progress[slot]);
                    let until = calls[slot].grace_ends(&progress[slot]);
                    let landing = pause.wait(&flight, &self.cache.clock, until).await;
                    served[slot] = Served::Waited;
                    values[slot] = calls[slot].landed(landing);
                }
                let since = self.cache.clock.now();
                let mut polled: Vec<Key> =
                    polls.iter().map(|&slot| all[batch.first[slot]]).collect();
                while !polled.is_empty() && since.until(self.cache.clock.now()) < timeouts.grace {
                    pause.sleep(Duration::from_millis(20)).await;
                    let now = self.cache.clock.now();
                    if let Ok(found) = self.io.look_many::<V>(&polled, now).await {
                        let mut found = found.into_iter();
                        polled.retain(|_| !matches!(found.next(), Some(Looked::Entry { .. })));
                    }
                }
            }
            if !jobs.is_empty() || !bypassed.is_empty() {
                // The leases taken to look again are given back first: the
                // compute may take long (a refresh that hangs), and others
                // must not wait for keys nobody computes meanwhile.
                for &slot in &looking_again {
                    progress[slot].give_back_lease();
                }
                CLIENT.counters.count(Event::Compute);
                let wanted = jobs.iter().map(|(slot, _)| slot).chain(&bypassed);
                let compute = compute(wanted.map(|slot| &keys[batch.first[*slot]]).collect());
                // Its keys' computes run here: a call of one of them from
                // within is re-entrant, not a wait for the batch.
                let mut compute = std::pin::pin!(compute);
                let mut computed = std::future::poll_fn(|context| {
                    let _computing: Vec<_> = jobs
                        .iter()
                        .filter_map(|(_, job)| job.computing_here())
                        .collect();
                    compute.as_mut().poll(context)
                })
                .await;
                if computed.len() != jobs.len() + bypassed.len() {
                    let (expected, got) = (jobs.len() + bypassed.len(), computed.len());
                    for (slot, job) in jobs {
                        // Gives back each claim and lease: not cached, nobody waits on it.
                        calls[slot].settle(gathered, job, None::<V>).await;
                    }
                    return Err(Error::BatchLength { expected, got });
                }
                for (slot, value) in bypassed.into_iter().zip(computed.split_off(jobs.len())) {
                    values[slot] = Some(value);
                }
                // Their guarded writes go together.
                let settles =
                    jobs.into_iter()
                        .zip(computed)
                        .map(|((slot, job), value)| async move {
                            let Always(value) =
                                calls[slot].settle(gathered, job, Always(value)).await;
                            (slot, value)
                        });
                for (slot, value) in gather.all(settles).await {
                    values[slot] = Some(value);
                }
            }
            // The batch never waits while it holds a lease: the holder it
            // would wait for may be waiting for that key (its compute calls
            // it, or it is a batch of the same keys in another order), and
            // both would wait out the grace. A key it holds is computed
            // (above) or read again now, before it waits; a key it polls for
            // is given back while it waits for this process's computes.
            if !looking_again.is_empty() {
                continue;
            }
            if !flights.is_empty() {
                for &slot in &polls {
                    progress[slot].give_back_lease();
                }
            }
            // Computes in this process run side by side: waiting for one
            // after another takes as long as the slowest.
            for (slot, flight) in flights {
                calls[slot].count_wait(&mut progress[slot]);
                let until = calls[slot].grace_ends(&progress[slot]);
                let landing = pause.wait(&flight, &self.cache.clock, until).await;
                served[slot] = Served::Waited;
                values[slot] = calls[slot].landed(landing);
            }
            // One pause for every key another process computes.
            let mut shortest: Option<Duration> = None;
            for slot in polls {
                calls[slot].count_wait(&mut progress[slot]);
                let next = progress[slot].next_backoff();
                shortest = Some(shortest.map_or(next, |shortest| shortest.min(next)));
            }
            if let Some(shortest) = shortest {
                pause.sleep(shortest).await;
            }
        }
        if crate::hooks::reporting() {
            for &slot in &batch.slot_of {
                crate::hooks::report(|| served[slot]);
            }
        }
        Ok(batch.spread(values.into_iter().flatten().collect()))
    }
}

/// The distinct keys of a batch, and where each of its keys went.
struct Batch {
    /// For each distinct key (a slot), the index of its first occurrence.
    first: Vec<usize>,
    /// For each key of the batch, its slot.
    slot_of: Vec<usize>,
}

impl Batch {
    fn of(keys: &[Key]) -> Batch {
        let mut slots: HashMap<u128, usize> = HashMap::with_capacity(keys.len());
        let mut first = Vec::with_capacity(keys.len());
        let slot_of = keys
            .iter()
            .enumerate()
            .map(|(index, key)| {
                // All keys of one batch share the client's namespace and version.
                *slots.entry(key.fingerprint().as_u128()).or_insert_with(|| {
                    first.push(index);
                    first.len() - 1
                })
            })
            .collect();
        Batch { first, slot_of }
    }

    /// One value per key of the batch, from one per slot: a slot's value is
    /// moved to its last use and cloned for the others.
    fn spread<V: Clone>(&self, values: Vec<V>) -> Vec<V> {
        let mut last_use = vec![0; values.len()];
        for (index, &slot) in self.slot_of.iter().enumerate() {
            last_use[slot] = index;
        }
        let mut values: Vec<Option<V>> = values.into_iter().map(Some).collect();
        self.slot_of
            .iter()
            .enumerate()
            .filter_map(|(index, &slot)| {
                if last_use[slot] == index {
                    values[slot].take()
                } else {
                    values[slot].clone()
                }
            })
            .collect()
    }
}

/// The client operations, blocking: for threads. In `async` code use
/// [`Cache::as_async`], whose operations never block the runtime.
impl Cache {
    fn blocking_ops(&self) -> Ops<'_> {
        Ops {
            cache: self,
            io: Io::blocking(&*self.store),
        }
    }

    /// The value under `key`, and whether this caller should recompute it
    /// (see [`Got`]), with the cache's default grace.
    ///
    /// What it commits the caller to: when it answers
    /// [`Got::Recompute`], this caller holds the key's refresh claim or
    /// cold-miss lease, and every other caller is served the stale value or
    /// told [`Pending`](Got::Pending) until it sets the value through the
    /// [`Recompute`] duty (or with [`set`](Cache::set)), drops the duty, or
    /// the grace runs out. So compute promptly, and drop the duty at once if
    /// you will not set. Set through the duty: a value computed from data
    /// read before a [`delete`](Cache::delete) or [`delete_hard`](Cache::delete_hard)
    /// is then refused, never stored as fresh after it.
    ///
    /// A store failure is an error (the caller decides what to do; use
    /// [`get_or_compute`](Cache::get_or_compute) to compute through it).
    ///
    /// ```
    /// use antidogpile::{Cache, Got, store::MemoryStore};
    /// use std::time::Duration;
    ///
    /// let cache = Cache::new(MemoryStore::new());
    /// let Got::Recompute(None, duty) = cache.get::<String, _>("greeting")? else {
    ///     unreachable!("the first caller computes")
    /// };
    /// assert_eq!(cache.get::<String, _>("greeting")?, Got::Pending, "the others are told to wait");
    ///
    /// duty.set(&"hello".to_owned(), Duration::from_secs(30))?;
    /// assert_eq!(cache.get("greeting")?, Got::Fresh("hello".to_owned()));
    /// # Ok::<(), antidogpile::Error>(())
    /// ```
    pub fn get<V: Cacheable, K: Serialize + ?Sized>(&self, key: &K) -> Result<Got<V>, Error> {
        self.get_with_grace(key, self.default_grace())
    }

    /// [`get`](Cache::get) with a grace of its own: the time the caller told
    /// to recompute has before another caller is told to.
    pub fn get_with_grace<V: Cacheable, K: Serialize + ?Sized>(
        &self,
        key: &K,
        grace: Duration,
    ) -> Result<Got<V>, Error> {
        block_on(self.blocking_ops().get(key, grace))
    }

    /// The value under `key` if there is one, fresh or stale, without
    /// claiming anything: a plain read.
    pub fn peek<V: Cacheable, K: Serialize + ?Sized>(&self, key: &K) -> Result<Option<V>, Error> {
        let key = key_of(key)?;
        let now = self.clock.now();
        let io = Io::blocking(&*self.store);
        match block_on(io.look::<V>(&key, now, ReadFor::Peek)).map_err(store_error)? {
            (Looked::Entry { value, .. }, _) => Ok(Some(value)),
            _ => Ok(None),
        }
    }

    /// Stores `value` under `key`, fresh for `ttl`'s soft timeout (a
    /// [`Duration`] or a [`Ttl`]), kept `soft * factor`. It replaces what
    /// was there, and ends any refresh claim or cold-miss lease.
    /// (After a [`Got::Recompute`], [`Recompute::set`] is the safer write:
    /// it is refused if the key was invalidated meanwhile.)
    pub fn set<V: Cacheable, K: Serialize + ?Sized>(
        &self,
        key: &K,
        value: &V,
        ttl: impl Into<Ttl>,
    ) -> Result<(), Error> {
        block_on(self.blocking_ops().set(key, value, Keep::Soft(ttl.into())))
    }

    /// Stores `value` under `key` without anti-dogpiling: a raw value
    /// (integers as decimal digits, which [`incr`](Cache::incr) counts),
    /// never stale, gone after `ttl` (`None`: kept until evicted).
    ///
    /// ```
    /// let cache = antidogpile::Cache::from_url("memory://")?;
    /// cache.set_hard("visits", &10u64, None)?;
    /// assert_eq!(cache.incr("visits", 5)?, 15);
    /// assert_eq!(cache.get("visits")?, antidogpile::Got::Fresh(15u64));
    /// # Ok::<(), antidogpile::Error>(())
    /// ```
    pub fn set_hard<V: Cacheable, K: Serialize + ?Sized>(
        &self,
        key: &K,
        value: &V,
        ttl: Option<Duration>,
    ) -> Result<(), Error> {
        block_on(self.blocking_ops().set(key, value, Keep::Hard(ttl)))
    }

    /// [`set`](Cache::set), only if no value is stored under `key` (a
    /// cold-miss lease does not count). Returns whether it was stored.
    pub fn add<V: Cacheable, K: Serialize + ?Sized>(
        &self,
        key: &K,
        value: &V,
        ttl: impl Into<Ttl>,
    ) -> Result<bool, Error> {
        block_on(
            self.blocking_ops()
                .add_one(key, value, Keep::Soft(ttl.into())),
        )
    }

    /// [`set_hard`](Cache::set_hard), only if no value is stored under
    /// `key`. Returns whether it was stored.
    pub fn add_hard<V: Cacheable, K: Serialize + ?Sized>(
        &self,
        key: &K,
        value: &V,
        ttl: Option<Duration>,
    ) -> Result<bool, Error> {
        block_on(self.blocking_ops().add_one(key, value, Keep::Hard(ttl)))
    }

    /// The soft delete: marks the value under `key` stale, so the next
    /// caller recomputes it while the others are served the old value.
    /// Returns whether there was a value. (A raw value is removed.)
    ///
    /// ```
    /// use antidogpile::{Cache, Got, store::MemoryStore};
    /// use std::time::Duration;
    ///
    /// let cache = Cache::new(MemoryStore::new());
    /// cache.set("price", &10u32, Duration::from_secs(60))?;
    /// assert!(cache.delete("price")?);
    /// let recompute = cache.get::<u32, _>("price")?;
    /// assert!(matches!(recompute, Got::Recompute(Some(10), _)), "one caller recomputes");
    /// assert_eq!(cache.get("price")?, Got::Stale(10u32), "the others get the old value");
    /// # Ok::<(), antidogpile::Error>(())
    /// ```
    pub fn delete<K: Serialize + ?Sized>(&self, key: &K) -> Result<bool, Error> {
        block_on(self.blocking_ops().delete(&key_of(key)?, Invalidate::Soft))
    }

    /// The hard delete: removes the value under `key`.
    pub fn delete_hard<K: Serialize + ?Sized>(&self, key: &K) -> Result<(), Error> {
        block_on(self.blocking_ops().delete(&key_of(key)?, Invalidate::Hard)).map(drop)
    }

    /// Adds `delta` to the raw integer under `key` (set with
    /// [`set_hard`](Cache::set_hard)), atomically on stores that are
    /// atomic, wrapping at 2^64 as memcached does; returns the new value.
    /// [`Error::NotFound`] if nothing is stored, [`Error::NotACounter`] if
    /// the value is not a raw unsigned integer (it is left as it is).
    pub fn incr<K: Serialize + ?Sized>(&self, key: &K, delta: u64) -> Result<u64, Error> {
        block_on(self.blocking_ops().count(key, Delta::Incr(delta)))
    }

    /// Subtracts `delta` from the raw integer under `key`, stopping at zero
    /// (as memcached does); see [`incr`](Cache::incr).
    pub fn decr<K: Serialize + ?Sized>(&self, key: &K, delta: u64) -> Result<u64, Error> {
        block_on(self.blocking_ops().count(key, Delta::Decr(delta)))
    }

    /// [`get`](Cache::get) of every key, in order, in one read (pipelined
    /// on memcached: one exchange per server, one round trip for each 64 KiB
    /// of requests, about 1,000 keys). Each key gets its own
    /// answer: of many callers, one is told to recompute each stale or
    /// missing key.
    pub fn get_many<V: Cacheable, K: Serialize>(&self, keys: &[K]) -> Result<Vec<Got<V>>, Error> {
        block_on(self.blocking_ops().get_many(keys, self.default_grace()))
    }

    /// [`set`](Cache::set) of every entry, in one write (pipelined on memcached).
    pub fn set_many<V: Cacheable, K: Serialize>(
        &self,
        entries: &[(K, V)],
        ttl: impl Into<Ttl>,
    ) -> Result<(), Error> {
        block_on(
            self.blocking_ops()
                .set_entries(entries, Keep::Soft(ttl.into())),
        )
    }

    /// [`set_hard`](Cache::set_hard) of every entry, in one write.
    pub fn set_many_hard<V: Cacheable, K: Serialize>(
        &self,
        entries: &[(K, V)],
        ttl: Option<Duration>,
    ) -> Result<(), Error> {
        block_on(self.blocking_ops().set_entries(entries, Keep::Hard(ttl)))
    }

    /// [`delete`](Cache::delete) (soft) or [`delete_hard`](Cache::delete_hard)
    /// of every key; the hard one in one request (pipelined on memcached).
    pub fn delete_many<K: Serialize>(&self, keys: &[K], how: Invalidate) -> Result<(), Error> {
        block_on(self.blocking_ops().delete_many(&keys_of(keys)?, how))
    }

    /// The value under `key`, computed by `compute` if needed, with the
    /// whole anti-dogpiling of a memoized function: one caller computes a
    /// missing or stale value, the others wait for it (missing) or are
    /// served the old one (stale). A store that fails makes this slower
    /// (it computes), never wrong.
    ///
    /// ```
    /// use antidogpile::{Cache, store::MemoryStore};
    /// use std::time::Duration;
    ///
    /// let cache = Cache::new(MemoryStore::new());
    /// let report = cache.get_or_compute(&("report", 42), Duration::from_secs(30), || "slow".to_owned());
    /// assert_eq!(report, "slow");
    /// ```
    pub fn get_or_compute<V: Cacheable, K: Serialize + ?Sized>(
        &self,
        key: &K,
        ttl: impl Into<Ttl>,
        compute: impl FnOnce() -> V,
    ) -> V {
        let Always(value) = self.memoize(key, ttl.into(), || Always(compute()));
        value
    }

    /// [`get_or_compute`](Cache::get_or_compute) for a computation that can
    /// fail: an `Err` is returned and not cached (a stale value, if there
    /// is one, is served instead, until its hard timeout).
    pub fn get_or_try_compute<V: Cacheable, E, K: Serialize + ?Sized>(
        &self,
        key: &K,
        ttl: impl Into<Ttl>,
        compute: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, E> {
        self.memoize(key, ttl.into(), compute)
    }

    fn memoize<R: Outcome, K: Serialize + ?Sized>(
        &self,
        key: &K,
        ttl: Ttl,
        compute: impl FnOnce() -> R,
    ) -> R {
        match key_of(key) {
            Ok(key) => match fresh_hit(self, &CLIENT, &key) {
                Some(value) => R::from_value(value),
                None => Call::with_key(self, &CLIENT, key, ttl.timeouts(self)).run(compute),
            },
            Err(_) => {
                CLIENT.counters.count(Event::Uncached);
                let outcome = compute();
                crate::hooks::report(|| Served::Uncached);
                outcome
            }
        }
    }

    /// The values of every key, in order. Keys with a value are served it;
    /// the keys this caller must compute (missing, or stale and claimed)
    /// are computed in one `compute` call, which gets them in order and
    /// must return one value each; keys another caller is computing are
    /// waited for.
    ///
    /// ```
    /// use antidogpile::{Cache, store::MemoryStore};
    /// use std::time::Duration;
    ///
    /// let cache = Cache::new(MemoryStore::new());
    /// let ttl = Duration::from_secs(30);
    /// cache.set(&2u32, &20u32, ttl)?;
    /// let values = cache.get_or_compute_many(&[1u32, 2, 3], ttl, |missing| {
    ///     assert_eq!(missing, [&1, &3], "only what is not cached");
    ///     missing.iter().map(|k| *k * 10).collect()
    /// })?;
    /// assert_eq!(values, [10, 20, 30]);
    /// # Ok::<(), antidogpile::Error>(())
    /// ```
    pub fn get_or_compute_many<V: Cacheable, K: Serialize>(
        &self,
        keys: &[K],
        ttl: impl Into<Ttl>,
        mut compute: impl FnMut(Vec<&K>) -> Vec<V>,
    ) -> Result<Vec<V>, Error> {
        let compute = |missing: Vec<&K>| std::future::ready(compute(missing));
        block_on(self.blocking_ops().get_or_compute_many(
            keys,
            ttl.into(),
            &crate::memo::Blocking,
            compute,
        ))
    }

    /// This cache's client operations as futures that never block their
    /// runtime: an [`AsyncCache`], for `async` code.
    #[cfg(feature = "tokio")]
    pub fn as_async(&self) -> AsyncCache<'_> {
        AsyncCache { cache: self }
    }
}

/// The client operations of a [`Cache`], as futures that never block their
/// runtime (the store's non-blocking I/O). Each is documented on the
/// blocking method of the same name.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), antidogpile::Error> {
/// use antidogpile::{Cache, store::MemoryStore};
/// use std::time::Duration;
///
/// let cache = Cache::new(MemoryStore::new());
/// let value = cache
///     .as_async()
///     .get_or_compute("answer", Duration::from_secs(5), async { 42u64 })
///     .await;
/// assert_eq!(value, 42);
/// # Ok(())
/// # }
/// ```
#[cfg(feature = "tokio")]
#[derive(Clone, Copy, Debug)]
pub struct AsyncCache<'c> {
    pub(crate) cache: &'c Cache,
}

#[cfg(feature = "tokio")]
impl<'c> AsyncCache<'c> {
    fn ops(&self) -> Ops<'c> {
        Ops {
            cache: self.cache,
            io: Io::nonblocking(&*self.cache.store),
        }
    }

    /// See [`Cache::get`] (and what it commits the caller to). Set through
    /// the duty with [`Recompute::set_async`].
    pub async fn get<V: Cacheable, K: Serialize + ?Sized>(&self, key: &K) -> Result<Got<V>, Error> {
        self.get_with_grace(key, self.cache.default_grace()).await
    }

    /// See [`Cache::get_with_grace`].
    pub async fn get_with_grace<V: Cacheable, K: Serialize + ?Sized>(
        &self,
        key: &K,
        grace: Duration,
    ) -> Result<Got<V>, Error> {
        self.ops().get(key, grace).await
    }

    /// See [`Cache::set`].
    pub async fn set<V: Cacheable, K: Serialize + ?Sized>(
        &self,
        key: &K,
        value: &V,
        ttl: impl Into<Ttl>,
    ) -> Result<(), Error> {
        self.ops().set(key, value, Keep::Soft(ttl.into())).await
    }

    /// See [`Cache::set_hard`].
    pub async fn set_hard<V: Cacheable, K: Serialize + ?Sized>(
        &self,
        key: &K,
        value: &V,
        ttl: Option<Duration>,
    ) -> Result<(), Error> {
        self.ops().set(key, value, Keep::Hard(ttl)).await
    }

    /// See [`Cache::add`].
    pub async fn add<V: Cacheable, K: Serialize + ?Sized>(
        &self,
        key: &K,
        value: &V,
        ttl: impl Into<Ttl>,
    ) -> Result<bool, Error> {
        self.ops().add_one(key, value, Keep::Soft(ttl.into())).await
    }

    /// See [`Cache::add_hard`].
    pub async fn add_hard<V: Cacheable, K: Serialize + ?Sized>(
        &self,
        key: &K,
        value: &V,
        ttl: Option<Duration>,
    ) -> Result<bool, Error> {
        self.ops().add_one(key, value, Keep::Hard(ttl)).await
    }

    /// See [`Cache::delete`].
    pub async fn delete<K: Serialize + ?Sized>(&self, key: &K) -> Result<bool, Error> {
        self.ops().delete(&key_of(key)?, Invalidate::Soft).await
    }

    /// See [`Cache::delete_hard`].
    pub async fn delete_hard<K: Serialize + ?Sized>(&self, key: &K) -> Result<(), Error> {
        self.ops()
            .delete(&key_of(key)?, Invalidate::Hard)
            .await
            .map(drop)
    }

    /// See [`Cache::incr`].
    pub async fn incr<K: Serialize + ?Sized>(&self, key: &K, delta: u64) -> Result<u64, Error> {
        self.ops().count(key, Delta::Incr(delta)).await
    }

    /// See [`Cache::decr`].
    pub async fn decr<K: Serialize + ?Sized>(&self, key: &K, delta: u64) -> Result<u64, Error> {
        self.ops().count(key, Delta::Decr(delta)).await
    }

    /// See [`Cache::get_many`].
    pub async fn get_many<V: Cacheable, K: Serialize>(
        &self,
        keys: &[K],
    ) -> Result<Vec<Got<V>>, Error> {
        self.ops().get_many(keys, self.cache.default_grace()).await
    }

    /// See [`Cache::set_many`].
    pub async fn set_many<V: Cacheable, K: Serialize>(
        &self,
        entries: &[(K, V)],
        ttl: impl Into<Ttl>,
    ) -> Result<(), Error> {
        self.ops()
            .set_entries(entries, Keep::Soft(ttl.into()))
            .await
    }

    /// See [`Cache::set_many_hard`].
    pub async fn set_many_hard<V: Cacheable, K: Serialize>(
        &self,
        entries: &[(K, V)],
        ttl: Option<Duration>,
    ) -> Result<(), Error> {
        self.ops().set_entries(entries, Keep::Hard(ttl)).await
    }

    /// See [`Cache::delete_many`].
    pub async fn delete_many<K: Serialize>(
        &self,
        keys: &[K],
        how: Invalidate,
    ) -> Result<(), Error> {
        self.ops().delete_many(&keys_of(keys)?, how).await
    }

    /// See [`Cache::get_or_compute`].
    pub async fn get_or_compute<V, K, F>(&self, key: &K, ttl: impl Into<Ttl>, compute: F) -> V
    where
        V: Cacheable,
        K: Serialize + ?Sized,
        F: Future<Output = V>,
    {
        let Always(value) = self
            .memoize(key, ttl.into(), async { Always(compute.await) })
            .await;
        value
    }

    /// See [`Cache::get_or_try_compute`].
    pub async fn get_or_try_compute<V, E, K, F>(
        &self,
        key: &K,
        ttl: impl Into<Ttl>,
        compute: F,
    ) -> Result<V, E>
    where
        V: Cacheable,
        K: Serialize + ?Sized,
        F: Future<Output = Result<V, E>>,
    {
        self.memoize(key, ttl.into(), compute).await
    }

    async fn memoize<R: Outcome, K: Serialize + ?Sized>(
        &self,
        key: &K,
        ttl: Ttl,
        compute: impl Future<Output = R>,
    ) -> R {
        match key_of(key) {
            Ok(key) => {
                Call::with_key(self.cache, &CLIENT, key, ttl.timeouts(self.cache))
                    .run_async(compute)
                    .await
            }
            Err(_) => {
                CLIENT.counters.count(Event::Uncached);
                let outcome = compute.await;
                crate::hooks::report(|| Served::Uncached);
                outcome
            }
        }
    }

    /// See [`Cache::get_or_compute_many`]; `compute` returns a future.
    pub async fn get_or_compute_many<V, K, C, F>(
        &self,
        keys: &[K],
        ttl: impl Into<Ttl>,
        compute: C,
    ) -> Result<Vec<V>, Error>
    where
        V: Cacheable,
        K: Serialize,
        C: FnMut(Vec<&K>) -> F,
        F: Future<Output = Vec<V>>,
    {
        self.ops()
            .get_or_compute_many(keys, ttl.into(), &crate::memo::Awaiting, compute)
            .await
    }
}

#[cfg(feature = "tokio")]
impl AsyncCache<'_> {
    /// [`Cache::ping`], without blocking the runtime.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), antidogpile::Error> {
    /// let cache = antidogpile::Cache::from_url("memory://")?;
    /// cache.as_async().ping().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn ping(&self) -> Result<(), Error> {
        let ping = self.cache.store.ping(crate::store::Wait::Async);
        ping.await.map_err(Error::Store)
    }

    /// [`Cache::clear_namespace`], without blocking the runtime.
    pub async fn clear_namespace(&self, namespace: &str) -> Result<(), Error> {
        let io = crate::io::Io::nonblocking(&*self.cache.store);
        self.cache.start_generation(&io, Some(namespace)).await
    }

    /// [`Cache::clear`], without blocking the runtime.
    pub async fn clear(&self) -> Result<(), Error> {
        let io = crate::io::Io::nonblocking(&*self.cache.store);
        self.cache.start_generation(&io, None).await
    }
}
