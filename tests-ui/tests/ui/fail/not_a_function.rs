use antidogpile::antidogpiled;

#[antidogpiled(soft = "30s")]
struct Report {
    id: u64,
}

fn main() {
    let _ = Report { id: 1 }.id;
}
