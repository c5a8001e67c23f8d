use antidogpile::antidogpiled;

#[antidogpiled(soft = "30s", skip(conn, logger))]
fn user(id: u64, conn: &str) -> String {
    format!("{conn}/{id}")
}

fn main() {}
