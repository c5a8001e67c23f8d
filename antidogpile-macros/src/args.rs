//! Stage 1: the attribute's arguments, `#[antidogpiled(soft = "30s", ...)]`,
//! parsed into typed, range-checked values.
//!
//! Syntax errors stop the parse; a bad value (`"30x"`, `factor = 0`, an option
//! given twice) is recorded and parsing goes on, so that every bad value is
//! reported in one compile.

use crate::duration::{duration_error, parse_duration_ms};
use crate::errors::Errors;
use proc_macro2::Span;
use syn::ext::IdentExt as _;
use syn::parse::{Parse, ParseStream};
use syn::{Expr, Ident, LitBool, LitFloat, LitInt, LitStr, Token};

mod kw {
    syn::custom_keyword!(soft);
    syn::custom_keyword!(factor);
    syn::custom_keyword!(grace);
    syn::custom_keyword!(cache);
    syn::custom_keyword!(name);
    syn::custom_keyword!(version);
    syn::custom_keyword!(skip);
    syn::custom_keyword!(key);
    syn::custom_keyword!(background);
    syn::custom_keyword!(jitter);
    syn::custom_keyword!(invalidate);
    syn::custom_keyword!(result);
    syn::custom_keyword!(option);
    syn::custom_keyword!(value);
}

/// Every option, for the "unknown option" error.
const OPTIONS: &str = "`soft`, `factor`, `grace`, `cache`, `name`, `version`, `skip`, `key`, \
                       `background`, `jitter`, `invalidate`, `result`, `option`, `value`";

/// The names other caching crates (`cached`, moka...) give the options,
/// with the option to write instead.
const ALIASES: &[(&[&str], &str)] = &[
    (
        &[
            "ttl",
            "time_to_live",
            "timeout",
            "expire",
            "expires",
            "expiry",
            "max_age",
            "lifespan",
            "lifetime",
            "duration",
            "fresh",
            "soft_timeout",
            "refresh_after",
        ],
        "soft",
    ),
    (&["hard", "hard_timeout", "hard_ttl", "stale"], "factor"),
    (&["grace_period", "lock_timeout", "lease"], "grace"),
    (&["namespace", "prefix", "key_prefix"], "name"),
    (&["ignore", "exclude", "skip_args"], "skip"),
    (&["convert", "key_fn"], "key"),
    (&["refresh", "async_refresh", "refresh_ahead"], "background"),
];

/// Every option's name, for near misses.
const OPTION_NAMES: [&str; 14] = [
    "soft",
    "factor",
    "grace",
    "cache",
    "name",
    "version",
    "skip",
    "key",
    "background",
    "jitter",
    "invalidate",
    "result",
    "option",
    "value",
];

/// "unknown option", with the option meant when it is another crate's name
/// for it or a near miss.
fn unknown_option(unknown: &str) -> String {
    let alias = ALIASES
        .iter()
        .find(|(names, _)| names.contains(&unknown))
        .map(|(_, option)| *option);
    let meant = alias.or_else(|| {
        let limit = if unknown.len() <= 4 { 1 } else { 2 };
        OPTION_NAMES
            .iter()
            .map(|option| (edit_distance(unknown, option), *option))
            .filter(|(distance, _)| *distance <= limit)
            .min_by_key(|(distance, _)| *distance)
            .map(|(_, option)| option)
    });
    let hint = match meant {
        Some("soft") => " did you mean `soft = \"..\"`, how long a value stays fresh? (the \
                         store keeps it `factor` times as long; default 8);"
            .to_owned(),
        Some(option) => format!(" did you mean `{option}`?"),
        None => String::new(),
    };
    format!("unknown option `{unknown}`;{hint} the options are {OPTIONS}")
}

