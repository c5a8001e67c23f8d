//! A server that accepts connections and reads what it is sent slowly (a
//! few KiB at a time, with pauses), and never answers: a peer whose receive
//! window stays nearly shut, as a stalled memcached or a congested link.

use std::io::{ErrorKind, Read};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Bytes read per pause.
const CHUNK: usize = 64 * 1024;
/// The pause between two reads: about 2 MiB/s per connection.
const PAUSE: Duration = Duration::from_millis(30);

/// A slow reader on an ephemeral port of 127.0.0.1; stops when dropped.
pub struct SlowReader {
    port: u16,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl SlowReader {
    pub fn start() -> SlowReader {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the slow reader");
        let port = listener.local_addr().expect("slow reader address").port();
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let stop = Arc::new(AtomicBool::new(false));
        let accepting = Arc::clone(&stop);
        let acceptor = std::thread::spawn(move || {
            while !accepting.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        let _ = stream.set_nonblocking(false);
                        let _ = stream.set_read_timeout(Some(PAUSE));
                        let reading = Arc::clone(&accepting);
                        std::thread::spawn(move || {
                            let mut chunk = vec![0u8; CHUNK];
                            while !reading.load(Ordering::SeqCst) {
                                match stream.read(&mut chunk) {
                                    Ok(0) => break,
                                    Ok(_) => std::thread::sleep(PAUSE),
                                    Err(error)
                                        if matches!(
                                            error.kind(),
                                            ErrorKind::WouldBlock | ErrorKind::TimedOut
                                        ) => {}
                                    Err(_) => break,
                                }
                            }
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        SlowReader {
            port,
            stop,
            acceptor: Some(acceptor),
        }
    }

    /// `memcached://127.0.0.1:PORT?QUERY` to the slow reader.
    pub fn url(&self, query: &str) -> String {
        format!("memcached://127.0.0.1:{}?{query}", self.port)
    }
}

impl Drop for SlowReader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

impl std::fmt::Debug for SlowReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlowReader")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}
