//! Caddy (`Caddyfile`): `reverse_proxy` directives that carry WebSockets
//! and what ends their connections (kb `caddy`, from the reverse_proxy
//! docs and `modules/caddyhttp/reverseproxy/streaming.go`):
//!
//! * no idle timeout on tunnels by default;
//! * `stream_timeout` (default none) closes streams such as WebSockets
//!   after the duration, whatever the traffic;
//! * every config reload closes WebSockets with a 1001 close frame unless
//!   `stream_close_delay` keeps them open for a while.

mod lexer;

use std::path::Path;

use wsdoctor_evidence::config::{
    ConfigKind, Edit, EditAction, HopConfig, HopTimer, ProblemKind, Span, TimerRole, TimerSetting,
    ValueStyle,
};

use crate::kube::names_websocket;
use crate::loader::Loader;
use crate::source::ReadError;
use lexer::{Directive, Token};

/// True when the text looks like a Caddyfile: a site block or a global
/// options block whose directives Caddy knows.
pub(crate) fn looks_like(text: &str) -> bool {
    text.lines().any(|l| {
        let l = l.trim_start();
        l.starts_with("reverse_proxy ") || l.starts_with("file_server") || l.starts_with("encode ")
    })
}

/// A Go duration as Caddy reads it (`5m`, `1h30m`, `500ms`, `1.5h`, and
/// Caddy's `d` for days).
fn duration_ms(text: &str) -> Option<u64> {
    let t = text.trim();
    if t == "0" {
        return Some(0);
    }
    let chars: Vec<char> = t.chars().collect();
    let (mut i, mut total) = (0usize, 0f64);
    if chars.is_empty() {
        return None;
    }
    while i < chars.len() {
        let start = i;
        while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
            i += 1;
        }
        let number: f64 = chars[start..i].iter().collect::<String>().parse().ok()?;
        let unit_start = i;
        while i < chars.len() && chars[i].is_ascii_alphabetic() {
            i += 1;
        }
        let factor = match chars[unit_start..i].iter().collect::<String>().as_str() {
            "ns" => 1e-6,
            "us" | "µs" => 1e-3,
            "ms" => 1.0,
            "s" => 1e3,
            "m" => 6e4,
            "h" => 3.6e6,
            "d" => 8.64e7,
            _ => return None,
        };
        total += number * factor;
    }
    (total.is_finite() && total < 1e15).then(|| total.round() as u64)
}

fn span(file: &str, t: &Token) -> Span {
    Span {
        file: file.to_owned(),
        line: t.line,
        column: t.column,
        len: t.len.max(1),
    }
}

