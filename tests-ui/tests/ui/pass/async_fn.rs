use std::sync::atomic::{AtomicUsize, Ordering};

use antidogpile::antidogpiled;

static RUNS: AtomicUsize = AtomicUsize::new(0);

#[antidogpiled(soft = "1m")]
async fn lookup(user: u64) -> Result<String, std::num::ParseIntError> {
    RUNS.fetch_add(1, Ordering::SeqCst);
    tokio::task::yield_now().await;
    let parsed: u64 = user.to_string().parse()?;
    Ok(format!("user {parsed}"))
}

#[antidogpiled(soft = "1m")]
async fn shout(word: String) -> String {
    RUNS.fetch_add(1, Ordering::SeqCst);
    if word.is_empty() {
        return "...".to_owned();
    }
    word.to_uppercase()
}

#[tokio::main]
async fn main() {
    assert_eq!(lookup(7).await.unwrap(), "user 7");
    assert_eq!(lookup(7).await.unwrap(), "user 7");
    assert_eq!(shout("hey".to_owned()).await, "HEY");
    assert_eq!(shout("hey".to_owned()).await, "HEY");
    assert_eq!(RUNS.load(Ordering::SeqCst), 2);
}
