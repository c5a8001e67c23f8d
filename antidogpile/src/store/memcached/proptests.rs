//! The wire key built from any [`Key`] is safe on the wire: a single token
//! of at most 250 printable bytes that cannot end the command line or start
//! another, and distinct keys stay distinct in memcached.

use std::collections::HashMap;

use proptest::prelude::*;

use super::codec::{
    encode_arithmetic, encode_delete, encode_get, encode_set, ArithmeticFlags, DeleteFlags,
    GetFlags, SetFlags, WireKey, MAX_KEY_TOKEN,
};
use super::ops::logical_key;
use crate::key::{Fingerprint, Key};

/// Namespaces of every kind: readable, hostile (spaces, CR/LF, control
/// bytes, command text), non-ASCII, and around the length limit.
fn namespace() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z_:]{1,40}",
        "[ -~]{0,300}",
        "[\\x00-\\x20\\x7fa\\r\\n]{0,40}",
        ".{0,120}",
        "[a-z]{0,8}(\r\nmg |\r\n| v\r\n|\n|\r|\0)[a-z]{0,8}",
        "[!-~]{190,260}",
    ]
}

fn wire_key_for(namespace: &str, version: u32, fingerprint: u128) -> (String, WireKey) {
    // Namespaces live as long as the program; a test case's may leak.
    let namespace: &'static str = namespace.to_owned().leak();
    let key = Key::new(Fingerprint::from_u128(fingerprint), namespace, version);
    let logical = logical_key(&key);
    let wire = WireKey::new(logical.as_bytes());
    (logical, wire)
}

/// A token memcached takes as one key: printable ASCII, no space, not empty,
/// not over the limit.
fn assert_safe_token(token: &[u8]) -> Result<(), TestCaseError> {
    prop_assert!(!token.is_empty());
    prop_assert!(token.len() <= MAX_KEY_TOKEN, "{} bytes", token.len());
    prop_assert!(
        token.iter().all(u8::is_ascii_graphic),
        "{:?}",
        token.escape_ascii().to_string()
    );
    Ok(())
}

/// The command line of a request is one line, and its key is its second
/// token, exactly the wire key's token.
fn assert_one_command_line(
    request: &[u8],
    command: &[u8],
    wire: &WireKey,
) -> Result<(), TestCaseError> {
    let end = request
        .windows(2)
        .position(|pair| pair == b"\r\n")
        .expect("a command line ends in CRLF");
    let line = &request[..end];
    prop_assert!(!line.contains(&b'\r') && !line.contains(&b'\n'));
    let mut tokens = line.split(|&b| b == b' ');
    prop_assert_eq!(tokens.next(), Some(command));
    prop_assert_eq!(tokens.next(), Some(wire.token()));
    prop_assert!(tokens.all(|token| !token.is_empty() && token.iter().all(u8::is_ascii_graphic)));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_wire_key_of_any_key_is_one_safe_token(
        namespace in namespace(),
        version in any::<u32>(),
        fingerprint in any::<u128>(),
        data in prop::collection::vec(any::<u8>(), 0..16),
    ) {
        let (logical, wire) = wire_key_for(&namespace, version, fingerprint);
        assert_safe_token(wire.token())?;
        // memcached files it under these bytes: the key itself when it fits,
        // else a hash of it.
        let stored = wire.stored_key().expect("a key built here decodes");
        if wire.is_base64() || wire.token() == logical.as_bytes() {
            prop_assert_eq!(stored, logical.as_bytes());
        } else {
            prop_assert!(logical.len() > MAX_KEY_TOKEN || !logical.bytes().all(|b| b.is_ascii_graphic()));
            prop_assert!(wire.token().windows(6).any(|w| w == b"~xxh3~"));
        }

        let mut request = Vec::new();
        encode_get(&mut request, &wire, &GetFlags { value: true, cas: true, ..GetFlags::default() });
        assert_one_command_line(&request, b"mg", &wire)?;
        prop_assert!(request.ends_with(b"\r\n"));
        prop_assert_eq!(request.windows(2).filter(|pair| pair == b"\r\n").count(), 1);

        let mut request = Vec::new();
        encode_set(&mut request, &wire, &data, &SetFlags::default());
        assert_one_command_line(&request, b"ms", &wire)?;
        prop_assert!(request.ends_with(&[&data[..], b"\r\n"].concat()));

        let mut request = Vec::new();
        encode_delete(&mut request, &wire, &DeleteFlags::default());
        assert_one_command_line(&request, b"md", &wire)?;

        let mut request = Vec::new();
        encode_arithmetic(&mut request, &wire, &ArithmeticFlags::default());
        assert_one_command_line(&request, b"ma", &wire)?;
    }

    /// Whatever bytes a key is made of, its token is safe.
    #[test]
    fn the_wire_key_of_any_bytes_is_one_safe_token(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let wire = WireKey::new(&bytes);
        assert_safe_token(wire.token())?;
        prop_assert!(wire.stored_key().is_some());
    }

    /// Distinct keys are filed under distinct memcached keys.
    #[test]
    fn distinct_keys_get_distinct_wire_keys(
        keys in prop::collection::vec((namespace(), 0u32..2, 0u128..3), 1..48),
    ) {
        let mut seen: HashMap<Vec<u8>, String> = HashMap::new();
        for (namespace, version, fingerprint) in keys {
            let (logical, wire) = wire_key_for(&namespace, version, fingerprint);
            let stored = wire.stored_key().unwrap();
            if let Some(earlier) = seen.insert(stored, logical.clone()) {
                prop_assert_eq!(earlier, logical, "two keys, one memcached key");
            }
        }
    }
}
