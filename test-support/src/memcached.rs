//! A real memcached for one test (or one run of the examples, the soak tool
//! or the benchmark): started on an ephemeral loopback port, killed when
//! dropped. Never a server left running by hand.
//!
//! The tests use the panicking [`Memcached::start`] and
//! [`Memcached::restart`]; programs use [`Memcached::try_start_with`] and
//! [`Memcached::try_restart_within`], which return an error (of kind
//! `NotFound` when memcached is not installed).

use std::io::{Error, ErrorKind, Result};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Held from choosing a port until memcached listens on it, so that two
/// tests of one binary cannot choose the same one.
static STARTING: Mutex<()> = Mutex::new(());

/// A memcached child process.
pub struct Memcached {
    child: Option<Child>,
    port: u16,
    /// Arguments added to the defaults (a later `-m` wins), kept across restarts.
    extra: Vec<String>,
}

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

impl Memcached {
    /// Starts memcached on a free port of 127.0.0.1.
    pub fn start() -> Memcached {
        Memcached::start_with(&[])
    }

    /// Starts memcached with `extra` arguments after the defaults (for
    /// example `["-o", "idle_timeout=1"]`, or `["-m", "512"]`).
    pub fn start_with(extra: &[&str]) -> Memcached {
        Memcached::try_start_with(extra).unwrap_or_else(|error| panic!("{error}"))
    }

    /// [`Memcached::start_with`], with an error instead of a panic: of kind
    /// `NotFound` when the `memcached` binary is not on the `PATH`.
    pub fn try_start_with(extra: &[&str]) -> Result<Memcached> {
        let _starting = STARTING
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut last = Error::other("no port tried");
        for _ in 0..5 {
            let mut server = Memcached {
                child: None,
                port: free_port(),
                extra: extra.iter().map(|arg| (*arg).to_owned()).collect(),
            };
            // Another test binary may have taken the port meanwhile: try another.
            match server.spawn() {
                Ok(()) => return Ok(server),
                Err(error) if error.kind() == ErrorKind::NotFound => return Err(error),
                Err(error) => last = error,
            }
        }
        Err(Error::other(format!(
            "memcached did not start on any of 5 ports: {last}"
        )))
    }

    /// The port it listens on (kept across restarts).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `memcached://127.0.0.1:PORT`, with extra query parameters if given.
    pub fn url(&self, query: &str) -> String {
        let query = if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        };
        format!("memcached://127.0.0.1:{}{query}", self.port)
    }

    /// The server's `stats` counters (cmd_get, cas_hits, ...).
    pub fn stats(&self) -> std::collections::HashMap<String, u64> {
        self.try_stats().expect("read memcached's stats")
    }

    fn try_stats(&self) -> Result<std::collections::HashMap<String, u64>> {
        use std::io::{BufRead, BufReader, Write};
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
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

    /// Whether the server answering on the port is the one this fixture
    /// started: a port that looked free may have been taken meanwhile (by
    /// another test's server or connection), and then something else answers.
    fn answers_as_its_own(&self) -> bool {
        let pid = self.child.as_ref().map(|child| u64::from(child.id()));
        let answered = self
            .try_stats()
            .ok()
            .and_then(|stats| stats.get("pid").copied());
        pid.is_some() && answered == pid
    }

    /// Kills the server (its cache is lost).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port, with an empty cache.
    pub fn restart(&mut self) {
        if let Err(error) = self.spawn() {
            panic!("memcached did not restart on port {}: {error}", self.port);
        }
    }

    /// Starts the server again on the same port, trying for up to
    /// `patience`: a server just killed may hold the port a moment longer.
    pub fn try_restart_within(&mut self, patience: Duration) -> Result<()> {
        let start = Instant::now();
        loop {
            match self.spawn() {
                Ok(()) => return Ok(()),
                Err(error) if error.kind() == ErrorKind::NotFound => return Err(error),
                Err(error) if start.elapsed() >= patience => return Err(error),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Kills the server if it runs, and starts it on its port: `Ok` once it
    /// listens there and answers with its own pid.
    fn spawn(&mut self) -> Result<()> {
        self.kill();
        let spawned = Command::new("memcached")
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
            .args(["-p", &self.port.to_string()])
            .args(&self.extra)
            // memcached refuses to run as root unless told which user to be.
            .args(["-u", &whoami()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn();
        self.child = Some(spawned.map_err(not_installed)?);
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            let exited = self
                .child
                .as_mut()
                .is_some_and(|child| matches!(child.try_wait(), Ok(Some(_))));
            if exited || start.elapsed() > Duration::from_secs(10) {
                self.kill();
                return Err(Error::other(format!(
                    "memcached did not listen on port {}",
                    self.port
                )));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        if !self.answers_as_its_own() {
            self.kill();
            return Err(Error::new(
                ErrorKind::AddrInUse,
                format!("another server answers on port {}", self.port),
            ));
        }
        Ok(())
    }
}

impl Drop for Memcached {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The error of a failed spawn, saying how to install memcached when it is
/// not on the `PATH`.
fn not_installed(error: Error) -> Error {
    if error.kind() == ErrorKind::NotFound {
        Error::new(
            ErrorKind::NotFound,
            "could not start memcached: is it installed? (bash scripts/test.sh installs it; \
             on Debian: apt-get install -y memcached)",
        )
    } else {
        Error::other(format!("could not start memcached: {error}"))
    }
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

impl std::fmt::Debug for Memcached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memcached")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for UnixMemcached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnixMemcached")
            .field("socket", &self.socket)
            .finish_non_exhaustive()
    }
}
