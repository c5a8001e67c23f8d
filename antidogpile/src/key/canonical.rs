//! One encoding for equal arguments: maps in the order of their encoded keys.
//!
//! A `HashMap` iterates in an order of its own random hasher, so two equal
//! maps, or one map in two processes, would encode (and key) differently.
//! [`Canonical`] passes a value to the encoder through [`Ordered`], a
//! serializer that hands everything to the encoder's serializer unchanged,
//! except maps (at any depth: in a struct, a `Vec`, another map), whose
//! entries it encodes one by one, sorts by the key's bytes and then writes.
//! The result is the postcard encoding of the same map iterated in that
//! order. Sets cannot be ordered here: serde hands a `HashSet` over as a
//! sequence, which a `Vec` is too, whose order matters (the macro refuses
//! set types spelled in a key argument).

use serde::ser::{
    self, Serialize, SerializeMap, SerializeSeq, SerializeStruct, SerializeStructVariant,
    SerializeTuple, SerializeTupleStruct, SerializeTupleVariant, Serializer,
};

/// A value whose maps are written in a canonical order.
pub(crate) struct Canonical<'a, T: ?Sized>(pub(crate) &'a T);

impl<T: Serialize + ?Sized> Serialize for Canonical<'_, T> {
    #[inline]
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(Ordered(serializer))
    }
}

/// The encoder's serializer, with maps ordered.
struct Ordered<S>(S);

/// A compound value (sequence, tuple, struct) whose elements are ordered too.
struct Elements<C>(C);

/// A map's entries, encoded, until its end sorts and writes them.
struct SortedMap<S> {
    serializer: S,
    entries: Vec<(Vec<u8>, Vec<u8>)>,
    key: Option<Vec<u8>>,
}

/// Bytes already encoded, written as they are: postcard writes a tuple of
/// `u8` as the bytes alone, without a length.
struct Encoded<'a>(&'a [u8]);

impl Serialize for Encoded<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut tuple = serializer.serialize_tuple(self.0.len())?;
        for byte in self.0 {
            tuple.serialize_element(byte)?;
        }
        tuple.end()
    }
}

/// One key or value of a map, on its own (its own maps ordered as well).
fn encode<T: Serialize + ?Sized, E: ser::Error>(value: &T) -> Result<Vec<u8>, E> {
    postcard::to_extend(&Canonical(value), Vec::new()).map_err(E::custom)
}

macro_rules! forward {
    ($($method:ident($ty:ty);)*) => {
        $(
            #[inline]
            fn $method(self, v: $ty) -> Result<S::Ok, S::Error> {
                self.0.$method(v)
            }
        )*
    };
}

impl<S: Serializer> Serializer for Ordered<S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Elements<S::SerializeSeq>;
    type SerializeTuple = Elements<S::SerializeTuple>;
    type SerializeTupleStruct = Elements<S::SerializeTupleStruct>;
    type SerializeTupleVariant = Elements<S::SerializeTupleVariant>;
    type SerializeMap = SortedMap<S>;
    type SerializeStruct = Elements<S::SerializeStruct>;
    type SerializeStructVariant = Elements<S::SerializeStructVariant>;

    forward! {
        serialize_bool(bool);
        serialize_i8(i8);
        serialize_i16(i16);
        serialize_i32(i32);
        serialize_i64(i64);
        serialize_i128(i128);
        serialize_u8(u8);
        serialize_u16(u16);
        serialize_u32(u32);
        serialize_u64(u64);
        serialize_u128(u128);
        serialize_f32(f32);
        serialize_f64(f64);
        serialize_char(char);
        serialize_str(&str);
        serialize_bytes(&[u8]);
        serialize_unit_struct(&'static str);
    }

    #[inline]
    fn serialize_none(self) -> Result<S::Ok, S::Error> {
        self.0.serialize_none()
    }

    #[inline]
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        self.0.serialize_some(&Canonical(value))
    }

    #[inline]
    fn serialize_unit(self) -> Result<S::Ok, S::Error> {
        self.0.serialize_unit()
    }

    #[inline]
    fn serialize_unit_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
    ) -> Result<S::Ok, S::Error> {
        self.0.serialize_unit_variant(name, index, variant)
    }

    #[inline]
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        self.0.serialize_newtype_struct(name, &Canonical(value))
    }

    #[inline]
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        self.0
            .serialize_newtype_variant(name, index, variant, &Canonical(value))
    }

    #[inline]
    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        self.0.serialize_seq(len).map(Elements)
    }

    #[inline]
    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple, S::Error> {
        self.0.serialize_tuple(len).map(Elements)
    }

    #[inline]
    fn serialize_tuple_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleStruct, S::Error> {
        self.0.serialize_tuple_struct(name, len).map(Elements)
    }

    #[inline]
    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        self.0
            .serialize_tuple_variant(name, index, variant, len)
            .map(Elements)
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        Ok(SortedMap {
            serializer: self.0,
            entries: Vec::with_capacity(len.unwrap_or(0)),
            key: None,
        })
    }

    #[inline]
    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStruct, S::Error> {
        self.0.serialize_struct(name, len).map(Elements)
    }

    #[inline]
    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        self.0
            .serialize_struct_variant(name, index, variant, len)
            .map(Elements)
    }

    #[inline]
    fn collect_str<T: std::fmt::Display + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        self.0.collect_str(value)
    }

    #[inline]
    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }
}

impl<S: Serializer> SerializeMap for SortedMap<S> {
    type Ok = S::Ok;
    type Error = S::Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), S::Error> {
        self.key = Some(encode(key)?);
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), S::Error> {
        let Some(key) = self.key.take() else {
            return Err(ser::Error::custom("a map value without its key"));
        };
        self.entries.push((key, encode(value)?));
        Ok(())
    }

    fn end(mut self) -> Result<S::Ok, S::Error> {
        // Equal keys cannot both be in a map; were they, the values decide.
        self.entries.sort_unstable();
        let mut map = self.serializer.serialize_map(Some(self.entries.len()))?;
        for (key, value) in &self.entries {
            map.serialize_entry(&Encoded(key), &Encoded(value))?;
        }
        map.end()
    }
}

