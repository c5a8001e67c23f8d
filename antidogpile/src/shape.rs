//! Value shapes: a 64-bit fingerprint of a type's serde shape, so that bytes
//! written for one shape are never decoded as another.
//!
//! postcard is not self-describing: `Price { cents, tax_cents }` reads the
//! bytes of `Price { tax_cents, cents }` without complaint, and a `u64`
//! reads an `i64`'s bytes. The shape is what postcard's bytes mean: the
//! names and order of fields, the names and payloads of enum variants, the
//! primitive types, sequences, maps, options and tuples, nested to the end.
//!
//! It is traced once per process per type (see [`shape_of`]), through the
//! type's own `Deserialize`: a tracing deserializer hands the visitor made-up
//! values and writes down what it was asked for. An enum is traced once per
//! variant (one pass per variant not yet seen); a recursive type is cut where
//! it recurses (the name is written, the inner value is the smallest the
//! deserializer can make: no elements, `None`, a variant that ends).
//!
//! A named type is told from another of the same serde name (the inner
//! `Envelope<Price>` of an `Envelope<Envelope<Price>>`, or `a::Item` beside
//! `b::Item`) by the Rust type of the visitor its `Deserialize` hands over,
//! one per type and generic arguments. That type's name is only compared
//! within one trace, never written into the shape (it changes with the path
//! of a module and with the compiler): the shape writes the serde name,
//! numbered from the second type of that name on, in the order the trace
//! met them. So two distinct types of one serde name and one shape differ
//! from one type met twice (a recompute, never a misread). A `type_name` is
//! not unique: two types whose visitors' names are equal too (two versions
//! of one crate) are one type to the trace; with different shapes they make
//! the type untraceable, and one inside the other is cut as a recursion.
//!
//! Some types cannot be traced: those that ask for `deserialize_any`
//! (`serde_json::Value`, untagged and internally tagged enums, `flatten`),
//! those whose `Deserialize` refuses the made-up values (a `NonZero` of 0 is
//! avoided by handing out 1, but a date parsed from `""` is refused) or
//! panics on them (a currency code that indexes `""`), two types whose Rust
//! names are equal too (two versions of one crate), and pathological ones
//! (more than [`MAX_PASSES`] variants to visit, nesting deeper than
//! [`MAX_DEPTH`]). Their shape is their Rust type name with an "untraced"
//! marker: as before shapes existed, a change to such a type that keeps its
//! name needs a `version` bump.

use std::any::TypeId;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

use arc_swap::ArcSwap;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, EnumAccess, IntoDeserializer, MapAccess,
    SeqAccess, VariantAccess, Visitor,
};
use xxhash_rust::xxh3::{xxh3_128_with_seed, xxh3_64};

use crate::key::Fingerprint;

/// Most passes over a type (one per enum variant to visit, plus retries).
const MAX_PASSES: usize = 512;
/// Deepest nesting of one pass.
const MAX_DEPTH: u32 = 128;
/// Most `deserialize_*` calls of one trace, all passes together.
const BUDGET: u32 = 200_000;

/// The shape fingerprint of `V`: traced on the first call for each type in
/// this process, then read from a table keyed by [`TypeId`] (a lock-free
/// load and one lookup: a few ns on a remote store's read or write).
pub(crate) fn shape_of<V: DeserializeOwned + 'static>() -> u64 {
    static SHAPES: OnceLock<ArcSwap<Shapes>> = OnceLock::new();
    let shapes = SHAPES.get_or_init(ArcSwap::default);
    let id = TypeId::of::<V>();
    if let Some(&shape) = shapes.load().get(&id) {
        return shape;
    }
    // Two threads may both trace a type, and agree.
    let shape = match describe::<V>() {
        Ok(description) => xxh3_64(format!("traced\n{description}").as_bytes()),
        Err(why) => {
            tracing::debug!(
                target: "antidogpile",
                r#type = std::any::type_name::<V>(),
                %why,
                "value type cannot be traced; its shape is its type name"
            );
            untraced::<V>()
        }
    };
    shapes.rcu(|known| {
        let mut known = Shapes::clone(known);
        known.insert(id, shape);
        known
    });
    shape
}

