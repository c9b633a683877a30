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
//! once, by one small reader ([`object`]), into a short list of
//! [`Fields`]: the fields a reader keeps, with their values; every other
//! value is read and dropped as it goes. The nesting limit (128 levels, as
//! serde_json's) bounds the recursion. Why not serde_json's deserializer
//! with serde visitors, as before: its parser, float parsing and error
//! tables cost the Wasm module 9.4 KiB; the reader here answers exactly as
//! it did, errors included (a property test in `rust/tests/properties.rs`
//! checks it against that reader, kept in `rust/tests/json_reference.rs`).
//!
//! Like serde's default, unknown fields are ignored and the last of
//! duplicate fields wins; a missing required field or a field of the wrong
//! type makes a record unreadable.

use std::fmt;

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

impl From<Vec<(String, Item)>> for Fields {
    fn from(fields: Vec<(String, Item)>) -> Self {
        Fields(fields)
    }
}

/// Why a JSON text could not be read as an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unreadable {
    /// It is JSON, but not an object.
    NotObject,
    /// It is not JSON: what is wrong, and where.
    BadJson(JsonError),
}

impl From<JsonError> for Unreadable {
    fn from(error: JsonError) -> Self {
        Unreadable::BadJson(error)
    }
}

/// Why a text is not JSON, worded as serde_json words it (its
/// `ErrorCode`), and where: line and column (in bytes) as serde_json counts
/// them. A property test (`rust/tests/properties.rs`) checks both against
/// serde_json on any text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonError {
    what: &'static str,
    line: usize,
    column: usize,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at line {} column {}",
            self.what, self.line, self.column
        )
    }
}

const EOF_LIST: &str = "EOF while parsing a list";
const EOF_OBJECT: &str = "EOF while parsing an object";
const EOF_STRING: &str = "EOF while parsing a string";
const EOF_VALUE: &str = "EOF while parsing a value";
const EXPECTED_COLON: &str = "expected `:`";
const EXPECTED_LIST_COMMA_OR_END: &str = "expected `,` or `]`";
const EXPECTED_OBJECT_COMMA_OR_END: &str = "expected `,` or `}`";
const EXPECTED_IDENT: &str = "expected ident";
const EXPECTED_VALUE: &str = "expected value";
const INVALID_ESCAPE: &str = "invalid escape";
const INVALID_NUMBER: &str = "invalid number";
const OUT_OF_RANGE: &str = "number out of range";
const CONTROL_CHARACTER: &str = "control character (\\u0000-\\u001F) found while parsing a string";
const KEY_NOT_STRING: &str = "key must be a string";
const LONE_SURROGATE: &str = "lone leading surrogate in hex escape";
const TRAILING_COMMA: &str = "trailing comma";
const TRAILING_CHARACTERS: &str = "trailing characters";
const END_OF_HEX_ESCAPE: &str = "unexpected end of hex escape";
const RECURSION_LIMIT: &str = "recursion limit exceeded";

/// serde_json's nesting limit: at most 127 arrays and objects inside
/// each other.
const MAX_DEPTH: u8 = 128;

/// `1e289` to `1e308`: a number with a u64 significand overflows to
/// infinity, where serde_json refuses it, only with these exponents.
const POW10_TOP: [f64; 20] = [
    1e289, 1e290, 1e291, 1e292, 1e293, 1e294, 1e295, 1e296, 1e297, 1e298, 1e299, 1e300, 1e301,
    1e302, 1e303, 1e304, 1e305, 1e306, 1e307, 1e308,
];

type Read<T> = Result<T, JsonError>;

