//! When the attribute or the function is wrong: the errors, the user's
//! function exactly as written, and a stand-in for its invalidator.
//!
//! Emitting the function keeps its callers compiling, so the only errors the
//! user sees are the ones that explain the mistake, not a cascade of
//! "cannot find function" at every call site; and the IDE keeps its
//! completions and go-to-definition. The invalidator's callers are kept
//! compiling the same way: a function of the same name and signature whose
//! body never runs (the crate does not compile).

use crate::{invalidator, validate};
use proc_macro2::{Span, TokenStream, TokenTree};
use quote::quote;
use syn::{parse_quote, FnArg, Ident, ItemFn, Pat};

pub(crate) fn emit(error: &syn::Error, args: TokenStream, item: TokenStream) -> TokenStream {
    let mut tokens = error.to_compile_error();
    if let Ok(func) = syn::parse2::<ItemFn>(item.clone()) {
        if let Some(name) = invalidator_name(&args, &func) {
            tokens.extend(stand_in(&func, &name));
        }
    }
    tokens.extend(item);
    tokens
}

/// The invalidator's name as the attribute asks for it, read from its
/// tokens alone (the attribute may not parse): `None` for
/// `invalidate = false`. Without a readable `invalidate`, the default of a
/// correct attribute (`validate::default_invalidator`): none for a function
/// that may be in a trait impl, where it would add an error of its own.
fn invalidator_name(args: &TokenStream, func: &ItemFn) -> Option<Ident> {
    let tokens: Vec<TokenTree> = args.clone().into_iter().collect();
    for (i, token) in tokens.iter().enumerate() {
        let TokenTree::Ident(ident) = token else {
            continue;
        };
        let after_comma =
            i == 0 || matches!(&tokens[i - 1], TokenTree::Punct(p) if p.as_char() == ',');
        let then_eq = matches!(tokens.get(i + 1), Some(TokenTree::Punct(p)) if p.as_char() == '=');
        if ident != "invalidate" || !after_comma || !then_eq {
            continue;
        }
        let value = tokens.get(i + 2).map(ToString::to_string);
        match value.as_deref() {
            Some("false") => return None,
            Some("true") => return Some(invalidator::default_name(&func.sig.ident)),
            Some(text) if text.starts_with('"') => {
                let name = syn::parse_str::<syn::LitStr>(text).ok()?.value();
                return syn::parse_str::<Ident>(&name).ok();
            }
            _ => break,
        }
    }
    validate::default_invalidator(func)
}

/// `fn name_invalidate(<the same arguments>, how: Invalidate) ->
/// Result<bool, Error>`, with a body that never runs.
fn stand_in(func: &ItemFn, name: &Ident) -> TokenStream {
    let mut sig = func.sig.clone();
    sig.ident = name.clone();
    // What is refused in the memoized function (`const`, `extern`, `...`)
    // has been reported there; the stand-in is a plain function.
    sig.constness = None;
    sig.abi = None;
    sig.variadic = None;
    // `mut x: T` is for the memoized function's body.
    for input in &mut sig.inputs {
        if let FnArg::Typed(arg) = input {
            if let Pat::Ident(pat) = &mut *arg.pat {
                pat.mutability = None;
            }
        }
    }
    let how = Ident::new("how", Span::mixed_site());
    sig.inputs
        .push(parse_quote!(#how: ::antidogpile::Invalidate));
    sig.output = parse_quote!(-> ::core::result::Result<bool, ::antidogpile::Error>);
    let vis = &func.vis;
    quote! {
        #[allow(dead_code, unused_variables, clippy::all)]
        #vis #sig {
            ::core::result::Result::Ok(false)
        }
    }
}

#[cfg(test)]
mod tests {
    use quote::quote;

    /// The names of the functions the fallback emits for `args` on `fn report`.
    fn emitted(args: proc_macro2::TokenStream) -> Vec<String> {
        emitted_for(
            args,
            quote!(
                fn report(customer: u64) -> u64 {
                    customer
                }
            ),
        )
    }

    /// The names of the functions the fallback emits for `args` on `item`.
    fn emitted_for(args: proc_macro2::TokenStream, item: proc_macro2::TokenStream) -> Vec<String> {
        let error = syn::Error::new(proc_macro2::Span::call_site(), "some mistake");
        let file: syn::File = syn::parse2(super::emit(&error, args, item)).unwrap();
        file.items
            .iter()
            .filter_map(|item| match item {
                syn::Item::Fn(func) => Some(func.sig.ident.to_string()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_invalidator_is_emitted_as_the_attribute_names_it() {
        assert_eq!(
            emitted(quote!(soft = "30x")),
            ["report_invalidate", "report"]
        );
        assert_eq!(
            emitted(quote!(soft = "30x", invalidate = "forget_report")),
            ["forget_report", "report"]
        );
        assert_eq!(
            emitted(quote!(soft = "30x", invalidate = true)),
            ["report_invalidate", "report"]
        );
        // `invalidate = false`: nothing is added.
        assert_eq!(
            emitted(quote!(invalidate = false, soft = "30x")),
            ["report"]
        );
        // Tokens that do not even parse as options still give the default.
        assert_eq!(emitted(quote!(soft = = ,)), ["report_invalidate", "report"]);
    }

    /// A mistake in a trait impl adds no "not a member of trait" error: the
    /// fallback follows the default of a correct attribute.
    #[test]
    fn a_private_associated_fn_gets_a_stand_in_only_when_asked() {
        let method = quote!(
            fn report(&self, customer: u64) -> u64 {
                customer
            }
        );
        assert_eq!(
            emitted_for(quote!(soft = "30x"), method.clone()),
            ["report"]
        );
        assert_eq!(emitted_for(quote!(soft = = ,), method.clone()), ["report"]);
        assert_eq!(
            emitted_for(quote!(soft = "30x", invalidate = true), method.clone()),
            ["report_invalidate", "report"]
        );
        assert_eq!(
            emitted_for(quote!(invalidate = "forget", soft = "30x"), method),
            ["forget", "report"]
        );
        let naming_self = quote!(
            fn load(id: u64) -> Option<Self> {
                None
            }
        );
        assert_eq!(emitted_for(quote!(soft = "30x"), naming_self), ["load"]);
        let public = quote!(
            pub fn report(&self, customer: u64) -> u64 {
                customer
            }
        );
        assert_eq!(
            emitted_for(quote!(soft = "30x"), public),
            ["report_invalidate", "report"]
        );
    }
}
