//! The store's operations over one transport ([`Ops`]): each one command
//! (a script, or a pipeline for a batch), its reply read by [`reply`](super::reply).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::{Cmd, Value};

use super::config::RedisConfig;
use super::hints::FreshHints;
#[cfg(feature = "tokio")]
use super::link::Tokio;
use super::link::{store_error, Blocking, Health, LateSends, Replies};
#[cfg(feature = "redis-cluster")]
use super::link::{ClusterBlocking, ClusterTokio};
use super::reply::{bytes, flag, found_of, fresh_entry, parse_counter, protocol, token};
use super::scripts::{self, Op};
use crate::clock::Timestamp;
use crate::envelope;
use crate::error::{StoreError, StoreErrorKind};
use crate::key::Key;
use crate::policy::Deadlines;
use crate::store::{
    ClaimId, Counted, Delta, Found, Hold, LeaseId, ReadFor, Renew, Stored, Version, Write, RAW_META,
};

/// Tokens that tell one write, claim or lease from another: random, so
/// that no two processes draw the same one.
pub(super) struct Tokens {
    seed: u64,
    next: AtomicU64,
}

impl Tokens {
    pub(super) fn new() -> Tokens {
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
pub(super) enum Link<'s> {
    Blocking(&'s Blocking),
    #[cfg(feature = "tokio")]
    Tokio(&'s Tokio),
    #[cfg(feature = "redis-cluster")]
    ClusterBlocking(&'s ClusterBlocking),
    #[cfg(feature = "redis-cluster")]
    ClusterTokio(&'s ClusterTokio),
}

fn ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// The operations over one transport.
pub(super) struct Ops<'s> {
    pub(super) link: Link<'s>,
    pub(super) health: &'s Health,
    pub(super) late: &'s LateSends,
    pub(super) config: &'s RedisConfig,
    pub(super) tokens: &'s Tokens,
    pub(super) hints: &'s FreshHints,
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
    /// fresh hit needs no script, see [`hints`](super::hints)), else the read script,
    /// which takes the claim or the lease a read for use needs. An `HMGET`
    /// that finds the key no longer fresh is followed by the script.
    pub(super) async fn read(
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
            Some(Found::Entry { meta, .. }) if *meta != RAW_META => {
                self.hints.note(key, meta.soft_deadline);
            }
            _ => self.hints.forget(key),
        }
    }

    /// Reads every key in one pipeline. A key whose read failed reads as
    /// nothing; the first failure is returned if every key failed.
    pub(super) async fn read_many(
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

    pub(super) async fn count(&self, key: &Key, delta: Delta) -> Result<Counted, StoreError> {
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

/// The operations of the [`Store`](crate::store::Store) trait, each one command (a script, or a
/// pipeline per node for the `*_many` forms), mapped onto the trait by
/// [`store_over_remote_ops!`](crate::store::remote::store_over_remote_ops).
impl Ops<'_> {
    pub(super) async fn try_claim(
        &self,
        key: &Key,
        seen: Version,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<Option<ClaimId>, StoreError> {
        let claimed = token(self.one(self.claim_cmd(key, seen, now, until)).await?)?;
        Ok(claimed.map(ClaimId))
    }

    pub(super) async fn release_claim(&self, key: &Key, claim: ClaimId) -> Result<(), StoreError> {
        let mut cmd = self.script(Op::ReleaseClaim, key);
        cmd.arg(claim.0);
        self.one(cmd).await.map(|_| ())
    }

    pub(super) async fn write(
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

    pub(super) async fn write_held(
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

    pub(super) async fn remove(&self, key: &Key) -> Result<(), StoreError> {
        self.hints.forget(key);
        let mut cmd = redis::cmd("DEL");
        cmd.arg(self.key(key));
        self.one(cmd).await.map(|_| ())
    }

    pub(super) async fn try_lease(
        &self,
        key: &Key,
        now: Timestamp,
        grace: Duration,
    ) -> Result<Option<LeaseId>, StoreError> {
        let leased = token(self.one(self.lease_cmd(key, now, grace)).await?)?;
        Ok(leased.map(LeaseId))
    }

    pub(super) async fn release_lease(&self, key: &Key, lease: LeaseId) -> Result<(), StoreError> {
        let mut cmd = self.script(Op::ReleaseLease, key);
        cmd.arg(lease.0);
        self.one(cmd).await.map(|_| ())
    }

    pub(super) async fn renew(
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
    pub(super) async fn renew_many(
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

    pub(super) async fn add(&self, write: Write, now: Timestamp) -> Result<bool, StoreError> {
        let mut cmd = self.script(Op::Add, &write.key);
        cmd.arg(now.as_millis());
        self.put_args(&mut cmd, write.value, write.deadlines, now)?;
        flag(self.one(cmd).await?)
    }

    pub(super) async fn mark_stale(&self, key: &Key, now: Timestamp) -> Result<bool, StoreError> {
        self.hints.forget(key);
        let mut cmd = self.script(Op::MarkStale, key);
        cmd.arg(now.as_millis()).arg(self.tokens.draw());
        flag(self.one(cmd).await?)
    }

    pub(super) async fn write_many(
        &self,
        writes: Vec<Write>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let cmds = writes
            .into_iter()
            .map(|write| self.write_cmd(&write.key, None, write.value, write.deadlines, now))
            .collect();
        let results = self.batch(cmds, |_| Ok(())).await?;
        results.into_iter().find(Result::is_err).unwrap_or(Ok(()))
    }

    pub(super) async fn remove_many(&self, keys: &[Key]) -> Result<(), StoreError> {
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

    pub(super) async fn try_lease_many(
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

    pub(super) async fn try_claim_many(
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

    pub(super) async fn write_held_many(
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

    pub(super) async fn ping(&self) -> Result<(), StoreError> {
        match self.one(redis::cmd("PING")).await? {
            Value::SimpleString(pong) if pong == "PONG" => Ok(()),
            other => Err(protocol(format!("redis answered {other:?} to PING"))),
        }
    }
}
