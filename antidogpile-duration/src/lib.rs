//! The one duration grammar of antidogpile: `#[antidogpiled(soft = "30s")]`
//! and store URLs (`memory://?grace=1m30s`) accept exactly the same strings,
//! with the same errors.
//!
//! A crate of its own, because the proc-macro crate (which parses the
//! attribute at compile time) cannot call into the runtime (which parses
//! URLs): both depend on this one, so there is one grammar, published with
//! both. Its test vectors ([`VECTORS`]) are checked here and by the URL
//! parser. Not a public API of antidogpile: it changes with every release.

/// The units, largest first, with their length in milliseconds.
const UNITS: [(&str, u64); 5] = [
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// What every duration error says about the accepted forms.
pub const DURATION_FORMS: &str =
    "a duration is whole numbers with units `d`, `h`, `m`, `s` or `ms`, \
     such as \"250ms\", \"30s\", \"5m\", \"1h\" or \"1d\", or several \
     largest first, such as \"1m30s\"";

/// Parses `"250ms"`, `"30s"`, `"5m"`, `"1h"`, `"1d"` and combinations such as
/// `"1h30m"` (largest unit first, each unit once) into milliseconds, more
/// than zero. The error says what is wrong, without the general help
/// ([`duration_error`] adds it).
pub fn parse_duration_ms(text: &str) -> Result<u64, String> {
    if text.is_empty() {
        return Err("it is empty".to_owned());
    }
    let too_long = || "it does not fit in u64 milliseconds".to_owned();
    let mut rest = text;
    let mut total: u64 = 0;
    let mut previous_unit: Option<usize> = None;
    while !rest.is_empty() {
        let digits_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (digits, after) = rest.split_at(digits_len);
        if digits.is_empty() {
            return Err(format!("expected a number at {rest:?}"));
        }
        let unit_len = after.bytes().take_while(|b| !b.is_ascii_digit()).count();
        let (unit, after) = after.split_at(unit_len);
        if unit.is_empty() {
            return Err(format!("the number {digits} has no unit"));
        }
        let Some(index) = UNITS.iter().position(|(name, _)| *name == unit) else {
            return Err(format!("unknown unit {unit:?}"));
        };
        if previous_unit.is_some_and(|previous| index <= previous) {
            return Err("the units must go from the largest to the smallest, each once".to_owned());
        }
        let count: u64 = digits.parse().map_err(|_| too_long())?;
        total = count
            .checked_mul(UNITS[index].1)
            .and_then(|ms| total.checked_add(ms))
            .ok_or_else(too_long)?;
        previous_unit = Some(index);
        rest = after;
    }
    if total == 0 {
        return Err("it must be longer than zero".to_owned());
    }
    Ok(total)
}

/// The whole message for a duration `text` refused with `reason`: what is
/// wrong, then the accepted forms.
pub fn duration_error(text: &str, reason: &str) -> String {
    format!("invalid duration {text:?}: {reason}; {DURATION_FORMS}")
}

/// Strings and what [`parse_duration_ms`] makes of them: milliseconds, or
/// the reason it gives: checked here and by the URL parser's tests.
#[doc(hidden)]
pub const VECTORS: &[(&str, Result<u64, &str>)] = &[
    ("250ms", Ok(250)),
    ("30s", Ok(30_000)),
    ("5m", Ok(300_000)),
    ("1h", Ok(3_600_000)),
    ("1d", Ok(86_400_000)),
    ("007s", Ok(7_000)),
    ("1m30s", Ok(90_000)),
    ("1h30m", Ok(5_400_000)),
    ("1s500ms", Ok(1_500)),
    ("1h1m1s1ms", Ok(3_661_001)),
    ("1d2h3m4s5ms", Ok(93_784_005)),
    ("18446744073709551615ms", Ok(u64::MAX)),
    ("", Err("it is empty")),
    ("30", Err("the number 30 has no unit")),
    ("30x", Err("unknown unit \"x\"")),
    ("1y", Err("unknown unit \"y\"")),
    ("1sec", Err("unknown unit \"sec\"")),
    ("1.5s", Err("unknown unit \".\"")),
    ("30 s", Err("unknown unit \" s\"")),
    ("s", Err("expected a number at \"s\"")),
    ("ms30", Err("expected a number at \"ms30\"")),
    (" 30s", Err("expected a number at \" 30s\"")),
    ("-1s", Err("expected a number at \"-1s\"")),
    (
        "30s1m",
        Err("the units must go from the largest to the smallest, each once"),
    ),
    (
        "1s1h",
        Err("the units must go from the largest to the smallest, each once"),
    ),
    (
        "1s1s",
        Err("the units must go from the largest to the smallest, each once"),
    ),
    (
        "0ms1s",
        Err("the units must go from the largest to the smallest, each once"),
    ),
    ("0s", Err("it must be longer than zero")),
    ("0m0s", Err("it must be longer than zero")),
    (
        "18446744073709551616ms",
        Err("it does not fit in u64 milliseconds"),
    ),
    (
        "18446744073709552s",
        Err("it does not fit in u64 milliseconds"),
    ),
    (
        "99999999999999999999d",
        Err("it does not fit in u64 milliseconds"),
    ),
    (
        "1s18446744073709551615ms",
        Err("it does not fit in u64 milliseconds"),
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_vector_parses_as_listed() {
        for (text, expected) in VECTORS {
            let expected = expected.map_err(str::to_owned);
            assert_eq!(parse_duration_ms(text), expected, "{text:?}");
        }
    }

    #[test]
    fn the_error_names_the_string_the_reason_and_the_forms() {
        assert_eq!(
            duration_error("30x", "unknown unit \"x\""),
            format!("invalid duration \"30x\": unknown unit \"x\"; {DURATION_FORMS}")
        );
    }
}
