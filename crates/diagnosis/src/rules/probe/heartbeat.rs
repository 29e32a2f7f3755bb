//! Pings on an open connection (`no-heartbeat`, `heartbeat-too-slow`) and
//! the `healthy` summary of what was checked.

use wsdoctor_evidence::{ConnectionEnd, FrameKind, Side};

use super::Ctx;
use crate::advice::prior::likely_hops;
use crate::finding::{CauseId, Finding, Severity};
use crate::kb::{kb, Intermediary};
use crate::rules::common::{
    fix, human, idle_matches, median, millis, names_with_value, raise_idle_fix, secs, to_s,
    typical_idle_timeouts,
};

/// A watch this long outlasts the most common idle timeouts (55–60 s), so
/// "no ping" is then a measured risk rather than a guess.
const LONG_WATCH_US: u64 = 60_000_000;

/// Server libraries ping every 20–30 s by default: a shorter watch that
/// saw no ping cannot say the server has none.
const COMMON_HEARTBEAT_MAX_US: u64 = 30_000_000;

/// A ping interval at or above this is not below the common 55–60 s idle timeouts.
const SLOW_PING_US: u64 = 55_000_000;

/// One line per direction: who pinged, how often, how pongs came back.
pub(super) fn ping_lines(ctx: &Ctx<'_>) -> Vec<String> {
    let server = ctx.server_pings();
    let open = ctx.open_at_us().unwrap_or(0);
    let theirs = match (server.len(), ctx.server_ping_interval_us()) {
        // Absence is only claimed from a watch past the common heartbeats.
        (0, _) if ctx.watched_us() >= COMMON_HEARTBEAT_MAX_US => {
            format!("the server sent no ping in {}", secs(ctx.watched_us()))
        }
        (0, _) => format!(
            "no ping from the server in the {} watched: a heartbeat slower than that cannot be excluded (server libraries ping every 20–30 s)",
            secs(ctx.watched_us())
        ),
        (1, _) => format!(
            "the server sent 1 ping, {} after the 101",
            secs(server[0].saturating_sub(open))
        ),
        (n, Some(iv)) => format!("the server sent {n} pings, every ~{:.1} s", iv as f64 / 1e6),
        (n, None) => format!("the server sent {n} pings"),
    };
    let ours = match ctx.conn.heartbeat.ping_interval_ms {
        None => "we sent no pings".to_owned(),
        Some(ms) => {
            let rtts = ctx.conn.pong_rtts_us();
            let rtt = median(rtts.clone())
                .map(|m| format!(", median RTT {}", millis(m)))
                .unwrap_or_default();
            format!(
                "we pinged every {:.1} s; {} pongs came back{rtt}",
                ms as f64 / 1000.0,
                rtts.len()
            )
        }
    };
    vec![theirs, ours]
}

/// `no-heartbeat` and `heartbeat-too-slow`.
pub(super) fn diagnose(ctx: &Ctx<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    if ctx.server_pings().is_empty() && ctx.conn.heartbeat.ping_interval_ms.is_none() {
        out.extend(no_heartbeat(ctx));
    }
    if let Some(f) = ctx
        .server_ping_interval_us()
        .and_then(|iv| too_slow(ctx, iv))
    {
        out.push(f);
    }
    out
}

fn no_heartbeat(ctx: &Ctx<'_>) -> Option<Finding> {
    let watched = ctx.watched_us();
    let long = watched >= LONG_WATCH_US;
    // A short connection that the server or the network ended says nothing
    // about pings: only a watch we ended ourselves (or one still open) counts.
    let we_ended = match ctx.end.map(|e| &e.end) {
        None => true,
        Some(ConnectionEnd::CloseHandshake { initiator, .. }) => *initiator == Side::Local,
        Some(_) => false,
    };
    if !long && !we_ended {
        return None;
    }
    let silence = ctx.longest_inbound_silence_us().unwrap_or(watched);
    let data_messages = ctx
        .conn
        .events_from(Side::Remote)
        .filter(|e| matches!(e.kind, FrameKind::Text { .. } | FrameKind::Binary { .. }))
        .count();
    // Application messages (Socket.IO heartbeats are data frames) keep an
    // idle timer from firing just as well as pings do.
    let busy = long && data_messages >= 2 && silence < SLOW_PING_US;
    let (severity, confidence, title) = if busy {
        (
            Severity::Info,
            0.4,
            format!(
                "No ping frames, but the server's messages never left the connection silent for \
                 more than {}",
                human(silence)
            ),
        )
    } else if long {
        (
            Severity::Warning,
            0.7,
            format!(
                "No heartbeat: neither side sent a ping in {} of watching",
                human(watched)
            ),
        )
    } else {
        (
            Severity::Info,
            0.3,
            format!(
                "No ping from the server in the {} watch: a heartbeat slower than that cannot be excluded",
                human(watched)
            ),
        )
    };
    let mut f = ctx.finding(CauseId::NoHeartbeat, severity, confidence, title);
    f.measured.watched_s = Some(to_s(watched));
    f.evidence = ping_lines(ctx);
    let plural = if data_messages == 1 { "" } else { "s" };
    f.evidence.push(format!(
        "{data_messages} message{plural} from the server; longest silence {}",
        secs(silence)
    ));
    // A drop after a silence that matches a known idle timeout measured T:
    // the ping interval is then half of it rather than the 25 s default.
    let measured_t = Some(silence).filter(|s| !we_ended && !idle_matches(*s).is_empty());
    f.fix.push(crate::advice::app::server_ping_fix(
        measured_t,
        ctx.server_library(),
    ));
    if !long {
        f.fix.push(fix(
            "client",
            "Run with `--watch 65s` to be sure: servers that ping usually do it every 20–30 s, \
             and the most common idle timeouts are 55–60 s.",
        ));
    }
    Some(f)
}

