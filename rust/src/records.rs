//! Reading the JSON records the server wrote itself: a socket's
//! [`Attachment`](crate::room::Attachment), the object's
//! [`Wakes`](crate::room::Wakes), a token's [`Claims`](crate::token::Claims).
//!
//! Why not `#[derive(Deserialize)]`: a derived deserializer words its type
//! errors with serde's `Unexpected`, whose `Display` formats floats, and
//! that alone pulls Rust's float formatting into the Wasm module. These
//! records were measured at about 48 KiB of the module (of 196 KiB) with
//! derived deserializers. They are read rarely (a wake, an upgrade) and
//! field by field from a [`serde_json::Value`], so a reader is a few lines.
//! Like serde's default, unknown fields are ignored; a missing required
//! field or a field of the wrong type makes the record unreadable.

use serde_json::{Map, Value};

/// A JSON object being read.
#[derive(Clone, Copy)]
pub struct Record<'a>(&'a Map<String, Value>);

impl<'a> Record<'a> {
    /// The object `value`, or `None` for any other JSON value.
    pub fn of(value: &'a Value) -> Option<Self> {
        value.as_object().map(Record)
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
        read: impl FnOnce(&'a Value) -> Option<T>,
    ) -> Option<Option<T>> {
        match self.0.get(field) {
            None | Some(Value::Null) => Some(None),
            Some(value) => read(value).map(Some),
        }
    }
}

/// Parses `text` as JSON and reads it with `read`; `None` if either fails.
pub fn parse<T>(text: &[u8], read: impl FnOnce(Record<'_>) -> Option<T>) -> Option<T> {
    let value: Value = serde_json::from_slice(text).ok()?;
    read(Record::of(&value)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with<T>(text: &str, read: impl FnOnce(Record<'_>) -> Option<T>) -> Option<T> {
        parse(text.as_bytes(), read)
    }

    #[test]
    fn reads_fields_of_the_right_type_only() {
        let text = r#"{"s":"x","n":7,"big":4294967296,"neg":-1,"frac":1.5,"nul":null,"extra":[1]}"#;
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
        assert_eq!(with(text, |r| r.u64("s")), None);
        assert_eq!(with(text, |r| r.str("n").map(str::len)), None);
        assert_eq!(with(text, |r| r.u64("missing")), None);
    }

    #[test]
    fn optional_fields_may_be_absent_or_null_but_not_wrong() {
        let text = r#"{"a":"x","nul":null,"n":1}"#;
        let string = |v: &Value| v.as_str().map(str::to_owned);
        assert_eq!(
            with(text, |r| r.optional("a", string)),
            Some(Some("x".to_owned()))
        );
        assert_eq!(with(text, |r| r.optional("nul", string)), Some(None));
        assert_eq!(with(text, |r| r.optional("missing", string)), Some(None));
        assert_eq!(with(text, |r| r.optional("n", string)), None);
    }

    #[test]
    fn anything_but_a_json_object_is_unreadable() {
        for text in ["", "[]", "1", "\"x\"", "null", "{", "{\"a\":1}x"] {
            assert_eq!(with(text, |_| Some(())), None, "{text}");
        }
    }
}
