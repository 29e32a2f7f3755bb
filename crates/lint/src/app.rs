//! Application code that sets a WebSocket library's heartbeat, read
//! without parsing the language: the settings are keyword arguments or
//! object keys whose shape does not vary.
//!
//! * Socket.IO / Engine.IO (JavaScript, TypeScript, Python's
//!   python-socketio): `pingInterval: 25000` (ms) or `ping_interval=25`
//!   (s); v4 defaults pingInterval 25 s, pingTimeout 20 s (kb notes 11);
//! * python-websockets: `serve(…, ping_interval=20)` / `connect(…)`;
//!   default 20 s, `None` switches it off.
//!
//! A heartbeat is what every idle timer on the path is judged against;
//! `--app-ping` overrides what is read here.

use std::path::Path;

use wsdoctor_evidence::config::{
    ConfigKind, HopConfig, HopTimer, Span, TimerRole, TimerSetting, ValueStyle,
};

use crate::loader::Loader;
use crate::source::ReadError;

/// File names read as application code.
pub(crate) fn is_code(name: &str) -> bool {
    [".py", ".js", ".mjs", ".cjs", ".ts"]
        .iter()
        .any(|ext| name.ends_with(ext))
}

/// One heartbeat setting as written.
struct Found {
    product: &'static str,
    key: &'static str,
    /// The value's characters and where they start (0-based char index).
    raw: String,
    line: u32,
    column: u32,
    /// Milliseconds per unit of the written number.
    unit_ms: u64,
}

/// The value after `key` and its separator (`:` or `=`), when it is a
/// number or `None`/`null`.
fn value_after(chars: &[char], from: usize) -> Option<(usize, String)> {
    let mut i = from;
    while i < chars.len() && chars[i].is_whitespace() {
        i += 1;
    }
    if !matches!(chars.get(i), Some(':' | '=')) {
        return None;
    }
    i += 1;
    while i < chars.len() && chars[i].is_whitespace() {
        i += 1;
    }
    let start = i;
    while i < chars.len() && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '.' | '_')) {
        i += 1;
    }
    let raw: String = chars[start..i].iter().collect();
    let plain = raw.replace('_', "");
    let ok = raw == "None" || raw == "null" || plain.parse::<f64>().is_ok();
    ok.then_some((start, raw))
}

/// Every heartbeat setting on a line.
fn scan_line(line_no: u32, line: &str, python: bool, socketio: bool, out: &mut Vec<Found>) {
    let chars: Vec<char> = line.chars().collect();
    let text: String = chars.iter().collect();
    // (key, product, ms per unit)
    let keys: &[(&str, &str, u64)] = if python {
        if socketio {
            &[("ping_interval", "socketio", 1000)]
        } else {
            &[("ping_interval", "python-websockets", 1000)]
        }
    } else {
        &[("pingInterval", "socketio", 1)]
    };
    for (key, product, unit_ms) in keys {
        let mut search = 0;
        while let Some(found) = text[search..].find(key) {
            let byte = search + found;
            search = byte + key.len();
            let before = text[..byte].chars().last();
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                continue;
            }
            let char_index = text[..byte].chars().count();
            let after = char_index + key.chars().count();
            // `"pingInterval": 25000` in JSON-ish code: skip the quote.
            let after = if chars.get(after) == Some(&'"') || chars.get(after) == Some(&'\'') {
                after + 1
            } else {
                after
            };
            if let Some((start, raw)) = value_after(&chars, after) {
                out.push(Found {
                    product,
                    key,
                    raw,
                    line: line_no,
                    column: u32::try_from(start + 1).unwrap_or(u32::MAX),
                    unit_ms: *unit_ms,
                });
            }
        }
    }
}

/// Reads one source file for heartbeat settings.
pub(crate) fn load(loader: &mut Loader, path: &Path) -> Result<(), ReadError> {
    let text = loader.read(path, ConfigKind::Application, None)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let python = name.ends_with(".py");
    let socketio = text.text.contains("socketio") || text.text.contains("socket.io");
    let mut found = Vec::new();
    for (i, line) in text.text.lines().enumerate() {
        let code = line.trim_start();
        if code.starts_with('#') || code.starts_with("//") {
            continue;
        }
        scan_line(
            u32::try_from(i + 1).unwrap_or(u32::MAX),
            line,
            python,
            socketio,
            &mut found,
        );
    }
    for f in found {
        let value = match f.raw.as_str() {
            // Switched off: no heartbeat at all.
            "None" | "null" => None,
            raw => raw
                .replace('_', "")
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0 && *v < 1e12)
                .map(|v| (v * f.unit_ms as f64).round() as u64),
        };
        let span = Span {
            file: text.display.clone(),
            line: f.line,
            column: f.column,
            len: u32::try_from(f.raw.chars().count()).unwrap_or(1).max(1),
        };
        let off = value.is_none();
        loader.evidence.hops.push(HopConfig {
            product: f.product.to_owned(),
            name: format!("{} heartbeat ({})", f.product, f.key),
            span: span.clone(),
            source: ConfigKind::Application,
            websocket: Some("it configures a WebSocket library".to_owned()),
            timers: vec![HopTimer {
                key: f.key.to_owned(),
                role: TimerRole::Heartbeat,
                setting: Some(TimerSetting {
                    value,
                    raw: f.raw,
                    span,
                    inherited: false,
                }),
                style: ValueStyle::Seconds,
                insert: None,
            }],
            upgrade: None,
            notes: if off {
                vec![format!(
                    "{} = {}: the library sends no heartbeat",
                    f.key, "off"
                )]
            } else {
                Vec::new()
            },
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (product, raw value, column) of each setting found on a line.
    type Expected = &'static [(&'static str, &'static str, u32)];

    #[test]
    fn scan_table() {
        // (line, python, socketio, expected (product, raw, column))
        let table: &[(&str, bool, bool, Expected)] = &[
            (
                "const io = new Server(http, { pingInterval: 60000, pingTimeout: 5000 });",
                false,
                true,
                &[("socketio", "60000", 45)],
            ),
            (
                "  \"pingInterval\": 25000,",
                false,
                true,
                &[("socketio", "25000", 19)],
            ),
            (
                "async with serve(handler, '', 8765, ping_interval=30):",
                true,
                false,
                &[("python-websockets", "30", 51)],
            ),
            (
                "ws = connect(url, ping_interval=None)",
                true,
                false,
                &[("python-websockets", "None", 33)],
            ),
            (
                "sio = socketio.AsyncServer(ping_interval=25, ping_timeout=20)",
                true,
                true,
                &[("socketio", "25", 42)],
            ),
            ("my_pingInterval: 5", false, false, &[]),
            ("pingInterval: config.ping", false, false, &[]),
            (
                "ping_interval = 20_000",
                true,
                false,
                &[("python-websockets", "20_000", 17)],
            ),
        ];
        for (line, python, socketio, expected) in table {
            let mut out = Vec::new();
            scan_line(1, line, *python, *socketio, &mut out);
            let got: Vec<(&str, &str, u32)> = out
                .iter()
                .map(|f| (f.product, f.raw.as_str(), f.column))
                .collect();
            assert_eq!(got, *expected, "{line}");
        }
    }
}