/// Edits (insert, delete, replace, swap two neighbours) from `a` to `b`.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut rows = vec![vec![0; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let replace = rows[i - 1][j - 1] + usize::from(a[i - 1] != b[j - 1]);
            let mut best = replace.min(rows[i - 1][j] + 1).min(rows[i][j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

/// One option as written: the span of its name, and its checked value.
pub(crate) struct Setting<T> {
    pub(crate) span: Span,
    pub(crate) value: T,
}

/// The attribute's arguments. Each is `None` when not given; defaults are
/// chosen later, where the whole function is known.
#[derive(Default)]
pub(crate) struct Args {
    /// How long a value is fresh, in milliseconds (> 0).
    pub(crate) soft: Option<Setting<u64>>,
    /// Hard timeout = soft * factor (>= 1).
    pub(crate) factor: Option<Setting<u32>>,
    /// How long one caller may recompute before another may try, in ms (> 0).
    pub(crate) grace: Option<Setting<u64>>,
    /// The named cache to use instead of the default one (non-empty).
    pub(crate) cache: Option<Setting<String>>,
    /// The key namespace instead of `module_path!()::fn_name` (non-empty).
    pub(crate) name: Option<Setting<String>>,
    /// Part of the key: bump it when the cached type or meaning changes.
    pub(crate) version: Option<Setting<u32>>,
    /// Arguments left out of the key.
    pub(crate) skip: Option<Setting<Vec<Ident>>>,
    /// An expression that is the whole key instead of the arguments.
    pub(crate) key: Option<Setting<Expr>>,
    /// Recompute stale values on a spawned task/thread.
    pub(crate) background: Option<Setting<bool>>,
    /// Spread soft deadlines by this fraction (0.0 <= j < 1.0).
    pub(crate) jitter: Option<Setting<f64>>,
    /// Whether to generate the `name_invalidate` sibling, and its name.
    pub(crate) invalidate: Option<Setting<Invalidator>>,
    /// What the return type is, when its spelling does not say.
    pub(crate) returns: Option<Setting<Returns>>,
}

/// `result`, `option` or `value`: what the function returns, whatever its
/// return type is called (a type alias hides a `Result` from the macro).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Returns {
    /// A `Result`: `Ok` is cached, `Err` is not.
    Result,
    /// An `Option`: `Some` is cached, `None` is not.
    Option,
    /// A value to cache, whatever it is (`Err` and `None` too).
    Value,
}

impl Returns {
    pub(crate) fn option(self) -> &'static str {
        match self {
            Returns::Result => "result",
            Returns::Option => "option",
            Returns::Value => "value",
        }
    }
}

/// `invalidate = true | false | "fn_name"`: the sibling function that
/// invalidates a cached value.
pub(crate) enum Invalidator {
    /// `invalidate = false`: none.
    Off,
    /// `invalidate = true`: `name_invalidate` (the default, but for a
    /// private method: `validate::default_invalidator`).
    Default,
    /// `invalidate = "forget_report"`: under this name.
    Named(Ident),
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = Args::default();
        let mut errors = Errors::default();
        while !input.is_empty() {
            args.parse_option(input, &mut errors)?;
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        errors.finish()?;
        Ok(args)
    }
}

