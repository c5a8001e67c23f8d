//! Clearing at run time: everything one function cached
//! ([`Cache::clear_namespace`](crate::Cache::clear_namespace)), or everything a cache's functions cached
//! ([`Cache::clear`](crate::Cache::clear)), without a redeploy.
//!
//! Each cache keeps a generation per namespace and one for the whole
//! cache; both are mixed into the keys of memoized calls (when either is
//! set), so a clear makes every older value unreachable at once: it is
//! never read again, and lapses at its hard deadline (or is evicted).
//!
//! - In a store of this process only (memory, no-op), the generations live
//!   in the [`Cache`](crate::Cache): a clear is seen by the next call. The hit path pays
//!   one atomic load until the first clear, and a lock-free map lookup after.
//! - In a shared store (memcached, Redis, files: [`Store::keeps_bytes`](crate::store::Store::keeps_bytes)), they are
//!   kept in the store (raw values under the namespace
//!   `antidogpile::generation`). A process reads a namespace's generation
//!   (with the whole cache's) on the path of its first call of that
//!   namespace, since the generation is part of the key; after that a
//!   thread of the cache reads every generation the process knows every
//!   [`Cache::CLEAR_CHECK_EVERY`](crate::Cache::CLEAR_CHECK_EVERY) (1 s, in real time), in one batched read (one
//!   request per server; the whole cache's key once), off the callers'
//!   path. So a clear made by one process is seen by every other within
//!   about a second (plus the time of one read), callers never wait for
//!   these reads, and the store sees one read of each generation key per
//!   process per second, however many calls. A namespace unused for
//!   [`UNUSED_ROUNDS`] seconds is no longer refreshed: its next call reads
//!   it on its path again. The process that clears sees it at once. A process that cannot read them (the store is down) keeps
//!   the ones it had, and tries again a second later.
//!
//! The cache client's own keys ([`Cache::get`](crate::Cache::get), [`Cache::set`](crate::Cache::set), ...) are
//! the application's to delete; clearing covers memoized functions.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use xxhash_rust::xxh3::{xxh3_128, xxh3_128_with_seed, xxh3_64};

use crate::clock::Timestamp;
use crate::error::{Error, StoreErrorKind};
use crate::io::Io;
use crate::key::{Fingerprint, Key};
use crate::policy::Deadlines;
use crate::store::{EntryView, Lookup, ReadFor, Store, Stored, StoredRef};

/// How often a process reads a shared store's generations (at most).
pub(crate) const CHECK_EVERY: Duration = Duration::from_secs(1);

/// A generation's deadlines in the store: it never expires.
const FOREVER: Deadlines = Deadlines {
    soft: Timestamp::MAX,
    hard: Timestamp::MAX,
};

/// The namespace of the generations kept in a shared store.
pub(crate) const GENERATION_NAMESPACE: &str = "antidogpile::generation";

/// One generation as this process knows it.
#[derive(Debug, Default)]
struct Generation {
    /// 0: never cleared.
    token: AtomicU64,
    /// Real time (ms since the first read of the process, + 1: see `real_now`) it was last read from the
    /// store; 0: never, or not since its namespace went unused (its next
    /// call reads it on its path).
    checked: AtomicU64,
    /// Whether a call used it since the refreshing thread last looked.
    used: AtomicBool,
    /// How many of the refreshing thread's rounds in a row found it unused
    /// (that thread's alone).
    unused_rounds: AtomicU64,
    /// The token before the last change, and when (real time, as
    /// `checked`) this process learnt of the change: other processes may
    /// still use it for up to [`CHECK_EVERY`] after that.
    previous: AtomicU64,
    changed: AtomicU64,
}

/// A namespace no call used for this many refresh rounds is no longer
/// refreshed: a process with nothing to serve does not poll the store (nor
/// keep its connections from going idle), and the next call reads the
/// generation on its path, as a first call does.
const UNUSED_ROUNDS: u64 = 5;

impl Generation {
    /// Notes a call of its namespace: one load, and a store only once per
    /// refresh round.
    #[inline]
    fn use_it(&self) {
        if !self.used.load(Ordering::Relaxed) {
            self.used.store(true, Ordering::Relaxed);
        }
    }

    /// Whether the refreshing thread should read it this round.
    fn still_used(&self) -> bool {
        if self.used.swap(false, Ordering::Relaxed) {
            self.unused_rounds.store(0, Ordering::Relaxed);
            return true;
        }
        let unused = self.unused_rounds.fetch_add(1, Ordering::Relaxed) + 1;
        if unused >= UNUSED_ROUNDS {
            self.checked.store(0, Ordering::Release);
            return false;
        }
        self.checked.load(Ordering::Acquire) != 0
    }

