//! What a browser saw: the probe page that `wsdoctor serve` hands out runs
//! WebSockets in the user's real browser, through their real path, and
//! posts what the browser reports back (`POST …/v1/browser`).
//!
//! Browsers hide control frames and report most failures as 1006, so the
//! page records only what the WebSocket API shows (open, message, close
//! code, reason, `wasClean`) plus what only a page knows (tab visibility,
//! the HTTP version the page came over). The server adds its own view of
//! each connection from its ledger (the page tags every connection with
//! `conn-id`), which is what tells "the server sent 1001 and a hop swallowed
//! it" from "the server never closed".
//!
//! Everything in a [`BrowserEvidence`] except `server` views came from the
//! page, so it is peer-controlled: bounded when read, escaped when shown.

use serde::{Deserialize, Serialize};

use crate::idle::ServerView;

/// Longest report body the server reads, in bytes.
pub const MAX_REPORT_BYTES: usize = 256 * 1024;
/// Most connections one report may list; more are a misbehaving page.
pub const MAX_CONNECTIONS: usize = 200;
/// Most visibility changes kept.
pub const MAX_VISIBILITY_CHANGES: usize = 200;
/// Longest string field kept (user agent, reasons, URLs).
pub const MAX_TEXT: usize = 512;

/// What each of the page's WebSockets is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BrowserArm {
    /// Opens and stays silent (the server sends nothing either): finds idle
    /// timers in the path.
    Idle,
    /// Sends an application message every `heartbeat_ms`, as apps do since
    /// browsers cannot send pings.
    Heartbeat,
}

impl BrowserArm {
    /// The arm's name in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            BrowserArm::Idle => "idle",
            BrowserArm::Heartbeat => "heartbeat",
        }
    }
}

/// The page's settings, from its own URL.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrowserSettings {
    /// Interval of the heartbeat arm's messages, ms.
    pub heartbeat_ms: u64,
    /// Wait before reopening a dropped arm, ms.
    pub reconnect_ms: u64,
    /// Drops per arm after which the arm stops.
    pub drops: u32,
    /// Longest the page runs, ms.
    pub max_ms: u64,
}

/// One WebSocket the page opened, as the browser reported it. Times are ms
/// since the page started (`performance.now()` at start).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrowserConnection {
    /// Which arm.
    pub arm: BrowserArm,
    /// 1 for the arm's first connection, then one more per reconnect.
    pub attempt: u32,
    /// The tag the page put in `conn-id=`, for the server's ledger.
    pub conn_id: String,
    /// When `new WebSocket()` was called.
    pub started_ms: u64,
    /// When `open` fired; `None` if it never did.
    pub opened_ms: Option<u64>,
    /// When `close` fired; `None` while open.
    pub closed_ms: Option<u64>,
    /// `CloseEvent.code` (1006 when no close frame arrived).
    pub code: Option<u16>,
    /// `CloseEvent.reason`.
    #[serde(default)]
    pub reason: String,
    /// `CloseEvent.wasClean`.
    pub was_clean: Option<bool>,
    /// The page closed it itself (the run ended).
    #[serde(default)]
    pub closed_by_page: bool,
    /// Messages received.
    #[serde(default)]
    pub messages: u64,
    /// When the last message arrived.
    pub last_message_ms: Option<u64>,
    /// How long the tab had been hidden when it closed (0: visible).
    #[serde(default)]
    pub hidden_for_ms: u64,
    /// The server's view of this connection from its ledger, added by the
    /// server (whatever the page sent here is discarded).
    #[serde(default)]
    pub server: Option<ServerView>,
}

impl BrowserConnection {
    /// How long it was open when it closed, ms.
    pub fn lived_ms(&self) -> Option<u64> {
        Some(self.closed_ms?.saturating_sub(self.opened_ms?))
    }

    /// It opened and then ended without the page asking.
    pub fn dropped(&self) -> bool {
        self.opened_ms.is_some() && self.closed_ms.is_some() && !self.closed_by_page
    }
}

/// The tab went to the background or came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisibilityChange {
    /// ms since the page started.
    pub at_ms: u64,
    /// Hidden after the change.
    pub hidden: bool,
}

/// One probe page's report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrowserEvidence {
    /// A random id per page load, so later reports replace earlier ones.
    pub session: String,
    /// The page's URL as the browser saw it (query secrets redacted).
    pub page_url: String,
    /// The WebSocket URL the arms used, without per-connection parameters.
    pub websocket_url: String,
    /// `navigator.userAgent`.
    #[serde(default)]
    pub user_agent: String,
    /// The protocol the page itself came over (`nextHopProtocol`: `h2`,
    /// `http/1.1`, `h3`), if the browser says.
    pub page_protocol: Option<String>,
    /// The page's settings.
    pub settings: BrowserSettings,
    /// ms the page had run when it sent this report.
    pub ran_ms: u64,
    /// The page finished (every arm stopped, or `max_ms` passed).
    #[serde(default)]
    pub finished: bool,
    /// Every WebSocket, in the order opened.
    pub connections: Vec<BrowserConnection>,
    /// Tab visibility changes, in order.
    #[serde(default)]
    pub visibility: Vec<VisibilityChange>,
    /// Set by the server: every connection of this page could be looked
    /// up in its ledger. False when several `serve` processes share the
    /// port (the report reached one, the WebSockets others), so a missing
    /// `server` view then says nothing.
    #[serde(default)]
    pub server_views_complete: bool,
}

