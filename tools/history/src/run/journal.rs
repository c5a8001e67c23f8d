//! `run.history`: the run's `config` line and every fault as it ends, one
//! write per line (a file, unbuffered), so that a run cut short still
//! leaves what it did.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use super::options::{RunBounds, Store};

/// Real time in ms since the Unix epoch, the clock of every history.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}

/// The run's own history: the faults written, counted by kind.
#[derive(Debug)]
pub struct Journal {
    file: File,
    /// Faults written, by kind (`delay=MS` and `skew=±MS` as `delay`, `skew`).
    by_kind: BTreeMap<String, usize>,
    /// The latest END of a fault written.
    last_end_ms: u64,
}

/// The `config` line's values that vary by run.
#[derive(Debug)]
pub struct RunConfig<'a> {
    /// The store driven.
    pub store: Store,
    /// The run's seed.
    pub seed: u64,
    /// The largest |skew| given to a worker.
    pub skew_ms: u64,
    /// The broken build switched on, if any.
    pub broken: Option<&'a str>,
}

impl Journal {
    /// Creates `path` and writes the `config` line.
    pub fn create(path: &Path, config: &RunConfig<'_>) -> Result<Journal, String> {
        let file = File::create(path)
            .map_err(|error| format!("could not create {}: {error}", path.display()))?;
        let mut journal = Journal {
            file,
            by_kind: BTreeMap::new(),
            last_end_ms: 0,
        };
        let store = config.store;
        journal.line(&format!(
            "config store={} seed={} soft_ms=300 hard_ms=1200 grace_ms=2000 liveness_ms=1000 \
             hold_bound_ms={} clear_delay_ms=1000 skew_ms={} timeout_ms=200 early_ms={} broken={}",
            store.name(),
            config.seed,
            store.hold_bound_ms(),
            config.skew_ms,
            store.early_ms(),
            config.broken.unwrap_or("none"),
        ))?;
        Ok(journal)
    }

    /// Writes `fault KIND TARGET START END` and counts it.
    pub fn fault(
        &mut self,
        kind: &str,
        target: &str,
        start_ms: u64,
        end_ms: u64,
    ) -> Result<(), String> {
        self.line(&format!("fault {kind} {target} {start_ms} {end_ms}"))?;
        let family = kind.split('=').next().unwrap_or(kind);
        *self.by_kind.entry(family.to_owned()).or_default() += 1;
        // A clock skew lets no hold lapse: the probe need not wait for it.
        if family != "skew" {
            self.last_end_ms = self.last_end_ms.max(end_ms);
        }
        Ok(())
    }

    /// Faults written, by kind, the final probe not counted.
    pub fn faults_by_kind(&self) -> impl Iterator<Item = (&str, usize)> {
        self.by_kind
            .iter()
            .filter(|(kind, _)| *kind != "probe")
            .map(|(kind, count)| (kind.as_str(), *count))
    }

    /// The latest END of a fault written that may let holds lapse (0 if
    /// none): every fault but a clock skew.
    pub fn last_end_ms(&self) -> u64 {
        self.last_end_ms
    }

    fn line(&mut self, line: &str) -> Result<(), String> {
        self.file
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|()| self.file.flush())
            .map_err(|error| format!("could not write run.history: {error}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use antidogpile_test_support::temp_dir::TempDir;

    #[test]
    fn the_config_line_then_each_fault_counted_by_kind() {
        let dir = TempDir::new("journal");
        let path = dir.path().join("run.history");
        let config = RunConfig {
            store: Store::Memcached,
            seed: 9,
            skew_ms: 37,
            broken: None,
        };
        let mut journal = Journal::create(&path, &config).unwrap();
        journal.fault("delay=120", "proxy", 10, 900).unwrap();
        journal.fault("skew=-37", "w1.1", 5, 2000).unwrap();
        journal.fault("delay=50", "proxy", 1000, 1100).unwrap();
        journal.fault("probe", "all", 3000, 3000).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "config store=memcached seed=9 soft_ms=300 hard_ms=1200 grace_ms=2000 \
             liveness_ms=1000 hold_bound_ms=8000 clear_delay_ms=1000 skew_ms=37 timeout_ms=200 \
             early_ms=1000 broken=none"
        );
        assert_eq!(lines[1], "fault delay=120 proxy 10 900");
        assert_eq!(lines.len(), 5);
        let kinds: Vec<(&str, usize)> = journal.faults_by_kind().collect();
        assert_eq!(kinds, [("delay", 2), ("skew", 1)]);
        assert_eq!(journal.last_end_ms(), 3000);
    }
}
