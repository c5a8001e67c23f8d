//! The generated `name_invalidate` functions: beside free functions,
//! methods (a private one when asked), generic and async functions; renamed;
//! turned off; next to an argument named `how`.

use std::sync::atomic::{AtomicUsize, Ordering};

use antidogpile::{antidogpiled, Invalidate};

static RUNS: AtomicUsize = AtomicUsize::new(0);

#[antidogpiled(soft = "1m", skip(log))]
fn report(customer: u64, log: &str) -> u64 {
    RUNS.fetch_add(1, Ordering::SeqCst);
    let _ = log;
    customer * 2
}

/// `how` is the user's argument; the invalidator's own `how` is another.
#[antidogpiled(soft = "1m", invalidate = "forget_render")]
fn render(how: u8) -> String {
    format!("{how}")
}

#[antidogpiled(soft = "1m")]
fn size_of_value<T: serde::Serialize>(value: T) -> usize {
    let _ = value;
    std::mem::size_of::<T>()
}

#[cfg(any())]
#[antidogpiled(soft = "1m")]
fn never_compiled(x: u8) -> u8 {
    x
}

trait Lookup {
    fn lookup(&self, id: u32) -> Option<u32>;
}

struct Table;

impl Lookup for Table {
    // A trait impl may only define the trait's functions.
    #[antidogpiled(soft = "1m", invalidate = false)]
    fn lookup(&self, id: u32) -> Option<u32> {
        id.checked_add(1)
    }
}

impl Table {
    /// A private method gets one when asked (it could be in a trait impl).
    #[antidogpiled(soft = "1m", invalidate = true)]
    async fn row(&self, id: u32) -> Vec<u32> {
        vec![id]
    }
}

fn main() {
    assert_eq!(report(4, "first"), 8);
    assert_eq!(report_invalidate(4, "another log", Invalidate::Hard), Ok(true));
    assert_eq!(report(4, "second"), 8);
    assert_eq!(RUNS.load(Ordering::SeqCst), 2);

    assert_eq!(render(3), "3");
    assert_eq!(forget_render(3, Invalidate::Soft), Ok(true));
    assert_eq!(size_of_value(1_u16), 2);
    assert_eq!(size_of_value_invalidate(1_u16, Invalidate::Soft), Ok(true));
    assert_eq!(size_of_value_invalidate::<u32>(1, Invalidate::Soft), Ok(false));
    assert_eq!(Table.lookup(1), Some(2));

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        assert_eq!(Table.row(5).await, [5]);
        assert_eq!(Table.row_invalidate(5, Invalidate::Soft).await, Ok(true));
        assert_eq!(Table.row_invalidate(6, Invalidate::Soft).await, Ok(false));
    });
}
