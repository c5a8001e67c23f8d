//! Snapshots of typical expansions, formatted with prettyplease.
//! `UPDATE_EXPECT=1 cargo test -p antidogpile-macros` rewrites them.

use crate::expand::antidogpiled;
use expect_test::{expect_file, ExpectFile};
use proc_macro2::TokenStream;
use quote::quote;

fn pretty(tokens: TokenStream) -> String {
    let file: syn::File = syn::parse2(tokens).expect("the expansion is a list of items");
    prettyplease::unparse(&file)
}

fn check(args: TokenStream, item: TokenStream, snapshot: &ExpectFile) {
    snapshot.assert_eq(&pretty(antidogpiled(args, item)));
}

#[test]
fn sync_result() {
    check(
        quote!(soft = "30s", factor = 8),
        quote! {
            /// The monthly report of one customer.
            #[inline]
            pub fn report(customer: u64, month: u8) -> Result<Report, DbError> {
                let rows = query(customer, month)?;
                Ok(Report::from(rows))
            }
        },
        &expect_file!["snapshots/sync_result.rs"],
    );
}

#[test]
fn async_result() {
    check(
        quote!(soft = "5m", grace = "10s", jitter = 0.1),
        quote! {
            pub(crate) async fn fetch(url: String) -> Result<Vec<u8>, reqwest::Error> {
                let response = reqwest::get(&url).await?;
                Ok(response.bytes().await?.to_vec())
            }
        },
        &expect_file!["snapshots/async_result.rs"],
    );
}

#[test]
fn option() {
    check(
        quote!(soft = "1h"),
        quote! {
            fn find_user(id: u64) -> Option<User> {
                if id == 0 {
                    return None;
                }
                USERS.get(&id).cloned()
            }
        },
        &expect_file!["snapshots/option.rs"],
    );
}

#[test]
fn plain_method_with_ref_self() {
    check(
        quote!(soft = "250ms", cache = "local"),
        quote! {
            #[must_use]
            pub fn score(&self, word: &str) -> u32 {
                #![allow(clippy::cast_possible_truncation)]
                if word.is_empty() {
                    return 0;
                }
                self.weights.iter().map(|w| w * word.len() as u32).sum()
            }
        },
        &expect_file!["snapshots/plain_method_with_ref_self.rs"],
    );
}

#[test]
fn async_plain() {
    check(
        quote!(soft = "1d"),
        quote! {
            async fn greeting(name: String) -> String {
                format!("hello {name}")
            }
        },
        &expect_file!["snapshots/async_plain.rs"],
    );
}

#[test]
fn skip_version_name() {
    check(
        quote!(
            soft = "1m30s",
            skip(conn, _log),
            version = 3,
            name = "billing::invoice"
        ),
        quote! {
            fn invoice(conn: &Db, id: InvoiceId, _log: &Logger, _: Trace) -> Result<Invoice, Error> {
                conn.load(id)
            }
        },
        &expect_file!["snapshots/skip_version_name.rs"],
    );
}

#[test]
fn key_expression() {
    check(
        // A private method: its invalidator (every argument unused) only when asked.
        quote!(soft = "10s", key = (user.id, page / 10), invalidate = true),
        quote! {
            fn timeline(&self, user: &User, page: u32) -> Option<Timeline> {
                self.store.timeline(user.id, page)
            }
        },
        &expect_file!["snapshots/key_expression.rs"],
    );
}

#[test]
fn background() {
    check(
        quote!(soft = "30s", background),
        quote! {
            fn exchange_rates(base: Currency) -> Result<Rates, Error> {
                download_rates(base)
            }
        },
        &expect_file!["snapshots/background.rs"],
    );
}

#[test]
fn async_background() {
    check(
        quote!(soft = "30s", background = true),
        quote! {
            async fn weather(city: String) -> Weather {
                forecast(&city).await
            }
        },
        &expect_file!["snapshots/async_background.rs"],
    );
}

#[test]
fn generics() {
    check(
        quote!(soft = "2s"),
        quote! {
            fn decode<'a, T, const N: usize>(bytes: &'a [u8; N]) -> Result<T, DecodeError>
            where
                T: serde::de::DeserializeOwned,
            {
                postcard::from_bytes(bytes)
            }
        },
        &expect_file!["snapshots/generics.rs"],
    );
}

#[test]
fn associated_function_naming_self() {
    check(
        quote!(soft = "1s"),
        quote! {
            fn load() -> Option<Self> {
                None
            }
        },
        &expect_file!["snapshots/associated_function_naming_self.rs"],
    );
}

#[test]
fn errors_keep_the_function_as_written() {
    check(
        quote!(soft = "30x", factor = 0),
        quote! {
            fn bump(counter: &mut u64) -> u64 {
                *counter += 1;
                *counter
            }
        },
        &expect_file!["snapshots/errors_keep_the_function_as_written.rs"],
    );
}

#[test]
fn invalidate_renamed() {
    check(
        quote!(soft = "1m", invalidate = "forget_price"),
        quote! {
            #[cfg(feature = "shop")]
            #[expect(clippy::trivially_copy_pass_by_ref)]
            #[doc(hidden)]
            async fn price(&self, sku: &u64, how: Currency) -> Option<u64> {
                self.prices.get(sku, how).await
            }
        },
        &expect_file!["snapshots/invalidate_renamed.rs"],
    );
}

#[test]
fn invalidate_off() {
    check(
        quote!(soft = "1m", invalidate = false),
        quote! {
            fn price(sku: u64) -> Option<u64> {
                PRICES.get(sku)
            }
        },
        &expect_file!["snapshots/invalidate_off.rs"],
    );
}

#[test]
fn invalidator_of_mut_and_ignored_arguments() {
    check(
        quote!(soft = "1m", key = id),
        quote! {
            pub(super) fn total(mut lines: Vec<u64>, id: u64, _trace: u64, _: bool) -> u64 {
                lines.retain(|line| *line > 0);
                lines.iter().sum()
            }
        },
        &expect_file!["snapshots/invalidator_of_mut_and_ignored_arguments.rs"],
    );
}

#[test]
fn impl_trait_arguments() {
    check(
        quote!(soft = "1m", skip(log)),
        quote! {
            fn render(template: &str, value: &[&(impl Serialize + Debug)], log: impl Logger) -> String {
                log.note(template);
                format!("{template}: {value:?}")
            }
        },
        &expect_file!["snapshots/impl_trait_arguments.rs"],
    );
}

#[test]
fn result_option_on_an_alias() {
    check(
        quote!(soft = "1m", result),
        quote! {
            async fn lookup(id: u64) -> Res<u64> {
                db::lookup(id).await
            }
        },
        &expect_file!["snapshots/result_option_on_an_alias.rs"],
    );
}

#[test]
fn value_option_on_an_option() {
    check(
        quote!(soft = "1m", value),
        quote! {
            fn find(id: u64) -> Option<u64> {
                USERS.get(&id).copied()
            }
        },
        &expect_file!["snapshots/value_option_on_an_option.rs"],
    );
}
