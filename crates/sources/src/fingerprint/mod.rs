//! The active hop fingerprint: a small fixed set of harmless requests
//! ([`requests::Request::ALL`], four, one connection each, one at a time,
//! each with a short timeout) to the target's host and port, over the same
//! path as the WebSocket (the same forward proxy, TLS for `wss://`), so the
//! first hop that parses HTTP answers in its own words. The answers are
//! recorded as they came; `wsdoctor-diagnosis` matches them against the
//! knowledge base's signatures.

pub mod requests;

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use wsdoctor_evidence::{HopProbeExchange, HopProbeRecord};

use crate::conn::{self, BoxedStream, ConnectOptions, HttpVersion};
use requests::{AnswerError, Request, MAX_ANSWER_BYTES};

/// Budget of one request: connect, TLS, send and the answer together.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// Sends every request of the fingerprint to `options.target`, one after
/// the other, each within `per_request` (connect included). Never fails:
/// a request that got no answer says why in its exchange.
pub async fn run(options: &ConnectOptions, per_request: Duration) -> HopProbeRecord {
    let target = &options.target;
    // The plain HTTP/1.1 path the upgrade takes: ALPN http/1.1 only.
    let mut options = options.clone();
    options.http = HttpVersion::Http1;
    options.connect_timeout = options.connect_timeout.min(per_request);
    options.handshake_timeout = per_request;
    let path = target.url.path().to_owned();
    let mut exchanges = Vec::with_capacity(Request::ALL.len());
    for request in Request::ALL {
        exchanges.push(exchange(&options, request, &path, per_request).await);
    }
    HopProbeRecord {
        to: if target.host.contains(':') {
            format!("[{}]:{}", target.host, target.port)
        } else {
            format!("{}:{}", target.host, target.port)
        },
        tls: target.secure,
        exchanges,
    }
}

async fn exchange(
    options: &ConnectOptions,
    request: Request,
    path: &str,
    budget: Duration,
) -> HopProbeExchange {
    let started = Instant::now();
    let result = tokio::time::timeout(budget, send_and_read(options, request, path)).await;
    let elapsed_us = conn::micros_since(started, Instant::now());
    let mut record = HopProbeExchange {
        probe: request.name().to_owned(),
        sent: request.described(path),
        status: None,
        reason: String::new(),
        headers: Vec::new(),
        body: String::new(),
        error: None,
        elapsed_us,
    };
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(_) => Err(format!("no whole answer within {} ms", budget.as_millis())),
    };
    match outcome {
        Ok(answer) => {
            record.status = Some(answer.status);
            record.reason = answer.reason;
            record.headers = answer.headers;
            record.body = answer.body;
        }
        Err(error) => record.error = Some(error),
    }
    record
}

/// Opens a connection the way the WebSocket does, sends one request and
/// reads the answer until the peer closes, `Content-Length` is met, or
/// [`MAX_ANSWER_BYTES`] arrived.
async fn send_and_read(
    options: &ConnectOptions,
    request: Request,
    path: &str,
) -> Result<requests::Answer, String> {
    let mut stream = connect(options).await?;
    stream
        .write_all(&request.bytes(path, &options.target.host_header))
        .await
        .map_err(|e| format!("sending failed: {e}"))?;
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk).await {
            Ok(0) => break,
            Ok(n) => {
                bytes.extend_from_slice(chunk.get(..n).unwrap_or_default());
                if bytes.len() >= MAX_ANSWER_BYTES || requests::complete(&bytes) {
                    break;
                }
            }
            // A reset after a whole head still leaves an answer to read.
            Err(e) if bytes.is_empty() => return Err(format!("reading failed: {e}")),
            Err(_) => break,
        }
    }
    bytes.truncate(MAX_ANSWER_BYTES);
    match requests::parse(&bytes) {
        Ok(answer) => Ok(answer),
        Err(AnswerError::Incomplete) if bytes.is_empty() => {
            Err("the connection was closed without an answer".to_owned())
        }
        Err(e) => Err(e.to_string()),
    }
}

/// The stream for one request, dialled as the WebSocket is.
async fn connect(options: &ConnectOptions) -> Result<BoxedStream, String> {
    conn::open_http1_stream(options, Instant::now())
        .await
        .map_err(|error| wsdoctor_evidence::ConnectionEnd::from(error).describe())
}
