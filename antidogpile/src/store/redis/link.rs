//! Moving commands to Redis and back: a pool of blocking connections, or
//! one multiplexed tokio connection; and what a failure says about the
//! server.
//!
//! A pooled connection that fails with an I/O error may have been closed
//! while idle (a server restart, an idle timeout): the request is tried
//! once more on a new connection, and says nothing about the server. (The
//! server may have run it already: a script sent again knows the hold it
//! took by its token, see [`scripts`](super::scripts).) The server is taken
//! to be down (calls fail at once, for `retry_after`) only
//! when a new connection cannot be made.

#[cfg(feature = "redis-cluster")]
use std::sync::atomic::AtomicBool;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use redis::{Cmd, ErrorKind, Pipeline, RedisError, RedisResult, Value};

use crate::clock::Clock;
use crate::error::{StoreError, StoreErrorKind};

/// Replies of a pipeline, one per command.
pub(crate) type Replies = Vec<RedisResult<Value>>;

/// When the server was last found down, shared by both transports.
#[derive(Debug)]
pub(crate) struct Health {
    down_until: AtomicU64,
    retry_after: Duration,
}

impl Health {
    pub(crate) fn new(retry_after: Duration) -> Health {
        Health {
            down_until: AtomicU64::new(0),
            retry_after,
        }
    }

    fn now() -> u64 {
        // Server health is real time, whatever clock the cache reads.
        Clock::system().now().as_millis()
    }

    fn check(&self) -> Result<(), StoreError> {
        if Health::now() < self.down_until.load(Ordering::Relaxed) {
            return Err(StoreError::new(
                StoreErrorKind::Unavailable,
                "redis is down (a connection failed a moment ago)",
            ));
        }
        Ok(())
    }

    fn mark_down(&self) {
        let retry = u64::try_from(self.retry_after.as_millis()).unwrap_or(u64::MAX);
        self.down_until
            .store(Health::now().saturating_add(retry), Ordering::Relaxed);
    }
}

/// A redis-rs error as a store error.
pub(crate) fn store_error(error: &RedisError) -> StoreError {
    let kind = if error.is_timeout() {
        StoreErrorKind::Timeout
    } else if error.is_io_error() || error.is_connection_refusal() || error.is_connection_dropped()
    {
        StoreErrorKind::Unavailable
    } else if matches!(
        error.kind(),
        ErrorKind::Parse | ErrorKind::UnexpectedReturnType
    ) {
        StoreErrorKind::Protocol
    } else {
        StoreErrorKind::Other
    };
    StoreError::new(kind, format!("redis: {error}"))
}

/// Whether a failure on a pooled connection may be that connection's
/// alone (closed while idle), worth one more try on a new one.
fn maybe_stale(error: &RedisError) -> bool {
    !error.is_timeout() && (error.is_io_error() || error.is_connection_dropped())
}

/// A new connection that fails or times out before any reply (`silent`:
/// to a single command, or to the first of a pipeline) is a server that is
/// down or stalled: skipped for `retry_after`. (A pooled connection's
/// failure, or a batch's timeout part-way, may be that connection's or that
/// batch's alone, and says nothing.)
fn confirm_down(health: &Health, error: &RedisError, silent: bool) {
    if silent && (error.is_timeout() || error.is_io_error() || error.is_connection_dropped()) {
        health.mark_down();
    }
}

/// `cmds` as one pipeline whose replies are each command's own (an error
/// reply fails its command, not the pipeline).
fn pipeline(cmds: &[Cmd]) -> Pipeline {
    let mut pipe = redis::pipe();
    pipe.ignore_errors();
    for cmd in cmds {
        pipe.add_command(cmd.clone());
    }
    pipe
}

/// `pipe` on a blocking connection, every reply read within `timeout` in
/// all (redis-rs waits up to the socket's timeout for each reply, so that
/// a stalled server would cost a pipeline of n commands n timeouts);
/// `answered` counts the replies read.
fn query_within(
    connection: &mut redis::Connection,
    pipe: &Pipeline,
    timeout: Duration,
    answered: &mut usize,
) -> RedisResult<Replies> {
    let deadline = Instant::now() + timeout;
    connection.send_packed_command(&pipe.get_packed_pipeline())?;
    (0..pipe.len())
        .map(|_| {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(RedisError::from(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the pipeline's replies took the timeout",
                )));
            }
            connection.set_read_timeout(Some(left))?;
            let reply = connection.recv_response()?;
            *answered += 1;
            Ok(match reply {
                Value::ServerError(error) => Err(RedisError::from(error)),
                value => Ok(value),
            })
        })
        .collect()
}