    fn due(&self, now: u64) -> bool {
        let checked = self.checked.load(Ordering::Acquire);
        checked == 0 || now.saturating_sub(checked) >= CHECK_EVERY.as_millis() as u64
    }

    fn set(&self, token: u64, now: u64) {
        let previous = self.token.swap(token, Ordering::AcqRel);
        self.changed_from(previous, now);
        self.checked.store(now, Ordering::Release);
    }

    fn changed_from(&self, previous: u64, now: u64) {
        self.previous.store(previous, Ordering::Release);
        self.changed.store(now, Ordering::Release);
    }

    /// The tokens a process may still use at `now`: the current one, and
    /// the one before it if it changed here within twice [`CHECK_EVERY`]
    /// (the others learn of a change within one of it).
    fn in_use(&self, now: u64) -> Vec<u64> {
        let current = self.token.load(Ordering::Acquire);
        let changed = self.changed.load(Ordering::Acquire);
        let recent =
            changed != 0 && now.saturating_sub(changed) < 2 * CHECK_EVERY.as_millis() as u64;
        let previous = self.previous.load(Ordering::Acquire);
        if recent && previous != current {
            vec![current, previous]
        } else {
            vec![current]
        }
    }

    /// Takes `token`, read from the store, unless the generation changed
    /// here since `seen` was loaded (before the read): this process's own
    /// clear is newer than what a read that started before it answers.
    ///
    /// Nothing read (0) never replaces a generation known here: a batch
    /// read reads a key whose server failed as nothing, and so does one
    /// memcached evicted; going back to 0 would make the values cached
    /// before that clear reachable again (a different generation per
    /// process only costs recomputes).
    fn read_as(&self, seen: u64, token: u64, now: u64) {
        if token != 0 && token != seen {
            // A first read learns a generation, not a change.
            let first = self.checked.load(Ordering::Acquire) == 0;
            let taken =
                self.token
                    .compare_exchange(seen, token, Ordering::AcqRel, Ordering::Acquire);
            if taken.is_ok() && !first {
                self.changed_from(seen, now);
            }
        }
        self.checked.store(now, Ordering::Release);
    }
}

/// Hashes namespaces with xxh3 (SipHash would double a cleared cache's hit path).
#[derive(Clone, Copy, Debug, Default)]
struct Xxh3(u64);

impl std::hash::Hasher for Xxh3 {
    fn write(&mut self, bytes: &[u8]) {
        self.0 = xxhash_rust::xxh3::xxh3_64_with_seed(bytes, self.0);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type Namespaces = HashMap<String, Arc<Generation>, std::hash::BuildHasherDefault<Xxh3>>;

/// A cache's generations.
#[derive(Debug, Default)]
pub(crate) struct Clearing {
    /// Whether an in-process store's cache was ever cleared (the hit path's
    /// only cost until then).
    any: AtomicBool,
    known: Arc<Known>,
    /// Whether the thread that reads a shared store's generations runs (or
    /// could not be started: then callers read them when due, as a last resort).
    refresher: OnceLock<bool>,
}

/// The generations this process knows: the whole cache's, and one per namespace.
#[derive(Debug, Default)]
struct Known {
    whole: Generation,
    namespaces: ArcSwap<Namespaces>,
    adding: Mutex<()>,
}

/// Milliseconds of real time since the first call, plus 1 (never 0).
fn real_now() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1
}

/// The key of a generation in a shared store (`namespace` None: the whole cache).
fn store_key(namespace: Option<&str>) -> Key {
    let mut bytes = b"antidogpile-generation\xff".to_vec();
    match namespace {
        None => bytes.push(0),
        Some(namespace) => {
            bytes.push(1);
            bytes.extend_from_slice(namespace.as_bytes());
        }
    }
    Key::new(
        Fingerprint::from_u128(xxh3_128(&bytes)),
        GENERATION_NAMESPACE,
        0,
    )
}

/// A new generation: never 0, and unlike any other process's.
fn new_token() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut bytes = [0u8; 20];
    bytes[..8].copy_from_slice(&time.to_le_bytes());
    bytes[8..12].copy_from_slice(&std::process::id().to_le_bytes());
    bytes[12..].copy_from_slice(&NEXT.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    xxh3_64(&bytes).max(1)
}

/// `fingerprint` in the generations `whole` and `namespace` (unchanged
/// while neither was ever cleared).
fn mix(fingerprint: Fingerprint, whole: u64, namespace: u64) -> Fingerprint {
    if whole == 0 && namespace == 0 {
        return fingerprint;
    }
    let mut bytes = [0u8; 24];
    bytes[..16].copy_from_slice(&fingerprint.as_u128().to_le_bytes());
    bytes[16..].copy_from_slice(&namespace.to_le_bytes());
    Fingerprint::from_u128(xxh3_128_with_seed(&bytes, whole))
}

fn token_of(lookup: Lookup<'_>) -> u64 {
    match lookup {
        Lookup::Entry(EntryView {
            value: StoredRef::Raw(bytes),
            ..
        }) => std::str::from_utf8(bytes)
            .ok()
            .and_then(|digits| digits.parse().ok())
            .unwrap_or(0),
        _ => 0,
    }
}

impl Known {
    /// The generation of `namespace`, added if new.
    fn namespace(&self, namespace: &str) -> Arc<Generation> {
        if let Some(found) = self.namespaces.load().get(namespace) {
            return Arc::clone(found);
        }
        let _adding = self
            .adding
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let current = self.namespaces.load_full();
        if let Some(found) = current.get(namespace) {
            return Arc::clone(found);
        }
        let mut grown = Namespaces::clone(&current);
        let generation = Arc::new(Generation::default());
        grown.insert(namespace.to_owned(), Arc::clone(&generation));
        self.namespaces.store(Arc::new(grown));
        generation
    }

