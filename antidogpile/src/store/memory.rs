//! The in-process store: sharded hash maps of type-erased values.

mod url;

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use std::time::Duration;

use super::{
    Answer, ClaimId, Counted, Delta, EntryView, Hold, LeaseId, Lookup, ReadFor, Reader, Store,
    Stored, StoredRef, Value, Version, Wait, Write, RAW_META,
};
use crate::clock::Timestamp;
use crate::error::{StoreError, StoreErrorKind};
use crate::key::Key;
use crate::policy::{Deadlines, EntryMeta};
use crate::sync::{AtomicU64, Ordering, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Shards: enough that two cores (or sixty-four) rarely meet on one lock.
const SHARDS: usize = 64;
/// Once something in a shard can have expired, the shard sweeps after this
/// many writes, or after a quarter of its size in writes if that is more:
/// amortized O(1) per write, and expired entries never outnumber a quarter
/// of the live ones (plus this constant) for long.
const SWEEP_AFTER_WRITES: usize = 16;
/// How many entries a full shard looks at to choose one to evict.
const EVICTION_SAMPLE: usize = 8;
/// A sweep that leaves a table at most a quarter full shrinks it to twice
/// its entries: memory comes back after a burst of keys has expired, and a
/// table that stays about as full is not shrunk and grown again.
const SHRINK_BELOW_FULLNESS: usize = 4;

/// Entries taken out of a shard under its lock, to be dropped after the lock
/// is released: a value's destructor is user code, and may use the cache.
type Removed = Vec<Entry>;

/// The in-process store, and the embedded default when no cache is installed.
///
/// Values are kept as they are (no serialization); a hit clones the value's
/// `Arc` under a shard's read lock, and the value after it is released (its
/// `Clone` is user code, and may use the cache). Entries are dropped at
/// their hard deadline: read as absent at once, and freed by a sweep that
/// each shard runs as it is written to, so expired values do not pile up in
/// a long-running process.
/// [`with_max_entries`](MemoryStore::with_max_entries) also bounds the count.
///
/// ```
/// use antidogpile::{Cache, store::MemoryStore};
///
/// let cache = Cache::new(MemoryStore::new().with_max_entries(10_000));
/// # let _ = cache;
/// ```
pub struct MemoryStore {
    shards: Box<[Shard]>,
    max_per_shard: Option<usize>,
    next_version: AtomicU64,
}

#[repr(align(128))]
struct Shard(RwLock<ShardMap>);

#[derive(Default)]
struct ShardMap {
    entries: HashMap<u128, Entry, BuildHasherDefault<PrehashedKey>>,
    writes_since_sweep: usize,
    /// No entry expires before this: until then a sweep would free nothing.
    earliest_hard_deadline: Option<Timestamp>,
}

struct Entry {
    held: Held,
    soft_deadline: Timestamp,
    hard_deadline: Timestamp,
    claimed_until: Timestamp,
    /// The live claim's id, or [`NO_CLAIM`]: 8 bytes where an
    /// `Option<ClaimId>` takes 16, so that a table slot (fingerprint and
    /// entry) is 80 bytes, not 96.
    claim: u64,
    version: Version,
}

/// No claim: ids are drawn from the version counter, which starts at 1.
const NO_CLAIM: u64 = 0;

/// What an entry holds.
enum Held {
    /// A memoized or soft-set value, as it is.
    Object(Value),
    /// A hard-set value's bytes (decimal digits for a counter).
    Raw(Vec<u8>),
    /// Nothing yet: a client holds the cold-miss lease until the hard deadline.
    Lease(LeaseId),
}

impl Entry {
    /// Whether it may be removed at `now`: past its hard deadline, and not
    /// a value whose refresh is still claimed (its claimer will write it,
    /// and a cold miss meanwhile waits for it rather than compute it twice).
    fn is_gone(&self, now: Timestamp) -> bool {
        self.hard_deadline <= now && (self.claim == NO_CLAIM || self.claimed_until <= now)
    }

    fn new(held: Held, deadlines: Deadlines, version: Version) -> Entry {
        Entry {
            held,
            soft_deadline: deadlines.soft,
            hard_deadline: deadlines.hard,
            claimed_until: Timestamp::EPOCH,
            claim: NO_CLAIM,
            version,
        }
    }

    /// A value (not a lease) that is still stored at `now`.
    fn is_live_value(&self, now: Timestamp) -> bool {
        self.hard_deadline > now && !matches!(self.held, Held::Lease(_))
    }
}

impl MemoryStore {
    /// An unbounded memory store.
    pub fn new() -> MemoryStore {
        MemoryStore {
            shards: (0..SHARDS)
                .map(|_| Shard(RwLock::new(ShardMap::default())))
                .collect(),
            max_per_shard: None,
            next_version: AtomicU64::new(1),
        }
    }

    /// Bounds the number of entries to about `max_entries` (at least one per
    /// shard). When a shard is full, expired entries go first, then the entry
    /// closest to its hard deadline among a small sample.
    pub fn with_max_entries(mut self, max_entries: usize) -> MemoryStore {
        self.max_per_shard = Some(max_entries.div_ceil(SHARDS).max(1));
        self
    }

    /// The number of entries held, expired ones not yet swept included.
    pub fn len(&self) -> usize {
        (0..SHARDS)
            .map(|i| self.shard_for_read(i).entries.len())
            .sum()
    }

    /// Whether the store holds no entry at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Frees every entry whose hard deadline is not after `now`, and gives
    /// back the room of tables left mostly empty.
    pub fn sweep(&self, now: Timestamp) {
        for i in 0..SHARDS {
            let mut removed = Removed::new();
            let mut shard = self.shard_for_write(i);
            shard.sweep(now, &mut removed);
            drop(shard);
            drop(removed);
        }
    }

    fn next_version(&self) -> Version {
        Version(self.next_version.fetch_add(1, Ordering::Relaxed))
    }

    /// Puts `entry` under `key`, making room and sweeping as needed.
    fn insert(&self, key: &Key, entry: Entry, now: Timestamp) {
        let mut shard = self.shard_for_write(Self::shard_index(key));
        let removed = shard.insert(key.fingerprint().as_u128(), entry, self.max_per_shard, now);
        // Drop the old values after the lock is released: their destructors are user code.
        drop(shard);
        drop(removed);
    }

    /// Entries the tables have room for without growing.
    #[cfg(test)]
    fn capacity(&self) -> usize {
        (0..SHARDS)
            .map(|i| self.shard_for_read(i).entries.capacity())
            .sum()
    }

    fn shard_index(key: &Key) -> usize {
        // The low bits pick the hash map bucket; the high bits pick the shard.
        (key.fingerprint().as_u128() >> 122) as usize % SHARDS
    }

    // A panic while a shard lock was held cannot leave an entry half-written
    // (every update is a single assignment), so a poisoned lock is used as is.
    fn shard_for_read(&self, index: usize) -> RwLockReadGuard<'_, ShardMap> {
        self.shards[index]
            .0
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn shard_for_write(&self, index: usize) -> RwLockWriteGuard<'_, ShardMap> {
        self.shards[index]
            .0
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Default for MemoryStore {
    fn default() -> MemoryStore {
        MemoryStore::new()
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("entries", &self.len())
            .field(
                "max_entries",
                &self
                    .max_per_shard
                    .map(|per_shard| per_shard.saturating_mul(SHARDS)),
            )
            .finish()
    }
}

impl ShardMap {
    /// Puts `entry` under `fingerprint`; returns what it replaced, evicted
    /// or swept, to be dropped once the lock is released.
    #[must_use = "removed entries are dropped after the lock is released"]
    fn insert(
        &mut self,
        fingerprint: u128,
        entry: Entry,
        max_entries: Option<usize>,
        now: Timestamp,
    ) -> Removed {
        let mut removed = Removed::new();
        if let Some(max_entries) = max_entries {
            if !self.entries.contains_key(&fingerprint) {
                self.make_room(max_entries, now, &mut removed);
            }
        }
        let hard = entry.hard_deadline;
        removed.extend(self.entries.insert(fingerprint, entry));
        self.writes_since_sweep += 1;
        self.earliest_hard_deadline = Some(
            self.earliest_hard_deadline
                .map_or(hard, |earliest| earliest.min(hard)),
        );
        if self.sweep_is_due(now) {
            self.sweep(now, &mut removed);
        }
        removed
    }

    /// Moves the expired entries into `removed`, and shrinks a table left
    /// mostly empty.
    fn sweep(&mut self, now: Timestamp, removed: &mut Removed) {
        // Not `retain`: it would drop the values here, under the lock.
        let expired: Vec<u128> = self
            .entries
            .iter()
            .filter(|(_, entry)| entry.is_gone(now))
            .map(|(fingerprint, _)| *fingerprint)
            .collect();
        removed.reserve(expired.len());
        for fingerprint in expired {
            removed.extend(self.entries.remove(&fingerprint));
        }
        if self.entries.len() < self.entries.capacity() / SHRINK_BELOW_FULLNESS {
            self.entries.shrink_to(self.entries.len() * 2);
        }
        self.writes_since_sweep = 0;
        self.earliest_hard_deadline = self.entries.values().map(|entry| entry.hard_deadline).min();
    }

    fn sweep_is_due(&self, now: Timestamp) -> bool {
        self.earliest_hard_deadline
            .is_some_and(|earliest| earliest <= now)
            && self.writes_since_sweep >= SWEEP_AFTER_WRITES.max(self.entries.len() / 4)
    }

    fn make_room(&mut self, max_entries: usize, now: Timestamp, removed: &mut Removed) {
        if self.entries.len() < max_entries {
            return;
        }
        self.sweep(now, removed);
        while self.entries.len() >= max_entries {
            let victim = self
                .entries
                .iter()
                .take(EVICTION_SAMPLE)
                .min_by_key(|(_, entry)| entry.hard_deadline)
                .map(|(fingerprint, _)| *fingerprint);
            match victim {
                Some(fingerprint) => removed.extend(self.entries.remove(&fingerprint)),
                None => break,
            }
        }
    }
}

/// An entry as a reader is handed it, taken out of its shard under the
/// lock: the reader decodes (a value's `Clone`, a raw value's
/// `Deserialize`), which is user code, and may call the cache.
enum Found {
    Object {
        meta: EntryMeta,
        version: Version,
        value: Value,
    },
    Raw {
        version: Version,
        bytes: Vec<u8>,
    },
    Leased,
}

impl Found {
    #[inline]
    fn lookup(&self) -> Lookup<'_> {
        match self {
            Found::Object {
                meta,
                version,
                value,
            } => Lookup::Entry(EntryView {
                meta: *meta,
                version: *version,
                value: StoredRef::Object(value),
            }),
            Found::Raw { version, bytes } => Lookup::Entry(EntryView {
                meta: RAW_META,
                version: *version,
                value: StoredRef::Raw(bytes),
            }),
            Found::Leased => Lookup::Leased,
        }
    }
}

/// The operations, under the shard locks: each answers at once.
impl MemoryStore {
    /// What is stored under `key` at `now`. Under the lock only an `Arc` is
    /// cloned (or a raw value's bytes copied), never the value itself.
    #[inline]
    fn find_locked(&self, key: &Key, now: Timestamp) -> Option<Found> {
        let shard = self.shard_for_read(Self::shard_index(key));
        let entry = shard.entries.get(&key.fingerprint().as_u128())?;
        if entry.hard_deadline <= now {
            return None;
        }
        Some(match &entry.held {
            Held::Object(value) => Found::Object {
                meta: EntryMeta {
                    soft_deadline: entry.soft_deadline,
                    claimed_until: entry.claimed_until,
                },
                version: entry.version,
                value: Arc::clone(value),
            },
            Held::Raw(bytes) => Found::Raw {
                version: entry.version,
                bytes: bytes.clone(),
            },
            Held::Lease(_) => Found::Leased,
        })
    }

    fn try_claim_locked(
        &self,
        key: &Key,
        seen: Version,
        now: Timestamp,
        until: Timestamp,
    ) -> Option<ClaimId> {
        let mut shard = self.shard_for_write(Self::shard_index(key));
        let entry = shard.entries.get_mut(&key.fingerprint().as_u128())?;
        let claimable = matches!(entry.held, Held::Object(_))
            && entry.version == seen
            && entry.hard_deadline > now
            && entry.soft_deadline <= now
            && entry.claimed_until <= now;
        if !claimable {
            return None;
        }
        let claim = ClaimId(self.next_version.fetch_add(1, Ordering::Relaxed));
        entry.claimed_until = until;
        entry.claim = claim.0;
        Some(claim)
    }

    fn release_claim_locked(&self, key: &Key, claim: ClaimId) {
        let mut shard = self.shard_for_write(Self::shard_index(key));
        if let Some(entry) = shard.entries.get_mut(&key.fingerprint().as_u128()) {
            if entry.claim == claim.0 {
                entry.claimed_until = Timestamp::EPOCH;
                entry.claim = NO_CLAIM;
            }
        }
    }

    fn write_locked(
        &self,
        key: &Key,
        value: Stored,
        deadlines: Deadlines,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let held = match value {
            Stored::Object(value) => Held::Object(value),
            Stored::Raw(bytes) => Held::Raw(bytes),
            Stored::Bytes(_) => {
                return Err(StoreError::new(
                    StoreErrorKind::Other,
                    "the memory store keeps values as they are, not serialized",
                ))
            }
        };
        self.insert(key, Entry::new(held, deadlines, self.next_version()), now);
        Ok(())
    }

    fn write_held_locked(
        &self,
        key: &Key,
        held: Hold,
        value: Stored,
        deadlines: Deadlines,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let value = match value {
            Stored::Object(value) => Held::Object(value),
            Stored::Raw(bytes) => Held::Raw(bytes),
            Stored::Bytes(_) => {
                return Err(StoreError::new(
                    StoreErrorKind::Other,
                    "the memory store keeps values as they are, not serialized",
                ))
            }
        };
        let fingerprint = key.fingerprint().as_u128();
        let version = self.next_version();
        let mut shard = self.shard_for_write(Self::shard_index(key));
        // Invalidations, writes and newer claims or leases all replace the
        // token compared here, under the same lock.
        let live = shard
            .entries
            .get(&fingerprint)
            .is_some_and(|entry| match (held, &entry.held) {
                (Hold::Claim(claim), Held::Object(_)) => entry.claim == claim.0,
                (Hold::Lease(lease), Held::Lease(current)) => *current == lease,
                _ => false,
            });
        if !live {
            drop(shard);
            drop(value); // user code: never under the lock
            return Ok(false);
        }
        let entry = Entry::new(value, deadlines, version);
        let replaced = shard.insert(fingerprint, entry, self.max_per_shard, now);
        drop(shard);
        drop(replaced);
        Ok(true)
    }

    fn remove_locked(&self, key: &Key) {
        let mut shard = self.shard_for_write(Self::shard_index(key));
        let removed = shard.entries.remove(&key.fingerprint().as_u128());
        drop(shard);
        drop(removed);
    }

    fn try_lease_locked(&self, key: &Key, now: Timestamp, grace: Duration) -> Option<LeaseId> {
        let fingerprint = key.fingerprint().as_u128();
        let mut shard = self.shard_for_write(Self::shard_index(key));
        // A live value, or one past its hard deadline whose refresh is still
        // claimed (see `Entry::is_gone`).
        if shard
            .entries
            .get(&fingerprint)
            .is_some_and(|entry| !entry.is_gone(now))
        {
            return None;
        }
        let version = self.next_version();
        let lease = LeaseId(version.0);
        let until = now.saturating_add(grace);
        let deadlines = Deadlines {
            soft: until,
            hard: until,
        };
        let removed = shard.insert(
            fingerprint,
            Entry::new(Held::Lease(lease), deadlines, version),
            self.max_per_shard,
            now,
        );
        drop(shard);
        // What the lease replaced (or a sweep freed) is dropped outside the
        // lock, before the caller holds the lease: a destructor that panics
        // must not leave it held by nobody until the grace.
        let unclaimed = GivesBackOnUnwind {
            store: self,
            key,
            lease,
        };
        drop(removed);
        std::mem::forget(unclaimed);
        Some(lease)
    }

    fn release_lease_locked(&self, key: &Key, lease: LeaseId) {
        let fingerprint = key.fingerprint().as_u128();
        let mut shard = self.shard_for_write(Self::shard_index(key));
        if let Some(Held::Lease(held)) = shard.entries.get(&fingerprint).map(|entry| &entry.held) {
            if *held == lease {
                shard.entries.remove(&fingerprint);
            }
        }
    }

    fn renew_locked(
        &self,
        key: &Key,
        hold: Hold,
        until: Timestamp,
        now: Timestamp,
    ) -> Option<Hold> {
        let mut shard = self.shard_for_write(Self::shard_index(key));
        let entry = shard.entries.get_mut(&key.fingerprint().as_u128())?;
        if entry.hard_deadline <= now {
            return None;
        }
        let renewed = match hold {
            Hold::Claim(claim) if entry.claim == claim.0 => {
                // Never past the value's hard deadline: a claim kept past it
                // (a retry spaced after a failure) would hold up the cold
                // misses that follow with nobody computing.
                entry.claimed_until = until.min(entry.hard_deadline);
                true
            }
            Hold::Lease(lease) if matches!(entry.held, Held::Lease(held) if held == lease) => {
                // Only ever later: the shard's earliest deadline stays a lower bound.
                entry.soft_deadline = until.max(entry.soft_deadline);
                entry.hard_deadline = until.max(entry.hard_deadline);
                true
            }
            _ => false,
        };
        renewed.then_some(hold)
    }

    fn add_locked(&self, write: Write, now: Timestamp) -> Result<bool, StoreError> {
        let held = match write.value {
            Stored::Object(value) => Held::Object(value),
            Stored::Raw(bytes) => Held::Raw(bytes),
            Stored::Bytes(_) => {
                return Err(StoreError::new(
                    StoreErrorKind::Other,
                    "the memory store keeps values as they are, not serialized",
                ))
            }
        };
        let fingerprint = write.key.fingerprint().as_u128();
        let mut shard = self.shard_for_write(Self::shard_index(&write.key));
        if shard
            .entries
            .get(&fingerprint)
            .is_some_and(|entry| entry.is_live_value(now))
        {
            return Ok(false);
        }
        let entry = Entry::new(held, write.deadlines, self.next_version());
        let removed = shard.insert(fingerprint, entry, self.max_per_shard, now);
        drop(shard);
        drop(removed);
        Ok(true)
    }

    fn mark_stale_locked(&self, key: &Key, now: Timestamp) -> bool {
        let fingerprint = key.fingerprint().as_u128();
        let version = self.next_version();
        let mut shard = self.shard_for_write(Self::shard_index(key));
        if shard
            .entries
            .get(&fingerprint)
            .is_some_and(|entry| matches!(entry.held, Held::Lease(_)))
        {
            // A fill under way started before this invalidation: end its
            // lease, so its write is refused and the next caller computes.
            shard.entries.remove(&fingerprint);
            return false;
        }
        if shard
            .entries
            .get(&fingerprint)
            .is_some_and(|entry| !entry.is_live_value(now) && !entry.is_gone(now))
        {
            // Past its hard deadline, kept for a refresh still claimed: the
            // invalidation ends the claim (its write is refused), and the
            // value goes, as it would have at its deadline (one clock here).
            let removed = shard.entries.remove(&fingerprint);
            drop(shard);
            drop(removed);
            return false;
        }
        let Some(entry) = shard
            .entries
            .get_mut(&fingerprint)
            .filter(|entry| entry.is_live_value(now))
        else {
            return false;
        };
        if let Held::Raw(_) = entry.held {
            let removed = shard.entries.remove(&fingerprint);
            drop(shard);
            drop(removed);
            return true;
        }
        entry.soft_deadline = Timestamp::EPOCH;
        entry.claimed_until = Timestamp::EPOCH;
        entry.claim = NO_CLAIM;
        entry.version = version;
        true
    }

    fn count_locked(&self, key: &Key, delta: Delta, now: Timestamp) -> Counted {
        let fingerprint = key.fingerprint().as_u128();
        let version = self.next_version();
        let mut shard = self.shard_for_write(Self::shard_index(key));
        let Some(entry) = shard
            .entries
            .get_mut(&fingerprint)
            .filter(|entry| entry.is_live_value(now))
        else {
            return Counted::Absent;
        };
        let Held::Raw(bytes) = &mut entry.held else {
            return Counted::NotACounter;
        };
        let Some(counter) = crate::raw::parse_counter(bytes) else {
            return Counted::NotACounter;
        };
        let counted = delta.apply(counter);
        *bytes = counted.to_string().into_bytes();
        entry.version = version;
        Counted::Value(counted)
    }
}

/// A lease just taken, given back if dropped (while its caller is not yet
/// holding it: see [`MemoryStore::try_lease_locked`]); forgotten once handed over.
struct GivesBackOnUnwind<'s> {
    store: &'s MemoryStore,
    key: &'s Key,
    lease: LeaseId,
}

