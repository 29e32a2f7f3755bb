//! Entry points for the fuzz targets (`fuzz/` and `crates/fuzz-targets`)
//! that drive the permessage-deflate codec as a connection does. Not an
//! API: nothing here is stable.

use wsdoctor_evidence::DeflateParams;

use crate::deflate::{DeflateCodec, InflateError};

/// Inflates one compressed message, given as the payloads of its frames,
/// as a connection's reader does: the inflated bytes, or why it was
/// refused. `server` is the side that receives.
pub fn inflate_message(
    params: DeflateParams,
    server: bool,
    frames: &[&[u8]],
    limit: u64,
) -> Result<Vec<u8>, String> {
    let mut codec = DeflateCodec::new(params, server);
    inflate_with(&mut codec, frames, limit)
}

fn inflate_with(codec: &mut DeflateCodec, frames: &[&[u8]], limit: u64) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut produced = 0;
    let refused = |e: InflateError| format!("{e:?}");
    for frame in frames {
        produced = codec
            .inflate(frame, produced, limit, &mut |s| out.extend_from_slice(s))
            .map_err(refused)?;
    }
    codec
        .finish_message(produced, limit, &mut |s| out.extend_from_slice(s))
        .map_err(refused)?;
    Ok(out)
}

/// Compresses `messages` as `serve` does, then inflates each as the client
/// does: what the client read back (`None` for a message the compressor
/// left uncompressed, which goes as it is).
pub fn deflate_round_trip(
    params: DeflateParams,
    messages: &[&[u8]],
    limit: u64,
) -> Vec<Result<Option<Vec<u8>>, String>> {
    let mut server = DeflateCodec::new(params, true);
    let mut client = DeflateCodec::new(params, false);
    messages
        .iter()
        .map(|m| match server.compress(m) {
            Some(compressed) => inflate_with(&mut client, &[&compressed], limit).map(Some),
            None => Ok(None),
        })
        .collect()
}
