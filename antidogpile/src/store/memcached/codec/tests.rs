//! The codec without a server: exact request bytes, every reply kind, partial
//! and pipelined buffers, garbage, and keys that try to escape their token.

use std::collections::HashMap;

use antidogpile_test_support::rng::XorShift;

use super::*;

fn key(bytes: &[u8]) -> WireKey {
    WireKey::new(bytes)
}

fn get(key: &WireKey, flags: GetFlags) -> Vec<u8> {
    let mut out = Vec::new();
    encode_get(&mut out, key, &flags);
    out
}

fn set(key: &WireKey, data: &[u8], flags: SetFlags) -> Vec<u8> {
    let mut out = Vec::new();
    encode_set(&mut out, key, data, &flags);
    out
}

fn delete(key: &WireKey, flags: DeleteFlags) -> Vec<u8> {
    let mut out = Vec::new();
    encode_delete(&mut out, key, &flags);
    out
}

fn arithmetic(key: &WireKey, flags: ArithmeticFlags) -> Vec<u8> {
    let mut out = Vec::new();
    encode_arithmetic(&mut out, key, &flags);
    out
}

// --- requests -------------------------------------------------------------

#[test]
fn meta_get_bytes() {
    let foo = key(b"foo");
    assert_eq!(get(&foo, GetFlags::default()), b"mg foo\r\n");
    let read = GetFlags {
        value: true,
        client_flags: true,
        cas: true,
        ttl: true,
        ..GetFlags::default()
    };
    assert_eq!(get(&foo, read), b"mg foo v f c t\r\n");
    let everything = GetFlags {
        key: true,
        vivify: Some(30),
        recache: Some(5),
        opaque: Some(7),
        quiet: true,
        ..read
    };
    assert_eq!(get(&foo, everything), b"mg foo v f c t k N30 R5 O7 q\r\n");
    let value = GetFlags {
        value: true,
        ..GetFlags::default()
    };
    assert_eq!(get(&key(b"a b"), value), b"mg YSBi b v\r\n");
}

#[test]
fn meta_set_bytes() {
    let foo = key(b"foo");
    let plain = SetFlags {
        ttl: 60,
        client_flags: 5,
        ..SetFlags::default()
    };
    assert_eq!(set(&foo, b"bar", plain), b"ms foo 3 MS T60 F5\r\nbar\r\n");
    let add = SetFlags {
        mode: SetMode::Add,
        return_cas: true,
        ..SetFlags::default()
    };
    assert_eq!(set(&foo, b"", add), b"ms foo 0 ME T0 F0 c\r\n\r\n");
    let every_flag = SetFlags {
        mode: SetMode::Set,
        ttl: 1,
        client_flags: u32::MAX,
        compare_cas: Some(u64::MAX),
        return_cas: true,
        opaque: Some(9),
        quiet: true,
    };
    assert_eq!(
        set(&foo, b"a\r\nb", every_flag),
        b"ms foo 4 MS T1 F4294967295 C18446744073709551615 c O9 q\r\na\r\nb\r\n"
    );
    assert_eq!(
        set(&key(b"\0"), b"x", SetFlags::default()),
        b"ms AA== 1 b MS T0 F0\r\nx\r\n"
    );
}

#[test]
fn meta_delete_bytes() {
    let foo = key(b"foo");
    assert_eq!(delete(&foo, DeleteFlags::default()), b"md foo\r\n");
    let all = DeleteFlags {
        compare_cas: Some(42),
        invalidate: true,
        ttl: Some(9),
        opaque: Some(1),
        quiet: true,
    };
    assert_eq!(delete(&foo, all), b"md foo C42 I T9 O1 q\r\n");
    assert_eq!(
        delete(&key(b"\xff"), DeleteFlags::default()),
        b"md /w== b\r\n"
    );
}

