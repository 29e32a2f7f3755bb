//! Server-side pairing: when the target is a `wsdoctor serve` (its 101
//! carries `X-Wsdoctor-Instance`), ask it afterwards how it saw each of
//! the experiment's connections end, so the report can say which side of
//! the proxies in between closed.
//!
//! Every connection of the experiment carries an `X-Wsdoctor-Conn-Id`
//! header; serve files connections by it and answers `GET
//! …/v1/connections/ID` with a [`ServerView`]. The question goes through the
//! same path as the WebSockets (same host, port, TLS settings and extra
//! headers), as one plain HTTP/1.1 request per connection. Nothing here can
//! fail the run: every problem becomes a line of [`Pairing::problems`].

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use wsdoctor_evidence::idle::{IdleSample, Pairing, ServerView};
use wsdoctor_evidence::{escape_peer, HeartbeatSettings, PongPolicy, Role};

use crate::conn::{self, BoxedStream, ConnectOptions, HttpVersion};

/// The request header that tags a connection (serve reads it).
pub const CONN_ID_HEADER: &str = "X-Wsdoctor-Conn-Id";
/// The response header by which serve makes itself known.
pub const INSTANCE_HEADER: &str = "X-Wsdoctor-Instance";
/// Largest answer read; a connection view is a few hundred bytes.
const MAX_ANSWER: usize = 64 * 1024;
/// Budget for all the questions together, however many connections.
const BUDGET: Duration = Duration::from_secs(3);
/// How often an answer of "still open" is asked again: the server may
/// still be finishing the connection the client already saw end.
const STILL_OPEN_RETRIES: u32 = 3;
const RETRY_PAUSE: Duration = Duration::from_millis(150);
/// Questions in flight at once: up to 250 connections (5 arms × 50
/// samples) must not turn into a burst of 250 new connections on the path.
const CONCURRENT_QUESTIONS: usize = 8;

/// A fresh id for one experiment; connections append `-ARM-N`.
pub(crate) fn run_id() -> String {
    format!("{:016x}", fastrand::u64(..))
}

/// The serve instance named by the first handshake that names one.
pub(crate) fn serve_instance(samples: &[IdleSample]) -> Option<String> {
    samples.iter().find_map(|s| {
        let handshake = s.connection.handshake.as_ref()?;
        handshake
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(INSTANCE_HEADER))
            .map(|h| escape_peer(&h.value))
    })
}

/// The path of the question for `id`, next to the WebSocket's own path so
/// that a proxy routing only that prefix to serve routes this too (serve
/// finds `/v1/connections/` anywhere in the path).
pub(crate) fn view_path(ws_path: &str, id: &str) -> String {
    let base = ws_path.split('?').next().unwrap_or_default();
    format!("{}/v1/connections/{id}", base.trim_end_matches('/'))
}

/// Asks for the server's view of every tagged sample that opened and fills
/// `sample.server`. Returns what happened, for the evidence.
pub(crate) async fn pair(
    connect: &ConnectOptions,
    instance: String,
    samples: &mut [IdleSample],
) -> Pairing {
    let mut tasks = tokio::task::JoinSet::new();
    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(CONCURRENT_QUESTIONS));
    for (index, sample) in samples.iter().enumerate() {
        let Some(id) = sample
            .conn_id
            .clone()
            .filter(|_| sample.connection.opened())
        else {
            continue;
        };
        let connect = connect.clone();
        let permits = std::sync::Arc::clone(&permits);
        tasks.spawn(async move {
            // The semaphore is never closed, so acquiring only waits.
            let _permit = permits.acquire_owned().await;
            (index, fetch_with_retries(&connect, &id).await)
        });
    }
    let asked = u32::try_from(tasks.len()).unwrap_or(u32::MAX);
    let mut answered = 0u32;
    let mut problems: Vec<String> = Vec::new();
    let deadline = tokio::time::Instant::now() + BUDGET;
    loop {
        match tokio::time::timeout_at(deadline, tasks.join_next()).await {
            Ok(Some(Ok((index, result)))) => match result {
                Ok(view) => {
                    answered += 1;
                    if let Some(sample) = samples.get_mut(index) {
                        sample.server = Some(view);
                    }
                }
                Err(problem) if !problems.contains(&problem) => problems.push(problem),
                Err(_) => {}
            },
            // A task that panicked is one unanswered question.
            Ok(Some(Err(_))) => {}
            Ok(None) => break,
            Err(_) => {
                problems.push(format!(
                    "no complete answer within {} s; the rest were not waited for",
                    BUDGET.as_secs()
                ));
                tasks.abort_all();
                break;
            }
        }
    }
    Pairing {
        instance,
        asked,
        answered,
        problems,
    }
}

async fn fetch_with_retries(connect: &ConnectOptions, id: &str) -> Result<ServerView, String> {
    let mut attempt = 0;
    loop {
        let view = fetch(connect, id).await?;
        if view.end.is_some() || attempt >= STILL_OPEN_RETRIES {
            return Ok(view);
        }
        attempt += 1;
        tokio::time::sleep(RETRY_PAUSE).await;
    }
}

