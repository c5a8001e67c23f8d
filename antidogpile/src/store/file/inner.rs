//! The store's state, and the one read-modify-write every change goes
//! through: lock the key's file, read it, decide, replace or remove it.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use super::dir::Dir;
use super::format::{self, decode_file, encode_file, Content, Decoded, Kind};
use crate::clock::Timestamp;
use crate::envelope;
use crate::error::{StoreError, StoreErrorKind};
use crate::key::Fingerprint;
use crate::policy::Deadlines;
use crate::store::Stored;

/// A file store's directory, settings and counters, shared by its clones
/// (and moved, through them, to blocking threads).
pub(super) struct Inner {
    pub(super) dir: Dir,
    pub(super) max_value: usize,
    pub(super) sweep_every: usize,
    /// Makes this process's stamps differ from every other process's.
    stamp_seed: u64,
    next_stamp: AtomicU64,
    writes_since_sweep: AtomicUsize,
    /// Files seen by the last sweep: the next one waits at least as many
    /// writes, so sweeping costs at most one header read per write.
    pub(super) files_at_last_sweep: AtomicUsize,
    sweeping: AtomicBool,
}

/// What a read-modify-write found under the key.
pub(super) enum Current<'a> {
    /// No file.
    Missing,
    /// A file that does not decode, or is another key's: nothing, to be overwritten.
    Unreadable,
    /// The key's file.
    File(Decoded<'a>),
}

impl<'a> Current<'a> {
    /// The key's file, if there is one that decodes.
    pub(super) fn file(self) -> Option<Decoded<'a>> {
        match self {
            Current::File(file) => Some(file),
            Current::Missing | Current::Unreadable => None,
        }
    }
}

/// What a read-modify-write does with the key's file.
pub(super) enum Change {
    Keep,
    Replace(Vec<u8>),
    Remove,
}

/// A seed no other process is likely to share: the process id, the time,
/// and where this process's heap put a fresh allocation.
fn stamp_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos());
    let heap = Box::new(0u8);
    let mut bytes = Vec::with_capacity(32);
    bytes.extend_from_slice(&std::process::id().to_le_bytes());
    bytes.extend_from_slice(&nanos.to_le_bytes());
    bytes.extend_from_slice(&(std::ptr::addr_of!(*heap) as usize).to_le_bytes());
    xxhash_rust::xxh3::xxh3_64(&bytes)
}

pub(super) fn io_error(during: &str, error: io::Error) -> StoreError {
    let kind = match error.kind() {
        io::ErrorKind::Unsupported => StoreErrorKind::Unsupported,
        _ => StoreErrorKind::Unavailable,
    };
    StoreError::new(kind, format!("file store: {during}: {error}"))
}

impl Inner {
    pub(super) fn new(dir: Dir, max_value: usize, sweep_every: usize) -> Inner {
        Inner {
            dir,
            max_value,
            sweep_every,
            stamp_seed: stamp_seed(),
            next_stamp: AtomicU64::new(1),
            writes_since_sweep: AtomicUsize::new(0),
            files_at_last_sweep: AtomicUsize::new(0),
            sweeping: AtomicBool::new(false),
        }
    }

    /// The longest file this store reads: anything longer is not one of its values.
    pub(super) fn read_limit(&self) -> u64 {
        (self.max_value + format::HEADER_LEN + envelope::HEADER_LEN) as u64
    }

    /// A stamp no other write, in this process or another, is likely to share.
    pub(super) fn next_stamp(&self) -> u64 {
        let count = self.next_stamp.fetch_add(1, Ordering::Relaxed);
        xxhash_rust::xxh3::xxh3_64_with_seed(&count.to_le_bytes(), self.stamp_seed)
    }

