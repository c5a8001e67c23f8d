//! In-process cold-miss leases: one caller computes, the others wait for its
//! value, and a lease whose holder overruns its grace can be taken over.
//!
//! The lease is released by a drop guard, so a panicking or cancelled holder
//! wakes its waiters at once; the state machine is shared by threads and
//! tasks, only the way they wait differs.
//!
//! A flight also knows where it is held, so that a caller never waits for
//! itself: the thread that joined it and the tokio runtime that thread was
//! in (a sync caller blocking the only thread of that runtime would block
//! its holder too, if the holder is a task of the runtime or needs it from
//! its blocking pool), and, while its compute runs, the thread running it
//! ([`Lease::computing_here`]: a re-entrant call of the same key).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::thread::ThreadId;
use std::time::Duration;

use crate::clock::{Clock, Timestamp};
use crate::holds::Release;
use crate::store::Value;
use crate::sync::{Condvar, Mutex, MutexGuard};

const SHARDS: usize = 16;

/// The flights of one shard, by fingerprint.
type FlightMap = HashMap<u128, Arc<Flight>>;

/// The cold-miss leases of one cache.
#[derive(Debug)]
pub(crate) struct Flights {
    shards: Box<[Mutex<FlightMap>]>,
}

/// One computation in flight, and the callers waiting for it.
#[derive(Debug)]
pub(crate) struct Flight {
    state: Mutex<FlightState>,
    /// The thread its holder joined it on.
    joined_on: ThreadId,
    /// The tokio runtime whose context that thread was in (a task, its
    /// blocking pool, a `block_on`): a holder there may need that runtime's
    /// thread to progress.
    #[cfg(feature = "tokio")]
    runtime: Option<tokio::runtime::Id>,
    landed: Condvar,
    #[cfg(feature = "tokio")]
    landed_async: tokio::sync::Notify,
}

#[derive(Debug)]
enum FlightState {
    /// The holder is computing; others may take over at `lease_until`.
    /// `handed`: a store's cold-miss lease that a waiter's read took (its
    /// read and the holder's raced), handed to the holder to compute under.
    Computing {
        lease_until: Timestamp,
        handed: Option<Release>,
    },
    /// The holder finished with a value.
    Landed(Value),
    /// The holder's compute returned a failure (`Err`, `None`).
    Failed,
    /// The holder left without finishing (panic, cancellation).
    Abandoned,
}

/// What [`Flights::join`] made of the caller.
pub(crate) enum Joined<'a> {
    /// The caller holds the lease and must compute.
    Holder(Lease<'a>),
    /// Someone else holds it: wait on this flight.
    Waiter(Arc<Flight>),
}

/// What a waiter got.
#[derive(Debug)]
pub(crate) enum Landing {
    /// The holder's value.
    Value(Value),
    /// The holder's compute failed: waiters compute side by side rather
    /// than line up for the lease one after another.
    Failed,
    /// The holder left without finishing, or its lease ran out: try again.
    TryAgain,
}

impl Flights {
    pub(crate) fn new() -> Flights {
        Flights {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    fn shard(&self, fingerprint: u128) -> MutexGuard<'_, FlightMap> {
        // Every critical section below is a single map operation: poison
        // cannot leave the map inconsistent, so it is ignored.
        self.shards[(fingerprint >> 124) as usize % SHARDS]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes the lease for `fingerprint`, or returns the flight to wait on.
    /// A lease whose holder has run past `lease_until` is taken over.
    pub(crate) fn join(&self, fingerprint: u128, now: Timestamp, grace: Duration) -> Joined<'_> {
        let mut shard = self.shard(fingerprint);
        if let Some(flight) = shard.get(&fingerprint) {
            if flight.lease_is_live(now) {
                return Joined::Waiter(Arc::clone(flight));
            }
        }
        let flight = Arc::new(Flight::computing(now.saturating_add(grace)));
        shard.insert(fingerprint, Arc::clone(&flight));
        Joined::Holder(Lease {
            flights: self,
            fingerprint,
            flight,
            landed: false,
        })
    }

    /// Lets no new caller join the flight of `fingerprint` (an invalidation:
    /// its compute started before, so its value must not be handed to callers
    /// that arrive after). Its holder still lands it for the callers already
    /// waiting; the next caller takes a new lease.
    pub(crate) fn forget(&self, fingerprint: u128) {
        let forgotten = self.shard(fingerprint).remove(&fingerprint);
        drop(forgotten);
    }

    #[cfg(test)]
    pub(crate) fn in_flight(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.lock().unwrap().len())
            .sum()
    }
}