#[test]
fn meta_arithmetic_bytes() {
    let n = key(b"n");
    assert_eq!(
        arithmetic(&n, ArithmeticFlags::default()),
        b"ma n MI D1\r\n"
    );
    let all = ArithmeticFlags {
        mode: ArithmeticMode::Decrement,
        delta: 5,
        vivify: Some(Vivify {
            ttl: 60,
            initial: 10,
        }),
        value: true,
        cas: true,
        opaque: Some(3),
        quiet: true,
    };
    assert_eq!(arithmetic(&n, all), b"ma n MD D5 N60 J10 v c O3 q\r\n");
    assert_eq!(
        arithmetic(&key(b"n 1"), ArithmeticFlags::default()),
        b"ma biAx b MI D1\r\n"
    );
}

#[test]
fn meta_noop_bytes() {
    let mut out = Vec::new();
    encode_noop(&mut out);
    assert_eq!(out, b"mn\r\n");
}

#[test]
fn requests_append_to_one_pipeline_buffer() {
    let mut out = Vec::new();
    let quiet = GetFlags {
        value: true,
        quiet: true,
        ..GetFlags::default()
    };
    encode_get(&mut out, &key(b"a"), &quiet);
    encode_get(&mut out, &key(b"b"), &quiet);
    encode_noop(&mut out);
    assert_eq!(out, b"mg a v q\r\nmg b v q\r\nmn\r\n");
}

// --- base64 ---------------------------------------------------------------

#[test]
fn base64_matches_the_standard_vectors() {
    for (plain, encoded) in [
        (&b"f"[..], &b"Zg=="[..]),
        (b"fo", b"Zm8="),
        (b"foo", b"Zm9v"),
        (b"foob", b"Zm9vYg=="),
        (b"fooba", b"Zm9vYmE="),
        (b"foobar", b"Zm9vYmFy"),
        (b"\xfb\xff", b"+/8="),
    ] {
        let mut out = Vec::new();
        base64_encode_into(&mut out, plain);
        assert_eq!(out, encoded);
        assert_eq!(base64_decode(encoded).as_deref(), Some(plain));
    }
}

#[test]
fn base64_round_trips_every_length_and_rejects_what_it_cannot_produce() {
    let mut rng = XorShift::new(0x9e37_79b9_7f4a_7c15);
    for len in 0..300 {
        let plain = rng.bytes(len);
        let mut out = Vec::new();
        base64_encode_into(&mut out, &plain);
        assert_eq!(out.len(), base64_len(len));
        assert_eq!(base64_decode(&out), Some(plain));
    }
    for bad in [
        &b"Zm9"[..],
        b"Zm9v=",
        b"Z===",
        b"Zg=a",
        b"Zg==Zm9v",
        b"Zm9 ",
        b"Zh==", // leftover bits: "Zg==" is the only text for "f"
        b"Zm9\0",
    ] {
        assert_eq!(
            base64_decode(bad),
            None,
            "{:?}",
            bad.escape_ascii().to_string()
        );
    }
}

// --- keys -----------------------------------------------------------------

#[test]
fn plain_keys_go_as_they_are() {
    for plain in [
        &b"foo"[..],
        b"a:b:c/d?e=1",
        b"~",
        &[b'k'; MAX_KEY_TOKEN][..],
    ] {
        let wire = key(plain);
        assert_eq!(wire.token(), plain);
        assert!(!wire.is_base64());
    }
}

#[test]
fn other_short_keys_go_as_base64() {
    for binary in [
        &b" "[..],
        b"a b",
        b"\0",
        b"\x7f",
        b"caf\xc3\xa9",
        b"\xff\xfe",
        b"a\r\nflush_all",
        &[b' '; 186][..],
    ] {
        let wire = key(binary);
        assert!(wire.is_base64(), "{binary:?}");
        assert!(wire.token().len() <= MAX_KEY_TOKEN);
        assert_eq!(wire.stored_key().as_deref(), Some(binary));
    }
}

