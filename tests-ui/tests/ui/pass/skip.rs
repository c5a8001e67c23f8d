use std::sync::atomic::{AtomicUsize, Ordering};

use antidogpile::antidogpiled;

static RUNS: AtomicUsize = AtomicUsize::new(0);

struct Db {
    prefix: &'static str,
}

#[antidogpiled(
    soft = "1m30s",
    skip(db, verbose),
    version = 2,
    name = "tests::skip::user"
)]
fn user(db: &Db, id: u32, verbose: bool) -> Result<String, String> {
    RUNS.fetch_add(1, Ordering::SeqCst);
    if verbose {
        println!("loading {id}");
    }
    Ok(format!("{}{id}", db.prefix))
}

fn main() {
    let first = Db { prefix: "user-" };
    let second = Db { prefix: "other-" };
    assert_eq!(user(&first, 1, true).unwrap(), "user-1");
    // `db` and `verbose` are not part of the key: the cached value comes back.
    assert_eq!(user(&second, 1, false).unwrap(), "user-1");
    assert_eq!(RUNS.load(Ordering::SeqCst), 1);
}
