//! Stage 2: checks across the arguments and the function's signature, and the
//! decisions that follow from them (what the key is made of, which defaults
//! apply). Every problem found is reported, combined into one error.

use crate::args::{Args, Invalidator, Returns, Setting};
use crate::errors::Errors;
use crate::invalidator;
use proc_macro2::{Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::{
    Expr, FnArg, GenericParam, Ident, ItemFn, Pat, ReceiverKind, ReturnType, Type, Visibility,
};

/// A function that can be memoized, with everything the expansion needs.
pub(crate) struct Memoized {
    /// The user's function, unchanged.
    pub(crate) func: ItemFn,
    /// The declared return type: the type of the cached outcome.
    pub(crate) output: Type,
    /// How the return type is cached.
    pub(crate) shape: Shape,
    pub(crate) site: SiteSpec,
    pub(crate) key: KeySpec,
    /// The name of the sibling function that invalidates a cached value;
    /// `None` for `invalidate = false`, and by default for a function
    /// that could be in a trait impl (`default_invalidator`).
    pub(crate) invalidate: Option<Ident>,
}

/// The options of the function's `Site`, defaults applied.
pub(crate) struct SiteSpec {
    /// `None`: `module_path!()::fn_name`.
    pub(crate) namespace: Option<String>,
    pub(crate) soft_ms: u64,
    pub(crate) factor: Option<u32>,
    pub(crate) grace_ms: Option<u64>,
    pub(crate) version: u32,
    pub(crate) cache: Option<String>,
    pub(crate) jitter: f64,
    pub(crate) background: bool,
}

/// How the return type maps onto the runtime's `Outcome`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Shape {
    /// `Result<T, E>` or `Option<T>`: an `Outcome` as it is. `Some` when
    /// the `result` or `option` option says so of a type spelled otherwise
    /// (an alias): the expansion has the compiler check it.
    Outcome(Option<Returns>),
    /// Any other `T`, cached as it is (`Always<T>`). `chosen`: the `value`
    /// option says so; otherwise its spelling did, and the runtime reports a
    /// `T` that is a `Result` or an `Option` under another name.
    Plain { chosen: bool },
}

/// What one call's key hash is made of, in this order.
pub(crate) struct KeySpec {
    /// Hash `Self`: the function is a method (or names `Self`), and two types
    /// in one module may have methods of the same name.
    pub(crate) self_type: bool,
    /// Generic type parameters: the cached type may depend on them.
    pub(crate) type_params: Vec<Ident>,
    /// Arguments whose type has an `impl Trait` in it: each is a hidden
    /// generic parameter, whose concrete type is hashed as a named one is
    /// (skipped or not; with `key = expr` too).
    pub(crate) impl_args: Vec<Ident>,
    /// Const generic parameters, hashed by value.
    pub(crate) const_params: Vec<Ident>,
    pub(crate) parts: KeyParts,
}

pub(crate) enum KeyParts {
    /// The arguments that are not skipped, in order.
    Args(Vec<Ident>),
    /// `key = expr`.
    Expr(Expr),
}

/// A typed argument; `None` for `_`, which is never part of the key since
/// the body cannot read it.
type Param = Option<Ident>;

