//! The seed's schedule of faults and clock skews, drawn before the run
//! starts: the same seed gives the same schedule (not the same
//! interleaving: the processes are real).

use antidogpile_test_support::rng::XorShift;

use super::options::Store;

/// The largest clock skew given to a worker, either way.
pub const MAX_SKEW_MS: i64 = 100;

/// One fault to inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// SIGKILL of worker `worker` (0-based), a new incarnation started
    /// `restart_after_ms` later.
    KillWorker {
        worker: usize,
        restart_after_ms: u64,
    },
    /// SIGSTOP of worker `worker` for `for_ms`, then SIGCONT.
    StopWorker { worker: usize, for_ms: u64 },
    /// SIGSTOP of the server (memcached, redis) for `for_ms`.
    StopServer { for_ms: u64 },
    /// SIGKILL of the server, started again on its port `down_ms` later.
    KillServer { down_ms: u64 },
    /// Every connection through the proxy dropped.
    Cut,
    /// Replies delayed by `reply_ms` for `for_ms`.
    Delay { reply_ms: u64, for_ms: u64 },
    /// The next reply cut after the server acted on its request.
    CutAfterAct,
    /// SIGSTOP of the cluster's `master`-th master (in node order, among the
    /// masters of the moment) for `for_ms`, less than the node timeout.
    StopMaster { master: usize, for_ms: u64 },
    /// SIGKILL of the cluster's `master`-th master; started again once its
    /// replica has taken over.
    KillMaster { master: usize },
}

/// A fault and when it starts, in ms after the load starts (later if the
/// fault before it is still running then).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    /// When to start it, after the start of the load.
    pub at_ms: u64,
    /// What to do.
    pub fault: Fault,
}

/// A run's faults in order, and the clock skew of each worker process in
/// the order they are started (the first workers, then each restart).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The faults, by start.
    pub steps: Vec<Step>,
    /// The skew of the `n`-th process started (ms; + ahead, - behind).
    pub skews: Vec<i64>,
}

impl Plan {
    /// The schedule of `seed` for `workers` workers on `store`, with faults
    /// starting within the first `window_ms` of the load, one every 0.5 to
    /// 1.5 s.
    pub fn draw(seed: u64, store: Store, workers: usize, window_ms: u64) -> Plan {
        let mut random = XorShift::new(seed);
        let mut steps = Vec::new();
        // Redis Cluster: one master killed, at the first step past this.
        let mut kill_master_at = match store {
            Store::RedisCluster => Some(between(&mut random, 0, window_ms / 2)),
            _ => None,
        };
        let mut at_ms = between(&mut random, 500, 1500);
        while at_ms < window_ms {
            let fault = match kill_master_at {
                Some(kill_at) if at_ms >= kill_at => {
                    kill_master_at = None;
                    Fault::KillMaster {
                        master: random.below(3),
                    }
                }
                _ => draw_fault(&mut random, store, workers),
            };
            steps.push(Step { at_ms, fault });
            at_ms += between(&mut random, 500, 1500);
        }
        let kills = steps
            .iter()
            .filter(|step| matches!(step.fault, Fault::KillWorker { .. }))
            .count();
        let mut skew_random = XorShift::new(seed ^ 0x5EED_C10C);
        let skews = (0..workers + kills)
            .map(|_| between(&mut skew_random, 0, 2 * MAX_SKEW_MS as u64) as i64 - MAX_SKEW_MS)
            .collect();
        Plan { steps, skews }
    }

    /// The largest |skew| given.
    pub fn max_skew_ms(&self) -> u64 {
        self.skews
            .iter()
            .map(|skew| skew.unsigned_abs())
            .max()
            .unwrap_or(0)
    }
}