    /// Reads `generations` (with the whole cache's) from the store in one
    /// batched read, each taken unless this process cleared it meanwhile.
    /// If the store did not answer, what was known is kept, and the error's
    /// kind is answered.
    async fn read(
        &self,
        io: &Io<'_>,
        generations: &[(&str, &Generation)],
    ) -> Result<(), StoreErrorKind> {
        let keys: Vec<Key> = std::iter::once(store_key(None))
            .chain(
                generations
                    .iter()
                    .map(|(namespace, _)| store_key(Some(namespace))),
            )
            .collect();
        let seen: Vec<u64> = std::iter::once(&self.whole)
            .chain(generations.iter().map(|(_, generation)| *generation))
            .map(|generation| generation.token.load(Ordering::Acquire))
            .collect();
        let mut tokens = vec![0u64; keys.len()];
        let mut reader = |index: usize, lookup: Lookup<'_>| tokens[index] = token_of(lookup);
        let at = Timestamp::from_millis(0);
        let read = io
            .store
            .read_many(io.wait, &keys, at, ReadFor::Peek, &mut reader)
            .await;
        let now = real_now();
        let all = std::iter::once(&self.whole).chain(generations.iter().map(|(_, g)| *g));
        let mut lost = Vec::new();
        for (((generation, seen), token), key) in all.zip(seen).zip(tokens).zip(&keys) {
            match read {
                Ok(_) => {
                    generation.read_as(seen, token, now);
                    if token == 0 && seen != 0 {
                        lost.push((*key, seen));
                    }
                }
                // Keep what was known; try again after CHECK_EVERY.
                Err(_) => generation.checked.store(now, Ordering::Release),
            }
        }
        Self::restore(io, lost).await;
        read.map(drop).map_err(|error| error.kind())
    }

    /// Writes back generations the store lost (restarted empty, or evicted
    /// them) that this process knows, unless one was written meanwhile:
    /// else processes started since would take the store's nothing for the
    /// generation, read other keys than this one, and miss each other's
    /// invalidations (stale sets the history checker found, issue 23).
    async fn restore(io: &Io<'_>, lost: Vec<(Key, u64)>) {
        for (key, token) in lost {
            let write = crate::store::Write {
                key,
                value: Stored::Raw(token.to_string().into_bytes()),
                deadlines: FOREVER,
            };
            // A store that fails now is read again after CHECK_EVERY.
            let _ = io.store.add(io.wait, write, Timestamp::EPOCH).await;
        }
    }

    /// Reads every generation known here, from now on every
    /// [`CHECK_EVERY`], until the cache or its store is dropped.
    fn refresh_every_second(known: Weak<Known>, store: Weak<dyn Store>) {
        loop {
            std::thread::sleep(CHECK_EVERY);
            let (Some(known), Some(store)) = (known.upgrade(), store.upgrade()) else {
                return;
            };
            let namespaces = known.namespaces.load_full();
            let generations: Vec<(&str, &Generation)> = namespaces
                .iter()
                .filter(|(_, generation)| generation.still_used())
                .map(|(namespace, generation)| (namespace.as_str(), &**generation))
                .collect();
            if !generations.is_empty() {
                let _ = crate::store::block_on(known.read(&Io::blocking(&*store), &generations));
            }
        }
    }
}

impl Clearing {
    /// The fingerprint of a call of `namespace` in an in-process store.
    #[inline]
    pub(crate) fn local(&self, namespace: &str, fingerprint: Fingerprint) -> Fingerprint {
        if !self.any.load(Ordering::Acquire) {
            return fingerprint;
        }
        let whole = self.known.whole.token.load(Ordering::Acquire);
        let of_namespace = self
            .known
            .namespaces
            .load()
            .get(namespace)
            .map_or(0, |generation| generation.token.load(Ordering::Acquire));
        mix(fingerprint, whole, of_namespace)
    }

