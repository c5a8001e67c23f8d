//! The store conformance suite (`antidogpile::custom_store::conformance`) on every store
//! the crate ships.

mod common;

use antidogpile::custom_store::conformance::{check_store, Expect};
use antidogpile::store::{
    FileStore, MemcachedConfig, MemcachedStore, MemoryStore, NoopStore, RedisAddr, RedisConfig,
    RedisStore, ServerAddr,
};
use common::altered_store::{Alterations, AlteredStore};
use common::memcached::Memcached;

#[test]
fn memory_store() {
    check_store(Expect::Caching, MemoryStore::new);
}

#[test]
fn memory_store_with_a_bound() {
    check_store(Expect::Caching, || {
        MemoryStore::new().with_max_entries(100_000)
    });
}

#[test]
fn noop_store() {
    check_store(Expect::Nothing, NoopStore::new);
}

#[test]
fn memcached_store() {
    let server = Memcached::start();
    check_store(Expect::Caching, || {
        let address = ServerAddr::Tcp(format!("127.0.0.1:{}", server.port()));
        let config = MemcachedConfig::new(vec![address]);
        MemcachedStore::new(config).expect("a memcached store")
    });
}

#[test]
fn redis_store() {
    let server = antidogpile_test_support::redis::Redis::start();
    check_store(Expect::Caching, || {
        let address = RedisAddr::Tcp {
            host: "127.0.0.1".to_owned(),
            port: server.port(),
        };
        RedisStore::new(RedisConfig::new(address)).expect("a redis store")
    });
}

#[test]
fn redis_cluster_store() {
    let cluster = antidogpile_test_support::redis::RedisCluster::start();
    let nodes: Vec<(String, u16)> = cluster
        .nodes
        .iter()
        .map(|node| ("127.0.0.1".to_owned(), node.port()))
        .collect();
    check_store(Expect::Caching, || {
        RedisStore::new(RedisConfig::new(RedisAddr::Cluster(nodes.clone())))
            .expect("a redis cluster store")
    });
}

#[test]
fn file_store() {
    let directory = antidogpile_test_support::temp_dir::TempDir::new("conformance");
    check_store(Expect::Caching, || {
        FileStore::new(directory.path()).expect("a file store")
    });
}

#[test]
fn a_store_whose_reads_say_they_hold_but_take_nothing_fails_the_suite() {
    let failed = std::panic::catch_unwind(|| {
        // A store that says its reads take holds but whose reads take
        // nothing: the cache would then never claim or lease (it asks no
        // more after such a read).
        check_store(Expect::Caching, || {
            AlteredStore::new(Alterations {
                says_reads_take_holds: true,
                ..Alterations::default()
            })
        });
    })
    .expect_err("a store whose reads take nothing passed as one whose reads take holds");
    let message = failed.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        message.contains("reads that hold") || message.contains("soft expiry"),
        "{message}"
    );
}
