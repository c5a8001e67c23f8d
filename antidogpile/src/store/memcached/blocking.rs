//! The blocking transport: std sockets with deadlines, one pool per server.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use super::codec::Reply;
use super::transport::{
    io_error, stays_in_step, take_replies, timed_out, MemcachedConfig, Pool, ServerAddr,
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

    /// Sends `request` (`replies` pipelined requests) to `server` and reads
    /// their replies, within the timeout. Fewer come back only if one is an
    /// error line.
    pub(crate) fn request(
        &self,
        server: usize,
        request: &[u8],
        replies: usize,
    ) -> Result<Vec<Reply>, StoreError> {
        let address = &self.servers[server];
        let deadline = Instant::now() + self.timeout;
        let mut connection = match self.pools[server].take() {
            Some(connection) => connection,
            None => connect(address, self.timeout)?,
        };
        let replies =
            connection
                .exchange(request, replies, deadline)
                .map_err(|error| match error {
                    Failure::Io(error) => io_error(address, &error),
                    Failure::Deadline => timed_out(address, self.timeout),
                    Failure::Store(error) => error,
                })?;
        if replies.iter().all(stays_in_step) {
            self.pools[server].give_back(connection);
        }
        Ok(replies)
    }
}

enum Failure {
    Io(std::io::Error),
    Deadline,
    Store(StoreError),
}

impl From<std::io::Error> for Failure {
    fn from(error: std::io::Error) -> Failure {
        Failure::Io(error)
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
    fn exchange(
        &mut self,
        request: &[u8],
        want: usize,
        deadline: Instant,
    ) -> Result<Vec<Reply>, Failure> {
        self.set_timeout(deadline)?;
        match &mut self.stream {
            Stream::Tcp(stream) => stream.write_all(request)?,
            #[cfg(unix)]
            Stream::Unix(stream) => stream.write_all(request)?,
        }
        let mut chunk = [0u8; 16 * 1024];
        let mut replies = Vec::with_capacity(want);
        loop {
            if take_replies(&mut self.buffer, want, &mut replies).map_err(Failure::Store)? {
                return Ok(replies);
            }
            // A server that drips bytes must not stretch the deadline.
            self.set_timeout(deadline)?;
            let read = match &mut self.stream {
                Stream::Tcp(stream) => stream.read(&mut chunk)?,
                #[cfg(unix)]
                Stream::Unix(stream) => stream.read(&mut chunk)?,
            };
            if read == 0 {
                return Err(Failure::Io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "connection closed by the server",
                )));
            }
            self.buffer.extend_from_slice(&chunk[..read]);
        }
    }

    fn set_timeout(&self, deadline: Instant) -> Result<(), Failure> {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(Failure::Deadline);
        }
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
