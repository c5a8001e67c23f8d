use antidogpile::antidogpiled;

#[antidogpiled(soft = "1m")]
fn label(id: u64) -> &'static str {
    if id == 0 { "zero" } else { "many" }
}

#[antidogpiled(soft = "1m")]
fn first<'a>(names: &'a [String]) -> Option<&'a str> {
    names.first().map(String::as_str)
}

fn main() {}
