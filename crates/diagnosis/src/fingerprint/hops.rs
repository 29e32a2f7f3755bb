//! Close-behaviour fingerprints: which hops a drop points at, from three
//! signals together — the measured timer against each product's default,
//! how the connection ended against how the kb says the product closes,
//! and the response headers. Several candidates, ranked; a header is the
//! only signal strong enough to name one alone.

use wsdoctor_evidence::{ConnectionEnd, Side};

pub use super::drains::{reload_drain, ReloadDrain, RELOAD_DRAINS};
use super::Candidate;
use crate::advice::prior::HOP_PRIOR;
use crate::kb::{kb, Intermediary};
use crate::text::human;

/// What the measured timer was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// Connections were closed after this many µs of silence.
    Idle(u64),
    /// Connections were closed at this age (µs) whatever the traffic.
    Lifetime(u64),
    /// Connections were closed this many µs after a reload signal (`None`:
    /// many closed at once, and when the reload was is not known).
    AfterReload(Option<u64>),
}

/// How the connection ended, as far as it tells hops apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// TCP FIN without a close frame.
    Fin,
    /// TCP RST without a close frame.
    Reset,
    /// Nothing came back: the path forgot the flow.
    HalfOpen,
    /// The peer sent a close frame (with this code).
    CloseFrame(Option<u16>),
}

impl Shape {
    /// The shape of an end, when it is one a hop produces.
    pub fn of(end: &ConnectionEnd) -> Option<Shape> {
        match end {
            ConnectionEnd::FinWithoutClose { .. } => Some(Shape::Fin),
            ConnectionEnd::Reset => Some(Shape::Reset),
            ConnectionEnd::HalfOpen { .. } => Some(Shape::HalfOpen),
            ConnectionEnd::CloseHandshake {
                code,
                initiator: Side::Remote,
                ..
            } => Some(Shape::CloseFrame(*code)),
            _ => None,
        }
    }

    fn words(self) -> String {
        match self {
            Shape::Fin => "a TCP FIN without a close frame".to_owned(),
            Shape::Reset => "a TCP RST without a close frame".to_owned(),
            Shape::HalfOpen => "a silent half-open connection".to_owned(),
            Shape::CloseFrame(Some(code)) => format!("a close frame {code}"),
            Shape::CloseFrame(None) => "a close frame without a code".to_owned(),
        }
    }
}

/// Everything observed about one kind of drop.
#[derive(Debug, Clone, Default)]
pub struct Observed<'a> {
    /// The measured timer, if one was.
    pub timer: Option<Timer>,
    /// How the connections ended.
    pub shape: Option<Shape>,
    /// Products the response headers (or a log format) point at.
    pub named: &'a [Candidate],
    /// The product the active fingerprint found at the front: it refused
    /// the malformed request itself, so it is the first hop that parses
    /// HTTP ([`super::active::front_hop`]). Then only it may be named
    /// alone: the others in `named` were seen through it.
    /// [`UNKNOWN_FRONT`]: something unidentified is in front of them all.
    pub front: Option<&'a str>,
}

/// One product that may own the timer, with why.
#[derive(Debug, Clone, PartialEq)]
pub struct Hop {
    /// The kb entry.
    pub intermediary: &'static Intermediary,
    /// 0..1.
    pub confidence: f64,
    /// Each signal for or against it, in words, with its kb entry and source.
    pub reasons: Vec<String>,
    /// A header (or the log's format) names it: only then is it blamed
    /// alone. False for a hop seen only through the front hop, and for the
    /// front hop when the timer is the default of one behind it.
    pub named: bool,
}

impl Hop {
    /// `aws-alb (0.93): Server: awselb/2.0; 60.0 s is its default …`
    pub fn line(&self) -> String {
        format!(
            "{} ({:.2}): {}",
            self.intermediary.id,
            self.confidence,
            self.reasons.join("; ")
        )
    }
}

/// A default timer shared by `n` products says "one of these"; alone it
/// stays below the blame threshold even when no other product shares it.
const TIMER_WEIGHT: f64 = 0.45;
/// The measured value is within the range a product can be configured to.
const CONFIGURABLE_WEIGHT: f64 = 0.1;
/// The close looks the way the kb says the product closes.
const CLOSE_WEIGHT: f64 = 0.15;
/// A documented close behaviour that contradicts the one seen halves the score.
const CONTRADICTION: f64 = 0.5;
/// A product whose timer cannot be set, at another value, is present at
/// most (a header proves that), not the owner of this timer.
const FIXED_TIMER_MISMATCH: f64 = 0.2;
/// Ids named in the "less likely" line.
const MORE_IDS: usize = 6;
/// Characters of a source reference shown in an evidence line.
const SOURCE_CHARS: usize = 80;
/// The top hop is named only this far ahead of the next one.
const MARGIN: f64 = 0.05;
/// [`Observed::front`] when a hop stands in front of every product named
/// but nothing identified it (every header name of the 101 came
/// lower-cased, and no fingerprint ran or matched).
pub const UNKNOWN_FRONT: &str = "an unidentified hop";

