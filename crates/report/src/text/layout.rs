//! Plain-text layout helpers: aligned columns, truncation, indentation.
//!
//! Widths count `char`s. That is exact for the ASCII, Latin and box/bullet
//! characters we print ourselves; a peer string with East Asian wide
//! characters may shift its own row, which is acceptable for a diagnostic
//! and not worth a Unicode-width dependency.

use super::style::{Style, Tone};

/// Shown for a value that does not exist (no TLS on `ws://`, no header).
pub(crate) const NONE: &str = "—";

/// One table cell: its text, alignment and tone.
#[derive(Debug, Clone)]
pub(crate) struct Cell {
    text: String,
    right: bool,
    tone: Option<Tone>,
}

impl Cell {
    /// A left-aligned cell.
    pub(crate) fn left(text: impl Into<String>) -> Cell {
        Cell {
            text: text.into(),
            right: false,
            tone: None,
        }
    }

    /// A right-aligned cell (numbers).
    pub(crate) fn right(text: impl Into<String>) -> Cell {
        Cell {
            right: true,
            ..Cell::left(text)
        }
    }

    /// The same cell, painted with `tone`.
    pub(crate) fn tone(self, tone: Tone) -> Cell {
        Cell {
            tone: Some(tone),
            ..self
        }
    }
}

/// Character count, the width we align on.
pub(crate) fn width(text: &str) -> usize {
    text.chars().count()
}

/// Cuts `text` to at most `max` characters, marking the cut with `…`.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if width(text) <= max {
        return text.to_owned();
    }
    let kept: String = text.chars().take(max.saturating_sub(1)).collect();
    format!("{kept}…")
}

/// Lays rows out in aligned columns separated by two spaces, each line
/// prefixed by `indent` spaces and without trailing spaces. Rows may have
/// different lengths; a column is as wide as its widest cell.
pub(crate) fn grid(rows: &[Vec<Cell>], indent: usize, style: Style) -> Vec<String> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|col| {
            rows.iter()
                .filter_map(|row| row.get(col))
                .map(|cell| width(&cell.text))
                .max()
                .unwrap_or(0)
        })
        .collect();
    rows.iter()
        .map(|row| {
            let mut line = " ".repeat(indent);
            for (col, cell) in row.iter().enumerate() {
                if col > 0 {
                    line.push_str("  ");
                }
                let pad = " ".repeat(widths[col].saturating_sub(width(&cell.text)));
                let painted = match cell.tone {
                    Some(tone) => style.paint(tone, &cell.text),
                    None => cell.text.clone(),
                };
                if cell.right {
                    line.push_str(&pad);
                    line.push_str(&painted);
                } else {
                    line.push_str(&painted);
                    line.push_str(&pad);
                }
            }
            line.trim_end().to_owned()
        })
        .collect()
}

/// Indents every non-empty line of `text` by `by` spaces.
pub(crate) fn indent(text: &str, by: usize) -> String {
    let pad = " ".repeat(by);
    text.lines()
        .map(|line| {
            if line.is_empty() {
                String::new()
            } else {
                format!("{pad}{line}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Appends a titled section (bold title, body lines indented by two) and a
/// blank line after it.
pub(crate) fn section(out: &mut String, title: &str, body: &[String], style: Style) {
    out.push_str(&style.paint(Tone::Title, title));
    out.push('\n');
    for line in body {
        if line.is_empty() {
            out.push('\n');
        } else {
            out.push_str("  ");
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push('\n');
}
