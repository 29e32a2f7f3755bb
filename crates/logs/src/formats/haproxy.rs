//! HAProxy logs: `option httplog` (timers `TR/Tw/Tc/Tr/Ta`, or the older
//! `Tq/Tw/Tc/Tr/Tt`) and `option tcplog` (`Tw/Tc/Tt`), with or without a
//! syslog header.
//!
//! A WebSocket through HAProxy in HTTP mode is logged when the tunnel ends,
//! with status 101 and the last timer covering the tunnel: that timer is the
//! lifetime. The termination state says who ended it (`cD`: client-side
//! timeout in the data phase, i.e. `timeout client`/`timeout tunnel`; `sD`:
//! server-side timeout; `CD`/`SD`: the client or server closed or aborted).
//! In TCP mode every line is a tunnel: the log cannot tell a WebSocket from
//! other TCP, so read such a log only for a WebSocket frontend.
//!
//! The accept date has no zone; it is read as UTC.

use memchr::memmem;

use crate::bytes::{parse_status, parse_u64, request_path, split_request, strip_port, Fields};
use crate::record::{Parsed, Record, Upgrade};
use crate::time::parse_haproxy_date;

/// Reads one HAProxy line.
pub(crate) fn parse(line: &[u8]) -> Result<Parsed<'_>, &'static str> {
    // Skip a syslog header: everything up to `haproxy[pid]: `.
    let body = match memmem::find(line, b"]: ") {
        Some(i) if memmem::find(&line[..i], b"haproxy[").is_some() => &line[i + 3..],
        _ => line,
    };
    let mut f = Fields::new(body);
    let client = f.next_field().ok_or("no client field")?;
    let date = f.next_field().ok_or("no accept date")?;
    let date = date
        .strip_prefix(b"[")
        .and_then(|d| d.strip_suffix(b"]"))
        .ok_or("no [accept date]")?;
    let start_ms = parse_haproxy_date(date).ok_or("accept date is not a date")?;
    let _frontend = f.next_field().ok_or("no frontend")?;
    let server = f.next_field().ok_or("no backend/server")?;
    let timers = f.next_field().ok_or("no timers")?;
    let mut t = [None::<u64>; 5];
    let mut n = 0;
    for part in timers.split(|c| *c == b'/') {
        if n == t.len() {
            return Err("more than five timers");
        }
        // `-1`: that phase never happened; `+`: logged early (logasap).
        let part = part.strip_prefix(b"+").unwrap_or(part);
        if part != b"-1" {
            t[n] = Some(parse_u64(part).ok_or("a timer is not a number")?);
        }
        n += 1;
    }
    let (lifetime, status, state, path) = match n {
        5 => {
            let status =
                parse_status(f.next_field().ok_or("no status")?).ok_or("status is not a status")?;
            // bytes_read, captured request cookie, captured response cookie.
            if !f.skip(3) {
                return Err("line ends before the termination state");
            }
            let state = f.next_field().ok_or("no termination state")?;
            // Connection counts, queues, then optional {captured headers}.
            if !f.skip(2) {
                return Err("line ends before the request");
            }
            let mut request = None;
            while let Some(field) = f.next_field() {
                if field.starts_with(b"{") {
                    continue;
                }
                request = Some(field);
                break;
            }
            let path = request
                .and_then(split_request)
                .map_or(b"/".as_slice(), |(_, target)| request_path(target));
            (t[4], status, state, path)
        }
        3 => {
            let _bytes = f.next_field().ok_or("no bytes")?;
            let state = f.next_field().ok_or("no termination state")?;
            (t[2], 0, state, b"".as_slice())
        }
        _ => return Err("timers are neither Tw/Tc/Tt nor TR/Tw/Tc/Tr/Ta"),
    };
    if state.len() < 2 {
        return Err("termination state is too short");
    }
    let end_ms = start_ms + lifetime.map_or(0, |l| i64::try_from(l).unwrap_or(0));
    let mut r = Record::new(end_ms, status, path, strip_port(client));
    r.start_ms = Some(start_ms);
    r.tunnel = n == 3;
    r.upgrade = if r.opened() {
        Upgrade::Yes
    } else {
        Upgrade::Maybe
    };
    if r.opened() {
        r.lifetime_ms = lifetime;
    }
    r.reason = Some(&state[..2]);
    r.target = Some(server);
    Ok(Parsed::Record(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_websocket_line_with_syslog_header() {
        let line = br#"Jan 15 14:03:11 lb1 haproxy[14389]: 10.0.1.2:33317 [15/Jan/2026:14:02:11.000] fe-https~ be-ws/ws1 0/0/1/2/60003 101 180 - - cD-- 12/12/3/1/0 0/0 "GET /socket?x=1 HTTP/1.1""#;
        let Ok(Parsed::Record(r)) = parse(line) else {
            panic!("not parsed")
        };
        assert_eq!(r.status, 101);
        assert_eq!(r.lifetime_ms, Some(60_003));
        assert_eq!(r.reason, Some(b"cD".as_slice()));
        assert_eq!(r.path, b"/socket");
        assert_eq!(r.client, b"10.0.1.2");
    }

    #[test]
    fn tcp_line_and_captured_headers() {
        let tcp = b"10.0.1.2:33313 [15/Jan/2026:14:02:51.443] fnt bck/srv1 0/0/+5007 212 sD 0/0/0/0/3 0/0";
        let Ok(Parsed::Record(r)) = parse(tcp) else {
            panic!("not parsed")
        };
        assert!(r.tunnel);
        assert_eq!(r.lifetime_ms, Some(5007));
        let http = br#"10.0.1.2:1 [15/Jan/2026:14:02:51.443] fe be/<NOSRV> -1/-1/-1/-1/0 503 212 - - SC-- 0/0/0/0/0 0/0 {host.example} {} "GET /ws HTTP/1.1""#;
        let Ok(Parsed::Record(r)) = parse(http) else {
            panic!("not parsed")
        };
        assert_eq!((r.status, r.path), (503, b"/ws".as_slice()));
        assert!(parse(b"10.0.1.2:1 [nope] fe be 1/2 x").is_err());
    }
}
