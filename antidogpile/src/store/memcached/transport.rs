//! What both transports share: server addresses, settings, the idle
//! connection pool, and reading one reply out of a byte stream with the
//! codec. The transports themselves only move bytes.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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
    /// The longest a connect may take, and one window of a pipeline (a
    /// request, or up to 64 KiB of pipelined requests, sent and answered)
    /// while its bytes move slower than 8 MiB/s; faster, the window's
    /// deadline moves on with them, so a large batch takes the time its
    /// bytes need and a peer that stalls, reading or writing, is cut off.
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

/// What both transports keep of every server: its address and its pool of
/// idle connections `C`, with the timeout of an exchange.
pub(crate) struct Servers<C> {
    addresses: Vec<ServerAddr>,
    pools: Vec<Pool<C>>,
    timeout: Duration,
}

impl<C> Servers<C> {
    pub(crate) fn new(config: &MemcachedConfig) -> Servers<C> {
        Servers {
            addresses: config.servers.clone(),
            pools: config
                .servers
                .iter()
                .map(|_| Pool::new(config.pool))
                .collect(),
            timeout: config.timeout,
        }
    }

    /// An exchange with `server`: on an idle connection of its pool when
    /// `reuse` allows and there is one ([`ServerExchange::pooled`]), else on a
    /// new one the transport opens.
    pub(crate) fn exchange(&self, server: usize, reuse: Reuse) -> ServerExchange<'_, C> {
        let pool = &self.pools[server];
        let pooled = match reuse {
            Reuse::Pooled => pool.take(),
            Reuse::Fresh => None,
        };
        ServerExchange {
            pool,
            address: &self.addresses[server],
            timeout: self.timeout,
            fresh: pooled.is_none(),
            pooled,
            answered: false,
        }
    }
}

/// One exchange of a transport with one server, from taking a connection
/// to [`settling`](ServerExchange::settle) it.
pub(crate) struct ServerExchange<'s, C> {
    pool: &'s Pool<C>,
    /// The server's address, to connect to when nothing is pooled.
    pub(crate) address: &'s ServerAddr,
    /// The deadline of each window of the exchange, and of a connect.
    pub(crate) timeout: Duration,
    fresh: bool,
    pooled: Option<C>,
    /// Set by the transport once any byte of a reply came back.
    pub(crate) answered: bool,
}

impl<C> ServerExchange<'_, C> {
    /// The idle connection taken from the pool, if any: else the
    /// transport connects to [`address`](ServerExchange::address).
    pub(crate) fn pooled(&mut self) -> Option<C> {
        self.pooled.take()
    }

    /// Settles the exchange on `connection` (see [`Pool::settle`]).
    pub(crate) fn settle(
        self,
        connection: C,
        outcome: Result<Vec<Reply>, Failed>,
    ) -> Result<Vec<Reply>, Failure> {
        self.pool.settle(
            connection,
            outcome,
            self.address,
            self.timeout,
            self.fresh,
            self.answered,
        )
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

    /// Drops every idle connection: one of them was found closed (a restart,
    /// an idle timeout, a proxy), so the others most likely are too.
    pub(crate) fn clear(&self) {
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clear();
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

    /// Settles an exchange on `connection` (from this pool unless `fresh`;
    /// `answered` once any byte of a reply came back): a connection whose
    /// replies leave it in step is given back, a failed one is dropped
    /// (never put back half-read), and the failure is classified by
    /// [`exchange_failure`].
    pub(crate) fn settle(
        &self,
        connection: C,
        outcome: Result<Vec<Reply>, Failed>,
        server: &ServerAddr,
        timeout: Duration,
        fresh: bool,
        answered: bool,
    ) -> Result<Vec<Reply>, Failure> {
        match outcome {
            Ok(replies) => {
                if replies.iter().all(stays_in_step) {
                    self.give_back(connection);
                }
                Ok(replies)
            }
            Err(failed) => {
                let (failure, clear) = exchange_failure(failed, server, timeout, fresh, answered);
                if clear {
                    self.clear();
                }
                Err(failure)
            }
        }
    }
}

/// Which connection an exchange may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reuse {
    /// An idle one from the pool if there is one, else a new one.
    Pooled,
    /// A new one (a retry after a pooled one was found closed, a health probe).
    Fresh,
}

/// How an exchange failed: what the caller needs to decide whether the
/// server is down, or the exchange worth one more try.
#[derive(Debug)]
pub(crate) enum Failure {
    /// No connection could be made: the server is down or unreachable.
    Connect(StoreError),
    /// A connection from the pool failed (closed, reset) before any byte of
    /// a reply came back: it was most likely closed while idle (memcached's
    /// `idle_timeout`, a restart, a proxy or NAT), not a sign of a dead
    /// server. Retried once on a new connection.
    Stale(StoreError),
    /// The exchange failed after it was under way: on a new connection, by
    /// a deadline, or part-way through the replies.
    Exchange {
        error: StoreError,
        /// Whether the connection was a new one.
        fresh: bool,
    },
}

/// How an exchange on one connection failed, as a transport reports it.
pub(crate) enum Failed {
    Io(std::io::Error),
    Deadline,
    Store(StoreError),
}

