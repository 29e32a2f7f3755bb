//! The formats, and telling them apart.

pub(crate) mod alb;
pub(crate) mod haproxy;
pub(crate) mod har;
pub mod nginx;
mod nginx_common;
pub(crate) mod nginx_error;
mod nginx_fast;
pub(crate) mod wsdoctor;

use memchr::memchr_iter;
use wsdoctor_evidence::logs::LogFormat;

use self::nginx::NginxFormat;
use crate::record::Parsed;

/// A line-oriented format, ready to parse.
#[derive(Debug, Clone)]
pub(crate) enum LineParser {
    Alb,
    Nginx(NginxFormat),
    NginxError,
    Haproxy,
    Wsdoctor,
}

impl LineParser {
    /// The parser for a line-oriented format (`None` for HAR).
    pub(crate) fn for_format(format: LogFormat, nginx: &NginxFormat) -> Option<LineParser> {
        match format {
            LogFormat::Alb => Some(LineParser::Alb),
            LogFormat::Nginx => Some(LineParser::Nginx(nginx.clone())),
            LogFormat::NginxError => Some(LineParser::NginxError),
            LogFormat::Haproxy => Some(LineParser::Haproxy),
            LogFormat::Wsdoctor => Some(LineParser::Wsdoctor),
            LogFormat::Har => None,
        }
    }

    pub(crate) fn format(&self) -> LogFormat {
        match self {
            LineParser::Alb => LogFormat::Alb,
            LineParser::Nginx(_) => LogFormat::Nginx,
            LineParser::NginxError => LogFormat::NginxError,
            LineParser::Haproxy => LogFormat::Haproxy,
            LineParser::Wsdoctor => LogFormat::Wsdoctor,
        }
    }

    /// Reads one line (without its line ending).
    pub(crate) fn parse<'a>(&self, line: &'a [u8]) -> Result<Parsed<'a>, &'static str> {
        match self {
            LineParser::Alb => alb::parse(line),
            LineParser::Nginx(f) => f.parse(line),
            LineParser::NginxError => nginx_error::parse(line),
            LineParser::Haproxy => haproxy::parse(line),
            LineParser::Wsdoctor => wsdoctor::parse(line),
        }
    }
}

/// Lines looked at to detect a format.
const SNIFF_LINES: usize = 50;

/// The format of a file from its first bytes: wsdoctor's events when the
/// first line is one, HAR, or the line format that reads most of the first
/// lines. `None` when nothing reads at least half.
pub(crate) fn detect(head: &[u8], nginx: &NginxFormat) -> Option<LogFormat> {
    let first = head
        .split(|c| *c == b'\n')
        .map(|l| l.trim_ascii())
        .find(|l| !l.is_empty());
    if first.is_some_and(wsdoctor::looks_like_wsdoctor) {
        return Some(LogFormat::Wsdoctor);
    }
    if har::looks_like_har(head) {
        return Some(LogFormat::Har);
    }
    let mut lines = Vec::new();
    let mut start = 0;
    for end in memchr_iter(b'\n', head).chain(std::iter::once(head.len())) {
        let line = &head[start..end];
        start = end + 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if !line.iter().all(u8::is_ascii_whitespace) {
            lines.push(line);
        }
        if lines.len() == SNIFF_LINES {
            break;
        }
    }
    if lines.is_empty() {
        return None;
    }
    let candidates = [
        LineParser::Alb,
        LineParser::Haproxy,
        LineParser::NginxError,
        LineParser::Nginx(nginx.clone()),
    ];
    let (best, hits) = candidates
        .iter()
        .map(|p| (p, lines.iter().filter(|l| p.parse(l).is_ok()).count()))
        .max_by_key(|(_, hits)| *hits)?;
    (hits * 2 >= lines.len() && hits > 0).then(|| best.format())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_each_format() {
        let nginx = NginxFormat::combined();
        let cases: [(&[u8], Option<LogFormat>); 7] = [
            (
                b"ws 2026-01-15T14:03:11.186641Z app/lb/1 1.2.3.4:5 - 0 0 0 101 101 1 1 \"GET http://h:80/ HTTP/1.1\"\n",
                Some(LogFormat::Alb),
            ),
            (
                b"1.2.3.4 - - [15/Jan/2026:14:03:11 +0000] \"GET /ws HTTP/1.1\" 101 0 \"-\" \"ua\"\n",
                Some(LogFormat::Nginx),
            ),
            (
                b"2026/01/15 14:02:11 [notice] 1#1: signal process started\n",
                Some(LogFormat::NginxError),
            ),
            (
                b"10.0.1.2:33313 [15/Jan/2026:14:02:51.443] fnt bck/srv1 0/0/5007 212 -- 0/0/0/0/3 0/0\n",
                Some(LogFormat::Haproxy),
            ),
            (b"{\"log\": {\"entries\": []}}", Some(LogFormat::Har)),
            (b"hello\nworld\n", None),
            (
                b"\n{\"browser\":{},\"findings\":[]}\n{\"conn\":1,\"t_ms\":1}\n",
                Some(LogFormat::Wsdoctor),
            ),
        ];
        for (head, want) in cases {
            assert_eq!(
                detect(head, &nginx),
                want,
                "{}",
                String::from_utf8_lossy(head)
            );
        }
    }
}
