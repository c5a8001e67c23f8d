//! One memoized call: the state machine that the sync and async paths share.
//!
//! [`Call::next`] reads the store, makes the pure [`decide`] decision and
//! applies it: claim a refresh, take the cold-miss lease (in-process, then
//! across processes), or wait. It is written once, as an `async fn` over an
//! [`Io`] adapter: the async path awaits the store's non-blocking I/O; the
//! sync path uses blocking I/O, whose futures are always ready, and drives
//! the same code with [`complete`]. Only the waiting differs.

use std::cell::Cell;
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::cache::Cache;
use crate::clock::{Clock, Timestamp};
use crate::envelope::{decode_payload, encode_payload};
use crate::error::{StoreError, StoreErrorKind};
use crate::flight::{Flight, Joined, Landing, Lease, RefreshMark, Refreshing};
use crate::key::{Fingerprint, Key};
use crate::outcome::{Cacheable, Outcome};
use crate::policy::{decide, Decision, EntryMeta, Timeouts};
use crate::site::Site;
use crate::stats::Event;
use crate::store::{
    ClaimId, Hold, Lookup, OwnedLookup, Store, StoreOp, StoreReply, Stored, StoredRef, Value,
    Version,
};

// ---- store I/O, blocking or not ----

/// What a read found, with the value decoded as `V`.
pub(crate) enum Looked<V> {
    /// Nothing (or the store failed, or the bytes were of another type).
    Absent { overwrite: bool },
    /// Nothing yet: another process holds the cold-miss lease.
    Leased,
    /// A value.
    Entry {
        meta: EntryMeta,
        version: Version,
        value: V,
    },
}

/// The value as `V`, if it is one.
fn decode<V: Cacheable>(value: StoredRef<'_>) -> Option<V> {
    match value {
        StoredRef::Object(value) => value.downcast_ref::<V>().cloned(),
        StoredRef::Bytes(bytes) => decode_payload::<V>(bytes),
        StoredRef::Raw(bytes) => crate::raw::decode::<V>(bytes),
    }
}

impl<V: Cacheable> Looked<V> {
    /// What an owned read found, decoded.
    pub(crate) fn of(found: Option<&OwnedLookup>) -> Looked<V> {
        match found {
            None => Looked::Absent { overwrite: false },
            Some(OwnedLookup::Leased) => Looked::Leased,
            Some(OwnedLookup::Entry {
                meta,
                version,
                value,
            }) => Looked::from_parts(*meta, *version, value.as_ref()),
        }
    }

    fn from_parts(meta: EntryMeta, version: Version, value: StoredRef<'_>) -> Looked<V> {
        match decode::<V>(value) {
            Some(value) => Looked::Entry {
                meta,
                version,
                value,
            },
            // Cached by code with another return type: a miss, overwritten.
            None => Looked::Absent { overwrite: true },
        }
    }
}

/// The store operations [`Call`] needs, blocking or not.
pub(crate) trait Io {
    async fn look<V: Cacheable>(
        &self,
        key: &Key<'_>,
        now: Timestamp,
    ) -> Result<Looked<V>, StoreError>;
    async fn run(&self, op: StoreOp<'_>) -> Result<StoreReply, StoreError>;
    fn store(&self) -> &dyn Store;
}

/// Blocking I/O: every future it returns is ready when first polled.
pub(crate) struct Blocking<'s>(pub(crate) &'s dyn Store);

impl Io for Blocking<'_> {
    async fn look<V: Cacheable>(
        &self,
        key: &Key<'_>,
        now: Timestamp,
    ) -> Result<Looked<V>, StoreError> {
        let mut looked = Looked::Absent { overwrite: false };
        self.0.read(key, now, &mut |lookup| {
            looked = match lookup {
                Lookup::Leased => Looked::Leased,
                Lookup::Entry(entry) => Looked::from_parts(entry.meta, entry.version, entry.value),
            };
        })?;
        Ok(looked)
    }

    async fn run(&self, op: StoreOp<'_>) -> Result<StoreReply, StoreError> {
        self.0.run(op)
    }

    fn store(&self) -> &dyn Store {
        self.0
    }
}