/// Checks `args` (or their parse error; then `raw`, the attribute's tokens,
/// still tells which arguments are out of the key) against `func`.
pub(crate) fn check(
    args: syn::Result<Args>,
    raw: &TokenStream,
    func: ItemFn,
) -> syn::Result<Memoized> {
    let mut errors = Errors::default();
    let args = errors.check(args);
    if let Some(args) = &args {
        if args.soft.is_none() {
            errors.push(syn::Error::new(
                Span::call_site(),
                "missing `soft`: say how long a value stays fresh, \
                 e.g. `#[antidogpiled(soft = \"30s\")]`",
            ));
        }
    }
    let background = args.as_ref().and_then(|args| args.background.as_ref());
    let background = background.is_some_and(|setting| setting.value);

    check_qualifiers(&func, &mut errors);
    // A `&mut` argument left out of the key (a connection, `&mut conn`) is
    // fine: the mutation is how the body computes, not what it caches.
    // While the attribute does not parse, its tokens say.
    let (raw_skipped, raw_key) = match &args {
        Some(_) => (Vec::new(), false),
        None => crate::args::out_of_key_in_tokens(raw),
    };
    let out_of_key = |name: &Ident| match &args {
        Some(args) => {
            args.key.is_some()
                || args
                    .skip
                    .as_ref()
                    .is_some_and(|skip| skip.value.contains(name))
        }
        None => raw_key || raw_skipped.iter().any(|skipped| name == skipped),
    };
    let params = check_params(&func, background, &out_of_key, &mut errors);
    let output = check_output(&func, &mut errors);
    let parts = args
        .as_ref()
        .map(|args| key_parts(args, &func, &params, &mut errors));
    if let Some(KeyParts::Args(hashed)) = &parts {
        check_unordered(&func, hashed, &mut errors);
    }
    let shape = match (&args, &output) {
        (Some(args), Some(output)) => Some(check_shape(args, output, &mut errors)),
        _ => None,
    };

    errors.finish()?;
    let (Some(args), Some(output), Some(parts), Some(shape)) = (args, output, parts, shape) else {
        unreachable!("every missing piece recorded an error");
    };
    let key = KeySpec {
        self_type: certainly_associated(&func),
        type_params: generic_params(&func, |param| match param {
            GenericParam::Type(param) => Some(param.ident.clone()),
            _ => None,
        }),
        const_params: generic_params(&func, |param| match param {
            GenericParam::Const(param) => Some(param.ident.clone()),
            _ => None,
        }),
        impl_args: impl_args(&func),
        parts,
    };
    let site = SiteSpec {
        namespace: args.name.map(|name| name.value),
        soft_ms: args.soft.map_or(0, |soft| soft.value),
        factor: args.factor.map(|factor| factor.value),
        grace_ms: args.grace.map(|grace| grace.value),
        version: args.version.map_or(0, |version| version.value),
        cache: args.cache.map(|cache| cache.value),
        jitter: args.jitter.map_or(0.0, |jitter| jitter.value),
        background,
    };
    let invalidate = match args.invalidate.map(|setting| setting.value) {
        Some(Invalidator::Off) => None,
        Some(Invalidator::Named(name)) => Some(name),
        Some(Invalidator::Default) => Some(invalidator::default_name(&func.sig.ident)),
        None => default_invalidator(&func),
    };
    Ok(Memoized {
        func,
        output,
        shape,
        site,
        key,
        invalidate,
    })
}

/// The invalidator of a function whose attribute does not say: `None` for
/// one that may be in a trait impl, `name_invalidate` otherwise.
///
/// A trait impl may only define the trait's items, so an invalidator there
/// is "not a member of trait" (E0407), and the attribute cannot see the impl
/// it is in. What it sees: an item of a trait impl is associated and has no
/// visibility (`pub` is refused there). So a function that is certainly
/// associated (`certainly_associated`) and has no visibility gets none
/// unless asked (`invalidate = true` or a name); one with a visibility, a
/// free function, and an associated function that neither takes `self` nor
/// names `Self` (it cannot be told from a free one) get one. The fallback
/// follows the same rule, so that a mistake in a trait impl is not reported
/// twice.
pub(crate) fn default_invalidator(func: &ItemFn) -> Option<Ident> {
    let private = matches!(func.vis, Visibility::Inherited);
    if private && certainly_associated(func) {
        None
    } else {
        Some(invalidator::default_name(&func.sig.ident))
    }
}

/// Whether the function is certainly an associated one: it takes a `self`
/// receiver, or names `Self` in an argument or its return type.
fn certainly_associated(func: &ItemFn) -> bool {
    func.sig.receiver().is_some() || names_self(func)
}

/// `const`, `extern` and variadic functions cannot go through the cache.
fn check_qualifiers(func: &ItemFn, errors: &mut Errors) {
    let sig = &func.sig;
    if let Some(constness) = &sig.constness {
        errors.push(syn::Error::new_spanned(
            constness,
            "a `const fn` cannot be memoized: the cache is only there at run time; \
             remove `const`",
        ));
    }
    if let Some(abi) = &sig.abi {
        errors.push(syn::Error::new_spanned(
            abi,
            "an `extern` function cannot be memoized: memoize a plain Rust `fn` \
             and call it from the `extern` one",
        ));
    }
    if let Some(variadic) = &sig.variadic {
        errors.push(syn::Error::new_spanned(
            variadic,
            "a variadic function cannot be memoized: its arguments cannot be hashed into the key",
        ));
    }
}

