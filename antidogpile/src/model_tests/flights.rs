//! `Flights`: a landed value reaches every waiter, a dropped lease wakes
//! every waiter and exactly one of them computes next, and no flight is left
//! behind.

use std::sync::Arc;
use std::time::Duration;

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

use super::{at, check, NOW};
use crate::clock::{Clock, ManualClock, Timestamp};
use crate::flight::{Flight, Flights, Joined, Landing, Lease};
use crate::store::Value;

/// Longer than any model: no lease runs out, so waiters return only when woken.
const GRACE: Duration = Duration::from_secs(60);
const FINGERPRINT: u128 = 7;

/// A clock stopped at `NOW`.
fn clock() -> Clock {
    ManualClock::new(at(NOW)).clock()
}

fn holder(flights: &Flights) -> Lease<'_> {
    match flights.join(FINGERPRINT, at(NOW), GRACE) {
        Joined::Holder(lease) => lease,
        Joined::Waiter(_) => panic!("the first caller must hold the lease"),
    }
}

fn waiter(flights: &Flights) -> Arc<Flight> {
    match flights.join(FINGERPRINT, at(NOW), GRACE) {
        Joined::Waiter(flight) => flight,
        Joined::Holder(_) => panic!("a caller during a live lease must wait"),
    }
}

fn value(n: u32) -> Value {
    Arc::new(n)
}

fn landed_value(landing: Landing) -> Option<u32> {
    match landing {
        Landing::Value(value) => Some(*value.downcast_ref::<u32>().expect("a u32")),
        Landing::TryAgain | Landing::Failed => None,
    }
}

#[test]
fn a_landed_value_reaches_both_waiters() {
    check("land_wakes_two_waiters", None, || {
        let flights = Flights::new();
        let lease = holder(&flights);
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let flight = waiter(&flights);
                thread::spawn(move || landed_value(flight.wait(&clock(), Timestamp::MAX)))
            })
            .collect();
        lease.land(Some(value(5)));
        for waiter in waiters {
            // loom reports a waiter that is never woken as a deadlock.
            assert_eq!(waiter.join().unwrap(), Some(5));
        }
        assert_eq!(
            flights.in_flight(),
            0,
            "a landed flight was left in the map"
        );
    });
}

#[test]
fn a_dropped_lease_wakes_both_waiters_and_exactly_one_computes_next() {
    check("dropped_lease_one_next_holder", None, || {
        let flights = Arc::new(Flights::new());
        let lease = holder(&flights);
        // How many of the waiters have joined the next round.
        let joined = Arc::new(AtomicUsize::new(0));
        let waiters: Vec<_> = (0..2u32)
            .map(|me| {
                let flight = waiter(&flights);
                let (flights, joined) = (Arc::clone(&flights), Arc::clone(&joined));
                thread::spawn(move || {
                    assert!(
                        landed_value(flight.wait(&clock(), Timestamp::MAX)).is_none(),
                        "a dropped lease handed over a value"
                    );
                    match flights.join(FINGERPRINT, at(NOW), GRACE) {
                        Joined::Holder(lease) => {
                            joined.fetch_add(1, Ordering::SeqCst);
                            // Keep the lease until the other waiter has joined too,
                            // so that a second holder would show.
                            while joined.load(Ordering::SeqCst) < 2 {
                                thread::yield_now();
                            }
                            lease.land(Some(value(me)));
                            (true, me)
                        }
                        Joined::Waiter(next) => {
                            joined.fetch_add(1, Ordering::SeqCst);
                            let got = landed_value(next.wait(&clock(), Timestamp::MAX));
                            (false, got.expect("the next holder landed a value"))
                        }
                    }
                })
            })
            .collect();
        drop(lease);
        let ends: Vec<(bool, u32)> = waiters
            .into_iter()
            .map(|waiter| waiter.join().unwrap())
            .collect();
        let holders: Vec<u32> = ends
            .iter()
            .filter(|(held, _)| *held)
            .map(|(_, me)| *me)
            .collect();
        assert_eq!(holders.len(), 1, "next holders: {holders:?}");
        assert!(
            ends.iter().all(|(_, got)| *got == holders[0]),
            "every waiter ends with the next holder's value: {ends:?}"
        );
        assert_eq!(flights.in_flight(), 0, "a lease was left in the map");
    });
}

#[test]
fn callers_joining_while_the_holder_lands_all_end_with_a_value() {
    check("join_racing_land", None, || {
        let flights = Arc::new(Flights::new());
        let callers: Vec<_> = (0..2u32)
            .map(|me| {
                let flights = Arc::clone(&flights);
                thread::spawn(move || match flights.join(FINGERPRINT, at(NOW), GRACE) {
                    Joined::Holder(lease) => {
                        lease.land(Some(value(me)));
                        me
                    }
                    Joined::Waiter(flight) => landed_value(flight.wait(&clock(), Timestamp::MAX))
                        .expect("the holder landed a value"),
                })
            })
            .collect();
        let lease = holder_or_none(&flights);
        if let Some(lease) = lease {
            lease.land(Some(value(9)));
        }
        for caller in callers {
            caller.join().unwrap();
        }
        assert_eq!(flights.in_flight(), 0, "a lease was left in the map");
    });
}

/// The main thread's turn in `join_racing_land`: it holds the lease if the
/// others have not, and otherwise waits like them.
fn holder_or_none(flights: &Flights) -> Option<Lease<'_>> {
    match flights.join(FINGERPRINT, at(NOW), GRACE) {
        Joined::Holder(lease) => Some(lease),
        Joined::Waiter(flight) => {
            assert!(
                landed_value(flight.wait(&clock(), Timestamp::MAX)).is_some(),
                "the holder landed a value"
            );
            None
        }
    }
}
