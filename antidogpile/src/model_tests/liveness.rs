//! `liveness::Holding` and `Renewal::tick` against a holder that stops,
//! releases or writes, and another caller that takes over: a renewal never
//! outlives a release, never makes the holder name a stale token, and never
//! renews someone else's hold.
//!
//! The store is a model of memcached's holds: every renewal changes the
//! token (a new CAS), and release, renewal and guarded write name a token.
//! The liveness thread itself (its queue and timer) is not modelled; its
//! steps are.

use std::sync::Arc;
use std::time::Duration;

use loom::thread;

use super::{at, check, key, NOW};
use crate::clock::{Clock, ManualClock};
use crate::key::Key;
use crate::liveness::{give_back_now, Holding, Renewal};
use crate::policy::Deadlines;
use crate::store::{Answer, ClaimId, Hold, LeaseId, ReadFor, Reader, Store, Stored, Version, Wait};
use crate::sync::Mutex;

/// One key's lease, as memcached keeps it: a token that changes at every
/// renewal, or a value.
#[derive(Debug, Default)]
struct TokenStore {
    state: Mutex<Slot>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Slot {
    #[default]
    Empty,
    Leased {
        token: u64,
    },
    Value,
}

impl TokenStore {
    fn slot(&self) -> Slot {
        *self.state.lock().unwrap()
    }

    fn next_token(slot: Slot) -> u64 {
        match slot {
            Slot::Leased { token } => token + 1,
            _ => 100,
        }
    }

    /// A write that names the lease it replaces (a guarded last write).
    fn write_if(&self, lease: LeaseId) -> bool {
        let mut slot = self.state.lock().unwrap();
        if *slot == (Slot::Leased { token: lease.0 }) {
            *slot = Slot::Value;
            return true;
        }
        false
    }

    /// Another caller takes the lease if nobody holds it.
    fn take_over(&self) -> Option<LeaseId> {
        self.try_lease(Wait::Blocking, key(1), at(NOW), Duration::from_secs(3))
            .wait()
            .unwrap()
    }
}

impl TokenStore {
    fn take_lease(&self) -> Option<LeaseId> {
        let mut slot = self.state.lock().unwrap();
        if *slot != Slot::Empty {
            return None;
        }
        let token = Self::next_token(*slot);
        *slot = Slot::Leased { token };
        Some(LeaseId(token))
    }

    fn renew_lease(&self, hold: Hold) -> Option<Hold> {
        let mut slot = self.state.lock().unwrap();
        match hold {
            Hold::Lease(lease) if *slot == (Slot::Leased { token: lease.0 }) => {
                let token = lease.0 + 1_000;
                *slot = Slot::Leased { token };
                Some(Hold::Lease(LeaseId(token)))
            }
            _ => None,
        }
    }
}

impl Store for TokenStore {
    fn read<'a>(
        &'a self,
        _: Wait,
        _: Key,
        _: crate::clock::Timestamp,
        _: ReadFor,
        _: &'a mut Reader<'_>,
    ) -> Answer<'a, Option<Hold>> {
        Answer::ready(Ok(None))
    }

    fn try_claim(
        &self,
        _: Wait,
        _: Key,
        _: Version,
        _: crate::clock::Timestamp,
        _: crate::clock::Timestamp,
    ) -> Answer<'_, Option<ClaimId>> {
        Answer::ready(Ok(None))
    }

    fn release_claim(&self, _: Wait, _: Key, _: ClaimId) -> Answer<'_, ()> {
        Answer::ready(Ok(()))
    }

    fn write(
        &self,
        _: Wait,
        _: Key,
        _: Stored,
        _: Deadlines,
        _: crate::clock::Timestamp,
    ) -> Answer<'_, ()> {
        *self.state.lock().unwrap() = Slot::Value;
        Answer::ready(Ok(()))
    }

    fn remove(&self, _: Wait, _: Key) -> Answer<'_, ()> {
        *self.state.lock().unwrap() = Slot::Empty;
        Answer::ready(Ok(()))
    }

    fn try_lease(
        &self,
        _: Wait,
        _: Key,
        _: crate::clock::Timestamp,
        _: Duration,
    ) -> Answer<'_, Option<LeaseId>> {
        Answer::ready(Ok(self.take_lease()))
    }

    fn release_lease(&self, _: Wait, _: Key, lease: LeaseId) -> Answer<'_, ()> {
        let mut slot = self.state.lock().unwrap();
        if *slot == (Slot::Leased { token: lease.0 }) {
            *slot = Slot::Empty;
        }
        Answer::ready(Ok(()))
    }

    fn renews_holds(&self) -> bool {
        true
    }

    fn renew(
        &self,
        _: Wait,
        _: Key,
        hold: Hold,
        _: crate::clock::Timestamp,
        _: crate::clock::Timestamp,
    ) -> Answer<'_, Option<Hold>> {
        Answer::ready(Ok(self.renew_lease(hold)))
    }
}

