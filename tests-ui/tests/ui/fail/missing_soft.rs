use antidogpile::antidogpiled;

#[antidogpiled(factor = 4)]
fn square(x: u64) -> u64 {
    x * x
}

fn main() {
    // The function is still emitted: no error here.
    let _ = square(2);
}
