//! Which keys this process last saw fresh, so that their reads can be a
//! plain `HMGET` rather than the read script.
//!
//! A read for use must be able to take the claim of a stale entry or the
//! lease of an absent key in the same command, which only a script can do;
//! but a script costs Redis far more than a plain read (≈3.8 µs against
//! ≈0.1 µs for a `GET` here), and most reads are fresh hits. So the store
//! remembers, per key, the soft deadline of the entry it last read or
//! wrote. A key remembered fresh at `now` is read with `HMGET`; only if
//! that finds it no longer fresh (another process invalidated or rewrote
//! it, or the hint was another key's) is the script sent, as it is for a
//! key with no hint. The hint never decides what is served: the fields the
//! server answered do. A wrong hint costs one command more, never a wrong
//! value.
//!
//! The hints are a fixed table of atomics (no lock, no allocation per
//! key): each slot keeps a 16-bit tag of the key and the soft deadline in
//! milliseconds (48 bits: some 8,900 years), so two keys that share a slot
//! take turns.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::clock::Timestamp;
use crate::key::Key;

/// Slots in the table (a power of two): 32 KiB a store.
const SLOTS: usize = 4096;
const DEADLINE_BITS: u32 = 48;
const DEADLINE_MASK: u64 = (1 << DEADLINE_BITS) - 1;

/// The soft deadlines this process last saw, per key (see the module docs).
pub(crate) struct FreshHints {
    slots: Box<[AtomicU64]>,
}

impl FreshHints {
    pub(crate) fn new() -> FreshHints {
        FreshHints {
            slots: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// The slot of `key` and the tag that names it there (never 0, so an
    /// empty slot names no key).
    fn place(key: &Key) -> (usize, u64) {
        // The fingerprint hashes the namespace, version and arguments.
        let bits = key.fingerprint().as_u128();
        let mixed = (bits as u64) ^ ((bits >> 64) as u64);
        let slot = (mixed as usize) & (SLOTS - 1);
        let tag = ((mixed >> 48) & 0xffff).max(1);
        (slot, tag)
    }

    /// Whether `key` was last seen with a soft deadline after `now`.
    pub(crate) fn fresh_at(&self, key: &Key, now: Timestamp) -> bool {
        let (slot, tag) = Self::place(key);
        let kept = self.slots[slot].load(Ordering::Relaxed);
        kept >> DEADLINE_BITS == tag && kept & DEADLINE_MASK > now.as_millis()
    }

    /// `key`'s entry is fresh until `soft`.
    pub(crate) fn note(&self, key: &Key, soft: Timestamp) {
        let (slot, tag) = Self::place(key);
        let deadline = soft.as_millis().min(DEADLINE_MASK);
        self.slots[slot].store(tag << DEADLINE_BITS | deadline, Ordering::Relaxed);
    }

    /// `key`'s entry was invalidated or removed here.
    pub(crate) fn forget(&self, key: &Key) {
        let (slot, tag) = Self::place(key);
        let _ = self.slots[slot].fetch_update(Ordering::Relaxed, Ordering::Relaxed, |kept| {
            (kept >> DEADLINE_BITS == tag).then_some(0)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::Fingerprint;

    /// A key whose fingerprint is spread like a real one's (splitmix64).
    fn key(id: u64) -> Key {
        let mut z = id.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        let bits = u128::from(z ^ (z >> 31)) << 64 | u128::from(id);
        Key::new(Fingerprint::from_u128(bits), "hints::tests", 1)
    }

    #[test]
    fn a_key_is_fresh_until_its_noted_deadline_and_not_after_it_is_forgotten() {
        let hints = FreshHints::new();
        let (a, now) = (key(1), Timestamp::from_millis(1_000));
        assert!(!hints.fresh_at(&a, now), "nothing noted");
        hints.note(&a, Timestamp::from_millis(2_000));
        assert!(hints.fresh_at(&a, now));
        assert!(
            !hints.fresh_at(&a, Timestamp::from_millis(2_000)),
            "at the deadline"
        );
        hints.forget(&a);
        assert!(!hints.fresh_at(&a, now), "forgotten");
    }

    #[test]
    fn a_hint_is_of_its_own_key_only() {
        let hints = FreshHints::new();
        let now = Timestamp::from_millis(1_000);
        hints.note(&key(1), Timestamp::from_millis(2_000));
        let others = (2..20_000)
            .filter(|&id| hints.fresh_at(&key(id), now))
            .count();
        // Only a key sharing both the slot and the 16-bit tag could pass:
        // about one in 2^28 pairs.
        assert_eq!(others, 0);
    }
}
