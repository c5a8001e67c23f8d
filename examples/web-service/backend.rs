//! The slow backend both caches sit in front of. Every call sleeps, is
//! counted, and is matched to the expiry it answers, so that a run can show
//! backend calls per expiry.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// How long one backend call takes (a slow query).
pub const LATENCY: Duration = Duration::from_millis(200);

/// How long a report is fresh, in both caches (`soft` of the antidogpiled function).
pub const FRESH: Duration = Duration::from_secs(1);

/// A call that starts less than this after another call for the same
/// customer ended answers the same expiry: the value that call computed was
/// still fresh. Half the freshness leaves room for clocks and scheduling.
const SAME_EXPIRY: Duration = Duration::from_millis(500);

/// Past this many customers, those with no call in the last [`SAME_EXPIRY`]
/// are forgotten (their next call is a new expiry anyway), so that requests
/// for ever-new customers cannot grow the map without bound.
const TRACKED_CUSTOMERS: usize = 10_000;

/// A backend with its own counters.
#[derive(Debug)]
pub struct Backend {
    calls: AtomicU64,
    expiries: AtomicU64,
    customers: Mutex<BTreeMap<u64, Customer>>,
}

/// The calls of one customer: how many run now, when the last one ended.
#[derive(Debug, Default)]
struct Customer {
    running: usize,
    last_end: Option<Instant>,
}

/// Counts a call as finished when dropped, also when the request that made
/// it is cancelled mid-call (a client that hung up).
struct Running<'a> {
    backend: &'a Backend,
    customer: u64,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if let Some(customer) = self.backend.customers().get_mut(&self.customer) {
            customer.running -= 1;
            customer.last_end = Some(Instant::now());
        }
    }
}

impl Backend {
    /// A backend that has not been called.
    pub const fn new() -> Backend {
        Backend {
            calls: AtomicU64::new(0),
            expiries: AtomicU64::new(0),
            customers: Mutex::new(BTreeMap::new()),
        }
    }

    /// Renders a customer's report, slowly.
    pub async fn render(&self, customer: u64) -> String {
        let call = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
        let _running = self.start(customer);
        tokio::time::sleep(LATENCY).await;
        format!("report for customer {customer}: rendered by backend call #{call}\n")
    }

    /// Backend calls so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Expiries answered so far: calls that started while no other call for
    /// their customer ran nor had just ended.
    pub fn expiries(&self) -> u64 {
        self.expiries.load(Ordering::Relaxed)
    }

    fn start(&self, customer: u64) -> Running<'_> {
        let now = Instant::now();
        let mut customers = self.customers();
        if customers.len() > TRACKED_CUSTOMERS {
            customers.retain(|_, c| {
                c.running > 0 || c.last_end.is_some_and(|end| now - end <= SAME_EXPIRY)
            });
        }
        let state = customers.entry(customer).or_default();
        let answered = state.running > 0
            || state
                .last_end
                .is_some_and(|end| now.saturating_duration_since(end) <= SAME_EXPIRY);
        if !answered {
            self.expiries.fetch_add(1, Ordering::Relaxed);
        }
        state.running += 1;
        Running {
            backend: self,
            customer,
        }
    }

    fn customers(&self) -> MutexGuard<'_, BTreeMap<u64, Customer>> {
        self.customers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}
