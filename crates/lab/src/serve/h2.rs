//! `serve` over HTTP/2: extended CONNECT (RFC 8441) opens a WebSocket on
//! one stream, which then runs the same evidence session as an HTTP/1.1
//! connection.
//!
//! Only HTTP/2 goes to hyper here: the HTTP/1.1 path stays the lab's own
//! hand-written handshake, since its faults (a broken 101, a reset mid-frame)
//! need the raw socket. That is why this is hyper's HTTP/2 builder and not
//! hyper-util's auto builder, which would take HTTP/1.1 over too.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use http::{Method, Request as HttpRequest, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::ext::Protocol;
use hyper::service::service_fn;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;
use wsdoctor_evidence::{DeflateParams, Header};

use super::connection::run_session;
use super::driver::Ending;
use super::exchange::{greeting, Exchange};
use super::{ServeShared, HANDSHAKE_TIMEOUT};
use crate::config::{Answer, Plan};
use crate::conn::Conn;
use crate::server_fault::Fault;
use crate::server_handshake::{self, Query, Request};

/// The client connection preface of RFC 9113 §3.4.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Streams one client may have open at once (bounds memory per connection).
const MAX_STREAMS: u32 = 100;

/// True when the client starts with the HTTP/2 preface (h2c prior
/// knowledge). Peeks, so an HTTP/1.1 request stays unread for the lab's own
/// handshake.
pub(super) async fn prior_knowledge(tcp: &TcpStream) -> bool {
    let deadline = tokio::time::Instant::now() + HANDSHAKE_TIMEOUT;
    let mut buf = [0u8; PREFACE.len()];
    loop {
        let Ok(Ok(n)) = tokio::time::timeout_at(deadline, tcp.peek(&mut buf)).await else {
            return false;
        };
        if n == 0 || buf[..n] != PREFACE[..n] {
            return false;
        }
        if n == PREFACE.len() {
            return true;
        }
        // A partial preface: peek returns at once until more arrives.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Serves one HTTP/2 connection until the client leaves or the server shuts
/// down.
pub(super) async fn serve(conn: Conn, peer: SocketAddr, shared: Arc<ServeShared>) {
    let for_service = Arc::clone(&shared);
    let service = service_fn(move |request| handle(request, peer, Arc::clone(&for_service)));
    let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    builder
        .enable_connect_protocol()
        .max_concurrent_streams(MAX_STREAMS);
    let connection = builder.serve_connection(TokioIo::new(conn), service);
    let mut connection = std::pin::pin!(connection);
    let mut shutdown = shared.shutdown.clone();
    let stopping = async move {
        // Only the outcome matters; the guard must not live across an await.
        let _ = shutdown.wait_for(|stopping| *stopping).await.map(|_| ());
    };
    tokio::select! {
        _ = connection.as_mut() => {}
        () = stopping => {
            // GOAWAY; the WebSocket streams close themselves with 1001.
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

type Answered = Result<Response<Full<Bytes>>, io::Error>;

fn plain(status: StatusCode, text: String, instance: &str) -> Answered {
    let mut response = Response::new(Full::new(Bytes::from(text)));
    *response.status_mut() = status;
    add_ident(&mut response, instance);
    Ok(response)
}

fn add_ident(response: &mut Response<Full<Bytes>>, instance: &str) {
    let headers = response.headers_mut();
    headers.insert(
        http::header::SERVER,
        http::HeaderValue::from_static(server_handshake::DEFAULT_SERVER),
    );
    if let Ok(value) = http::HeaderValue::from_str(instance) {
        headers.insert("x-wsdoctor-instance", value);
    }
}

/// `h2-fault=` values of the query, joined like `fault=`.
fn h2_fault_param(target: &str) -> Option<String> {
    let (_, query) = target.split_once('?')?;
    let query = query.split('#').next().unwrap_or_default();
    let values: Vec<String> = url::form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k == "h2-fault")
        .map(|(_, v)| v.into_owned())
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}

/// One HTTP/2 request: an extended CONNECT for a WebSocket, `/whoami`, or
/// a refusal.
async fn handle(
    mut req: HttpRequest<Incoming>,
    peer: SocketAddr,
    shared: Arc<ServeShared>,
) -> Answered {
    let origin = Instant::now();
    let started_at = SystemTime::now();
    let instance = shared.lab.instance.clone();
    let (request, protocol) = request_of(&req);
    let is_websocket = req.method() == Method::CONNECT
        && protocol
            .as_deref()
            .is_some_and(|p| p.eq_ignore_ascii_case("websocket"));
    if !is_websocket {
        return answer_plain_http(req.method(), &request, peer, &instance);
    }

    let query = Query::parse(&request.target);
    let plan = match plan_of(&request.target, &query, &shared) {
        Ok(plan) => plan,
        Err(why) => return plain(StatusCode::BAD_REQUEST, why, &instance),
    };
    match plan.answer {
        Answer::Upgrade => {}
        Answer::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
            return plain(
                status,
                format!("wsdoctor serve: answering {code} to the extended CONNECT (fault)\n"),
                &instance,
            );
        }
        // No HTTP/1.0 or non-HTTP answer exists inside an HTTP/2 stream:
        // the nearest is to reset it.
        Answer::Http10 | Answer::NotHttp => {
            return Err(io::Error::other("stream reset by fault"));
        }
        // Never answer: the stream waits until the client gives up.
        Answer::Hang => return std::future::pending().await,
    }
    let version = req
        .headers()
        .get("sec-websocket-version")
        .and_then(|v| v.to_str().ok());
    if version != Some("13") {
        let mut response = plain(
            StatusCode::BAD_REQUEST,
            "wsdoctor serve: Sec-WebSocket-Version must be 13\n".to_owned(),
            &instance,
        )?;
        response.headers_mut().insert(
            "sec-websocket-version",
            http::HeaderValue::from_static("13"),
        );
        return Ok(response);
    }
    let on_upgrade = hyper::upgrade::on(&mut req);
    let mut response = Response::new(Full::new(Bytes::new()));
    add_ident(&mut response, &instance);
    let deflate = super::exchange::deflate_answer(&request, &shared);
    if let Some(value) = deflate.and_then(|p| http::HeaderValue::from_str(&p.header_value()).ok()) {
        response
            .headers_mut()
            .insert("sec-websocket-extensions", value);
    }
    let accepted = AcceptedStream {
        request,
        query,
        plan,
        peer,
        origin,
        started_at,
        answer_headers: headers_of(&response),
        deflate,
    };
    tokio::spawn(run_upgraded(on_upgrade, accepted, shared));
    Ok(response)
}

/// The request as the lab's handshake types see it, and its `:protocol`.
/// The pseudo-headers come first, so the greeting shows what arrived.
fn request_of(req: &HttpRequest<Incoming>) -> (Request, Option<String>) {
    let target = req
        .uri()
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
    let protocol = req
        .extensions()
        .get::<Protocol>()
        .map(|p| p.as_str().to_owned());
    let mut headers = Vec::new();
    if let Some(authority) = req.uri().authority() {
        headers.push((":authority".to_owned(), authority.as_str().to_owned()));
    }
    if let Some(p) = &protocol {
        headers.push((":protocol".to_owned(), p.clone()));
    }
    headers.extend(req.headers().iter().map(|(n, v)| {
        (
            n.as_str().to_owned(),
            String::from_utf8_lossy(v.as_bytes()).into_owned(),
        )
    }));
    let request = Request {
        method: req.method().to_string(),
        target,
        headers,
    };
    (request, protocol)
}

/// A request that is no WebSocket: `GET /whoami` gets the greeting, anything
/// else a 400.
fn answer_plain_http(
    method: &Method,
    request: &Request,
    peer: SocketAddr,
    instance: &str,
) -> Answered {
    let path = request.target.split('?').next().unwrap_or_default();
    if method == Method::GET && path == "/whoami" {
        let body = greeting(request, peer, instance);
        let mut response = Response::new(Full::new(Bytes::from(body)));
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        add_ident(&mut response, instance);
        return Ok(response);
    }
    plain(
        StatusCode::BAD_REQUEST,
        "wsdoctor serve: expected a WebSocket (CONNECT with :protocol websocket, RFC 8441)\n"
            .to_owned(),
        instance,
    )
}

/// The plan of the stream from the `h2-fault=` and `fault=` of the query
/// (else the server's own), or why a fault list does not parse.
fn plan_of(target: &str, query: &Query, shared: &ServeShared) -> Result<Plan, String> {
    let h2_faults = match h2_fault_param(target) {
        Some(text) => Fault::parse_list(&text),
        None => Ok(shared.config.h2_faults.clone()),
    };
    let faults = match &query.fault {
        Some(text) => Fault::parse_list(text),
        None => Ok(shared.lab.faults.clone()),
    };
    let (h2_faults, faults) = match (h2_faults, faults) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return Err(format!("{e}\n")),
    };
    // HTTP/2-only faults first: the first fault of a kind wins.
    Ok(Plan::from_faults(&[h2_faults, faults].concat()))
}

/// The answer's headers as the evidence records them.
fn headers_of(response: &Response<Full<Bytes>>) -> Vec<Header> {
    response
        .headers()
        .iter()
        .map(|(n, v)| Header {
            name: n.as_str().to_owned(),
            value: String::from_utf8_lossy(v.as_bytes()).into_owned(),
        })
        .collect()
}

/// An extended CONNECT answered 200: what its WebSocket session needs once
/// hyper hands the stream over.
struct AcceptedStream {
    request: Request,
    query: Query,
    plan: Plan,
    peer: SocketAddr,
    origin: Instant,
    started_at: SystemTime,
    answer_headers: Vec<Header>,
    deflate: Option<DeflateParams>,
}

/// Runs the WebSocket session on the upgraded stream, then ends the stream
/// the way the session ended.
async fn run_upgraded(on_upgrade: OnUpgrade, accepted: AcceptedStream, shared: Arc<ServeShared>) {
    let Ok(upgraded) = on_upgrade.await else {
        return;
    };
    let mut stream = TokioIo::new(upgraded);
    let exchange = Exchange {
        request: &accepted.request,
        query: &accepted.query,
        plan: &accepted.plan,
        peer: accepted.peer,
        origin: accepted.origin,
        started_at: accepted.started_at,
        http_version: "HTTP/2",
        status: 200,
        reason: "",
        headers: accepted.answer_headers,
        deflate: accepted.deflate,
    };
    match run_session(&mut stream, BytesMut::new(), &exchange, &shared).await {
        // END_STREAM: the HTTP/2 form of a FIN.
        Ending::Fin => {
            let _ = stream.shutdown().await;
        }
        // Dropped unfinished, the stream is reset (RST_STREAM).
        Ending::Reset => drop(stream),
    }
}

#[cfg(test)]
mod tests {
    use super::h2_fault_param;

    #[test]
    fn reads_h2_fault_params() {
        assert_eq!(h2_fault_param("/ws"), None);
        assert_eq!(
            h2_fault_param("/ws?h2-fault=status:501&fault=ping:1s"),
            Some("status:501".to_owned())
        );
        assert_eq!(
            h2_fault_param("/ws?h2-fault=status:400&h2-fault=rst:1s"),
            Some("status:400,rst:1s".to_owned())
        );
    }
}