/// Ranks the products that may own the drop, most likely first. Empty when
/// nothing points anywhere.
pub fn rank(o: &Observed<'_>) -> Vec<Hop> {
    let matching = o.timer.map(matching).unwrap_or_default();
    // When a header names some of the products that share the value, the
    // value is theirs: the others sharing it are not on the path as far as
    // anything shows (an App Gateway's 30 s does not dilute GCP's 30 s
    // behind `Via: 1.1 google`).
    let named_matching = matching
        .iter()
        .filter(|id| o.named.iter().any(|c| c.id == **id))
        .count();
    let mut hops: Vec<Hop> = Vec::new();
    for i in kb().intermediaries() {
        let header = o.named.iter().find(|c| c.id == i.id);
        let timer = o
            .timer
            .and_then(|t| timer_vote(i, t, &matching, header.is_some(), named_matching));
        if header.is_none() && timer.is_none() {
            continue;
        }
        // App servers and libraries close with frames of their own; a bare
        // TCP end at a timer is a hop between the two, even when the
        // backend's Server header came through.
        let frame_closer = matches!(o.shape, Some(Shape::CloseFrame(_)));
        if !i.is_proxy() && !frame_closer {
            continue;
        }
        // After a reload only the products whose drain the kb describes
        // (ingress-nginx is nginx there: one candidate).
        if matches!(o.timer, Some(Timer::AfterReload(_)))
            && close_method(i, Timer::AfterReload(None)).is_none()
        {
            continue;
        }
        let mut doubt = 1.0;
        let mut reasons = Vec::new();
        if let Some(c) = header {
            doubt *= 1.0 - c.confidence;
            reasons.push(c.evidence.clone());
        }
        let mut contradicted = false;
        let mut penalty = 1.0;
        match timer {
            Some(Vote::For(weight, why)) => {
                doubt *= 1.0 - weight;
                reasons.push(why);
            }
            Some(Vote::Against(why)) => {
                penalty *= FIXED_TIMER_MISMATCH;
                reasons.push(why);
            }
            None => {}
        }
        if let (Some(shape), Some(timer)) = (o.shape, o.timer) {
            match close_vote(i, shape, timer) {
                Some(Vote::For(weight, why)) => {
                    doubt *= 1.0 - weight;
                    reasons.push(why);
                }
                Some(Vote::Against(why)) => {
                    contradicted = true;
                    reasons.push(why);
                }
                None => {}
            }
        }
        let mut confidence = (1.0 - doubt) * penalty;
        if contradicted {
            confidence *= CONTRADICTION;
        }
        if confidence <= 0.0 {
            continue;
        }
        let mut named = header.is_some();
        match o.front {
            Some(front) if front == i.id => {
                let (line, nameable) = front_line(i, o);
                reasons.insert(usize::from(header.is_some()), line);
                named &= nameable;
            }
            // Its header (or its answer) came back through the front hop.
            Some(UNKNOWN_FRONT) if named => {
                named = false;
                reasons.insert(1, "but every header name of the answer came lower-cased: a hop in front of it rewrote them (HAProxy ≥ 2.0 and Envoy do; nginx and Apache write `Server`), so it is not the hop our connection reaches and is not named alone".to_owned());
            }
            Some(_) => named = false,
            None => {}
        }
        hops.push(Hop {
            intermediary: i,
            confidence: round2(confidence.min(0.99)),
            reasons,
            named,
        });
    }
    hops.sort_by(|a, b| {
        b.confidence
            .total_cmp(&a.confidence)
            .then(prior_rank(&a.intermediary.id).cmp(&prior_rank(&b.intermediary.id)))
            .then(a.intermediary.id.cmp(&b.intermediary.id))
    });
    hops
}

