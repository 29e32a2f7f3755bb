#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;

use super::app::{self, ServerLib};
use super::{cause_fix, checks, prior};
use crate::advice::rank;
use crate::explain::explain;
use crate::finding::{CauseId, Finding, Fix, Severity, SourceKind};
use crate::kb::kb;
use crate::rules::common::{finding, idle_matches, raise_idle_fix};

/// Every cause id, from the explain table (whose own test checks it covers
/// the whole vocabulary once each).
fn all_causes() -> Vec<CauseId> {
    crate::explain::all_cause_ids()
}

fn f(id: CauseId, severity: Severity, confidence: f64) -> Finding {
    finding(id, severity, confidence, id.as_str(), SourceKind::Probe)
}

/// Findings as (id, severity, confidence), and the expected order of ids.
type RankCase = (&'static [(CauseId, Severity, f64)], &'static [CauseId]);

#[test]
fn ranking_weighs_evidence_with_the_runbook_prior() {
    use CauseId::*;
    use Severity::*;
    // (findings as (id, severity, confidence), expected order of ids)
    let table: &[RankCase] = &[
        // Severity first: a sure warning never outranks an error.
        (
            &[(NoHeartbeat, Warning, 0.95), (GoingAway, Error, 0.5)],
            &[GoingAway, NoHeartbeat],
        ),
        // Equal evidence: the runbook's more frequent cause first.
        (
            &[
                (MaxLifetime, Error, 0.8),
                (AbnormalClose, Error, 0.8),
                (IdleTimeout, Error, 0.8),
                (UpgradeNotForwarded, Error, 0.8),
            ],
            &[IdleTimeout, UpgradeNotForwarded, AbnormalClose, MaxLifetime],
        ),
        // Evidence within the prior's band (0.8 vs 0.75): the prior decides.
        (
            &[(MaxLifetime, Error, 0.8), (IdleTimeout, Error, 0.75)],
            &[IdleTimeout, MaxLifetime],
        ),
        // Clearly stronger evidence beats a more frequent cause.
        (
            &[(IdleTimeout, Error, 0.55), (MaxLifetime, Error, 0.9)],
            &[MaxLifetime, IdleTimeout],
        ),
        // The runbook's items 3 and 4 on equal evidence.
        (
            &[
                (ReconnectNoBackoff, Warning, 0.7),
                (NoHeartbeat, Warning, 0.7),
            ],
            &[NoHeartbeat, ReconnectNoBackoff],
        ),
        // Items 4 and 5.
        (
            &[
                (ServerError, Warning, 0.85),
                (ReconnectNoJitter, Warning, 0.85),
            ],
            &[ReconnectNoJitter, ServerError],
        ),
        // Healthy (info) always last.
        (
            &[(Healthy, Info, 0.9), (HeartbeatTooSlow, Warning, 0.4)],
            &[HeartbeatTooSlow, Healthy],
        ),
    ];
    for (input, expected) in table {
        let mut list: Vec<Finding> = input.iter().map(|(i, s, c)| f(*i, *s, *c)).collect();
        rank(&mut list);
        let got: Vec<CauseId> = list.iter().map(|f| f.id).collect();
        assert_eq!(&got, expected, "{input:?}");
    }
}

#[test]
fn the_prior_is_the_runbook_order() {
    let weights: Vec<f64> = prior::CAUSE_PRIOR.iter().map(|(_, w)| *w).collect();
    assert!(weights.windows(2).all(|w| w[0] >= w[1]), "{weights:?}");
    for (id, w) in prior::CAUSE_PRIOR {
        assert_eq!(
            prior::CAUSE_PRIOR.iter().filter(|(c, _)| c == id).count(),
            1,
            "{id:?} twice"
        );
        assert!((prior::UNRANKED_PRIOR..=1.0).contains(w), "{id:?}");
    }
    assert_eq!(prior::cause_prior(CauseId::IdleTimeout), 1.0);
    assert_eq!(
        prior::cause_prior(CauseId::SlowConsumer),
        prior::UNRANKED_PRIOR
    );
    for id in prior::HOP_PRIOR {
        assert!(kb().intermediary(id).is_some(), "{id} is not in the kb");
    }
}

