//! `antidogpile-worker price`: one build of an application whose cached
//! value type changed shape between deploys while keeping its name.
//!
//! `PRICE_SHAPE` picks the build: `1` (or unset) serializes
//! `Price { cents: u64, tax_cents: u64 }` in that order; `2` has the two
//! fields swapped; `3` has them as `i64`. The Rust type (and so its
//! `type_name`) is the same in every build, as it would be after a deploy.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use antidogpile::antidogpiled;
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

#[antidogpiled(soft = "1s", factor = 30, grace = "2s", name = "worker::price")]
fn price(item: u32) -> Price {
    COMPUTES.fetch_add(1, Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(20));
    let _ = item;
    COMPUTED
}

/// Calls `price(1)` every 5 ms for `run` (at least once).
pub fn run(run: Duration) {
    let begin = Instant::now();
    let (mut calls, mut wrong, mut last) = (0u64, 0u64, None);
    loop {
        let before = COMPUTES.load(Ordering::Relaxed);
        let got = price(1);
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

/// The cache client's view: reads `"price"`; on a hit prints
/// `got CENTS TAX`, on a miss sets it (fresh for a minute) and prints `set`.
pub fn client(url: &str) -> Result<(), antidogpile::Error> {
    let cache = antidogpile::Cache::from_url(url)?;
    match cache.peek::<Price, _>(&"price")? {
        Some(got) => say(&format!("got {} {}", got.cents, got.tax_cents)),
        None => {
            cache.set(&"price", &COMPUTED, Duration::from_secs(60))?;
            say("set");
        }
    }
    Ok(())
}