/// Non-blocking I/O, for `async fn`s.
#[cfg(feature = "tokio")]
pub(crate) struct NonBlocking<'s>(pub(crate) &'s dyn Store);

#[cfg(feature = "tokio")]
impl Io for NonBlocking<'_> {
    async fn look<V: Cacheable>(
        &self,
        key: &Key<'_>,
        now: Timestamp,
    ) -> Result<Looked<V>, StoreError> {
        match self.0.run_async(StoreOp::Read { key: *key, now }).await? {
            StoreReply::Read(found) => Ok(Looked::of(found.as_ref())),
            other => Err(unexpected(&other)),
        }
    }

    async fn run(&self, op: StoreOp<'_>) -> Result<StoreReply, StoreError> {
        self.0.run_async(op).await
    }

    fn store(&self) -> &dyn Store {
        self.0
    }
}

pub(crate) fn unexpected(reply: &StoreReply) -> StoreError {
    StoreError::new(
        StoreErrorKind::Protocol,
        format!("the store answered with an unexpected {reply:?}"),
    )
}

/// Runs a future whose I/O is blocking to its end on this thread. Blocking
/// I/O never returns `Pending`, so this polls once; it keeps polling (never
/// spinning in practice) rather than trusting that blindly.
pub(crate) fn complete<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        std::thread::yield_now();
    }
}

// ---- the state machine ----

/// One call of a memoized function against one cache.
pub(crate) struct Call<'c> {
    cache: &'c Cache,
    site: &'static Site,
    key: Key<'static>,
    timeouts: Timeouts,
}

/// What a call has done so far, across the turns of its loop.
pub(crate) struct Progress<'c> {
    /// Not counted yet (every call is counted once, by what it found first).
    uncounted: bool,
    waited: bool,
    /// The in-process cold-miss lease, once held.
    lease: Option<Lease<'c>>,
    /// When this call started polling another process's lease, and how long it sleeps next.
    polling_since: Option<Timestamp>,
    backoff: Duration,
}

impl Progress<'_> {
    pub(crate) fn new() -> Self {
        Progress {
            uncounted: true,
            waited: false,
            lease: None,
            polling_since: None,
            backoff: Duration::from_millis(2),
        }
    }

    /// The next pause while another process computes: 2 ms, doubling to 50 ms.
    pub(crate) fn next_backoff(&mut self) -> Duration {
        let pause = self.backoff;
        self.backoff = (self.backoff * 2).min(Duration::from_millis(50));
        pause
    }
}

/// What the caller must do next.
pub(crate) enum Next<'c, V> {
    /// Return this value.
    Value(V),
    /// Wait for another caller's compute in this process, then look again.
    Wait(Arc<Flight>),
    /// Another process is computing: pause, then look again.
    Poll,
    /// Look again now (only after a read made by the caller: see
    /// [`Call::next_after`]).
    LookAgain,
    /// Compute.
    Compute(Job<'c, V>),
}

/// Where waiting ended: with a value, or with the duty to compute.
pub(crate) enum Resolved<'c, V> {
    Value(V),
    MustCompute(Job<'c, V>),
}

/// The right to compute, and what to do with the result.
pub(crate) enum Job<'c, V> {
    /// Cold miss: the caller holds the in-process lease (waiters get its
    /// value) and, if the store gave one, the cross-process lease.
    Fill {
        lease: Lease<'c>,
        remote: Option<Release>,
    },
    /// Stale hit: the caller holds the refresh claim.
    Refresh(Refresh<V>),
}

/// A claimed refresh. Owns everything it needs, so it can run on a spawned
/// thread or task after the caller has returned the stale value.
pub(crate) struct Refresh<V> {
    claim: Release,
    /// Keeps other callers of this process from claiming meanwhile.
    _mark: RefreshMark,
    clock: Clock,
    timeouts: Timeouts,
    stale: V,
}

