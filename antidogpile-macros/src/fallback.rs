//! When the attribute or the function is wrong: the errors, and the user's
//! function exactly as written.
//!
//! Emitting the function keeps its callers compiling, so the only errors the
//! user sees are the ones that explain the mistake, not a cascade of
//! "cannot find function" at every call site; and the IDE keeps its
//! completions and go-to-definition.

use proc_macro2::TokenStream;

pub(crate) fn emit(error: &syn::Error, item: TokenStream) -> TokenStream {
    let mut tokens = error.to_compile_error();
    tokens.extend(item);
    tokens
}
