//! The application protocols that run on top of WebSocket: Socket.IO,
//! GraphQL over WebSocket, and (added one module each) SignalR, Phoenix,
//! Action Cable, STOMP, MQTT.
//!
//! Sans-IO like the WebSocket session it sits in: messages in, messages
//! out, `now` passed in, timers through [`AppSession::poll_timeout`] and
//! [`AppSession::handle_timeout`] (quinn-proto style), so every protocol
//! deadline is tested on a simulated clock.
//!
//! Adding a protocol is one module with a [`Spec`], one [`AppProtocol`]
//! variant, and one arm in [`AppProtocol::spec`]: detection, the open
//! plan, the constructor and the close-code table all read the spec.

pub mod actioncable;
mod codes;
mod data;
mod detect;
mod graphql_transport_ws;
mod graphql_ws;
pub mod listen;
pub mod mqtt;
pub mod phoenix;
mod protocol;
mod reasons;
mod session;
pub mod signalr;
mod socketio;
pub mod stomp;

use std::fmt;
use std::str::FromStr;

pub use codes::{close_code_facts, CloseCodeFact};
pub use detect::{plan, AppPlan, PlanError};
pub use protocol::{Ctx, Login, Outgoing, Protocol, StartContext, PASSWORD_ENV};
pub use reasons::{reason_facts, said_fact, ReasonFact};
pub use session::AppSession;

/// An application protocol wsdoctor knows by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AppProtocol {
    /// Socket.IO over Engine.IO v4 (`EIO=4`) or v3 (`EIO=3`).
    SocketIo,
    /// GraphQL over WebSocket, subprotocol `graphql-transport-ws` (the
    /// `graphql-ws` library).
    GraphqlTransportWs,
    /// The legacy subprotocol `graphql-ws` of subscriptions-transport-ws.
    GraphqlWs,
    /// ASP.NET Core SignalR, JSON hub protocol.
    SignalR,
    /// Phoenix Channels.
    Phoenix,
    /// Rails Action Cable.
    ActionCable,
    /// STOMP 1.2.
    Stomp,
    /// MQTT 3.1.1 over WebSocket (MQTT.js's default).
    Mqtt,
    /// MQTT 5.0 over WebSocket (`--app mqtt5`; never guessed by `auto`,
    /// which speaks 3.1.1 as MQTT.js does).
    Mqtt5,
}

impl AppProtocol {
    /// Every protocol, in the order detection tries them.
    pub const ALL: [AppProtocol; 9] = [
        AppProtocol::SocketIo,
        AppProtocol::GraphqlTransportWs,
        AppProtocol::GraphqlWs,
        AppProtocol::SignalR,
        AppProtocol::Phoenix,
        AppProtocol::ActionCable,
        AppProtocol::Stomp,
        AppProtocol::Mqtt,
        // After Mqtt: same path and subprotocol, so detection picks 3.1.1.
        AppProtocol::Mqtt5,
    ];

    /// The id used by `--app` and in `measured.app_protocol`.
    pub fn id(self) -> &'static str {
        match self {
            AppProtocol::SocketIo => "socketio",
            AppProtocol::GraphqlTransportWs => "graphql-transport-ws",
            AppProtocol::GraphqlWs => "graphql-ws",
            AppProtocol::SignalR => "signalr",
            AppProtocol::Phoenix => "phoenix",
            AppProtocol::ActionCable => "actioncable",
            AppProtocol::Stomp => "stomp",
            AppProtocol::Mqtt => "mqtt",
            AppProtocol::Mqtt5 => "mqtt5",
        }
    }

    /// The protocol's specification; `None` while wsdoctor cannot speak it
    /// yet.
    pub fn spec(self) -> Option<&'static Spec> {
        match self {
            AppProtocol::SocketIo => Some(&socketio::SPEC),
            AppProtocol::GraphqlTransportWs => Some(&graphql_transport_ws::SPEC),
            AppProtocol::GraphqlWs => Some(&graphql_ws::SPEC),
            AppProtocol::SignalR => Some(&signalr::SPEC),
            AppProtocol::Phoenix => Some(&phoenix::SPEC),
            AppProtocol::ActionCable => Some(&actioncable::SPEC),
            AppProtocol::Stomp => Some(&stomp::SPEC),
            AppProtocol::Mqtt => Some(&mqtt::SPEC),
            AppProtocol::Mqtt5 => Some(&mqtt::SPEC_V5),
        }
    }

    /// The protocol with this id.
    pub fn from_id(id: &str) -> Option<AppProtocol> {
        AppProtocol::ALL.into_iter().find(|p| p.id() == id)
    }
}

impl fmt::Display for AppProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// What `--app` asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AppChoice {
    /// Decide from the URL path, the subprotocol and the server's first
    /// message (the default).
    #[default]
    Auto,
    /// Never speak an application protocol (only recognise one, to explain
    /// what the server did).
    Raw,
    /// Speak this protocol.
    Use(AppProtocol),
}

impl fmt::Display for AppChoice {
    /// As `--app` takes it back (`auto`, `raw`, `socketio`, …).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppChoice::Auto => f.write_str("auto"),
            AppChoice::Raw => f.write_str("raw"),
            AppChoice::Use(p) => f.write_str(p.id()),
        }
    }
}

/// `--app` got a value it does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown application protocol '{0}'; use auto, raw, socketio, graphql-transport-ws, graphql-ws, signalr, phoenix, actioncable, stomp, mqtt or mqtt5")]
pub struct UnknownApp(pub String);

impl FromStr for AppChoice {
    type Err = UnknownApp;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(AppChoice::Auto),
            "raw" | "none" => Ok(AppChoice::Raw),
            "socket.io" => Ok(AppChoice::Use(AppProtocol::SocketIo)),
            other => AppProtocol::from_id(other)
                .map(AppChoice::Use)
                .ok_or_else(|| UnknownApp(s.to_owned())),
        }
    }
}

/// What one protocol is, for detection, opening and explaining. Each
/// protocol module has one, as a `static`.
#[derive(Debug)]
pub struct Spec {
    /// Which protocol.
    pub protocol: AppProtocol,
    /// Its name for people (`Socket.IO`).
    pub title: &'static str,
    /// Path fragments that name it (`/socket.io/`).
    pub path_markers: &'static [&'static str],
    /// Subprotocols it runs under, in the order its real client offers
    /// them; all are offered when the protocol is chosen and the user
    /// offered none of them.
    pub subprotocols: &'static [&'static str],
    /// True when the server's first text message is this protocol's
    /// greeting.
    pub sniff: fn(&str) -> bool,
    /// Changes the URL as the real client does (Socket.IO adds
    /// `EIO=4&transport=websocket`).
    pub prepare_url: fn(&mut url::Url),
    /// A fresh client for one connection.
    pub start: fn(&StartContext) -> Box<dyn Protocol>,
    /// Close codes the protocol documents.
    pub close_codes: &'static [CloseCodeFact],
}
