//! Reading JSON objects: the records the server wrote itself (a socket's
//! [`Attachment`](crate::socket::Attachment), the object's
//! [`Wakes`](crate::wakes::Wakes), a token's [`Claims`](crate::token::Claims))
//! and the frames clients send ([`crate::protocol::parse`]).
//!
//! Why not `#[derive(Deserialize)]`: a derived deserializer words its type
//! errors with serde's `Unexpected`, whose `Display` formats floats, and
//! that alone pulls Rust's float formatting into the Wasm module. These
//! records were measured at about 48 KiB of the module (of 196 KiB) with
//! derived deserializers. Why not `serde_json::Value`: its map is a
//! `BTreeMap<String, Value>`, a second B-tree in the module (the room has
//! one), and a `Value` costs 24 bytes or more per element whatever the
//! JSON (a frame of `[0,0,…]` is 2 bytes per element). So an object is read
//! once, by one visitor, into a short list of [`Fields`]: the fields a
//! reader keeps, with their values; every other value is read and dropped
//! as it goes. serde_json's nesting limit (128 levels) bounds the
//! recursion. Every `visit_` method serde_json calls is written out, and
//! nothing here builds an error of its own (`de::Error::custom` would add
//! serde_json's message parsing to the module).
//!
//! Like serde's default, unknown fields are ignored and the last of
//! duplicate fields wins; a missing required field or a field of the wrong
//! type makes a record unreadable.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// A JSON value as read: strings and whole numbers are kept, objects only
/// where the reader asked for them, other values by their kind alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    /// A string.
    Str(String),
    /// A number: `Some` when it is a whole number from 0 to `u64::MAX`.
    Num(Option<u64>),
    /// `true` or `false`.
    Bool,
    /// `null`.
    Null,
    /// An array (its elements are not kept).
    Array,
    /// An object: its fields if they were read, else none.
    Object(Fields),
}

impl Item {
    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Item::Str(text) => Some(text),
            _ => None,
        }
    }

    /// The whole number from 0 to `u64::MAX`, if this is one.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Item::Num(number) => *number,
            _ => None,
        }
    }

    /// The kind of JSON value, as an error message names it.
    pub fn kind(&self) -> &'static str {
        match self {
            Item::Str(_) => "a string",
            Item::Num(_) => "a number",
            Item::Bool => "a boolean",
            Item::Null => "null",
            Item::Array => "an array",
            Item::Object(_) => "an object",
        }
    }
}

/// The fields read from a JSON object, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fields(Vec<(String, Item)>);

impl Fields {
    /// The value of `field` (the last one, if it is there twice).
    pub fn get(&self, field: &str) -> Option<&Item> {
        self.0
            .iter()
            .rev()
            .find(|(key, _)| key == field)
            .map(|(_, item)| item)
    }

    /// Takes the value of `field` out (the last one, if it is there twice).
    pub fn take(&mut self, field: &str) -> Option<Item> {
        let at = self.0.iter().rposition(|(key, _)| key == field)?;
        Some(self.0.remove(at).1)
    }
}

/// Why a JSON text could not be read as an object.
#[derive(Debug)]
pub enum Unreadable {
    /// It is JSON, but not an object.
    NotObject,
    /// It is not JSON: what serde_json says.
    BadJson(serde_json::Error),
}

/// Reads `text` as one JSON object, keeping the fields whose names `keep`
/// accepts. Objects nested in them are kept too if `nested` is set;
/// otherwise they are read and dropped, like every value not kept.
pub fn object(text: &str, keep: &dyn Fn(&str) -> bool, nested: bool) -> Result<Fields, Unreadable> {
    let not_object = Cell::new(false);
    let mut json = serde_json::Deserializer::from_str(text);
    let read = json
        .deserialize_any(Top {
            keep,
            nested,
            not_object: &not_object,
        })
        .and_then(|fields| json.end().map(|()| fields));
    match read {
        _ if not_object.get() => Err(Unreadable::NotObject),
        Ok(fields) => Ok(fields),
        Err(error) => Err(Unreadable::BadJson(error)),
    }
}

/// A JSON object being read as a record.
#[derive(Clone, Copy)]
pub struct Record<'a>(&'a Fields);

impl<'a> Record<'a> {
    /// The object `item`, or `None` for any other JSON value.
    pub fn of(item: &'a Item) -> Option<Self> {
        match item {
            Item::Object(fields) => Some(Record(fields)),
            _ => None,
        }
    }

