use antidogpile::antidogpiled;

#[antidogpiled(soft = "30s", cache = "")]
fn square(x: u64) -> u64 {
    x * x
}

#[antidogpiled(soft = "30s", name = "")]
fn cube(x: u64) -> u64 {
    x * x * x
}

fn main() {}
