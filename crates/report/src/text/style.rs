//! Terminal styling. Colour is decided by the caller (the CLI knows whether
//! stdout is a terminal and honours `NO_COLOR`); here it is only applied.

use anstyle::{AnsiColor, Effects};

/// How to render text for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Style {
    /// Emit ANSI colours and bold/dim. When false the output contains no
    /// escape sequence at all, so it is safe for files, pipes and tickets.
    pub color: bool,
}

impl Style {
    /// No escape sequences.
    pub const PLAIN: Style = Style { color: false };
    /// ANSI colours (red errors, yellow warnings, dim details, bold titles).
    pub const COLOR: Style = Style { color: true };

    /// Wraps `text` in the escapes for `tone`, or returns it unchanged
    /// without colour. Callers pad before painting: escapes have no width.
    pub(crate) fn paint(self, tone: Tone, text: &str) -> String {
        if !self.color || text.is_empty() {
            return text.to_owned();
        }
        let s = tone.ansi();
        format!("{}{text}{}", s.render(), s.render_reset())
    }
}

/// What a piece of text means, which decides how it looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tone {
    /// An error finding or a failed step.
    Error,
    /// A warning finding.
    Warning,
    /// Details that support the main text.
    Dim,
    /// Section titles and finding titles.
    Title,
    /// A healthy verdict.
    Good,
}

impl Tone {
    fn ansi(self) -> anstyle::Style {
        match self {
            Tone::Error => AnsiColor::Red.on_default().effects(Effects::BOLD),
            Tone::Warning => AnsiColor::Yellow.on_default().effects(Effects::BOLD),
            Tone::Dim => anstyle::Style::new().effects(Effects::DIMMED),
            Tone::Title => anstyle::Style::new().effects(Effects::BOLD),
            Tone::Good => AnsiColor::Green.on_default().effects(Effects::BOLD),
        }
    }
}
