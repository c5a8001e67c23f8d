//! The floor of a memcached hit: a text-protocol `get` written in one
//! `write` on a pooled connection, its reply read through a buffer. No
//! envelope, no checks beyond the framing.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Mutex;

/// A few connections to one server, each used by one caller at a time.
#[derive(Debug)]
pub struct RawGet {
    idle: Mutex<Vec<BufReader<TcpStream>>>,
    port: u16,
}

impl RawGet {
    /// A client of `127.0.0.1:port` (connections are opened as needed).
    pub fn new(port: u16) -> RawGet {
        RawGet {
            idle: Mutex::new(Vec::new()),
            port,
        }
    }

    /// The value of `key` as text, `None` on a miss or any error.
    pub fn get(&self, key: &str) -> Option<String> {
        self.on_a_connection(|connection| get_on(connection, key))
    }

    /// How many of `keys` one multi-key `get` (one write) found, `None` on
    /// any error.
    pub fn get_many(&self, keys: &[&str]) -> Option<usize> {
        self.on_a_connection(|connection| get_many_on(connection, keys))
    }

    /// How many of `keys` a pipeline of meta gets (`mg <key> v f c` each,
    /// then `mn`, in one write) found, `None` on any error: the floor of a
    /// batch in the meta protocol, which memcached answers in several
    /// writes (it yields after `-R`, 20 by default, requests per event).
    pub fn meta_get_many(&self, keys: &[&str]) -> Option<usize> {
        self.on_a_connection(|connection| meta_get_many_on(connection, keys))
    }

    /// Runs `exchange` on an idle connection (or a new one), and keeps the
    /// connection for the next call unless the exchange failed.
    fn on_a_connection<T>(
        &self,
        exchange: impl FnOnce(&mut BufReader<TcpStream>) -> Option<T>,
    ) -> Option<T> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut connection = match idle {
            Some(connection) => connection,
            None => {
                let stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
                stream.set_nodelay(true).ok()?;
                BufReader::new(stream)
            }
        };
        let result = exchange(&mut connection);
        if result.is_some() {
            self.idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(connection);
        }
        result
    }
}

fn get_many_on(connection: &mut BufReader<TcpStream>, keys: &[&str]) -> Option<usize> {
    let mut request = b"get".to_vec();
    for key in keys {
        request.push(b' ');
        request.extend_from_slice(key.as_bytes());
    }
    request.extend_from_slice(b"\r\n");
    connection.get_mut().write_all(&request).ok()?;
    let mut found = 0;
    while read_value(connection)?.is_some() {
        found += 1;
    }
    Some(found)
}

fn meta_get_many_on(connection: &mut BufReader<TcpStream>, keys: &[&str]) -> Option<usize> {
    let mut request = Vec::with_capacity(keys.len() * 24);
    for key in keys {
        request.extend_from_slice(b"mg ");
        request.extend_from_slice(key.as_bytes());
        request.extend_from_slice(b" v f c\r\n");
    }
    request.extend_from_slice(b"mn\r\n");
    connection.get_mut().write_all(&request).ok()?;
    let mut found = 0;
    let mut header = String::new();
    loop {
        header.clear();
        connection.read_line(&mut header).ok()?;
        if header == "MN\r\n" {
            return Some(found);
        }
        if header.starts_with("EN") {
            continue;
        }
        let bytes: usize = header
            .strip_prefix("VA ")?
            .split(' ')
            .next()?
            .trim()
            .parse()
            .ok()?;
        let mut data = vec![0; bytes + 2];
        connection.read_exact(&mut data).ok()?;
        found += 1;
    }
}

fn get_on(connection: &mut BufReader<TcpStream>, key: &str) -> Option<String> {
    let mut request = Vec::with_capacity(key.len() + 6);
    request.extend_from_slice(b"get ");
    request.extend_from_slice(key.as_bytes());
    request.extend_from_slice(b"\r\n");
    connection.get_mut().write_all(&request).ok()?;
    // A miss (`END` at once) is `None` too.
    let data = read_value(connection)??;
    let mut end = String::new();
    connection.read_line(&mut end).ok()?;
    if end != "END\r\n" {
        return None;
    }
    String::from_utf8(data).ok()
}

/// Reads one `VALUE <key> <flags> <bytes>` and its data: `Some(None)` at
/// `END`, `None` on anything else that is not a value.
fn read_value(connection: &mut BufReader<TcpStream>) -> Option<Option<Vec<u8>>> {
    let mut header = String::new();
    connection.read_line(&mut header).ok()?;
    if header == "END\r\n" {
        return Some(None);
    }
    let bytes: usize = header
        .strip_prefix("VALUE ")?
        .split_whitespace()
        .nth(2)?
        .parse()
        .ok()?;
    let mut data = vec![0; bytes + 2];
    connection.read_exact(&mut data).ok()?;
    data.truncate(bytes);
    Some(Some(data))
}
