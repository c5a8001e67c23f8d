use std::collections::HashSet;

use antidogpile::antidogpiled;

#[antidogpiled(soft = "30s")]
fn union_size(ids: HashSet<u64>, extra: Option<&std::collections::HashSet<String>>) -> usize {
    ids.len() + extra.map_or(0, HashSet::len)
}

/// A skipped set is not hashed: accepted.
#[antidogpiled(soft = "30s", skip(seen))]
fn first(ids: Vec<u64>, seen: &HashSet<u64>) -> Option<u64> {
    ids.into_iter().find(|id| !seen.contains(id))
}

fn main() {}
