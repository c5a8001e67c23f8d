use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use antidogpile::antidogpiled;

type Res<T> = Result<T, String>;
type Maybe<T> = Option<T>;

static RUNS: AtomicUsize = AtomicUsize::new(0);

/// An alias of `Result`: `result` says what it is; `Err` is not cached.
#[antidogpiled(soft = "1h", result)]
fn parse(text: String) -> Res<u32> {
    RUNS.fetch_add(1, Ordering::SeqCst);
    text.parse().map_err(|_| format!("not a number: {text}"))
}

/// An alias of `Option`, in an `async fn`.
#[antidogpiled(soft = "1h", option)]
async fn lookup(id: u32) -> Maybe<u32> {
    RUNS.fetch_add(1, Ordering::SeqCst);
    (id > 0).then_some(id)
}

/// Spelled `Result` and said `result`: the same thing, said twice.
#[antidogpiled(soft = "1h", result)]
fn half(n: u32) -> Result<u32, String> {
    RUNS.fetch_add(1, Ordering::SeqCst);
    if n % 2 == 0 { Ok(n / 2) } else { Err(format!("{n} is odd")) }
}

/// `value`: every value is cached, `Err` too.
#[antidogpiled(soft = "1h", value)]
fn check(n: u32) -> Result<u32, String> {
    RUNS.fetch_add(1, Ordering::SeqCst);
    Err(format!("{n} rejected"))
}

/// A `HashMap` argument: equal maps are one key.
#[antidogpiled(soft = "1h")]
fn total(prices: HashMap<String, u32>) -> u32 {
    RUNS.fetch_add(1, Ordering::SeqCst);
    prices.values().sum()
}

fn main() {
    let runs = || RUNS.load(Ordering::SeqCst);
    assert!(parse("x".to_owned()).is_err());
    assert!(parse("x".to_owned()).is_err());
    assert_eq!(runs(), 2);
    assert_eq!(parse("7".to_owned()), Ok(7));
    assert_eq!(parse("7".to_owned()), Ok(7));
    assert_eq!(runs(), 3);
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    runtime.block_on(async {
        assert_eq!(lookup(0).await, None);
        assert_eq!(lookup(0).await, None);
        assert_eq!(lookup(2).await, Some(2));
        assert_eq!(lookup(2).await, Some(2));
    });
    assert_eq!(runs(), 6);
    assert!(half(3).is_err());
    assert!(half(3).is_err());
    assert_eq!(runs(), 8);
    assert_eq!(check(1), Err("1 rejected".to_owned()));
    assert_eq!(check(1), Err("1 rejected".to_owned()));
    assert_eq!(runs(), 9);
    let prices = || (0..16).map(|i| (format!("sku-{i}"), i)).collect::<HashMap<_, _>>();
    assert_eq!(total(prices()), 120);
    assert_eq!(total(prices()), 120);
    assert_eq!(runs(), 10);
}
