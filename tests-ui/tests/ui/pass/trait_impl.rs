//! A memoized method of a trait impl needs no `invalidate = false`: a
//! function that is certainly associated (it takes `self` or names `Self`)
//! and has no visibility, as every item of a trait impl, gets no
//! `name_invalidate` unless asked (`invalidate = true` or a name). A
//! visibility keeps the invalidator on by default.

use std::sync::atomic::{AtomicUsize, Ordering};

use antidogpile::{antidogpiled, Invalidate};

static PRICES: AtomicUsize = AtomicUsize::new(0);
static LOADS: AtomicUsize = AtomicUsize::new(0);
static STOCKS: AtomicUsize = AtomicUsize::new(0);
static ROWS: AtomicUsize = AtomicUsize::new(0);

trait Pricing: Sized {
    fn price(&self, sku: u64) -> u64;
    fn load(id: u8) -> Option<Self>;
    async fn stock(&self, sku: u64) -> u64;
}

#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct Shop {
    id: u8,
}

impl Pricing for Shop {
    #[antidogpiled(soft = "1m")]
    fn price(&self, sku: u64) -> u64 {
        PRICES.fetch_add(1, Ordering::SeqCst);
        sku * 2
    }

    #[antidogpiled(soft = "1m")]
    fn load(id: u8) -> Option<Self> {
        LOADS.fetch_add(1, Ordering::SeqCst);
        (id < 10).then_some(Shop { id })
    }

    #[antidogpiled(soft = "1m")]
    async fn stock(&self, sku: u64) -> u64 {
        STOCKS.fetch_add(1, Ordering::SeqCst);
        sku + 1
    }
}

/// Called through the trait, as generic code does.
fn total<P: Pricing>(pricing: &P, skus: &[u64]) -> u64 {
    skus.iter().map(|&sku| pricing.price(sku)).sum()
}

struct Table;

impl Table {
    /// Private and associated, but asked for: `row_invalidate` is there.
    #[antidogpiled(soft = "1m", invalidate = true)]
    fn row(&self, id: u32) -> Vec<u32> {
        ROWS.fetch_add(1, Ordering::SeqCst);
        vec![id]
    }

    /// Under another name.
    #[antidogpiled(soft = "1m", invalidate = "forget_column")]
    fn column(&self, id: u32) -> u32 {
        id
    }

    /// A visibility: the invalidator is there by default, as before.
    #[antidogpiled(soft = "1m")]
    pub fn cell(&self, id: u32) -> u32 {
        id + 1
    }

    #[antidogpiled(soft = "1m")]
    pub(crate) fn open(id: u32) -> Option<Self> {
        (id > 0).then_some(Table)
    }
}

impl Clone for Table {
    fn clone(&self) -> Self {
        Table
    }
}

impl serde::Serialize for Table {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_unit()
    }
}

impl<'de> serde::Deserialize<'de> for Table {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        <()>::deserialize(deserializer).map(|()| Table)
    }
}

fn main() {
    let shop = Shop { id: 1 };
    assert_eq!(total(&shop, &[1, 2, 1]), 8);
    assert_eq!(shop.price(2), 4);
    assert_eq!(PRICES.load(Ordering::SeqCst), 2);

    assert_eq!(Shop::load(3).map(|shop| shop.id), Some(3));
    assert_eq!(<Shop as Pricing>::load(3).map(|shop| shop.id), Some(3));
    assert!(Shop::load(11).is_none());
    assert!(Shop::load(11).is_none());
    // `None` is not cached: 11 is computed each time.
    assert_eq!(LOADS.load(Ordering::SeqCst), 3);

    assert_eq!(Table.row(5), [5]);
    assert_eq!(Table.row_invalidate(5, Invalidate::Hard), Ok(true));
    assert_eq!(Table.row(5), [5]);
    assert_eq!(ROWS.load(Ordering::SeqCst), 2);
    assert_eq!(Table.column(2), 2);
    assert_eq!(Table.forget_column(2, Invalidate::Soft), Ok(true));
    assert_eq!(Table.cell(2), 3);
    assert_eq!(Table.cell_invalidate(2, Invalidate::Soft), Ok(true));
    assert_eq!(Table.cell_invalidate(3, Invalidate::Soft), Ok(false));
    assert!(Table::open(1).is_some());
    assert_eq!(Table::open_invalidate(1, Invalidate::Soft), Ok(true));

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        assert_eq!(shop.stock(7).await, 8);
        assert_eq!(Shop { id: 2 }.stock(7).await, 8);
        // The receiver's value is not part of the key: one compute.
        assert_eq!(STOCKS.load(Ordering::SeqCst), 1);
    });
}
