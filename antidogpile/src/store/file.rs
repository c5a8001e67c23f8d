//! [`FileStore`]: entries kept in files under one directory, shared by every
//! process that opens it.
//!
//! [`format`] lays out one file; [`dir`] names files, replaces them
//! atomically and locks keys; [`inner`] reads, decides and changes a key's
//! file under its lock; [`sweep`] deletes what expired; this file maps the
//! [`Store`] trait onto them, and runs the blocking file I/O of `async fn`s
//! on tokio's blocking threads.

mod dir;
pub(crate) mod format;
mod inner;
mod sweep;

#[cfg(test)]
mod tests;
mod url;

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use self::dir::Dir;
use self::format::{decode_file, encode_file, Content, Decoded, Kind};
use self::inner::{io_error, is_gone, is_live_value, Change, Inner};
use super::{
    Answer, ClaimId, Counted, Delta, EntryView, Found, Hold, LeaseId, Lookup, ReadFor, Reader,
    Store, Stored, StoredRef, Version, Wait, Write, RAW_META,
};
use crate::clock::Timestamp;
use crate::envelope;
use crate::error::{StoreError, StoreErrorKind};
use crate::key::Key;
use crate::policy::Deadlines;

/// A store that keeps each entry in a file under one directory, so that
/// values survive a restart and are shared by every process that uses the
/// directory, with one recompute per expiry across all of them.
///
/// - Files are named from the key's fingerprint (`ab/ab12…ef`, 256 shard
///   directories), whatever the key or namespace.
/// - A file is replaced whole: written to a temporary file in the same
///   directory, then renamed over the old one. It is not fsynced: after a
///   crash a recent entry may be lost or empty, and then reads as a miss.
/// - A refresh or a fill settles with a held write: under the key's lock,
///   it lands only if the file still carries the stamp of the claim or
///   lease its holder took. Every change (a soft or hard delete, a write,
///   a newer claim or lease) gives the file a new stamp or removes it, so a
///   compute that started before an invalidation is refused.
/// - Claims, leases, `add`, counters and soft deletes are atomic across
///   threads and processes: each holds an advisory lock (`flock`) on the
///   key's file around its read-modify-write. Reads take no lock. (On
///   platforms without `flock`, every change answers
///   [`StoreErrorKind::Unsupported`], so the cache computes without it.)
/// - A file that does not decode (truncated, damaged, another format or
///   another key's) reads as nothing and is overwritten.
/// - An expired file is deleted when it is read, and by [`sweep`](FileStore::sweep),
///   which writes run every [`DEFAULT_SWEEP_EVERY`](FileStore::DEFAULT_SWEEP_EVERY) writes or so.
/// - Values larger than [`DEFAULT_MAX_VALUE`](FileStore::DEFAULT_MAX_VALUE) (or the limit given to
///   [`with_max_value`](FileStore::with_max_value)) are not stored
///   ([`StoreErrorKind::TooLarge`]: served, not cached).
///
/// ```
/// use antidogpile::{Cache, store::FileStore};
///
/// let dir = std::env::temp_dir().join(format!("antidogpile-doc-{}", std::process::id()));
/// let cache = Cache::new(FileStore::new(&dir)?.with_max_value(1 << 20));
/// // Or, from configuration: file:// and an absolute path.
/// let same = Cache::from_url(&format!("file://{}?max_value=1048576", dir.display()))?;
/// # drop((cache, same));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct FileStore {
    inner: Arc<Inner>,
}

impl FileStore {
    /// The default largest value: 64 MiB.
    pub const DEFAULT_MAX_VALUE: usize = 64 * 1024 * 1024;
    /// The default number of writes between automatic sweeps (see
    /// [`with_sweep_every`](FileStore::with_sweep_every)).
    pub const DEFAULT_SWEEP_EVERY: usize = 1_000;

    /// A store in the directory `dir`, created if it does not exist.
    pub fn new(dir: impl AsRef<Path>) -> io::Result<FileStore> {
        let dir = Dir::create(dir.as_ref().to_path_buf())?;
        Ok(FileStore {
            inner: Arc::new(Inner::new(
                dir,
                FileStore::DEFAULT_MAX_VALUE,
                FileStore::DEFAULT_SWEEP_EVERY,
            )),
        })
    }

