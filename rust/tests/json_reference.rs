//! The JSON reader `records::object` replaced, kept as the reference it is
//! checked against (`rust/tests/properties.rs`): serde_json's deserializer
//! driven by serde visitors, as the core read records and frames before.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use websocket_hibernation_server::records::{Fields, Item};

/// What `records::object` answered: the fields, or `Err(None)` for JSON
/// that is not an object, `Err(Some(message))` for a text that is not JSON.
pub fn object(
    text: &str,
    keep: &dyn Fn(&str) -> bool,
    nested: bool,
) -> Result<Fields, Option<String>> {
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
        _ if not_object.get() => Err(None),
        Ok(fields) => Ok(fields),
        Err(error) => Err(Some(error.to_string())),
    }
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
    Ok(Fields::from(fields))
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