impl From<std::io::Error> for Failed {
    /// A socket's error; a socket timeout is the deadline passing (the
    /// tokio transport, whose deadline is a timer, maps with
    /// [`Failed::Io`] instead).
    fn from(error: std::io::Error) -> Failed {
        match error.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => Failed::Deadline,
            _ => Failed::Io(error),
        }
    }
}

/// How an exchange that `failed` on a connection to `server` is reported,
/// and whether the pool's idle connections are to be dropped (true unless
/// the connection was `fresh`). On a fresh connection, after any byte of a
/// reply (`answered`), or past the deadline, the exchange failed under way;
/// otherwise the pooled connection was most likely closed while idle
/// ([`Failure::Stale`], worth one more try on a new one).
pub(crate) fn exchange_failure(
    failed: Failed,
    server: &ServerAddr,
    timeout: Duration,
    fresh: bool,
    answered: bool,
) -> (Failure, bool) {
    let deadline_passed = matches!(failed, Failed::Deadline);
    let error = match failed {
        Failed::Io(error) => io_error(server, &error),
        Failed::Deadline => timed_out(server, timeout),
        Failed::Store(error) => error,
    };
    if fresh {
        (Failure::Exchange { error, fresh }, false)
    } else if answered || deadline_passed {
        (Failure::Exchange { error, fresh }, true)
    } else {
        (Failure::Stale(error), true)
    }
}

impl Failure {
    pub(crate) fn into_error(self) -> StoreError {
        match self {
            Failure::Connect(error) | Failure::Stale(error) => error,
            Failure::Exchange { error, .. } => error,
        }
    }
}

/// A pipeline is sent in windows of about this many bytes of requests;
/// each window's replies are read before the next is sent. A window is
/// small enough to sit in the socket buffers, so neither side ever blocks
/// writing while the other blocks writing too (a pipeline of large replies
/// sent at once can deadlock that way), and each window has a deadline of
/// its own: the time a batch may take grows with the batch.
pub(crate) const WINDOW_BYTES: usize = 64 * 1024;

/// While bytes move at least this fast (bytes a second), in either
/// direction, a window's deadline moves on with them: a large value or a
/// large window is not cut off by a timeout meant for one small request,
/// and a peer that reads or writes slower than this is cut off about
/// `timeout` after the window started.
pub(crate) const MIN_BYTES_PER_SECOND: u64 = 8 << 20;

/// The windows of a pipeline: ranges of `requests`, each at least one
/// request and at most [`WINDOW_BYTES`] unless one request alone is more.
pub(crate) fn windows(requests: &[&[u8]]) -> Vec<Range<usize>> {
    let mut windows = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (index, request) in requests.iter().enumerate() {
        if index > start && bytes + request.len() > WINDOW_BYTES {
            windows.push(start..index);
            (start, bytes) = (index, 0);
        }
        bytes += request.len();
    }
    if start < requests.len() {
        windows.push(start..requests.len());
    }
    windows
}

/// A window's deadline: `timeout` from its start, moved on by the bytes
/// that moved (see [`MIN_BYTES_PER_SECOND`]).
pub(crate) struct Deadline {
    at: Instant,
}

impl Deadline {
    pub(crate) fn after(timeout: Duration) -> Deadline {
        Deadline {
            at: Instant::now() + timeout,
        }
    }

    /// `bytes` moved: the deadline moves on by the time they may take.
    pub(crate) fn moved(&mut self, bytes: usize) {
        let nanos = (bytes as u64).saturating_mul(1_000_000_000) / MIN_BYTES_PER_SECOND;
        self.at += Duration::from_nanos(nanos);
    }

    /// What is left, or `None` once it has passed.
    pub(crate) fn remaining(&self) -> Option<Duration> {
        let left = self.at.saturating_duration_since(Instant::now());
        (!left.is_zero()).then_some(left)
    }

    /// The instant itself, for tokio's timers.
    #[cfg(feature = "tokio")]
    pub(crate) fn instant(&self) -> Instant {
        self.at
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_every_request_once_within_the_byte_budget() {
        let small = [0u8; 100];
        let large = vec![0u8; WINDOW_BYTES * 2];
        let mut requests: Vec<&[u8]> = vec![&small; 1_500];
        requests.insert(700, &large);
        let windows = windows(&requests);
        assert_eq!(windows.first().map(|w| w.start), Some(0));
        assert_eq!(windows.last().map(|w| w.end), Some(requests.len()));
        for pair in windows.windows(2) {
            assert_eq!(pair[0].end, pair[1].start, "no gap, no overlap");
        }
        for window in &windows {
            let bytes: usize = requests[window.clone()].iter().map(|r| r.len()).sum();
            assert!(!window.is_empty());
            assert!(
                bytes <= WINDOW_BYTES || window.len() == 1,
                "{window:?}: {bytes} bytes"
            );
        }
        // The large request goes alone.
        assert!(windows.contains(&(700..701)));
        assert!(super::windows(&[]).is_empty());
    }

    #[test]
    fn a_deadline_moves_on_with_the_bytes_that_move() {
        let mut deadline = Deadline::after(Duration::ZERO);
        assert!(deadline.remaining().is_none());
        deadline.moved(MIN_BYTES_PER_SECOND as usize); // one second's worth
        let left = deadline.remaining().expect("moved on");
        assert!(left > Duration::from_millis(900) && left <= Duration::from_secs(1));
    }
}
