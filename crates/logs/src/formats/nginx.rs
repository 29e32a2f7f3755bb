//! nginx access logs: a `log_format` string compiled into a field-extractor
//! plan, run on each line without regex.
//!
//! Each variable's value runs up to the literal text that follows it in the
//! format (`"`, ` `, `] "`): nginx escapes `"` inside values as `\x22`
//! (since 1.1.6), so a literal quote always ends a quoted value. The one
//! exception is `$time_local`, which contains a space: it is fixed-width.
//!
//! An upgraded WebSocket is logged once, when it closes, with status 101
//! and `$request_time` = its whole lifetime.

use memchr::memmem::Finder;

use crate::bytes::{
    parse_secs_ms, parse_status, request_path, request_query, split_request, strip_port,
};
use crate::record::{Parsed, Record, Upgrade};
use crate::time::{parse_clf, parse_epoch_secs, parse_iso8601};

use super::nginx_common::polling;
pub use super::nginx_common::COMBINED;

/// Why a `log_format` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// Two variables with nothing between them cannot be told apart.
    #[error("${0} and ${1} have nothing between them, so their values cannot be told apart")]
    Adjacent(String, String),
    /// Without a time there is no timeline.
    #[error("the format has no $time_local, $time_iso8601 or $msec")]
    NoTime,
    /// Without a status no upgrade can be told from a failure.
    #[error("the format has no $status")]
    NoStatus,
    /// `${` without `}`.
    #[error("unterminated ${{ in the format")]
    Unterminated,
}

/// The variables the plan extracts; the rest are skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Var {
    RemoteAddr,
    ForwardedFor,
    TimeLocal,
    TimeIso,
    Msec,
    Request,
    RequestUri,
    Status,
    RequestTime,
    UpstreamStatus,
    UpstreamAddr,
    HttpUpgrade,
    Other,
}

impl Var {
    fn from_name(name: &str) -> Var {
        match name {
            "remote_addr" | "realip_remote_addr" | "binary_remote_addr" => Var::RemoteAddr,
            "http_x_forwarded_for" | "proxy_add_x_forwarded_for" => Var::ForwardedFor,
            "time_local" => Var::TimeLocal,
            "time_iso8601" => Var::TimeIso,
            "msec" => Var::Msec,
            "request" => Var::Request,
            "request_uri" | "uri" | "document_uri" => Var::RequestUri,
            "status" => Var::Status,
            "request_time" => Var::RequestTime,
            "upstream_status" => Var::UpstreamStatus,
            "upstream_addr" => Var::UpstreamAddr,
            "http_upgrade" => Var::HttpUpgrade,
            _ => Var::Other,
        }
    }

