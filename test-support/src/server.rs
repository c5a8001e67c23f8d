//! A server's child process on a loopback port: what the memcached and the
//! Redis launchers share (a free port, the spawn, the wait until it
//! listens, the check that the server answering is this child, the kill,
//! the restart), written once as [`Server`] over a [`Kind`] that says only
//! how to start one kind of server and how to ask it its pid.

use std::io::{Error, ErrorKind, Result};
use std::marker::PhantomData;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::memcached::free_port;

/// Held from choosing a port until the server listens on it, so that two
/// launches in one process cannot choose the same one.
static STARTING: Mutex<()> = Mutex::new(());

/// A server's child process, its port and its extra arguments (kept across
/// restarts).
struct Process {
    child: Option<Child>,
    port: u16,
    extra: Vec<String>,
}

/// How to start one kind of server and recognize it: implemented by
/// [`MemcachedKind`](crate::memcached::MemcachedKind) and
/// [`RedisKind`](crate::redis::RedisKind).
pub trait Kind {
    /// The program, for errors ("memcached", "redis-server").
    const PROGRAM: &'static str;
    /// The Debian package that has it.
    const PACKAGE: &'static str;
    /// The scheme of its URLs ("memcached", "redis").
    const SCHEME: &'static str;
    /// The command that starts it on `port` with the `extra` arguments
    /// after its defaults.
    fn command(port: u16, extra: &[String]) -> Command;
    /// The pid of the server answering on `port`, if one answers.
    fn answered_pid(port: u16) -> Option<u32>;
}

/// A server of kind `K` (a child process on a free port of 127.0.0.1),
/// killed when dropped; its extra arguments are kept across restarts.
/// Named by its kind's alias:
/// [`Memcached`](crate::memcached::Memcached) or
/// [`Redis`](crate::redis::Redis).
pub struct Server<K: Kind> {
    process: Process,
    kind: PhantomData<fn() -> K>,
}

impl<K: Kind> Server<K> {
    /// Starts the server on a free port of 127.0.0.1.
    pub fn start() -> Server<K> {
        Server::start_with(&[])
    }

    /// Starts the server with `extra` arguments after the defaults (for
    /// example memcached's `["-o", "idle_timeout=1"]` or `["-m", "512"]`, a
    /// later `-m` winning; Redis's `["--unixsocket", "/tmp/r.sock"]`).
    pub fn start_with(extra: &[&str]) -> Server<K> {
        Server::try_start_with(extra).unwrap_or_else(|error| panic!("{error}"))
    }

    /// [`Server::start_with`], with an error instead of a panic: of kind
    /// `NotFound` when the server's program is not on the `PATH`.
    pub fn try_start_with(extra: &[&str]) -> Result<Server<K>> {
        Ok(Server {
            process: Process::start::<K>(extra)?,
            kind: PhantomData,
        })
    }

    /// The port it listens on (kept across restarts).
    pub fn port(&self) -> u16 {
        self.process.port
    }

    /// `SCHEME://127.0.0.1:PORT` (`memcached://...`, `redis://...`), with
    /// extra query parameters if given.
    pub fn url(&self, query: &str) -> String {
        let query = if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        };
        format!("{}://127.0.0.1:{}{query}", K::SCHEME, self.process.port)
    }

    /// Kills the server (SIGKILL: what it held is lost).
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Starts the server again on the same port, empty; panics if it does
    /// not listen there within 10 s.
    pub fn restart(&mut self) {
        if let Err(error) = self.try_restart_within(Duration::from_secs(10)) {
            panic!(
                "{} did not restart on port {}: {error}",
                K::PROGRAM,
                self.process.port
            );
        }
    }

    /// Starts the server again on the same port, trying for up to
    /// `patience`: a server just killed may hold the port a moment longer.
    pub fn try_restart_within(&mut self, patience: Duration) -> Result<()> {
        self.process.respawn_within::<K>(patience)
    }
}

impl<K: Kind> std::fmt::Debug for Server<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("program", &K::PROGRAM)
            .field("port", &self.process.port)
            .finish_non_exhaustive()
    }
}

impl Process {
    /// A started server of kind `K` on a free port (up to five tried: another
    /// process may take a port between its choice and the server's bind).
    fn start<K: Kind>(extra: &[&str]) -> Result<Process> {
        let _starting = STARTING
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut last = Error::other("no port tried");
        for _ in 0..5 {
            let mut process = Process {
                child: None,
                port: free_port(),
                extra: extra.iter().map(|arg| (*arg).to_owned()).collect(),
            };
            match process.spawn::<K>() {
                Ok(()) => return Ok(process),
                Err(error) if error.kind() == ErrorKind::NotFound => return Err(error),
                Err(error) => last = error,
            }
        }
        Err(Error::other(format!(
            "{} did not start on any of 5 ports: {last}",
            K::PROGRAM
        )))
    }

    /// Kills the server if it runs, and starts it on its port: `Ok` once it
    /// listens there and answers with its own pid.
    fn spawn<K: Kind>(&mut self) -> Result<()> {
        self.kill();
        let spawned = K::command(self.port, &self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|error| {
                if error.kind() == ErrorKind::NotFound {
                    Error::new(
                        ErrorKind::NotFound,
                        format!(
                            "could not start {}: is it installed? (bash scripts/test.sh \
                             installs it; on Debian: apt-get install -y {})",
                            K::PROGRAM,
                            K::PACKAGE
                        ),
                    )
                } else {
                    Error::other(format!("could not start {}: {error}", K::PROGRAM))
                }
            })?;
        let pid = spawned.id();
        self.child = Some(spawned);
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            let exited = self
                .child
                .as_mut()
                .is_some_and(|child| matches!(child.try_wait(), Ok(Some(_))));
            if exited || start.elapsed() > Duration::from_secs(10) {
                self.kill();
                return Err(Error::other(format!(
                    "{} did not listen on port {}",
                    K::PROGRAM,
                    self.port
                )));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        // A port that looked free may have been taken meanwhile (by another
        // test's server or connection): then something else answers.
        if K::answered_pid(self.port) != Some(pid) {
            self.kill();
            return Err(Error::new(
                ErrorKind::AddrInUse,
                format!("another server answers on port {}", self.port),
            ));
        }
        Ok(())
    }

    /// Starts the server again on its port, trying for up to `patience`: a
    /// server just killed may hold the port a moment longer.
    fn respawn_within<K: Kind>(&mut self, patience: Duration) -> Result<()> {
        let start = Instant::now();
        loop {
            match self.spawn::<K>() {
                Ok(()) => return Ok(()),
                Err(error) if error.kind() == ErrorKind::NotFound => return Err(error),
                Err(error) if start.elapsed() >= patience => return Err(error),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Kills the server (SIGKILL: what it held is lost).
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A server stopped (SIGSTOP: it accepts connections and never answers,
/// as a stalled server), continued (SIGCONT) when dropped.
#[derive(Debug)]
pub struct Stopped(u32);

impl Stopped {
    /// Stops `server` until the guard is dropped.
    pub fn stop<K: Kind>(server: &Server<K>) -> Stopped {
        let pid = K::answered_pid(server.port()).expect("the server answers: it has a pid");
        signal("-STOP", pid);
        Stopped(pid)
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        signal("-CONT", self.0);
    }
}

fn signal(which: &str, pid: u32) {
    let sent = Command::new("kill")
        .args([which, &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "kill {which} {pid}");
}