    /// Refuses values whose stored bytes would be longer than `bytes`
    /// (they are computed and returned, not cached). Files longer than the
    /// limit, written by a process with a larger one, read as misses.
    pub fn with_max_value(self, bytes: usize) -> FileStore {
        self.configure(|inner| inner.max_value = bytes)
    }

    /// Sweeps automatically after `writes` writes of this store, or after as
    /// many writes as the last sweep saw files if that is more; 0 never does.
    pub fn with_sweep_every(self, writes: usize) -> FileStore {
        self.configure(|inner| inner.sweep_every = writes)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        self.inner.dir.root()
    }

    /// The largest value stored.
    pub fn max_value(&self) -> usize {
        self.inner.max_value
    }

    /// Deletes every file expired at `now` (and any that do not decode),
    /// and temporary files left for more than ten minutes by writers that
    /// died. Returns how many files it deleted. Writes run it on their own
    /// from time to time; reads never do.
    pub fn sweep(&self, now: Timestamp) -> Result<usize, StoreError> {
        self.inner.sweep(now)
    }

    fn configure(self, change: impl FnOnce(&mut Inner)) -> FileStore {
        let mut inner = Arc::try_unwrap(self.inner).unwrap_or_else(|shared| {
            Inner::new(shared.dir.clone(), shared.max_value, shared.sweep_every)
        });
        change(&mut inner);
        FileStore {
            inner: Arc::new(inner),
        }
    }
}

impl fmt::Debug for FileStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileStore")
            .field("dir", &self.inner.dir.root())
            .field("max_value", &self.inner.max_value)
            .field("sweep_every", &self.inner.sweep_every)
            .finish()
    }
}