impl Args {
    /// Parses one `option` or `option = value`.
    fn parse_option(&mut self, input: ParseStream<'_>, errors: &mut Errors) -> syn::Result<()> {
        let lookahead = input.lookahead1();
        if lookahead.peek(kw::soft) {
            let span = input.parse::<kw::soft>()?.span;
            let lit = value::<LitStr>(input)?;
            errors.check(set_once(&mut self.soft, "soft", span, duration_ms(&lit)));
        } else if lookahead.peek(kw::factor) {
            let span = input.parse::<kw::factor>()?.span;
            let lit = value::<LitInt>(input)?;
            errors.check(set_once(&mut self.factor, "factor", span, factor(&lit)));
        } else if lookahead.peek(kw::grace) {
            let span = input.parse::<kw::grace>()?.span;
            let lit = value::<LitStr>(input)?;
            errors.check(set_once(&mut self.grace, "grace", span, duration_ms(&lit)));
        } else if lookahead.peek(kw::cache) {
            let span = input.parse::<kw::cache>()?.span;
            let lit = value::<LitStr>(input)?;
            let cache = non_empty(&lit, "cache", "the name of a cache");
            errors.check(set_once(&mut self.cache, "cache", span, cache));
        } else if lookahead.peek(kw::name) {
            let span = input.parse::<kw::name>()?.span;
            let lit = value::<LitStr>(input)?;
            let name = non_empty(&lit, "name", "the key namespace of this function");
            errors.check(set_once(&mut self.name, "name", span, name));
        } else if lookahead.peek(kw::version) {
            let span = input.parse::<kw::version>()?.span;
            let lit = value::<LitInt>(input)?;
            errors.check(set_once(&mut self.version, "version", span, version(&lit)));
        } else if lookahead.peek(kw::skip) {
            let span = input.parse::<kw::skip>()?.span;
            let names = skipped(input)?;
            errors.check(set_once(&mut self.skip, "skip", span, Ok(names)));
        } else if lookahead.peek(kw::key) {
            let span = input.parse::<kw::key>()?.span;
            let expr = value::<Expr>(input)?;
            errors.check(set_once(&mut self.key, "key", span, Ok(expr)));
        } else if lookahead.peek(kw::background) {
            let span = input.parse::<kw::background>()?.span;
            let on = if input.peek(Token![=]) {
                value::<LitBool>(input)?.value()
            } else {
                true
            };
            errors.check(set_once(&mut self.background, "background", span, Ok(on)));
        } else if lookahead.peek(kw::jitter) {
            let span = input.parse::<kw::jitter>()?.span;
            let jitter = jitter(input)?;
            errors.check(set_once(&mut self.jitter, "jitter", span, jitter));
        } else if lookahead.peek(kw::invalidate) {
            let span = input.parse::<kw::invalidate>()?.span;
            let invalidator = invalidator(input)?;
            errors.check(set_once(
                &mut self.invalidate,
                "invalidate",
                span,
                invalidator,
            ));
        } else if lookahead.peek(kw::result) {
            let span = input.parse::<kw::result>()?.span;
            errors.check(self.set_returns(Returns::Result, span));
        } else if lookahead.peek(kw::option) {
            let span = input.parse::<kw::option>()?.span;
            errors.check(self.set_returns(Returns::Option, span));
        } else if lookahead.peek(kw::value) {
            let span = input.parse::<kw::value>()?.span;
            errors.check(self.set_returns(Returns::Value, span));
        } else if input.peek(Ident) {
            let unknown: Ident = input.parse()?;
            return Err(syn::Error::new(
                unknown.span(),
                unknown_option(&unknown.unraw().to_string()),
            ));
        } else {
            return Err(lookahead.error());
        }
        Ok(())
    }

    /// `result`, `option` and `value` say one thing: at most one of them.
    fn set_returns(&mut self, returns: Returns, span: Span) -> syn::Result<()> {
        match &self.returns {
            Some(earlier) if earlier.value != returns => Err(syn::Error::new(
                span,
                format!(
                    "`{}` contradicts `{}`: give one of `result`, `option` and `value`",
                    returns.option(),
                    earlier.value.option()
                ),
            )),
            _ => set_once(&mut self.returns, returns.option(), span, Ok(returns)),
        }
    }
}

/// What the attribute's tokens say about the key when they do not parse:
/// the names in `skip(..)` and whether `key = ..` is there. Enough to tell
/// whether a `&mut` argument is out of the key, so that a bad duration does
/// not also hide (or invent) a `&mut` error.
pub(crate) fn out_of_key_in_tokens(tokens: &proc_macro2::TokenStream) -> (Vec<String>, bool) {
    use proc_macro2::{Delimiter, TokenTree};
    let tokens: Vec<TokenTree> = tokens.clone().into_iter().collect();
    let (mut skipped, mut key) = (Vec::new(), false);
    for (i, token) in tokens.iter().enumerate() {
        let TokenTree::Ident(ident) = token else {
            continue;
        };
        let starts_option =
            i == 0 || matches!(&tokens[i - 1], TokenTree::Punct(p) if p.as_char() == ',');
        match tokens.get(i + 1) {
            Some(TokenTree::Group(group))
                if starts_option
                    && ident == "skip"
                    && group.delimiter() == Delimiter::Parenthesis =>
            {
                skipped.extend(group.stream().into_iter().filter_map(|token| match token {
                    TokenTree::Ident(name) => Some(name.to_string()),
                    _ => None,
                }));
            }
            Some(TokenTree::Punct(p)) if starts_option && ident == "key" && p.as_char() == '=' => {
                key = true;
            }
            _ => {}
        }
    }
    (skipped, key)
}

