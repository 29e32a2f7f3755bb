//! The WebSocket opened and then ended: a close frame, a dropped transport,
//! or a protocol error.

use wsdoctor_evidence::{escape_peer, ConnectionEnd, PongPolicy, Side, Transport};

use super::{heartbeat, Ctx};
use crate::finding::{CauseId, Finding, Severity, SourceKind};
use crate::fingerprint::active::front_of;
use crate::fingerprint::hops::{self, Hop, Observed, Shape, Timer};
use crate::kb::{kb, CodeEntry, Intermediary};
use crate::rules::common::{
    fix, fix_with, hop_fixes, human, idle_matches, lifetime_matches, names_with_value,
    raise_idle_fix, raise_lifetime_fix, secs, to_s,
};
use crate::rules::server_close;

/// Candidate hops listed in the evidence of a drop.
const SHOWN_HOPS: usize = 3;
/// Candidate hops whose fix is given when none is named.
const LIKELY_FIXES: usize = 3;

/// Silences at least this long can be an idle timer firing (the shortest
/// common ones are 30 s lifetimes and 55–60 s idle timeouts; some are set lower).
const TIMER_SILENCE_US: u64 = 25_000_000;

/// Adds the finding for how the open connection ended, or, when it ended
/// well, a note for the `healthy` finding.
pub(super) fn diagnose(
    ctx: &Ctx<'_>,
    end: &ConnectionEnd,
    findings: &mut Vec<Finding>,
    notes: &mut Vec<String>,
) {
    let found = match end {
        ConnectionEnd::CloseHandshake {
            code,
            reason,
            initiator: Side::Remote,
            ..
        } => remote_close(ctx, *code, reason),
        ConnectionEnd::CloseHandshake {
            code,
            initiator: Side::Local,
            answered,
            ..
        } => local_close(ctx, *code, *answered, notes),
        ConnectionEnd::FinWithoutClose { .. }
        | ConnectionEnd::Reset
        | ConnectionEnd::HalfOpen { .. }
        | ConnectionEnd::TlsError { .. } => Some(abnormal(ctx, end)),
        ConnectionEnd::ProtocolViolation { rule } => {
            let mut f = with_timing(
                ctx,
                CauseId::ProtocolError,
                Severity::Error,
                0.85,
                format!(
                    "The server broke the WebSocket protocol: {}",
                    escape_peer(rule)
                ),
            );
            f.evidence.insert(0, end.describe());
            f.fix.push(fix(
                "server",
                "Fix the server, or the proxy that rewrites frames, so it follows RFC 6455; \
                 the rule above is what it broke.",
            ));
            Some(f)
        }
        ConnectionEnd::PeerStoppedReading {
            queued_bytes,
            blocked_ms,
        } => Some(stopped_reading(ctx, end, *queued_bytes, *blocked_ms)),
        ConnectionEnd::LocalDeadline { what } => {
            Some(other_end(ctx, end, Severity::Warning, 0.5, what))
        }
        ConnectionEnd::Io { error } => Some(other_end(ctx, end, Severity::Error, 0.6, error)),
        other => Some(other_end(
            ctx,
            other,
            Severity::Warning,
            0.3,
            &other.describe(),
        )),
    };
    findings.extend(found);
}

