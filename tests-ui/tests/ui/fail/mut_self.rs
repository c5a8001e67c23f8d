use antidogpile::antidogpiled;

struct Counter(u64);

impl Counter {
    #[antidogpiled(soft = "30s")]
    fn bump(&mut self) -> u64 {
        self.0 += 1;
        self.0
    }
}

fn main() {}