/// Gives back a claim or a lease when dropped armed (its holder panicked or
/// was cancelled), so the next caller need not wait for the grace to pass.
pub(crate) struct Release {
    store: Arc<dyn Store>,
    key: Key<'static>,
    held: Hold,
    armed: bool,
}

impl Release {
    fn op(&self) -> StoreOp<'static> {
        match self.held {
            Hold::Claim(claim) => StoreOp::ReleaseClaim {
                key: self.key,
                claim,
            },
            Hold::Lease(lease) => StoreOp::ReleaseLease {
                key: self.key,
                lease,
            },
        }
    }

    /// Gives it back now, through `io`.
    async fn give_back<I: Io>(mut self, io: &I) {
        self.armed = false;
        if let Err(error) = io.run(self.op()).await {
            trace_store_error(self.key.namespace(), &error);
        }
    }
}

impl Drop for Release {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        // A store that keeps bytes does I/O: in a tokio runtime (a cancelled
        // future), release on a task rather than block the runtime's thread.
        // In-process stores release here and now.
        #[cfg(feature = "tokio")]
        if let (true, Ok(runtime)) = (
            self.store.keeps_bytes(),
            tokio::runtime::Handle::try_current(),
        ) {
            let (store, op) = (Arc::clone(&self.store), self.op());
            runtime.spawn(async move {
                let _ = store.run_async(op).await;
            });
            return;
        }
        let _ = self.store.run(self.op());
    }
}

/// Counts a panic of the compute (the guards release claims and leases).
struct PanicWatch(&'static Site);

impl Drop for PanicWatch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.counters.count(Event::Panic);
            tracing::warn!(
                target: "antidogpile",
                namespace = self.0.namespace,
                "compute panicked; its claim or lease was released"
            );
        }
    }
}

