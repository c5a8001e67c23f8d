//! The blocking transport: std sockets with deadlines, one pool per server.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::time::Duration;

use super::codec::Reply;
use super::transport::{
    io_error, take_replies, windows, Deadline, Failed, Failure, MemcachedConfig, Reuse, ServerAddr,
    Servers,
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
    /// Where reads land before the codec sees them, made once per
    /// connection (not a zeroed 64 KiB per exchange).
    chunk: Box<[u8]>,
    /// The requests of a window of several, joined into one write; kept
    /// for the next exchange.
    joined: Vec<u8>,
    /// The read and write timeout the socket has now: set again only when
    /// it would outlast the deadline or wake long before it (see
    /// [`Connection::set_timeout`]), not with two system calls before
    /// every read and every write.
    socket_timeout: Option<Duration>,
}

/// Bytes read at most at once.
const CHUNK: usize = 64 * 1024;

/// Blocking connections to every server.
pub(crate) struct BlockingTransport {
    servers: Servers<Connection>,
}

impl BlockingTransport {
    pub(crate) fn new(config: &MemcachedConfig) -> BlockingTransport {
        BlockingTransport {
            servers: Servers::new(config),
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
        let mut exchange = self.servers.exchange(server, reuse);
        let mut connection = match exchange.pooled() {
            Some(connection) => connection,
            None => connect(exchange.address, exchange.timeout).map_err(Failure::Connect)?,
        };
        let outcome = connection.exchange(requests, exchange.timeout, &mut exchange.answered);
        exchange.settle(connection, outcome)
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
        chunk: vec![0u8; CHUNK].into_boxed_slice(),
        joined: Vec::new(),
        socket_timeout: None,
    })
}