    /// The fingerprint of a call of `namespace` in a shared store. The first
    /// call of a namespace in this process reads its generation through
    /// `io`; later ones take what the refreshing thread last read.
    pub(crate) async fn shared(
        &self,
        store: &Arc<dyn Store>,
        io: &Io<'_>,
        namespace: &str,
        fingerprint: Fingerprint,
    ) -> Cleared {
        let known = &self.known;
        let generation = known.namespace(namespace);
        generation.use_it();
        let now = real_now();
        let first = generation.checked.load(Ordering::Acquire) == 0;
        let refreshing = self.refreshing(store);
        let mut store_timed_out = false;
        if first || (!refreshing && (known.whole.due(now) || generation.due(now))) {
            if let Err(kind) = known.read(io, &[(namespace, &generation)]).await {
                store_timed_out = kind == StoreErrorKind::Timeout && io.store.stalls_as_one();
            }
        }
        Cleared {
            fingerprint: mix(
                fingerprint,
                known.whole.token.load(Ordering::Acquire),
                generation.token.load(Ordering::Acquire),
            ),
            store_timed_out,
        }
    }

    /// The fingerprints an invalidation of a call of `namespace` in a shared
    /// store must reach: those of the store's current generations (read
    /// now), and of the ones before them if they changed within twice
    /// [`CHECK_EVERY`] (callers in processes that have not seen a clear yet
    /// still read those). Otherwise an invalidation would miss the values
    /// computed under a new generation by the clearing process, or those
    /// that callers elsewhere still read under the old one (stale sets the
    /// history checker found, issue 23).
    pub(crate) async fn shared_now(
        &self,
        io: &Io<'_>,
        namespace: &str,
        fingerprint: Fingerprint,
    ) -> Vec<Fingerprint> {
        let known = &self.known;
        let generation = known.namespace(namespace);
        // A store that does not answer leaves what was known.
        let _ = known.read(io, &[(namespace, &generation)]).await;
        let now = real_now();
        let mut keys = Vec::with_capacity(1);
        for whole in known.whole.in_use(now) {
            for of_namespace in generation.in_use(now) {
                let key = mix(fingerprint, whole, of_namespace);
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
        }
        keys
    }

    /// Starts a new generation (`namespace` None: the whole cache): in the
    /// store of `io` if it is `shared` (written at `now`), then here.
    pub(crate) async fn start(
        &self,
        io: &Io<'_>,
        shared: bool,
        namespace: Option<&str>,
        now: Timestamp,
    ) -> Result<(), Error> {
        let token = new_token();
        if shared {
            let value = Stored::Raw(token.to_string().into_bytes());
            io.write(store_key(namespace), None, value, FOREVER, now)
                .await
                .map_err(Error::Store)?;
        }
        let now = real_now();
        match namespace {
            None => self.known.whole.set(token, now),
            Some(namespace) => self.known.namespace(namespace).set(token, now),
        }
        self.any.store(true, Ordering::Release);
        Ok(())
    }

    /// Whether the thread that reads the generations runs; starts it once.
    fn refreshing(&self, store: &Arc<dyn Store>) -> bool {
        *self.refresher.get_or_init(|| {
            let (known, store) = (Arc::downgrade(&self.known), Arc::downgrade(store));
            let spawned = std::thread::Builder::new()
                .name("antidogpile-clearing".into())
                .spawn(move || Known::refresh_every_second(known, store));
            if let Err(error) = &spawned {
                tracing::warn!(target: "antidogpile", %error,
                    "could not start the thread that reads clearing generations: \
                     callers read them, once a second");
            }
            spawned.is_ok()
        })
    }
}

/// A call's fingerprint in the current generations.
pub(crate) struct Cleared {
    pub(crate) fingerprint: Fingerprint,
    /// Reading the generations timed out: the call skips the store (each
    /// step would wait the timeout again).
    pub(crate) store_timed_out: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_change_with_either_generation_and_not_before_any() {
        let fingerprint = Fingerprint::from_u128(42);
        assert_eq!(mix(fingerprint, 0, 0), fingerprint);
        let keys = [
            mix(fingerprint, 1, 0),
            mix(fingerprint, 0, 1),
            mix(fingerprint, 1, 1),
            mix(fingerprint, 2, 1),
        ];
        for (i, a) in keys.iter().enumerate() {
            assert_ne!(*a, fingerprint);
            for b in &keys[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_ne!(store_key(None), store_key(Some("")));
        assert_ne!(new_token(), new_token());
    }
}
