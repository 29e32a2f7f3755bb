//! Fixes in each protocol's own words: the server and client settings that
//! move its heartbeat, next to the proxy fix the path rules already give.

use crate::finding::Fix;
use crate::rules::common::{fix, fix_with};

/// Making the protocol heartbeat faster than a hop's idle timeout of
/// `idle_ms`: the interval to choose, in the protocol's settings.
pub(super) fn faster_heartbeat(protocol: &str, idle_ms: u64) -> Vec<Fix> {
    // Half the hop's timeout leaves room for one late heartbeat.
    let want_ms = (idle_ms / 2).max(1000);
    match protocol {
        "socketio" => vec![
            fix_with(
                "server",
                format!("Socket.IO server (Node): set pingInterval below the hop's idle timeout, e.g. {want_ms} ms; clients follow what the open packet announces"),
                &format!("const io = new Server(httpServer, {{ pingInterval: {want_ms}, pingTimeout: 20000 }});"),
            ),
            fix_with(
                "server",
                "python-socketio: ping_interval is in seconds",
                &format!(
                    "sio = socketio.AsyncServer(ping_interval={}, ping_timeout=20)",
                    (want_ms / 1000).max(1)
                ),
            ),
        ],
        "graphql-transport-ws" => vec![fix_with(
            "server",
            format!("graphql-ws server: useServer's keepAlive (WebSocket pings) below the hop's idle timeout, e.g. {want_ms} ms"),
            &format!("useServer({{ schema }}, wsServer, {want_ms});"),
        )],
        "graphql-ws" => vec![fix_with(
            "server",
            format!("subscriptions-transport-ws: set the server's keepAlive (ka messages) below the hop's idle timeout, e.g. {want_ms} ms"),
            &format!("SubscriptionServer.create({{ schema, execute, subscribe, keepAlive: {want_ms} }}, {{ server, path: '/graphql' }});"),
        )],
        other => vec![fix(
            "server",
            format!("Set {other}'s heartbeat interval below the hop's idle timeout (about {want_ms} ms)"),
        )],
    }
}

/// The client did not answer the protocol's heartbeat in time.
pub(super) fn answer_heartbeat(protocol: &str, timeout_setting: &str) -> Vec<Fix> {
    match protocol {
        "socketio" => vec![
            fix(
                "client",
                "Use a Socket.IO client (socket.io-client, python-socketio's client): it answers every ping with a pong; a client that speaks bare WebSocket to /socket.io/ is dropped after pingInterval + pingTimeout. A blocked event loop misses pongs the same way.",
            ),
            fix_with(
                "server",
                format!("If clients are slow to answer (mobile, busy event loops), raise {timeout_setting} on the server"),
                "const io = new Server(httpServer, { pingInterval: 25000, pingTimeout: 60000 });",
            ),
        ],
        other => vec![fix(
            "client",
            format!("Answer {other}'s heartbeat as its client library does, or raise the server's {timeout_setting}"),
        )],
    }
}
