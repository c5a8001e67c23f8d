//! The drivers: the same steps of [`Call`], run to a value; they differ in
//! how they wait and compute only (blocking a thread, or awaiting).

use crate::store::block_on;
use std::future::Future;
use std::sync::Arc;

use std::time::Duration;

use super::*;
use crate::clock::{Clock, Timestamp};
use crate::flight::{Flight, Landing};
use crate::hooks::{report, Served};
use crate::io::Io;
use crate::outcome::{Cacheable, Outcome};
use crate::refresh_pool;
use crate::stats::Event;
use crate::store::Store;

/// How a sync caller blocks its thread while it waits.
#[derive(Clone, Copy, Debug)]
enum Block {
    /// Plainly: no tokio worker thread is blocked (or none can be spared).
    Plain,
    /// On a worker of a multi-thread tokio runtime: its other tasks (the
    /// holder among them, perhaps) are handed to another thread first
    /// (`tokio::task::block_in_place`), so the runtime never stalls.
    #[cfg(feature = "tokio")]
    InPlace,
}

impl Block {
    /// How this thread may block.
    fn here() -> Block {
        #[cfg(feature = "tokio")]
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            // `block_in_place` panics on a `current_thread` runtime; on a
            // multi-thread one it is for tasks (a `block_on` future blocks no
            // worker). Tasks of a `LocalSet` inside a multi-thread runtime's
            // `block_on` are the one case tokio refuses that this admits.
            if runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread
                && tokio::task::try_id().is_some()
            {
                return Block::InPlace;
            }
        }
        Block::Plain
    }

    fn block<T>(self, wait: impl FnOnce() -> T) -> T {
        match self {
            Block::Plain => wait(),
            #[cfg(feature = "tokio")]
            Block::InPlace => tokio::task::block_in_place(wait),
        }
    }

    /// How a sync caller may wait for `flight`, or why it must not: it
    /// would wait for itself (re-entrant), or block the thread its holder
    /// needs (a task, or a future, that this very thread runs; or a holder
    /// on the runtime this thread alone drives).
    fn for_flight(flight: &Flight) -> Result<Block, Bypass> {
        if flight.is_computed_here() {
            return Err(Bypass::Reentrant);
        }
        match Block::here() {
            Block::Plain if flight.was_joined_here() || drives_the_runtime_of(flight) => {
                Err(Bypass::WouldDeadlock)
            }
            block => Ok(block),
        }
    }
}

/// Whether this thread is the one that drives the `current_thread` tokio
/// runtime in whose context `flight`'s holder joined it: a holder on that
/// runtime's blocking pool whose compute calls `Handle::block_on` (a query,
/// an HTTP call) needs this thread for its timers and I/O, so blocking it
/// would stall the holder until the grace. A thread of the blocking pool
/// drives nothing (`worker_index` is `None` there): its callers still wait.
fn drives_the_runtime_of(flight: &Flight) -> bool {
    #[cfg(feature = "tokio")]
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        return runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread
            && tokio::runtime::worker_index().is_some()
            && flight.was_joined_on(runtime.id());
    }
    let _ = flight;
    false
}

/// A driver: how a caller waits for another caller's compute, or for a pause: the one
/// difference between the blocking and the async drivers (their store I/O
/// differs in its [`Wait`](crate::store::Wait) only).
pub(crate) trait Driver {
    /// The store I/O of a caller that waits this way.
    fn io(store: &dyn Store) -> Io<'_>;
    /// Whether this caller may wait for `flight`, or why it must not.
    fn may_wait(&self, flight: &Flight) -> Result<(), Bypass>;
    /// Waits for `flight` to land, up to `until` (the waiter's grace).
    async fn wait(&self, flight: &Flight, clock: &Clock, until: Timestamp) -> Landing;
    /// Waits `pause`.
    async fn sleep(&self, pause: Duration);
}

/// Blocks the thread (its futures are ready when first polled).
pub(crate) struct Blocking;

impl Driver for Blocking {
    fn io(store: &dyn Store) -> Io<'_> {
        Io::blocking(store)
    }

    fn may_wait(&self, flight: &Flight) -> Result<(), Bypass> {
        Block::for_flight(flight).map(drop)
    }

    async fn wait(&self, flight: &Flight, clock: &Clock, until: Timestamp) -> Landing {
        Block::here().block(|| flight.wait(clock, until))
    }

    async fn sleep(&self, pause: Duration) {
        Block::here().block(|| std::thread::sleep(pause));
    }
}

/// Awaits, on tokio: blocks no thread, so only waiting for itself is endless.
#[cfg(feature = "tokio")]
pub(crate) struct Awaiting;

