//! Entry points for the fuzz targets in `fuzz/` (feature `__fuzz`, not public
//! API): they reach decoders that are private to the crate. Also the
//! codec's checks against a real memcached ([`against_memcached`]), which
//! `tests-integration` runs.

use crate::store::memcached::codec::{
    decode_with_limit, parse_counter, ProtocolError, Reply, MAX_HEADER_LINE,
};

pub mod against_memcached;

/// Decodes `data` as a stream of memcached meta-protocol replies, arriving
/// in chunks whose sizes `chunking` picks (any byte: a seed), with values
/// capped at `max_value`. Panics, so the
/// fuzzer reports it, if the decoder breaks its contract: a panic inside it,
/// a `consumed` outside `1..=buffered`, asking for more bytes than the limit
/// allows, or a stream read in chunks decoding differently from the same
/// stream read at once.
pub fn memcached_replies(chunking: u8, data: &[u8], max_value: usize) {
    let at_once = decode_stream(data, max_value, &mut std::iter::repeat(data.len().max(1)));
    let mut sizes = ChunkSizes(u64::from(chunking) << 32 | 0x9e37_79b9);
    let in_chunks = decode_stream(data, max_value, &mut std::iter::from_fn(|| sizes.next()));
    assert_eq!(at_once, in_chunks, "chunking changed what was decoded");
}

/// What a stream decoded to: its replies, then how it ended (`None`: waiting
/// for more bytes).
type Decoded = (Vec<Reply>, Option<ProtocolError>);

fn decode_stream(data: &[u8], max_value: usize, sizes: &mut dyn Iterator<Item = usize>) -> Decoded {
    let mut replies = Vec::new();
    let mut buffer = Vec::new();
    let mut rest = data;
    loop {
        let take = sizes.next().unwrap_or(1).clamp(1, rest.len().max(1));
        let (chunk, after) = rest.split_at(take.min(rest.len()));
        buffer.extend_from_slice(chunk);
        rest = after;
        loop {
            match decode_with_limit(&buffer, max_value) {
                Ok(Some((reply, consumed))) => {
                    assert!(
                        (1..=buffer.len()).contains(&consumed),
                        "consumed {consumed} of {} bytes",
                        buffer.len()
                    );
                    if let Reply::Value { data, .. } = &reply {
                        // A counter's value is read from the same bytes.
                        let _ = parse_counter(data);
                    }
                    if let Some(key) = reply.flags().and_then(|flags| flags.key.as_ref()) {
                        assert!(key.stored_key().is_some(), "an accepted key must decode");
                    }
                    buffer.drain(..consumed);
                    replies.push(reply);
                }
                Ok(None) => {
                    assert!(
                        buffer.len() < MAX_HEADER_LINE + max_value + 2,
                        "asked for more than {} bytes",
                        MAX_HEADER_LINE + max_value + 2
                    );
                    break;
                }
                Err(error) => {
                    let _ = error.to_string();
                    return (replies, Some(error));
                }
            }
        }
        if rest.is_empty() {
            return (replies, None);
        }
    }
}

/// Chunk sizes from a seed: mostly small, sometimes large, so that reply
/// boundaries fall everywhere.
struct ChunkSizes(u64);

impl ChunkSizes {
    fn next(&mut self) -> Option<usize> {
        self.0 = crate::random::xorshift(self.0);
        Some(match self.0 % 8 {
            0 => 1 + (self.0 >> 8) as usize % 4096,
            _ => 1 + (self.0 >> 8) as usize % 16,
        })
    }
}

/// Decodes `data` as a file of the [`FileStore`](crate::store::FileStore), twice:
/// as given, and re-sealed with a valid header checksum around it (so the
/// fuzzer reaches the body's decoding past the checksum), with `kind` picking
/// the header's kind. Panics, so the fuzzer reports it, if a decoded file does
/// not encode back to the same bytes.
pub fn file_contents(kind: u8, data: &[u8]) {
    use crate::store::file::format::{decode_file, encode_file, Content, Kind};
    check_file_round_trip(data);
    let kind = match kind % 3 {
        0 => Kind::Envelope,
        1 => Kind::Raw,
        _ => Kind::Lease,
    };
    let fingerprint = crate::key::Fingerprint::from_u128(0x0123_4567_89ab_cdef);
    let sealed = encode_file(
        kind,
        fingerprint,
        7,
        crate::clock::Timestamp::from_millis(1_000),
        data,
    );
    if let Some(decoded) = decode_file(&sealed) {
        assert_eq!(decoded.header.kind, kind);
        if let Content::Envelope { payload, .. } = decoded.content {
            assert!(payload.len() <= data.len());
        }
    }
    check_file_round_trip(&sealed);

    fn check_file_round_trip(bytes: &[u8]) {
        let Some(decoded) = decode_file(bytes) else {
            return;
        };
        let header = decoded.header;
        let body = &bytes[crate::store::file::format::HEADER_LEN..];
        let again = encode_file(
            header.kind,
            header.fingerprint,
            header.stamp,
            header.deadline,
            body,
        );
        assert_eq!(again, bytes, "a decoded file encodes back to itself");
    }
}
