//! The expansion of `#[antidogpiled]` adds no warning to the user's code:
//! `strict` uses the macro in many forms under the strictest lints that make
//! sense (rustc here, clippy's pedantic and nursery groups under
//! `cargo clippy --all-targets`), and the tests below check that the
//! memoization still happens.

#![deny(warnings, future_incompatible)]

pub mod strict {
    //! User code: every function here would compile without a warning if
    //! the attribute were removed, and compiles without one with it.

    #![deny(
        unused,
        nonstandard_style,
        rust_2018_idioms,
        unused_qualifications,
        unused_results,
        unused_lifetimes,
        unused_import_braces,
        unused_macro_rules,
        single_use_lifetimes,
        elided_lifetimes_in_paths,
        missing_docs,
        missing_debug_implementations,
        unreachable_pub,
        trivial_casts,
        trivial_numeric_casts,
        let_underscore_drop,
        redundant_lifetimes,
        unit_bindings,
        unsafe_code
    )]
    #![deny(clippy::all, clippy::pedantic, clippy::nursery, clippy::cargo)]
    #![allow(clippy::cargo_common_metadata, clippy::multiple_crate_versions)]

    use std::fmt::Display;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use antidogpile::antidogpiled;
    use serde::{Deserialize, Serialize};

    /// How many times each body ran.
    #[derive(Debug)]
    pub struct Runs(AtomicUsize);

    impl Runs {
        const fn new() -> Self {
            Self(AtomicUsize::new(0))
        }

        fn count(&self) {
            let _previous = self.0.fetch_add(1, Ordering::SeqCst);
        }

        /// The number of runs so far.
        pub fn get(&self) -> usize {
            self.0.load(Ordering::SeqCst)
        }
    }

    /// Runs of [`square`].
    pub static SQUARE: Runs = Runs::new();
    /// Runs of [`fetch_name`].
    pub static FETCH: Runs = Runs::new();
    /// Runs of [`find`].
    pub static FIND: Runs = Runs::new();
    /// Runs of [`Scorer::score`].
    pub static SCORE: Runs = Runs::new();
    /// Runs of [`describe`].
    pub static DESCRIBE: Runs = Runs::new();
    /// Runs of [`lookup`].
    pub static LOOKUP: Runs = Runs::new();
    /// Runs of [`Page::render`].
    pub static RENDER: Runs = Runs::new();
    /// Runs of [`rates`] and [`forecast`].
    pub static BACKGROUND: Runs = Runs::new();
    /// Runs of [`session`].
    pub static SESSION: Runs = Runs::new();
    /// Runs of [`Scorer::load`].
    pub static LOAD: Runs = Runs::new();
    /// Runs of [`repeat`].
    pub static REPEAT: Runs = Runs::new();
    /// Runs of [`unused_argument`].
    pub static HINTED: Runs = Runs::new();
    /// Runs of [`shout`].
    pub static SHOUT: Runs = Runs::new();
    /// Runs of [`quote`].
    pub static QUOTE: Runs = Runs::new();
    /// Runs of [`halve`].
    pub static HALVE: Runs = Runs::new();
    /// Runs of [`parse`], [`maybe_double`], [`checked`] and [`total`].
    pub static RETURNS: Runs = Runs::new();

    /// A `Result` under another name.
    pub type Parsed<T> = Result<T, String>;

    /// An `Option` under another name.
    pub type Maybe<T> = Option<T>;

    /// `result` on an alias of `Result`, with an `impl Trait` inside a
    /// reference, and a skipped `impl Trait`.
    ///
    /// # Errors
    ///
    /// When `text` is not a number.
    #[antidogpiled(soft = "1m", result, skip(log))]
    pub fn parse(text: &(impl Display + Serialize), log: impl Fn(&str)) -> Parsed<u32> {
        RETURNS.count();
        let text = text.to_string();
        log(&text);
        text.parse().map_err(|_| format!("not a number: {text}"))
    }

    /// `option` on an alias of `Option`, in an `async fn`.
    #[antidogpiled(soft = "1m", option)]
    pub async fn maybe_double(x: u32) -> Maybe<u32> {
        RETURNS.count();
        tokio::task::yield_now().await;
        x.checked_mul(2)
    }

    /// `value`: `Err` is cached too.
    ///
    /// # Errors
    ///
    /// Always.
    #[antidogpiled(soft = "1m", value)]
    pub fn checked(x: u32) -> Result<u32, String> {
        RETURNS.count();
        Err(format!("{x} rejected"))
    }

    /// A map argument.
    #[antidogpiled(soft = "1m")]
    #[must_use]
    #[allow(clippy::implicit_hasher)]
    pub fn total(prices: std::collections::HashMap<String, u32>) -> u32 {
        RETURNS.count();
        prices.values().sum()
    }

    /// A sync function returning `Result`, with `?` and an early return.
    ///
    /// # Errors
    ///
    /// When `x` is zero.
    #[antidogpiled(soft = "1h", factor = 4, grace = "10s", jitter = 0.1, version = 1)]
    #[inline]
    pub fn square(x: u64) -> Result<u64, String> {
        SQUARE.count();
        if x == 0 {
            return Err("zero".to_owned());
        }
        let text = x.to_string();
        let parsed: u64 = text
            .parse()
            .map_err(|e: std::num::ParseIntError| e.to_string())?;
        Ok(parsed * parsed)
    }

    /// An `async fn` returning `Result`, with `?` after an `.await`.
    ///
    /// # Errors
    ///
    /// When `id` does not parse.
    #[antidogpiled(soft = "5m")]
    pub async fn fetch_name(id: String) -> Result<String, std::num::ParseIntError> {
        FETCH.count();
        tokio::task::yield_now().await;
        let id: u32 = id.parse()?;
        Ok(format!("user {id}"))
    }

    /// An `async fn` returning a plain `T`.
    #[antidogpiled(soft = "5m")]
    pub async fn shout(word: String) -> String {
        SHOUT.count();
        tokio::task::yield_now().await;
        word.to_uppercase()
    }

    /// A function returning `Option`, with a borrowed argument.
    #[antidogpiled(soft = "30s")]
    #[must_use]
    pub fn find(name: &str) -> Option<usize> {
        FIND.count();
        name.find('x')
    }

    /// A type with memoized methods.
    #[derive(Debug, Clone, Copy, Serialize, Deserialize)]
    pub struct Scorer {
        /// Multiplies every score.
        pub weight: u32,
    }

    impl Scorer {
        /// A plain `T` from a method taking `&self` and a borrowed argument.
        #[antidogpiled(soft = "250ms", skip(self))]
        #[must_use]
        pub fn score(&self, word: &str) -> u64 {
            #![allow(clippy::cast_possible_truncation)]
            SCORE.count();
            u64::from(self.weight) * word.len() as u64
        }

        /// An associated function naming `Self`.
        #[antidogpiled(soft = "1m")]
        #[must_use]
        pub fn load(weight: u32) -> Option<Self> {
            LOAD.count();
            (weight > 0).then_some(Self { weight })
        }
    }

    /// Generic, with `impl Trait` in argument position and a where clause.
    #[antidogpiled(soft = "1m")]
    #[must_use]
    pub fn describe<T>(value: T, suffix: impl Display + Serialize) -> String
    where
        T: Display + Serialize,
    {
        DESCRIBE.count();
        format!("{value}{suffix}")
    }

    /// A const generic parameter.
    #[antidogpiled(soft = "1m")]
    #[must_use]
    pub fn repeat<const N: usize>(word: &str) -> String {
        REPEAT.count();
        word.repeat(N)
    }

    /// Something that must not be part of the key.
    #[derive(Debug)]
    pub struct Log {
        /// Whether to print.
        pub verbose: bool,
    }

    /// `skip`, `version` and `name`, with an argument named `_`.
    #[antidogpiled(soft = "1m30s", skip(log), version = 3, name = "lints::lookup")]
    #[must_use]
    pub fn lookup(id: u32, log: &Log, _: bool) -> Option<String> {
        LOOKUP.count();
        if log.verbose {
            println!("looking up {id}");
        }
        (id > 0).then(|| format!("#{id}"))
    }

    /// A request whose `trace` is not part of the key.
    #[derive(Debug)]
    pub struct Page {
        /// What is rendered.
        pub path: String,
        /// Differs per request.
        pub trace: u64,
    }

    impl Page {
        /// `key = expr` using `self` and an argument.
        ///
        /// # Errors
        ///
        /// Never, in fact.
        #[antidogpiled(soft = "10s", key = (self.path.as_str(), group / 10))]
        pub fn render(&self, group: u32) -> Result<String, String> {
            RENDER.count();
            Ok(format!("{}:{}", self.path, group / 10))
        }
    }

    /// `background` refresh of a sync function.
    ///
    /// # Errors
    ///
    /// When `base` is empty.
    #[antidogpiled(soft = "30s", background)]
    pub fn rates(base: String) -> Result<Vec<(String, u32)>, String> {
        BACKGROUND.count();
        if base.is_empty() {
            return Err("no base".to_owned());
        }
        Ok(vec![(base, 100)])
    }

    /// `background = true` refresh of an `async fn` returning a plain `T`.
    #[antidogpiled(soft = "30s", background = true)]
    pub async fn forecast(city: String, days: u8) -> String {
        BACKGROUND.count();
        tokio::task::yield_now().await;
        format!("{city}: {days} days")
    }

    /// An argument the body does not use, still part of the key.
    #[antidogpiled(soft = "1m")]
    #[must_use]
    pub fn unused_argument(id: u32, _hint: u32) -> u32 {
        HINTED.count();
        id + 1
    }

    /// An invalidator under another name, with an argument named `how`
    /// like the invalidator's own last one.
    #[antidogpiled(soft = "1m", invalidate = "forget_quote")]
    #[must_use]
    pub fn quote(how: &u8) -> u32 {
        QUOTE.count();
        u32::from(*how) * 10
    }

    /// No invalidator.
    #[antidogpiled(soft = "1m", invalidate = false)]
    #[must_use]
    pub fn halve(x: u8) -> u8 {
        HALVE.count();
        x / 2
    }

    /// A `mut` argument: the invalidator, which does not change it, takes
    /// it without `mut`.
    #[antidogpiled(soft = "1m")]
    #[must_use]
    pub fn sorted(mut numbers: Vec<u8>) -> Vec<u8> {
        numbers.sort_unstable();
        numbers
    }

    /// A named cache.
    #[antidogpiled(soft = "1m", cache = "lints")]
    #[must_use]
    pub fn session(token: u64) -> Option<u64> {
        SESSION.count();
        token.checked_mul(2)
    }
}

