//! One direction of the relay: bytes in, the same bytes out, with frames
//! dropped or frames inserted only at frame boundaries.
//!
//! The decoder (`websocket-sans-io`) is passive: it reports where frames
//! start and end and never answers or validates. It unmasks payloads in
//! place, so it reads a scratch copy and the original bytes are what is
//! forwarded: with no rule active the output is byte-for-byte the input,
//! whatever the chunking.

use websocket_sans_io::{FrameInfo, Opcode, WebsocketFrameDecoder, WebsocketFrameEvent};

/// Which frames a direction stops forwarding. Set by the relay as faults
/// start; a frame's fate is fixed when its header has arrived.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Rules {
    pub(crate) drop_pongs: bool,
    pub(crate) swallow_close: bool,
    /// `stall`: no data frames (text, binary, continuation).
    pub(crate) stall_data: bool,
    /// Blackhole, or closing: nothing at all.
    pub(crate) discard_all: bool,
}

/// What one [`Pump::feed`] saw, for the idle timer and the closing handshake.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Seen {
    /// Any byte arrived.
    pub(crate) bytes: bool,
    /// Part of a data frame arrived.
    pub(crate) data: bool,
    /// A whole close frame arrived (forwarded or not).
    pub(crate) close: bool,
}

#[derive(Debug, Clone, Copy)]
struct Current {
    forward: bool,
    opcode: Opcode,
}

/// One direction's frame tracker and filter.
#[derive(Debug)]
pub(crate) struct Pump {
    /// False after a non-101 answer: plain bytes, nothing decoded.
    websocket: bool,
    decoder: WebsocketFrameDecoder,
    /// Bytes of a header that is not complete yet (at most 14).
    header: Vec<u8>,
    frame: Option<Current>,
    /// Bytes to insert at the next frame boundary.
    inject: Option<Vec<u8>>,
    scratch: Vec<u8>,
    pub(crate) rules: Rules,
}

impl Pump {
    pub(crate) fn new(websocket: bool) -> Pump {
        Pump {
            websocket,
            decoder: WebsocketFrameDecoder::new(),
            header: Vec::new(),
            frame: None,
            inject: None,
            scratch: Vec::new(),
            rules: Rules::default(),
        }
    }

    /// Appends `bytes` to `out` now if the output is between frames, else
    /// as soon as the current frame ends. A later call replaces an earlier
    /// pending one.
    pub(crate) fn inject(&mut self, bytes: Vec<u8>, out: &mut Vec<u8>) {
        // A partial header has not been forwarded yet, so the output is at
        // a boundary; the frame it starts is judged under the new rules.
        if self.frame.is_none() {
            out.extend_from_slice(&bytes);
        } else {
            self.inject = Some(bytes);
        }
    }

    /// Passes `input` through, appending what is forwarded to `out`.
    pub(crate) fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Seen {
        let mut seen = Seen {
            bytes: !input.is_empty(),
            ..Seen::default()
        };
        if !self.websocket {
            if !self.rules.discard_all {
                out.extend_from_slice(input);
            }
            return seen;
        }
        self.scratch.clear();
        self.scratch.extend_from_slice(input);
        let mut pos = 0;
        loop {
            // With `large_frames` (on by default) the error is uninhabited.
            let Ok(step) = self.decoder.add_data(&mut self.scratch[pos..]);
            let used = step.consumed_bytes;
            let original = &input[pos..pos + used];
            match step.event {
                None if used == 0 => break,
                None => self.header.extend_from_slice(original),
                Some(WebsocketFrameEvent::Start { frame_info, .. }) => {
                    self.header.extend_from_slice(original);
                    let forward = self.decide(&frame_info);
                    if forward {
                        out.extend_from_slice(&self.header);
                    }
                    self.header.clear();
                    seen.data |= frame_info.opcode.is_data();
                    self.frame = Some(Current {
                        forward,
                        opcode: frame_info.opcode,
                    });
                }
                Some(WebsocketFrameEvent::PayloadChunk { .. }) => {
                    if let Some(frame) = self.frame {
                        seen.data |= frame.opcode.is_data();
                        if frame.forward {
                            out.extend_from_slice(original);
                        }
                    }
                }
                Some(WebsocketFrameEvent::End { frame_info, .. }) => {
                    seen.close |= frame_info.opcode == Opcode::ConnectionClose;
                    self.frame = None;
                    if let Some(bytes) = self.inject.take() {
                        out.extend_from_slice(&bytes);
                    }
                }
            }
            pos += used;
        }
        seen
    }