    /// A required string field.
    pub fn str(self, field: &str) -> Option<&'a str> {
        self.0.get(field)?.as_str()
    }

    /// A required whole number field (not negative, not a fraction).
    pub fn u64(self, field: &str) -> Option<u64> {
        self.0.get(field)?.as_u64()
    }

    /// A required whole number field that fits in 32 bits.
    pub fn u32(self, field: &str) -> Option<u32> {
        u32::try_from(self.u64(field)?).ok()
    }

    /// An optional field: `Some(None)` when absent or `null`, `Some(Some(x))`
    /// when `read` accepts it, `None` (unreadable) otherwise.
    pub fn optional<T>(
        self,
        field: &str,
        read: impl FnOnce(&'a Item) -> Option<T>,
    ) -> Option<Option<T>> {
        match self.0.get(field) {
            None | Some(Item::Null) => Some(None),
            Some(item) => read(item).map(Some),
        }
    }
}

/// Parses `text` as a JSON object and reads it with `read`; `None` if
/// either fails.
pub fn parse<T>(text: &[u8], read: impl FnOnce(Record<'_>) -> Option<T>) -> Option<T> {
    let text = std::str::from_utf8(text).ok()?;
    let fields = object(text, &|_| true, true).ok()?;
    read(Record(&fields))
}

/// The visitor of a whole text: an object, or refused.
struct Top<'a> {
    keep: &'a dyn Fn(&str) -> bool,
    nested: bool,
    /// Set when the text is JSON but not an object (serde_json's error for
    /// it is then replaced by [`Unreadable::NotObject`]).
    not_object: &'a Cell<bool>,
}

impl Top<'_> {
    fn refuse<E>(&self) -> Result<Fields, E> {
        self.not_object.set(true);
        Ok(Fields::default())
    }
}

impl<'de> Visitor<'de> for Top<'_> {
    type Value = Fields;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Fields, A::Error> {
        read_fields(map, self.keep, self.nested)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Fields, A::Error> {
        // Refused before its first element is read: serde_json then finds
        // no `]` and stops.
        self.refuse()
    }

    fn visit_str<E>(self, _: &str) -> Result<Fields, E> {
        self.refuse()
    }

    fn visit_bool<E>(self, _: bool) -> Result<Fields, E> {
        self.refuse()
    }

    fn visit_i64<E>(self, _: i64) -> Result<Fields, E> {
        self.refuse()
    }

    fn visit_u64<E>(self, _: u64) -> Result<Fields, E> {
        self.refuse()
    }

    fn visit_f64<E>(self, _: f64) -> Result<Fields, E> {
        self.refuse()
    }

    fn visit_unit<E>(self) -> Result<Fields, E> {
        self.refuse()
    }
}

/// Reads an object's fields, keeping those `keep` accepts.
fn read_fields<'de, A: MapAccess<'de>>(
    mut map: A,
    keep: &dyn Fn(&str) -> bool,
    nested: bool,
) -> Result<Fields, A::Error> {
    let mut fields = Vec::new();
    while let Some(key) = map.next_key_seed(KeySeed(keep))? {
        let item = map.next_value_seed(ItemSeed { nested })?;
        if let Some(key) = key {
            fields.push((key, item));
        }
    }
    Ok(Fields(fields))
}

/// A key: its name if it is kept, `None` (nothing allocated) if not.
struct KeySeed<'a>(&'a dyn Fn(&str) -> bool);

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Option<String>;

    fn deserialize<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Option<String>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl Visitor<'_> for KeySeed<'_> {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Option<String>, E> {
        Ok((self.0)(key).then(|| key.to_owned()))
    }
}

/// A value: see [`Item`]. A nested object's fields are read if `nested`.
#[derive(Clone, Copy)]
struct ItemSeed {
    nested: bool,
}

