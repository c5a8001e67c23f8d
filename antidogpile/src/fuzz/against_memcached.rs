//! The codec against a real memcached (Debian 12's 1.6.18): the exact
//! replies each request gets, through a plain blocking socket.
//!
//! Each check takes the port of a memcached of its own (empty, default
//! options) and panics at the first reply that differs. They run from
//! `tests-integration/tests/memcached_codec.rs`, where the other tests
//! against real servers live, so that the library's own unit tests need
//! no memcached; they are here because the codec is private to the crate.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::time::Duration;

use crate::store::memcached::codec::*;

/// A plain blocking connection to the memcached on `port`.
fn connect(port: u16) -> Client {
    let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).expect("connect to memcached");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("set a read timeout");
    Client {
        stream,
        buf: Vec::new(),
    }
}

/// Decodes the first reply in `buf`, values capped at memcached's default
/// item size (1 MB).
fn decode(buf: &[u8]) -> Result<Option<(Reply, usize)>, ProtocolError> {
    decode_with_limit(buf, 1 << 20)
}

/// The wire key of base64 `token` (sent with the `b` flag), as memcached
/// echoes one: the codec itself encodes only keys memcached could not take
/// plain.
fn base64_key(token: &str) -> WireKey {
    let echoed = format!("HD k{token} b\r\n");
    match decode(echoed.as_bytes()) {
        Ok(Some((reply, _))) => match reply.flags().and_then(|flags| flags.key.clone()) {
            Some(key) => key,
            None => panic!("no key in {reply:?}"),
        },
        other => panic!("an echoed base64 key did not decode: {other:?}"),
    }
}

/// The smallest blocking transport: write bytes, read until a reply decodes.
struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    fn send(&mut self, request: &[u8]) {
        self.stream.write_all(request).expect("write to memcached");
    }

    fn reply(&mut self) -> Reply {
        loop {
            if let Some((reply, used)) = decode(&self.buf).expect("memcached's reply decodes") {
                self.buf.drain(..used);
                return reply;
            }
            let mut chunk = [0u8; 16 * 1024];
            let read = self.stream.read(&mut chunk).expect("read from memcached");
            assert!(read > 0, "memcached closed the connection");
            self.buf.extend_from_slice(&chunk[..read]);
        }
    }

    fn call(&mut self, request: &[u8]) -> Reply {
        self.send(request);
        self.reply()
    }

    fn get(&mut self, key: &WireKey, flags: GetFlags) -> Reply {
        let mut request = Vec::new();
        encode_get(&mut request, key, &flags);
        self.call(&request)
    }

    fn set(&mut self, key: &WireKey, data: &[u8], flags: SetFlags) -> Reply {
        let mut request = Vec::new();
        encode_set(&mut request, key, data, &flags);
        self.call(&request)
    }

    fn delete(&mut self, key: &WireKey, flags: DeleteFlags) -> Reply {
        let mut request = Vec::new();
        encode_delete(&mut request, key, &flags);
        self.call(&request)
    }

    fn arithmetic(&mut self, key: &WireKey, flags: ArithmeticFlags) -> Reply {
        let mut request = Vec::new();
        encode_arithmetic(&mut request, key, &flags);
        self.call(&request)
    }

    /// Every reply so far was read, and no stray bytes follow.
    fn assert_in_step(&mut self) {
        let mut noop = Vec::new();
        encode_noop(&mut noop);
        assert_eq!(self.call(&noop), Reply::NoOp);
        assert!(self.buf.is_empty(), "stray bytes after MN");
    }
}

const READ_ALL: GetFlags = GetFlags {
    value: true,
    client_flags: true,
    cas: true,
    ttl: true,
    size: false,
    key: false,
    vivify: None,
    recache: None,
    opaque: None,
    quiet: false,
};

fn with_cas() -> SetFlags {
    SetFlags {
        return_cas: true,
        ..SetFlags::default()
    }
}

fn returned_cas(reply: &Reply) -> u64 {
    match reply.flags().and_then(|flags| flags.cas) {
        Some(cas) => cas,
        None => panic!("no CAS in {reply:?}"),
    }
}

fn value_of(reply: Reply) -> Vec<u8> {
    match reply {
        Reply::Value { data, .. } => data,
        other => panic!("expected a value, got {other:?}"),
    }
}

