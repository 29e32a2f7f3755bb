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
        "mqtt" | "mqtt5" => vec![
            fix_with(
                "client",
                format!("MQTT client: set keepalive (seconds) below the hop's idle timeout, e.g. {} s; the client sends PINGREQ after that much silence", (want_ms / 1000).max(1)),
                &format!("const client = mqtt.connect(url, {{ keepalive: {} }});", (want_ms / 1000).max(1)),
            ),
            fix_with(
                "server",
                "Mosquitto: max_keepalive makes MQTT 5 clients use a shorter keep-alive (the Server Keep Alive in CONNACK); 3.1.1 clients keep their own",
                &format!("max_keepalive {}", (want_ms / 1000).max(1)),
            ),
        ],
        "stomp" => vec![
            fix_with(
                "client",
                format!("@stomp/stompjs: heartbeatOutgoing and heartbeatIncoming (ms) below the hop's idle timeout, e.g. {want_ms}; the period used is the larger of the client's and the broker's (STOMP §Heart-beating)"),
                &format!("const client = new Client({{ brokerURL, heartbeatOutgoing: {want_ms}, heartbeatIncoming: {want_ms} }});"),
            ),
            fix_with(
                "server",
                "Spring's simple broker: set its heart-beat (it needs a TaskScheduler) so it never asks for a slower one",
                &format!("registry.enableSimpleBroker(\"/topic\").setHeartbeatValue(new long[] {{{want_ms}, {want_ms}}}).setTaskScheduler(taskScheduler);"),
            ),
        ],
        "signalr" => vec![
            fix_with(
                "server",
                format!("ASP.NET Core SignalR: KeepAliveInterval below the hop's idle timeout, e.g. {} s, and ClientTimeoutInterval at twice it", (want_ms / 1000).max(1)),
                &format!("builder.Services.AddSignalR(o => {{ o.KeepAliveInterval = TimeSpan.FromSeconds({0}); o.ClientTimeoutInterval = TimeSpan.FromSeconds({1}); }});", (want_ms / 1000).max(1), 2 * (want_ms / 1000).max(1)),
            ),
            fix_with(
                "client",
                "@microsoft/signalr: the client's keep-alive to match, and serverTimeoutInMilliseconds at twice the server's KeepAliveInterval",
                &format!("connection.keepAliveIntervalInMilliseconds = {want_ms};\nconnection.serverTimeoutInMilliseconds = {};", 2 * want_ms),
            ),
        ],
        "phoenix" => vec![fix_with(
            "client",
            format!("phoenix.js: heartbeatIntervalMs below the hop's idle timeout, e.g. {want_ms} (LiveSocket passes it to its Socket too)"),
            &format!("let socket = new Socket(\"/socket\", {{ params, heartbeatIntervalMs: {want_ms} }});"),
        )],
        "actioncable" => vec![fix(
            "proxy",
            "Rails Action Cable pings every 3 s (BEAT_INTERVAL) and has no setting for it: raise the hop's idle timeout above 6 s (two pings, the JS client's staleThreshold); AnyCable's --ping_interval is configurable",
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
        "mqtt" | "mqtt5" => vec![fix(
            "client",
            format!("Send PINGREQ whenever the client was silent for keepalive seconds (every MQTT library does); the broker drops a client silent for {timeout_setting}. A client that cannot ping that often must ask for a longer keepalive in CONNECT"),
        )],
        "stomp" => vec![fix(
            "client",
            format!("Send an end of line at the negotiated heart-beat period (@stomp/stompjs heartbeatOutgoing does); the broker closes after {timeout_setting}, or ask for a slower heart-beat in CONNECT"),
        )],
        "signalr" => vec![fix_with(
            "server",
            format!("SignalR clients ping every 15 s by default; if they are slow (mobile, busy threads), raise {timeout_setting} on the server, keeping it at least twice the client's keep-alive"),
            "builder.Services.AddSignalR(o => o.ClientTimeoutInterval = TimeSpan.FromSeconds(60));",
        )],
        "phoenix" => vec![fix_with(
            "server",
            "Phoenix drops a socket silent for its websocket timeout (60 s): keep phoenix.js heartbeats on, or raise the timeout on the endpoint's socket",
            "socket \"/socket\", MyAppWeb.UserSocket, websocket: [timeout: 120_000]",
        )],
        other => vec![fix(
            "client",
            format!("Answer {other}'s heartbeat as its client library does, or raise the server's {timeout_setting}"),
        )],
    }
}