/// Why the front hop ranks where it does, and whether it may be named
/// alone: not when the measured timer is the default of a proxy seen
/// behind it and not one of its own (the timer is then as likely that
/// hop's default as a setting of the front's that happens to match).
fn front_line(front: &Intermediary, o: &Observed<'_>) -> (String, bool) {
    let reached = "the hop our connection reaches: it refused the malformed request itself, so it is the first hop that parses HTTP";
    let behind: Vec<&Intermediary> = o
        .named
        .iter()
        .filter(|c| c.id != front.id)
        .filter_map(|c| kb().intermediary(&c.id))
        .filter(|i| i.is_proxy())
        .collect();
    let Some(timer) = o.timer.filter(|_| !behind.is_empty()) else {
        return (reached.to_owned(), true);
    };
    let value = us_of(timer).map_or_else(|| "the timer".to_owned(), human);
    let behind_ids = behind
        .iter()
        .map(|i| i.id.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let defaults_behind: Vec<String> = behind
        .iter()
        .filter_map(|i| default_for(i, timer).map(|(_, key)| format!("{} (kb: {key})", i.id)))
        .collect();
    let own_default = default_for(front, timer).is_some();
    match (defaults_behind.is_empty(), own_default) {
        (true, true) => (reached.to_owned(), true),
        (true, false) => (
            format!(
                "{reached}; {value} is no default of it or of {behind_ids} behind it, so it is a setting of one of them: {} is named as the one our connection reaches, the others are next if changing it does not help",
                front.id
            ),
            true,
        ),
        (false, true) => (
            format!(
                "{reached}; but {value} is the default of {} behind it as well as its own: the timer may be theirs, so no hop is named alone",
                defaults_behind.join(", ")
            ),
            false,
        ),
        (false, false) => (
            format!(
                "{reached}; but {value} is the default of {} behind it and no default of {}'s: the timer may be theirs, so no hop is named alone",
                defaults_behind.join(", "),
                front.id
            ),
            false,
        ),
    }
}

/// The top hop, when something names it (timers and closes only rank: many
/// products share them, and a configured one looks like another's
/// default), it is likely enough and it is clearly ahead of the next.
pub fn confident(hops: &[Hop]) -> Option<&Hop> {
    let top = hops.first()?;
    let next = hops.get(1).map_or(0.0, |h| h.confidence);
    (top.named && top.confidence >= super::BLAME_THRESHOLD && top.confidence - next >= MARGIN)
        .then_some(top)
}

/// Evidence lines: the ranked candidates, at most `n`.
pub fn lines(hops: &[Hop], n: usize) -> Vec<String> {
    let shown: Vec<&Hop> = hops.iter().take(n).collect();
    if shown.is_empty() {
        return Vec::new();
    }
    let mut out = vec![
        "likely hops, most likely first (confidence: the signals for and against each):".to_owned(),
    ];
    out.extend(shown.iter().map(|h| format!("  {}", h.line())));
    if hops.len() > n {
        let rest: Vec<&str> = hops[n..]
            .iter()
            .take(MORE_IDS)
            .map(|h| h.intermediary.id.as_str())
            .collect();
        let more = if hops.len() > n + MORE_IDS {
            ", …"
        } else {
            ""
        };
        out.push(format!("  less likely: {}{more}", rest.join(", ")));
    }
    out
}

enum Vote {
    For(f64, String),
    Against(String),
}

/// Products whose default for this kind of timer is within timing noise.
fn matching(t: Timer) -> Vec<&'static str> {
    kb().intermediaries()
        .iter()
        .filter(|i| default_for(i, t).is_some())
        .map(|i| i.id.as_str())
        .collect()
}

fn us_of(t: Timer) -> Option<u64> {
    match t {
        Timer::Idle(us) | Timer::Lifetime(us) => Some(us),
        Timer::AfterReload(us) => us,
    }
}

/// Timers fire on a tick and our clock adds RTT: 1 s or 2 %.
fn near(us: u64, secs: u32) -> bool {
    let measured = us as f64 / 1e6;
    let t = f64::from(secs);
    (measured - t).abs() <= (t * 0.02).max(1.0)
}

/// The product's default for this kind of timer that the measured value
/// matches, with the kb key it comes from. Where the docs and field reports
/// disagree the kb lists several (`idle_timeout_also_s`: Cloudflare's
/// reported 100 s and documented 120 s); any of them matches.
fn default_for(i: &Intermediary, t: Timer) -> Option<(u32, String)> {
    let us = us_of(t)?;
    let first_near = |values: &mut dyn Iterator<Item = u32>, key: &str, also: &str| {
        values
            .enumerate()
            .find(|(_, v)| near(us, *v))
            .map(|(n, v)| {
                let from = if n == 0 { key } else { also };
                (v, format!("{}.{from}", i.id))
            })
    };
    match t {
        Timer::Idle(_) => first_near(
            &mut i.idle_timeout_defaults(),
            if i.idle_timeout_default_s.is_some() {
                "idle_timeout_default_s"
            } else {
                "idle_timeout_also_s"
            },
            "idle_timeout_also_s",
        ),
        Timer::Lifetime(_) => first_near(
            &mut i.max_lifetime_defaults(),
            if i.max_lifetime_s.is_some() {
                "max_lifetime_s"
            } else {
                "max_lifetime_also_s"
            },
            "max_lifetime_also_s",
        ),
        Timer::AfterReload(_) => reload_drain(&i.id).and_then(|d| {
            d.default_s
                .filter(|v| near(us, *v))
                .map(|v| (v, format!("{}.max_lifetime_note", d.default_from)))
        }),
    }
}

