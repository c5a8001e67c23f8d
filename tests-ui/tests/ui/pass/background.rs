use std::sync::atomic::{AtomicUsize, Ordering};

use antidogpile::antidogpiled;

static RUNS: AtomicUsize = AtomicUsize::new(0);

#[antidogpiled(soft = "30s", background)]
fn rates(base: String) -> Result<Vec<(String, u32)>, String> {
    RUNS.fetch_add(1, Ordering::SeqCst);
    Ok(vec![(base, 100)])
}

#[antidogpiled(soft = "30s", background = true)]
async fn weather(city: String, days: u8) -> String {
    RUNS.fetch_add(1, Ordering::SeqCst);
    format!("{city}: sunny for {days} days")
}

#[tokio::main]
async fn main() {
    let expected = vec![("EUR".to_owned(), 100)];
    assert_eq!(
        tokio::task::spawn_blocking(|| rates("EUR".to_owned()))
            .await
            .unwrap(),
        Ok(expected.clone())
    );
    assert_eq!(
        tokio::task::spawn_blocking(|| rates("EUR".to_owned()))
            .await
            .unwrap(),
        Ok(expected)
    );
    assert_eq!(
        weather("Oslo".to_owned(), 3).await,
        "Oslo: sunny for 3 days"
    );
    assert_eq!(
        weather("Oslo".to_owned(), 3).await,
        "Oslo: sunny for 3 days"
    );
    assert_eq!(RUNS.load(Ordering::SeqCst), 2);
}