fn too_slow(ctx: &Ctx<'_>, interval: u64) -> Option<Finding> {
    let every = format!("{:.1} s", interval as f64 / 1e6);
    let hop = ctx.blamed_proxy().and_then(|i| {
        let t = i.idle_timeout_default_s?;
        (interval >= u64::from(t) * 1_000_000).then_some((i, t))
    });
    let mut f = match hop {
        Some((i, t)) => {
            let mut f = ctx.finding(
                CauseId::HeartbeatTooSlow,
                Severity::Warning,
                0.7,
                format!(
                    "The server pings every {every}, not below {}'s default idle timeout of {t} s",
                    i.short_name()
                ),
            );
            f.intermediary = Some(i.id.clone());
            f.evidence.extend(ctx.identified_line(i));
            f.fix.extend(raise_idle_fix(i));
            f
        }
        None if interval >= SLOW_PING_US => {
            let mut f = ctx.finding(
                CauseId::HeartbeatTooSlow,
                Severity::Warning,
                0.4,
                format!(
                    "The server pings every {every}: not below common idle timeouts ({})",
                    typical_idle_timeouts()
                ),
            );
            if ctx.blamed_proxy().is_none() {
                // No header names the hop: the likeliest ones whose default
                // timer this interval does not beat, and how to raise theirs.
                let likely = likely_hops(&outpaced_by(interval));
                if !likely.is_empty() {
                    f.evidence.push(format!(
                        "no response header names the hop; the most common ones whose default idle timeout is not above {every}: {}",
                        names_with_value(&likely, |i| i.idle_timeout_default_s)
                    ));
                    f.fix.extend(likely.into_iter().filter_map(raise_idle_fix));
                }
            }
            f
        }
        None => return None,
    };
    f.measured.server_ping_interval_s = Some(to_s(interval));
    f.measured.watched_s = Some(to_s(ctx.watched_us()));
    f.evidence.splice(0..0, ping_lines(ctx));
    let hop_t_us = hop.map(|(_, t)| u64::from(t) * 1_000_000);
    f.fix.insert(
        0,
        crate::advice::app::server_ping_fix(hop_t_us, ctx.server_library()),
    );
    Some(f)
}

/// The kb products whose default idle timeout a ping every `interval_us`
/// does not beat (timers fire on a tick: 1 s of slack).
fn outpaced_by(interval_us: u64) -> Vec<&'static Intermediary> {
    kb().intermediaries()
        .iter()
        .filter(|i| {
            i.idle_timeout_default_s
                .is_some_and(|t| u64::from(t) * 1_000_000 <= interval_us + 1_000_000)
        })
        .collect()
}

/// Says which checks ran and what they saw; added when nothing reached warning.
pub(super) fn healthy(ctx: &Ctx<'_>, notes: Vec<String>) -> Finding {
    let watched = ctx.watched_us();
    let mut f = ctx.finding(
        CauseId::Healthy,
        Severity::Info,
        if watched >= LONG_WATCH_US { 0.8 } else { 0.6 },
        format!("No problem found in a {} probe", human(watched)),
    );
    let answer = ctx
        .answer_us()
        .map(|t| format!(" after {}", millis(t)))
        .unwrap_or_default();
    if ctx.hs.is_some_and(|h| h.is_http2()) {
        let status = ctx.hs.map_or(200, |h| h.status);
        f.evidence.push(format!(
            "handshake: HTTP/2 extended CONNECT (RFC 8441) answered {status}{answer}"
        ));
    } else {
        f.evidence.push(format!(
            "handshake: HTTP 101{answer}, Sec-WebSocket-Accept valid"
        ));
    }
    if let Some(tls) = &ctx.conn.tls {
        let alpn = tls
            .alpn
            .as_deref()
            .map(|a| format!(", ALPN {a}"))
            .unwrap_or_default();
        let verified = if tls.verified {
            "certificate verified"
        } else {
            "certificate NOT verified (--insecure)"
        };
        f.evidence
            .push(format!("TLS: {}{alpn}, {verified}", tls.version));
    }
    f.evidence.push(format!(
        "held open {} of the {} watch",
        secs(watched),
        secs(ctx.ev.watch_ms.saturating_mul(1000))
    ));
    f.evidence.extend(ping_lines(ctx));
    let echoes: Vec<u64> = ctx.ev.sent.iter().filter_map(|m| m.echo_rtt_us).collect();
    if !ctx.ev.sent.is_empty() {
        let rtt = median(echoes.clone())
            .map(|m| format!(", median RTT {}", millis(m)))
            .unwrap_or_default();
        f.evidence.push(format!(
            "{} of {} messages echoed{rtt}",
            echoes.len(),
            ctx.ev.sent.len()
        ));
    }
    if ctx.end.is_none() {
        f.evidence
            .push("still open when the watch ended".to_owned());
    }
    f.evidence.extend(notes);
    f.measured.watched_s = Some(to_s(watched));
    f.measured.open_for_s = ctx.conn.open_for_us().map(to_s);
    f.measured.server_ping_interval_s = ctx.server_ping_interval_us().map(to_s);
    f.fix.push(fix(
        "client",
        format!(
            "Nothing to fix from this probe. Drops that need a longer silence than {} are \
             measured by `wsdoctor idle {}`.",
            human(watched),
            ctx.target()
        ),
    ));
    f
}
