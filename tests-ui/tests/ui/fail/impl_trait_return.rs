use antidogpile::antidogpiled;

#[antidogpiled(soft = "30s")]
fn label(x: u64) -> impl std::fmt::Display {
    x
}

fn main() {}