impl Flight {
    fn computing(lease_until: Timestamp) -> Flight {
        Flight {
            state: Mutex::new(FlightState::Computing {
                lease_until,
                handed: None,
            }),
            joined_on: std::thread::current().id(),
            #[cfg(feature = "tokio")]
            runtime: tokio::runtime::Handle::try_current()
                .ok()
                .map(|runtime| runtime.id()),
            landed: Condvar::new(),
            #[cfg(feature = "tokio")]
            landed_async: tokio::sync::Notify::new(),
        }
    }

    fn state(&self) -> MutexGuard<'_, FlightState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lease_is_live(&self, now: Timestamp) -> bool {
        matches!(*self.state(), FlightState::Computing { lease_until, .. } if now < lease_until)
    }

    fn land(&self, landed: FlightState) {
        let computing = std::mem::replace(&mut *self.state(), landed);
        self.landed.notify_all();
        #[cfg(feature = "tokio")]
        self.landed_async.notify_waiters();
        // A store lease handed over and not used is given back here, outside the lock.
        drop(computing);
    }

    /// Hands `lease` (a store's cold-miss lease a waiter's read took) to
    /// the holder, who computes under it rather than wait for it to be given
    /// back. `Err`: the flight is over, or already has one; give it back.
    pub(crate) fn hand_over(&self, lease: Release) -> Result<(), Release> {
        match &mut *self.state() {
            FlightState::Computing { handed, .. } if handed.is_none() => {
                *handed = Some(lease);
                Ok(())
            }
            _ => Err(lease),
        }
    }

    /// What a waiter sees now: `Some` once landed or overdue, `None` to keep waiting
    /// (with how long until the lease runs out).
    fn look(state: &FlightState, now: Timestamp, until: Timestamp) -> Result<Landing, Duration> {
        match state {
            FlightState::Landed(value) => Ok(Landing::Value(Arc::clone(value))),
            FlightState::Failed => Ok(Landing::Failed),
            FlightState::Abandoned => Ok(Landing::TryAgain),
            FlightState::Computing { lease_until, .. } if now >= (*lease_until).min(until) => {
                Ok(Landing::TryAgain)
            }
            FlightState::Computing { lease_until, .. } => Err(now.until((*lease_until).min(until))),
        }
    }

    /// Whether this thread is running this flight's compute now: a caller
    /// that would wait for it is waiting for itself (a re-entrant call).
    pub(crate) fn is_computed_here(&self) -> bool {
        let this = self as *const Flight as usize;
        COMPUTING_HERE.with(|held| held.borrow().contains(&this))
    }

    /// Whether its holder joined it on this thread (so it may be a task
    /// that only this thread runs).
    pub(crate) fn was_joined_here(&self) -> bool {
        self.joined_on == std::thread::current().id()
    }

    /// Whether its holder joined it in the context of the tokio runtime
    /// `runtime` (on a task, on its blocking pool, or in a `block_on`).
    #[cfg(feature = "tokio")]
    pub(crate) fn was_joined_on(&self, runtime: tokio::runtime::Id) -> bool {
        self.runtime == Some(runtime)
    }

    /// Blocks the thread until the flight lands, its lease runs out, or
    /// `until` (the waiter's own grace) comes.
    pub(crate) fn wait(&self, clock: &Clock, until: Timestamp) -> Landing {
        let mut state = self.state();
        loop {
            match Self::look(&state, clock.now(), until) {
                Ok(landing) => return landing,
                Err(remaining) => {
                    state = self
                        .landed
                        .wait_timeout(state, clock.wait_slice(remaining))
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .0;
                }
            }
        }
    }

    /// Waits without blocking the thread until the flight lands, its lease
    /// runs out, or `until` (the waiter's own grace) comes.
    #[cfg(feature = "tokio")]
    pub(crate) async fn wait_async(&self, clock: &Clock, until: Timestamp) -> Landing {
        loop {
            let notified = self.landed_async.notified();
            tokio::pin!(notified);
            // Register before looking, so a landing between the look and the
            // await is not missed.
            notified.as_mut().enable();
            let remaining = match Self::look(&self.state(), clock.now(), until) {
                Ok(landing) => return landing,
                Err(remaining) => remaining,
            };
            let _ = tokio::time::timeout(clock.wait_slice(remaining), notified).await;
        }
    }
}

/// The cold-miss lease: the right and duty to compute. Dropping it without
/// [`land`](Lease::land) (panic, cancellation, error) wakes the waiters so
/// that one of them tries next, without waiting for the grace to pass.
pub(crate) struct Lease<'a> {
    flights: &'a Flights,
    fingerprint: u128,
    flight: Arc<Flight>,
    landed: bool,
}