#[test]
fn long_and_empty_keys_are_hashed_keeping_their_readable_start() {
    let long = [b'n'; MAX_KEY_TOKEN + 1];
    let wire = key(&long);
    assert!(!wire.is_base64());
    assert_eq!(wire.token().len(), MAX_KEY_TOKEN);
    assert!(wire.token().starts_with(&long[..HASHED_PREFIX_MAX]));
    assert!(looks_hashed(wire.token()));

    let mut spaced = b"my_app::report:v1:".to_vec();
    spaced.extend_from_slice(&[b' '; 200]);
    let wire = key(&spaced);
    assert!(wire.token().starts_with(b"my_app::report:v1:~xxh3~"));
    assert_eq!(wire.token().len(), 18 + HASH_MARKER.len() + HASH_HEX_DIGITS);

    let empty = key(b"");
    assert!(!empty.is_base64());
    assert!(empty.token().starts_with(HASH_MARKER));
    assert!(looks_hashed(empty.token()));
}

#[test]
fn a_key_that_looks_hashed_is_hashed_again() {
    let long = vec![b'a'; 1024];
    let hashed = key(&long);
    let lookalike = key(hashed.token());
    assert_ne!(lookalike, hashed);
    assert_ne!(lookalike.stored_key(), hashed.stored_key());
    assert!(lookalike.token().len() <= MAX_KEY_TOKEN);
}

/// The keys most likely to break out of their token or to collide.
fn hostile_keys() -> Vec<Vec<u8>> {
    let mut keys: Vec<Vec<u8>> = [
        &b""[..],
        b" ",
        b"\0",
        b"\r",
        b"\n",
        b"\r\n",
        b"\t",
        b"\x7f",
        b"a",
        b"A",
        b"a\r\nflush_all",
        b"a\r\nflush_all\r\n",
        b"a\nmn",
        b"x v\r\nmd y",
        b"foo b",
        b"foo\0",
        b"Zm9v",
        b"YSBi",
        b"\xc3\xa9",
        b"\xff\xfe\xfd",
        b"mn",
        b"=",
        b"~xxh3~",
    ]
    .iter()
    .map(|k| k.to_vec())
    .collect();
    for len in [185, 186, 187, 212, 213, 249, 250, 251, 1024] {
        keys.push(vec![b'k'; len]);
        keys.push(vec![b' '; len]);
        keys.push(vec![0xff; len]);
        let mut tail = vec![b'k'; len];
        tail.push(b'\n');
        keys.push(tail);
    }
    // Long keys that differ only at the end, or only in their hashed part.
    let mut a = vec![b'p'; 1024];
    let mut b = a.clone();
    a.push(b'1');
    b.push(b'2');
    keys.extend([a.clone(), b]);
    keys.push(key(&a).token().to_vec());
    keys.push(key(b"").token().to_vec());
    let mut rng = XorShift::new(42);
    for _ in 0..2000 {
        let len = rng.below(400);
        keys.push(rng.bytes(len));
    }
    keys.sort();
    keys.dedup();
    keys
}

/// A request's command line, checked to be one line of clean tokens; the
/// rest of the request (the data block of `ms`) is returned unchecked.
fn one_command_line(request: &[u8]) -> (Vec<&[u8]>, &[u8]) {
    let end = request
        .windows(2)
        .position(|w| w == b"\r\n")
        .expect("a command line ends in CRLF");
    let line = &request[..end];
    assert!(
        line.iter().all(|&b| b == b' ' || b.is_ascii_graphic()),
        "control or non-ASCII byte in {:?}",
        line.escape_ascii().to_string()
    );
    let tokens: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
    assert!(tokens.iter().all(|t| !t.is_empty()), "empty token");
    (tokens, &request[end + 2..])
}

#[test]
fn no_key_can_add_a_command_line() {
    let all_get = GetFlags {
        value: true,
        client_flags: true,
        cas: true,
        ttl: true,
        size: true,
        key: true,
        vivify: Some(1),
        recache: Some(1),
        opaque: Some(1),
        quiet: true,
    };
    for raw in hostile_keys() {
        let wire = key(&raw);
        assert!(!wire.token().is_empty() && wire.token().len() <= MAX_KEY_TOKEN);
        let b_flag = usize::from(wire.is_base64());
        for request in [
            get(&wire, all_get),
            delete(&wire, DeleteFlags::default()),
            arithmetic(&wire, ArithmeticFlags::default()),
        ] {
            let (tokens, rest) = one_command_line(&request);
            assert!(rest.is_empty(), "more than one line for {raw:?}");
            assert_eq!(tokens[1], wire.token());
            assert_eq!(tokens.iter().filter(|t| **t == b"b").count(), b_flag);
        }
        // The data block may hold anything: the length says where it ends.
        let data = b"x\r\nflush_all\r\n";
        let request = set(&wire, data, SetFlags::default());
        let (tokens, rest) = one_command_line(&request);
        assert_eq!(tokens[..3], [&b"ms"[..], wire.token(), b"14"]);
        assert_eq!(rest, b"x\r\nflush_all\r\n\r\n");
    }
}

