//! Text helpers the core needs, written so that they add little to the
//! Wasm module.

use std::fmt::{self, Write};

use crate::invisible;

/// `text` around the first `needle` (ASCII, not empty), searched byte by
/// byte. `str::split_once` with a string pattern brings the standard
/// library's two-way searcher into the Wasm module, about 2 KiB for the
/// short needles the core looks for (`://`, `::`).
pub fn split_once<'a>(text: &'a str, needle: &str) -> Option<(&'a str, &'a str)> {
    let at = text
        .as_bytes()
        .windows(needle.len())
        .position(|window| window == needle.as_bytes())?;
    // An ASCII needle starts and ends on character boundaries; `get`, not
    // indexing, so that no slice panic (whose message formats a char with
    // `{:?}`, Unicode tables and all) is linked into the module.
    Some((text.get(..at)?, text.get(at + needle.len()..)?))
}

/// A string in double quotes, escaped as `{:?}` escapes it for every
/// character a message shows as it is: `\"`, `\\`, `\n`, `\r`, `\t`, `\0`,
/// and `\u{…}` for the other control characters and for those a reader
/// cannot see ([`invisible`]). `{:?}` also escapes what Rust's Unicode
/// tables call unprintable or grapheme-extending (combining marks,
/// unassigned code points), which this shows as they are: those tables and
/// the escaping code cost the Wasm module about 3 KiB.
pub struct Quoted<'a>(pub &'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('"')?;
        for ch in self.0.chars() {
            match ch {
                '"' | '\\' => {
                    f.write_char('\\')?;
                    f.write_char(ch)?;
                }
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                '\0' => f.write_str("\\0")?,
                _ if ch.is_control() || invisible::is_invisible(ch) => {
                    write!(f, "\\u{{{:x}}}", u32::from(ch))?;
                }
                _ => f.write_char(ch)?,
            }
        }
        f.write_char('"')
    }
}

/// `value` as text: what `value.to_string()` gives, through one function
/// for every type (each `to_string` is a copy of its own in the Wasm
/// module, about 250 bytes apiece).
pub fn display(value: &dyn fmt::Display) -> String {
    let mut text = String::new();
    // Writing to a String cannot fail.
    let _ = fmt::write(&mut text, format_args!("{value}"));
    text
}

/// The base64url alphabet (RFC 4648 §5).
const BASE64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// `text` as a whole number: decimal digits only (no sign, no spaces), at
/// most `u64::MAX`.
pub fn whole(text: &str) -> Option<u64> {
    if text.is_empty() {
        return None;
    }
    text.bytes().try_fold(0u64, |n, b| {
        let digit = b.checked_sub(b'0').filter(|d| *d < 10)?;
        n.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

/// `bytes` in base64url without padding. Written here rather than taken from
/// the `base64` crate, whose engine (tables, chunked decoding, error types)
/// costs the Wasm module about 6 KiB for the few short strings the core
/// encodes: ids, epochs, tokens.
pub fn base64url(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        // Up to 3 bytes as the top 24 bits' worth of a number, then one
        // character per 6 bits that hold any of them (2, 3 or 4).
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(BASE64URL[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

/// The bytes of canonical base64url without padding, the only spelling
/// [`base64url`] writes: `None` for any other character (`=` included), a
/// length that leaves one character over, or spare bits set past the last
/// byte, so that one value has one spelling.
pub fn from_base64url(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3 + 2);
    // Bits read but not yet written out: `pending` of them, in `bits`.
    let (mut bits, mut pending) = (0u32, 0u32);
    for &c in text.as_bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        bits = bits << 6 | u32::from(value);
        pending += 6;
        if pending >= 8 {
            pending -= 8;
            out.push((bits >> pending) as u8);
            bits &= (1 << pending) - 1;
        }
    }
    // Left over: 0, 4 or 2 spare bits (a length of 0, 2 or 3 mod 4), which
    // must be 0; 6 is a character that holds no whole byte.
    (pending < 6 && bits == 0).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use proptest::prelude::*;

    #[test]
    fn display_is_to_string() {
        assert_eq!(display(&12_345_u64), 12_345_u64.to_string());
        assert_eq!(display(&"a\u{e9}"), "a\u{e9}");
        assert_eq!(display(&Quoted("x")), Quoted("x").to_string());
    }

    proptest! {
        /// Quoted as `{:?}` quotes a string of characters a message shows
        /// as they are, controls, quotes, backslashes and invisible ones.
        #[test]
        fn quotes_like_debug(text in "[\\x00-\\x7féü日本語😀\u{200b}-\u{200f}\u{202e}\u{2066}\u{feff}\u{ad}\u{85}]{0,16}") {
            prop_assert_eq!(Quoted(&text).to_string(), format!("{text:?}"));
        }

        /// The same strings as the `base64` crate's `URL_SAFE_NO_PAD`.
        #[test]
        fn encodes_like_the_base64_crate(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let text = base64url(&bytes);
            prop_assert_eq!(&text, &URL_SAFE_NO_PAD.encode(&bytes));
            prop_assert_eq!(from_base64url(&text), Some(bytes));
        }

        /// The same strings refused, the same bytes read, as `URL_SAFE_NO_PAD`
        /// (which refuses padding and spare bits set).
        #[test]
        fn decodes_like_the_base64_crate(text in "[A-Za-z0-9_=+/.-]{0,12}") {
            prop_assert_eq!(from_base64url(&text), URL_SAFE_NO_PAD.decode(&text).ok());
        }
    }

    #[test]
    fn refuses_other_spellings() {
        // "QQ" is "A"; "QR" sets a spare bit; "Q" holds no whole byte.
        assert_eq!(from_base64url("QQ"), Some(b"A".to_vec()));
        for text in ["QR", "Q", "QQ=", "QQ==", "Q Q", "QQ\n", "é"] {
            assert_eq!(from_base64url(text), None, "{text:?}");
        }
        assert_eq!(from_base64url(""), Some(Vec::new()));
    }

    #[test]
    fn splits_like_str_split_once() {
        for (text, needle) in [
            ("https://a.b/c", "://"),
            ("a::b::c", "::"),
            ("::", "::"),
            ("é::ü", "::"),
            ("no needle", "://"),
            ("", "::"),
            ("ab", "abc"),
        ] {
            assert_eq!(
                split_once(text, needle),
                text.split_once(needle),
                "{text:?}"
            );
        }
    }
}