/// Shapes by type. A `TypeId` is a hash already: it is used as it is.
type Shapes = HashMap<TypeId, u64, BuildHasherDefault<TypeIdHasher>>;

#[derive(Default)]
struct TypeIdHasher(u64);

impl Hasher for TypeIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }

    fn write_u128(&mut self, n: u128) {
        self.0 ^= (n as u64) ^ ((n >> 64) as u64);
    }
}

/// A memoized call's fingerprint in a store shared with other builds: the
/// call's fingerprint and its value's shape, hashed together.
pub(crate) fn with_shape(fingerprint: Fingerprint, shape: u64) -> Fingerprint {
    Fingerprint::from_u128(xxh3_128_with_seed(
        &fingerprint.as_u128().to_le_bytes(),
        shape,
    ))
}

/// The fallback shape of a type that cannot be traced.
fn untraced<V>() -> u64 {
    xxh3_64(format!("untraced\n{}", std::any::type_name::<V>()).as_bytes())
}

/// The shape of `V` as text: the top-level shape, then each named type's
/// definition, sorted by name. Equal shapes give equal text.
pub(crate) fn describe<V: DeserializeOwned>() -> Result<String, TraceError> {
    // A `Deserialize` that panics on made-up values (one that indexes a
    // string it expects longer) makes a type that cannot be traced, not a
    // call that fails. The panic hook still reports it, once per process
    // per type (`shape_of` keeps the answer).
    std::panic::catch_unwind(trace::<V>).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("a panic");
        Err(TraceError::Untraceable(format!(
            "its Deserialize panicked on made-up values: {message}"
        )))
    })
}

fn trace<V: DeserializeOwned>() -> Result<String, TraceError> {
    let mut tracer = Tracer::default();
    let mut passes = 0;
    let root = loop {
        passes += 1;
        if passes > MAX_PASSES {
            return Err(TraceError::Untraceable("too many passes".to_owned()));
        }
        tracer.start_pass();
        match V::deserialize(&mut tracer) {
            Ok(_) => {}
            Err(TraceError::TooDeep) => {
                // A recursive type cut with a variant that recurses again:
                // next time, cut the most recursed enum with its next variant
                // (ties broken alike in every build: no Rust names).
                let Some((&named, _)) = tracer
                    .quiet_entries
                    .iter()
                    .max_by_key(|&(named, n)| (*n, named.name, tracer.labels.get(named)))
                else {
                    return Err(TraceError::TooDeep);
                };
                *tracer.quiet_pick.entry(named).or_default() += 1;
                continue;
            }
            Err(error) => return Err(error),
        }
        let root = std::mem::take(&mut tracer.frames[0].text);
        if !tracer.find_incomplete() {
            break root;
        }
    };
    let mut text = root;
    for (key, (_, definition)) in &tracer.defs {
        text.push('\n');
        text.push_str(key);
        text.push('=');
        text.push_str(&definition.text);
    }
    Ok(text)
}

/// Why a type could not be traced.
#[derive(Debug)]
pub(crate) enum TraceError {
    /// The type needs something a trace cannot give (see the module docs).
    Untraceable(String),
    /// Nesting deeper than [`MAX_DEPTH`].
    TooDeep,
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceError::Untraceable(why) => write!(f, "cannot trace the type: {why}"),
            TraceError::TooDeep => f.write_str("cannot trace the type: nested too deep"),
        }
    }
}

impl std::error::Error for TraceError {}

impl de::Error for TraceError {
    fn custom<T: fmt::Display>(msg: T) -> TraceError {
        TraceError::Untraceable(msg.to_string())
    }
}

/// A named type met in a trace: its serde name, and the Rust type name of
/// the visitor its `Deserialize` handed over, which tells it from another
/// type of the same serde name (see the module docs).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Named {
    name: &'static str,
    visitor: &'static str,
}

impl Named {
    fn of<V>(name: &'static str) -> Named {
        Named {
            name,
            visitor: std::any::type_name::<V>(),
        }
    }
}

/// What is being written down: the text, and the named types it refers to.
#[derive(Default, Clone, PartialEq)]
struct Frame {
    text: String,
    refs: BTreeSet<Named>,
}