/// Stores an option's value, unless the option was already given: the one
/// place that reports "given twice", at the second occurrence.
fn set_once<T>(
    slot: &mut Option<Setting<T>>,
    option: &str,
    span: Span,
    value: syn::Result<T>,
) -> syn::Result<()> {
    if slot.is_some() {
        return Err(syn::Error::new(span, format!("`{option}` given twice")));
    }
    *slot = Some(Setting {
        span,
        value: value?,
    });
    Ok(())
}

/// `= <value>`.
fn value<T: Parse>(input: ParseStream<'_>) -> syn::Result<T> {
    input.parse::<Token![=]>()?;
    input.parse()
}

/// `(arg, ...)` after `skip`. `self` is accepted: the receiver's value is
/// never part of the key anyway.
fn skipped(input: ParseStream<'_>) -> syn::Result<Vec<Ident>> {
    let content;
    syn::parenthesized!(content in input);
    let names = content.parse_terminated(Ident::parse_any, Token![,])?;
    Ok(names.into_iter().collect())
}

/// `= 0.1` or `= 0` after `jitter`: a fraction, 0.0 <= j < 1.0.
fn jitter(input: ParseStream<'_>) -> syn::Result<syn::Result<f64>> {
    input.parse::<Token![=]>()?;
    let lookahead = input.lookahead1();
    let (value, span, suffix) = if lookahead.peek(LitFloat) {
        let lit: LitFloat = input.parse()?;
        (
            lit.base10_parse::<f64>(),
            lit.span(),
            lit.suffix().to_owned(),
        )
    } else if lookahead.peek(LitInt) {
        let lit: LitInt = input.parse()?;
        (
            lit.base10_parse::<f64>(),
            lit.span(),
            lit.suffix().to_owned(),
        )
    } else {
        return Err(lookahead.error());
    };
    Ok(no_suffix(span, &suffix).and(value).and_then(|jitter| {
        if (0.0..1.0).contains(&jitter) {
            Ok(jitter)
        } else {
            Err(syn::Error::new(
                span,
                format!(
                    "`jitter` must be a fraction from 0.0 up to (not including) 1.0, \
                     e.g. `jitter = 0.1` for ±10%; got {jitter}"
                ),
            ))
        }
    }))
}

/// `= true`, `= false` or `= "fn_name"` after `invalidate`.
fn invalidator(input: ParseStream<'_>) -> syn::Result<syn::Result<Invalidator>> {
    input.parse::<Token![=]>()?;
    let lookahead = input.lookahead1();
    if lookahead.peek(LitBool) {
        let on = input.parse::<LitBool>()?.value();
        Ok(Ok(if on {
            Invalidator::Default
        } else {
            Invalidator::Off
        }))
    } else if lookahead.peek(LitStr) {
        let lit: LitStr = input.parse()?;
        // The name of a function: an identifier, not a keyword or a path.
        Ok(match syn::parse_str::<Ident>(&lit.value()) {
            Ok(mut name) => {
                name.set_span(lit.span());
                Ok(Invalidator::Named(name))
            }
            Err(_) => Err(syn::Error::new(
                lit.span(),
                format!(
                    "`invalidate` names the generated function: {:?} is not an identifier; \
                     write e.g. `invalidate = \"forget_report\"`, or `invalidate = false` \
                     for none",
                    lit.value()
                ),
            )),
        })
    } else {
        Err(lookahead.error())
    }
}

