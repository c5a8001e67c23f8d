use antidogpile::antidogpiled;

trait Pricing {
    fn price(&self, sku: u64) -> u64;
    fn rate(region: u32) -> u64;
}

struct Shop;

// A trait impl may only define the trait's functions. A method taking
// `self` (or naming `Self`) gets no `price_invalidate` there unless asked,
// but an associated function that does neither cannot be told from a free
// function, which gets `rate_invalidate` by default: the error points at the
// attribute, and the macro's docs name the fix, `invalidate = false`.
impl Pricing for Shop {
    #[antidogpiled(soft = "1m")]
    fn price(&self, sku: u64) -> u64 {
        sku * Self::rate(1)
    }

    #[antidogpiled(soft = "1m")]
    fn rate(region: u32) -> u64 {
        u64::from(region) + 1
    }
}

fn main() {}