/// An enum's variants and which of them have been traced.
struct EnumState {
    explored: Vec<bool>,
}

#[derive(Default)]
struct Tracer {
    /// Definitions: `LABEL` (structs, enums' variant lists) and
    /// `LABEL#index` (an enum's variant), with the type they belong to.
    defs: BTreeMap<String, (Named, Frame)>,
    /// What the shape calls each named type: `"Name"` for the first type
    /// of that serde name the trace met, `"Name"/1` for the second, ...
    labels: HashMap<Named, String>,
    /// How many types of each serde name have a label.
    named_alike: HashMap<&'static str, usize>,
    enums: HashMap<Named, EnumState>,
    /// Named types that still lead to variants to visit.
    incomplete: HashSet<Named>,
    /// For each enum met where it recurses: which variant cuts it.
    quiet_pick: HashMap<Named, usize>,
    // Per pass:
    frames: Vec<Frame>,
    /// Named types being traced, outermost first: met again inside
    /// themselves, they are cut there.
    on_stack: Vec<Named>,
    quiet: u32,
    depth: u32,
    budget_used: u32,
    quiet_entries: HashMap<Named, u32>,
}

impl Tracer {
    fn start_pass(&mut self) {
        self.frames = vec![Frame::default()];
        self.on_stack.clear();
        self.quiet = 0;
        self.depth = 0;
        self.quiet_entries.clear();
    }

    fn emit(&mut self, token: &str) {
        if self.quiet == 0 {
            if let Some(frame) = self.frames.last_mut() {
                frame.text.push_str(token);
                frame.text.push(' ');
            }
        }
    }

    /// The label of `named`, given in the order the trace meets types.
    fn label(&mut self, named: Named) -> &str {
        let Tracer {
            labels,
            named_alike,
            ..
        } = self;
        labels.entry(named).or_insert_with(|| {
            let alike = named_alike.entry(named.name).or_default();
            *alike += 1;
            match *alike - 1 {
                0 => format!("{:?}", named.name),
                nth => format!("{:?}/{nth}", named.name),
            }
        })
    }

    fn emit_ref(&mut self, named: Named) {
        if self.quiet == 0 {
            let token = format!("@{}", self.label(named));
            self.emit(&token);
            if let Some(frame) = self.frames.last_mut() {
                frame.refs.insert(named);
            }
        }
    }

