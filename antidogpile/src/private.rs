//! What `#[antidogpiled]` expansions call. Not a public API: it changes with
//! every release, and the macro crate is pinned to this crate's exact version.
//! The contract is written down in `docs/PRIVATE_API.md`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde::Serialize;

use crate::cache::Cache;
use crate::client::Invalidate;
use crate::error::Error;
use crate::io::Io;
use crate::key::{ArgumentEncoder, Fingerprint, Key};
use crate::memo::{fresh_hit, Call};
use crate::registry;
use crate::stats::Event;

pub use crate::hooks::{break_promise, report_calls, take_reports, Broken, Served};
pub use crate::outcome::{Always, Outcome};
pub use crate::site::{Site, SiteOptions};

/// Builds the key of one call from its arguments.
pub struct KeyHasher {
    site: &'static Site,
    arguments: ArgumentEncoder,
}

impl std::fmt::Debug for KeyHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyHasher")
            .field("site", &self.site.namespace)
            .finish_non_exhaustive()
    }
}

/// The key of one call; `None` inside if an argument could not be encoded.
#[derive(Clone, Copy, Debug)]
pub struct KeyHash(Option<Fingerprint>);

impl KeyHasher {
    /// Starts the key of a call of `site`.
    #[inline]
    pub fn new(site: &'static Site) -> KeyHasher {
        KeyHasher {
            site,
            arguments: ArgumentEncoder::new(),
        }
    }

    /// Adds an argument.
    #[inline]
    pub fn arg<A: Serialize + ?Sized>(&mut self, arg: &A) {
        self.arguments.push(arg);
    }

    /// Adds the name of a type (generic parameters, `Self`), so that
    /// instantiations of one generic function do not share values.
    #[inline]
    pub fn type_param<T: ?Sized>(&mut self) {
        self.arguments.push(std::any::type_name::<T>());
    }

    /// Adds the type of an argument whose type the signature does not name
    /// (`impl Trait`, also inside references or other types): like a
    /// generic parameter, the concrete type is part of the key, since two
    /// values of different types may encode to the same bytes.
    #[inline]
    pub fn type_of_val<A: ?Sized>(&mut self, _arg: &A) {
        self.type_param::<A>();
    }

    /// The finished key.
    #[inline]
    pub fn finish(self) -> KeyHash {
        let fingerprint = self.arguments.finish(crate::telemetry::seed(self.site));
        if fingerprint.is_none() {
            crate::warn::warn_limited!(
                self.site.namespace,
                crate::warn::Kind::Key,
                "an argument could not be encoded into a key; the call is not cached"
            );
        }
        KeyHash(fingerprint)
    }
}

/// The fingerprint a call reads and writes in `cache`. A store that keeps
/// bytes (memcached, files) is shared with other builds during a rolling
/// deploy: there it is mixed with the shape of the value type
/// ([`crate::shape`]), so that builds whose value types differ keep a value
/// each instead of overwriting each other's on every call. An in-process
/// store is read by this build only: the fingerprint is kept as it is, and
/// its hit path never looks at a shape.
fn stored<V: crate::outcome::Cacheable>(cache: &Cache, fingerprint: Fingerprint) -> Fingerprint {
    ValueShape(Some(crate::shape::shape_of::<V>)).key(cache, fingerprint)
}

/// The value shape of a memoized function whose outcome is `R`, for its
/// invalidator, which cannot name `R` in a bound: a return type that
/// cannot be cached would be reported twice. The expansion calls
/// `(&&ShapeOf::<R>::new()).value_shape()` with [`OutcomeShape`] and
/// [`NoShape`] in scope: the first applies when `R` is an [`Outcome`] (the
/// only case that compiles), the second otherwise.
pub struct ShapeOf<R>(std::marker::PhantomData<fn() -> R>);

impl<R> ShapeOf<R> {
    /// The probe for `R`.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> ShapeOf<R> {
        ShapeOf(std::marker::PhantomData)
    }
}

impl<R> std::fmt::Debug for ShapeOf<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ShapeOf")
    }
}

/// How an invalidator finds its function's value shape (see [`ShapeOf`]).
pub trait OutcomeShape {
    /// The shape of the outcome's value.
    fn value_shape(&self) -> ValueShape;
}

