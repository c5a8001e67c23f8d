//! How one entry's file is laid out: a fixed header of the file store's
//! own, then the body.
//!
//! ```text
//! magic "ADFS" | format 1 | kind u8 | fingerprint u128 LE | stamp u64 LE
//!   | deadline u64 LE | body length u64 LE | body checksum u64 LE | body
//! ```
//!
//! - kind: 1 an [envelope](crate::envelope) (the body), 2 a raw value (the
//!   body, as the hard set gave it), 3 a cold-miss lease (no body);
//! - fingerprint: the key's, so that a file read under another key's name
//!   (copied, renamed, or a name collision) is never taken for its value;
//! - stamp: changes at every write, the entry's [`Version`](crate::store::Version);
//! - deadline: when the file may be deleted (an envelope's hard deadline, a
//!   raw value's, a lease's end), readable without the body by a sweep;
//! - body length and checksum (xxh3): a truncated or damaged file reads as
//!   nothing rather than as a wrong value (raw values have no framing of
//!   their own).

use xxhash_rust::xxh3::xxh3_64;

use crate::clock::Timestamp;
use crate::envelope;
use crate::key::Fingerprint;

const MAGIC: [u8; 4] = *b"ADFS";
const FORMAT: u8 = 1;
/// Bytes before the body.
pub(crate) const HEADER_LEN: usize = 4 + 1 + 1 + 16 + 4 * 8;

/// What a file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// An envelope: a memoized or soft-set value with its deadlines.
    Envelope = 1,
    /// A raw value from a hard set.
    Raw = 2,
    /// A cold-miss lease.
    Lease = 3,
}

/// A file's header, read without its body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) kind: Kind,
    pub(crate) fingerprint: Fingerprint,
    pub(crate) stamp: u64,
    pub(crate) deadline: Timestamp,
    body_len: u64,
    checksum: u64,
}

/// A whole file, checked.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Decoded<'a> {
    pub(crate) header: Header,
    pub(crate) content: Content<'a>,
}

/// The body of a checked file.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Content<'a> {
    /// An envelope that opens, whose hard deadline is the file's.
    Envelope {
        /// Its header (soft deadline, claim).
        opened: envelope::Header,
        /// The whole envelope, to be rewritten by a claim or a soft delete.
        sealed: &'a [u8],
        /// The value's postcard bytes.
        payload: &'a [u8],
    },
    /// A raw value's bytes.
    Raw(&'a [u8]),
    /// A lease.
    Lease,
}

/// The bytes of a file holding `body`.
pub(crate) fn encode_file(
    kind: Kind,
    fingerprint: Fingerprint,
    stamp: u64,
    deadline: Timestamp,
    body: &[u8],
) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER_LEN + body.len());
    bytes.extend_from_slice(&MAGIC);
    bytes.push(FORMAT);
    bytes.push(kind as u8);
    bytes.extend_from_slice(&fingerprint.as_u128().to_le_bytes());
    bytes.extend_from_slice(&stamp.to_le_bytes());
    bytes.extend_from_slice(&deadline.as_millis().to_le_bytes());
    bytes.extend_from_slice(&(body.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&xxh3_64(body).to_le_bytes());
    bytes.extend_from_slice(body);
    bytes
}

/// The header at the start of `bytes`, if it is one this version writes
/// (the body is not looked at: a sweep reads only this much).
pub(crate) fn decode_header(bytes: &[u8]) -> Option<Header> {
    let header = bytes.get(..HEADER_LEN)?;
    if header[..4] != MAGIC || header[4] != FORMAT {
        return None;
    }
    let kind = match header[5] {
        1 => Kind::Envelope,
        2 => Kind::Raw,
        3 => Kind::Lease,
        _ => return None,
    };
    let mut fingerprint = [0u8; 16];
    fingerprint.copy_from_slice(&header[6..22]);
    let word = |at: usize| {
        let mut le = [0u8; 8];
        le.copy_from_slice(&header[at..at + 8]);
        u64::from_le_bytes(le)
    };
    Some(Header {
        kind,
        fingerprint: Fingerprint::from_u128(u128::from_le_bytes(fingerprint)),
        stamp: word(22),
        deadline: Timestamp::from_millis(word(30)),
        body_len: word(38),
        checksum: word(46),
    })
}

