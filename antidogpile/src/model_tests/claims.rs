//! `MemoryStore::try_claim` / `release_claim`: never two claims in one grace
//! window, and a claim only its holder releases.

use std::sync::Arc;

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;

use super::{at, check, key, object, stale, version, NOW};
use crate::store::{ClaimId, MemoryStore, Store, Version, Wait};

/// The claim's grace runs out long after every model is over.
const UNTIL: u64 = 500;

fn claim(store: &MemoryStore, seen: Version) -> Option<ClaimId> {
    store
        .try_claim(Wait::Blocking, key(1), seen, at(NOW), at(UNTIL))
        .wait()
        .unwrap()
}

/// A stale entry under `key(1)`, and its version.
fn stale_store() -> (Arc<MemoryStore>, Version) {
    let store = Arc::new(MemoryStore::new());
    store
        .write(Wait::Blocking, key(1), object(1), stale(), at(0))
        .wait()
        .unwrap();
    let seen = version(&store, &key(1));
    (store, seen)
}

#[test]
fn of_three_threads_claiming_the_same_version_exactly_one_wins() {
    check("three_claimers_one_winner", None, || {
        let (store, seen) = stale_store();
        let claimers: Vec<_> = (0..3)
            .map(|_| {
                let store = Arc::clone(&store);
                thread::spawn(move || claim(&store, seen))
            })
            .collect();
        let won: Vec<ClaimId> = claimers
            .into_iter()
            .filter_map(|claimer| claimer.join().unwrap())
            .collect();
        assert_eq!(won.len(), 1, "claims won: {won:?}");
        assert_eq!(claim(&store, seen), None, "the claim is still live");
    });
}

#[test]
fn after_a_write_the_old_version_cannot_win() {
    check("claims_racing_a_write", None, || {
        let (store, seen) = stale_store();
        let claimers: Vec<_> = (0..2)
            .map(|_| {
                let store = Arc::clone(&store);
                thread::spawn(move || claim(&store, seen))
            })
            .collect();
        let writer = {
            let store = Arc::clone(&store);
            thread::spawn(move || {
                // A new value, already stale: claimable, but only at its own version.
                store
                    .write(Wait::Blocking, key(1), object(2), stale(), at(NOW))
                    .wait()
                    .unwrap();
                assert_eq!(
                    claim(&store, seen),
                    None,
                    "the old version won after a write"
                );
                let current = version(&store, &key(1));
                assert_ne!(current, seen);
                assert!(
                    claim(&store, current).is_some(),
                    "the new version is unclaimed: a claim of the old one survived the write"
                );
            })
        };
        writer.join().unwrap();
        let won = claimers
            .into_iter()
            .filter_map(|claimer| claimer.join().unwrap())
            .count();
        assert!(won <= 1, "{won} claims of one version");
    });
}

#[test]
fn only_the_holder_releases_a_claim_and_a_released_claim_can_be_taken_again() {
    check("release_claim", None, || {
        let (store, seen) = stale_store();
        let held = claim(&store, seen).expect("stale and unclaimed");
        // Set before the holder's release starts: a claim won without it was
        // freed by someone else.
        let releasing = Arc::new(AtomicBool::new(false));
        let holder = {
            let (store, releasing) = (Arc::clone(&store), Arc::clone(&releasing));
            thread::spawn(move || {
                releasing.store(true, Ordering::SeqCst);
                store
                    .release_claim(Wait::Blocking, key(1), held)
                    .wait()
                    .unwrap();
            })
        };
        let stranger = {
            let store = Arc::clone(&store);
            thread::spawn(move || {
                let never_issued = ClaimId(held.0 + 1_000);
                store
                    .release_claim(Wait::Blocking, key(1), never_issued)
                    .wait()
                    .unwrap();
            })
        };
        let claimer = {
            let (store, releasing) = (Arc::clone(&store), Arc::clone(&releasing));
            thread::spawn(move || {
                let won = claim(&store, seen);
                if won.is_some() {
                    assert!(
                        releasing.load(Ordering::SeqCst),
                        "claimed while the holder had not released"
                    );
                }
                won
            })
        };
        holder.join().unwrap();
        stranger.join().unwrap();
        let taken_again = claimer.join().unwrap();
        // The holder's claim is released now: whoever claims next wins, once.
        let after = claim(&store, seen);
        assert!(
            taken_again.is_some() != after.is_some(),
            "claimer {taken_again:?}, then {after:?}: exactly one must win"
        );
    });
}
