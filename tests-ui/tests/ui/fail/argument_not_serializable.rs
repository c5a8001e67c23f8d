use antidogpile::antidogpiled;

struct Connection;

#[antidogpiled(soft = "30s")]
fn user(id: u64, conn: &Connection) -> String {
    let _ = conn;
    format!("user {id}")
}

fn main() {}
