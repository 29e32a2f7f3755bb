//! The lab's and `serve`'s hand-written HTTP/1.1 and WebSocket readers, and
//! the fault lists people (and query strings) hand them.

use arbitrary::Unstructured;
use wsdoctor_lab::fuzzing::{self, HeadOutcome, RequestOutcome};

use crate::{chunked, split_control};

/// The head part of an answer: every line is CRLF-terminated, the head ends
/// at the first blank line, and no line was injected through a value (no
/// bare CR or LF, every header line has a name and a colon).
fn assert_clean_head(answer: &[u8]) {
    // `not-http` answers an SSH banner, `hang` nothing: not HTTP heads.
    if !answer.starts_with(b"HTTP/") {
        return;
    }
    let end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("answer without the end of its head: {answer:?}"));
    let head = String::from_utf8_lossy(&answer[..end]);
    for (i, line) in head.split("\r\n").enumerate() {
        assert!(
            !line.contains(['\r', '\n']),
            "bare CR or LF in the answer head: {head:?}"
        );
        if i > 0 {
            let name = line.split_once(':').map(|(name, _)| name);
            assert!(
                matches!(name, Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_graphic())),
                "header line {line:?} is not `Name: value` in {head:?}"
            );
        }
    }
}

/// A request head as the lab and `serve` read it; the answer must be a
/// clean HTTP head whatever the request's query and headers carried, and
/// the `greet` message valid JSON.
pub(crate) fn request_head(data: &[u8]) {
    match fuzzing::request_head(data) {
        RequestOutcome::Partial => {}
        RequestOutcome::Answered {
            head_len,
            answer,
            greeting,
        } => {
            assert!(head_len <= data.len());
            assert_clean_head(&answer);
            if let Some(g) = greeting {
                serde_json::from_str::<serde_json::Value>(&g)
                    .unwrap_or_else(|e| panic!("greeting is not JSON ({e}): {g}"));
            }
        }
    }
}

/// Client frames into the lab's reader: any chunking reads the same items
/// and the same violation as one read, and no message passes the cap.
pub(crate) fn frames(data: &[u8]) {
    let (control, payload) = split_control(data, 16);
    let mut u = Unstructured::new(control);
    let chunks = chunked(&mut u, payload);
    let whole = fuzzing::frames(&[payload]);
    let split = fuzzing::frames(&chunks);
    assert_eq!(whole, split, "the chunking changed what was read");
    assert!(whole
        .message_lens
        .iter()
        .all(|n| *n <= fuzzing::MAX_MESSAGE));
}

/// A head through the fault proxy's reader, in chunks; the rewrites of a
/// complete head stay parsable and the nginx-style rewrite drops the
/// upgrade.
pub(crate) fn proxy_head(data: &[u8]) {
    let (control, payload) = split_control(data, 16);
    let mut u = Unstructured::new(control);
    let request = u.arbitrary::<bool>().unwrap_or(true);
    let chunks = chunked(&mut u, payload);
    let outcome = fuzzing::proxy_head(request, &chunks);
    match outcome {
        HeadOutcome::Stuck => panic!("the head reader waited on a ready reader"),
        HeadOutcome::Complete {
            head, rewritten, ..
        } => {
            assert!(head.len() <= 16 * 1024 + 4, "head of {} bytes", head.len());
            let [via, stripped, server] = rewritten;
            assert!(via.len() >= head.len());
            assert!(server.ends_with(b"\r\n\r\n") || !head.ends_with(b"\r\n\r\n"));
            if request {
                let text = String::from_utf8_lossy(&stripped).to_ascii_lowercase();
                assert!(
                    !text.contains("\r\nupgrade:"),
                    "strip-upgrade kept the upgrade: {text:?}"
                );
                assert!(text.ends_with("connection: close\r\n\r\n"), "{text:?}");
            }
        }
        HeadOutcome::TooLarge | HeadOutcome::Malformed | HeadOutcome::Closed => {}
    }
}

/// One direction of the fault proxy: with no rule active the bytes pass
/// unchanged whatever the chunking; with rules, nothing is added but what
/// was injected.
pub(crate) fn proxy_pump(data: &[u8]) {
    let (control, payload) = split_control(data, 16);
    let mut u = Unstructured::new(control);
    let rules = u.arbitrary::<u8>().unwrap_or(0) & 0x0f;
    let websocket = u.arbitrary::<bool>().unwrap_or(true);
    let inject_at = u.arbitrary::<Option<u8>>().unwrap_or(None);
    let chunks = chunked(&mut u, payload);
    // A frame header is forwarded once whole, so the bytes of a header
    // still incomplete at the end (at most 14) are not out yet.
    let plain = fuzzing::pump(websocket, 0, &chunks, None);
    assert!(
        payload.starts_with(&plain) && payload.len() - plain.len() <= 14,
        "with no rule active the pump forwarded {} of {} bytes, not a prefix",
        plain.len(),
        payload.len()
    );
    let injected: &[u8] = b"\x88\x02\x03\xe8";
    let inject = inject_at.map(|at| (usize::from(at) % chunks.len().max(1), injected));
    let filtered = fuzzing::pump(websocket, rules, &chunks, inject);
    assert!(filtered.len() <= payload.len() + injected.len());
}

/// `?fault=`, a proxy's `--fault` list or preset, and a request carrying
/// the list in its query.
pub(crate) fn fault_query(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = fuzzing::fault_list(&text);
    let scale = f64::from(data.first().copied().unwrap_or(1)) / 16.0;
    let _ = fuzzing::proxy_faults(&text, scale);
    let _ = fuzzing::proxy_faults(&text, f64::NAN);
    let request = format!(
        "GET /ws?{text} HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    request_head(request.as_bytes());
}