impl Lease<'_> {
    /// Hands `value` to the waiters, or (`None`) tells them the compute failed.
    pub(crate) fn land(mut self, value: Option<Value>) {
        self.finish(match value {
            Some(value) => FlightState::Landed(value),
            None => FlightState::Failed,
        });
    }

    /// Ends the flight without a value to hand over (its write was refused:
    /// an invalidation came first): the waiters look again, as after a
    /// cancelled compute, rather than compute side by side uncached.
    pub(crate) fn abandon(mut self) {
        self.finish(FlightState::Abandoned);
    }

    /// The store lease a waiter handed over ([`Flight::hand_over`]), if any.
    pub(crate) fn handed_over(&self) -> Option<Release> {
        match &mut *self.flight.state() {
            FlightState::Computing { handed, .. } => handed.take(),
            _ => None,
        }
    }

    /// Marks this thread as running the lease's compute until the guard is
    /// dropped: held around a sync compute, and around each poll of an
    /// async one (a task may move between threads between polls).
    #[must_use]
    pub(crate) fn computing_here(&self) -> ComputingHere {
        let flight = Arc::as_ptr(&self.flight) as usize;
        COMPUTING_HERE.with(|held| held.borrow_mut().push(flight));
        ComputingHere { flight }
    }

    fn finish(&mut self, landed: FlightState) {
        if self.landed {
            return;
        }
        self.landed = true;
        {
            // Only remove our own flight: after a takeover, the map holds the new one.
            let mut shard = self.flights.shard(self.fingerprint);
            if shard
                .get(&self.fingerprint)
                .is_some_and(|current| Arc::ptr_eq(current, &self.flight))
            {
                shard.remove(&self.fingerprint);
            }
        }
        self.flight.land(landed);
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        self.finish(FlightState::Abandoned);
    }
}

