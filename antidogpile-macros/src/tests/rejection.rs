//! What `validate` rejects, and that it reports every problem at once.

use crate::validate;
use proc_macro2::TokenStream;
use quote::quote;

/// The messages of checking `item` against `args`; panics if it is accepted.
fn errors(args: TokenStream, item: TokenStream) -> Vec<String> {
    let func = syn::parse2(item).expect("the test item is a function");
    match validate::check(syn::parse2(args.clone()), &args, func) {
        Ok(_) => panic!("expected the function to be rejected"),
        Err(error) => error.into_iter().map(|e| e.to_string()).collect(),
    }
}

/// The one message of checking `item` against `args`.
fn error(args: TokenStream, item: TokenStream) -> String {
    let mut messages = errors(args, item);
    assert_eq!(messages.len(), 1, "{messages:?}");
    messages.remove(0)
}

fn accepted(args: TokenStream, item: TokenStream) -> bool {
    let func = syn::parse2(item).expect("the test item is a function");
    validate::check(syn::parse2(args.clone()), &args, func).is_ok()
}

#[test]
fn soft_is_required() {
    let message = error(
        quote!(factor = 2),
        quote!(
            fn f(x: u8) -> u8 {
                x
            }
        ),
    );
    assert!(message.starts_with("missing `soft`"), "{message}");
    assert!(error(
        quote!(),
        quote!(
            fn f(x: u8) -> u8 {
                x
            }
        )
    )
    .starts_with("missing `soft`"));
}

#[test]
fn skip_must_name_an_argument() {
    assert_eq!(
        error(
            quote!(soft = "1s", skip(y)),
            quote!(
                fn f(x: u8) -> u8 {
                    x
                }
            )
        ),
        "cannot skip `y`: `f` has no argument of that name"
    );
    assert_eq!(
        error(
            quote!(soft = "1s", skip(self)),
            quote!(
                fn f(x: u8) -> u8 {
                    x
                }
            )
        ),
        "cannot skip `self`: `f` has no argument of that name"
    );
    assert_eq!(
        error(
            quote!(soft = "1s", skip(x, x)),
            quote!(
                fn f(x: u8) -> u8 {
                    x
                }
            )
        ),
        "`x` skipped twice"
    );
    assert!(accepted(
        quote!(soft = "1s", skip(self, x)),
        quote!(
            fn f(&self, x: u8) -> u8 {
                x
            }
        )
    ));
}

#[test]
fn key_and_skip_exclude_each_other() {
    let message = error(
        quote!(soft = "1s", key = x, skip(y)),
        quote!(
            fn f(x: u8, y: u8) -> u8 {
                x + y
            }
        ),
    );
    assert!(
        message.starts_with("`skip` and `key` cannot be combined"),
        "{message}"
    );
}

#[test]
fn mutable_borrows_are_rejected() {
    let mutation = "a cached call would skip the mutation";
    for item in [
        quote!(
            fn f(&mut self) -> u8 {
                1
            }
        ),
        quote!(
            fn f(self: &mut Self) -> u8 {
                1
            }
        ),
        quote!(
            fn f(self: &'a mut Self) -> u8 {
                1
            }
        ),
        quote!(
            fn f(x: &mut u8) -> u8 {
                *x
            }
        ),
        quote!(
            fn f(x: &'a mut u8) -> u8 {
                *x
            }
        ),
        quote!(
            fn f(x: Option<&mut u8>) -> u8 {
                1
            }
        ),
        quote!(
            fn f(x: &&mut u8) -> u8 {
                1
            }
        ),
    ] {
        let message = error(quote!(soft = "1s"), item);
        assert!(message.contains(mutation), "{message}");
    }
    assert!(accepted(
        quote!(soft = "1s"),
        quote!(
            fn f(mut self, x: *mut u8) -> u8 {
                1
            }
        )
    ));
    assert!(accepted(
        quote!(soft = "1s"),
        quote!(
            fn f(mut x: u8) -> u8 {
                x += 1;
                x
            }
        )
    ));
}

