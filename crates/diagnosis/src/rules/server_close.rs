//! `server-close`: the server's application ended the connection on purpose
//! (a close frame with 1000, or an empty one) while we were still watching.
//! For "why did my connection drop" that close is the answer, so it is a
//! finding, never a note under `healthy`. Used by `probe` (one connection)
//! and `idle` (several: a repeating age points at a lifetime or a token).

use wsdoctor_evidence::escape_peer;

use super::common::{finding, fix, human, median, same_time_us, secs, to_s};
use crate::finding::{CauseId, Finding, Severity, SourceKind};
use crate::kb::{kb, CodeEntry};

/// True for the close codes that are the server's own decision and name no
/// other cause: 1000, or an empty close frame (reported as 1005).
pub(crate) fn is_deliberate(code: Option<u16>) -> bool {
    matches!(code, None | Some(1000) | Some(1005))
}

/// One close the server started.
#[derive(Debug, Clone)]
pub(crate) struct ServerClosed {
    /// Which connection, for the evidence (`probe`, `silent #1`).
    pub(crate) label: String,
    /// The code in its close frame; `None` for an empty close frame.
    pub(crate) code: Option<u16>,
    /// Its reason text, as the peer sent it (escaped here).
    pub(crate) reason: String,
    /// Age of the connection at the close, µs after the 101.
    pub(crate) age_us: u64,
    /// Time since the last frame either way at the close, µs.
    pub(crate) idle_us: Option<u64>,
}

fn code_text(code: Option<u16>) -> String {
    match code {
        Some(c) => c.to_string(),
        None => "1005 (an empty close frame)".to_owned(),
    }
}

fn quoted(reason: &str) -> String {
    if reason.is_empty() {
        " (no reason text)".to_owned()
    } else {
        format!(" \"{}\"", escape_peer(reason))
    }
}

/// What the knowledge base says the code usually means.
fn meaning_lines(code: u16) -> Vec<String> {
    let Some(CodeEntry::Defined(c)) = kb().close_code(code) else {
        return Vec::new();
    };
    let mut lines = vec![format!("{code} ({}): {}", c.name, c.meaning)];
    if !c.root_causes.is_empty() {
        lines.push(format!(
            "{code} usually comes from: {}",
            c.root_causes.join(" ")
        ));
    }
    lines
}

