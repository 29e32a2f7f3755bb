//! What a line parser hands to the aggregator: one entry, borrowed from the
//! line, never allocated.

use wsdoctor_evidence::logs::LogEventKind;

/// Whether an entry is a WebSocket upgrade request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Upgrade {
    /// The log says so (ALB `ws`/`wss`, nginx `$http_upgrade`, HAR, a 101).
    Yes,
    /// The log cannot say (nginx `combined`): it is one when its path is
    /// one that other entries show answered with 101.
    Maybe,
    /// Not an upgrade (plain HTTP, Socket.IO polling).
    No,
}

/// One access-log entry.
#[derive(Debug, Clone)]
pub(crate) struct Record<'a> {
    /// When the entry was written: for WebSockets, when the connection
    /// closed. Unix ms.
    pub(crate) end_ms: i64,
    /// When the request arrived, when the log says (Unix ms).
    pub(crate) start_ms: Option<i64>,
    /// How long the connection lasted, when the log says (a HAR file knows
    /// when a socket opened but not when it closed).
    pub(crate) lifetime_ms: Option<u64>,
    /// The zone of the entry's timestamp, when it has one (nginx
    /// `$time_local`), seconds east of UTC.
    pub(crate) utc_offset_s: Option<i64>,
    /// The status the client got; 0 when the log has none.
    pub(crate) status: u16,
    pub(crate) upgrade: Upgrade,
    /// A TCP-mode tunnel (HAProxy `tcplog`): an open connection without an
    /// HTTP status.
    pub(crate) tunnel: bool,
    /// Request path, query stripped.
    pub(crate) path: &'a [u8],
    /// Client address (port stripped) or other client identity.
    pub(crate) client: &'a [u8],
    /// The hop's end reason (HAProxy termination state, ALB `error_reason`).
    pub(crate) reason: Option<&'a [u8]>,
    /// What the backend answered, when logged separately.
    pub(crate) backend_status: Option<&'a [u8]>,
    /// Where the request went (ALB target, HAProxy backend/server).
    pub(crate) target: Option<&'a [u8]>,
}

impl<'a> Record<'a> {
    /// An entry with only the required parts; the parsers fill in the rest.
    pub(crate) fn new(end_ms: i64, status: u16, path: &'a [u8], client: &'a [u8]) -> Record<'a> {
        Record {
            end_ms,
            start_ms: None,
            lifetime_ms: None,
            utc_offset_s: None,
            status,
            upgrade: Upgrade::Maybe,
            tunnel: false,
            path,
            client,
            reason: None,
            backend_status: None,
            target: None,
        }
    }

    /// True when a WebSocket connection opened.
    pub(crate) fn opened(&self) -> bool {
        self.status == 101 || self.tunnel
    }
}

impl Parsed<'_> {
    /// Why the line's times are not dates a log was written at (before
    /// 1970, after 9999), if they are not.
    pub(crate) fn out_of_range(&self) -> Option<&'static str> {
        let ok = match self {
            Parsed::Record(r) => {
                crate::time::in_range_ms(r.end_ms)
                    && r.start_ms.is_none_or(crate::time::in_range_ms)
            }
            Parsed::Event { local_ms, .. } => crate::time::in_range_ms(*local_ms),
            Parsed::Skip => true,
        };
        (!ok).then_some("time is before 1970 or after 9999")
    }
}

/// What one line turned out to be.
#[derive(Debug)]
pub(crate) enum Parsed<'a> {
    /// An access-log entry.
    Record(Record<'a>),
    /// An error-log event; `local_ms` is wall-clock local time read as UTC
    /// (error logs carry no zone), `text` the message.
    Event {
        local_ms: i64,
        kind: LogEventKind,
        text: &'a [u8],
    },
    /// A valid line of no interest (plain HTTP entries, info messages).
    Skip,
}