impl<R: Outcome> OutcomeShape for &ShapeOf<R> {
    fn value_shape(&self) -> ValueShape {
        ValueShape(Some(crate::shape::shape_of::<R::Value>))
    }
}

/// The fallback of [`OutcomeShape`] for a type that is no outcome (which
/// fails to compile at the memoized call anyway).
pub trait NoShape {
    /// No shape.
    fn value_shape(&self) -> ValueShape;
}

impl<R> NoShape for ShapeOf<R> {
    fn value_shape(&self) -> ValueShape {
        ValueShape(None)
    }
}

/// A memoized function's value shape, traced only when a store that keeps
/// bytes needs it.
#[derive(Clone, Copy, Debug)]
pub struct ValueShape(Option<fn() -> u64>);

impl ValueShape {
    /// The fingerprint the function's calls use in `cache` (see [`stored`]).
    fn key(self, cache: &Cache, fingerprint: Fingerprint) -> Fingerprint {
        match self.0 {
            Some(shape) if cache.keeps_bytes => crate::shape::with_shape(fingerprint, shape()),
            _ => fingerprint,
        }
    }
}

/// A value of a function whose return type the macro took for a plain `T`
/// because of how it is spelled (not `Result<..>` or `Option<..>`); called
/// with each computed value. If the type is a `Result` or an `Option` under
/// another name (an alias), its failures are cached like any value: that is
/// reported once per function, with the option that says what is meant.
#[inline]
pub fn plain<T>(site: &'static Site, value: T) -> Always<T> {
    let name = std::any::type_name::<T>();
    let option = if name.starts_with("core::result::Result<") {
        "result"
    } else if name.starts_with("core::option::Option<") {
        "option"
    } else {
        return Always(value);
    };
    warn_disguised_outcome(site, name, option);
    Always(value)
}

#[cold]
fn warn_disguised_outcome(site: &'static Site, name: &str, option: &str) {
    if !site.first_time(crate::site::warned_once::DISGUISED_OUTCOME) {
        return;
    }
    let failure = if option == "result" {
        "`Err`"
    } else {
        "`None`"
    };
    tracing::warn!(
        target: "antidogpile",
        namespace = site.namespace,
        return_type = name,
        "the return type is not spelled `Result<..>` or `Option<..>` but is one, so every \
         value is cached, {failure} too: add `{option}` to #[antidogpiled] to cache only \
         the success, or `value` to keep caching every value"
    );
}

/// A type that `#[antidogpiled(result)]` may return: a `Result`.
#[diagnostic::on_unimplemented(
    message = "`result` is set, but `{Self}` is not a `Result`",
    label = "not a `Result`",
    note = "`result` says that the return type, whatever its name, is a `Result`; \
            remove it, or use `option` or `value`"
)]
pub trait IsResult {}

impl<T, E> IsResult for Result<T, E> {}

/// A type that `#[antidogpiled(option)]` may return: an `Option`.
#[diagnostic::on_unimplemented(
    message = "`option` is set, but `{Self}` is not an `Option`",
    label = "not an `Option`",
    note = "`option` says that the return type, whatever its name, is an `Option`; \
            remove it, or use `result` or `value`"
)]
pub trait IsOption {}

impl<T> IsOption for Option<T> {}

/// Checks at compile time that the return type of a function with
/// `result` is a `Result`.
#[inline]
pub const fn expect_result<R: IsResult>() {}

/// Checks at compile time that the return type of a function with
/// `option` is an `Option`.
#[inline]
pub const fn expect_option<R: IsOption>() {}

/// Runs `compute` without the cache, counted as uncached.
fn uncached<R>(site: &'static Site, compute: impl FnOnce() -> R) -> R {
    site.counters.count(Event::Uncached);
    site.counters.count(Event::Compute);
    let outcome = compute();
    crate::hooks::report(|| crate::hooks::Served::Uncached);
    outcome
}

/// [`uncached`] for an `async fn`: reported once its compute is done.
#[cfg(feature = "tokio")]
async fn uncached_async<F: std::future::Future>(site: &'static Site, compute: F) -> F::Output {
    site.counters.count(Event::Uncached);
    site.counters.count(Event::Compute);
    let outcome = compute.await;
    crate::hooks::report(|| crate::hooks::Served::Uncached);
    outcome
}