use antidogpile::{store::MemoryStore, Cache, Invalidate};
use strict::*;

#[test]
fn sync_results_are_memoized() {
    assert_eq!(square(12), Ok(144));
    assert_eq!(square(12), Ok(144));
    assert_eq!(SQUARE.get(), 1);
    // Errors are not cached.
    assert!(square(0).is_err());
    assert!(square(0).is_err());
    assert_eq!(SQUARE.get(), 3);
}

#[tokio::test]
async fn async_functions_are_memoized() {
    assert_eq!(fetch_name("7".to_owned()).await.unwrap(), "user 7");
    assert_eq!(fetch_name("7".to_owned()).await.unwrap(), "user 7");
    assert_eq!(FETCH.get(), 1);
    assert_eq!(shout("hey".to_owned()).await, "HEY");
    assert_eq!(shout("hey".to_owned()).await, "HEY");
    assert_eq!(SHOUT.get(), 1);
}

#[tokio::test]
async fn the_return_type_options_are_kept() {
    assert!(parse(&"x", |_| ()).is_err());
    assert!(parse(&"x", |_| ()).is_err());
    assert_eq!(parse(&"7", |_| ()), Ok(7));
    assert_eq!(parse(&"7", |_| ()), Ok(7));
    assert_eq!(maybe_double(u32::MAX).await, None);
    assert_eq!(maybe_double(u32::MAX).await, None);
    assert_eq!(maybe_double(2).await, Some(4));
    assert_eq!(maybe_double(2).await, Some(4));
    assert!(checked(1).is_err());
    assert!(checked(1).is_err());
    let prices = || (0..16).map(|i| (format!("sku-{i}"), i)).collect();
    assert_eq!(total(prices()), 120);
    assert_eq!(total(prices()), 120);
    assert_eq!(RETURNS.get(), 2 + 1 + 2 + 1 + 1 + 1);
}

