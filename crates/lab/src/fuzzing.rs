//! Entry points for the fuzz targets (`fuzz/` and `crates/fuzz-targets`):
//! the lab's hand-written parsers, reachable from outside without making
//! their modules public. Not an API: nothing here is stable.

use std::net::SocketAddr;

use bytes::BytesMut;

use crate::answer::{self, Ident};
use crate::config::{Answer, Plan};
use crate::frames::{Inbound, Incoming};
use crate::server_fault::Fault;
use crate::server_handshake::{self, Head, Query};

pub use crate::proxy::fuzzing::{proxy_faults, proxy_head, pump, HeadOutcome};

/// What the lab (and `serve`, which reads heads the same way) would send
/// back for one request head.
#[derive(Debug)]
pub enum RequestOutcome {
    /// The head is not complete yet: the server reads on.
    Partial,
    /// The head was answered without reading further: the head's length and
    /// the answer's bytes.
    Answered {
        /// Bytes of `buf` the head took.
        head_len: usize,
        /// What the server writes (a 101 head, an error, a fault's answer).
        answer: Vec<u8>,
        /// The `greet` JSON message, for heads that became a request.
        greeting: Option<String>,
    },
}

/// Parses a request head the way the lab and `serve` do and builds the
/// answer their faults, `Query` and upgrade check lead to.
pub fn request_head(buf: &[u8]) -> RequestOutcome {
    let Some((head, head_len)) = server_handshake::parse_head(buf) else {
        return RequestOutcome::Partial;
    };
    let fallback = Ident {
        server: server_handshake::DEFAULT_SERVER,
        instance: "lab",
    };
    let request = match head {
        Head::Complete(request, _) => request,
        Head::TooLarge => {
            return RequestOutcome::Answered {
                head_len,
                answer: answer::too_large(fallback),
                greeting: None,
            }
        }
        Head::Malformed(why) => {
            return RequestOutcome::Answered {
                head_len,
                answer: answer::bad_request(&format!("malformed request: {why}"), fallback),
                greeting: None,
            }
        }
    };
    let query = Query::parse(&request.target);
    let server = server_handshake::header_safe(query.server.as_deref().unwrap_or("lab"));
    let ident = Ident {
        server: &server,
        instance: "lab",
    };
    let greeting = Some(server_handshake::greeting(
        &request,
        SocketAddr::from(([127, 0, 0, 1], 1)),
        "lab",
    ));
    let faults = match query.fault.as_deref().map(Fault::parse_list) {
        Some(Ok(faults)) => faults,
        None => Vec::new(),
        Some(Err(e)) => {
            return RequestOutcome::Answered {
                head_len,
                answer: answer::bad_request(&e.to_string(), ident),
                greeting,
            }
        }
    };
    let plan = Plan::from_faults(&faults);
    let answer = match plan.answer {
        Answer::NotHttp => answer::NOT_HTTP.to_vec(),
        Answer::Hang => Vec::new(),
        Answer::Status(code) => answer::status(code, ident),
        Answer::Http10 => answer::http10(ident),
        Answer::Upgrade => match server_handshake::check_upgrade(&request) {
            Ok(key) => {
                server_handshake::switching_protocols(&request, key, &plan, ident).into_bytes()
            }
            Err(bad) => bad.answer(ident),
        },
    };
    RequestOutcome::Answered {
        head_len,
        answer,
        greeting,
    }
}

/// Parses a `fault=` list and folds it into a plan (`Debug` text), as a
/// request's query does.
pub fn fault_list(text: &str) -> Result<String, String> {
    let faults = Fault::parse_list(text).map_err(|e| e.to_string())?;
    Ok(format!("{:?}", Plan::from_faults(&faults)))
}

/// What the lab's server-side frame reader made of the client's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FramesOutcome {
    /// Complete items, in order (`Debug` text of each).
    pub items: Vec<String>,
    /// Lengths of the complete data messages.
    pub message_lens: Vec<usize>,
    /// The close code and reason the server would fail the connection with.
    pub violation: Option<(u16, &'static str)>,
}

/// Feeds `chunks` to the lab's frame reader (as reads from one client),
/// stopping at the first protocol violation as the server does.
pub fn frames(chunks: &[&[u8]]) -> FramesOutcome {
    let mut inbound = Inbound::default();
    let mut outcome = FramesOutcome {
        items: Vec::new(),
        message_lens: Vec::new(),
        violation: None,
    };
    for chunk in chunks {
        let mut buf = BytesMut::from(*chunk);
        let mut out = Vec::new();
        let fed = inbound.feed(&mut buf, &mut out);
        for item in out {
            if let Incoming::Message { data, .. } = &item {
                outcome.message_lens.push(data.len());
            }
            outcome.items.push(format!("{item:?}"));
        }
        if let Err(v) = fed {
            outcome.violation = Some((v.code, v.why));
            break;
        }
    }
    outcome
}

/// The lab's largest reassembled message.
pub const MAX_MESSAGE: usize = crate::frames::MAX_MESSAGE;
