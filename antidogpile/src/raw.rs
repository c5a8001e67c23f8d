//! Raw values: what a hard set stores, without an envelope.
//!
//! Integers are stored as their decimal digits, the way memcached keeps the
//! counters its `incr`/`decr` (`ma`) change, so a counter set through the
//! client can be counted atomically by the store and read by any client.
//! Every other value is a [payload](crate::envelope::encode_payload): its
//! type tag, then postcard.

use std::any::Any;

use serde::de::value::{Error as ValueError, I64Deserializer, U64Deserializer};

use crate::envelope::{decode_payload, encode_payload};
use crate::outcome::Cacheable;

/// The longest decimal a counter can have (`u64::MAX` and `i64::MIN` fit).
const LONGEST_DECIMAL: usize = 20;

/// The bytes a hard set stores for `value`.
pub(crate) fn encode<V: Cacheable>(value: &V) -> Result<Vec<u8>, postcard::Error> {
    match integer_of(value) {
        Some(integer) => Ok(integer.to_string().into_bytes()),
        None => encode_payload(value),
    }
}

/// `bytes` as a `V`, if they are one: decimal digits for an integer type
/// (in range), a payload of `V` for any other.
pub(crate) fn decode<V: Cacheable>(bytes: &[u8]) -> Option<V> {
    match parse_decimal(bytes) {
        Some(Decimal::Unsigned(n)) => V::deserialize(U64Deserializer::<ValueError>::new(n)).ok(),
        Some(Decimal::Signed(n)) => V::deserialize(I64Deserializer::<ValueError>::new(n)).ok(),
        None => decode_payload(bytes),
    }
}

/// `bytes` as a counter that [`Delta`](crate::store::Delta) can change: an
/// unsigned decimal (what memcached's `incr` accepts).
pub(crate) fn parse_counter(bytes: &[u8]) -> Option<u64> {
    match parse_decimal(bytes)? {
        Decimal::Unsigned(n) => Some(n),
        Decimal::Signed(_) => None,
    }
}

#[derive(Debug, PartialEq)]
enum Decimal {
    Unsigned(u64),
    Signed(i64),
}

fn parse_decimal(bytes: &[u8]) -> Option<Decimal> {
    // memcached's decr keeps a value's length, padding it with spaces.
    let bytes = bytes.trim_ascii_end();
    if bytes.is_empty() || bytes.len() > LONGEST_DECIMAL {
        return None;
    }
    let digits = bytes.strip_prefix(b"-").unwrap_or(bytes);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let text = std::str::from_utf8(bytes).ok()?;
    if digits.len() == bytes.len() {
        text.parse().ok().map(Decimal::Unsigned)
    } else {
        text.parse().ok().map(Decimal::Signed)
    }
}

/// The value as an integer, if its type is one of Rust's integers up to 64 bits.
fn integer_of<V: Any>(value: &V) -> Option<i128> {
    let value = value as &dyn Any;
    macro_rules! integers {
        ($($t:ty),*) => {
            $(if let Some(n) = value.downcast_ref::<$t>() {
                return Some(*n as i128);
            })*
        };
    }
    integers!(u64, u32, u16, u8, usize, i64, i32, i16, i8, isize);
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_decimal_and_read_back_as_any_integer_type_in_range() {
        assert_eq!(encode(&42u64).unwrap(), b"42");
        assert_eq!(encode(&-7i32).unwrap(), b"-7");
        assert_eq!(decode::<u64>(b"42"), Some(42));
        assert_eq!(decode::<u8>(b"42"), Some(42));
        assert_eq!(decode::<i16>(b"-7"), Some(-7));
        assert_eq!(decode::<u64>(b"-7"), None, "negative is not a u64");
        assert_eq!(decode::<u8>(b"300"), None, "out of range");
        assert_eq!(decode::<String>(b"42"), None, "digits are not a String");
    }

    #[test]
    fn other_values_are_typed_payloads() {
        let bytes = encode(&String::from("hello")).unwrap();
        assert_eq!(decode::<String>(&bytes), Some("hello".to_owned()));
        assert_eq!(decode::<u64>(&bytes), None);
        assert_eq!(decode::<Vec<u8>>(&bytes), None);
    }

    #[test]
    fn counters_are_unsigned_decimals_only() {
        assert_eq!(parse_counter(b"0"), Some(0));
        assert_eq!(parse_counter(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_counter(b"18446744073709551616"), None, "overflow");
        assert_eq!(parse_counter(b"-1"), None);
        assert_eq!(parse_counter(b""), None);
        assert_eq!(parse_counter(b"-"), None);
        assert_eq!(parse_counter(b"1 2"), None);
        assert_eq!(parse_counter(b"+1"), None);
        assert_eq!(
            parse_counter(b"7  "),
            Some(7),
            "memcached pads a decremented value"
        );
        assert_eq!(decode::<u8>(b"0 "), Some(0));
        assert_eq!(parse_counter(b"AD\x01"), None, "an envelope is no counter");
    }
}