    /// Counts one step against the budget and the depth.
    fn enter(&mut self) -> Result<(), TraceError> {
        self.budget_used += 1;
        if self.budget_used > BUDGET {
            return Err(TraceError::Untraceable("too large".to_owned()));
        }
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(TraceError::TooDeep);
        }
        Ok(())
    }

    /// Traces the `left` elements of a sequence, tuple or map, one level
    /// deeper, written between `open` and `)`.
    fn elements<R>(
        &mut self,
        open: &str,
        left: usize,
        visit: impl FnOnce(Elements<'_>) -> Result<R, TraceError>,
    ) -> Result<R, TraceError> {
        self.enter()?;
        self.emit(open);
        let value = visit(Elements { tracer: self, left })?;
        self.emit(")");
        self.depth -= 1;
        Ok(value)
    }

    /// Writes down the definition `suffix` (`""`, or `#index` for an enum's
    /// variant) of `owner`.
    fn define(&mut self, owner: Named, suffix: &str, frame: Frame) -> Result<(), TraceError> {
        let key = format!("{}{suffix}", self.label(owner));
        match self.defs.get(&key) {
            // Two types whose visitors' Rust names are equal too.
            Some((_, known)) if *known != frame => Err(TraceError::Untraceable(format!(
                "two different types are named {}",
                owner.visitor
            ))),
            Some(_) => Ok(()),
            None => {
                self.defs.insert(key, (owner, frame));
                Ok(())
            }
        }
    }

    /// Traces a named type: written down wherever it is met, except inside
    /// itself, where only its label is written and its value made quietly.
    fn named<R>(
        &mut self,
        named: Named,
        body: impl FnOnce(&mut Tracer) -> Result<R, TraceError>,
    ) -> Result<R, TraceError> {
        self.enter()?;
        self.emit_ref(named);
        let loud = self.quiet == 0 && !self.on_stack.contains(&named);
        let result = if loud {
            self.on_stack.push(named);
            self.frames.push(Frame::default());
            let result = body(self);
            let frame = self.frames.pop().unwrap_or_default();
            self.on_stack.pop();
            let value = result?;
            self.define(named, "", frame)?;
            value
        } else {
            self.quiet += 1;
            let result = body(self);
            self.quiet -= 1;
            result?
        };
        self.depth -= 1;
        Ok(result)
    }

    /// Which variant of enum `named` to take in this pass.
    fn choose(&mut self, named: Named, variants: usize, loud: bool) -> usize {
        if !loud {
            *self.quiet_entries.entry(named).or_default() += 1;
            return self.quiet_pick.get(&named).copied().unwrap_or(0) % variants;
        }
        let state = self.enums.entry(named).or_insert_with(|| EnumState {
            explored: vec![false; variants],
        });
        if let Some(unexplored) = state.explored.iter().position(|done| !done) {
            return unexplored;
        }
        // Every variant traced: go where something is still to visit.
        let label = self.label(named).to_owned();
        (0..variants)
            .find(|index| {
                self.defs
                    .get(&format!("{label}#{index}"))
                    .is_some_and(|(_, def)| def.refs.iter().any(|r| self.incomplete.contains(r)))
            })
            .unwrap_or(0)
    }

    /// Recomputes which named types still lead to unvisited variants;
    /// whether there are any.
    fn find_incomplete(&mut self) -> bool {
        let mut incomplete: HashSet<Named> = self
            .enums
            .iter()
            .filter(|(_, state)| state.explored.iter().any(|done| !done))
            .map(|(name, _)| *name)
            .collect();
        loop {
            let mut grown = false;
            for (owner, def) in self.defs.values() {
                if !incomplete.contains(owner) && def.refs.iter().any(|r| incomplete.contains(r)) {
                    incomplete.insert(*owner);
                    grown = true;
                }
            }
            if !grown {
                break;
            }
        }
        let any = !incomplete.is_empty();
        self.incomplete = incomplete;
        any
    }
}

/// Gives `len` elements (or fewer: a visitor may stop early).
struct Elements<'t> {
    tracer: &'t mut Tracer,
    left: usize,
}

impl<'de> SeqAccess<'de> for Elements<'_> {
    type Error = TraceError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, TraceError> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(&mut *self.tracer).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.left)
    }
}

impl<'de> MapAccess<'de> for Elements<'_> {
    type Error = TraceError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, TraceError> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(&mut *self.tracer).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, TraceError> {
        seed.deserialize(&mut *self.tracer)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.left)
    }
}

/// One enum value: the chosen variant.
struct Variant<'t> {
    tracer: &'t mut Tracer,
    index: u32,
}

impl<'de, 't> EnumAccess<'de> for Variant<'t> {
    type Error = TraceError;
    type Variant = Variant<'t>;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Variant<'t>), TraceError> {
        let deserializer: de::value::U32Deserializer<TraceError> = self.index.into_deserializer();
        Ok((seed.deserialize(deserializer)?, self))
    }
}

impl<'de> VariantAccess<'de> for Variant<'_> {
    type Error = TraceError;

    fn unit_variant(self) -> Result<(), TraceError> {
        self.tracer.emit("unit");
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, TraceError> {
        self.tracer.emit("newtype");
        seed.deserialize(self.tracer)
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        self.tracer.deserialize_tuple(len, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        self.tracer.emit(&format!("struct{fields:?}("));
        self.tracer.enter()?;
        let value = visitor.visit_seq(Elements {
            left: fields.len(),
            tracer: &mut *self.tracer,
        })?;
        self.tracer.depth -= 1;
        self.tracer.emit(")");
        Ok(value)
    }
}

macro_rules! primitives {
    ($($method:ident $visit:ident $value:expr;)*) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
            self.enter()?;
            self.emit(&stringify!($method)["deserialize_".len()..]);
            self.depth -= 1;
            visitor.$visit($value)
        })*
    };
}

impl<'de> Deserializer<'de> for &mut Tracer {
    type Error = TraceError;

