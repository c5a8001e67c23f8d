//! memcached's meta protocol (`mg`/`ms`/`md`/`ma`/`mn`) as pure functions over
//! byte buffers: no sockets, no `std::io`.
//!
//! Requests are appended to a `Vec<u8>`, so a pipeline is one buffer; replies
//! are decoded from whatever bytes have arrived, partial or pipelined, with
//! [`decode_with_limit`]. The blocking and the tokio transports are thin shells that move
//! bytes and keep their own timeouts; neither parses anything itself, so they
//! cannot drift apart.
//!
//! Keys go through [`WireKey`], which makes any byte string safe to send: it
//! can never end the command line early or inject a second command.

use std::fmt;

use xxhash_rust::xxh3::xxh3_128;

/// memcached's limit on the key token as sent; for a `b` key it applies to the
/// base64 text, so a binary key holds at most 186 bytes.
pub(crate) const MAX_KEY_TOKEN: usize = 250;

/// The longest reply header line accepted, CRLF included. Real headers are a
/// few dozen bytes (a 250-byte key echo at most); a longer one means the
/// stream is garbage, and waiting for its end would buffer without bound.
pub(crate) const MAX_HEADER_LINE: usize = 2048;

/// memcached's default item size limit (`-I 1m`): the value cap of the
/// tests' [`decode`]. The transports pass their own cap to
/// [`decode_with_limit`].
#[cfg(test)]
pub(crate) const DEFAULT_MAX_VALUE: usize = 1 << 20;

/// Marks a hashed key; any key that ends like a hashed key is hashed too, so
/// a hashed key never equals a key sent as it is.
const HASH_MARKER: &[u8] = b"~xxh3~";
const HASH_HEX_DIGITS: usize = 32;
/// Room left for the readable start of a hashed key.
const HASHED_PREFIX_MAX: usize = MAX_KEY_TOKEN - HASH_MARKER.len() - HASH_HEX_DIGITS;

const BASE64_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

// ---------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------

/// A key as it goes on the wire: a token of printable ASCII without spaces, at
/// most [`MAX_KEY_TOKEN`] bytes, and whether it is base64 (the `b` flag).
///
/// From a user key:
/// - printable ASCII without spaces, up to 250 bytes: sent as it is;
/// - anything else whose base64 fits in 250 bytes (up to 186 bytes): sent as
///   base64 with `b`; memcached files it under the decoded bytes;
/// - longer keys, the empty key, and keys that end like a hashed key: the
///   readable start of the key (up to 212 bytes) + `~xxh3~` + the 32 hex
///   digits of the key's xxh3-128, sent as it is.
///
/// Distinct keys therefore stay distinct in memcached, short of an xxh3-128
/// collision between two hashed keys.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct WireKey {
    token: Vec<u8>,
    base64: bool,
}

impl WireKey {
    /// The wire form of `key`, any bytes at all.
    pub(crate) fn new(key: &[u8]) -> WireKey {
        if !looks_hashed(key) {
            if !key.is_empty() && key.len() <= MAX_KEY_TOKEN && key.iter().all(|&b| is_graphic(b)) {
                return WireKey {
                    token: key.to_vec(),
                    base64: false,
                };
            }
            if !key.is_empty() && base64_len(key.len()) <= MAX_KEY_TOKEN {
                let mut token = Vec::with_capacity(base64_len(key.len()));
                base64_encode_into(&mut token, key);
                return WireKey {
                    token,
                    base64: true,
                };
            }
        }
        WireKey::hashed(key)
    }

    fn hashed(key: &[u8]) -> WireKey {
        let prefix_len = key
            .iter()
            .take(HASHED_PREFIX_MAX)
            .take_while(|&&b| is_graphic(b))
            .count();
        let mut token = Vec::with_capacity(MAX_KEY_TOKEN);
        token.extend_from_slice(&key[..prefix_len]);
        token.extend_from_slice(HASH_MARKER);
        let hash = xxh3_128(key);
        for shift in (0..HASH_HEX_DIGITS).rev() {
            token.push(HEX_DIGITS[((hash >> (shift * 4)) & 0xf) as usize]);
        }
        WireKey {
            token,
            base64: false,
        }
    }