pub fn a_miss_is_en(port: u16) {
    let mut mc = connect(port);
    assert_eq!(
        mc.get(&WireKey::new(b"nothing"), READ_ALL),
        Reply::Miss(ReturnFlags::default())
    );
    mc.assert_in_step();
}

pub fn a_set_value_comes_back_with_its_flags_cas_and_ttl(port: u16) {
    let mut mc = connect(port);
    let key = WireKey::new(b"greeting");
    let data = b"hello\r\nEN\r\n\0\xff";
    let stored = mc.set(
        &key,
        data,
        SetFlags {
            ttl: 60,
            client_flags: 7,
            ..with_cas()
        },
    );
    let cas = returned_cas(&stored);
    assert_eq!(
        stored,
        Reply::Done(ReturnFlags {
            cas: Some(cas),
            ..ReturnFlags::default()
        })
    );
    let Reply::Value { flags, data: read } = mc.get(&key, READ_ALL) else {
        panic!("expected a hit");
    };
    assert_eq!(read, data);
    assert_eq!(flags.cas, Some(cas));
    assert_eq!(flags.client_flags, Some(7));
    assert!(
        matches!(flags.ttl, Some(RemainingTtl::Seconds(59..=60))),
        "{:?}",
        flags.ttl
    );

    // No TTL is `t-1`; a value larger than one read still decodes.
    let big: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
    mc.set(&key, &big, SetFlags::default());
    let Reply::Value { flags, data: read } = mc.get(&key, READ_ALL) else {
        panic!("expected a hit");
    };
    assert_eq!(flags.ttl, Some(RemainingTtl::Unlimited));
    assert_eq!(flags.client_flags, Some(0));
    assert_eq!(read, big);
    mc.assert_in_step();
}

pub fn a_set_with_a_stale_cas_is_ex_and_one_on_nothing_is_nf(port: u16) {
    let mut mc = connect(port);
    let key = WireKey::new(b"versioned");
    let first = returned_cas(&mc.set(&key, b"1", with_cas()));
    let second = returned_cas(&mc.set(&key, b"2", with_cas()));
    assert_ne!(first, second);
    let stale = SetFlags {
        compare_cas: Some(first),
        ..SetFlags::default()
    };
    assert_eq!(
        mc.set(&key, b"3", stale),
        Reply::Exists(ReturnFlags::default())
    );
    let fresh = SetFlags {
        compare_cas: Some(second),
        ..SetFlags::default()
    };
    assert_eq!(
        mc.set(&key, b"3", fresh),
        Reply::Done(ReturnFlags::default())
    );
    assert_eq!(value_of(mc.get(&key, READ_ALL)), b"3");
    assert_eq!(
        mc.set(&WireKey::new(b"never-set"), b"x", fresh),
        Reply::NotFound(ReturnFlags::default())
    );
    mc.assert_in_step();
}

pub fn add_on_an_existing_key_is_ns(port: u16) {
    let mut mc = connect(port);
    let key = WireKey::new(b"lease");
    let add = SetFlags {
        mode: SetMode::Add,
        ttl: 30,
        ..SetFlags::default()
    };
    assert_eq!(
        mc.set(&key, b"mine", add),
        Reply::Done(ReturnFlags::default())
    );
    assert_eq!(
        mc.set(&key, b"yours", add),
        Reply::NotStored(ReturnFlags::default())
    );
    assert_eq!(value_of(mc.get(&key, READ_ALL)), b"mine");
    mc.assert_in_step();
}

pub fn delete_is_hd_then_nf_and_ex_with_a_wrong_cas(port: u16) {
    let mut mc = connect(port);
    let key = WireKey::new(b"doomed");
    let cas = returned_cas(&mc.set(&key, b"x", with_cas()));
    let wrong = DeleteFlags {
        compare_cas: Some(cas + 1),
        ..DeleteFlags::default()
    };
    assert_eq!(
        mc.delete(&key, wrong),
        Reply::Exists(ReturnFlags::default())
    );
    let right = DeleteFlags {
        compare_cas: Some(cas),
        ..DeleteFlags::default()
    };
    assert_eq!(mc.delete(&key, right), Reply::Done(ReturnFlags::default()));
    assert_eq!(
        mc.delete(&key, DeleteFlags::default()),
        Reply::NotFound(ReturnFlags::default())
    );
    mc.set(&key, b"y", SetFlags::default());
    assert_eq!(
        mc.delete(&key, DeleteFlags::default()),
        Reply::Done(ReturnFlags::default())
    );
    assert_eq!(mc.get(&key, READ_ALL), Reply::Miss(ReturnFlags::default()));
    mc.assert_in_step();
}