#[test]
fn mutable_borrows_out_of_the_key_are_accepted() {
    // The sqlx / diesel style: a connection by `&mut`, not part of the key.
    assert!(accepted(
        quote!(soft = "1s", skip(conn)),
        quote!(
            async fn f(conn: &mut Conn, id: u64) -> Option<u8> {
                conn.find(id).await
            }
        )
    ));
    assert!(accepted(
        quote!(soft = "1s", key = id),
        quote!(
            fn f(conn: &mut Conn, id: u64) -> u8 {
                conn.find(id)
            }
        )
    ));
    // Skipping another argument does not cover this one; the error names the fix.
    let message = error(
        quote!(soft = "1s", skip(id)),
        quote!(
            fn f(conn: &mut Conn, id: u64) -> u8 {
                conn.find(id)
            }
        ),
    );
    assert!(message.contains("`skip(conn)`"), "{message}");
    // `&mut self` stays refused: the receiver's state is what the call reads.
    let message = error(
        quote!(soft = "1s", skip(self)),
        quote!(
            fn f(&mut self) -> u8 {
                1
            }
        ),
    );
    assert!(message.contains("`&mut self`"), "{message}");
}

#[test]
fn boxed_futures_name_async_trait() {
    let message = error(
        quote!(soft = "1s"),
        quote!(
            fn price<'life0, 'async_trait>(
                &'life0 self,
                sku: u64,
            ) -> ::core::pin::Pin<Box<dyn ::core::future::Future<Output = u64> + Send + 'async_trait>>
            where
                'life0: 'async_trait,
                Self: 'async_trait,
            {
                Box::pin(async move { sku })
            }
        ),
    );
    assert!(message.starts_with("cannot cache a future"), "{message}");
    assert!(message.contains("#[async_trait]"), "{message}");
}