/// `factor`: how many soft timeouts the store keeps a value, >= 1.
fn factor(lit: &LitInt) -> syn::Result<u32> {
    no_suffix(lit.span(), lit.suffix())?;
    match lit.base10_parse::<u32>() {
        Ok(factor) if factor >= 1 => Ok(factor),
        _ => Err(syn::Error::new(
            lit.span(),
            "`factor` must be a whole number from 1 to 4294967295: \
             the store keeps a value for soft * factor",
        )),
    }
}

/// `version`: any u32.
fn version(lit: &LitInt) -> syn::Result<u32> {
    no_suffix(lit.span(), lit.suffix())?;
    lit.base10_parse::<u32>().map_err(|_| {
        syn::Error::new(
            lit.span(),
            "`version` must be a whole number from 0 to 4294967295",
        )
    })
}

/// Number literals are written plain: the macro decides their type.
fn no_suffix(span: Span, suffix: &str) -> syn::Result<()> {
    if suffix.is_empty() {
        Ok(())
    } else {
        Err(syn::Error::new(
            span,
            format!("remove the `{suffix}` suffix: write the number alone"),
        ))
    }
}

fn non_empty(lit: &LitStr, option: &str, what: &str) -> syn::Result<String> {
    let text = lit.value();
    if text.is_empty() {
        Err(syn::Error::new(
            lit.span(),
            format!("`{option}` must not be empty: it is {what}"),
        ))
    } else {
        Ok(text)
    }
}