/// The operations, on this thread: each holds the key's lock around its
/// read-modify-write.
impl FileStore {
    fn read_on_disk(
        &self,
        key: &Key,
        now: Timestamp,
        reader: &mut dyn FnMut(Lookup<'_>),
    ) -> Result<(), StoreError> {
        let inner = &self.inner;
        let fingerprint = key.fingerprint();
        let Some(bytes) = inner
            .dir
            .read(fingerprint, inner.read_limit())
            .map_err(|error| io_error("read", error))?
        else {
            return Ok(());
        };
        let Some(file) = decode_file(&bytes).filter(|file| file.header.fingerprint == fingerprint)
        else {
            return Ok(()); // garbage reads as nothing, and the next write replaces it
        };
        if file.header.deadline <= now {
            // Cleaning up is not the reader's answer: a failure to delete is left to a sweep.
            let _ = inner.remove_expired(fingerprint, now);
            return Ok(());
        }
        let version = Version(file.header.stamp);
        reader(match file.content {
            Content::Lease => Lookup::Leased,
            Content::Raw(bytes) => Lookup::Entry(EntryView {
                meta: RAW_META,
                version,
                value: StoredRef::Raw(bytes),
            }),
            Content::Envelope {
                opened, payload, ..
            } => Lookup::Entry(EntryView {
                meta: opened.meta,
                version,
                value: StoredRef::Bytes(payload),
            }),
        });
        Ok(())
    }

    fn try_claim_on_disk(
        &self,
        key: &Key,
        seen: Version,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<Option<ClaimId>, StoreError> {
        let inner = &self.inner;
        let fingerprint = key.fingerprint();
        inner.update(fingerprint, false, Some(now), |current| {
            let Some(Decoded {
                header,
                content: Content::Envelope { opened, sealed, .. },
            }) = current.file()
            else {
                return Ok((Change::Keep, None));
            };
            let claimable = header.stamp == seen.0
                && header.deadline > now
                && opened.meta.soft_deadline <= now
                && opened.meta.claimed_until <= now;
            if !claimable {
                return Ok((Change::Keep, None));
            }
            let claimed = envelope::with_claim(sealed, until)
                .map_err(|error| StoreError::new(StoreErrorKind::Other, error.to_string()))?;
            let stamp = inner.next_stamp();
            let file = encode_file(
                Kind::Envelope,
                fingerprint,
                stamp,
                header.deadline,
                &claimed,
            );
            Ok((Change::Replace(file), Some(ClaimId(stamp))))
        })
    }

    fn release_claim_on_disk(&self, key: &Key, claim: ClaimId) -> Result<(), StoreError> {
        let inner = &self.inner;
        let fingerprint = key.fingerprint();
        inner.update(fingerprint, false, None, |current| {
            let Some(Decoded {
                header,
                content: Content::Envelope { sealed, .. },
            }) = current.file().filter(|file| file.header.stamp == claim.0)
            else {
                return Ok((Change::Keep, ()));
            };
            let released = envelope::with_claim(sealed, Timestamp::EPOCH)
                .map_err(|error| StoreError::new(StoreErrorKind::Other, error.to_string()))?;
            let file = encode_file(
                Kind::Envelope,
                fingerprint,
                inner.next_stamp(),
                header.deadline,
                &released,
            );
            Ok((Change::Replace(file), ()))
        })
    }

    fn write_on_disk(
        &self,
        key: &Key,
        value: Stored,
        deadlines: Deadlines,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let inner = &self.inner;
        let file = inner.encode_value(key.fingerprint(), value, deadlines)?;
        // Nothing to read first: lock (so that no read-modify-write is
        // under way) and replace.
        let fingerprint = key.fingerprint();
        let locked = inner
            .dir
            .lock(fingerprint, true)
            .map_err(|error| io_error("lock", error))?
            .ok_or_else(|| io_error("lock", io::ErrorKind::NotFound.into()))?;
        inner
            .dir
            .replace(&locked, &file)
            .map_err(|error| io_error("write", error))?;
        drop(locked);
        inner.wrote(now);
        Ok(())
    }

    fn write_held_on_disk(
        &self,
        key: &Key,
        held: Hold,
        value: Stored,
        deadlines: Deadlines,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let inner = &self.inner;
        let fingerprint = key.fingerprint();
        let file = inner.encode_value(fingerprint, value, deadlines)?;
        inner.update(fingerprint, false, Some(now), |current| {
            let live = current
                .file()
                .is_some_and(|file| match (held, &file.content) {
                    (Hold::Claim(claim), Content::Envelope { .. }) => file.header.stamp == claim.0,
                    (Hold::Lease(lease), Content::Lease) => file.header.stamp == lease.0,
                    _ => false,
                });
            Ok(if live {
                (Change::Replace(file), true)
            } else {
                (Change::Keep, false)
            })
        })
    }

    fn remove_on_disk(&self, key: &Key) -> Result<(), StoreError> {
        self.inner
            .update(key.fingerprint(), false, None, |_| Ok((Change::Remove, ())))
    }

    fn try_lease_on_disk(
        &self,
        key: &Key,
        now: Timestamp,
        grace: Duration,
    ) -> Result<Option<LeaseId>, StoreError> {
        let inner = &self.inner;
        let fingerprint = key.fingerprint();
        inner.update(fingerprint, true, Some(now), |current| {
            // A live file, or a value past its hard deadline whose refresh
            // is still claimed (see `is_gone`).
            if current.file().is_some_and(|file| !is_gone(&file, now)) {
                return Ok((Change::Keep, None));
            }
            let stamp = inner.next_stamp();
            let until = now.saturating_add(grace);
            let file = encode_file(Kind::Lease, fingerprint, stamp, until, &[]);
            Ok((Change::Replace(file), Some(LeaseId(stamp))))
        })
    }

    fn release_lease_on_disk(&self, key: &Key, lease: LeaseId) -> Result<(), StoreError> {
        self.inner
            .update(key.fingerprint(), false, None, |current| {
                let held = current.file().is_some_and(|file| {
                    matches!(file.content, Content::Lease) && file.header.stamp == lease.0
                });
                Ok((if held { Change::Remove } else { Change::Keep }, ()))
            })
    }

    /// Rewrites the key's file with the hold extended to `until`, under the
    /// key's lock, if its stamp is still the hold's; the new stamp is the
    /// renewed hold's id.
    fn renew_on_disk(
        &self,
        key: &Key,
        hold: Hold,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<Option<Hold>, StoreError> {
        let inner = &self.inner;
        let fingerprint = key.fingerprint();
        inner.update(fingerprint, false, None, |current| {
            let Some(file) = current.file().filter(|file| file.header.deadline > now) else {
                return Ok((Change::Keep, None));
            };
            let stamp = inner.next_stamp();
            let (file, renewed) = match (hold, file.content) {
                (Hold::Claim(claim), Content::Envelope { sealed, .. })
                    if file.header.stamp == claim.0 =>
                {
                    // Never past the value's hard deadline: a claim kept
                    // past it (a retry spaced after a failure) would hold
                    // up the cold misses that follow with nobody computing.
                    let until = until.min(file.header.deadline);
                    let claimed = envelope::with_claim(sealed, until).map_err(|error| {
                        StoreError::new(StoreErrorKind::Other, error.to_string())
                    })?;
                    let file = encode_file(
                        Kind::Envelope,
                        fingerprint,
                        stamp,
                        file.header.deadline,
                        &claimed,
                    );
                    (file, Hold::Claim(ClaimId(stamp)))
                }
                (Hold::Lease(lease), Content::Lease) if file.header.stamp == lease.0 => {
                    let file = encode_file(Kind::Lease, fingerprint, stamp, until, &[]);
                    (file, Hold::Lease(LeaseId(stamp)))
                }
                _ => return Ok((Change::Keep, None)),
            };
            Ok((Change::Replace(file), Some(renewed)))
        })
    }

    fn add_on_disk(&self, write: Write, now: Timestamp) -> Result<bool, StoreError> {
        let inner = &self.inner;
        let fingerprint = write.key.fingerprint();
        let file = inner.encode_value(fingerprint, write.value, write.deadlines)?;
        inner.update(fingerprint, true, Some(now), |current| {
            if current.file().is_some_and(|file| is_live_value(&file, now)) {
                return Ok((Change::Keep, false));
            }
            Ok((Change::Replace(file), true))
        })
    }

    fn mark_stale_on_disk(&self, key: &Key, now: Timestamp) -> Result<bool, StoreError> {
        let inner = &self.inner;
        let fingerprint = key.fingerprint();
        inner.update(fingerprint, false, Some(now), |current| {
            let Some(file) = current.file() else {
                return Ok((Change::Keep, false));
            };
            if let Content::Lease = file.content {
                // A fill under way started before this invalidation: end
                // its lease, so its held write is refused.
                return Ok((Change::Remove, false));
            }
            if !is_live_value(&file, now) {
                // Past its hard deadline by this process's clock (not by
                // the others', if clocks differ), or kept for a refresh still
                // claimed: it goes, so that no process serves it fresh and
                // a claim on it ends (its write is refused).
                return Ok((Change::Remove, false));
            }
            let Content::Envelope { sealed, .. } = file.content else {
                // A raw value has no stale state: it goes.
                return Ok((Change::Remove, true));
            };
            let stale = envelope::marked_stale(sealed)
                .map_err(|error| StoreError::new(StoreErrorKind::Other, error.to_string()))?;
            let file = encode_file(
                Kind::Envelope,
                fingerprint,
                inner.next_stamp(),
                file.header.deadline,
                &stale,
            );
            Ok((Change::Replace(file), true))
        })
    }

    fn count_on_disk(
        &self,
        key: &Key,
        delta: Delta,
        now: Timestamp,
    ) -> Result<Counted, StoreError> {
        let inner = &self.inner;
        let fingerprint = key.fingerprint();
        inner.update(fingerprint, false, Some(now), |current| {
            let Some(file) = current.file().filter(|file| is_live_value(file, now)) else {
                return Ok((Change::Keep, Counted::Absent));
            };
            let counter = match file.content {
                Content::Raw(bytes) => crate::raw::parse_counter(bytes),
                _ => None,
            };
            let Some(counter) = counter else {
                return Ok((Change::Keep, Counted::NotACounter));
            };
            let counted = delta.apply(counter);
            let file = encode_file(
                Kind::Raw,
                fingerprint,
                inner.next_stamp(),
                file.header.deadline,
                counted.to_string().as_bytes(),
            );
            Ok((Change::Replace(file), Counted::Value(counted)))
        })
    }

    fn ping_on_disk(&self) -> Result<(), StoreError> {
        self.inner.dir.probe().map_err(|error| {
            StoreError::new(
                StoreErrorKind::Unavailable,
                format!(
                    "file store: the directory {} is not writable: {error}",
                    self.inner.dir.root().display()
                ),
            )
        })
    }
}

impl FileStore {
    /// Runs `op`: on this thread for a blocking caller, on one of tokio's
    /// blocking threads for an async one (file I/O would block its runtime).
    fn answer<T: Send + 'static>(
        &self,
        wait: Wait,
        op: impl FnOnce(&FileStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Answer<'_, T> {
        #[cfg(feature = "tokio")]
        if wait == Wait::Async {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                let store = self.clone();
                return Answer::later(async move {
                    runtime
                        .spawn_blocking(move || op(&store))
                        .await
                        .unwrap_or_else(|error| {
                            Err(StoreError::new(
                                StoreErrorKind::Other,
                                format!("file store: the blocking task failed: {error}"),
                            ))
                        })
                });
            }
        }
        let _ = wait;
        Answer::ready(op(self))
    }
}

impl Store for FileStore {
    fn keeps_bytes(&self) -> bool {
        true
    }

    fn renews_holds(&self) -> bool {
        true
    }

    fn read<'a>(
        &'a self,
        wait: Wait,
        key: Key,
        now: Timestamp,
        _: ReadFor,
        reader: &'a mut Reader<'_>,
    ) -> Answer<'a, Option<Hold>> {
        if wait == Wait::Blocking {
            return Answer::ready(self.read_on_disk(&key, now, reader).map(|()| None));
        }
        let found = self.answer(wait, move |store| {
            let mut found = None;
            store.read_on_disk(&key, now, &mut |lookup| found = Some(Found::of(lookup)))?;
            Ok(found)
        });
        Answer::later(async move {
            if let Some(found) = found.await? {
                reader(found.lookup());
            }
            Ok(None)
        })
    }