/// Whether a failure is the connection's (not a reply of the server).
#[cfg(feature = "redis-cluster")]
fn transport_failure(error: &RedisError) -> bool {
    error.is_timeout()
        || error.is_io_error()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
}

/// Commands sent off the callers' path (giving back a hold a read that
/// timed out may have taken, once the server answers): each on a thread of
/// its own with a connection of its own, at most [`LateSends::MOST`] at once
/// (past that, such a hold lapses on its own).
pub(crate) struct LateSends {
    to: LateTarget,
    running: Arc<AtomicUsize>,
}

/// Where late commands go.
#[derive(Clone)]
pub(crate) enum LateTarget {
    Single(redis::Client),
    #[cfg(feature = "redis-cluster")]
    Cluster(redis::cluster::ClusterClient),
}

impl LateSends {
    const MOST: usize = 4;

    pub(crate) fn new(to: LateTarget) -> LateSends {
        LateSends {
            to,
            running: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Sends `cmds` on a thread of its own, waiting up to `within` for the
    /// server; their replies are not read by anyone.
    pub(crate) fn send(&self, cmds: Vec<Cmd>, within: Duration) {
        if self.running.fetch_add(1, Ordering::AcqRel) >= LateSends::MOST {
            self.running.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        let (to, running) = (self.to.clone(), Arc::clone(&self.running));
        let sent = std::thread::Builder::new()
            .name("antidogpile-redis-late".to_owned())
            .spawn(move || {
                let _ = match to {
                    LateTarget::Single(client) => client
                        .get_connection_with_timeout(within)
                        .and_then(|mut connection| {
                            query_within(&mut connection, &pipeline(&cmds), within, &mut 0)
                        }),
                    #[cfg(feature = "redis-cluster")]
                    LateTarget::Cluster(client) => client.get_connection().map(|mut connection| {
                        cmds.iter()
                            .map(|cmd| cmd.query::<Value>(&mut connection))
                            .collect()
                    }),
                };
                running.fetch_sub(1, Ordering::AcqRel);
            });
        if sent.is_err() {
            self.running.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Connections of one kind: at most `size` of them, in use or idle. A
/// caller that finds every one in use waits for one (up to the timeout)
/// rather than making a connection of its own, which would cost a connect
/// per call whenever more threads call than the pool holds.
struct Pool<C> {
    slots: Mutex<Slots<C>>,
    /// Signalled when a turn ends.
    freed: Condvar,
    size: usize,
    timeout: Duration,
}

/// The pool's idle connections, and how many are in use.
struct Slots<C> {
    idle: Vec<C>,
    in_use: usize,
}

/// One caller's use of a pool slot: the connection it keeps goes back to
/// the pool (one in step: its reply fully read), and the slot is freed,
/// when the turn ends.
struct Turn<'p, C> {
    pool: &'p Pool<C>,
    keep: Option<C>,
}

impl<C> Drop for Turn<'_, C> {
    fn drop(&mut self) {
        let mut slots = self
            .pool
            .slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        slots.in_use = slots.in_use.saturating_sub(1);
        if let Some(connection) = self.keep.take() {
            slots.idle.push(connection);
        }
        drop(slots);
        self.pool.freed.notify_one();
    }
}

impl<C> Pool<C> {
    fn new(size: usize, timeout: Duration) -> Pool<C> {
        Pool {
            slots: Mutex::new(Slots {
                idle: Vec::new(),
                in_use: 0,
            }),
            freed: Condvar::new(),
            size: size.max(1),
            timeout,
        }
    }

    /// A slot, with an idle connection if there is one (else the caller
    /// connects); waits up to the timeout while every slot is in use.
    fn turn(&self) -> Result<(Turn<'_, C>, Option<C>), StoreError> {
        let deadline = Instant::now() + self.timeout;
        let mut slots = self
            .slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        loop {
            if let Some(connection) = slots.idle.pop() {
                slots.in_use += 1;
                return Ok((self.taken(), Some(connection)));
            }
            if slots.in_use < self.size {
                slots.in_use += 1;
                return Ok((self.taken(), None));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(StoreError::new(
                    StoreErrorKind::Timeout,
                    format!(
                        "every one of the pool's {} redis connections stayed busy for the timeout",
                        self.size
                    ),
                ));
            }
            slots = self
                .freed
                .wait_timeout(slots, left)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
    }

    fn taken(&self) -> Turn<'_, C> {
        Turn {
            pool: self,
            keep: None,
        }
    }
}

/// Blocking connections, pooled.
pub(crate) struct Blocking {
    client: redis::Client,
    pool: Pool<redis::Connection>,
    timeout: Duration,
}

impl Blocking {
    pub(crate) fn new(client: redis::Client, size: usize, timeout: Duration) -> Blocking {
        Blocking {
            client,
            pool: Pool::new(size, timeout),
            timeout,
        }
    }

    fn connect(&self, health: &Health) -> Result<redis::Connection, StoreError> {
        let connected = self
            .client
            .get_connection_with_timeout(self.timeout)
            .and_then(|connection| {
                connection.set_read_timeout(Some(self.timeout))?;
                connection.set_write_timeout(Some(self.timeout))?;
                Ok(connection)
            });
        connected.map_err(|error| {
            if error.kind() != ErrorKind::AuthenticationFailed {
                health.mark_down();
            }
            store_error(&error)
        })
    }

    pub(crate) fn exchange(&self, health: &Health, cmds: &[Cmd]) -> Result<Replies, StoreError> {
        health.check()?;
        let pipe = &pipeline(cmds);
        let (mut turn, pooled) = self.pool.turn()?;
        if let Some(mut connection) = pooled {
            match query_within(&mut connection, pipe, self.timeout, &mut 0) {
                Ok(replies) => {
                    turn.keep = Some(connection);
                    return Ok(replies);
                }
                Err(error) if maybe_stale(&error) => {}
                // A connection whose reply is late or garbled is dropped:
                // its next reply could be this one's.
                Err(error) => return Err(store_error(&error)),
            }
        }
        let mut connection = self.connect(health)?;
        let mut answered = 0;
        let replies = query_within(&mut connection, pipe, self.timeout, &mut answered);
        let replies = replies.map_err(|error| {
            confirm_down(health, &error, answered == 0);
            store_error(&error)
        })?;
        turn.keep = Some(connection);
        Ok(replies)
    }
}

/// The connection every task of an async transport shares (cloned for each
/// request: redis-rs multiplexes it), or none until it is made again.
#[cfg(feature = "tokio")]
struct Shared<C>(Mutex<Option<C>>);

#[cfg(feature = "tokio")]
impl<C: Clone> Shared<C> {
    fn new() -> Shared<C> {
        Shared(Mutex::new(None))
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<C>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn get(&self) -> Option<C> {
        self.slot().clone()
    }

    fn set(&self, connection: C) {
        *self.slot() = Some(connection);
    }

    /// A failed connection is replaced for every task, not only its own.
    fn clear(&self) {
        *self.slot() = None;
    }
}

/// One multiplexed connection for every task, made again after it fails.
#[cfg(feature = "tokio")]
pub(crate) struct Tokio {
    client: redis::Client,
    shared: Shared<redis::aio::MultiplexedConnection>,
    timeout: Duration,
}

#[cfg(feature = "tokio")]
impl Tokio {
    pub(crate) fn new(client: redis::Client, timeout: Duration) -> Tokio {
        Tokio {
            client,
            shared: Shared::new(),
            timeout,
        }
    }

    async fn connect(
        &self,
        health: &Health,
    ) -> Result<redis::aio::MultiplexedConnection, StoreError> {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        let connecting = self
            .client
            .get_multiplexed_async_connection_with_config(&config);
        let connected = match tokio::time::timeout(self.timeout, connecting).await {
            Ok(connected) => connected.map_err(|error| {
                if error.kind() != ErrorKind::AuthenticationFailed {
                    health.mark_down();
                }
                store_error(&error)
            }),
            Err(_) => {
                health.mark_down();
                Err(StoreError::new(
                    StoreErrorKind::Timeout,
                    "redis: no connection within the timeout",
                ))
            }
        }?;
        self.shared.set(connected.clone());
        Ok(connected)
    }

    async fn query(
        &self,
        connection: &mut redis::aio::MultiplexedConnection,
        pipe: &Pipeline,
    ) -> Result<Replies, RedisError> {
        match tokio::time::timeout(self.timeout, pipe.query_async::<Replies>(connection)).await {
            Ok(replies) => replies,
            Err(_) => Err(RedisError::from(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "no reply within the timeout",
            ))),
        }
    }

    pub(crate) async fn exchange(
        &self,
        health: &Health,
        cmds: &[Cmd],
    ) -> Result<Replies, StoreError> {
        health.check()?;
        let pipe = &pipeline(cmds);
        let shared = self.shared.get();
        if let Some(mut connection) = shared {
            match self.query(&mut connection, pipe).await {
                Ok(replies) => return Ok(replies),
                Err(error) => {
                    // The connection is shared: a failed one is replaced
                    // for every task, not only this one.
                    self.shared.clear();
                    if !maybe_stale(&error) {
                        return Err(store_error(&error));
                    }
                }
            }
        }
        let mut connection = self.connect(health).await?;
        self.query(&mut connection, pipe).await.map_err(|error| {
            self.shared.clear();
            // Replies come in full or not at all: only a single command's
            // says the server is silent.
            confirm_down(health, &error, pipe.len() == 1);
            store_error(&error)
        })
    }
}

/// Blocking connections to a Redis Cluster (each one to every node it
/// needs), pooled like a single server's. Each command goes to the node
/// that owns its key's slot: a batch as one pipeline per node (read within
/// the timeout), a single command (or a batch the pipeline could not answer
/// command by command: a server error, a node down) one at a time, redis-rs
/// following MOVED and ASK, so that a node down fails its own keys only.
#[cfg(feature = "redis-cluster")]
pub(crate) struct ClusterBlocking {
    client: redis::cluster::ClusterClient,
    pool: Pool<redis::cluster::ClusterConnection>,
    /// Helper threads reading pipelines, their callers waiting or gone.
    helpers: Arc<AtomicUsize>,
}

#[cfg(feature = "redis-cluster")]
impl ClusterBlocking {
    pub(crate) fn new(
        client: redis::cluster::ClusterClient,
        size: usize,
        timeout: Duration,
    ) -> ClusterBlocking {
        ClusterBlocking {
            client,
            pool: Pool::new(size, timeout),
            helpers: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn connect(&self, health: &Health) -> Result<redis::cluster::ClusterConnection, StoreError> {
        self.client.get_connection().map_err(|error| {
            if error.kind() != ErrorKind::AuthenticationFailed {
                health.mark_down();
            }
            store_error(&error)
        })
    }

    pub(crate) fn exchange(&self, health: &Health, cmds: &[Cmd]) -> Result<Replies, StoreError> {
        health.check()?;
        if cmds.is_empty() {
            return Ok(Vec::new());
        }
        let started = Instant::now();
        let (mut turn, pooled) = self.pool.turn()?;
        let mut connection = match pooled {
            Some(connection) => connection,
            None => self.connect(health)?,
        };
        if cmds.len() == 1 {
            let reply = cmds[0].query::<Value>(&mut connection);
            match reply {
                // A timeout is kept: it is one node's (redis-rs skips the
                // late reply when it comes), and a new connection would
                // cost the caller the stalled node's timeout again.
                Err(error) if transport_failure(&error) && !error.is_timeout() => {
                    return Err(store_error(&error))
                }
                reply => {
                    turn.keep = Some(connection);
                    return Ok(vec![reply]);
                }
            }
        }
        let (answer, returned) = self.pipelined(connection, cmds, started)?;
        connection = returned;
        match answer {
            Ok(values) if values.len() == cmds.len() => {
                turn.keep = Some(connection);
                return Ok(values.into_iter().map(Ok).collect());
            }
            // A node down, stalled or gone: the connection is dropped (a
            // late reply could be read as the next command's), and the
            // batch sent again one command at a time on a new one, so that
            // only that node's commands fail (while time is left).
            Err(error) if transport_failure(&error) => {
                drop(connection);
                if started.elapsed() >= self.pool.timeout {
                    return Err(store_error(&error));
                }
                connection = self.connect(health)?;
            }
            // A server error for any command (a missing script, a slot
            // moved, a cluster failing over) fails the whole pipeline and
            // drops the other commands' replies; a command the cluster
            // pipeline cannot route (SCRIPT LOAD) fails it before anything
            // is sent. The batch is then sent again one command at a time,
            // each with its own reply. Those that had run run twice: a
            // script sent again knows the hold it took by its token.
            Ok(_) | Err(_) => {}
        }
        let (replies, sound) = self.one_at_a_time(&mut connection, cmds, started);
        if sound {
            turn.keep = Some(connection);
        }
        Ok(replies)
    }

    /// `cmds` as one pipeline per node, read by a helper thread so that the
    /// caller waits no longer than the timeout (since `started`): redis-rs
    /// reads a stalled node's replies one by one, each up to the timeout.
    /// The answer and the connection back; or a timeout error, the helper
    /// left to finish and drop the connection. At most twice as many helpers
    /// as the pool holds connections: one per caller with a turn, and as
    /// many left behind; past that (a stalled cluster), a batch fails at once.
    #[allow(clippy::type_complexity)]
    fn pipelined(
        &self,
        mut connection: redis::cluster::ClusterConnection,
        cmds: &[Cmd],
        started: Instant,
    ) -> Result<(RedisResult<Vec<Value>>, redis::cluster::ClusterConnection), StoreError> {
        let late = || {
            StoreError::new(
                StoreErrorKind::Timeout,
                "redis cluster: a batch got no reply within the timeout",
            )
        };
        if self.helpers.fetch_add(1, Ordering::AcqRel) >= 2 * self.pool.size {
            self.helpers.fetch_sub(1, Ordering::AcqRel);
            return Err(late());
        }
        let pipe = per_node_pipelines(cmds);
        let (sender, receiver) = std::sync::mpsc::sync_channel(1);
        let helpers = Arc::clone(&self.helpers);
        let helper = std::thread::Builder::new()
            .name("antidogpile-redis-cluster-batch".to_owned())
            .spawn(move || {
                let answer = pipe.query::<Vec<Value>>(&mut connection);
                // Unread (and the connection dropped) if the caller gave up.
                let _ = sender.send((answer, connection));
                helpers.fetch_sub(1, Ordering::AcqRel);
            });
        if helper.is_err() {
            self.helpers.fetch_sub(1, Ordering::AcqRel);
            return Err(StoreError::new(
                StoreErrorKind::Other,
                "redis cluster: no thread to read a batch's replies",
            ));
        }
        let left = self.pool.timeout.saturating_sub(started.elapsed());
        receiver.recv_timeout(left).map_err(|_| late())
    }

    /// Each of `cmds` on its own, its reply or its error; and whether the
    /// connection is still sound. A command that fails in transport fails
    /// alone: the connection is made again for the next (redis-rs may keep
    /// a socket whose reply is late), and if that fails, so do the commands
    /// left. Once the batch has taken the timeout since `started`, the
    /// commands left are not sent and fail with a timeout: a stalled node
    /// costs a batch about what it costs a single command, not once per key.
    fn one_at_a_time(
        &self,
        connection: &mut redis::cluster::ClusterConnection,
        cmds: &[Cmd],
        started: Instant,
    ) -> (Replies, bool) {
        let mut replies = Vec::with_capacity(cmds.len());
        let mut sound = true;
        for cmd in cmds {
            if started.elapsed() >= self.pool.timeout {
                replies.push(Err(RedisError::from(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "not sent: the batch took the timeout",
                ))));
                continue;
            }
            let reply = cmd.query::<Value>(connection);
            let failed = matches!(&reply, Err(error) if transport_failure(error));
            replies.push(reply);
            if failed {
                if started.elapsed() >= self.pool.timeout {
                    // Nothing more is sent (the commands left time out).
                    sound = false;
                    continue;
                }
                // Not marked down: the other nodes may answer.
                match self.client.get_connection() {
                    Ok(fresh) => *connection = fresh,
                    Err(error) => {
                        let left = cmds.len() - replies.len();
                        replies.extend((0..left).map(|_| Err(error.clone())));
                        return (replies, false);
                    }
                }
            }
        }
        (replies, sound)
    }
}

/// `cmds` as one cluster pipeline: redis-rs groups them by the node that
/// owns each key's slot and sends each node its commands in one write, then
/// reads the replies in order.
#[cfg(feature = "redis-cluster")]
fn per_node_pipelines(cmds: &[Cmd]) -> redis::cluster::ClusterPipeline {
    let mut pipe = redis::cluster::ClusterPipeline::with_capacity(cmds.len());
    for cmd in cmds {
        pipe.add_command(cmd.clone());
    }
    pipe
}

/// One async connection to a Redis Cluster for every task (redis-rs keeps
/// one multiplexed connection per node under it), made again in the
/// background after a command failed in transport.
#[cfg(feature = "redis-cluster")]
pub(crate) struct ClusterTokio {
    client: redis::cluster::ClusterClient,
    shared: Arc<Shared<redis::cluster_async::ClusterConnection>>,
    timeout: Duration,
    /// Set while a new connection is made in the background.
    renewing: Arc<AtomicBool>,
}

#[cfg(feature = "redis-cluster")]
impl ClusterTokio {
    pub(crate) fn new(client: redis::cluster::ClusterClient, timeout: Duration) -> ClusterTokio {
        ClusterTokio {
            client,
            shared: Arc::new(Shared::new()),
            timeout,
            renewing: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Makes a new connection on a task of its own and shares it once made,
    /// the one in use shared meanwhile: no caller waits for it, and none
    /// takes the cluster for down if it cannot be made (a node stalled).
    fn renew_in_background(&self) {
        if self.renewing.swap(true, Ordering::AcqRel) {
            return;
        }
        let (client, shared) = (self.client.clone(), Arc::clone(&self.shared));
        let (renewing, timeout) = (Arc::clone(&self.renewing), self.timeout);
        tokio::spawn(async move {
            let connecting = client.get_async_connection();
            if let Ok(Ok(connection)) = tokio::time::timeout(timeout, connecting).await {
                shared.set(connection);
            }
            renewing.store(false, Ordering::Release);
        });
    }

    pub(crate) async fn exchange(
        &self,
        health: &Health,
        cmds: &[Cmd],
    ) -> Result<Replies, StoreError> {
        health.check()?;
        // A connection being made anew is waited for (up to the timeout):
        // the one in use may be stuck.
        let renewing = Instant::now();
        while self.renewing.load(Ordering::Acquire) && renewing.elapsed() < self.timeout {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let shared = self.shared.get();
        let connection = match shared {
            Some(connection) => connection,
            None => {
                let connecting = self.client.get_async_connection();
                let connected = match tokio::time::timeout(self.timeout, connecting).await {
                    Ok(Ok(connection)) => connection,
                    Ok(Err(error)) => {
                        if error.kind() != ErrorKind::AuthenticationFailed {
                            health.mark_down();
                        }
                        return Err(store_error(&error));
                    }
                    Err(_) => {
                        health.mark_down();
                        return Err(StoreError::new(
                            StoreErrorKind::Timeout,
                            "redis cluster: no connection within the timeout",
                        ));
                    }
                };
                self.shared.set(connected.clone());
                connected
            }
        };
        // All at once: redis-rs multiplexes them over its connection to
        // each node, so a batch costs about one round trip per node.
        let timeout = self.timeout;
        let tasks: Vec<_> = cmds
            .iter()
            .map(|cmd| {
                let (cmd, mut connection) = (cmd.clone(), connection.clone());
                tokio::spawn(async move {
                    let reply =
                        tokio::time::timeout(timeout, cmd.query_async::<Value>(&mut connection));
                    reply.await.unwrap_or_else(|_| {
                        Err(RedisError::from(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "no reply within the timeout",
                        )))
                    })
                })
            })
            .collect();
        // A command that fails in transport (its node down or stalled)
        // fails alone: the others' replies stand, so that a dead master
        // costs a batch its own keys, not all of them; if every command
        // failed, the batch does.
        let mut replies = Vec::with_capacity(cmds.len());
        let mut failures = 0;
        for task in tasks {
            let reply = task.await.unwrap_or_else(|_| {
                Err(RedisError::from(std::io::Error::other(
                    "a redis cluster request's task ended early",
                )))
            });
            if matches!(&reply, Err(error) if transport_failure(error)) {
                failures += 1;
            }
            replies.push(reply);
        }
        // A failed node may have left the connection stuck (as redis-rs's
        // can be after a node died): a new one is made, in the background,
        // the one in use kept meanwhile. On a caller's path, making it
        // needs every node, a stalled one too, and took the whole cluster
        // for down when that one timed out.
        if failures > 0 {
            self.renew_in_background();
        }
        if failures == cmds.len() {
            if let Some(Err(error)) = replies.into_iter().next() {
                return Err(store_error(&error));
            }
            return Err(StoreError::new(
                StoreErrorKind::Unavailable,
                "redis cluster: no command of a batch was answered",
            ));
        }
        Ok(replies)
    }
}