/// Reads `text` as one JSON object, keeping the fields whose names `keep`
/// accepts. Objects nested in them are kept too if `nested` is set;
/// otherwise they are read and dropped, like every value not kept.
pub fn object(text: &str, keep: &dyn Fn(&str) -> bool, nested: bool) -> Result<Fields, Unreadable> {
    let mut json = Reader {
        text,
        at: 0,
        depth: MAX_DEPTH,
    };
    let fields = match json.whitespace() {
        Some(b'{') => json.object(keep, nested)?,
        // Refused at its first byte, whatever follows.
        Some(b'[') => return Err(Unreadable::NotObject),
        // Another value: refused once it is read, whatever follows.
        _ => {
            json.value(false)?;
            return Err(Unreadable::NotObject);
        }
    };
    if json.whitespace().is_some() {
        return Err(json.peek_error(TRAILING_CHARACTERS).into());
    }
    Ok(fields)
}

/// A JSON reader: the rules, the errors and their positions are
/// serde_json's (`Deserializer::deserialize_any` on a `StrRead`), so that
/// what a client is told of a frame that is not JSON did not change when
/// this replaced it (serde_json's deserializer cost the Wasm module about
/// 10 KiB). Numbers are read as [`Item::Num`], with serde_json's range.
struct Reader<'a> {
    text: &'a str,
    /// The index of the next byte.
    at: usize,
    /// How many more arrays and objects may open.
    depth: u8,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    /// Skips whitespace; the byte after it, not consumed.
    fn whitespace(&mut self) -> Option<u8> {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.at += 1;
        }
        self.peek()
    }

    /// An error at byte index `at`, as serde_json places it: the line
    /// (from 1) and the bytes before `at` on that line.
    #[cold]
    fn fail(&self, what: &'static str, at: usize) -> JsonError {
        let before = self.text.as_bytes().get(..at).unwrap_or_default();
        let line_start = before
            .iter()
            .rposition(|&byte| byte == b'\n')
            .map_or(0, |newline| newline + 1);
        JsonError {
            what,
            line: 1 + before.iter().filter(|&&byte| byte == b'\n').count(),
            column: at - line_start,
        }
    }

    /// An error caused by the byte just consumed.
    fn error<T>(&self, what: &'static str) -> Read<T> {
        Err(self.fail(what, self.at))
    }

    /// An error caused by the next byte, not consumed.
    fn peek_error(&self, what: &'static str) -> JsonError {
        self.fail(what, self.text.len().min(self.at + 1))
    }

    /// One value, after whitespace. An object's fields are kept if `nested`
    /// (and objects in them too), else read and dropped.
    fn value(&mut self, nested: bool) -> Read<Item> {
        let Some(byte) = self.whitespace() else {
            return Err(self.peek_error(EOF_VALUE));
        };
        match byte {
            b'n' => self.ident(b"null", Item::Null),
            b't' => self.ident(b"true", Item::Bool),
            b'f' => self.ident(b"false", Item::Bool),
            b'-' => {
                self.at += 1;
                self.number(false)
            }
            b'0'..=b'9' => self.number(true),
            b'"' => {
                self.at += 1;
                self.string().map(Item::Str)
            }
            b'[' => {
                self.enter()?;
                let mut first = true;
                loop {
                    match self.whitespace() {
                        None => return Err(self.peek_error(EOF_LIST)),
                        Some(b']') => break,
                        Some(_) if first => first = false,
                        Some(b',') => {
                            self.at += 1;
                            match self.whitespace() {
                                Some(b']') => return Err(self.peek_error(TRAILING_COMMA)),
                                Some(_) => {}
                                None => return Err(self.peek_error(EOF_VALUE)),
                            }
                        }
                        Some(_) => return Err(self.peek_error(EXPECTED_LIST_COMMA_OR_END)),
                    }
                    self.value(false)?;
                }
                self.leave();
                Ok(Item::Array)
            }
            b'{' => {
                let keep: &dyn Fn(&str) -> bool = if nested { &|_| true } else { &|_| false };
                self.object(keep, nested).map(Item::Object)
            }
            _ => Err(self.peek_error(EXPECTED_VALUE)),
        }
    }

    /// Opens an array or object at the next byte.
    fn enter(&mut self) -> Read<()> {
        self.depth -= 1;
        if self.depth == 0 {
            return Err(self.peek_error(RECURSION_LIMIT));
        }
        self.at += 1;
        Ok(())
    }

    /// Closes an array or object: its last byte.
    fn leave(&mut self) {
        self.depth += 1;
        self.at += 1;
    }

    /// An object from its `{`, keeping the fields `keep` accepts.
    fn object(&mut self, keep: &dyn Fn(&str) -> bool, nested: bool) -> Read<Fields> {
        self.enter()?;
        let mut fields = Vec::new();
        let mut first = true;
        loop {
            match self.whitespace() {
                None => return Err(self.peek_error(EOF_OBJECT)),
                Some(b'}') => break,
                Some(b'"') if first => first = false,
                Some(_) if first => return Err(self.peek_error(KEY_NOT_STRING)),
                Some(b',') => {
                    self.at += 1;
                    match self.whitespace() {
                        Some(b'"') => {}
                        Some(b'}') => return Err(self.peek_error(TRAILING_COMMA)),
                        Some(_) => return Err(self.peek_error(KEY_NOT_STRING)),
                        None => return Err(self.peek_error(EOF_VALUE)),
                    }
                }
                Some(_) => return Err(self.peek_error(EXPECTED_OBJECT_COMMA_OR_END)),
            }
            self.at += 1;
            let key = self.string()?;
            match self.whitespace() {
                Some(b':') => self.at += 1,
                Some(_) => return Err(self.peek_error(EXPECTED_COLON)),
                None => return Err(self.peek_error(EOF_OBJECT)),
            }
            let item = self.value(nested)?;
            if keep(&key) {
                fields.push((key, item));
            }
        }
        self.leave();
        Ok(Fields(fields))
    }

    /// `null`, `true` or `false` from its first byte.
    fn ident(&mut self, word: &[u8], item: Item) -> Read<Item> {
        self.at += 1;
        for &expected in word.get(1..).unwrap_or_default() {
            match self.next() {
                None => return self.error(EOF_VALUE),
                Some(byte) if byte != expected => return self.error(EXPECTED_IDENT),
                Some(_) => {}
            }
        }
        Ok(item)
    }

    /// A string's content after its opening quote, up to and with its
    /// closing quote.
    fn string(&mut self) -> Read<String> {
        let mut out = String::new();
        let mut start = self.at;
        loop {
            let Some(byte) = self.next() else {
                return self.error(EOF_STRING);
            };
            match byte {
                b'"' | b'\\' => {
                    // Bytes up to an ASCII byte: a whole number of characters.
                    out.push_str(self.text.get(start..self.at - 1).unwrap_or_default());
                    if byte == b'"' {
                        return Ok(out);
                    }
                    out.push(self.escape()?);
                    start = self.at;
                }
                0..=0x1F => return self.error(CONTROL_CHARACTER),
                _ => {}
            }
        }
    }

    /// The character an escape stands for, after its backslash.
    fn escape(&mut self) -> Read<char> {
        let Some(byte) = self.next() else {
            return self.error(EOF_STRING);
        };
        Ok(match byte {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let high = self.hex()?;
                let code = match high {
                    0xDC00..=0xDFFF => return self.error(LONE_SURROGATE),
                    0xD800..=0xDBFF => {
                        for expected in [b'\\', b'u'] {
                            match self.next() {
                                None => return self.error(EOF_STRING),
                                Some(byte) if byte != expected => {
                                    return self.error(END_OF_HEX_ESCAPE)
                                }
                                Some(_) => {}
                            }
                        }
                        let low = self.hex()?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return self.error(LONE_SURROGATE);
                        }
                        0x1_0000 + ((high - 0xD800) << 10 | (low - 0xDC00))
                    }
                    _ => high,
                };
                char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER)
            }
            _ => return self.error(INVALID_ESCAPE),
        })
    }

    /// The four hex digits of a `\u` escape.
    fn hex(&mut self) -> Read<u32> {
        let Some(digits) = self.text.as_bytes().get(self.at..self.at + 4) else {
            self.at = self.text.len();
            return self.error(EOF_STRING);
        };
        self.at += 4;
        let mut code = 0;
        for &digit in digits {
            let Some(value) = char::from(digit).to_digit(16) else {
                return self.error(INVALID_ESCAPE);
            };
            code = code << 4 | value;
        }
        Ok(code)
    }

    /// A number, after its `-` if it is negative: only a whole number
    /// from 0 to `u64::MAX` is kept.
    fn number(&mut self, positive: bool) -> Read<Item> {
        let mut significand = match self.next() {
            None => return self.error(EOF_VALUE),
            Some(b'0') => {
                if let Some(b'0'..=b'9') = self.peek() {
                    return Err(self.peek_error(INVALID_NUMBER));
                }
                0
            }
            Some(digit @ b'1'..=b'9') => u64::from(digit - b'0'),
            Some(_) => return self.error(INVALID_NUMBER),
        };
        // Digits past a u64 only scale it.
        let (_, mut exponent) = self.digits(&mut significand);
        let whole = exponent == 0;
        if self.peek() == Some(b'.') {
            self.at += 1;
            let (kept, dropped) = self.digits(&mut significand);
            if kept + dropped == 0 {
                return Err(self.peek_error(match self.peek() {
                    Some(_) => INVALID_NUMBER,
                    None => EOF_VALUE,
                }));
            }
            exponent -= kept;
        } else if whole && !matches!(self.peek(), Some(b'e' | b'E')) {
            return Ok(Item::Num(positive.then_some(significand)));
        }
        self.exponent(significand, exponent)
    }

    /// Reads digits into `significand` while it fits in a u64, then skips
    /// the rest: how many it kept, how many it dropped (serde_json's
    /// `parse_integer`, `parse_long_integer`, `parse_decimal`).
    fn digits(&mut self, significand: &mut u64) -> (i32, i32) {
        let (mut kept, mut dropped) = (0, 0);
        while let Some(digit @ b'0'..=b'9') = self.peek() {
            self.at += 1;
            let next = significand
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(digit - b'0')));
            match next.filter(|_| dropped == 0) {
                Some(n) => {
                    *significand = n;
                    kept += 1;
                }
                None => dropped += 1,
            }
        }
        (kept, dropped)
    }

    /// The end of a number that is not a whole u64: its exponent if it has
    /// one, and its range (serde_json's `parse_exponent`, `f64_from_parts`).
    fn exponent(&mut self, significand: u64, mut exponent: i32) -> Read<Item> {
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            let positive = match self.peek() {
                Some(b'+') => {
                    self.at += 1;
                    true
                }
                Some(b'-') => {
                    self.at += 1;
                    false
                }
                _ => true,
            };
            let mut power: i32 = match self.next() {
                None => return self.error(EOF_VALUE),
                Some(digit @ b'0'..=b'9') => i32::from(digit - b'0'),
                Some(_) => return self.error(INVALID_NUMBER),
            };
            while let Some(digit @ b'0'..=b'9') = self.peek() {
                self.at += 1;
                match power
                    .checked_mul(10)
                    .and_then(|n| n.checked_add(i32::from(digit - b'0')))
                {
                    Some(n) => power = n,
                    None if significand != 0 && positive => return self.error(OUT_OF_RANGE),
                    // Zero, or a fraction too small: 0.
                    None => {
                        while let Some(b'0'..=b'9') = self.peek() {
                            self.at += 1;
                        }
                        return Ok(Item::Num(None));
                    }
                }
            }
            exponent = if positive {
                exponent.saturating_add(power)
            } else {
                exponent.saturating_sub(power)
            };
        }
        // serde_json refuses a number whose float is infinite, as it
        // computes it: significand × 10^exponent (`f64_from_parts`).
        let infinite = significand != 0
            && match exponent {
                ..=288 => false,
                289..=308 => POW10_TOP
                    .get((exponent - 289) as usize)
                    .is_some_and(|&power| (significand as f64 * power).is_infinite()),
                _ => true,
            };
        if infinite {
            return self.error(OUT_OF_RANGE);
        }
        Ok(Item::Num(None))
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
