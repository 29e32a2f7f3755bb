//! permessage-deflate (RFC 7692): the offer we send, the check of the
//! server's answer, the server's choice among a client's offers (for
//! `wsdoctor serve`), and the per-connection codec the session uses.
//!
//! The codec inflates as frames arrive, never more than the caller's limit
//! per message, so a small compressed message that would inflate to
//! gigabytes (a deflate bomb) costs a few kilobytes before it is refused.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use wsdoctor_evidence::{DeflateParams, DeflateRecord};

/// What we send in `Sec-WebSocket-Extensions` with `--deflate`: the
/// extension with `client_max_window_bits` (no value), which lets the
/// server limit our window; browsers send the same.
pub const OFFER: &str = "permessage-deflate; client_max_window_bits";

/// The empty stored block RFC 7692 §7.2.1 strips from every message.
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];
/// Output is produced in slices of this size, so a message never needs its
/// inflated size in one buffer.
const INFLATE_SLICE: usize = 8 * 1024;

/// An extension parameter: its name (lower case) and its value, if any.
type Param = (String, Option<String>);

/// The extensions of a `Sec-WebSocket-Extensions` value: each one's name
/// and parameters (a value's quotes removed).
fn parse_extensions(value: &str) -> Vec<(String, Vec<Param>)> {
    value
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|ext| {
            let mut parts = ext.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default().to_ascii_lowercase();
            let params = parts
                .filter(|p| !p.is_empty())
                .map(|p| match p.split_once('=') {
                    Some((n, v)) => (
                        n.trim().to_ascii_lowercase(),
                        Some(v.trim().trim_matches('"').to_owned()),
                    ),
                    None => (p.to_ascii_lowercase(), None),
                })
                .collect();
            (name, params)
        })
        .collect()
}

/// A window size: a decimal 8..15 without leading zeros (RFC 7692 §7.1.2).
fn window_bits(name: &str, value: Option<&str>) -> Result<u8, String> {
    let Some(value) = value else {
        return Err(format!("{name} needs a value"));
    };
    match value.parse::<u8>() {
        Ok(bits @ 8..=15) if !value.starts_with('0') => Ok(bits),
        _ => Err(format!("{name}={value} is not a window size of 8 to 15")),
    }
}

/// Which parameters one extension offer or answer carries. `answer` says
/// whether it is the server's answer (where `client_max_window_bits` needs
/// a value) or a client's offer (where it may come bare).
fn read_params(params: &[Param], answer: bool) -> Result<(DeflateParams, bool), String> {
    let mut negotiated = DeflateParams::default();
    let mut client_bits_offered = false;
    let mut seen: Vec<&str> = Vec::new();
    for (name, value) in params {
        if seen.contains(&name.as_str()) {
            return Err(format!("{name} appears twice (RFC 7692 §7)"));
        }
        seen.push(name);
        let flag = |v: &Option<String>| match v {
            None => Ok(true),
            Some(v) => Err(format!("{name} takes no value, got {v:?}")),
        };
        match name.as_str() {
            "server_no_context_takeover" => negotiated.server_no_context_takeover = flag(value)?,
            "client_no_context_takeover" => negotiated.client_no_context_takeover = flag(value)?,
            "server_max_window_bits" => {
                negotiated.server_max_window_bits = Some(window_bits(name, value.as_deref())?);
            }
            "client_max_window_bits" => {
                client_bits_offered = true;
                if answer || value.is_some() {
                    negotiated.client_max_window_bits = Some(window_bits(name, value.as_deref())?);
                }
            }
            other => return Err(format!("unknown parameter {other:?} (RFC 7692 §7)")),
        }
    }
    Ok((negotiated, client_bits_offered))
}

/// Checks the server's answer to [`OFFER`] (RFC 7692 §7): one
/// permessage-deflate, known parameters once each, windows of 8..15.
/// The error says why the connection must be failed.
pub fn check_answer(value: &str) -> Result<DeflateParams, String> {
    let extensions = parse_extensions(value);
    let [(name, params)] = extensions.as_slice() else {
        return Err(format!(
            "{} extensions selected, we offered only permessage-deflate",
            extensions.len()
        ));
    };
    if name != "permessage-deflate" {
        return Err(format!(
            "extension {name:?} selected, we offered only permessage-deflate"
        ));
    }
    // Our offer carries client_max_window_bits, so the server may set it.
    read_params(params, true).map(|(params, _)| params)
}

