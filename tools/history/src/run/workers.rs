//! The worker processes of a run (this binary's `worker` command): started
//! with their own ids and clock skew, killed, stopped, restarted as new
//! incarnations, and waited for at the end. Every one still running is
//! killed when this is dropped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use super::journal::now_ms;

/// Each incarnation's values start at its number times this.
const IDS_PER_PROCESS: u64 = 1_000_000_000;

/// How long a worker may take to print `ready`.
const READY_PATIENCE: Duration = Duration::from_secs(20);

/// What every worker of the run is given.
#[derive(Debug)]
pub struct WorkerSetup {
    /// This binary.
    pub exe: PathBuf,
    /// The store's URL.
    pub url: String,
    /// The run's directory, for histories and stderr files.
    pub dir: PathBuf,
    /// The end of the load (real ms).
    pub until_ms: u64,
    /// The broken build to switch on, if any.
    pub broken: Option<String>,
}

/// A worker process running.
#[derive(Debug)]
struct Running {
    name: String,
    child: Child,
    skew_ms: i64,
    started_ms: u64,
    /// Sends once the worker printed `ready`.
    ready: Receiver<()>,
}

/// A worker process that ended: its life, for its `skew` fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ended {
    /// `w<N>.<incarnation>`.
    pub name: String,
    /// Its clock's skew (ms).
    pub skew_ms: i64,
    /// When it was started.
    pub started_ms: u64,
    /// When it was seen to end.
    pub ended_ms: u64,
}

/// The worker processes: one slot per worker, its current incarnation.
#[derive(Debug)]
pub struct Workers {
    setup: WorkerSetup,
    slots: Vec<Option<Running>>,
    /// Incarnations so far, per slot.
    incarnations: Vec<u32>,
    /// Processes started so far (workers and probe): the next id range.
    started: u64,
    /// The skews still to give, in the order processes start.
    skews: std::vec::IntoIter<i64>,
    /// The names of the incarnations killed on purpose.
    killed: Vec<String>,
    /// Failures seen: a worker that exited badly or hung.
    failures: Vec<String>,
}

impl Workers {
    /// Starts `count` workers (w1.1, w2.1, ...) and waits until each is
    /// ready; the processes started take `skews` in order.
    pub fn start(setup: WorkerSetup, count: usize, skews: Vec<i64>) -> Result<Workers, String> {
        let mut workers = Workers {
            setup,
            slots: (0..count).map(|_| None).collect(),
            incarnations: vec![0; count],
            started: 0,
            skews: skews.into_iter(),
            killed: Vec::new(),
            failures: Vec::new(),
        };
        for slot in 0..count {
            workers.spawn(slot)?;
        }
        for running in workers.slots.iter_mut().flatten() {
            wait_ready(running, &workers.setup.dir)?;
        }
        Ok(workers)
    }

    /// How many processes were started (workers and probe).
    pub fn processes(&self) -> u64 {
        self.started
    }

    /// The incarnations killed on purpose (their last line may be cut).
    pub fn killed(&self) -> &[String] {
        &self.killed
    }

    /// Failures: workers that exited badly, hung, or a probe that did.
    pub fn failures(&self) -> &[String] {
        &self.failures
    }

    /// Starts a new incarnation of worker `slot`: its name and start.
    pub fn spawn(&mut self, slot: usize) -> Result<(String, u64), String> {
        self.incarnations[slot] += 1;
        let name = format!("w{}.{}", slot + 1, self.incarnations[slot]);
        let skew_ms = self.skews.next().unwrap_or(0);
        let mut args = vec!["--until-ms".to_owned(), self.setup.until_ms.to_string()];
        if skew_ms != 0 {
            args.extend(["--skew-ms".to_owned(), format!("{skew_ms:+}")]);
        }
        let running = self.launch(&name, skew_ms, &args)?;
        let started_ms = running.started_ms;
        self.slots[slot] = Some(running);
        Ok((name, started_ms))
    }

    /// SIGKILL of worker `slot`'s incarnation: what ended, if it ran.
    pub fn kill(&mut self, slot: usize) -> Option<Ended> {
        let mut running = self.slots[slot].take()?;
        if !matches!(running.child.try_wait(), Ok(None)) {
            self.slots[slot] = Some(running);
            return None;
        }
        let _ = running.child.kill();
        let ended_ms = now_ms();
        let _ = running.child.wait();
        self.killed.push(running.name.clone());
        Some(ended(&running, ended_ms))
    }

    /// SIGSTOP of worker `slot` for `for_ms`, then SIGCONT: its name and
    /// the stop's START and END, if it ran.
    pub fn stop(&mut self, slot: usize, for_ms: u64) -> Result<Option<(String, u64, u64)>, String> {
        let Some(running) = self.slots[slot].as_mut() else {
            return Ok(None);
        };
        if !matches!(running.child.try_wait(), Ok(None)) {
            return Ok(None);
        }
        let pid = running.child.id();
        let start_ms = now_ms();
        signal("-STOP", pid)?;
        std::thread::sleep(Duration::from_millis(for_ms));
        signal("-CONT", pid)?;
        Ok(Some((running.name.clone(), start_ms, now_ms())))
    }

