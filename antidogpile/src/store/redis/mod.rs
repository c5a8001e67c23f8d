//! [`RedisStore`]: one cache shared by every process and server, on Redis
//! (or Valkey), with one recompute per expiry across all of them.
//!
//! Layers: the store (this file) maps the [`Store`](super::Store) trait onto Lua scripts
//! ([`scripts`], one round trip and atomic each), sent over either
//! transport ([`link`]: blocking connections or a tokio one) as a
//! pipeline; the `*_many` operations send one pipeline for the batch.

mod hints;
mod link;
mod scripts;
mod tls;

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::{Cmd, Value};

use self::hints::FreshHints;
#[cfg(feature = "tokio")]
use self::link::Tokio;
use self::link::{store_error, Blocking, Health, LateSends, LateTarget, Replies};
#[cfg(feature = "redis-cluster")]
use self::link::{ClusterBlocking, ClusterTokio};
use self::scripts::Op;
use super::{
    ClaimId, Counted, Delta, Found, Hold, LeaseId, ReadFor, Renew, Stored, Version, Wait, Write,
};
use crate::clock::Timestamp;
use crate::envelope;
use crate::error::{Error, StoreError, StoreErrorKind};
use crate::key::Key;
use crate::policy::{Deadlines, EntryMeta};

/// Where the Redis server listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RedisAddr {
    /// A host name or IP address, and a port.
    Tcp {
        /// Host name or IP address.
        host: String,
        /// Port (6379 by default).
        port: u16,
    },
    /// The path of a unix socket.
    Unix(PathBuf),
    /// Some nodes of a Redis Cluster, as `(host, port)`: the cluster's own
    /// map of slots decides where each key lives (the `redis-cluster`
    /// feature; the database is then 0).
    Cluster(Vec<(String, u16)>),
}

/// How to reach Redis, and the store's settings.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// The server.
    pub addr: RedisAddr,
    /// The database number (`SELECT`), 0 by default.
    pub db: i64,
    /// ACL user name, if any.
    pub username: Option<String>,
    /// Password, if any.
    pub password: Option<String>,
    /// How long connecting, and each request, may take (250 ms by default).
    pub timeout: Duration,
    /// How many idle blocking connections are kept for reuse (8 by default).
    pub pool: usize,
    /// How long the server is skipped after a connection to it failed (1 s by default).
    pub retry_after: Duration,
    /// Put before every key, so that applications can share a database
    /// (empty by default).
    pub prefix: Vec<u8>,
    /// Values (with their envelope) larger than this are served but not
    /// cached (1 MiB by default).
    pub max_value: usize,
    /// TLS (`rediss://`), or `None` for plain TCP (the default). Needs the
    /// `redis-tls` feature; not for a unix socket.
    pub tls: Option<RedisTls>,
}

/// How a `rediss://` connection verifies the server (the `redis-tls`
/// feature): its certificate must chain to a trusted root and name the host
/// connected to. There is no way to skip the verification.
///
/// ```no_run
/// # #[cfg(feature = "redis-tls")] {
/// use antidogpile::store::{RedisAddr, RedisConfig, RedisStore, RedisTls};
///
/// let mut config = RedisConfig::new(RedisAddr::Tcp { host: "cache.internal".into(), port: 6380 });
/// config.tls = Some(RedisTls { ca: Some("/etc/redis/ca.pem".into()) });
/// let store = RedisStore::new(config)?;
/// # }
/// # Ok::<(), antidogpile::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RedisTls {
    /// A PEM file of the certificate authorities to trust instead of the
    /// system's roots (a private CA), read when the store is made; `None`:
    /// the system's roots (read from its certificate files, no system
    /// library).
    pub ca: Option<PathBuf>,
}

impl RedisConfig {
    /// The defaults, for `addr`.
    pub fn new(addr: RedisAddr) -> RedisConfig {
        RedisConfig {
            addr,
            db: 0,
            username: None,
            password: None,
            timeout: Duration::from_millis(250),
            pool: 8,
            retry_after: Duration::from_secs(1),
            prefix: Vec::new(),
            max_value: 1 << 20,
            tls: None,
        }
    }

