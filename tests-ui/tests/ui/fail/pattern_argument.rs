use antidogpile::antidogpiled;

#[antidogpiled(soft = "30s")]
fn add((a, b): (u64, u64)) -> u64 {
    a + b
}

fn main() {}
