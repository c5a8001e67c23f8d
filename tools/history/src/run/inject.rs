//! Carrying out a plan: each fault at its time (or when the one before it
//! ends), written to the journal when it ends.

use std::time::Duration;

use super::journal::{now_ms, Journal};
use super::plan::{Fault, Step};
use super::servers::{self, Done, Servers};
use super::workers::{Ended, Workers};

/// How long an armed cut-after-act waits for a request to cut.
const CUT_PATIENCE: Duration = Duration::from_secs(2);

/// Does each of `steps`, `step.at_ms` after `load_start_ms`, in order.
pub fn inject(
    steps: &[Step],
    load_start_ms: u64,
    journal: &mut Journal,
    workers: &mut Workers,
    servers: &mut Servers,
) -> Result<(), String> {
    for step in steps {
        let due_ms = load_start_ms + step.at_ms;
        std::thread::sleep(Duration::from_millis(due_ms.saturating_sub(now_ms())));
        one(step.fault, journal, workers, servers)?;
    }
    Ok(())
}

/// Writes the `skew` fault of a worker that ended, if it had one.
pub fn write_skew(journal: &mut Journal, ended: &Ended) -> Result<(), String> {
    if ended.skew_ms == 0 {
        return Ok(());
    }
    journal.fault(
        &format!("skew={:+}", ended.skew_ms),
        &ended.name,
        ended.started_ms,
        ended.ended_ms,
    )
}

/// Does one fault and writes it.
fn one(
    fault: Fault,
    journal: &mut Journal,
    workers: &mut Workers,
    servers: &mut Servers,
) -> Result<(), String> {
    let write = |journal: &mut Journal, kind: &str, done: Option<Done>| match done {
        Some(done) => journal.fault(kind, &done.target, done.start_ms, done.end_ms),
        None => Ok(()),
    };
    match fault {
        Fault::KillWorker {
            worker,
            restart_after_ms,
        } => {
            let Some(ended) = workers.kill(worker) else {
                return Ok(());
            };
            journal.fault("kill", &ended.name, ended.ended_ms, ended.ended_ms)?;
            write_skew(journal, &ended)?;
            std::thread::sleep(Duration::from_millis(restart_after_ms));
            let (name, started_ms) = workers.spawn(worker)?;
            journal.fault("restart", &name, started_ms, started_ms)
        }
        Fault::StopWorker { worker, for_ms } => match workers.stop(worker, for_ms)? {
            Some((name, start_ms, end_ms)) => journal.fault("stop", &name, start_ms, end_ms),
            None => Ok(()),
        },
        Fault::StopServer { for_ms } => {
            let done = servers.proxied().map(|server| server.stop(for_ms));
            write(journal, "server-stop", done)
        }
        Fault::KillServer { down_ms } => {
            let done = match servers.proxied() {
                Some(server) => Some(server.kill_and_restart(down_ms)?),
                None => None,
            };
            write(journal, "server-kill", done)
        }
        Fault::Cut => {
            let done = servers.proxied().map(|server| server.cut());
            write(journal, "cut", done)
        }
        Fault::Delay { reply_ms, for_ms } => {
            let done = servers
                .proxied()
                .map(|server| server.delay(reply_ms, for_ms));
            write(journal, &format!("delay={reply_ms}"), done)
        }
        Fault::CutAfterAct => {
            let done = servers
                .proxied()
                .and_then(|server| server.cut_after_act(CUT_PATIENCE));
            write(journal, "cut-after-act", done)
        }
        Fault::StopMaster { master, for_ms } => {
            let done = servers
                .cluster()
                .and_then(|cluster| servers::stop_master(cluster, master, for_ms));
            write(journal, "server-stop", done)
        }
        Fault::KillMaster { master } => {
            let done = match servers.cluster() {
                Some(cluster) => servers::kill_master(cluster, master)?,
                None => None,
            };
            write(journal, "server-kill", done)
        }
    }
}