/// Checks the receiver and each argument; returns the arguments' names.
fn check_params(
    func: &ItemFn,
    background: bool,
    out_of_key: &dyn Fn(&Ident) -> bool,
    errors: &mut Errors,
) -> Vec<Param> {
    let mut params = Vec::new();
    for input in &func.sig.inputs {
        match input {
            FnArg::Receiver(receiver) => {
                let mutable = match &receiver.kind {
                    ReceiverKind::Reference(_, _, mutability) => mutability.is_some(),
                    ReceiverKind::Typed(_, ty) => borrows_mutably(ty),
                    _ => false,
                };
                if mutable {
                    errors.push(syn::Error::new_spanned(
                        receiver,
                        "a method taking `&mut self` cannot be memoized: a cached call would \
                         skip the mutation",
                    ));
                } else if background {
                    errors.push(syn::Error::new_spanned(
                        receiver,
                        "`background` refresh cannot use `self`: the recompute runs on a \
                         spawned task after this call returns, so it needs owned 'static \
                         arguments; memoize a free function taking what it needs by value",
                    ));
                }
            }
            FnArg::Typed(arg) => {
                let name = match &*arg.pat {
                    Pat::Ident(pat) => Some(&pat.ident),
                    _ => None,
                };
                if borrows_mutably(&arg.ty) && !name.is_some_and(out_of_key) {
                    let skip =
                        name.map_or_else(|| "skip(..)".to_owned(), |name| format!("skip({name})"));
                    errors.push(syn::Error::new_spanned(
                        arg,
                        format!(
                            "a `&mut` argument that is part of the key cannot be memoized: a \
                             cached call would skip the mutation; take it by shared reference \
                             or by value, or, if it is how the body computes rather than what \
                             it computes (a `&mut conn`), leave it out of the key with `{skip}`"
                        ),
                    ));
                } else if background && borrows(&arg.ty) {
                    errors.push(syn::Error::new_spanned(
                        arg,
                        "`background` refresh needs owned 'static arguments: the recompute \
                         runs on a spawned task after this call returns; take this argument \
                         by value (e.g. `String` for `&str`, `Arc<T>` for `&T`)",
                    ));
                }
                match &*arg.pat {
                    Pat::Ident(pat) if pat.subpat.is_none() => params.push(Some(pat.ident.clone())),
                    Pat::Wild(_) => params.push(None),
                    pat => errors.push(syn::Error::new_spanned(
                        pat,
                        "#[antidogpiled] hashes each argument by name: bind this argument to a \
                         name (e.g. `pair: (u8, u8)`) and destructure it in the body",
                    )),
                }
            }
        }
    }
    params
}

/// The return type, if it can be cached.
fn check_output(func: &ItemFn, errors: &mut Errors) -> Option<Type> {
    let ty = match &func.sig.output {
        ReturnType::Default => {
            errors.push(syn::Error::new_spanned(
                &func.sig.ident,
                "a function without a return type has nothing to cache: \
                 #[antidogpiled] memoizes what a function returns",
            ));
            return None;
        }
        ReturnType::Type(_, ty) => ty,
    };
    if matches!(&**ty, Type::Tuple(tuple) if tuple.elems.is_empty()) {
        errors.push(syn::Error::new_spanned(
            ty,
            "a function returning `()` has nothing to cache: \
             #[antidogpiled] memoizes what a function returns",
        ));
        return None;
    }
    if boxed_future(ty) {
        errors.push(syn::Error::new_spanned(
            ty,
            "cannot cache a future: this function returns a boxed future, which is what \
             `#[async_trait]` makes of an `async fn` before #[antidogpiled] on the method sees \
             it; memoize an `async fn` outside the trait impl (an inherent method or a free \
             function) and call it from the trait method, or drop `#[async_trait]` (`async fn` \
             in traits is native since Rust 1.75)",
        ));
        return None;
    }
    if any_token(ty.to_token_stream(), &mut |tokens, i| {
        is_ident(&tokens[i], "impl")
    }) {
        errors.push(syn::Error::new_spanned(
            ty,
            "cannot cache an `impl Trait` return type: the expansion must name the cached \
             type; return a concrete type",
        ));
        return None;
    }
    if borrows(ty) {
        errors.push(syn::Error::new_spanned(
            ty,
            "cannot cache a borrowed return type: a cached value is owned by the cache and \
             handed out as a copy; return an owned value, e.g. `String` instead of `&str`, \
             `Vec<T>` instead of `&[T]`, `T` or `Arc<T>` instead of `&T`",
        ));
        return None;
    }
    Some((**ty).clone())
}