/// Time since the last frame either way when the connection ended.
fn idle_at_end(end: &wsdoctor_evidence::EndRecord) -> Option<u64> {
    match (end.since_last_inbound_us, end.since_last_outbound_us) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn open_for_us(ctx: &Ctx<'_>) -> u64 {
    ctx.end.and_then(|e| e.open_for_us).unwrap_or(0)
}

/// A finding with the open/watch clocks and the ping summary filled in.
fn with_timing(
    ctx: &Ctx<'_>,
    id: CauseId,
    severity: Severity,
    confidence: f64,
    title: String,
) -> Finding {
    let mut f = ctx.finding(id, severity, confidence, title);
    let open = open_for_us(ctx);
    f.measured.open_for_s = Some(to_s(open));
    f.measured.watched_s = Some(to_s(ctx.watched_us()));
    f.measured.server_ping_interval_s = ctx.server_ping_interval_us().map(to_s);
    f.evidence.extend(heartbeat::ping_lines(ctx));
    f
}

fn code_name(code: u16) -> String {
    match kb().close_code(code) {
        Some(CodeEntry::Defined(c)) => c.name.clone(),
        Some(CodeEntry::Range(r)) if r.start >= 4000 => "private-use code".to_owned(),
        Some(CodeEntry::Range(r)) if r.start >= 3000 => "library/framework code".to_owned(),
        _ => "unassigned code".to_owned(),
    }
}

fn quoted(reason: &str) -> String {
    if reason.is_empty() {
        String::new()
    } else {
        format!(" \"{}\"", escape_peer(reason))
    }
}

fn remote_close(ctx: &Ctx<'_>, code: Option<u16>, reason: &str) -> Option<Finding> {
    let open = open_for_us(ctx);
    if server_close::is_deliberate(code) {
        // The server ended it on purpose while we watched: that is why it
        // dropped, not a healthy watch.
        let closed = server_close::ServerClosed {
            label: "the probe's connection".to_owned(),
            code,
            reason: reason.to_owned(),
            age_us: open,
            idle_us: ctx.end.and_then(idle_at_end),
        };
        let mut f = server_close::finding_for(
            &[closed],
            ctx.ev.watch_ms.saturating_mul(1000),
            SourceKind::Probe,
        )?;
        f.measured.watched_s = Some(to_s(ctx.watched_us()));
        f.evidence.extend(heartbeat::ping_lines(ctx));
        return Some(f);
    }
    let code = code?;
    let name = code_name(code);
    let title = format!(
        "The server closed with {code} ({name}){} after {}",
        quoted(reason),
        human(open)
    );
    let lower = reason.to_ascii_lowercase();
    let mut f = match code {
        1011 if ["keepalive", "keep-alive", "ping timeout", "pong"]
            .iter()
            .any(|w| lower.contains(w)) =>
        {
            keepalive(
                ctx,
                &format!("1011{} after {}", quoted(reason), human(open)),
            )
        }
        1011 => {
            let mut f = with_timing(ctx, CauseId::ServerError, Severity::Error, 0.85, title);
            f.fix.push(fix(
                "server",
                format!(
                    "Look in the server's log for the exception {} after this connection opened: \
                     1011 means its handler failed.",
                    secs(open)
                ),
            ));
            f
        }
        1001 | 1012..=1014 => going_away(ctx, code, &lower, title),
        1002 | 1003 | 1007 | 1009 | 1010 => protocol(ctx, code, title),
        1004..=1006 | 1015 => {
            let mut f = with_timing(ctx, CauseId::ProtocolError, Severity::Warning, 0.6, title);
            f.fix.push(fix(
                "server",
                format!(
                    "RFC 6455 §7.4.1 forbids sending {code} in a close frame: close with 1000, \
                     1001, 1011 or an application code 4000–4999."
                ),
            ));
            f
        }
        1008 | 3000..=4999 => policy(ctx, code, title),
        _ => {
            let mut f = with_timing(ctx, CauseId::ProtocolError, Severity::Warning, 0.4, title);
            f.fix.push(fix(
                "server",
                format!(
                    "{code} is not an assigned close code: use 1000–1014 as RFC 6455 and IANA \
                     define them, or 4000–4999 for application codes."
                ),
            ));
            f
        }
    };
    f.evidence.insert(
        0,
        format!(
            "server sent close frame {code}{} {} after the 101",
            quoted(reason),
            secs(open)
        ),
    );
    f.measured.close_code = Some(code);
    f.measured.close_reason = (!reason.is_empty()).then(|| escape_peer(reason));
    Some(f)
}

/// The server's keepalive gave up waiting for our pong (python-websockets and
/// uvicorn send 1011 "keepalive ping timeout"). Whether that is a problem
/// depends on whether we answered.
fn keepalive(ctx: &Ctx<'_>, close: &str) -> Finding {
    let pings = ctx.server_pings().len();
    let pongs = ctx.our_pongs();
    let policy = ctx.conn.heartbeat.pong_policy;
    // The policy is ours (a flag), so it decides how to read the close.
    let (severity, confidence, policy_text) = match policy {
        PongPolicy::Never => (Severity::Info, 0.9, "never answer".to_owned()),
        PongPolicy::Delay { ms } => (Severity::Warning, 0.8, format!("answer after {ms} ms")),
        PongPolicy::Answer => (Severity::Error, 0.75, "answer at once".to_owned()),
    };
    let title = format!("The server's keepalive gave up waiting for our pong ({close})");
    let mut f = with_timing(
        ctx,
        CauseId::LocalKeepaliveTimeout,
        severity,
        confidence,
        title,
    );
    f.evidence.push(format!(
        "we answered {pongs} of {pings} server pings (pong policy: {policy_text})"
    ));
    let text = match policy {
        PongPolicy::Never => {
            f.fix.push(fix(
                "client",
                "Nothing to fix: this is the server detecting a dead client. Probe with the \
                 default pong policy to test the real path.",
            ));
            return f;
        }
        PongPolicy::Delay { ms } => format!(
            "The server's ping timeout is shorter than the {ms} ms pong delay we emulated: \
             clients on slow or throttled paths (mobile networks, background tabs) are cut off \
             the same way. Raise it if those clients matter."
        ),
        PongPolicy::Answer => "We answered every ping at once, so pongs are lost or late between \
                               us and the server: look for a \
                               blocked event loop or slow handler on the server (its keepalive \
                               runs on the same loop), and raise its ping timeout \
                               (python-websockets/uvicorn default 20 s) if the path is slow."
            .to_owned(),
    };
    f.fix.push(fix("server", text));
    if let Some(lib) = ctx.server_library() {
        if let Some(snippet) = &lib.fix_snippet {
            f.fix.push(fix_with(
                &lib.id,
                format!("{}'s keepalive settings", lib.short_name()),
                snippet,
            ));
        }
    }
    f
}

fn going_away(ctx: &Ctx<'_>, code: u16, reason_lower: &str, title: String) -> Finding {
    let mut f = with_timing(ctx, CauseId::GoingAway, Severity::Warning, 0.85, title);
    let idle_reason = reason_lower.contains("idle") || reason_lower.contains("timeout");
    let text = if idle_reason {
        let jetty = kb()
            .intermediary("jetty")
            .and_then(|j| j.idle_timeout_default_s)
            .map(|t| format!(" (Jetty's default is {t} s)"))
            .unwrap_or_default();
        format!(
            "The server's own idle timeout closed the connection: Jetty and Tomcat send 1001 \
             for it{jetty}. Raise it, or send pings more often than it fires."
        )
    } else {
        match code {
            1013 => "The server is shedding load: reconnect after a longer, jittered backoff, and \
                     check its capacity."
                .to_owned(),
            1014 => "The gateway's upstream failed: check the service behind the WebSocket \
                     gateway."
                .to_owned(),
            _ => "The server (or a proxy) is shutting down or reloading: clients must reconnect \
                  with backoff and jitter. If it happens on every config reload (Caddy, \
                  ingress-nginx), delay closing old connections."
                .to_owned(),
        }
    };
    f.fix.push(fix("server", text));
    f
}

fn protocol(ctx: &Ctx<'_>, code: u16, title: String) -> Finding {
    let mut f = with_timing(ctx, CauseId::ProtocolError, Severity::Error, 0.8, title);
    if let Some(largest) = ctx.ev.sent.iter().map(|m| m.len).max() {
        f.evidence
            .push(format!("our largest message was {largest} bytes"));
    }
    let text = match code {
        1003 => "Send the message type (text or binary) the endpoint accepts.",
        1007 => "Send valid UTF-8 in text messages; send other bytes as binary.",
        1009 => {
            "Keep messages below the server's limit (API Gateway: 128 KB per message, \
                 uvicorn --ws-max-size 16 MiB by default) or raise the limit."
        }
        1010 => {
            "The client required an extension the server did not negotiate: check \
                 Sec-WebSocket-Extensions on both sides and any proxy that strips it."
        }
        _ => {
            "Capture the frames before the close and compare them with RFC 6455: masking, \
              reserved bits, permessage-deflate, control-frame sizes. A proxy that alters \
              frames can cause this too."
        }
    };
    f.fix.push(fix("server", text));
    f
}

fn policy(ctx: &Ctx<'_>, code: u16, title: String) -> Finding {
    let mut f = with_timing(ctx, CauseId::PolicyClose, Severity::Error, 0.75, title);
    let text = if code >= 4000 {
        format!(
            "{code} is the application's own code: look it up in the server's code or docs; \
             the reason text above is what it said."
        )
    } else {
        "The server's policy refused this connection: check credentials and token expiry, the \
         Origin, and rate limits; the reason text says which."
            .to_owned()
    };
    f.fix.push(fix("server", text));
    f
}

/// We closed at the end of the watch. Answered: fine. Not answered: RFC 6455
/// §5.5.1 requires a close frame back; the watch itself succeeded, so this
/// is an info note, but a server (or proxy) that swallows close frames makes
/// browsers report clean closes as 1006, which confuses later diagnosis.
fn local_close(
    ctx: &Ctx<'_>,
    code: Option<u16>,
    answered: bool,
    notes: &mut Vec<String>,
) -> Option<Finding> {
    let code = code.map_or_else(|| "an empty close frame".to_owned(), |c| c.to_string());
    let watched = secs(ctx.watched_us());
    if answered {
        notes.push(format!(
            "we closed with {code} after {watched}; the server answered with its close frame"
        ));
        return None;
    }
    let mut f = with_timing(
        ctx,
        CauseId::ProtocolError,
        Severity::Info,
        0.5,
        "The server did not answer our close frame".to_owned(),
    );
    f.evidence.insert(
        0,
        format!("we closed with {code} after {watched}; no close frame came back"),
    );
    f.fix.push(fix(
        "server",
        "Answer a close frame with a close frame (RFC 6455 §5.5.1). Most libraries do it \
         automatically, so check for a proxy that drops it.",
    ));
    Some(f)
}

/// No close frame: FIN, RST, a silent path, or TLS breaking.
fn abnormal(ctx: &Ctx<'_>, end: &ConnectionEnd) -> Finding {
    let open = open_for_us(ctx);
    let since = ctx.end.and_then(|e| e.since_last_inbound_us);
    let since_text = since
        .map(|s| format!(", {} since the last frame from the server", secs(s)))
        .unwrap_or_default();
    let at = secs(open);
    let (title, first) = match end {
        ConnectionEnd::Reset => (
            format!("Connection reset without a close frame after {}", human(open)),
            format!("connection reset (RST) {at} after the 101, no close frame{since_text}"),
        ),
        ConnectionEnd::HalfOpen { ping_unanswered_ms } => (
            format!("Connection went half-open after {}: our ping got no pong", human(open)),
            format!(
                "our ping went unanswered for {ping_unanswered_ms} ms, {at} after the 101{since_text}"
            ),
        ),
        ConnectionEnd::TlsError { error } => (
            format!("TLS failed on the open connection after {}", human(open)),
            format!(
                "TLS error {at} after the 101: {}{since_text}",
                escape_peer(error)
            ),
        ),
        _ => (
            format!("Connection dropped without a close frame after {} (TCP FIN)", human(open)),
            format!("peer closed TCP (FIN) {at} after the 101, no close frame{since_text}"),
        ),
    };
    let transport = end.transport().unwrap_or(Transport::Eof);
    let mut f = with_timing(ctx, CauseId::AbnormalClose, Severity::Error, 0.9, title);
    f.measured.transport = Some(transport.as_str().to_owned());
    f.evidence.insert(0, first);
    if matches!(end, ConnectionEnd::FinWithoutClose { mid_frame: true }) {
        f.evidence
            .insert(1, "the FIN arrived in the middle of a frame".to_owned());
    }
    let clocks = blame_by_clocks(ctx, end, &mut f, open, since, transport);
    abnormal_fixes(ctx, &mut f, &clocks, open, since, transport);
    f
}

/// What the two clocks (silence before the drop, age of the connection)
/// and the kb's defaults say about who dropped it.
struct ClockBlame {
    /// A product's default idle timeout matches the silence.
    idle_matches: bool,
    /// A product's default lifetime cap matches the age.
    life_matches: bool,
    /// The proxy in front has a configurable idle timer that fits.
    configured: bool,
    blamed: Option<&'static Intermediary>,
    timer: Option<Timer>,
    ranked: Vec<Hop>,
}

/// Compares the clocks with the kb, adds what matches to the evidence and
/// names the hop when the evidence allows.
fn blame_by_clocks(
    ctx: &Ctx<'_>,
    end: &ConnectionEnd,
    f: &mut Finding,
    open: u64,
    since: Option<u64>,
    transport: Transport,
) -> ClockBlame {
    // Compare the two clocks with the kb: silence vs idle timeouts, age vs lifetime caps.
    let blamed_first = |mut list: Vec<&'static Intermediary>| {
        if let Some(b) = ctx.blamed_proxy() {
            list.sort_by_key(|i| i.id != b.id);
        }
        list
    };
    let idle = blamed_first(since.map(idle_matches).unwrap_or_default());
    let life = blamed_first(lifetime_matches(open));
    if !idle.is_empty() {
        f.evidence.push(format!(
            "the silence before the drop matches the default idle timeout of {}",
            names_with_value(&idle, |i| i.idle_timeout_default_s)
        ));
    }
    if !life.is_empty() {
        f.evidence.push(format!(
            "the connection's age matches the default lifetime cap of {}",
            names_with_value(&life, |i| i.max_lifetime_s)
        ));
    }
    let contains = |list: &[&Intermediary], id: &str| list.iter().any(|i| i.id == id);
    // A proxy seen behind another (the fingerprint's front hop, or an
    // unidentified one that lower-cased every header name) is not blamed
    // alone here; the ranking below says why.
    let front = front_of(ctx.hs, ctx.ev.hop_probe.as_ref());
    let at_front = |b: &Intermediary| front.as_deref().is_none_or(|f| f == b.id);
    let mut blamed = ctx
        .blamed_proxy()
        .filter(|b| at_front(b))
        .filter(|b| contains(&idle, &b.id) || contains(&life, &b.id));
    f.evidence
        .extend(blamed.and_then(|b| ctx.identified_line(b)));
    // No default matches, but the answer came through a proxy whose idle
    // timer is configurable, and the TCP close is what its timer does: a
    // non-default setting of that proxy is the likeliest cause.
    // Not when another proxy the answer names (seen behind it) has the
    // silence as its default: the timer may be that one's.
    let default_elsewhere = |b: &Intermediary| {
        ctx.candidates
            .iter()
            .any(|c| c.id != b.id && contains(&idle, &c.id))
    };
    let configured = ctx.blamed_proxy().filter(|b| {
        blamed.is_none()
            && at_front(b)
            && !default_elsewhere(b)
            && b.idle_timeout_setting.is_some()
            && matches!(transport, Transport::Eof | Transport::Reset)
            && since.is_some_and(|s| s + 250_000 >= open)
    });
    if let Some(b) = configured {
        let default = b
            .idle_timeout_default_s
            .map(|d| format!(" (default {d} s)"))
            .unwrap_or_default();
        f.evidence.extend(ctx.identified_line(b));
        f.evidence.push(format!(
            "{}'s idle timer is configurable{default}: {} of silence is most likely its setting",
            b.short_name(),
            human(since.unwrap_or(open))
        ));
        // Proxies seen through it (the fingerprint found it in front) may
        // be set to the same value: say so rather than let "most likely"
        // stand alone.
        let behind: Vec<&str> = ctx
            .candidates
            .iter()
            .filter(|c| c.id != b.id && c.behind_front)
            .filter(|c| kb().intermediary(&c.id).is_some_and(|i| i.is_proxy()))
            .map(|c| c.id.as_str())
            .collect();
        if !behind.is_empty() {
            f.evidence.push(format!(
                "{} is the hop our connection reaches; {} behind it may be set to the same value: check it next if changing {} does not help",
                b.short_name(),
                behind.join(", "),
                b.short_name()
            ));
        }
        f.confidence = 0.8;
        blamed = Some(b);
    }
    // No header names a hop whose timer fits: rank the products the timer
    // and the way the connection ended point at.
    let timer = match (since, idle.is_empty(), life.is_empty()) {
        (Some(s), false, _) => Some(Timer::Idle(s)),
        (_, true, false) => Some(Timer::Lifetime(open)),
        _ => None,
    };
    let ranked = match timer.filter(|_| blamed.is_none()) {
        Some(t) => hops::rank(&Observed {
            timer: Some(t),
            shape: Shape::of(end),
            named: &ctx.candidates,
            front: front.as_deref(),
        }),
        None => Vec::new(),
    };
    f.evidence.extend(hops::lines(&ranked, SHOWN_HOPS));
    if let Some(top) = hops::confident(&ranked) {
        blamed = Some(top.intermediary);
    }
    f.intermediary = blamed.map(|b| b.id.clone());
    ClockBlame {
        idle_matches: !idle.is_empty(),
        life_matches: !life.is_empty(),
        configured: configured.is_some(),
        blamed,
        timer,
        ranked,
    }
}