/// The server's choice among a client's offers: the first
/// permessage-deflate offer it can honour, and the answer to send. An offer
/// with an unknown or repeated parameter is skipped (RFC 7692 §5: decline
/// it), and so is `server_max_window_bits=8`, which zlib cannot compress
/// with (it writes a 9-bit window instead).
pub fn choose_offer(value: &str) -> Option<DeflateParams> {
    parse_extensions(value)
        .into_iter()
        .filter(|(name, _)| name == "permessage-deflate")
        .filter_map(|(_, params)| read_params(&params, false).ok())
        .find(|(params, _)| params.server_max_window_bits != Some(8))
        // The client's own window is its business; we inflate with any.
        .map(|(params, _)| DeflateParams {
            client_max_window_bits: None,
            ..params
        })
}

/// Why a compressed message was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum InflateError {
    /// It inflates past the limit.
    TooBig,
    /// Not a valid deflate stream.
    Corrupt(String),
}

/// The compression state of one connection. Boxed in the session, so a
/// connection without permessage-deflate pays one pointer.
pub struct DeflateCodec {
    params: DeflateParams,
    /// We are the server: compress what we send and read the client's
    /// context flags for what we receive.
    server: bool,
    /// Created at the first compressed message received (a peer may never
    /// compress), dropped after each one when the peer takes no context
    /// over: an idle connection then holds no zlib state at all.
    inflater: Option<Decompress>,
    /// The inflater's window, from the peer's agreed window.
    inflate_bits: u8,
    /// Created at the first message we compress, dropped after each
    /// message when our side takes no context over.
    deflater: Option<Compress>,
    /// The inflater saw the end of a deflate stream (BFINAL) in this message.
    stream_ended: bool,
    record: DeflateRecord,
}

impl std::fmt::Debug for DeflateCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeflateCodec")
            .field("record", &self.record)
            .finish_non_exhaustive()
    }
}

impl DeflateCodec {
    /// The codec for agreed `params`, on the server's side or the client's.
    pub fn new(params: DeflateParams, server: bool) -> DeflateCodec {
        // The peer's window decides the inflater's: a smaller one saves
        // memory; zlib's smallest is 9, which reads an 8-bit stream too.
        let peer_bits = if server {
            params.client_max_window_bits
        } else {
            params.server_max_window_bits
        };
        DeflateCodec {
            params,
            server,
            inflater: None,
            inflate_bits: peer_bits.unwrap_or(15).max(9),
            deflater: None,
            stream_ended: false,
            record: DeflateRecord {
                params,
                ..DeflateRecord::default()
            },
        }
    }

    /// What was negotiated and how much went through, for the record.
    pub fn record(&self) -> DeflateRecord {
        self.record
    }

    /// Inflates one frame's payload chunk, handing the output to `sink` in
    /// slices. Fails once the message's inflated size would pass `limit`
    /// (`produced` is what the message inflated to so far).
    pub fn inflate(
        &mut self,
        input: &[u8],
        produced: u64,
        limit: u64,
        sink: &mut dyn FnMut(&[u8]),
    ) -> Result<u64, InflateError> {
        self.record.compressed_bytes_in += input.len() as u64;
        self.inflate_raw(input, produced, limit, sink)
    }

    /// Ends a compressed message: inflates the stripped tail and forgets
    /// the window when the peer takes no context over.
    pub fn finish_message(
        &mut self,
        produced: u64,
        limit: u64,
        sink: &mut dyn FnMut(&[u8]),
    ) -> Result<u64, InflateError> {
        let total = self.inflate_raw(&TAIL, produced, limit, sink)?;
        self.record.compressed_messages_in += 1;
        let peer_resets = if self.server {
            self.params.client_no_context_takeover
        } else {
            self.params.server_no_context_takeover
        };
        if peer_resets || self.stream_ended {
            self.inflater = None;
            self.stream_ended = false;
        }
        Ok(total)
    }