/// `Pin<Box<dyn Future<Output = T> + Send + 'async_trait>>` and the like:
/// how `#[async_trait]` rewrites an `async fn`.
fn boxed_future(ty: &Type) -> bool {
    let Type::Path(path) = ty else { return false };
    let is_pin = path
        .path
        .segments
        .last()
        .is_some_and(|last| last.ident == "Pin");
    is_pin
        && any_token(ty.to_token_stream(), &mut |tokens, i| {
            is_ident(&tokens[i], "Future")
        })
}

/// What the key hashes besides the types: the non-skipped arguments, or
/// `key = expr`. Checks `skip` against the arguments.
fn key_parts(args: &Args, func: &ItemFn, params: &[Param], errors: &mut Errors) -> KeyParts {
    let skip = args.skip.as_ref();
    if let (Some(skip), Some(_)) = (skip, &args.key) {
        errors.push(syn::Error::new(
            skip.span,
            "`skip` and `key` cannot be combined: with `key = ...` no argument is part of \
             the key, so there is nothing to skip",
        ));
    }
    let skipped = skip.map_or(&[][..], |Setting { value, .. }| value);
    for (index, name) in skipped.iter().enumerate() {
        let is_param = params.iter().flatten().any(|param| param == name)
            || (name == "self" && func.sig.receiver().is_some());
        if !is_param {
            errors.push(syn::Error::new(
                name.span(),
                format!(
                    "cannot skip `{name}`: `{}` has no argument of that name",
                    func.sig.ident
                ),
            ));
        } else if skipped[..index].contains(name) {
            errors.push(syn::Error::new(
                name.span(),
                format!("`{name}` skipped twice"),
            ));
        }
    }
    match &args.key {
        Some(key) => KeyParts::Expr(key.value.clone()),
        None => KeyParts::Args(
            params
                .iter()
                .flatten()
                .filter(|param| !skipped.contains(param))
                .cloned()
                .collect(),
        ),
    }
}

/// The set types whose iteration order is not their value's: equal sets
/// would be hashed in different orders. (Maps are ordered when they are
/// hashed; a set reaches the encoder as a plain sequence, whose order is
/// part of its value.)
fn unordered_set(name: &str) -> bool {
    name.ends_with("HashSet") || name == "IndexSet" || name == "DashSet"
}

/// Refuses unordered set types spelled in the type of an argument that is
/// part of the key, at the type's name.
fn check_unordered(func: &ItemFn, hashed: &[Ident], errors: &mut Errors) {
    for input in &func.sig.inputs {
        let FnArg::Typed(arg) = input else { continue };
        let Pat::Ident(pat) = &*arg.pat else { continue };
        if !hashed.contains(&pat.ident) {
            continue;
        }
        let mut found = None;
        any_token(
            arg.ty.to_token_stream(),
            &mut |tokens, i| match &tokens[i] {
                TokenTree::Ident(ident) if unordered_set(&ident.to_string()) => {
                    found = Some(ident.clone());
                    true
                }
                _ => false,
            },
        );
        if let Some(set) = found {
            let name = &pat.ident;
            errors.push(syn::Error::new(
                set.span(),
                format!(
                    "`{set}` iterates in an order of its own, so equal sets would give \
                     different keys: take a `BTreeSet` (or a sorted `Vec`), or leave `{name}` \
                     out of the key with `skip({name})`"
                ),
            ));
        }
    }
}

/// The names of the arguments whose type has an `impl Trait` in it.
fn impl_args(func: &ItemFn) -> Vec<Ident> {
    func.sig
        .inputs
        .iter()
        .filter_map(|input| match input {
            FnArg::Typed(arg) => match &*arg.pat {
                Pat::Ident(pat)
                    if any_token(arg.ty.to_token_stream(), &mut |tokens, i| {
                        is_ident(&tokens[i], "impl")
                    }) =>
                {
                    Some(pat.ident.clone())
                }
                _ => None,
            },
            FnArg::Receiver(_) => None,
        })
        .collect()
}

