//! The tokio transport: async sockets under one timeout per request, one
//! pool per server. The same codec and pool as the blocking transport.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
#[cfg(unix)]
use tokio::net::UnixStream;

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

/// Non-blocking connections to every server.
pub(crate) struct TokioTransport {
    servers: Vec<ServerAddr>,
    pools: Vec<Pool<Connection>>,
    timeout: Duration,
}

impl TokioTransport {
    pub(crate) fn new(config: &MemcachedConfig) -> TokioTransport {
        TokioTransport {
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
    pub(crate) async fn request(
        &self,
        server: usize,
        request: &[u8],
        replies: usize,
    ) -> Result<Vec<Reply>, StoreError> {
        let address = &self.servers[server];
        let attempt = async {
            let mut connection = match self.pools[server].take() {
                Some(connection) => connection,
                None => connect(address).await?,
            };
            let replies =
                connection
                    .exchange(request, replies)
                    .await
                    .map_err(|error| match error {
                        Failure::Io(error) => io_error(address, &error),
                        Failure::Store(error) => error,
                    })?;
            if replies.iter().all(stays_in_step) {
                self.pools[server].give_back(connection);
            }
            Ok(replies)
        };
        // A connection cut off by the timeout is dropped with the future:
        // it is never put back half-read.
        tokio::time::timeout(self.timeout, attempt)
            .await
            .unwrap_or_else(|_| Err(timed_out(address, self.timeout)))
    }
}

enum Failure {
    Io(std::io::Error),
    Store(StoreError),
}

impl From<std::io::Error> for Failure {
    fn from(error: std::io::Error) -> Failure {
        Failure::Io(error)
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
    async fn exchange(&mut self, request: &[u8], want: usize) -> Result<Vec<Reply>, Failure> {
        match &mut self.stream {
            Stream::Tcp(stream) => exchange_on(stream, &mut self.buffer, request, want).await,
            #[cfg(unix)]
            Stream::Unix(stream) => exchange_on(stream, &mut self.buffer, request, want).await,
        }
    }
}

async fn exchange_on<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    buffer: &mut Vec<u8>,
    request: &[u8],
    want: usize,
) -> Result<Vec<Reply>, Failure> {
    stream.write_all(request).await?;
    let mut replies = Vec::with_capacity(want);
    loop {
        if take_replies(buffer, want, &mut replies).map_err(Failure::Store)? {
            return Ok(replies);
        }
        buffer.reserve(16 * 1024);
        if stream.read_buf(buffer).await? == 0 {
            return Err(Failure::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed by the server",
            )));
        }
    }
}