#[test]
fn distinct_keys_stay_distinct_in_memcached() {
    // memcached files a `b` key under its decoded bytes, so those must differ.
    let mut seen: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
    let keys = hostile_keys();
    for raw in &keys {
        let stored = key(raw).stored_key().expect("our base64 decodes");
        if let Some(other) = seen.insert(stored, raw.clone()) {
            panic!("{raw:?} and {other:?} share a memcached key");
        }
    }
    assert_eq!(seen.len(), keys.len());
}

// --- replies --------------------------------------------------------------

fn flags() -> ReturnFlags {
    ReturnFlags::default()
}

fn decoded(buf: &[u8]) -> Reply {
    match decode(buf) {
        Ok(Some((reply, used))) => {
            assert_eq!(used, buf.len(), "one whole reply");
            reply
        }
        other => panic!("{:?}: {other:?}", buf.escape_ascii().to_string()),
    }
}

/// One of each reply kind, with the flags memcached sends, and what each
/// decodes to.
fn every_reply() -> Vec<(&'static [u8], Reply)> {
    vec![
        (
            b"VA 3 f5 c1 t60 kfoo s3\r\nbar\r\n",
            Reply::Value {
                flags: ReturnFlags {
                    cas: Some(1),
                    client_flags: Some(5),
                    ttl: Some(RemainingTtl::Seconds(60)),
                    size: Some(3),
                    key: Some(key(b"foo")),
                    ..flags()
                },
                data: b"bar".to_vec(),
            },
        ),
        (
            b"VA 0 c13 t30 W\r\n\r\n",
            Reply::Value {
                flags: ReturnFlags {
                    cas: Some(13),
                    ttl: Some(RemainingTtl::Seconds(30)),
                    win: true,
                    ..flags()
                },
                data: Vec::new(),
            },
        ),
        (
            b"VA 3 c15 t29 Z X\r\nold\r\n",
            Reply::Value {
                flags: ReturnFlags {
                    cas: Some(15),
                    ttl: Some(RemainingTtl::Seconds(29)),
                    win_taken: true,
                    stale: true,
                    ..flags()
                },
                data: b"old".to_vec(),
            },
        ),
        (
            b"VA 4 t-1\r\n\r\nEN\r\n",
            Reply::Value {
                flags: ReturnFlags {
                    ttl: Some(RemainingTtl::Unlimited),
                    ..flags()
                },
                data: b"\r\nEN".to_vec(),
            },
        ),
        (
            b"HD c18446744073709551615\r\n",
            Reply::Done(ReturnFlags {
                cas: Some(u64::MAX),
                ..flags()
            }),
        ),
        (b"HD\r\n", Reply::Done(flags())),
        (b"EN\r\n", Reply::Miss(flags())),
        (
            b"EN O4294967295 kAA== b\r\n",
            Reply::Miss(ReturnFlags {
                opaque: Some(u32::MAX),
                key: Some(key(b"\0")),
                ..flags()
            }),
        ),
        (b"NS\r\n", Reply::NotStored(flags())),
        (
            b"EX c0 O9\r\n",
            Reply::Exists(ReturnFlags {
                cas: Some(0),
                opaque: Some(9),
                ..flags()
            }),
        ),
        (b"NF\r\n", Reply::NotFound(flags())),
        (b"MN\r\n", Reply::NoOp),
        (b"ERROR\r\n", Reply::Error(String::new())),
        (
            b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
            Reply::ClientError("cannot increment or decrement non-numeric value".into()),
        ),
        (
            b"SERVER_ERROR out of memory storing object\r\n",
            Reply::ServerError("out of memory storing object".into()),
        ),
    ]
}

