//! [`Cache`]: one store, its clock, and the defaults its functions inherit.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::clearing::Cleared;
use crate::clock::Clock;
use crate::error::Error;
use crate::flight::{Flights, Refreshing};
use crate::holds::Release;
use crate::io::Io;
use crate::key::Fingerprint;
use crate::store::Store;

/// A store together with the clock and the defaults of the functions that use it.
///
/// ```
/// use antidogpile::{Cache, store::MemoryStore};
/// use std::time::Duration;
///
/// let cache = Cache::new(MemoryStore::new())
///     .with_hard_timeout_factor(16)
///     .with_default_grace(Duration::from_secs(10));
/// antidogpile::install(cache);
/// ```
pub struct Cache {
    pub(crate) store: Arc<dyn Store>,
    /// `store.keeps_bytes()`, asked once: the hit path reads it on every
    /// call, and through `dyn Store` that is an indirect call each time.
    pub(crate) keeps_bytes: bool,
    pub(crate) clock: Clock,
    hard_timeout_factor: u32,
    default_grace: Duration,
    liveness: Duration,
    retry_spacing: Duration,
    pub(crate) flights: Flights,
    pub(crate) refreshing: Arc<Refreshing>,
    pub(crate) clearing: crate::clearing::Clearing,
}

impl Cache {
    /// The default hard timeout factor: values are kept `8 * soft`.
    pub const DEFAULT_HARD_TIMEOUT_FACTOR: u32 = 8;
    /// The environment variable [`Cache::from_env`] reads.
    pub const ENV_URL: &str = "ANTIDOGPILE_URL";
    /// The default grace: a recompute may take 60 s before another caller may try.
    pub const DEFAULT_GRACE: Duration = Duration::from_secs(60);
    /// The default liveness window: a claim or lease in a store shared by
    /// processes is taken for 3 s and renewed every second while its compute
    /// runs, so a holder that dies is replaced within about 3 s (memcached
    /// rounds up to whole seconds: 4 s at most), whatever the grace.
    pub const DEFAULT_LIVENESS: Duration = Duration::from_secs(3);
    /// The default retry spacing: a failed refresh is retried by the next
    /// caller 5 s later (never later than the grace); the stale value is
    /// served meanwhile.
    pub const DEFAULT_RETRY_SPACING: Duration = Duration::from_secs(5);
    /// How often a process reads a shared store's clearing generations (at
    /// most): a clear made by one process is seen by every other within
    /// about this long ([`clear_namespace`](Cache::clear_namespace)).
    pub const CLEAR_CHECK_EVERY: Duration = crate::clearing::CHECK_EVERY;
    /// The namespace of the cache client's keys ([`Cache::get`],
    /// [`Cache::set`], ...): their counters are
    /// [`stats`](crate::stats)`(Cache::CLIENT_NAMESPACE)`.
    pub const CLIENT_NAMESPACE: &'static str = "antidogpile::client";

    /// A cache over `store`, with the system clock, a hard timeout factor of
    /// 8 and a default grace of 60 s.
    pub fn new(store: impl Store) -> Cache {
        Cache::from_store(Arc::new(store))
    }

    /// A cache over a store that is shared (for instance with a test that
    /// inspects it).
    pub fn from_store(store: Arc<dyn Store>) -> Cache {
        Cache {
            keeps_bytes: store.keeps_bytes(),
            store,
            clock: Clock::system(),
            hard_timeout_factor: Cache::DEFAULT_HARD_TIMEOUT_FACTOR,
            default_grace: Cache::DEFAULT_GRACE,
            liveness: Cache::DEFAULT_LIVENESS,
            retry_spacing: Cache::DEFAULT_RETRY_SPACING,
            flights: Flights::new(),
            refreshing: Arc::default(),
            clearing: Default::default(),
        }
    }

