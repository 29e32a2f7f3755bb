//! Peer-controlled text (headers, close reasons, bodies) is printed only after
//! this escaping, so a hostile server cannot move the cursor, recolour the
//! terminal or forge lines of our report (the RUSTSEC-2025-0055 class of bug).

/// Escapes control characters (C0, DEL, C1 and the bidi overrides) as `\u{..}`
/// and keeps everything else. Newlines and tabs are escaped too: one peer
/// string stays on one line of our output.
pub fn escape_peer(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        let dangerous = ch.is_control()
            || matches!(ch, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if dangerous {
            match ch {
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                _ => out.push_str(&format!("\\u{{{:x}}}", ch as u32)),
            }
        } else {
            out.push(ch);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape_peer;

    #[test]
    fn escapes_terminal_controls() {
        assert_eq!(escape_peer("ok"), "ok");
        assert_eq!(escape_peer("a\u{1b}[31mred"), "a\\u{1b}[31mred");
        assert_eq!(escape_peer("two\nlines\r"), "two\\nlines\\r");
        assert_eq!(escape_peer("\u{202e}evil"), "\\u{202e}evil");
        assert_eq!(escape_peer("naïve ☃"), "naïve ☃");
    }

    proptest::proptest! {
        #[test]
        fn output_has_no_control_characters(s in ".*") {
            let out = escape_peer(&s);
            proptest::prop_assert!(!out.chars().any(char::is_control));
        }
    }
}