macro_rules! elements {
    ($($trait:ident :: $method:ident;)*) => {
        $(
            impl<C: $trait> $trait for Elements<C> {
                type Ok = C::Ok;
                type Error = C::Error;

                #[inline]
                fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
                    self.0.$method(&Canonical(value))
                }

                #[inline]
                fn end(self) -> Result<C::Ok, C::Error> {
                    self.0.end()
                }
            }
        )*
    };
}

elements! {
    SerializeSeq::serialize_element;
    SerializeTuple::serialize_element;
    SerializeTupleStruct::serialize_field;
    SerializeTupleVariant::serialize_field;
}

macro_rules! fields {
    ($($trait:ident;)*) => {
        $(
            impl<C: $trait> $trait for Elements<C> {
                type Ok = C::Ok;
                type Error = C::Error;

                #[inline]
                fn serialize_field<T: Serialize + ?Sized>(
                    &mut self,
                    key: &'static str,
                    value: &T,
                ) -> Result<(), C::Error> {
                    self.0.serialize_field(key, &Canonical(value))
                }

                #[inline]
                fn skip_field(&mut self, key: &'static str) -> Result<(), C::Error> {
                    self.0.skip_field(key)
                }

                #[inline]
                fn end(self) -> Result<C::Ok, C::Error> {
                    self.0.end()
                }
            }
        )*
    };
}

fields! {
    SerializeStruct;
    SerializeStructVariant;
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use super::*;

    fn canonical<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
        postcard::to_allocvec(&Canonical(value)).unwrap()
    }

    #[derive(serde::Serialize)]
    enum Shape {
        Unit,
        Newtype(u16),
        Tuple(u8, String),
        Struct { a: Option<u64>, b: [i8; 3] },
    }

    #[derive(serde::Serialize)]
    struct Nested<'a>(
        &'a str,
        (bool, char, f64),
        Vec<Shape>,
        Option<Box<Nested<'a>>>,
        (),
    );

    /// Without maps, the encoding is postcard's, byte for byte: keys of
    /// arguments without maps are the same as before.
    #[test]
    fn values_without_maps_encode_as_postcard_does() {
        let value = Nested(
            "name",
            (true, 'é', -1.5),
            vec![
                Shape::Unit,
                Shape::Newtype(300),
                Shape::Tuple(7, "x".repeat(200)),
                Shape::Struct {
                    a: Some(u64::MAX),
                    b: [-1, 0, 1],
                },
            ],
            Some(Box::new(Nested(
                "inner",
                (false, 'a', 0.0),
                vec![],
                None,
                (),
            ))),
            (),
        );
        assert_eq!(canonical(&value), postcard::to_allocvec(&value).unwrap());
    }

    /// A map is written as postcard writes the same map in the order of
    /// its encoded keys, whatever its iteration order.
    #[test]
    fn maps_are_written_in_the_order_of_their_encoded_keys() {
        let keys = [300u32, 1, 128, 127, 70_000, 0];
        let mut by_bytes: Vec<(Vec<u8>, u32)> = keys
            .iter()
            .map(|k| (postcard::to_allocvec(k).unwrap(), *k))
            .collect();
        by_bytes.sort();
        let mut expected = postcard::to_allocvec(&keys.len()).unwrap();
        for (key_bytes, key) in &by_bytes {
            expected.extend(key_bytes);
            expected.extend(postcard::to_allocvec(&format!("v{key}")).unwrap());
        }
        for _ in 0..10 {
            let map: HashMap<u32, String> = keys.iter().map(|k| (*k, format!("v{k}"))).collect();
            assert_eq!(canonical(&map), expected);
        }
        let btree: BTreeMap<u32, String> = keys.iter().map(|k| (*k, format!("v{k}"))).collect();
        assert_eq!(canonical(&btree), expected);
    }

    #[test]
    fn maps_inside_maps_and_structs_are_ordered_too() {
        #[derive(serde::Serialize)]
        struct Outer {
            tags: Vec<HashMap<String, HashMap<u8, bool>>>,
        }
        let outer = || Outer {
            tags: vec![(0..8)
                .map(|i| (format!("t{i}"), (0..8).map(|j| (j, j % 2 == 0)).collect()))
                .collect()],
        };
        let first = canonical(&outer());
        for _ in 0..10 {
            assert_eq!(canonical(&outer()), first);
        }
    }

    #[test]
    fn different_maps_encode_differently() {
        let a: HashMap<u8, u8> = [(1, 2), (3, 4)].into();
        let b: HashMap<u8, u8> = [(1, 2), (3, 5)].into();
        let c: HashMap<u8, u8> = [(1, 2)].into();
        assert_ne!(canonical(&a), canonical(&b));
        assert_ne!(canonical(&a), canonical(&c));
    }

    /// A map of unknown length (`#[serde(flatten)]`, a hand-written
    /// `Serialize`) encodes too: its entries are counted here.
    #[test]
    fn maps_of_unknown_length_are_counted() {
        struct Unsized;
        impl Serialize for Unsized {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut map = serializer.serialize_map(None)?;
                map.serialize_entry("b", &2u8)?;
                map.serialize_entry("a", &1u8)?;
                map.end()
            }
        }
        let sorted: BTreeMap<&str, u8> = [("a", 1), ("b", 2)].into();
        assert_eq!(canonical(&Unsized), postcard::to_allocvec(&sorted).unwrap());
    }
}
