//! The cross-process scenarios, run against any store URL: processes of
//! `antidogpile-worker` (src/bin), whose function is fresh for 1 s, takes
//! 300 ms to compute, and has a grace of 2 s. Each scenario makes the checks
//! every store must pass and returns what the store-specific checks need.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const WORKER: &str = env!("CARGO_BIN_EXE_antidogpile-worker");
pub const SOFT_MS: u64 = 1_000;
pub const COMPUTE_MS: u64 = 300;
pub const GRACE_MS: u64 = 2_000;
/// The coarse clock deadlines are read from lags by up to a scheduler tick.
pub const CLOCK_SLACK_MS: u64 = 20;

fn worker(args: &[&str]) -> Command {
    let mut command = Command::new(WORKER);
    command
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    command
}

fn lines_of(child: Child) -> Vec<String> {
    let output = child.wait_with_output().expect("worker did not run");
    assert!(
        output.status.success(),
        "worker failed: {:?}",
        output.status
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The numbers of a worker's line, after its first word.
pub fn numbers(line: &str) -> Vec<u64> {
    line.split_whitespace()
        .skip(1)
        .filter_map(|n| n.parse().ok())
        .collect()
}

/// What four processes of eight threads saw hammering one key for 6 s.
pub struct Hammered {
    /// `(start, end)` of every compute of every process, in order.
    pub computes: Vec<(u64, u64)>,
}

impl Hammered {
    /// How many times the value expired and was recomputed.
    pub fn expiries(&self) -> u64 {
        self.computes.len() as u64 - 1
    }
}

/// Four processes of eight threads hammer one key of `url` for 6 s: one
/// compute per expiry across all of them, no two at once, every process
/// takes part, and no stale caller waits for a compute.
pub fn four_processes_hammer_one_key(url: &str) -> Hammered {
    let processes: Vec<Child> = (0..4)
        .map(|_| {
            worker(&["hammer", url, "8", "6"])
                .spawn()
                .expect("spawn worker")
        })
        .collect();
    let outputs: Vec<Vec<String>> = processes.into_iter().map(lines_of).collect();

    let mut computes: Vec<(u64, u64)> = outputs
        .iter()
        .flatten()
        .filter(|line| line.starts_with("compute "))
        .map(|line| {
            let n = numbers(line);
            (n[0], n[1])
        })
        .collect();
    computes.sort_unstable();
    // A 6 s run crosses at least four expiries (1 s fresh + 0.3 s compute each).
    assert!(
        computes.len() >= 4,
        "too few computes to judge: {computes:?}"
    );
    for pair in computes.windows(2) {
        let ((_, ended), (started, _)) = (pair[0], pair[1]);
        assert!(
            started + CLOCK_SLACK_MS >= ended + SOFT_MS,
            "two computes in one expiry (or overlapping): {pair:?} of {computes:?}"
        );
    }
    // Every process took part, and none of its stale callers waited for a compute.
    for output in &outputs {
        let calls = output
            .iter()
            .find(|l| l.starts_with("calls "))
            .map(|l| numbers(l)[0]);
        assert!(
            calls.unwrap_or(0) > 100,
            "a process made too few calls: {output:?}"
        );
        let slowest = output
            .iter()
            .find(|l| l.starts_with("slowest_stale_us "))
            .map(|l| numbers(l)[0])
            .expect("slowest_stale_us line");
        assert!(
            slowest < COMPUTE_MS * 1000,
            "a caller that did not compute took {slowest} µs: it waited for a compute"
        );
    }
    Hammered { computes }
}

/// What a process polling after a killed claimer saw.
pub struct TakenOver {
    /// The output of the process that stored the first value.
    pub prime: Vec<String>,
    /// When the killed process claimed the refresh (ms since the epoch).
    pub claimed_at: u64,
    /// The output of the polling process.
    pub polled: Vec<String>,
    /// Its calls: `[at_ms, computed (0 or 1), value]`.
    pub calls: Vec<Vec<u64>>,
}

impl TakenOver {
    /// The calls made before the grace of the killed claim ran out.
    pub fn within_grace(&self) -> Vec<&Vec<u64>> {
        self.calls
            .iter()
            .filter(|c| c[0] < self.claimed_at + GRACE_MS)
            .collect()
    }
}

/// A process stores a first value in `url`; once it is stale, a second one
/// claims the refresh, hangs in it and is SIGKILLed; a third keeps calling
/// and takes the refresh over, once, and not before the grace has passed.
pub fn a_claimer_is_killed_mid_refresh(url: &str) -> TakenOver {
    // A first value, then let it go stale.
    let prime = lines_of(worker(&["hammer", url, "1", "1"]).spawn().unwrap());
    assert_eq!(
        prime.iter().filter(|l| l.starts_with("compute ")).count(),
        1,
        "{prime:?}"
    );
    std::thread::sleep(Duration::from_millis(SOFT_MS + 100));

    // This process claims the refresh and hangs in it; then it is SIGKILLed.
    let mut hanging = worker(&["hang", url])
        .env("WORKER_HANG", "1")
        .spawn()
        .unwrap();
    let mut first_line = String::new();
    BufReader::new(hanging.stdout.take().unwrap())
        .read_line(&mut first_line)
        .unwrap();
    let claimed_at = numbers(first_line.trim())[0];
    hanging.kill().expect("SIGKILL the claimer");
    let _ = hanging.wait();

    // Another process keeps calling: stale values until the grace has passed,
    // then it takes the refresh over, once.
    let polled = lines_of(worker(&["poll", url, "4"]).spawn().unwrap());
    let calls: Vec<Vec<u64>> = polled
        .iter()
        .filter(|l| l.starts_with("call "))
        .map(|l| numbers(l))
        .collect();
    let computed: Vec<&Vec<u64>> = calls.iter().filter(|c| c[1] == 1).collect();
    assert!(
        !computed.is_empty(),
        "the refresh was never taken over: {polled:?}"
    );
    let took_over_at = computed[0][0] - COMPUTE_MS;
    // Later computes are the ordinary refreshes of later expiries: they
    // start a soft timeout after the takeover's compute ended (timed from
    // the compute itself, not from its call's return, which a loaded
    // machine may delay).
    let computes: Vec<Vec<u64>> = polled
        .iter()
        .filter(|l| l.starts_with("compute "))
        .map(|l| numbers(l))
        .collect();
    let takeover_ended = computes.first().map_or(0, |compute| compute[1]);
    let before_next_expiry = computes
        .iter()
        .filter(|compute| compute[0] + CLOCK_SLACK_MS < takeover_ended + SOFT_MS)
        .count();
    assert_eq!(before_next_expiry, 1, "exactly one takeover: {polled:?}");
    assert!(
        took_over_at + CLOCK_SLACK_MS >= claimed_at + GRACE_MS,
        "taken over {} ms after the claim, before the grace",
        took_over_at - claimed_at
    );
    TakenOver {
        prime,
        claimed_at,
        polled,
        calls,
    }
}

// ---- liveness: a live holder keeps its lease or claim, a dead one is replaced ----

/// The most a dead holder's lease or claim may keep others waiting at the
/// default settings (the target), plus slack for a loaded machine.
pub const REPLACED_WITHIN_MS: u64 = 5_000 + 1_000;

/// Reads a child's stdout lines on a thread, so a test can wait for one
/// with a deadline.
fn line_reader(child: &mut Child) -> std::sync::mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("piped stdout");
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if send.send(line).is_err() {
                break;
            }
        }
    });
    receive
}

