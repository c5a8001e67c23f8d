//! Store URLs: `memory://?max_entries=10000&factor=8&grace=60s`,
//! `memcached://host:11211,host2`, `file:///var/cache/app`, `dummy://`,
//! `redis://user:password@host:6379/2?prefix=app:`, `redis+unix:///run/redis.sock`,
//! `rediss://host:6380?ca=/etc/redis/ca.pem` (TLS).
//!
//! This module splits a URL into its scheme, its location and its
//! parameters; the scheme's store reads the location and its own
//! parameters (`MemoryStore::from_url`, `MemcachedConfig::from_url`, ...,
//! with the readers of [`url_params`](crate::url_params)), and the rest are
//! the cache's ([`CacheOptions`]). [`Cache::from_url`](crate::Cache::from_url)
//! makes the cache of both.

use std::sync::Arc;
use std::time::Duration;

use crate::error::Error;
use crate::store::{FileStore, MemcachedConfig, MemcachedStore, MemoryStore, NoopStore, Store};
use crate::url_params::{parse_count, parse_duration, Params, StoreUrl};

/// The schemes [`Cache::from_url`](crate::Cache::from_url) understands.
const SCHEMES: &str = "memory://, memcached://, file://, dummy://, redis://, redis+unix://, \
     redis+cluster://, rediss://, rediss+cluster://";

/// What a store URL asks for: the store, and the cache's settings.
pub(crate) struct CacheUrl {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) options: CacheOptions,
}

/// The parameters every scheme takes; `None` where the URL leaves the
/// cache's default.
#[derive(Debug, Default)]
pub(crate) struct CacheOptions {
    /// `factor`: the hard timeout factor.
    pub(crate) factor: Option<u32>,
    /// `grace`: the default grace.
    pub(crate) grace: Option<Duration>,
    /// `liveness`: the liveness window.
    pub(crate) liveness: Option<Duration>,
    /// `retry_spacing`: the spacing of retries after a failed refresh.
    pub(crate) retry_spacing: Option<Duration>,
}

/// The store and the cache's settings `url` asks for; a mistake is an
/// [`Error::InvalidUrl`] naming the part that is wrong.
pub(crate) fn parse(url: &str) -> Result<CacheUrl, Error> {
    let (scheme, rest) = url.split_once("://").ok_or_else(|| {
        Error::invalid_url(url, "scheme", format!("missing; expected one of {SCHEMES}"))
    })?;
    let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
    let params = parse_query(url, query)?;
    match scheme {
        "memory" => with_options(MemoryStore::from_url(url, location, params)?),
        "memcached" => with_options(
            MemcachedConfig::from_url(url, location, params)?
                .try_map(|config, _| MemcachedStore::new(config))?,
        ),
        "file" => {
            let read = FileStore::from_url(url, location, params)?;
            // Every parameter is checked before the directory is created.
            let options = CacheOptions::parse(&read.shown, &read.rest, read.names)?;
            let store = read.store.open(&read.shown)?;
            Ok(CacheUrl {
                store: Arc::new(store),
                options,
            })
        }
        "redis" | "redis+unix" | "redis+cluster" | "rediss" | "rediss+cluster" => {
            with_options(redis_store(url, scheme, location, params)?)
        }
        "dummy" => with_options(NoopStore::from_url(url, location, params)?),
        _ => Err(Error::invalid_url(
            url,
            "scheme",
            format!("unknown scheme {scheme:?}; expected one of {SCHEMES}"),
        )),
    }
}

/// The store `read`, with the cache's settings among the parameters it left.
fn with_options(read: StoreUrl<'_, impl Store>) -> Result<CacheUrl, Error> {
    let options = CacheOptions::parse(&read.shown, &read.rest, read.names)?;
    Ok(CacheUrl {
        store: Arc::new(read.store),
        options,
    })
}

#[cfg(feature = "redis")]
fn redis_store<'u>(
    url: &str,
    scheme: &str,
    location: &str,
    params: Params<'u>,
) -> Result<StoreUrl<'u, crate::store::RedisStore>, Error> {
    crate::store::RedisConfig::from_url(url, scheme, location, params)?.try_map(|config, shown| {
        crate::store::RedisStore::new(config).map_err(|error| match error {
            // The store's own errors name the scheme only: this one names the URL.
            Error::InvalidUrl { part, reason, .. } => Error::invalid_url(shown, &part, reason),
            other => other,
        })
    })
}

