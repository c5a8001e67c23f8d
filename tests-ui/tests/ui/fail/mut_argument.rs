use antidogpile::antidogpiled;

#[antidogpiled(soft = "30s")]
fn next_id(counter: &mut u64, step: u64) -> u64 {
    *counter += step;
    *counter
}

fn main() {}