    fn inflate_raw(
        &mut self,
        mut input: &[u8],
        mut produced: u64,
        limit: u64,
        sink: &mut dyn FnMut(&[u8]),
    ) -> Result<u64, InflateError> {
        let bits = self.inflate_bits;
        let inflater = self
            .inflater
            .get_or_insert_with(|| Decompress::new_with_window_bits(false, bits));
        let mut out = [0u8; INFLATE_SLICE];
        // Each round consumes input or fills a slice (or returns): the count
        // bounds a decoder that would do neither.
        let rounds = input.len() as u64 + limit / INFLATE_SLICE as u64 + 2;
        for _ in 0..rounds {
            if self.stream_ended {
                // Bytes after BFINAL carry nothing (the tail, usually).
                return Ok(produced);
            }
            let (in_before, out_before) = (inflater.total_in(), inflater.total_out());
            let status = inflater
                .decompress(input, &mut out, FlushDecompress::Sync)
                .map_err(|e| InflateError::Corrupt(e.to_string()))?;
            let consumed = usize::try_from(inflater.total_in() - in_before).unwrap_or(0);
            let written = usize::try_from(inflater.total_out() - out_before).unwrap_or(0);
            input = input.get(consumed..).unwrap_or_default();
            produced += written as u64;
            self.record.inflated_bytes_in += written as u64;
            if produced > limit {
                return Err(InflateError::TooBig);
            }
            sink(&out[..written]);
            if status == Status::StreamEnd {
                self.stream_ended = true;
            }
            let more_output = written == out.len();
            if (input.is_empty() && !more_output) || (consumed == 0 && written == 0) {
                return Ok(produced);
            }
        }
        Err(InflateError::Corrupt(
            "the inflater made no progress".to_owned(),
        ))
    }

