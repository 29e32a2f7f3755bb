//! WebSocket frames: turning client bytes into messages, and server frames
//! into bytes.
//!
//! `websocket-sans-io` does the bit-level work (headers, unmasking); this
//! module adds what RFC 6455 asks of a server on top: client frames must be
//! masked, control frames are small and whole, fragments are reassembled, and
//! a message size cap is enforced from the frame header, before any payload
//! is buffered, so a client announcing a huge frame costs nothing.

use bytes::{Buf as _, BytesMut};
use websocket_sans_io::{
    FrameInfo, Opcode, WebsocketFrameDecoder, WebsocketFrameEncoder, WebsocketFrameEvent,
};

/// Largest message the echo server reassembles; beyond it, close 1009.
pub const MAX_MESSAGE: usize = 1 << 20;
/// RFC 6455: control frame payloads are at most 125 bytes.
const MAX_CONTROL: usize = 125;

/// Something the client said.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    /// A complete data message (text already checked to be UTF-8).
    Message {
        /// A text message (else binary).
        text: bool,
        /// Its payload, unmasked and reassembled.
        data: Vec<u8>,
    },
    /// A ping and its payload.
    Ping(Vec<u8>),
    /// A pong.
    Pong,
    /// A close frame; the code when it carried one.
    Close(Option<u16>),
}

/// The client broke the protocol; the close code and reason to answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Violation {
    /// The close code to send.
    pub code: u16,
    /// The close reason to send.
    pub why: &'static str,
}

const fn violation(code: u16, why: &'static str) -> Violation {
    Violation { code, why }
}

/// Reassembles client frames into [`Incoming`] items.
#[derive(Debug, Default)]
pub struct Inbound {
    decoder: WebsocketFrameDecoder,
    /// The frame whose payload is arriving.
    frame: Option<FrameInfo>,
    control: Vec<u8>,
    message: Vec<u8>,
    /// `Some(is_text)` while a (possibly fragmented) message is open.
    open_message: Option<bool>,
}

impl Inbound {
    /// Consumes all of `buf`, pushing complete items to `out`.
    ///
    /// Partial frames stay inside the decoder, so `buf` is always emptied and
    /// the caller's read buffer never grows past one read.
    pub fn feed(&mut self, buf: &mut BytesMut, out: &mut Vec<Incoming>) -> Result<(), Violation> {
        loop {
            // With the `large_frames` feature (on by default) the decoder
            // cannot fail: its error type is uninhabited.
            let Ok(step) = self.decoder.add_data(&mut buf[..]);
            let used = step.consumed_bytes;
            match step.event {
                None if used == 0 => return Ok(()),
                None => {}
                Some(WebsocketFrameEvent::Start { frame_info, .. }) => self.start(frame_info)?,
                Some(WebsocketFrameEvent::PayloadChunk { .. }) => {
                    // The decoder unmasked these bytes in place.
                    let chunk = &buf[..used];
                    match self.frame {
                        Some(f) if f.opcode.is_control() => self.control.extend_from_slice(chunk),
                        _ => self.message.extend_from_slice(chunk),
                    }
                }
                Some(WebsocketFrameEvent::End { frame_info, .. }) => {
                    if let Some(item) = self.end(frame_info)? {
                        out.push(item);
                    }
                }
            }
            buf.advance(used);
        }
    }

    fn start(&mut self, f: FrameInfo) -> Result<(), Violation> {
        if !f.is_reasonable() {
            return Err(violation(
                1002,
                "reserved bits, unknown opcode or fragmented control frame",
            ));
        }
        if f.mask.is_none() {
            return Err(violation(1002, "client frames must be masked"));
        }
        if f.opcode.is_control() {
            if f.payload_length > MAX_CONTROL as u64 {
                return Err(violation(1002, "control frame over 125 bytes"));
            }
            self.control.clear();
        } else {
            match (f.opcode, self.open_message) {
                (Opcode::Continuation, None) => {
                    return Err(violation(1002, "continuation without a message"))
                }
                (Opcode::Continuation, Some(_)) => {}
                (_, Some(_)) => return Err(violation(1002, "new message inside a fragmented one")),
                (op, None) => self.open_message = Some(op == Opcode::Text),
            }
            // Checked on the header, before buffering a byte of the payload.
            let total = (self.message.len() as u64).saturating_add(f.payload_length);
            if total > MAX_MESSAGE as u64 {
                return Err(violation(1009, "message over 1 MiB"));
            }
        }
        self.frame = Some(f);
        Ok(())
    }

    fn end(&mut self, f: FrameInfo) -> Result<Option<Incoming>, Violation> {
        self.frame = None;
        match f.opcode {
            Opcode::Ping => Ok(Some(Incoming::Ping(std::mem::take(&mut self.control)))),
            Opcode::Pong => Ok(Some(Incoming::Pong)),
            Opcode::ConnectionClose => parse_close(&self.control).map(Some),
            _ if !f.fin => Ok(None),
            _ => {
                let text = self.open_message.take().unwrap_or(false);
                let data = std::mem::take(&mut self.message);
                if text && std::str::from_utf8(&data).is_err() {
                    return Err(violation(1007, "text message is not UTF-8"));
                }
                Ok(Some(Incoming::Message { text, data }))
            }
        }
    }
}