    /// The token sent after the command name.
    #[cfg(test)]
    pub(crate) fn token(&self) -> &[u8] {
        &self.token
    }

    /// Whether the token is base64 (sent with the `b` flag).
    #[cfg(test)]
    pub(crate) fn is_base64(&self) -> bool {
        self.base64
    }

    /// The bytes memcached files the item under: the token, or what it
    /// decodes to for a base64 key. `None` for an echoed token that is not
    /// valid base64 (never for a key built by [`WireKey::new`]).
    pub(crate) fn stored_key(&self) -> Option<Vec<u8>> {
        if self.base64 {
            base64_decode(&self.token)
        } else {
            Some(self.token.clone())
        }
    }
}

/// Printable ASCII other than space: what memcached takes in a plain key.
fn is_graphic(byte: u8) -> bool {
    byte.is_ascii_graphic()
}

/// Whether `key` ends the way every hashed key does.
fn looks_hashed(key: &[u8]) -> bool {
    let Some(marker_at) = key.len().checked_sub(HASH_MARKER.len() + HASH_HEX_DIGITS) else {
        return false;
    };
    let (marker, digits) = key[marker_at..].split_at(HASH_MARKER.len());
    marker == HASH_MARKER && digits.iter().all(|b| HEX_DIGITS.contains(b))
}

fn base64_len(len: usize) -> usize {
    len.div_ceil(3).saturating_mul(4)
}

/// Standard base64 with padding, as memcached decodes `b` keys.
fn base64_encode_into(out: &mut Vec<u8>, bytes: &[u8]) {
    for chunk in bytes.chunks(3) {
        let mut group = [0u8; 3];
        group[..chunk.len()].copy_from_slice(chunk);
        let n = u32::from(group[0]) << 16 | u32::from(group[1]) << 8 | u32::from(group[2]);
        let sextets = [n >> 18, n >> 12, n >> 6, n].map(|s| BASE64_ALPHABET[(s & 0x3f) as usize]);
        let kept = chunk.len() + 1;
        out.extend_from_slice(&sextets[..kept]);
        out.extend(std::iter::repeat_n(b'=', 4 - kept));
    }
}

/// Inverse of [`base64_encode_into`]; `None` for anything it cannot produce
/// (bad length, characters or padding, or non-zero leftover bits).
fn base64_decode(text: &[u8]) -> Option<Vec<u8>> {
    if text.len() % 4 != 0 {
        return None;
    }
    let groups = text.len() / 4;
    let mut out = Vec::with_capacity(groups * 3);
    for (index, group) in text.chunks_exact(4).enumerate() {
        let padding = group.iter().rev().take_while(|&&c| c == b'=').count();
        if padding > 2 || (padding > 0 && index + 1 != groups) {
            return None;
        }
        let mut n = 0u32;
        for &c in &group[..4 - padding] {
            n = n << 6 | sextet(c)?;
        }
        n <<= 6 * padding;
        let kept = 3 - padding;
        // Bits past the last kept byte must be zero, or two texts would
        // decode to the same key.
        if n & ((1 << (8 * padding)) - 1) != 0 {
            return None;
        }
        out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8][..kept]);
    }
    Some(out)
}

fn sextet(c: u8) -> Option<u32> {
    let value = match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    };
    Some(u32::from(value))
}

// ---------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------

/// Flags of a meta get (`mg`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct GetFlags {
    /// `v`: return the value (a hit is `VA` instead of `HD`).
    pub(crate) value: bool,
    /// `f`: return the client flags.
    pub(crate) client_flags: bool,
    /// `c`: return the CAS token.
    pub(crate) cas: bool,
    /// `t`: return the remaining TTL.
    pub(crate) ttl: bool,
    /// `s`: return the value's size (without sending the value).
    pub(crate) size: bool,
    /// `k`: echo the key.
    pub(crate) key: bool,
    /// `N<ttl>`: on a miss, create an empty item with this TTL and hand its
    /// win (`W`) to this caller; later callers see `Z`.
    pub(crate) vivify: Option<u32>,
    /// `R<seconds>`: if the item's remaining TTL is below this, and no
    /// caller was handed its win since it was stored, hand it (`W`) to this
    /// caller; later callers see `Z`.
    pub(crate) recache: Option<u32>,
    /// `O<n>`: echo this number, to pair replies with requests.
    pub(crate) opaque: Option<u32>,
    /// `q`: no `EN` reply on a miss (end a pipeline with [`encode_noop`]).
    pub(crate) quiet: bool,
}