#[test]
fn likely_hops_for_a_timer_no_header_names() {
    // (measured T in s, the hops named, most likely first)
    let table: &[(u64, &[&str])] = &[
        (60, &["nginx", "ingress-nginx", "aws-alb"]),
        (100, &["cloudflare"]),
        (55, &["heroku-router"]),
        (350, &["aws-nlb"]),
        // Matches no default: a configured timer, so the configurable hops
        // people hit most.
        (42, &["nginx", "ingress-nginx", "aws-alb"]),
    ];
    for (t, expected) in table {
        let got: Vec<&str> = prior::likely_hops(&idle_matches(t * 1_000_000))
            .iter()
            .map(|i| i.id.as_str())
            .collect();
        assert_eq!(&got, expected, "T = {t} s");
    }
}

#[test]
fn ping_interval_is_half_the_timeout() {
    let table = [
        (Some(60_000_000), 30),
        (Some(55_000_000), 27),
        (Some(100_000_000), 30),
        (Some(350_000_000), 30),
        (Some(1_000_000), 1),
        // nginx's proxy_read_timeout 20s as idle measured it.
        (Some(19_992_000), 10),
        (Some(5_001_000), 2),
        (Some(0), 1),
        (None, 25),
    ];
    for (t, p) in table {
        assert_eq!(app::ping_interval_s(t), p, "{t:?}");
    }
    let fix = app::server_ping_fix(Some(60_000_000), None);
    assert!(fix
        .text
        .contains("every 30 s (half the 60.0 s idle timeout)"));
    let snippet = fix.snippet.unwrap();
    for needle in [
        "}, 30 * 1000);",
        "ping_interval=30, ping_timeout=30",
        "time.NewTicker(30 * time.Second)",
        "Duration::from_secs(30)",
        "@Scheduled(fixedRate = 30, timeUnit = TimeUnit.SECONDS)",
    ] {
        assert!(snippet.contains(needle), "{needle}");
    }
}

#[test]
fn a_fingerprinted_library_gets_only_its_own_snippet() {
    let python = kb().intermediary("python-websockets").unwrap();
    let fix = app::server_ping_fix(None, Some(python));
    assert_eq!(fix.for_, "python-websockets");
    let snippet = fix.snippet.unwrap();
    assert!(snippet.contains("ping_interval=25") && !snippet.contains("ws.ping()"));
    // gorilla keeps the knowledge base's own snippet.
    let gorilla = kb().intermediary("gorilla-websocket").unwrap();
    let fix = app::server_ping_fix(None, Some(gorilla));
    assert_eq!(
        fix.snippet,
        gorilla
            .fix_snippet
            .as_ref()
            .map(|s| s.trim_matches('\n').to_owned())
    );
}

#[test]
fn the_backoff_numbers_are_the_snippets_numbers() {
    assert_eq!(
        (app::BASE_S, app::FACTOR, app::CAP_S, app::STABLE_S),
        (1.0, 2.0, 30.0, 30)
    );
    let fix = app::full_jitter_fix();
    assert!(fix.text.contains("min(30 s, 1 s × 2^n)"), "{}", fix.text);
    let snippet = fix.snippet.unwrap();
    for needle in [
        "Math.min(30_000, 1_000 * 2 ** attempt++)",
        "min(30, 1 * 2 ** attempt)",
        "math.Min(30, math.Pow(2, float64(attempt)))",
        "Duration::from_secs(30).min(Duration::from_secs(1 << attempt.min(5)))",
    ] {
        assert!(snippet.contains(needle), "{needle}");
    }
}

