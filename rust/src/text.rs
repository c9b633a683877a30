//! Text helpers the core needs, written so that they add little to the
//! Wasm module.

/// `text` around the first `needle` (ASCII, not empty), searched byte by
/// byte. `str::split_once` with a string pattern brings the standard
/// library's two-way searcher into the Wasm module, about 2 KiB for the
/// short needles the core looks for (`://`, `::`).
pub fn split_once<'a>(text: &'a str, needle: &str) -> Option<(&'a str, &'a str)> {
    let at = text
        .as_bytes()
        .windows(needle.len())
        .position(|window| window == needle.as_bytes())?;
    // An ASCII needle starts and ends on character boundaries.
    Some((&text[..at], &text[at + needle.len()..]))
}

#[cfg(test)]
mod tests {
    use super::*;

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
