use antidogpile::antidogpiled;

type Maybe<T> = Option<T>;
type Count = u64;

#[antidogpiled(soft = "30s", result)]
fn find(id: u64) -> Maybe<u64> {
    Some(id)
}

#[antidogpiled(soft = "30s", option)]
async fn count(id: u64) -> Count {
    id
}

fn main() {}
