//! A web service whose reports come from a slow backend (200 ms a call),
//! cached with `#[antidogpiled]` in memcached, and a load run that shows the
//! difference with a plain TTL cache: one backend call per expiry instead of
//! one per waiting client.
//!
//! ```text
//! web-service [--url URL] [--addr 127.0.0.1:3000]
//!     serve GET /report/{customer}, /plain/{customer}, /stats, /stats.json,
//!     /metrics (Prometheus text);
//!     the cache is --url, else $ANTIDOGPILE_URL, else memory://
//!
//! web-service --load [--url URL] [--seconds 5] [--clients 32] [--json]
//!     start the server on 127.0.0.1:0, drive each route with that many
//!     keep-alive clients for that long, print a table (or JSON);
//!     the cache is --url, else $ANTIDOGPILE_URL, else a memcached started
//!     for the run on a free loopback port (memory:// if none is installed)
//! ```

mod backend;
mod http_client;
mod load;
mod prometheus;
mod reports;
mod results;
mod server;

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use antidogpile::Cache;
use antidogpile_test_support::memcached::Memcached;
use tokio::net::TcpListener;

use crate::load::Target;
use crate::reports::{ANTIDOGPILE_BACKEND, NAMESPACE, PLAIN_BACKEND};
use crate::results::{json, json_string, table};

const USAGE: &str = "usage: web-service [--url URL] [--addr HOST:PORT]
       web-service --load [--url URL] [--seconds N] [--clients C] [--json]";

/// The command line.
#[derive(Debug)]
struct Options {
    url: Option<String>,
    addr: SocketAddr,
    load: bool,
    seconds: u64,
    clients: usize,
    json: bool,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        url: None,
        addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
        load: false,
        seconds: 5,
        clients: 32,
        json: false,
    };
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--url" => options.url = Some(value()?),
            "--addr" => {
                options.addr = value()?
                    .parse()
                    .map_err(|_| "--addr needs HOST:PORT, such as 127.0.0.1:3000")?;
            }
            "--seconds" => options.seconds = positive(&arg, &value()?)?,
            "--clients" => options.clients = positive(&arg, &value()?)? as usize,
            "--load" => options.load = true,
            "--json" => options.json = true,
            _ => return Err(format!("unknown argument {arg:?}")),
        }
    }
    Ok(options)
}

