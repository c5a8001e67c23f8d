use antidogpile::antidogpiled;

type Res<T> = Result<T, String>;

#[antidogpiled(soft = "30s", result, value)]
fn parse(text: String) -> Res<u64> {
    Ok(text.len() as u64)
}

#[antidogpiled(soft = "30s", option, option)]
fn find(id: u64) -> Option<u64> {
    Some(id)
}

fn main() {}
