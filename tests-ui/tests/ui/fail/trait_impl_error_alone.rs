use antidogpile::antidogpiled;

trait Pricing {
    fn price(&self, sku: u64) -> u64;
}

struct Shop;

// One mistake (a bad duration) in a trait impl: the function is emitted as
// written and, as when the attribute is right, no `price_invalidate` beside
// it, so the duration is the only error.
impl Pricing for Shop {
    #[antidogpiled(soft = "30x")]
    fn price(&self, sku: u64) -> u64 {
        sku * 2
    }
}

fn main() {
    assert_eq!(Shop.price(1), 2);
}