#[test]
fn every_reply_kind_decodes() {
    for (bytes, expected) in every_reply() {
        assert_eq!(
            decoded(bytes),
            expected,
            "{:?}",
            bytes.escape_ascii().to_string()
        );
    }
}

#[test]
fn unknown_flags_are_skipped_and_flags_are_reachable() {
    let reply = decoded(b"HD s3 h1 l5 c7\r\n");
    assert_eq!(reply.flags().and_then(|f| f.cas), Some(7));
    assert_eq!(reply.flags().and_then(|f| f.size), Some(3));
    assert_eq!(Reply::NoOp.flags(), None);
}

#[test]
fn every_prefix_of_a_reply_asks_for_more() {
    for (bytes, expected) in every_reply() {
        for cut in 0..bytes.len() {
            assert_eq!(decode(&bytes[..cut]), Ok(None), "{cut} bytes of {bytes:?}");
        }
        assert_eq!(decoded(bytes), expected);
    }
}

#[test]
fn pipelined_replies_decode_one_by_one_however_they_arrive() {
    let replies = every_reply();
    let stream: Vec<u8> = replies
        .iter()
        .flat_map(|(b, _)| b.iter().copied())
        .collect();
    let expected: Vec<Reply> = replies.into_iter().map(|(_, r)| r).collect();

    // All at once.
    let mut rest = &stream[..];
    let mut got = Vec::new();
    while let Some((reply, used)) = decode(rest).unwrap() {
        got.push(reply);
        rest = &rest[used..];
    }
    assert!(rest.is_empty());
    assert_eq!(got, expected);

    // In chunks of every size, as a transport would read them.
    for chunk in 1..=stream.len() {
        let mut buf = Vec::new();
        let mut got = Vec::new();
        for piece in stream.chunks(chunk) {
            buf.extend_from_slice(piece);
            while let Some((reply, used)) = decode(&buf).unwrap() {
                got.push(reply);
                buf.drain(..used);
            }
        }
        assert!(buf.is_empty());
        assert_eq!(got, expected, "chunks of {chunk}");
    }
}

#[test]
fn malformed_replies_are_typed_errors() {
    let cases: &[(&[u8], ProtocolError)] = &[
        (b"HD\n", ProtocolError::BadLineEnding),
        (b"\n", ProtocolError::BadLineEnding),
        (
            b"\r\n",
            ProtocolError::UnknownReply {
                start: String::new(),
            },
        ),
        (
            b"STORED\r\n",
            ProtocolError::UnknownReply {
                start: "STORED".into(),
            },
        ),
        (
            b" HD\r\n",
            ProtocolError::UnknownReply {
                start: " HD".into(),
            },
        ),
        (
            b"\xffHD\0\r\n",
            ProtocolError::UnknownReply {
                start: "\\xffHD\\x00".into(),
            },
        ),
        (
            b"VA\r\n",
            ProtocolError::BadValueSize {
                token: String::new(),
            },
        ),
        (
            b"VA -1\r\n",
            ProtocolError::BadValueSize { token: "-1".into() },
        ),
        (
            b"VA 3x\r\nabc\r\n",
            ProtocolError::BadValueSize { token: "3x".into() },
        ),
        (
            b"VA 18446744073709551616\r\n",
            ProtocolError::BadValueSize {
                token: "18446744073709551616".into(),
            },
        ),
        (
            b"VA 18446744073709551615\r\n",
            ProtocolError::ValueTooLarge {
                size: u64::MAX,
                limit: DEFAULT_MAX_VALUE,
            },
        ),
        (
            b"VA 1048577\r\n",
            ProtocolError::ValueTooLarge {
                size: 1_048_577,
                limit: DEFAULT_MAX_VALUE,
            },
        ),
        (b"VA 3\r\nbarXY", ProtocolError::MissingDataEnd),
        (b"VA 3\r\nbar\n\r", ProtocolError::MissingDataEnd),
        (b"HD c\r\n", ProtocolError::BadFlag { token: "c".into() }),
        (
            b"HD c-1\r\n",
            ProtocolError::BadFlag {
                token: "c-1".into(),
            },
        ),
        (
            b"HD c18446744073709551616\r\n",
            ProtocolError::BadFlag {
                token: "c18446744073709551616".into(),
            },
        ),
        (
            b"VA 1 f4294967296\r\nx\r\n",
            ProtocolError::BadFlag {
                token: "f4294967296".into(),
            },
        ),
        (
            b"HD t-2\r\n",
            ProtocolError::BadFlag {
                token: "t-2".into(),
            },
        ),
        (b"HD Wx\r\n", ProtocolError::BadFlag { token: "Wx".into() }),
        (
            b"HD Oabc\r\n",
            ProtocolError::BadFlag {
                token: "Oabc".into(),
            },
        ),
        (b"HD 5\r\n", ProtocolError::BadFlag { token: "5".into() }),
        (b"HD k\r\n", ProtocolError::BadFlag { token: "k".into() }),
        (
            b"EN kZm9 b\r\n",
            ProtocolError::BadFlag {
                token: "Zm9".into(),
            },
        ),
        (b"MN O1\r\n", ProtocolError::TrailingTokens { reply: "MN" }),
    ];
    for (bytes, expected) in cases {
        assert_eq!(
            decode(bytes).as_ref(),
            Err(expected),
            "{:?}",
            bytes.escape_ascii().to_string()
        );
        assert!(!expected.to_string().is_empty());
    }
}

