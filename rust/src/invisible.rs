//! Characters a display name may not hold because a reader cannot see them:
//! they are invisible, or they change how the text around them is shown.
//!
//! `Ada\u{200B}` looks exactly like `Ada`, and `\u{202E}` makes the rest of a
//! name read backwards, so either lets one member pass for another. A name
//! refuses every code point that Unicode (14.0, and 15.0's Egyptian format
//! controls) lists as
//! - `Default_Ignorable_Code_Point` (DerivedCoreProperties.txt): zero-width
//!   characters, joiners, bidi controls, variation selectors, fillers, tags;
//! - General_Category `Cf` (format characters, e.g. the Arabic number signs
//!   and interlinear annotation marks, which are not default-ignorable);
//! - `Zl` and `Zp`: U+2028 LINE SEPARATOR and U+2029 PARAGRAPH SEPARATOR.
//!
//! Control characters (`Cc`) are refused separately ([`char::is_control`]).
//! The table was generated with Perl's Unicode tables
//! (`/[\p{Default_Ignorable_Code_Point}\p{Cf}\p{Zl}\p{Zp}]/` over every
//! code point) and is small enough to search without a crate.

/// The refused code points, as sorted, disjoint, inclusive ranges.
const INVISIBLE: &[(u32, u32)] = &[
    (0x00AD, 0x00AD),   // soft hyphen
    (0x034F, 0x034F),   // combining grapheme joiner
    (0x0600, 0x0605),   // Arabic number signs
    (0x061C, 0x061C),   // Arabic letter mark
    (0x06DD, 0x06DD),   // Arabic end of ayah
    (0x070F, 0x070F),   // Syriac abbreviation mark
    (0x0890, 0x0891),   // Arabic pound and piastre marks above
    (0x08E2, 0x08E2),   // Arabic disputed end of ayah
    (0x115F, 0x1160),   // Hangul choseong and jungseong fillers
    (0x17B4, 0x17B5),   // Khmer inherent vowels
    (0x180B, 0x180F),   // Mongolian free variation selectors, vowel separator
    (0x200B, 0x200F),   // zero width space, joiners, LRM, RLM
    (0x2028, 0x202E),   // line and paragraph separators, LRE..RLO
    (0x2060, 0x206F),   // word joiner, invisible operators, LRI..PDI, deprecated
    (0x3164, 0x3164),   // Hangul filler
    (0xFE00, 0xFE0F),   // variation selectors 1-16
    (0xFEFF, 0xFEFF),   // zero width no-break space (BOM)
    (0xFFA0, 0xFFA0),   // halfwidth Hangul filler
    (0xFFF0, 0xFFFB),   // reserved, interlinear annotation
    (0x110BD, 0x110BD), // Kaithi number sign
    (0x110CD, 0x110CD), // Kaithi number sign above
    (0x13430, 0x1343F), // Egyptian hieroglyph format controls
    (0x1BCA0, 0x1BCA3), // shorthand format controls
    (0x1D173, 0x1D17A), // musical symbol beams, ties, slurs, phrases
    (0xE0000, 0xE0FFF), // tags, variation selectors 17-256, reserved
];

/// Whether `ch` is invisible or changes how the text around it is shown
/// (see the module docs).
pub fn is_invisible(ch: char) -> bool {
    let code = u32::from(ch);
    INVISIBLE
        .binary_search_by(|&(start, end)| {
            if end < code {
                std::cmp::Ordering::Less
            } else if start > code {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_and_disjoint() {
        for pair in INVISIBLE.windows(2) {
            assert!(pair[0].0 <= pair[0].1 && pair[0].1 < pair[1].0, "{pair:?}");
        }
    }

    #[test]
    fn refuses_what_a_reader_cannot_see() {
        let refused = [
            '\u{00AD}',
            '\u{034F}',
            '\u{061C}',
            '\u{115F}',
            '\u{180E}',
            '\u{200B}',
            '\u{200C}',
            '\u{200D}',
            '\u{200E}',
            '\u{200F}',
            '\u{2028}',
            '\u{2029}',
            '\u{202A}',
            '\u{202E}',
            '\u{2060}',
            '\u{2066}',
            '\u{2069}',
            '\u{3164}',
            '\u{FE0F}',
            '\u{FEFF}',
            '\u{FFA0}',
            '\u{FFF9}',
            '\u{1343F}',
            '\u{1D173}',
            '\u{E0001}',
            '\u{E0041}',
            '\u{E01EF}',
            '\u{E0FFF}',
        ];
        for ch in refused {
            assert!(is_invisible(ch), "U+{:04X}", u32::from(ch));
        }
        let kept = [
            'A',
            ' ',
            'é',
            'ℓ',
            '\u{00A0}',
            '\u{0300}',
            '\u{200A}',
            '\u{2027}',
            '\u{202F}',
            '\u{2070}',
            '\u{FFFC}',
            '\u{FFFD}',
            '👋',
            '\u{1F3FB}',
            '\u{E1000}',
            '\u{10FFFF}',
        ];
        for ch in kept {
            assert!(!is_invisible(ch), "U+{:04X}", u32::from(ch));
        }
    }
}