impl<'c> Call<'c> {
    pub(crate) fn new(cache: &'c Cache, site: &'static Site, fingerprint: Fingerprint) -> Call<'c> {
        Call {
            cache,
            site,
            key: Key::new(fingerprint, site.namespace, site.options.version),
            timeouts: cache.timeouts_for(site),
        }
    }

    /// A call with its own key and timeouts (the cache client's).
    pub(crate) fn with_key(
        cache: &'c Cache,
        site: &'static Site,
        key: Key<'static>,
        timeouts: Timeouts,
    ) -> Call<'c> {
        Call {
            cache,
            site,
            key,
            timeouts,
        }
    }

    fn count_first(&self, progress: &mut Progress<'_>, event: Event) {
        if std::mem::take(&mut progress.uncounted) {
            self.site.counters.count(event);
        }
    }

    pub(crate) fn count_wait(&self, progress: &mut Progress<'_>) {
        if !std::mem::replace(&mut progress.waited, true) {
            self.site.counters.count(Event::Wait);
        }
    }

    fn store_failed(&self, error: &StoreError) {
        self.site.counters.count(Event::StoreError);
        trace_store_error(self.site.namespace, error);
    }

    /// One turn: read the store, decide, and apply the decision.
    pub(crate) async fn next<V: Cacheable, I: Io>(
        &self,
        io: &I,
        progress: &mut Progress<'c>,
    ) -> Next<'c, V> {
        self.next_after(io, progress, None).await
    }

    /// One turn from a read the caller already made at `now` (a batch reads
    /// all its keys in one request), or from a read of its own if `None`.
    /// After a read of the caller's, where the turn must read again it
    /// returns [`Next::LookAgain`], so that the batch reads again together.
    pub(crate) async fn next_after<V: Cacheable, I: Io>(
        &self,
        io: &I,
        progress: &mut Progress<'c>,
        mut read: Option<(Timestamp, Result<Looked<V>, StoreError>)>,
    ) -> Next<'c, V> {
        let batched = read.is_some();
        loop {
            let (now, looked) = match read.take() {
                Some(read) => read,
                None => {
                    let now = self.cache.clock.now();
                    (now, io.look::<V>(&self.key, now).await)
                }
            };
            let looked = looked.unwrap_or_else(|error| {
                self.store_failed(&error);
                Looked::Absent { overwrite: true }
            });
            match looked {
                Looked::Entry {
                    meta,
                    version,
                    value,
                } => {
                    let decision = decide(Some(meta), now, self.timeouts.grace);
                    let event = match decision {
                        Decision::Fresh => Event::FreshHit,
                        _ => Event::StaleHit,
                    };
                    self.count_first(progress, event);
                    if let Some(lease) = progress.lease.take() {
                        // Waiting on another process ended with its value: share it here.
                        lease.land(Some(Arc::new(value.clone())));
                    }
                    let Decision::ClaimRefresh { claim_until } = decision else {
                        return Next::Value(value);
                    };
                    let Some(mark) = Refreshing::enter(
                        &self.cache.refreshing,
                        self.fingerprint(),
                        now,
                        claim_until,
                    ) else {
                        // Another caller here is claiming it: serve stale, ask no one.
                        return Next::Value(value);
                    };
                    let claim = io
                        .run(StoreOp::TryClaim {
                            key: self.key,
                            seen: version,
                            now,
                            until: claim_until,
                        })
                        .await;
                    return match claim {
                        Ok(StoreReply::Claim(Some(claim))) => {
                            Next::Compute(Job::Refresh(self.refresh(claim, mark, value)))
                        }
                        Ok(StoreReply::Claim(None)) => Next::Value(value),
                        Ok(other) => {
                            self.store_failed(&unexpected(&other));
                            Next::Value(value)
                        }
                        Err(error) => {
                            self.store_failed(&error);
                            Next::Value(value)
                        }
                    };
                }
                Looked::Leased | Looked::Absent { .. } => {
                    self.count_first(progress, Event::Miss);
                    let Some(lease) = progress.lease.take() else {
                        match self
                            .cache
                            .flights
                            .join(self.fingerprint(), now, self.timeouts.grace)
                        {
                            Joined::Waiter(flight) => return Next::Wait(flight),
                            Joined::Holder(lease) => {
                                // The previous holder may have stored its value
                                // and left between our read and our join: look again.
                                progress.lease = Some(lease);
                                if batched {
                                    return Next::LookAgain;
                                }
                                continue;
                            }
                        }
                    };
                    if let Looked::Absent { overwrite: true } = looked {
                        // The store failed or holds bytes of another type: no
                        // cross-process lease to take; compute (and overwrite).
                        return Next::Compute(Job::Fill {
                            lease,
                            remote: None,
                        });
                    }
                    return self.lease_across_processes(io, lease, progress, now).await;
                }
            }
        }
    }

    /// Holding the in-process lease: take the store's, or wait for its holder.
    async fn lease_across_processes<V, I: Io>(
        &self,
        io: &I,
        lease: Lease<'c>,
        progress: &mut Progress<'c>,
        now: Timestamp,
    ) -> Next<'c, V> {
        let remote = io
            .run(StoreOp::TryLease {
                key: self.key,
                now,
                grace: self.timeouts.grace,
            })
            .await;
        let granted = match remote {
            Ok(StoreReply::Lease(Some(id))) => Some(self.release(Hold::Lease(id))),
            Ok(StoreReply::Lease(None)) => {
                let since = *progress.polling_since.get_or_insert(now);
                if since.until(now) < self.timeouts.grace {
                    progress.lease = Some(lease);
                    return Next::Poll;
                }
                // Its holder overran the grace (and the store did not expire
                // its lease): compute without one.
                None
            }
            Ok(other) => {
                self.store_failed(&unexpected(&other));
                None
            }
            Err(error) => {
                self.store_failed(&error);
                None
            }
        };
        Next::Compute(Job::Fill {
            lease,
            remote: granted,
        })
    }

    fn fingerprint(&self) -> u128 {
        self.key.fingerprint().as_u128()
    }

    fn release(&self, held: Hold) -> Release {
        Release {
            store: Arc::clone(&self.cache.store),
            key: self.key,
            held,
            armed: true,
        }
    }

    fn refresh<V>(&self, claim: ClaimId, mark: RefreshMark, stale: V) -> Refresh<V> {
        Refresh {
            claim: self.release(Hold::Claim(claim)),
            _mark: mark,
            clock: self.cache.clock.clone(),
            timeouts: self.timeouts,
            stale,
        }
    }

    /// The value a waiter was handed, or `None` to look again.
    pub(crate) fn landed<V: Cacheable>(&self, landing: Landing) -> Option<V> {
        match landing {
            Landing::Value(value) => value.downcast_ref::<V>().cloned(),
            Landing::TryAgain => None,
        }
    }

    /// Stores a successful compute and hands it to waiters; returns a failure as it is.
    pub(crate) async fn settle<R: Outcome, I: Io>(
        &self,
        io: &I,
        job: Job<'c, R::Value>,
        outcome: R,
    ) -> R {
        match job {
            Job::Refresh(refresh) => refresh.settle(io, self.site, outcome).await,
            Job::Fill { lease, remote } => match outcome.into_value() {
                Ok(value) => {
                    let (shared, stored) = store_value(
                        io,
                        self.site,
                        &self.cache.clock,
                        &self.key,
                        &self.timeouts,
                        &value,
                    )
                    .await;
                    if let Some(mut remote) = remote {
                        if stored {
                            remote.armed = false; // the value replaced the lease
                        } else {
                            // Not stored (too large, store failing): others
                            // must not wait a grace for a value that never comes.
                            remote.give_back(io).await;
                        }
                    }
                    lease.land(Some(shared));
                    R::from_value(value)
                }
                Err(failure) => {
                    failed(
                        self.site,
                        "no stale value to serve; the failure is returned",
                    );
                    if let Some(remote) = remote {
                        remote.give_back(io).await;
                    }
                    lease.land(None);
                    failure
                }
            },
        }
    }
}

