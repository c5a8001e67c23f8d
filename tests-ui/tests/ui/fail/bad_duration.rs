use antidogpile::antidogpiled;

#[antidogpiled(soft = "30x")]
fn square(x: u64) -> u64 {
    x * x
}

#[antidogpiled(soft = "30s", grace = "0s")]
fn cube(x: u64) -> u64 {
    x * x * x
}

fn main() {}