/// How the return type is cached: as its spelling says, or as the
/// `result`, `option` or `value` option says, which may not contradict
/// the spelling.
fn check_shape(args: &Args, output: &Type, errors: &mut Errors) -> Shape {
    let spelled = spelled(output);
    let Some(Setting { span, value }) = &args.returns else {
        return match spelled {
            Some(_) => Shape::Outcome(None),
            None => Shape::Plain { chosen: false },
        };
    };
    match (value, spelled) {
        (Returns::Value, _) => Shape::Plain { chosen: true },
        (declared, None) => Shape::Outcome(Some(*declared)),
        (declared, Some(spelled)) if *declared == spelled => Shape::Outcome(None),
        (declared, Some(spelled)) => {
            let (is, failure) = match spelled {
                Returns::Result => ("a `Result`", "`Err`"),
                _ => ("an `Option`", "`None`"),
            };
            errors.push(syn::Error::new(
                *span,
                format!(
                    "`{}` contradicts the return type, which is {is}: remove `{}` \
                     ({failure} is then not cached), or write `value` to cache {failure} too",
                    declared.option(),
                    declared.option(),
                ),
            ));
            Shape::Outcome(None)
        }
    }
}

/// What the return type is by its last path segment: the macro cannot
/// resolve aliases, so `io::Result<T>` is a `Result` and `MyResult` is not.
pub(crate) fn spelled(ty: &Type) -> Option<Returns> {
    match ty {
        Type::Group(group) => spelled(&group.elem),
        Type::Paren(paren) => spelled(&paren.elem),
        Type::Path(path) if path.qself.is_none() => match path.path.segments.last() {
            Some(last) if last.ident == "Result" => Some(Returns::Result),
            Some(last) if last.ident == "Option" => Some(Returns::Option),
            _ => None,
        },
        _ => None,
    }
}

fn generic_params(func: &ItemFn, pick: impl Fn(&GenericParam) -> Option<Ident>) -> Vec<Ident> {
    func.sig.generics.params.iter().filter_map(pick).collect()
}

/// Whether an argument or the return type names `Self`: then the function is
/// an associated function, and `Self` belongs in its key.
fn names_self(func: &ItemFn) -> bool {
    let mut tokens = func.sig.inputs.to_token_stream();
    func.sig.output.to_tokens(&mut tokens);
    any_token(tokens, &mut |tokens, i| is_ident(&tokens[i], "Self"))
}

/// Whether `ty` contains `&mut` (or `&'a mut`) anywhere, e.g. `Option<&mut T>`.
fn borrows_mutably(ty: &Type) -> bool {
    any_token(ty.to_token_stream(), &mut |tokens, i| {
        if !is_punct(&tokens[i], '&') {
            return false;
        }
        let mut next = i + 1;
        if tokens.get(next).is_some_and(|token| is_punct(token, '\'')) {
            next += 2;
        }
        tokens.get(next).is_some_and(|token| is_ident(token, "mut"))
    })
}

/// Whether `ty` borrows anything: a `&` or a lifetime other than `'static`.
fn borrows(ty: &Type) -> bool {
    any_token(ty.to_token_stream(), &mut |tokens, i| {
        is_punct(&tokens[i], '&')
            || (is_punct(&tokens[i], '\'')
                && !tokens
                    .get(i + 1)
                    .is_some_and(|token| is_ident(token, "static")))
    })
}

/// Whether `found` holds at some position of `tokens`, at any nesting depth.
/// It sees one group's tokens at a time, to look ahead within that group.
fn any_token(tokens: TokenStream, found: &mut impl FnMut(&[TokenTree], usize) -> bool) -> bool {
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    (0..tokens.len()).any(|i| {
        found(&tokens, i)
            || matches!(&tokens[i], TokenTree::Group(group) if any_token(group.stream(), found))
    })
}

fn is_ident(token: &TokenTree, name: &str) -> bool {
    matches!(token, TokenTree::Ident(ident) if ident == name)
}

fn is_punct(token: &TokenTree, ch: char) -> bool {
    matches!(token, TokenTree::Punct(punct) if punct.as_char() == ch)
}

#[cfg(test)]
mod tests {
    use super::spelled;
    use crate::args::{Args, Returns};
    use proc_macro2::TokenStream;
    use quote::quote;
    use syn::Type;

    /// The invalidator `check` decides on for `args` on `item`.
    fn invalidator_of(args: TokenStream, item: TokenStream) -> Option<String> {
        let func = syn::parse2(item).unwrap();
        let memoized = super::check(syn::parse2::<Args>(args.clone()), &args, func)
            .unwrap_or_else(|error| panic!("{error}"));
        memoized.invalidate.map(|name| name.to_string())
    }