#[cfg(not(feature = "redis"))]
fn redis_store<'u>(
    url: &str,
    scheme: &str,
    _: &str,
    _: Params<'u>,
) -> Result<StoreUrl<'u, NoopStore>, Error> {
    let feature = if scheme.starts_with("rediss") {
        "redis-tls"
    } else {
        "redis"
    };
    Err(Error::invalid_url(
        url,
        "scheme",
        format!("{scheme}:// needs antidogpile's `{feature}` feature"),
    ))
}

impl CacheOptions {
    /// The parameters every scheme takes: `factor`, `grace`, `liveness` and
    /// `retry_spacing`; any other is refused, the error listing these and
    /// the store's own (`store_params`, as `"max_entries, "`).
    fn parse(
        url: &str,
        params: &[(&str, &str)],
        store_params: &str,
    ) -> Result<CacheOptions, Error> {
        let mut options = CacheOptions::default();
        for &(name, value) in params {
            match name {
                "factor" => {
                    let factor = parse_count(url, name, value)?;
                    let factor = u32::try_from(factor)
                        .ok()
                        .filter(|factor| *factor >= 1)
                        .ok_or_else(|| {
                            Error::invalid_url(
                                url,
                                name,
                                "must be a whole number from 1 to 4294967295",
                            )
                        })?;
                    options.factor = Some(factor);
                }
                "grace" => {
                    let grace = parse_duration(value)
                        .map_err(|reason| Error::invalid_url(url, name, reason))?;
                    options.grace = Some(grace);
                }
                "liveness" => {
                    let window = parse_duration(value)
                        .map_err(|reason| Error::invalid_url(url, name, reason))?;
                    if window.is_zero() {
                        return Err(Error::invalid_url(url, name, "must be more than zero"));
                    }
                    options.liveness = Some(window);
                }
                "retry_spacing" => {
                    let spacing = parse_duration(value)
                        .map_err(|reason| Error::invalid_url(url, name, reason))?;
                    options.retry_spacing = Some(spacing);
                }
                _ => {
                    return Err(Error::invalid_url(
                        url,
                        name,
                        format!(
                            "unknown parameter; expected one of {store_params}factor, grace, \
                             liveness, retry_spacing"
                        ),
                    ))
                }
            }
        }
        Ok(options)
    }
}