/// How a meta set (`ms`) treats an existing item.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum SetMode {
    /// `MS`: store whatever is there.
    #[default]
    Set,
    /// `ME`: store only if nothing is there (`NS` otherwise).
    Add,
}

/// Flags of a meta set (`ms`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SetFlags {
    /// `M<mode>`.
    pub(crate) mode: SetMode,
    /// `T<ttl>`: seconds to keep the item, 0 for no expiry. memcached reads
    /// a value above 30 days as a Unix time, so the caller keeps it below.
    pub(crate) ttl: u32,
    /// `F<flags>`: stored with the item and returned by `mg ... f`.
    pub(crate) client_flags: u32,
    /// `C<cas>`: store only if the item's CAS token is still this (`EX`
    /// otherwise, `NF` if the item is gone).
    pub(crate) compare_cas: Option<u64>,
    /// `c`: return the new CAS token.
    pub(crate) return_cas: bool,
    /// `O<n>`: echo this number.
    pub(crate) opaque: Option<u32>,
    /// `q`: no `HD` reply on success.
    pub(crate) quiet: bool,
}

/// Flags of a meta delete (`md`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct DeleteFlags {
    /// `C<cas>`: delete only if the item's CAS token is still this (`EX`
    /// otherwise).
    pub(crate) compare_cas: Option<u64>,
    /// `I`: do not delete, invalidate: the item is kept, marked stale (`X`
    /// to readers, the first of whom gets its win `W`), with a new CAS.
    pub(crate) invalidate: bool,
    /// `T<ttl>`: with `invalidate`, the item's new TTL.
    pub(crate) ttl: Option<u32>,
    /// `O<n>`: echo this number.
    pub(crate) opaque: Option<u32>,
    /// `q`: no `HD` reply on success (memcached 1.6.18 still sends `NF`).
    pub(crate) quiet: bool,
}

/// Direction of a meta arithmetic (`ma`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum ArithmeticMode {
    /// `MI`.
    #[default]
    Increment,
    /// `MD`: stops at zero.
    Decrement,
}

/// What `ma` creates when the counter is missing (`N<ttl> J<initial>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Vivify {
    /// `N<ttl>`: the new counter's TTL, 0 for no expiry.
    pub(crate) ttl: u32,
    /// `J<initial>`: its value (the delta is not applied to it).
    pub(crate) initial: u64,
}

/// Flags of a meta arithmetic (`ma`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ArithmeticFlags {
    /// `M<mode>`.
    pub(crate) mode: ArithmeticMode,
    /// `D<delta>`.
    pub(crate) delta: u64,
    /// Create a missing counter instead of answering `NF`.
    pub(crate) vivify: Option<Vivify>,
    /// `v`: return the new value (`VA` instead of `HD`).
    pub(crate) value: bool,
    /// `c`: return the new CAS token.
    pub(crate) cas: bool,
    /// `O<n>`: echo this number.
    pub(crate) opaque: Option<u32>,
    /// `q`: no `HD` reply on success.
    pub(crate) quiet: bool,
}

impl Default for ArithmeticFlags {
    fn default() -> ArithmeticFlags {
        ArithmeticFlags {
            mode: ArithmeticMode::Increment,
            delta: 1,
            vivify: None,
            value: false,
            cas: false,
            opaque: None,
            quiet: false,
        }
    }
}

/// Room for a command line besides its key: the name and every flag with
/// the longest number each may carry. Each encoder reserves it with the key
/// (and the data) up front, so a request grows its buffer once, not once
/// per flag past a guessed capacity.
const LINE_ROOM: usize = 128;

