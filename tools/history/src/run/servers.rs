//! The store's servers for one run, started on free loopback ports and
//! stopped when dropped (also on an error), and the faults done to them.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use antidogpile_test_support::fault_proxy::FaultProxy;
use antidogpile_test_support::memcached::MemcachedKind;
use antidogpile_test_support::redis::{RedisCluster, RedisKind};
use antidogpile_test_support::server::{Kind, Server, Stopped};

use super::journal::now_ms;
use super::options::Store;

/// The query every networked store's URL takes in a run.
const NETWORK_QUERY: &str = "liveness=1s&timeout=200ms";

/// How long a server may take to listen again after a kill.
const RESTART_PATIENCE: Duration = Duration::from_secs(10);

/// How long a replica may take to take over, and a cluster to turn ok.
const FAILOVER_PATIENCE: Duration = Duration::from_secs(15);

/// What a fault did: its START and END (real ms) and its target's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Done {
    /// The server's name (`memcached`, `redis`, `node2`) or `proxy`.
    pub target: String,
    /// When it began.
    pub start_ms: u64,
    /// When it ended.
    pub end_ms: u64,
}

/// One server behind a fault proxy (the workers connect to the proxy).
#[derive(Debug)]
pub struct Proxied<K: Kind> {
    server: Server<K>,
    proxy: FaultProxy,
}

/// The servers of a run.
#[derive(Debug)]
pub enum Servers {
    /// None: each process has its own cache.
    Memory,
    /// None: a directory.
    File(PathBuf),
    /// memcached behind a proxy.
    Memcached(Proxied<MemcachedKind>),
    /// redis-server behind a proxy.
    Redis(Proxied<RedisKind>),
    /// Three masters with a replica each (node timeout 1000 ms).
    Cluster(RedisCluster),
}

impl Servers {
    /// Starts `store`'s servers (a file store lives in `dir/store`).
    pub fn start(store: Store, dir: &Path) -> Result<Servers, String> {
        Ok(match store {
            Store::Memory => Servers::Memory,
            Store::File => {
                let path = dir.join("store");
                std::fs::create_dir_all(&path)
                    .map_err(|error| format!("could not create {}: {error}", path.display()))?;
                Servers::File(path)
            }
            Store::Memcached => Servers::Memcached(Proxied::start()?),
            Store::Redis => Servers::Redis(Proxied::start()?),
            // It panics if it does not start: caught by `run::main`.
            Store::RedisCluster => Servers::Cluster(RedisCluster::start_with_replicas()),
        })
    }

    /// The URL the workers use.
    pub fn url(&self) -> String {
        match self {
            Servers::Memory => "memory://".to_owned(),
            Servers::File(path) => format!("file://{}?liveness=1s", path.display()),
            Servers::Memcached(proxied) => proxied.url(),
            Servers::Redis(proxied) => proxied.url(),
            Servers::Cluster(cluster) => cluster.url(NETWORK_QUERY),
        }
    }

    /// The one server behind a proxy, if the store has one.
    pub fn proxied(&mut self) -> Option<&mut dyn ProxiedFaults> {
        match self {
            Servers::Memcached(proxied) => Some(proxied),
            Servers::Redis(proxied) => Some(proxied),
            _ => None,
        }
    }

    /// The cluster, if the store is one.
    pub fn cluster(&mut self) -> Option<&mut RedisCluster> {
        match self {
            Servers::Cluster(cluster) => Some(cluster),
            _ => None,
        }
    }
}

impl<K: Kind> Proxied<K> {
    fn start() -> Result<Proxied<K>, String> {
        let server = Server::<K>::try_start_with(&[]).map_err(|error| error.to_string())?;
        let proxy = FaultProxy::start(server.port());
        Ok(Proxied { server, proxy })
    }
}

/// The faults of a server behind a proxy, whatever its kind.
pub trait ProxiedFaults {
    /// The URL through the proxy.
    fn url(&self) -> String;
    /// SIGSTOP of the server for `for_ms`, then SIGCONT.
    fn stop(&mut self, for_ms: u64) -> Done;
    /// SIGKILL of the server, started again on its port `down_ms` later.
    fn kill_and_restart(&mut self, down_ms: u64) -> Result<Done, String>;
    /// Every connection through the proxy dropped.
    fn cut(&mut self) -> Done;
    /// Replies delayed by `reply_ms` for `for_ms`.
    fn delay(&mut self, reply_ms: u64, for_ms: u64) -> Done;
    /// The next reply cut after the server acted (within `patience`): the
    /// fault, or `None` if no request came.
    fn cut_after_act(&mut self, patience: Duration) -> Option<Done>;
}

impl<K: Kind> ProxiedFaults for Proxied<K> {
    fn url(&self) -> String {
        format!(
            "{}://127.0.0.1:{}?{NETWORK_QUERY}",
            K::SCHEME,
            self.proxy.port()
        )
    }

    fn stop(&mut self, for_ms: u64) -> Done {
        let start_ms = now_ms();
        let stopped = Stopped::stop(&self.server);
        std::thread::sleep(Duration::from_millis(for_ms));
        drop(stopped);
        self.done(K::SCHEME, start_ms)
    }

    fn kill_and_restart(&mut self, down_ms: u64) -> Result<Done, String> {
        let start_ms = now_ms();
        self.server.kill();
        std::thread::sleep(Duration::from_millis(down_ms));
        self.server
            .try_restart_within(RESTART_PATIENCE)
            .map_err(|error| format!("{} did not restart: {error}", K::PROGRAM))?;
        Ok(self.done(K::SCHEME, start_ms))
    }