    /// Values of fixed width (that may contain the following literal).
    fn fixed_width(self) -> Option<usize> {
        match self {
            Var::TimeLocal => Some(26),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
enum Item {
    Lit(Box<Finder<'static>>),
    Var(Var),
}

/// A compiled `log_format`.
#[derive(Debug, Clone)]
pub struct NginxFormat {
    items: Vec<Item>,
    /// The format logs `$http_upgrade`, so upgrade requests are known
    /// rather than inferred from paths that answered 101.
    has_upgrade: bool,
    /// The item after which a plain (non-101) line has given everything it
    /// can (time, status, request): the rest of such a line is not scanned.
    /// Most lines of an access log are plain, and their user agents and
    /// referers are most of their bytes.
    plain_cutoff: usize,
    /// `combined` (with or without ` $request_time`): plain lines take the
    /// hand-written path of [`super::nginx_fast`].
    fast: bool,
}

impl NginxFormat {
    /// nginx's `combined`.
    pub fn combined() -> NginxFormat {
        // `COMBINED` is a valid format (a test checks); fall back to an empty
        // plan that refuses every line rather than panicking.
        NginxFormat::compile(COMBINED).unwrap_or(NginxFormat {
            items: Vec::new(),
            has_upgrade: false,
            plain_cutoff: 0,
            fast: false,
        })
    }

    /// Compiles a `log_format` string (as in nginx.conf, quotes removed).
    pub fn compile(format: &str) -> Result<NginxFormat, FormatError> {
        let mut items = Vec::new();
        let mut names = Vec::new();
        let mut lit = Vec::new();
        let b = format.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] != b'$' {
                lit.push(b[i]);
                i += 1;
                continue;
            }
            let (name, next) = if b.get(i + 1) == Some(&b'{') {
                let end = b[i + 2..]
                    .iter()
                    .position(|&c| c == b'}')
                    .ok_or(FormatError::Unterminated)?;
                (&format[i + 2..i + 2 + end], i + 3 + end)
            } else {
                let len = b[i + 1..]
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
                    .count();
                (&format[i + 1..i + 1 + len], i + 1 + len)
            };
            if name.is_empty() {
                lit.push(b'$');
                i += 1;
                continue;
            }
            if !lit.is_empty() {
                items.push(Item::Lit(Box::new(Finder::new(&lit).into_owned())));
                lit.clear();
            } else if let Some(Item::Var(_)) = items.last() {
                let prev: &String = names.last().ok_or(FormatError::Unterminated)?;
                return Err(FormatError::Adjacent(prev.clone(), name.to_owned()));
            }
            items.push(Item::Var(Var::from_name(name)));
            names.push(name.to_owned());
            i = next;
        }
        if !lit.is_empty() {
            items.push(Item::Lit(Box::new(Finder::new(&lit).into_owned())));
        }
        let has = |v: Var| items.iter().any(|i| matches!(i, Item::Var(x) if *x == v));
        if !has(Var::TimeLocal) && !has(Var::TimeIso) && !has(Var::Msec) {
            return Err(FormatError::NoTime);
        }
        if !has(Var::Status) {
            return Err(FormatError::NoStatus);
        }
        let needed = |v: &Var| {
            matches!(
                v,
                Var::TimeLocal
                    | Var::TimeIso
                    | Var::Msec
                    | Var::Status
                    | Var::Request
                    | Var::RequestUri
            )
        };
        let plain_cutoff = items
            .iter()
            .rposition(|i| matches!(i, Item::Var(v) if needed(v)))
            .unwrap_or(items.len());
        Ok(NginxFormat {
            has_upgrade: has(Var::HttpUpgrade),
            items,
            plain_cutoff,
            fast: super::nginx_fast::applies(format),
        })
    }

    /// Reads one line with this plan.
    pub(crate) fn parse<'a>(&self, line: &'a [u8]) -> Result<Parsed<'a>, &'static str> {
        if self.fast {
            if let Some(parsed) = super::nginx_fast::parse_plain(line) {
                return Ok(parsed);
            }
        }
        self.parse_general(line)
    }

    /// Reads one line with the compiled plan (any format, any line).
    fn parse_general<'a>(&self, line: &'a [u8]) -> Result<Parsed<'a>, &'static str> {
        let mut v = Values::default();
        let mut at = 0;
        for (k, item) in self.items.iter().enumerate() {
            match item {
                Item::Lit(f) => {
                    let lit = f.needle();
                    if !has_prefix(&line[at..], lit) {
                        return Err("line does not match the log format");
                    }
                    at += lit.len();
                }
                Item::Var(var) => {
                    let rest = &line[at..];
                    let len = match (var.fixed_width(), self.items.get(k + 1)) {
                        (Some(w), _) if rest.len() >= w => w,
                        (Some(_), _) => return Err("line ends inside a fixed-width field"),
                        (None, Some(Item::Lit(f))) => {
                            find_literal(f, rest).ok_or("line does not match the log format")?
                        }
                        // Last item: the rest of the line.
                        (None, _) => rest.len(),
                    };
                    v.set(*var, &rest[..len]);
                    at += len;
                    // Plain lines stop here; 101s and capacity errors
                    // (5xx, 429: maybe failed upgrades, placed on the
                    // open-connection sweep by their start) read on.
                    if k == self.plain_cutoff
                        && !self.has_upgrade
                        && !matches!(v.status, Some(b"101" | b"429" | b"000" | [b'5', _, _]))
                    {
                        break;
                    }
                }
            }
        }
        self.record(&v)
    }

