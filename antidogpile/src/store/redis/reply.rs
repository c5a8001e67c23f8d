//! What Redis and the scripts answer, read into the store's types: pure
//! functions over [`redis::Value`], no I/O.

use redis::Value;

use crate::clock::Timestamp;
use crate::envelope;
use crate::error::{StoreError, StoreErrorKind};
use crate::policy::EntryMeta;
use crate::store::{ClaimId, Found, Hold, LeaseId, ReadFor, Stored, Version, RAW_META};

pub(super) fn protocol(message: impl Into<String>) -> StoreError {
    StoreError::new(StoreErrorKind::Protocol, message)
}

pub(super) fn bytes(value: &Value) -> Option<&[u8]> {
    match value {
        Value::BulkString(bytes) => Some(bytes),
        Value::SimpleString(text) => Some(text.as_bytes()),
        _ => None,
    }
}

pub(super) fn decimal(value: &Value) -> Option<u64> {
    match value {
        Value::Int(n) => u64::try_from(*n).ok(),
        _ => std::str::from_utf8(bytes(value)?).ok()?.parse().ok(),
    }
}

/// A token answered by a script (nil: none).
pub(super) fn token(value: Value) -> Result<Option<u64>, StoreError> {
    match value {
        Value::Nil => Ok(None),
        other => decimal(&other)
            .map(Some)
            .ok_or_else(|| protocol(format!("redis answered {other:?} for a token"))),
    }
}

pub(super) fn flag(value: Value) -> Result<bool, StoreError> {
    match value {
        Value::Int(n) => Ok(n == 1),
        other => Err(protocol(format!("redis answered {other:?} for a flag"))),
    }
}

/// What a read script answered to a read for `purpose`, and the hold it
/// took. A reply of any other shape is a protocol error (the caller
/// computes), never "nothing, and nothing taken": that reads as another
/// process's lease, which the caller would wait the grace for.
pub(super) fn found_of(
    value: Value,
    purpose: ReadFor,
) -> Result<(Option<Found>, Option<Hold>), StoreError> {
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
                meta: RAW_META,
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
pub(super) fn fresh_entry(fields: &Value, now: Timestamp) -> Option<Found> {
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

/// ASCII digits only, no sign, no overflow (as memcached counts).
pub(super) fn parse_counter(digits: &[u8]) -> Option<u64> {
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
