//! Two refinements of the idle rules that need more than "which arm died
//! when": the one-direction arms (did the server really send on `inbound`,
//! did it really keep quiet on `outbound`?) and the pairing with a `wsdoctor
//! serve`'s view of the same connections (which side of the proxy closed).

use wsdoctor_evidence::idle::{Arm, IdleEvidence, IdleSample, ServerView};
use wsdoctor_evidence::{escape_peer, ConnectionEnd, FrameKind, Side};

use super::super::common::secs;

/// µs after the attempt's start at which the WebSocket opened.
fn opened_us(s: &IdleSample) -> u64 {
    s.connection.phases.response_head_us.unwrap_or(0)
}

/// Data messages the server sent after the first half interval (the greeting
/// of a `wsdoctor serve` comes right after the 101 and is not the traffic
/// the arm asked for).
fn later_messages_from_server(s: &IdleSample, interval_us: u64) -> usize {
    let after = opened_us(s) + interval_us / 2;
    s.connection
        .events_from(Side::Remote)
        .filter(|ev| matches!(ev.kind, FrameKind::Text { .. } | FrameKind::Binary { .. }))
        .filter(|ev| ev.at_us > after)
        .count()
}

fn server_pings(s: &IdleSample) -> usize {
    s.connection.ping_times(Side::Remote).len()
}

/// Whether a one-direction arm got the traffic it asked for, and why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ArmCheck {
    /// It did; lines to add to the evidence (e.g. pings it had to answer).
    Honoured(Vec<String>),
    /// It did not; it must not count in the conclusions. The line says why.
    Ignored(String),
}

/// Checks the `inbound` or `outbound` arm; `None` when it did not run or
/// never opened.
pub(super) fn check_arm(e: &IdleEvidence, arm: Arm) -> Option<ArmCheck> {
    let opened: Vec<&IdleSample> = e
        .samples
        .iter()
        .filter(|s| s.arm == arm && s.connection.opened())
        .collect();
    if opened.is_empty() {
        return None;
    }
    let interval_us = e.interval_ms.saturating_mul(1000);
    let pings: usize = opened.iter().map(|s| server_pings(s)).sum();
    let mut notes = Vec::new();
    if pings > 0 {
        notes.push(format!(
            "{} arm: the server sent {pings} ping(s) despite ping=off and they were answered, so a little traffic went the other way too",
            arm.as_str()
        ));
    }
    match arm {
        Arm::Inbound => {
            let fed = opened
                .iter()
                .filter(|s| later_messages_from_server(s, interval_us) > 0)
                .count();
            if fed == 0 {
                return Some(ArmCheck::Ignored(
                    "inbound arm: the server sent nothing after the handshake, so it was just another silent connection and is left out of the conclusions; only a `wsdoctor serve` (behind the same proxies) pushes the `tick=` traffic this arm asks for".to_owned(),
                ));
            }
            notes.push(format!(
                "inbound arm: the server pushed messages on {fed} of {} connection(s) and the client sent nothing",
                opened.len()
            ));
        }
        Arm::Outbound => {
            let echoed = opened
                .iter()
                .filter(|s| later_messages_from_server(s, interval_us) > 0)
                .count();
            if echoed > 0 {
                return Some(ArmCheck::Ignored(format!(
                    "outbound arm: the server answered on {echoed} connection(s) despite echo=off, so traffic went both ways; it is left out of the conclusions (only a `wsdoctor serve` honours echo=off)"
                )));
            }
            notes.push(
                "outbound arm: the client sent a message every interval and the server sent nothing back"
                    .to_owned(),
            );
        }
        Arm::Silent | Arm::Ping | Arm::Data => return None,
    }
    Some(ArmCheck::Honoured(notes))
}

/// Who ended the dropped connections, from both ends' views.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Closer {
    /// Both ends saw the end come from the other: a hop in between closed
    /// both sides.
    Between,
    /// The server ended the connection itself.
    Server,
    /// The server still had the connection when asked: a hop closed the
    /// client's side only.
    ClientSideOnly,
}

/// The server's end in words, from the server's side.
fn server_end_text(view: &ServerView) -> String {
    let Some(end) = &view.end else {
        return "still open".to_owned();
    };
    let code = |c: &Option<u16>| c.map_or_else(|| "without a code".to_owned(), |c| c.to_string());
    match &end.end {
        ConnectionEnd::CloseHandshake {
            code: c,
            initiator: Side::Local,
            ..
        } => format!("the server sent close frame {} first", code(c)),
        ConnectionEnd::CloseHandshake { code: c, .. } => {
            format!("a close frame {} came to the server", code(c))
        }
        ConnectionEnd::FinWithoutClose { .. } => {
            "a TCP FIN without a close frame came to the server".to_owned()
        }
        ConnectionEnd::Reset => "a TCP RST came to the server".to_owned(),
        ConnectionEnd::LocalDeadline { what } => {
            format!("the server ended it itself ({})", escape_peer(what))
        }
        ConnectionEnd::HalfOpen { ping_unanswered_ms } => {
            format!("the server gave up after its ping went unanswered for {ping_unanswered_ms} ms")
        }
        other => format!("on the server: {}", other.describe()),
    }
}

