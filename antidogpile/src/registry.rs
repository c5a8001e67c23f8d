//! The installed caches: a default one and named ones, replaceable at any
//! time; a process-wide memory cache when nothing is installed.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use arc_swap::ArcSwapOption;

use crate::cache::Cache;
use crate::store::MemoryStore;

/// The installed default cache, kept for the life of the process (see
/// [`install`]), so the hit path can borrow it.
static CURRENT: Mutex<Option<&'static Arc<Cache>>> = Mutex::new(None);
/// Bumped by every [`install`]: threads re-read [`CURRENT`] when it moves.
static GENERATION: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// The default cache this thread last saw, and at which generation.
    static SEEN: Cell<(u64, Option<&'static Cache>)> = const { Cell::new((u64::MAX, None)) };
}
static EMBEDDED: OnceLock<Arc<Cache>> = OnceLock::new();
static NAMED: OnceLock<Mutex<HashMap<String, Arc<NamedSlot>>>> = OnceLock::new();

/// Where a named cache is (or will be) installed.
#[derive(Debug)]
pub(crate) struct NamedSlot {
    pub(crate) cache: ArcSwapOption<Cache>,
    pub(crate) warned: AtomicBool,
}

/// Makes `cache` the default cache, used by every `#[antidogpiled]` function
/// without a `cache = "..."` option. Calling it again replaces the cache
/// (values cached in the old one are not carried over).
///
/// Installing is meant for startup (and tests): an installed default cache
/// is kept for the life of the process, even once replaced, so that the hit
/// path can read it without touching a reference count.
///
/// ```
/// antidogpile::install(antidogpile::Cache::new(antidogpile::store::MemoryStore::new()));
/// ```
pub fn install(cache: Cache) {
    let kept: &'static Arc<Cache> = Box::leak(Box::new(Arc::new(cache)));
    let mut current = CURRENT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    *current = Some(kept);
    GENERATION.fetch_add(1, Ordering::Release);
}

/// The default cache, as the hit path reads it: a plain load of the
/// generation, and the cache this thread saw at it.
#[inline]
pub(crate) fn default_static() -> &'static Cache {
    let generation = GENERATION.load(Ordering::Acquire);
    let seen = SEEN.try_with(|seen| match seen.get() {
        (at, Some(cache)) if at == generation => Some(cache),
        _ => None,
    });
    match seen {
        Ok(Some(cache)) => cache,
        _ => {
            let cache: &'static Cache = current_arc();
            let _ = SEEN.try_with(|seen| seen.set((generation, Some(cache))));
            cache
        }
    }
}

/// The installed default cache, or the embedded one.
#[cold]
fn current_arc() -> &'static Arc<Cache> {
    let current = *CURRENT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    current.unwrap_or_else(embedded)
}

/// Installs `cache` under `name`, for functions declared with
/// `cache = "name"`. Calling it again with the same name replaces it.
///
/// ```
/// use antidogpile::{install_named, Cache, store::MemoryStore};
///
/// install_named("sessions", Cache::new(MemoryStore::new().with_max_entries(1_000)));
/// ```
pub fn install_named(name: &str, cache: Cache) {
    named_slot(name).cache.store(Some(Arc::new(cache)));
    // A cache installed after a warning deserves a new warning if removed.
    named_slot(name)
        .warned
        .store(false, std::sync::atomic::Ordering::Relaxed);
}

/// The default cache: the installed one, or else the embedded memory cache.
pub fn default_cache() -> Arc<Cache> {
    Arc::clone(current_arc())
}

/// The cache installed under `name`, if any.
pub fn named_cache(name: &str) -> Option<Arc<Cache>> {
    named_slot(name).cache.load_full()
}

pub(crate) fn embedded() -> &'static Arc<Cache> {
    EMBEDDED.get_or_init(|| Arc::new(Cache::new(MemoryStore::new())))
}

pub(crate) fn named_slot(name: &str) -> Arc<NamedSlot> {
    let mut named = NAMED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    Arc::clone(named.entry(name.to_owned()).or_insert_with(|| {
        Arc::new(NamedSlot {
            cache: ArcSwapOption::const_empty(),
            warned: AtomicBool::new(false),
        })
    }))
}
