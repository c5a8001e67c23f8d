//! A TCP proxy between a store and a real memcached whose faults are
//! switched at run time: drop every connection, delay replies, cut the next
//! reply part-way, refuse new connections, or pass bytes through untouched.
//!
//! Plain std threads: one accepts, two pump each connection (requests up,
//! replies down). Faults act on the replies, where a client notices them.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// No cut armed (see [`FaultProxy::cut_next_reply`]).
const NO_CUT: usize = usize::MAX;

/// A proxy on an ephemeral port of 127.0.0.1 in front of `upstream`.
pub struct FaultProxy {
    port: u16,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

struct Shared {
    upstream: SocketAddr,
    stop: AtomicBool,
    refuse: AtomicBool,
    /// Whether the port listens now (the acceptor's view of `refuse`).
    listening: AtomicBool,
    delay_ms: AtomicU64,
    /// Bytes of the next reply to forward before closing; [`NO_CUT`] if none.
    cut: AtomicUsize,
    accepted: AtomicUsize,
    cuts_done: AtomicUsize,
    /// Requests that arrived on a connection while its previous reply was
    /// held back by a delay: the client reused a connection it gave up on.
    requests_behind_late_replies: AtomicUsize,
    /// Both sockets of every open connection, to drop them all at once.
    open: Mutex<Vec<(TcpStream, TcpStream)>>,
    /// Requests forwarded so far: by command (`mg`, `ms`, ...), the
    /// value bytes they uploaded and their command lines.
    commands: Mutex<Tally>,
}

/// What the clients sent through the proxy.
#[derive(Default)]
struct Tally {
    by_command: Vec<(String, usize)>,
    /// Data bytes of `ms` requests (their line ends not counted).
    value_bytes: u64,
    /// The command lines, without their line ends (the first
    /// [`KEPT_LINES`] only).
    lines: Vec<String>,
}

/// How many request lines the proxy keeps for [`FaultProxy::request_lines`].
const KEPT_LINES: usize = 100_000;

impl FaultProxy {
    /// Starts a proxy forwarding to memcached on `upstream_port` of 127.0.0.1.
    pub fn start(upstream_port: u16) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let shared = Arc::new(Shared {
            upstream: SocketAddr::from(([127, 0, 0, 1], upstream_port)),
            stop: AtomicBool::new(false),
            refuse: AtomicBool::new(false),
            listening: AtomicBool::new(true),
            delay_ms: AtomicU64::new(0),
            cut: AtomicUsize::new(NO_CUT),
            accepted: AtomicUsize::new(0),
            cuts_done: AtomicUsize::new(0),
            requests_behind_late_replies: AtomicUsize::new(0),
            open: Mutex::new(Vec::new()),
            commands: Mutex::new(Tally::default()),
        });
        let accepting = Arc::clone(&shared);
        let acceptor = std::thread::spawn(move || accept_loop(listener, port, &accepting));
        FaultProxy {
            port,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// The port the proxy listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `memcached://127.0.0.1:PORT?QUERY` through the proxy.
    pub fn url(&self, query: &str) -> String {
        format!("memcached://127.0.0.1:{}?{query}", self.port)
    }

    /// Closes every open connection now (both sides); new ones are accepted.
    pub fn drop_connections(&self) {
        for (client, server) in self.open().drain(..) {
            let _ = client.shutdown(Shutdown::Both);
            let _ = server.shutdown(Shutdown::Both);
        }
    }

    /// Holds every reply chunk `delay` before forwarding it (0: no delay).
    pub fn delay_replies(&self, delay: Duration) {
        self.shared
            .delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Forwards only the first `bytes` of the next reply (always at least one
    /// byte short of it), then closes that connection.
    pub fn cut_next_reply(&self, bytes: usize) {
        self.shared.cut.store(bytes, Ordering::SeqCst);
    }

    /// How many replies have been cut so far.
    pub fn cuts_done(&self) -> usize {
        self.shared.cuts_done.load(Ordering::SeqCst)
    }

    /// Refuses new connections (the port stops listening); open ones go on.
    /// Returns once the port is closed.
    pub fn refuse_new_connections(&self) {
        self.shared.refuse.store(true, Ordering::SeqCst);
        self.until_listening(false);
    }

    /// Clears every fault: no delay, no cut armed, connections accepted.
    /// Returns once the port listens.
    pub fn pass_through(&self) {
        self.shared.delay_ms.store(0, Ordering::SeqCst);
        self.shared.cut.store(NO_CUT, Ordering::SeqCst);
        self.shared.refuse.store(false, Ordering::SeqCst);
        self.until_listening(true);
    }

    fn until_listening(&self, listening: bool) {
        while self.shared.listening.load(Ordering::SeqCst) != listening {
            assert!(
                self.acceptor.as_ref().is_some_and(|a| !a.is_finished()),
                "the proxy's acceptor stopped"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// How many requests were sent on a connection whose previous reply was
    /// still held back by a delay. A client that waits for each reply, or
    /// drops the connection when it stops waiting, never does that.
    pub fn requests_behind_late_replies(&self) -> usize {
        self.shared
            .requests_behind_late_replies
            .load(Ordering::SeqCst)
    }

    /// How many `command` requests (`"mg"`, `"ms"`, `"md"`, `"ma"`, `"mn"`,
    /// ...) clients have sent through the proxy so far, on every connection.
    /// The requests are parsed as memcached's text protocol (an `ms`
    /// request's data block is skipped by its length).
    pub fn requests(&self, command: &str) -> usize {
        lock(&self.shared.commands)
            .by_command
            .iter()
            .find(|(name, _)| name == command)
            .map_or(0, |(_, count)| *count)
    }

    /// How many requests clients have sent so far, of every command but
    /// `mn` (the no-op that ends a pipeline, or checks a connection).
    pub fn requests_but_noops(&self) -> usize {
        lock(&self.shared.commands)
            .by_command
            .iter()
            .filter(|(name, _)| name != "mn")
            .map(|(_, count)| count)
            .sum()
    }

    /// How many value bytes clients have uploaded so far: the data blocks
    /// of their `ms` requests.
    pub fn uploaded_value_bytes(&self) -> u64 {
        lock(&self.shared.commands).value_bytes
    }

    /// The command lines clients have sent so far, in the order the proxy
    /// read them (per connection; connections interleave), without their
    /// line ends or data blocks.
    pub fn request_lines(&self) -> Vec<String> {
        lock(&self.shared.commands).lines.clone()
    }

    /// How many connections the proxy has accepted.
    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    fn open(&self) -> std::sync::MutexGuard<'_, Vec<(TcpStream, TcpStream)>> {
        self.shared
            .open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.drop_connections();
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// Accepts while not refusing; while refusing, the listener is closed so
/// that connects fail at once, and it is bound again on the same port after.
fn accept_loop(listener: TcpListener, port: u16, shared: &Arc<Shared>) {
    let mut listener = Some(listener);
    while !shared.stop.load(Ordering::SeqCst) {
        if shared.refuse.load(Ordering::SeqCst) {
            listener = None;
            shared.listening.store(false, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(2));
            continue;
        }
        let open = listener.get_or_insert_with(|| {
            TcpListener::bind(("127.0.0.1", port))
                .unwrap_or_else(|error| panic!("proxy could not listen again on {port}: {error}"))
        });
        let _ = open.set_nonblocking(true);
        shared.listening.store(true, Ordering::SeqCst);
        match open.accept() {
            Ok((client, _)) => {
                shared.accepted.fetch_add(1, Ordering::SeqCst);
                connect_upstream(client, shared);
            }
            Err(error) if error.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(2)),
        }
    }
}

/// Pairs `client` with a new connection to memcached and starts the pumps;
/// if memcached is down, the client's connection is closed at once.
fn connect_upstream(client: TcpStream, shared: &Arc<Shared>) {
    let _ = client.set_nonblocking(false);
    let _ = client.set_nodelay(true);
    let Ok(server) = TcpStream::connect_timeout(&shared.upstream, Duration::from_secs(2)) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    let _ = server.set_nodelay(true);
    let (Ok(client_up), Ok(server_up), Ok(client_kept), Ok(server_kept)) = (
        client.try_clone(),
        server.try_clone(),
        client.try_clone(),
        server.try_clone(),
    ) else {
        return;
    };
    shared
        .open
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .push((client_kept, server_kept));
    // Set while this connection's reply is held back by a delay.
    let late = Arc::new(AtomicBool::new(false));
    let (requests, late_too) = (Arc::clone(shared), Arc::clone(&late));
    std::thread::spawn(move || pump_requests(client_up, server_up, &requests, &late_too));
    let replies = Arc::clone(shared);
    std::thread::spawn(move || pump_replies(server, client, &replies, &late));
}

/// Client to memcached, untouched; closes both ends when either does.
fn pump_requests(mut client: TcpStream, mut server: TcpStream, shared: &Shared, late: &AtomicBool) {
    let mut chunk = [0u8; 16 * 1024];
    let mut requests = RequestCounter::default();
    loop {
        match client.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(read) => {
                requests.feed(&chunk[..read], &shared.commands);
                if late.load(Ordering::SeqCst) {
                    shared
                        .requests_behind_late_replies
                        .fetch_add(1, Ordering::SeqCst);
                }
                if server.write_all(&chunk[..read]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = client.shutdown(Shutdown::Both);
    let _ = server.shutdown(Shutdown::Both);
}

/// memcached to client, through the faults switched on now.
fn pump_replies(mut server: TcpStream, mut client: TcpStream, shared: &Shared, late: &AtomicBool) {
    let mut chunk = [0u8; 64 * 1024];
    loop {
        let read = match server.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        let delay = shared.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            late.store(true, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(delay));
            // Cleared before the reply is written: the client cannot have
            // read it yet, so a request seen while set never followed it.
            late.store(false, Ordering::SeqCst);
        }
        let cut = shared.cut.swap(NO_CUT, Ordering::SeqCst);
        if cut != NO_CUT {
            let forwarded = cut.min(read - 1);
            let _ = client.write_all(&chunk[..forwarded]);
            let _ = client.flush();
            shared.cuts_done.fetch_add(1, Ordering::SeqCst);
            break;
        }
        if client.write_all(&chunk[..read]).is_err() {
            break;
        }
    }
    let _ = client.shutdown(Shutdown::Both);
    let _ = server.shutdown(Shutdown::Both);
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Counts the requests of one connection's byte stream by command: text
/// lines, where an `ms <key> <length>` line is followed by `length` bytes
/// of data and a line end, which are skipped.
#[derive(Default)]
struct RequestCounter {
    /// The start of a line not complete yet.
    partial: Vec<u8>,
    /// Data bytes (and their line end) still to skip.
    skip: usize,
}

impl RequestCounter {
    fn feed(&mut self, mut bytes: &[u8], counts: &Mutex<Tally>) {
        while !bytes.is_empty() {
            if self.skip > 0 {
                let skipped = self.skip.min(bytes.len());
                self.skip -= skipped;
                bytes = &bytes[skipped..];
                continue;
            }
            let Some(end) = bytes.iter().position(|&byte| byte == b'\n') else {
                self.partial.extend_from_slice(bytes);
                return;
            };
            self.partial.extend_from_slice(&bytes[..=end]);
            bytes = &bytes[end + 1..];
            let line = String::from_utf8_lossy(&self.partial).into_owned();
            self.partial.clear();
            let mut words = line.split_ascii_whitespace();
            let Some(command) = words.next() else {
                continue;
            };
            let mut value_bytes = 0;
            if command == "ms" {
                // The data block and its "\r\n".
                let length = words.nth(1).and_then(|length| length.parse::<usize>().ok());
                value_bytes = length.unwrap_or(0);
                self.skip = length.map_or(0, |length| length + 2);
            }
            let mut tally = lock(counts);
            tally.value_bytes += value_bytes as u64;
            if tally.lines.len() < KEPT_LINES {
                tally.lines.push(line.trim_end().to_owned());
            }
            match tally
                .by_command
                .iter_mut()
                .find(|(name, _)| name == command)
            {
                Some((_, count)) => *count += 1,
                None => tally.by_command.push((command.to_owned(), 1)),
            }
        }
    }
}
