use antidogpile::antidogpiled;

#[antidogpiled(soft = "30s", hard = "1h")]
fn square(x: u64) -> u64 {
    x * x
}

fn main() {}