/// One question over a fresh connection: `GET …/v1/connections/ID`.
async fn fetch(connect: &ConnectOptions, id: &str) -> Result<ServerView, String> {
    let mut options = connect.clone();
    // A plain HTTP/1.1 request, whatever the WebSockets were asked over.
    options.http = HttpVersion::Http1;
    let origin = Instant::now();
    let heartbeat = HeartbeatSettings {
        ping_interval_ms: None,
        pong_timeout_ms: 0,
        pong_policy: PongPolicy::Answer,
    };
    // The dial and TLS steps record into a connection record; this one is
    // not kept: a failure is read from the step's error.
    let mut scratch = conn::new_record(&options.target, Role::Client, heartbeat);
    let failed = |error: conn::OpenError| {
        format!(
            "could not connect for the question: {}",
            wsdoctor_evidence::ConnectionEnd::from(error).describe()
        )
    };
    let tcp = conn::dial::dial(&options, origin, &mut scratch)
        .await
        .map_err(failed)?;
    let deadline = tokio::time::Instant::now() + options.handshake_timeout.min(BUDGET);
    let mut stream: BoxedStream = if options.target.secure {
        let tls = conn::tls::wrap(tcp, &options, deadline, origin, &mut scratch)
            .await
            .map_err(failed)?;
        Box::new(tls)
    } else {
        Box::new(tcp)
    };
    let path = view_path(options.target.url.path(), id);
    let mut request = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: wsdoctor/{}\r\nAccept: application/json\r\nConnection: close\r\n",
        options.target.host_header,
        env!("CARGO_PKG_VERSION")
    );
    // The user's headers (credentials a proxy may ask for) go along, as on
    // the WebSockets themselves; CR and LF were refused when they were read.
    for (name, value) in &options.headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let exchange = async {
        stream.write_all(request.as_bytes()).await?;
        stream.flush().await?;
        let mut answer = Vec::with_capacity(1024);
        // Bounded by MAX_ANSWER: reading stops there whatever the server sends.
        let mut chunk = [0u8; 4096];
        while answer.len() < MAX_ANSWER {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&chunk[..n]);
        }
        Ok::<_, std::io::Error>(answer)
    };
    let answer = match tokio::time::timeout_at(deadline, exchange).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(e)) => return Err(format!("the question failed: {e}")),
        Err(_) => return Err("no answer to the question in time".to_owned()),
    };
    let (status, body) = parse_answer(&answer)?;
    match status {
        200 => ServerView::from_json(&body),
        404 => Err(
            "the server does not know the connection (a different instance answered, or its ledger forgot it)"
                .to_owned(),
        ),
        other => Err(format!("GET {} answered HTTP {other}", view_path("", "ID"))),
    }
}

/// Status and body of a complete HTTP/1.1 answer read to its end (the
/// request said `Connection: close`): `Content-Length`, chunked, or
/// everything after the head.
pub(crate) fn parse_answer(bytes: &[u8]) -> Result<(u16, Vec<u8>), String> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(bytes) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            return Err("the answer ended before its head was complete".to_owned())
        }
        Err(e) => return Err(format!("the answer is not HTTP: {e}")),
    };
    let status = response.code.unwrap_or(0);
    let header = |name: &str| {
        response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).trim().to_ascii_lowercase())
    };
    let rest = bytes.get(head_len..).unwrap_or_default();
    if header("transfer-encoding").is_some_and(|te| te.contains("chunked")) {
        return dechunk(rest).map(|body| (status, body));
    }
    let body = match header("content-length").and_then(|l| l.parse::<usize>().ok()) {
        Some(len) if len <= rest.len() => rest[..len].to_vec(),
        Some(_) => return Err("the answer ended before its body was complete".to_owned()),
        None => rest.to_vec(),
    };
    Ok((status, body))
}

/// Joins a chunked body (RFC 9112 §7.1); trailers are ignored.
fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    let broken = || "the chunked answer is broken".to_owned();
    // Each turn consumes at least the size line, so the loop ends.
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(broken)?;
        let line = std::str::from_utf8(&rest[..line_end]).map_err(|_| broken())?;
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| broken())?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        if rest.len() < size + 2 {
            return Err(broken());
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_in_each_framing() {
        let plain = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n{}{}extra";
        assert_eq!(parse_answer(plain).unwrap(), (200, b"{}{}".to_vec()));
        let chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4;x=y\r\n\":1}\r\n0\r\n\r\n";
        assert_eq!(parse_answer(chunked).unwrap(), (200, b"{\"a\":1}".to_vec()));
        let to_eof = b"HTTP/1.0 404 Not Found\r\n\r\ngone";
        assert_eq!(parse_answer(to_eof).unwrap(), (404, b"gone".to_vec()));
        assert!(parse_answer(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort").is_err());
        assert!(
            parse_answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").is_err()
        );
        assert!(parse_answer(b"SSH-2.0-OpenSSH\r\n").is_err());
        assert!(parse_answer(b"HTTP/1.1 200 OK\r\n").is_err());
    }

    #[test]
    fn the_question_sits_next_to_the_websocket_path() {
        assert_eq!(view_path("/", "x"), "/v1/connections/x");
        assert_eq!(view_path("", "x"), "/v1/connections/x");
        assert_eq!(view_path("/app/ws/", "x"), "/app/ws/v1/connections/x");
    }
}