    /// The file of `value` under `fingerprint`, if it is within the limit.
    pub(super) fn encode_value(
        &self,
        fingerprint: Fingerprint,
        value: Stored,
        deadlines: Deadlines,
    ) -> Result<Vec<u8>, StoreError> {
        let (kind, body) = match value {
            Stored::Bytes(payload) => (Kind::Envelope, envelope::seal(deadlines, &payload)),
            Stored::Raw(bytes) => (Kind::Raw, bytes),
            Stored::Object(_) => {
                return Err(StoreError::new(
                    StoreErrorKind::Other,
                    "the file store keeps bytes, not objects",
                ))
            }
        };
        if body.len() > self.max_value {
            return Err(StoreError::new(
                StoreErrorKind::TooLarge,
                format!(
                    "{} bytes is over the file store's {} byte limit: served, not cached",
                    body.len(),
                    self.max_value
                ),
            ));
        }
        Ok(encode_file(
            kind,
            fingerprint,
            self.next_stamp(),
            deadlines.hard,
            &body,
        ))
    }

    /// Locks the key's file, reads it, and applies what `decide` makes of
    /// it. Without `create`, a missing file is not locked and what `decide`
    /// asks for is not done (there is nothing to remove, and nothing to
    /// change is created). A replacement at `now`
    /// counts towards the next sweep (at that time: the cache's clock).
    pub(super) fn update<T>(
        &self,
        fingerprint: Fingerprint,
        create: bool,
        now: Option<Timestamp>,
        decide: impl FnOnce(Current<'_>) -> Result<(Change, T), StoreError>,
    ) -> Result<T, StoreError> {
        let Some(mut locked) = self
            .dir
            .lock(fingerprint, create)
            .map_err(|error| io_error("lock", error))?
        else {
            return decide(Current::Missing).map(|(_, answer)| answer);
        };
        let bytes = locked
            .contents(self.read_limit())
            .map_err(|error| io_error("read", error))?;
        let current = match decode_file(&bytes) {
            Some(file) if file.header.fingerprint == fingerprint => Current::File(file),
            _ => Current::Unreadable,
        };
        let (change, answer) = decide(current)?;
        let replaced = matches!(change, Change::Replace(_));
        match change {
            Change::Keep => {}
            Change::Replace(bytes) => {
                self.dir
                    .replace(&locked, &bytes)
                    .map_err(|error| io_error("write", error))?;
            }
            Change::Remove => locked.remove().map_err(|error| io_error("remove", error))?,
        }
        drop(locked);
        if let (true, Some(now)) = (replaced, now) {
            // Sweeps are the writers' chore, once the key's lock is released.
            self.wrote(now);
        }
        Ok(answer)
    }

    /// Counts a write, and sweeps when one is due.
    pub(super) fn wrote(&self, now: Timestamp) {
        if self.sweep_every == 0 {
            return;
        }
        let writes = self.writes_since_sweep.fetch_add(1, Ordering::Relaxed) + 1;
        let due = self
            .sweep_every
            .max(self.files_at_last_sweep.load(Ordering::Relaxed));
        if writes >= due && !self.sweeping.swap(true, Ordering::Acquire) {
            self.writes_since_sweep.store(0, Ordering::Relaxed);
            // A failed sweep leaves files for the next one: nothing to report.
            let _ = self.sweep(now);
            self.sweeping.store(false, Ordering::Release);
        }
    }

    /// Deletes the key's file if it expired at `now` (under the lock: it
    /// may have been replaced since it was read).
    pub(super) fn remove_expired(
        &self,
        fingerprint: Fingerprint,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.update(fingerprint, false, None, |current| {
            let expired = current.file().is_some_and(|file| is_gone(&file, now));
            Ok((
                if expired {
                    Change::Remove
                } else {
                    Change::Keep
                },
                (),
            ))
        })
    }
}

/// Whether `file` is a value (not a lease) still stored at `now`.
pub(super) fn is_live_value(file: &Decoded<'_>, now: Timestamp) -> bool {
    file.header.deadline > now && !matches!(file.content, Content::Lease)
}

/// Whether `file` is a value whose refresh is claimed at `now`.
pub(super) fn is_claimed(file: &Decoded<'_>, now: Timestamp) -> bool {
    matches!(file.content, Content::Envelope { opened, .. } if opened.meta.claimed_until > now)
}

/// Whether `file` may be deleted at `now`: past its deadline, and not a
/// value whose refresh is still claimed (its claimer will write it, and a
/// cold miss meanwhile waits for it rather than compute it a second time).
pub(super) fn is_gone(file: &Decoded<'_>, now: Timestamp) -> bool {
    file.header.deadline <= now && !is_claimed(file, now)
}