impl<V: Cacheable> Refresh<V> {
    /// Stores a successful refresh; on failure keeps serving the stale value
    /// and keeps the claim until its grace ends, so retries are spaced.
    async fn settle<R: Outcome<Value = V>, I: Io>(
        mut self,
        io: &I,
        site: &'static Site,
        outcome: R,
    ) -> R {
        self.claim.armed = false;
        match outcome.into_value() {
            Ok(value) => {
                store_value(
                    io,
                    site,
                    &self.clock,
                    &self.claim.key,
                    &self.timeouts,
                    &value,
                )
                .await;
                R::from_value(value)
            }
            Err(_) => {
                failed(site, "serving the stale value until the hard timeout");
                R::from_value(self.stale)
            }
        }
    }
}

fn failed(site: &'static Site, consequence: &str) {
    site.counters.count(Event::Error);
    tracing::warn!(
        target: "antidogpile",
        namespace = site.namespace,
        "compute returned a failure (not cached): {consequence}"
    );
}

fn trace_store_error(namespace: &str, error: &StoreError) {
    tracing::warn!(target: "antidogpile", namespace, %error, "store failed; computing without it");
}

/// Writes `value` with fresh deadlines; returns it shared, for waiters in
/// this process, and whether the store took it. A store that fails is
/// counted and traced, nothing more.
async fn store_value<V: Cacheable, I: Io>(
    io: &I,
    site: &'static Site,
    clock: &Clock,
    key: &Key<'static>,
    timeouts: &Timeouts,
    value: &V,
) -> (Value, bool) {
    let shared: Value = Arc::new(value.clone());
    let stored = if io.store().keeps_bytes() {
        match encode_payload(value) {
            Ok(bytes) => Stored::Bytes(bytes),
            Err(error) => {
                let error = StoreError::new(StoreErrorKind::Serialize, error.to_string());
                site.counters.count(Event::StoreError);
                trace_store_error(site.namespace, &error);
                return (shared, false);
            }
        }
    } else {
        Stored::Object(Arc::clone(&shared))
    };
    let now = clock.now();
    let write = StoreOp::Write {
        key: *key,
        value: stored,
        deadlines: timeouts.deadlines(now, random_unit()),
        now,
    };
    match io.run(write).await {
        Ok(_) => (shared, true),
        Err(error) => {
            site.counters.count(Event::StoreError);
            trace_store_error(site.namespace, &error);
            (shared, false)
        }
    }
}