#[cfg(feature = "tokio")]
impl Driver for Awaiting {
    fn io(store: &dyn Store) -> Io<'_> {
        Io::nonblocking(store)
    }

    fn may_wait(&self, flight: &Flight) -> Result<(), Bypass> {
        if flight.is_computed_here() {
            Err(Bypass::Reentrant)
        } else {
            Ok(())
        }
    }

    async fn wait(&self, flight: &Flight, clock: &Clock, until: Timestamp) -> Landing {
        flight.wait_async(clock, until).await
    }

    async fn sleep(&self, pause: Duration) {
        tokio::time::sleep(pause).await;
    }
}

impl<'c> Call<'c> {
    /// When this caller's grace for waiting ends: a grace after its first look.
    pub(crate) fn grace_ends(&self, progress: &Progress<'_>) -> Timestamp {
        let first = progress
            .polling_since
            .unwrap_or_else(|| self.cache.clock.now());
        first.saturating_add(self.timeouts.grace)
    }

    /// Whether this caller may wait for `flight`, or why it computes
    /// without the cache instead (see [`Driver::may_wait`]; and once its own
    /// grace is over, it waits no more, whoever computes).
    pub(crate) fn may_wait<P: Driver>(
        &self,
        pause: &P,
        flight: &Flight,
        progress: &Progress<'_>,
    ) -> Result<(), Bypass> {
        pause.may_wait(flight)?;
        if self.cache.clock.now() >= self.grace_ends(progress) {
            return Err(Bypass::GraceOver);
        }
        Ok(())
    }