    fn client(&self) -> Result<redis::Client, Error> {
        let addr = match &self.addr {
            RedisAddr::Tcp { host, port } if self.tls.is_some() => tls::addr(host, *port)?,
            RedisAddr::Tcp { host, port } => redis::ConnectionAddr::Tcp(host.clone(), *port),
            RedisAddr::Unix(_) if self.tls.is_some() => {
                return Err(Error::invalid_url(
                    "redis+unix://",
                    "scheme",
                    "TLS is for TCP connections, not a unix socket",
                ))
            }
            RedisAddr::Unix(path) => redis::ConnectionAddr::Unix(path.clone()),
            RedisAddr::Cluster(_) => {
                return Err(Error::invalid_url(
                    "redis+cluster://",
                    "host",
                    "a cluster is not one server",
                ))
            }
        };
        // No `CLIENT SETINFO` after connecting: its replies are read one by
        // one, each up to the timeout, so that a stalled server cost a new
        // blocking connection two timeouts before its first command.
        let mut settings = redis::RedisConnectionInfo::default()
            .set_db(self.db)
            .set_skip_set_lib_name();
        if let Some(username) = &self.username {
            settings = settings.set_username(username);
        }
        if let Some(password) = &self.password {
            settings = settings.set_password(password);
        }
        let info = redis::IntoConnectionInfo::into_connection_info(addr)
            .map_err(|error| Error::invalid_url("redis://", "host", error.to_string()))?
            .set_redis_settings(settings);
        match &self.tls {
            Some(settings) => tls::client(info, settings),
            None => redis::Client::open(info)
                .map_err(|error| Error::invalid_url("redis://", "host", error.to_string())),
        }
    }
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("addr", &self.addr)
            .field("db", &self.db)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("timeout", &self.timeout)
            .field("pool", &self.pool)
            .field("retry_after", &self.retry_after)
            .field("prefix", &String::from_utf8_lossy(&self.prefix))
            .field("max_value", &self.max_value)
            .field("tls", &self.tls)
            .finish()
    }
}

/// A store on a Redis (or Valkey) server, 6.2 or later.
///
/// Each key is a hash holding the value's envelope, its deadlines and a
/// token; every step that must be atomic across processes (a claim, a
/// lease, a held write, a renewal, a soft delete) is one Lua script, one
/// round trip. A read for use takes the claim or the lease it finds free
/// in the same script ([`Store::reads_take_holds`](super::Store::reads_take_holds)); a key this process
/// last saw fresh is read with a plain `HMGET` instead, the script
/// following only if it is no longer fresh. Raw values (hard sets)
/// are plain strings, readable by any client. A server that is down, slow
/// or restarted makes calls slower (they compute, within the timeout),
/// never wrong.
///
/// ```no_run
/// use antidogpile::Cache;
///
/// let cache = Cache::from_url("redis://10.0.0.1:6379/2?timeout=250ms&prefix=shop:")?;
/// antidogpile::install(cache);
/// # Ok::<(), antidogpile::Error>(())
/// ```
pub struct RedisStore {
    config: RedisConfig,
    health: Health,
    transports: Transports,
    late: LateSends,
    tokens: Tokens,
    hints: FreshHints,
}

/// How the store reaches Redis: one server, or a cluster.
enum Transports {
    Single {
        blocking: Blocking,
        #[cfg(feature = "tokio")]
        nonblocking: Tokio,
    },
    #[cfg(feature = "redis-cluster")]
    Cluster {
        blocking: ClusterBlocking,
        nonblocking: ClusterTokio,
    },
}

#[cfg(feature = "redis-cluster")]
fn cluster_client(
    config: &RedisConfig,
    nodes: &[(String, u16)],
) -> Result<redis::cluster::ClusterClient, Error> {
    if nodes.is_empty() {
        return Err(Error::invalid_url(
            "redis+cluster://",
            "host",
            "at least one node is needed",
        ));
    }
    let nodes: Vec<redis::ConnectionInfo> = nodes
        .iter()
        .map(|(host, port)| {
            let addr = match config.tls {
                Some(_) => tls::addr(host, *port)?,
                None => redis::ConnectionAddr::Tcp(host.clone(), *port),
            };
            redis::IntoConnectionInfo::into_connection_info(addr)
                .map_err(|error| Error::invalid_url("redis+cluster://", "host", error.to_string()))
        })
        .collect::<Result<_, _>>()?;
    // Few, short retries: a failing node costs a call one timeout or so,
    // and the call computes (redis-rs's default is 16 retries, seconds).
    let mut builder = redis::cluster::ClusterClient::builder(nodes)
        .connection_timeout(config.timeout)
        .response_timeout(config.timeout)
        .retries(1)
        .min_retry_wait(10)
        .max_retry_wait(50);
    if let Some(username) = &config.username {
        builder = builder.username(username);
    }
    if let Some(password) = &config.password {
        builder = builder.password(password);
    }
    if let Some(settings) = &config.tls {
        builder = tls::cluster(builder, settings)?;
    }
    builder
        .build()
        .map_err(|error| Error::invalid_url("redis+cluster://", "host", error.to_string()))
}

