//! nginx error logs: only the lines that explain WebSocket drops — reloads
//! and shutdowns (old workers end their upgraded connections), and errors
//! "while proxying upgraded connection" (`proxy_read_timeout` expiring on a
//! WebSocket). Times have no zone: they are read in the access logs' zone.

use memchr::memmem;
use wsdoctor_evidence::logs::LogEventKind;

use crate::record::Parsed;
use crate::time::parse_nginx_error_date;

/// Reads one error-log line.
pub(crate) fn parse(line: &[u8]) -> Result<Parsed<'_>, &'static str> {
    let local_ms = parse_nginx_error_date(line).ok_or("no 'yyyy/mm/dd hh:mm:ss' time")?;
    let rest = &line[19..];
    let rest = rest.strip_prefix(b" [").ok_or("no [level]")?;
    let close = memchr::memchr(b']', rest).ok_or("no [level]")?;
    let message = rest.get(close + 2..).unwrap_or(&[]);
    let has = |needle: &[u8]| memmem::find(message, needle).is_some();
    let kind = if has(b"while proxying upgraded connection") {
        if has(b"timed out") {
            LogEventKind::UpgradedTimeout
        } else {
            LogEventKind::UpgradedError
        }
    } else if has(b"reconfiguring") || has(b"(SIGHUP)") {
        LogEventKind::Reload
    } else if has(b"gracefully shutting down") || has(b"(SIGQUIT)") || has(b"(SIGTERM)") {
        LogEventKind::Shutdown
    } else {
        return Ok(Parsed::Skip);
    };
    Ok(Parsed::Event {
        local_ms,
        kind,
        text: message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(line: &[u8]) -> Option<LogEventKind> {
        match parse(line) {
            Ok(Parsed::Event { kind, .. }) => Some(kind),
            _ => None,
        }
    }

    #[test]
    fn classified_lines() {
        assert_eq!(
            kind(b"2026/01/15 14:02:11 [error] 31#31: *5678 upstream timed out (110: Connection timed out) while proxying upgraded connection, client: 1.2.3.4"),
            Some(LogEventKind::UpgradedTimeout)
        );
        assert_eq!(
            kind(b"2026/01/15 14:02:11 [notice] 1#1: signal 1 (SIGHUP) received from 4242, reconfiguring"),
            Some(LogEventKind::Reload)
        );
        assert_eq!(
            kind(b"2026/01/15 14:02:11 [notice] 30#30: gracefully shutting down"),
            Some(LogEventKind::Shutdown)
        );
        assert!(matches!(
            parse(b"2026/01/15 14:02:11 [notice] 1#1: start worker processes"),
            Ok(Parsed::Skip)
        ));
        assert!(parse(b"Jan 15 garbage").is_err());
    }
}
