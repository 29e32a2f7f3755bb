//! Reasons that protocols give in their own messages rather than as a
//! WebSocket close code (those are [`crate::CloseCodeFact`]): MQTT's CONNACK
//! and DISCONNECT codes, Action Cable's `disconnect` reasons, Phoenix's
//! channel events, SignalR's close message, STOMP's ERROR frame. Each with
//! its meaning, the contract cause it maps to, the fix in the protocol's own
//! words, and where it is documented; for findings and `explain`.

use crate::AppProtocol;

/// One documented in-band reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReasonFact {
    pub protocol: AppProtocol,
    /// What it is called on the wire (`0x8D`, `unauthorized`, `phx_error`).
    pub key: &'static str,
    /// The protocol's name for it.
    pub name: &'static str,
    pub meaning: &'static str,
    /// The contract cause id it maps to.
    pub cause: &'static str,
    pub fix: &'static str,
    /// Where it is documented (a URL).
    pub source: &'static str,
    /// When that source was read (YYYY-MM-DD).
    pub read: &'static str,
}

const READ: &str = "2026-12-06";
const MQTT5: &str = "https://docs.oasis-open.org/mqtt/mqtt/v5.0/os/mqtt-v5.0-os.html#_Toc3901079";
const MQTT311: &str =
    "https://docs.oasis-open.org/mqtt/mqtt/v3.1.1/os/mqtt-v3.1.1-os.html#_Toc398718035";
const ACTION_CABLE: &str =
    "https://github.com/rails/rails/blob/main/actioncable/lib/action_cable.rb";
const PHOENIX_JS: &str =
    "https://github.com/phoenixframework/phoenix/blob/main/assets/js/phoenix/socket.js";
const PHOENIX_CHANNEL: &str = "https://hexdocs.pm/phoenix/Phoenix.Channel.html";
const SIGNALR_HUB: &str =
    "https://github.com/dotnet/aspnetcore/blob/main/src/SignalR/docs/specs/HubProtocol.md";
const SIGNALR_CONFIG: &str = "https://learn.microsoft.com/en-us/aspnet/core/signalr/configuration";
const SOCKETIO_PROTOCOL: &str = "https://socket.io/docs/v4/socket-io-protocol/";
const SUBSCRIPTIONS_TRANSPORT_WS: &str =
    "https://github.com/apollographql/subscriptions-transport-ws/blob/master/PROTOCOL.md";
const STOMP: &str = "https://stomp.github.io/stomp-specification-1.2.html#ERROR";

macro_rules! fact {
    ($protocol:ident, $key:expr, $name:expr, $cause:expr, $meaning:expr, $fix:expr, $source:expr) => {
        ReasonFact {
            protocol: AppProtocol::$protocol,
            key: $key,
            name: $name,
            meaning: $meaning,
            cause: $cause,
            fix: $fix,
            source: $source,
            read: READ,
        }
    };
}