impl RedisStore {
    /// A store on the server of `config`. It connects at its first use.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidUrl`] if the address cannot be used.
    pub fn new(config: RedisConfig) -> Result<RedisStore, Error> {
        let late;
        let transports = match &config.addr {
            #[cfg(feature = "redis-cluster")]
            RedisAddr::Cluster(nodes) => {
                let client = cluster_client(&config, nodes)?;
                late = LateTarget::Cluster(client.clone());
                Transports::Cluster {
                    blocking: ClusterBlocking::new(client.clone(), config.pool, config.timeout),
                    nonblocking: ClusterTokio::new(client, config.timeout),
                }
            }
            #[cfg(not(feature = "redis-cluster"))]
            RedisAddr::Cluster(_) => {
                return Err(Error::invalid_url(
                    "redis+cluster://",
                    "scheme",
                    "a Redis Cluster needs antidogpile's `redis-cluster` feature",
                ))
            }
            _ => {
                let client = config.client()?;
                late = LateTarget::Single(client.clone());
                Transports::Single {
                    blocking: Blocking::new(client.clone(), config.pool, config.timeout),
                    #[cfg(feature = "tokio")]
                    nonblocking: Tokio::new(client, config.timeout),
                }
            }
        };
        Ok(RedisStore {
            health: Health::new(config.retry_after),
            transports,
            late: LateSends::new(late),
            tokens: Tokens::new(),
            hints: FreshHints::new(),
            config,
        })
    }

    /// The settings it was made with.
    pub fn config(&self) -> &RedisConfig {
        &self.config
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Tokens that tell one write, claim or lease from another: random, so
/// that no two processes draw the same one.
struct Tokens {
    seed: u64,
    next: AtomicU64,
}

impl Tokens {
    fn new() -> Tokens {
        let time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos() as u64);
        let here = &time as *const u64 as u64;
        Tokens {
            seed: time ^ (u64::from(std::process::id()) << 32) ^ here.rotate_left(17),
            next: AtomicU64::new(1),
        }
    }

    /// splitmix64 of the seed plus a counter: distinct within a process,
    /// and random across processes.
    fn draw(&self) -> u64 {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut z = self
            .seed
            .wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)).max(1)
    }
}

