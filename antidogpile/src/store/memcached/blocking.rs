//! The blocking transport: std sockets with deadlines, one pool per server.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::time::Duration;

use super::codec::Reply;
use super::transport::{
    io_error, stays_in_step, take_replies, timed_out, windows, Deadline, Failure, MemcachedConfig,
    Pool, Reuse, ServerAddr,
};
use crate::error::StoreError;

enum Stream {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(UnixStream),
}

struct Connection {
    stream: Stream,
    buffer: Vec<u8>,
}

/// Blocking connections to every server.
pub(crate) struct BlockingTransport {
    servers: Vec<ServerAddr>,
    pools: Vec<Pool<Connection>>,
    timeout: Duration,
}

impl BlockingTransport {
    pub(crate) fn new(config: &MemcachedConfig) -> BlockingTransport {
        BlockingTransport {
            servers: config.servers.clone(),
            pools: config
                .servers
                .iter()
                .map(|_| Pool::new(config.pool))
                .collect(),
            timeout: config.timeout,
        }
    }

    /// Sends `requests` (pipelined) to `server` and reads one reply each,
    /// window by window (see [`windows`]), each window within its deadline.
    /// Fewer come back only if one is an error line.
    pub(crate) fn request(
        &self,
        server: usize,
        requests: &[&[u8]],
        reuse: Reuse,
    ) -> Result<Vec<Reply>, Failure> {
        let address = &self.servers[server];
        let pooled = match reuse {
            Reuse::Pooled => self.pools[server].take(),
            Reuse::Fresh => None,
        };
        let fresh = pooled.is_none();
        let mut connection = match pooled {
            Some(connection) => connection,
            None => connect(address, self.timeout).map_err(Failure::Connect)?,
        };
        let mut answered = false;
        match connection.exchange(requests, self.timeout, &mut answered) {
            Ok(replies) => {
                if replies.iter().all(stays_in_step) {
                    self.pools[server].give_back(connection);
                }
                Ok(replies)
            }
            Err(failed) => {
                let deadline_passed = matches!(failed, Failed::Deadline);
                let error = match failed {
                    Failed::Io(error) => io_error(address, &error),
                    Failed::Deadline => timed_out(address, self.timeout),
                    Failed::Store(error) => error,
                };
                if fresh {
                    return Err(Failure::Exchange { error, fresh });
                }
                self.pools[server].clear();
                if answered || deadline_passed {
                    Err(Failure::Exchange { error, fresh })
                } else {
                    Err(Failure::Stale(error))
                }
            }
        }
    }
}

enum Failed {
    Io(std::io::Error),
    Deadline,
    Store(StoreError),
}

impl From<std::io::Error> for Failed {
    fn from(error: std::io::Error) -> Failed {
        match error.kind() {
            // A socket timeout is the deadline passing.
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => Failed::Deadline,
            _ => Failed::Io(error),
        }
    }
}

fn connect(address: &ServerAddr, timeout: Duration) -> Result<Connection, StoreError> {
    let stream = match address {
        ServerAddr::Tcp(host_port) => {
            let candidates = host_port
                .to_socket_addrs()
                .map_err(|error| io_error(address, &error))?;
            let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
            let mut connected = None;
            for candidate in candidates {
                match TcpStream::connect_timeout(&candidate, timeout) {
                    Ok(stream) => {
                        connected = Some(stream);
                        break;
                    }
                    Err(error) => last = error,
                }
            }
            let stream = connected.ok_or_else(|| io_error(address, &last))?;
            let _ = stream.set_nodelay(true);
            Stream::Tcp(stream)
        }
        #[cfg(unix)]
        ServerAddr::Unix(path) => {
            Stream::Unix(UnixStream::connect(path).map_err(|error| io_error(address, &error))?)
        }
        #[cfg(not(unix))]
        ServerAddr::Unix(_) => {
            let error = std::io::Error::new(std::io::ErrorKind::Unsupported, "unix sockets");
            return Err(io_error(address, &error));
        }
    };
    Ok(Connection {
        stream,
        buffer: Vec::with_capacity(4096),
    })
}

impl Connection {
    /// Sends `requests` window by window, reading each window's replies
    /// before the next; `answered` is set once any reply byte came back.
    fn exchange(
        &mut self,
        requests: &[&[u8]],
        timeout: Duration,
        answered: &mut bool,
    ) -> Result<Vec<Reply>, Failed> {
        let mut replies = Vec::with_capacity(requests.len());
        let mut bytes = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        for window in windows(requests) {
            let mut deadline = Deadline::after(timeout);
            let want = window.end;
            bytes.clear();
            for request in &requests[window] {
                bytes.extend_from_slice(request);
            }
            let mut written = 0;
            while written < bytes.len() {
                // A peer that reads slowly must not stretch the deadline.
                self.set_timeout(&deadline)?;
                let wrote = match &mut self.stream {
                    Stream::Tcp(stream) => stream.write(&bytes[written..])?,
                    #[cfg(unix)]
                    Stream::Unix(stream) => stream.write(&bytes[written..])?,
                };
                if wrote == 0 {
                    return Err(Failed::Io(std::io::ErrorKind::WriteZero.into()));
                }
                written += wrote;
                deadline.moved(wrote);
            }
            loop {
                if take_replies(&mut self.buffer, want, &mut replies).map_err(Failed::Store)? {
                    break;
                }
                // A server that drips bytes must not stretch the deadline.
                self.set_timeout(&deadline)?;
                let read = match &mut self.stream {
                    Stream::Tcp(stream) => stream.read(&mut chunk)?,
                    #[cfg(unix)]
                    Stream::Unix(stream) => stream.read(&mut chunk)?,
                };
                if read == 0 {
                    return Err(Failed::Io(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "connection closed by the server",
                    )));
                }
                *answered = true;
                deadline.moved(read);
                self.buffer.extend_from_slice(&chunk[..read]);
            }
            if replies.len() < want {
                break; // an error line ended the exchange
            }
        }
        Ok(replies)
    }

    fn set_timeout(&self, deadline: &Deadline) -> Result<(), Failed> {
        let remaining = deadline.remaining().ok_or(Failed::Deadline)?;
        match &self.stream {
            Stream::Tcp(stream) => {
                stream.set_read_timeout(Some(remaining))?;
                stream.set_write_timeout(Some(remaining))?;
            }
            #[cfg(unix)]
            Stream::Unix(stream) => {
                stream.set_read_timeout(Some(remaining))?;
                stream.set_write_timeout(Some(remaining))?;
            }
        }
        Ok(())
    }
}
