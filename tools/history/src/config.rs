//! The run's settings, from its `config` line (defaults when absent).

use std::fmt;

/// The store a run used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Store {
    /// In process: each process has its own cache, a key is (process, key).
    Memory,
    /// memcached.
    Memcached,
    /// One Redis server.
    Redis,
    /// A Redis Cluster.
    RedisCluster,
    /// A directory of files.
    File,
}

impl Store {
    /// The store `name` spells (as `config` and `run --store` do), or an
    /// error listing the names.
    pub fn named(name: &str) -> Result<Store, String> {
        crate::words::one_of(name, STORES, "store")
    }

    /// Its name, as `config` and `run --store` spell it.
    pub fn name(self) -> &'static str {
        STORES
            .iter()
            .find(|(_, store)| *store == self)
            .map_or("?", |(spelled, _)| spelled)
    }
}

/// The stores, as a `config` line spells them.
const STORES: &[(&str, Store)] = &[
    ("memory", Store::Memory),
    ("memcached", Store::Memcached),
    ("redis", Store::Redis),
    ("redis-cluster", Store::RedisCluster),
    ("file", Store::File),
];

/// The run's settings (milliseconds unless named otherwise).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The store.
    pub store: Store,
    /// The run's seed.
    pub seed: u64,
    /// The soft timeout.
    pub soft_ms: u64,
    /// The hard timeout.
    pub hard_ms: u64,
    /// The grace.
    pub grace_ms: u64,
    /// The liveness window.
    pub liveness_ms: u64,
    /// How long a hold of a dead, stopped or cut-off holder may outlive it.
    pub hold_bound_ms: u64,
    /// How long after a clear other processes may still serve old values.
    pub clear_delay_ms: u64,
    /// The largest clock offset given to any process (either way).
    pub skew_ms: u64,
    /// A store request's timeout.
    pub timeout_ms: u64,
    /// Slack for scheduling and I/O on a busy machine.
    pub wait_tolerance_ms: u64,
    /// How much earlier than the soft deadline a store may judge a value stale.
    pub early_ms: u64,
    /// The broken build switched on (`None`: the real library).
    pub broken: Option<String>,
}

/// The defaults of the format's notes; a history with no `store` is
/// checked as one on a shared store (Redis): every process sees every key,
/// the strictest reading (the memory store's checks are per process).
impl Default for Config {
    fn default() -> Config {
        Config {
            store: Store::Redis,
            seed: 0,
            soft_ms: 300,
            hard_ms: 1200,
            grace_ms: 2000,
            liveness_ms: 1000,
            hold_bound_ms: 2000,
            clear_delay_ms: 1000,
            skew_ms: 0,
            timeout_ms: 200,
            wait_tolerance_ms: 300,
            early_ms: 100,
            broken: None,
        }
    }
}

impl Config {
    /// The settings of a `config` line's `KEY=VALUE` fields: unknown keys
    /// are an error, missing ones take the defaults (`hold_bound_ms` that
    /// of the line's own `liveness_ms`: the window + 1 s).
    pub(crate) fn from_fields(fields: &[&str]) -> Result<Config, String> {
        let mut config = Config::default();
        let mut hold_bound_ms = None;
        for field in fields {
            let Some((name, value)) = field.split_once('=') else {
                return Err(format!("config field {field:?} is not KEY=VALUE"));
            };
            let target = match name {
                "store" => {
                    config.store = crate::words::one_of(value, STORES, "store")?;
                    continue;
                }
                "broken" => {
                    config.broken = (value != "none").then(|| value.to_owned());
                    continue;
                }
                "hold_bound_ms" => {
                    hold_bound_ms = Some(whole(name, value)?);
                    continue;
                }
                "seed" => &mut config.seed,
                "soft_ms" => &mut config.soft_ms,
                "hard_ms" => &mut config.hard_ms,
                "grace_ms" => &mut config.grace_ms,
                "liveness_ms" => &mut config.liveness_ms,
                "clear_delay_ms" => &mut config.clear_delay_ms,
                "skew_ms" => &mut config.skew_ms,
                "timeout_ms" => &mut config.timeout_ms,
                "wait_tolerance_ms" => &mut config.wait_tolerance_ms,
                "early_ms" => &mut config.early_ms,
                other => {
                    return Err(format!(
                        "unknown config key {other:?}: one of store, seed, soft_ms, hard_ms, \
                         grace_ms, liveness_ms, hold_bound_ms, clear_delay_ms, skew_ms, \
                         timeout_ms, wait_tolerance_ms, early_ms, broken"
                    ))
                }
            };
            *target = whole(name, value)?;
        }
        config.hold_bound_ms = hold_bound_ms.unwrap_or(config.liveness_ms.saturating_add(1000));
        Ok(config)
    }
}

/// A config value that must be a whole number.
fn whole(name: &str, value: &str) -> Result<u64, String> {
    value
        .parse()
        .map_err(|_| format!("{name} must be a whole number, found {value:?}"))
}

/// The settings as a complete `config` line.
impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let store = STORES
            .iter()
            .find(|(_, store)| *store == self.store)
            .map_or("?", |(word, _)| *word);
        write!(
            f,
            "config store={store} seed={} soft_ms={} hard_ms={} grace_ms={} liveness_ms={} \
             hold_bound_ms={} clear_delay_ms={} skew_ms={} timeout_ms={} wait_tolerance_ms={} \
             early_ms={} broken={}",
            self.seed,
            self.soft_ms,
            self.hard_ms,
            self.grace_ms,
            self.liveness_ms,
            self.hold_bound_ms,
            self.clear_delay_ms,
            self.skew_ms,
            self.timeout_ms,
            self.wait_tolerance_ms,
            self.early_ms,
            self.broken.as_deref().unwrap_or("none")
        )
    }
}