/// Reads one Caddyfile.
pub(crate) fn load(loader: &mut Loader, path: &Path) -> Result<(), ReadError> {
    let text = loader.read(path, ConfigKind::Caddy, None)?;
    let file = text.display.clone();
    let (tree, problems) = lexer::parse(&text.text);
    for p in problems {
        loader.problem(
            ProblemKind::Syntax,
            p.message,
            Span {
                file: file.clone(),
                line: p.line,
                column: p.column,
                len: 1,
            },
        );
    }
    let mut hops = Vec::new();
    for site in tree
        .iter()
        .filter(|d| d.block.is_some() && !d.tokens.is_empty())
    {
        let name = site
            .tokens
            .iter()
            .map(|t| t.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        if name.starts_with('(') {
            continue; // a snippet, judged where it is imported
        }
        let block = site.block.as_deref().unwrap_or_default();
        let matchers = matchers(block);
        walk(
            loader, &file, &text.text, &name, block, &matchers, None, &mut hops, 0,
        );
    }
    loader.evidence.hops.extend(hops);
    Ok(())
}

/// Named matchers of a site (`@ws …`) whose definition mentions an
/// upgrade or a WebSocket path.
fn matchers(block: &[Directive]) -> Vec<String> {
    block
        .iter()
        .filter_map(|d| {
            let first = d.tokens.first()?;
            if !first.text.starts_with('@') {
                return None;
            }
            let mut words: Vec<&str> = d.tokens[1..].iter().map(|t| t.text.as_str()).collect();
            for inner in d.block.as_deref().unwrap_or_default() {
                words.extend(inner.tokens.iter().map(|t| t.text.as_str()));
            }
            let says_ws = words.iter().any(|w| {
                let l = w.to_ascii_lowercase();
                l.contains("upgrade") || l.contains("websocket") || names_websocket(w)
            });
            says_ws.then(|| first.text.clone())
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn walk(
    loader: &mut Loader,
    file: &str,
    text: &str,
    site: &str,
    block: &[Directive],
    matchers: &[String],
    handle_path: Option<&str>,
    hops: &mut Vec<HopConfig>,
    depth: usize,
) {
    for d in block {
        let Some(head) = d.tokens.first() else {
            continue;
        };
        match head.text.as_str() {
            "reverse_proxy" => hops.push(reverse_proxy(
                loader,
                file,
                text,
                site,
                d,
                matchers,
                handle_path,
            )),
            "handle" | "handle_path" | "route" | "route_path" if depth < 8 => {
                let path = d.tokens.get(1).map(|t| t.text.as_str()).or(handle_path);
                walk(
                    loader,
                    file,
                    text,
                    site,
                    d.block.as_deref().unwrap_or_default(),
                    matchers,
                    path,
                    hops,
                    depth + 1,
                );
            }
            _ => {}
        }
    }
}

fn reverse_proxy(
    loader: &mut Loader,
    file: &str,
    text: &str,
    site: &str,
    d: &Directive,
    matchers: &[String],
    handle_path: Option<&str>,
) -> HopConfig {
    let args: Vec<&Token> = d.tokens[1..].iter().collect();
    let matcher = args
        .first()
        .filter(|t| t.text.starts_with('@') || t.text.starts_with('/') || t.text == "*")
        .map(|t| t.text.as_str());
    let upstreams: Vec<&str> = args
        .iter()
        .map(|t| t.text.as_str())
        .filter(|t| Some(*t) != matcher)
        .collect();
    let websocket = websocket_reason(matcher, handle_path, matchers, &upstreams);
    let sub = |key: &str| -> Option<&Token> {
        d.block
            .as_deref()?
            .iter()
            .find(|s| s.tokens.first().is_some_and(|t| t.text == key))
            .and_then(|s| s.tokens.get(1))
    };
    let head = &d.tokens[0];
    let mut timers = Vec::new();
    if let Some(t) = sub("stream_timeout") {
        timers.push(HopTimer {
            key: "stream_timeout".to_owned(),
            role: TimerRole::Lifetime,
            setting: Some(timer_setting(loader, file, t)),
            style: ValueStyle::SecondsSuffix,
            insert: None,
        });
    }
    let drain = sub("stream_close_delay").map(|t| timer_setting(loader, file, t));
    timers.push(HopTimer {
        key: "stream_close_delay".to_owned(),
        role: TimerRole::Drain,
        insert: if drain.is_none() {
            insert_subdirective(file, text, d, "stream_close_delay {value}".to_owned())
        } else {
            None
        },
        setting: drain,
        style: ValueStyle::SecondsSuffix,
    });
    HopConfig {
        product: "caddy".to_owned(),
        name: format!(
            "reverse_proxy {} in {site}",
            matcher.map_or_else(|| upstreams.join(" "), str::to_owned)
        ),
        span: span(file, head),
        source: ConfigKind::Caddy,
        websocket,
        timers,
        upgrade: None,
        notes: Vec::new(),
    }
}

/// Why a `reverse_proxy` is taken for a WebSocket hop: its matcher, its
/// path, its `handle` path, or an upstream's name; `None` when nothing says
/// so.
fn websocket_reason(
    matcher: Option<&str>,
    handle_path: Option<&str>,
    matchers: &[String],
    upstreams: &[&str],
) -> Option<String> {
    match (matcher, handle_path) {
        (Some(m), _) if matchers.iter().any(|x| x == m) => {
            Some(format!("its matcher {m} matches upgrade requests"))
        }
        (Some(m), _) if names_websocket(m) => {
            Some(format!("its path `{m}` names a WebSocket endpoint"))
        }
        (_, Some(p)) if names_websocket(p) => {
            Some(format!("its handle `{p}` names a WebSocket endpoint"))
        }
        _ => upstreams
            .iter()
            .find(|u| names_websocket(u))
            .map(|u| format!("its upstream {u} names a WebSocket server")),
    }
}

/// The edit adding the subdirective `line` to directive `d`: into its
/// block, or the one-line directive turned into a block. `None` when
/// neither can be done safely (an empty block, a comment on the line, a
/// directive spread over lines).
fn insert_subdirective(file: &str, text: &str, d: &Directive, line: String) -> Option<Edit> {
    let head = &d.tokens[0];
    let line_text = text
        .lines()
        .nth(usize::try_from(head.line).unwrap_or(1).saturating_sub(1))
        .unwrap_or_default()
        .trim()
        .to_owned();
    // One indentation step, in the file's own style (Caddyfiles are
    // usually tab-indented, as `caddy fmt` writes them).
    let step = if text.lines().any(|l| l.starts_with('\t')) {
        "\t"
    } else {
        "    "
    };
    match &d.block {
        Some(b) if !b.is_empty() => Some(Edit::new(
            file,
            head.line,
            EditAction::InsertInto,
            vec![line],
        )),
        Some(_) => None,
        None if d.tokens.last().is_some_and(|t| t.line == head.line)
            && !line_text.contains('#') =>
        {
            Some(Edit::new(
                file,
                head.line,
                EditAction::Replace,
                vec![
                    format!("{line_text} {{"),
                    format!("{step}{line}"),
                    "}".to_owned(),
                ],
            ))
        }
        None => None,
    }
}

/// A timer's value from token `t`: a problem when it is templated (unknown
/// here) or no duration.
fn timer_setting(loader: &mut Loader, file: &str, t: &Token) -> TimerSetting {
    let value = if t.text.contains("{$") || t.text.contains("{env.") {
        loader.problem(
            ProblemKind::Templated,
            format!(
                "`{}` is filled in from the environment; its value is unknown here",
                t.text
            ),
            span(file, t),
        );
        None
    } else {
        let v = duration_ms(&t.text);
        if v.is_none() {
            loader.problem(
                ProblemKind::InvalidValue,
                format!("`{}` is not a duration", t.text),
                span(file, t),
            );
        }
        v
    };
    TimerSetting {
        value,
        raw: t.text.clone(),
        span: span(file, t),
        inherited: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_table() {
        for (text, expected) in [
            ("5m", Some(300_000)),
            ("1h30m", Some(5_400_000)),
            ("500ms", Some(500)),
            ("1.5h", Some(5_400_000)),
            ("1d", Some(86_400_000)),
            ("0", Some(0)),
            ("10", None),
            ("", None),
            ("5x", None),
            ("{$T}", None),
        ] {
            assert_eq!(duration_ms(text), expected, "{text}");
        }
    }
}
