//! Per cause: how to confirm a finding, and what observation would change
//! the conclusion. Filled in when findings are ranked, from the numbers the
//! finding measured, so every source (probe, idle, logs, lint, …) gets them.

use crate::finding::{CauseId, Finding};

/// `60.0 s`, or `T` when the finding did not measure it.
fn secs_or(value: Option<f64>, unknown: &str) -> String {
    value.map_or_else(|| unknown.to_owned(), |v| format!("{v:.1} s"))
}

/// The one suggested ping interval ([`crate::advice::app::ping_interval_s`]):
/// `30 s`, or in words when T is unknown.
fn ping_every(idle_timeout_s: Option<f64>) -> String {
    match idle_timeout_s {
        Some(t) if t.is_finite() && t > 0.0 => {
            let us = (t * 1e6) as u64;
            format!("{} s", crate::advice::app::ping_interval_s(Some(us)))
        }
        _ => "half of it (30 s at most)".to_owned(),
    }
}

/// (how to confirm, what would change the conclusion) for a finding. The
/// causes whose checks quote what the finding measured are answered here;
/// the rest by [`unmeasured_checks`].
pub fn checks(f: &Finding) -> (String, String) {
    let m = &f.measured;
    let t = secs_or(m.idle_timeout_s, "T");
    let life = secs_or(m.max_lifetime_s, "T");
    match f.id {
        CauseId::IdleTimeout => (
            format!("run `wsdoctor idle URL`: silent connections should drop at {t} while pinging ones survive; then ping every {} and the drops should stop", ping_every(m.idle_timeout_s)),
            format!("a pinging connection dropping at the same age means a lifetime cap (max-lifetime), not an idle timer; drops scattered around {t} rather than at it mean random drops or a stochastic edge"),
        ),
        CauseId::MaxLifetime => (
            format!("run `wsdoctor idle URL`: silent, pinging and data connections should all end at {life} of age"),
            "a pinging connection that outlives the silent ones means an idle timer (idle-timeout): pings then fix it".to_owned(),
        ),
        CauseId::HeartbeatTooSlow => (
            format!("compare the ping interval ({}) with the tightest idle timeout on the path (`wsdoctor idle URL`, `wsdoctor lint`)", secs_or(m.server_ping_interval_s, "measured")),
            "a path whose idle timeout is well above the ping interval (or a hop that ignores pings: then only data counts) changes the fix".to_owned(),
        ),
        id => {
            let (confirm, change) = unmeasured_checks(id).unwrap_or_default();
            (confirm.to_owned(), change.to_owned())
        }
    }
}

