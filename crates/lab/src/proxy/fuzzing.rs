//! The fault proxy's head reader and frame pump, for the fuzz targets
//! (re-exported by `crate::fuzzing`). Not an API.

use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, ReadBuf};

use super::head::{self, HeadRead, Kind};
use super::plan::ProxyPlan;
use super::proxy_fault::ProxyFault;
use super::pump::{Pump, Rules};

/// What reading one head from a peer gave, and the rewrites of it.
#[derive(Debug)]
pub enum HeadOutcome {
    /// A complete head.
    Complete {
        /// The head's bytes as they arrived.
        head: Vec<u8>,
        /// Status code (responses).
        status: u16,
        /// `Content-Length` (requests).
        content_length: Option<u64>,
        /// Bytes read after the head.
        rest: usize,
        /// The head with `Via` added, the request rewritten as nginx does
        /// without upgrade forwarding, and the `Server` value replaced.
        rewritten: [Vec<u8>; 3],
    },
    /// Over the size or header-count limit.
    TooLarge,
    /// Not HTTP/1.x.
    Malformed,
    /// The bytes ended first.
    Closed,
    /// The reader asked to wait although every read is ready: a bug.
    Stuck,
}

/// A reader that hands out `chunks` one read at a time, then EOF.
struct Chunks<'a> {
    chunks: &'a [&'a [u8]],
    next: usize,
    offset: usize,
}

impl AsyncRead for Chunks<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        while let Some(chunk) = self.chunks.get(self.next) {
            let left = chunk.get(self.offset..).unwrap_or_default();
            if left.is_empty() {
                self.next += 1;
                self.offset = 0;
                continue;
            }
            let n = left.len().min(buf.remaining());
            buf.put_slice(&left[..n]);
            self.offset += n;
            break;
        }
        Poll::Ready(Ok(()))
    }
}

/// Reads one head (a request when `request`, else a response) from
/// `chunks`, as the proxy reads it from a socket, then applies the
/// rewrites the proxy's faults make.
pub fn proxy_head(request: bool, chunks: &[&[u8]]) -> HeadOutcome {
    let kind = if request {
        Kind::Request
    } else {
        Kind::Response
    };
    let mut reader = Chunks {
        chunks,
        next: 0,
        offset: 0,
    };
    let read = head::read(&mut reader, kind);
    let mut read = std::pin::pin!(read);
    // The reader is always ready, so one poll runs the read to its end.
    let mut cx = Context::from_waker(Waker::noop());
    let Poll::Ready(result) = read.as_mut().poll(&mut cx) else {
        return HeadOutcome::Stuck;
    };
    match result {
        HeadRead::Complete(h) => HeadOutcome::Complete {
            rewritten: [
                head::add_via(&h.bytes),
                head::strip_upgrade(&h.bytes),
                head::replace_server(&h.bytes, head::NGINX),
            ],
            head: h.bytes,
            status: h.status,
            content_length: h.content_length,
            rest: h.rest.len(),
        },
        HeadRead::TooLarge => HeadOutcome::TooLarge,
        HeadRead::Malformed => HeadOutcome::Malformed,
        HeadRead::Closed => HeadOutcome::Closed,
    }
}

/// Passes `chunks` through one direction of the relay under the rules in
/// `rules` (bit 0 drop pongs, 1 swallow close, 2 stall data, 3 discard
/// all), injecting `inject` after chunk `inject_at`; returns what is
/// forwarded.
pub fn pump(
    websocket: bool,
    rules: u8,
    chunks: &[&[u8]],
    inject: Option<(usize, &[u8])>,
) -> Vec<u8> {
    let mut pump = Pump::new(websocket);
    pump.rules = Rules {
        drop_pongs: rules & 1 != 0,
        swallow_close: rules & 2 != 0,
        stall_data: rules & 4 != 0,
        discard_all: rules & 8 != 0,
    };
    let mut out = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        let _ = pump.feed(chunk, &mut out);
        if let Some((_, bytes)) = inject.filter(|(at, _)| *at == i) {
            pump.inject(bytes.to_vec(), &mut out);
        }
    }
    out
}

/// Parses a proxy `--fault` list (or a preset name) and folds it into the
/// proxy's plan (`Debug` text).
pub fn proxy_faults(text: &str, time_scale: f64) -> Result<String, String> {
    let faults = match ProxyFault::preset(text, time_scale) {
        Some(faults) => faults,
        None => ProxyFault::parse_list(text).map_err(|e| e.to_string())?,
    };
    let plan = ProxyPlan::from_faults(&faults);
    Ok(format!(
        "{plan:?} answer timeout {:?}",
        plan.answer_timeout()
    ))
}
