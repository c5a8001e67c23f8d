use antidogpile::antidogpiled;

#[antidogpiled(soft = "30s", jitter = 1.5)]
fn square(x: u64) -> u64 {
    x * x
}

fn main() {}
