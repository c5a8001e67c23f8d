//! Properties of argument encoding and fingerprints, over generated arguments.

use std::collections::HashMap;

use proptest::prelude::*;

use super::*;

/// The arguments of a typical memoized function, of every common shape.
type Args = (u64, String, Vec<u8>, Option<i32>, bool, Vec<String>);

fn args() -> impl Strategy<Value = Args> {
    (
        any::<u64>(),
        // Short strings and ones long enough to spill past the inline buffer.
        prop_oneof![".{0,8}", ".{90,200}"],
        prop::collection::vec(any::<u8>(), 0..64),
        any::<Option<i32>>(),
        any::<bool>(),
        prop::collection::vec("[a-c]{0,3}", 0..4),
    )
}

fn encoder_for(args: &Args) -> ArgumentEncoder {
    let mut encoder = ArgumentEncoder::new();
    encoder.push(&args.0);
    encoder.push(args.1.as_str());
    encoder.push(&args.2);
    encoder.push(&args.3);
    encoder.push(&args.4);
    encoder.push(&args.5);
    encoder
}

/// What the encoder hashes.
fn encoded(encoder: &ArgumentEncoder) -> &[u8] {
    match &encoder.spilled {
        Some(spilled) => spilled,
        None => &encoder.inline[..encoder.len],
    }
}

fn take<T: serde::de::DeserializeOwned>(bytes: &mut &[u8]) -> T {
    let (value, rest) = postcard::take_from_bytes::<T>(bytes).expect("argument decodes");
    *bytes = rest;
    value
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The encoded arguments decode back, one by one, to the values pushed,
    /// with nothing left over; and the same values give the same bytes and
    /// the same fingerprint every time.
    #[test]
    fn arguments_round_trip_through_the_encoder(args in args(), seed in any::<u64>()) {
        let encoder = encoder_for(&args);
        let mut bytes = encoded(&encoder);
        let decoded: Args = (
            take(&mut bytes),
            take(&mut bytes),
            take(&mut bytes),
            take(&mut bytes),
            take(&mut bytes),
            take(&mut bytes),
        );
        prop_assert_eq!(&decoded, &args);
        prop_assert!(bytes.is_empty(), "{} bytes left over", bytes.len());

        let again = encoder_for(&args.clone());
        prop_assert_eq!(encoded(&again), encoded(&encoder));
        let fingerprint = encoder.finish(seed);
        prop_assert!(fingerprint.is_some());
        prop_assert_eq!(again.finish(seed), fingerprint);
        prop_assert_eq!(
            fingerprint,
            Some(Fingerprint(xxh3_128_with_seed(encoded(&encoder), seed)))
        );
    }

    /// Distinct argument tuples never share a fingerprint, even when their
    /// parts run together the same way ("ab", "c" against "a", "bc").
    #[test]
    fn distinct_arguments_get_distinct_fingerprints(
        samples in prop::collection::vec(
            ("[ab]{0,3}", "[ab]{0,3}", prop::collection::vec(0u8..3, 0..3)),
            1..64,
        ),
        seed in any::<u64>(),
    ) {
        let mut seen: HashMap<Fingerprint, (String, String, Vec<u8>)> = HashMap::new();
        for sample in samples {
            let mut encoder = ArgumentEncoder::new();
            encoder.push(sample.0.as_str());
            encoder.push(sample.1.as_str());
            encoder.push(&sample.2);
            let fingerprint = encoder.finish(seed).unwrap();
            if let Some(earlier) = seen.insert(fingerprint, sample.clone()) {
                prop_assert_eq!(earlier, sample, "two tuples, one fingerprint");
            }
        }
    }

    /// Equal arguments of distinct (namespace, version) pairs never share a
    /// fingerprint: the seed keeps functions apart.
    #[test]
    fn distinct_namespaces_and_versions_get_distinct_fingerprints(
        keys in prop::collection::vec(("[a:ÿ]{0,4}", 0u32..3), 1..64),
        argument in any::<u64>(),
    ) {
        let mut seen: HashMap<Fingerprint, (String, u32)> = HashMap::new();
        for key in keys {
            let mut encoder = ArgumentEncoder::new();
            encoder.push(&argument);
            let fingerprint = encoder.finish(namespace_seed(&key.0, key.1)).unwrap();
            if let Some(earlier) = seen.insert(fingerprint, key.clone()) {
                prop_assert_eq!(earlier, key, "two namespaces, one fingerprint");
            }
        }
    }
}