/// One file's bytes, decoded and checked: `None` for anything that is not
/// a whole, undamaged file of this format (truncated, extended, garbage,
/// another format, an envelope that does not open or disagrees with the
/// header). Never panics, whatever the bytes.
pub(crate) fn decode_file(bytes: &[u8]) -> Option<Decoded<'_>> {
    let header = decode_header(bytes)?;
    let body = &bytes[HEADER_LEN..];
    if body.len() as u64 != header.body_len || xxh3_64(body) != header.checksum {
        return None;
    }
    let content = match header.kind {
        Kind::Raw => Content::Raw(body),
        Kind::Lease if body.is_empty() => Content::Lease,
        Kind::Lease => return None,
        Kind::Envelope => {
            let (opened, payload) = envelope::open(body).ok()?;
            if opened.hard_deadline != header.deadline {
                return None;
            }
            Content::Envelope {
                opened,
                sealed: body,
                payload,
            }
        }
    };
    Some(Decoded { header, content })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Deadlines;

    const FINGERPRINT: Fingerprint =
        Fingerprint::from_u128(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210);

    fn sealed() -> Vec<u8> {
        let deadlines = Deadlines {
            soft: Timestamp::from_millis(10),
            hard: Timestamp::from_millis(80),
        };
        envelope::seal(deadlines, b"payload")
    }

    fn envelope_file() -> Vec<u8> {
        encode_file(
            Kind::Envelope,
            FINGERPRINT,
            7,
            Timestamp::from_millis(80),
            &sealed(),
        )
    }

    #[test]
    fn an_envelope_of_the_previous_format_is_no_file_to_read() {
        let deadlines = Deadlines {
            soft: Timestamp::from_millis(10),
            hard: Timestamp::from_millis(80),
        };
        let old = envelope::previous_release(deadlines, &7u32);
        let file = encode_file(
            Kind::Envelope,
            FINGERPRINT,
            7,
            Timestamp::from_millis(80),
            &old,
        );
        assert!(decode_header(&file).is_some());
        assert!(
            decode_file(&file).is_none(),
            "read as a miss, then overwritten"
        );
    }

    #[test]
    fn each_kind_decodes_to_what_was_encoded() {
        let file = envelope_file();
        let decoded = decode_file(&file).unwrap();
        assert_eq!(decoded.header.kind, Kind::Envelope);
        assert_eq!(decoded.header.fingerprint, FINGERPRINT);
        assert_eq!(decoded.header.stamp, 7);
        assert_eq!(decoded.header.deadline, Timestamp::from_millis(80));
        let Content::Envelope {
            opened, payload, ..
        } = decoded.content
        else {
            panic!("not an envelope: {decoded:?}");
        };
        assert_eq!(payload, b"payload");
        assert_eq!(opened.meta.soft_deadline, Timestamp::from_millis(10));

        let raw = encode_file(Kind::Raw, FINGERPRINT, 8, Timestamp::MAX, b"42");
        assert!(matches!(
            decode_file(&raw).unwrap().content,
            Content::Raw(b"42")
        ));
        let lease = encode_file(Kind::Lease, FINGERPRINT, 9, Timestamp::from_millis(5), b"");
        assert!(matches!(
            decode_file(&lease).unwrap().content,
            Content::Lease
        ));
    }

    #[test]
    fn truncated_extended_and_damaged_files_decode_as_nothing() {
        let file = envelope_file();
        for len in 0..file.len() {
            assert!(decode_file(&file[..len]).is_none(), "prefix of {len} bytes");
        }
        let mut longer = file.clone();
        longer.push(0);
        assert!(decode_file(&longer).is_none());
        for at in 0..file.len() {
            let mut damaged = file.clone();
            damaged[at] ^= 0x40;
            // A flipped bit in the fingerprint or the stamp still frames a
            // file (the store compares the fingerprint with the key's);
            // everywhere else it is refused.
            let still_a_file = (6..30).contains(&at);
            assert_eq!(
                decode_file(&damaged).is_some(),
                still_a_file,
                "bit flipped at {at}"
            );
        }
        assert!(decode_file(b"").is_none());
        assert!(decode_file(&[0xff; 200]).is_none());
        assert!(decode_file(&sealed()).is_none(), "a bare envelope");
    }

    #[test]
    fn an_envelope_must_agree_with_its_file_and_a_lease_has_no_body() {
        let disagreeing = encode_file(
            Kind::Envelope,
            FINGERPRINT,
            1,
            Timestamp::from_millis(81),
            &sealed(),
        );
        assert!(decode_file(&disagreeing).is_none());
        let not_an_envelope =
            encode_file(Kind::Envelope, FINGERPRINT, 1, Timestamp::MAX, b"raw bytes");
        assert!(decode_file(&not_an_envelope).is_none());
        let lease_with_body = encode_file(Kind::Lease, FINGERPRINT, 1, Timestamp::MAX, b"x");
        assert!(decode_file(&lease_with_body).is_none());
        let mut unknown_kind = envelope_file();
        unknown_kind[5] = 9;
        assert!(decode_header(&unknown_kind).is_none());
        let mut future_format = envelope_file();
        future_format[4] = 2;
        assert!(decode_file(&future_format).is_none());
    }
}
