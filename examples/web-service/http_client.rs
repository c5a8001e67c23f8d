//! Just enough of an HTTP/1.1 client for the load run: `GET` on one
//! keep-alive connection, bodies framed by `Content-Length` (what the server
//! sends for its text bodies). Anything else is an error, never a panic.

use std::io::{Error, ErrorKind, Result};
use std::net::SocketAddr;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Headers longer than this, or a body over [`MAX_BODY`], are refused.
const MAX_HEADER_LINES: usize = 64;
const MAX_LINE: u64 = 8 * 1024;
const MAX_BODY: usize = 1024 * 1024;

/// One keep-alive connection.
#[derive(Debug)]
pub struct Connection {
    stream: BufReader<TcpStream>,
    host: String,
}

/// A response: its status code and body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Connection {
    /// Connects to `address`.
    pub async fn connect(address: SocketAddr) -> Result<Connection> {
        let stream = TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        Ok(Connection {
            stream: BufReader::new(stream),
            host: address.to_string(),
        })
    }

    /// `GET path`; the connection stays open for the next request.
    pub async fn get(&mut self, path: &str) -> Result<Response> {
        let request = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", self.host);
        self.stream.get_mut().write_all(request.as_bytes()).await?;

        let status_line = self.line().await?;
        let status = status_line
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| invalid(format!("bad status line {status_line:?}")))?;
        let mut length = None;
        for _ in 0..MAX_HEADER_LINES {
            let line = self.line().await?;
            if line.is_empty() {
                let length = length.ok_or_else(|| invalid("no content-length".into()))?;
                let mut body = vec![0; length];
                self.stream.read_exact(&mut body).await?;
                return Ok(Response { status, body });
            }
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| invalid(format!("bad header {line:?}")))?;
            if name.eq_ignore_ascii_case("content-length") {
                let value: usize = value
                    .trim()
                    .parse()
                    .map_err(|_| invalid(format!("bad content-length {value:?}")))?;
                if value > MAX_BODY {
                    return Err(invalid(format!("a body of {value} bytes")));
                }
                length = Some(value);
            }
        }
        Err(invalid("too many header lines".into()))
    }

    /// One line without its CRLF, at most [`MAX_LINE`] bytes.
    async fn line(&mut self) -> Result<String> {
        let mut line = String::new();
        let read = (&mut self.stream)
            .take(MAX_LINE)
            .read_line(&mut line)
            .await?;
        if read == 0 {
            return Err(Error::new(
                ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ));
        }
        match line.strip_suffix("\r\n") {
            Some(line) => Ok(line.to_owned()),
            None => Err(invalid(format!("a line without CRLF: {line:?}"))),
        }
    }
}

fn invalid(message: String) -> Error {
    Error::new(ErrorKind::InvalidData, message)
}