/// One fault of the kinds `store` takes.
fn draw_fault(random: &mut XorShift, store: Store, workers: usize) -> Fault {
    let kinds = match store {
        Store::Memory | Store::File => 2,
        Store::RedisCluster => 3,
        Store::Memcached | Store::Redis => 7,
    };
    let worker = random.below(workers);
    match random.below(kinds) {
        0 => Fault::KillWorker {
            worker,
            restart_after_ms: between(random, 0, 500),
        },
        1 => Fault::StopWorker {
            worker,
            for_ms: between(random, 100, 1500),
        },
        2 if store == Store::RedisCluster => Fault::StopMaster {
            master: random.below(3),
            for_ms: between(random, 300, 800),
        },
        2 => Fault::StopServer {
            for_ms: between(random, 100, 800),
        },
        3 => Fault::KillServer {
            down_ms: between(random, 0, 500),
        },
        4 => Fault::Cut,
        5 => Fault::Delay {
            reply_ms: between(random, 50, 400),
            for_ms: between(random, 500, 1500),
        },
        _ => Fault::CutAfterAct,
    }
}

/// A number in `low..=high`.
fn between(random: &mut XorShift, low: u64, high: u64) -> u64 {
    low + random.below((high - low + 1) as usize) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_the_same_plan_and_two_seeds_differ() {
        let plan = Plan::draw(7, Store::Memcached, 3, 6000);
        assert_eq!(plan, Plan::draw(7, Store::Memcached, 3, 6000));
        assert_ne!(plan, Plan::draw(8, Store::Memcached, 3, 6000));
    }

    #[test]
    fn faults_start_within_the_window_half_a_second_to_a_second_and_a_half_apart() {
        for seed in 0..50 {
            let plan = Plan::draw(seed, Store::Redis, 3, 6000);
            assert!(plan.steps.len() >= 3, "{plan:?}");
            let mut previous = 0;
            for step in &plan.steps {
                assert!(step.at_ms < 6000);
                assert!((500..=1500).contains(&(step.at_ms - previous)), "{plan:?}");
                previous = step.at_ms;
            }
        }
    }

    #[test]
    fn each_store_gets_only_its_own_faults() {
        for seed in 0..50 {
            for store in [Store::Memory, Store::File] {
                let plan = Plan::draw(seed, store, 3, 6000);
                assert!(plan.steps.iter().all(|step| matches!(
                    step.fault,
                    Fault::KillWorker { .. } | Fault::StopWorker { .. }
                )));
            }
            let cluster = Plan::draw(seed, Store::RedisCluster, 3, 6000);
            let master_kills = cluster
                .steps
                .iter()
                .filter(|step| matches!(step.fault, Fault::KillMaster { .. }))
                .count();
            assert_eq!(master_kills, 1, "{cluster:?}");
            assert!(cluster.steps.iter().all(|step| !matches!(
                step.fault,
                Fault::StopServer { .. } | Fault::KillServer { .. } | Fault::Cut
            )));
        }
        let kinds = |store| {
            let mut kinds: Vec<std::mem::Discriminant<Fault>> = (0..20)
                .flat_map(|seed| Plan::draw(seed, store, 3, 6000).steps)
                .map(|step| std::mem::discriminant(&step.fault))
                .collect();
            kinds.sort_by_key(|kind| format!("{kind:?}"));
            kinds.dedup();
            kinds.len()
        };
        assert_eq!(kinds(Store::Memcached), 7);
        assert_eq!(kinds(Store::RedisCluster), 4);
    }

    #[test]
    fn every_process_started_gets_a_skew_within_the_bound() {
        let plan = Plan::draw(3, Store::Memory, 3, 6000);
        let kills = plan
            .steps
            .iter()
            .filter(|step| matches!(step.fault, Fault::KillWorker { .. }))
            .count();
        assert_eq!(plan.skews.len(), 3 + kills);
        assert!(plan.skews.iter().all(|skew| skew.abs() <= MAX_SKEW_MS));
        assert!(plan.max_skew_ms() <= MAX_SKEW_MS as u64);
        let all: Vec<i64> = (0..30)
            .flat_map(|seed| Plan::draw(seed, Store::Memory, 3, 6000).skews)
            .collect();
        assert!(all.iter().any(|skew| *skew < 0) && all.iter().any(|skew| *skew > 0));
    }
}
