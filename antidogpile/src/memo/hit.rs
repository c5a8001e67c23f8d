//! The hit path: a fresh value from an in-process store, short of the
//! state machine.

use crate::cache::Cache;
use crate::io::decode;
use crate::key::Key;
use crate::outcome::Cacheable;
use crate::site::Site;
use crate::stats::Event;
use crate::store::{Lookup, ReadFor, Wait};

/// The hit path, short of the state machine (and of building a [`Call`](super::Call)):
/// a fresh value, read under the store's lock and cloned after it. `None`: anything
/// else (then [`Call::next`](super::Call::next) decides). Stores that keep bytes do I/O: for
/// them a second read on every stale hit and miss would cost more than the
/// fast path saves.
#[inline]
pub(crate) fn fresh_hit<V: Cacheable>(cache: &Cache, site: &Site, key: &Key) -> Option<V> {
    if cache.keeps_bytes {
        return None;
    }
    let now = cache.clock.now();
    let mut hit = None;
    let mut reader = |lookup: Lookup<'_>| {
        if let Lookup::Entry(entry) = lookup {
            // Fresh does not depend on the grace.
            if now < entry.meta.soft_deadline {
                hit = decode::<V>(entry.value);
            }
        }
    };
    // An in-process store answers at once (a store that would not is not
    // read here): a value handed to the reader is the answer. A future that
    // was never polled is dropped unread (then `hit` is `None`).
    drop(
        cache
            .store
            .read(Wait::Blocking, *key, now, ReadFor::Peek, &mut reader),
    );
    if hit.is_some() {
        site.counters.count(Event::FreshHit);
        crate::hooks::report(|| crate::hooks::Served::Fresh);
        return hit;
    }
    None
}
