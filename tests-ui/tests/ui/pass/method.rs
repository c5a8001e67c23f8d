use std::sync::atomic::{AtomicUsize, Ordering};

use antidogpile::antidogpiled;

static RUNS: AtomicUsize = AtomicUsize::new(0);

struct English;
struct French;

impl English {
    #[antidogpiled(soft = "1m")]
    fn greet(&self, name: &str) -> String {
        RUNS.fetch_add(1, Ordering::SeqCst);
        format!("hello {name}")
    }

    /// An associated function naming `Self` has `Self` in its key too.
    #[antidogpiled(soft = "1m")]
    fn load(id: u8) -> Option<Self> {
        (id == 1).then_some(English)
    }
}

impl French {
    /// Same name, same module, same argument: `Self` keeps the keys apart.
    #[antidogpiled(soft = "1m")]
    fn greet(&self, name: &str) -> String {
        RUNS.fetch_add(1, Ordering::SeqCst);
        format!("bonjour {name}")
    }
}

impl Clone for English {
    fn clone(&self) -> Self {
        English
    }
}

impl serde::Serialize for English {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_unit()
    }
}

impl<'de> serde::Deserialize<'de> for English {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        <()>::deserialize(deserializer).map(|()| English)
    }
}

fn main() {
    assert_eq!(English.greet("ann"), "hello ann");
    assert_eq!(English.greet("ann"), "hello ann");
    assert_eq!(French.greet("ann"), "bonjour ann");
    assert_eq!(French.greet("ann"), "bonjour ann");
    assert_eq!(RUNS.load(Ordering::SeqCst), 2);
    assert!(English::load(1).is_some());
    assert!(English::load(2).is_none());
}
