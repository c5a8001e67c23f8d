//! memcached hands the win of a stale value (`mg ... R`) to one reader and
//! never takes it back: a winner that dies before it records its claim (its
//! first renewal) must still be replaced within seconds (the liveness
//! window, 3 s, plus 1 s: see the README's "Liveness"), and not before its
//! claim, a window from its win, has ended.
//!
//! The dead winner here is a plain memcached client that takes the win and
//! does nothing with it, as a SIGKILLed process would.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use antidogpile::{antidogpiled, install_named, Cache};
use common::fault_proxy::FaultProxy;
use common::memcached::Memcached;

static COMPUTES: AtomicUsize = AtomicUsize::new(0);

/// Stale after 1 s, kept 29 s more.
#[antidogpiled(
    soft = "1s",
    factor = 30,
    cache = "native_wins",
    name = "native_wins::report"
)]
fn report(id: u64) -> u64 {
    COMPUTES.fetch_add(1, Ordering::SeqCst) as u64 + id
}

/// Sends one request line to memcached and reads the reply's first line.
fn ask(stream: &mut TcpStream, line: &str) -> String {
    stream.write_all(line.as_bytes()).unwrap();
    stream.write_all(b"\r\n").unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut reply = String::new();
    reader.read_line(&mut reply).unwrap();
    if reply.starts_with("VA ") {
        let mut data = String::new();
        reader.read_line(&mut data).unwrap();
    }
    reply.trim_end().to_owned()
}

#[test]
fn a_winner_dead_before_it_recorded_its_claim_is_replaced_within_seconds() {
    let server = Memcached::start();
    let proxy = FaultProxy::start(server.port());
    install_named(
        "native_wins",
        Cache::from_url(&proxy.url("timeout=2s")).unwrap(),
    );
    assert_eq!(report(1), 1);
    let key = proxy
        .request_lines()
        .iter()
        .find_map(|line| {
            let mut words = line.split_ascii_whitespace();
            (words.next() == Some("mg"))
                .then(|| words.next())
                .flatten()
                .filter(|key| key.starts_with("native_wins::report:"))
                .map(str::to_owned)
        })
        .expect("the function's key on the wire");

    // Stale: a "process" takes the win, and dies without a word.
    std::thread::sleep(Duration::from_millis(1_100));
    let mut dead = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    let won = ask(&mut dead, &format!("mg {key} c R1000000"));
    assert!(won.contains(" W"), "the win is taken: {won}");
    let died = Instant::now();
    drop(dead);

    // Every other caller is served the stale value until the winner's claim
    // has ended (a live one would have renewed it, and so recorded it); then
    // one takes the refresh over.
    let mut took_over = None;
    while died.elapsed() < Duration::from_secs(20) {
        let value = report(1);
        if value != 1 {
            took_over = Some(died.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let took_over = took_over.expect("the dead winner's refresh was never taken over");
    println!("a winner dead before its first renewal was replaced after {took_over:?}");
    assert_eq!(COMPUTES.load(Ordering::SeqCst), 2, "one takeover");
    assert!(
        took_over >= Duration::from_secs(3),
        "taken over after {took_over:?}: a live winner's claim lasts its window (3 s)"
    );
    assert!(
        took_over <= Duration::from_millis(4_750),
        "taken over after {took_over:?}: the bound is the window plus 1 s"
    );
}
