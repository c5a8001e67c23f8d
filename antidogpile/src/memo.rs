//! One memoized call: the state machine that the sync and async paths share.
//!
//! [`Call::next`] reads the store, makes the pure [`decide`] decision and
//! applies it (claim a refresh, take a cold-miss lease, or wait); the
//! drivers at the bottom differ only in how they wait and run the compute.

use std::cell::Cell;
use std::sync::Arc;

use crate::cache::Cache;
use crate::clock::Clock;
use crate::flight::{Flight, Joined, Landing, Lease};
use crate::key::{Fingerprint, Key};
use crate::outcome::{Cacheable, Outcome};
use crate::policy::{decide, Decision, Timeouts};
use crate::site::Site;
use crate::stats::Event;
use crate::store::{ClaimId, Store, Value};

/// One call of a memoized function against one cache.
pub(crate) struct Call<'c> {
    cache: &'c Cache,
    site: &'static Site,
    key: Key<'static>,
    timeouts: Timeouts,
}

/// What the caller must do next.
pub(crate) enum Next<'c, V> {
    /// Return this value.
    Value(V),
    /// Wait for another caller's compute, then look again.
    Wait(Arc<Flight>),
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
    /// Cold miss: the caller holds the lease; waiters get its value.
    Fill(Lease<'c>),
    /// Stale hit: the caller holds the refresh claim.
    Refresh(Refresh<V>),
}

/// A claimed refresh. Owns everything it needs, so it can run on a spawned
/// thread or task after the caller has returned the stale value.
pub(crate) struct Refresh<V> {
    claim: ClaimGuard,
    clock: Clock,
    timeouts: Timeouts,
    stale: V,
}

/// Releases a refresh claim when dropped armed (the claimer panicked or was
/// cancelled), so the next caller refreshes without waiting for the grace.
struct ClaimGuard {
    store: Arc<dyn Store>,
    key: Key<'static>,
    claim: ClaimId,
    armed: bool,
}

impl Drop for ClaimGuard {
    fn drop(&mut self) {
        if self.armed {
            self.store.release_claim(&self.key, self.claim);
        }
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

    /// Reads the store and decides; `first` says whether this call has not
    /// looked before (every call is counted once, by what it found first).
    pub(crate) fn next<V: Cacheable>(&self, first: bool) -> Next<'c, V> {
        let store = &*self.cache.store;
        let mut uncounted = first;
        loop {
            let now = self.cache.clock.now();
            let mut found = None;
            store.read(&self.key, now, &mut |entry| {
                // A value of another type (the function's return type changed
                // under the same name) is a miss, and is overwritten.
                if let Some(value) = entry.value.downcast_ref::<V>() {
                    found = Some((entry.meta, entry.version, value.clone()));
                }
            });
            let decision = decide(found.as_ref().map(|f| f.0), now, self.timeouts.grace);
            let mut count = |event| {
                if std::mem::take(&mut uncounted) {
                    self.site.counters.count(event);
                }
            };
            match (decision, found) {
                (Decision::Fresh, Some((_, _, value))) => {
                    count(Event::FreshHit);
                    return Next::Value(value);
                }
                (Decision::ServeStale, Some((_, _, value))) => {
                    count(Event::StaleHit);
                    return Next::Value(value);
                }
                (Decision::ClaimRefresh { claim_until }, Some((_, version, value))) => {
                    count(Event::StaleHit);
                    return match store.try_claim(&self.key, version, now, claim_until) {
                        Some(claim) => Next::Compute(Job::Refresh(self.refresh(claim, value))),
                        None => Next::Value(value),
                    };
                }
                _ => {
                    count(Event::Miss);
                    match self
                        .cache
                        .flights
                        .join(self.fingerprint(), now, self.timeouts.grace)
                    {
                        Joined::Waiter(flight) => return Next::Wait(flight),
                        Joined::Holder(lease) => {
                            // The previous holder may have stored its value and
                            // left between our read and our join: look again.
                            if !self.holds_a::<V>() {
                                return Next::Compute(Job::Fill(lease));
                            }
                        }
                    }
                }
            }
        }
    }

