use antidogpile::antidogpiled;

struct Client;

impl Client {
    #[antidogpiled(soft = "30s", background)]
    fn rates(&self, base: String) -> Vec<u32> {
        vec![base.len() as u32]
    }
}

fn main() {}
