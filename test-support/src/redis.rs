//! A real redis-server for one test (or one run of a tool): started on an
//! ephemeral loopback port with no persistence, killed when dropped. Never
//! a server left running by hand.

use std::io::{BufRead, BufReader, Error, Result, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::server::{Kind, Server};

/// A redis-server child process on a free port of 127.0.0.1, with no
/// persistence, killed when dropped: [`Server`]'s start, port, URL
/// (`redis://127.0.0.1:PORT`), kill and restart, and [`Redis::command`].
/// Arguments added to the defaults are kept across restarts.
pub type Redis = Server<RedisKind>;

/// The [`Kind`] of [`Redis`]: how redis-server is started and asked its pid.
#[derive(Debug)]
pub enum RedisKind {}

impl Kind for RedisKind {
    const PROGRAM: &'static str = "redis-server";
    const PACKAGE: &'static str = "redis-server";
    const SCHEME: &'static str = "redis";

    fn command(port: u16, extra: &[String]) -> Command {
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--loglevel", "warning", "--daemonize", "no"])
            .args(extra);
        command
    }

    fn answered_pid(port: u16) -> Option<u32> {
        let info = command_on(port, &["INFO", "server"]).ok()?;
        info.lines()
            .find_map(|line| line.strip_prefix("process_id:"))
            .and_then(|pid| pid.trim().parse().ok())
    }
}

impl Redis {
    /// Sends one command and returns its reply, for a test that looks at
    /// the server directly: a bulk string's text, an array of bulk strings
    /// as `*N` then one line per item, else the reply's line.
    pub fn command(&self, words: &[&str]) -> Result<String> {
        command_on(self.port(), words)
    }
}

/// Sends one command to the redis-server on `port` and returns its reply: a
/// bulk string's text, an array of bulk strings as `*N` then one line per
/// item, else the reply's line.
fn command_on(port: u16, words: &[&str]) -> Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut request = format!("*{}\r\n", words.len());
    for word in words {
        request.push_str(&format!("${}\r\n{word}\r\n", word.len()));
    }
    stream.write_all(request.as_bytes())?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    fn bulk(reader: &mut impl BufRead, line: &str) -> Result<String> {
        let len: i64 = line.trim().parse().map_err(Error::other)?;
        if len < 0 {
            return Ok(String::new());
        }
        let mut body = vec![0; len as usize + 2];
        reader.read_exact(&mut body)?;
        body.truncate(len as usize);
        Ok(String::from_utf8_lossy(&body).into_owned())
    }
    if let Some(len) = line.strip_prefix('$') {
        return bulk(&mut reader, len);
    }
    if let Some(count) = line.strip_prefix('*') {
        let count: usize = count.trim().parse().unwrap_or(0);
        let mut items = vec![line.trim_end().to_owned()];
        for _ in 0..count {
            let mut item = String::new();
            reader.read_line(&mut item)?;
            match item.strip_prefix('$') {
                Some(len) => items.push(bulk(&mut reader, len)?),
                None => items.push(item.trim_end().to_owned()),
            }
        }
        return Ok(items.join("\n"));
    }
    Ok(line.trim_end().to_owned())
}

pub use crate::server::Stopped;

/// A Redis Cluster of three masters (no replicas) on free loopback ports,
/// its slots spread by `redis-cli --cluster create`; killed when dropped.
pub struct RedisCluster {
    /// The nodes (dropped before the directory of their config files).
    pub nodes: Vec<Redis>,
    _dir: crate::temp_dir::TempDir,
}