/// The first line starting with `prefix` within `limit`, if any.
fn wait_for_line(
    lines: &std::sync::mpsc::Receiver<String>,
    prefix: &str,
    limit: Duration,
) -> Option<String> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.starts_with(prefix) => return Some(line),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
}

/// The first line starting with `prefix` within `limit`; without one,
/// kills `children` (so that no worker is left computing for an hour) and
/// panics with `failure`.
fn expect_line(
    lines: &std::sync::mpsc::Receiver<String>,
    prefix: &str,
    limit: Duration,
    children: &mut [&mut Child],
    failure: &str,
) -> String {
    if let Some(line) = wait_for_line(lines, prefix, limit) {
        return line;
    }
    for child in children {
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("{failure}");
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Three processes want one cold value whose compute takes 20 s (grace
/// 60 s): it is computed exactly once, and all three get it. Returns the
/// compute lines.
pub fn three_processes_want_a_twenty_second_compute(url: &str) -> Vec<String> {
    let processes: Vec<Child> = (0..3)
        .map(|_| {
            worker(&["slow", url, "20000"])
                .spawn()
                .expect("spawn worker")
        })
        .collect();
    let outputs: Vec<Vec<String>> = processes.into_iter().map(lines_of).collect();
    let computes: Vec<String> = outputs
        .iter()
        .flatten()
        .filter(|line| line.starts_with("compute "))
        .cloned()
        .collect();
    assert_eq!(computes.len(), 1, "computed more than once: {outputs:?}");
    let values: Vec<u64> = outputs
        .iter()
        .map(|output| {
            let got = output
                .iter()
                .find(|l| l.starts_with("got "))
                .expect("got line");
            numbers(got)[2]
        })
        .collect();
    assert!(
        values.windows(2).all(|pair| pair[0] == pair[1]),
        "processes got different values: {outputs:?}"
    );
    computes
}

/// Kills `holder` (after it said it is computing) and returns when.
fn kill(mut holder: Child) -> u64 {
    holder.kill().expect("SIGKILL the holder");
    let killed_at = now_ms();
    let _ = holder.wait();
    killed_at
}

/// SIGKILLs `holder` right after it says it renewed a hold (`renewed `,
/// every second with `WORKER_SAYS_RENEWALS`); returns when. If it does
/// not within 10 s, kills it and `others` and panics with `failure`.
fn kill_after_renewal(
    lines: &std::sync::mpsc::Receiver<String>,
    mut holder: Child,
    others: &mut [&mut Child],
    failure: &str,
) -> u64 {
    let others = others.iter_mut().map(|other| &mut **other);
    let mut children: Vec<&mut Child> = std::iter::once(&mut holder).chain(others).collect();
    expect_line(
        lines,
        "renewed ",
        Duration::from_secs(10),
        &mut children,
        failure,
    );
    kill(holder)
}

/// A process takes the cold-miss lease of a value (grace 60 s) and is
/// SIGKILLed while computing, right after it renewed the lease, once another
/// waits for it; that one takes over. Returns
/// how long after the kill it started computing.
pub fn a_cold_holder_is_killed(url: &str) -> Duration {
    let mut holder = worker(&["slow", url, "3600000"])
        .env("WORKER_SAYS_RENEWALS", "1")
        .spawn()
        .unwrap();
    let holder_lines = line_reader(&mut holder);
    wait_for_line(&holder_lines, "computing ", Duration::from_secs(20))
        .expect("the holder never started computing");
    let mut waiter = worker(&["slow", url, "100"]).spawn().unwrap();
    let waiter_lines = line_reader(&mut waiter);
    // The waiter finds the lease and waits for it, and the holder renews
    // its lease (every second): the kill comes right after a renewal.
    let children = &mut [&mut holder, &mut waiter];
    let waited = "the waiter never waited for the holder's lease";
    expect_line(
        &waiter_lines,
        "waiting ",
        Duration::from_secs(20),
        children,
        waited,
    );
    let renewed = "the holder never renewed its lease";
    let killed_at = kill_after_renewal(&holder_lines, holder, &mut [&mut waiter], renewed);
    let started = wait_for_line(&waiter_lines, "computing ", Duration::from_secs(12));
    let Some(started) = started else {
        let _ = waiter.kill();
        let _ = waiter.wait();
        panic!("the killed holder's lease was not taken over within 12 s");
    };
    let _ = waiter.wait();
    let delay = Duration::from_millis(numbers(&started)[0].saturating_sub(killed_at));
    println!("cold-miss lease of a killed holder taken over after {delay:?}");
    assert!(
        delay <= Duration::from_millis(REPLACED_WITHIN_MS),
        "taken over {delay:?} after the kill"
    );
    delay
}

/// A value fresh for 1 s (grace 60 s) goes stale; a process claims its
/// refresh and is SIGKILLed while computing, right after its claim was renewed;
/// another that keeps calling takes the refresh over. Returns how long
/// after the kill it started.
pub fn a_refresh_claimer_is_killed(url: &str) -> Duration {
    a_refresh_claimer_is_killed_after(url, "stale", Renewed::Once, REPLACED_WITHIN_MS)
}

/// The most a refresh claimer killed before it renewed its claim may keep
/// others from refreshing, with a 3 s grace (the liveness window: 3 s;
/// memcached counts whole seconds: up to 4 s), plus slack for a loaded
/// machine.
pub const UNRENEWED_REPLACED_WITHIN_MS: u64 = 4_000 + 750;

/// A value fresh for 1 s with a grace of 3 s (no longer than the liveness
/// window: its claims are taken for the grace and never renewed) goes
/// stale; a process claims its refresh and is SIGKILLed as soon as it
/// computes; another, calling every 250 ms, takes the refresh over.
/// Returns how long after the kill it started.
pub fn a_refresh_claimer_is_killed_at_once(url: &str) -> Duration {
    a_refresh_claimer_is_killed_after(url, "brief", Renewed::Never, UNRENEWED_REPLACED_WITHIN_MS)
}

/// When a refresh claimer is killed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Renewed {
    /// As soon as it computes.
    Never,
    /// Right after it renewed its claim.
    Once,
}

/// The refresh of a value of the worker's `mode` is claimed by a process,
/// which is SIGKILLed once it computes, after it renewed its claim if
/// `renewed` says so; another that keeps calling must take over within
/// `bound_ms` of the kill.
fn a_refresh_claimer_is_killed_after(
    url: &str,
    mode: &str,
    renewed: Renewed,
    bound_ms: u64,
) -> Duration {
    let prime = lines_of(worker(&[mode, url, "50", "5"]).spawn().unwrap());
    assert!(prime.iter().any(|l| l.starts_with("compute ")), "{prime:?}");
    // The value is fresh for 1 s: let it go stale.
    std::thread::sleep(Duration::from_millis(1_200));
    let mut claimer = worker(&[mode, url, "3600000", "5"])
        .env("WORKER_SAYS_RENEWALS", "1")
        .spawn()
        .unwrap();
    let claimer_lines = line_reader(&mut claimer);
    wait_for_line(&claimer_lines, "computing ", Duration::from_secs(20))
        .expect("the claimer never started computing");
    let killed_at = match renewed {
        Renewed::Once => {
            let renewed = "the claimer never renewed its claim";
            kill_after_renewal(&claimer_lines, claimer, &mut [], renewed)
        }
        Renewed::Never => kill(claimer),
    };
    let mut poller = worker(&[mode, url, "50", "12"]).spawn().unwrap();
    let poller_lines = line_reader(&mut poller);
    let started = wait_for_line(&poller_lines, "computing ", Duration::from_secs(14));
    let Some(started) = started else {
        let _ = poller.kill();
        let _ = poller.wait();
        panic!("the killed claimer's refresh was not taken over within 12 s");
    };
    let _ = poller.wait();
    let delay = Duration::from_millis(numbers(&started)[0].saturating_sub(killed_at));
    println!("refresh claim of a killed claimer taken over after {delay:?}");
    assert!(
        delay <= Duration::from_millis(bound_ms),
        "taken over {delay:?} after the kill"
    );
    delay
}

/// A process's `Cache::get` of a cold key tells it to recompute it (the
/// client's duty, grace 60 s), and the process is SIGKILLed holding that
/// duty; then a `get_or_compute` of the key here (another process) must
/// get its value within the target, not after the grace. Returns how long
/// after the kill it got it.
pub fn a_client_duty_holder_is_killed(url: &str) -> Duration {
    let mut holder = worker(&["duty", url])
        .env("WORKER_SAYS_RENEWALS", "1")
        .spawn()
        .unwrap();
    let holder_lines = line_reader(&mut holder);
    wait_for_line(&holder_lines, "holding ", Duration::from_secs(20))
        .expect("the worker was never told to recompute");
    // The kill comes right after the duty's lease was renewed (every second).
    let renewed = "the worker never renewed the duty's lease";
    let killed_at = kill_after_renewal(&holder_lines, holder, &mut [], renewed);
    let cache = antidogpile::Cache::from_url(url).unwrap();
    let got = antidogpile_test_support::within(Duration::from_secs(12), move || {
        let value: u64 = cache.get_or_compute("duty", Duration::from_secs(60), || 7);
        (value, now_ms())
    });
    let Some((value, got_at)) = got else {
        panic!("the killed process's duty kept a get_or_compute waiting over 12 s");
    };
    assert_eq!(value, 7);
    let delay = Duration::from_millis(got_at.saturating_sub(killed_at));
    println!("a killed process's client duty taken over after {delay:?}");
    assert!(
        delay <= Duration::from_millis(REPLACED_WITHIN_MS),
        "taken over {delay:?} after the kill"
    );
    delay
}