    /// Waits for every worker to exit (they exit at the end of the load),
    /// until `deadline_ms`; one that exited badly or still runs then (killed)
    /// is a failure. Returns what ended.
    pub fn finish(&mut self, deadline_ms: u64) -> Vec<Ended> {
        let mut ended_all = Vec::new();
        for slot in 0..self.slots.len() {
            let Some(mut running) = self.slots[slot].take() else {
                continue;
            };
            let (status, ended_ms) = wait_until(&mut running.child, deadline_ms);
            match status {
                Some(status) if status.success() => {}
                Some(status) => self.failures.push(format!(
                    "worker {} exited with {status} (see {})",
                    running.name,
                    stderr_path(&self.setup.dir, &running.name).display()
                )),
                None => self.failures.push(format!(
                    "worker {} still ran 10 s after the end of the load: a hung call (killed)",
                    running.name
                )),
            }
            ended_all.push(ended(&running, ended_ms));
        }
        ended_all
    }

    /// Runs the final probe (`--probe --name probe`: every key called once)
    /// and waits for it, up to `patience`; a probe that fails or hangs is
    /// a failure.
    pub fn probe(&mut self, patience: Duration) -> Result<(), String> {
        let deadline_ms = now_ms() + patience.as_millis() as u64;
        let args = [
            "--until-ms".to_owned(),
            deadline_ms.to_string(),
            "--probe".to_owned(),
        ];
        let mut running = self.launch("probe", 0, &args)?;
        let (status, _) = wait_until(&mut running.child, deadline_ms + 10_000);
        match status {
            Some(status) if status.success() => {}
            Some(status) => self.failures.push(format!(
                "the probe exited with {status} (see {})",
                stderr_path(&self.setup.dir, "probe").display()
            )),
            None => self
                .failures
                .push("the probe still ran 10 s after its end: a hung call (killed)".to_owned()),
        }
        Ok(())
    }

    /// Starts `worker --name NAME ...` with the run's URL, a new id range,
    /// its history and stderr in the run's directory, and `extra` arguments.
    fn launch(&mut self, name: &str, skew_ms: i64, extra: &[String]) -> Result<Running, String> {
        self.started += 1;
        let dir = &self.setup.dir;
        let stderr = std::fs::File::create(stderr_path(dir, name))
            .map_err(|error| format!("could not create {name}'s stderr file: {error}"))?;
        let mut command = Command::new(&self.setup.exe);
        command
            .arg("worker")
            .args(["--url", &self.setup.url, "--name", name])
            .args(["--ids-from", &(self.started * IDS_PER_PROCESS).to_string()])
            .arg("--out")
            .arg(dir.join(format!("{name}.history")))
            .args(extra);
        if let Some(broken) = &self.setup.broken {
            command.args(["--broken", broken]);
        }
        let started_ms = now_ms();
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|error| format!("could not start worker {name}: {error}"))?;
        let (ready_sender, ready) = mpsc::channel();
        if let Some(stdout) = child.stdout.take() {
            // Reads `ready`, then drains the rest so that the worker never
            // blocks on a full pipe.
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    match line {
                        Ok(line) if line.trim() == "ready" => {
                            let _ = ready_sender.send(());
                        }
                        Ok(_) => {}
                        Err(_) => break,
                    }
                }
            });
        }
        Ok(Running {
            name: name.to_owned(),
            child,
            skew_ms,
            started_ms,
            ready,
        })
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for running in self.slots.iter_mut().flatten() {
            let _ = running.child.kill();
            let _ = running.child.wait();
        }
    }
}

/// Waits until `running` prints `ready`; an error if it exits or takes
/// longer than [`READY_PATIENCE`].
fn wait_ready(running: &mut Running, dir: &Path) -> Result<(), String> {
    match running.ready.recv_timeout(READY_PATIENCE) {
        Ok(()) => Ok(()),
        Err(_) => Err(format!(
            "worker {} did not print `ready` within {} s (see {})",
            running.name,
            READY_PATIENCE.as_secs(),
            stderr_path(dir, &running.name).display()
        )),
    }
}

/// Waits for `child` to exit until `deadline_ms` (real ms), then kills it:
/// its status if it exited by itself, and when it was seen to end.
fn wait_until(child: &mut Child, deadline_ms: u64) -> (Option<ExitStatus>, u64) {
    let begun = Instant::now();
    let patience = Duration::from_millis(deadline_ms.saturating_sub(now_ms()));
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return (Some(status), now_ms());
        }
        if begun.elapsed() >= patience {
            let _ = child.kill();
            let ended_ms = now_ms();
            let _ = child.wait();
            return (None, ended_ms);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// What ended of `running` at `ended_ms`.
fn ended(running: &Running, ended_ms: u64) -> Ended {
    Ended {
        name: running.name.clone(),
        skew_ms: running.skew_ms,
        started_ms: running.started_ms,
        ended_ms,
    }
}

/// Where a worker's stderr goes.
fn stderr_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.stderr"))
}

/// Sends `kill WHICH PID` (`-STOP`, `-CONT`).
fn signal(which: &str, pid: u32) -> Result<(), String> {
    let status = Command::new("kill")
        .args([which, &pid.to_string()])
        .status()
        .map_err(|error| format!("could not run kill {which} {pid}: {error}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("kill {which} {pid} failed: {status}"))
    }
}