#[test]
fn a_header_without_an_end_is_refused_at_the_limit() {
    let mut endless = b"HD ".to_vec();
    endless.resize(MAX_HEADER_LINE - 1, b'a');
    assert_eq!(decode(&endless), Ok(None));
    endless.push(b'a');
    assert_eq!(
        decode(&endless),
        Err(ProtocolError::HeaderTooLong {
            limit: MAX_HEADER_LINE
        })
    );
    // A line end past the limit does not help.
    endless.extend_from_slice(b"\r\n");
    assert!(decode(&endless).is_err());
}

#[test]
fn the_value_limit_is_configurable_and_checked_before_the_data_arrives() {
    assert_eq!(
        decode_with_limit(b"VA 5\r\n", 4),
        Err(ProtocolError::ValueTooLarge { size: 5, limit: 4 })
    );
    assert_eq!(decode_with_limit(b"VA 4\r\n", 4), Ok(None));
    assert_eq!(
        decode_with_limit(b"VA 4\r\nabcd\r\n", 4).map(|r| r.map(|(_, used)| used)),
        Ok(Some(12))
    );
    // A limit as large as memory can be does not overflow the arithmetic.
    assert!(matches!(
        decode_with_limit(b"VA 18446744073709551615\r\n", usize::MAX),
        Err(ProtocolError::ValueTooLarge { .. })
    ));
}

#[test]
fn counters_parse_or_fail_cleanly() {
    assert_eq!(parse_counter(b"0"), Ok(0));
    assert_eq!(parse_counter(b"18446744073709551615"), Ok(u64::MAX));
    for bad in [
        &b""[..],
        b"-1",
        b"1.5",
        b" 1",
        b"18446744073709551616",
        b"\xff",
    ] {
        assert!(matches!(
            parse_counter(bad),
            Err(ProtocolError::BadCounter { .. })
        ));
    }
}

