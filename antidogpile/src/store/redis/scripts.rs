//! The store's atomic steps, as Lua scripts run by Redis (EVALSHA; loaded
//! again after a NOSCRIPT, as after a server restart).
//!
//! An entry is a hash: `e` the sealed envelope as written, `t` its token
//! (random, new at every write, claim and invalidation: what a claim names),
//! `s` the soft deadline, `c` the end of the refresh claim and `h` the hard
//! deadline (decimal milliseconds; the cache's clock decides, passed in as
//! `now`). A cold-miss lease is a hash with one field, `l`, its token, and a
//! TTL (its liveness window). A raw value (a hard set) is a plain string,
//! as any client writes it. Anything else under a key (another type, a hash
//! without these fields) is foreign: read as nothing, and overwritten by a
//! lease or a write. Redis's own TTL is the hard deadline in real time.

use std::sync::LazyLock;

use redis::Script;

/// Shared by every script: the key, its fields, and the two ways to fill it.
const PRELUDE: &str = r#"
local k = KEYS[1]
local function kind() return redis.call('TYPE', k)['ok'] end
-- e, t, s, c, h, l
local function fields() return redis.call('HMGET', k, 'e', 't', 's', 'c', 'h', 'l') end
-- an entry has every field, its token digits and its deadlines numbers
local function entry(f)
  return f[1] and f[2] and string.match(f[2], '^%d+$') and tonumber(f[3]) and tonumber(f[4]) and tonumber(f[5])
end
local function live(f, now) return entry(f) and tonumber(f[5]) > now end
-- A value past its hard deadline whose refresh is still claimed: its
-- claimer computes (and will write), so a cold miss waits for it.
local function claimed(f, now) return entry(f) and tonumber(f[4]) > now end
-- Keeps the key at least until `deadline` (a claim outliving the value).
local function keep_until(deadline, now)
  local ms = deadline - now
  local left = redis.call('PTTL', k)
  -- A key without an expiry (-1) keeps none.
  if ms > 0 and left >= 0 and left < ms then redis.call('PEXPIRE', k, ms) end
end
-- ARGV[at..at+5]: mode ('e' envelope, 'r' raw), value, token, soft, hard, ttl ms (0: none)
local function put(at)
  local ttl = tonumber(ARGV[at + 5])
  redis.call('DEL', k)
  if ARGV[at] == 'r' then
    redis.call('SET', k, ARGV[at + 1])
  else
    redis.call('HSET', k, 'e', ARGV[at + 1], 't', ARGV[at + 2], 's', ARGV[at + 3], 'c', '0', 'h', ARGV[at + 4])
  end
  if ttl > 0 then redis.call('PEXPIRE', k, ttl) end
end
local function lease(token, ms)
  redis.call('DEL', k)
  redis.call('HSET', k, 'l', token)
  redis.call('PEXPIRE', k, ms)
end
"#;

/// ARGV: now, use ('1': take the claim or the lease), claim until, lease ms, new token.
/// Answers {'raw', bytes} | {'leased'} | {'entry', e, s, c, t} |
/// {'claimed', e, s, c, t} | {'lease', t} | {'none'}.
/// A hold under the new token is this read's own, taken when it ran
/// before (its reply lost, the read sent again): answered as taken.
const READ: &str = r#"
local now = tonumber(ARGV[1])
local use = ARGV[2] == '1'
local t = kind()
if t == 'string' then return {'raw', redis.call('GET', k)} end
if t == 'hash' then
  local f = fields()
  if use and f[6] == ARGV[5] then return {'lease', ARGV[5]} end
  if f[6] then return {'leased'} end
  if live(f, now) then
    if use and f[2] == ARGV[5] then return {'claimed', f[1], f[3], f[4], ARGV[5]} end
    if use and tonumber(f[3]) <= now and tonumber(f[4]) <= now then
      redis.call('HSET', k, 'c', ARGV[3], 't', ARGV[5])
      keep_until(tonumber(ARGV[3]), now)
      return {'claimed', f[1], f[3], ARGV[3], ARGV[5]}
    end
    return {'entry', f[1], f[3], f[4], f[2]}
  end
  if claimed(f, now) then return {'leased'} end
