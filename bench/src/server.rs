//! A memcached of the bench's own: started on an ephemeral loopback port,
//! killed when dropped (the same recipe as `tests/common/memcached.rs`).

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A memcached child process.
#[derive(Debug)]
pub struct Memcached {
    child: Child,
    /// The loopback port it listens on.
    pub port: u16,
}

impl Memcached {
    /// Starts memcached on a free port of 127.0.0.1 (a few tries, in case
    /// another program takes the port first).
    pub fn start() -> Result<Memcached, String> {
        let mut last = String::new();
        for _ in 0..5 {
            match Memcached::try_start(free_port()?) {
                Ok(server) => return Ok(server),
                Err(error) => last = error,
            }
        }
        Err(last)
    }

    fn try_start(port: u16) -> Result<Memcached, String> {
        let user = std::env::var("USER")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "root".to_owned());
        let child = Command::new("memcached")
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
            .args(["-p", &port.to_string(), "-u", &user])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("could not start memcached (is it installed?): {e}"))?;
        let mut server = Memcached { child, port };
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            let exited = matches!(server.child.try_wait(), Ok(Some(_)));
            if exited || start.elapsed() > Duration::from_secs(10) {
                return Err(format!("memcached did not listen on port {port}"));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(server)
    }

    /// `memcached://127.0.0.1:PORT`, antidogpile's URL of this server.
    pub fn url(&self) -> String {
        format!("memcached://127.0.0.1:{}", self.port)
    }
}

impl Drop for Memcached {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(|e| format!("no free loopback port: {e}"))
}
