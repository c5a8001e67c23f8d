//! The load run: concurrent keep-alive clients on one hot customer and a few
//! others, against one route of the server, for a fixed time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Barrier;

use crate::backend::Backend;
use crate::http_client::{Connection, Response};
use crate::results::Measured;

/// A route under load and the backend behind it.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// `/report` or `/plain`: requests go to `{prefix}/{customer}`.
    pub prefix: &'static str,
    pub backend: &'static Backend,
}

/// One request taking longer than this is counted failed (the server hung).
const REQUEST_LIMIT: Duration = Duration::from_secs(30);

/// The customer of a client's `n`-th request: 7 in 8 go to customer 1, the
/// rest to customers 2 to 4 in turn.
pub fn customer(client: usize, n: usize) -> u64 {
    if n % 8 == 7 {
        2 + ((client + n / 8) % 3) as u64
    } else {
        1
    }
}

/// Runs `clients` clients against `target` for `run`, all started at once.
pub async fn measure(
    address: SocketAddr,
    target: Target,
    clients: usize,
    run: Duration,
) -> Measured {
    let (calls, expiries) = (target.backend.calls(), target.backend.expiries());
    let start = Arc::new(Barrier::new(clients));
    let tasks: Vec<_> = (0..clients)
        .map(|index| {
            let start = Arc::clone(&start);
            tokio::spawn(client(address, target.prefix, index, run, start))
        })
        .collect();
    let mut measured = Measured::default();
    for task in tasks {
        match task.await {
            Ok((latencies, failures)) => {
                measured.latencies.extend(latencies);
                measured.failures += failures;
            }
            Err(_) => measured.failures += 1,
        }
    }
    measured.requests = measured.latencies.len() as u64 + measured.failures;
    measured.backend_calls = target.backend.calls() - calls;
    measured.expiries = target.backend.expiries() - expiries;
    measured.latencies.sort_unstable();
    measured
}

/// One client: requests back to back until `run` has passed. Returns the
/// latencies of the requests that succeeded and how many failed.
async fn client(
    address: SocketAddr,
    prefix: &'static str,
    index: usize,
    run: Duration,
    start: Arc<Barrier>,
) -> (Vec<Duration>, u64) {
    let mut connection = Connection::connect(address).await.ok();
    start.wait().await;
    let deadline = Instant::now() + run;
    let (mut latencies, mut failures) = (Vec::new(), 0);
    let mut n = 0;
    while Instant::now() < deadline {
        let customer = customer(index, n);
        n += 1;
        let began = Instant::now();
        let path = format!("{prefix}/{customer}");
        let response = tokio::time::timeout(REQUEST_LIMIT, get(&mut connection, address, &path));
        let expected = format!("report for customer {customer}:");
        match response.await {
            Ok(Ok(response))
                if response.status == 200 && response.body.starts_with(expected.as_bytes()) =>
            {
                latencies.push(began.elapsed());
            }
            outcome => {
                if failures == 0 {
                    eprintln!("request {path} failed: {outcome:?}");
                }
                failures += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    (latencies, failures)
}

/// `GET path` on the open connection, or a new one. A connection that
/// failed, or whose request was abandoned, is not used again.
async fn get(
    connection: &mut Option<Connection>,
    address: SocketAddr,
    path: &str,
) -> std::io::Result<Response> {
    let mut open = match connection.take() {
        Some(open) => open,
        None => Connection::connect(address).await?,
    };
    let response = open.get(path).await?;
    *connection = Some(open);
    Ok(response)
}
