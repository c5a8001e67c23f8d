//! The tokio transport: async sockets, with the same codec, pool, windows
//! and deadlines as the blocking transport.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
#[cfg(unix)]
use tokio::net::UnixStream;

use super::codec::Reply;
use super::transport::{
    io_error, take_replies, timed_out, windows, Deadline, Failed, Failure, MemcachedConfig, Reuse,
    ServerAddr, Servers,
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

/// Non-blocking connections to every server.
pub(crate) struct TokioTransport {
    servers: Servers<Connection>,
}

impl TokioTransport {
    pub(crate) fn new(config: &MemcachedConfig) -> TokioTransport {
        TokioTransport {
            servers: Servers::new(config),
        }
    }

    /// Sends `requests` (pipelined) to `server` and reads one reply each,
    /// window by window (see [`windows`]), each window within its deadline.
    /// Fewer come back only if one is an error line.
    pub(crate) async fn request(
        &self,
        server: usize,
        requests: &[&[u8]],
        reuse: Reuse,
    ) -> Result<Vec<Reply>, Failure> {
        let mut exchange = self.servers.exchange(server, reuse);
        let (address, timeout) = (exchange.address, exchange.timeout);
        let mut connection = match exchange.pooled() {
            Some(connection) => connection,
            None => tokio::time::timeout(timeout, connect(address))
                .await
                .unwrap_or_else(|_| Err(timed_out(address, timeout)))
                .map_err(Failure::Connect)?,
        };
        let outcome = connection
            .exchange(requests, timeout, &mut exchange.answered)
            .await;
        exchange.settle(connection, outcome)
    }
}

async fn connect(address: &ServerAddr) -> Result<Connection, StoreError> {
    let stream = match address {
        ServerAddr::Tcp(host_port) => {
            let stream = TcpStream::connect(host_port.as_str())
                .await
                .map_err(|error| io_error(address, &error))?;
            let _ = stream.set_nodelay(true);
            Stream::Tcp(stream)
        }
        #[cfg(unix)]
        ServerAddr::Unix(path) => Stream::Unix(
            UnixStream::connect(path)
                .await
                .map_err(|error| io_error(address, &error))?,
        ),
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
    async fn exchange(
        &mut self,
        requests: &[&[u8]],
        timeout: Duration,
        answered: &mut bool,
    ) -> Result<Vec<Reply>, Failed> {
        match &mut self.stream {
            Stream::Tcp(stream) => {
                exchange_on(stream, &mut self.buffer, requests, timeout, answered).await
            }
            #[cfg(unix)]
            Stream::Unix(stream) => {
                exchange_on(stream, &mut self.buffer, requests, timeout, answered).await
            }
        }
    }
}

/// Runs `io` until `deadline`.
async fn by<T>(
    deadline: &Deadline,
    io: impl std::future::Future<Output = std::io::Result<T>>,
) -> Result<T, Failed> {
    let at = tokio::time::Instant::from_std(deadline.instant());
    match tokio::time::timeout_at(at, io).await {
        Ok(done) => done.map_err(Failed::Io),
        Err(_) => Err(Failed::Deadline),
    }
}

/// The blocking transport's exchange, awaited: window by window, each
/// window's replies read before the next is sent.
async fn exchange_on<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    buffer: &mut Vec<u8>,
    requests: &[&[u8]],
    timeout: Duration,
    answered: &mut bool,
) -> Result<Vec<Reply>, Failed> {
    let mut replies = Vec::with_capacity(requests.len());
    let mut bytes = Vec::new();
    for window in windows(requests) {
        let mut deadline = Deadline::after(timeout);
        let want = window.end;
        bytes.clear();
        for request in &requests[window] {
            bytes.extend_from_slice(request);
        }
        let mut written = 0;
        while written < bytes.len() {
            let wrote = by(&deadline, stream.write(&bytes[written..])).await?;
            if wrote == 0 {
                return Err(Failed::Io(std::io::ErrorKind::WriteZero.into()));
            }
            written += wrote;
            deadline.moved(wrote);
        }
        loop {
            if take_replies(buffer, want, &mut replies).map_err(Failed::Store)? {
                break;
            }
            buffer.reserve(64 * 1024);
            let read = by(&deadline, stream.read_buf(buffer)).await?;
            if read == 0 {
                return Err(Failed::Io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "connection closed by the server",
                )));
            }
            *answered = true;
            deadline.moved(read);
        }
        if replies.len() < want {
            break; // an error line ended the exchange
        }
    }
    Ok(replies)
}