/// The cache `site` uses now, as a cheap guard (no reference count touched).
fn with_cache<T>(site: &'static Site, body: impl FnOnce(Option<&Cache>) -> T) -> T {
    match site.named_slot() {
        None => body(Some(registry::default_static())),
        Some(slot) => {
            let installed = slot.cache.load();
            if installed.is_none() {
                warn_missing_cache(site, slot);
            }
            body(installed.as_deref())
        }
    }
}

/// The cache `site` uses now, held across `.await`.
#[cfg(feature = "tokio")]
enum Held {
    Default(&'static Cache),
    Named(Arc<Cache>),
}

#[cfg(feature = "tokio")]
impl std::ops::Deref for Held {
    type Target = Cache;

    fn deref(&self) -> &Cache {
        match self {
            Held::Default(cache) => cache,
            Held::Named(cache) => cache,
        }
    }
}

#[cfg(feature = "tokio")]
fn cache_for(site: &'static Site) -> Option<Held> {
    match site.named_slot() {
        None => Some(Held::Default(registry::default_static())),
        Some(slot) => {
            let installed = slot.cache.load_full();
            if installed.is_none() {
                warn_missing_cache(site, slot);
            }
            installed.map(Held::Named)
        }
    }
}

fn warn_missing_cache(site: &'static Site, slot: &Arc<registry::NamedSlot>) {
    if !slot.warned.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            target: "antidogpile",
            namespace = site.namespace,
            cache = site.options.cache.unwrap_or_default(),
            "named cache not installed (antidogpile::install_named); computing without caching"
        );
    }
}