/// A store with a lease taken, its holder's `Holding`, and the renewal
/// the liveness thread would run.
fn leased() -> (Arc<TokenStore>, Arc<Holding>, Renewal) {
    let store = Arc::new(TokenStore::default());
    let lease = store.take_over().expect("an empty store leases");
    let holding = Holding::new(Hold::Lease(lease));
    let renewal = Renewal {
        store: Arc::clone(&store) as Arc<dyn Store>,
        key: key(1),
        holding: Arc::downgrade(&holding),
        clock: clock(),
        window: Duration::from_secs(3),
        deadline: at(NOW + 60_000),
    };
    (store, holding, renewal)
}

fn clock() -> Clock {
    ManualClock::new(at(NOW)).clock()
}

#[test]
fn a_cancelled_holder_releases_its_lease_whatever_the_renewal_does() {
    check("renewal_vs_release", None, || {
        let (store, holding, renewal) = leased();
        let ticker = thread::spawn(move || renewal.tick());
        let releaser = {
            let store = Arc::clone(&store);
            let holding = Arc::clone(&holding);
            thread::spawn(move || give_back_now(&*store, key(1), &holding))
        };
        ticker.join().unwrap();
        releaser.join().unwrap();
        assert_eq!(
            store.slot(),
            Slot::Empty,
            "a renewal outlived the release (or the release named a stale token)"
        );
        assert!(
            store.take_over().is_some(),
            "the next caller must take over at once"
        );
    });
}

#[test]
fn a_holder_that_stops_renewals_names_the_current_token_in_its_write() {
    check("renewal_vs_guarded_write", None, || {
        let (store, holding, renewal) = leased();
        let ticker = thread::spawn(move || {
            renewal.tick();
            renewal
        });
        let writer = {
            let store = Arc::clone(&store);
            let holding = Arc::clone(&holding);
            thread::spawn(move || {
                let Hold::Lease(lease) = holding.stop() else {
                    unreachable!("a lease was taken")
                };
                store.write_if(lease)
            })
        };
        let renewal = ticker.join().unwrap();
        assert!(writer.join().unwrap(), "the last write named a stale token");
        assert_eq!(store.slot(), Slot::Value);
        assert!(!renewal.tick(), "renewed after its holder stopped it");
        assert_eq!(store.slot(), Slot::Value);
    });
}

#[test]
fn a_renewal_never_renews_the_lease_of_the_caller_who_took_over() {
    check("renewal_vs_takeover", None, || {
        let (store, holding, renewal) = leased();
        let ticker = thread::spawn(move || renewal.tick());
        let taker = {
            let store = Arc::clone(&store);
            let holding = Arc::clone(&holding);
            thread::spawn(move || {
                // The holder gives up, then another caller takes over.
                give_back_now(&*store, key(1), &holding);
                store.take_over()
            })
        };
        ticker.join().unwrap();
        let taken = taker.join().unwrap().expect("taken over after the release");
        assert_eq!(
            store.slot(),
            Slot::Leased { token: taken.0 },
            "the old holder's renewal changed the new holder's lease"
        );
    });
}