    fn record<'a>(&self, v: &Values<'a>) -> Result<Parsed<'a>, &'static str> {
        let (end_ms, offset) = if let Some(t) = v.time_local {
            let (ms, off) = parse_clf(t).ok_or("$time_local is not a time")?;
            (ms, Some(off))
        } else if let Some(t) = v.time_iso {
            (parse_iso8601(t).ok_or("$time_iso8601 is not a time")?, None)
        } else {
            let t = v.msec.ok_or("no time")?;
            (parse_epoch_secs(t).ok_or("$msec is not a time")?, None)
        };
        let status = parse_status(v.status.unwrap_or(b"-")).ok_or("$status is not a status")?;
        let target = match (v.request, v.request_uri) {
            (_, Some(uri)) => uri,
            (Some(req), None) => split_request(req).map_or(req, |(_, t)| t),
            (None, None) => b"/",
        };
        if self.has_upgrade && status != 101 && !v.upgrade.is_some_and(is_websocket) {
            // Plain HTTP, and the log says so: nothing more to read.
            let mut r = Record::new(end_ms, status, b"", b"");
            r.upgrade = Upgrade::No;
            return Ok(Parsed::Record(r));
        }
        if !self.has_upgrade && status != 101 {
            // The common plain-HTTP line: only its path and status matter
            // (they become failed upgrades if the path turns out to serve
            // WebSockets), so skip the client and timer fields.
            let mut r = Record::new(end_ms, status, request_path(target), b"");
            r.utc_offset_s = offset;
            if polling(request_query(target)) {
                r.upgrade = Upgrade::No;
            }
            // Capacity errors are rare: their start places them on the
            // open-count sweep (failures that rise with concurrency).
            if matches!(status, 0 | 429 | 500..=599) {
                r.start_ms = v
                    .request_time
                    .and_then(parse_secs_ms)
                    .and_then(|rt| i64::try_from(rt).ok())
                    .map(|rt| end_ms - rt);
            }
            return Ok(Parsed::Record(r));
        }
        let client = match v.forwarded_for.filter(|x| !x.is_empty() && *x != b"-") {
            // The first address is the client; the rest are proxies.
            Some(xff) => first_address(xff),
            None => strip_port(v.remote_addr.unwrap_or(b"-")),
        };
        let mut r = Record::new(end_ms, status, request_path(target), client);
        r.utc_offset_s = offset;
        r.upgrade = if self.has_upgrade {
            match v.upgrade {
                Some(u) if is_websocket(u) => Upgrade::Yes,
                _ => Upgrade::No,
            }
        } else if polling(request_query(target)) {
            Upgrade::No
        } else {
            Upgrade::Maybe
        };
        if let Some(rt) = v.request_time.and_then(parse_secs_ms) {
            r.start_ms = i64::try_from(rt).ok().map(|rt| end_ms - rt);
            if status == 101 {
                r.lifetime_ms = Some(rt);
            }
        }
        r.backend_status = v
            .upstream_status
            .filter(|s| Some(*s) != v.status && *s != b"-");
        r.target = v.upstream_addr;
        Ok(Parsed::Record(r))
    }
}

/// Where `lit` starts in `hay`. Log-format literals are one to three bytes
/// (`" `, `] "`), where a `memchr` for the first byte and a compare beat a
/// general substring search.
fn find_literal(lit: &Finder<'static>, hay: &[u8]) -> Option<usize> {
    let needle = lit.needle();
    let (&first, rest) = needle.split_first()?;
    if needle.len() > 4 {
        return lit.find(hay);
    }
    let mut at = 0;
    loop {
        let i = at + find_byte(first, &hay[at..])?;
        if has_prefix(&hay[i + 1..], rest) {
            return Some(i);
        }
        at = i + 1;
    }
}

/// `hay.starts_with(needle)` for the few-byte needles of log formats,
/// without the call into libc's `memcmp` that `starts_with` makes.
#[inline]
fn has_prefix(hay: &[u8], needle: &[u8]) -> bool {
    hay.len() >= needle.len() && hay.iter().zip(needle).all(|(a, b)| a == b)
}