    fn fingerprint(&self) -> u128 {
        self.key.fingerprint().as_u128()
    }

    fn holds_a<V: 'static>(&self) -> bool {
        let mut present = false;
        self.cache
            .store
            .read(&self.key, self.cache.clock.now(), &mut |entry| {
                present = entry.value.is::<V>();
            });
        present
    }

    fn refresh<V>(&self, claim: ClaimId, stale: V) -> Refresh<V> {
        Refresh {
            claim: ClaimGuard {
                store: Arc::clone(&self.cache.store),
                key: self.key,
                claim,
                armed: true,
            },
            clock: self.cache.clock.clone(),
            timeouts: self.timeouts,
            stale,
        }
    }

    /// The value a waiter was handed, or `None` to look again.
    fn landed<V: Cacheable>(&self, landing: Landing) -> Option<V> {
        match landing {
            Landing::Value(value) => value.downcast_ref::<V>().cloned(),
            Landing::TryAgain => None,
        }
    }

    /// Stores a successful compute and hands it to waiters; returns a failure as it is.
    fn settle<R: Outcome>(&self, job: Job<'c, R::Value>, outcome: R) -> R {
        match job {
            Job::Refresh(refresh) => refresh.settle(self.site, outcome),
            Job::Fill(lease) => match outcome.into_value() {
                Ok(value) => {
                    let shared = store_value(
                        &*self.cache.store,
                        &self.cache.clock,
                        &self.key,
                        &self.timeouts,
                        &value,
                    );
                    lease.land(Some(shared));
                    R::from_value(value)
                }
                Err(failure) => {
                    failed(
                        self.site,
                        "no stale value to serve; the failure is returned",
                    );
                    lease.land(None);
                    failure
                }
            },
        }
    }

    /// Runs the compute on this thread and settles it.
    fn compute_here<R: Outcome>(&self, job: Job<'c, R::Value>, compute: impl FnOnce() -> R) -> R {
        self.site.counters.count(Event::Compute);
        let watch = PanicWatch(self.site);
        let outcome = compute();
        drop(watch);
        self.settle(job, outcome)
    }

    /// Runs the compute in this task and settles it.
    #[cfg(feature = "tokio")]
    async fn compute_here_async<R, F>(&self, job: Job<'c, R::Value>, compute: F) -> R
    where
        R: Outcome,
        F: std::future::Future<Output = R>,
    {
        self.site.counters.count(Event::Compute);
        let watch = PanicWatch(self.site);
        let outcome = compute.await;
        drop(watch);
        self.settle(job, outcome)
    }

    fn count_wait(&self, waited: &mut bool) {
        if !*waited {
            *waited = true;
            self.site.counters.count(Event::Wait);
        }
    }
}

