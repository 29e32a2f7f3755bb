//! What the load source's failure kinds (`FailureKind`: refused, HTTP 503,
//! local file descriptors, …) mean: which cause, what fix. The one place
//! that reads them; whose limit a kind is comes from
//! `FailureKind::local_resource`.

use wsdoctor_evidence::load::FailureKind;
use wsdoctor_evidence::Transport;

use crate::finding::CauseId;

/// What to change for a kind of failure, in words people search for.
pub(super) fn fix_for(kind: FailureKind, server: Option<&str>) -> (String, String) {
    let by_nginx = server.is_some_and(|s| s.to_ascii_lowercase().contains("nginx"));
    match kind {
        FailureKind::Http(503) if by_nginx => (
            "nginx".to_owned(),
            "nginx answers 503 when a limit_conn zone or its upstream's max_conns is reached; raise them, and worker_connections (each proxied WebSocket holds two connections), with worker_rlimit_nofile to match.".to_owned(),
        ),
        FailureKind::Http(500..=599) => (
            "server".to_owned(),
            "The server or a proxy in front of it refuses new upgrades past this level: look for a connection limit (maxconn in HAProxy, max_conns/limit_conn in nginx, the application's own cap) and for the process's open-file limit.".to_owned(),
        ),
        // Credentials, not a level: the proxy wants them (407) or rejects
        // the ones given (407 again, or 401 from tinyproxy).
        FailureKind::ProxyStatus(401 | 407) => (
            "proxy".to_owned(),
            "The forward proxy wants credentials it did not get, or rejects the ones given: put the right ones in the proxy URL (--proxy http://user:pass@host:port, or the https_proxy/http_proxy variable).".to_owned(),
        ),
        // The forward proxy's own limit, not the target's (tinyproxy
        // MaxClients, squid's file descriptors).
        k if k.is_proxy() => (
            "proxy".to_owned(),
            "The forward proxy refuses or fails tunnels past this level: its own connection limit is reached (tinyproxy MaxClients, squid max_filedescriptors). Raise it, or measure the target without the proxy (--no-proxy).".to_owned(),
        ),
        FailureKind::Refused => (
            "server".to_owned(),
            "Connections are refused once the accept queue is full or the server stops listening: raise the listen backlog (net.core.somaxconn and the server's backlog setting) and check that the process did not crash.".to_owned(),
        ),
        FailureKind::ConnectTimeout | FailureKind::HandshakeTimeout | FailureKind::PendingAtEnd => (
            "server".to_owned(),
            "New connections wait unanswered: a limit holds them past this level instead of refusing them (HAProxy's maxconn, Envoy's circuit breakers, a full SYN or accept queue), or the server accepts or upgrades too slowly at this level (a blocked event loop, CPU at 100 %). Check the proxies' connection limits, the server's CPU and the listen backlog.".to_owned(),
        ),
        FailureKind::BeforeUpgrade(Transport::Reset | Transport::Eof) => (
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
pub(super) fn failure_cause(kind: FailureKind) -> Option<CauseId> {
    Some(match kind {
        FailureKind::Invalid101 => CauseId::HandshakeInvalid,
        FailureKind::Refused => CauseId::ConnectRefused,
        FailureKind::ConnectTimeout => CauseId::ConnectTimeout,
        FailureKind::Dns => CauseId::DnsFailure,
        FailureKind::Tls => CauseId::TlsFailure,
        FailureKind::Http(502..=504) => CauseId::BackendUnavailable,
        FailureKind::Http(400..=499) => CauseId::UpgradeRejected,
        _ => return None,
    })
}