#[test]
fn borrowed_return_types_ask_for_an_owned_value() {
    for output in [
        quote!(&'static str),
        quote!(&[u8]),
        quote!(Option<&'a str>),
        quote!(Cow<'a, str>),
    ] {
        let message = error(
            quote!(soft = "1s"),
            quote!(
                fn f(id: u64) -> #output {
                    lookup(id)
                }
            ),
        );
        assert!(
            message.starts_with("cannot cache a borrowed return type"),
            "{message}"
        );
        assert!(message.contains("`String` instead of `&str`"), "{message}");
    }
    assert!(accepted(
        quote!(soft = "1s"),
        quote!(
            fn f(id: u64) -> Cow<'static, str> {
                Cow::Borrowed("x")
            }
        )
    ));
}

#[test]
fn arguments_must_be_bound_to_names() {
    for item in [
        quote!(
            fn f((a, b): (u8, u8)) -> u8 {
                a + b
            }
        ),
        quote!(
            fn f(Wrapper(a): Wrapper) -> u8 {
                a
            }
        ),
        quote!(
            fn f(&a: &u8) -> u8 {
                a
            }
        ),
        quote!(
            fn f(all @ Wrapper(_): Wrapper) -> u8 {
                1
            }
        ),
    ] {
        let message = error(quote!(soft = "1s"), item);
        assert!(
            message.contains("bind this argument to a name"),
            "{message}"
        );
    }
    assert!(accepted(
        quote!(soft = "1s"),
        quote!(
            fn f(_: u8, ref x: u8) -> u8 {
                *x
            }
        )
    ));
}

#[test]
fn there_must_be_a_nameable_return_type() {
    let message = error(
        quote!(soft = "1s"),
        quote!(
            fn f(x: u8) {
                drop(x)
            }
        ),
    );
    assert!(message.starts_with("a function without a return type has nothing to cache"));
    let message = error(
        quote!(soft = "1s"),
        quote!(
            fn f(x: u8) -> () {
                drop(x)
            }
        ),
    );
    assert!(message.starts_with("a function returning `()` has nothing to cache"));
    for item in [
        quote!(
            fn f() -> impl Display {
                1
            }
        ),
        quote!(
            fn f() -> Result<impl Display, E> {
                Ok(1)
            }
        ),
    ] {
        let message = error(quote!(soft = "1s"), item);
        assert!(
            message.starts_with("cannot cache an `impl Trait` return type"),
            "{message}"
        );
    }
}

#[test]
fn background_needs_owned_arguments_and_no_self() {
    let message = error(
        quote!(soft = "1s", background),
        quote!(
            fn f(&self) -> u8 {
                1
            }
        ),
    );
    assert!(
        message.starts_with("`background` refresh cannot use `self`"),
        "{message}"
    );
    let message = error(
        quote!(soft = "1s", background),
        quote!(
            fn f(self) -> u8 {
                1
            }
        ),
    );
    assert!(
        message.starts_with("`background` refresh cannot use `self`"),
        "{message}"
    );
    for item in [
        quote!(
            fn f(x: &str) -> u8 {
                1
            }
        ),
        quote!(
            fn f(x: Cow<'a, str>) -> u8 {
                1
            }
        ),
        quote!(
            fn f(x: Vec<&'static str>) -> u8 {
                1
            }
        ),
    ] {
        let message = error(quote!(soft = "1s", background), item);
        assert!(
            message.starts_with("`background` refresh needs owned 'static"),
            "{message}"
        );
    }
    let owned = quote!(
        fn f(x: String, y: Cow<'static, str>) -> u8 {
            1
        }
    );
    assert!(accepted(quote!(soft = "1s", background), owned.clone()));
    assert!(accepted(
        quote!(soft = "1s", background = false),
        quote!(
            fn f(&self, x: &str) -> u8 {
                1
            }
        )
    ));
}

#[test]
fn const_extern_and_variadic_functions_are_rejected() {
    let message = error(
        quote!(soft = "1s"),
        quote!(
            const fn f() -> u8 {
                1
            }
        ),
    );
    assert!(
        message.starts_with("a `const fn` cannot be memoized"),
        "{message}"
    );
    let message = error(
        quote!(soft = "1s"),
        quote!(
            extern "C" fn f() -> u8 {
                1
            }
        ),
    );
    assert!(
        message.starts_with("an `extern` function cannot be memoized"),
        "{message}"
    );
    let messages = errors(
        quote!(soft = "1s"),
        quote!(
            unsafe extern "C" fn f(x: u8, ...) -> u8 {
                x
            }
        ),
    );
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(messages[1].starts_with("a variadic function cannot be memoized"));
}

#[test]
fn every_problem_is_reported_at_once() {
    let messages = errors(
        quote!(skip(nope), key = 1),
        quote!(
            const fn f(x: &mut u8, (a, b): (u8, u8)) {}
        ),
    );
    let starts = [
        "missing `soft`",
        "a `const fn` cannot be memoized",
        // No `&mut` error: with `key = ..` no argument is part of the key.
        "#[antidogpiled] hashes each argument by name",
        "a function without a return type",
        "`skip` and `key` cannot be combined",
        "cannot skip `nope`",
    ];
    assert_eq!(messages.len(), starts.len(), "{messages:?}");
    for (message, start) in messages.iter().zip(starts) {
        assert!(
            message.starts_with(start),
            "{message:?} should start with {start:?}"
        );
    }
}

#[test]
fn attribute_errors_come_with_the_signature_errors() {
    let messages = errors(
        quote!(soft = "1x"),
        quote!(
            fn f((a, b): (u8, u8)) -> u8 {
                a + b
            }
        ),
    );
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(messages[0].starts_with("invalid duration \"1x\""));
    assert!(messages[1].starts_with("#[antidogpiled] hashes each argument by name"));
    // While the attribute does not parse, its tokens still say whether a
    // `&mut` argument is out of the key.
    let messages = errors(
        quote!(soft = "1x"),
        quote!(
            fn f(x: &mut u8) -> u8 {
                *x
            }
        ),
    );
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(messages[1].starts_with("a `&mut` argument"), "{messages:?}");
    let messages = errors(
        quote!(soft = "1x", skip(x)),
        quote!(
            fn f(x: &mut u8) -> u8 {
                *x
            }
        ),
    );
    assert_eq!(messages.len(), 1, "{messages:?}");
}

#[test]
fn defaults_fill_the_options_not_given() {
    let func = syn::parse2(quote!(
        fn f(x: u8) -> u8 {
            x
        }
    ))
    .unwrap();
    let memoized =
        validate::check(syn::parse2(quote!(soft = "2s")), &TokenStream::new(), func).unwrap();
    let site = &memoized.site;
    assert_eq!(site.soft_ms, 2_000);
    assert_eq!(site.factor, None);
    assert_eq!(site.grace_ms, None);
    assert_eq!(site.version, 0);
    assert_eq!(site.cache, None);
    assert_eq!(site.namespace, None);
    assert!(site.jitter == 0.0);
    assert!(!site.background);
}

#[test]
fn unordered_sets_in_hashed_arguments_are_refused_at_the_type() {
    for ty in [
        quote!(HashSet<u8>),
        quote!(std::collections::HashSet<u8>),
        quote!(Option<&FxHashSet<String>>),
        quote!(Vec<(u8, indexmap::IndexSet<u8>)>),
        quote!(&[DashSet<u8>]),
    ] {
        let message = error(
            quote!(soft = "1s"),
            quote!(
                fn f(ids: #ty) -> u8 {
                    1
                }
            ),
        );
        assert!(
            message.contains("equal sets would give different keys"),
            "{message}"
        );
        assert!(message.contains("`BTreeSet`"), "{message}");
        assert!(message.contains("`skip(ids)`"), "{message}");
    }
    // Not hashed: a skipped argument, or `key = expr`. Maps are ordered
    // when they are hashed.
    for (args, item) in [
        (
            quote!(soft = "1s", skip(ids)),
            quote!(
                fn f(ids: HashSet<u8>) -> u8 {
                    1
                }
            ),
        ),
        (
            quote!(soft = "1s", key = 1),
            quote!(
                fn f(ids: HashSet<u8>) -> u8 {
                    1
                }
            ),
        ),
        (
            quote!(soft = "1s"),
            quote!(
                fn f(ids: HashMap<u8, u8>, more: IndexMap<u8, u8>, set: BTreeSet<u8>) -> u8 {
                    1
                }
            ),
        ),
    ] {
        assert!(accepted(args, item));
    }
}

fn ret(option: TokenStream, output: TokenStream) -> syn::Result<validate::Memoized> {
    let func = syn::parse2(quote!(
        fn f(x: u8) -> #output {
            x
        }
    ))
    .expect("the test item is a function");
    validate::check(
        syn::parse2(quote!(soft = "1s", #option)),
        &TokenStream::new(),
        func,
    )
}

#[test]
fn result_option_and_value_decide_the_shape() {
    use crate::args::Returns;
    use validate::Shape;
    let shape = |option, output| ret(option, output).map(|m| m.shape).ok();
    assert_eq!(
        shape(quote!(), quote!(Res<u8>)),
        Some(Shape::Plain { chosen: false })
    );
    assert_eq!(
        shape(quote!(), quote!(io::Result<u8>)),
        Some(Shape::Outcome(None))
    );
    assert_eq!(
        shape(quote!(result), quote!(Res<u8>)),
        Some(Shape::Outcome(Some(Returns::Result)))
    );
    assert_eq!(
        shape(quote!(option), quote!(Maybe<u8>)),
        Some(Shape::Outcome(Some(Returns::Option)))
    );
    assert_eq!(
        shape(quote!(result), quote!(Result<u8, E>)),
        Some(Shape::Outcome(None))
    );
    assert_eq!(
        shape(quote!(option), quote!(Option<u8>)),
        Some(Shape::Outcome(None))
    );
    assert_eq!(
        shape(quote!(value), quote!(Option<u8>)),
        Some(Shape::Plain { chosen: true })
    );
    assert_eq!(
        shape(quote!(value), quote!(u8)),
        Some(Shape::Plain { chosen: true })
    );
}

#[test]
fn result_and_option_may_not_contradict_the_spelling() {
    let messages = |option, output| match ret(option, output) {
        Ok(_) => panic!("expected a contradiction"),
        Err(error) => error.into_iter().map(|e| e.to_string()).collect::<Vec<_>>(),
    };
    assert_eq!(
        messages(quote!(result), quote!(Option<u8>)),
        [
            "`result` contradicts the return type, which is an `Option`: remove `result` \
          (`None` is then not cached), or write `value` to cache `None` too"
        ]
    );
    assert_eq!(
        messages(quote!(option), quote!(std::io::Result<u8>)),
        [
            "`option` contradicts the return type, which is a `Result`: remove `option` \
          (`Err` is then not cached), or write `value` to cache `Err` too"
        ]
    );
    assert_eq!(
        messages(quote!(option, result), quote!(u8)),
        ["`result` contradicts `option`: give one of `result`, `option` and `value`"]
    );
    assert_eq!(
        messages(quote!(value, value), quote!(u8)),
        ["`value` given twice"]
    );
}
