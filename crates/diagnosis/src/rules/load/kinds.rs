//! What the load source's failure and drop kinds (`refused`, `http-503`,
//! `local-file-descriptors`, …) mean: whose limit, which cause, what fix.
//! Kept as one unit: the kinds are about to become a typed enum in the
//! evidence crate (issue 17 item 2), and this is the one place that reads them.

use wsdoctor_evidence::LocalResource;

use crate::finding::CauseId;

pub(super) fn local_resource(kind: &str) -> Option<LocalResource> {
    match kind {
        "local-file-descriptors" => Some(LocalResource::FileDescriptors),
        "local-ephemeral-ports" => Some(LocalResource::EphemeralPorts),
        "local-socket-memory" => Some(LocalResource::Memory),
        _ => None,
    }
}

/// What to change for a kind of failure, in words people search for.
pub(super) fn fix_for(kind: &str, server: Option<&str>) -> (String, String) {
    let by_nginx = server.is_some_and(|s| s.to_ascii_lowercase().contains("nginx"));
    match kind {
        k if k.starts_with("http-503") && by_nginx => (
            "nginx".to_owned(),
            "nginx answers 503 when a limit_conn zone or its upstream's max_conns is reached; raise them, and worker_connections (each proxied WebSocket holds two connections), with worker_rlimit_nofile to match.".to_owned(),
        ),
        k if k.starts_with("http-5") => (
            "server".to_owned(),
            "The server or a proxy in front of it refuses new upgrades past this level: look for a connection limit (maxconn in HAProxy, max_conns/limit_conn in nginx, the application's own cap) and for the process's open-file limit.".to_owned(),
        ),
        // The forward proxy's own limit, not the target's (tinyproxy
        // MaxClients, squid's file descriptors).
        k if k.starts_with("proxy-") => (
            "proxy".to_owned(),
            "The forward proxy refuses or fails tunnels past this level: its own connection limit is reached (tinyproxy MaxClients, squid max_filedescriptors). Raise it, or measure the target without the proxy (--no-proxy).".to_owned(),
        ),
        "refused" => (
            "server".to_owned(),
            "Connections are refused once the accept queue is full or the server stops listening: raise the listen backlog (net.core.somaxconn and the server's backlog setting) and check that the process did not crash.".to_owned(),
        ),
        "connect-timeout" | "handshake-timeout" | "pending-at-end" => (
            "server".to_owned(),
            "New connections wait unanswered: a limit holds them past this level instead of refusing them (HAProxy's maxconn, Envoy's circuit breakers, a full SYN or accept queue), or the server accepts or upgrades too slowly at this level (a blocked event loop, CPU at 100 %). Check the proxies' connection limits, the server's CPU and the listen backlog.".to_owned(),
        ),
        "peer-stopped-reading" => (
            "server".to_owned(),
            "The server stopped reading what the connections sent (it took none of their bytes for the write timeout): a slow consumer. Its handler blocks, or it reads only on some event; at this level it cannot keep up. Look at the server's event loop and CPU, and at per-connection send queues.".to_owned(),
        ),
        k if k.starts_with("reset") || k.starts_with("eof") => (
            "server".to_owned(),
            "The server or a proxy closes new connections right away at this level: typically an open-file limit (accept then close), nginx's worker_connections (\"worker_connections are not enough\" in its error log), or a connection cap.".to_owned(),
        ),
        _ => (
            "server".to_owned(),
            "Look in the server's and proxies' logs at the time of this step for the limit that was reached.".to_owned(),
        ),
    }
}

/// The cause a kind of failure names when it happens from the first
/// connection on, at any load.
pub(super) fn failure_cause(kind: &str) -> Option<CauseId> {
    let status = kind
        .strip_prefix("http-")
        .and_then(|s| s.parse::<u16>().ok());
    Some(match (kind, status) {
        ("invalid-101", _) => CauseId::HandshakeInvalid,
        ("refused", _) => CauseId::ConnectRefused,
        ("connect-timeout", _) => CauseId::ConnectTimeout,
        ("dns", _) => CauseId::DnsFailure,
        ("tls", _) => CauseId::TlsFailure,
        (_, Some(502..=504)) => CauseId::BackendUnavailable,
        (_, Some(400..=499)) => CauseId::UpgradeRejected,
        _ => return None,
    })
}