    fn decide(&self, info: &FrameInfo) -> bool {
        let r = self.rules;
        !(r.discard_all
            || (r.drop_pongs && info.opcode == Opcode::Pong)
            || (r.swallow_close && info.opcode == Opcode::ConnectionClose)
            || (r.stall_data && info.opcode.is_data()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use websocket_sans_io::WebsocketFrameEncoder;

    fn frame(opcode: Opcode, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
        let mut enc = WebsocketFrameEncoder::new();
        let mut out = enc
            .start_frame(&FrameInfo {
                opcode,
                payload_length: payload.len() as u64,
                mask,
                fin: true,
                reserved: 0,
            })
            .to_vec();
        let mut body = payload.to_vec();
        enc.transform_frame_payload(&mut body);
        out.extend(body);
        out
    }

    /// Feeds `bytes` in chunks of `n` and returns the output.
    fn run(pump: &mut Pump, bytes: &[u8], n: usize) -> (Vec<u8>, Seen) {
        let mut out = Vec::new();
        let mut all = Seen::default();
        for chunk in bytes.chunks(n) {
            let s = pump.feed(chunk, &mut out);
            all.bytes |= s.bytes;
            all.data |= s.data;
            all.close |= s.close;
        }
        (out, all)
    }

    fn stream(mask: Option<[u8; 4]>) -> Vec<u8> {
        let mut s = frame(Opcode::Text, b"hello", mask);
        s.extend(frame(Opcode::Ping, b"p", mask));
        s.extend(frame(Opcode::Binary, &[7; 300], mask));
        s.extend(frame(Opcode::Pong, b"", mask));
        s.extend(frame(Opcode::ConnectionClose, &[3, 232], mask));
        s
    }

    #[test]
    fn passes_bytes_unchanged_at_any_chunking() {
        for mask in [None, Some([9, 8, 7, 6])] {
            let input = stream(mask);
            for n in [1, 2, 3, 7, 100, 10_000] {
                let (out, seen) = run(&mut Pump::new(true), &input, n);
                assert_eq!(out, input, "chunk {n}, mask {mask:?}");
                assert!(seen.data && seen.close);
            }
        }
    }

    #[test]
    fn drops_whole_frames_only() {
        let mask = Some([1, 2, 3, 4]);
        let mut pump = Pump::new(true);
        pump.rules.drop_pongs = true;
        pump.rules.swallow_close = true;
        let (out, _) = run(&mut pump, &stream(mask), 3);
        let mut want = frame(Opcode::Text, b"hello", mask);
        want.extend(frame(Opcode::Ping, b"p", mask));
        want.extend(frame(Opcode::Binary, &[7; 300], mask));
        assert_eq!(out, want);

        let mut pump = Pump::new(true);
        pump.rules.stall_data = true;
        let (out, seen) = run(&mut pump, &stream(None), 5);
        let mut want = frame(Opcode::Ping, b"p", None);
        want.extend(frame(Opcode::Pong, b"", None));
        want.extend(frame(Opcode::ConnectionClose, &[3, 232], None));
        assert_eq!(out, want);
        assert!(seen.data, "dropped data still counts as seen");
    }

    #[test]
    fn injects_at_a_boundary() {
        let text = frame(Opcode::Text, b"hello world", None);
        let mut pump = Pump::new(true);
        let mut out = Vec::new();
        pump.feed(&text[..4], &mut out);
        pump.inject(b"X".to_vec(), &mut out);
        assert_eq!(out, text[..4].to_vec(), "waits for the frame to end");
        pump.feed(&text[4..], &mut out);
        let mut want = text.clone();
        want.push(b'X');
        assert_eq!(out, want);
        // Between frames: at once.
        pump.inject(b"Y".to_vec(), &mut out);
        assert_eq!(out.last(), Some(&b'Y'));
    }
}