pub fn arithmetic_counts_numbers_and_refuses_anything_else(port: u16) {
    let mut mc = connect(port);
    let counter = WireKey::new(b"counter");
    mc.set(&counter, b"10", SetFlags::default());
    let incr = ArithmeticFlags {
        value: true,
        ..ArithmeticFlags::default()
    };
    let up = mc.arithmetic(&counter, incr);
    assert_eq!(parse_counter(&value_of(up)), Ok(11));
    assert_eq!(
        mc.arithmetic(&counter, ArithmeticFlags::default()),
        Reply::Done(ReturnFlags::default())
    );
    let down = ArithmeticFlags {
        mode: ArithmeticMode::Decrement,
        delta: 5,
        ..incr
    };
    assert_eq!(
        parse_counter(&value_of(mc.arithmetic(&counter, down))),
        Ok(7)
    );
    let floor = ArithmeticFlags { delta: 100, ..down };
    assert_eq!(
        parse_counter(&value_of(mc.arithmetic(&counter, floor))),
        Ok(0)
    );

    let missing = WireKey::new(b"no-counter");
    assert_eq!(
        mc.arithmetic(&missing, incr),
        Reply::NotFound(ReturnFlags::default())
    );
    let vivify = ArithmeticFlags {
        vivify: Some(Vivify { ttl: 0, initial: 7 }),
        ..incr
    };
    assert_eq!(
        parse_counter(&value_of(mc.arithmetic(&missing, vivify))),
        Ok(7)
    );

    let text = WireKey::new(b"text");
    mc.set(&text, b"abc", SetFlags::default());
    assert_eq!(
        mc.arithmetic(&text, incr),
        Reply::ClientError("cannot increment or decrement non-numeric value".into())
    );
    // That error leaves the connection in step: one reply, nothing more.
    mc.assert_in_step();
}

pub fn every_kind_of_key_round_trips_under_its_own_name(port: u16) {
    let mut mc = connect(port);
    let keys: Vec<Vec<u8>> = vec![
        b"plain".to_vec(),
        b"a b".to_vec(),
        b"\0".to_vec(),
        b"a\r\nflush_all".to_vec(),
        b"caf\xc3\xa9".to_vec(),
        vec![0xff; 186],
        vec![b'k'; 250],
        vec![b'k'; 251],
        vec![b' '; 1024],
        Vec::new(),
    ];
    for (i, raw) in keys.iter().enumerate() {
        let flags = SetFlags {
            client_flags: i as u32,
            ..SetFlags::default()
        };
        assert_eq!(
            mc.set(&WireKey::new(raw), raw, flags),
            Reply::Done(ReturnFlags::default()),
            "{raw:?}"
        );
    }
    for (i, raw) in keys.iter().enumerate() {
        let wire = WireKey::new(raw);
        let echo = GetFlags {
            key: true,
            ..READ_ALL
        };
        let Reply::Value { flags, data } = mc.get(&wire, echo) else {
            panic!("{raw:?} was lost");
        };
        assert_eq!(data, *raw);
        assert_eq!(flags.client_flags, Some(i as u32));
        assert_eq!(flags.key, Some(wire));
    }
    mc.assert_in_step();
}

pub fn memcached_files_a_base64_key_under_its_decoded_bytes(port: u16) {
    // Why distinct keys must differ in their decoded bytes, not just on the
    // wire: the same bytes sent plain or as base64 are one item.
    let mut mc = connect(port);
    mc.set(&WireKey::new(b"foo"), b"bar", SetFlags::default());
    let as_base64 = base64_key("Zm9v"); // "foo"
    assert_eq!(value_of(mc.get(&as_base64, READ_ALL)), b"bar");
    mc.assert_in_step();
}

