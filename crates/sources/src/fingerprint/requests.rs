//! The fingerprint's requests and the parsing of their answers: pure, no
//! I/O, so both are table-tested without a socket.

use wsdoctor_evidence::{redact_header_value, Header};
use wsdoctor_wire::handshake::{parse_head, HeadParse};

/// Length of the path in the over-long request line: past nginx's and
/// Apache's 8 KB line limits (nginx `large_client_header_buffers` 8k,
/// Apache `LimitRequestLine` 8190), far below anything that could strain a
/// server, and under HAProxy's 16 KB buffer (it forwards it, which also
/// tells it apart).
pub const LONG_PATH_BYTES: usize = 10_000;
/// Bytes of an answer kept (head and body together): error pages are short.
pub const MAX_ANSWER_BYTES: usize = 8 * 1024;
/// Characters of body kept in the record.
const MAX_BODY_CHARS: usize = 2048;

/// One of the fixed requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// `GET path` with a header whose name has a space in it (RFC 9112
    /// §5.1 forbids it: a strict parser answers 400 before anything else).
    BadHeaderName,
    /// A method no server implements (`WSDOCTOR-FINGERPRINT`).
    UnknownMethod,
    /// A request line longer than common line limits.
    LongRequestLine,
    /// `OPTIONS *` (RFC 9110 §9.3.7): the asterisk form, which many
    /// proxies refuse or answer themselves.
    OptionsStar,
}

impl Request {
    /// Every request, in the order sent. Never more than these four.
    pub const ALL: [Request; 4] = [
        Request::BadHeaderName,
        Request::UnknownMethod,
        Request::LongRequestLine,
        Request::OptionsStar,
    ];

    /// The name in the record and the signature table.
    pub fn name(self) -> &'static str {
        match self {
            Request::BadHeaderName => "bad-header-name",
            Request::UnknownMethod => "unknown-method",
            Request::LongRequestLine => "long-request-line",
            Request::OptionsStar => "options-star",
        }
    }

    /// The request's bytes for `path` (no query: nothing secret is sent)
    /// on `host_header`. Every request asks the server to close after it.
    pub fn bytes(self, path: &str, host_header: &str) -> Vec<u8> {
        let common = format!(
            "Host: {host_header}\r\nUser-Agent: wsdoctor-fingerprint\r\nConnection: close\r\n"
        );
        let text = match self {
            Request::BadHeaderName => {
                format!("GET {path} HTTP/1.1\r\n{common}Bad Header: 1\r\n\r\n")
            }
            Request::UnknownMethod => {
                format!("WSDOCTOR-FINGERPRINT {path} HTTP/1.1\r\n{common}\r\n")
            }
            Request::LongRequestLine => {
                let long = "a".repeat(LONG_PATH_BYTES);
                format!("GET /{long} HTTP/1.1\r\n{common}\r\n")
            }
            Request::OptionsStar => format!("OPTIONS * HTTP/1.1\r\n{common}\r\n"),
        };
        text.into_bytes()
    }

    /// What was sent, in words, for the report.
    pub fn described(self, path: &str) -> String {
        match self {
            Request::BadHeaderName => {
                format!(
                    "GET {path} HTTP/1.1 with a header named \"Bad Header\" (a space in the name)"
                )
            }
            Request::UnknownMethod => {
                format!("WSDOCTOR-FINGERPRINT {path} HTTP/1.1 (unknown method)")
            }
            Request::LongRequestLine => format!(
                "GET /aaa… HTTP/1.1 with a {}-byte path (over-long request line)",
                LONG_PATH_BYTES + 1
            ),
            Request::OptionsStar => "OPTIONS * HTTP/1.1".to_owned(),
        }
    }
}

/// A parsed answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Reason phrase (lossy UTF-8).
    pub reason: String,
    /// Headers in order, secrets redacted.
    pub headers: Vec<Header>,
    /// The start of the body.
    pub body: String,
}

/// Why bytes are not (yet) an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    /// The head has not fully arrived.
    #[error("the answer's head is incomplete")]
    Incomplete,
    /// Not an HTTP/1.x response.
    #[error("not an HTTP response: {0}")]
    NotHttp(String),
}

/// Parses what arrived. `Incomplete` while the head is partial.
pub fn parse(bytes: &[u8]) -> Result<Answer, AnswerError> {
    let head = match parse_head(bytes) {
        HeadParse::Complete(head) => head,
        HeadParse::Partial => return Err(AnswerError::Incomplete),
        HeadParse::Invalid(e) => return Err(AnswerError::NotHttp(e)),
    };
    let body: String = String::from_utf8_lossy(bytes.get(head.len..).unwrap_or_default())
        .chars()
        .take(MAX_BODY_CHARS)
        .collect();
    Ok(Answer {
        status: head.status,
        reason: head.reason,
        headers: head
            .headers
            .into_iter()
            .map(|(name, value)| Header {
                value: redact_header_value(&name, &value),
                name,
            })
            .collect(),
        body,
    })
}

/// True when `bytes` hold the whole answer: the head and as many body
/// bytes as `Content-Length` says (without one, only the peer's close ends it).
pub fn complete(bytes: &[u8]) -> bool {
    let HeadParse::Complete(head) = parse_head(bytes) else {
        return false;
    };
    head.headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse::<usize>().ok())
        .is_some_and(|len| bytes.len() >= head.len.saturating_add(len))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_request_is_one_http_head_asking_to_close() {
        for r in Request::ALL {
            let bytes = r.bytes("/chat", "example.test");
            let text = String::from_utf8(bytes).unwrap();
            assert!(text.ends_with("\r\n\r\n"), "{}", r.name());
            assert_eq!(text.matches("\r\n\r\n").count(), 1, "{}", r.name());
            assert!(text.contains("Connection: close\r\n"), "{}", r.name());
            assert!(text.len() < LONG_PATH_BYTES + 200, "{}", r.name());
        }
        let long = Request::LongRequestLine.bytes("/", "h");
        assert!(long.len() > LONG_PATH_BYTES);
    }

    #[test]
    fn haproxy_answer_parses_with_its_own_spelling() {
        let raw = b"HTTP/1.1 400 Bad request\r\nContent-length: 90\r\nCache-Control: no-cache\r\n\
Connection: close\r\nContent-Type: text/html\r\n\r\n<html><body><h1>400 Bad request</h1>\n\
Your browser sent an invalid request.\n</body></html>\n";
        assert!(complete(raw));
        let a = parse(raw).unwrap();
        assert_eq!((a.status, a.reason.as_str()), (400, "Bad request"));
        assert_eq!(a.headers[0].name, "Content-length");
        assert!(a.body.contains("Your browser sent an invalid request."));
        assert!(!complete(&raw[..raw.len() - 5]));
        assert_eq!(parse(&raw[..20]), Err(AnswerError::Incomplete));
        assert!(matches!(
            parse(b"SSH-2.0-OpenSSH\r\n\r\n"),
            Err(AnswerError::NotHttp(_))
        ));
    }

    #[test]
    fn secrets_in_an_answer_are_redacted() {
        let a = parse(b"HTTP/1.1 400 x\r\nSet-Cookie: session=abc123\r\n\r\n").unwrap();
        assert!(!a.headers[0].value.contains("abc123"), "{:?}", a.headers);
    }
}