impl<V: Cacheable> Refresh<V> {
    /// Stores a successful refresh; on failure keeps serving the stale value
    /// and keeps the claim until its grace ends, so retries are spaced.
    fn settle<R: Outcome<Value = V>>(mut self, site: &'static Site, outcome: R) -> R {
        self.claim.armed = false;
        match outcome.into_value() {
            Ok(value) => {
                store_value(
                    &*self.claim.store,
                    &self.clock,
                    &self.claim.key,
                    &self.timeouts,
                    &value,
                );
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

/// Writes `value` with fresh deadlines; returns it shared, for waiters.
fn store_value<V: Cacheable>(
    store: &dyn Store,
    clock: &Clock,
    key: &Key<'_>,
    timeouts: &Timeouts,
    value: &V,
) -> Value {
    let shared: Value = Arc::new(value.clone());
    let now = clock.now();
    store.write(
        key,
        Arc::clone(&shared),
        timeouts.deadlines(now, random_unit()),
        now,
    );
    shared
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

// ---- drivers: the same steps; they differ in how they wait and compute ----

impl<'c> Call<'c> {
    /// Blocks until the value is known or this thread must compute.
    fn resolve_blocking<V: Cacheable>(&self) -> Resolved<'c, V> {
        let (mut first, mut waited) = (true, false);
        loop {
            match self.next::<V>(std::mem::take(&mut first)) {
                Next::Value(value) => return Resolved::Value(value),
                Next::Compute(job) => return Resolved::MustCompute(job),
                Next::Wait(flight) => {
                    self.count_wait(&mut waited);
                    if let Some(value) = self.landed(flight.wait(&self.cache.clock)) {
                        return Resolved::Value(value);
                    }
                }
            }
        }
    }

    pub(crate) fn run<R: Outcome>(&self, compute: impl FnOnce() -> R) -> R {
        match self.resolve_blocking::<R::Value>() {
            Resolved::Value(value) => R::from_value(value),
            Resolved::MustCompute(job) => self.compute_here(job, compute),
        }
    }

    /// Like [`run`](Call::run), but a claimed refresh runs on a new thread
    /// while the caller returns the stale value.
    pub(crate) fn run_in_background<R, F>(&self, compute: F) -> R
    where
        R: Outcome + Send + 'static,
        F: FnOnce() -> R + Send + 'static,
    {
        match self.resolve_blocking::<R::Value>() {
            Resolved::Value(value) => R::from_value(value),
            Resolved::MustCompute(Job::Refresh(refresh)) => {
                let stale = refresh.stale.clone();
                let site = self.site;
                self.site.counters.count(Event::Compute);
                let spawned = std::thread::Builder::new()
                    .name("antidogpile-refresh".into())
                    .spawn(move || {
                        let watch = PanicWatch(site);
                        let outcome = compute();
                        drop(watch);
                        refresh.settle(site, outcome);
                    });
                if let Err(error) = spawned {
                    // The closure (and with it the claim) was dropped: the
                    // next caller will claim again.
                    tracing::warn!(target: "antidogpile", namespace = site.namespace,
                        %error, "could not spawn a background refresh");
                }
                R::from_value(stale)
            }
            Resolved::MustCompute(job) => self.compute_here(job, compute),
        }
    }
}

#[cfg(feature = "tokio")]
impl<'c> Call<'c> {
    /// Waits (without blocking the thread) until the value is known or this task must compute.
    async fn resolve<V: Cacheable>(&self) -> Resolved<'c, V> {
        let (mut first, mut waited) = (true, false);
        loop {
            match self.next::<V>(std::mem::take(&mut first)) {
                Next::Value(value) => return Resolved::Value(value),
                Next::Compute(job) => return Resolved::MustCompute(job),
                Next::Wait(flight) => {
                    self.count_wait(&mut waited);
                    if let Some(value) = self.landed(flight.wait_async(&self.cache.clock).await) {
                        return Resolved::Value(value);
                    }
                }
            }
        }
    }

    pub(crate) async fn run_async<R, F>(&self, compute: F) -> R
    where
        R: Outcome,
        F: std::future::Future<Output = R>,
    {
        match self.resolve::<R::Value>().await {
            Resolved::Value(value) => R::from_value(value),
            Resolved::MustCompute(job) => self.compute_here_async(job, compute).await,
        }
    }

    /// Like [`run_async`](Call::run_async), but a claimed refresh runs on a
    /// spawned tokio task (in the foreground if there is no tokio runtime).
    pub(crate) async fn run_async_in_background<R, F>(&self, compute: F) -> R
    where
        R: Outcome + Send + 'static,
        F: std::future::Future<Output = R> + Send + 'static,
    {
        let job = match self.resolve::<R::Value>().await {
            Resolved::Value(value) => return R::from_value(value),
            Resolved::MustCompute(job) => job,
        };
        match (job, tokio::runtime::Handle::try_current()) {
            (Job::Refresh(refresh), Ok(runtime)) => {
                let stale = refresh.stale.clone();
                let site = self.site;
                self.site.counters.count(Event::Compute);
                runtime.spawn(async move {
                    let watch = PanicWatch(site);
                    let outcome = compute.await;
                    drop(watch);
                    refresh.settle(site, outcome);
                });
                R::from_value(stale)
            }
            (job, _) => self.compute_here_async(job, compute).await,
        }
    }
}
