//! Traps of a first use that now just work: a `&mut conn` left out of the
//! key (the sqlx and diesel style), `Arc<T>` values (serde's `rc`), and one
//! duration grammar for the macro and for store URLs.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use antidogpile::{antidogpiled, install_named, Cache, Invalidate};

/// A connection used by `&mut`, as sqlx's `&mut PgConnection` and diesel's
/// `&mut PgConnection` are.
struct Conn {
    queries: usize,
}

impl Conn {
    fn query(&mut self, id: u64) -> String {
        self.queries += 1;
        format!("row {id}")
    }

    async fn query_async(&mut self, id: u64) -> Result<String, String> {
        tokio::task::yield_now().await;
        Ok(self.query(id))
    }
}

#[antidogpiled(soft = "1h", cache = "first_use_mut", skip(conn))]
fn row(conn: &mut Conn, id: u64) -> String {
    conn.query(id)
}

#[antidogpiled(soft = "1h", cache = "first_use_mut_async", skip(conn))]
async fn row_async(conn: &mut Conn, id: u64) -> Result<String, String> {
    conn.query_async(id).await
}

#[test]
fn a_skipped_mut_connection_is_not_part_of_the_key() {
    let clock = common::manual_cache("first_use_mut");
    let (mut first, mut second) = (Conn { queries: 0 }, Conn { queries: 0 });
    assert_eq!(row(&mut first, 1), "row 1");
    // Another connection, same key: served from the cache.
    assert_eq!(row(&mut second, 1), "row 1");
    assert_eq!((first.queries, second.queries), (1, 0));
    assert_eq!(row(&mut second, 2), "row 2");
    assert_eq!(second.queries, 1);
    // Stale: recomputed once, through the connection given then.
    clock.advance(std::time::Duration::from_secs(3601));
    assert_eq!(row(&mut second, 1), "row 1");
    assert_eq!((first.queries, second.queries), (1, 2));
    // The invalidator takes the same arguments, `&mut conn` included.
    assert!(row_invalidate(&mut first, 2, Invalidate::Hard).unwrap());
    assert_eq!(row(&mut first, 2), "row 2");
    assert_eq!(first.queries, 2);
}

#[tokio::test]
async fn a_skipped_mut_connection_works_in_an_async_fn() {
    let _clock = common::manual_cache("first_use_mut_async");
    let mut conn = Conn { queries: 0 };
    assert_eq!(row_async(&mut conn, 7).await.as_deref(), Ok("row 7"));
    assert_eq!(row_async(&mut conn, 7).await.as_deref(), Ok("row 7"));
    assert_eq!(conn.queries, 1);
    assert!(row_async_invalidate(&mut conn, 7, Invalidate::Hard)
        .await
        .unwrap());
    assert_eq!(row_async(&mut conn, 7).await.as_deref(), Ok("row 7"));
    assert_eq!(conn.queries, 2);
}

static ARC_COMPUTES: AtomicUsize = AtomicUsize::new(0);

#[antidogpiled(soft = "1h", cache = "first_use_arc")]
fn names(count: usize) -> Arc<Vec<String>> {
    ARC_COMPUTES.fetch_add(1, Ordering::SeqCst);
    Arc::new((0..count).map(|i| format!("name {i}")).collect())
}

/// `Arc<T>` round-trips through a store that keeps bytes (the file store),
/// which needs serde's `rc` feature: antidogpile turns it on.
#[test]
fn arc_values_are_cached_in_a_store_that_keeps_bytes() {
    let dir = std::env::temp_dir().join(format!("antidogpile-first-use-{}", std::process::id()));
    let url = format!("file://{}", dir.display());
    install_named("first_use_arc", Cache::from_url(&url).unwrap());
    let first = names(3);
    let second = names(3);
    assert_eq!(*first, ["name 0", "name 1", "name 2"]);
    assert_eq!(first, second);
    assert_eq!(ARC_COMPUTES.load(Ordering::SeqCst), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The macro refuses `"1s1h"` (units largest first); a URL once took it.
#[test]
fn urls_take_the_durations_the_macro_takes() {
    assert!(Cache::from_url("memory://?grace=1h1s").is_ok());
    for bad in ["1s1h", "30x", " 30s", "0s", "1.5s"] {
        let message = Cache::from_url(&format!("memory://?grace={bad}"))
            .unwrap_err()
            .to_string();
        assert!(
            message.contains(&format!("invalid duration {bad:?}"))
                && message.contains("largest first, such as \"1m30s\""),
            "{bad}: {message}"
        );
    }
}
