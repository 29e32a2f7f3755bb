//! What to do about a finding beyond what its rule measured: the
//! application-side code that fixes it ([`app`]), the frequency prior that
//! orders findings ([`prior`]), how to confirm each conclusion and what
//! would change it ([`checks`]), and one fix per cause for `explain`
//! ([`cause_fix`]).

pub mod app;
pub mod checks;
pub mod prior;
#[cfg(test)]
mod tests;

use crate::finding::{fix, CauseId, Finding, Fix};
use crate::kb::kb;

/// The general fix for a cause, when no evidence narrows it: what `explain`
/// shows, and what every cause id is guaranteed to have. Rules attach more
/// specific fixes (the blamed hop's setting, the measured T).
pub fn cause_fix(id: CauseId) -> Fix {
    let text = match id {
        CauseId::IdleTimeout | CauseId::NoHeartbeat | CauseId::HeartbeatTooSlow => {
            return app::server_ping_fix(None, None);
        }
        CauseId::ReconnectNoBackoff | CauseId::ReconnectNoJitter => {
            return app::full_jitter_fix();
        }
        CauseId::DnsFailure => "Fix the DNS record, or the resolver the client uses (its search domains, /etc/hosts, the container's DNS).",
        CauseId::ConnectRefused => "Start the server on that address and port, or open the firewall or security group that rejects the connection.",
        CauseId::ConnectTimeout => "Allow the port through every firewall, security group and network ACL on the path; check that the address is routable from the client.",
        CauseId::TlsFailure => "Serve a certificate chain that is complete, valid now and names the host; clients behind TLS inspection need its CA.",
        CauseId::UpgradeNotForwarded => "Forward the Upgrade and Connection headers at every proxy between client and server (nginx: proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection $connection_upgrade;). `wsdoctor lint` checks the config.",
        CauseId::UpgradeRejected => "Send what the server's checks expect: the credentials, an allowed Origin, the right path and a subprotocol it supports.",
        CauseId::BackendUnavailable => "Bring the backend up, or point the proxy at the address and port it listens on; keep the backend's own keep-alive timeout above the proxy's.",
        CauseId::HandshakeInvalid => "Fix the server (or the proxy that rewrites its answer): Sec-WebSocket-Accept must be the SHA-1 of the key and GUID, and only requested extensions and subprotocols may be accepted.",
        CauseId::MaxLifetime => "Raise the hop's lifetime cap, and make clients reconnect with backoff before it is reached; pings cannot help against a cap.",
        CauseId::AbnormalClose => "Find which hop ends the connection (`wsdoctor idle` for timers, `wsdoctor watch` for patterns), and make clients reconnect with jittered backoff meanwhile.",
        CauseId::ServerError => "Catch exceptions in the message handler so one bad message does not end the connection, and log them with the connection id.",
        CauseId::GoingAway => "Drain on shutdown: send 1001 or 1012, stop accepting, let clients reconnect elsewhere with jittered backoff.",
        CauseId::ProtocolError => "Align message sizes and types with the peer's limits (max message size, text vs binary, valid UTF-8).",
        CauseId::PolicyClose => "Read the reason: refresh credentials before they expire, or follow the rule the server enforces.",
        CauseId::LoadLimit => "Raise the limit that is hit (file descriptors, worker connections, the proxy's maxconn, memory per connection), or spread connections over more instances.",
        CauseId::HandlerStalled => "Catch and log exceptions inside the message handler; add an application-level liveness message the client checks.",
        CauseId::StickySessionMissing => "Enable session affinity on the load balancer, or keep per-connection state in a shared store.",
        CauseId::MassDisconnect => "Drain instead of dropping on deploys and reloads (close with 1001/1012, nginx worker_shutdown_timeout), and reconnect with jittered backoff.",
        CauseId::SlowConsumer => "Bound the send queue per connection and drop or coalesce messages for slow clients instead of buffering without limit.",
        CauseId::H2WebsocketBroken => "Disable HTTP/2 WebSockets (RFC 8441) at the proxy, or fix its extended CONNECT forwarding to the backend.",
        CauseId::ServerClose => "Find where the server's code closes with this code and reason (search its source for the reason text); if connections end at the same age every time, it is a session or token lifetime: raise it, or make clients reconnect before it with backoff.",
        CauseId::LocalKeepaliveTimeout => "Raise the client's ping timeout above the worst pong delay, and keep the server's event loop from blocking.",
        CauseId::ProxyRefused => "Give the forward proxy what it asks for: credentials in the proxy URL (http://user:pass@proxy:3128) for a 407, the target host and port allowed (or port 443) for a 403; for a 502/504 the proxy cannot reach the target from its network.",
        CauseId::AppHeartbeatTimeout => "Answer the protocol's heartbeat as its client library does (Socket.IO: pong every ping within pingTimeout; a blocked event loop or a client that does not speak the protocol misses it), or raise the server's timeout (Socket.IO pingTimeout).",
        CauseId::AppInitTimeout => "Send the protocol's opening message at once after the WebSocket opens (graphql-transport-ws: connection_init within connectionInitWaitTimeout), or raise the server's wait.",
        CauseId::Healthy => "Nothing to fix.",
    };
    let for_ = match id {
        CauseId::DnsFailure
        | CauseId::TlsFailure
        | CauseId::ConnectRefused
        | CauseId::ConnectTimeout
        | CauseId::ServerError
        | CauseId::ServerClose
        | CauseId::HandlerStalled
        | CauseId::HandshakeInvalid
        | CauseId::GoingAway
        | CauseId::SlowConsumer => "server",
        CauseId::UpgradeNotForwarded
        | CauseId::BackendUnavailable
        | CauseId::MaxLifetime
        | CauseId::StickySessionMissing
        | CauseId::H2WebsocketBroken
        | CauseId::ProxyRefused
        | CauseId::LoadLimit
        | CauseId::MassDisconnect => "proxy",
        _ => "client",
    };
    fix(for_, text)
}

