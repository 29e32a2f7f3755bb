//! The instrumented WebSocket connection: the base of every active check.
//!
//! Opening a connection is split by phase so each can be timed and each
//! failure classified on its own: [`target`] (what to dial), [`dial`] (DNS
//! and TCP), [`tls`], [`handshake`] (our own HTTP/1.1 upgrade, which keeps
//! the exact response, headers and body — no WebSocket library keeps a
//! failed answer). Once open, [`session`] is the sans-IO state machine of
//! frames, pings, pongs and the close handshake (time is an argument), and
//! [`driver`] is the thin tokio loop that feeds it bytes and timer ticks.
//!
//! With [`HttpVersion::Http2`] the upgrade is RFC 8441 instead ([`h2`]):
//! ALPN `h2` for `wss://` (falling back to the HTTP/1.1 upgrade on the same
//! connection when the server picks `http/1.1`, as a browser does), prior
//! knowledge for `ws://`; the same session then runs over the HTTP/2 stream.

pub mod app;
pub mod deflate;
pub mod dial;
pub mod driver;
pub mod h2;
pub mod handshake;
mod header_line;
pub mod hold;
mod negotiate;
mod open_error;
pub mod proxy;
pub mod route;
pub mod session;
pub mod target;
pub mod tls;
pub mod tls_keys;
mod tls_setup_error;
mod tls_verify;

use std::time::{Duration, Instant, SystemTime};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite};
use wsdoctor_evidence::{
    ConnectionEnd, ConnectionRecord, EndRecord, HeartbeatSettings, PhaseTimings, PongPolicy, Role,
};

pub use header_line::{HeaderLine, HeaderLineError};
pub use open_error::OpenError;
pub use proxy::{ForwardProxy, ProxyError};
pub use route::{Route, RouteError};
pub use target::{Target, TargetError};
pub use tls::{TlsOptions, TlsSetupError};
pub use wsdoctor_wire::micros_since;

/// A byte stream we can run WebSocket over: TCP or TLS over TCP.
pub trait AsyncStream: AsyncRead + AsyncWrite + Unpin + Send {
    /// The socket itself when the stream is plain TCP, so a driver can read
    /// on readiness into a shared buffer instead of holding one per
    /// connection (see [`driver::ReadSource`]).
    fn plain_tcp(&self) -> Option<&tokio::net::TcpStream>;
    /// For taking a plain TCP stream back out of the box
    /// ([`hold::HoldPool`] holds plain sockets without tokio).
    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any + Send>;
}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> AsyncStream for T {
    fn plain_tcp(&self) -> Option<&tokio::net::TcpStream> {
        (self as &dyn std::any::Any).downcast_ref()
    }
    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any + Send> {
        self
    }
}

/// A boxed [`AsyncStream`].
pub type BoxedStream = Box<dyn AsyncStream>;

/// Which HTTP the WebSocket is asked for over.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HttpVersion {
    /// The HTTP/1.1 upgrade (RFC 6455 §4), what command-line clients do.
    #[default]
    Http1,
    /// HTTP/2 extended CONNECT (RFC 8441), what browsers do when the server
    /// offers it: ALPN `h2, http/1.1` for `wss://` (the HTTP/1.1 upgrade if
    /// the server picks `http/1.1`), prior knowledge (h2c) for `ws://`.
    Http2,
}

/// How to open a connection. Built and validated by the caller (the CLI turns
/// its flags into this).
///
/// # Defaults
/// `connect_timeout` 10 s, `handshake_timeout` 10 s, no extra headers, no
/// origin, no subprotocol, TLS verified against the system's roots, the
/// HTTP/1.1 upgrade, no forward proxy, no extension offered, no pinned route.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// What to connect to.
    pub target: Target,
    /// Extra request headers, as given (`-H 'Name: value'`).
    pub headers: Vec<(String, String)>,
    /// The `Origin` header, if any.
    pub origin: Option<String>,
    /// Subprotocols to offer, in order.
    pub subprotocols: Vec<String>,
    /// Budget for DNS plus TCP connect.
    pub connect_timeout: Duration,
    /// Budget for TLS plus the HTTP upgrade exchange.
    pub handshake_timeout: Duration,
    /// TLS settings for `wss://`.
    pub tls: TlsOptions,
    /// The local address to connect from (spreads many connections over
    /// several source addresses, past one address's ephemeral ports).
    pub bind_ip: Option<std::net::IpAddr>,
    /// Which HTTP to ask for the WebSocket over.
    pub http: HttpVersion,
    /// The forward proxy to tunnel through (HTTP CONNECT or SOCKS5). The
    /// library never reads the environment; the caller decides
    /// ([`proxy::from_env`] reads it as curl does).
    pub proxy: Option<ForwardProxy>,
    /// Offer permessage-deflate (RFC 7692, [`deflate::OFFER`]).
    pub deflate: bool,
    /// Pinned addresses and hosts (`--resolve`, `--connect-to`, `-4`/`-6`);
    /// SNI and `Host` stay the target's.
    pub route: Route,
    /// The application protocol to speak on top ([`app::prepare`] sets it
    /// and has already changed the URL and subprotocols for it); `None`
    /// for bare WebSocket.
    pub app: Option<wsdoctor_app::AppPlan>,
}

impl ConnectOptions {
    /// Options with the documented defaults for `target`.
    pub fn new(target: Target) -> Self {
        ConnectOptions {
            target,
            headers: Vec::new(),
            origin: None,
            subprotocols: Vec::new(),
            connect_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            tls: TlsOptions::default(),
            bind_ip: None,
            http: HttpVersion::Http1,
            proxy: None,
            deflate: false,
            route: Route::default(),
            app: None,
        }
    }
}

