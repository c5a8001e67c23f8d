//! Cache keys: a stable 128-bit fingerprint of namespace + version + arguments.
//!
//! Arguments are encoded with postcard (a stable, documented wire format), not
//! with [`std::hash::Hash`], whose output is free to change between compiler
//! versions and platforms; the fingerprint is therefore the same in every
//! process and every build that shares a remote store.

use std::fmt;

use serde::Serialize;
use xxhash_rust::xxh3::{xxh3_128_with_seed, xxh3_64};

mod canonical;

use canonical::Canonical;

/// The stable 128-bit hash that identifies one cached value.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(u128);

impl Fingerprint {
    /// The fingerprint as a number.
    pub const fn as_u128(self) -> u128 {
        self.0
    }

    /// A fingerprint from its number (for stores and their tests).
    pub const fn from_u128(fingerprint: u128) -> Fingerprint {
        Fingerprint(fingerprint)
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({:032x})", self.0)
    }
}

/// A key as a store sees it: the fingerprint, plus the readable parts a
/// remote store needs to build its wire key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key {
    fingerprint: Fingerprint,
    namespace: &'static str,
    version: u32,
}

impl Key {
    /// A key with the given parts (for stores and their tests). Namespaces
    /// are the memoized functions' paths and the names caches were given:
    /// strings that live as long as the program.
    pub const fn new(fingerprint: Fingerprint, namespace: &'static str, version: u32) -> Key {
        Key {
            fingerprint,
            namespace,
            version,
        }
    }

    /// The stable hash of namespace, version and arguments.
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// The namespace: the memoized function's path, or the name it was given.
    pub fn namespace(&self) -> &'static str {
        self.namespace
    }

    /// The version the key was built with (bump it to abandon old values).
    pub fn version(&self) -> u32 {
        self.version
    }
}

/// The seed that makes equal arguments of different functions hash apart.
pub(crate) fn namespace_seed(namespace: &str, version: u32) -> u64 {
    let mut bytes = Vec::with_capacity(namespace.len() + 5);
    bytes.extend_from_slice(namespace.as_bytes());
    bytes.push(0xff); // never in UTF-8: namespace and version cannot run together
    bytes.extend_from_slice(&version.to_le_bytes());
    xxh3_64(&bytes)
}

/// Room for the encoded arguments of most calls without touching the heap
/// (a few numbers and a short string); small, because the encoder is moved
/// and zeroed on every call.
const INLINE_ARGS: usize = 48;

/// Accumulates the encoded arguments of one call, then hashes them.
pub(crate) struct ArgumentEncoder {
    inline: [u8; INLINE_ARGS],
    len: usize,
    spilled: Option<Vec<u8>>,
    failed: bool,
}

impl ArgumentEncoder {
    pub(crate) fn new() -> ArgumentEncoder {
        ArgumentEncoder {
            inline: [0; INLINE_ARGS],
            len: 0,
            spilled: None,
            failed: false,
        }
    }

    /// Appends one argument. Postcard encodings are self-delimiting, so the
    /// concatenation of several arguments is unambiguous. Maps are written
    /// in a canonical order ([`Canonical`]), so that equal maps give one key.
    pub(crate) fn push<A: Serialize + ?Sized>(&mut self, arg: &A) {
        if self.failed {
            return;
        }
        let arg = &Canonical(arg);
        if let Some(spilled) = &mut self.spilled {
            self.failed = postcard::to_extend(arg, std::mem::take(spilled))
                .map(|grown| *spilled = grown)
                .is_err();
            return;
        }
        match postcard::to_slice(arg, &mut self.inline[self.len..]) {
            Ok(written) => self.len += written.len(),
            Err(postcard::Error::SerializeBufferFull) => {
                let mut spilled = Vec::with_capacity(self.len * 2 + 64);
                spilled.extend_from_slice(&self.inline[..self.len]);
                self.spilled = Some(spilled);
                self.push(arg.0);
            }
            Err(_) => self.failed = true,
        }
    }

    /// The fingerprint under `seed`, or `None` if an argument failed to encode
    /// (a `Serialize` impl that errors, or a sequence of unknown length).
    pub(crate) fn finish(&self, seed: u64) -> Option<Fingerprint> {
        if self.failed {
            return None;
        }
        let bytes = match &self.spilled {
            Some(spilled) => spilled.as_slice(),
            None => &self.inline[..self.len],
        };
        Some(Fingerprint(xxh3_128_with_seed(bytes, seed)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fingerprint_of(seed: u64, args: &[&dyn Fn(&mut ArgumentEncoder)]) -> Option<Fingerprint> {
        let mut encoder = ArgumentEncoder::new();
        for push in args {
            push(&mut encoder);
        }
        encoder.finish(seed)
    }

    #[test]
    fn equal_arguments_give_equal_fingerprints() {
        let a = fingerprint_of(1, &[&|e| e.push(&42u64), &|e| e.push("x")]);
        let b = fingerprint_of(1, &[&|e| e.push(&42u64), &|e| e.push("x")]);
        assert_eq!(a, b);
        assert!(a.is_some());
    }

    #[test]
    fn argument_boundaries_are_part_of_the_key() {
        let ab_c = fingerprint_of(1, &[&|e| e.push("ab"), &|e| e.push("c")]);
        let a_bc = fingerprint_of(1, &[&|e| e.push("a"), &|e| e.push("bc")]);
        assert_ne!(ab_c, a_bc);
    }

    #[test]
    fn namespaces_and_versions_separate_equal_arguments() {
        let f = |seed| fingerprint_of(seed, &[&|e| e.push(&7u8)]);
        assert_ne!(f(namespace_seed("a::f", 0)), f(namespace_seed("a::g", 0)));
        assert_ne!(f(namespace_seed("a::f", 0)), f(namespace_seed("a::f", 1)));
    }

    #[test]
    fn long_arguments_spill_to_the_heap_and_hash_the_same_way() {
        let long = "k".repeat(INLINE_ARGS * 3);
        let spilled = fingerprint_of(9, &[&|e| e.push(&1u8), &|e| e.push(long.as_str())]);
        let mut expected = postcard::to_allocvec(&1u8).unwrap();
        expected.extend(postcard::to_allocvec(long.as_str()).unwrap());
        assert_eq!(spilled, Some(Fingerprint(xxh3_128_with_seed(&expected, 9))));
    }

    #[test]
    fn an_argument_that_cannot_be_encoded_gives_no_fingerprint() {
        struct Unencodable;
        impl Serialize for Unencodable {
            fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(serde::ser::Error::custom("no"))
            }
        }
        assert_eq!(fingerprint_of(1, &[&|e| e.push(&Unencodable)]), None);
    }
}

#[cfg(test)]
mod proptests;
