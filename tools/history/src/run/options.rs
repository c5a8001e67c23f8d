//! The `run` command's arguments, and what each store means for a run (its
//! bound on holds, how early it may judge a value stale, its faults).

use std::path::PathBuf;

pub use antidogpile_history::Store;

/// What a store means for a run: its bound on holds, how early it may
/// judge a value stale.
pub trait RunBounds {
    /// How long a hold of a dead, stopped or cut-off holder may outlive it
    /// (the docs' liveness window of 1 s plus the store's slack).
    fn hold_bound_ms(self) -> u64;
    /// How much earlier than the soft deadline the store may judge a value
    /// stale (memcached counts whole seconds).
    fn early_ms(self) -> u64;
}

impl RunBounds for Store {
    fn hold_bound_ms(self) -> u64 {
        match self {
            Store::Memory => 0,
            Store::File | Store::Redis => 2000,
            Store::RedisCluster => 3000,
            Store::Memcached => 8000,
        }
    }

    fn early_ms(self) -> u64 {
        match self {
            Store::Memcached => 1000,
            _ => 100,
        }
    }
}

/// `run --store S --seed N [--seconds 12] [--workers 3] [--out DIR] [--broken NAME]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// The store to drive.
    pub store: Store,
    /// The seed of the fault schedule and the clock skews.
    pub seed: u64,
    /// How long the load runs.
    pub seconds: u64,
    /// How many worker processes run at once.
    pub workers: usize,
    /// Where the histories go (a new temporary directory if not given).
    pub out: Option<PathBuf>,
    /// The broken build the workers switch on, if any.
    pub broken: Option<String>,
}

/// How to call `run`, for argument errors.
pub const USAGE: &str =
    "usage: antidogpile-history run --store memory|memcached|redis|redis-cluster|file \
--seed N [--seconds 12] [--workers 3] [--out DIR] [--broken NAME]";

impl Options {
    /// The options `args` give (the words after `run`), or what is wrong
    /// with them.
    pub fn parse(args: &[String]) -> Result<Options, String> {
        let mut store = None;
        let mut seed = None;
        let mut options = Options {
            store: Store::Memory,
            seed: 0,
            seconds: 12,
            workers: 3,
            out: None,
            broken: None,
        };
        let mut words = args.iter();
        while let Some(flag) = words.next() {
            let mut value = || words.next().ok_or_else(|| format!("{flag} needs a value"));
            match flag.as_str() {
                "--store" => store = Some(Store::named(value()?)?),
                "--seed" => seed = Some(number(flag, value()?)?),
                "--seconds" => options.seconds = number(flag, value()?)?,
                "--workers" => options.workers = number(flag, value()?)? as usize,
                "--out" => options.out = Some(PathBuf::from(value()?)),
                "--broken" => options.broken = Some(value()?.clone()),
                other => {
                    return Err(format!(
                        "unknown argument {other:?}: one of --store, --seed, --seconds, \
                         --workers, --out, --broken"
                    ))
                }
            }
        }
        options.store = store.ok_or("--store is required")?;
        options.seed = seed.ok_or("--seed is required")?;
        if options.seconds == 0 || options.workers == 0 {
            return Err("--seconds and --workers must be at least 1".to_owned());
        }
        Ok(options)
    }
}

/// `text` as a whole number, or an error naming `flag`.
fn number(flag: &str, text: &str) -> Result<u64, String> {
    text.parse()
        .map_err(|_| format!("{flag} must be a whole number, found {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn defaults_fill_what_is_not_given() {
        let options = Options::parse(&words("--store redis-cluster --seed 7")).unwrap();
        assert_eq!(options.store, Store::RedisCluster);
        assert_eq!((options.seed, options.seconds, options.workers), (7, 12, 3));
        assert_eq!((options.out, options.broken), (None, None));
        let options = Options::parse(&words(
            "--seed 1 --store file --seconds 3 --workers 2 --out /x --broken b",
        ))
        .unwrap();
        assert_eq!((options.seconds, options.workers), (3, 2));
        assert_eq!(options.out, Some(PathBuf::from("/x")));
        assert_eq!(options.broken.as_deref(), Some("b"));
    }

    #[test]
    fn bad_arguments_say_what_is_wrong() {
        let error = |text| Options::parse(&words(text)).unwrap_err();
        assert!(error("--seed 1").contains("--store is required"));
        assert!(error("--store memory").contains("--seed is required"));
        assert!(error("--store disk --seed 1").contains("one of memory, memcached"));
        assert!(error("--store memory --seed x").contains("--seed must be a whole number"));
        assert!(error("--store memory --seed 1 --seconds").contains("--seconds needs a value"));
        assert!(error("--store memory --seed 1 --colour red").contains("unknown argument"));
        assert!(error("--store memory --seed 1 --workers 0").contains("at least 1"));
    }

    #[test]
    fn every_store_is_named_back_as_spelled() {
        for name in ["memory", "memcached", "redis", "redis-cluster", "file"] {
            assert_eq!(Store::named(name).map(Store::name), Ok(name));
        }
    }
}
