use antidogpile::antidogpiled;

#[antidogpiled(soft = "30s")]
extern "C" fn square(x: u64) -> u64 {
    x * x
}

fn main() {}