end
if use then
  lease(ARGV[5], ARGV[4])
  return {'lease', ARGV[5]}
end
return {'none'}
"#;

/// ARGV: seen token, now, until, new token. Answers the new token or nil
/// (the new token too if it holds the claim: this request ran before).
const TRY_CLAIM: &str = r#"
if kind() ~= 'hash' then return false end
local f = fields()
local now = tonumber(ARGV[2])
if not f[6] and live(f, now) and f[2] == ARGV[4] then return ARGV[4] end
if f[6] or not live(f, now) or f[2] ~= ARGV[1] then return false end
if tonumber(f[3]) > now or tonumber(f[4]) > now then return false end
redis.call('HSET', k, 'c', ARGV[3], 't', ARGV[4])
keep_until(tonumber(ARGV[3]), now)
return ARGV[4]
"#;

/// ARGV: the claim's token.
const RELEASE_CLAIM: &str = r#"
if kind() ~= 'hash' then return 0 end
local f = fields()
if entry(f) and f[2] == ARGV[1] then redis.call('HSET', k, 'c', '0') end
return 1
"#;

/// ARGV: a value to put (see `put`).
const WRITE: &str = r#"
put(1)
return 1
"#;

/// ARGV: 'c' (claim) or 'l' (lease), its token, then a value to put.
/// Answers 1 if it was put (or is there: this request ran before, its
/// entry's token the new one), 0 if the hold is not the live one.
const WRITE_HELD: &str = r#"
if kind() ~= 'hash' then return 0 end
local f = fields()
if not f[6] and entry(f) and f[2] == ARGV[5] then return 1 end
if ARGV[1] == 'c' then
  if f[6] or not entry(f) or f[2] ~= ARGV[2] then return 0 end
elseif f[6] ~= ARGV[2] then
  return 0
end
put(3)
return 1
"#;

/// ARGV: now, lease ms, new token. Answers the token or nil (the token
/// too if it holds the lease: this request ran before).
const TRY_LEASE: &str = r#"
local t = kind()
if t == 'string' then return false end
if t == 'hash' then
  local f = fields()
  if f[6] == ARGV[3] then return ARGV[3] end
  local now = tonumber(ARGV[1])
  if f[6] or live(f, now) or claimed(f, now) then return false end
end
lease(ARGV[3], ARGV[2])
return ARGV[3]
"#;

/// ARGV: the lease's token.
const RELEASE_LEASE: &str = r#"
if kind() == 'hash' and redis.call('HGET', k, 'l') == ARGV[1] then redis.call('DEL', k) end
return 1
"#;

/// ARGV: 'c' or 'l', token, until, now, ms from now to until (at least 1).
/// Answers the token if renewed, nil if the hold was lost.
const RENEW: &str = r#"
if kind() ~= 'hash' then return false end
local f = fields()
if ARGV[1] == 'c' then
  if f[6] or not live(f, tonumber(ARGV[4])) or f[2] ~= ARGV[2] then return false end
  -- Never past the value's hard deadline: a claim kept past it (a retry
  -- spaced after a failure) would hold up the cold misses that follow.
  local claim_end = math.min(tonumber(ARGV[3]), tonumber(f[5]))
  redis.call('HSET', k, 'c', string.format('%d', claim_end))
  return ARGV[2]
end
if f[6] ~= ARGV[2] then return false end
redis.call('PEXPIRE', k, ARGV[5])
return ARGV[2]
"#;

/// ARGV: now, then a value to put. Answers 1 if it was put: nothing there,
/// a lease, or an entry past its hard deadline.
const ADD: &str = r#"
local t = kind()
if t == 'hash' then
  local f = fields()
  if not f[6] and (not entry(f) or live(f, tonumber(ARGV[1]))) then return 0 end