/// Appends `mg <key> [b] [v] [f] [c] [t] [s] [k] [N<ttl>] [R<secs>] [O<n>] [q]`.
pub(crate) fn encode_get(out: &mut Vec<u8>, key: &WireKey, flags: &GetFlags) {
    out.reserve(key.token.len() + LINE_ROOM);
    out.extend_from_slice(b"mg");
    push_key(out, key);
    push_base64_flag(out, key);
    push_if(out, flags.value, b'v');
    push_if(out, flags.client_flags, b'f');
    push_if(out, flags.cas, b'c');
    push_if(out, flags.ttl, b't');
    push_if(out, flags.size, b's');
    push_if(out, flags.key, b'k');
    if let Some(ttl) = flags.vivify {
        push_number(out, b'N', ttl.into());
    }
    if let Some(seconds) = flags.recache {
        push_number(out, b'R', seconds.into());
    }
    push_tail(out, flags.opaque, flags.quiet);
}

/// Appends `ms <key> <len> [b] M<mode> T<ttl> F<flags> [C<cas>] [c] [O<n>] [q]`
/// and the data block.
pub(crate) fn encode_set(out: &mut Vec<u8>, key: &WireKey, data: &[u8], flags: &SetFlags) {
    out.reserve(key.token.len() + LINE_ROOM + data.len() + 2);
    out.extend_from_slice(b"ms");
    push_key(out, key);
    out.push(b' ');
    push_decimal(out, data.len() as u64);
    push_base64_flag(out, key);
    out.extend_from_slice(match flags.mode {
        SetMode::Set => b" MS",
        SetMode::Add => b" ME",
    });
    push_number(out, b'T', flags.ttl.into());
    push_number(out, b'F', flags.client_flags.into());
    if let Some(cas) = flags.compare_cas {
        push_number(out, b'C', cas);
    }
    push_if(out, flags.return_cas, b'c');
    push_tail(out, flags.opaque, flags.quiet);
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// Appends `md <key> [b] [C<cas>] [I] [T<ttl>] [O<n>] [q]`.
pub(crate) fn encode_delete(out: &mut Vec<u8>, key: &WireKey, flags: &DeleteFlags) {
    out.reserve(key.token.len() + LINE_ROOM);
    out.extend_from_slice(b"md");
    push_key(out, key);
    push_base64_flag(out, key);
    if let Some(cas) = flags.compare_cas {
        push_number(out, b'C', cas);
    }
    push_if(out, flags.invalidate, b'I');
    if let Some(ttl) = flags.ttl {
        push_number(out, b'T', ttl.into());
    }
    push_tail(out, flags.opaque, flags.quiet);
}

/// Appends `ma <key> [b] M<I|D> D<delta> [N<ttl> J<initial>] [v] [c] [O<n>] [q]`.
pub(crate) fn encode_arithmetic(out: &mut Vec<u8>, key: &WireKey, flags: &ArithmeticFlags) {
    out.reserve(key.token.len() + LINE_ROOM);
    out.extend_from_slice(b"ma");
    push_key(out, key);
    push_base64_flag(out, key);
    out.extend_from_slice(match flags.mode {
        ArithmeticMode::Increment => b" MI",
        ArithmeticMode::Decrement => b" MD",
    });
    push_number(out, b'D', flags.delta);
    if let Some(vivify) = flags.vivify {
        push_number(out, b'N', vivify.ttl.into());
        push_number(out, b'J', vivify.initial);
    }
    push_if(out, flags.value, b'v');
    push_if(out, flags.cas, b'c');
    push_tail(out, flags.opaque, flags.quiet);
}

/// Appends `mn`: always answered `MN`, after every reply to the requests
/// before it, so it ends a pipeline of quiet requests.
pub(crate) fn encode_noop(out: &mut Vec<u8>) {
    out.extend_from_slice(b"mn\r\n");
}

fn push_key(out: &mut Vec<u8>, key: &WireKey) {
    out.push(b' ');
    out.extend_from_slice(&key.token);
}

fn push_base64_flag(out: &mut Vec<u8>, key: &WireKey) {
    push_if(out, key.base64, b'b');
}

fn push_if(out: &mut Vec<u8>, on: bool, flag: u8) {
    if on {
        out.push(b' ');
        out.push(flag);
    }
}

fn push_number(out: &mut Vec<u8>, flag: u8, n: u64) {
    out.push(b' ');
    out.push(flag);
    push_decimal(out, n);
}

/// The opaque, the quiet flag and the end of the command line.
fn push_tail(out: &mut Vec<u8>, opaque: Option<u32>, quiet: bool) {
    if let Some(opaque) = opaque {
        push_number(out, b'O', opaque.into());
    }
    push_if(out, quiet, b'q');
    out.extend_from_slice(b"\r\n");
}

fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

// ---------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------

/// One reply, as [`decode_with_limit`] reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Reply {
    /// `VA <size> <flags>*` and its data: a hit with `v`, or a counter's new
    /// value (decimal digits, see [`parse_counter`]).
    Value { flags: ReturnFlags, data: Vec<u8> },
    /// `HD <flags>*`: success without a value (stored, deleted, a hit
    /// without `v`, a counter changed without `v`).
    Done(ReturnFlags),
    /// `EN`: `mg` found nothing.
    Miss(ReturnFlags),
    /// `NS`: `ms` did not store (an add on an existing item).
    NotStored(ReturnFlags),
    /// `EX`: the CAS token did not match.
    Exists(ReturnFlags),
    /// `NF`: nothing to delete, to count, or to compare a CAS with.
    NotFound(ReturnFlags),
    /// `MN`: the end of a pipeline.
    NoOp,
    /// `ERROR`: memcached did not know the command. The caller drops the
    /// connection: what follows may be out of step.
    Error(String),
    /// `CLIENT_ERROR <msg>`: a bad request, e.g. `ma` on a value that is
    /// not a number. Unless the caller expects it, it drops the connection.
    ClientError(String),
    /// `SERVER_ERROR <msg>`: e.g. out of memory, or a value too large.
    ServerError(String),
}