    #[test]
    fn a_private_associated_fn_gets_no_invalidator_unless_asked() {
        // Each of these may be an item of a trait impl, which may not add
        // `name_invalidate`.
        for item in [
            quote!(
                fn price(&self, sku: u64) -> u64 {
                    sku
                }
            ),
            quote!(
                fn price(self, sku: u64) -> u64 {
                    sku
                }
            ),
            quote!(
                fn price(self: Box<Self>, sku: u64) -> u64 {
                    sku
                }
            ),
            quote!(
                async fn price(&self) -> u64 {
                    1
                }
            ),
            quote!(
                fn load(id: u8) -> Option<Self> {
                    None
                }
            ),
            quote!(
                fn merge(a: &Self, b: u8) -> u8 {
                    b
                }
            ),
            quote!(
                fn load(id: u8) -> Vec<Option<Self>> {
                    Vec::new()
                }
            ),
        ] {
            assert_eq!(
                invalidator_of(quote!(soft = "1m"), item.clone()),
                None,
                "{item}"
            );
            assert_eq!(
                invalidator_of(quote!(soft = "1m", invalidate = true), item.clone()).as_deref(),
                Some(format!(
                    "{}_invalidate",
                    syn::parse2::<syn::ItemFn>(item.clone()).unwrap().sig.ident
                ))
                .as_deref(),
                "{item}"
            );
            assert_eq!(
                invalidator_of(quote!(soft = "1m", invalidate = "forget"), item.clone()).as_deref(),
                Some("forget"),
                "{item}"
            );
            assert_eq!(
                invalidator_of(quote!(soft = "1m", invalidate = false), item.clone()),
                None,
                "{item}"
            );
        }
    }

    #[test]
    fn a_visible_or_possibly_free_fn_keeps_its_invalidator() {
        for item in [
            // A visibility: not in a trait impl.
            quote!(
                pub fn price(&self, sku: u64) -> u64 {
                    sku
                }
            ),
            quote!(
                pub(crate) fn price(&self, sku: u64) -> u64 {
                    sku
                }
            ),
            quote!(
                pub(super) async fn price(&self, sku: u64) -> u64 {
                    sku
                }
            ),
            quote!(
                pub fn price(sku: u64) -> Option<Self> {
                    None
                }
            ),
            // Free, or associated without `self` or `Self`: cannot be told apart.
            quote!(
                fn price(sku: u64) -> u64 {
                    sku
                }
            ),
            quote!(
                pub fn price(sku: u64) -> u64 {
                    sku
                }
            ),
            // `self` as a path segment or a lowercase word is not the receiver.
            quote!(
                fn price(sku: self::Sku) -> u64 {
                    1
                }
            ),
            quote!(
                fn price(sku: SelfService) -> u64 {
                    1
                }
            ),
        ] {
            assert_eq!(
                invalidator_of(quote!(soft = "1m"), item.clone()).as_deref(),
                Some("price_invalidate"),
                "{item}"
            );
            assert_eq!(
                invalidator_of(quote!(soft = "1m", invalidate = false), item.clone()),
                None,
                "{item}"
            );
        }
    }

    fn spelled_as(ty: &str) -> Option<Returns> {
        let ty: Type = syn::parse_str(ty).unwrap();
        spelled(&ty)
    }

    #[test]
    fn results_and_options_are_outcomes_by_their_last_segment() {
        for ty in [
            "Result<u8, String>",
            "std::io::Result<u8>",
            "::core::result::Result<u8, E>",
            "anyhow::Result<Vec<u8>>",
        ] {
            assert_eq!(spelled_as(ty), Some(Returns::Result), "{ty}");
        }
        for ty in ["Option<u8>", "std::option::Option<Self>", "(Option<u8>)"] {
            assert_eq!(spelled_as(ty), Some(Returns::Option), "{ty}");
        }
    }

    #[test]
    fn every_other_type_is_plain() {
        for ty in [
            "u8",
            "MyResult<u8>",
            "Result::Ok",
            "Vec<Result<u8, E>>",
            "Result<u8, E>::Output",
            "<T as Trait>::Result",
            "(Result<u8, E>, u8)",
            "[Option<u8>; 2]",
            "Self",
        ] {
            assert_eq!(spelled_as(ty), None, "{ty}");
        }
    }
}
