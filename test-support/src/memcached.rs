//! A real memcached for one test (or one run of the examples, the soak tool
//! or the benchmark): started on an ephemeral loopback port, killed when
//! dropped. Never a server left running by hand.
//!
//! The tests use the panicking [`Memcached::start`] and
//! [`Memcached::restart`]; programs use [`Memcached::try_start_with`] and
//! [`Memcached::try_restart_within`], which return an error (of kind
//! `NotFound` when memcached is not installed).

use std::io::Result;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::server::{Kind, Server};

/// A memcached child process listening on a unix socket only.
pub struct UnixMemcached {
    child: Child,
    pub socket: std::path::PathBuf,
}

impl UnixMemcached {
    pub fn start() -> UnixMemcached {
        let socket = std::env::temp_dir().join(format!(
            "antidogpile-test-{}-{}.sock",
            std::process::id(),
            free_port()
        ));
        let _ = std::fs::remove_file(&socket);
        let child = Command::new("memcached")
            .args(["-s", &socket.to_string_lossy(), "-m", "16", "-u", &whoami()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect(
                "could not start memcached: is it installed? (bash scripts/test.sh installs it)",
            );
        let start = Instant::now();
        while std::os::unix::net::UnixStream::connect(&socket).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "memcached did not listen on {socket:?}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        UnixMemcached { child, socket }
    }
}

impl Drop for UnixMemcached {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// A memcached child process on a free port of 127.0.0.1, killed when
/// dropped: [`Server`]'s start, port, URL (`memcached://127.0.0.1:PORT`),
/// kill and restart, and [`Memcached::stats`]. Arguments added to the
/// defaults (a later `-m` wins) are kept across restarts.
pub type Memcached = Server<MemcachedKind>;

/// The [`Kind`] of [`Memcached`]: how memcached is started and asked its pid.
#[derive(Debug)]
pub enum MemcachedKind {}

impl Kind for MemcachedKind {
    const PROGRAM: &'static str = "memcached";
    const PACKAGE: &'static str = "memcached";
    const SCHEME: &'static str = "memcached";

    fn command(port: u16, extra: &[String]) -> Command {
        let mut command = Command::new("memcached");
        command
            .args([
                "-l",
                "127.0.0.1",
                "-U",
                "0",
                "-m",
                "64",
                "-t",
                "2",
                "-c",
                "1024",
            ])
            .args(["-p", &port.to_string()])
            .args(extra)
            // memcached refuses to run as root unless told which user to be.
            .args(["-u", &whoami()]);
        command
    }

    fn answered_pid(port: u16) -> Option<u32> {
        let pid = stats_of(port).ok()?.get("pid").copied()?;
        u32::try_from(pid).ok()
    }
}

impl Memcached {
    /// The server's `stats` counters (cmd_get, cas_hits, ...).
    pub fn stats(&self) -> std::collections::HashMap<String, u64> {
        stats_of(self.port()).expect("read memcached's stats")
    }
}

/// The `stats` counters of the memcached answering on `port`.
fn stats_of(port: u16) -> Result<std::collections::HashMap<String, u64>> {
    use std::io::{BufRead, BufReader, Write};
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(b"stats\r\n")?;
    let mut stats = std::collections::HashMap::new();
    for line in BufReader::new(stream).lines() {
        let line = line?;
        if line == "END" {
            break;
        }
        let mut words = line.split_whitespace().skip(1);
        if let (Some(name), Some(Ok(value))) = (words.next(), words.next().map(str::parse)) {
            stats.insert(name.to_owned(), value);
        }
    }
    Ok(stats)
}

/// A port nobody listens on now (the OS's choice of an ephemeral one).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("no free loopback port")
}

fn whoami() -> String {
    std::env::var("USER")
        .ok()
        .filter(|user| !user.is_empty())
        .unwrap_or_else(|| "root".to_owned())
}

impl std::fmt::Debug for UnixMemcached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnixMemcached")
            .field("socket", &self.socket)
            .finish_non_exhaustive()
    }
}