pub fn a_quiet_pipeline_answers_only_what_matters_then_mn(port: u16) {
    let mut mc = connect(port);
    let present = WireKey::new(b"p:present");
    let absent = WireKey::new(b"p:absent");
    let quiet_get = GetFlags {
        value: true,
        quiet: true,
        ..GetFlags::default()
    };
    let quiet_delete = |opaque| DeleteFlags {
        opaque: Some(opaque),
        quiet: true,
        ..DeleteFlags::default()
    };
    let mut pipeline = Vec::new();
    let quiet_set = SetFlags {
        opaque: Some(1),
        quiet: true,
        ..SetFlags::default()
    };
    encode_set(&mut pipeline, &present, b"v", &quiet_set);
    let quiet_add = SetFlags {
        mode: SetMode::Add,
        opaque: Some(2),
        ..quiet_set
    };
    encode_set(&mut pipeline, &present, b"w", &quiet_add);
    let miss = GetFlags {
        opaque: Some(3),
        ..quiet_get
    };
    encode_get(&mut pipeline, &absent, &miss);
    let hit = GetFlags {
        opaque: Some(4),
        ..quiet_get
    };
    encode_get(&mut pipeline, &present, &hit);
    encode_delete(&mut pipeline, &absent, &quiet_delete(5));
    encode_delete(&mut pipeline, &present, &quiet_delete(6));
    let quiet_incr = ArithmeticFlags {
        opaque: Some(7),
        quiet: true,
        ..ArithmeticFlags::default()
    };
    encode_arithmetic(&mut pipeline, &absent, &quiet_incr);
    encode_noop(&mut pipeline);
    mc.send(&pipeline);

    let opaque = |n| ReturnFlags {
        opaque: Some(n),
        ..ReturnFlags::default()
    };
    let mut replies = Vec::new();
    loop {
        let reply = mc.reply();
        let end = reply == Reply::NoOp;
        replies.push(reply);
        if end {
            break;
        }
    }
    assert_eq!(
        replies,
        [
            Reply::NotStored(opaque(2)),
            Reply::Value {
                flags: opaque(4),
                data: b"v".to_vec(),
            },
            // memcached 1.6.18 still answers NF to a quiet md and ma.
            Reply::NotFound(opaque(5)),
            Reply::NotFound(opaque(7)),
            Reply::NoOp,
        ]
    );
    assert_eq!(
        mc.get(&present, READ_ALL),
        Reply::Miss(ReturnFlags::default())
    );
    mc.assert_in_step();
}

pub fn one_caller_wins_a_missing_or_invalidated_item(port: u16) {
    let mut mc = connect(port);
    let key = WireKey::new(b"report");
    let vivify = GetFlags {
        value: true,
        vivify: Some(30),
        ..GetFlags::default()
    };
    let win = |flags: ReturnFlags| Reply::Value {
        flags,
        data: Vec::new(),
    };
    assert_eq!(
        mc.get(&key, vivify),
        win(ReturnFlags {
            win: true,
            ..ReturnFlags::default()
        })
    );
    assert_eq!(
        mc.get(&key, vivify),
        win(ReturnFlags {
            win_taken: true,
            ..ReturnFlags::default()
        })
    );

    // An invalidated item (`md ... I`, which the codec does not send) is
    // stale: the first reader wins it, the next sees it taken.
    mc.set(&key, b"old", SetFlags::default());
    assert_eq!(
        mc.call(b"md report I T30\r\n"),
        Reply::Done(ReturnFlags::default())
    );
    let read = GetFlags {
        value: true,
        ..GetFlags::default()
    };
    let stale = |win, win_taken| Reply::Value {
        flags: ReturnFlags {
            stale: true,
            win,
            win_taken,
            ..ReturnFlags::default()
        },
        data: b"old".to_vec(),
    };
    assert_eq!(mc.get(&key, read), stale(true, false));
    assert_eq!(mc.get(&key, read), stale(false, true));
    mc.assert_in_step();
}

/// The flags the store's reads rely on, with `v f c t`.
fn flags_of(reply: &Reply) -> ReturnFlags {
    reply.flags().cloned().unwrap_or_default()
}

fn remaining(reply: &Reply) -> u32 {
    match flags_of(reply).ttl {
        Some(RemainingTtl::Seconds(seconds)) => seconds,
        other => panic!("no remaining TTL in {reply:?}: {other:?}"),
    }
}

