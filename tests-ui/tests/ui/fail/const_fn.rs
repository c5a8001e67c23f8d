use antidogpile::antidogpiled;

#[antidogpiled(soft = "30s")]
const fn square(x: u64) -> u64 {
    x * x
}

fn main() {}