/// A duration literal, in milliseconds, or an error spanned at the literal.
/// The grammar is the one store URLs use ([`crate::duration`]).
fn duration_ms(lit: &LitStr) -> syn::Result<u64> {
    let text = lit.value();
    parse_duration_ms(&text)
        .map_err(|reason| syn::Error::new(lit.span(), duration_error(&text, &reason)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::duration::DURATION_FORMS;
    use quote::quote;

    fn parse(tokens: proc_macro2::TokenStream) -> syn::Result<Args> {
        syn::parse2(tokens)
    }

    /// Every message of a failed parse, in order.
    fn errors(tokens: proc_macro2::TokenStream) -> Vec<String> {
        match parse(tokens) {
            Ok(_) => panic!("expected the arguments to be rejected"),
            Err(error) => error.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn every_option_parses_to_its_typed_value() {
        let args = parse(quote! {
            soft = "30s", factor = 4, grace = "1m", cache = "sessions", name = "reports",
            version = 3, skip(conn, self), key = (customer, day), background = false,
            jitter = 0.25,
        })
        .unwrap();
        assert_eq!(args.soft.unwrap().value, 30_000);
        assert_eq!(args.factor.unwrap().value, 4);
        assert_eq!(args.grace.unwrap().value, 60_000);
        assert_eq!(args.cache.unwrap().value, "sessions");
        assert_eq!(args.name.unwrap().value, "reports");
        assert_eq!(args.version.unwrap().value, 3);
        let skipped: Vec<String> = args
            .skip
            .unwrap()
            .value
            .iter()
            .map(Ident::to_string)
            .collect();
        assert_eq!(skipped, ["conn", "self"]);
        let key = args.key.unwrap().value;
        assert_eq!(
            quote!(#key).to_string(),
            quote!((customer, day)).to_string()
        );
        assert!(!args.background.unwrap().value);
        assert!((args.jitter.unwrap().value - 0.25).abs() < f64::EPSILON);
    }

    #[test]
    fn options_not_given_stay_unset() {
        let args = parse(quote!(soft = "1s")).unwrap();
        assert!(args.factor.is_none());
        assert!(args.grace.is_none());
        assert!(args.cache.is_none());
        assert!(args.name.is_none());
        assert!(args.version.is_none());
        assert!(args.skip.is_none());
        assert!(args.key.is_none());
        assert!(args.background.is_none());
        assert!(args.jitter.is_none());
        assert!(args.invalidate.is_none());
        assert!(args.returns.is_none());
        assert!(parse(quote!()).unwrap().soft.is_none());
    }

    fn invalidator(tokens: proc_macro2::TokenStream) -> Invalidator {
        parse(tokens).unwrap().invalidate.unwrap().value
    }

    #[test]
    fn invalidate_is_on_off_or_a_function_name() {
        assert!(matches!(
            invalidator(quote!(invalidate = true)),
            Invalidator::Default
        ));
        assert!(matches!(
            invalidator(quote!(invalidate = false)),
            Invalidator::Off
        ));
        match invalidator(quote!(invalidate = "forget_report")) {
            Invalidator::Named(name) => assert_eq!(name, "forget_report"),
            _ => panic!("expected a name"),
        }
        match invalidator(quote!(invalidate = "r#match")) {
            Invalidator::Named(name) => assert_eq!(name.to_string(), "r#match"),
            _ => panic!("expected a name"),
        }
    }

    #[test]
    fn invalidate_names_must_be_identifiers() {
        for bad in ["", "forget report", "a::b", "match", "1st"] {
            let messages = errors(quote!(invalidate = #bad));
            assert_eq!(messages.len(), 1, "{messages:?}");
            assert!(
                messages[0].starts_with("`invalidate` names the generated function"),
                "{messages:?}"
            );
        }
        assert_eq!(
            errors(quote!(invalidate = 1)),
            ["expected boolean literal or string literal"]
        );
        assert_eq!(
            errors(quote!(invalidate, invalidate = false)),
            ["expected `=`"]
        );
        assert_eq!(
            errors(quote!(invalidate = true, invalidate = false)),
            ["`invalidate` given twice"]
        );
    }

    #[test]
    fn result_option_and_value_are_flags_and_one_excludes_the_others() {
        let returns = |tokens| parse(tokens).unwrap().returns.unwrap().value;
        assert_eq!(returns(quote!(result)), Returns::Result);
        assert_eq!(returns(quote!(soft = "1s", option,)), Returns::Option);
        assert_eq!(returns(quote!(value, soft = "1s")), Returns::Value);
        assert_eq!(
            errors(quote!(result, option, value)),
            [
                "`option` contradicts `result`: give one of `result`, `option` and `value`",
                "`value` contradicts `result`: give one of `result`, `option` and `value`"
            ]
        );
        assert_eq!(errors(quote!(result, result)), ["`result` given twice"]);
        assert_eq!(errors(quote!(result = true)), ["expected `,`"]);
    }

    #[test]
    fn background_alone_means_true() {
        assert!(parse(quote!(background)).unwrap().background.unwrap().value);
        assert!(
            parse(quote!(background = true))
                .unwrap()
                .background
                .unwrap()
                .value
        );
        assert!(
            parse(quote!(soft = "1s", background,))
                .unwrap()
                .background
                .unwrap()
                .value
        );
    }

    #[test]
    fn key_expression_ends_at_the_next_comma() {
        let args = parse(quote!(key = user.id + 1, soft = "1s")).unwrap();
        let key = args.key.unwrap().value;
        assert_eq!(quote!(#key).to_string(), quote!(user.id + 1).to_string());
        assert_eq!(args.soft.unwrap().value, 1_000);
    }

    #[test]
    fn jitter_takes_zero_and_integer_zero() {
        assert!(parse(quote!(jitter = 0)).unwrap().jitter.unwrap().value == 0.0);
        assert!(parse(quote!(jitter = 0.0)).unwrap().jitter.unwrap().value == 0.0);
        assert!(parse(quote!(jitter = 0.999)).is_ok());
    }

    #[test]
    fn a_bad_duration_names_the_accepted_forms() {
        let messages = errors(quote!(soft = "30x"));
        assert_eq!(
            messages,
            [format!(
                "invalid duration \"30x\": unknown unit \"x\"; {DURATION_FORMS}"
            )]
        );
    }

    #[test]
    fn an_unknown_option_lists_the_valid_ones() {
        assert_eq!(
            errors(quote!(soft = "1s", colour = "1m")),
            [format!(
                "unknown option `colour`; the options are {OPTIONS}"
            )]
        );
    }

    #[test]
    fn other_crates_names_and_near_misses_suggest_the_option() {
        let ttl = errors(quote!(ttl = "30s"));
        assert_eq!(ttl.len(), 1);
        assert!(
            ttl[0].starts_with("unknown option `ttl`; did you mean `soft = \"..\"`"),
            "{ttl:?}"
        );
        for (written, meant) in [
            ("timeout", "soft"),
            ("hard_timeout", "factor"),
            ("namespace", "name"),
            ("sikp", "skip"),
            ("jiter", "jitter"),
            ("versoin", "version"),
            ("background_refresh", ""),
            ("colour", ""),
        ] {
            let written = Ident::new(written, Span::call_site());
            let message = errors(quote!(#written = 1)).remove(0);
            if meant.is_empty() {
                assert!(!message.contains("did you mean"), "{message}");
            } else {
                assert!(
                    message.contains(&format!("did you mean `{meant}")),
                    "{written}: {message}"
                );
            }
        }
    }

    #[test]
    fn a_keyword_where_an_option_belongs_is_a_syntax_error() {
        let messages = errors(quote!(type = 1));
        assert_eq!(messages.len(), 1);
        assert!(
            messages[0].starts_with("expected one of: `soft`, `factor`"),
            "{messages:?}"
        );
    }

    #[test]
    fn an_option_given_twice_is_named_once() {
        assert_eq!(
            errors(quote!(soft = "1s", soft = "2s")),
            ["`soft` given twice"]
        );
        assert_eq!(
            errors(quote!(background, background = false)),
            ["`background` given twice"]
        );
        assert_eq!(errors(quote!(skip(a), skip(b))), ["`skip` given twice"]);
    }

    #[test]
    fn every_bad_value_is_reported_at_once() {
        let messages = errors(quote!(soft = "0s", factor = 0, grace = "1y", jitter = 1.0));
        assert_eq!(messages.len(), 4, "{messages:?}");
        assert!(messages[0].starts_with("invalid duration \"0s\": it must be longer than zero"));
        assert!(messages[1].starts_with("`factor` must be a whole number from 1"));
        assert!(messages[2].starts_with("invalid duration \"1y\": unknown unit \"y\""));
        assert!(messages[3].starts_with("`jitter` must be a fraction"));
    }

    #[test]
    fn numbers_are_range_checked() {
        assert!(errors(quote!(factor = 4294967296))[0].starts_with("`factor` must be"));
        assert!(errors(quote!(version = 4294967296))[0].starts_with("`version` must be"));
        assert!(errors(quote!(jitter = 1))[0].starts_with("`jitter` must be"));
        assert!(errors(quote!(jitter = 1.5))[0].starts_with("`jitter` must be"));
        assert_eq!(
            errors(quote!(factor = 8u8)),
            ["remove the `u8` suffix: write the number alone"]
        );
    }

    #[test]
    fn names_must_not_be_empty() {
        assert_eq!(
            errors(quote!(cache = "")),
            ["`cache` must not be empty: it is the name of a cache"]
        );
        assert_eq!(
            errors(quote!(name = "")),
            ["`name` must not be empty: it is the key namespace of this function"]
        );
    }

    #[test]
    fn values_of_the_wrong_kind_are_syntax_errors() {
        assert_eq!(errors(quote!(soft = 30)), ["expected string literal"]);
        assert_eq!(errors(quote!(factor = "8")), ["expected integer literal"]);
        assert_eq!(
            errors(quote!(jitter = "0.1")),
            ["expected floating point literal or integer literal"]
        );
        assert_eq!(
            errors(quote!(background = yes)),
            ["expected boolean literal"]
        );
        assert_eq!(errors(quote!(soft "30s")), ["expected `=`"]);
        assert_eq!(errors(quote!(soft = "30s" factor = 8)), ["expected `,`"]);
    }
}