    /// A cache from a URL:
    ///
    /// - `memory://?max_entries=N` (N at least 1): a [`MemoryStore`](crate::store::MemoryStore);
    /// - `memcached://host:port,host:port?timeout=&pool=&retry_after=&max_value=`
    ///   (or `memcached:///path/to.sock`): a [`MemcachedStore`](crate::store::MemcachedStore);
    /// - `redis://[user:password@]host:port[/db]?timeout=&pool=&retry_after=&prefix=&max_value=`,
    ///   `redis+unix:///path/to.sock?db=` (feature `redis`; a database from 0
    ///   to 2147483646, the server's own `databases` setting checked at the
    ///   first call) and
    ///   `redis+cluster://host:port,host:port?...` (feature `redis-cluster`):
    ///   a `RedisStore`; `rediss://` and `rediss+cluster://` are the same over
    ///   TLS (feature `redis-tls`; `ca=/path/ca.pem` to trust a private CA
    ///   instead of the system's roots);
    /// - `file:///absolute/dir?max_value=&sweep_every=`: a [`FileStore`](crate::store::FileStore);
    /// - `dummy://`: a [`NoopStore`](crate::store::NoopStore).
    ///
    /// Every scheme also takes `factor` (hard timeout factor), `grace`,
    /// `liveness` and `retry_spacing` (durations: `"30s"`, `"500ms"`). A mistake is an [`Error::InvalidUrl`] naming
    /// the part that is wrong.
    ///
    /// ```
    /// let cache = antidogpile::Cache::from_url("memory://?max_entries=10000&grace=30s")?;
    /// assert_eq!(cache.default_grace(), std::time::Duration::from_secs(30));
    ///
    /// let error = antidogpile::Cache::from_url("memcache://x").unwrap_err();
    /// assert!(error.to_string().contains("scheme"));
    /// # Ok::<(), antidogpile::Error>(())
    /// ```
    pub fn from_url(url: &str) -> Result<Cache, Error> {
        let crate::url::CacheUrl { store, options } = crate::url::parse(url)?;
        let mut cache = Cache::from_store(store);
        if let Some(factor) = options.factor {
            cache = cache.with_hard_timeout_factor(factor);
        }
        if let Some(grace) = options.grace {
            cache = cache.with_default_grace(grace);
        }
        if let Some(window) = options.liveness {
            cache = cache.with_liveness(window);
        }
        if let Some(spacing) = options.retry_spacing {
            cache = cache.with_retry_spacing(spacing);
        }
        Ok(cache)
    }

    /// A cache from the URL in the environment variable `ANTIDOGPILE_URL`
    /// (see [`from_url`](Cache::from_url)), so that a deployment picks its
    /// store without a code change; `memory://` when it is not set.
    ///
    /// ```
    /// // With ANTIDOGPILE_URL=memcached://10.0.0.1:11211 in production and
    /// // nothing set in development:
    /// let cache = antidogpile::Cache::from_env()?;
    /// antidogpile::install(cache);
    /// # Ok::<(), antidogpile::Error>(())
    /// ```
    pub fn from_env() -> Result<Cache, Error> {
        Cache::from_env_var(Cache::ENV_URL)
    }

    fn from_env_var(name: &str) -> Result<Cache, Error> {
        match std::env::var(name) {
            Ok(url) => Cache::from_url(url.trim()),
            Err(std::env::VarError::NotPresent) => Cache::from_url("memory://"),
            Err(std::env::VarError::NotUnicode(_)) => Err(Error::invalid_url(
                "",
                name,
                "the environment variable is not valid UTF-8",
            )),
        }
    }

    /// Keeps values `factor * soft` in the store (0 is taken as 1), for the
    /// functions that do not set their own `factor`.
    pub fn with_hard_timeout_factor(mut self, factor: u32) -> Cache {
        self.hard_timeout_factor = factor.max(1);
        self
    }

    /// Lets a recompute take `grace` before another caller may try, for the
    /// functions that do not set their own `grace`.
    pub fn with_default_grace(mut self, grace: Duration) -> Cache {
        self.default_grace = grace;
        self
    }

    /// Takes claims and leases in stores shared by processes (memcached,
    /// files: [`Store::renews_holds`](crate::store::Store::renews_holds))
    /// for `window` (3 s by default, at most the grace), and renews them
    /// every `window / 3` while the compute runs, up to the grace. A holder
    /// that dies (a killed process) is then replaced after about `window`,
    /// not after the grace; a live one keeps its hold up to the grace.
    /// memcached counts whole seconds: its leases may last up to a second
    /// longer. Zero turns renewal off: holds are taken for the grace.
    ///
    /// ```
    /// use antidogpile::{Cache, store::MemoryStore};
    /// use std::time::Duration;
    ///
    /// let cache = Cache::new(MemoryStore::new()).with_liveness(Duration::from_secs(5));
    /// assert_eq!(cache.liveness(), Duration::from_secs(5));
    /// ```
    pub fn with_liveness(mut self, window: Duration) -> Cache {
        self.liveness = window;
        self
    }