/// The fixes: the TLS terminator, or a crash when the silence was too short
/// for a timer; the heartbeat; the blamed hop's timer (or the likeliest
/// owners'); and how to measure the path.
fn abnormal_fixes(
    ctx: &Ctx<'_>,
    f: &mut Finding,
    c: &ClockBlame,
    open: u64,
    since: Option<u64>,
    transport: Transport,
) {
    // A heartbeat only helps against timers that fire after a silence; a
    // drop after a few quiet seconds points at something else first.
    let timer_like =
        c.idle_matches || c.life_matches || c.configured || since.unwrap_or(0) >= TIMER_SILENCE_US;
    if transport == Transport::Tls {
        f.fix.push(fix(
            "proxy",
            "A TLS error on an open connection comes from the TLS terminator (a proxy or load \
             balancer) or a middlebox rewriting the stream: check their logs at this time.",
        ));
    } else if !timer_like {
        f.fix.push(fix(
            "server",
            format!(
                "The drop came after only {} of silence, sooner than the usual idle timeouts: \
                 check whether the server process exited, crashed or restarted at that time, \
                 and look for a proxy with a very short timeout.",
                human(since.unwrap_or(open))
            ),
        ));
    }
    let measured_t = since.filter(|_| timer_like);
    f.fix.push(crate::advice::app::server_ping_fix(
        measured_t,
        ctx.server_library(),
    ));
    let likely = match (c.blamed, c.timer) {
        (None, Some(t)) if measured_t.is_some() || c.life_matches => {
            hop_fixes(&c.ranked, t, LIKELY_FIXES)
        }
        _ => Vec::new(),
    };
    let raise = match c.timer {
        Some(Timer::Lifetime(_)) => c.blamed.and_then(raise_lifetime_fix),
        _ => c.blamed.and_then(raise_idle_fix),
    };
    match raise {
        Some(raise) => f.fix.push(raise),
        None if !likely.is_empty() => f.fix.extend(likely),
        None => f.fix.push(fix(
            "proxy",
            "Check the idle timeout (and any maximum connection lifetime) of every proxy and \
             load balancer on the path: nginx proxy_read_timeout, the ALB's \
             idle_timeout.timeout_seconds, Envoy's stream_idle_timeout.",
        )),
    }
    f.fix.push(fix(
        "client",
        format!(
            "Measure the path's idle timeout and lifetime cap, and which traffic resets them: `wsdoctor idle {}`.",
            ctx.target()
        ),
    ));
}

