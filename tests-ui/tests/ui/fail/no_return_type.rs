use antidogpile::antidogpiled;

#[antidogpiled(soft = "30s")]
fn log(message: String) {
    println!("{message}");
}

#[antidogpiled(soft = "30s")]
fn log_unit(message: String) -> () {
    println!("{message}");
}

fn main() {}
