//! The events of a history, one per line of its text (see the crate docs),
//! each printed back as the line it was read from.

use std::fmt;

use crate::config::Config;

/// What a compute ended with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// It returned a value to cache.
    Ok,
    /// It returned a failure (`Err`, `None`): nothing cached.
    Err,
    /// It panicked.
    Panic,
    /// It ran past the grace on purpose (its holder may be replaced).
    Hung,
}

/// Whether a compute ran under a hold of the store, from the library's hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Hold {
    /// Under a claim or lease of the store (of the process, for memory).
    Held,
    /// Through the cache, with no hold (the store failed or timed out, or a
    /// holder overran the grace).
    Unheld,
    /// Computed without the cache (re-entrant, would deadlock, after a
    /// failed compute, no cache).
    Uncached,
    /// The call panicked, so the hook never reported.
    Unknown,
}

/// How a call was served.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Served {
    /// A fresh value of the cache.
    Fresh,
    /// A stale value, while someone else refreshes (or a failed refresh's).
    Stale,
    /// The value of another caller's compute, waited for.
    Waited,
    /// Its own compute's value, stored or not.
    Computed,
    /// Computed without the cache.
    Uncached,
}

/// A fault the injector caused, by kind (its parameter, if any, included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// SIGKILL of a worker (START = END).
    Kill,
    /// SIGSTOP of a worker at START, SIGCONT at END.
    Stop,
    /// A new incarnation of a worker started (START = END).
    Restart,
    /// A server killed at START, back at END.
    ServerKill,
    /// A server stopped (SIGSTOP) at START, continued at END.
    ServerStop,
    /// The proxy dropped every connection (START = END).
    Cut,
    /// The proxy delayed replies by this many milliseconds.
    Delay(u64),
    /// The proxy let the server act on the next request and cut its reply.
    CutAfterAct,
    /// A worker's cache clock ran this many milliseconds ahead (or behind).
    Skew(i64),
    /// The final probe began (TARGET `all`): no fault after it.
    Probe,
}

impl FaultKind {
    /// The kind's name, without its parameter (`delay`, not `delay=50`).
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Kill => "kill",
            FaultKind::Stop => "stop",
            FaultKind::Restart => "restart",
            FaultKind::ServerKill => "server-kill",
            FaultKind::ServerStop => "server-stop",
            FaultKind::Cut => "cut",
            FaultKind::Delay(_) => "delay",
            FaultKind::CutAfterAct => "cut-after-act",
            FaultKind::Skew(_) => "skew",
            FaultKind::Probe => "probe",
        }
    }

    /// Whether a hold may lapse, or a write or release be lost, because of
    /// it: every kind but `skew` (covered by the skew tolerance), `restart`
    /// (its `kill` is the fault) and `probe` (no fault at all).
    pub fn lets_holds_lapse(self) -> bool {
        !matches!(
            self,
            FaultKind::Skew(_) | FaultKind::Restart | FaultKind::Probe
        )
    }

    /// Whether it is a fault of the store (a server, or the connections to
    /// it), not of a worker.
    pub fn is_the_stores(self) -> bool {
        matches!(
            self,
            FaultKind::ServerKill
                | FaultKind::ServerStop
                | FaultKind::Cut
                | FaultKind::Delay(_)
                | FaultKind::CutAfterAct
        )
    }

    /// Why the docs allow what a fault of this kind exempts (printed with
    /// each count of exemptions).
    pub fn documented_as(self) -> &'static str {
        match self {
            FaultKind::Kill => "a killed holder's hold lapses within the liveness window",
            FaultKind::Stop => "a stopped holder's hold lapses within the liveness window",
            FaultKind::ServerKill => "a restarted store has lost its holds and values",
            FaultKind::ServerStop => "a stalled store's holds lapse",
            FaultKind::Cut => "a cut connection's renewals and writes are lost",
            FaultKind::Delay(_) => "a store slower than the window lets its holds lapse",
            FaultKind::CutAfterAct => "a reply lost after the store acted: the caller cannot tell",
            FaultKind::Skew(_) | FaultKind::Restart | FaultKind::Probe => "not an exemption",
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultKind::Delay(ms) => write!(f, "delay={ms}"),
            FaultKind::Skew(ms) => write!(f, "skew={ms:+}"),
            other => f.write_str(other.name()),
        }
    }
}

