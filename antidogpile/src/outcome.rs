//! What a memoized function returns: a value to cache, or a failure not to.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// The bounds on a value that can be cached: cloned out of an in-process
/// store, serialized into a remote one, shared between threads.
pub trait Cacheable: Clone + Send + Sync + Serialize + DeserializeOwned + 'static {}
impl<T: Clone + Send + Sync + Serialize + DeserializeOwned + 'static> Cacheable for T {}

/// A return type the cache understands: `Result<T, E>` and `Option<T>` cache
/// only their success (`Ok`, `Some`); [`Always<T>`] caches every `T`.
pub trait Outcome: Sized {
    /// What is cached.
    type Value: Cacheable;

    /// The value to cache, or the failure (returned as it is, never cached).
    fn into_value(self) -> Result<Self::Value, Self>;

    /// The outcome that returns a cached value.
    fn from_value(value: Self::Value) -> Self;

    /// Whether it is a failure (not cached).
    fn failed(&self) -> bool;

    /// The failure to hand to callers that waited for a compute that failed,
    /// if one failure can stand for all of them; `None` (the default, and
    /// `Result`'s, whose error need not be `Clone`): each of them computes
    /// once, side by side.
    ///
    /// ```
    /// use antidogpile::__private::Outcome;
    ///
    /// assert_eq!(<Option<u32> as Outcome>::shared_failure(), Some(None));
    /// assert!(<Result<u32, std::io::Error> as Outcome>::shared_failure().is_none());
    /// ```
    fn shared_failure() -> Option<Self> {
        None
    }
}

impl<T: Cacheable, E> Outcome for Result<T, E> {
    type Value = T;

    fn into_value(self) -> Result<T, Self> {
        match self {
            Ok(value) => Ok(value),
            Err(error) => Err(Err(error)),
        }
    }

    fn from_value(value: T) -> Self {
        Ok(value)
    }

    fn failed(&self) -> bool {
        self.is_err()
    }
}

impl<T: Cacheable> Outcome for Option<T> {
    type Value = T;

    fn into_value(self) -> Result<T, Self> {
        self.ok_or(None)
    }

    fn from_value(value: T) -> Self {
        Some(value)
    }

    fn failed(&self) -> bool {
        self.is_none()
    }

    /// `None`: nothing was found for the key, for every caller waiting on it.
    fn shared_failure() -> Option<Self> {
        Some(None)
    }
}

/// A plain return type: every value is cached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Always<T>(pub T);

impl<T: Cacheable> Outcome for Always<T> {
    type Value = T;

    fn into_value(self) -> Result<T, Self> {
        Ok(self.0)
    }

    fn from_value(value: T) -> Self {
        Always(value)
    }

    fn failed(&self) -> bool {
        false
    }
}
