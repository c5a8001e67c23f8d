use std::sync::Arc;

use antidogpile::antidogpiled;

/// `Arc<T>` values need serde's `rc` feature, which antidogpile turns on.
#[antidogpiled(soft = "1m")]
fn names(count: usize) -> Arc<Vec<String>> {
    Arc::new((0..count).map(|i| i.to_string()).collect())
}

fn main() {
    assert_eq!(names(2).as_slice(), ["0", "1"]);
    assert_eq!(names(2).len(), 2);
}
