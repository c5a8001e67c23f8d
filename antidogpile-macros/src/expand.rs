//! Stage 3: the generated code, in the shape fixed by `docs/PRIVATE_API.md`.
//!
//! The user's function keeps its attributes, visibility and signature; its
//! body becomes a closure (or an `async move` block) handed to one runtime
//! function. Next to it goes the function that invalidates its cached
//! values (`invalidator.rs`), which builds its key with the same code.
//! Everything the expansion calls is under `::antidogpile::__private`.

use crate::args::Args;
use crate::fallback;
use crate::invalidator;
use crate::validate::{self, KeyParts, Memoized, SiteSpec};
use proc_macro2::{Literal, Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::ext::IdentExt as _;
use syn::spanned::Spanned as _;
use syn::{AttrStyle, Expr, Ident, ItemFn, Type};

/// The whole macro: parse, check, then expand, or emit the errors with the
/// function unchanged.
pub(crate) fn antidogpiled(args: TokenStream, item: TokenStream) -> TokenStream {
    let args = syn::parse2::<Args>(args);
    let checked = match parse_function(item.clone()) {
        Ok(func) => validate::check(args, func),
        Err(mut error) => {
            if let Err(args_error) = args {
                error.combine(args_error);
            }
            Err(error)
        }
    };
    match checked {
        Ok(memoized) => expand(&memoized),
        Err(error) => fallback::emit(&error, item),
    }
}

/// The item, if it is a function with a body.
fn parse_function(item: TokenStream) -> syn::Result<ItemFn> {
    syn::parse2::<ItemFn>(item.clone()).map_err(|error| match syn::parse2::<syn::Item>(item) {
        // Some other item, or a function without a body (`fn f();`).
        Ok(_) => syn::Error::new(
            Span::call_site(),
            "#[antidogpiled] applies to a `fn` or `async fn` with a body",
        ),
        Err(_) => error,
    })
}

/// The memoized function, and the function that invalidates its values.
pub(crate) fn expand(memoized: &Memoized) -> TokenStream {
    let mut tokens = memoized_fn(memoized);
    if let Some(name) = &memoized.invalidate {
        tokens.extend(invalidator::invalidator(memoized, name));
    }
    tokens
}

/// The user's function, its body turned into the call into the runtime.
fn memoized_fn(memoized: &Memoized) -> TokenStream {
    let ItemFn {
        attrs, vis, sig, ..
    } = &memoized.func;
    let outer = attrs
        .iter()
        .filter(|attr| matches!(attr.style, AttrStyle::Outer));
    // Inner attributes (`#![allow(...)]`) stay at the top of the body, where
    // they apply to everything the body turned into.
    let inner = attrs
        .iter()
        .filter(|attr| matches!(attr.style, AttrStyle::Inner(_)));
    let site_and_key = site_and_key(memoized);
    let call = call(memoized);
    quote! {
        #(#outer)*
        #vis #sig {
            #(#inner)*
            #site_and_key
            #call
        }
    }
}

