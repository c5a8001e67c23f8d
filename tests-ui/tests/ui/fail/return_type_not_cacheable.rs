use std::rc::Rc;

use antidogpile::antidogpiled;

#[antidogpiled(soft = "30s")]
fn shared(id: u64) -> Option<Rc<u64>> {
    Some(Rc::new(id))
}

fn main() {}