/// Why a report body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserReportError(pub String);

impl std::fmt::Display for BrowserReportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BrowserReportError {}

fn cut(text: &mut String) {
    if text.len() > MAX_TEXT {
        let mut end = MAX_TEXT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
}

impl BrowserEvidence {
    /// Reads a page's report: bounded in size and count, strings cut, URLs
    /// redacted, any server view the page claimed dropped.
    pub fn from_page(body: &[u8]) -> Result<BrowserEvidence, BrowserReportError> {
        if body.len() > MAX_REPORT_BYTES {
            return Err(BrowserReportError(format!(
                "report of {} bytes is over the {MAX_REPORT_BYTES}-byte limit",
                body.len()
            )));
        }
        let mut e: BrowserEvidence = serde_json::from_slice(body).map_err(|err| {
            BrowserReportError(crate::escape_peer(&format!("not a browser report: {err}")))
        })?;
        if e.connections.len() > MAX_CONNECTIONS {
            return Err(BrowserReportError(format!(
                "{} connections in one report (at most {MAX_CONNECTIONS})",
                e.connections.len()
            )));
        }
        e.visibility.truncate(MAX_VISIBILITY_CHANGES);
        for text in [
            &mut e.session,
            &mut e.page_url,
            &mut e.websocket_url,
            &mut e.user_agent,
        ] {
            cut(text);
        }
        e.page_url = crate::redact_url(&e.page_url);
        e.websocket_url = crate::redact_url(&e.websocket_url);
        if let Some(p) = &mut e.page_protocol {
            cut(p);
        }
        for c in &mut e.connections {
            cut(&mut c.reason);
            cut(&mut c.conn_id);
            c.server = None;
        }
        e.server_views_complete = false;
        Ok(e)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn page(connections: &str) -> String {
        format!(
            r#"{{"session":"s1","page_url":"https://app.example.com/?token=abc","websocket_url":"wss://app.example.com/","page_protocol":"h2","settings":{{"heartbeat_ms":500,"reconnect_ms":1000,"drops":2,"max_ms":20000}},"ran_ms":5000,"connections":[{connections}],"visibility":[{{"at_ms":100,"hidden":true}},{{"at_ms":900,"hidden":false}},{{"at_ms":2000,"hidden":true}}]}}"#
        )
    }

    #[test]
    fn a_page_report_is_read_bounded_and_redacted() {
        let conn = r#"{"arm":"idle","attempt":1,"conn_id":"b-1","started_ms":10,"opened_ms":20,"closed_ms":2020,"code":1006,"reason":"","was_clean":false,"server":{"id":"forged","instance":"x","end":null,"frames_received":0,"frames_sent":0,"last_received_us":null,"last_sent_us":null}}"#;
        let e = BrowserEvidence::from_page(page(conn).as_bytes()).unwrap();
        assert!(!e.page_url.contains("abc"), "{}", e.page_url);
        assert_eq!(
            e.connections[0].server, None,
            "the page cannot claim the server's view"
        );
        assert_eq!(e.connections[0].lived_ms(), Some(2000));
        assert!(e.connections[0].dropped());
    }

    #[test]
    fn hostile_reports_are_refused_with_a_reason() {
        let huge = vec![b' '; MAX_REPORT_BYTES + 1];
        assert!(BrowserEvidence::from_page(&huge)
            .unwrap_err()
            .0
            .contains("limit"));
        assert!(BrowserEvidence::from_page(b"{\"session\":1}").is_err());
        let many = vec![r#"{"arm":"idle","attempt":1,"conn_id":"b","started_ms":0,"opened_ms":null,"closed_ms":null,"code":null,"was_clean":null}"#; MAX_CONNECTIONS + 1].join(",");
        assert!(BrowserEvidence::from_page(page(&many).as_bytes())
            .unwrap_err()
            .0
            .contains("connections"));
        let long = format!(
            r#"{{"arm":"idle","attempt":1,"conn_id":"b","started_ms":0,"opened_ms":null,"closed_ms":null,"code":null,"was_clean":null,"reason":"{}"}}"#,
            "é".repeat(MAX_TEXT)
        );
        let e = BrowserEvidence::from_page(page(&long).as_bytes()).unwrap();
        assert!(e.connections[0].reason.len() <= MAX_TEXT);
    }
}