    fn is_human_readable(&self) -> bool {
        // As postcard: types that serialize differently for people (IP
        // addresses, times) take their compact form.
        false
    }

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, TraceError> {
        Err(TraceError::Untraceable(
            "it asks for a self-describing format (deserialize_any)".to_owned(),
        ))
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, _: V) -> Result<V::Value, TraceError> {
        Err(TraceError::Untraceable(
            "it asks for an identifier outside an enum".to_owned(),
        ))
    }

    // Integers are 1, not 0: a `NonZero` accepts it.
    primitives! {
        deserialize_bool visit_bool false;
        deserialize_i8 visit_i8 1;
        deserialize_i16 visit_i16 1;
        deserialize_i32 visit_i32 1;
        deserialize_i64 visit_i64 1;
        deserialize_i128 visit_i128 1;
        deserialize_u8 visit_u8 1;
        deserialize_u16 visit_u16 1;
        deserialize_u32 visit_u32 1;
        deserialize_u64 visit_u64 1;
        deserialize_u128 visit_u128 1;
        deserialize_f32 visit_f32 0.0;
        deserialize_f64 visit_f64 0.0;
        deserialize_char visit_char 'a';
        deserialize_str visit_str "";
        deserialize_string visit_string String::new();
        deserialize_bytes visit_bytes &[];
        deserialize_byte_buf visit_byte_buf Vec::new();
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        self.emit("unit");
        visitor.visit_unit()
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        self.emit("ignored");
        visitor.visit_unit()
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        self.enter()?;
        self.emit("option(");
        let value = if self.quiet == 0 {
            visitor.visit_some(&mut *self)?
        } else {
            visitor.visit_none()?
        };
        self.emit(")");
        self.depth -= 1;
        Ok(value)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        self.named(Named::of::<V>(name), |tracer| {
            tracer.emit("unit_struct");
            visitor.visit_unit()
        })
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        self.named(Named::of::<V>(name), |tracer| {
            tracer.emit("newtype_struct");
            visitor.visit_newtype_struct(tracer)
        })
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        let left = usize::from(self.quiet == 0);
        self.elements("seq(", left, |elements| visitor.visit_seq(elements))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        self.elements(&format!("tuple{len}("), len, |elements| {
            visitor.visit_seq(elements)
        })
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        self.named(Named::of::<V>(name), |tracer| {
            tracer.deserialize_tuple(len, visitor)
        })
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        let left = usize::from(self.quiet == 0);
        self.elements("map(", left, |elements| visitor.visit_map(elements))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        self.named(Named::of::<V>(name), |tracer| {
            tracer.emit(&format!("struct{fields:?}("));
            let value = visitor.visit_seq(Elements {
                tracer: &mut *tracer,
                left: fields.len(),
            })?;
            tracer.emit(")");
            Ok(value)
        })
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        if variants.is_empty() {
            return Err(TraceError::Untraceable(format!(
                "enum {name} has no variant"
            )));
        }
        let named = Named::of::<V>(name);
        self.enter()?;
        self.emit_ref(named);
        let loud = self.quiet == 0 && !self.on_stack.contains(&named);
        let index = self.choose(named, variants.len(), loud);
        let value = if loud {
            self.define(
                named,
                "",
                Frame {
                    text: format!("enum{variants:?}"),
                    refs: BTreeSet::new(),
                },
            )?;
            // Its variants are traced one per pass.
            self.on_stack.push(named);
            self.frames.push(Frame::default());
            let result = visitor.visit_enum(Variant {
                tracer: &mut *self,
                index: index as u32,
            });
            let frame = self.frames.pop().unwrap_or_default();
            self.on_stack.pop();
            let value = result?;
            self.define(named, &format!("#{index}"), frame)?;
            if let Some(state) = self.enums.get_mut(&named) {
                state.explored[index] = true;
            }
            value
        } else {
            self.quiet += 1;
            let result = visitor.visit_enum(Variant {
                tracer: &mut *self,
                index: index as u32,
            });
            self.quiet -= 1;
            result?
        };
        self.depth -= 1;
        Ok(value)
    }
}

#[cfg(test)]
mod tests;
