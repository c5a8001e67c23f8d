//! One memoized call: the state machine that the sync and async paths share.
//!
//! [`Call::next`] reads the store, makes the pure [`decide`] decision and
//! applies it: claim a refresh, take the cold-miss lease (in-process, then
//! across processes), or wait. It is written once, as an `async fn` over an
//! [`Io`] adapter: the async path awaits the store's non-blocking I/O; the
//! sync path uses blocking I/O, whose futures are always ready, and drives
//! the same code with `complete`. Only the waiting differs.
//!
//! Here: the steps of a call ([`Call`], [`Progress`], [`Next`]). Beside
//! them: `drive` (the drivers, which run the steps to a value), `settle`
//! (storing a computed value under the hold it took) and `hit` (the fresh
//! hit of an in-process store, short of the machine).

use std::sync::Arc;

use std::time::Duration;

use crate::cache::Cache;
use crate::clock::{Clock, Timestamp};
use crate::error::{StoreError, StoreErrorKind};
use crate::flight::{ComputingHere, Flight, Joined, Landing, Lease, RefreshMark, Refreshing};
use crate::holds::{hold_window, Release};
use crate::hooks::Served;
use crate::io::{Io, Looked, Read, Taking};
use crate::key::{Fingerprint, Key};
use crate::outcome::{Cacheable, Outcome};
use crate::policy::{decide, Decision, Timeouts};
use crate::site::Site;
use crate::stats::Event;
use crate::store::{Hold, ReadFor, Value};
use crate::warn::trace_store_error;

mod drive;
mod hit;
mod settle;

#[cfg(feature = "tokio")]
pub(crate) use drive::Awaiting;
pub(crate) use drive::{Blocking, Driver};
pub(crate) use hit::fresh_hit;
use settle::{failed, store_value, Landed};

// ---- the state machine ----

/// One call of a memoized function against one cache.
pub(crate) struct Call<'c> {
    cache: &'c Cache,
    site: &'static Site,
    key: Key,
    timeouts: Timeouts,
    /// The store timed out before the call began (see [`Call::after`]).
    store_timed_out: bool,
}

/// What a call has done so far, across the turns of its loop.
pub(crate) struct Progress<'c> {
    /// Not counted yet (every call is counted once, by what it found first).
    uncounted: bool,
    waited: bool,
    /// Times the wait, once it starts (metrics).
    wait_clock: crate::telemetry::WaitClock,
    /// The in-process cold-miss lease, once held.
    lease: Option<Lease<'c>>,
    /// When this call first looked (its grace for waiting counts from
    /// then), and how long it sleeps next while it polls another process's lease.
    polling_since: Option<Timestamp>,
    backoff: Duration,
    /// A poll not counted as a wait yet: the lease it polled for may have
    /// been one a waiter of this process was handing over ([`Flight::hand_over`]).
    poll_pending: bool,
    /// It computes under a store lease a waiter of this process handed over.
    took_handed: bool,
    /// The store timed out on this call: it computes, and skips the store's
    /// steps left (each would wait the timeout again), the write included.
    store_timed_out: bool,
    /// A read of this call failed: it computes with no hold of the store's,
    /// and so does not write (a plain write could land after an
    /// invalidation made while it computed: a stale set).
    read_failed: bool,
    /// How a value it returns now was served (for [`crate::hooks`]).
    pub(crate) served: Served,
}

impl Progress<'_> {
    pub(crate) fn new() -> Self {
        Progress {
            uncounted: true,
            waited: false,
            wait_clock: Default::default(),
            lease: None,
            polling_since: None,
            backoff: Duration::from_millis(2),
            poll_pending: false,
            took_handed: false,
            store_timed_out: false,
            read_failed: false,
            served: Served::Fresh,
        }
    }

    /// Gives back the in-process lease held while it polls another
    /// process's holder, if any: its waiters here look again, and one of
    /// them takes it (a batch that must wait for a compute of this process
    /// meanwhile, see `get_or_compute_many`).
    pub(crate) fn give_back_lease(&mut self) {
        drop(self.lease.take());
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
    /// The value, and how it was served.
    Value(V, Served),
    MustCompute(Job<'c, V>),
    /// Compute without the cache: waiting would be needless or endless.
    Bypass(Bypass),
}

/// Why a call computes without the cache instead of waiting for the
/// caller that holds its key's lease. Its value is returned, not stored:
/// the holder stores its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Bypass {
    /// A re-entrant call: this thread (for `async`, this very poll) is
    /// running the compute it would wait for, so it would wait for itself
    /// until the grace. Computing is what the function does unmemoized.
    Reentrant,
    /// A sync call would block the only thread that can run the holder (a
    /// task of this thread's tokio `current_thread` runtime, a compute on
    /// that runtime's blocking pool that needs its timers or I/O, or
    /// another future this thread polls).
    WouldDeadlock,
    /// The compute it waited for failed: the waiters of a failed compute
    /// each try once, side by side, rather than queue for the next lease
    /// (unless the failure can be shared, see [`Outcome::shared_failure`]).
    AfterFailure,
    /// Its grace is over (counted from its first look), and another caller
    /// here still computes (one that hangs, or one after another that
    /// hung): waiting a grace per holder would add them up.
    GraceOver,
}