/// The steps of a memoized call of a sync function; `run` (plain or in
/// the background) drives it once neither a fresh hit nor a missing cache
/// answered it.
fn memoize_sync<R: Outcome, F: FnOnce() -> R>(
    site: &'static Site,
    key: KeyHash,
    compute: F,
    run: impl FnOnce(&Call<'_>, F) -> R,
) -> R {
    let Some(fingerprint) = key.0 else {
        return uncached(site, compute);
    };
    with_cache(site, |cache| match cache {
        Some(cache) => match a_fresh_hit::<R::Value>(cache, site, fingerprint) {
            Ok(value) => R::from_value(value),
            Err(cleared) => {
                let fingerprint = stored::<R::Value>(cache, cleared.fingerprint);
                let call = Call::new(cache, site, fingerprint);
                run(&call.after(cleared.store_timed_out), compute)
            }
        },
        None => uncached(site, compute),
    })
}

/// The one hit path of sync and async calls: the call's key in the
/// cache's current generations, and its value if an in-process store holds
/// it fresh (answered at once, with no call to drive); else the key, for
/// the call. On a shared store the generations' first read blocks: an
/// `async fn` comes here only for an in-process store.
fn a_fresh_hit<V: crate::outcome::Cacheable>(
    cache: &Cache,
    site: &'static Site,
    fingerprint: Fingerprint,
) -> Result<V, crate::clearing::Cleared> {
    let cleared = cache.cleared_key(site.namespace, fingerprint);
    let key = Key::new(cleared.fingerprint, site.namespace, site.options.version);
    fresh_hit(cache, site, &key).ok_or(cleared)
}

/// A memoized call of a sync function.
pub fn memoize<R: Outcome>(site: &'static Site, key: KeyHash, compute: impl FnOnce() -> R) -> R {
    memoize_sync(site, key, compute, |call, compute| call.run(compute))
}

/// A memoized call of a sync function with `background = true`.
pub fn memoize_background<R, F>(site: &'static Site, key: KeyHash, compute: F) -> R
where
    R: Outcome + Send + 'static,
    F: FnOnce() -> R + Send + 'static,
{
    memoize_sync(site, key, compute, |call, compute| {
        call.run_in_background(compute)
    })
}

/// The steps of a memoized call of an `async fn`; `run` (plain or in the
/// background) drives it once a cache is there to answer it.
#[cfg(feature = "tokio")]
async fn memoize_awaiting<R, F>(
    site: &'static Site,
    key: KeyHash,
    compute: F,
    run: impl AsyncFnOnce(&Call<'_>, F) -> R,
) -> R
where
    R: Outcome,
    F: std::future::Future<Output = R>,
{
    // A fresh hit of an in-process store: the sync call's hit path, with
    // no call, no progress and no future of the store's (an async hit cost
    // 2.6 times a sync one without it).
    if let Some(fingerprint) = key.0 {
        let hit = with_cache(site, |cache| {
            let cache = cache.filter(|cache| !cache.keeps_bytes)?;
            a_fresh_hit::<R::Value>(cache, site, fingerprint).ok()
        });
        if let Some(value) = hit {
            return R::from_value(value);
        }
    }
    match (key.0, cache_for(site)) {
        (Some(fingerprint), Some(cache)) => {
            let cleared = cache.cleared_key_async(site.namespace, fingerprint).await;
            let fingerprint = stored::<R::Value>(&cache, cleared.fingerprint);
            let call = Call::new(&cache, site, fingerprint);
            run(&call.after(cleared.store_timed_out), compute).await
        }
        _ => uncached_async(site, compute).await,
    }
}

/// A memoized call of an `async fn`.
#[cfg(feature = "tokio")]
pub async fn memoize_async<R, F>(site: &'static Site, key: KeyHash, compute: F) -> R
where
    R: Outcome,
    F: std::future::Future<Output = R>,
{
    memoize_awaiting(site, key, compute, async |call, compute| {
        call.run_async(compute).await
    })
    .await
}

/// A memoized call of an `async fn` with `background = true`.
#[cfg(feature = "tokio")]
pub async fn memoize_async_background<R, F>(site: &'static Site, key: KeyHash, compute: F) -> R
where
    R: Outcome + Send + 'static,
    F: std::future::Future<Output = R> + Send + 'static,
{
    memoize_awaiting(site, key, compute, async |call, compute| {
        call.run_async_in_background(compute).await
    })
    .await
}

/// Invalidates the value `site` cached under `key` (`name_invalidate`):
/// `Soft` marks it stale, so the next caller recomputes it while the
/// others are served the old value; `Hard` removes it. Returns whether
/// there was a value (always `true` for `Hard`); `false` when the key could
/// not be encoded or the site's named cache is not installed, since then
/// nothing was cached. `shape` is the memoized function's value shape (see
/// [`ShapeOf`]): in a store that keeps bytes it is part of the key.
pub fn invalidate(
    site: &'static Site,
    key: KeyHash,
    how: Invalidate,
    shape: ValueShape,
) -> Result<bool, Error> {
    let Some(fingerprint) = key.0 else {
        return Ok(false);
    };
    with_cache(site, |cache| match cache {
        Some(cache) => crate::store::block_on(invalidate_in(
            cache,
            &Io::blocking(&*cache.store),
            site,
            fingerprint,
            shape,
            how,
        )),
        None => Ok(false),
    })
}

/// [`invalidate`] for an `async fn`: awaits the store instead of blocking.
#[cfg(feature = "tokio")]
pub async fn invalidate_async(
    site: &'static Site,
    key: KeyHash,
    how: Invalidate,
    shape: ValueShape,
) -> Result<bool, Error> {
    match (key.0, cache_for(site)) {
        (Some(fingerprint), Some(cache)) => {
            let io = Io::nonblocking(&*cache.store);
            invalidate_in(&cache, &io, site, fingerprint, shape, how).await
        }
        _ => Ok(false),
    }
}

/// The one invalidation, over blocking or non-blocking I/O, of the key a
/// call of `site` with these arguments reads (its `fingerprint` before the
/// generations and the value shape are mixed in): in each generation a
/// caller may read it in (see [`Cache::keys_to_invalidate`]).
async fn invalidate_in(
    cache: &Cache,
    io: &Io<'_>,
    site: &'static Site,
    fingerprint: Fingerprint,
    shape: ValueShape,
    how: Invalidate,
) -> Result<bool, Error> {
    let mut found = false;
    for cleared in cache
        .keys_to_invalidate(io, site.namespace, fingerprint)
        .await
    {
        let key = Key::new(
            shape.key(cache, cleared),
            site.namespace,
            site.options.version,
        );
        let invalidated = io.invalidate(key, how, cache.clock.now()).await;
        cache.forget_in_process(&key);
        found |= invalidated.map_err(|error| {
            site.counters.count(Event::StoreError);
            Error::Store(error)
        })?;
    }
    Ok(found)
}
