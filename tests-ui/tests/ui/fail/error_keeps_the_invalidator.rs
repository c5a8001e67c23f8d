use antidogpile::{antidogpiled, Invalidate};

// One mistake (a bad duration): the function and its invalidator are both
// still emitted, so the calls below are not errors of their own.
#[antidogpiled(soft = "30x")]
fn report(customer: u64) -> Option<String> {
    Some(customer.to_string())
}

struct Catalog;

impl Catalog {
    #[antidogpiled(soft = "5m", factor = 0, invalidate = true)]
    async fn product(&self, id: u64) -> Option<String> {
        Some(id.to_string())
    }
}

fn main() {
    let _ = report(1);
    let _: Result<bool, antidogpile::Error> = report_invalidate(1, Invalidate::Soft);
    let _ = async {
        let _: Result<bool, antidogpile::Error> =
            Catalog.product_invalidate(7, Invalidate::Hard).await;
    };
}