/// The first `b` in `hay`: fields are mostly short, where a plain loop over
/// the first bytes beats `memchr`'s setup; long ones (user agents) go to
/// `memchr`.
#[inline]
fn find_byte(b: u8, hay: &[u8]) -> Option<usize> {
    const SHORT: usize = 24;
    let head = &hay[..hay.len().min(SHORT)];
    if let Some(i) = head.iter().position(|c| *c == b) {
        return Some(i);
    }
    if hay.len() <= SHORT {
        return None;
    }
    memchr::memchr(b, &hay[SHORT..]).map(|i| i + SHORT)
}

fn is_websocket(upgrade: &[u8]) -> bool {
    upgrade.eq_ignore_ascii_case(b"websocket")
}

fn first_address(xff: &[u8]) -> &[u8] {
    let end = memchr::memchr(b',', xff).unwrap_or(xff.len());
    let a = &xff[..end];
    let start = a.iter().take_while(|c| **c == b' ').count();
    &a[start..]
}

#[derive(Default)]
struct Values<'a> {
    remote_addr: Option<&'a [u8]>,
    forwarded_for: Option<&'a [u8]>,
    time_local: Option<&'a [u8]>,
    time_iso: Option<&'a [u8]>,
    msec: Option<&'a [u8]>,
    request: Option<&'a [u8]>,
    request_uri: Option<&'a [u8]>,
    status: Option<&'a [u8]>,
    request_time: Option<&'a [u8]>,
    upstream_status: Option<&'a [u8]>,
    upstream_addr: Option<&'a [u8]>,
    upgrade: Option<&'a [u8]>,
}

impl<'a> Values<'a> {
    fn set(&mut self, var: Var, value: &'a [u8]) {
        let slot = match var {
            Var::RemoteAddr => &mut self.remote_addr,
            Var::ForwardedFor => &mut self.forwarded_for,
            Var::TimeLocal => &mut self.time_local,
            Var::TimeIso => &mut self.time_iso,
            Var::Msec => &mut self.msec,
            Var::Request => &mut self.request,
            Var::RequestUri => &mut self.request_uri,
            Var::Status => &mut self.status,
            Var::RequestTime => &mut self.request_time,
            Var::UpstreamStatus => &mut self.upstream_status,
            Var::UpstreamAddr => &mut self.upstream_addr,
            Var::HttpUpgrade => &mut self.upgrade,
            Var::Other => return,
        };
        *slot = Some(value);
    }
}

/// The `log_format` definitions in an nginx.conf text: `(name, format)`,
/// the format's quoted parts joined the way nginx joins them.
pub fn log_formats_in_conf(conf: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = conf;
    while let Some(i) = rest.find("log_format") {
        let before_ok = i == 0 || rest.as_bytes()[i - 1].is_ascii_whitespace();
        rest = &rest[i + "log_format".len()..];
        if !before_ok || !rest.starts_with(|c: char| c.is_ascii_whitespace()) {
            continue;
        }
        let Some(end) = directive_end(rest) else {
            break;
        };
        let body = &rest[..end];
        rest = &rest[end..];
        let mut words = body.split_whitespace();
        let Some(name) = words.next() else { continue };
        let mut format = String::new();
        let mut inside: Option<char> = None;
        for ch in body[body.find(name).map_or(0, |p| p + name.len())..].chars() {
            match (inside, ch) {
                (None, '\'' | '"') => inside = Some(ch),
                (Some(q), c) if c == q => inside = None,
                (Some(_), c) => format.push(c),
                (None, _) => {}
            }
        }
        out.push((name.to_owned(), format));
    }
    out
}