/// The `name=value` pairs of `query`, in order; a name given twice is refused.
fn parse_query<'u>(url: &str, query: &'u str) -> Result<Params<'u>, Error> {
    let mut params: Vec<(&str, &str)> = Vec::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| Error::invalid_url(url, pair, "expected name=value"))?;
        if params.iter().any(|(seen, _)| *seen == name) {
            return Err(Error::invalid_url(url, name, "given twice"));
        }
        params.push((name, value));
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ServerAddr;
    use crate::Cache;

    /// The cache `url` asks for, as [`Cache::from_url`] makes it.
    fn cache_from_url(url: &str) -> Result<Cache, Error> {
        Cache::from_url(url)
    }

    fn error_part(url: &str) -> String {
        match cache_from_url(url) {
            Err(Error::InvalidUrl { part, .. }) => part,
            other => panic!("{url}: expected an error, got {other:?}"),
        }
    }

    #[test]
    fn memory_urls_configure_the_store_and_the_cache() {
        let cache = cache_from_url("memory://?max_entries=100&factor=3&grace=1m30s").unwrap();
        assert_eq!(cache.hard_timeout_factor(), 3);
        assert_eq!(cache.default_grace(), Duration::from_secs(90));
        assert!(
            format!("{cache:?}").contains("max_entries: Some(128)"),
            "{cache:?}"
        );
        assert!(cache_from_url("memory://").is_ok());
        assert!(cache_from_url("memory:///").is_ok());
    }

    #[test]
    fn each_mistake_names_the_part_that_is_wrong() {
        assert_eq!(error_part("localhost:11211"), "scheme");
        #[cfg(not(feature = "redis"))]
        assert_eq!(error_part("redis://localhost"), "scheme");
        assert_eq!(error_part("gopher://localhost"), "scheme");
        assert_eq!(error_part("memory://somewhere"), "host");
        assert_eq!(error_part("memory://?max_entries=lots"), "max_entries");
        assert_eq!(error_part("memory://?factor=0"), "factor");
        assert_eq!(error_part("memory://?factor=-2"), "factor");
        assert_eq!(error_part("memory://?grace=30x"), "grace");
        assert_eq!(error_part("memory://?colour=blue"), "colour");
        assert_eq!(error_part("memory://?grace"), "grace");
        assert_eq!(error_part("memory://?grace=1s&grace=2s"), "grace");
    }

    /// A mistake the server would refuse on every call, or a setting that
    /// would quietly mean something else, is refused here, naming its part.
    #[test]
    fn a_database_out_of_redis_range_and_zero_max_entries_are_refused() {
        assert_eq!(error_part("memory://?max_entries=0"), "max_entries");
        let message = cache_from_url("memory://?max_entries=0")
            .unwrap_err()
            .to_string();
        assert!(message.contains("dummy://"), "{message}");
        #[cfg(feature = "redis")]
        {
            assert_eq!(error_part("redis://127.0.0.1:6379/99999999999"), "db");
            assert_eq!(error_part("redis://127.0.0.1:6379/2147483647"), "db");
            assert_eq!(error_part("redis+unix:///s.sock?db=99999999999"), "db");
            let message = cache_from_url("redis://127.0.0.1:6379/99999999999")
                .unwrap_err()
                .to_string();
            assert!(message.contains("out of range"), "{message}");
            assert!(cache_from_url("redis://127.0.0.1:6379/2147483646").is_ok());
            assert!(cache_from_url("memory://?max_entries=1").is_ok());
        }
    }

    #[test]
    fn memcached_urls_list_servers_and_settings() {
        let cache = cache_from_url(
            "memcached://10.0.0.1:11211,cache-2,[::1]:11300?timeout=250ms&pool=3&factor=4",
        )
        .unwrap();
        let debug = format!("{cache:?}");
        for expected in [
            "Tcp(\"10.0.0.1:11211\")",
            "Tcp(\"cache-2:11211\")",
            "Tcp(\"[::1]:11300\")",
            "timeout: 250ms",
            "pool: 3",
        ] {
            assert!(debug.contains(expected), "{expected} not in {debug}");
        }
        assert_eq!(cache.hard_timeout_factor(), 4);
        let unix = format!(
            "{:?}",
            cache_from_url("memcached:///run/memcached.sock").unwrap()
        );
        assert!(unix.contains("Unix(\"/run/memcached.sock\")"), "{unix}");
    }

    #[test]
    fn memcached_mistakes_name_their_part() {
        assert_eq!(error_part("memcached://"), "host");
        assert_eq!(error_part("memcached://a:99999"), "port");
        assert_eq!(error_part("memcached://a:0"), "port");
        assert_eq!(error_part("memcached://a:b"), "port");
        assert_eq!(error_part("memcached://a,,b"), "host");
        assert_eq!(error_part("memcached://a?timeout=soon"), "timeout");
        assert_eq!(error_part("memcached://a?pool=-1"), "pool");
        assert_eq!(error_part("memcached://a?max_entries=5"), "max_entries");
    }

    #[cfg(feature = "redis")]
    #[test]
    fn redis_urls_name_the_server_database_user_and_settings() {
        let cache = cache_from_url(
            "redis://app:s%3Acret@cache-1:6380/3?timeout=150ms&pool=4&prefix=shop%3A&max_value=5000&factor=3",
        )
        .unwrap();
        let debug = format!("{cache:?}");
        for expected in [
            "Tcp { host: \"cache-1\", port: 6380 }",
            "db: 3",
            "username: Some(\"app\")",
            "password: Some(\"<hidden>\")",
            "timeout: 150ms",
            "pool: 4",
            "prefix: \"shop:\"",
            "max_value: 5000",
        ] {
            assert!(debug.contains(expected), "{expected} not in {debug}");
        }
        assert!(!debug.contains("s:cret"), "the password shown: {debug}");
        assert_eq!(cache.hard_timeout_factor(), 3);
        let plain = format!("{:?}", cache_from_url("redis://127.0.0.1").unwrap());
        assert!(plain.contains("port: 6379"), "{plain}");
        assert!(plain.contains("db: 0"), "{plain}");
        let v6 = format!("{:?}", cache_from_url("redis://[::1]:7000").unwrap());
        assert!(v6.contains("Tcp { host: \"::1\", port: 7000 }"), "{v6}");
        let unix = format!(
            "{:?}",
            cache_from_url("redis+unix:///run/redis/redis.sock?db=2").unwrap()
        );
        assert!(unix.contains("Unix(\"/run/redis/redis.sock\")"), "{unix}");
        assert!(unix.contains("db: 2"), "{unix}");
        #[cfg(feature = "redis-cluster")]
        {
            let cluster = format!(
                "{:?}",
                cache_from_url("redis+cluster://:pw@a:7000,[::1]:7001,c?prefix=x").unwrap()
            );
            let nodes = "Cluster([(\"a\", 7000), (\"::1\", 7001), (\"c\", 6379)])";
            assert!(cluster.contains(nodes), "{cluster}");
        }
    }

    #[cfg(feature = "redis")]
    #[test]
    fn redis_mistakes_name_their_part_and_never_show_the_password() {
        assert_eq!(error_part("redis://"), "host");
        assert_eq!(error_part("redis://a:0"), "port");
        assert_eq!(error_part("redis://a:99999"), "port");
        assert_eq!(error_part("redis://a:b"), "port");
        assert_eq!(error_part("redis://a,b"), "host");
        assert_eq!(error_part("redis://a/x"), "db");
        assert_eq!(error_part("redis://a/-1"), "db");
        assert_eq!(error_part("redis://a?timeout=soon"), "timeout");
        assert_eq!(error_part("redis://a?timeout=0s"), "timeout");
        assert_eq!(error_part("redis://a?pool=-1"), "pool");
        assert_eq!(error_part("redis://a?prefix=%zz"), "prefix");
        assert_eq!(error_part("redis://a?db=1"), "db");
        assert_eq!(error_part("redis://u:p%zz@a"), "password");
        assert_eq!(error_part("redis+unix://host/sock"), "path");
        assert_eq!(error_part("redis+unix:///s.sock?db=x"), "db");
        assert_eq!(error_part("redis+cluster://a:7000/2"), "db");
        assert_eq!(error_part("redis+cluster://a:7000,b:0"), "port");
        assert_eq!(error_part("redis+cluster://a:7000,,b"), "host");
        #[cfg(not(feature = "redis-cluster"))]
        assert_eq!(error_part("redis+cluster://a:7000"), "scheme");
        let message = cache_from_url("redis://user:hunter2@a:0")
            .unwrap_err()
            .to_string();
        assert!(!message.contains("hunter2"), "{message}");
        assert!(message.contains("user:***@a:0"), "{message}");
    }

    #[cfg(feature = "redis-tls")]
    #[test]
    fn rediss_urls_verify_against_the_system_roots_or_a_ca_file() {
        let plain = format!("{:?}", cache_from_url("rediss://cache-1:6380/2").unwrap());
        assert!(
            plain.contains("tls: Some(RedisTls { ca: None })"),
            "{plain}"
        );
        assert!(plain.contains("db: 2"), "{plain}");
        let ca = temp_dir("ca.pem");
        std::fs::write(
            &ca,
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let escaped = ca.display().to_string().replace('-', "%2D");
        let url = format!("rediss://u:pw@cache-1?ca={escaped}&prefix=a");
        let with_ca = cache_from_url(&url).map(|cache| format!("{cache:?}"));
        // Not a certificate inside: refused when the client is built.
        let message = with_ca.unwrap_err().to_string();
        std::fs::remove_file(&ca).unwrap();
        assert!(message.contains("ca: "), "{message}");
        assert!(!message.contains("pw"), "the password shown: {message}");
        assert_eq!(error_part("rediss://a?ca=/no/such/file.pem"), "ca");
        assert_eq!(error_part("rediss://a?ca="), "ca");
        assert_eq!(error_part("redis://a?ca=/etc/ca.pem"), "ca");
        #[cfg(feature = "redis-cluster")]
        {
            let cluster = format!(
                "{:?}",
                cache_from_url("rediss+cluster://a:7000,b:7001").unwrap()
            );
            assert!(
                cluster.contains("tls: Some(RedisTls { ca: None })"),
                "{cluster}"
            );
        }
    }

    #[cfg(not(feature = "redis-tls"))]
    #[test]
    fn rediss_urls_name_the_feature_they_need() {
        for url in ["rediss://a:6380", "rediss+cluster://a:7000,b:7001"] {
            let message = cache_from_url(url).unwrap_err().to_string();
            assert!(message.contains("`redis-tls` feature"), "{message}");
            assert_eq!(error_part(url), "scheme");
        }
    }

    #[test]
    fn a_memcached_max_value_larger_than_a_readable_reply_is_refused() {
        // Replies are read up to 2 MiB: a larger value would be written on
        // every call and never read back.
        let two_mib = 2 << 20;
        assert!(cache_from_url(&format!("memcached://a?max_value={two_mib}")).is_ok());
        assert_eq!(
            error_part(&format!("memcached://a?max_value={}", two_mib + 1)),
            "max_value"
        );
        let message = cache_from_url("memcached://a?max_value=10000000")
            .unwrap_err()
            .to_string();
        assert!(message.contains("2097152"), "{message}");
        let mut config = MemcachedConfig::new(vec![ServerAddr::Tcp("a:11211".to_owned())]);
        config.max_value = two_mib + 1;
        assert!(matches!(
            MemcachedStore::new(config),
            Err(Error::InvalidUrl { .. })
        ));
    }

    /// A directory of its own under the system's temporary directory.
    fn temp_dir(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("antidogpile-url-{}-{name}", std::process::id()))
    }

    #[test]
    fn file_urls_name_a_directory_and_configure_the_store() {
        let dir = temp_dir("a dir");
        let encoded = dir.display().to_string().replace(' ', "%20");
        let url = format!("file://{encoded}?max_value=1024&sweep_every=10&factor=3&grace=5s");
        let cache = cache_from_url(&url).unwrap();
        assert!(dir.is_dir(), "the directory is created");
        assert_eq!(cache.hard_timeout_factor(), 3);
        assert_eq!(cache.default_grace(), Duration::from_secs(5));
        let debug = format!("{cache:?}");
        for expected in [
            format!("dir: {dir:?}"),
            "max_value: 1024".to_owned(),
            "sweep_every: 10".to_owned(),
        ] {
            assert!(debug.contains(&expected), "{expected} not in {debug}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn file_mistakes_name_their_part() {
        assert_eq!(error_part("file://"), "path");
        assert_eq!(error_part("file://?grace=1s"), "path");
        assert_eq!(error_part("file://relative/dir"), "path");
        assert_eq!(error_part("file://localhost/var/cache"), "path");
        assert_eq!(error_part("file:///tmp/a%zzb"), "path");
        assert_eq!(error_part("file:///tmp/a%2"), "path");
        assert_eq!(error_part("file:///tmp/a%00b"), "path");
        let unused = temp_dir("never-created");
        let with = |query: &str| format!("file://{}?{query}", unused.display());
        assert_eq!(error_part(&with("max_value=big")), "max_value");
        assert_eq!(error_part(&with("sweep_every=-1")), "sweep_every");
        assert_eq!(error_part(&with("max_entries=5")), "max_entries");
        assert_eq!(error_part(&with("grace=soon")), "grace");
        assert!(!unused.exists(), "a rejected URL creates no directory");
        // A path that cannot be a directory: under a regular file.
        let file = temp_dir("plain-file");
        std::fs::write(&file, b"not a directory").unwrap();
        let under_a_file = format!("file://{}/cache", file.display());
        let message = cache_from_url(&under_a_file).unwrap_err().to_string();
        std::fs::remove_file(&file).unwrap();
        assert!(message.contains("path: cannot use"), "{message}");
        let relative = cache_from_url("file://var/cache").unwrap_err().to_string();
        assert!(relative.contains("three slashes"), "{relative}");
    }

    #[test]
    fn dummy_urls_make_a_store_that_keeps_nothing() {
        let cache = cache_from_url("dummy://?liveness=2s&retry_spacing=500ms").unwrap();
        assert_eq!(cache.liveness(), Duration::from_secs(2));
        assert_eq!(cache.retry_spacing(), Duration::from_millis(500));
        assert_eq!(error_part("dummy://?liveness=0s"), "liveness");
        assert_eq!(error_part("dummy://?retry_spacing=soon"), "retry_spacing");
        let cache = cache_from_url("dummy://?grace=5s").unwrap();
        assert_eq!(cache.default_grace(), Duration::from_secs(5));
        assert!(format!("{cache:?}").contains("NoopStore"));
        assert_eq!(error_part("dummy://somewhere"), "host");
        assert_eq!(error_part("dummy://?max_entries=3"), "max_entries");
    }

    #[test]
    fn unknown_parameters_list_the_known_ones() {
        let message = cache_from_url("memory://?colour=blue")
            .unwrap_err()
            .to_string();
        assert!(message.contains("max_entries, factor, grace"), "{message}");
    }

    /// The macro's grammar (`crate::duration`, compiled into both crates):
    /// a URL once took `1s1h`, ` 30s` and `0ms1s`, which the macro refuses.
    #[test]
    fn url_durations_follow_the_macro_grammar() {
        for (text, expected) in crate::duration::VECTORS {
            let expected = expected
                .map(Duration::from_millis)
                .map_err(|reason| crate::duration::duration_error(text, reason));
            assert_eq!(parse_duration(text), expected, "{text:?}");
        }
        let message = cache_from_url("memory://?grace=1s1h")
            .unwrap_err()
            .to_string();
        assert!(message.contains("largest to the smallest"), "{message}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(
            parse_duration("1h1m1s1ms"),
            Ok(Duration::from_millis(3_661_001))
        );
        for bad in [
            "",
            "30",
            "30x",
            "s",
            "1.5s",
            "-1s",
            "0s",
            "ms30",
            "99999999999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