/// Every in-band reason wsdoctor can explain.
pub(crate) static REASONS: &[ReasonFact] = &[
    // MQTT 3.1.1 CONNACK return codes (Table 3.1).
    fact!(Mqtt, "connack 1", "Unacceptable protocol version", "protocol-error",
        "the broker does not speak the MQTT level the client asked for (a 3.1.1-only broker such as aedes refuses MQTT 5 this way)",
        "use the protocol version the broker supports (MQTT.js protocolVersion: 4 for 3.1.1)", MQTT311),
    fact!(Mqtt, "connack 2", "Identifier rejected", "policy-close",
        "the broker does not allow this client id (length, characters, or empty with clean session off)",
        "use a client id of at most 23 alphanumeric characters, or let the broker assign one", MQTT311),
    fact!(Mqtt, "connack 3", "Server unavailable", "server-error",
        "the WebSocket opened but the MQTT service behind it is not available", "look at the broker's health and logs", MQTT311),
    fact!(Mqtt, "connack 4", "Bad user name or password", "policy-close",
        "the broker refused the login: the user name or password in CONNECT (not the path: the WebSocket opened and the broker answered)",
        "send the user name and password the broker expects (wsdoctor: ws://USER@host/… with the password in WSDOCTOR_APP_PASSWORD; MQTT.js: username, password)", MQTT311),
    fact!(Mqtt, "connack 5", "Not authorized", "policy-close",
        "the broker refused the login: its authentication or ACL does not let this client connect (a broker with allow_anonymous false answers this to a CONNECT without a user name)",
        "send a login the broker accepts (wsdoctor: ws://USER@host/… with WSDOCTOR_APP_PASSWORD), or grant this client access in the broker's auth configuration", MQTT311),
    // MQTT 5.0 reason codes in CONNACK and DISCONNECT (§2.4, §3.14.2.1).
    fact!(Mqtt, "0x80", "Unspecified error", "server-error",
        "the broker gives no reason", "read the broker's logs at the time of the disconnect", MQTT5),
    fact!(Mqtt, "0x81", "Malformed Packet", "protocol-error",
        "the broker could not parse a packet from the client", "fix the client's packet encoding", MQTT5),
    fact!(Mqtt, "0x82", "Protocol Error", "protocol-error",
        "the client sent a packet out of order or with forbidden contents", "fix the client's use of the protocol", MQTT5),
    fact!(Mqtt, "0x84", "Unsupported Protocol Version", "protocol-error",
        "the broker does not speak the MQTT version asked for", "use a version the broker supports", MQTT5),
    fact!(Mqtt, "0x86", "Bad User Name or Password", "policy-close",
        "the broker refused the login: the user name or password in CONNECT (not the path: the WebSocket opened and the broker answered)",
        "send the user name and password the broker expects (wsdoctor: ws://USER@host/… with the password in WSDOCTOR_APP_PASSWORD; MQTT.js: username, password)", MQTT5),
    fact!(Mqtt, "0x87", "Not authorized", "policy-close",
        "the broker refused the login: its authentication or ACL does not let this client connect (a broker with allow_anonymous false answers this to a CONNECT without a user name)",
        "send a login the broker accepts (wsdoctor: ws://USER@host/… with WSDOCTOR_APP_PASSWORD), or grant this client access in the broker's auth configuration", MQTT5),
    fact!(Mqtt, "0x89", "Server busy", "load-limit",
        "the broker is overloaded and refuses or drops clients", "add broker capacity or slow the connection rate", MQTT5),
    fact!(Mqtt, "0x8B", "Server shutting down", "going-away",
        "the broker is shutting down", "reconnect (with back-off) to another broker instance", MQTT5),
    fact!(Mqtt, "0x8D", "Keep Alive timeout", "app-heartbeat-timeout",
        "the broker heard no packet from the client for 1.5 times the keep-alive: the client's PINGREQ did not arrive (a client problem, not the path)",
        "make sure the client sends PINGREQ every keepalive seconds (MQTT.js keepalive); a path that buffers or stalls upstream traffic can also delay it", MQTT5),
    fact!(Mqtt, "0x8E", "Session taken over", "server-close",
        "another connection with the same client id connected, and the broker dropped this one",
        "give every client (and every tab or process) its own client id; two clients sharing one take each other over in a loop", MQTT5),
    fact!(Mqtt, "0x95", "Packet too large", "policy-close",
        "a packet exceeded the broker's Maximum Packet Size", "send smaller messages or raise the broker's limit", MQTT5),
    fact!(Mqtt, "0x96", "Message rate too high", "load-limit",
        "the client published faster than the broker allows", "slow the client's publish rate or raise the broker's limit", MQTT5),
    fact!(Mqtt, "0x97", "Quota exceeded", "load-limit",
        "an implementation or administrative limit was exceeded", "raise the broker's quota or reduce the client's use", MQTT5),
    fact!(Mqtt, "0x98", "Administrative action", "server-close",
        "an operator or the broker's admin API closed the connection", "ask the broker's operators why", MQTT5),
    fact!(Mqtt, "0x9C", "Use another server", "going-away",
        "the broker sends the client elsewhere for now (Server Reference)", "connect to the server the Server Reference names", MQTT5),
    fact!(Mqtt, "0x9D", "Server moved", "going-away",
        "the broker sends the client elsewhere for good (Server Reference)", "point the client at the server the Server Reference names", MQTT5),
    fact!(Mqtt, "0x9F", "Connection rate exceeded", "load-limit",
        "clients connect faster than the broker allows", "add back-off and jitter to reconnects", MQTT5),
    fact!(Mqtt, "0xA0", "Maximum connect time", "max-lifetime",
        "the connection lived as long as the broker allows", "reconnect when it ends; raise the broker's maximum connect time if it is too short", MQTT5),
    // Action Cable disconnect reasons.
    fact!(ActionCable, "unauthorized", "unauthorized", "policy-close",
        "the application's Connection#connect called reject_unauthorized_connection; the server says reconnect: false",
        "send the cookie or token the application's ApplicationCable::Connection#connect checks", ACTION_CABLE),
    fact!(ActionCable, "invalid_request", "invalid_request", "upgrade-rejected",
        "the request was not a WebSocket upgrade Action Cable accepts, or its Origin is not in allowed_request_origins",
        "add the page's origin to config.action_cable.allowed_request_origins; check the proxy forwards Upgrade", ACTION_CABLE),
    fact!(ActionCable, "server_restart", "server_restart", "going-away",
        "the server is restarting (ActionCable.server.restart, e.g. on deploy); clients reconnect", "nothing, unless it happens outside deploys", ACTION_CABLE),
    fact!(ActionCable, "remote", "remote", "server-close",
        "the application disconnected this connection by its identifier (ActionCable.server.remote_connections.where(…).disconnect)",
        "look at the application code that calls remote_connections…disconnect", ACTION_CABLE),
    // Phoenix.
    fact!(Phoenix, "phx_error", "phx_error", "server-error",
        "the channel process on the server crashed; phoenix.js rejoins the channel", "read the server's logs for the channel's crash", PHOENIX_CHANNEL),
    fact!(Phoenix, "phx_close", "phx_close", "server-close",
        "the server closed the channel (its process stopped, or it left)", "look at the channel's terminate/leave in the application", PHOENIX_CHANNEL),
    fact!(Phoenix, "heartbeat timeout", "heartbeat timeout", "app-heartbeat-timeout",
        "phoenix.js closed the socket because its heartbeat was still unanswered at the next one (heartbeatIntervalMs, 30 s)",
        "find why the reply is late: a stalled server, or a path that buffers; heartbeatIntervalMs sets the wait", PHOENIX_JS),
    // SignalR.
    fact!(SignalR, "close with error", "Close message (type 7) with error", "server-error",
        "the server ended the connection because of an error it names (a hub method threw with EnableDetailedErrors, or the handshake failed)",
        "read the error and the server's logs; allowReconnect says whether the client may reconnect", SIGNALR_HUB),
    fact!(SignalR, "close", "Close message (type 7) without error", "server-close",
        "the server ended the connection on purpose (Context.Abort() or shutdown)", "look at the hub code that aborts the connection", SIGNALR_HUB),
    fact!(SignalR, "Server timeout elapsed without receiving a message from the server.", "ServerTimeout", "app-heartbeat-timeout",
        "the client heard nothing for serverTimeoutInMilliseconds (30 s); the server pings every KeepAliveInterval (15 s)",
        "keep ServerTimeout at least twice the server's KeepAliveInterval; check the path delivers the server's pings", SIGNALR_CONFIG),
    // Socket.IO.
    fact!(SocketIo, "connect_error", "CONNECT_ERROR packet (44)", "policy-close",
        "a middleware of the namespace (io.use / namespace.use) refused the connect, usually authentication; socket.io-client emits connect_error and does not reconnect on its own",
        "send what the server's middleware expects in the handshake's auth (io(url, { auth: { token } })); look at the middleware's next(new Error(...))", SOCKETIO_PROTOCOL),
    fact!(SocketIo, "io server disconnect", "DISCONNECT packet (41)", "server-close",
        "the server's application disconnected the socket (socket.disconnect() on the server: \"io server disconnect\"); socket.io-client does not reconnect on its own after it",
        "look in the server application for what calls socket.disconnect(), and call socket.connect() again in the client if it should come back", SOCKETIO_PROTOCOL),
    // subscriptions-transport-ws (graphql-ws subprotocol).
    fact!(GraphqlWs, "connection_error", "GQL_CONNECTION_ERROR", "upgrade-rejected",
        "the server's onConnect refused connection_init (it returned false or threw: usually authentication in connectionParams); the server then closes (1011)",
        "send the connectionParams the server's onConnect expects", SUBSCRIPTIONS_TRANSPORT_WS),
    // STOMP.
    fact!(Stomp, "ERROR to CONNECT", "ERROR frame instead of CONNECTED", "policy-close",
        "the broker refused the CONNECT frame, in practice its login and passcode (not the path: the WebSocket opened and the broker answered)",
        "send the login and passcode the broker expects (wsdoctor: ws://USER@host/… with the passcode in WSDOCTOR_APP_PASSWORD; stompjs: connectHeaders { login, passcode })", STOMP),
    fact!(Stomp, "ERROR", "ERROR frame", "protocol-error",
        "the broker rejected something the client sent (its message header says what); the standard says it then closes the connection (RabbitMQ 3.10 keeps it open)",
        "read the ERROR frame's message header and body; fix the frame or the credentials it names", STOMP),
];

