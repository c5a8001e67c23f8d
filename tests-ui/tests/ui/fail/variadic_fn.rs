use antidogpile::antidogpiled;

#[antidogpiled(soft = "30s")]
unsafe extern "C" fn sum(count: u32, mut rest: ...) -> u64 {
    (0..count).map(|_| rest.arg::<u64>()).sum()
}

fn main() {}
