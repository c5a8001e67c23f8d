use std::sync::atomic::{AtomicUsize, Ordering};

use antidogpile::antidogpiled;

static RUNS: AtomicUsize = AtomicUsize::new(0);

/// Docs, visibility and other attributes are kept.
#[antidogpiled(soft = "30s", factor = 4, grace = "5s", jitter = 0.1)]
#[inline]
pub fn parse_port(text: String) -> Result<u16, String> {
    RUNS.fetch_add(1, Ordering::SeqCst);
    let port: u16 = text.parse().map_err(|e| format!("{text}: {e}"))?;
    if port == 0 {
        return Err("port 0".to_owned());
    }
    Ok(port)
}

fn main() {
    assert_eq!(parse_port("8080".to_owned()), Ok(8080));
    assert_eq!(parse_port("8080".to_owned()), Ok(8080));
    assert_eq!(RUNS.load(Ordering::SeqCst), 1);
    // Errors are not cached.
    assert!(parse_port("0".to_owned()).is_err());
    assert!(parse_port("0".to_owned()).is_err());
    assert_eq!(RUNS.load(Ordering::SeqCst), 3);
}