/// Whether an I/O error is the socket's timeout passing.
fn is_timeout(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
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
        for window in windows(requests) {
            let mut deadline = Deadline::after(timeout);
            let want = window.end;
            // One request (a hit) is written as it is; several are joined.
            let joined = window.len() > 1;
            if joined {
                self.joined.clear();
                for request in &requests[window.clone()] {
                    self.joined.extend_from_slice(request);
                }
            }
            let length = if joined {
                self.joined.len()
            } else {
                requests[window.start].len()
            };
            let mut written = 0;
            while written < length {
                let wrote = self.write_by(
                    &deadline,
                    if joined {
                        None
                    } else {
                        Some(requests[window.start])
                    },
                    written,
                )?;
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
                let read = self.read_by(&deadline)?;
                if read == 0 {
                    return Err(Failed::Io(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "connection closed by the server",
                    )));
                }
                *answered = true;
                deadline.moved(read);
                self.buffer.extend_from_slice(&self.chunk[..read]);
            }
            if replies.len() < want {
                break; // an error line ended the exchange
            }
        }
        Ok(replies)
    }

    /// Writes what is left after `from` of `request` (or of the joined
    /// window, if `None`), within `deadline`: a peer that reads slowly
    /// must not stretch it.
    fn write_by(
        &mut self,
        deadline: &Deadline,
        request: Option<&[u8]>,
        from: usize,
    ) -> Result<usize, Failed> {
        let mut exact = false;
        loop {
            self.set_timeout(deadline, exact)?;
            let bytes = &request.unwrap_or(&self.joined)[from..];
            let wrote = match &mut self.stream {
                Stream::Tcp(stream) => stream.write(bytes),
                #[cfg(unix)]
                Stream::Unix(stream) => stream.write(bytes),
            };
            match wrote {
                // Woken before the deadline (the socket's timeout may be a
                // little shorter): wait again, for exactly what is left.
                Err(error) if is_timeout(&error) => exact = true,
                wrote => return Ok(wrote?),
            }
        }
    }

    /// Reads into the chunk within `deadline`: a server that drips bytes
    /// must not stretch it.
    fn read_by(&mut self, deadline: &Deadline) -> Result<usize, Failed> {
        let mut exact = false;
        loop {
            self.set_timeout(deadline, exact)?;
            let read = match &mut self.stream {
                Stream::Tcp(stream) => stream.read(&mut self.chunk),
                #[cfg(unix)]
                Stream::Unix(stream) => stream.read(&mut self.chunk),
            };
            match read {
                Err(error) if is_timeout(&error) => exact = true,
                read => return Ok(read?),
            }
        }
    }

    /// Makes the socket's timeouts end no later than `deadline`
    /// ([`Failed::Deadline`] once it has passed). A timeout already set is
    /// kept while it ends before the deadline and lasts at least half of
    /// what is left: a hit then sets none (two system calls saved before
    /// each read and each write), and a peer too slow for the timeout set
    /// wakes the caller a little early, to wait again for `exact`ly what is
    /// left. A new timeout is a little shorter than what is left, so that
    /// the next exchange's deadline, a little later, still ends after it.
    fn set_timeout(&mut self, deadline: &Deadline, exact: bool) -> Result<(), Failed> {
        let remaining = deadline.remaining().ok_or(Failed::Deadline)?;
        if !exact
            && self
                .socket_timeout
                .is_some_and(|set| set <= remaining && set >= remaining / 2)
        {
            return Ok(());
        }
        let timeout = if exact {
            remaining
        } else {
            remaining - remaining / 16
        };
        // Unknown until both are set: a failure half-way must not be trusted.
        self.socket_timeout = None;
        match &self.stream {
            Stream::Tcp(stream) => {
                stream.set_read_timeout(Some(timeout))?;
                stream.set_write_timeout(Some(timeout))?;
            }
            #[cfg(unix)]
            Stream::Unix(stream) => {
                stream.set_read_timeout(Some(timeout))?;
                stream.set_write_timeout(Some(timeout))?;
            }
        }
        self.socket_timeout = Some(timeout);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::time::{Duration, Instant};

    use super::*;

    /// A server of one connection that answers its first request with `EN`
    /// after `delay`.
    fn slow_server(delay: Duration) -> (ServerAddr, std::thread::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = ServerAddr::Tcp(listener.local_addr().unwrap().to_string());
        let server = std::thread::spawn(move || {
            let (mut socket, _) = listener.accept().unwrap();
            let mut request = [0u8; 64];
            let _ = socket.read(&mut request).unwrap();
            std::thread::sleep(delay);
            socket.write_all(b"EN\r\n").unwrap();
        });
        (address, server)
    }

    #[test]
    fn a_socket_timeout_that_wakes_before_the_deadline_waits_again() {
        let (address, server) = slow_server(Duration::from_millis(200));
        let mut connection = connect(&address, Duration::from_secs(2)).unwrap();
        // The socket wakes after 20 ms while the connection believes its
        // timeout fits the deadline: a reply after 200 ms is within the
        // 5 s deadline and must be read, not reported as a timeout.
        let Stream::Tcp(stream) = &connection.stream else {
            unreachable!("a TCP address")
        };
        stream
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        connection.socket_timeout = Some(Duration::from_millis(4_900));
        let mut answered = false;
        let replies = connection.exchange(&[b"mg k v\r\n"], Duration::from_secs(5), &mut answered);
        assert!(
            matches!(replies.as_deref(), Ok([Reply::Miss(_)])),
            "{:?}",
            replies.as_ref().map_err(|_| "failed")
        );
        server.join().unwrap();
    }

    #[test]
    fn a_reply_later_than_the_deadline_is_a_timeout_near_the_deadline() {
        let (address, server) = slow_server(Duration::from_millis(1_500));
        let mut connection = connect(&address, Duration::from_secs(2)).unwrap();
        // Another exchange left a longer timeout on the socket.
        let _ = connection.set_timeout(&Deadline::after(Duration::from_secs(10)), true);
        let started = Instant::now();
        let mut answered = false;
        let replies =
            connection.exchange(&[b"mg k v\r\n"], Duration::from_millis(300), &mut answered);
        let took = started.elapsed();
        assert!(matches!(replies, Err(Failed::Deadline)), "not a timeout");
        assert!(
            took >= Duration::from_millis(300) && took < Duration::from_millis(1_200),
            "{took:?}"
        );
        server.join().unwrap();
    }
}