impl<'de> DeserializeSeed<'de> for ItemSeed {
    type Value = Item;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Item, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ItemSeed {
    type Value = Item;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Item, E> {
        Ok(Item::Str(value.to_owned()))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<Item, E> {
        Ok(Item::Str(value))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Item, E> {
        Ok(Item::Bool)
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Item, E> {
        Ok(Item::Num(u64::try_from(value).ok()))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Item, E> {
        Ok(Item::Num(Some(value)))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Item, E> {
        Ok(Item::Num(None))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Item, E> {
        Ok(Item::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Item, A::Error> {
        let skip = ItemSeed { nested: false };
        while seq.next_element_seed(skip)?.is_some() {}
        Ok(Item::Array)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Item, A::Error> {
        let keep: &dyn Fn(&str) -> bool = if self.nested { &|_| true } else { &|_| false };
        read_fields(map, keep, self.nested).map(Item::Object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with<T>(text: &str, read: impl FnOnce(Record<'_>) -> Option<T>) -> Option<T> {
        parse(text.as_bytes(), read)
    }

    #[test]
    fn reads_fields_of_the_right_type_only() {
        let text = r#"{"s":"x","n":7,"big":4294967296,"neg":-1,"frac":1.5,"one":1.0,"nul":null,"extra":[1]}"#;
        assert_eq!(
            with(text, |r| r.str("s").map(str::to_owned)),
            Some("x".to_owned())
        );
        assert_eq!(with(text, |r| r.u64("n")), Some(7));
        assert_eq!(with(text, |r| r.u32("n")), Some(7));
        assert_eq!(with(text, |r| r.u32("big")), None);
        assert_eq!(with(text, |r| r.u64("big")), Some(4_294_967_296));
        assert_eq!(with(text, |r| r.u64("neg")), None);
        assert_eq!(with(text, |r| r.u64("frac")), None);
        assert_eq!(with(text, |r| r.u64("one")), None);
        assert_eq!(with(text, |r| r.u64("s")), None);
        assert_eq!(with(text, |r| r.str("n").map(str::len)), None);
        assert_eq!(with(text, |r| r.u64("missing")), None);
    }

    #[test]
    fn optional_fields_may_be_absent_or_null_but_not_wrong() {
        let text = r#"{"a":"x","nul":null,"n":1}"#;
        let string = |v: &Item| v.as_str().map(str::to_owned);
        assert_eq!(
            with(text, |r| r.optional("a", string)),
            Some(Some("x".to_owned()))
        );
        assert_eq!(with(text, |r| r.optional("nul", string)), Some(None));
        assert_eq!(with(text, |r| r.optional("missing", string)), Some(None));
        assert_eq!(with(text, |r| r.optional("n", string)), None);
    }

    #[test]
    fn nested_objects_and_duplicates() {
        let text = r#"{"o":{"n":1,"n":2,"deep":{"x":"y"}},"o2":[{"n":3}],"s":"a","s":"b"}"#;
        assert_eq!(with(text, |r| Record::of(r.0.get("o")?)?.u64("n")), Some(2));
        assert_eq!(
            with(text, |r| Record::of(
                Record::of(r.0.get("o")?)?.0.get("deep")?
            )?
            .str("x")
            .map(str::to_owned)),
            Some("y".to_owned())
        );
        assert_eq!(with(text, |r| r.0.get("o2").cloned()), Some(Item::Array));
        assert_eq!(
            with(text, |r| r.str("s").map(str::to_owned)),
            Some("b".into())
        );
    }

    #[test]
    fn a_reader_keeps_only_what_it_asks_for() {
        let text = r#"{"type":"x","skip":{"a":"b"},"keep":{"a":"b"},"type":"y"}"#;
        let keep = |key: &str| key != "skip";
        let mut fields = object(text, &keep, false).expect("an object");
        assert_eq!(fields.get("skip"), None);
        // Not read: an object nested in a kept field is empty.
        assert_eq!(fields.get("keep"), Some(&Item::Object(Fields::default())));
        assert_eq!(fields.take("type"), Some(Item::Str("y".into())));
        assert_eq!(fields.take("type"), Some(Item::Str("x".into())));
        assert_eq!(fields.take("type"), None);
        assert!(matches!(
            object("[1]", &keep, false),
            Err(Unreadable::NotObject)
        ));
        assert!(matches!(
            object("{", &keep, false),
            Err(Unreadable::BadJson(_))
        ));
    }

    #[test]
    fn anything_but_a_json_object_is_unreadable() {
        for text in ["", "[]", "1", "\"x\"", "null", "{", "{\"a\":1}x"] {
            assert_eq!(with(text, |_| Some(())), None, "{text}");
        }
        assert_eq!(parse(b"{\"a\":\"\xff\"}", |_| Some(())), None);
    }
}
