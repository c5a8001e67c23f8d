// The types here are only traced, never built.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU64;

use serde::Deserialize;

use super::*;

/// The same serde shape under different Rust types (as in two builds).
mod build1 {
    use serde::Deserialize;

    #[derive(Deserialize)]
    pub struct Price {
        pub cents: u64,
        pub tax_cents: u64,
    }

    #[derive(Deserialize)]
    pub enum Status {
        Open,
        Closed { at: u64 },
        Moved(String, Box<Status>),
    }

    #[derive(Deserialize)]
    pub struct Order {
        pub price: Price,
        pub status: Option<Status>,
        pub lines: Vec<(u32, Price)>,
    }
}

mod same_as_build1 {
    use serde::Deserialize;

    #[derive(Deserialize)]
    pub struct Price {
        pub cents: u64,
        pub tax_cents: u64,
    }

    #[derive(Deserialize)]
    pub enum Status {
        Open,
        Closed { at: u64 },
        Moved(String, Box<Status>),
    }

    #[derive(Deserialize)]
    pub struct Order {
        pub price: Price,
        pub status: Option<Status>,
        pub lines: Vec<(u32, Price)>,
    }
}

fn traced<V: DeserializeOwned>() -> String {
    describe::<V>().unwrap_or_else(|error| panic!("{}: {error}", std::any::type_name::<V>()))
}

#[test]
fn equal_shapes_give_equal_fingerprints() {
    assert_eq!(traced::<build1::Order>(), traced::<same_as_build1::Order>());
    assert_eq!(
        shape_of::<build1::Order>(),
        shape_of::<same_as_build1::Order>()
    );
    assert_eq!(shape_of::<build1::Price>(), shape_of::<build1::Price>());
    assert_ne!(shape_of::<build1::Price>(), shape_of::<build1::Order>());
}

#[test]
fn swapped_fields_differ() {
    #[derive(Deserialize)]
    struct Price {
        tax_cents: u64,
        cents: u64,
    }
    assert_ne!(shape_of::<Price>(), shape_of::<build1::Price>());
}

#[test]
fn a_changed_primitive_type_differs() {
    #[derive(Deserialize)]
    struct Price {
        cents: i64,
        tax_cents: u64,
    }
    assert_ne!(shape_of::<Price>(), shape_of::<build1::Price>());
    assert_ne!(shape_of::<u64>(), shape_of::<i64>());
    assert_ne!(shape_of::<u32>(), shape_of::<u64>());
    assert_ne!(shape_of::<Vec<u8>>(), shape_of::<Vec<u16>>());
    assert_ne!(shape_of::<Option<u8>>(), shape_of::<u8>());
}

#[test]
fn an_inserted_renamed_or_changed_variant_differs() {
    mod inserted {
        #[derive(serde::Deserialize)]
        pub enum Status {
            Open,
            Paused,
            Closed { at: u64 },
            Moved(String, Box<Status>),
        }
    }
    mod renamed {
        #[derive(serde::Deserialize)]
        pub enum Status {
            Open,
            Shut { at: u64 },
            Moved(String, Box<Status>),
        }
    }
    mod last_changed {
        #[derive(serde::Deserialize)]
        pub enum Status {
            Open,
            Closed { at: u64 },
            Moved(u32, Box<Status>),
        }
    }
    let base = shape_of::<build1::Status>();
    assert_ne!(shape_of::<inserted::Status>(), base);
    assert_ne!(shape_of::<renamed::Status>(), base);
    assert_ne!(shape_of::<last_changed::Status>(), base);
}

#[test]
fn a_change_deep_in_the_nesting_differs() {
    mod deep {
        use serde::Deserialize;

        #[derive(Deserialize)]
        pub struct Price {
            pub cents: u64,
            pub tax_cents: u32,
        }

        #[derive(Deserialize)]
        pub enum Status {
            Open,
            Closed { at: u64 },
            Moved(String, Box<Status>),
        }

        #[derive(Deserialize)]
        pub struct Order {
            pub price: super::build1::Price,
            pub status: Option<Status>,
            // Only the `Price` inside the tuple inside the `Vec` changed.
            pub lines: Vec<(u32, Price)>,
        }
    }
    assert_ne!(shape_of::<deep::Order>(), shape_of::<build1::Order>());
    // A struct flattened by hand into a tuple is another shape too.
    assert_ne!(shape_of::<(u64, u64)>(), shape_of::<build1::Price>());
}

