//! What both transports share: server addresses, settings, the idle
//! connection pool, and reading one reply out of a byte stream with the
//! codec. The transports themselves only move bytes.

use std::fmt;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use super::codec::{decode_with_limit, Reply};
use crate::error::{StoreError, StoreErrorKind};

/// Where one memcached server listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerAddr {
    /// `host:port` over TCP.
    Tcp(String),
    /// A unix socket's path.
    Unix(PathBuf),
}

impl fmt::Display for ServerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerAddr::Tcp(address) => f.write_str(address),
            ServerAddr::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// The settings of a [`MemcachedStore`](super::MemcachedStore).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemcachedConfig {
    /// The servers keys are spread over (consistent hashing).
    pub servers: Vec<ServerAddr>,
    /// The longest one request (connect, send, receive) may take.
    pub timeout: Duration,
    /// Idle connections kept per server and transport.
    pub pool: usize,
    /// How long a server that failed is skipped before it is tried again.
    pub retry_after: Duration,
    /// The largest envelope sent; larger values are served but not cached
    /// (memcached's default item size limit is 1 MiB, key and header included).
    /// At most 2 MiB, the largest reply this client reads: a larger value
    /// could be written but never read back, so [`MemcachedStore::new`]
    /// refuses it.
    ///
    /// [`MemcachedStore::new`]: super::MemcachedStore::new
    pub max_value: usize,
}

impl MemcachedConfig {
    /// Defaults for `servers`: a 500 ms timeout, 8 idle connections per
    /// server, failed servers skipped for 5 s, values up to 1 MiB - 1 KiB.
    pub fn new(servers: Vec<ServerAddr>) -> MemcachedConfig {
        MemcachedConfig {
            servers,
            timeout: Duration::from_millis(500),
            pool: 8,
            retry_after: Duration::from_secs(5),
            max_value: (1 << 20) - 1024,
        }
    }
}

impl MemcachedConfig {
    /// Why `max_value` cannot be used, if it cannot.
    pub(crate) fn max_value_error(&self) -> Option<String> {
        (self.max_value > MAX_REPLY_VALUE).then(|| {
            format!(
                "at most {MAX_REPLY_VALUE} (2 MiB), the largest reply read: a larger value \
                 would be written on every call and never read back"
            )
        })
    }
}

/// Idle connections to one server.
pub(crate) struct Pool<C> {
    idle: Mutex<Vec<C>>,
    keep: usize,
}

impl<C> Pool<C> {
    pub(crate) fn new(keep: usize) -> Pool<C> {
        Pool {
            idle: Mutex::new(Vec::new()),
            keep,
        }
    }

    pub(crate) fn take(&self) -> Option<C> {
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .pop()
    }

    /// Keeps a connection that is in step (its reply fully read), if there is room.
    pub(crate) fn give_back(&self, connection: C) {
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if idle.len() < self.keep {
            idle.push(connection);
        }
    }
}

/// The largest reply we read: a value up to memcached's item limit.
pub(crate) const MAX_REPLY_VALUE: usize = 2 << 20;

/// Moves the complete replies at the front of `buffer` into `replies`, up
/// to `want` (a pipeline of `want` requests). Returns whether the exchange
/// is over: `want` replies read, or an error line, after which memcached may
/// send more lines and the connection is dropped. Bytes after the last
/// reply mean the connection is out of step.
pub(crate) fn take_replies(
    buffer: &mut Vec<u8>,
    want: usize,
    replies: &mut Vec<Reply>,
) -> Result<bool, StoreError> {
    let mut used = 0;
    let over = loop {
        if replies.len() >= want || replies.last().is_some_and(|reply| !stays_in_step(reply)) {
            break true;
        }
        match decode_with_limit(&buffer[used..], MAX_REPLY_VALUE) {
            Ok(None) => break false,
            Ok(Some((reply, length))) => {
                used += length;
                replies.push(reply);
            }
            Err(error) => return Err(protocol(&error.to_string())),
        }
    };
    buffer.drain(..used);
    if over && !buffer.is_empty() && replies.last().is_some_and(stays_in_step) {
        return Err(protocol(
            "bytes after the reply: the connection is out of step",
        ));
    }
    Ok(over)
}

/// Whether a connection may serve another request after this reply.
/// memcached can send a second line after some errors, so after any error
/// line the connection is dropped.
pub(crate) fn stays_in_step(reply: &Reply) -> bool {
    !matches!(
        reply,
        Reply::Error(_) | Reply::ClientError(_) | Reply::ServerError(_)
    )
}

pub(crate) fn protocol(message: &str) -> StoreError {
    StoreError::new(StoreErrorKind::Protocol, message)
}

pub(crate) fn io_error(server: &ServerAddr, error: &std::io::Error) -> StoreError {
    use std::io::ErrorKind;
    let kind = match error.kind() {
        ErrorKind::TimedOut | ErrorKind::WouldBlock => StoreErrorKind::Timeout,
        _ => StoreErrorKind::Unavailable,
    };
    StoreError::new(kind, format!("memcached {server}: {error}"))
}

pub(crate) fn timed_out(server: &ServerAddr, timeout: Duration) -> StoreError {
    StoreError::new(
        StoreErrorKind::Timeout,
        format!("memcached {server}: no reply within {timeout:?}"),
    )
}