/// Mutations of real replies and plain noise: decode never panics, never
/// consumes more than it was given, and never asks for more than its limits.
#[test]
fn decode_survives_garbage() {
    let replies: Vec<u8> = every_reply()
        .iter()
        .flat_map(|(b, _)| b.iter().copied())
        .collect();
    let alphabet = b"VAHDENSXFMOkcftbWZ0123456789- \r\n\0\xff";
    let mut rng = XorShift::new(0xdead_beef_cafe_f00d);
    let mut outcomes = [0usize; 3];
    for round in 0..20_000 {
        let buf: Vec<u8> = match round % 4 {
            0 => {
                let len = rng.below(64);
                rng.bytes(len)
            }
            1 => {
                let len = rng.below(64);
                (0..len)
                    .map(|_| alphabet[rng.below(alphabet.len())])
                    .collect()
            }
            2 => {
                let mut buf = replies.clone();
                for _ in 0..1 + rng.below(4) {
                    let at = rng.below(buf.len());
                    match rng.below(3) {
                        0 => buf[at] = rng.next_u64() as u8,
                        1 => {
                            buf.remove(at);
                        }
                        _ => buf.insert(at, alphabet[rng.below(alphabet.len())]),
                    }
                }
                let cut = rng.below(buf.len() + 1);
                buf.truncate(cut);
                buf
            }
            _ => {
                let mut buf = b"VA ".to_vec();
                let digits = 1 + rng.below(25);
                buf.extend((0..digits).map(|_| b'0' + rng.below(10) as u8));
                buf.extend_from_slice(b" c1\r\n");
                let len = rng.below(32);
                buf.extend(rng.bytes(len));
                buf
            }
        };
        let limit = [0, 3, 64, DEFAULT_MAX_VALUE][rng.below(4)];
        // Decode the whole buffer reply by reply, as a transport would.
        let mut rest = &buf[..];
        loop {
            match decode_with_limit(rest, limit) {
                Ok(Some((_, used))) => {
                    assert!(used > 0 && used <= rest.len());
                    rest = &rest[used..];
                    outcomes[0] += 1;
                }
                Ok(None) => {
                    assert!(rest.len() < MAX_HEADER_LINE + limit + 2);
                    outcomes[1] += 1;
                    break;
                }
                Err(error) => {
                    assert!(!error.to_string().is_empty());
                    outcomes[2] += 1;
                    break;
                }
            }
        }
    }
    // The inputs reached every outcome, so the loop tested something.
    assert!(outcomes.iter().all(|&n| n > 1000), "{outcomes:?}");
}

/// Each encoder reserves its line's room up front: with every flag at its
/// longest, the line still fits in it, so a request buffer grows once.
#[test]
fn the_longest_command_lines_fit_the_room_reserved_for_them() {
    let long = key(&[0xff; 186]); // base64, 248 bytes: the longest token
    let data = [7u8; 300];
    let line = |request: &[u8], data_len: usize| request.len() - data_len - long.token().len();
    let get_line = get(
        &long,
        GetFlags {
            value: true,
            client_flags: true,
            cas: true,
            ttl: true,
            size: true,
            key: true,
            vivify: Some(u32::MAX),
            recache: Some(u32::MAX),
            opaque: Some(u32::MAX),
            quiet: true,
        },
    );
    let set_line = set(
        &long,
        &data,
        SetFlags {
            mode: SetMode::Add,
            ttl: u32::MAX,
            client_flags: u32::MAX,
            compare_cas: Some(u64::MAX),
            return_cas: true,
            opaque: Some(u32::MAX),
            quiet: true,
        },
    );
    let delete_line = delete(
        &long,
        DeleteFlags {
            compare_cas: Some(u64::MAX),
            invalidate: true,
            ttl: Some(u32::MAX),
            opaque: Some(u32::MAX),
            quiet: true,
        },
    );
    let arithmetic_line = arithmetic(
        &long,
        ArithmeticFlags {
            mode: ArithmeticMode::Decrement,
            delta: u64::MAX,
            vivify: Some(Vivify {
                ttl: u32::MAX,
                initial: u64::MAX,
            }),
            value: true,
            cas: true,
            opaque: Some(u32::MAX),
            quiet: true,
        },
    );
    for (name, length) in [
        ("mg", line(&get_line, 0)),
        ("ms", line(&set_line, data.len() + 2)),
        ("md", line(&delete_line, 0)),
        ("ma", line(&arithmetic_line, 0)),
    ] {
        assert!(
            length <= LINE_ROOM,
            "{name}: {length} bytes besides the key"
        );
    }
}
