//! `MemoryStore::try_lease` / `release_lease` / `write`: one cold-miss lease
//! per key, gone once its value is written, released only by its holder.

use std::sync::Arc;

use loom::thread;

use super::{at, check, key, object, read, Seen, NOW};
use crate::policy::Deadlines;
use crate::store::{LeaseId, MemoryStore, Store, Wait};

const GRACE: std::time::Duration = std::time::Duration::from_secs(60);

fn lease(store: &MemoryStore) -> Option<LeaseId> {
    store
        .try_lease(Wait::Blocking, key(1), at(NOW), GRACE)
        .wait()
        .unwrap()
}

fn fresh() -> Deadlines {
    Deadlines {
        soft: at(500),
        hard: at(1_000),
    }
}

#[test]
fn of_three_threads_leasing_a_missing_key_exactly_one_gets_it_and_its_write_ends_it() {
    check("three_leasers_one_lease", None, || {
        let store = Arc::new(MemoryStore::new());
        let leasers: Vec<_> = (0..3u32)
            .map(|me| {
                let store = Arc::clone(&store);
                thread::spawn(move || {
                    let Some(_lease) = lease(&store) else {
                        // Someone leased the key first: it can never be seen missing again.
                        let seen = read(&store, &key(1));
                        assert_ne!(seen, Seen::Absent, "a lease vanished without a value");
                        return false;
                    };
                    store
                        .write(Wait::Blocking, key(1), object(me), fresh(), at(NOW))
                        .wait()
                        .unwrap();
                    match read(&store, &key(1)) {
                        Seen::Value { value, .. } => assert_eq!(value, me),
                        other => panic!("the lease survived its write: {other:?}"),
                    }
                    true
                })
            })
            .collect();
        let leases = leasers
            .into_iter()
            .map(|leaser| leaser.join().unwrap())
            .filter(|leased| *leased)
            .count();
        assert_eq!(leases, 1, "{leases} cold-miss leases of one key");
        assert!(matches!(read(&store, &key(1)), Seen::Value { .. }));
        assert_eq!(lease(&store), None, "a value is stored: nothing to lease");
    });
}

#[test]
fn a_lease_is_released_only_by_its_holder() {
    check("release_lease", None, || {
        let store = Arc::new(MemoryStore::new());
        let leasers: Vec<_> = (0..2)
            .map(|_| {
                let store = Arc::clone(&store);
                thread::spawn(move || lease(&store))
            })
            .collect();
        let stranger = {
            let store = Arc::clone(&store);
            thread::spawn(move || {
                // Lease ids come from the store's version counter: this one was never issued.
                store
                    .release_lease(Wait::Blocking, key(1), LeaseId(u64::MAX))
                    .wait()
                    .unwrap();
            })
        };
        stranger.join().unwrap();
        let leases: Vec<LeaseId> = leasers
            .into_iter()
            .filter_map(|leaser| leaser.join().unwrap())
            .collect();
        assert_eq!(leases.len(), 1, "leases: {leases:?}");
        assert_eq!(read(&store, &key(1)), Seen::Leased);
        store
            .release_lease(Wait::Blocking, key(1), leases[0])
            .wait()
            .unwrap();
        assert_eq!(read(&store, &key(1)), Seen::Absent);
        assert!(
            lease(&store).is_some(),
            "a released lease can be taken again"
        );
    });
}
