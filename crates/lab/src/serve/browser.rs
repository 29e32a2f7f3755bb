//! The browser probe: `GET /` (any path ending in `/`) hands out a page
//! that runs WebSockets in the user's browser through their real path and
//! posts what the browser saw to `…/v1/browser`; the report, with the
//! server's own view of each connection from the ledger, goes to
//! [`super::DiagServer::take_browser_reports`]. The diagnosis happens in
//! the caller: serve only carries evidence.

use std::time::Duration;

use bytes::BytesMut;
use tokio::io::AsyncReadExt;
use wsdoctor_evidence::browser::{BrowserEvidence, MAX_REPORT_BYTES};

use super::ServeShared;
use crate::answer::{self, Ident};
use crate::conn::Conn;
use crate::server_handshake::{answer_and_close, Request};

/// Reports waiting for the caller; more are dropped (a page re-sends its
/// whole state, so a dropped one only delays the findings).
pub(crate) const REPORT_BUFFER: usize = 64;
/// Where pages post their reports, anywhere in the path (so a proxy that
/// routes only a prefix to serve passes them too).
pub(crate) const REPORT_PATH: &str = "/v1/browser";
/// Budget for a report body to arrive after its head.
const BODY_TIMEOUT: Duration = Duration::from_secs(5);

/// The page, embedded at build time: no file to ship, nothing fetched.
const PAGE: &str = include_str!("browser_page.html");

/// A plain GET for a directory-like path asks for the page.
pub(crate) fn wants_page(request: &Request, path: &str, is_upgrade: bool) -> bool {
    !is_upgrade && request.method == "GET" && path.ends_with('/')
}

/// A POST of a report.
pub(crate) fn is_report(request: &Request, path: &str) -> bool {
    request.method == "POST" && path.ends_with(REPORT_PATH)
}

/// Answers with the probe page.
pub(crate) async fn page(conn: Conn, ident: Ident<'_>) {
    answer_and_close(conn, &answer::html_page(PAGE, ident)).await;
}

/// Reads a posted report, files the server's views into it, hands it on,
/// and answers 204 (or a 4xx saying what was wrong).
pub(crate) async fn receive(
    mut conn: Conn,
    request: &Request,
    mut body: BytesMut,
    shared: &ServeShared,
    ident: Ident<'_>,
) {
    let length = request
        .header("content-length")
        .and_then(|v| v.trim().parse::<usize>().ok());
    let Some(length) = length else {
        let bytes = answer::status(411, ident);
        return answer_and_close(conn, &bytes).await;
    };
    if length > MAX_REPORT_BYTES {
        let bytes = answer::status(413, ident);
        return answer_and_close(conn, &bytes).await;
    }
    let read = tokio::time::timeout(BODY_TIMEOUT, async {
        while body.len() < length {
            body.reserve(length - body.len());
            if conn.read_buf(&mut body).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        }
        Ok::<(), std::io::Error>(())
    })
    .await;
    if !matches!(read, Ok(Ok(()))) {
        return;
    }
    body.truncate(length);
    let mut report = match BrowserEvidence::from_page(&body) {
        Ok(report) => report,
        Err(e) => {
            let bytes = answer::bad_request(&e.to_string(), ident);
            return answer_and_close(conn, &bytes).await;
        }
    };
    for connection in &mut report.connections {
        connection.server = shared.ledger.get(&connection.conn_id);
    }
    // With the port shared between processes the page's WebSockets may
    // have landed on another process, whose ledger this one cannot read.
    report.server_views_complete = !shared.config.reuse_port;
    if let Some(tx) = &shared.browser {
        let _ = tx.try_send(report);
    }
    answer_and_close(conn, &answer::no_content(ident)).await;
}