/// For or against a product from the timer. Where some product's default
/// matches, only those and the products a header names are considered:
/// "configurable to this value" is true of nearly every hop.
fn timer_vote(
    i: &Intermediary,
    t: Timer,
    matching: &[&str],
    named: bool,
    named_matching: usize,
) -> Option<Vote> {
    // Only a drain after an unknown reload has no value, and it matches nothing.
    let us = us_of(t).unwrap_or(0);
    if matching.contains(&i.id.as_str()) {
        let (_, key) = default_for(i, t)?;
        let what = match t {
            Timer::Idle(_) => "default idle timeout".to_owned(),
            Timer::Lifetime(_) => "default connection lifetime cap".to_owned(),
            Timer::AfterReload(_) => match reload_drain(&i.id) {
                Some(d) => format!("default drain time after a reload, {}", d.directive),
                None => "default drain time after a reload".to_owned(),
            },
        };
        let sharers = if named && named_matching > 0 {
            named_matching
        } else {
            matching.len()
        };
        let shared = match (matching.len(), sharers) {
            (1, _) => String::new(),
            (all, 1) if all > 1 && named => {
                format!(", shared by {all} products but the only one a header names")
            }
            (all, _) => format!(", shared by {all} products"),
        };
        return Some(Vote::For(
            TIMER_WEIGHT / sharers as f64,
            format!("{} is its {what}{shared} (kb: {key})", human(us)),
        ));
    }
    let configured_is_plausible = named || matching.is_empty();
    match t {
        Timer::Idle(_) => {
            let setting = i.idle_timeout_setting.as_deref()?;
            let fits = i
                .idle_timeout_min_s
                .is_none_or(|m| us >= u64::from(m) * 1_000_000)
                && i.idle_timeout_max_s
                    .is_none_or(|m| us <= u64::from(m) * 1_000_000);
            let fixed = setting.starts_with("none")
                || (i.idle_timeout_min_s.is_some() && i.idle_timeout_min_s == i.idle_timeout_max_s);
            match (i.idle_timeout_default_s, fixed, fits) {
                (Some(d), true, _) => Some(Vote::Against(format!(
                    "its idle timeout is fixed at {d} s, not {} (kb: {}.idle_timeout_setting)",
                    human(us),
                    i.id
                ))),
                (_, false, true)
                    if configured_is_plausible && (named || HOP_PRIOR.contains(&i.id.as_str())) =>
                {
                    Some(Vote::For(
                        CONFIGURABLE_WEIGHT,
                        format!(
                            "its idle timeout is configurable{}, so {} may be its setting",
                            i.idle_timeout_default_s
                                .map(|d| format!(" (default {d} s)"))
                                .unwrap_or_default(),
                            human(us)
                        ),
                    ))
                }
                _ => None,
            }
        }
        Timer::Lifetime(_) => {
            let setting = i.max_lifetime_setting.as_deref()?;
            i.max_lifetime_s.filter(|_| configured_is_plausible)?;
            Some(Vote::For(
                CONFIGURABLE_WEIGHT,
                format!("its lifetime cap is configurable ({setting})"),
            ))
        }
        Timer::AfterReload(_) => reload_drain(&i.id).map(|d| {
            // Drains are set per deployment, so any value may be one.
            Vote::For(
                CONFIGURABLE_WEIGHT * 2.0,
                format!(
                    "{} ends old connections after a reload when {} passes",
                    i.short_name(),
                    d.directive
                ),
            )
        }),
    }
}

/// How the kb says the product closes at this kind of timer.
fn close_method(i: &Intermediary, t: Timer) -> Option<(String, String)> {
    let (method, source) = match t {
        Timer::AfterReload(_) => match i.other.get("reload_close_method") {
            Some(m) => (
                m.as_str()?.to_owned(),
                format!("{}.reload_close_method", i.id),
            ),
            // nginx and HAProxy close the old workers' sockets as they do
            // at a timeout (kb: nginx.max_lifetime_note "closes all open
            // connections"; haproxy.max_lifetime_note).
            None => reload_drain(&i.id).map(|d| (d.close.to_owned(), d.close_from.to_owned()))?,
        },
        _ => (
            i.idle_close_method.clone()?,
            format!("{}.idle_close_method", i.id),
        ),
    };
    Some((method, source))
}

