use antidogpile::antidogpiled;

#[antidogpiled(soft = "30s", grace = "5s", soft = "1m")]
fn square(x: u64) -> u64 {
    x * x
}

fn main() {}
