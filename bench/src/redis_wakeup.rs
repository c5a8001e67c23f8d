//! How soon a waiter in another process learns that a cold miss's value
//! landed on Redis: by polling (what the store does) against a pub/sub
//! message (what it could do), measured side by side in one run.
//!
//! Polling: cache B waits in `get_or_compute` for a key whose lease cache A
//! holds ("another process" is another cache: they share nothing in
//! process); A writes the value after a while; the delay is from the start
//! of A's write to B's return. Pub/sub: a subscriber connection waits on a
//! channel; a writer sets a value and publishes on the channel (one
//! pipeline); the delay is from the start of that write to the message's
//! arrival. Both include the write's own round trip. Both are medians
//! over the same number of trials, each after a wait of its own length.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use antidogpile::{Cache, Got};

/// One kind of wake-up: the delays of its trials, sorted.
pub struct Wakeups {
    pub name: &'static str,
    pub delays: Vec<Duration>,
}

impl Wakeups {
    fn sorted(name: &'static str, mut delays: Vec<Duration>) -> Wakeups {
        delays.sort();
        Wakeups { name, delays }
    }

    fn quantile(&self, q: f64) -> Duration {
        let last = self.delays.len().saturating_sub(1);
        self.delays
            .get(((last as f64) * q).round() as usize)
            .copied()
            .unwrap_or_default()
    }
}

/// How long the computing process holds the lease in trial `i`: spread so
/// that the write falls at every phase of the waiter's poll.
fn hold_for(i: usize) -> Duration {
    Duration::from_millis(60 + (i as u64 * 37) % 140)
}

/// `trials` waits of a cache polling for another cache's lease.
pub fn polling(port: u16, trials: usize) -> Result<Wakeups, String> {
    let url = format!("redis://127.0.0.1:{port}?timeout=2s");
    let a = Cache::from_url(&url).map_err(|e| e.to_string())?;
    let b = Cache::from_url(&url).map_err(|e| e.to_string())?;
    let ttl = Duration::from_secs(60);
    let mut delays = Vec::with_capacity(trials);
    for i in 0..trials {
        let key = format!("wakeup:poll:{i}");
        let Got::Recompute(None, duty) = a.get::<u64, _>(&key).map_err(|e| e.to_string())? else {
            return Err(format!("{key}: the first caller should hold the lease"));
        };
        let (landed_tx, landed_rx) = mpsc::channel::<Instant>();
        let woke = std::thread::scope(|scope| {
            let waiter = scope.spawn(|| {
                let value = b.get_or_compute(&key, ttl, || u64::MAX);
                (value, Instant::now())
            });
            std::thread::sleep(hold_for(i));
            let _ = landed_tx.send(Instant::now());
            let landed = duty.set(&(i as u64), ttl);
            (landed, waiter.join())
        });
        let (landed, Ok((value, woke))) = woke else {
            return Err("the waiting thread panicked".to_owned());
        };
        if !landed.map_err(|e| e.to_string())? || value != i as u64 {
            return Err(format!("{key}: the waiter computed instead of waking"));
        }
        let written = landed_rx.recv().map_err(|e| e.to_string())?;
        delays.push(woke.saturating_duration_since(written));
    }
    Ok(Wakeups::sorted("polling (the store's waiter)", delays))
}

/// `trials` waits of a subscriber for a writer's `PUBLISH`.
pub fn pubsub(port: u16, trials: usize) -> Result<Wakeups, String> {
    let client =
        ::redis::Client::open(format!("redis://127.0.0.1:{port}")).map_err(|e| e.to_string())?;
    let mut writer = client.get_connection().map_err(|e| e.to_string())?;
    let mut listener = client.get_connection().map_err(|e| e.to_string())?;
    let mut delays = Vec::with_capacity(trials);
    let (woke_tx, woke_rx) = mpsc::channel::<Result<Instant, String>>();
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut pubsub = listener.as_pubsub();
            if let Err(error) = pubsub.subscribe("wakeup:landed") {
                let _ = woke_tx.send(Err(error.to_string()));
                return;
            }
            let _ = ready_tx.send(());
            for _ in 0..trials {
                let woke = pubsub
                    .get_message()
                    .map(|_| Instant::now())
                    .map_err(|e| e.to_string());
                let _ = woke_tx.send(woke);
            }
        });
        ready_rx
            .recv_timeout(Duration::from_secs(5))
            .map_err(|_| "the subscriber did not subscribe".to_owned())?;
        for i in 0..trials {
            std::thread::sleep(hold_for(i));
            let key = format!("wakeup:pubsub:{i}");
            let written = Instant::now();
            ::redis::pipe()
                .cmd("SET")
                .arg(&key)
                .arg(i)
                .ignore()
                .cmd("PUBLISH")
                .arg("wakeup:landed")
                .arg(&key)
                .ignore()
                .exec(&mut writer)
                .map_err(|e| e.to_string())?;
            let woke = woke_rx
                .recv_timeout(Duration::from_secs(5))
                .map_err(|_| "no message within 5 s".to_owned())??;
            delays.push(woke.saturating_duration_since(written));
        }
        Ok::<(), String>(())
    })?;
    Ok(Wakeups::sorted("pub/sub message (raw redis-rs)", delays))
}

/// The table: median and 90th percentile of each, and the median's ratio.
pub fn table(rows: &[Wakeups]) -> String {
    let floor = rows.last().map_or(Duration::ZERO, |row| row.quantile(0.5));
    let mut out = String::from(
        "| a waiter in another process learns of the write by | trials | median | p90 | median ÷ pub/sub |\n|---|---|---|---|---|\n",
    );
    for row in rows {
        let median = row.quantile(0.5);
        let ratio = if floor.is_zero() {
            "-".to_owned()
        } else {
            format!("{:.0}×", median.as_secs_f64() / floor.as_secs_f64())
        };
        out.push_str(&format!(
            "| {} | {} | {:.3} ms | {:.3} ms | {} |\n",
            row.name,
            row.delays.len(),
            median.as_secs_f64() * 1e3,
            row.quantile(0.9).as_secs_f64() * 1e3,
            ratio
        ));
    }
    out
}