/// Reads a close frame's payload: nothing, or a valid code and UTF-8 reason.
fn parse_close(payload: &[u8]) -> Result<Incoming, Violation> {
    match payload {
        [] => Ok(Incoming::Close(None)),
        [_] => Err(violation(1002, "close payload of one byte")),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            // RFC 6455 section 7.4: codes a peer may send.
            let valid = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
            if !valid {
                return Err(violation(1002, "invalid close code"));
            }
            if std::str::from_utf8(reason).is_err() {
                return Err(violation(1007, "close reason is not UTF-8"));
            }
            Ok(Incoming::Close(Some(code)))
        }
    }
}

/// Header of an unmasked (server) frame.
pub fn header(opcode: Opcode, fin: bool, len: u64) -> Vec<u8> {
    // Without a mask the encoder keeps no state worth reusing.
    WebsocketFrameEncoder::new()
        .start_frame(&FrameInfo {
            opcode,
            payload_length: len,
            mask: None,
            fin,
            reserved: 0,
        })
        .to_vec()
}

/// A whole unmasked frame.
pub fn frame(opcode: Opcode, payload: &[u8]) -> Vec<u8> {
    let mut out = header(opcode, true, payload.len() as u64);
    out.extend_from_slice(payload);
    out
}

/// A close frame; the reason is cut (on a character boundary) to fit the
/// 125-byte control frame limit.
pub fn close_frame(code: u16, reason: &str) -> Vec<u8> {
    let mut end = reason.len().min(MAX_CONTROL - 2);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(&reason.as_bytes()[..end]);
    frame(Opcode::ConnectionClose, &payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked client frame, as a browser would send it.
    fn client(opcode: Opcode, fin: bool, payload: &[u8]) -> Vec<u8> {
        let mask = [1, 2, 3, 4];
        let mut out = WebsocketFrameEncoder::new()
            .start_frame(&FrameInfo {
                opcode,
                payload_length: payload.len() as u64,
                mask: Some(mask),
                fin,
                reserved: 0,
            })
            .to_vec();
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    fn feed(bytes: &[u8]) -> (Vec<Incoming>, Result<(), Violation>) {
        let mut inbound = Inbound::default();
        let mut out = Vec::new();
        // One byte at a time: the decoder must cope with any split.
        for b in bytes {
            let mut buf = BytesMut::from(&[*b][..]);
            if let Err(v) = inbound.feed(&mut buf, &mut out) {
                return (out, Err(v));
            }
            assert!(buf.is_empty());
        }
        (out, Ok(()))
    }

    #[test]
    fn reassembles_fragments_around_a_ping() {
        let mut bytes = client(Opcode::Text, false, b"hel");
        bytes.extend(client(Opcode::Ping, true, b"p"));
        bytes.extend(client(Opcode::Continuation, true, b"lo"));
        bytes.extend(client(Opcode::Binary, true, &[]));
        let (out, res) = feed(&bytes);
        assert_eq!(res, Ok(()));
        assert_eq!(
            out,
            vec![
                Incoming::Ping(b"p".to_vec()),
                Incoming::Message {
                    text: true,
                    data: b"hello".to_vec()
                },
                Incoming::Message {
                    text: false,
                    data: vec![]
                },
            ]
        );
    }

    #[test]
    fn refuses_huge_message_from_its_header() {
        let header = WebsocketFrameEncoder::new().start_frame(&FrameInfo {
            opcode: Opcode::Binary,
            payload_length: 1 << 31,
            mask: Some([0; 4]),
            fin: true,
            reserved: 0,
        });
        let (_, res) = feed(&header);
        assert_eq!(res.map_err(|v| v.code), Err(1009));
    }

    #[test]
    fn protocol_errors() {
        let unmasked = frame(Opcode::Text, b"x");
        assert_eq!(feed(&unmasked).1.map_err(|v| v.code), Err(1002));
        let bad_utf8 = client(Opcode::Text, true, &[0xff]);
        assert_eq!(feed(&bad_utf8).1.map_err(|v| v.code), Err(1007));
        let orphan = client(Opcode::Continuation, true, b"x");
        assert_eq!(feed(&orphan).1.map_err(|v| v.code), Err(1002));
        let bad_code = client(Opcode::ConnectionClose, true, &1005u16.to_be_bytes());
        assert_eq!(feed(&bad_code).1.map_err(|v| v.code), Err(1002));
    }

    #[test]
    fn close_codes() {
        let (out, _) = feed(&client(
            Opcode::ConnectionClose,
            true,
            &[0x03, 0xe8, b'o', b'k'],
        ));
        assert_eq!(out, vec![Incoming::Close(Some(1000))]);
        let (out, _) = feed(&client(Opcode::ConnectionClose, true, &[]));
        assert_eq!(out, vec![Incoming::Close(None)]);
    }

    #[test]
    fn close_reason_is_cut_on_a_char_boundary() {
        let long = "é".repeat(100);
        let f = close_frame(1000, &long);
        // 2-byte header, 2-byte code, at most 123 reason bytes.
        assert!(f.len() <= 2 + 125);
        assert!(std::str::from_utf8(&f[4..]).is_ok());
    }
}
