//! The negotiated WebSocket extensions of one connection, as one line of
//! the probe view: what permessage-deflate was agreed and what it saved.

use wsdoctor_evidence::{ConnectionRecord, DeflateRecord};

use super::facts::bytes;
use super::layout::Cell;
use super::style::Tone;

/// `permessage-deflate (server_max_window_bits=15, context kept) — 12.3 KiB
/// received as 3.1 KiB`.
pub(super) fn describe_deflate(deflate: &DeflateRecord) -> String {
    let p = deflate.params;
    let mut parts = vec![format!(
        "server_max_window_bits={}",
        p.server_max_window_bits.unwrap_or(15)
    )];
    if let Some(bits) = p.client_max_window_bits {
        parts.push(format!("client_max_window_bits={bits}"));
    }
    match (p.server_no_context_takeover, p.client_no_context_takeover) {
        (false, false) => parts.push("context kept".to_owned()),
        (server, client) => {
            for (side, reset) in [("server", server), ("client", client)] {
                parts.push(format!(
                    "{side} context {}",
                    if reset { "reset per message" } else { "kept" }
                ));
            }
        }
    }
    let traffic = if deflate.compressed_messages_in == 0 {
        "no compressed message received".to_owned()
    } else {
        format!(
            "{} received as {} ({} compressed message{})",
            bytes(deflate.inflated_bytes_in),
            bytes(deflate.compressed_bytes_in),
            deflate.compressed_messages_in,
            if deflate.compressed_messages_in == 1 {
                ""
            } else {
                "s"
            }
        )
    };
    format!("permessage-deflate ({}) — {traffic}", parts.join(", "))
}

/// The `extensions` row of the probe's watch section, when an extension
/// was negotiated.
pub(super) fn extensions_row(record: &ConnectionRecord) -> Option<Vec<Cell>> {
    let deflate = record.deflate.as_ref()?;
    Some(vec![
        Cell::left("extensions").tone(Tone::Dim),
        Cell::left(describe_deflate(deflate)),
    ])
}

#[cfg(test)]
mod tests {
    use wsdoctor_evidence::DeflateParams;

    use super::*;

    #[test]
    fn says_what_was_agreed_and_the_ratio() {
        let mut record = DeflateRecord {
            params: DeflateParams {
                server_max_window_bits: Some(12),
                ..DeflateParams::default()
            },
            compressed_messages_in: 3,
            compressed_bytes_in: 3174,
            inflated_bytes_in: 12_595,
        };
        assert_eq!(
            describe_deflate(&record),
            "permessage-deflate (server_max_window_bits=12, context kept) — 12.3 KiB received as 3.1 KiB (3 compressed messages)"
        );
        record.params.server_no_context_takeover = true;
        record.compressed_messages_in = 0;
        assert_eq!(
            describe_deflate(&record),
            "permessage-deflate (server_max_window_bits=12, server context reset per message, client context kept) — no compressed message received"
        );
    }
}
