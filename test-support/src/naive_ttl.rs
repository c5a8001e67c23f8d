//! The dogpile itself: a TTL cache where every caller that finds the value
//! missing or expired recomputes it (check, miss, compute, store), as many
//! services write by hand. The stampede example, the web service and the
//! benchmark all set antidogpile beside this one.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::RwLock;
use std::time::{Duration, Instant};

/// A map of values with the instant each one expires.
#[derive(Debug)]
pub struct NaiveTtlCache<K, V> {
    ttl: Duration,
    /// Past this many entries, expired ones are dropped on the next store.
    max_entries: usize,
    entries: RwLock<HashMap<K, (V, Instant)>>,
}

impl<K: Hash + Eq + Clone, V: Clone> NaiveTtlCache<K, V> {
    /// An empty cache whose values live `ttl`, unbounded.
    pub fn new(ttl: Duration) -> Self {
        NaiveTtlCache {
            ttl,
            max_entries: usize::MAX,
            entries: RwLock::new(HashMap::new()),
        }
    }

    /// Drops the expired entries on a store once it holds `max_entries`
    /// (a long-running service must not keep every key it ever saw).
    pub fn with_max_entries(mut self, max_entries: usize) -> Self {
        self.max_entries = max_entries;
        self
    }

    fn fresh(&self, key: &K) -> Option<V> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        match entries.get(key) {
            Some((value, expires)) if Instant::now() < *expires => Some(value.clone()),
            _ => None,
        }
    }

    fn store(&self, key: K, value: &V) {
        let now = Instant::now();
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.max_entries {
            entries.retain(|_, (_, expires)| now < *expires);
        }
        entries.insert(key, (value.clone(), now + self.ttl));
    }

    /// The fresh value of `key`, or `compute`'s (stored for `ttl`).
    pub fn get_or_compute(&self, key: K, compute: impl FnOnce() -> V) -> V {
        if let Some(value) = self.fresh(&key) {
            return value;
        }
        let value = compute();
        self.store(key, &value);
        value
    }

    /// [`Self::get_or_compute`] with an async compute.
    pub async fn get_or_compute_async<F: Future<Output = V>>(
        &self,
        key: K,
        compute: impl FnOnce() -> F,
    ) -> V {
        if let Some(value) = self.fresh(&key) {
            return value;
        }
        let value = compute().await;
        self.store(key, &value);
        value
    }

    /// How many entries it holds, expired ones included.
    pub fn len(&self) -> usize {
        self.entries.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether it holds no entry at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recomputes_after_the_ttl_only() {
        let cache = NaiveTtlCache::new(Duration::from_millis(30));
        let mut computes = 0;
        for _ in 0..3 {
            cache.get_or_compute(1, || {
                computes += 1;
                "v"
            });
        }
        assert_eq!(computes, 1);
        std::thread::sleep(Duration::from_millis(40));
        cache.get_or_compute(1, || {
            computes += 1;
            "v"
        });
        assert_eq!(computes, 2);
    }

    #[test]
    fn a_full_cache_drops_its_expired_entries() {
        let cache = NaiveTtlCache::new(Duration::from_millis(20)).with_max_entries(3);
        for key in 0..3 {
            cache.get_or_compute(key, || "old");
        }
        std::thread::sleep(Duration::from_millis(30));
        cache.get_or_compute(3, || "new");
        assert_eq!(cache.len(), 1);
        for key in 4..10 {
            cache.get_or_compute(key, || "new");
        }
        // Nothing has expired yet: a full cache still keeps every fresh value.
        assert_eq!(cache.len(), 7);
    }
}