/// An open WebSocket connection, ready for a [`session::Session`].
pub struct OpenConnection {
    /// The stream after the 101.
    pub stream: BoxedStream,
    /// Bytes that arrived right after the 101 (the first frames).
    pub leftover: BytesMut,
    /// When the 101 was received.
    pub opened_at: Instant,
    /// permessage-deflate, when it was negotiated: hand it to
    /// [`session::Session::use_deflate`].
    pub deflate: Option<wsdoctor_evidence::DeflateParams>,
}

impl std::fmt::Debug for OpenConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenConnection")
            .field("leftover", &self.leftover.len())
            .finish_non_exhaustive()
    }
}

/// A fresh record for an attempt starting now.
pub fn new_record(target: &Target, role: Role, heartbeat: HeartbeatSettings) -> ConnectionRecord {
    ConnectionRecord {
        target: target.redacted(),
        started_at: humantime_rfc3339(SystemTime::now()),
        role,
        resolved: Vec::new(),
        peer_addr: None,
        phases: PhaseTimings::default(),
        tls: None,
        handshake: None,
        heartbeat,
        events: Vec::new(),
        events_omitted: 0,
        end: None,
        http2_offered: false,
        extended_connect: None,
        forward_proxy: None,
        deflate: None,
        app: None,
    }
}

fn humantime_rfc3339(t: SystemTime) -> String {
    // Seconds precision is what people read; phase timings carry the µs.
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    rfc3339_from_unix(secs)
}

/// Formats Unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (UTC).
pub fn rfc3339_from_unix(secs: u64) -> String {
    wsdoctor_evidence::logs::format_utc(
        i64::try_from(secs)
            .unwrap_or(i64::MAX / 1000)
            .saturating_mul(1000),
    )
}

/// Sets the record's end for a failure before the WebSocket opened: the one
/// place an [`OpenError`] becomes the record's end.
fn end_before_open(record: &mut ConnectionRecord, origin: Instant, error: OpenError) {
    record.end = Some(EndRecord {
        end: ConnectionEnd::from(error),
        at_us: micros_since(origin, Instant::now()),
        open_for_us: None,
        since_last_inbound_us: None,
        since_last_pong_us: None,
        since_last_outbound_us: None,
    });
}

/// TCP (through the forward proxy, if any), then TLS for `wss://` offering
/// HTTP/1.1 only: the stream for a plain HTTP exchange beside the WebSocket
/// (SignalR's negotiate, the hop fingerprint), dialled exactly as the
/// WebSocket is. What the steps note goes to a scratch record: the
/// WebSocket's own record is not this exchange's.
pub(crate) async fn open_http1_stream(
    options: &ConnectOptions,
    origin: Instant,
) -> Result<BoxedStream, OpenError> {
    let mut scratch = new_record(
        &options.target,
        Role::Client,
        HeartbeatSettings {
            ping_interval_ms: None,
            pong_timeout_ms: 0,
            pong_policy: PongPolicy::Answer,
        },
    );
    let tcp = dial::dial(options, origin, &mut scratch).await?;
    if !options.target.secure {
        return Ok(Box::new(tcp));
    }
    let mut http1 = options.clone();
    http1.http = HttpVersion::Http1;
    let deadline = tokio::time::Instant::now() + options.handshake_timeout;
    Ok(Box::new(
        tls::wrap(tcp, &http1, deadline, origin, &mut scratch).await?,
    ))
}

/// Opens a WebSocket connection phase by phase, recording timings, TLS and
/// the handshake into `record`. Returns `None` when the attempt failed; the
/// record's `end` then says how.
pub async fn open(
    options: &ConnectOptions,
    origin: Instant,
    record: &mut ConnectionRecord,
) -> Option<OpenConnection> {
    match try_open(options, origin, record).await {
        Ok(open) => Some(open),
        Err(error) => {
            end_before_open(record, origin, error);
            None
        }
    }
}

/// The steps of [`open`], each returning why it failed; the record gets the
/// timings, TLS and handshake but not the end.
async fn try_open(
    options: &ConnectOptions,
    origin: Instant,
    record: &mut ConnectionRecord,
) -> Result<OpenConnection, OpenError> {
    // SignalR: its negotiate POST first, as its client does (hook: conn/negotiate.rs).
    let negotiated = negotiate::signalr(options, origin, record).await;
    let options = negotiated.as_ref().unwrap_or(options);
    record.http2_offered = options.http == HttpVersion::Http2;
    let tcp = dial::dial(options, origin, record).await?;
    // TLS and the HTTP exchange share one budget that starts once TCP is up.
    let deadline = tokio::time::Instant::now() + options.handshake_timeout;
    let (stream, speak_h2): (BoxedStream, bool) = if options.target.secure {
        let tls = tls::wrap(tcp, options, deadline, origin, record).await?;
        // The server's ALPN choice decides, as in a browser.
        let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
        (Box::new(tls), h2)
    } else {
        (Box::new(tcp), options.http == HttpVersion::Http2)
    };
    if speak_h2 {
        h2::open(stream, options, deadline, origin, record).await
    } else {
        handshake::upgrade(stream, options, deadline, origin, record).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::rfc3339_from_unix;

    #[test]
    fn formats_unix_seconds() {
        assert_eq!(rfc3339_from_unix(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_from_unix(1_795_662_976), "2026-11-26T03:16:16Z");
        assert_eq!(rfc3339_from_unix(951_782_400), "2000-02-29T00:00:00Z");
    }
}