/// The `server-close` finding for closes the server started. `watch_us`
/// is how long we meant to watch (the closes came before it ended).
pub(crate) fn finding_for(
    closes: &[ServerClosed],
    watch_us: u64,
    source: SourceKind,
) -> Option<Finding> {
    let first = closes.first()?;
    let ages: Vec<u64> = closes.iter().map(|c| c.age_us).collect();
    let age = median(ages.clone()).unwrap_or(first.age_us);
    let same_age = closes.len() >= 2 && ages.iter().all(|a| same_time_us(*a, age));
    let same_words = closes
        .iter()
        .all(|c| c.code == first.code && c.reason == first.reason);
    let said = format!("{}{}", code_text(first.code), quoted(&first.reason));
    let title = match (closes.len(), same_age) {
        (1, _) => format!(
            "The server closed the connection itself after {}: {said}",
            human(age)
        ),
        (n, true) if same_words => format!(
            "The server closed all {n} connections itself at the same age, {}: {said}",
            human(age)
        ),
        (n, _) => format!(
            "The server closed {n} connections itself (ages {}–{})",
            human(ages.iter().copied().min().unwrap_or(age)),
            human(ages.iter().copied().max().unwrap_or(age))
        ),
    };
    let mut f = finding(CauseId::ServerClose, Severity::Error, 0.9, title, source);
    f.measured.close_code = Some(first.code.unwrap_or(1005));
    f.measured.close_reason = (!first.reason.is_empty()).then(|| escape_peer(&first.reason));
    f.measured.open_for_s = Some(to_s(age));
    f.measured.connections_affected = Some(closes.len() as u64);
    for c in closes.iter().take(6) {
        let idle = c
            .idle_us
            .map(|i| format!(", {} since the last frame either way", secs(i)))
            .unwrap_or_default();
        f.evidence.push(format!(
            "{}: the server sent close frame {}{} {} after the 101{idle}; we answered it",
            c.label,
            code_text(c.code),
            quoted(&c.reason),
            secs(c.age_us)
        ));
    }
    f.evidence.push(format!(
        "the server closed first, before the end of our {} watch: we had not closed it",
        human(watch_us)
    ));
    f.evidence.extend(meaning_lines(first.code.unwrap_or(1005)));
    let reason_fix = if first.reason.is_empty() {
        "The server gave no reason: find where its code closes connections (the close call with \
         this code) and log why; the age above tells when it decides to."
            .to_owned()
    } else {
        format!(
            "Search the server's own code for the reason text{}: the code that sends it decides \
             when connections end, and why.",
            quoted(&first.reason)
        )
    };
    f.fix.push(fix("server", reason_fix));
    if same_age {
        f.measured.max_lifetime_s = Some(to_s(age));
        f.evidence.push(format!(
            "every connection was closed at the same age ({}), whatever its traffic: that is a lifetime the server enforces",
            secs(age)
        ));
        f.fix.push(fix(
            "server",
            format!(
                "Connections end at {} of age every time: look for a session or token lifetime (a JWT expiry, a maximum session length) in the server, raise it, or make clients renew and reconnect before it with backoff.",
                human(age)
            ),
        ));
    } else if closes.len() == 1 {
        f.fix.push(fix(
            "client",
            "If the same age repeats on every connection, it is a lifetime the server enforces (a \
             session or token expiry): `wsdoctor idle URL` opens several connections at once and \
             shows it.",
        ));
    }
    Some(f)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn closed(label: &str, code: Option<u16>, reason: &str, age_s: f64) -> ServerClosed {
        ServerClosed {
            label: label.to_owned(),
            code,
            reason: reason.to_owned(),
            age_us: (age_s * 1e6) as u64,
            idle_us: Some((age_s * 1e6) as u64),
        }
    }

    #[test]
    fn deliberate_codes_are_1000_and_an_empty_frame() {
        for (code, deliberate) in [
            (None, true),
            (Some(1000), true),
            (Some(1005), true),
            (Some(1001), false),
            (Some(1011), false),
            (Some(4000), false),
        ] {
            assert_eq!(is_deliberate(code), deliberate, "{code:?}");
        }
    }

    #[test]
    fn table() {
        // (closes, title contains, lifetime line expected)
        let cases: &[(&[ServerClosed], &str, bool)] = &[
            (
                &[closed("probe", Some(1000), "done for today", 5.0)],
                "The server closed the connection itself after 5.0 s: 1000 \"done for today\"",
                false,
            ),
            (
                &[
                    closed("silent #1", Some(1000), "session over", 3.0),
                    closed("ping #1", Some(1000), "session over", 3.01),
                ],
                "all 2 connections itself at the same age, 3.0 s",
                true,
            ),
            (
                &[
                    closed("silent #1", None, "", 1.0),
                    closed("ping #1", None, "", 4.0),
                ],
                "closed 2 connections itself (ages 1.0 s–4.0 s)",
                false,
            ),
        ];
        for (closes, title, lifetime) in cases {
            let f = finding_for(closes, 15_000_000, SourceKind::Idle).unwrap();
            assert_eq!(f.id, CauseId::ServerClose);
            assert_eq!(f.severity, Severity::Error);
            assert!(f.title.contains(title), "{}", f.title);
            let text = f.evidence.join("\n");
            assert_eq!(
                text.contains("lifetime the server enforces"),
                *lifetime,
                "{text}"
            );
            assert!(text.contains("usually comes from"), "{text}");
            assert!(
                text.contains("before the end of our 15.0 s watch"),
                "{text}"
            );
        }
        assert!(finding_for(&[], 1, SourceKind::Probe).is_none());
    }

    #[test]
    fn the_reason_is_escaped_and_sent_to_the_servers_code() {
        let f = finding_for(
            &[closed("probe", Some(1000), "bye\x1b[31m", 1.0)],
            3_000_000,
            SourceKind::Probe,
        )
        .unwrap();
        assert!(!f.title.contains('\x1b'));
        assert!(!f.measured.close_reason.clone().unwrap().contains('\x1b'));
        assert!(f.fix[0]
            .text
            .contains("Search the server's own code for the reason text"));
        assert_eq!(f.measured.close_code, Some(1000));
    }
}
