//! The `#[antidogpiled]` attribute of the `antidogpile` crate. Use it through
//! `antidogpile::antidogpiled`: the expansion calls into
//! `::antidogpile::__private`, which only the matching `antidogpile` version
//! provides.
//!
//! The crate is a pipeline, one file per stage: `args.rs` parses the
//! attribute, `validate.rs` checks it against the function, `expand.rs`
//! generates the call into the runtime, and `fallback.rs` emits the errors
//! with the function unchanged when something is wrong.

mod args;
// The one duration grammar, shared with the runtime's store URLs: the same
// file, compiled into both crates (a proc-macro crate cannot export it).
use antidogpile_duration as duration;
mod errors;
mod expand;
mod fallback;
mod invalidator;
mod validate;

#[cfg(test)]
mod tests;

use proc_macro::TokenStream;

/// Memoizes a function in the shared cache, without cache stampedes.
///
/// ```text
/// use antidogpile::antidogpiled;
///
/// #[antidogpiled(soft = "30s")]
/// async fn report(customer: u64) -> Result<Report, DbError> {
///     build_report(customer).await
/// }
/// ```
///
/// A call first looks for the value cached under this function and these
/// arguments:
///
/// - **fresh** (younger than `soft`): returned at once, the body does not run;
/// - **stale** (older than `soft`, still stored): exactly one caller runs the
///   body to refresh it, every other caller gets the stale value at once;
/// - **missing**: exactly one caller runs the body, the others wait for its
///   value (up to `grace`, after which another may try).
///
/// This holds across threads, tasks and, with a shared store such as
/// memcached, across processes.
///
/// # What can be memoized
///
/// `fn` and `async fn`, free functions and methods (`&self`, `self`,
/// `self: Box<Self>`...), generic or not, returning:
///
/// | return type     | cached                    | not cached, recomputed next time |
/// |-----------------|---------------------------|----------------------------------|
/// | `Result<T, E>`  | `Ok(T)`                   | `Err(E)` (a stale value keeps being served meanwhile) |
/// | `Option<T>`     | `Some(T)`                 | `None`                           |
/// | any other `T`   | `T`                       | —                                |
///
/// The return type is recognized by how it is written: a type whose last
/// path segment is `Result` (`Result<T, E>`, `io::Result<T>`,
/// `anyhow::Result<T>`) or `Option` is treated as above, every other type as a
/// plain `T`. The macro cannot see through a type alias named otherwise
/// (`type Res<T> = Result<T, AppError>`): say what it is with `result` (or
/// `option`), or keep caching every value, errors included, with `value`.
/// Without either, the first computed value of a function whose plain `T`
/// turns out to be a `Result` or an `Option` logs a warning (once per
/// function, target `antidogpile`) that names the option to add.
///
/// The arguments that are part of the key must implement
/// `serde::Serialize`; the returned values must meet the requirements of
/// the cache they go to (see the `antidogpile` documentation).
///
/// # Options
///
/// ```text
/// #[antidogpiled(
///     soft = "30s",          // required: how long a value is fresh
///     factor = 8,            // the store keeps a value soft * factor (default: the cache's, 8)
///     grace = "60s",         // how long one recompute may take before another caller tries
///                            //   (default: the cache's, 60 s)
///     cache = "sessions",    // a named cache instead of the default one
///     name = "reports",      // the key namespace instead of module_path!()::fn_name
///     version = 2,           // part of the key: bump it when the cached type or meaning changes
///     skip(conn, log),       // arguments left out of the key
///     key = customer.id,     // or: an expression that is the whole key
///     background,            // or `background = true`: refresh stale values on a spawned task
///     jitter = 0.1,          // shorten each value's freshness by a random 0-10% so values
///                            //   loaded together do not all expire together
///     invalidate = false,    // no `report_invalidate` (or = "forget_report": another name;
///                            //   = true: `report_invalidate` for a private method too)
///     result,                // or `option`, or `value`: what the return type is, when its
///                            //   name does not say (a type alias)
/// )]
/// ```
///
/// - **`soft = "<duration>"`** (required): how long a value is fresh.
/// - **`factor = <integer>`** (>= 1): the hard timeout, how long the store
///   keeps a value, is `soft * factor`. A stale value can only be served as
///   long as it is kept. Default: the cache's `hard_timeout_factor`.
/// - **`grace = "<duration>"`**: how long one caller may take to recompute
///   before another caller is allowed to try (the first crashed, hung or was
///   cancelled). Default: the cache's.
/// - **`cache = "<name>"`**: use the named cache installed under that name
///   instead of the default cache.
/// - **`name = "<namespace>"`**: the key namespace. Default:
///   `module_path!()::fn_name`. Give a name to keep the cached values across a
///   rename or a move, or to share them between two functions.
/// - **`version = <integer>`** (u32, default 0): part of every key. Change it
///   when the cached type or the meaning of the values changes, so that old
///   values are not read back.
/// - **`skip(arg, ...)`**: leave these arguments out of the key, e.g. a
///   connection (`&Pool`, or `&mut PgConnection`) or a logger. The body
///   still gets them. `skip(self)` is
///   accepted and changes nothing: the receiver's value is never part of the
///   key.
/// - **`key = <expr>`**: hash this expression instead of the arguments; it
///   may use the arguments and `self`. Cannot be combined with `skip`.
/// - **`background`** or **`background = true|false`**: when the value is
///   stale, the caller that claims the refresh also gets the stale value at
///   once, and the body runs on a spawned task (`async fn`, needs a tokio
///   runtime) or on a shared pool of 4 threads with a queue of 1,024 (`fn`).
///   When that queue is full the refresh is not run: its claim is released,
///   the stale value is served, and a later caller refreshes. The body then
///   outlives the call, so every argument must be owned and `'static`, and
///   there can be no `self`.
/// - **`jitter = <fraction>`** (0.0 <= jitter < 1.0, default 0.0): shorten
///   each value's soft timeout by a random fraction of `soft` up to this
///   (never lengthen it: a value is never fresh for longer than `soft`), so
///   that values loaded together do not expire together.
/// - **`invalidate = false`**, **`invalidate = true`** or
///   **`invalidate = "<fn name>"`**: no invalidator, `name_invalidate`, or
///   the invalidator under that name. Default: `name_invalidate`, except
///   for a method without a visibility (it takes `self` or names `Self`
///   and is not `pub`, `pub(crate)`...), which gets none unless asked: it
///   may be in a trait impl, which may only define the trait's functions
///   (see [Invalidation](#invalidation)).
/// - **`result`**, **`option`** or **`value`** (at most one): what the
///   return type is, whatever it is called. `result`: a `Result`, `Ok` is
///   cached and `Err` is not; `option`: an `Option`, `Some` is cached and
///   `None` is not; `value`: every value is cached, `Err` or `None` too
///   (negative caching). `result` or `option` on a type that is not one is a
///   compile error, and so is `result` on a type spelled `Option<..>` (or
///   `option` on one spelled `Result<..>`).
///
/// Durations are whole numbers with a unit, `ms`, `s`, `m`, `h` or `d`:
/// `"250ms"`, `"30s"`, `"5m"`, `"1h"`, `"1d"`, or several units largest
/// first: `"1m30s"`, `"1h30m"`, `"1s500ms"`. They are checked when the crate
/// compiles, never at run time. Store URLs (`memory://?grace=1m30s`) take
/// exactly the same durations, with the same errors.
///
/// # The key
///
/// A call's key is the namespace, the version, and a stable hash of, in
/// order:
///
/// - the type `Self`, for a method or an associated function that names
///   `Self` (two types in one module may have methods of the same name);
/// - each generic type parameter and const generic parameter;
/// - the concrete type behind each `impl Trait` in an argument's type
///   (`value: impl Serialize`, `items: &[&impl Serialize]`): it is a
///   generic parameter without a name, part of the key like a named one
///   (`Some(1u32)` and `vec![1u32]` encode to the same bytes);
/// - each argument not skipped, in order (arguments named `_` are left
///   out: the body cannot read them), or the `key` expression.
///
/// Equal arguments give one key in every process. Maps (`HashMap`,
/// `IndexMap`, `BTreeMap`, at any depth: in a struct, a `Vec`, another
/// map) are hashed in the order of their encoded keys, whatever order they
/// iterate in. Sets cannot be: serde hands a set to the encoder as a plain
/// sequence, like a `Vec`, whose order matters. So a `HashSet` (or an
/// `IndexSet`, `FxHashSet`, `AHashSet`, `DashSet`) spelled in the type of
/// an argument that is part of the key is a compile error: take a
/// `BTreeSet` or a sorted `Vec`, or `skip` the argument. A hash set the
/// macro cannot see (inside a struct, behind an alias or a generic `T`, in
/// a `key` expression) is hashed in its iteration order, which differs
/// between equal sets: such calls compute again instead of sharing a value.
/// Type names (generics, `Self`, `impl Trait`) come from
/// `std::any::type_name`, the same in every process of one build.
///
/// An associated function that neither takes `self` nor names `Self` has
/// the namespace `module_path!()::fn_name` like a free function: if two types
/// in one module both memoize such a function under the same name, give each
/// its own `name`.
///
/// # Methods and async
///
/// ```text
/// impl Catalog {
///     #[antidogpiled(soft = "5m", skip(conn))]
///     pub async fn product(&self, id: u64, conn: &Db) -> Option<Product> {
///         conn.find_product(self.region, id).await
///     }
///
///     #[antidogpiled(soft = "1h", name = "catalog::price", version = 2, background)]
///     pub fn price_list(region: Region) -> Result<Vec<Price>, Error> {
///         load_prices(region)
///     }
/// }
/// ```
///
/// # Invalidation
///
/// Next to the function goes `<name>_invalidate`, with the same visibility,
/// generics, receiver and arguments, plus `how: antidogpile::Invalidate`
/// (a private method gets it with `invalidate = true`, see below):
///
/// ```text
/// report_invalidate(customer, Invalidate::Soft)?;  // -> Result<bool, antidogpile::Error>
/// self.product_invalidate(id, conn, Invalidate::Hard).await?;
/// ```
///
/// It builds the key exactly as a call does (skipped arguments are taken
/// and ignored) and invalidates that one value in the function's cache:
/// `Soft` marks it stale, so the next caller recomputes it while the others
/// are served the old value; `Hard` removes it, so the next caller computes
/// and the others wait. It returns whether there was a value (`Hard`:
/// always `true`), and an error only when the store fails. It is `async`
/// when the function is.
///
/// A trait impl may only define the trait's functions, and the attribute
/// cannot see the `impl` it is in. What it can see: an item of a trait
/// impl has no visibility (`pub fn` is refused there). So a function that
/// is certainly associated (it takes `self`, `&self`, `self: Box<Self>`...,
/// or names `Self` in an argument or its return type) and has no
/// visibility gets no invalidator unless asked, and a memoized method of a
/// trait impl needs no option:
///
/// ```text
/// impl Pricing for Shop {
///     #[antidogpiled(soft = "5m")]               // no `price_invalidate`
///     fn price(&self, sku: u64) -> u64 { .. }
/// }
///
/// impl Catalog {
///     #[antidogpiled(soft = "5m")]               // `product_invalidate`, `pub` too
///     pub fn product(&self, id: u64) -> Option<Product> { .. }
///
///     #[antidogpiled(soft = "5m", invalidate = true)]  // private: asked for
///     fn stock(&self, id: u64) -> u32 { .. }
/// }
/// ```
///
/// To invalidate a trait method's values, memoize an inherent method (with
/// a visibility or `invalidate = true`) that the trait method calls. An
/// associated function that neither takes `self` nor names `Self` cannot be
/// told from a free function and gets `name_invalidate`: in a trait impl
/// it needs `invalidate = false` (see below).
///
/// # Compile errors
///
/// Every mistake is reported at the token that causes it, all at once, and
/// the function is then left as written so that no other error follows:
///
/// - a missing `soft`; an unknown option (the error lists them); an option
///   given twice; a bad duration such as `"30x"`; `factor = 0`; a `jitter`
///   outside `0.0..1.0`; an empty `cache` or `name`;
/// - `skip` of an argument that does not exist; `skip` together with `key`;
/// - `&mut self`, and `&mut` arguments that are part of the key: a cached
///   call would skip the mutation. A `&mut` argument left out of the key
///   (`skip(conn)`, or any with `key = ..`) is fine: the `&mut conn` of
///   sqlx and diesel is how the body computes, not what it computes;
/// - argument patterns such as `(a, b): (u8, u8)`: bind the argument to a
///   name and destructure it in the body;
/// - no return type or `()` (nothing to cache), an `impl Trait` return
///   type (the cached type must be named), and a borrowed one (`&str`,
///   `Option<&'a T>`: return an owned value, `String`, `Option<T>`);
/// - a boxed future (`Pin<Box<dyn Future<..>>>`), which is what
///   `#[async_trait]` on an impl makes of its `async fn`s before this
///   attribute sees them: memoize an `async fn` outside the trait impl and
///   call it from the trait method, or drop `#[async_trait]` (`async fn` in
///   traits is native since Rust 1.75);
/// - a hash set type in an argument that is part of the key;
/// - `result`, `option` and `value` together; `result` on a type spelled
///   `Option<..>` and `option` on one spelled `Result<..>`; `result` or
///   `option` on a type that is not one (reported by the compiler, at the
///   return type);
/// - `background` with `self` or with an argument that borrows;
/// - `const fn`, `extern` functions and variadic functions.
///
/// An unknown option names the one meant when it is another crate's name
/// for it (`ttl`, `timeout`: `soft`) or a near miss (`sikp`: `skip`). When
/// the attribute or the function is wrong, the function is emitted as
/// written and so is its invalidator, if it would have one (a stand-in
/// with the same signature), so that the calls of either are no errors of
/// their own.
///
/// One error the macro cannot turn into its own: it cannot see the `impl`
/// a function is in, so an associated function of a trait impl that
/// neither takes `self` nor names `Self` (`fn rate(region: u32) -> u64`),
/// or that asks for an invalidator, gets one there, and the compiler
/// reports "method `name_invalidate` is not a member of trait" (E0407) at
/// the `#[antidogpiled]` attribute. The fix is `invalidate = false` (a
/// trait impl may only define the trait's functions), and, to invalidate,
/// memoize an inherent function and call it from the trait's. Methods taking
/// `self` and functions naming `Self` need nothing (see
/// [Invalidation](#invalidation)); with an error in the attribute, they get
/// no stand-in invalidator either.
///
/// A value of type `Arc<T>` (or `Rc<T>`) needs serde's `rc` feature,
/// which `antidogpile` turns on: a cached `Arc` is a copy, like every
/// cached value, read back from bytes as a new `Arc`.
///
/// # What it expands to
///
/// The function keeps its attributes, visibility, signature and body; the
/// body becomes the `compute` of one call into the runtime:
///
/// ```text
/// fn report(&self, customer: u64) -> Result<Report, DbError> {
///     static __ANTIDOGPILE_SITE: Site = Site::new(
///         concat!(module_path!(), "::", "report"),
///         SiteOptions { soft_ms: 30000, factor: None, grace_ms: None, version: 0,
///                       cache: None, jitter: 0.0, background: false });
///     let __antidogpile_key = {
///         let mut __h = KeyHasher::new(&__ANTIDOGPILE_SITE);
///         __h.type_param::<Self>();
///         __h.arg(&customer);
///         __h.finish()
///     };
///     memoize::<Result<Report, DbError>>(&__ANTIDOGPILE_SITE, __antidogpile_key,
///         move || -> Result<Report, DbError> { /* the body */ })
/// }
/// ```
///
/// `async fn` stays an `async fn` and awaits `memoize_async` with the body as
/// an `async move` block; `background` uses `memoize_background` /
/// `memoize_async_background`; a plain `T` goes through the runtime as
/// `Always<T>` (built by `plain(&__ANTIDOGPILE_SITE, value)`, which checks
/// for a `Result` or an `Option` under another name, unless `value` is
/// given); an `impl Trait` argument adds `__h.type_of_val(&arg)`, and
/// `result` on an alias adds `expect_result::<Res<T>>()`. The invalidator's body is the same static and key, then
/// `invalidate(&__ANTIDOGPILE_SITE, __antidogpile_key, how)` (or
/// `invalidate_async(..).await`).
#[proc_macro_attribute]
pub fn antidogpiled(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::antidogpiled(args.into(), item.into()).into()
}
