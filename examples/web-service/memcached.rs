//! A memcached of the load run's own, on a free port of 127.0.0.1, stopped
//! when dropped.

use std::io::{Error, ErrorKind, Result};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A memcached child process.
#[derive(Debug)]
pub struct Memcached {
    child: Child,
    port: u16,
}

impl Memcached {
    /// Starts `memcached` from the `PATH`; an error of kind `NotFound` when
    /// it is not installed.
    pub fn start() -> Result<Memcached> {
        // The port is free when chosen; another program may take it before
        // memcached binds it, so try a few.
        let mut last_error = Error::other("no port tried");
        for _ in 0..5 {
            match Memcached::start_on(free_port()?) {
                Ok(server) => return Ok(server),
                Err(error) if error.kind() == ErrorKind::NotFound => return Err(error),
                Err(error) => last_error = error,
            }
        }
        Err(last_error)
    }

    /// `memcached://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("memcached://127.0.0.1:{}", self.port)
    }

    fn start_on(port: u16) -> Result<Memcached> {
        let child = Command::new("memcached")
            .args(["-l", "127.0.0.1", "-U", "0", "-m", "64", "-c", "1024"])
            .args(["-p", &port.to_string()])
            // memcached refuses to run as root unless told which user to be.
            .args(["-u", &user()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()?;
        let mut server = Memcached { child, port };
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = server.child.try_wait()? {
                return Err(Error::other(format!("memcached exited: {status}")));
            }
            if start.elapsed() > Duration::from_secs(10) {
                return Err(Error::other("memcached did not listen within 10 s"));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(server)
    }
}

impl Drop for Memcached {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn user() -> String {
    std::env::var("USER")
        .ok()
        .filter(|user| !user.is_empty())
        .unwrap_or_else(|| "root".to_owned())
}
