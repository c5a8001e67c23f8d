//! Only fresh hits of one `#[antidogpiled]` function, for a profiler:
//!
//! ```text
//! cargo build --release -p antidogpile-bench --example hit_only
//! valgrind --tool=callgrind target/release/examples/hit_only 1000000
//! valgrind --tool=callgrind target/release/examples/hit_only 1000000 dashmap  # the floor
//! ```

use std::hint::black_box;

#[antidogpile::antidogpiled(soft = "1h")]
fn memoized(key: u64) -> String {
    format!("{key:0>100}")
}

fn main() {
    let calls: u64 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let floor = dashmap::DashMap::new();
    for key in 0..1_000 {
        memoized(key);
        floor.insert(key, format!("{key:0>100}"));
    }
    let mut key = 0;
    if std::env::args().nth(2).as_deref() == Some("dashmap") {
        for _ in 0..calls {
            key = (key + 7919) % 1_000;
            black_box(floor.get(&black_box(key)).map(|v| v.clone()));
        }
    } else {
        for _ in 0..calls {
            key = (key + 7919) % 1_000;
            black_box(memoized(black_box(key)));
        }
    }
}