/// A transport, chosen by how the caller waits.
#[derive(Clone, Copy)]
enum Link<'s> {
    Blocking(&'s Blocking),
    #[cfg(feature = "tokio")]
    Tokio(&'s Tokio),
    #[cfg(feature = "redis-cluster")]
    ClusterBlocking(&'s ClusterBlocking),
    #[cfg(feature = "redis-cluster")]
    ClusterTokio(&'s ClusterTokio),
}

fn protocol(message: impl Into<String>) -> StoreError {
    StoreError::new(StoreErrorKind::Protocol, message)
}

fn bytes(value: &Value) -> Option<&[u8]> {
    match value {
        Value::BulkString(bytes) => Some(bytes),
        Value::SimpleString(text) => Some(text.as_bytes()),
        _ => None,
    }
}

fn decimal(value: &Value) -> Option<u64> {
    match value {
        Value::Int(n) => u64::try_from(*n).ok(),
        _ => std::str::from_utf8(bytes(value)?).ok()?.parse().ok(),
    }
}

/// A token answered by a script (nil: none).
fn token(value: Value) -> Result<Option<u64>, StoreError> {
    match value {
        Value::Nil => Ok(None),
        other => decimal(&other)
            .map(Some)
            .ok_or_else(|| protocol(format!("redis answered {other:?} for a token"))),
    }
}

fn flag(value: Value) -> Result<bool, StoreError> {
    match value {
        Value::Int(n) => Ok(n == 1),
        other => Err(protocol(format!("redis answered {other:?} for a flag"))),
    }
}

fn ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// What a read script answered to a read for `purpose`, and the hold it
/// took. A reply of any other shape is a protocol error (the caller
/// computes), never "nothing, and nothing taken": that reads as another
/// process's lease, which the caller would wait the grace for.
fn found_of(value: Value, purpose: ReadFor) -> Result<(Option<Found>, Option<Hold>), StoreError> {
    let unknown = |value: &Value| protocol(format!("redis answered {value:?} to a read"));
    let Value::Array(parts) = &value else {
        return Err(unknown(&value));
    };
    let field = |at: usize| parts.get(at).and_then(decimal);
    let taking = matches!(purpose, ReadFor::Use { .. });
    Ok(match parts.first().and_then(bytes) {
        Some(b"raw") => {
            let Some(raw) = parts.get(1).and_then(bytes) else {
                return Err(unknown(&value));
            };
            let found = Found::Entry {
                meta: super::RAW_META,
                version: Version(0),
                value: Stored::Raw(raw.to_vec()),
            };
            (Some(found), None)
        }
        Some(b"leased") => (Some(Found::Leased), None),
        // Only a read that takes holds takes a lease, or finds nothing.
        Some(b"lease") if taking => match field(1) {
            Some(id) => (None, Some(Hold::Lease(LeaseId(id)))),
            None => return Err(unknown(&value)),
        },
        Some(b"none") if !taking => (None, None),
        Some(tag @ (b"entry" | b"claimed")) => {
            let sealed = parts.get(1).and_then(bytes).unwrap_or_default();
            let (Some(soft), Some(claimed), Some(token)) = (field(2), field(3), field(4)) else {
                return Err(protocol("redis answered an entry without its fields"));
            };
            let hold = (tag == b"claimed").then_some(Hold::Claim(ClaimId(token)));
            (Some(entry_found(sealed, soft, claimed, token)), hold)
        }
        _ => return Err(unknown(&value)),
    })
}

/// An entry as read: its sealed envelope, soft deadline, claim end and token.
fn entry_found(sealed: &[u8], soft: u64, claimed: u64, token: u64) -> Found {
    // An envelope this version cannot open (another format) is a stale
    // value that decodes to nothing: recomputed and overwritten.
    let (soft, payload) = match envelope::open(sealed) {
        Ok((_, payload)) => (soft, payload.to_vec()),
        Err(_) => (0, Vec::new()),
    };
    Found::Entry {
        meta: EntryMeta {
            soft_deadline: Timestamp::from_millis(soft),
            claimed_until: Timestamp::from_millis(claimed),
        },
        version: Version(token),
        value: Stored::Bytes(payload),
    }
}

/// A fresh entry from the fields `HMGET e t s c h l` answered: `None` if
/// they are not an entry that is fresh at `now` (then the read script
/// decides, and takes a hold if it must).
fn fresh_entry(fields: &Value, now: Timestamp) -> Option<Found> {
    let Value::Array(fields) = fields else {
        return None;
    };
    let [sealed, token, soft, claimed, hard, lease] = fields.as_slice() else {
        return None;
    };
    if *lease != Value::Nil {
        return None;
    }
    let now = now.as_millis();
    let (soft, hard) = (decimal(soft)?, decimal(hard)?);
    if soft <= now || hard <= now {
        return None;
    }
    let sealed = bytes(sealed)?;
    let token = std::str::from_utf8(bytes(token)?).ok()?.parse().ok()?;
    Some(entry_found(sealed, soft, decimal(claimed)?, token))
}

/// The operations over one transport.
struct Ops<'s> {
    link: Link<'s>,
    health: &'s Health,
    late: &'s LateSends,
    config: &'s RedisConfig,
    tokens: &'s Tokens,
    hints: &'s FreshHints,
}

impl Ops<'_> {
    fn key(&self, key: &Key) -> Vec<u8> {
        let mut name = self.config.prefix.clone();
        name.extend_from_slice(key.namespace().as_bytes());
        name.extend_from_slice(
            format!(":{}:{:032x}", key.version(), key.fingerprint().as_u128()).as_bytes(),
        );
        name
    }

    /// `EVALSHA` of `op` on `key`; its arguments follow.
    fn script(&self, op: Op, key: &Key) -> Cmd {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(scripts::sha(op)).arg(1).arg(self.key(key));
        cmd
    }

    /// The arguments of the scripts' `put`: an envelope or a raw value.
    fn put_args(
        &self,
        cmd: &mut Cmd,
        value: Stored,
        deadlines: Deadlines,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let (mode, data) = match value {
            Stored::Bytes(payload) => ("e", envelope::seal(deadlines, &payload)),
            Stored::Raw(bytes) => ("r", bytes),
            Stored::Object(_) => {
                return Err(StoreError::new(
                    StoreErrorKind::Other,
                    "redis keeps bytes, not objects",
                ))
            }
        };
        if data.len() > self.config.max_value {
            return Err(StoreError::new(
                StoreErrorKind::TooLarge,
                format!(
                    "{} bytes is over the {} byte limit: served, not cached",
                    data.len(),
                    self.config.max_value
                ),
            ));
        }
        let ttl = if deadlines.hard == Timestamp::MAX {
            0
        } else {
            ms(now.until(deadlines.hard))
        };
        cmd.arg(mode)
            .arg(data)
            .arg(self.tokens.draw())
            .arg(deadlines.soft.as_millis())
            .arg(deadlines.hard.as_millis())
            .arg(ttl);
        Ok(())
    }

    async fn exchange(&self, cmds: &[Cmd]) -> Result<Replies, StoreError> {
        match self.link {
            Link::Blocking(blocking) => blocking.exchange(self.health, cmds),
            #[cfg(feature = "tokio")]
            Link::Tokio(tokio) => tokio.exchange(self.health, cmds).await,
            #[cfg(feature = "redis-cluster")]
            Link::ClusterBlocking(cluster) => cluster.exchange(self.health, cmds),
            #[cfg(feature = "redis-cluster")]
            Link::ClusterTokio(cluster) => cluster.exchange(self.health, cmds).await,
        }
    }

    /// Sends `cmds` (one pipeline on a single server); the reply (or the
    /// error) of each. The commands that find their script missing (a
    /// restarted server, a new cluster node) are sent again once the
    /// scripts are loaded.
    async fn run(&self, cmds: &[Cmd]) -> Result<Replies, StoreError> {
        if cmds.is_empty() {
            // An empty batch: Redis refuses an empty pipeline.
            return Ok(Vec::new());
        }
        let mut replies = self.exchange(cmds).await?;
        if replies.len() != cmds.len() {
            return Err(protocol("redis answered a pipeline with too few replies"));
        }
        let missing: Vec<usize> = replies
            .iter()
            .enumerate()
            .filter(|(_, reply)| {
                matches!(reply, Err(error) if error.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript))
            })
            .map(|(index, _)| index)
            .collect();
        if !missing.is_empty() {
            let mut again = scripts::load_all();
            let loads = again.len();
            again.extend(missing.iter().map(|&index| cmds[index].clone()));
            let retried = self.exchange(&again).await?;
            if retried.len() != again.len() {
                return Err(protocol("redis answered a pipeline with too few replies"));
            }
            for (index, reply) in missing.into_iter().zip(retried.into_iter().skip(loads)) {
                replies[index] = reply;
            }
        }
        Ok(replies)
    }

    /// One command, its reply.
    async fn one(&self, cmd: Cmd) -> Result<Value, StoreError> {
        let reply = self
            .run(std::slice::from_ref(&cmd))
            .await?
            .pop()
            .ok_or_else(|| protocol("redis sent no reply"))?;
        reply.map_err(|error| store_error(&error))
    }

    fn read_cmd(&self, key: &Key, now: Timestamp, purpose: ReadFor, token: u64) -> Cmd {
        let mut cmd = self.script(Op::Read, key);
        cmd.arg(now.as_millis());
        match purpose {
            ReadFor::Peek => cmd.arg(0).arg(0).arg(1),
            ReadFor::Use {
                claim_until,
                lease_for,
                ..
            } => cmd.arg(1).arg(claim_until.as_millis()).arg(ms(lease_for)),
        };
        cmd.arg(token);
        cmd
    }

    /// One command: `HMGET` where this process last saw the key fresh (a
    /// fresh hit needs no script, see [`hints`]), else the read script,
    /// which takes the claim or the lease a read for use needs. An `HMGET`
    /// that finds the key no longer fresh is followed by the script.
    async fn read(
        &self,
        key: &Key,
        now: Timestamp,
        purpose: ReadFor,
    ) -> Result<(Option<Found>, Option<Hold>), StoreError> {
        if self.hints.fresh_at(key, now) {
            let mut cmd = redis::cmd("HMGET");
            cmd.arg(self.key(key)).arg(&["e", "t", "s", "c", "h", "l"]);
            let reply = self.run(std::slice::from_ref(&cmd)).await?.pop();
            // A command that failed in transport (on a cluster, each fails
            // alone: its node timed out or is down) fails the read: the
            // script would only wait for the same node again.
            if let Some(Err(error)) = &reply {
                let error = store_error(error);
                if matches!(
                    error.kind(),
                    StoreErrorKind::Timeout | StoreErrorKind::Unavailable
                ) {
                    return Err(error);
                }
            }
            // A reply that is an error (a raw value is no hash) or not a
            // fresh entry: the script reads it.
            if let Some(found) = reply
                .and_then(Result::ok)
                .and_then(|f| fresh_entry(&f, now))
            {
                return Ok((Some(found), None));
            }
        }
        let token = self.tokens.draw();
        let reply = self.one(self.read_cmd(key, now, purpose, token)).await;
        if let (Err(error), ReadFor::Use { lease_for, .. }) = (&reply, purpose) {
            if error.kind() == StoreErrorKind::Timeout {
                self.give_back_late(key, token, lease_for);
            }
        }
        let read = found_of(reply?, purpose)?;
        self.noted(key, &read.0);
        Ok(read)
    }

    /// A read for use that timed out may still run (the server stalled,
    /// not gone) and take `key`'s claim or lease under `token`: both are
    /// given back by that token off the caller's path, once the server
    /// answers (within `window`, past which such a hold has lapsed).
    fn give_back_late(&self, key: &Key, token: u64, window: Duration) {
        let mut lease = self.script(Op::ReleaseLease, key);
        lease.arg(token);
        let mut claim = self.script(Op::ReleaseClaim, key);
        claim.arg(token);
        self.late.send(vec![lease, claim], window);
    }

    /// Keeps the soft deadline of an entry a read found as `key`'s hint.
    fn noted(&self, key: &Key, found: &Option<Found>) {
        match found {
            Some(Found::Entry { meta, .. }) if *meta != super::RAW_META => {
                self.hints.note(key, meta.soft_deadline);
            }
            _ => self.hints.forget(key),
        }
    }

    /// Reads every key in one pipeline. A key whose read failed reads as
    /// nothing; the first failure is returned if every key failed.
    async fn read_many(
        &self,
        keys: &[Key],
        now: Timestamp,
        purpose: ReadFor,
    ) -> Result<Vec<(Option<Found>, Option<Hold>)>, StoreError> {
        let cmds: Vec<Cmd> = keys
            .iter()
            .map(|key| self.read_cmd(key, now, purpose, self.tokens.draw()))
            .collect();
        let replies = self.run(&cmds).await?;
        Found::of_batch(replies.into_iter().map(|reply| {
            reply
                .map_err(|error| store_error(&error))
                .and_then(|value| found_of(value, purpose))
        }))
    }

    fn claim_cmd(&self, key: &Key, seen: Version, now: Timestamp, until: Timestamp) -> Cmd {
        let mut cmd = self.script(Op::TryClaim, key);
        cmd.arg(seen.0)
            .arg(now.as_millis())
            .arg(until.as_millis())
            .arg(self.tokens.draw());
        cmd
    }

    fn renew_cmd(&self, key: &Key, hold: Hold, until: Timestamp, now: Timestamp) -> Cmd {
        let (kind, id) = match hold {
            Hold::Claim(claim) => ("c", claim.0),
            Hold::Lease(lease) => ("l", lease.0),
        };
        let mut cmd = self.script(Op::Renew, key);
        cmd.arg(kind)
            .arg(id)
            .arg(until.as_millis())
            .arg(now.as_millis())
            .arg(ms(now.until(until)));
        cmd
    }

    fn lease_cmd(&self, key: &Key, now: Timestamp, grace: Duration) -> Cmd {
        let mut cmd = self.script(Op::TryLease, key);
        cmd.arg(now.as_millis())
            .arg(ms(grace))
            .arg(self.tokens.draw());
        cmd
    }

    fn write_cmd(
        &self,
        key: &Key,
        held: Option<Hold>,
        value: Stored,
        deadlines: Deadlines,
        now: Timestamp,
    ) -> Result<Cmd, StoreError> {
        let mut cmd = match held {
            None => self.script(Op::Write, key),
            Some(Hold::Claim(claim)) => {
                let mut cmd = self.script(Op::WriteHeld, key);
                cmd.arg("c").arg(claim.0);
                cmd
            }
            Some(Hold::Lease(lease)) => {
                let mut cmd = self.script(Op::WriteHeld, key);
                cmd.arg("l").arg(lease.0);
                cmd
            }
        };
        self.put_args(&mut cmd, value, deadlines, now)?;
        Ok(cmd)
    }

    /// Runs `cmds` (`None`: a command that could not be made, with its
    /// error) in one pipeline; each one's answer, read by `answer`.
    async fn batch<T>(
        &self,
        cmds: Vec<Result<Cmd, StoreError>>,
        answer: impl Fn(Value) -> Result<T, StoreError>,
    ) -> Result<Vec<Result<T, StoreError>>, StoreError> {
        let sendable: Vec<Cmd> = cmds
            .iter()
            .filter_map(|cmd| cmd.as_ref().ok())
            .cloned()
            .collect();
        let mut replies = self.run(&sendable).await?.into_iter();
        Ok(cmds
            .into_iter()
            .map(|cmd| {
                cmd?;
                match replies.next() {
                    Some(Ok(value)) => answer(value),
                    Some(Err(error)) => Err(store_error(&error)),
                    None => Err(protocol("redis sent too few replies")),
                }
            })
            .collect())
    }

    async fn count(&self, key: &Key, delta: Delta) -> Result<Counted, StoreError> {
        // Read, then change only if unchanged: retried while other writers win.
        for _ in 0..1_000 {
            let Value::Array(parts) = self.one(self.script(Op::Counter, key)).await? else {
                return Err(protocol("redis answered a counter read with no array"));
            };
            let old = match parts.first().and_then(bytes) {
                Some(b"raw") => parts.get(1).and_then(bytes).unwrap_or_default().to_vec(),
                Some(b"none") => return Ok(Counted::Absent),
                _ => return Ok(Counted::NotACounter),
            };
            let Some(counter) = parse_counter(&old) else {
                return Ok(Counted::NotACounter);
            };
            let new = delta.apply(counter);
            let mut cmd = self.script(Op::SetCounter, key);
            cmd.arg(old).arg(new);
            if flag(self.one(cmd).await?)? {
                return Ok(Counted::Value(new));
            }
        }
        Err(StoreError::new(
            StoreErrorKind::Other,
            "a counter lost 1000 races in a row to other writers; nothing was counted",
        ))
    }
}

