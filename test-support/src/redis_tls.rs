//! A real redis-server that speaks TLS only, for one test: a throwaway CA
//! and a server certificate for 127.0.0.1 are made with the `openssl` CLI in
//! a directory of its own, and the server listens with TLS on an ephemeral
//! loopback port (its plain port off). Killed when dropped.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::server::{Kind, Server};
use crate::temp_dir::TempDir;

/// A redis-server on a TLS port of 127.0.0.1, its certificate signed by a CA
/// made for it ([`RedisTls::ca`]); killed when dropped.
pub struct RedisTls {
    // Dropped first: the server, then the directory of its certificates.
    process: Server<TlsServer>,
    dir: TempDir,
}

/// How to start a TLS-only redis-server and recognize it (by `redis-cli
/// --tls`).
struct TlsServer;

impl Kind for TlsServer {
    const PROGRAM: &'static str = "redis-server";
    const PACKAGE: &'static str = "redis-server";
    const SCHEME: &'static str = "rediss";

    fn command(port: u16, extra: &[String]) -> Command {
        let mut command = Command::new("redis-server");
        command
            .args(["--port", "0", "--tls-port", &port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--loglevel", "warning", "--daemonize", "no"])
            .args(["--tls-auth-clients", "no"])
            .args(extra);
        command
    }

    fn answered_pid(port: u16) -> Option<u32> {
        // Only whether this child answers: the certificate is checked by
        // the tests themselves.
        let output = Command::new("redis-cli")
            .args(["--tls", "--insecure", "-h", "127.0.0.1", "-p"])
            .arg(port.to_string())
            .args(["INFO", "server"])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .find_map(|line| line.strip_prefix("process_id:"))
            .and_then(|pid| pid.trim().parse().ok())
    }
}

/// Runs `openssl` with `args` in `dir`; panics with its output if it fails.
fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| {
            panic!(
                "could not run the openssl CLI ({error}): the TLS tests make their \
                 certificates with it (on Debian: apt-get install -y openssl)"
            )
        });
    assert!(
        output.status.success(),
        "openssl {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A self-signed CA (`NAME.pem`, key `NAME.key`) in `dir`.
fn make_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-nodes",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-days",
            "2",
            "-subj",
            &format!("/CN=antidogpile test {name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

/// `server.pem` and `server.key` in `dir`, for 127.0.0.1 and localhost,
/// signed by the CA `ca`. For clients too: the nodes of a cluster present it
/// to each other on the cluster bus, which always asks for a certificate.
fn make_server_cert(dir: &Path, ca: &str) {
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n",
    )
    .expect("could not write the certificate's extensions");
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-nodes",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    );
}

impl RedisTls {
    /// Makes a CA, a server certificate signed by it, and a second CA that
    /// signed nothing ([`RedisTls::other_ca`]); starts redis-server with TLS
    /// on a free port of 127.0.0.1.
    pub fn start() -> RedisTls {
        let dir = TempDir::new("redis-tls");
        make_ca(dir.path(), "ca");
        make_ca(dir.path(), "other-ca");
        make_server_cert(dir.path(), "ca");
        let file = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
        let extra = [
            "--tls-cert-file".to_owned(),
            file("server.pem"),
            "--tls-key-file".to_owned(),
            file("server.key"),
            "--tls-ca-cert-file".to_owned(),
            file("ca.pem"),
            "--dir".to_owned(),
            file(""),
        ];
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let process = Server::<TlsServer>::try_start_with(&extra).unwrap_or_else(|error| {
            panic!("{error} (is redis-server built with TLS? Debian's is)")
        });
        RedisTls { process, dir }
    }

    /// The TLS port it listens on.
    pub fn port(&self) -> u16 {
        self.process.port()
    }

    /// The PEM file of the CA that signed the server's certificate.
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The PEM file of a CA that signed nothing: the server's certificate
    /// does not verify against it.
    pub fn other_ca(&self) -> PathBuf {
        self.dir.path().join("other-ca.pem")
    }

    /// `rediss://127.0.0.1:PORT?ca=CA`, with extra query parameters if
    /// given.
    pub fn url(&self, query: &str) -> String {
        let address = format!("rediss://127.0.0.1:{}", self.process.port());
        url_with_ca(&address, &self.ca(), query)
    }

    /// Kills the server (SIGKILL: its data is lost).
    pub fn kill(&mut self) {
        self.process.kill();
    }
}

/// `ADDRESS?ca=CA`, then `&QUERY` if a query is given.
fn url_with_ca(address: &str, ca: &Path, query: &str) -> String {
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("&{query}")
    };
    format!("{address}?ca={}{query}", percent_encode(ca))
}

/// `redis-cli --tls` with the CA of `dir` on `port`: its output, if it ran.
fn cli(dir: &Path, port: u16, args: &[&str]) -> Option<String> {
    let output = Command::new("redis-cli")
        .arg("--tls")
        .arg("--cacert")
        .arg(dir.join("ca.pem"))
        .args(["-h", "127.0.0.1", "-p"])
        .arg(port.to_string())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// A Redis Cluster of three masters (no replicas) that speak TLS only, on
/// clients' connections and on the cluster bus, their certificates signed
/// by one CA made for it; killed when dropped.
pub struct RedisTlsCluster {
    // Dropped first: the nodes, then the directory of their files.
    nodes: Vec<Server<TlsServer>>,
    dir: TempDir,
}

impl RedisTlsCluster {
    /// Makes the certificates, starts three nodes, has `redis-cli --cluster
    /// create` spread the slots, and waits until the cluster's state is ok.
    pub fn start() -> RedisTlsCluster {
        let dir = TempDir::new("redis-tls-cluster");
        make_ca(dir.path(), "ca");
        make_server_cert(dir.path(), "ca");
        let file = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
        let nodes: Vec<Server<TlsServer>> = (0..3)
            .map(|node| {
                let extra = [
                    "--tls-cert-file".to_owned(),
                    file("server.pem"),
                    "--tls-key-file".to_owned(),
                    file("server.key"),
                    "--tls-ca-cert-file".to_owned(),
                    file("ca.pem"),
                    "--tls-cluster".to_owned(),
                    "yes".to_owned(),
                    "--cluster-enabled".to_owned(),
                    "yes".to_owned(),
                    "--cluster-config-file".to_owned(),
                    file(&format!("nodes-{node}.conf")),
                    "--cluster-node-timeout".to_owned(),
                    "5000".to_owned(),
                    "--dir".to_owned(),
                    file(""),
                ];
                let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
                Server::<TlsServer>::try_start_with(&extra).unwrap_or_else(|error| {
                    panic!("{error} (is redis-server built with TLS? Debian's is)")
                })
            })
            .collect();
        let addresses: Vec<String> = nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port()))
            .collect();
        // Its output in a file, and a deadline: it waits for the nodes to
        // meet for as long as it takes, which is forever if they cannot.
        let log = dir.path().join("create.log");
        let mut create = Command::new("redis-cli")
            .arg("--tls")
            .arg("--cacert")
            .arg(dir.path().join("ca.pem"))
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).expect("could not create create.log"))
            .spawn()
            .expect("could not run redis-cli (package redis-tools)");
        let start = std::time::Instant::now();
        let created = loop {
            if let Some(status) = create.try_wait().expect("redis-cli vanished") {
                break status.success();
            }
            if start.elapsed() > std::time::Duration::from_secs(20) {
                let _ = create.kill();
                let _ = create.wait();
                break false;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        assert!(
            created,
            "redis-cli --tls --cluster create failed or hung: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        for node in &nodes {
            while !cli(dir.path(), node.port(), &["CLUSTER", "INFO"])
                .is_some_and(|info| info.contains("cluster_state:ok"))
            {
                assert!(
                    start.elapsed() < std::time::Duration::from_secs(20),
                    "the TLS cluster's state did not turn ok"
                );
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
        RedisTlsCluster { nodes, dir }
    }

    /// The TLS ports of the nodes.
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|node| node.port()).collect()
    }

    /// The PEM file of the CA that signed the nodes' certificate.
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// `rediss+cluster://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3?ca=CA`, with
    /// extra query parameters if given.
    pub fn url(&self, query: &str) -> String {
        let address = format!(
            "rediss+cluster://{}",
            crate::redis::node_list(&self.ports())
        );
        url_with_ca(&address, &self.ca(), query)
    }

    /// The number of keys on each node (`DBSIZE` over TLS).
    pub fn keys_per_node(&self) -> Vec<u64> {
        self.nodes
            .iter()
            .map(|node| {
                cli(self.dir.path(), node.port(), &["DBSIZE"])
                    .and_then(|count| count.trim().parse().ok())
                    .unwrap_or_else(|| panic!("DBSIZE failed on port {}", node.port()))
            })
            .collect()
    }
}

impl std::fmt::Debug for RedisTlsCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTlsCluster")
            .field("ports", &self.ports())
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

/// A path as a URL's query value: every byte but `[A-Za-z0-9/._-]` escaped.
pub fn percent_encode(path: &Path) -> String {
    path.to_string_lossy()
        .bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || b"/._-".contains(&byte) {
                char::from(byte).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect()
}

impl std::fmt::Debug for RedisTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTls")
            .field("port", &self.process.port())
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}