/// A uniform number in `[0, 1)` for jitter (xorshift; quality is not critical).
fn random_unit() -> f64 {
    thread_local! {
        static STATE: Cell<u64> = Cell::new({
            let here = &STATE as *const _ as u64;
            let time = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            (here ^ time) | 1
        });
    }
    STATE.with(|state| {
        let mut x = state.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        state.set(x);
        (x >> 11) as f64 / (1u64 << 53) as f64
    })
}

/// The hit path, short of the state machine (and of building a [`Call`]):
/// a fresh value, read and cloned under the store's lock. `None`: anything
/// else (then [`Call::next`] decides). Stores that keep bytes do I/O: for
/// them a second read on every stale hit and miss would cost more than the
/// fast path saves.
#[inline]
pub(crate) fn fresh_hit<V: Cacheable>(cache: &Cache, site: &Site, key: &Key<'_>) -> Option<V> {
    if cache.store.keeps_bytes() {
        return None;
    }
    let now = cache.clock.now();
    let mut hit = None;
    let read = cache.store.read(key, now, &mut |lookup| {
        if let Lookup::Entry(entry) = lookup {
            // Fresh does not depend on the grace.
            if now < entry.meta.soft_deadline {
                hit = decode::<V>(entry.value);
            }
        }
    });
    if read.is_ok() && hit.is_some() {
        site.counters.count(Event::FreshHit);
        return hit;
    }
    None
}

// ---- drivers: the same steps; they differ in how they wait and compute ----