impl Reply {
    /// The return flags, for the replies that carry them (the fuzz targets
    /// check the echoed key; the store matches on the variants).
    #[cfg(any(test, feature = "__fuzz"))]
    pub(crate) fn flags(&self) -> Option<&ReturnFlags> {
        match self {
            Reply::Value { flags, .. }
            | Reply::Done(flags)
            | Reply::Miss(flags)
            | Reply::NotStored(flags)
            | Reply::Exists(flags)
            | Reply::NotFound(flags) => Some(flags),
            Reply::NoOp | Reply::Error(_) | Reply::ClientError(_) | Reply::ServerError(_) => None,
        }
    }
}

/// The flags a reply came back with; a field is empty when the flag was
/// not requested or not sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ReturnFlags {
    /// `c`: the item's CAS token.
    pub(crate) cas: Option<u64>,
    /// `f`: the client flags.
    pub(crate) client_flags: Option<u32>,
    /// `t`: the remaining TTL.
    pub(crate) ttl: Option<RemainingTtl>,
    /// `s`: the value's size.
    pub(crate) size: Option<u32>,
    /// `W`: this caller won the right to recompute the item.
    pub(crate) win: bool,
    /// `Z`: another caller already won it.
    pub(crate) win_taken: bool,
    /// `X`: the item is stale (invalidated).
    pub(crate) stale: bool,
    /// `k` (and `b`): the echoed key.
    pub(crate) key: Option<WireKey>,
    /// `O`: the echoed opaque.
    pub(crate) opaque: Option<u32>,
}

/// A remaining TTL as `t` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RemainingTtl {
    /// `t-1`: the item does not expire.
    Unlimited,
    /// Seconds left.
    Seconds(u32),
}