    fn cut(&mut self) -> Done {
        let start_ms = now_ms();
        self.proxy.drop_connections();
        Done {
            target: "proxy".to_owned(),
            start_ms,
            end_ms: start_ms,
        }
    }

    fn delay(&mut self, reply_ms: u64, for_ms: u64) -> Done {
        let start_ms = now_ms();
        self.proxy.delay_replies(Duration::from_millis(reply_ms));
        std::thread::sleep(Duration::from_millis(for_ms));
        self.proxy.pass_through();
        self.done("proxy", start_ms)
    }

    fn cut_after_act(&mut self, patience: Duration) -> Option<Done> {
        let cuts = self.proxy.cuts_done();
        let start_ms = now_ms();
        self.proxy.cut_next_reply(0);
        let begun = Instant::now();
        while self.proxy.cuts_done() == cuts && begun.elapsed() < patience {
            std::thread::sleep(Duration::from_millis(1));
        }
        self.proxy.pass_through();
        (self.proxy.cuts_done() > cuts).then(|| self.done("proxy", start_ms))
    }
}

impl<K: Kind> Proxied<K> {
    fn done(&self, target: &str, start_ms: u64) -> Done {
        Done {
            target: target.to_owned(),
            start_ms,
            end_ms: now_ms(),
        }
    }
}

/// The name of the cluster's node `index` in a history (`node1`...).
fn node_name(index: usize) -> String {
    format!("node{}", index + 1)
}

/// The `rank`-th master of `cluster` (in node order, among the masters of
/// the moment; wrapping), if any answers as a master.
fn master(cluster: &RedisCluster, rank: usize) -> Option<usize> {
    let masters: Vec<usize> = (0..cluster.nodes.len())
        .filter(|&node| cluster.role(node).as_deref() == Some("master"))
        .collect();
    (!masters.is_empty()).then(|| masters[rank % masters.len()])
}

/// SIGSTOP of the cluster's `rank`-th master for `for_ms`, then SIGCONT.
pub fn stop_master(cluster: &RedisCluster, rank: usize, for_ms: u64) -> Option<Done> {
    let node = master(cluster, rank)?;
    let start_ms = now_ms();
    let stopped = Stopped::stop(&cluster.nodes[node]);
    std::thread::sleep(Duration::from_millis(for_ms));
    drop(stopped);
    Some(Done {
        target: node_name(node),
        start_ms,
        end_ms: now_ms(),
    })
}

/// SIGKILL of the cluster's `rank`-th master; once its replica answers as
/// a master, the node is started again (it rejoins as a replica) and the
/// cluster is waited for until it is ok. END: when it is.
pub fn kill_master(cluster: &mut RedisCluster, rank: usize) -> Result<Option<Done>, String> {
    let Some(node) = master(cluster, rank) else {
        return Ok(None);
    };
    let replica = cluster.replica_of(node);
    let start_ms = now_ms();
    cluster.nodes[node].kill();
    let begun = Instant::now();
    let taken_over = |cluster: &RedisCluster| {
        replica.is_some_and(|replica| cluster.role(replica).as_deref() == Some("master"))
    };
    while !taken_over(cluster) && begun.elapsed() < FAILOVER_PATIENCE {
        std::thread::sleep(Duration::from_millis(20));
    }
    cluster.nodes[node]
        .try_restart_within(RESTART_PATIENCE)
        .map_err(|error| format!("{} did not restart: {error}", node_name(node)))?;
    let begun = Instant::now();
    while !cluster.is_ok() {
        if begun.elapsed() > FAILOVER_PATIENCE {
            return Err(format!(
                "the cluster was not ok {} s after {} was killed and restarted",
                FAILOVER_PATIENCE.as_secs(),
                node_name(node)
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(Some(Done {
        target: node_name(node),
        start_ms,
        end_ms: now_ms(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpStream;

    /// Sends `version` through the proxy: whether a whole reply came back.
    fn version_answered(port: u16) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let mut reply = [0u8; 64];
        stream.write_all(b"version\r\n").is_ok()
            && stream
                .read(&mut reply)
                .is_ok_and(|read| reply[..read].ends_with(b"\r\n"))
    }

    #[test]
    fn a_cut_after_act_is_written_only_if_a_reply_was_cut() {
        let mut proxied = Proxied::<MemcachedKind>::start().unwrap();
        let port = proxied.proxy.port();
        assert!(version_answered(port));
        assert_eq!(proxied.cut_after_act(Duration::from_millis(50)), None);
        let requests = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            version_answered(port)
        });
        let done = proxied.cut_after_act(Duration::from_secs(5)).unwrap();
        assert_eq!(done.target, "proxy");
        assert!(done.start_ms <= done.end_ms);
        assert!(!requests.join().unwrap(), "the reply was cut");
        assert!(version_answered(port), "the next reply passes");
    }

    #[test]
    fn a_killed_server_answers_again_on_its_port_and_a_stopped_one_after() {
        let mut proxied = Proxied::<RedisKind>::start().unwrap();
        assert!(proxied.url().starts_with("redis://127.0.0.1:"));
        let done = proxied.kill_and_restart(50).unwrap();
        assert_eq!(done.target, "redis");
        assert!(done.end_ms >= done.start_ms + 50);
        assert!(RedisKind::answered_pid(proxied.server.port()).is_some());
        let done = proxied.stop(100);
        assert!(done.end_ms >= done.start_ms + 100);
        assert!(RedisKind::answered_pid(proxied.server.port()).is_some());
    }
}