    /// How long after a failed refresh the next caller may try again (5 s
    /// by default, never more than the grace); the stale value is served
    /// meanwhile. The failed refresh's claim is shortened to end then.
    ///
    /// ```
    /// use antidogpile::{Cache, store::MemoryStore};
    /// use std::time::Duration;
    ///
    /// let cache = Cache::new(MemoryStore::new()).with_retry_spacing(Duration::from_secs(2));
    /// assert_eq!(cache.retry_spacing(), Duration::from_secs(2));
    /// ```
    pub fn with_retry_spacing(mut self, spacing: Duration) -> Cache {
        self.retry_spacing = spacing;
        self
    }

    /// Reads deadlines from `clock` (a [`ManualClock`](crate::clock::ManualClock) in tests).
    pub fn with_clock(mut self, clock: Clock) -> Cache {
        self.clock = clock;
        self
    }

    /// The hard timeout factor functions inherit.
    pub fn hard_timeout_factor(&self) -> u32 {
        self.hard_timeout_factor
    }

    /// The grace functions inherit.
    pub fn default_grace(&self) -> Duration {
        self.default_grace
    }

    /// The liveness window (see [`with_liveness`](Cache::with_liveness)).
    pub fn liveness(&self) -> Duration {
        self.liveness
    }

    /// The retry spacing (see [`with_retry_spacing`](Cache::with_retry_spacing)).
    pub fn retry_spacing(&self) -> Duration {
        self.retry_spacing
    }

    /// The store.
    pub fn store(&self) -> &dyn Store {
        &*self.store
    }

    /// After an invalidation of `key` has reached the store: computes of this
    /// process that started before it are joined by no new caller (their
    /// late writes are refused by the store: see [`Store::write_held`]).
    /// `held`, taken at `now` on `key` for a compute of up to `grace`: see
    /// [`Release::renewed`].
    pub(crate) fn renewed_hold(
        &self,
        key: crate::key::Key,
        held: crate::store::Hold,
        now: crate::clock::Timestamp,
        grace: Duration,
    ) -> Release {
        Release::renewed(
            &self.store,
            &self.clock,
            self.liveness,
            key,
            held,
            now,
            grace,
        )
    }

    pub(crate) fn forget_in_process(&self, key: &crate::key::Key) {
        let fingerprint = key.fingerprint().as_u128();
        self.flights.forget(fingerprint);
        self.refreshing.forget(fingerprint);
    }
}

impl Cache {
    /// The fingerprint a call of `namespace` reads and writes, in this
    /// cache's current generations (blocking on a shared store's read).
    #[inline]
    pub(crate) fn cleared_key(&self, namespace: &str, fingerprint: Fingerprint) -> Cleared {
        if !self.keeps_bytes {
            return Cleared {
                fingerprint: self.clearing.local(namespace, fingerprint),
                store_timed_out: false,
            };
        }
        crate::store::block_on(self.clearing.shared(
            &self.store,
            &Io::blocking(&*self.store),
            namespace,
            fingerprint,
        ))
    }

    /// [`cleared_key`](Cache::cleared_key), awaiting a shared store's read.
    #[cfg(feature = "tokio")]
    pub(crate) async fn cleared_key_async(
        &self,
        namespace: &str,
        fingerprint: Fingerprint,
    ) -> Cleared {
        if !self.keeps_bytes {
            return Cleared {
                fingerprint: self.clearing.local(namespace, fingerprint),
                store_timed_out: false,
            };
        }
        self.clearing
            .shared(
                &self.store,
                &Io::nonblocking(&*self.store),
                namespace,
                fingerprint,
            )
            .await
    }

    /// The fingerprints an invalidation of a call of `namespace` reaches
    /// (see [`Clearing::shared_now`](crate::clearing::Clearing::shared_now)):
    /// in a store of this process, the one its calls use.
    pub(crate) async fn keys_to_invalidate(
        &self,
        io: &Io<'_>,
        namespace: &str,
        fingerprint: Fingerprint,
    ) -> Vec<Fingerprint> {
        if !self.keeps_bytes {
            return vec![self.clearing.local(namespace, fingerprint)];
        }
        self.clearing.shared_now(io, namespace, fingerprint).await
    }

    /// Starts a new generation (`namespace` None: the whole cache): in the
    /// store if it is shared, then here.
    pub(crate) async fn start_generation(
        &self,
        io: &Io<'_>,
        namespace: Option<&str>,
    ) -> Result<(), Error> {
        let shared = self.keeps_bytes;
        self.clearing
            .start(io, shared, namespace, self.clock.now())
            .await
    }

