use antidogpile::{antidogpiled, Invalidate};

/// A connection used the sqlx / diesel way, by `&mut`.
struct Conn {
    queries: u32,
}

impl Conn {
    fn query(&mut self, id: u64) -> String {
        self.queries += 1;
        format!("row {id}")
    }
}

#[antidogpiled(soft = "1m", skip(conn))]
fn row(conn: &mut Conn, id: u64) -> String {
    conn.query(id)
}

#[antidogpiled(soft = "1m", skip(conn))]
async fn row_async(conn: &mut Conn, id: u64) -> Option<String> {
    Some(conn.query(id))
}

fn main() {
    let mut conn = Conn { queries: 0 };
    assert_eq!(row(&mut conn, 1), "row 1");
    assert_eq!(row(&mut conn, 1), "row 1");
    assert_eq!(conn.queries, 1, "the second call was served from the cache");
    assert!(row_invalidate(&mut conn, 1, Invalidate::Hard).unwrap());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        assert_eq!(row_async(&mut conn, 2).await.as_deref(), Some("row 2"));
        assert_eq!(row_async(&mut conn, 2).await.as_deref(), Some("row 2"));
    });
    assert_eq!(conn.queries, 2);
}