/// One run of a memoized function's body (or one key of a batch's compute).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compute {
    /// The process that ran it (`w1.1`).
    pub process: String,
    /// The key computed.
    pub key: String,
    /// The value it produced, unique in the run.
    pub id: u64,
    /// When it began (real-time milliseconds).
    pub start: u64,
    /// When it ended.
    pub end: u64,
    /// What it ended with.
    pub outcome: Outcome,
    /// Whether the store held it.
    pub hold: Hold,
}

/// One call (one key of a batch call).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// The calling process.
    pub process: String,
    /// The key called.
    pub key: String,
    /// When the call began.
    pub start: u64,
    /// When it returned.
    pub end: u64,
    /// How it was served.
    pub served: Served,
    /// The ID of the value returned (`None`: a failure or nothing).
    pub value: Option<u64>,
    /// The ID of the compute this call ran itself.
    pub ran: Option<u64>,
    /// The batch call this line is one key of (shared by its lines).
    pub batch: Option<String>,
}

/// A plain `Cache::set` of a client key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Set {
    /// The process that set it.
    pub process: String,
    /// The client key.
    pub key: String,
    /// The value set, unique in the run.
    pub id: u64,
    /// When the set began.
    pub start: u64,
    /// When it returned.
    pub end: u64,
}

/// An invalidation (soft or hard) of one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalidate {
    /// The invalidating process.
    pub process: String,
    /// The key invalidated.
    pub key: String,
    /// When it began.
    pub start: u64,
    /// When it returned.
    pub end: u64,
}

/// A `Cache::clear()` (every key of the process's cache).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clear {
    /// The clearing process.
    pub process: String,
    /// When it began.
    pub start: u64,
    /// When it returned.
    pub end: u64,
}

/// A fault of the injector's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// What was done.
    pub kind: FaultKind,
    /// To whom: a process, a server, `proxy` or `all`.
    pub target: String,
    /// When it began.
    pub start: u64,
    /// When it ended.
    pub end: u64,
}

/// One event of a history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The run's settings (one line, in `run.history`).
    Config(Config),
    /// A compute.
    Compute(Compute),
    /// A call.
    Call(Call),
    /// A plain set.
    Set(Set),
    /// An invalidation.
    Invalidate(Invalidate),
    /// A clear.
    Clear(Clear),
    /// A fault.
    Fault(Fault),
}

impl Event {
    /// When it began and ended (`None` for the config).
    pub fn span(&self) -> Option<(u64, u64)> {
        match self {
            Event::Config(_) => None,
            Event::Compute(e) => Some((e.start, e.end)),
            Event::Call(e) => Some((e.start, e.end)),
            Event::Set(e) => Some((e.start, e.end)),
            Event::Invalidate(e) => Some((e.start, e.end)),
            Event::Clear(e) => Some((e.start, e.end)),
            Event::Fault(e) => Some((e.start, e.end)),
        }
    }
}

/// A word of a history, or `-` for none.
struct OrDash<'a, T>(&'a Option<T>);

impl<T: fmt::Display> fmt::Display for OrDash<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(value) => value.fmt(f),
            None => f.write_str("-"),
        }
    }
}

/// The event as its history line.
impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Config(config) => config.fmt(f),
            Event::Compute(c) => write!(
                f,
                "compute {} {} {} {} {} {} {}",
                c.process,
                c.key,
                c.id,
                c.start,
                c.end,
                crate::words::outcome(c.outcome),
                crate::words::hold(c.hold)
            ),
            Event::Call(c) => write!(
                f,
                "call {} {} {} {} {} {} {} {}",
                c.process,
                c.key,
                c.start,
                c.end,
                crate::words::served(c.served),
                OrDash(&c.value),
                OrDash(&c.ran),
                OrDash(&c.batch)
            ),
            Event::Set(s) => write!(
                f,
                "set {} {} {} {} {}",
                s.process, s.key, s.id, s.start, s.end
            ),
            Event::Invalidate(i) => write!(
                f,
                "invalidate {} {} {} {}",
                i.process, i.key, i.start, i.end
            ),
            Event::Clear(c) => write!(f, "clear {} {} {}", c.process, c.start, c.end),
            Event::Fault(x) => write!(f, "fault {} {} {} {}", x.kind, x.target, x.start, x.end),
        }
    }
}
