//! Stage 3: the generated code, in the shape fixed by `docs/PRIVATE_API.md`.
//!
//! The user's function keeps its attributes, visibility and signature; its
//! body becomes a closure (or an `async move` block) handed to one runtime
//! function. Next to it goes the function that invalidates its cached
//! values (`invalidator.rs`), which builds its key with the same code.
//! Everything the expansion calls is under `::antidogpile::__private`.

use crate::args::Args;
use crate::args::Returns;
use crate::fallback;
use crate::invalidator;
use crate::validate::{self, KeyParts, Memoized, Shape, SiteSpec};
use proc_macro2::{Literal, Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::ext::IdentExt as _;
use syn::spanned::Spanned as _;
use syn::{AttrStyle, Expr, Ident, ItemFn};

/// The whole macro: parse, check, then expand, or emit the errors with the
/// function unchanged.
pub(crate) fn antidogpiled(args: TokenStream, item: TokenStream) -> TokenStream {
    let parsed = syn::parse2::<Args>(args.clone());
    let checked = match parse_function(item.clone()) {
        Ok(func) => validate::check(parsed, &args, func),
        Err(mut error) => {
            if let Err(args_error) = parsed {
                error.combine(args_error);
            }
            Err(error)
        }
    };
    match checked {
        Ok(memoized) => expand(&memoized),
        Err(error) => fallback::emit(&error, args, item),
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
    for param in &key.impl_args {
        let param = as_expansion(param);
        steps.push(quote_spanned!(param.span()=> #h.type_of_val(&#param);));
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

/// The runtime's `Outcome` for the return type (the invalidator names it
/// too: the value's shape is part of the key in a store that keeps bytes).
pub(crate) fn outcome(memoized: &Memoized) -> TokenStream {
    let ty = &memoized.output;
    match memoized.shape {
        Shape::Outcome(_) => ty.to_token_stream(),
        Shape::Plain { .. } => quote!(::antidogpile::__private::Always<#ty>),
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
    let shape = memoized.shape;
    let outcome = outcome(memoized);
    // A plain `T` by its spelling goes through `plain`, which reports a `T`
    // that is a `Result` or an `Option` under another name.
    let wrap = |value: TokenStream| match shape {
        Shape::Plain { chosen: false } => {
            quote!(::antidogpile::__private::plain(&__ANTIDOGPILE_SITE, #value))
        }
        _ => quote!(#always(#value)),
    };
    let generics = match (is_async, background) {
        (false, false) => quote!(::<#outcome>),
        // The closure's return type names the outcome: the closure is an
        // `impl FnOnce` in docs/PRIVATE_API.md but a named type parameter in
        // the runtime, and only a call without turbofish fits both.
        (false, true) => TokenStream::new(),
        (true, _) => quote!(::<#outcome, _>),
    };
    let compute = match (is_async, &shape) {
        (false, Shape::Outcome(_)) => quote!(move || -> #ty #body),
        // The inner closure keeps `return` in the body meaning "return a T".
        (false, Shape::Plain { .. }) => {
            let value = wrap(quote!((move || -> #ty #body)()));
            quote!(move || -> #outcome { #value })
        }
        (true, Shape::Outcome(_)) => quote!(async move #body),
        (true, Shape::Plain { .. }) => {
            let value = wrap(quote!(async move #body.await));
            quote!(async move { #value })
        }
    };
    let call = quote!(#function #generics(&__ANTIDOGPILE_SITE, #key, #compute));
    let call = if is_async { quote!(#call.await) } else { call };
    // `result` or `option` on a type spelled otherwise: the compiler checks
    // that it is one, at the return type.
    let check = match shape {
        Shape::Outcome(Some(Returns::Result)) => {
            quote_spanned!(ty.span()=> ::antidogpile::__private::expect_result::<#ty>();)
        }
        Shape::Outcome(Some(_)) => {
            quote_spanned!(ty.span()=> ::antidogpile::__private::expect_option::<#ty>();)
        }
        _ => TokenStream::new(),
    };
    match shape {
        Shape::Outcome(_) => quote!(#check #call),
        Shape::Plain { .. } => quote!(#call.0),
    }
}