#[test]
fn an_enum_reached_only_through_a_later_variant_is_traced_whole() {
    mod one {
        #[derive(serde::Deserialize)]
        pub enum Outer {
            A,
            B(Inner),
        }
        #[derive(serde::Deserialize)]
        pub enum Inner {
            X,
            Y(u8),
        }
    }
    mod two {
        #[derive(serde::Deserialize)]
        pub enum Outer {
            A,
            B(Inner),
        }
        #[derive(serde::Deserialize)]
        pub enum Inner {
            X,
            Y(u16),
        }
    }
    assert_ne!(shape_of::<one::Outer>(), shape_of::<two::Outer>());
    let text = traced::<one::Outer>();
    assert!(text.contains("\"Inner\"#1=newtype u8"), "{text}");
}

#[test]
fn recursive_types_are_traced_and_their_changes_seen() {
    mod list {
        #[derive(serde::Deserialize)]
        pub enum List {
            Cons(u32, Box<List>),
            Nil,
        }
    }
    mod list64 {
        #[derive(serde::Deserialize)]
        pub enum List {
            Cons(u64, Box<List>),
            Nil,
        }
    }
    mod tree {
        #[derive(serde::Deserialize)]
        pub struct Tree {
            pub children: Vec<(Tree, u8)>,
            pub parent: Option<Box<Tree>>,
        }
    }
    mod tree16 {
        #[derive(serde::Deserialize)]
        pub struct Tree {
            pub children: Vec<(Tree, u16)>,
            pub parent: Option<Box<Tree>>,
        }
    }
    assert!(describe::<list::List>().is_ok());
    assert!(describe::<tree::Tree>().is_ok());
    assert_ne!(shape_of::<list::List>(), shape_of::<list64::List>());
    assert_ne!(shape_of::<tree::Tree>(), shape_of::<tree16::Tree>());
}

#[test]
fn standard_types_trace() {
    assert!(describe::<HashMap<String, Vec<Option<NonZeroU64>>>>().is_ok());
    assert!(describe::<BTreeMap<u8, [u16; 4]>>().is_ok());
    assert!(describe::<(char, bool, f64, (), std::time::Duration)>().is_ok());
    assert!(describe::<std::net::IpAddr>().is_ok());
    assert_ne!(shape_of::<HashMap<u8, u8>>(), shape_of::<Vec<(u8, u8)>>());
}

#[test]
fn untraceable_types_fall_back_to_their_name() {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Loose {
        Number(u64),
        Text(String),
    }
    #[derive(Deserialize)]
    struct Flattened {
        id: u64,
        #[serde(flatten)]
        rest: HashMap<String, u64>,
    }
    #[derive(Deserialize)]
    #[serde(tag = "kind")]
    enum Tagged {
        A { x: u8 },
    }
    assert!(describe::<Loose>().is_err());
    assert!(describe::<Flattened>().is_err());
    assert!(describe::<Tagged>().is_err());
    assert_eq!(shape_of::<Loose>(), untraced::<Loose>());
    assert_eq!(shape_of::<Flattened>(), untraced::<Flattened>());
    assert_ne!(shape_of::<Loose>(), shape_of::<Flattened>());
    // A traced shape is never taken for an untraced one.
    assert_ne!(shape_of::<u64>(), untraced::<u64>());
}

#[test]
fn two_different_types_of_one_name_in_one_value_are_both_traced() {
    mod a {
        #[derive(serde::Deserialize)]
        pub struct Item(pub u8);
    }
    mod b {
        #[derive(serde::Deserialize)]
        pub struct Item(pub u16);
    }
    mod b_edited {
        #[derive(serde::Deserialize)]
        pub struct Item(pub u32);
    }
    mod also_a {
        #[derive(serde::Deserialize)]
        pub struct Item(pub u8);
    }
    let both = traced::<(a::Item, b::Item)>();
    assert!(both.contains("newtype_struct u16"), "{both}");
    // An edit of either is seen; the text names no Rust path, so a build
    // with the same shapes elsewhere gives the same text.
    assert_ne!(both, traced::<(a::Item, b_edited::Item)>());
    assert_ne!(both, traced::<(b::Item, a::Item)>());
    assert_eq!(both, traced::<(also_a::Item, b::Item)>());
    assert!(describe::<(a::Item, a::Item)>().is_ok());
}

