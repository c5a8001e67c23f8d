//! The envelope: how a value and its deadlines are laid out in a store that
//! keeps bytes (memcached, files). A fixed header, then the postcard payload:
//!
//! ```text
//! magic "AD" | format 2 | soft deadline u64 LE | hard deadline u64 LE | claimed until u64 LE | payload
//! ```
//!
//! The header is fixed-size so that a claim can rewrite it without decoding
//! the payload, and versioned so that a future format is told apart rather
//! than misread. Format 2 (payloads tagged with their value's serde shape,
//! [`crate::shape`]) replaced format 1 (tagged with the type's name): bytes
//! of format 1 are [`EnvelopeError::UnknownFormat`], which every store reads
//! as a miss and overwrites.

use crate::clock::Timestamp;
use crate::policy::{Deadlines, EntryMeta};

const MAGIC: [u8; 2] = *b"AD";
const FORMAT: u8 = 2;
/// Bytes before the payload.
pub const HEADER_LEN: usize = 3 + 3 * 8;

/// Why bytes are not an envelope this version can read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnvelopeError {
    /// Shorter than the header.
    Truncated,
    /// Not an envelope at all (no magic).
    NotAnEnvelope,
    /// An envelope of another format version.
    UnknownFormat(u8),
}

impl std::fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EnvelopeError::Truncated => f.write_str("envelope shorter than its header"),
            EnvelopeError::NotAnEnvelope => f.write_str("bytes are not an antidogpile envelope"),
            EnvelopeError::UnknownFormat(format) => {
                write!(f, "envelope format {format} is not known to this version")
            }
        }
    }
}

impl std::error::Error for EnvelopeError {}

/// An envelope's header, read without touching the payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Soft deadline and refresh claim.
    pub meta: EntryMeta,
    /// When the store drops the value.
    pub hard_deadline: Timestamp,
}

/// Lays out `payload` with its deadlines (and no claim).
pub fn seal(deadlines: Deadlines, payload: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER_LEN + payload.len());
    bytes.extend_from_slice(&MAGIC);
    bytes.push(FORMAT);
    bytes.extend_from_slice(&deadlines.soft.as_millis().to_le_bytes());
    bytes.extend_from_slice(&deadlines.hard.as_millis().to_le_bytes());
    bytes.extend_from_slice(&0u64.to_le_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

/// The header and the payload of an envelope.
pub fn open(bytes: &[u8]) -> Result<(Header, &[u8]), EnvelopeError> {
    if bytes.len() < HEADER_LEN {
        return Err(if bytes.starts_with(&MAGIC) || bytes.len() < MAGIC.len() {
            EnvelopeError::Truncated
        } else {
            EnvelopeError::NotAnEnvelope
        });
    }
    if bytes[..2] != MAGIC {
        return Err(EnvelopeError::NotAnEnvelope);
    }
    if bytes[2] != FORMAT {
        return Err(EnvelopeError::UnknownFormat(bytes[2]));
    }
    let word = |at: usize| {
        let mut le = [0u8; 8];
        le.copy_from_slice(&bytes[at..at + 8]);
        Timestamp::from_millis(u64::from_le_bytes(le))
    };
    Ok((
        Header {
            meta: EntryMeta {
                soft_deadline: word(3),
                claimed_until: word(19),
            },
            hard_deadline: word(11),
        },
        &bytes[HEADER_LEN..],
    ))
}

/// The same envelope with its claim set to `claimed_until` (the epoch: no claim).
pub fn with_claim(bytes: &[u8], claimed_until: Timestamp) -> Result<Vec<u8>, EnvelopeError> {
    open(bytes)?;
    let mut claimed = bytes.to_vec();
    claimed[19..27].copy_from_slice(&claimed_until.as_millis().to_le_bytes());
    Ok(claimed)
}

/// The same envelope, stale at once and unclaimed (a soft delete).
pub fn marked_stale(bytes: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
    let mut stale = with_claim(bytes, Timestamp::EPOCH)?;
    stale[3..11].copy_from_slice(&0u64.to_le_bytes());
    Ok(stale)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deadlines() -> Deadlines {
        Deadlines {
            soft: Timestamp::from_millis(1_000),
            hard: Timestamp::from_millis(8_000),
        }
    }

    #[test]
    fn an_envelope_opens_to_what_was_sealed() {
        let sealed = seal(deadlines(), b"payload");
        let (header, payload) = open(&sealed).unwrap();
        assert_eq!(payload, b"payload");
        assert_eq!(header.meta.soft_deadline.as_millis(), 1_000);
        assert_eq!(header.hard_deadline.as_millis(), 8_000);
        assert_eq!(header.meta.claimed_until, Timestamp::EPOCH);
    }

    #[test]
    fn a_claim_rewrites_only_the_claim() {
        let sealed = seal(deadlines(), b"xyz");
        let claimed = with_claim(&sealed, Timestamp::from_millis(5_000)).unwrap();
        let (header, payload) = open(&claimed).unwrap();
        assert_eq!(header.meta.claimed_until.as_millis(), 5_000);
        assert_eq!(header.meta.soft_deadline.as_millis(), 1_000);
        assert_eq!(payload, b"xyz");
    }

    #[test]
    fn marking_stale_clears_the_soft_deadline_and_the_claim_only() {
        let claimed = with_claim(&seal(deadlines(), b"v"), Timestamp::from_millis(5_000)).unwrap();
        let stale = marked_stale(&claimed).unwrap();
        let (header, payload) = open(&stale).unwrap();
        assert_eq!(header.meta.soft_deadline, Timestamp::EPOCH);
        assert_eq!(header.meta.claimed_until, Timestamp::EPOCH);
        assert_eq!(header.hard_deadline.as_millis(), 8_000);
        assert_eq!(payload, b"v");
        assert!(marked_stale(b"junk").is_err());
    }

    #[test]
    fn foreign_and_broken_bytes_are_errors_not_panics() {
        assert_eq!(open(b""), Err(EnvelopeError::Truncated));
        assert_eq!(open(b"AD\x01short"), Err(EnvelopeError::Truncated));
        assert_eq!(open(b"12345"), Err(EnvelopeError::NotAnEnvelope));
        assert_eq!(open(&[b'x'; 40]), Err(EnvelopeError::NotAnEnvelope));
        let mut future = seal(deadlines(), b"");
        future[2] = 9;
        assert_eq!(open(&future), Err(EnvelopeError::UnknownFormat(9)));
        assert!(with_claim(b"junk", Timestamp::EPOCH).is_err());
        // Every prefix of a valid envelope shorter than the header is refused.
        let sealed = seal(deadlines(), b"p");
        for len in 0..HEADER_LEN {
            assert!(open(&sealed[..len]).is_err(), "prefix of {len} bytes");
        }
    }
}

/// Serializes a value for a store that keeps bytes: the fingerprint of its
/// serde shape (field names and order, types, enum variants, nesting; see
/// `antidogpile/src/shape.rs`), then its postcard encoding. The tag turns a value
/// cached by code whose value type has another shape (another return type,
/// or the same type edited and redeployed) into a miss instead of a misread:
/// postcard alone would read a `u32` as a `u64`, or two swapped fields, without
/// complaint.
pub fn encode_payload<V: serde::Serialize + serde::de::DeserializeOwned + 'static>(
    value: &V,
) -> Result<Vec<u8>, postcard::Error> {
    let bytes = crate::shape::shape_of::<V>().to_le_bytes().to_vec();
    postcard::to_extend(value, bytes)
}

