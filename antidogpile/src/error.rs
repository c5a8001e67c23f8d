//! The errors users can match on.

use std::fmt;

/// An error from antidogpile's configuration or its cache client's operations.
///
/// Memoized functions never return this: a cache that fails makes calls
/// slower (they compute), never wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A store URL that cannot be used; `part` names what is wrong in it.
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// The part that is wrong: `scheme`, `host`, or a query parameter's name.
        part: String,
        /// Why.
        reason: String,
    },
    /// The store failed (down, timed out, refused the value).
    Store(StoreError),
    /// A key could not be serialized into a cache key.
    InvalidKey(String),
    /// A value could not be serialized for the store.
    Serialize(String),
    /// `incr`/`decr` of a key with nothing stored.
    NotFound,
    /// `incr`/`decr` of a value that is not a raw unsigned integer (set
    /// with `set_hard`): an anti-dogpiled value, or another type. The
    /// value is left as it was.
    NotACounter,
    /// A batch computation returned another number of values than it was
    /// asked for; nothing was cached.
    BatchLength {
        /// How many keys it was asked for.
        expected: usize,
        /// How many values it returned.
        got: usize,
    },
}

impl Error {
    pub(crate) fn invalid_url(url: &str, part: &str, reason: impl Into<String>) -> Error {
        Error::InvalidUrl {
            url: url.to_owned(),
            part: part.to_owned(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidUrl { url, part, reason } => {
                write!(f, "invalid cache URL {url:?}: {part}: {reason}")
            }
            Error::Store(error) => write!(f, "cache store failed: {error}"),
            Error::InvalidKey(reason) => write!(f, "invalid cache key: {reason}"),
            Error::Serialize(reason) => write!(f, "cannot serialize the value: {reason}"),
            Error::NotFound => f.write_str("no value stored under the key"),
            Error::NotACounter => f.write_str(
                "the value is not a raw unsigned integer (set one with set_hard to count it)",
            ),
            Error::BatchLength { expected, got } => write!(
                f,
                "the batch computation returned {got} values for {expected} keys"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Store(error) => Some(error),
            _ => None,
        }
    }
}

/// A store that could not do what was asked. The cache treats every store
/// error the same way (compute, return, count, trace); the kind is for
/// people reading the traces and for stores' own tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(Box<Failure>);

/// Boxed, so that a store's answer (`Result<T, StoreError>`) stays small:
/// the hit path moves it on every call, the failure is rare.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Failure {
    kind: StoreErrorKind,
    message: String,
}

/// What kind of failure a [`StoreError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// The store could not be reached (refused, closed, down).
    Unavailable,
    /// The store did not answer in time.
    Timeout,
    /// The store answered something that does not follow its protocol.
    Protocol,
    /// The value is too large for the store (served, not cached).
    TooLarge,
    /// The value could not be serialized.
    Serialize,
    /// The store does not implement this operation.
    Unsupported,
    /// Any other failure.
    Other,
}

impl StoreError {
    /// An error of `kind`, described by `message`.
    pub fn new(kind: StoreErrorKind, message: impl Into<String>) -> StoreError {
        StoreError(Box::new(Failure {
            kind,
            message: message.into(),
        }))
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> StoreErrorKind {
        self.0.kind
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "store {:?}: {}", self.0.kind, self.0.message)
    }
}

impl std::error::Error for StoreError {}