/// The server stopped reading: our writes blocked until we gave up
/// (`slow-consumer`, the server's side could not keep up).
fn stopped_reading(ctx: &Ctx<'_>, end: &ConnectionEnd, queued: u64, blocked_ms: u64) -> Finding {
    let open = open_for_us(ctx);
    let mut f = with_timing(
        ctx,
        CauseId::SlowConsumer,
        Severity::Error,
        0.8,
        format!(
            "The server stopped reading: {queued} bytes waited to be sent and its socket took \
             none for {} (after {} open)",
            human(blocked_ms.saturating_mul(1000)),
            human(open)
        ),
    );
    f.evidence.insert(
        0,
        format!("{} ({} after the 101)", end.describe(), secs(open)),
    );
    f.fix.push(fix(
        "server",
        "Find what keeps the server (or a proxy in front of it) from reading this connection: \
         a blocked handler, an overloaded event loop, or a send queue it waits on; bound its \
         queues and close slow peers with 1008 instead of stalling.",
    ));
    f
}

fn other_end(
    ctx: &Ctx<'_>,
    end: &ConnectionEnd,
    severity: Severity,
    confidence: f64,
    what: &str,
) -> Finding {
    let open = open_for_us(ctx);
    let mut f = with_timing(
        ctx,
        CauseId::AbnormalClose,
        severity,
        confidence,
        format!(
            "The connection ended after {}: {}",
            human(open),
            escape_peer(what)
        ),
    );
    f.evidence.insert(
        0,
        format!("{} ({} after the 101)", end.describe(), secs(open)),
    );
    f.fix.push(fix(
        "client",
        format!(
            "Repeat the probe to see whether this recurs at the same time; `wsdoctor idle {}` \
             measures timers on the path.",
            ctx.target()
        ),
    ));
    f
}
