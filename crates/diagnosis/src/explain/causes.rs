//! The contract's cause table (`shared/contract.md`), embedded so `explain`
//! can answer for a cause id as well as for a close code.

use crate::finding::CauseId;

/// One row of the contract's table plus what to run next and which close
/// codes a browser would show for it.
pub(crate) struct CauseRow {
    pub(crate) id: CauseId,
    pub(crate) meaning: &'static str,
    pub(crate) typical_evidence: &'static str,
    pub(crate) next_check: &'static [&'static str],
    pub(crate) close_codes: &'static [&'static str],
}

const APP: &str = "`wsdoctor probe <url>` speaks the protocol as its client does (--app auto) and records its heartbeats and opening; `--app raw` shows what a client that does not speak it gets.";
const PROBE: &str = "`wsdoctor probe <url>` shows the failing step with the raw answer.";
const WATCH: &str =
    "`wsdoctor probe <url> --watch 65s` holds a connection past the common 55–60 s idle timeouts.";
// Only commands that exist today are named; as `lint`, `logs`, `load` and
// `reconnect` land, their rows point at them.
const IDLE: &str = "`wsdoctor idle <url>` measures the idle timeout and lifetime cap of the path, and which traffic resets them.";
const LINT: &str = "Read the proxy's config: the Upgrade and Connection headers (nginx `proxy_set_header`), and its tunnel timeout (nginx `proxy_read_timeout`, HAProxy `timeout tunnel`).";
const LOGS: &str = "Read the server's and the proxy's logs at the close time: they say which side ended the connection, and why.";
const LOAD: &str = "Open connections in steps against a test instance and note the level where failures begin, and how they fail.";
const PROXY: &str = "`curl -v -p -x PROXY_URL https://HOST:PORT/` asks the same proxy for the same tunnel; `wsdoctor probe --no-proxy <url>` tries without it.";
const RECONNECT: &str = "Drop your client's connection on purpose and time its reconnects: delays should grow and be randomised, never immediate.";

