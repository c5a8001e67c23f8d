//! TLS (`rediss://`, `rediss+cluster://`) over redis-rs's rustls support,
//! with the `redis-tls` feature; without it, a clear error naming the
//! feature. The server's certificate is always verified: against the
//! system's roots, or the CA file of [`RedisTls::ca`].

use super::RedisTls;
use crate::error::Error;

/// Shown in the errors of a TLS setting.
const URL: &str = "rediss://";

/// The address of a TLS connection to `host:port`, its certificate verified.
#[cfg(feature = "redis-tls")]
pub(super) fn addr(host: &str, port: u16) -> Result<redis::ConnectionAddr, Error> {
    Ok(redis::ConnectionAddr::TcpTls {
        host: host.to_owned(),
        port,
        insecure: false,
        tls_params: None,
    })
}

/// A client of one server over TLS.
#[cfg(feature = "redis-tls")]
pub(super) fn client(
    info: redis::ConnectionInfo,
    settings: &RedisTls,
) -> Result<redis::Client, Error> {
    install_provider();
    match certificates(settings)? {
        Some(certificates) => redis::Client::build_with_tls(info, certificates)
            .map_err(|error| Error::invalid_url(URL, "ca", error.to_string())),
        None => redis::Client::open(info)
            .map_err(|error| Error::invalid_url(URL, "host", error.to_string())),
    }
}

/// A cluster client whose connections to every node are TLS.
#[cfg(all(feature = "redis-tls", feature = "redis-cluster"))]
pub(super) fn cluster(
    builder: redis::cluster::ClusterClientBuilder,
    settings: &RedisTls,
) -> Result<redis::cluster::ClusterClientBuilder, Error> {
    install_provider();
    Ok(match certificates(settings)? {
        Some(certificates) => builder.certs(certificates),
        None => builder.tls(redis::TlsMode::Secure),
    })
}

/// The roots of [`RedisTls::ca`], read now: a file that cannot be read or
/// holds no certificate is an error here, not a failure of every connection.
#[cfg(feature = "redis-tls")]
fn certificates(settings: &RedisTls) -> Result<Option<redis::TlsCertificates>, Error> {
    let Some(path) = &settings.ca else {
        return Ok(None);
    };
    let pem = std::fs::read(path).map_err(|error| {
        Error::invalid_url(
            URL,
            "ca",
            format!("cannot read the CA file {}: {error}", path.display()),
        )
    })?;
    let marker = b"-----BEGIN CERTIFICATE-----";
    if !pem.windows(marker.len()).any(|window| window == marker) {
        return Err(Error::invalid_url(
            URL,
            "ca",
            format!("{} holds no PEM certificate", path.display()),
        ));
    }
    Ok(Some(redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(pem),
    }))
}

/// rustls needs a process-wide crypto provider: ours (`ring`) is installed
/// unless the application installed one. (Left to rustls, a process whose
/// dependencies enable two providers would panic at the first connection.)
#[cfg(feature = "redis-tls")]
fn install_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Another thread may install one first: then that one is used.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

#[cfg(not(feature = "redis-tls"))]
fn missing() -> Error {
    Error::invalid_url(
        URL,
        "scheme",
        "TLS (rediss://) needs antidogpile's `redis-tls` feature",
    )
}

#[cfg(not(feature = "redis-tls"))]
pub(super) fn addr(_: &str, _: u16) -> Result<redis::ConnectionAddr, Error> {
    Err(missing())
}

#[cfg(not(feature = "redis-tls"))]
pub(super) fn client(_: redis::ConnectionInfo, _: &RedisTls) -> Result<redis::Client, Error> {
    Err(missing())
}

#[cfg(all(not(feature = "redis-tls"), feature = "redis-cluster"))]
pub(super) fn cluster(
    _: redis::cluster::ClusterClientBuilder,
    _: &RedisTls,
) -> Result<redis::cluster::ClusterClientBuilder, Error> {
    Err(missing())
}
