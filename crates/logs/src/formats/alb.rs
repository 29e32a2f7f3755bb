//! AWS Application Load Balancer access logs.
//!
//! Fields are positional, space-separated, some quoted (AWS "Access log
//! entries" documentation). WebSocket entries have type `ws` or `wss` and
//! are written when the connection closes, so `time` is the close and
//! `request_creation_time` the open: their difference is the lifetime.
//! Older format versions end earlier (no `request_creation_time` before
//! 2018, no `error_reason` before 2019); those fields are then absent and
//! only what the line has is used.

use crate::bytes::{parse_status, request_path, split_request, strip_port, Fields};
use crate::record::{Parsed, Record, Upgrade};
use crate::time::parse_iso8601;

/// Entry types the ALB writes; anything else is not an ALB line.
const TYPES: &[&[u8]] = &[b"http", b"https", b"h2", b"grpcs", b"ws", b"wss"];

/// Reads one ALB line.
pub(crate) fn parse(line: &[u8]) -> Result<Parsed<'_>, &'static str> {
    let mut f = Fields::new(line);
    let kind = f.next_field().ok_or("empty line")?;
    if !TYPES.contains(&kind) {
        return Err("not an ALB entry type (http, https, h2, grpcs, ws, wss)");
    }
    let time = f.next_field().ok_or("no time field")?;
    // Plain HTTP entries are most of a log and carry nothing about
    // WebSockets: stop before tokenizing the rest of them.
    if kind != b"ws" && kind != b"wss" {
        return match time.len() >= 20 && time[4] == b'-' && time[10] == b'T' {
            true => Ok(Parsed::Skip),
            false => Err("time is not ISO 8601"),
        };
    }
    let end_ms = parse_iso8601(time).ok_or("time is not ISO 8601")?;
    let _elb = f.next_field().ok_or("no elb field")?;
    let client = f.next_field().ok_or("no client field")?;
    let target = f.next_field().ok_or("no target field")?;
    if !f.skip(3) {
        return Err("line ends before the status");
    }
    let elb_status = f.next_field().ok_or("no elb_status_code")?;
    let target_status = f.next_field().ok_or("no target_status_code")?;
    if !f.skip(2) {
        return Err("line ends before the request");
    }
    let request = f.next_field().ok_or("no request field")?;
    let status = match elb_status {
        b"-" => 0,
        s => parse_status(s).ok_or("elb_status_code is not a status")?,
    };
    let (_, target_uri) = split_request(request).ok_or("request is not 'METHOD URL VERSION'")?;
    let mut r = Record::new(end_ms, status, request_path(target_uri), strip_port(client));
    r.upgrade = Upgrade::Yes;
    r.target = Some(target);
    if target_status != elb_status {
        r.backend_status = Some(target_status);
    }
    // user_agent … matched_rule_priority: 8 fields, then request_creation_time.
    if f.skip(8) {
        if let Some(created) = f.next_field() {
            r.start_ms = parse_iso8601(created);
            if status == 101 {
                r.lifetime_ms = r.start_ms.and_then(|s| u64::try_from(end_ms - s).ok());
            }
            // actions_executed, redirect_url, then error_reason.
            if f.skip(2) {
                r.reason = f.next_field();
            }
        }
    }
    Ok(Parsed::Record(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    const WSS: &[u8] = br#"wss 2026-01-15T14:03:11.186641Z app/my-lb/50dc6c495c0c9188 10.0.0.140:44244 10.0.0.171:8010 0.000 0.001 0.000 101 101 218 786 "GET https://10.0.0.30:443/chat?token=x HTTP/1.1" "Mozilla/5.0" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 "Root=1-58337364-23a8c76965a2ef7629b185e3" "chat.example.com" "arn:aws:acm:us-west-2:123456789012:certificate/12345678" 1 2026-01-15T14:02:11.186000Z "forward" "-" "-" "10.0.0.171:8010" "101" "-" "-" TID_1234"#;

    #[test]
    fn websocket_entry() {
        let Ok(Parsed::Record(r)) = parse(WSS) else {
            panic!("not parsed");
        };
        assert_eq!(r.status, 101);
        assert_eq!(r.lifetime_ms, Some(60_000));
        assert_eq!(r.path, b"/chat");
        assert_eq!(r.client, b"10.0.0.140");
        assert_eq!(r.reason, Some(b"-".as_slice()));
        assert_eq!(r.backend_status, None);
    }

    #[test]
    fn http_entries_are_skipped_and_junk_refused() {
        let http = br#"https 2026-01-15T14:03:11.186641Z app/my-lb/50dc 1.2.3.4:1 - -1 -1 -1 200 - 1 1 "GET / HTTP/1.1""#;
        assert!(matches!(parse(http), Ok(Parsed::Skip)));
        assert!(parse(b"hello world").is_err());
        assert!(parse(b"ws 2026-01-15T14:03:11Z app/x 1.2.3.4:1").is_err());
    }
}