#[rustfmt::skip] // one row per line, like the contract's table
pub(crate) const CAUSES: &[CauseRow] = &[
    CauseRow { id: CauseId::DnsFailure, meaning: "The host name does not resolve.", typical_evidence: "resolver error", next_check: &[PROBE], close_codes: &["1006"] },
    CauseRow { id: CauseId::ConnectRefused, meaning: "Nothing listens, or a firewall rejects.", typical_evidence: "ECONNREFUSED", next_check: &[PROBE], close_codes: &["1006"] },
    CauseRow { id: CauseId::ConnectTimeout, meaning: "TCP connect never answered (blackholed).", typical_evidence: "SYN timeout", next_check: &[PROBE], close_codes: &["1006"] },
    CauseRow { id: CauseId::TlsFailure, meaning: "TLS handshake failed (certificate, hostname, protocol, ALPN).", typical_evidence: "rustls error, alert", next_check: &[PROBE], close_codes: &["1006", "1015"] },
    CauseRow { id: CauseId::UpgradeNotForwarded, meaning: "An intermediary did not pass Upgrade/Connection to the backend, or downgraded to HTTP/1.0.", typical_evidence: "non-101 answer (200 page, 400, 426) whose headers show a proxy; config without the header lines", next_check: &[PROBE, LINT], close_codes: &["1006"] },
    CauseRow { id: CauseId::UpgradeRejected, meaning: "The server refused the upgrade for its own reasons (auth, origin, path, subprotocol).", typical_evidence: "401/403/404/400 from the application itself", next_check: &[PROBE], close_codes: &["1006"] },
    CauseRow { id: CauseId::BackendUnavailable, meaning: "The intermediary answered for a dead or unreachable backend.", typical_evidence: "502/503/504 to the upgrade request", next_check: &[PROBE, LOGS], close_codes: &["1006"] },
    CauseRow { id: CauseId::HandshakeInvalid, meaning: "A 101 came back but is not a valid WebSocket handshake (bad Sec-WebSocket-Accept, missing headers, unrequested extension or subprotocol).", typical_evidence: "header checks", next_check: &[PROBE], close_codes: &["1006"] },
    CauseRow { id: CauseId::IdleTimeout, meaning: "Silent connections are closed after a fixed idle time T by an intermediary or the server; traffic more often than T keeps them alive.", typical_evidence: "drops at T with small spread; pinging peers survive", next_check: &[IDLE, LINT], close_codes: &["1006", "1001"] },
    CauseRow { id: CauseId::MaxLifetime, meaning: "Connections are closed after T whatever the traffic.", typical_evidence: "pinging and silent connections both die at T", next_check: &[IDLE], close_codes: &["1006", "1001"] },
    CauseRow { id: CauseId::NoHeartbeat, meaning: "Neither side sends pings or heartbeats, so any idle timer in the path will fire.", typical_evidence: "no ping seen during the watch", next_check: &[WATCH], close_codes: &["1006"] },
    CauseRow { id: CauseId::HeartbeatTooSlow, meaning: "Pings exist but their interval is not below the idle timeout in the path.", typical_evidence: "ping interval ≥ measured or configured T", next_check: &[IDLE, LINT], close_codes: &["1006"] },
    CauseRow { id: CauseId::AbnormalClose, meaning: "The connection ended without a close frame (what browsers report as 1006); the transport says how: reset, eof, half-open, tls.", typical_evidence: "TCP RST, FIN without close frame, no pong before the deadline", next_check: &[WATCH, IDLE], close_codes: &["1006"] },
    CauseRow { id: CauseId::ServerError, meaning: "The server closed with 1011 (an exception in its handler).", typical_evidence: "close frame 1011", next_check: &[LOGS], close_codes: &["1011"] },
    CauseRow { id: CauseId::GoingAway, meaning: "1001, 1012, 1013 or 1014: shutdown, restart, overload, bad gateway.", typical_evidence: "close frame code", next_check: &[LOGS, IDLE], close_codes: &["1001", "1012", "1013", "1014"] },
    CauseRow { id: CauseId::ProtocolError, meaning: "1002, 1003, 1007, 1009, 1010: one side broke the protocol or a size limit.", typical_evidence: "close frame code, frame error", next_check: &[PROBE], close_codes: &["1002", "1003", "1007", "1009", "1010"] },
    CauseRow { id: CauseId::PolicyClose, meaning: "1008, or an application code 4000–4999.", typical_evidence: "close frame code and reason", next_check: &[PROBE, LOGS], close_codes: &["1008", "3000–4999"] },
    CauseRow { id: CauseId::LoadLimit, meaning: "Failures or drops start once concurrency or connection rate passes a level.", typical_evidence: "failure rate by concurrency step", next_check: &[LOAD], close_codes: &["1006", "1013"] },
    CauseRow { id: CauseId::HandlerStalled, meaning: "The connection is alive (pongs come back) but application messages have stopped.", typical_evidence: "pong RTT fine, no message for longer than expected", next_check: &[WATCH, LOGS], close_codes: &[] },
    CauseRow { id: CauseId::ReconnectNoBackoff, meaning: "A client reconnects immediately or at a fixed short delay after a drop.", typical_evidence: "reconnect delays ≈ 0 or constant", next_check: &[RECONNECT], close_codes: &[] },
    CauseRow { id: CauseId::ReconnectNoJitter, meaning: "A client backs off exponentially but many clients reconnect in lockstep.", typical_evidence: "delays equal across clients", next_check: &[RECONNECT], close_codes: &[] },
    CauseRow { id: CauseId::StickySessionMissing, meaning: "Consecutive connections of one client land on different server instances where state is per instance.", typical_evidence: "instance id changes between reconnects", next_check: &[RECONNECT, LOGS], close_codes: &[] },
    CauseRow { id: CauseId::MassDisconnect, meaning: "Many connections closed within a short window at once: a config reload, a deploy, a platform restart.", typical_evidence: "a tight cluster of close times across connections, often no close frame or 1001", next_check: &[LOGS], close_codes: &["1006", "1001", "1012"] },
    CauseRow { id: CauseId::SlowConsumer, meaning: "One side closed because the other could not keep up (send buffer overflow, backpressure).", typical_evidence: "queue growth before the close; 1008/1009 or an overflow reason", next_check: &[LOAD, LOGS], close_codes: &["1008", "1009"] },
    CauseRow { id: CauseId::H2WebsocketBroken, meaning: "The HTTP/2 extended CONNECT path (RFC 8441) that browsers take fails while HTTP/1.1 upgrade works, or is advertised but broken.", typical_evidence: "SETTINGS_ENABLE_CONNECT_PROTOCOL and the outcome of both handshakes", next_check: &[PROBE], close_codes: &["1006"] },
    CauseRow { id: CauseId::LocalKeepaliveTimeout, meaning: "The client library itself gave up because a pong did not come back in time (python-websockets reports this as a 1011 it sent).", typical_evidence: "our own ping deadline passed; a 1011 whose reason names keepalive", next_check: &[WATCH], close_codes: &["1011"] },
    CauseRow { id: CauseId::ProxyRefused, meaning: "The forward proxy (HTTP CONNECT or SOCKS5) refused or failed the tunnel to the target: 407 credentials missing or wrong, 403 its policy blocks the host or port (many allow CONNECT only to 443), 502/504 it could not reach the target; SOCKS5 reply codes likewise.", typical_evidence: "the proxy's answer to CONNECT (status line, Proxy-Authenticate, error page) or the SOCKS5 reply code", next_check: &[PROBE, PROXY], close_codes: &["1006"] },
    CauseRow { id: CauseId::AppHeartbeatTimeout, meaning: "An application protocol's own heartbeat went unanswered (Socket.IO pingTimeout, SignalR ServerTimeout, Phoenix, MQTT keep-alive), so an endpoint gave up: a client or server problem, not the path.", typical_evidence: "protocol ping without its reply before the protocol's deadline; the close comes at ping + timeout", next_check: &[APP], close_codes: &[] },
    CauseRow { id: CauseId::AppInitTimeout, meaning: "An application protocol's opening step did not happen in time (graphql-transport-ws 4408 without connection_init, SignalR handshake, STOMP CONNECT, MQTT CONNECT).", typical_evidence: "protocol close code or reason, age at close", next_check: &[APP], close_codes: &["4408"] },
    CauseRow { id: CauseId::Healthy, meaning: "Nothing wrong was found by the checks that ran (the finding says which ran).", typical_evidence: "—", next_check: &[], close_codes: &[] },
];

/// The row for a cause id as the contract spells it (`idle-timeout`).
pub(crate) fn find(id: &str) -> Option<&'static CauseRow> {
    CAUSES.iter().find(|c| c.id.as_str() == id)
}