pub fn a_vivified_stub_is_empty_with_client_flags_zero_and_its_ttl(port: u16) {
    let mut mc = connect(port);
    let key = WireKey::new(b"cold");
    let lease = GetFlags {
        vivify: Some(4),
        ..READ_ALL
    };
    let won = mc.get(&key, lease);
    let flags = flags_of(&won);
    assert!(flags.win && !flags.win_taken && !flags.stale, "{won:?}");
    assert_eq!(flags.client_flags, Some(0), "{won:?}");
    // `t` is answered before `N` sets the new item's TTL (flags are done
    // in order): the vivifying read itself reports no expiry.
    assert_eq!(flags.ttl, Some(RemainingTtl::Unlimited), "{won:?}");
    let stub_cas = returned_cas(&won);
    assert_eq!(value_of(won), b"");
    // Everyone else, a vivifying read or a plain one, sees it taken.
    for flags in [lease, READ_ALL] {
        let taken = mc.get(&key, flags);
        let seen = flags_of(&taken);
        assert!(seen.win_taken && !seen.win, "{taken:?}");
        assert!((3..=4).contains(&remaining(&taken)), "{taken:?}");
        assert_eq!(returned_cas(&taken), stub_cas, "reads leave the CAS alone");
    }
    // The holder's fill lands by the stub's CAS; a plain read then sees a
    // value with no win flags at all.
    let fill = SetFlags {
        compare_cas: Some(stub_cas),
        ttl: 60,
        client_flags: 7,
        ..SetFlags::default()
    };
    assert_eq!(
        mc.set(&key, b"value", fill),
        Reply::Done(ReturnFlags::default())
    );
    let read = mc.get(&key, lease);
    let seen = flags_of(&read);
    assert!(!seen.win && !seen.win_taken && !seen.stale, "{read:?}");
    assert_eq!(value_of(read), b"value");
    mc.assert_in_step();
}

pub fn invalidating_a_stub_ends_its_lease_and_hands_the_win_on(port: u16) {
    let mut mc = connect(port);
    let key = WireKey::new(b"cold");
    let lease = GetFlags {
        vivify: Some(30),
        ..READ_ALL
    };
    let stub_cas = returned_cas(&mc.get(&key, lease));
    assert_eq!(
        mc.call(b"md cold I T30\r\n"),
        Reply::Done(ReturnFlags::default())
    );
    let fill = SetFlags {
        compare_cas: Some(stub_cas),
        ..SetFlags::default()
    };
    assert_eq!(
        mc.set(&key, b"late", fill),
        Reply::Exists(ReturnFlags::default()),
        "a fill that began before the invalidation is refused"
    );
    let next = mc.get(&key, lease);
    let seen = flags_of(&next);
    assert!(seen.win && seen.stale && !seen.win_taken, "{next:?}");
    assert_ne!(returned_cas(&next), stub_cas);
    assert_eq!(value_of(next), b"");
    mc.assert_in_step();
}

