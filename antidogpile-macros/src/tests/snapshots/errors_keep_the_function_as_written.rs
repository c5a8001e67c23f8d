::core::compile_error! {
    "invalid duration \"30x\": unknown unit \"x\"; a duration is whole numbers with units `d`, `h`, `m`, `s` or `ms`, such as \"250ms\", \"30s\", \"5m\", \"1h\" or \"1d\", or several largest first, such as \"1m30s\""
}
::core::compile_error! {
    "`factor` must be a whole number from 1 to 4294967295: the store keeps a value for soft * factor"
}
::core::compile_error! {
    "a `&mut` argument that is part of the key cannot be memoized: a cached call would skip the mutation; take it by shared reference or by value, or, if it is how the body computes rather than what it computes (a `&mut conn`), leave it out of the key with `skip(counter)`"
}
#[allow(dead_code, unused_variables, clippy::all)]
fn bump_invalidate(
    counter: &mut u64,
    how: ::antidogpile::Invalidate,
) -> ::core::result::Result<bool, ::antidogpile::Error> {
    ::core::result::Result::Ok(false)
}
fn bump(counter: &mut u64) -> u64 {
    *counter += 1;
    *counter
}