fn closer_of(view: &ServerView) -> Closer {
    match view.closed_by() {
        None => Closer::ClientSideOnly,
        Some(Side::Local) => Closer::Server,
        Some(Side::Remote) => Closer::Between,
    }
}

/// Evidence lines pairing the dropped connections with the server's view,
/// and who closed when every paired drop agrees. Empty without pairing.
pub(super) fn pairing_lines(
    e: &IdleEvidence,
    dropped: &[&IdleSample],
) -> (Vec<String>, Option<Closer>) {
    let Some(pairing) = &e.pairing else {
        return (Vec::new(), None);
    };
    let mut lines = Vec::new();
    let paired: Vec<(&IdleSample, &ServerView)> = dropped
        .iter()
        .filter_map(|s| s.server.as_ref().map(|v| (*s, v)))
        .collect();
    for (s, view) in paired.iter().take(2) {
        let client_end = s
            .connection
            .end
            .as_ref()
            .map_or_else(|| "nothing".to_owned(), |e| e.end.describe());
        let client_at = s.age_us().map_or_else(|| "?".to_owned(), secs);
        let server_at = view
            .end
            .as_ref()
            .and_then(|e| e.open_for_us)
            .map_or_else(String::new, |us| format!(" {} after its 101", secs(us)));
        lines.push(format!(
            "{} #{} paired with server {}: the client saw {client_end} {client_at} after its 101; {}{server_at}",
            s.arm.as_str(),
            s.sample,
            escape_peer(&pairing.instance),
            server_end_text(view),
        ));
    }
    if paired.len() > 2 {
        lines.push(format!("… and {} more paired drop(s)", paired.len() - 2));
    }
    let closers: Vec<Closer> = paired.iter().map(|(_, v)| closer_of(v)).collect();
    let agreed = closers
        .first()
        .copied()
        .filter(|first| closers.iter().all(|c| c == first));
    match agreed {
        Some(Closer::Between) => lines.push(
            "neither end closed: both saw the end come from the other side, so a proxy or load balancer between them closed both sides".to_owned(),
        ),
        Some(Closer::Server) => lines.push(
            "the server closed first: this timer is the server's own, not a proxy's".to_owned(),
        ),
        Some(Closer::ClientSideOnly) => lines.push(
            "the server still had the connection open when asked: a hop between them closed the client's side only and left the server's side open (it lingers until the server's own heartbeat notices)".to_owned(),
        ),
        None if closers.len() > 1 => lines.push(
            "the server's view differs between connections: more than one thing ends them".to_owned(),
        ),
        None => {}
    }
    if paired.is_empty() && !dropped.is_empty() {
        lines.push(format!(
            "server view: {} answered for {} of {} connection(s){}",
            escape_peer(&pairing.instance),
            pairing.answered,
            pairing.asked,
            pairing
                .problems
                .first()
                .map(|p| format!(" ({p})"))
                .unwrap_or_default()
        ));
    }
    (lines, agreed)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use wsdoctor_evidence::EndRecord;

    fn view(end: Option<ConnectionEnd>) -> ServerView {
        ServerView {
            id: "x".into(),
            instance: "serve".into(),
            end: end.map(|end| EndRecord {
                end,
                at_us: 3_000_500,
                open_for_us: Some(3_000_000),
                since_last_inbound_us: Some(3_000_000),
                since_last_pong_us: None,
                since_last_outbound_us: Some(2_999_000),
            }),
            frames_received: 0,
            frames_sent: 1,
            last_received_us: None,
            last_sent_us: Some(1_000),
        }
    }

    #[test]
    fn who_closed_from_the_server_view() {
        let fin = ConnectionEnd::FinWithoutClose { mid_frame: false };
        assert_eq!(closer_of(&view(Some(fin))), Closer::Between);
        assert_eq!(closer_of(&view(None)), Closer::ClientSideOnly);
        let own = ConnectionEnd::CloseHandshake {
            code: Some(1001),
            reason: String::new(),
            initiator: Side::Local,
            answered: true,
        };
        assert_eq!(closer_of(&view(Some(own.clone()))), Closer::Server);
        assert_eq!(
            server_end_text(&view(Some(own))),
            "the server sent close frame 1001 first"
        );
        let fault = ConnectionEnd::LocalDeadline {
            what: "fin fault".into(),
        };
        assert_eq!(closer_of(&view(Some(fault))), Closer::Server);
    }
}
