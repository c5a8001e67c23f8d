//! Stage 3, continued: the sibling of a memoized function that invalidates
//! the value cached for some arguments, `report_invalidate(customer, how)`.
//!
//! It takes the same receiver, generics and arguments as the memoized
//! function, plus `how: Invalidate`, and builds its key with the same
//! statements (`expand::site_and_key`): the key cannot drift from the one
//! calls read. Its `Site` is a second static with the same namespace and
//! options (a static cannot be hoisted out of a method into its `impl`), which
//! is enough: a key depends only on the namespace, the version, the
//! arguments and (in a store that keeps bytes) the shape of the return
//! type's value, which the invalidator names as the memoized call does.

use crate::expand::{as_expansion, key_var, outcome, site_and_key};
use crate::validate::{KeyParts, Memoized};
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::ext::IdentExt as _;
use syn::{parse_quote, AttrStyle, Attribute, FnArg, Ident, Meta, Pat};

/// `name_invalidate`, spanned at the attribute: in a trait impl, where it
/// cannot go (a trait impl may only define the trait's functions), the
/// compiler's "not a member of trait" then points at `#[antidogpiled(..)]`
/// rather than at the user's function name. The macro cannot see the impl
/// it is in, so it only emits one there by default for an associated
/// function it cannot tell from a free one (`validate::default_invalidator`);
/// its docs name the fix, `invalidate = false`.
pub(crate) fn default_name(fn_name: &Ident) -> Ident {
    format_ident!("{}_invalidate", fn_name.unraw(), span = Span::call_site())
}

/// `fn name(<the same arguments>, how: Invalidate) -> Result<bool, Error>`.
pub(crate) fn invalidator(memoized: &Memoized, name: &Ident) -> TokenStream {
    let func = &memoized.func;
    // Hygienic: an argument of the user's named `how` stays distinct.
    let how = Ident::new("how", Span::mixed_site());
    let mut sig = func.sig.clone();
    sig.ident = name.clone();
    // `mut x: T` in the memoized function is for its body; here it would
    // be an unused `mut`.
    for input in &mut sig.inputs {
        if let FnArg::Typed(arg) = input {
            if let Pat::Ident(pat) = &mut *arg.pat {
                pat.mutability = None;
            }
        }
    }
    sig.inputs
        .push(parse_quote!(#how: ::antidogpile::Invalidate));
    sig.output = parse_quote!(-> ::core::result::Result<bool, ::antidogpile::Error>);
    let vis = &func.vis;
    let doc = doc(&func.sig.ident.unraw().to_string());
    let attrs = func.attrs.iter().filter_map(kept_attribute);
    let site_and_key = site_and_key(memoized);
    let unused = unused_arguments(memoized);
    let key = key_var();
    // The value's shape is part of the key in a store that keeps bytes. The
    // outcome is named through a probe, not a bound: a return type that
    // cannot be cached is reported at the memoized call only.
    let outcome = outcome(memoized);
    let shape = Ident::new("__antidogpile_shape", Span::mixed_site());
    let find_shape = quote! {
        #[allow(clippy::needless_borrow)]
        let #shape = {
            #[allow(unused_imports)]
            use ::antidogpile::__private::{NoShape as _, OutcomeShape as _};
            (&&::antidogpile::__private::ShapeOf::<#outcome>::new()).value_shape()
        };
    };
    let call = if func.sig.asyncness.is_some() {
        quote!(::antidogpile::__private::invalidate_async(&__ANTIDOGPILE_SITE, #key, #how, #shape).await)
    } else {
        quote!(::antidogpile::__private::invalidate(&__ANTIDOGPILE_SITE, #key, #how, #shape))
    };
    quote! {
        #(#[doc = #doc])*
        #(#attrs)*
        // Never calling it is fine; it takes one argument more than the
        // memoized function, and by-value arguments it only hashes.
        #[allow(
            dead_code,
            clippy::too_many_arguments,
            clippy::needless_pass_by_value
        )]
        #vis #sig {
            #site_and_key
            #(#unused)*
            #find_shape
            #call
        }
    }
}

/// The generated function's documentation, one line per `#[doc]`.
fn doc(fn_name: &str) -> Vec<String> {
    vec![
        format!(
            " Invalidates the value `{fn_name}` cached for these arguments (the value a call \
             of `{fn_name}` with them would read):"
        ),
        String::new(),
        " - `Invalidate::Soft` marks it stale: the next caller recomputes it while the \
         others are served the old value at once;"
            .to_owned(),
        " - `Invalidate::Hard` removes it: the next caller computes it and the others wait \
         for that value."
            .to_owned(),
        String::new(),
        " Returns whether there was a value (always `true` for `Invalidate::Hard`). Arguments \
         that are not part of the key (`skip`) change nothing."
            .to_owned(),
        String::new(),
        " # Errors".to_owned(),
        String::new(),
        " `antidogpile::Error::Store` when the store fails.".to_owned(),
        String::new(),
        " Generated by `#[antidogpiled]` (`invalidate = false` turns it off, \
         `invalidate = \"other_name\"` renames it)."
            .to_owned(),
    ]
}

/// The user's attributes that apply to the generated function as well:
/// `cfg` (it exists when the memoized function does), lint levels (its
/// signature is the memoized function's; an `expect` becomes an `allow`,
/// as the lint may not fire twice) and `doc(hidden)`. An inner attribute
/// (`#![allow(..)]` in the body) applies to the whole function: it is kept
/// as an outer one.
fn kept_attribute(attr: &Attribute) -> Option<Attribute> {
    let mut attr = attr.clone();
    attr.style = AttrStyle::Outer;
    let path = attr.path();
    let keep = ["cfg", "allow", "warn", "deny", "forbid"]
        .iter()
        .any(|name| path.is_ident(name))
        || (path.is_ident("doc")
            && matches!(&attr.meta, Meta::List(list) if list.tokens.to_string() == "hidden"));
    if keep {
        return Some(attr);
    }
    match &attr.meta {
        Meta::List(list) if path.is_ident("expect") => {
            let lints = &list.tokens;
            Some(parse_quote!(#[allow(#lints)]))
        }
        _ => None,
    }
}

/// `let _ = &arg;` for the receiver and each named argument the key does
/// not hash, so that none is reported unused. Arguments named `_x` are
/// never reported, and are left alone. With `key = expr`, every argument
/// gets one: the expression may or may not read it.
fn unused_arguments(memoized: &Memoized) -> Vec<TokenStream> {
    let hashed = match &memoized.key.parts {
        KeyParts::Args(args) => args.as_slice(),
        KeyParts::Expr(_) => &[],
    };
    let mut unused = Vec::new();
    for input in &memoized.func.sig.inputs {
        match input {
            FnArg::Receiver(receiver) => {
                let this = &receiver.self_token;
                unused.push(quote!(let _ = &#this;));
            }
            FnArg::Typed(arg) => {
                if let Pat::Ident(pat) = &*arg.pat {
                    let name = &pat.ident;
                    if !hashed.contains(name) && !name.to_string().starts_with('_') {
                        let name = as_expansion(name);
                        unused.push(quote!(let _ = &#name;));
                    }
                }
            }
        }
    }
    unused
}