fn positive(name: &str, value: &str) -> Result<u64, String> {
    match value.parse() {
        Ok(n) if n > 0 && n <= 1_000_000 => Ok(n),
        _ => Err(format!("{name} needs a whole number from 1 to 1000000")),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    prometheus::Prometheus::install();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let options = match parse(args.into_iter()) {
        Ok(options) => options,
        Err(error) => {
            eprintln!("{error}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let outcome = if options.load {
        load_run(&options).await
    } else {
        serve(&options).await
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("web-service: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Serves until Ctrl-C. The first line printed is `listening on http://ADDR`.
async fn serve(options: &Options) -> Result<(), String> {
    let (cache, store) = match &options.url {
        Some(url) => (Cache::from_url(url), url.clone()),
        None => (
            Cache::from_env(),
            std::env::var(antidogpile::Cache::ENV_URL).unwrap_or_else(|_| "memory://".into()),
        ),
    };
    let cache = cache.map_err(|e| e.to_string())?;
    // The store is not needed to serve (calls compute without it): say so, go on.
    if let Err(error) = cache.ping() {
        eprintln!("warning: {error}");
    }
    antidogpile::install(cache);
    let listener = TcpListener::bind(options.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", options.addr))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    // A closed stdout must not stop the server.
    let _ = write!(
        std::io::stdout().lock(),
        "listening on http://{address}\ncache: {store}\nroutes: /report/{{customer}} (antidogpile), \
         /plain/{{customer}} (plain TTL), /stats, /stats.json, /metrics\n"
    )
    .and_then(|()| std::io::stdout().flush());
    axum::serve(listener, server::router())
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| e.to_string())
}

/// Measures both routes one after the other and prints the results.
async fn load_run(options: &Options) -> Result<(), String> {
    // Kept until the end of the run, then stopped.
    let mut own_memcached = None;
    let store = match options
        .url
        .clone()
        .or_else(|| std::env::var(antidogpile::Cache::ENV_URL).ok())
    {
        Some(url) => url,
        None => match Memcached::try_start_with(&[]) {
            Ok(server) => own_memcached.insert(server).url(""),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                eprintln!("memcached is not installed: this run uses memory:// (or pass --url)");
                "memory://".to_owned()
            }
            Err(error) => return Err(format!("could not start memcached: {error}")),
        },
    };
    antidogpile::install(Cache::from_url(&store).map_err(|e| e.to_string())?);

    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(async move { axum::serve(listener, server::router()).await });

    let (clients, run) = (options.clients, Duration::from_secs(options.seconds));
    if !options.json {
        println!(
            "{clients} keep-alive clients for {} s on each route: customer 1 gets 7 requests in 8, \
             customers 2-4 the rest.\nThe backend takes {} ms; a report is fresh for {} s. Cache: {store}{}.\n",
            options.seconds,
            backend::LATENCY.as_millis(),
            backend::FRESH.as_secs(),
            if own_memcached.is_some() { " (started for this run)" } else { "" },
        );
    }
    let runs = async {
        let plain = load::measure(
            address,
            Target {
                prefix: "/plain",
                backend: &PLAIN_BACKEND,
            },
            clients,
            run,
        )
        .await;
        let antidogpiled = load::measure(
            address,
            Target {
                prefix: "/report",
                backend: &ANTIDOGPILE_BACKEND,
            },
            clients,
            run,
        )
        .await;
        (plain, antidogpiled)
    };
    let (plain, antidogpiled) = tokio::select! {
        runs = runs => runs,
        _ = tokio::signal::ctrl_c() => return Err("interrupted".into()),
    };

    let stats = antidogpile::stats(NAMESPACE).unwrap_or_default();
    let scraped = scrape_report_metrics(address).await;
    if options.json {
        let counters = format!(
            r#"{{"fresh_hits":{},"stale_hits":{},"misses":{},"computes":{},"waits":{},"errors":{},"store_errors":{}}}"#,
            stats.fresh_hits,
            stats.stale_hits,
            stats.misses,
            stats.computes,
            stats.waits,
            stats.errors,
            stats.store_errors
        );
        let extra = [
            ("store", json_string(&store)),
            ("clients", clients.to_string()),
            ("seconds", options.seconds.to_string()),
            ("stats", counters),
            ("metrics", json_string(&scraped)),
        ];
        println!(
            "{}",
            json(
                &extra,
                &[("plain_ttl", &plain), ("antidogpile", &antidogpiled)]
            )
        );
    } else {
        print!(
            "{}",
            table(&[("plain TTL", &plain), ("antidogpile", &antidogpiled)])
        );
        println!(
            "\nantidogpile counters: {} fresh hits, {} stale hits (served at once), {} misses, \
             {} computes, {} waits, {} store errors.",
            stats.fresh_hits,
            stats.stale_hits,
            stats.misses,
            stats.computes,
            stats.waits,
            stats.store_errors
        );
        println!("\nGET /metrics (the report's series):\n{scraped}");
        let failures = plain.failures + antidogpiled.failures;
        if failures > 0 {
            println!("{failures} requests failed (see the messages above).");
        }
    }
    Ok(())
}

/// The lines of `GET /metrics` about the report's function (counters, and
/// the histograms' counts and sums), as an operator's scrape sees them.
async fn scrape_report_metrics(address: SocketAddr) -> String {
    let scraped = match http_client::Connection::connect(address).await {
        Ok(mut connection) => connection.get("/metrics").await,
        Err(error) => Err(error),
    };
    match scraped {
        Ok(response) if response.status == 200 => String::from_utf8_lossy(&response.body)
            .lines()
            .filter(|line| line.contains(NAMESPACE) && !line.contains("_bucket"))
            .map(|line| format!("  {line}\n"))
            .collect(),
        Ok(response) => format!("  status {}\n", response.status),
        Err(error) => format!("  failed: {error}\n"),
    }
}