#[test]
fn options_are_memoized() {
    assert_eq!(find("box"), Some(2));
    assert_eq!(find("box"), Some(2));
    assert_eq!(FIND.get(), 1);
}

#[test]
fn methods_are_memoized() {
    let scorer = Scorer { weight: 3 };
    assert_eq!(scorer.score("four"), 12);
    // `self` is not part of the key: another weight gets the cached score.
    assert_eq!(Scorer { weight: 5 }.score("four"), 12);
    assert_eq!(SCORE.get(), 1);
    assert_eq!(Scorer::load(2).map(|s| s.weight), Some(2));
    assert_eq!(Scorer::load(2).map(|s| s.weight), Some(2));
    assert_eq!(LOAD.get(), 1);
}

#[test]
fn generic_functions_are_memoized_per_type() {
    assert_eq!(describe(1_u8, "!"), "1!");
    assert_eq!(describe(1_u8, "!"), "1!");
    assert_eq!(DESCRIBE.get(), 1);
    assert_eq!(describe(1_u16, "!"), "1!");
    assert_eq!(DESCRIBE.get(), 2);
    assert_eq!(repeat::<2>("ab"), "abab");
    assert_eq!(repeat::<2>("ab"), "abab");
    assert_eq!(repeat::<3>("ab"), "ababab");
    assert_eq!(REPEAT.get(), 2);
}

