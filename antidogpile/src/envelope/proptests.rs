//! Envelopes and payloads round-trip, and damaged ones are errors or misses,
//! never panics or other values.

use proptest::prelude::*;
use serde::{Deserialize, Serialize};

use super::*;

/// A value shaped like a typical memoized result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Report {
    customer: u64,
    name: String,
    lines: Vec<(u32, i64)>,
    paid: Option<bool>,
}

fn report() -> impl Strategy<Value = Report> {
    (
        any::<u64>(),
        ".{0,12}",
        prop::collection::vec(any::<(u32, i64)>(), 0..6),
        any::<Option<bool>>(),
    )
        .prop_map(|(customer, name, lines, paid)| Report {
            customer,
            name,
            lines,
            paid,
        })
}

fn deadlines() -> impl Strategy<Value = Deadlines> {
    (any::<u64>(), any::<u64>()).prop_map(|(soft, hard)| Deadlines {
        soft: Timestamp::from_millis(soft),
        hard: Timestamp::from_millis(hard),
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Seal, claim, open, decode: every deadline, claim and value comes back.
    #[test]
    fn an_envelope_round_trips(
        deadlines in deadlines(),
        claim in any::<u64>(),
        value in report(),
    ) {
        let payload = encode_payload(&value).unwrap();
        let sealed = seal(deadlines, &payload);
        prop_assert_eq!(sealed.len(), HEADER_LEN + payload.len());

        let (header, opened) = open(&sealed).unwrap();
        prop_assert_eq!(header.meta.soft_deadline, deadlines.soft);
        prop_assert_eq!(header.hard_deadline, deadlines.hard);
        prop_assert_eq!(header.meta.claimed_until, Timestamp::EPOCH);
        prop_assert_eq!(opened, payload.as_slice());
        prop_assert_eq!(decode_payload::<Report>(opened), Some(value.clone()));

        let claimed = with_claim(&sealed, Timestamp::from_millis(claim)).unwrap();
        let (header, opened) = open(&claimed).unwrap();
        prop_assert_eq!(header.meta.claimed_until.as_millis(), claim);
        prop_assert_eq!(header.meta.soft_deadline, deadlines.soft);
        prop_assert_eq!(header.hard_deadline, deadlines.hard);
        prop_assert_eq!(decode_payload::<Report>(opened), Some(value));
    }

    /// Raw payload bytes of any length round-trip too.
    #[test]
    fn any_payload_bytes_round_trip(deadlines in deadlines(), payload in prop::collection::vec(any::<u8>(), 0..300)) {
        let sealed = seal(deadlines, &payload);
        let (_, opened) = open(&sealed).unwrap();
        prop_assert_eq!(opened, payload.as_slice());
        let encoded = encode_payload(&payload).unwrap();
        prop_assert_eq!(decode_payload::<Vec<u8>>(&encoded), Some(payload));
    }

    /// Cut anywhere: shorter than the header is an error; otherwise the
    /// header is intact and the payload, cut short, is a miss.
    #[test]
    fn a_truncated_envelope_is_an_error_or_a_miss(
        deadlines in deadlines(),
        value in report(),
        cut in any::<prop::sample::Index>(),
    ) {
        let sealed = seal(deadlines, &encode_payload(&value).unwrap());
        let len = cut.index(sealed.len());
        match open(&sealed[..len]) {
            Err(error) => prop_assert!(len < HEADER_LEN, "{:?} at {} bytes", error, len),
            Ok((header, payload)) => {
                prop_assert!(len >= HEADER_LEN);
                prop_assert_eq!(header.meta.soft_deadline, deadlines.soft);
                prop_assert_eq!(header.hard_deadline, deadlines.hard);
                prop_assert_eq!(decode_payload::<Report>(payload), None);
            }
        }
    }

    /// Flip any bit: a flip in the magic or the format is an error, one in a
    /// deadline changes that deadline only, and one in the payload decodes
    /// to a miss or to some value that is itself well formed.
    #[test]
    fn a_flipped_bit_is_an_error_or_a_valid_envelope(
        deadlines in deadlines(),
        value in report(),
        at in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let sealed = seal(deadlines, &encode_payload(&value).unwrap());
        let mut flipped = sealed.clone();
        let at = at.index(flipped.len());
        flipped[at] ^= 1 << bit;
        match open(&flipped) {
            Err(_) => prop_assert!(at < 3, "a flip at byte {} refused the envelope", at),
            Ok((header, payload)) => {
                prop_assert!(at >= 3);
                let changed = (
                    header.meta.soft_deadline != deadlines.soft,
                    header.hard_deadline != deadlines.hard,
                    header.meta.claimed_until != Timestamp::EPOCH,
                    payload != &sealed[HEADER_LEN..],
                );
                let expected = (
                    (3..11).contains(&at),
                    (11..19).contains(&at),
                    (19..27).contains(&at),
                    at >= HEADER_LEN,
                );
                prop_assert_eq!(changed, expected);
                if let Some(decoded) = decode_payload::<Report>(payload) {
                    let again = encode_payload(&decoded).unwrap();
                    prop_assert_eq!(decode_payload::<Report>(&again), Some(decoded));
                }
            }
        }
    }
}
