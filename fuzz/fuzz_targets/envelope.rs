//! Cached bytes read back from a store (memcached, files): the envelope
//! header, then the payload decoded as a few value types. Anything may be
//! there: another client's value, an older format, a torn write.
#![no_main]

use std::collections::BTreeMap;
use std::fmt::Debug;

use antidogpile::clock::Timestamp;
use antidogpile::custom_store::envelope::{self, HEADER_LEN};
use antidogpile::custom_store::Deadlines;
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A value shaped like a typical memoized result: nested, optional, tagged.
#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
struct Report {
    customer: u64,
    name: String,
    lines: Vec<(u32, i64)>,
    status: Status,
    notes: Option<BTreeMap<String, Vec<u8>>>,
}

#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
enum Status {
    #[default]
    Open,
    Closed {
        at: u64,
    },
    Failed(String),
}

fuzz_target!(|data: &[u8]| {
    match envelope::open(data) {
        Ok((header, payload)) => {
            assert_eq!(payload, &data[HEADER_LEN..]);
            // The header holds nothing but what seal and with_claim write.
            let deadlines = Deadlines {
                soft: header.meta.soft_deadline,
                hard: header.hard_deadline,
            };
            let resealed = envelope::seal(deadlines, payload);
            let resealed = envelope::with_claim(&resealed, header.meta.claimed_until).unwrap();
            assert_eq!(resealed, data);
            // A claim rewrites the claim and nothing else.
            let until = Timestamp::from_millis(header.hard_deadline.as_millis() ^ 0x5a5a);
            let claimed = envelope::with_claim(data, until).unwrap();
            let (claimed_header, claimed_payload) = envelope::open(&claimed).unwrap();
            assert_eq!(claimed_header.meta.claimed_until, until);
            assert_eq!(claimed_header.meta.soft_deadline, header.meta.soft_deadline);
            assert_eq!(claimed_header.hard_deadline, header.hard_deadline);
            assert_eq!(claimed_payload, payload);
            payloads(payload);
        }
        Err(error) => {
            let _ = error.to_string();
            assert!(envelope::with_claim(data, Timestamp::EPOCH).is_err());
            payloads(data);
        }
    }
});

fn payloads(bytes: &[u8]) {
    payload::<u64>(bytes);
    payload::<bool>(bytes);
    payload::<String>(bytes);
    payload::<Vec<u8>>(bytes);
    payload::<(u32, String, Option<i16>)>(bytes);
    payload::<Vec<String>>(bytes);
    payload::<Report>(bytes);
}

/// Decodes `bytes` as a payload of `V`, as they are and behind `V`'s shape
/// tag (so that the fuzzer reaches postcard without guessing 8 bytes); what
/// decodes must encode and decode again to the same value.
fn payload<V: Serialize + DeserializeOwned + Default + PartialEq + Debug + 'static>(bytes: &[u8]) {
    check(envelope::decode_payload::<V>(bytes));
    let mut tagged = envelope::encode_payload(&V::default()).unwrap();
    tagged.truncate(8);
    tagged.extend_from_slice(bytes);
    check(envelope::decode_payload::<V>(&tagged));
}

fn check<V: Serialize + DeserializeOwned + PartialEq + Debug + 'static>(decoded: Option<V>) {
    if let Some(value) = decoded {
        let encoded = envelope::encode_payload(&value).unwrap();
        assert_eq!(envelope::decode_payload::<V>(&encoded), Some(value));
    }
}