/// Reads a payload written by [`encode_payload`] for the same type; `None`
/// if the bytes are of another type, truncated, or have bytes left over.
pub fn decode_payload<V: serde::de::DeserializeOwned + 'static>(bytes: &[u8]) -> Option<V> {
    let (tag, rest) = bytes.split_first_chunk::<8>()?;
    if u64::from_le_bytes(*tag) != crate::shape::shape_of::<V>() {
        return None;
    }
    match postcard::take_from_bytes::<V>(rest) {
        Ok((value, [])) => Some(value),
        _ => None,
    }
}

#[cfg(test)]
mod payload_tests {
    use super::*;

    #[test]
    fn a_payload_reads_back_as_its_own_type_only() {
        let bytes = encode_payload(&7u32).unwrap();
        assert_eq!(decode_payload::<u32>(&bytes), Some(7));
        assert_eq!(
            decode_payload::<u64>(&bytes),
            None,
            "same postcard bytes, other type"
        );
        assert_eq!(decode_payload::<String>(&bytes), None);
    }

    #[test]
    fn truncated_extended_and_garbage_payloads_are_misses() {
        let bytes = encode_payload(&String::from("hello")).unwrap();
        for len in 0..bytes.len() {
            assert_eq!(
                decode_payload::<String>(&bytes[..len]),
                None,
                "prefix {len}"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode_payload::<String>(&longer), None);
        assert_eq!(
            decode_payload::<String>(b"\xff\xff\xff\xff\xff\xff\xff\xff\xff"),
            None
        );
    }
}

/// What the previous release (envelope format 1, payloads tagged with a
/// hash of the type's name) wrote for `value`: read by this one as a miss.
#[cfg(test)]
pub(crate) fn previous_release<V: serde::Serialize>(deadlines: Deadlines, value: &V) -> Vec<u8> {
    let tag = xxhash_rust::xxh3::xxh3_64(std::any::type_name::<V>().as_bytes());
    let payload = postcard::to_extend(value, tag.to_le_bytes().to_vec()).unwrap();
    let mut sealed = seal(deadlines, &payload);
    sealed[2] = 1;
    sealed
}

#[cfg(test)]
mod previous_release_tests {
    use super::*;

    #[test]
    fn the_previous_formats_read_as_misses_not_errors() {
        let deadlines = Deadlines {
            soft: Timestamp::from_millis(1_000),
            hard: Timestamp::from_millis(8_000),
        };
        let old = previous_release(deadlines, &(1999u64, 400u64));
        assert_eq!(open(&old), Err(EnvelopeError::UnknownFormat(1)));
        // Its payload, as a client's hard set stored it (no envelope).
        let old_payload = &old[HEADER_LEN..];
        assert_eq!(decode_payload::<(u64, u64)>(old_payload), None);
        assert_eq!(crate::raw::decode::<(u64, u64)>(old_payload), None);
        // This release's reads back.
        let new = encode_payload(&(1999u64, 400u64)).unwrap();
        assert_eq!(decode_payload::<(u64, u64)>(&new), Some((1999, 400)));
    }
}

#[cfg(test)]
mod proptests;
