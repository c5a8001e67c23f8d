//! `antidogpile-worker price`: one build of an application whose cached
//! value type changed shape between deploys while keeping its name.
//!
//! `PRICE_SHAPE` picks the build: `1` (or unset) serializes
//! `Price { cents: u64, tax_cents: u64 }` in that order; `2` has the two
//! fields swapped; `3` has them as `i64`. The Rust type (and so its
//! `type_name`) is the same in every build, as it would be after a deploy.
//! The `nested` functions cache it inside a generic envelope of itself,
//! `Wrapper<Wrapper<Price>>`, as services do.
//!
//! `currency` caches a value type whose `Deserialize` panics on input it
//! does not expect (a code shorter than three letters).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use antidogpile::{antidogpiled, Cacheable};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};

use super::say;

/// What every build computes.
const COMPUTED: Price = Price {
    cents: 1999,
    tax_cents: 400,
};

static COMPUTES: AtomicU64 = AtomicU64::new(0);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Price {
    cents: u64,
    tax_cents: u64,
}

/// This build's serde shape of `Price`.
fn shape() -> u8 {
    static SHAPE: OnceLock<u8> = OnceLock::new();
    *SHAPE.get_or_init(|| {
        std::env::var("PRICE_SHAPE")
            .ok()
            .and_then(|shape| shape.parse().ok())
            .unwrap_or(1)
    })
}

fn fields() -> &'static [&'static str] {
    if shape() == 2 {
        &["tax_cents", "cents"]
    } else {
        &["cents", "tax_cents"]
    }
}

impl Serialize for Price {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut fields_out = serializer.serialize_struct("Price", 2)?;
        for &field in fields() {
            let amount = if field == "cents" {
                self.cents
            } else {
                self.tax_cents
            };
            if shape() == 3 {
                fields_out.serialize_field(field, &(amount as i64))?;
            } else {
                fields_out.serialize_field(field, &amount)?;
            }
        }
        fields_out.end()
    }
}

struct PriceVisitor;

impl<'de> Visitor<'de> for PriceVisitor {
    type Value = Price;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("struct Price")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Price, A::Error> {
        let mut price = Price {
            cents: 0,
            tax_cents: 0,
        };
        for (i, &field) in fields().iter().enumerate() {
            let amount = if shape() == 3 {
                let signed: i64 = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(i, &self))?;
                signed as u64
            } else {
                seq.next_element()?
                    .ok_or_else(|| de::Error::invalid_length(i, &self))?
            };
            if field == "cents" {
                price.cents = amount;
            } else {
                price.tax_cents = amount;
            }
        }
        Ok(price)
    }
}

impl<'de> Deserialize<'de> for Price {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Price, D::Error> {
        deserializer.deserialize_struct("Price", fields(), PriceVisitor)
    }
}

/// A generic envelope, nested in itself for `nested_price`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wrapper<T> {
    data: T,
}

/// What `price` and `nested_price` compute, counted.
fn compute(item: u32) -> Price {
    COMPUTES.fetch_add(1, Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(20));
    let _ = item;
    COMPUTED
}

#[antidogpiled(soft = "1s", factor = 30, grace = "2s", name = "worker::price")]
fn price(item: u32) -> Price {
    compute(item)
}

#[antidogpiled(soft = "1s", factor = 30, grace = "2s", name = "worker::nested_price")]
fn nested_price(item: u32) -> Wrapper<Wrapper<Price>> {
    Wrapper {
        data: Wrapper {
            data: compute(item),
        },
    }
}

/// The price `price(1)` or, `nested`, `nested_price(1)` returned.
fn call(nested: bool) -> Price {
    if nested {
        nested_price(1).data.data
    } else {
        price(1)
    }
}

/// Calls `price(1)` (or `nested_price(1)`) every 5 ms for `run` (at least
/// once).
pub fn run(run: Duration, nested: bool) {
    let begin = Instant::now();
    let (mut calls, mut wrong, mut last) = (0u64, 0u64, None);
    loop {
        let before = COMPUTES.load(Ordering::Relaxed);
        let got = call(nested);
        let computed = COMPUTES.load(Ordering::Relaxed) > before;
        calls += 1;
        if got != COMPUTED {
            wrong += 1;
        }
        if last != Some(got) {
            say(&format!(
                "price {} {} {}",
                got.cents,
                got.tax_cents,
                u8::from(computed)
            ));
            last = Some(got);
        }
        if begin.elapsed() >= run {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    say(&format!("calls {calls}"));
    say(&format!("computes {}", COMPUTES.load(Ordering::Relaxed)));
    say(&format!("wrong {wrong}"));
}

/// The cache client's view: reads `"price"` (or, `nested`, a
/// `Wrapper<Wrapper<Price>>` at `"nested-price"`); on a hit prints
/// `got CENTS TAX`, on a miss sets it (fresh for a minute) and prints `set`.
pub fn client(url: &str, nested: bool) -> Result<(), antidogpile::Error> {
    if nested {
        let wrapped = Wrapper {
            data: Wrapper { data: COMPUTED },
        };
        peek_or_set(url, "nested-price", wrapped, |got| got.data.data)
    } else {
        peek_or_set(url, "price", COMPUTED, |got| got)
    }
}

fn peek_or_set<V: Cacheable>(
    url: &str,
    key: &str,
    value: V,
    price: fn(V) -> Price,
) -> Result<(), antidogpile::Error> {
    let cache = antidogpile::Cache::from_url(url)?;
    match cache.peek::<V, _>(key)? {
        Some(got) => {
            let got = price(got);
            say(&format!("got {} {}", got.cents, got.tax_cents));
        }
        None => {
            cache.set(key, &value, Duration::from_secs(60))?;
            say("set");
        }
    }
    Ok(())
}

/// A three-letter currency code, read from a string without checking its
/// length (a panic on the tracer's `""`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Currency(&'static str);

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Currency, D::Error> {
        let code = String::deserialize(deserializer)?;
        Ok(match &code.as_bytes()[0..3] {
            b"EUR" => Currency("EUR"),
            _ => Currency("USD"),
        })
    }
}

static CURRENCY_COMPUTES: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(soft = "1m", factor = 2, name = "worker::currency")]
fn currency(account: u32) -> Currency {
    CURRENCY_COMPUTES.fetch_add(1, Ordering::Relaxed);
    let _ = account;
    Currency("EUR")
}

/// Calls `currency(1)` twice: `got CODE` for each, then `computes N`.
pub fn currency_calls() {
    for _ in 0..2 {
        say(&format!("got {}", currency(1).0));
    }
    say(&format!(
        "computes {}",
        CURRENCY_COMPUTES.load(Ordering::Relaxed)
    ));
}