/// ASCII digits only, no sign, no overflow (as memcached counts).
fn parse_counter(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &digit| {
        if digit.is_ascii_digit() {
            n.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
        } else {
            None
        }
    })
}

impl RedisStore {
    fn ops(&self, wait: Wait) -> Ops<'_> {
        let link = match (&self.transports, wait) {
            #[cfg(feature = "tokio")]
            (Transports::Single { nonblocking, .. }, Wait::Async) => Link::Tokio(nonblocking),
            (Transports::Single { blocking, .. }, _) => Link::Blocking(blocking),
            #[cfg(feature = "redis-cluster")]
            (Transports::Cluster { nonblocking, .. }, Wait::Async) => {
                Link::ClusterTokio(nonblocking)
            }
            #[cfg(feature = "redis-cluster")]
            (Transports::Cluster { blocking, .. }, Wait::Blocking) => {
                Link::ClusterBlocking(blocking)
            }
        };
        Ops {
            link,
            health: &self.health,
            late: &self.late,
            config: &self.config,
            tokens: &self.tokens,
            hints: &self.hints,
        }
    }
}

/// The operations of the [`Store`](super::Store) trait, each one command (a script, or a
/// pipeline per node for the `*_many` forms), mapped onto the trait by
/// [`store_over_remote_ops!`](super::remote::store_over_remote_ops).
impl Ops<'_> {
    async fn try_claim(
        &self,
        key: &Key,
        seen: Version,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<Option<ClaimId>, StoreError> {
        let claimed = token(self.one(self.claim_cmd(key, seen, now, until)).await?)?;
        Ok(claimed.map(ClaimId))
    }

    async fn release_claim(&self, key: &Key, claim: ClaimId) -> Result<(), StoreError> {
        let mut cmd = self.script(Op::ReleaseClaim, key);
        cmd.arg(claim.0);
        self.one(cmd).await.map(|_| ())
    }

    async fn write(
        &self,
        key: &Key,
        value: Stored,
        deadlines: Deadlines,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let raw = matches!(value, Stored::Raw(_));
        let cmd = self.write_cmd(key, None, value, deadlines, now)?;
        self.hints.forget(key);
        self.one(cmd).await?;
        if !raw {
            self.hints.note(key, deadlines.soft);
        }
        Ok(())
    }

    async fn write_held(
        &self,
        key: &Key,
        held: Hold,
        value: Stored,
        deadlines: Deadlines,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let raw = matches!(value, Stored::Raw(_));
        let cmd = self.write_cmd(key, Some(held), value, deadlines, now)?;
        self.hints.forget(key);
        let landed = flag(self.one(cmd).await?)?;
        if landed && !raw {
            self.hints.note(key, deadlines.soft);
        }
        Ok(landed)
    }

    async fn remove(&self, key: &Key) -> Result<(), StoreError> {
        self.hints.forget(key);
        let mut cmd = redis::cmd("DEL");
        cmd.arg(self.key(key));
        self.one(cmd).await.map(|_| ())
    }

    async fn try_lease(
        &self,
        key: &Key,
        now: Timestamp,
        grace: Duration,
    ) -> Result<Option<LeaseId>, StoreError> {
        let leased = token(self.one(self.lease_cmd(key, now, grace)).await?)?;
        Ok(leased.map(LeaseId))
    }

    async fn release_lease(&self, key: &Key, lease: LeaseId) -> Result<(), StoreError> {
        let mut cmd = self.script(Op::ReleaseLease, key);
        cmd.arg(lease.0);
        self.one(cmd).await.map(|_| ())
    }

    async fn renew(
        &self,
        key: &Key,
        hold: Hold,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<Option<Hold>, StoreError> {
        let renewed = token(self.one(self.renew_cmd(key, hold, until, now)).await?)?;
        Ok(renewed.map(|_| hold))
    }

    /// Every renewal in one pipeline (one per node of a cluster).
    async fn renew_many(
        &self,
        renewals: &[Renew],
        now: Timestamp,
    ) -> Result<Vec<Result<Option<Hold>, StoreError>>, StoreError> {
        if renewals.is_empty() {
            return Ok(Vec::new()); // redis refuses an empty pipeline
        }
        let cmds = renewals
            .iter()
            .map(|renewal| Ok(self.renew_cmd(&renewal.key, renewal.hold, renewal.until, now)))
            .collect();
        let renewed = self.batch(cmds, token).await?;
        Ok(renewed
            .into_iter()
            .zip(renewals)
            .map(|(renewed, renewal)| Ok(renewed?.map(|_| renewal.hold)))
            .collect())
    }

    async fn add(&self, write: Write, now: Timestamp) -> Result<bool, StoreError> {
        let mut cmd = self.script(Op::Add, &write.key);
        cmd.arg(now.as_millis());
        self.put_args(&mut cmd, write.value, write.deadlines, now)?;
        flag(self.one(cmd).await?)
    }

    async fn mark_stale(&self, key: &Key, now: Timestamp) -> Result<bool, StoreError> {
        self.hints.forget(key);
        let mut cmd = self.script(Op::MarkStale, key);
        cmd.arg(now.as_millis()).arg(self.tokens.draw());
        flag(self.one(cmd).await?)
    }

    async fn write_many(&self, writes: Vec<Write>, now: Timestamp) -> Result<(), StoreError> {
        let cmds = writes
            .into_iter()
            .map(|write| self.write_cmd(&write.key, None, write.value, write.deadlines, now))
            .collect();
        let results = self.batch(cmds, |_| Ok(())).await?;
        results.into_iter().find(Result::is_err).unwrap_or(Ok(()))
    }

    async fn remove_many(&self, keys: &[Key]) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        for key in keys {
            self.hints.forget(key);
        }
        // One DEL per key: the keys of a batch may live in several
        // slots of a cluster (and a DEL of many keys must not).
        let cmds: Vec<Result<Cmd, StoreError>> = keys
            .iter()
            .map(|key| {
                let mut cmd = redis::cmd("DEL");
                cmd.arg(self.key(key));
                Ok(cmd)
            })
            .collect();
        let results = self.batch(cmds, |_| Ok(())).await?;
        results.into_iter().find(Result::is_err).unwrap_or(Ok(()))
    }

    async fn try_lease_many(
        &self,
        keys: &[Key],
        now: Timestamp,
        grace: Duration,
    ) -> Result<Vec<Result<Option<LeaseId>, StoreError>>, StoreError> {
        let cmds = keys
            .iter()
            .map(|key| Ok(self.lease_cmd(key, now, grace)))
            .collect();
        self.batch(cmds, |value| Ok(token(value)?.map(LeaseId)))
            .await
    }

    async fn try_claim_many(
        &self,
        claims: &[(Key, Version)],
        now: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<Result<Option<ClaimId>, StoreError>>, StoreError> {
        let cmds = claims
            .iter()
            .map(|(key, seen)| Ok(self.claim_cmd(key, *seen, now, until)))
            .collect();
        self.batch(cmds, |value| Ok(token(value)?.map(ClaimId)))
            .await
    }

    async fn write_held_many(
        &self,
        writes: Vec<(Write, Hold)>,
        now: Timestamp,
    ) -> Result<Vec<Result<bool, StoreError>>, StoreError> {
        let cmds = writes
            .into_iter()
            .map(|(write, held)| {
                self.write_cmd(&write.key, Some(held), write.value, write.deadlines, now)
            })
            .collect();
        self.batch(cmds, flag).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        match self.one(redis::cmd("PING")).await? {
            Value::SimpleString(pong) if pong == "PONG" => Ok(()),
            other => Err(protocol(format!("redis answered {other:?} to PING"))),
        }
    }
}

/// A cluster's timeouts are each node's own.
impl super::remote::StallsAsOne for RedisStore {
    fn stalls_as_one(&self) -> bool {
        match self.transports {
            Transports::Single { .. } => true,
            #[cfg(feature = "redis-cluster")]
            Transports::Cluster { .. } => false,
        }
    }
}

super::remote::store_over_remote_ops!(RedisStore);
