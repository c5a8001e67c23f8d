//! The web service (web-service/, the `web-service` bin) against a real memcached: under
//! load, antidogpile calls the backend once per expiry where a plain TTL
//! cache calls it once per waiting client; its routes answer over HTTP and
//! its `/stats` count what happened.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Barrier};
use std::time::{Duration, Instant};

use antidogpile_test_support::memcached::Memcached;
use serde_json::Value;

const WEB_SERVICE: &str = env!("CARGO_BIN_EXE_web-service");

/// Only to detect a hang: the runs take seconds.
const LIMIT: Duration = Duration::from_secs(120);

/// Kills the child when dropped, so a failed assertion leaves no server.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the web service with `args` to its end; its stdout as JSON.
fn run_json(command: &mut Command) -> Value {
    let mut child = Running(
        command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn web-service"),
    );
    let mut stdout = child.0.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).map(|_| text)
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("wait for web-service") {
            break status;
        }
        assert!(start.elapsed() < LIMIT, "web-service did not finish");
        std::thread::sleep(Duration::from_millis(20));
    };
    let text = reader.join().unwrap().expect("read web-service output");
    assert!(status.success(), "web-service failed: {status}\n{text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn number(value: &Value, path: &[&str]) -> u64 {
    path.iter()
        .fold(value, |value, name| &value[name])
        .as_u64()
        .unwrap_or_else(|| panic!("no number at {path:?} in {value}"))
}

#[test]
fn under_load_antidogpile_calls_the_backend_once_per_expiry_and_a_plain_ttl_cache_more() {
    let memcached = Memcached::start();
    let run = run_json(Command::new(WEB_SERVICE).args([
        "--load",
        "--url",
        &memcached.url(""),
        "--seconds",
        "3",
        "--clients",
        "32",
        "--json",
    ]));

    for handler in ["antidogpile", "plain_ttl"] {
        assert_eq!(
            number(&run, &["handlers", handler, "failures"]),
            0,
            "{handler}: {run}"
        );
        assert!(number(&run, &["handlers", handler, "requests"]) > 0);
    }
    let calls = number(&run, &["handlers", "antidogpile", "backend_calls"]);
    let expiries = number(&run, &["handlers", "antidogpile", "expiries"]);
    assert!(expiries >= 1, "{run}");
    assert_eq!(calls, expiries, "antidogpile: one call per expiry: {run}");
    assert_eq!(number(&run, &["stats", "computes"]), calls, "{run}");
    assert_eq!(number(&run, &["stats", "store_errors"]), 0, "{run}");

    // 32 clients start together on one cold customer: the plain cache sends
    // every one of them to the backend.
    let plain_calls = number(&run, &["handlers", "plain_ttl", "backend_calls"]);
    let plain_expiries = number(&run, &["handlers", "plain_ttl", "expiries"]);
    assert!(plain_calls > plain_expiries, "plain TTL: {run}");

    let served = memcached.stats();
    assert!(served["get_hits"] > 0, "memcached was not used: {served:?}");
}

#[test]
fn without_a_url_the_load_run_starts_its_own_memcached_and_stops_it() {
    let run = run_json(
        Command::new(WEB_SERVICE)
            .args(["--load", "--seconds", "1", "--clients", "4", "--json"])
            .env_remove("ANTIDOGPILE_URL"),
    );
    let store = run["store"].as_str().expect("store in output");
    let port: u16 = store
        .strip_prefix("memcached://127.0.0.1:")
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("not a memcached of its own: {store}"));
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "its memcached still listens on {port}"
    );
    assert_eq!(
        number(&run, &["handlers", "antidogpile", "backend_calls"]),
        number(&run, &["handlers", "antidogpile", "expiries"]),
        "{run}"
    );
}

/// `GET path` on a new connection: (status, body).
fn get(port: u16, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to web-service");
    stream.set_read_timeout(Some(LIMIT)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )
    .expect("send request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of headers: {response:?}"));
    let status = head
        .get(9..12)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("bad status line: {head:?}"));
    (status, body.to_owned())
}

#[test]
fn the_server_answers_reports_and_counts_them_in_stats() {
    let memcached = Memcached::start();
    let mut server = Running(
        Command::new(WEB_SERVICE)
            .args(["--url", &memcached.url(""), "--addr", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn web-service"),
    );
    let stdout = server.0.stdout.take().expect("piped stdout");
    let (sender, first_line) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let _ = sender.send(lines.next());
        lines.for_each(drop); // the server's stdout stays open
    });
    let line = match first_line.recv_timeout(LIMIT) {
        Ok(Some(Ok(line))) => line,
        other => panic!("web-service did not start: {other:?}"),
    };
    let port: u16 = line
        .trim()
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));

    // Sixteen clients at once on one cold report.
    let start = Arc::new(Barrier::new(16));
    let clients: Vec<_> = (0..16)
        .map(|_| {
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                start.wait();
                get(port, "/report/7")
            })
        })
        .collect();
    for client in clients {
        let (status, body) = client.join().expect("a client panicked");
        assert_eq!(status, 200, "{body}");
        assert!(body.starts_with("report for customer 7: "), "{body}");
    }
    assert_eq!(get(port, "/plain/7").0, 200);
    for bad in [
        "/report/seven",
        "/report/-1",
        "/report/99999999999999999999999",
    ] {
        assert_eq!(get(port, bad).0, 400, "{bad}");
    }

    let (status, body) = get(port, "/stats.json");
    assert_eq!(status, 200);
    let stats: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    let calls = number(&stats, &["antidogpile", "backend_calls"]);
    assert!(calls >= 1, "{stats}");
    assert_eq!(
        number(&stats, &["antidogpile", "expiries"]),
        calls,
        "{stats}"
    );
    assert_eq!(number(&stats, &["stats", "computes"]), calls, "{stats}");
    let answered = ["fresh_hits", "stale_hits", "misses"]
        .iter()
        .map(|counter| number(&stats, &["stats", counter]))
        .sum::<u64>();
    assert_eq!(answered, 16, "every report request counted once: {stats}");
    assert_eq!(number(&stats, &["plain_ttl", "backend_calls"]), 1);

    let (status, text) = get(port, "/stats");
    assert_eq!(status, 200);
    assert!(
        text.contains(&format!(
            "antidogpile: {calls} backend calls for {calls} expiries"
        )),
        "{text}"
    );
    // The same counters, as a Prometheus scrape sees them.
    let (status, text) = get(port, "/metrics");
    assert_eq!(status, 200);
    let series = |name: &str| {
        let line = format!("{name}{{namespace=\"web_service::report\",cache=\"default\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&line))
            .and_then(|value| value.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no {name} in {text}"))
    };
    assert_eq!(series("antidogpile_computes_total"), calls, "{text}");
    assert_eq!(
        series("antidogpile_fresh_hits_total")
            + series("antidogpile_stale_hits_total")
            + series("antidogpile_misses_total"),
        16,
        "{text}"
    );
    assert_eq!(series("antidogpile_compute_seconds_count"), calls, "{text}");
    assert!(
        text.contains("# TYPE antidogpile_compute_seconds histogram"),
        "{text}"
    );
}
