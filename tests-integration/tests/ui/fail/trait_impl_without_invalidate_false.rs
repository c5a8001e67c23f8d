use antidogpile::antidogpiled;

trait Pricing {
    fn price(&self, sku: u64) -> u64;
}

struct Shop;

// A trait impl may only define the trait's methods: `price_invalidate`
// cannot go there. The error points at the attribute, and the macro's
// docs name the fix, `invalidate = false`.
impl Pricing for Shop {
    #[antidogpiled(soft = "1m")]
    fn price(&self, sku: u64) -> u64 {
        sku * 2
    }
}

fn main() {}
