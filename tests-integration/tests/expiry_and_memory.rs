//! Jitter spreads soft deadlines; hard timeouts really free memory; and
//! `max_entries` bounds the store.

mod common;

use std::sync::Arc;
use std::time::Duration;

use antidogpile::antidogpiled;
use antidogpile::clock::{ManualClock, Timestamp};
use antidogpile::{install_named, store::MemoryStore, Cache};

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

// ---- a value whose `Drop` uses the cache ----

/// A cached value that, when dropped, reads its own key from the cache
/// named in it, as a value holding a cache handle might.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct ReadsOnDrop {
    cache: String,
    id: u64,
}

impl Drop for ReadsOnDrop {
    fn drop(&mut self) {
        if let Some(cache) = antidogpile::named_cache(&self.cache) {
            // Another type than the one stored: a read of the same key (and
            // shard) that never clones (and so never drops) another value.
            let _ = cache.peek::<u64, _>(&("drop", self.id));
        }
    }
}

/// Runs `scenario` on a thread of its own; fails (rather than hangs) if it
/// has not finished within a generous bound.
fn finishes(what: &str, scenario: impl FnOnce() + Send + 'static) {
    assert!(
        antidogpile_test_support::within(Duration::from_secs(10), scenario).is_some(),
        "{what}: deadlocked (a value dropped under a store lock used the cache)"
    );
}

fn set_reads_on_drop(name: &str, id: u64, ttl: Duration) {
    let cache = antidogpile::named_cache(name).unwrap();
    let value = ReadsOnDrop {
        cache: name.to_owned(),
        id,
    };
    cache
        .set(&("drop", id), &value, antidogpile::Ttl::soft(ttl).factor(1))
        .unwrap();
}

#[test]
fn a_value_whose_drop_uses_the_cache_is_swept_evicted_and_replaced_without_deadlock() {
    finishes("sweep", || {
        let store = Arc::new(MemoryStore::new());
        let clock = cache_with_store("drop_sweep", Arc::clone(&store));
        set_reads_on_drop("drop_sweep", 1, Duration::from_secs(1));
        clock.advance(Duration::from_secs(2));
        store.sweep(clock.now());
        assert!(store.is_empty());
    });
    finishes("eviction", || {
        // One entry per shard: every other key that lands in the first
        // one's shard evicts what is there.
        let store = Arc::new(MemoryStore::new().with_max_entries(1));
        cache_with_store("drop_evict", Arc::clone(&store));
        for id in 0..1_000 {
            set_reads_on_drop("drop_evict", id, Duration::from_secs(3600));
        }
        assert!(store.len() <= 64);
    });
    finishes("replacement", || {
        let store = Arc::new(MemoryStore::new());
        cache_with_store("drop_replace", Arc::clone(&store));
        for _ in 0..3 {
            set_reads_on_drop("drop_replace", 1, Duration::from_secs(3600));
        }
        assert_eq!(store.len(), 1);
    });
}
