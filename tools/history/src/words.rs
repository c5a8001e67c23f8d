//! The words a history spells outcomes, holds and ways served with: one
//! table each, read by the parser and written by the events' `Display`.

use crate::event::{Hold, Outcome, Served};

/// A compute's outcomes.
pub(crate) const OUTCOMES: &[(&str, Outcome)] = &[
    ("ok", Outcome::Ok),
    ("err", Outcome::Err),
    ("panic", Outcome::Panic),
    ("hung", Outcome::Hung),
];

/// A compute's holds.
pub(crate) const HOLDS: &[(&str, Hold)] = &[
    ("held", Hold::Held),
    ("unheld", Hold::Unheld),
    ("uncached", Hold::Uncached),
    ("unknown", Hold::Unknown),
];

/// The ways a call is served.
pub(crate) const SERVED: &[(&str, Served)] = &[
    ("fresh", Served::Fresh),
    ("stale", Served::Stale),
    ("waited", Served::Waited),
    ("computed", Served::Computed),
    ("uncached", Served::Uncached),
];

/// The word of `value` in `words`.
fn word_of<T: PartialEq>(words: &[(&'static str, T)], value: T) -> &'static str {
    words
        .iter()
        .find(|(_, known)| *known == value)
        .map_or("?", |(word, _)| *word)
}

/// An outcome's word.
pub(crate) fn outcome(value: Outcome) -> &'static str {
    word_of(OUTCOMES, value)
}

/// A hold's word.
pub(crate) fn hold(value: Hold) -> &'static str {
    word_of(HOLDS, value)
}

/// A way served's word.
pub(crate) fn served(value: Served) -> &'static str {
    word_of(SERVED, value)
}

/// The value `text` names among `words`, or an error listing them.
pub(crate) fn one_of<T: Copy>(text: &str, words: &[(&str, T)], what: &str) -> Result<T, String> {
    let found = words.iter().find(|(word, _)| *word == text);
    found.map(|(_, value)| *value).ok_or_else(|| {
        let names: Vec<&str> = words.iter().map(|(word, _)| *word).collect();
        format!("unknown {what} {text:?}: one of {}", names.join(", "))
    })
}
