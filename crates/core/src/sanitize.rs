//! The one sanitiser for text that comes from the hub, applied before that text reaches a
//! log line or a screen: names in the roster, rejection reasons, error messages.
//!
//! A hub (or whatever answers at its address) is untrusted. Its text could carry
//! terminal escape sequences (which rewrite a technician's terminal or the journal
//! viewer), bidirectional overrides (which make "Dana" render as something else, or hide
//! a part of a message), zero-width characters (two names that look the same but are
//! not), or simply ten thousand characters that push everything else off the screen.
//! [`clean`] removes the invisible and the dangerous and caps the length; [`code`] keeps
//! a machine word (an error code) loggable as it is.

/// Longest name kept (hub-api.md v1.1 point 4: names ≤ 200 characters).
pub const NAME_MAX: usize = 200;
/// Longest hub message or rejection reason kept for staff.
pub const MESSAGE_MAX: usize = 300;
/// Longest error code kept.
pub const CODE_MAX: usize = 64;

/// Characters that are never shown: bidirectional embeddings, overrides and isolates,
/// directional marks, and zero-width characters.
fn invisible(c: char) -> bool {
    matches!(
        c,
        '\u{202A}'..='\u{202E}'   // LRE RLE PDF LRO RLO
        | '\u{2066}'..='\u{2069}' // LRI RLI FSI PDI
        | '\u{200B}'..='\u{200F}' // zero width space / non-joiner / joiner, LRM, RLM
        | '\u{061C}'              // Arabic letter mark
        | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
        | '\u{FEFF}'              // zero width no-break space (BOM)
        | '\u{00AD}'              // soft hyphen
    )
}

/// `text` made safe to log or show: control characters (C0 including ESC, DEL, C1)
/// removed, line breaks and tabs turned into single spaces, bidi controls and zero-width
/// characters removed, surrounding blanks trimmed, and at most `max_chars` characters
/// (the last one an ellipsis when cut).
pub fn clean(text: &str, max_chars: usize) -> String {
    let mut out: Vec<char> = Vec::new();
    let mut pending_space = false;
    let mut cut = false;
    for c in text.chars() {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if c.is_control() || invisible(c) {
            continue;
        }
        let needed = 1 + usize::from(pending_space);
        if out.len() + needed > max_chars {
            cut = true;
            break;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push(c);
    }
    if cut && max_chars > 0 {
        // The ellipsis takes the place of the last kept character: max_chars in all.
        while out.len() >= max_chars || out.last() == Some(&' ') {
            if out.pop().is_none() {
                break;
            }
        }
        out.push('…');
    }
    out.into_iter().collect()
}

/// A machine word from the hub (an `error.code`), loggable as it is: only ASCII
/// letters, digits, `_`, `-` and `.` are kept, at most [`CODE_MAX`] of them; `"unknown"`
/// when nothing is left.
pub fn code(text: &str) -> String {
    let kept: String = text
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        .take(CODE_MAX)
        .collect();
    if kept.is_empty() {
        "unknown".to_string()
    } else {
        kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_and_control_characters_are_removed() {
        assert_eq!(
            clean("\u{1b}[2J\u{1b}]0;owned\u{7}Dana", 50),
            "[2J]0;ownedDana"
        );
        assert_eq!(clean("a\u{0}b\u{7f}c\u{9b}d\u{85}e", 50), "abcd e");
        assert_eq!(clean("line one\r\nline\ttwo", 50), "line one line two");
    }

    #[test]
    fn bidi_controls_and_zero_width_characters_are_removed() {
        let spoofed = "\u{202E}anaD\u{202C} \u{2066}x\u{2069}\u{200B}\u{200D}\u{FEFF}\u{200F}";
        assert_eq!(clean(spoofed, 50), "anaD x");
        for c in ('\u{202A}'..='\u{202E}').chain('\u{2066}'..='\u{2069}') {
            assert_eq!(clean(&format!("a{c}b"), 10), "ab", "U+{:04X}", c as u32);
        }
    }

    #[test]
    fn length_is_capped_with_an_ellipsis() {
        let long = "x".repeat(10_000);
        let short = clean(&long, NAME_MAX);
        assert_eq!(short.chars().count(), NAME_MAX);
        assert!(short.ends_with('…'));
        assert_eq!(clean("Dana Rivera", NAME_MAX), "Dana Rivera");
        assert_eq!(clean("abcdef", 6), "abcdef");
        assert_eq!(clean("abcdefg", 6), "abcde…");
        assert_eq!(clean("héllo wörld", 7), "héllo…");
    }

    #[test]
    fn ordinary_names_are_kept_as_they_are() {
        for name in [
            "Dana Rivera",
            "José Núñez-García",
            "李小龙",
            "O'Brien",
            "محمد",
        ] {
            assert_eq!(clean(name, NAME_MAX), name);
        }
        assert_eq!(clean("  spaced   out  ", 50), "spaced out");
    }

    #[test]
    fn codes_keep_only_a_machine_word() {
        assert_eq!(code("bad_event"), "bad_event");
        assert_eq!(code("bad\u{1b}[31m event\n"), "bad31mevent");
        assert_eq!(code(""), "unknown");
        assert_eq!(code(&"a".repeat(500)).len(), CODE_MAX);
    }
}