/// The reasons matching `query`: a key (`0x8D`, `unauthorized`,
/// `phx_error`), optionally after a protocol id and a colon (`mqtt:0x8d`).
/// MQTT codes also match in decimal (`141`).
pub fn reason_facts(query: &str) -> Vec<&'static ReasonFact> {
    let query = query.trim();
    let (protocol, key) = match query.split_once(':') {
        Some((id, key)) if AppProtocol::from_id(id.trim()).is_some() => {
            (AppProtocol::from_id(id.trim()).map(facts_of), key.trim())
        }
        _ => (None, query),
    };
    let as_hex = key.parse::<u8>().ok().map(|n| format!("0x{n:02X}"));
    REASONS
        .iter()
        .filter(|fact| protocol.is_none_or(|p| p == fact.protocol))
        .filter(|fact| {
            fact.key.eq_ignore_ascii_case(key)
                || as_hex.as_deref().is_some_and(|hex| fact.key == hex)
        })
        .collect()
}

/// The documented reason behind a disconnect or error the spoken
/// protocol's client recorded (`said`: the event's text, as each protocol
/// module words it), so a finding can name its cause instead of a generic
/// server close. `None` when the protocol documents no reason for it.
pub fn said_fact(protocol: AppProtocol, said: &str) -> Option<&'static ReasonFact> {
    let protocol = facts_of(protocol);
    let key = |key: &str| {
        REASONS
            .iter()
            .find(|f| f.protocol == protocol && f.key.eq_ignore_ascii_case(key))
    };
    let first_word = said.split_whitespace().next().unwrap_or_default();
    match protocol {
        AppProtocol::Mqtt => {
            // "DISCONNECT 0x8D Keep Alive timeout: …", "CONNACK 0x05 …".
            let (packet, rest) = said.split_once(' ')?;
            let code = rest.split_whitespace().next()?;
            let n = u8::from_str_radix(code.strip_prefix("0x")?, 16).ok()?;
            match packet {
                "CONNACK" => key(&format!("connack {n}")).or_else(|| key(code)),
                "DISCONNECT" => key(code),
                _ => None,
            }
        }
        // `disconnect "unauthorized": …`
        AppProtocol::ActionCable => key(said.strip_prefix("disconnect \"")?.split('"').next()?),
        AppProtocol::Phoenix => key(first_word).or_else(|| {
            said.contains("heartbeat timeout")
                .then(|| key("heartbeat timeout"))
                .flatten()
        }),
        AppProtocol::SignalR if said.starts_with("close message (type 7) with error") => {
            key("close with error")
        }
        AppProtocol::SignalR if said.starts_with("close message (type 7) without error") => {
            key("close")
        }
        AppProtocol::Stomp if said.starts_with("ERROR frame in answer to CONNECT") => {
            key("ERROR to CONNECT")
        }
        AppProtocol::Stomp if said.starts_with("ERROR frame") => key("ERROR"),
        AppProtocol::SocketIo if said.contains("(44)") => key("connect_error"),
        AppProtocol::SocketIo if said.contains("(41)") || said.contains("packet 41") => {
            key("io server disconnect")
        }
        AppProtocol::GraphqlWs if said.starts_with("connection_error") => key("connection_error"),
        _ => None,
    }
}