/// A reply that cannot be read. The stream is out of step after it: the
/// caller drops the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ProtocolError {
    /// No line end within [`MAX_HEADER_LINE`] bytes.
    HeaderTooLong { limit: usize },
    /// A line ended in a bare `\n`.
    BadLineEnding,
    /// A line that starts with no known reply code (its start, escaped).
    UnknownReply { start: String },
    /// `VA` without a size, or with one that is not a number that fits.
    BadValueSize { token: String },
    /// `VA` announcing more than the configured maximum.
    ValueTooLarge { size: u64, limit: usize },
    /// A value's data not followed by `\r\n`.
    MissingDataEnd,
    /// A return flag that is not a letter, or whose token does not parse.
    BadFlag { token: String },
    /// `MN` with something after it.
    TrailingTokens { reply: &'static str },
    /// A counter value that is not a number that fits in 64 bits.
    BadCounter { data: String },
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::HeaderTooLong { limit } => {
                write!(f, "memcached reply line longer than {limit} bytes")
            }
            ProtocolError::BadLineEnding => {
                write!(f, "memcached reply line ends in \\n without \\r")
            }
            ProtocolError::UnknownReply { start } => {
                write!(f, "unknown memcached reply \"{start}\"")
            }
            ProtocolError::BadValueSize { token } => {
                write!(f, "memcached VA reply with a bad size \"{token}\"")
            }
            ProtocolError::ValueTooLarge { size, limit } => write!(
                f,
                "memcached VA reply of {size} bytes, above the {limit}-byte limit"
            ),
            ProtocolError::MissingDataEnd => {
                write!(f, "memcached value data not followed by \\r\\n")
            }
            ProtocolError::BadFlag { token } => {
                write!(f, "bad return flag \"{token}\" in a memcached reply")
            }
            ProtocolError::TrailingTokens { reply } => {
                write!(f, "memcached {reply} reply with unexpected tokens")
            }
            ProtocolError::BadCounter { data } => {
                write!(
                    f,
                    "memcached counter value \"{data}\" is not a 64-bit number"
                )
            }
        }
    }
}

impl std::error::Error for ProtocolError {}

/// Decodes the first reply in `buf`, with values capped at
/// [`DEFAULT_MAX_VALUE`]. See [`decode_with_limit`].
#[cfg(test)]
pub(crate) fn decode(buf: &[u8]) -> Result<Option<(Reply, usize)>, ProtocolError> {
    decode_with_limit(buf, DEFAULT_MAX_VALUE)
}

/// Decodes the first reply in `buf`: `Ok(Some((reply, consumed)))` with
/// `0 < consumed <= buf.len()`, `Ok(None)` if `buf` holds only the start of
/// a reply (read more and call again with the longer buffer), or an error if
/// it cannot be a reply. Never panics, and never asks for more than
/// [`MAX_HEADER_LINE`] + `max_value` + 2 bytes.
pub(crate) fn decode_with_limit(
    buf: &[u8],
    max_value: usize,
) -> Result<Option<(Reply, usize)>, ProtocolError> {
    let window = &buf[..buf.len().min(MAX_HEADER_LINE)];
    let Some(newline) = window.iter().position(|&b| b == b'\n') else {
        if buf.len() >= MAX_HEADER_LINE {
            return Err(ProtocolError::HeaderTooLong {
                limit: MAX_HEADER_LINE,
            });
        }
        return Ok(None);
    };
    let Some(line) = buf[..newline].strip_suffix(b"\r") else {
        return Err(ProtocolError::BadLineEnding);
    };
    let header_len = newline + 1;

    let (code, rest) = match line.iter().position(|&b| b == b' ') {
        Some(space) => (&line[..space], &line[space + 1..]),
        None => (line, &line[line.len()..]),
    };
    let mut tokens = rest.split(|&b| b == b' ').filter(|token| !token.is_empty());
    let reply = match code {
        b"VA" => return decode_value(buf, header_len, tokens, max_value),
        b"HD" => Reply::Done(parse_flags(tokens)?),
        b"EN" => Reply::Miss(parse_flags(tokens)?),
        b"NS" => Reply::NotStored(parse_flags(tokens)?),
        b"EX" => Reply::Exists(parse_flags(tokens)?),
        b"NF" => Reply::NotFound(parse_flags(tokens)?),
        b"MN" => {
            if tokens.next().is_some() {
                return Err(ProtocolError::TrailingTokens { reply: "MN" });
            }
            Reply::NoOp
        }
        b"ERROR" => Reply::Error(lossy(rest)),
        b"CLIENT_ERROR" => Reply::ClientError(lossy(rest)),
        b"SERVER_ERROR" => Reply::ServerError(lossy(rest)),
        _ => {
            return Err(ProtocolError::UnknownReply {
                start: escaped(line),
            })
        }
    };
    Ok(Some((reply, header_len)))
}