impl Drop for GivesBackOnUnwind<'_> {
    fn drop(&mut self) {
        self.store.release_lease_locked(self.key, self.lease);
    }
}

impl Store for MemoryStore {
    #[inline]
    fn read<'a>(
        &'a self,
        _: Wait,
        key: Key,
        now: Timestamp,
        _: ReadFor,
        reader: &'a mut Reader<'_>,
    ) -> Answer<'a, Option<Hold>> {
        // The reader runs once the shard's lock is released.
        if let Some(found) = self.find_locked(&key, now) {
            reader(found.lookup());
        }
        Answer::ready(Ok(None))
    }

    fn try_claim(
        &self,
        _: Wait,
        key: Key,
        seen: Version,
        now: Timestamp,
        until: Timestamp,
    ) -> Answer<'_, Option<ClaimId>> {
        Answer::ready(Ok(self.try_claim_locked(&key, seen, now, until)))
    }

    fn release_claim(&self, _: Wait, key: Key, claim: ClaimId) -> Answer<'_, ()> {
        self.release_claim_locked(&key, claim);
        Answer::ready(Ok(()))
    }

    fn write(
        &self,
        _: Wait,
        key: Key,
        value: Stored,
        deadlines: Deadlines,
        now: Timestamp,
    ) -> Answer<'_, ()> {
        Answer::ready(self.write_locked(&key, value, deadlines, now))
    }

    fn write_held(
        &self,
        _: Wait,
        key: Key,
        held: Hold,
        value: Stored,
        deadlines: Deadlines,
        now: Timestamp,
    ) -> Answer<'_, bool> {
        Answer::ready(self.write_held_locked(&key, held, value, deadlines, now))
    }

    fn remove(&self, _: Wait, key: Key) -> Answer<'_, ()> {
        self.remove_locked(&key);
        Answer::ready(Ok(()))
    }

    fn try_lease(
        &self,
        _: Wait,
        key: Key,
        now: Timestamp,
        grace: Duration,
    ) -> Answer<'_, Option<LeaseId>> {
        Answer::ready(Ok(self.try_lease_locked(&key, now, grace)))
    }

    fn release_lease(&self, _: Wait, key: Key, lease: LeaseId) -> Answer<'_, ()> {
        self.release_lease_locked(&key, lease);
        Answer::ready(Ok(()))
    }

    /// Renews a live claim or lease in place (its id does not change).
    /// Holds here are not seen by other processes, so the cache does not
    /// renew them while it computes; it shortens a failed refresh's claim.
    fn renew(
        &self,
        _: Wait,
        key: Key,
        hold: Hold,
        until: Timestamp,
        now: Timestamp,
    ) -> Answer<'_, Option<Hold>> {
        Answer::ready(Ok(self.renew_locked(&key, hold, until, now)))
    }

    fn add(&self, _: Wait, write: Write, now: Timestamp) -> Answer<'_, bool> {
        Answer::ready(self.add_locked(write, now))
    }

    fn mark_stale(&self, _: Wait, key: Key, now: Timestamp) -> Answer<'_, bool> {
        Answer::ready(Ok(self.mark_stale_locked(&key, now)))
    }

    fn count(&self, _: Wait, key: Key, delta: Delta, now: Timestamp) -> Answer<'_, Counted> {
        Answer::ready(Ok(self.count_locked(&key, delta, now)))
    }
}

