//! The redis-rs clients a [`RedisConfig`] describes: one server's, or a
//! cluster's. Neither connects: the transports do, at first use.

use super::config::{RedisAddr, RedisConfig};
use super::tls;
use crate::error::Error;

impl RedisConfig {
    pub(super) fn client(&self) -> Result<redis::Client, Error> {
        let addr = match &self.addr {
            RedisAddr::Tcp { host, port } if self.tls.is_some() => tls::addr(host, *port)?,
            RedisAddr::Tcp { host, port } => redis::ConnectionAddr::Tcp(host.clone(), *port),
            RedisAddr::Unix(_) if self.tls.is_some() => {
                return Err(Error::invalid_url(
                    "redis+unix://",
                    "scheme",
                    "TLS is for TCP connections, not a unix socket",
                ))
            }
            RedisAddr::Unix(path) => redis::ConnectionAddr::Unix(path.clone()),
            RedisAddr::Cluster(_) => {
                return Err(Error::invalid_url(
                    "redis+cluster://",
                    "host",
                    "a cluster is not one server",
                ))
            }
        };
        // No `CLIENT SETINFO` after connecting: its replies are read one by
        // one, each up to the timeout, so that a stalled server cost a new
        // blocking connection two timeouts before its first command.
        let mut settings = redis::RedisConnectionInfo::default()
            .set_db(self.db)
            .set_skip_set_lib_name();
        if let Some(username) = &self.username {
            settings = settings.set_username(username);
        }
        if let Some(password) = &self.password {
            settings = settings.set_password(password);
        }
        let info = redis::IntoConnectionInfo::into_connection_info(addr)
            .map_err(|error| Error::invalid_url("redis://", "host", error.to_string()))?
            .set_redis_settings(settings);
        match &self.tls {
            Some(settings) => tls::client(info, settings),
            None => redis::Client::open(info)
                .map_err(|error| Error::invalid_url("redis://", "host", error.to_string())),
        }
    }
}

#[cfg(feature = "redis-cluster")]
pub(super) fn cluster_client(
    config: &RedisConfig,
    nodes: &[(String, u16)],
) -> Result<redis::cluster::ClusterClient, Error> {
    if nodes.is_empty() {
        return Err(Error::invalid_url(
            "redis+cluster://",
            "host",
            "at least one node is needed",
        ));
    }
    let nodes: Vec<redis::ConnectionInfo> = nodes
        .iter()
        .map(|(host, port)| {
            let addr = match config.tls {
                Some(_) => tls::addr(host, *port)?,
                None => redis::ConnectionAddr::Tcp(host.clone(), *port),
            };
            redis::IntoConnectionInfo::into_connection_info(addr)
                .map_err(|error| Error::invalid_url("redis+cluster://", "host", error.to_string()))
        })
        .collect::<Result<_, _>>()?;
    // Few, short retries: a failing node costs a call one timeout or so,
    // and the call computes (redis-rs's default is 16 retries, seconds).
    let mut builder = redis::cluster::ClusterClient::builder(nodes)
        .connection_timeout(config.timeout)
        .response_timeout(config.timeout)
        .retries(1)
        .min_retry_wait(10)
        .max_retry_wait(50);
    if let Some(username) = &config.username {
        builder = builder.username(username);
    }
    if let Some(password) = &config.password {
        builder = builder.password(password);
    }
    if let Some(settings) = &config.tls {
        builder = tls::cluster(builder, settings)?;
    }
    builder
        .build()
        .map_err(|error| Error::invalid_url("redis+cluster://", "host", error.to_string()))
}