impl Bypass {
    /// The failure that ends the call without a compute, if any.
    fn shared_failure<R: Outcome>(self) -> Option<R> {
        match self {
            Bypass::AfterFailure => R::shared_failure(),
            Bypass::Reentrant | Bypass::WouldDeadlock | Bypass::GraceOver => None,
        }
    }

    /// Warns once per site of what would otherwise be a silent stall; a
    /// failure was already reported by its holder.
    pub(crate) fn warn(self, site: &'static Site) {
        let (bit, why) = match self {
            Bypass::Reentrant => (
                crate::site::warned_once::REENTRANT,
                "re-entrant call: this compute calls itself with the same key (directly or \
                 through another memoized function); the inner call computes without the \
                 cache instead of waiting for its own lease",
            ),
            Bypass::WouldDeadlock => (
                crate::site::warned_once::WOULD_DEADLOCK,
                "a sync call would block the thread that runs the compute it waits for (a \
                 task of this thread's current_thread tokio runtime, a compute on its blocking \
                 pool, or a future this thread polls); it computes without the cache instead \
                 (call the async variant, or use a multi-thread runtime)",
            ),
            Bypass::AfterFailure | Bypass::GraceOver => return,
        };
        if site.first_time(bit) {
            tracing::warn!(target: "antidogpile", namespace = site.namespace, "{why} (warned once)");
        }
    }
}

/// The right to compute, and what to do with the result.
pub(crate) enum Job<'c, V> {
    /// Cold miss: the caller holds the in-process lease (waiters get its
    /// value) and, if the store gave one, the cross-process lease; `write`:
    /// whether its value goes to the store (not after the store timed out).
    Fill {
        lease: Lease<'c>,
        remote: Option<Release>,
        write: bool,
    },
    /// Stale hit: the caller holds the refresh claim.
    Refresh(Refresh<V>),
}

impl<V> Job<'_, V> {
    /// Whether its compute holds a claim or lease of the store (a cold
    /// miss may compute with none: the store failed, or a holder overran
    /// the grace).
    pub(crate) fn held(&self) -> bool {
        match self {
            Job::Fill { remote, .. } => remote.is_some(),
            Job::Refresh(_) => true,
        }
    }

    /// For a cold miss: marks this thread as running the compute of its
    /// lease while the guard lives (see [`Lease::computing_here`]).
    pub(crate) fn computing_here(&self) -> Option<ComputingHere> {
        match self {
            Job::Fill { lease, .. } => Some(lease.computing_here()),
            Job::Refresh(_) => None,
        }
    }
}

/// A claimed refresh. Owns everything it needs, so it can run on a spawned
/// thread or task after the caller has returned the stale value.
pub(crate) struct Refresh<V> {
    claim: Release,
    /// How long after a failure the next caller may retry.
    retry_spacing: Duration,
    /// Keeps other callers of this process from claiming meanwhile.
    _mark: RefreshMark,
    clock: Clock,
    timeouts: Timeouts,
    stale: V,
}

/// Counts a panic of the user code a call runs while it lives: a compute,
/// and the value's `Clone`, `Serialize` or `Drop` around it (the guards
/// release claims and leases). Records the compute's time too (metrics:
/// [`crate::telemetry`]), when it returns or panics.
struct PanicWatch {
    site: &'static Site,
    /// When the compute started, until its time is recorded.
    compute: Option<crate::telemetry::Started>,
}

impl PanicWatch {
    /// Watches a compute, and what settles it.
    fn new(site: &'static Site) -> PanicWatch {
        PanicWatch {
            site,
            compute: Some(crate::telemetry::Started::now()),
        }
    }