/// Fingerprints are already uniformly distributed hashes: hashing them again
/// would only cost time on the hit path.
#[derive(Default)]
struct PrehashedKey(u64);

impl Hasher for PrehashedKey {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only reached if a key type other than u128 is ever used: fold the bytes.
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u128(&mut self, fingerprint: u128) {
        self.0 = fingerprint as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::Fingerprint;
    use std::sync::{Arc, Barrier};

    fn key(n: u128) -> Key {
        Key::new(Fingerprint::from_u128(n), "memory::tests", 0)
    }

    fn at(millis: u64) -> Timestamp {
        Timestamp::from_millis(millis)
    }

    fn deadlines(soft: u64, hard: u64) -> Deadlines {
        Deadlines {
            soft: at(soft),
            hard: at(hard),
        }
    }

    /// Writes `value` under `key`, as a blocking caller does.
    fn put(store: &MemoryStore, key: Key, value: Stored, deadlines: Deadlines, now: Timestamp) {
        store
            .write(Wait::Blocking, key, value, deadlines, now)
            .wait()
            .unwrap();
    }

    fn version_of(store: &MemoryStore, key: &Key, now: Timestamp) -> Option<Version> {
        let mut version = None;
        store
            .read(Wait::Blocking, *key, now, ReadFor::Peek, &mut |lookup| {
                if let Lookup::Entry(entry) = lookup {
                    version = Some(entry.version);
                }
            })
            .wait()
            .unwrap();
        version
    }

    fn object(value: u8) -> Stored {
        Stored::Object(Arc::new(value))
    }

    fn claim(store: &MemoryStore, k: &Key, seen: Version, now: u64, until: u64) -> Option<ClaimId> {
        store
            .try_claim(Wait::Blocking, *k, seen, at(now), at(until))
            .wait()
            .unwrap()
    }

    #[test]
    fn debug_of_the_largest_bound_does_not_overflow() {
        let store = MemoryStore::new().with_max_entries(usize::MAX);
        let debug = format!("{store:?}");
        assert!(
            debug.contains(&format!("max_entries: Some({})", usize::MAX)),
            "{debug}"
        );
        let debug = format!("{:?}", MemoryStore::new().with_max_entries(100));
        assert!(debug.contains("max_entries: Some(128)"), "{debug}");
    }

    #[test]
    fn of_many_threads_claiming_the_same_version_exactly_one_wins() {
        for round in 0..50 {
            let store = Arc::new(MemoryStore::new());
            put(&store, key(round), object(1), deadlines(10, 100), at(0));
            let seen = version_of(&store, &key(round), at(20)).unwrap();
            let start = Arc::new(Barrier::new(8));
            let claimers: Vec<_> = (0..8)
                .map(|_| {
                    let (store, start) = (Arc::clone(&store), Arc::clone(&start));
                    std::thread::spawn(move || {
                        start.wait();
                        claim(&store, &key(round), seen, 20, 80).is_some()
                    })
                })
                .collect();
            let wins = claimers
                .into_iter()
                .map(|claimer| claimer.join().unwrap())
                .filter(|won| *won)
                .count();
            assert_eq!(wins, 1, "round {round}");
        }
    }

    #[test]
    fn claims_need_the_seen_version_a_stale_entry_and_no_live_claim() {
        let store = MemoryStore::new();
        let k = key(1);
        put(&store, k, object(1), deadlines(10, 100), at(0));
        let seen = version_of(&store, &k, at(0)).unwrap();
        assert_eq!(claim(&store, &k, seen, 9, 50), None, "still fresh");
        assert_eq!(
            claim(&store, &k, Version(seen.0 + 1), 10, 50),
            None,
            "other version"
        );
        let first = claim(&store, &k, seen, 10, 50).expect("stale and unclaimed");
        assert_eq!(claim(&store, &k, seen, 49, 90), None, "claim is live");
        assert!(claim(&store, &k, seen, 50, 90).is_some(), "claim ran out");
        // The first claim is not the live one any more: releasing it changes nothing.
        store
            .release_claim(Wait::Blocking, k, first)
            .wait()
            .unwrap();
        assert_eq!(claim(&store, &k, seen, 60, 90), None);
        // A write replaces the entry, its version and its claim.
        put(&store, k, object(2), deadlines(70, 100), at(60));
        assert_eq!(claim(&store, &k, seen, 80, 99), None, "old version");
        let current = version_of(&store, &k, at(80)).unwrap();
        assert!(claim(&store, &k, current, 80, 99).is_some());
    }

    #[test]
    fn a_released_claim_can_be_taken_again_at_once() {
        let store = MemoryStore::new();
        let k = key(2);
        put(&store, k, object(1), deadlines(10, 100), at(0));
        let seen = version_of(&store, &k, at(0)).unwrap();
        let held = claim(&store, &k, seen, 10, 90).unwrap();
        store.release_claim(Wait::Blocking, k, held).wait().unwrap();
        assert!(claim(&store, &k, seen, 11, 90).is_some());
    }

    #[test]
    fn entries_are_invisible_at_their_hard_deadline_and_swept_after() {
        let store = MemoryStore::new();
        put(&store, key(3), object(1), deadlines(10, 100), at(0));
        assert!(version_of(&store, &key(3), at(99)).is_some());
        assert!(version_of(&store, &key(3), at(100)).is_none());
        assert_eq!(claim(&store, &key(3), Version(0), 100, 200), None);
        assert_eq!(store.len(), 1);
        store.sweep(at(100));
        assert!(store.is_empty());
    }

    /// A value whose destructor reads its own key from the store it is kept in,
    /// as a value holding a cache handle might.
    struct ReadsOnDrop {
        store: std::sync::Weak<MemoryStore>,
        key: u128,
    }

    impl Drop for ReadsOnDrop {
        fn drop(&mut self) {
            if let Some(store) = self.store.upgrade() {
                let _ = store
                    .read(
                        Wait::Blocking,
                        key(self.key),
                        at(0),
                        ReadFor::Peek,
                        &mut |_| {},
                    )
                    .wait();
            }
        }
    }

    fn reads_on_drop(store: &Arc<MemoryStore>, n: u128) -> Stored {
        Stored::Object(Arc::new(ReadsOnDrop {
            store: Arc::downgrade(store),
            key: n,
        }))
    }

    /// Runs `scenario` on a thread of its own and fails (rather than hangs)
    /// if it has not finished within a generous bound.
    fn finishes(what: &str, scenario: impl FnOnce() + Send + 'static) {
        assert!(
            antidogpile_test_support::within(Duration::from_secs(10), scenario).is_some(),
            "{what}: a value's Drop that uses the store did not finish (deadlock under the shard lock)"
        );
    }

    // Keys below 2^122 all fall in shard 0, so the destructor's read meets the
    // lock of the shard that dropped the value.

    #[test]
    fn a_value_whose_drop_uses_the_store_is_swept_without_deadlock() {
        finishes("sweep", || {
            let store = Arc::new(MemoryStore::new());
            put(
                &store,
                key(1),
                reads_on_drop(&store, 1),
                deadlines(10, 100),
                at(0),
            );
            store.sweep(at(100));
            assert!(store.is_empty());
        });
    }

    #[test]
    fn a_value_whose_drop_uses_the_store_is_swept_by_later_writes_without_deadlock() {
        finishes("sweep on write", || {
            let store = Arc::new(MemoryStore::new());
            put(
                &store,
                key(1),
                reads_on_drop(&store, 1),
                deadlines(10, 100),
                at(0),
            );
            for n in 2..2 + 2 * SWEEP_AFTER_WRITES as u128 {
                put(&store, key(n), object(1), deadlines(1_000, 2_000), at(200));
            }
            assert!(version_of(&store, &key(1), at(0)).is_none(), "swept");
        });
    }

    #[test]
    fn a_value_whose_drop_uses_the_store_is_evicted_without_deadlock() {
        finishes("eviction", || {
            let store = Arc::new(MemoryStore::new().with_max_entries(1));
            put(
                &store,
                key(1),
                reads_on_drop(&store, 1),
                deadlines(10, 100),
                at(0),
            );
            put(&store, key(2), object(2), deadlines(10, 100), at(0));
            assert_eq!(store.len(), 1, "one evicted");
        });
    }

    #[test]
    fn a_value_whose_drop_uses_the_store_is_replaced_or_removed_without_deadlock() {
        finishes("replacement, lease, add, removal", || {
            let store = Arc::new(MemoryStore::new());
            let k = key(1);
            put(
                &store,
                k,
                reads_on_drop(&store, 1),
                deadlines(10, 100),
                at(0),
            );
            put(
                &store,
                k,
                reads_on_drop(&store, 1),
                deadlines(10, 100),
                at(0),
            );
            // An expired value replaced by a lease, then by an add.
            store
                .try_lease(Wait::Blocking, k, at(100), Duration::from_secs(1))
                .wait()
                .unwrap();
            store.remove(Wait::Blocking, k).wait().unwrap();
            put(
                &store,
                k,
                reads_on_drop(&store, 1),
                deadlines(10, 100),
                at(0),
            );
            let write = Write {
                key: k,
                value: reads_on_drop(&store, 1),
                deadlines: deadlines(200, 300),
            };
            assert!(store.add(Wait::Blocking, write, at(100)).wait().unwrap());
            store.remove(Wait::Blocking, k).wait().unwrap();
            assert!(store.is_empty());
        });
    }

    #[test]
    fn a_table_slot_is_eighty_bytes() {
        // The fingerprint (16) and the entry: what each slot of a table costs.
        assert_eq!(std::mem::size_of::<(u128, Entry)>(), 80);
    }

    #[test]
    fn a_sweep_of_a_mostly_expired_store_gives_its_table_back() {
        let store = MemoryStore::new();
        for n in 0..10_000u128 {
            let hard = if n % 100 == 0 { 10_000 } else { 100 };
            put(&store, key(n), object(1), deadlines(10, hard), at(0));
        }
        let full = store.capacity();
        assert!(full >= 10_000, "capacity {full}");
        store.sweep(at(100));
        assert_eq!(store.len(), 100);
        let swept = store.capacity();
        assert!(
            swept <= full / 8,
            "capacity {full} with 10000 entries, still {swept} with 100 after the sweep"
        );
    }
}
