use antidogpile::antidogpiled;

// Every mistake in the signature and the attribute, reported in one compile.
#[antidogpiled(factor = 2, skip(nothing))]
fn update(total: &mut u64, (a, b): (u64, u64)) {
    *total += a + b;
}

// Bad values are reported with the signature's mistakes.
#[antidogpiled(soft = "1y", factor = 0)]
fn bump(total: &mut u64) -> u64 {
    *total += 1;
    *total
}

fn main() {
    // The functions are still emitted as written: these calls are not errors.
    let mut total = 0;
    update(&mut total, (1, 2));
    let _ = bump(&mut total);
}