    fn try_claim(
        &self,
        wait: Wait,
        key: Key,
        seen: Version,
        now: Timestamp,
        until: Timestamp,
    ) -> Answer<'_, Option<ClaimId>> {
        self.answer(wait, move |store| {
            store.try_claim_on_disk(&key, seen, now, until)
        })
    }

    fn release_claim(&self, wait: Wait, key: Key, claim: ClaimId) -> Answer<'_, ()> {
        self.answer(wait, move |store| store.release_claim_on_disk(&key, claim))
    }

    fn write(
        &self,
        wait: Wait,
        key: Key,
        value: Stored,
        deadlines: Deadlines,
        now: Timestamp,
    ) -> Answer<'_, ()> {
        self.answer(wait, move |store| {
            store.write_on_disk(&key, value, deadlines, now)
        })
    }

    fn write_held(
        &self,
        wait: Wait,
        key: Key,
        held: Hold,
        value: Stored,
        deadlines: Deadlines,
        now: Timestamp,
    ) -> Answer<'_, bool> {
        self.answer(wait, move |store| {
            store.write_held_on_disk(&key, held, value, deadlines, now)
        })
    }

    fn remove(&self, wait: Wait, key: Key) -> Answer<'_, ()> {
        self.answer(wait, move |store| store.remove_on_disk(&key))
    }

    fn try_lease(
        &self,
        wait: Wait,
        key: Key,
        now: Timestamp,
        grace: Duration,
    ) -> Answer<'_, Option<LeaseId>> {
        self.answer(wait, move |store| store.try_lease_on_disk(&key, now, grace))
    }

    fn release_lease(&self, wait: Wait, key: Key, lease: LeaseId) -> Answer<'_, ()> {
        self.answer(wait, move |store| store.release_lease_on_disk(&key, lease))
    }

    /// Rewrites the key's file with the hold extended to `until`, under the
    /// key's lock, if its stamp is still the hold's; the new stamp is the
    /// renewed hold's id.
    fn renew(
        &self,
        wait: Wait,
        key: Key,
        hold: Hold,
        until: Timestamp,
        now: Timestamp,
    ) -> Answer<'_, Option<Hold>> {
        self.answer(wait, move |store| {
            store.renew_on_disk(&key, hold, until, now)
        })
    }

    fn add(&self, wait: Wait, write: Write, now: Timestamp) -> Answer<'_, bool> {
        self.answer(wait, move |store| store.add_on_disk(write, now))
    }

    fn mark_stale(&self, wait: Wait, key: Key, now: Timestamp) -> Answer<'_, bool> {
        self.answer(wait, move |store| store.mark_stale_on_disk(&key, now))
    }

    fn count(&self, wait: Wait, key: Key, delta: Delta, now: Timestamp) -> Answer<'_, Counted> {
        self.answer(wait, move |store| store.count_on_disk(&key, delta, now))
    }

    fn ping(&self, wait: Wait) -> Answer<'_, ()> {
        self.answer(wait, FileStore::ping_on_disk)
    }
}
