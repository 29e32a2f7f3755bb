//! Pieces every rule set uses: finding skeletons, number formatting, and
//! fixes built from the knowledge base.

use wsdoctor_evidence::escape_peer;

use crate::finding::{CauseId, Finding, Fix, Measured, Severity, SourceKind};
use crate::fingerprint::hops::{reload_drain, Hop, Timer};
use crate::kb::{kb, Intermediary};

// Every rule set builds fixes and writes durations; they live below the
// rules (in `finding` and `text`) because advice and fingerprint need them too.
pub(crate) use crate::advice::typical_idle_timeouts;
pub(crate) use crate::finding::{fix, fix_with};
pub(crate) use crate::text::{human, millis, peer, secs, to_s};

/// A finding with no evidence or fix yet.
pub(crate) fn finding(
    id: CauseId,
    severity: Severity,
    confidence: f64,
    title: impl Into<String>,
    source: SourceKind,
) -> Finding {
    Finding {
        id,
        severity,
        confidence,
        title: title.into(),
        source,
        subject: None,
        intermediary: None,
        measured: Measured::default(),
        evidence: Vec::new(),
        fix: Vec::new(),
        confirm: None,
        would_change: None,
    }
}

/// The cause and severity of a close frame's code, for rules that group
/// drops the server started by code. 1000 and 1005 from the server during a
/// watch are its own decision (`server-close`): the answer to why they dropped.
pub(crate) fn close_code_cause(code: u16) -> Option<(CauseId, Severity)> {
    match code {
        1000 | 1005 => Some((CauseId::ServerClose, Severity::Warning)),
        1011 => Some((CauseId::ServerError, Severity::Error)),
        1001 | 1012..=1014 => Some((CauseId::GoingAway, Severity::Warning)),
        1002 | 1003 | 1007 | 1009 | 1010 => Some((CauseId::ProtocolError, Severity::Error)),
        1008 | 3000..=4999 => Some((CauseId::PolicyClose, Severity::Warning)),
        _ => None,
    }
}

/// The finding for `count` connections a close frame `code` ended, when
/// the code names a cause: title and up to three evidence lines are the
/// source's words; the fix sends the reader to the server's log.
pub(crate) fn close_code_finding(
    code: u16,
    count: usize,
    title: String,
    evidence: impl IntoIterator<Item = String>,
    source: SourceKind,
) -> Option<Finding> {
    let (id, severity) = close_code_cause(code)?;
    let mut f = finding(id, severity, 0.8, title, source);
    f.measured.close_code = Some(code);
    f.measured.connections_affected = Some(count as u64);
    f.evidence.extend(evidence.into_iter().take(3));
    f.fix.push(fix(
        "server",
        format!("Look in the server's log at these times for why it closed with {code} (`wsdoctor explain {code}`)."),
    ));
    Some(f)
}

/// Median of a list of µs values.
pub(crate) fn median(mut values: Vec<u64>) -> Option<u64> {
    values.sort_unstable();
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2),
    }
}

/// The fixes for the top `n` ranked hops, each in the words of its timer:
/// raise the idle timeout, raise the lifetime cap, or bound the reload drain.
pub(crate) fn hop_fixes(hops: &[Hop], timer: Timer, n: usize) -> Vec<Fix> {
    hops.iter()
        .take(n)
        .filter_map(|h| {
            let i = h.intermediary;
            match timer {
                Timer::Idle(_) => raise_idle_fix(i),
                Timer::Lifetime(_) => raise_lifetime_fix(i),
                Timer::AfterReload(_) => reload_drain(&i.id).map(|d| {
                    fix_with(
                        &i.id,
                        format!(
                            "Set {} to how long clients may keep their connections after a reload, and make them reconnect with jittered backoff when it passes",
                            d.directive
                        ),
                        d.snippet,
                    )
                }),
            }
        })
        .collect()
}

/// Raising a hop's connection lifetime cap, from its kb entry.
pub(crate) fn raise_lifetime_fix(i: &Intermediary) -> Option<Fix> {
    let setting = i.max_lifetime_setting.as_deref()?;
    let default = i
        .max_lifetime_s
        .map(|t| format!(" (default {t} s)"))
        .unwrap_or_default();
    let text = format!(
        "Raise {}'s connection lifetime cap{default}: {setting}",
        i.short_name()
    );
    Some(match i.fix_snippet.as_deref() {
        Some(snippet) => fix_with(&i.id, text, snippet),
        None => fix(&i.id, text),
    })
}