    /// Waits (as `pause` says) until the value is known or this caller must compute.
    async fn resolve<V: Cacheable, P: Driver>(&self, io: &Io<'_>, pause: &P) -> Resolved<'c, V> {
        let mut progress = Progress::new();
        progress.store_timed_out = self.store_timed_out;
        loop {
            let next = self.next::<V>(io, &mut progress).await;
            if std::mem::take(&mut progress.poll_pending) {
                if progress.took_handed && !progress.waited {
                    // It polled for a lease in transit within this process, not for another's compute.
                    progress.wait_clock.cancel();
                } else {
                    self.count_wait(&mut progress);
                }
            }
            match next {
                Next::Value(value) => return Resolved::Value(value, progress.served),
                Next::Compute(job) => return Resolved::MustCompute(job),
                Next::Wait(flight) => {
                    if let Err(bypass) = self.may_wait(pause, &flight, &progress) {
                        return Resolved::Bypass(bypass);
                    }
                    self.count_wait(&mut progress);
                    let until = self.grace_ends(&progress);
                    match pause.wait(&flight, &self.cache.clock, until).await {
                        Landing::Failed => return Resolved::Bypass(Bypass::AfterFailure),
                        landing => {
                            if let Some(value) = self.landed(landing) {
                                return Resolved::Value(value, Served::Waited);
                            }
                        }
                    }
                }
                Next::Poll => {
                    // Counted on the next turn, unless that turn computes
                    // under a lease a waiter here handed over; timed from now.
                    progress.wait_clock.start(self.site);
                    progress.poll_pending = true;
                    pause.sleep(progress.next_backoff()).await;
                }
                Next::LookAgain => {}
            }
        }
    }

    /// Runs the compute here and settles it. A sync compute is a future
    /// ready at its first poll; each poll marks the thread that runs it, so a
    /// re-entrant call is seen whichever thread polls.
    async fn compute_here<R, F>(&self, io: &Io<'_>, job: Job<'c, R::Value>, compute: F) -> R
    where
        R: Outcome,
        F: Future<Output = R>,
    {
        self.site.counters.count(Event::Compute);
        let mut watch = PanicWatch::new(self.site);
        let mut compute = std::pin::pin!(compute);
        let outcome = std::future::poll_fn(|context| {
            let _computing = job.computing_here();
            compute.as_mut().poll(context)
        })
        .await;
        watch.computed();
        let served = match (&job, outcome.failed()) {
            // A failed refresh returns the stale value.
            (Job::Refresh(_), true) => Served::Stale,
            _ => Served::Computed { held: job.held() },
        };
        let settled = self.settle(io, job, outcome).await;
        drop(watch);
        report(|| served);
        settled
    }

    /// Runs the compute here without the cache (see [`Bypass`]).
    async fn compute_bypassing<R, F>(&self, bypass: Bypass, compute: F) -> R
    where
        R: Outcome,
        F: Future<Output = R>,
    {
        if let Some(failure) = bypass.shared_failure() {
            // The failure of the compute it waited for, shared.
            report(|| Served::Waited);
            return failure;
        }
        bypass.warn(self.site);
        self.site.counters.count(Event::Compute);
        let watch = PanicWatch::new(self.site);
        let outcome = compute.await;
        drop(watch);
        report(|| Served::Uncached);
        match outcome.into_value() {
            Ok(value) => R::from_value(value),
            Err(failure) => {
                self.site.counters.count(Event::Error);
                failure
            }
        }
    }

    /// What the call answers once resolved: the value, or the compute's
    /// outcome (settled in the store, or bypassing it).
    async fn finish<R, F>(&self, io: &Io<'_>, resolved: Resolved<'c, R::Value>, compute: F) -> R
    where
        R: Outcome,
        F: Future<Output = R>,
    {
        match resolved {
            Resolved::Value(value, served) => {
                report(|| served);
                R::from_value(value)
            }
            Resolved::MustCompute(job) => self.compute_here(io, job, compute).await,
            Resolved::Bypass(bypass) => self.compute_bypassing(bypass, compute).await,
        }
    }

    /// The call, waiting as `P` does (after [`fresh_hit`] found no fresh value).
    pub(crate) async fn drive<R, F, P>(&self, pause: &P, compute: F) -> R
    where
        R: Outcome,
        F: Future<Output = R>,
        P: Driver,
    {
        let io = P::io(&*self.cache.store);
        let resolved = self.resolve::<R::Value, P>(&io, pause).await;
        self.finish(&io, resolved, compute).await
    }

    /// The call of a sync function: blocking.
    pub(crate) fn run<R: Outcome>(&self, compute: impl FnOnce() -> R) -> R {
        block_on(self.drive(&Blocking, async move { compute() }))
    }

    /// The call of an `async fn`: awaiting.
    #[cfg(feature = "tokio")]
    pub(crate) async fn run_async<R, F>(&self, compute: F) -> R
    where
        R: Outcome,
        F: Future<Output = R>,
    {
        self.drive(&Awaiting, compute).await
    }

    /// Like [`run`](Call::run), but a claimed refresh runs on the refresh
    /// pool (a few threads and a bounded queue) while the caller returns
    /// the stale value.
    pub(crate) fn run_in_background<R, F>(&self, compute: F) -> R
    where
        R: Outcome + Send + 'static,
        F: FnOnce() -> R + Send + 'static,
    {
        let io = Io::blocking(&*self.cache.store);
        match block_on(self.resolve::<R::Value, _>(&io, &Blocking)) {
            Resolved::MustCompute(Job::Refresh(refresh)) => {
                let stale = refresh.stale.clone();
                let site = self.site;
                let store = Arc::clone(&self.cache.store);
                let submitted = refresh_pool::submit(Box::new(move || {
                    site.counters.count(Event::Compute);
                    let io = Io::blocking(&*store);
                    block_on(refresh.compute_and_settle(&io, site, async move { compute() }));
                }));
                if let Err(refused) = submitted {
                    // The pool is full: dropping the refresh releases its
                    // claim, and a later caller will claim and try again.
                    drop(refused);
                    tracing::debug!(target: "antidogpile", namespace = site.namespace,
                        "background refresh pool full; the refresh is left to a later caller");
                }
                report(|| Served::Stale);
                R::from_value(stale)
            }
            resolved => block_on(self.finish(&io, resolved, async move { compute() })),
        }
    }

    /// Like [`run_async`](Call::run_async), but a claimed refresh runs on a
    /// spawned tokio task (in the foreground if there is no tokio runtime).
    #[cfg(feature = "tokio")]
    pub(crate) async fn run_async_in_background<R, F>(&self, compute: F) -> R
    where
        R: Outcome + Send + 'static,
        F: Future<Output = R> + Send + 'static,
    {
        let io = Io::nonblocking(&*self.cache.store);
        let resolved = self.resolve::<R::Value, _>(&io, &Awaiting).await;
        match (resolved, tokio::runtime::Handle::try_current()) {
            (Resolved::MustCompute(Job::Refresh(refresh)), Ok(runtime)) => {
                let stale = refresh.stale.clone();
                let site = self.site;
                let store = Arc::clone(&self.cache.store);
                site.counters.count(Event::Compute);
                runtime.spawn(async move {
                    let io = Io::nonblocking(&*store);
                    refresh.compute_and_settle(&io, site, compute).await;
                });
                report(|| Served::Stale);
                R::from_value(stale)
            }
            (resolved, _) => self.finish(&io, resolved, compute).await,
        }
    }
}
