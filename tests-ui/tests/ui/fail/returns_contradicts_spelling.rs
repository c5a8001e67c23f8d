use antidogpile::antidogpiled;

#[antidogpiled(soft = "30s", result)]
fn find(id: u64) -> Option<u64> {
    Some(id)
}

#[antidogpiled(soft = "30s", option)]
fn parse(text: String) -> std::io::Result<u64> {
    Ok(text.len() as u64)
}

fn main() {}
