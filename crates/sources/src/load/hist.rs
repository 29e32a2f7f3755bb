//! The ramp's latency histograms and their transport form: hdrhistogram's V2
//! serialization in base64, carried in the evidence so `wsdoctor merge` adds
//! the shards' histograms and computes percentiles of the sum, never an
//! average of percentiles.

use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer as _, V2Serializer};
use hdrhistogram::Histogram;
use wsdoctor_evidence::load::Latency;

/// Lowest and highest value (µs) and precision of every ramp histogram: 1 µs
/// to 1 h at 3 significant digits. Merging refuses any other shape.
const LOW_US: u64 = 1;
const HIGH_US: u64 = 3_600_000_000;
const SIGFIG: u8 = 3;

/// The V2 header: cookie, payload length, normalizing offset, digits, low,
/// high, integer-to-double ratio.
const V2_HEADER_LEN: usize = 40;
const V2_COOKIE: u32 = 0x1c84_9303 | 0x10;

/// A serialized histogram larger than this is refused before decoding (a
/// full one of this shape is about 200 KiB of varints).
const MAX_ENCODED_BYTES: usize = 4 << 20;

/// Any single bucket count above this is not from a ramp (and would risk
/// overflowing the decoder's totals).
const MAX_BUCKET_COUNT: u64 = 1 << 40;

/// A histogram of the ramp's shape.
pub(super) fn histogram() -> Option<Histogram<u64>> {
    Histogram::new_with_bounds(LOW_US, HIGH_US, SIGFIG).ok()
}

/// Percentiles of `h`, with `h` itself serialized for merging.
pub(super) fn latency(h: Option<&Histogram<u64>>) -> Latency {
    match h {
        Some(h) if !h.is_empty() => Latency {
            count: h.len(),
            p50_us: h.value_at_quantile(0.50),
            p90_us: h.value_at_quantile(0.90),
            p99_us: h.value_at_quantile(0.99),
            max_us: h.max(),
            histogram: encode(h),
        },
        _ => Latency::default(),
    }
}

/// V2 serialization, base64 (standard alphabet, padded).
pub(super) fn encode(h: &Histogram<u64>) -> Option<String> {
    let mut bytes = Vec::new();
    V2Serializer::new().serialize(h, &mut bytes).ok()?;
    Some(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// Decodes what [`encode`] wrote. Input comes from files a user hands to
/// `merge`, so the header and every varint are checked before the
/// hdrhistogram decoder sees them (it trusts the payload length and the
/// counts).
pub(super) fn decode(text: &str) -> Result<Histogram<u64>, String> {
    if text.len() > MAX_ENCODED_BYTES * 4 / 3 + 4 {
        return Err("the histogram is too large".to_owned());
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| format!("the histogram is not base64: {e}"))?;
    let header = bytes
        .get(..V2_HEADER_LEN)
        .ok_or("the histogram is truncated")?;
    let u32_at =
        |i: usize| u32::from_be_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
    let u64_at = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&header[i..i + 8]);
        u64::from_be_bytes(b)
    };
    if u32_at(0) != V2_COOKIE {
        return Err("not an HdrHistogram V2 serialization".to_owned());
    }
    let payload_len = usize::try_from(u32_at(4)).map_err(|_| "bad payload length")?;
    if payload_len != bytes.len() - V2_HEADER_LEN {
        return Err("the histogram's length does not match its header".to_owned());
    }
    if u32_at(12) != u32::from(SIGFIG) || u64_at(16) != LOW_US || u64_at(24) != HIGH_US {
        return Err(format!(
            "the histogram covers {}..{} µs at {} digits, not wsdoctor's {LOW_US}..{HIGH_US} at {SIGFIG}",
            u64_at(16),
            u64_at(24),
            u32_at(12)
        ));
    }
    check_payload(&bytes[V2_HEADER_LEN..])?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| format!("the histogram does not decode: {e}"))
}

/// Walks the V2 payload (zig-zag varints: a positive number is a count, a
/// negative one a run of empty buckets) and refuses numbers the decoder
/// would overflow on.
fn check_payload(mut payload: &[u8]) -> Result<(), String> {
    // Bounded: each round consumes at least one byte.
    while !payload.is_empty() {
        let mut value: u64 = 0;
        let mut used = 0;
        // The format's varint: 7 bits per byte with a continuation bit for
        // the first eight bytes, then a ninth byte of 8 bits.
        loop {
            let byte = *payload.get(used).ok_or("the histogram ends mid-number")?;
            if used == 8 {
                value |= u64::from(byte) << 56;
                used += 1;
                break;
            }
            value |= u64::from(byte & 0x7f) << (7 * used);
            used += 1;
            if byte & 0x80 == 0 {
                break;
            }
        }
        payload = &payload[used..];
        let decoded = ((value >> 1) as i64) ^ -((value & 1) as i64);
        if decoded == i64::MIN || decoded.unsigned_abs() > MAX_BUCKET_COUNT {
            return Err("the histogram holds an impossible count".to_owned());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn round_trip_keeps_every_count() {
        let mut h = histogram().unwrap();
        for v in [1, 5, 900, 901, 1_000_000, 3_599_999_999] {
            h.record_n(v, v % 7 + 1).unwrap();
        }
        let back = decode(&encode(&h).unwrap()).unwrap();
        assert_eq!(back, h);
        assert_eq!(latency(Some(&back)).p99_us, latency(Some(&h)).p99_us);
    }

    #[test]
    fn hostile_input_is_an_error_not_a_panic() {
        let good = encode(&histogram().unwrap()).unwrap();
        assert!(decode("not base64!").is_err());
        assert!(decode("").is_err());
        let mut bytes = base64::engine::general_purpose::STANDARD
            .decode(&good)
            .unwrap();
        // A payload length the file does not have (the decoder would allocate it).
        bytes[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        assert!(decode(&b64(&bytes)).is_err());
        // A count of i64::MIN (zig-zag of u64::MAX), which overflows on negation.
        let mut evil = bytes[..V2_HEADER_LEN].to_vec();
        evil[4..8].copy_from_slice(&9u32.to_be_bytes());
        evil.extend_from_slice(&[0xff; 9]);
        assert!(decode(&b64(&evil)).unwrap_err().contains("impossible"));
        // Another shape.
        let other = Histogram::<u64>::new_with_bounds(1, 1000, 2).unwrap();
        let mut bytes = Vec::new();
        V2Serializer::new().serialize(&other, &mut bytes).unwrap();
        assert!(decode(&b64(&bytes)).unwrap_err().contains("covers"));
    }
}
