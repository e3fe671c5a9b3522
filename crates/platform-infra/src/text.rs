//! Text checks shared by the request parsers, defined by explicit character
//! sets so that they agree exactly with the patterns the OpenAPI documents
//! publish (regex engines disagree on what `\s` means).

/// The blank characters: ASCII controls and space, DEL to NBSP, and the
/// Unicode spaces, line and paragraph separators and the BOM.
pub const BLANK_CLASS: &str =
    r"\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff";

/// JSON Schema pattern of a string that is not blank.
pub const NOT_BLANK_PATTERN: &str =
    r"[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]";

/// Whether `c` is in [`BLANK_CLASS`].
pub fn is_space(c: char) -> bool {
    matches!(c,
        '\0'..=' '
        | '\u{7f}'..='\u{a0}'
        | '\u{1680}'
        | '\u{2000}'..='\u{200a}'
        | '\u{2028}'
        | '\u{2029}'
        | '\u{202f}'
        | '\u{205f}'
        | '\u{3000}'
        | '\u{feff}')
}

/// Whether `value` has nothing but blank characters.
pub fn is_blank(value: &str) -> bool {
    value.chars().all(is_space)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_unicode_spaces_are_blank_letters_are_not() {
        assert!(is_blank(""));
        assert!(is_blank(" \t\u{1c}\u{a0}\u{3000}\u{7f}"));
        assert!(!is_blank(" a "));
        assert!(NOT_BLANK_PATTERN.contains(BLANK_CLASS));
    }
}