/// Generic envelopes of themselves (`Envelope<Envelope<Price>>`): the inner
/// one is another type of the same serde name, traced to the end, not a
/// recursion.
mod wrap {
    #[derive(serde::Deserialize)]
    pub struct Wrapper<T> {
        pub data: T,
    }

    #[derive(serde::Deserialize)]
    pub enum Resp<T> {
        Done(T),
        Failed(String),
    }

    #[derive(serde::Deserialize)]
    pub struct Price {
        pub tax_cents: u64,
        pub cents: u64,
    }
}

mod same_wrap {
    #[derive(serde::Deserialize)]
    pub struct Wrapper<T> {
        pub data: T,
    }
}

#[test]
fn a_type_nested_in_a_type_of_its_own_name_is_traced() {
    use wrap::{Resp, Wrapper};
    assert_ne!(
        shape_of::<Wrapper<Wrapper<u64>>>(),
        shape_of::<Wrapper<Wrapper<i64>>>()
    );
    assert_ne!(
        shape_of::<Wrapper<Wrapper<build1::Price>>>(),
        shape_of::<Wrapper<Wrapper<wrap::Price>>>()
    );
    assert_ne!(
        shape_of::<Result<Result<u64, String>, String>>(),
        shape_of::<Result<Result<i64, String>, String>>()
    );
    assert_ne!(
        shape_of::<Resp<Resp<Wrapper<u64>>>>(),
        shape_of::<Resp<Resp<Wrapper<i64>>>>()
    );
    assert_ne!(
        shape_of::<Wrapper<Wrapper<Wrapper<u8>>>>(),
        shape_of::<Wrapper<Wrapper<Wrapper<u16>>>>()
    );
    // Equal shapes in two builds still agree.
    assert_eq!(
        traced::<Wrapper<Wrapper<build1::Price>>>(),
        traced::<same_wrap::Wrapper<same_wrap::Wrapper<same_as_build1::Price>>>()
    );
    let text = traced::<Wrapper<Wrapper<u64>>>();
    assert!(text.contains("u64"), "{text}");
}

#[test]
fn recursion_through_generic_and_nested_types_ends() {
    #[derive(Deserialize)]
    struct List {
        value: u8,
        next: Option<Box<List>>,
    }
    #[derive(Deserialize)]
    struct Node<T> {
        value: T,
        children: Vec<Node<T>>,
    }
    #[derive(Deserialize)]
    enum Expr {
        Leaf(u8),
        Pair(Box<wrap::Wrapper<Expr>>, Box<Expr>),
    }
    assert!(describe::<List>().is_ok());
    assert!(describe::<wrap::Wrapper<wrap::Wrapper<List>>>().is_ok());
    assert!(describe::<Node<Node<u8>>>().is_ok());
    assert!(describe::<Expr>().is_ok());
    assert_ne!(shape_of::<Node<Node<u8>>>(), shape_of::<Node<Node<u16>>>());
    assert_ne!(shape_of::<Node<u8>>(), shape_of::<Node<Node<u8>>>());
}

/// A value type whose `Deserialize` panics on input it does not expect
/// (here, a currency code shorter than three letters).
struct Currency([u8; 3]);

/// Calls of `Currency::deserialize`.
static CURRENCY_READS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Currency, D::Error> {
        CURRENCY_READS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let code = String::deserialize(deserializer)?;
        let letters = &code.as_bytes()[0..3];
        Ok(Currency([letters[0], letters[1], letters[2]]))
    }
}

#[test]
fn a_deserialize_that_panics_on_made_up_values_falls_back() {
    let reads = || CURRENCY_READS.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(shape_of::<Currency>(), untraced::<Currency>());
    let traced_once = reads();
    assert!(traced_once > 0);
    // Once per process per type: the second call reads the table.
    assert_eq!(shape_of::<Currency>(), untraced::<Currency>());
    assert_eq!(reads(), traced_once);
    assert!(describe::<Currency>().is_err());
    assert!(describe::<Vec<Currency>>().is_err());
}