fn decode_value<'a>(
    buf: &[u8],
    header_len: usize,
    mut tokens: impl Iterator<Item = &'a [u8]>,
    max_value: usize,
) -> Result<Option<(Reply, usize)>, ProtocolError> {
    let size_token = tokens.next().unwrap_or_default();
    let size = parse_decimal(size_token).ok_or_else(|| ProtocolError::BadValueSize {
        token: escaped(size_token),
    })?;
    let too_large = ProtocolError::ValueTooLarge {
        size,
        limit: max_value,
    };
    let size = match usize::try_from(size) {
        Ok(size) if size <= max_value => size,
        _ => return Err(too_large),
    };
    let flags = parse_flags(tokens)?;
    let Some(data_end) = header_len.checked_add(size) else {
        return Err(too_large);
    };
    let Some(total) = data_end.checked_add(2) else {
        return Err(too_large);
    };
    if buf.len() < total {
        return Ok(None);
    }
    if &buf[data_end..total] != b"\r\n" {
        return Err(ProtocolError::MissingDataEnd);
    }
    let data = buf[header_len..data_end].to_vec();
    Ok(Some((Reply::Value { flags, data }, total)))
}

fn parse_flags<'a>(tokens: impl Iterator<Item = &'a [u8]>) -> Result<ReturnFlags, ProtocolError> {
    let mut flags = ReturnFlags::default();
    let mut key = None;
    let mut base64 = false;
    for token in tokens {
        let bad = || ProtocolError::BadFlag {
            token: escaped(token),
        };
        let Some((&flag, value)) = token.split_first() else {
            continue;
        };
        let bare = |set: &mut bool| {
            if value.is_empty() {
                *set = true;
                Ok(())
            } else {
                Err(bad())
            }
        };
        match flag {
            b'c' => flags.cas = Some(parse_decimal(value).ok_or_else(bad)?),
            b'f' => flags.client_flags = Some(parse_u32(value).ok_or_else(bad)?),
            b't' => {
                flags.ttl = Some(if value == b"-1" {
                    RemainingTtl::Unlimited
                } else {
                    RemainingTtl::Seconds(parse_u32(value).ok_or_else(bad)?)
                })
            }
            b's' => flags.size = Some(parse_u32(value).ok_or_else(bad)?),
            b'O' => flags.opaque = Some(parse_u32(value).ok_or_else(bad)?),
            b'k' => {
                if value.is_empty() || value.len() > MAX_KEY_TOKEN {
                    return Err(bad());
                }
                key = Some(value);
            }
            b'b' => bare(&mut base64)?,
            b'W' => bare(&mut flags.win)?,
            b'Z' => bare(&mut flags.win_taken)?,
            b'X' => bare(&mut flags.stale)?,
            // Flags this codec never asks for (h, l, ...): skipped.
            flag if flag.is_ascii_alphabetic() => {}
            _ => return Err(bad()),
        }
    }
    if let Some(token) = key {
        let key = WireKey {
            token: token.to_vec(),
            base64,
        };
        if key.stored_key().is_none() {
            return Err(ProtocolError::BadFlag {
                token: escaped(token),
            });
        }
        flags.key = Some(key);
    }
    Ok(flags)
}

/// The number a `ma ... v` returned.
pub(crate) fn parse_counter(data: &[u8]) -> Result<u64, ProtocolError> {
    parse_decimal(data).ok_or_else(|| ProtocolError::BadCounter {
        data: escaped(data),
    })
}

/// ASCII digits only, no sign, no overflow.
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        if d.is_ascii_digit() {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        } else {
            None
        }
    })
}

fn parse_u32(digits: &[u8]) -> Option<u32> {
    parse_decimal(digits).and_then(|n| u32::try_from(n).ok())
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The start of some bytes, printable, for an error message.
fn escaped(bytes: &[u8]) -> String {
    const SHOWN: usize = 40;
    let mut text: String = bytes[..bytes.len().min(SHOWN)].escape_ascii().to_string();
    if bytes.len() > SHOWN {
        text.push_str("...");
    }
    text
}

#[cfg(test)]
mod tests;