/// The protocol whose facts `protocol` shares: MQTT 5 codes are listed
/// once, under MQTT (their keys tell 3.1.1's CONNACK codes from 5's).
fn facts_of(protocol: AppProtocol) -> AppProtocol {
    match protocol {
        AppProtocol::Mqtt5 => AppProtocol::Mqtt,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_each_protocol_said_maps_to_its_documented_reason() {
        use AppProtocol::*;
        // (protocol, the event text its module records, key, cause)
        let table = [
            (Mqtt, "DISCONNECT 0x8D Keep Alive timeout: the broker heard nothing", Some("0x8D"), "app-heartbeat-timeout"),
            (Mqtt, "DISCONNECT 0x8B Server shutting down: …", Some("0x8B"), "going-away"),
            (Mqtt, "DISCONNECT 0x89 Server busy: …; reason string: full", Some("0x89"), "load-limit"),
            (Mqtt, "CONNACK 0x05 Not authorized: …", Some("connack 5"), "policy-close"),
            (Mqtt, "DISCONNECT 0x42 (not a code the standard defines)", None, ""),
            (Mqtt5, "CONNACK 0x86 Bad User Name or Password: …", Some("0x86"), "policy-close"),
            (Mqtt5, "CONNACK 0x87 Not authorized: …", Some("0x87"), "policy-close"),
            (Mqtt5, "DISCONNECT 0x8D Keep Alive timeout: …", Some("0x8D"), "app-heartbeat-timeout"),
            (Mqtt5, "DISCONNECT 0x8B Server shutting down: …", Some("0x8B"), "going-away"),
            (Stomp, "ERROR frame in answer to CONNECT: CONNECTION ERROR", Some("ERROR to CONNECT"), "policy-close"),
            (ActionCable, "disconnect \"unauthorized\": the connection was rejected; reconnect: false (the client gives up)", Some("unauthorized"), "policy-close"),
            (ActionCable, "disconnect \"server_restart\": …", Some("server_restart"), "going-away"),
            (ActionCable, "disconnect \"made up\": not a reason Rails sends", None, ""),
            (Phoenix, "phx_error on room:1: the channel process crashed", Some("phx_error"), "server-error"),
            (Phoenix, "phx_close on room:1: the server closed the channel", Some("phx_close"), "server-close"),
            (SignalR, "close message (type 7) with error: Connection closed with an error.; allowReconnect: false", Some("close with error"), "server-error"),
            (SignalR, "close message (type 7) without error; allowReconnect: true", Some("close"), "server-close"),
            (Stomp, "ERROR frame: Bad CONNECT (Access refused)", Some("ERROR"), "protocol-error"),
            (SocketIo, "the server refused the namespace connect (44): Not authorized", Some("connect_error"), "policy-close"),
            (SocketIo, "io server disconnect: the server's application disconnected the socket (Socket.IO DISCONNECT packet 41)", Some("io server disconnect"), "server-close"),
            (GraphqlWs, "connection_error: {\"message\":\"no\"}", Some("connection_error"), "upgrade-rejected"),
            (GraphqlTransportWs, "anything", None, ""),
        ];
        for (protocol, said, key, cause) in table {
            let fact = said_fact(protocol, said);
            assert_eq!(fact.map(|f| f.key), key, "{protocol}: {said}");
            if let Some(fact) = fact {
                assert_eq!(fact.cause, cause, "{said}");
            }
        }
    }

    #[test]
    fn lookups_by_key_protocol_and_decimal() {
        assert_eq!(reason_facts("0x8d")[0].cause, "app-heartbeat-timeout");
        assert_eq!(reason_facts("mqtt:141")[0].name, "Keep Alive timeout");
        assert_eq!(reason_facts("mqtt5:0x87")[0].name, "Not authorized");
        assert_eq!(
            reason_facts("unauthorized")[0].protocol,
            AppProtocol::ActionCable
        );
        assert!(reason_facts("phoenix:unauthorized").is_empty());
        assert_eq!(reason_facts("phx_error")[0].cause, "server-error");
        assert!(reason_facts("nothing").is_empty());
    }

    #[test]
    fn every_reason_has_a_known_cause_a_source_and_a_date() {
        let contract = [
            "protocol-error",
            "policy-close",
            "server-error",
            "load-limit",
            "going-away",
            "app-heartbeat-timeout",
            "server-close",
            "max-lifetime",
            "upgrade-rejected",
        ];
        for fact in REASONS {
            assert!(contract.contains(&fact.cause), "{}", fact.key);
            assert!(fact.source.starts_with("https://"), "{}", fact.key);
            assert_eq!(fact.read.len(), 10);
        }
        // Every MQTT 5 code wsdoctor explains is one the standard defines.
        for fact in REASONS.iter().filter(|f| f.key.starts_with("0x")) {
            let code = u8::from_str_radix(&fact.key[2..], 16).unwrap_or_default();
            assert!(
                crate::mqtt::codec::describe(crate::mqtt::codec::Version::V5, code).is_some(),
                "{}",
                fact.key
            );
        }
    }
}
