//! Free text as clients type it: names, labels, notes and references.
//!
//! Every area parses its text fields through these two functions, so "a name" and "a note"
//! follow one rule everywhere: trimmed, bounded in characters (not bytes), names without
//! control characters. Field-specific values with a format of their own (SKUs, emails, slugs)
//! parse in their own types instead.

use crate::error::Invalid;

/// The longest note or reference, in characters.
pub const MAX_NOTE_CHARS: usize = 500;

/// Parses a required name or label: trimmed, 1 to `max` characters, no control characters.
///
/// # Errors
/// `Invalid` on `field` when empty, longer or containing control characters.
pub fn parse_text(field: &str, raw: &str, max: usize) -> Result<String, Invalid> {
    let text = raw.trim();
    let length = text.chars().count();
    if length == 0 || length > max || text.chars().any(char::is_control) {
        return Err(Invalid::new(field, format!("must be 1 to {max} characters, without control characters")));
    }
    Ok(text.to_owned())
}

/// Parses an optional note or reference: trimmed, at most [`MAX_NOTE_CHARS`] characters, empty
/// means none.
///
/// # Errors
/// `Invalid` on `field` when longer.
pub fn parse_note(field: &str, raw: Option<&str>) -> Result<Option<String>, Invalid> {
    let Some(text) = raw.map(str::trim).filter(|t| !t.is_empty()) else { return Ok(None) };
    if text.chars().count() > MAX_NOTE_CHARS {
        return Err(Invalid::new(field, format!("must be at most {MAX_NOTE_CHARS} characters")));
    }
    Ok(Some(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_bounded_and_free_of_control_characters() {
        assert_eq!(parse_text("name", "  Red tee ", 10), Ok("Red tee".to_owned()));
        assert_eq!(parse_text("name", &"é".repeat(10), 10).map(|t| t.chars().count()), Ok(10));
        for bad in ["", "   ", "a\u{0}b", "tab\there", &"x".repeat(11)] {
            assert!(parse_text("name", bad, 10).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn an_empty_note_is_none_and_a_long_one_is_refused() {
        assert_eq!(parse_note("note", None), Ok(None));
        assert_eq!(parse_note("note", Some("   ")), Ok(None));
        assert_eq!(parse_note("note", Some(" left at the door ")), Ok(Some("left at the door".to_owned())));
        assert!(parse_note("note", Some(&"x".repeat(MAX_NOTE_CHARS))).is_ok());
        let long = parse_note("reason", Some(&"x".repeat(MAX_NOTE_CHARS + 1))).expect_err("501");
        assert_eq!(long.field(), ["reason"]);
    }
}
