//! A memcached that is down, restarted, stalled or talking nonsense makes
//! calls slower (they compute, within the timeout), never wrong, and never
//! makes them hang or panic.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use antidogpile::antidogpiled;
use antidogpile::{install_named, Cache};
use common::memcached::Memcached;

/// Far above the timeouts configured below: a call that takes this long hung.
const HUNG: Duration = Duration::from_secs(5);

static RESTART_CALLS: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(soft = "1h", cache = "fault_restart", name = "fault::restart")]
fn through_restarts(id: u64) -> u64 {
    RESTART_CALLS.fetch_add(1, Ordering::SeqCst);
    id * 2
}

#[test]
fn a_server_killed_and_restarted_costs_computes_then_caching_resumes() {
    let mut server = Memcached::start();
    let url = server.url("timeout=300ms&retry_after=200ms");
    install_named("fault_restart", Cache::from_url(&url).unwrap());
    assert_eq!(through_restarts(1), 2);
    assert_eq!(through_restarts(1), 2);
    assert_eq!(RESTART_CALLS.load(Ordering::SeqCst), 1, "cached");

    server.kill();
    for _ in 0..5 {
        let started = Instant::now();
        assert_eq!(
            through_restarts(1),
            2,
            "right values while the server is down"
        );
        assert!(started.elapsed() < HUNG);
    }
    assert_eq!(
        RESTART_CALLS.load(Ordering::SeqCst),
        6,
        "computed while down"
    );
    assert!(antidogpile::stats("fault::restart").unwrap().store_errors >= 1);

    server.restart();
    std::thread::sleep(Duration::from_millis(250)); // past retry_after
    assert_eq!(through_restarts(1), 2);
    let calls = RESTART_CALLS.load(Ordering::SeqCst);
    assert_eq!(through_restarts(1), 2);
    assert_eq!(
        RESTART_CALLS.load(Ordering::SeqCst),
        calls,
        "caching resumed"
    );
}

/// A fake server on loopback that accepts connections and then misbehaves.
fn fake_server(
    misbehave: impl Fn(std::net::TcpStream) + Send + Sync + 'static,
) -> (u16, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = Arc::clone(&stop);
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let misbehave = Arc::new(misbehave);
        while !stopping.load(Ordering::SeqCst) {
            match listener.accept() {
                Ok((stream, _)) => {
                    let _ = stream.set_nonblocking(false);
                    let misbehave = Arc::clone(&misbehave);
                    std::thread::spawn(move || misbehave(stream));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    (port, stop)
}

static STALL_CALLS: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(soft = "1h", cache = "fault_stall", name = "fault::stall")]
fn against_a_stalled_server(id: u64) -> u64 {
    STALL_CALLS.fetch_add(1, Ordering::SeqCst);
    id + 1
}

#[test]
fn a_server_that_never_answers_costs_one_timeout_not_a_hang() {
    let (port, stop) = fake_server(|mut stream| {
        // Read requests forever, answer nothing.
        let mut sink = [0u8; 1024];
        while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
    });
    let url = format!("memcached://127.0.0.1:{port}?timeout=200ms&retry_after=10s");
    install_named("fault_stall", Cache::from_url(&url).unwrap());
    let started = Instant::now();
    assert_eq!(against_a_stalled_server(1), 2);
    assert!(started.elapsed() < HUNG, "took {:?}", started.elapsed());
    // The server is now skipped for retry_after: the next calls do not wait at all.
    let started = Instant::now();
    assert_eq!(against_a_stalled_server(1), 2);
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(STALL_CALLS.load(Ordering::SeqCst), 2);
    stop.store(true, Ordering::SeqCst);
}

static JUNK_CALLS: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(soft = "1h", cache = "fault_junk", name = "fault::junk")]
fn against_a_junk_server(id: u64) -> String {
    JUNK_CALLS.fetch_add(1, Ordering::SeqCst);
    format!("right {id}")
}

#[antidogpiled(soft = "1h", cache = "fault_junk", name = "fault::junk_async")]
async fn against_a_junk_server_async(id: u64) -> String {
    JUNK_CALLS.fetch_add(1, Ordering::SeqCst);
    format!("right {id}")
}

#[test]
fn a_server_replying_garbage_is_a_store_error_and_the_value_is_computed() {
    let replies: &[&[u8]] = &[
        b"VA 99999999999999999999 f1\r\n",
        b"VA 5 f1094975489 c1\r\nab\r\n",
        b"\x00\xff\xfe garbage\r\n",
        b"HD c-1\r\n",
        b"SERVER_ERROR out of memory\r\n",
        b"VA 3 f1094975489 c7\r\nAD\x01\r\n",
    ];
    for reply in replies {
        let answer = reply.to_vec();
        let (port, stop) = fake_server(move |mut stream| {
            let mut request = [0u8; 4096];
            while matches!(stream.read(&mut request), Ok(n) if n > 0) {
                let _ = stream.write_all(&answer);
            }
        });
        let url = format!("memcached://127.0.0.1:{port}?timeout=200ms");
        install_named("fault_junk", Cache::from_url(&url).unwrap());
        let started = Instant::now();
        assert_eq!(
            against_a_junk_server(3),
            "right 3",
            "reply {:?}",
            String::from_utf8_lossy(reply)
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        assert_eq!(runtime.block_on(against_a_junk_server_async(3)), "right 3");
        assert!(started.elapsed() < HUNG);
        stop.store(true, Ordering::SeqCst);
    }
    assert_eq!(
        JUNK_CALLS.load(Ordering::SeqCst),
        2 * replies.len() as u64,
        "every call computed"
    );
}

static SPREAD_CALLS: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(soft = "1h", cache = "fault_spread", name = "fault::spread")]
fn spread(id: u64) -> u64 {
    SPREAD_CALLS.fetch_add(1, Ordering::SeqCst);
    id
}

#[test]
fn with_one_of_two_servers_down_every_key_is_cached_on_the_other() {
    let first = Memcached::start();
    let mut second = Memcached::start();
    let url = format!(
        "memcached://127.0.0.1:{},127.0.0.1:{}?timeout=300ms&retry_after=1h",
        first.port(),
        second.port()
    );
    install_named("fault_spread", Cache::from_url(&url).unwrap());
    second.kill();
    for id in 0..50 {
        assert_eq!(spread(id), id);
    }
    let computed = SPREAD_CALLS.load(Ordering::SeqCst);
    assert_eq!(computed, 50);
    for id in 0..50 {
        assert_eq!(spread(id), id);
    }
    assert_eq!(
        SPREAD_CALLS.load(Ordering::SeqCst),
        50,
        "all 50 cached on the live server"
    );
}

static LOAD_CALLS: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(soft = "1h", cache = "fault_under_load", name = "fault::under_load")]
fn under_load(id: u64) -> u64 {
    LOAD_CALLS.fetch_add(1, Ordering::SeqCst);
    id * 7
}

#[test]
fn a_server_killed_and_restarted_while_threads_call_never_yields_a_wrong_value() {
    let mut server = Memcached::start();
    let url = server.url("timeout=300ms&retry_after=100ms");
    install_named("fault_under_load", Cache::from_url(&url).unwrap());
    common::outage::threads_call_through_a_restart(
        &mut server,
        under_load,
        "fault::under_load",
        &LOAD_CALLS,
    );
}