pub fn the_recache_win_goes_to_one_reader_once_the_remaining_ttl_is_below_the_token(port: u16) {
    let mut mc = connect(port);
    let key = WireKey::new(b"report");
    let refresh = GetFlags {
        recache: Some(3),
        ..READ_ALL
    };
    let ttl = SetFlags {
        ttl: 4,
        ..with_cas()
    };
    let cas = returned_cas(&mc.set(&key, b"v1", ttl));
    let early = mc.get(&key, refresh);
    let seen = flags_of(&early);
    assert!(!seen.win && !seen.win_taken, "4 s left, token 3: {early:?}");
    assert_eq!(remaining(&early), 4);
    // memcached's clock ticks once a second: the win comes within 2 s.
    let started = std::time::Instant::now();
    let won = loop {
        let read = mc.get(&key, refresh);
        if flags_of(&read).win || started.elapsed() > Duration::from_secs(3) {
            break read;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let seen = flags_of(&won);
    assert!(seen.win && !seen.win_taken && !seen.stale, "{won:?}");
    assert!(remaining(&won) < 3, "{won:?}");
    assert_eq!(returned_cas(&won), cas, "winning leaves the CAS alone");
    for flags in [refresh, READ_ALL] {
        let taken = mc.get(&key, flags);
        let seen = flags_of(&taken);
        assert!(seen.win_taken && !seen.win, "{taken:?}");
    }
    // Any write replaces the item, and its win with it: a rewrite below
    // the token is won again at once.
    let rewrite = SetFlags {
        compare_cas: Some(cas),
        ttl: 2,
        ..with_cas()
    };
    returned_cas(&mc.set(&key, b"v1 claimed", rewrite));
    let again = mc.get(&key, refresh);
    assert!(flags_of(&again).win, "{again:?}");
    // A TTL of 0 (no expiry) is never below a token.
    mc.set(&key, b"v2", SetFlags::default());
    let never = mc.get(&key, refresh);
    let seen = flags_of(&never);
    assert!(!seen.win && !seen.win_taken, "{never:?}");
    mc.assert_in_step();
}

pub fn invalidation_marks_stale_bumps_the_cas_resets_the_win_and_sets_the_ttl(port: u16) {
    let mut mc = connect(port);
    let key = WireKey::new(b"report");
    let cas = returned_cas(&mc.set(
        &key,
        b"v1",
        SetFlags {
            ttl: 600,
            ..with_cas()
        },
    ));
    // A wrong CAS changes nothing.
    assert_eq!(
        mc.call(format!("md report I C{} T50\r\n", cas + 1).as_bytes()),
        Reply::Exists(ReturnFlags::default())
    );
    let read = mc.get(&key, READ_ALL);
    assert!(
        !flags_of(&read).stale && remaining(&read) == 600,
        "{read:?}"
    );
    assert_eq!(
        mc.call(format!("md report I C{cas} T50\r\n").as_bytes()),
        Reply::Done(ReturnFlags::default())
    );
    let won = mc.get(&key, READ_ALL);
    let seen = flags_of(&won);
    assert!(seen.stale && seen.win && !seen.win_taken, "{won:?}");
    assert_eq!(remaining(&won), 50);
    let new_cas = returned_cas(&won);
    assert_ne!(new_cas, cas, "the CAS is bumped");
    assert_eq!(value_of(won), b"v1", "the value is kept");
    let taken = mc.get(&key, READ_ALL);
    assert!(flags_of(&taken).win_taken, "{taken:?}");
    // A write by the old CAS is refused; one by the new CAS lands fresh.
    let old = SetFlags {
        compare_cas: Some(cas),
        ..SetFlags::default()
    };
    assert_eq!(
        mc.set(&key, b"late", old),
        Reply::Exists(ReturnFlags::default())
    );
    // Invalidating again hands the win on again.
    assert_eq!(
        mc.call(b"md report I T50\r\n"),
        Reply::Done(ReturnFlags::default())
    );
    let again = mc.get(&key, READ_ALL);
    let seen = flags_of(&again);
    assert!(seen.stale && seen.win, "{again:?}");
    let newest = returned_cas(&again);
    let fresh = SetFlags {
        compare_cas: Some(newest),
        ..SetFlags::default()
    };
    assert_eq!(
        mc.set(&key, b"v2", fresh),
        Reply::Done(ReturnFlags::default())
    );
    let read = mc.get(&key, READ_ALL);
    let seen = flags_of(&read);
    assert!(!seen.stale && !seen.win && !seen.win_taken, "{read:?}");
    mc.assert_in_step();
}

pub fn a_set_to_invalid_by_an_older_cas_lands_stale_and_answers_as_a_plain_store(port: u16) {
    let mut mc = connect(port);
    let key = WireKey::new(b"report");
    let old = returned_cas(&mc.set(
        &key,
        b"v1",
        SetFlags {
            ttl: 600,
            ..with_cas()
        },
    ));
    assert_eq!(
        mc.call(b"md report I T50\r\n"),
        Reply::Done(ReturnFlags::default())
    );
    // `ms ... I C<older>`: stored, but stale, keeping the TTL; the reply is
    // the same `HD` as a CAS that matched, so the store does not use it
    // for a held write (whose caller must learn whether it landed fresh).
    assert_eq!(
        mc.call(format!("ms report 4 I C{old} T600\r\nlate\r\n").as_bytes()),
        Reply::Done(ReturnFlags::default())
    );
    let read = mc.get(&key, READ_ALL);
    let seen = flags_of(&read);
    assert!(seen.stale && seen.win, "{read:?}");
    assert_eq!(remaining(&read), 50);
    assert_eq!(value_of(read), b"late");
    mc.assert_in_step();
}