thread_local! {
    /// The flights whose compute this thread is running now (nested when a
    /// compute calls other memoized functions), by address.
    static COMPUTING_HERE: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// This thread runs a flight's compute until dropped (see [`Lease::computing_here`]).
#[derive(Debug)]
pub(crate) struct ComputingHere {
    flight: usize,
}

impl Drop for ComputingHere {
    fn drop(&mut self) {
        // Guards nest, so ours is the last one; `try_with`: never panic while
        // the thread's locals are being torn down.
        let _ = COMPUTING_HERE.try_with(|held| {
            let mut held = held.borrow_mut();
            if let Some(at) = held.iter().rposition(|flight| *flight == self.flight) {
                held.remove(at);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    const GRACE: Duration = Duration::from_secs(60);

    /// The first caller of key 7 on `flights` (the holder) and the second
    /// (a waiter on its flight).
    fn holder_and_waiter(flights: &Flights) -> (Lease<'_>, Arc<Flight>) {
        let now = Timestamp::from_millis(1);
        let Joined::Holder(lease) = flights.join(7, now, GRACE) else {
            panic!("the first caller must hold the lease")
        };
        let Joined::Waiter(flight) = flights.join(7, now, GRACE) else {
            panic!("the second caller must wait")
        };
        (lease, flight)
    }

    #[test]
    fn the_first_caller_holds_the_lease_and_the_next_waits() {
        let flights = Flights::new();
        let (lease, flight) = holder_and_waiter(&flights);
        lease.land(Some(Arc::new(5u32)));
        match flight.wait(&Clock::system(), Timestamp::MAX) {
            Landing::Value(value) => assert_eq!(value.downcast_ref::<u32>(), Some(&5)),
            Landing::TryAgain | Landing::Failed => panic!("the value should have been handed over"),
        }
        assert_eq!(flights.in_flight(), 0);
    }

    #[test]
    fn a_dropped_lease_wakes_waiters_to_try_again() {
        let flights = Flights::new();
        let (lease, flight) = holder_and_waiter(&flights);
        let waiter = std::thread::spawn(move || {
            matches!(
                flight.wait(&Clock::system(), Timestamp::MAX),
                Landing::TryAgain
            )
        });
        std::thread::sleep(Duration::from_millis(20));
        drop(lease);
        assert!(waiter.join().unwrap());
        assert_eq!(flights.in_flight(), 0);
    }

    #[test]
    fn a_failed_landing_tells_waiters_it_failed() {
        let flights = Flights::new();
        let (lease, flight) = holder_and_waiter(&flights);
        lease.land(None);
        assert!(matches!(
            flight.wait(&Clock::system(), Timestamp::MAX),
            Landing::Failed
        ));
        assert_eq!(flights.in_flight(), 0);
    }

    #[test]
    fn a_flight_knows_the_thread_computing_it_and_the_one_it_was_joined_on() {
        let flights = Flights::new();
        let (lease, flight) = holder_and_waiter(&flights);
        assert!(flight.was_joined_here());
        assert!(!flight.is_computed_here());
        {
            let _computing = lease.computing_here();
            assert!(flight.is_computed_here());
            let elsewhere = Arc::clone(&flight);
            let seen = std::thread::spawn(move || {
                (elsewhere.is_computed_here(), elsewhere.was_joined_here())
            });
            assert_eq!(seen.join().unwrap(), (false, false));
        }
        assert!(!flight.is_computed_here(), "the guard's drop ends it");
        lease.land(None);
    }

    #[test]
    fn a_waiter_waits_no_longer_than_its_own_grace() {
        let manual = ManualClock::new(Timestamp::from_millis(0));
        let flights = Flights::new();
        let Joined::Holder(holder) = flights.join(7, manual.now(), GRACE) else {
            panic!()
        };
        let Joined::Waiter(flight) = flights.join(7, manual.now(), GRACE) else {
            panic!()
        };
        // The holder's lease runs a grace from now; this waiter's own grace
        // (it waited for another holder before) ends sooner.
        let mine = manual.now().saturating_add(Duration::from_millis(1));
        manual.advance(Duration::from_millis(1));
        assert!(matches!(
            flight.wait(&manual.clock(), mine),
            Landing::TryAgain
        ));
        holder.land(None);
    }

    #[test]
    fn an_overdue_lease_is_taken_over_and_its_late_landing_keeps_the_new_one() {
        let manual = ManualClock::new(Timestamp::from_millis(0));
        let flights = Flights::new();
        let Joined::Holder(slow) = flights.join(7, manual.now(), GRACE) else {
            panic!()
        };
        let Joined::Waiter(flight) = flights.join(7, manual.now(), GRACE) else {
            panic!()
        };
        manual.advance(GRACE);
        assert!(matches!(
            flight.wait(&manual.clock(), Timestamp::MAX),
            Landing::TryAgain
        ));
        let Joined::Holder(taker) = flights.join(7, manual.now(), GRACE) else {
            panic!("an overdue lease must be taken over")
        };
        slow.land(None);
        assert_eq!(
            flights.in_flight(),
            1,
            "the late holder must not remove the new lease"
        );
        taker.land(None);
        assert_eq!(flights.in_flight(), 0);
    }
}

/// The keys whose refresh a caller of this process is claiming or running:
/// other callers of the process serve the stale value without asking the
/// store (for a remote store, without a network round trip each). A mark
/// lapses with the claim's grace, so a hung claimer here is replaced here too.
#[derive(Debug, Default)]
pub(crate) struct Refreshing {
    shards: [Mutex<HashMap<u128, (Timestamp, u64)>>; SHARDS],
    tokens: std::sync::atomic::AtomicU64,
}

/// Marks a key as being refreshed here until dropped (or until it lapses).
#[derive(Debug)]
pub(crate) struct RefreshMark {
    refreshing: Arc<Refreshing>,
    fingerprint: u128,
    token: u64,
}

impl Refreshing {
    fn shard(&self, fingerprint: u128) -> MutexGuard<'_, HashMap<u128, (Timestamp, u64)>> {
        self.shards[(fingerprint >> 124) as usize % SHARDS]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The mark for `fingerprint` until `until`, unless another caller here
    /// holds one that has not lapsed at `now`.
    pub(crate) fn enter(
        this: &Arc<Refreshing>,
        fingerprint: u128,
        now: Timestamp,
        until: Timestamp,
    ) -> Option<RefreshMark> {
        let mut shard = this.shard(fingerprint);
        if shard
            .get(&fingerprint)
            .is_some_and(|(lapses, _)| now < *lapses)
        {
            return None;
        }
        let token = this
            .tokens
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        shard.insert(fingerprint, (until, token));
        Some(RefreshMark {
            refreshing: Arc::clone(this),
            fingerprint,
            token,
        })
    }

    /// Drops the mark of `fingerprint` (an invalidation: the refresh under
    /// way started before it), so the next caller here may claim at once.
    pub(crate) fn forget(&self, fingerprint: u128) {
        self.shard(fingerprint).remove(&fingerprint);
    }
}

impl Drop for RefreshMark {
    fn drop(&mut self) {
        let mut shard = self.refreshing.shard(self.fingerprint);
        // A lapsed mark may have been replaced: only remove our own.
        if shard
            .get(&self.fingerprint)
            .is_some_and(|(_, token)| *token == self.token)
        {
            shard.remove(&self.fingerprint);
        }
    }
}