impl<'c> Call<'c> {
    /// Blocks until the value is known or this thread must compute.
    fn resolve_blocking<V: Cacheable>(&self, io: &Blocking<'_>) -> Resolved<'c, V> {
        let mut progress = Progress::new();
        loop {
            match complete(self.next::<V, _>(io, &mut progress)) {
                Next::Value(value) => return Resolved::Value(value),
                Next::Compute(job) => return Resolved::MustCompute(job),
                Next::Wait(flight) => {
                    self.count_wait(&mut progress);
                    if let Some(value) = self.landed(flight.wait(&self.cache.clock)) {
                        return Resolved::Value(value);
                    }
                }
                Next::Poll => {
                    self.count_wait(&mut progress);
                    std::thread::sleep(progress.next_backoff());
                }
                Next::LookAgain => {}
            }
        }
    }

    /// Runs the compute on this thread and settles it.
    fn compute_here<R: Outcome>(
        &self,
        io: &Blocking<'_>,
        job: Job<'c, R::Value>,
        compute: impl FnOnce() -> R,
    ) -> R {
        self.site.counters.count(Event::Compute);
        let watch = PanicWatch(self.site);
        let outcome = compute();
        drop(watch);
        complete(self.settle(io, job, outcome))
    }

    /// Runs the call (after [`fresh_hit`] found no fresh value).
    pub(crate) fn run<R: Outcome>(&self, compute: impl FnOnce() -> R) -> R {
        let io = Blocking(&*self.cache.store);
        match self.resolve_blocking::<R::Value>(&io) {
            Resolved::Value(value) => R::from_value(value),
            Resolved::MustCompute(job) => self.compute_here(&io, job, compute),
        }
    }

    /// Like [`run`](Call::run), but a claimed refresh runs on a new thread
    /// while the caller returns the stale value.
    pub(crate) fn run_in_background<R, F>(&self, compute: F) -> R
    where
        R: Outcome + Send + 'static,
        F: FnOnce() -> R + Send + 'static,
    {
        let io = Blocking(&*self.cache.store);
        match self.resolve_blocking::<R::Value>(&io) {
            Resolved::Value(value) => R::from_value(value),
            Resolved::MustCompute(Job::Refresh(refresh)) => {
                let stale = refresh.stale.clone();
                let site = self.site;
                self.site.counters.count(Event::Compute);
                let store = Arc::clone(&self.cache.store);
                let spawned = std::thread::Builder::new()
                    .name("antidogpile-refresh".into())
                    .spawn(move || {
                        let watch = PanicWatch(site);
                        let outcome = compute();
                        drop(watch);
                        complete(refresh.settle(&Blocking(&*store), site, outcome));
                    });
                if let Err(error) = spawned {
                    // The closure (and with it the claim) was dropped: the
                    // next caller will claim again.
                    tracing::warn!(target: "antidogpile", namespace = site.namespace,
                        %error, "could not spawn a background refresh");
                }
                R::from_value(stale)
            }
            Resolved::MustCompute(job) => self.compute_here(&io, job, compute),
        }
    }
}

#[cfg(feature = "tokio")]
impl<'c> Call<'c> {
    /// Waits (without blocking the thread) until the value is known or this task must compute.
    async fn resolve<V: Cacheable>(&self, io: &NonBlocking<'_>) -> Resolved<'c, V> {
        let mut progress = Progress::new();
        loop {
            match self.next::<V, _>(io, &mut progress).await {
                Next::Value(value) => return Resolved::Value(value),
                Next::Compute(job) => return Resolved::MustCompute(job),
                Next::Wait(flight) => {
                    self.count_wait(&mut progress);
                    if let Some(value) = self.landed(flight.wait_async(&self.cache.clock).await) {
                        return Resolved::Value(value);
                    }
                }
                Next::Poll => {
                    self.count_wait(&mut progress);
                    tokio::time::sleep(progress.next_backoff()).await;
                }
                Next::LookAgain => {}
            }
        }
    }

    /// Runs the compute in this task and settles it.
    async fn compute_here_async<R, F>(
        &self,
        io: &NonBlocking<'_>,
        job: Job<'c, R::Value>,
        compute: F,
    ) -> R
    where
        R: Outcome,
        F: Future<Output = R>,
    {
        self.site.counters.count(Event::Compute);
        let watch = PanicWatch(self.site);
        let outcome = compute.await;
        drop(watch);
        self.settle(io, job, outcome).await
    }

    pub(crate) async fn run_async<R, F>(&self, compute: F) -> R
    where
        R: Outcome,
        F: Future<Output = R>,
    {
        let io = NonBlocking(&*self.cache.store);
        match self.resolve::<R::Value>(&io).await {
            Resolved::Value(value) => R::from_value(value),
            Resolved::MustCompute(job) => self.compute_here_async(&io, job, compute).await,
        }
    }

    /// Like [`run_async`](Call::run_async), but a claimed refresh runs on a
    /// spawned tokio task (in the foreground if there is no tokio runtime).
    pub(crate) async fn run_async_in_background<R, F>(&self, compute: F) -> R
    where
        R: Outcome + Send + 'static,
        F: Future<Output = R> + Send + 'static,
    {
        let io = NonBlocking(&*self.cache.store);
        let job = match self.resolve::<R::Value>(&io).await {
            Resolved::Value(value) => return R::from_value(value),
            Resolved::MustCompute(job) => job,
        };
        match (job, tokio::runtime::Handle::try_current()) {
            (Job::Refresh(refresh), Ok(runtime)) => {
                let stale = refresh.stale.clone();
                let site = self.site;
                self.site.counters.count(Event::Compute);
                let store = Arc::clone(&self.cache.store);
                runtime.spawn(async move {
                    let watch = PanicWatch(site);
                    let outcome = compute.await;
                    drop(watch);
                    refresh.settle(&NonBlocking(&*store), site, outcome).await;
                });
                R::from_value(stale)
            }
            (job, _) => self.compute_here_async(&io, job, compute).await,
        }
    }
}