    /// Compresses one message we send (the server's side; RFC 7692 lets a
    /// sender leave any message uncompressed, and the client does). `None`
    /// when the compressor fails: the message then goes uncompressed.
    pub fn compress(&mut self, payload: &[u8]) -> Option<Vec<u8>> {
        if !self.server {
            return None;
        }
        let bits = self.params.server_max_window_bits.unwrap_or(15).max(9);
        let deflater = self.deflater.get_or_insert_with(|| {
            Compress::new_with_window_bits(Compression::fast(), false, bits)
        });
        let mut out = Vec::with_capacity(payload.len() / 2 + 64);
        let start_in = deflater.total_in();
        // A sync flush of n bytes needs at most n plus a few bytes per
        // 16 KiB block; the loop grows the buffer until all input is in and
        // the flush is out.
        for _ in 0..64 {
            let consumed = usize::try_from(deflater.total_in() - start_in).ok()?;
            let rest = payload.get(consumed..)?;
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(1024));
            }
            deflater
                .compress_vec(rest, &mut out, FlushCompress::Sync)
                .ok()?;
            let all_in = deflater.total_in() - start_in == payload.len() as u64;
            if all_in && out.len() < out.capacity() && out.ends_with(&TAIL) {
                break;
            }
        }
        if !out.ends_with(&TAIL) {
            self.deflater = None;
            return None;
        }
        out.truncate(out.len() - TAIL.len());
        if self.params.server_no_context_takeover {
            self.deflater = None;
        }
        Some(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn params(s: bool, c: bool, sb: Option<u8>, cb: Option<u8>) -> DeflateParams {
        DeflateParams {
            server_no_context_takeover: s,
            client_no_context_takeover: c,
            server_max_window_bits: sb,
            client_max_window_bits: cb,
        }
    }

    #[test]
    fn answers_are_accepted_or_refused_with_the_reason() {
        let accepted = [
            ("permessage-deflate", params(false, false, None, None)),
            (
                "permessage-deflate; server_max_window_bits=10",
                params(false, false, Some(10), None),
            ),
            (
                "Permessage-Deflate; client_max_window_bits=\"9\"; server_no_context_takeover",
                params(true, false, None, Some(9)),
            ),
            (
                "permessage-deflate;client_no_context_takeover;server_max_window_bits=15",
                params(false, true, Some(15), None),
            ),
        ];
        for (answer, want) in accepted {
            assert_eq!(check_answer(answer), Ok(want), "{answer}");
        }
        let refused = [
            (
                "x-webkit-deflate-frame",
                "we offered only permessage-deflate",
            ),
            ("permessage-deflate, permessage-deflate", "2 extensions"),
            (
                "permessage-deflate; server_max_window_bits=16",
                "not a window size",
            ),
            (
                "permessage-deflate; server_max_window_bits=7",
                "not a window size",
            ),
            (
                "permessage-deflate; server_max_window_bits=08",
                "not a window size",
            ),
            (
                "permessage-deflate; server_max_window_bits",
                "needs a value",
            ),
            (
                "permessage-deflate; client_max_window_bits",
                "needs a value",
            ),
            (
                "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
                "appears twice",
            ),
            (
                "permessage-deflate; server_no_context_takeover=1",
                "takes no value",
            ),
            ("permessage-deflate; mystery=1", "unknown parameter"),
        ];
        for (answer, why) in refused {
            let got = check_answer(answer).expect_err(answer);
            assert!(got.contains(why), "{answer}: {got}");
        }
    }

    #[test]
    fn the_server_picks_the_first_offer_it_can_honour() {
        assert_eq!(choose_offer(OFFER), Some(params(false, false, None, None)));
        assert_eq!(
            choose_offer("permessage-deflate; server_max_window_bits=8, permessage-deflate; server_no_context_takeover"),
            Some(params(true, false, None, None))
        );
        assert_eq!(
            choose_offer("permessage-deflate; bogus, permessage-deflate; server_max_window_bits=10; client_max_window_bits=12"),
            Some(params(false, false, Some(10), None))
        );
        assert_eq!(choose_offer("x-webkit-deflate-frame"), None);
        assert_eq!(
            params(true, false, Some(10), None).header_value(),
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=10"
        );
    }

    fn inflate_all(
        codec: &mut DeflateCodec,
        wire: &[u8],
        limit: u64,
    ) -> Result<Vec<u8>, InflateError> {
        let mut out = Vec::new();
        let produced = codec.inflate(wire, 0, limit, &mut |b| out.extend_from_slice(b))?;
        codec.finish_message(produced, limit, &mut |b| out.extend_from_slice(b))?;
        Ok(out)
    }

    #[test]
    fn what_the_server_compresses_the_client_inflates() {
        let agreed = params(false, false, Some(10), None);
        let mut server = DeflateCodec::new(agreed, true);
        let mut client = DeflateCodec::new(agreed, false);
        let text = "tick tick tick tick ".repeat(500);
        for _ in 0..2 {
            let wire = server.compress(text.as_bytes()).unwrap();
            assert!(wire.len() < text.len() / 10);
            assert_eq!(
                inflate_all(&mut client, &wire, 1 << 20).unwrap(),
                text.as_bytes()
            );
        }
        let record = client.record();
        assert_eq!(record.compressed_messages_in, 2);
        assert_eq!(record.inflated_bytes_in, 2 * text.len() as u64);
        // The client never compresses (RFC 7692 lets it send plain messages).
        assert_eq!(client.compress(b"hello"), None);
    }

    #[test]
    fn a_bomb_stops_at_the_limit() {
        let mut compress = Compress::new_with_window_bits(Compression::best(), false, 15);
        let zeros = vec![0u8; 8 << 20];
        let mut wire = Vec::with_capacity(64 * 1024);
        compress
            .compress_vec(&zeros, &mut wire, FlushCompress::Sync)
            .unwrap();
        assert!(wire.len() < 64 * 1024, "{}", wire.len());
        let mut client = DeflateCodec::new(DeflateParams::default(), false);
        let mut kept = 0usize;
        let got = client.inflate(&wire, 0, 1 << 20, &mut |b| kept += b.len());
        assert_eq!(got, Err(InflateError::TooBig));
        assert!(kept <= 1 << 20);
        let mut fresh = DeflateCodec::new(DeflateParams::default(), false);
        assert!(matches!(
            fresh.inflate(&[0xff, 0xff, 0xff], 0, 100, &mut |_| {}),
            Err(InflateError::Corrupt(_))
        ));
    }
}
