use antidogpile::antidogpiled;

#[antidogpiled(soft = "30s", factor = 0)]
fn square(x: u64) -> u64 {
    x * x
}

fn main() {}