#[test]
fn every_cause_id_has_an_explanation_a_fix_and_checks() {
    let ids = all_causes();
    assert_eq!(ids.len(), 31);
    for id in ids {
        let e = explain(id.as_str()).unwrap();
        assert!(
            e.fix_snippet
                .as_deref()
                .is_some_and(|s| !s.trim().is_empty()),
            "{id:?}: explain has no fix"
        );
        let fix = cause_fix(id);
        assert!(!fix.text.is_empty() && !fix.for_.is_empty(), "{id:?}");
        let (confirm, change) = checks::checks(&f(id, Severity::Warning, 0.5));
        assert!(!confirm.is_empty() && !change.is_empty(), "{id:?}");
    }
}

#[test]
fn ranking_fills_in_the_checks_with_the_measured_numbers() {
    let mut idle = f(CauseId::IdleTimeout, Severity::Error, 0.9);
    idle.measured.idle_timeout_s = Some(60.02);
    let mut said = f(CauseId::MaxLifetime, Severity::Error, 0.9);
    said.confirm = Some("the rule's own check".to_owned());
    let mut list = vec![idle, said];
    rank(&mut list);
    let idle = &list[0];
    assert!(idle
        .confirm
        .as_deref()
        .unwrap()
        .contains("silent connections should drop at 60.0 s"));
    assert!(idle
        .would_change
        .as_deref()
        .unwrap()
        .contains("lifetime cap"));
    // A rule's own words are kept; only the missing half is filled in.
    assert_eq!(list[1].confirm.as_deref(), Some("the rule's own check"));
    assert!(list[1].would_change.is_some());
    let json = serde_json::to_value(&list[0]).unwrap();
    assert!(json["confirm"].is_string() && json["would_change"].is_string());
}

fn write_fix(out: &mut String, label: &str, fix: &Fix) {
    let _ = writeln!(out, "## {label} (for {})\n{}", fix.for_, fix.text);
    if let Some(snippet) = &fix.snippet {
        let _ = writeln!(out, "```\n{snippet}\n```");
    }
    out.push('\n');
}

/// Every fix text wsdoctor can attach that does not depend on peer data:
/// each cause's general fix, each kb product's raise fix, the likely hops
/// for the common timers, and the application code for T unknown and
/// T = 60 s, per library.
#[test]
fn every_fix_text() {
    let mut out = String::new();
    out.push_str("# By cause id\n\n");
    let mut seen: Vec<(Fix, CauseId)> = Vec::new();
    for id in all_causes() {
        let fix = cause_fix(id);
        match seen.iter().find(|(f, _)| *f == fix) {
            Some((_, first)) => {
                let _ = writeln!(out, "## {}: same as {}\n", id.as_str(), first.as_str());
            }
            None => {
                write_fix(&mut out, id.as_str(), &fix);
                seen.push((fix, id));
            }
        }
    }
    out.push_str("# By intermediary: raising its idle timeout\n\n");
    for i in kb().intermediaries() {
        match raise_idle_fix(i) {
            Some(fix) => write_fix(&mut out, &format!("idle-timeout × {}", i.id), &fix),
            None => {
                let _ = writeln!(out, "## idle-timeout × {}: no raise fix in the kb\n", i.id);
            }
        }
    }
    out.push_str("# Likely hops when no header names one\n\n");
    for t in [30, 55, 60, 100, 240, 300, 350, 600, 42] {
        let names: Vec<String> = prior::likely_hops(&idle_matches(t * 1_000_000))
            .iter()
            .map(|i| i.id.clone())
            .collect();
        let _ = writeln!(out, "- T = {t} s: {}", names.join(", "));
    }
    out.push_str("\n# Application side\n\n");
    write_fix(
        &mut out,
        "server ping, T unknown",
        &app::server_ping_fix(None, None),
    );
    for lib in ServerLib::ALL {
        let _ = writeln!(
            out,
            "## server ping, T = 60 s, {lib:?}\n```\n{}\n```\n",
            lib.heartbeat_snippet(app::ping_interval_s(Some(60_000_000)))
        );
    }
    write_fix(
        &mut out,
        "server ping on a path that ignores pings, T = 60 s",
        &app::app_heartbeat_fix("server", 60_000_000, "This path ignores WebSocket pings"),
    );
    write_fix(&mut out, "client reconnect", &app::full_jitter_fix());
    insta::assert_snapshot!(out);
}
