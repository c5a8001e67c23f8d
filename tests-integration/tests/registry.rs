//! The default cache, named caches, replacing them, and a named cache that
//! was never installed (computes uncached, never panics).

mod common;

use std::sync::atomic::{AtomicU64, Ordering};

use antidogpile::{antidogpiled, install_named, store::MemoryStore, Cache};

static UNINSTALLED_CALLS: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(soft = "1h", cache = "never_installed", name = "registry::uninstalled")]
fn uses_a_missing_cache(x: u64) -> u64 {
    UNINSTALLED_CALLS.fetch_add(1, Ordering::SeqCst);
    x
}

#[test]
fn a_named_cache_that_was_never_installed_computes_every_time() {
    for _ in 0..3 {
        assert_eq!(uses_a_missing_cache(4), 4);
    }
    assert_eq!(UNINSTALLED_CALLS.load(Ordering::SeqCst), 3);
    let stats = antidogpile::stats("registry::uninstalled").unwrap();
    assert_eq!((stats.uncached, stats.computes, stats.calls()), (3, 3, 3));
}

static REPLACED_CALLS: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(soft = "1h", cache = "replaced", name = "registry::replaced")]
fn in_replaced_cache(x: u64) -> u64 {
    REPLACED_CALLS.fetch_add(1, Ordering::SeqCst);
    x
}

#[test]
fn installing_again_replaces_the_named_cache() {
    install_named("replaced", Cache::new(MemoryStore::new()));
    in_replaced_cache(1);
    in_replaced_cache(1);
    assert_eq!(REPLACED_CALLS.load(Ordering::SeqCst), 1);
    install_named("replaced", Cache::new(MemoryStore::new()));
    in_replaced_cache(1);
    assert_eq!(
        REPLACED_CALLS.load(Ordering::SeqCst),
        2,
        "the new cache starts empty"
    );
}

static DEFAULT_CALLS: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(soft = "1h")]
fn in_default_cache(x: u64) -> u64 {
    DEFAULT_CALLS.fetch_add(1, Ordering::SeqCst);
    x + 1
}

#[test]
fn with_nothing_installed_the_embedded_memory_cache_is_used() {
    // This binary never calls `install`: the default is the embedded cache.
    assert_eq!(in_default_cache(1), 2);
    assert_eq!(in_default_cache(1), 2);
    assert_eq!(DEFAULT_CALLS.load(Ordering::SeqCst), 1);
    let namespace = concat!(module_path!(), "::in_default_cache");
    assert_eq!(antidogpile::stats(namespace).unwrap().fresh_hits, 1);
    assert!(antidogpile::named_cache("no such cache").is_none());
    assert_eq!(antidogpile::default_cache().hard_timeout_factor(), 8);
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Point {
    x: i32,
    y: i32,
}

static KEYED_CALLS: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(soft = "1h", cache = "keys", name = "registry::keys", version = 2)]
fn by_struct(point: Point, label: &str) -> String {
    KEYED_CALLS.fetch_add(1, Ordering::SeqCst);
    format!("{label}:{}", point.x + point.y)
}

#[test]
fn every_argument_is_part_of_the_key() {
    install_named("keys", Cache::new(MemoryStore::new()));
    assert_eq!(by_struct(Point { x: 1, y: 2 }, "a"), "a:3");
    assert_eq!(by_struct(Point { x: 1, y: 2 }, "a"), "a:3");
    assert_eq!(by_struct(Point { x: 2, y: 1 }, "a"), "a:3");
    assert_eq!(by_struct(Point { x: 1, y: 2 }, "b"), "b:3");
    assert_eq!(KEYED_CALLS.load(Ordering::SeqCst), 3);
}
