use antidogpile::antidogpiled;

#[antidogpiled(soft = "30s", key = id, skip(conn))]
fn user(id: u64, conn: &str) -> String {
    format!("{conn}/{id}")
}

fn main() {}
