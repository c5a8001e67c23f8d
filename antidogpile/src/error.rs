//! The errors users can match on.

use std::fmt;

/// An error from antidogpile's configuration or client operations.
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
        }
    }
}

impl std::error::Error for Error {}