elseif t ~= 'none' then
  return 0
end
put(2)
return 1
"#;

/// ARGV: now, new token. Answers 1 if a value was marked (or a raw one removed).
const MARK_STALE: &str = r#"
local t = kind()
if t == 'string' then
  redis.call('DEL', k)
  return 1
end
if t ~= 'hash' then return 0 end
local f = fields()
if f[6] then
  redis.call('DEL', k)
  return 0
end
if not live(f, tonumber(ARGV[1])) then
  -- Past its hard deadline by this client's clock (not by the others', if
  -- clocks differ), or kept for a refresh still claimed: it goes, so that
  -- no client serves it fresh and a claim on it ends.
  if entry(f) then redis.call('DEL', k) end
  return 0
end
redis.call('HSET', k, 's', '0', 'c', '0', 't', ARGV[2])
return 1
"#;

/// Answers {'none'} (nothing, or a lease), {'raw', bytes} or {'other'}.
const COUNTER: &str = r#"
local t = kind()
if t == 'none' then return {'none'} end
if t == 'string' then return {'raw', redis.call('GET', k)} end
if t == 'hash' and redis.call('HEXISTS', k, 'l') == 1 then return {'none'} end
return {'other'}
"#;

/// ARGV: the counter as it was read, its new value. Answers 1 if it was
/// still the same and was changed (its TTL kept), 0 otherwise.
const SET_COUNTER: &str = r#"
if kind() ~= 'string' or redis.call('GET', k) ~= ARGV[1] then return 0 end
redis.call('SET', k, ARGV[2], 'KEEPTTL')
return 1
"#;

/// One of the scripts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Read,
    TryClaim,
    ReleaseClaim,
    Write,
    WriteHeld,
    TryLease,
    ReleaseLease,
    Renew,
    Add,
    MarkStale,
    Counter,
    SetCounter,
}

const ALL: [Op; 12] = [
    Op::Read,
    Op::TryClaim,
    Op::ReleaseClaim,
    Op::Write,
    Op::WriteHeld,
    Op::TryLease,
    Op::ReleaseLease,
    Op::Renew,
    Op::Add,
    Op::MarkStale,
    Op::Counter,
    Op::SetCounter,
];

fn body(op: Op) -> &'static str {
    match op {
        Op::Read => READ,
        Op::TryClaim => TRY_CLAIM,
        Op::ReleaseClaim => RELEASE_CLAIM,
        Op::Write => WRITE,
        Op::WriteHeld => WRITE_HELD,
        Op::TryLease => TRY_LEASE,
        Op::ReleaseLease => RELEASE_LEASE,
        Op::Renew => RENEW,
        Op::Add => ADD,
        Op::MarkStale => MARK_STALE,
        Op::Counter => COUNTER,
        Op::SetCounter => SET_COUNTER,
    }
}

/// Each script's source (the prelude, then its body) and SHA-1.
static SCRIPTS: LazyLock<Vec<(String, Script)>> = LazyLock::new(|| {
    ALL.iter()
        .map(|&op| {
            let source = format!("{PRELUDE}{}", body(op));
            let script = Script::new(&source);
            (source, script)
        })
        .collect()
});

fn index(op: Op) -> usize {
    ALL.iter().position(|&each| each == op).unwrap_or(0)
}

/// The SHA-1 that EVALSHA names `op` by.
pub(crate) fn sha(op: Op) -> &'static str {
    SCRIPTS[index(op)].1.get_hash()
}

/// `SCRIPT LOAD` of every script.
pub(crate) fn load_all() -> Vec<redis::Cmd> {
    SCRIPTS
        .iter()
        .map(|(source, _)| {
            let mut load = redis::cmd("SCRIPT");
            load.arg("LOAD").arg(source.as_str());
            load
        })
        .collect()
}