    /// Asks the store whether it answers, for a service's startup or
    /// readiness check ([`from_url`](Cache::from_url) connects to
    /// nothing): memcached answers a no-op (`mn`) on every server, a file
    /// store's directory is writable, an in-process store always answers.
    /// The error names every server that failed (and why); a cache whose
    /// store is down still serves calls, computing without the store.
    ///
    /// A server that answers is put back in use at once (not after its
    /// `retry_after`); one that does not is taken out of use for
    /// `retry_after`, as a failed call would.
    ///
    /// ```
    /// let cache = antidogpile::Cache::from_url("memory://")?;
    /// cache.ping()?;
    ///
    /// // Nothing listens on port 1: the error names the server.
    /// let down = antidogpile::Cache::from_url("memcached://127.0.0.1:1?timeout=200ms")?;
    /// let error = down.ping().unwrap_err();
    /// assert!(error.to_string().contains("127.0.0.1:1"), "{error}");
    /// # Ok::<(), antidogpile::Error>(())
    /// ```
    pub fn ping(&self) -> Result<(), Error> {
        self.store
            .ping(crate::store::Wait::Blocking)
            .wait()
            .map_err(Error::Store)
    }

    /// Drops everything the memoized function(s) called `namespace` cached
    /// in this cache (a function's namespace is `module_path!()::fn_name`,
    /// or its `name = "..."`): the next call of each key computes again.
    /// For an operator's "clear" button or a deploy hook, without a redeploy.
    ///
    /// In a store of this process (memory) the next call sees it; in a
    /// shared store (memcached, files) this process sees it at once and
    /// every other within about [`Cache::CLEAR_CHECK_EVERY`]
    /// (1 s). Older values are not deleted but never read again: they lapse
    /// at their hard deadline. The cache client's keys are not touched.
    ///
    /// ```
    /// use antidogpile::{antidogpiled, install_named, named_cache, store::MemoryStore, Cache};
    /// #[antidogpiled(soft = "1h", cache = "docs_clear", name = "docs::clear::report")]
    /// fn report(id: u64) -> String {
    ///     format!("report {id}")
    /// }
    ///
    /// install_named("docs_clear", Cache::new(MemoryStore::new()));
    /// report(1);
    /// named_cache("docs_clear").unwrap().clear_namespace("docs::clear::report")?;
    /// report(1); // computed again
    /// assert_eq!(antidogpile::stats("docs::clear::report").unwrap().computes, 2);
    /// # Ok::<(), antidogpile::Error>(())
    /// ```
    pub fn clear_namespace(&self, namespace: &str) -> Result<(), Error> {
        crate::store::block_on(self.start_generation(&Io::blocking(&*self.store), Some(namespace)))
    }

    /// Drops everything every memoized function cached in this cache, as
    /// [`clear_namespace`](Cache::clear_namespace) does for one. The
    /// generation is the store's: caches on the same memcached servers or
    /// the same directory (in any process) are cleared together.
    ///
    /// ```
    /// let cache = antidogpile::Cache::new(antidogpile::store::MemoryStore::new());
    /// cache.clear()?;
    /// # Ok::<(), antidogpile::Error>(())
    /// ```
    pub fn clear(&self) -> Result<(), Error> {
        crate::store::block_on(self.start_generation(&Io::blocking(&*self.store), None))
    }
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("store", &self.store)
            .field("hard_timeout_factor", &self.hard_timeout_factor)
            .field("default_grace", &self.default_grace)
            .field("liveness", &self.liveness)
            .field("retry_spacing", &self.retry_spacing)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Each test reads a variable of its own: tests run in parallel, and
    // the process environment is shared.
    #[test]
    fn from_env_reads_the_url_or_falls_back_to_memory() {
        std::env::set_var("ANTIDOGPILE_TEST_URL_SET", " dummy://?factor=3 ");
        let cache = Cache::from_env_var("ANTIDOGPILE_TEST_URL_SET").unwrap();
        assert!(format!("{cache:?}").contains("NoopStore"));
        assert_eq!(cache.hard_timeout_factor(), 3);

        let unset = Cache::from_env_var("ANTIDOGPILE_TEST_URL_NEVER_SET").unwrap();
        assert!(format!("{unset:?}").contains("MemoryStore"));

        std::env::set_var("ANTIDOGPILE_TEST_URL_BAD", "gopher://x");
        let error = Cache::from_env_var("ANTIDOGPILE_TEST_URL_BAD").unwrap_err();
        assert!(error.to_string().contains("scheme"), "{error}");
    }
}