/// Sorts findings most important first — severity, then the strength of
/// the evidence (`confidence`) weighed by how often the cause is the answer
/// (the runbook's frequency order, [`prior`]) — and fills in
/// how to confirm each and what would change its conclusion.
pub fn rank(findings: &mut [Finding]) {
    findings.sort_by(prior::compare);
    for f in findings.iter_mut() {
        checks::annotate(f);
    }
}

/// Products whose default idle timeout people most often hit, with the
/// short label the "typical idle timeouts" line uses for each.
const COMMON_HOPS: &[(&str, &str)] = &[
    ("heroku-router", "Heroku"),
    ("nginx", "nginx"),
    ("aws-alb", "AWS ALB"),
    ("cloudflare", "Cloudflare"),
    ("envoy", "Envoy"),
    ("aws-nlb", "AWS NLB"),
];

/// `Heroku 55 s, nginx/AWS ALB 60 s, Cloudflare 100 s, …`: the common default
/// idle timeouts, read from the kb so the numbers stay sourced.
pub(crate) fn typical_idle_timeouts() -> String {
    let kb = kb();
    // (seconds, labels) in the order above, hops with equal values merged.
    let mut groups: Vec<(u32, Vec<&str>)> = Vec::new();
    for (id, label) in COMMON_HOPS {
        let Some(t) = kb.intermediary(id).and_then(|i| i.idle_timeout_default_s) else {
            continue;
        };
        match groups.iter_mut().find(|(v, _)| *v == t) {
            Some((_, labels)) => labels.push(label),
            None => groups.push((t, vec![label])),
        }
    }
    if groups.is_empty() {
        return "commonly 55–100 s".to_owned();
    }
    groups
        .iter()
        .map(|(t, labels)| format!("{} {t} s", labels.join("/")))
        .collect::<Vec<_>>()
        .join(", ")
}