/// The checks that quote no measured number, for every cause but the
/// three [`checks`] answers itself (`None` for those). Exhaustive, so a new
/// cause id cannot go without its checks.
fn unmeasured_checks(id: CauseId) -> Option<(&'static str, &'static str)> {
    Some(match id {
        CauseId::DnsFailure => (
            "resolve the name from the same machine: `dig +short HOST` (and from inside the container when the client runs in one)",
            "the name resolving there while wsdoctor fails means a different resolver or search domain, not DNS",
        ),
        CauseId::ConnectRefused => (
            "`nc -vz HOST PORT` from the client's network, and `ss -ltn` on the server",
            "a connect that works from another network means a firewall, not a missing listener",
        ),
        CauseId::ConnectTimeout => (
            "`nc -vz -w 5 HOST PORT` from the client's network and from next to the server",
            "an answer from next to the server but not from the client means a firewall or security group in between",
        ),
        CauseId::TlsFailure => (
            "`openssl s_client -connect HOST:443 -servername HOST` shows the certificate chain and the error",
            "the same error from a browser on another network rules out a TLS-inspecting proxy on this one",
        ),
        CauseId::UpgradeNotForwarded => (
            "probe each hop from the inside out (`wsdoctor probe ws://backend:PORT/…`, then the proxy, then the public URL): the first non-101 is the hop that drops the headers; `wsdoctor lint` reads its config",
            "a 101 straight from the backend with the same headers, but an error page that names the application, means the application refused it (upgrade-rejected)",
        ),
        CauseId::UpgradeRejected => (
            "the server's own log for the upgrade request: auth, Origin, path or subprotocol checks",
            "the same request answered 101 directly at the backend means a proxy in front refused it",
        ),
        CauseId::BackendUnavailable => (
            "probe the backend directly, and read the proxy's error log at that time (nginx: 'connect() failed', 'upstream timed out')",
            "a backend that answers 101 directly while the proxy still says 502/504 means the proxy points at the wrong address or port",
        ),
        CauseId::HandshakeInvalid => (
            "`wsdoctor probe URL` against the backend directly, without proxies",
            "a valid 101 from the backend directly means a proxy rewrites the handshake",
        ),
        CauseId::NoHeartbeat => (
            "`wsdoctor probe URL --watch 65s` shows whether the server pings at all; `wsdoctor idle URL` shows whether the silence is what ends connections",
            "pings or application messages arriving more often than the path's idle timeout mean the heartbeat is not the problem",
        ),
        CauseId::AbnormalClose => (
            "`wsdoctor idle URL` shows whether silence alone ends connections, and after how long; `wsdoctor watch URL` for a while gives the age, idle time and kind (FIN, RST, silence) of every drop",
            "drops at one fixed silence mean an idle timeout; at one fixed age, a lifetime cap; many at the same moment, a restart (mass-disconnect)",
        ),
        CauseId::ServerError => (
            "the server's log at the close time: the exception in the handler",
            "a 1011 whose reason names keepalive or ping is a heartbeat failure (local-keepalive-timeout), not a crash",
        ),
        CauseId::GoingAway => (
            "match the close time with deploys, reloads and scale-ins of the server and proxies",
            "a 1001 at a fixed silence on every connection is an app server's idle timeout (idle-timeout), not a shutdown",
        ),
        CauseId::ProtocolError => (
            "`wsdoctor probe URL --send …` with the message that fails, and the size limits of both sides",
            "the error disappearing without a proxy in the path means the proxy mangles frames",
        ),
        CauseId::PolicyClose => (
            "the close reason and the server's auth or policy code for that code",
            "the close arriving at a fixed age (a token lifetime) points at authentication expiry rather than a rule",
        ),
        CauseId::LoadLimit => (
            "`wsdoctor load URL` again with the generator on another machine: the failures should start at the same level",
            "failures that follow the generator rather than the target (its CPU, ports, file descriptors) mean a limit of the test, not the server",
        ),
        CauseId::HandlerStalled => (
            "`wsdoctor flow URL --expect-every DUR`, and the server's log for exceptions swallowed in the message handler",
            "pongs stopping too means the connection (half-open), not the handler",
        ),
        CauseId::ReconnectNoBackoff | CauseId::ReconnectNoJitter => (
            "`wsdoctor reconnect` with the real client: drop it on purpose and time its reconnects; `wsdoctor storm` shows the wave a population makes",
            "delays that grow and differ between clients on a longer run mean the policy is fine and the storm has another source",
        ),
        CauseId::StickySessionMissing => (
            "log the instance id each connection lands on and compare consecutive connections of one client",
            "state kept outside the instance (a shared store) makes changing instances harmless",
        ),
        CauseId::MassDisconnect => (
            "match the cluster's time with deploys, config reloads and platform events",
            "closes spread evenly rather than clustered mean per-connection timers, not a restart",
        ),
        CauseId::SlowConsumer => (
            "watch the send queue (bufferedAmount, the server's outbound buffer) before the close",
            "a close with an empty queue means a size or policy limit, not backpressure",
        ),
        CauseId::H2WebsocketBroken => (
            "`wsdoctor probe URL --compare-http`: HTTP/2 extended CONNECT and HTTP/1.1 upgrade side by side",
            "both paths failing the same way means the problem is not HTTP/2-specific",
        ),
        CauseId::ServerClose => (
            "the server's own code for the reason text it sent, and its log at the close time; `wsdoctor idle URL` shows whether every connection ends at the same age",
            "connections ending at one fixed age whatever the traffic mean a lifetime cap or a token expiry (max-lifetime), not a one-off decision of the application",
        ),
        CauseId::LocalKeepaliveTimeout => (
            "compare the pong RTTs with the client's ping timeout, and the server's event-loop lag at that time",
            "pongs arriving late but arriving means a slow server or path (raise the timeout); none at all means a half-open path",
        ),
        CauseId::ProxyRefused => (
            "`curl -v -p -x PROXY_URL https://HOST:PORT/` asks the same proxy for the same tunnel and prints its answer",
            "a direct connection (`--no-proxy`) failing the same way means the target, not the proxy, is the problem",
        ),
        CauseId::AppHeartbeatTimeout => (
            "`wsdoctor probe URL --app auto` speaks the protocol and answers its heartbeat; `--app raw` shows what a client that does not answer gets",
            "a close at the same age while the heartbeat is answered means a path timer, not the protocol",
        ),
        CauseId::AppInitTimeout => (
            "`wsdoctor probe URL --app auto` sends the protocol's opening message at once",
            "the same close after the opening was acknowledged means something else closes the connection",
        ),
        CauseId::Healthy => (
            "`wsdoctor idle URL` measures timers longer than this run",
            "a longer watch (past 60 s, 100 s, 350 s) can still reveal an idle timer this run was too short to see",
        ),
        CauseId::IdleTimeout | CauseId::MaxLifetime | CauseId::HeartbeatTooSlow => return None,
    })
}

/// Sets `confirm` and `would_change` where a rule did not say something
/// more specific.
pub fn annotate(f: &mut Finding) {
    if f.confirm.is_some() && f.would_change.is_some() {
        return;
    }
    let (confirm, change) = checks(f);
    f.confirm.get_or_insert(confirm);
    f.would_change.get_or_insert(change);
}
