use antidogpile::antidogpiled;

// The `cached` crate's name for it.
#[antidogpiled(ttl = "30s")]
fn report(customer: u64) -> String {
    customer.to_string()
}

#[antidogpiled(soft = "30s", sikp(customer))]
fn summary(customer: u64) -> String {
    customer.to_string()
}

fn main() {}
