//! Many holds at once: a process that holds the cold-miss leases of tens
//! of thousands of keys keeps every one of them while it computes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use antidogpile::{Cache, Got, Ttl};

/// How many keys one process holds at once.
pub const MANY_KEYS: usize = 20_000;
/// The holder's liveness window: each lease lapses this long after its
/// last renewal.
pub const WINDOW: Duration = Duration::from_secs(1);
/// How long the holder computes: over four windows.
pub const COMPUTE: Duration = Duration::from_millis(4_500);

/// A cache of `holder_url` holds the leases of [`MANY_KEYS`] cold keys
/// through one `get_or_compute_many` whose compute takes [`COMPUTE`];
/// three windows into it, another cache of `other_url` (the same server;
/// its own connections and in-process state: another process, as far as
/// leases go) asks for the same keys with `get_many`, which takes the
/// lease of every key it finds free. Returns how many of them it was told
/// to recompute (0 if every lease was kept).
pub fn keys_another_cache_must_recompute(holder_url: &str, other_url: &str) -> usize {
    let keys: Vec<String> = (0..MANY_KEYS).map(|k| format!("many {k:05}")).collect();
    let keys = Arc::new(keys);
    let ttl = Ttl::soft(Duration::from_secs(600)).grace(Duration::from_secs(60));
    let holder = Cache::from_url(holder_url).unwrap().with_liveness(WINDOW);
    let computing = Arc::new(AtomicBool::new(false));
    let held = {
        let (keys, computing) = (Arc::clone(&keys), Arc::clone(&computing));
        std::thread::spawn(move || {
            holder
                .get_or_compute_many(&keys, ttl, |missing| {
                    computing.store(true, Ordering::SeqCst);
                    std::thread::sleep(COMPUTE);
                    vec![1u64; missing.len()]
                })
                .unwrap()
        })
    };
    assert!(
        super::eventually(super::PATIENCE, || computing.load(Ordering::SeqCst)),
        "the holder never started computing"
    );
    std::thread::sleep(WINDOW * 3);
    let other = Cache::from_url(other_url).unwrap();
    let found: Vec<Got<u64>> = other.get_many(&keys).unwrap();
    let pending = found
        .iter()
        .filter(|got| matches!(got, Got::Pending))
        .count();
    let recompute = found.iter().filter(|got| got.must_recompute()).count();
    // The duties taken are given back: the holder's writes of those keys
    // are refused (their leases were lost) and they stay free.
    drop(found);
    let holders = held.join().expect("the holder panicked");
    assert_eq!(holders.len(), MANY_KEYS);
    println!(
        "{MANY_KEYS} keys held (window {WINDOW:?}, compute {COMPUTE:?}), three windows into \
         the compute: another cache found {pending} pending and was told to recompute {recompute}"
    );
    assert_eq!(
        pending + recompute,
        MANY_KEYS,
        "another cache found values nobody had written yet"
    );
    recompute
}

/// [`keys_another_cache_must_recompute`], asserting that it is none: no
/// lease lapsed while its holder lived.
pub fn every_lease_is_kept(holder_url: &str, other_url: &str) {
    let taken_over = keys_another_cache_must_recompute(holder_url, other_url);
    assert_eq!(
        taken_over, 0,
        "leases lapsed while their holder lived: another cache took over {taken_over} of {MANY_KEYS} keys"
    );
}
