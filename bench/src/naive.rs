//! The dogpile itself: a TTL cache where every caller that finds the value
//! missing or expired recomputes it (check, miss, compute, store). What many
//! services write by hand.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::RwLock;
use std::time::{Duration, Instant};

/// A map of values with the instant each one expires.
#[derive(Debug)]
pub struct NaiveTtlCache<K, V> {
    ttl: Duration,
    entries: RwLock<HashMap<K, (V, Instant)>>,
}

impl<K: Hash + Eq + Clone, V: Clone> NaiveTtlCache<K, V> {
    /// An empty cache whose values live `ttl`.
    pub fn new(ttl: Duration) -> Self {
        NaiveTtlCache {
            ttl,
            entries: RwLock::new(HashMap::new()),
        }
    }

    fn fresh(&self, key: &K) -> Option<V> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        match entries.get(key) {
            Some((value, expires)) if Instant::now() < *expires => Some(value.clone()),
            _ => None,
        }
    }

    fn store(&self, key: K, value: &V) {
        let expires = Instant::now() + self.ttl;
        self.entries
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, (value.clone(), expires));
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
}