fn close_vote(i: &Intermediary, shape: Shape, t: Timer) -> Option<Vote> {
    let (method, key) = close_method(i, t)?;
    let consistent = match (method.as_str(), shape) {
        ("tcp_fin", Shape::Fin) | ("tcp_rst", Shape::Reset) => true,
        ("silent_drop_then_rst", Shape::Reset | Shape::HalfOpen) => true,
        ("close_frame", Shape::CloseFrame(code)) => {
            code.is_none_or(|c| expected_code(&i.id).is_none_or(|e| e == c))
        }
        ("tcp_fin" | "tcp_rst" | "silent_drop_then_rst" | "close_frame", _) => false,
        // unknown, n/a, http_status: the kb does not say how it closes an open tunnel.
        _ => return None,
    };
    let source = first_source(i, &key);
    let how = method_words(&method, &i.id);
    if consistent {
        // A FIN or an RST says it all; the other methods need their words.
        let detail = match method.as_str() {
            "tcp_fin" | "tcp_rst" => String::new(),
            _ => format!(" ({how})"),
        };
        let when = match t {
            Timer::Idle(_) => "idle connections",
            Timer::Lifetime(_) => "connections at its cap",
            Timer::AfterReload(_) => "old connections after a reload",
        };
        Some(Vote::For(
            CLOSE_WEIGHT,
            format!(
                "{} is how {} closes {when}{detail} (kb: {key}{source})",
                shape.words(),
                i.short_name()
            ),
        ))
    } else if i.id == "haproxy" && shape == Shape::Reset {
        // kb: haproxy.idle_close_detail — `option nolinger` turns the FIN into an RST.
        Some(Vote::For(
            CLOSE_WEIGHT / 2.0,
            "a TCP RST: HAProxy closes with FIN unless `option nolinger` is set (kb: haproxy.idle_close_detail)".to_owned(),
        ))
    } else {
        Some(Vote::Against(format!(
            "but we saw {}, and {} closes {how} (kb: {key}{source})",
            shape.words(),
            i.short_name()
        )))
    }
}

/// The close code a product that closes with a frame sends (kb: the
/// entries' `idle_close_detail` / `reload_close_detail` text).
fn expected_code(id: &str) -> Option<u16> {
    match id {
        "tomcat" | "jetty" | "caddy" => Some(1001),
        "uvicorn" | "python-websockets" => Some(1011),
        _ => None,
    }
}

fn method_words(method: &str, id: &str) -> String {
    match method {
        "tcp_fin" => "with a TCP FIN and no close frame".to_owned(),
        "tcp_rst" => "with a TCP RST".to_owned(),
        "silent_drop_then_rst" => {
            "silently (the flow is forgotten; the next write gets an RST)".to_owned()
        }
        "close_frame" => match expected_code(id) {
            Some(c) => format!("with a close frame {c}"),
            None => "with a close frame".to_owned(),
        },
        other => other.to_owned(),
    }
}

/// `, source: awsdocs/… ` — the first source of the entry's close facts.
fn first_source(i: &Intermediary, key: &str) -> String {
    let source_key = if key.ends_with("reload_close_method") {
        "reload_close_source"
    } else if key.ends_with("idle_close_method") {
        "idle_close_source"
    } else {
        return String::new();
    };
    let text = match source_key {
        "idle_close_source" => i.idle_close_source.clone(),
        _ => i
            .other
            .get(source_key)
            .and_then(|v| v.as_str())
            .map(str::to_owned),
    };
    let Some(first) = text.as_deref().and_then(|s| s.split(" ; ").next()) else {
        return String::new();
    };
    // Sources carry quotes and notes in parentheses; the reference is
    // enough in a line.
    let reference = first.split(" (").next().unwrap_or(first).trim();
    let cut: String = reference.chars().take(SOURCE_CHARS).collect();
    let more = if cut.len() < reference.len() {
        "…"
    } else {
        ""
    };
    format!(", source {cut}{more}")
}

fn prior_rank(id: &str) -> usize {
    HOP_PRIOR
        .iter()
        .position(|h| *h == id)
        .unwrap_or(HOP_PRIOR.len())
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
#[path = "hops_tests.rs"]
mod tests;