impl RedisCluster {
    /// Starts three nodes and waits until the cluster's state is ok.
    pub fn start() -> RedisCluster {
        let (nodes, dir) = launch("redis-cluster", 3, 0, "5000", &[]);
        let start = Instant::now();
        for node in &nodes {
            while !node
                .command(&["CLUSTER", "INFO"])
                .is_ok_and(|info| info.contains("cluster_state:ok"))
            {
                assert!(
                    start.elapsed() < Duration::from_secs(20),
                    "the cluster's state did not turn ok"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        RedisCluster { nodes, _dir: dir }
    }

    /// `redis+cluster://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3`, with extra
    /// query parameters if given.
    pub fn url(&self, query: &str) -> String {
        let query = if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        };
        let ports: Vec<u16> = self.nodes.iter().map(|node| node.port()).collect();
        format!("redis+cluster://{}{query}", node_list(&ports))
    }
}

/// `127.0.0.1:P1,127.0.0.1:P2,...`: a cluster URL's nodes.
pub fn node_list(ports: &[u16]) -> String {
    let nodes: Vec<String> = ports
        .iter()
        .map(|port| format!("127.0.0.1:{port}"))
        .collect();
    nodes.join(",")
}

/// Starts `count` cluster nodes (node timeout `node_timeout` ms, `extra`
/// arguments after) with their config files in a directory of their own
/// (named after `name`), and has `redis-cli --cluster create` make a
/// cluster of them with `replicas` replicas per master.
fn launch(
    name: &str,
    count: usize,
    replicas: usize,
    node_timeout: &str,
    extra: &[&str],
) -> (Vec<Redis>, crate::temp_dir::TempDir) {
    let dir = crate::temp_dir::TempDir::new(name);
    let dir_arg = dir.path().to_string_lossy().into_owned();
    let nodes: Vec<Redis> = (0..count)
        .map(|node| {
            let config = format!("{dir_arg}/nodes-{node}.conf");
            let mut args = vec![
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                &config,
                "--cluster-node-timeout",
                node_timeout,
                "--dir",
                &dir_arg,
            ];
            args.extend_from_slice(extra);
            Redis::start_with(&args)
        })
        .collect();
    let ports: Vec<u16> = nodes.iter().map(|node| node.port()).collect();
    let created = Command::new("redis-cli")
        .arg("--cluster")
        .arg("create")
        .args(node_list(&ports).split(','))
        .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
        .stdin(Stdio::null())
        .output()
        .expect("could not run redis-cli (package redis-tools)");
    assert!(
        created.status.success(),
        "redis-cli --cluster create failed: {}",
        String::from_utf8_lossy(&created.stdout)
    );
    (nodes, dir)
}

impl RedisCluster {
    /// A Redis Cluster of three masters, each with one replica, that fails
    /// over within seconds (`cluster-node-timeout` 1000 ms): starts six
    /// nodes, makes three of them masters and three their replicas
    /// (`--cluster-replicas 1`), and waits until the cluster's state is ok
    /// on every node and every replica is in sync.
    pub fn start_with_replicas() -> RedisCluster {
        // A replica is promoted however long ago it last heard from its master.
        let (nodes, dir) = launch(
            "redis-cluster-replicas",
            6,
            1,
            "1000",
            &["--cluster-replica-validity-factor", "0"],
        );
        let cluster = RedisCluster { nodes, _dir: dir };
        let synced = |cluster: &RedisCluster| {
            let roles: Vec<Option<String>> = (0..cluster.nodes.len())
                .map(|node| cluster.role(node))
                .collect();
            let masters = roles
                .iter()
                .filter(|role| *role == &Some("master".to_owned()));
            let replicas_up = cluster.nodes.iter().zip(&roles).all(|(node, role)| {
                role.as_deref() != Some("slave")
                    || node
                        .command(&["INFO", "replication"])
                        .is_ok_and(|info| info.contains("master_link_status:up"))
            });
            masters.count() == 3 && replicas_up && cluster.is_ok()
        };
        let start = Instant::now();
        while !synced(&cluster) {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the cluster with replicas did not turn ok and in sync"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        cluster
    }

    /// Whether every node that answers reports `cluster_state:ok` (a killed
    /// node does not answer and is not asked).
    pub fn is_ok(&self) -> bool {
        let mut answered = 0;
        for node in &self.nodes {
            match node.command(&["CLUSTER", "INFO"]) {
                Ok(info) if info.contains("cluster_state:ok") => answered += 1,
                Ok(_) => return false,
                Err(_) => {}
            }
        }
        answered > 0
    }

    /// The role of node `index` (`master` or `slave`, from `INFO
    /// replication`), or `None` if it does not answer.
    pub fn role(&self, index: usize) -> Option<String> {
        let info = self
            .nodes
            .get(index)?
            .command(&["INFO", "replication"])
            .ok()?;
        info.lines()
            .find_map(|line| line.strip_prefix("role:"))
            .map(|role| role.trim().to_owned())
    }

    /// The index of the replica of the master at `master` (by `INFO
    /// replication`'s `master_port`), if one answers.
    pub fn replica_of(&self, master: usize) -> Option<usize> {
        let port = self.nodes.get(master)?.port();
        (0..self.nodes.len()).find(|&node| {
            self.nodes[node]
                .command(&["INFO", "replication"])
                .is_ok_and(|info| {
                    info.contains("role:slave") && info.contains(&format!("master_port:{port}\r"))
                })
        })
    }
}

impl std::fmt::Debug for RedisCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCluster")
            .field("nodes", &self.nodes)
            .finish_non_exhaustive()
    }
}