#[test]
fn skipped_arguments_are_not_part_of_the_key() {
    assert_eq!(
        lookup(4, &Log { verbose: true }, true).as_deref(),
        Some("#4")
    );
    assert_eq!(
        lookup(4, &Log { verbose: false }, false).as_deref(),
        Some("#4")
    );
    assert_eq!(LOOKUP.get(), 1);
}

#[test]
fn arguments_the_body_ignores_are_still_part_of_the_key() {
    assert_eq!(unused_argument(1, 2), 2);
    assert_eq!(unused_argument(1, 2), 2);
    assert_eq!(unused_argument(1, 3), 2);
    assert_eq!(HINTED.get(), 2);
}

#[test]
fn a_key_expression_replaces_the_arguments() {
    let one = Page {
        path: "/a".to_owned(),
        trace: 1,
    };
    let two = Page {
        path: "/a".to_owned(),
        trace: 2,
    };
    assert_eq!(one.render(11).unwrap(), "/a:1");
    assert_eq!(two.render(19).unwrap(), "/a:1");
    assert_eq!(RENDER.get(), 1);
    assert_ne!(one.trace, two.trace);
}

#[tokio::test(flavor = "multi_thread")]
async fn background_functions_are_memoized() {
    let first = tokio::task::spawn_blocking(|| rates("EUR".to_owned()));
    let expected = vec![("EUR".to_owned(), 100)];
    assert_eq!(first.await.unwrap(), Ok(expected.clone()));
    let second = tokio::task::spawn_blocking(|| rates("EUR".to_owned()));
    assert_eq!(second.await.unwrap(), Ok(expected));
    assert_eq!(forecast("Oslo".to_owned(), 3).await, "Oslo: 3 days");
    assert_eq!(forecast("Oslo".to_owned(), 3).await, "Oslo: 3 days");
    assert_eq!(BACKGROUND.get(), 2);
}

#[test]
fn named_caches_are_used() {
    antidogpile::install_named("lints", Cache::new(MemoryStore::new()));
    assert_eq!(session(21), Some(42));
    assert_eq!(session(21), Some(42));
    assert_eq!(SESSION.get(), 1);
}

#[test]
fn invalidators_reach_the_values_of_their_functions() {
    // Only `quote` and `halve` are called here: the other functions count
    // their runs for the tests above, which run alongside. Their
    // invalidators are called with arguments those tests do not use.
    assert_eq!(quote(&3), 30);
    assert_eq!(forget_quote(&3, Invalidate::Soft), Ok(true));
    assert_eq!(forget_quote(&4, Invalidate::Soft), Ok(false));
    assert_eq!(forget_quote(&3, Invalidate::Hard), Ok(true));
    assert_eq!(quote(&3), 30);
    assert_eq!(QUOTE.get(), 2);
    assert_eq!(halve(8), 4);
    assert_eq!(HALVE.get(), 1);

    let log = Log { verbose: true };
    assert_eq!(
        lookup_invalidate(99, &log, false, Invalidate::Soft),
        Ok(false)
    );
    let page = Page {
        path: "/never".to_owned(),
        trace: 7,
    };
    assert_eq!(page.render_invalidate(31, Invalidate::Soft), Ok(false));
    assert_eq!(page.trace, 7);
    let scorer = Scorer { weight: 2 };
    assert_eq!(
        scorer.score_invalidate("never", Invalidate::Soft),
        Ok(false)
    );
    assert_eq!(Scorer::load_invalidate(99, Invalidate::Soft), Ok(false));
    assert_eq!(describe_invalidate(1_u64, "?", Invalidate::Soft), Ok(false));
    assert_eq!(repeat_invalidate::<4>("z", Invalidate::Soft), Ok(false));
    assert_eq!(
        unused_argument_invalidate(5, 6, Invalidate::Soft),
        Ok(false)
    );
    assert_eq!(square_invalidate(99, Invalidate::Soft), Ok(false));
    assert_eq!(sorted(vec![2, 1]), [1, 2]);
    assert_eq!(sorted_invalidate(vec![2, 1], Invalidate::Soft), Ok(true));
    assert_eq!(find_invalidate("never", Invalidate::Hard), Ok(true));
    assert_eq!(
        rates_invalidate("USD".to_owned(), Invalidate::Soft),
        Ok(false)
    );
}

#[tokio::test]
async fn async_invalidators_build_their_keys() {
    assert_eq!(
        fetch_name_invalidate("99".to_owned(), Invalidate::Soft).await,
        Ok(false)
    );
    assert_eq!(
        shout_invalidate("never".to_owned(), Invalidate::Soft).await,
        Ok(false)
    );
    assert_eq!(
        forecast_invalidate("Bergen".to_owned(), 1, Invalidate::Hard).await,
        Ok(true)
    );
}