/// Where the directive starting at `text` ends (its `;` outside quotes).
fn directive_end(text: &str) -> Option<usize> {
    let mut inside: Option<char> = None;
    for (i, ch) in text.char_indices() {
        match (inside, ch) {
            (None, '\'' | '"') => inside = Some(ch),
            (Some(q), c) if c == q => inside = None,
            (None, ';') => return Some(i),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn record(format: &NginxFormat, line: &[u8]) -> Option<(u16, Option<u64>, String, String)> {
        match format.parse(line) {
            Ok(Parsed::Record(r)) => Some((
                r.status,
                r.lifetime_ms,
                String::from_utf8_lossy(r.path).into_owned(),
                String::from_utf8_lossy(r.client).into_owned(),
            )),
            _ => None,
        }
    }

    #[test]
    fn combined_line() {
        let f = NginxFormat::combined();
        let line = br#"203.0.113.9 - - [15/Jan/2026:14:03:11 +0000] "GET /ws?token=abc HTTP/1.1" 101 520 "-" "Mozilla/5.0 (X11)""#;
        assert_eq!(
            record(&f, line),
            Some((101, None, "/ws".into(), "203.0.113.9".into()))
        );
        assert!(f
            .parse(b"203.0.113.9 - - [15/Jan/2026:14:03:11 +0000] \"GET")
            .is_err());
    }

    #[test]
    fn custom_format_with_request_time_and_upgrade() {
        let f = NginxFormat::compile(
            r#"$remote_addr [$time_local] "$request" $status $request_time "$http_upgrade" $upstream_status"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let line = br#"10.1.1.1 [15/Jan/2026:14:03:11 +0100] "GET /live HTTP/1.1" 101 60.002 "websocket" 101"#;
        assert_eq!(
            record(&f, line),
            Some((101, Some(60_002), "/live".into(), "10.1.1.1".into()))
        );
        let plain =
            br#"10.1.1.1 [15/Jan/2026:14:03:11 +0100] "GET /live HTTP/1.1" 400 0.001 "-" -"#;
        let Ok(Parsed::Record(r)) = f.parse(plain) else {
            panic!("not parsed")
        };
        assert_eq!(r.upgrade, Upgrade::No);
    }

    #[test]
    fn bad_formats() {
        assert!(matches!(
            NginxFormat::compile("$remote_addr$status $msec"),
            Err(FormatError::Adjacent(..))
        ));
        assert_eq!(
            NginxFormat::compile("$remote_addr $status").err(),
            Some(FormatError::NoTime)
        );
        assert!(NginxFormat::compile(COMBINED).is_ok());
    }

    #[test]
    fn formats_from_conf() {
        let conf = "http {\n  log_format ws '$remote_addr [$time_local] '\n     '\"$request\" $status $request_time';\n  access_log /var/log/nginx/ws.log ws;\n}";
        assert_eq!(
            log_formats_in_conf(conf),
            vec![(
                "ws".to_owned(),
                "$remote_addr [$time_local] \"$request\" $status $request_time".to_owned()
            )]
        );
    }

    /// The hand-written `combined` path answers exactly what the compiled
    /// plan answers, on good lines and on every one-byte damage of them.
    #[test]
    fn fast_path_agrees_with_the_plan() {
        let lines: [&[u8]; 4] = [
            br#"10.1.2.3 - - [15/Jan/2026:14:02:11 +0100] "GET /static/a.js?v=1 HTTP/1.1" 200 3201 "https://x/" "Mozilla/5.0" 0.004"#,
            br#"10.1.2.3 - bob [15/Jan/2026:14:02:11 +0000] "GET /ws HTTP/1.1" 101 3201 "-" "ua" 61.002"#,
            br#"::1 - - [15/Jan/2026:14:02:11 +0000] "GET /socket.io/?transport=polling HTTP/1.1" 304 0 "-" "ua""#,
            br#"10.1.2.3 - - [15/Jan/2026:14:02:11 +0000] "GET /ws HTTP/1.1" 503 0 "-" "ua" 0.001"#,
        ];
        for text in [COMBINED.to_owned(), format!("{COMBINED} $request_time")] {
            let fast = NginxFormat::compile(&text).unwrap();
            assert!(fast.fast);
            for line in lines {
                let mut variants = vec![line.to_vec()];
                for i in 0..line.len() {
                    let mut cut = line.to_vec();
                    cut.remove(i);
                    variants.push(cut);
                    for b in [b' ', b'"', b'[', b'x', b'5'] {
                        let mut changed = line.to_vec();
                        changed[i] = b;
                        variants.push(changed);
                    }
                }
                for v in &variants {
                    assert_eq!(
                        format!("{:?}", fast.parse(v)),
                        format!("{:?}", fast.parse_general(v)),
                        "{}",
                        String::from_utf8_lossy(v)
                    );
                }
            }
        }
        assert!(
            !NginxFormat::compile("$remote_addr [$time_local] \"$request\" $status")
                .unwrap()
                .fast
        );
    }
}
