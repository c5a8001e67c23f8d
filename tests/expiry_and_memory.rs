//! Jitter spreads soft deadlines; hard timeouts really free memory; and
//! `max_entries` bounds the store.

mod common;

use std::sync::Arc;
use std::time::Duration;

use antidogpile::antidogpiled;
use antidogpile::clock::{ManualClock, Timestamp};
use antidogpile::{install_named, Cache, MemoryStore};

fn cache_with_store(name: &str, store: Arc<MemoryStore>) -> ManualClock {
    let manual = ManualClock::new(Timestamp::from_millis(1_000_000));
    install_named(name, Cache::from_store(store).with_clock(manual.clock()));
    manual
}

#[antidogpiled(soft = "100s", jitter = 0.5, cache = "jitter", name = "expiry::jitter")]
fn jittered(key: u32) -> u32 {
    key
}

#[test]
fn jitter_spreads_soft_deadlines_over_the_given_fraction() {
    let clock = cache_with_store("jitter", Arc::new(MemoryStore::new()));
    for key in 0..400 {
        jittered(key);
    }
    // Deadlines fall in [50 s, 100 s]: none stale before 50 s, some by 75 s, all by 100 s.
    let stale_after = |seconds: u64| {
        let before = antidogpile::stats("expiry::jitter").unwrap().stale_hits;
        clock.set(Timestamp::from_millis(1_000_000 + seconds * 1000));
        for key in 0..400 {
            jittered(key);
        }
        antidogpile::stats("expiry::jitter").unwrap().stale_hits - before
    };
    assert_eq!(stale_after(49), 0);
    let by_75 = stale_after(75);
    assert!((100..=300).contains(&by_75), "{by_75} of 400 stale at 75 s");
}

#[antidogpiled(soft = "1s", factor = 2, cache = "hard_expiry", name = "expiry::hard")]
fn payload(key: u64) -> Vec<u8> {
    vec![key as u8; 1024]
}

#[test]
fn expired_entries_do_not_pile_up_in_a_long_running_process() {
    let store = Arc::new(MemoryStore::new());
    let clock = cache_with_store("hard_expiry", Arc::clone(&store));
    // 200 rounds of 500 new keys, each round 3 s apart (past the 2 s hard
    // timeout): 100,000 entries written, but only ~500 alive at any time.
    let mut peak = 0;
    for round in 0..200u64 {
        for key in 0..500 {
            payload(round * 500 + key);
        }
        peak = peak.max(store.len());
        clock.advance(Duration::from_secs(3));
    }
    assert!(peak < 2_500, "peak of {peak} entries for 500 alive");
}

#[antidogpiled(soft = "1h", cache = "bounded", name = "expiry::bounded")]
fn bounded(key: u64) -> u64 {
    key
}

#[test]
fn max_entries_evicts() {
    let store = Arc::new(MemoryStore::new().with_max_entries(1_000));
    let _clock = cache_with_store("bounded", Arc::clone(&store));
    for key in 0..20_000 {
        assert_eq!(bounded(key), key);
    }
    // with_max_entries rounds up to a whole number per shard.
    assert!(store.len() <= 1_024, "{} entries", store.len());
    assert!(
        store.len() >= 500,
        "{} entries: eviction should not empty the store",
        store.len()
    );
}
