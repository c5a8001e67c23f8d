//! [`Recompute`]: the duty to recompute one key, as [`Cache::get`] hands it
//! to the one caller it tells to recompute.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::{soft_value_in, store_error, Ttl};
use crate::cache::Cache;
use crate::clock::{Clock, Timestamp};
use crate::error::Error;
use crate::holds::Release;
use crate::io::Io;
use crate::key::Key;
use crate::outcome::Cacheable;
use crate::store::block_on;
use crate::store::{Hold, Store};

/// The duty to recompute a key, handed with [`Got::Recompute`](super::Got::Recompute)
/// to the one caller of [`Cache::get`] that must compute it. It holds the
/// key's refresh claim (a stale value) or cold-miss lease (nothing stored),
/// so that the other callers are served the stale value or told
/// [`Pending`](super::Got::Pending) meanwhile.
///
/// - [`set`](Recompute::set) stores the computed value, only if nothing
///   invalidated the key since this `get` (a [`delete`](Cache::delete),
///   [`delete_hard`](Cache::delete_hard), a `set` by someone else, or a
///   newer claim after the grace): a value computed from data read before
///   an invalidation is never stored as fresh after it. It returns whether
///   the value was stored; either way, the caller has its value to use.
/// - Dropping it without `set` (the compute failed, the caller gave up)
///   gives the claim or lease back at once, so the next caller recomputes
///   without waiting for the grace. [`release`](Recompute::release) says so
///   explicitly.
///
/// A plain [`Cache::set`] still works (it stores unconditionally, and
/// replaces the claim or lease).
///
/// In a store shared by several processes (one that
/// [`renews_holds`](crate::store::Store::renews_holds)), the claim or lease
/// is taken for the cache's liveness window and renewed while the duty
/// lives, up to the grace: a process killed while holding a duty keeps the
/// others waiting for that window, not for the grace.
///
/// ```
/// use antidogpile::{Cache, Got, store::MemoryStore};
/// use std::time::Duration;
///
/// let cache = Cache::new(MemoryStore::new());
/// let Got::Recompute(None, duty) = cache.get::<String, _>("greeting")? else {
///     unreachable!("the first caller recomputes")
/// };
/// assert!(matches!(cache.get::<String, _>("greeting")?, Got::Pending));
/// assert!(duty.set(&"hello".to_owned(), Duration::from_secs(30))?, "stored");
/// assert_eq!(cache.get("greeting")?, Got::Fresh("hello".to_owned()));
///
/// // Invalidated while it was computed: not stored, so the next caller
/// // recomputes from the new data.
/// cache.delete("greeting")?;
/// let Got::Recompute(Some(_stale), duty) = cache.get::<String, _>("greeting")? else {
///     unreachable!()
/// };
/// cache.delete_hard("greeting")?;
/// assert!(!duty.set(&"hello again".to_owned(), Duration::from_secs(30))?);
/// assert!(cache.get::<String, _>("greeting")?.must_recompute());
/// # Ok::<(), antidogpile::Error>(())
/// ```
#[must_use = "dropping it gives the claim or lease back at once: set the value through it"]
pub struct Recompute {
    key: Key,
    /// The claim or lease, given back if dropped armed. `None` when nothing
    /// could be held (bytes of another type under the key: overwritten).
    hold: Option<Release>,
    store: Arc<dyn Store>,
    clock: Clock,
    factor: u32,
    default_grace: Duration,
}

impl Recompute {
    /// The duty of `held`, taken at `now` for a grace of `grace` (for the
    /// liveness window only, in a store that renews holds: renewed while
    /// this lives, up to the grace).
    pub(super) fn new(
        cache: &Cache,
        key: Key,
        held: Option<Hold>,
        now: Timestamp,
        grace: Duration,
    ) -> Recompute {
        Recompute {
            key,
            hold: held.map(|held| cache.renewed_hold(key, held, now, grace)),
            store: Arc::clone(&cache.store),
            clock: cache.clock.clone(),
            factor: cache.hard_timeout_factor(),
            default_grace: cache.default_grace(),
        }
    }

    /// Stores `value`, fresh for `ttl`'s soft timeout, if the claim or lease
    /// is still live (see [`Recompute`]); returns whether it was stored.
    /// Blocks the thread; in `async` code use
    /// [`set_async`](Recompute::set_async).
    pub fn set<V: Cacheable>(self, value: &V, ttl: impl Into<Ttl>) -> Result<bool, Error> {
        let store = Arc::clone(&self.store);
        block_on(self.settle(&Io::blocking(&*store), value, ttl.into()))
    }

    /// [`set`](Recompute::set), awaiting the store instead of blocking.
    #[cfg(feature = "tokio")]
    pub async fn set_async<V: Cacheable>(
        self,
        value: &V,
        ttl: impl Into<Ttl>,
    ) -> Result<bool, Error> {
        let store = Arc::clone(&self.store);
        self.settle(&Io::nonblocking(&*store), value, ttl.into())
            .await
    }

    /// Gives the claim or lease back now, storing nothing (as dropping it
    /// does: a store that does I/O gives it back on antidogpile's background
    /// thread, never blocking a runtime;
    /// [`release_async`](Recompute::release_async) awaits it
    /// instead).
    pub fn release(self) {}

    /// [`release`](Recompute::release), awaiting the store: the claim or
    /// lease is given back when this returns.
    #[cfg(feature = "tokio")]
    pub async fn release_async(mut self) {
        if let Some(hold) = self.hold.take() {
            hold.give_back(&Io::nonblocking(&*self.store)).await;
        }
    }

    async fn settle<V: Cacheable>(
        mut self,
        io: &Io<'_>,
        value: &V,
        ttl: Ttl,
    ) -> Result<bool, Error> {
        let value = soft_value_in(&*self.store, value)?;
        let now = self.clock.now();
        let deadlines = ttl
            .timeouts_with(self.factor, self.default_grace)
            .deadlines(now, 0.0);
        // The claim or lease as held now.
        let held = self.hold.as_ref().map(Release::held);
        // On a store error the hold stays armed: dropped below, it is given back.
        let landed = io
            .write(self.key, held, value, deadlines, now)
            .await
            .map_err(store_error)?;
        // Stored (the value replaced the claim or lease), or refused (an
        // invalidation already ended it): nothing to give back.
        if let Some(hold) = self.hold.as_mut() {
            hold.disarm();
        }
        Ok(landed)
    }
}

/// Two duties are equal when they hold the same claim or lease on the same key.
impl PartialEq for Recompute {
    fn eq(&self, other: &Recompute) -> bool {
        self.key == other.key
            && self.hold.as_ref().map(Release::held) == other.hold.as_ref().map(Release::held)
    }
}

impl Eq for Recompute {}

impl fmt::Debug for Recompute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recompute")
            .field("key", &self.key)
            .field("held", &self.hold.as_ref().map(Release::held))
            .finish_non_exhaustive()
    }
}