/// The `Site` static and `let __antidogpile_key = ...;`: the statements the
/// memoized function and its invalidator share, so that an invalidation
/// reaches exactly the value a call with the same arguments reads.
pub(crate) fn site_and_key(memoized: &Memoized) -> TokenStream {
    let site = site(&memoized.func, &memoized.site);
    let key = key(memoized);
    quote!(#site #key)
}

/// A user's argument, used by code of this expansion: it keeps its
/// location, so that an error (such as "does not implement Serialize")
/// points at it, but lints about the user's code (such as clippy's
/// `used_underscore_binding` for an argument `_hint`) do not fire on it.
pub(crate) fn as_expansion(param: &Ident) -> Ident {
    let mut param = param.clone();
    param.set_span(param.span().resolved_at(Span::call_site()));
    param
}

/// The hasher and the key: local variables the user's body must not see.
fn hasher() -> Ident {
    Ident::new("__h", Span::mixed_site())
}

pub(crate) fn key_var() -> Ident {
    Ident::new("__antidogpile_key", Span::mixed_site())
}

/// `static __ANTIDOGPILE_SITE: Site = Site::new(namespace, SiteOptions { .. });`
fn site(func: &ItemFn, site: &SiteSpec) -> TokenStream {
    let namespace = match &site.namespace {
        Some(name) => quote!(#name),
        None => {
            let fn_name = func.sig.ident.unraw().to_string();
            quote!(::core::concat!(::core::module_path!(), "::", #fn_name))
        }
    };
    let soft_ms = Literal::u64_unsuffixed(site.soft_ms);
    let factor = optional(site.factor.map(Literal::u32_unsuffixed));
    let grace_ms = optional(site.grace_ms.map(Literal::u64_unsuffixed));
    let version = Literal::u32_unsuffixed(site.version);
    let cache = optional(site.cache.as_deref().map(Literal::string));
    let jitter = Literal::f64_unsuffixed(site.jitter);
    let background = site.background;
    quote! {
        static __ANTIDOGPILE_SITE: ::antidogpile::__private::Site =
            ::antidogpile::__private::Site::new(
                #namespace,
                ::antidogpile::__private::SiteOptions {
                    soft_ms: #soft_ms,
                    factor: #factor,
                    grace_ms: #grace_ms,
                    version: #version,
                    cache: #cache,
                    jitter: #jitter,
                    background: #background,
                },
            );
    }
}

fn optional(value: Option<Literal>) -> TokenStream {
    match value {
        Some(value) => quote!(::core::option::Option::Some(#value)),
        None => quote!(::core::option::Option::None),
    }
}

/// `let __antidogpile_key = { ... __h.finish() };`
fn key(memoized: &Memoized) -> TokenStream {
    let h = hasher();
    let key = &memoized.key;
    let mut steps = Vec::new();
    if key.self_type {
        steps.push(quote!(#h.type_param::<Self>();));
    }
    for param in &key.type_params {
        steps.push(quote_spanned!(param.span()=> #h.type_param::<#param>();));
    }
    let args = match &key.parts {
        KeyParts::Args(args) => args.as_slice(),
        KeyParts::Expr(_) => &[],
    };
    for param in key.const_params.iter().chain(args) {
        let param = as_expansion(param);
        steps.push(quote_spanned!(param.span()=> #h.arg(&#param);));
    }
    if let KeyParts::Expr(expr) = &key.parts {
        let span = expr.span();
        // Parenthesized so that `key = a + b` hashes `a + b`, not `&a + b`.
        let expr = match expr {
            Expr::Paren(_) | Expr::Tuple(_) => expr.to_token_stream(),
            _ => quote!((#expr)),
        };
        steps.push(quote_spanned!(span=> #h.arg(&#expr);));
    }
    let new = quote!(::antidogpile::__private::KeyHasher::new(
        &__ANTIDOGPILE_SITE
    ));
    let key_var = key_var();
    if steps.is_empty() {
        quote!(let #key_var = #new.finish();)
    } else {
        quote! {
            let #key_var = {
                let mut #h = #new;
                #(#steps)*
                #h.finish()
            };
        }
    }
}

/// How the return type maps onto the runtime's `Outcome`.
enum Shape {
    /// `Result<T, E>` or `Option<T>`: an `Outcome` as it is.
    Outcome,
    /// Any other `T`: wrapped in `Always<T>` for the call, unwrapped after.
    Plain,
}

/// Classifies the return type by its last path segment: the macro cannot
/// resolve aliases, so `io::Result<T>` is a `Result` and `MyResult` is not.
fn shape(ty: &Type) -> Shape {
    match ty {
        Type::Group(group) => shape(&group.elem),
        Type::Paren(paren) => shape(&paren.elem),
        Type::Path(path) if path.qself.is_none() => match path.path.segments.last() {
            Some(last) if last.ident == "Result" || last.ident == "Option" => Shape::Outcome,
            _ => Shape::Plain,
        },
        _ => Shape::Plain,
    }
}

/// The runtime's `Outcome` for the return type (the invalidator names it
/// too: the value's shape is part of the key in a store that keeps bytes).
pub(crate) fn outcome(memoized: &Memoized) -> TokenStream {
    let ty = &memoized.output;
    match shape(ty) {
        Shape::Outcome => ty.to_token_stream(),
        Shape::Plain => quote!(::antidogpile::__private::Always<#ty>),
    }
}

/// The call into the runtime, with the body as its `compute`.
fn call(memoized: &Memoized) -> TokenStream {
    let body = &memoized.func.block;
    let ty = &memoized.output;
    let key = key_var();
    let is_async = memoized.func.sig.asyncness.is_some();
    let background = memoized.site.background;
    let function = match (is_async, background) {
        (false, false) => "memoize",
        (false, true) => "memoize_background",
        (true, false) => "memoize_async",
        (true, true) => "memoize_async_background",
    };
    // Spanned at the return type: a type that cannot be cached is reported
    // there.
    let function = Ident::new(function, ty.span());
    let function = quote_spanned!(ty.span()=> ::antidogpile::__private::#function);
    let always = quote!(::antidogpile::__private::Always);
    let shape = shape(ty);
    let outcome = outcome(memoized);
    let generics = match (is_async, background) {
        (false, false) => quote!(::<#outcome>),
        // The closure's return type names the outcome: the closure is an
        // `impl FnOnce` in docs/PRIVATE_API.md but a named type parameter in
        // the runtime, and only a call without turbofish fits both.
        (false, true) => TokenStream::new(),
        (true, _) => quote!(::<#outcome, _>),
    };
    let compute = match (is_async, &shape) {
        (false, Shape::Outcome) => quote!(move || -> #ty #body),
        // The inner closure keeps `return` in the body meaning "return a T".
        (false, Shape::Plain) => quote!(move || -> #outcome { #always((move || -> #ty #body)()) }),
        (true, Shape::Outcome) => quote!(async move #body),
        (true, Shape::Plain) => quote!(async move { #always(async move #body.await) }),
    };
    let call = quote!(#function #generics(&__ANTIDOGPILE_SITE, #key, #compute));
    let call = if is_async { quote!(#call.await) } else { call };
    match shape {
        Shape::Outcome => call,
        Shape::Plain => quote!(#call.0),
    }
}

#[cfg(test)]
mod tests {
    use super::{shape, Shape};
    use syn::Type;

    fn is_outcome(ty: &str) -> bool {
        let ty: Type = syn::parse_str(ty).unwrap();
        matches!(shape(&ty), Shape::Outcome)
    }

    #[test]
    fn results_and_options_are_outcomes_by_their_last_segment() {
        assert!(is_outcome("Result<u8, String>"));
        assert!(is_outcome("std::io::Result<u8>"));
        assert!(is_outcome("::core::result::Result<u8, E>"));
        assert!(is_outcome("anyhow::Result<Vec<u8>>"));
        assert!(is_outcome("Option<u8>"));
        assert!(is_outcome("std::option::Option<Self>"));
        assert!(is_outcome("(Option<u8>)"));
    }

    #[test]
    fn every_other_type_is_plain() {
        assert!(!is_outcome("u8"));
        assert!(!is_outcome("MyResult<u8>"));
        assert!(!is_outcome("Result::Ok"));
        assert!(!is_outcome("Vec<Result<u8, E>>"));
        assert!(!is_outcome("Result<u8, E>::Output"));
        assert!(!is_outcome("<T as Trait>::Result"));
        assert!(!is_outcome("(Result<u8, E>, u8)"));
        assert!(!is_outcome("[Option<u8>; 2]"));
        assert!(!is_outcome("Self"));
    }
}