/// Raising a hop's idle timeout, from its kb entry.
pub(crate) fn raise_idle_fix(i: &Intermediary) -> Option<Fix> {
    let snippet = i.fix_snippet.as_deref()?;
    let default = i
        .idle_timeout_default_s
        .map(|t| format!(" (default {t} s)"))
        .unwrap_or_default();
    let setting = i
        .idle_timeout_setting
        .as_deref()
        .map(|s| format!(": {s}"))
        .unwrap_or_default();
    Some(fix_with(
        &i.id,
        format!("Raise {}'s idle timeout{default}{setting}", i.short_name()),
        snippet,
    ))
}

/// The kb products whose default idle timeout is within timing noise of `us`.
pub(crate) fn idle_matches(us: u64) -> Vec<&'static Intermediary> {
    matches_within(us, |i| i.idle_timeout_default_s)
}

/// The kb products whose default lifetime cap is within timing noise of `us`.
pub(crate) fn lifetime_matches(us: u64) -> Vec<&'static Intermediary> {
    matches_within(us, |i| i.max_lifetime_s)
}

fn matches_within(
    us: u64,
    value: impl Fn(&Intermediary) -> Option<u32>,
) -> Vec<&'static Intermediary> {
    let measured = us as f64 / 1e6;
    kb().intermediaries()
        .iter()
        .filter(|i| {
            value(i).is_some_and(|t| {
                let t = f64::from(t);
                // Timers fire on a tick and our clock adds RTT: 1 s or 2 %.
                (measured - t).abs() <= (t * 0.02).max(1.0)
            })
        })
        .collect()
}

/// `nginx 60 s, AWS Application Load Balancer 60 s`.
pub(crate) fn names_with_value(
    list: &[&Intermediary],
    value: impl Fn(&Intermediary) -> Option<u32>,
) -> String {
    list.iter()
        .map(|i| match value(i) {
            Some(v) => format!("{} {v} s", i.short_name()),
            None => i.short_name().to_owned(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `wss://h/p` → `https://h/p` for curl.
pub(crate) fn http_url(target: &str) -> String {
    if let Some(rest) = target.strip_prefix("wss://") {
        format!("https://{rest}")
    } else if let Some(rest) = target.strip_prefix("ws://") {
        format!("http://{rest}")
    } else {
        target.to_owned()
    }
}

/// This machine, not the target, ran out of something: said plainly so it is
/// never blamed on the server.
pub(crate) fn local_limit(
    resource: wsdoctor_evidence::LocalResource,
    error: &str,
    source: SourceKind,
) -> Finding {
    use wsdoctor_evidence::LocalResource;
    let mut f = finding(
        CauseId::LoadLimit,
        Severity::Warning,
        0.95,
        format!(
            "wsdoctor's machine ran out of {}: a limit here, not of the target",
            resource.as_str()
        ),
        source,
    );
    f.subject = Some("wsdoctor (this machine)".to_owned());
    f.evidence
        .push(format!("the operating system said: {}", escape_peer(error)));
    let advice = match resource {
        LocalResource::FileDescriptors | LocalResource::SystemFileDescriptors => {
            "Raise the open-file limit (`ulimit -n`, or the container's nofile limit); where the hard limit cannot be raised, spread the connections over several processes or machines."
        }
        LocalResource::EphemeralPorts => {
            "Each source address has about 28,000 ephemeral ports per destination: use more source addresses (on loopback 127.0.0.2, 127.0.0.3, …) or widen net.ipv4.ip_local_port_range."
        }
        LocalResource::Memory => {
            "The kernel could not allocate socket buffers: check free memory and net.ipv4.tcp_mem on this machine."
        }
    };
    f.fix.push(fix("client", advice));
    f
}

/// Two durations in µs count as "the same time" within 2 % or 250 ms:
/// timer ticks and round trips blur a timeout by about that much.
pub(crate) fn same_time_us(a: u64, b: u64) -> bool {
    a.abs_diff(b) <= (a.max(b) / 50).max(250_000)
}

#[cfg(test)]
mod tests {
    use super::same_time_us;

    #[test]
    fn the_same_time_is_within_two_percent_or_a_quarter_second() {
        let s = 1_000_000;
        for (a, b, same) in [
            (60 * s, 61 * s, true),         // 1.6 %
            (60 * s, 62 * s, false),        // 3.2 %
            (2 * s, 2 * s + 250_000, true), // the 250 ms floor
            (2 * s, 2 * s + 260_000, false),
            (0, 250_000, true),
            (350 * s, 357 * s, true), // 7 s of 350 s
            (u64::MAX, u64::MAX - 1, true),
        ] {
            assert_eq!(same_time_us(a, b), same, "{a} {b}");
            assert_eq!(same_time_us(b, a), same, "{b} {a}");
        }
    }
}