    /// Watches a step that computes nothing (its reads and holds).
    fn computing_nothing(site: &'static Site) -> PanicWatch {
        PanicWatch {
            site,
            compute: None,
        }
    }

    /// The compute returned: its time is recorded (the watch goes on).
    fn computed(&mut self) {
        if let Some(started) = self.compute.take() {
            started.computed(self.site);
        }
    }
}

impl Drop for PanicWatch {
    fn drop(&mut self) {
        self.computed();
        if std::thread::panicking() {
            self.site.counters.count(Event::Panic);
            crate::warn::warn_limited!(
                self.site.namespace,
                crate::warn::Kind::Panic,
                "a compute, or its value's Clone, Serialize or Drop, panicked; \
                 its claim or lease was released"
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
            timeouts: site.timeouts_in(cache),
            store_timed_out: false,
        }
    }

    /// This call, after the store timed out on its way here (`timed_out`:
    /// reading the generations): then it does not use the store.
    pub(crate) fn after(self, timed_out: bool) -> Call<'c> {
        Call {
            store_timed_out: timed_out,
            ..self
        }
    }

    /// A call with its own key and timeouts (the cache client's).
    pub(crate) fn with_key(
        cache: &'c Cache,
        site: &'static Site,
        key: Key,
        timeouts: Timeouts,
    ) -> Call<'c> {
        Call {
            cache,
            site,
            key,
            timeouts,
            store_timed_out: false,
        }
    }

    fn count_first(&self, progress: &mut Progress<'_>, event: Event) {
        if std::mem::take(&mut progress.uncounted) {
            self.site.counters.count(event);
        }
    }

    pub(crate) fn count_wait(&self, progress: &mut Progress<'_>) {
        if !std::mem::replace(&mut progress.waited, true) {
            progress.wait_clock.start(self.site);
            self.site.counters.count(Event::Wait);
        }
    }

    fn store_failed(&self, error: &StoreError) {
        self.site.counters.count(Event::StoreError);
        trace_store_error(self.site.namespace, error);
    }

    /// [`Call::store_failed`] on this call's way to a value; a timeout ends
    /// its use of the store (see [`Progress::store_timed_out`]) if it was
    /// this call's own request, or the store [stalls as
    /// one](crate::store::Store::stalls_as_one) (a batch's request may have
    /// timed out on another key's server).
    fn store_failed_on_the_way(
        &self,
        io: &Io<'_>,
        progress: &mut Progress<'_>,
        error: &StoreError,
    ) {
        self.store_failed(error);
        let its_own = io.gather.is_none();
        if error.kind() == StoreErrorKind::Timeout && (its_own || io.store.stalls_as_one()) {
            progress.store_timed_out = true;
        }
    }

    /// One turn: read the store, decide, and apply the decision.
    pub(crate) async fn next<V: Cacheable>(
        &self,
        io: &Io<'_>,
        progress: &mut Progress<'c>,
    ) -> Next<'c, V> {
        self.next_after(io, progress, None).await
    }

    /// What a read for this call may take in the same request (see [`ReadFor::Use`]).
    fn read_for(&self, io: &Io<'_>, now: Timestamp) -> ReadFor {
        if !io.store.reads_take_holds() {
            return ReadFor::Peek;
        }
        let window = self.hold_window(io);
        ReadFor::Use {
            claim_until: now.saturating_add(window),
            lease_for: window,
            keep_stale: self.timeouts.hard.saturating_sub(self.timeouts.soft),
        }
    }

    /// One turn from a read the caller already made (a batch reads all its
    /// keys in one request), or from a read of its own if `None`. After a
    /// read of the caller's, where the turn must read again it returns
    /// [`Next::LookAgain`], so that the batch reads again together.
    pub(crate) async fn next_after<V: Cacheable>(
        &self,
        io: &Io<'_>,
        progress: &mut Progress<'c>,
        mut read: Option<Read<V>>,
    ) -> Next<'c, V> {
        let batched = read.is_some();
        // Reads decode (`Clone`, `Deserialize`) and leases drop what they
        // replace (`Drop`): user code, whose panics are counted too.
        let _watch = PanicWatch::computing_nothing(self.site);
        loop {
            let read = match read.take() {
                Some(read) => read,
                // The store timed out on this call: no read to wait on again.
                None if progress.store_timed_out => Read {
                    now: self.cache.clock.now(),
                    found: Ok(Looked::Absent { overwrite: true }),
                    taking: Taking::NotTried,
                },
                None => {
                    let now = self.cache.clock.now();
                    let purpose = self.read_for(io, now);
                    Read::of(now, purpose, io.look::<V>(&self.key, now, purpose).await)
                }
            };
            let Read { now, found, taking } = read;
            // The grace a caller waits is counted from its first look, so
            // that waits in turn (for a compute here, then for another
            // process's lease) add up to one grace, not one each.
            progress.polling_since.get_or_insert(now);
            let looked = found.unwrap_or_else(|error| {
                self.store_failed_on_the_way(io, progress, &error);
                progress.read_failed = true;
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
                    progress.served = match decision {
                        // Found after a miss: another caller's compute.
                        Decision::Fresh if progress.served == Served::Waited => Served::Waited,
                        Decision::Fresh => Served::Fresh,
                        _ => Served::Stale,
                    };
                    self.count_first(progress, event);
                    if let Some(lease) = progress.lease.take() {
                        // Waiting on another process ended with its value: share it here.
                        lease.land(Some(Arc::new(value.clone())));
                    }
                    let claim_until = match (decision, taking) {
                        // The read took the claim (the store judged it stale,
                        // perhaps a little before the soft deadline).
                        (_, Taking::Took(Hold::Claim(_))) => {
                            now.saturating_add(self.hold_window(io))
                        }
                        (Decision::ClaimRefresh { claim_until }, _) => claim_until,
                        _ => return Next::Value(value),
                    };
                    let Some(mark) = Refreshing::enter(
                        &self.cache.refreshing,
                        self.fingerprint(),
                        now,
                        claim_until,
                    ) else {
                        // Another caller here is claiming it: serve stale, ask no one.
                        if let Taking::Took(hold) = taking {
                            self.release(hold, now).give_back(io).await;
                        }
                        return Next::Value(value);
                    };
                    let claim = match taking {
                        Taking::Took(Hold::Claim(claim)) => Ok(Some(claim)),
                        // Another holds it (the read would have taken it).
                        Taking::Refused => Ok(None),
                        Taking::Took(lease) => {
                            // A lease on an entry: not this store's contract; give it back.
                            self.release(lease, now).give_back(io).await;
                            Ok(None)
                        }
                        Taking::NotTried => {
                            let until = now.saturating_add(self.hold_window(io));
                            io.try_claim(self.key, version, now, until).await
                        }
                    };
                    return match claim {
                        Ok(Some(claim)) => {
                            let claim = self.release(Hold::Claim(claim), now);
                            Next::Compute(Job::Refresh(self.refresh(claim, mark, value)))
                        }
                        Ok(None) => Next::Value(value),
                        Err(error) => {
                            self.store_failed(&error);
                            Next::Value(value)
                        }
                    };
                }
                Looked::Leased | Looked::Absent { .. } => {
                    self.count_first(progress, Event::Miss);
                    progress.served = Served::Waited;
                    let took = match taking {
                        Taking::Took(hold) => Some(self.release(hold, now)),
                        _ => None,
                    };
                    let Some(lease) = progress.lease.take() else {
                        match self
                            .cache
                            .flights
                            .join(self.fingerprint(), now, self.timeouts.grace)
                        {
                            Joined::Waiter(flight) => {
                                // Another caller here computes: the store's
                                // lease this read took is its to compute under.
                                if let Some(took) = took {
                                    if let Err(took) = flight.hand_over(took) {
                                        took.give_back(io).await;
                                    }
                                }
                                return Next::Wait(flight);
                            }
                            Joined::Holder(lease) if took.is_some() => {
                                return Next::Compute(Job::Fill {
                                    lease,
                                    remote: took,
                                    write: true,
                                });
                            }
                            Joined::Holder(lease) if progress.store_timed_out => {
                                // The store timed out: compute now, rather
                                // than wait on it to look again.
                                return Next::Compute(Job::Fill {
                                    lease,
                                    remote: None,
                                    write: false,
                                });
                            }
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
                    // A waiter's read may have taken the store's lease and handed it over.
                    let took = took.or_else(|| {
                        let handed = lease.handed_over();
                        progress.took_handed = handed.is_some();
                        handed
                    });
                    if took.is_some() {
                        return Next::Compute(Job::Fill {
                            lease,
                            remote: took,
                            write: true,
                        });
                    }
                    if let Looked::Absent { overwrite: true } = looked {
                        // The store failed or holds bytes of another type: no
                        // cross-process lease to take; compute, and overwrite
                        // bytes of another type (not after a failed read: its
                        // value is returned, not stored).
                        return Next::Compute(Job::Fill {
                            lease,
                            remote: None,
                            write: !progress.store_timed_out && !progress.read_failed,
                        });
                    }
                    let refused = matches!(taking, Taking::Refused);
                    return self
                        .lease_across_processes(io, lease, progress, now, refused)
                        .await;
                }
            }
        }
    }

    /// Holding the in-process lease: take the store's (unless the read
    /// just tried, `refused`), or wait for its holder.
    async fn lease_across_processes<V>(
        &self,
        io: &Io<'_>,
        lease: Lease<'c>,
        progress: &mut Progress<'c>,
        now: Timestamp,
        refused: bool,
    ) -> Next<'c, V> {
        let remote = if refused {
            Ok(None)
        } else {
            let window = self.hold_window(io);
            io.try_lease(self.key, now, window).await
        };
        let granted = match remote {
            Ok(Some(id)) => Some(self.release(Hold::Lease(id), now)),
            Ok(None) => {
                let since = *progress.polling_since.get_or_insert(now);
                if since.until(now) < self.timeouts.grace {
                    progress.lease = Some(lease);
                    return Next::Poll;
                }
                // Its holder overran the grace (and the store did not expire
                // its lease): compute without one.
                None
            }
            Err(error) => {
                self.store_failed_on_the_way(io, progress, &error);
                None
            }
        };
        // Without the store's lease its value is returned, not stored (the
        // holder stores its own): a plain write would land even after an
        // invalidation made while it computed (a stale set).
        let write = granted.is_some() && !progress.store_timed_out;
        Next::Compute(Job::Fill {
            lease,
            remote: granted,
            write,
        })
    }

    fn fingerprint(&self) -> u128 {
        self.key.fingerprint().as_u128()
    }

    /// How long a claim or lease is taken for (see [`hold_window`]).
    fn hold_window(&self, io: &Io<'_>) -> Duration {
        hold_window(io.store, self.cache.liveness(), self.timeouts.grace)
    }

    /// The guard of a hold taken at `now`; renewed while it lives, up to
    /// the grace, if it was taken for less.
    fn release(&self, held: Hold, now: Timestamp) -> Release {
        self.cache
            .renewed_hold(self.key, held, now, self.timeouts.grace)
    }

    fn refresh<V>(&self, claim: Release, mark: RefreshMark, stale: V) -> Refresh<V> {
        Refresh {
            claim,
            retry_spacing: self.cache.retry_spacing().min(self.timeouts.grace),
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
            Landing::TryAgain | Landing::Failed => None,
        }
    }

    /// Stores a successful compute and hands it to waiters; returns a failure as it is.
    pub(crate) async fn settle<R: Outcome>(
        &self,
        io: &Io<'_>,
        job: Job<'c, R::Value>,
        outcome: R,
    ) -> R {
        match job {
            Job::Refresh(refresh) => refresh.settle(io, self.site, outcome).await,
            Job::Fill {
                lease,
                mut remote,
                write,
            } => match outcome.into_value() {
                Ok(value) => {
                    // With a lease from the store, the write lands only if
                    // no invalidation ended it meanwhile.
                    let (shared, stored) = if write {
                        store_value(
                            io,
                            self.site,
                            &self.cache.clock,
                            &self.key,
                            &self.timeouts,
                            remote.as_mut(),
                            &value,
                        )
                        .await
                    } else {
                        // The store timed out on this call: no write. The
                        // hold (if any) stays armed through the clone.
                        (Arc::new(value.clone()) as Value, Landed::NotStored)
                    };
                    if let Some(remote) = remote {
                        if stored == Landed::Stored {
                            // The value replaced the lease (disarmed by the write).
                        } else {
                            // Not stored (too large, store failing, or its
                            // lease ended by an invalidation): others must
                            // not wait a grace for a value that never comes.
                            remote.give_back(io).await;
                        }
                    }
                    if stored == Landed::Refused {
                        // Invalidated meanwhile, perhaps by another process:
                        // callers of this one may have joined after it, so
                        // they look again rather than take this value.
                        lease.abandon();
                    } else {
                        lease.land(Some(shared));
                    }
                    R::from_value(value)
                }
                Err(failure) => {
                    failed::<R>(
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
