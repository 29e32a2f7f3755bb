//! Secrets never reach an output: header values that carry credentials,
//! query and fragment parameters that look like tokens (also when their
//! name is percent-encoded), and bearer tokens passed as WebSocket
//! subprotocols are replaced before anything is recorded or printed, so
//! every renderer, and every error message, is safe by construction.

/// What a redacted value is replaced with.
pub const REDACTED: &str = "REDACTED";

const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "x-auth-token",
    "x-amz-security-token",
];

const SECRET_QUERY_WORDS: &[&str] = &[
    "token",
    "key",
    "secret",
    "password",
    "passwd",
    "pwd",
    "auth",
    "sig",
    "signature",
    "session",
    "jwt",
    "credential",
    "code",
    "ticket",
];

/// Parameter names that carry a secret only under exactly that name:
/// SignalR's `id` is the negotiated connectionToken, which its spec keeps
/// from other clients (TransportProtocols.md); `client_id` and friends are
/// not secrets and keep their value.
const SECRET_QUERY_NAMES: &[&str] = &["id"];

/// The subprotocol prefix Kubernetes (and gateways modelled on it) put a
/// bearer token behind: `base64url.bearer.authorization.k8s.io.<token>`.
const BEARER_SUBPROTOCOL_PREFIX: &str = "base64url.bearer.authorization.k8s.io.";

/// A subprotocol whose *next* list element is the token
/// (`["access_token", "<token>"]`, as several gateways and GraphQL servers
/// take it from browsers, which cannot set `Authorization`).
const TOKEN_BEFORE_SUBPROTOCOLS: &[&str] = &["access_token", "bearer", "token", "authorization"];

/// Redacts a list of WebSocket subprotocols, element by element: the token
/// after a Kubernetes bearer prefix, the element that follows
/// `access_token` (or `bearer`, `token`, `authorization`), and anything
/// shaped like a JWT. Protocol names themselves are kept: they diagnose.
pub fn redact_subprotocols<S: AsRef<str>>(protocols: &[S]) -> Vec<String> {
    let mut out = Vec::with_capacity(protocols.len());
    let mut token_next = false;
    for p in protocols {
        let p = p.as_ref().trim();
        let lower = p.to_ascii_lowercase();
        let redacted = if token_next {
            REDACTED.to_owned()
        } else if lower.starts_with(BEARER_SUBPROTOCOL_PREFIX) {
            format!("{}{REDACTED}", &p[..BEARER_SUBPROTOCOL_PREFIX.len()])
        } else if looks_like_jwt(p) {
            REDACTED.to_owned()
        } else {
            p.to_owned()
        };
        token_next = TOKEN_BEFORE_SUBPROTOCOLS.contains(&lower.as_str());
        out.push(redacted);
    }
    out
}

/// `Sec-WebSocket-Protocol`'s value (a comma-separated list) redacted.
fn redact_subprotocol_header(value: &str) -> String {
    let list: Vec<&str> = value.split(',').collect();
    redact_subprotocols(&list).join(", ")
}

/// Three dot-separated base64url segments, the first a JSON header (`eyJ`).
fn looks_like_jwt(s: &str) -> bool {
    s.starts_with("eyJ")
        && s.split('.').count() == 3
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '='))
}

/// Returns the value to record for header `name`: the value itself, or
/// [`REDACTED`] when the header carries credentials. For `Authorization`
/// the scheme (`Bearer`, `Basic`) is kept because it helps diagnosis;
/// `Sec-WebSocket-Protocol` keeps its protocol names and loses the tokens
/// passed in it ([`redact_subprotocols`]).
pub fn redact_header_value(name: &str, value: &str) -> String {
    let lower = name.to_ascii_lowercase();
    if lower == "sec-websocket-protocol" {
        return redact_subprotocol_header(value);
    }
    if !SECRET_HEADERS.contains(&lower.as_str()) {
        return value.to_owned();
    }
    if lower.ends_with("authorization") {
        if let Some((scheme, _)) = value.split_once(' ') {
            return format!("{scheme} {REDACTED}");
        }
    }
    // Keep cookie names (AWSALB, __cf_bm … identify intermediaries), drop values.
    if lower == "set-cookie" {
        let name = value.split(['=', ';']).next().unwrap_or_default().trim();
        return format!("{name}={REDACTED}");
    }
    if lower == "cookie" {
        return value
            .split(';')
            .map(|part| {
                let name = part.split('=').next().unwrap_or_default().trim();
                format!("{name}={REDACTED}")
            })
            .collect::<Vec<_>>()
            .join("; ");
    }
    REDACTED.to_owned()
}

/// True for a parameter name that looks like it carries a secret, judged
/// as written and after percent-decoding (`%74oken` is `token` to the
/// server; `%1code` decodes to no word at all, but reads as one: found by
/// the `redaction` fuzz target).
fn is_secret_param(name: &str) -> bool {
    let decoded = percent_encoding::percent_decode_str(name).decode_utf8_lossy();
    [name, &decoded].iter().any(|form| {
        let lower = form.replace('+', " ").to_ascii_lowercase();
        SECRET_QUERY_WORDS.iter().any(|w| lower.contains(w))
            || SECRET_QUERY_NAMES.contains(&lower.as_str())
    })
}

/// `k=v&k=v` with the values of secret-looking names redacted.
fn redact_pairs(pairs: &str) -> String {
    pairs
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if is_secret_param(k) && !v.is_empty() => format!("{k}={REDACTED}"),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Redacts a URL as a user typed it, which may not parse: everything
/// between `://` and the last `@` before the query is credentials, whatever
/// it contains (a `/`, `?` or `#` in a password would fool
/// [`redact_url`]'s parse-shaped reading), and the query and fragment are
/// redacted as usual. For error messages that quote what was typed.
pub fn redact_typed_url(input: &str) -> String {
    // Without a scheme (`user:pw@host`) everything before the last `@`
    // is user info too (found by the `redaction` fuzz target).
    let (scheme, rest) = match input.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), input),
    };
    match rest.rfind('@') {
        Some(at) => redact_url(&format!("{scheme}{REDACTED}@{}", &rest[at + 1..])),
        None => redact_url(input),
    }
}

/// Header lines of an application protocol's text frames that carry a
/// login: STOMP's CONNECT `login` and `passcode` (STOMP 1.2 §CONNECT).
/// MQTT's user name and password travel in binary messages, which keep no
/// preview.
const SECRET_FRAME_HEADERS: &[&str] = &["login", "passcode"];

/// Redacts the values of login header lines (`passcode:…`, `login:…`) in a
/// message preview, so the STOMP CONNECT frame wsdoctor sent never shows
/// its credentials in any output. Other lines stay as they are.
pub fn redact_message_preview(text: &str) -> String {
    let is_secret = |line: &str| {
        line.split_once(':').is_some_and(|(name, _)| {
            SECRET_FRAME_HEADERS
                .iter()
                .any(|secret| name.trim().eq_ignore_ascii_case(secret))
        })
    };
    if !text.lines().any(is_secret) {
        return text.to_owned();
    }
    text.split_inclusive('\n')
        .map(|line| match line.split_once(':') {
            Some((name, rest)) if is_secret(line) => {
                let ending = &rest[rest.trim_end_matches(['\r', '\n']).len()..];
                format!("{name}:{REDACTED}{ending}")
            }
            _ => line.to_owned(),
        })
        .collect()
}

/// Redacts every URL-looking word of a free text (an error message that
/// quotes what the user typed or a library's error that quotes a URL):
/// user info and token-like parameters go, the rest stays.
pub fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        // The URL starts at the scheme, just before "://".
        let start = rest[..at]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map_or(0, |i| i + 1);
        let end = rest[at..]
            .find(|c: char| c.is_whitespace() || matches!(c, '`' | '\'' | '"' | '<' | '>'))
            .map_or(rest.len(), |i| at + i);
        // Sentence punctuation after a URL is not part of it.
        let end = start
            + rest[start..end]
                .trim_end_matches([';', ',', '.', ')', ']', ':'])
                .len();
        let end = end.max(at + 3);
        out.push_str(&rest[..start]);
        out.push_str(&redact_typed_url(&rest[start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Redacts user info and token-like query parameters in a URL given as text.
/// Works on any string shaped like a URL; it never fails.
pub fn redact_url(url: &str) -> String {
    let (before_fragment, fragment) = match url.split_once('#') {
        Some((a, f)) => (a, Some(f)),
        None => (url, None),
    };
    let (base, query) = match before_fragment.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (before_fragment, None),
    };
    let base = redact_userinfo(base);
    let mut out = base;
    if let Some(query) = query {
        out.push('?');
        out.push_str(&redact_pairs(query));
    }
    if let Some(fragment) = fragment {
        // OAuth's implicit flow puts the token in the fragment
        // (`#access_token=…`): read it as parameters too.
        out.push('#');
        out.push_str(&redact_pairs(fragment));
    }
    out
}

fn redact_userinfo(base: &str) -> String {
    let Some(scheme_end) = base.find("://") else {
        return base.to_owned();
    };
    let authority_start = scheme_end + 3;
    let rest = &base[authority_start..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => format!(
            "{}{REDACTED}@{}{}",
            &base[..authority_start],
            &authority[at + 1..],
            &rest[authority_end..]
        ),
        None => base.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stomp_login_headers_are_redacted_in_previews() {
        let connect =
            "CONNECT\naccept-version:1.2\nheart-beat:10000,10000\nlogin:guest\npasscode:s3cr";
        assert_eq!(
            redact_message_preview(connect),
            "CONNECT\naccept-version:1.2\nheart-beat:10000,10000\nlogin:REDACTED\npasscode:REDACTED"
        );
        assert_eq!(
            redact_message_preview("CONNECT\r\nPasscode:x:y\r\n\r\n"),
            "CONNECT\r\nPasscode:REDACTED\r\n\r\n"
        );
        let plain = "{\"type\":\"connection_init\"}";
        assert_eq!(redact_message_preview(plain), plain);
    }

    #[test]
    fn url_table() {
        let table = [
            ("ws://h/p", "ws://h/p"),
            (
                "wss://h/ws?token=abc&room=1",
                "wss://h/ws?token=REDACTED&room=1",
            ),
            (
                "wss://h/ws?access_token=abc",
                "wss://h/ws?access_token=REDACTED",
            ),
            (
                "wss://h/ws?apiKey=x#frag",
                "wss://h/ws?apiKey=REDACTED#frag",
            ),
            ("wss://user:pw@h:443/ws", "wss://REDACTED@h:443/ws"),
            ("wss://h/ws?client=web-42", "wss://h/ws?client=web-42"),
            (
                "wss://h/chathub?id=05265228&client_id=7",
                "wss://h/chathub?id=REDACTED&client_id=7",
            ),
            ("wss://h/ws?token=", "wss://h/ws?token="),
            (
                "https://app/cb#access_token=abc&state=1",
                "https://app/cb#access_token=REDACTED&state=1",
            ),
            ("wss://h/ws#section-2", "wss://h/ws#section-2"),
            ("wss://h/ws?%74oken=abc", "wss://h/ws?%74oken=REDACTED"),
            ("wss://h/ws?x%1code=abc", "wss://h/ws?x%1code=REDACTED"),
            ("wss://h/ws?%54OKEN=abc", "wss://h/ws?%54OKEN=REDACTED"),
            ("wss://h/ws?api%5Fkey=abc", "wss://h/ws?api%5Fkey=REDACTED"),
            ("wss://h/ws?%zz=1", "wss://h/ws?%zz=1"),
            (
                "ws://bob:PASS@127.0.0.1:99999/?token=T",
                "ws://REDACTED@127.0.0.1:99999/?token=REDACTED",
            ),
        ];
        for (input, want) in table {
            assert_eq!(redact_url(input), want, "{input}");
        }
    }

    #[test]
    fn header_table() {
        let table = [
            ("Authorization", "Bearer abc.def", "Bearer REDACTED"),
            ("authorization", "opaque", "REDACTED"),
            ("Cookie", "a=1; AWSALB=xyz", "a=REDACTED; AWSALB=REDACTED"),
            ("Set-Cookie", "AWSALB=xyz; Path=/", "AWSALB=REDACTED"),
            ("X-Api-Key", "k", "REDACTED"),
            ("Server", "nginx", "nginx"),
            (
                "Sec-WebSocket-Protocol",
                "base64.channel.k8s.io, base64url.bearer.authorization.k8s.io.ZXlKaGJHY2kK",
                "base64.channel.k8s.io, base64url.bearer.authorization.k8s.io.REDACTED",
            ),
            (
                "sec-websocket-protocol",
                "graphql-ws,access_token,s3cr3t-T0KEN",
                "graphql-ws, access_token, REDACTED",
            ),
            (
                "Sec-WebSocket-Protocol",
                "chat, superchat",
                "chat, superchat",
            ),
            (
                "Sec-WebSocket-Protocol",
                "mqtt, eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln",
                "mqtt, REDACTED",
            ),
        ];
        for (name, value, want) in table {
            assert_eq!(redact_header_value(name, value), want, "{name}: {value}");
        }
    }

    #[test]
    fn subprotocol_table() {
        let table: [(&[&str], &[&str]); 5] = [
            (&["chat"], &["chat"]),
            (&["access_token", "T"], &["access_token", "REDACTED"]),
            (
                &["Access_Token", "T", "chat"],
                &["Access_Token", "REDACTED", "chat"],
            ),
            (
                &["BASE64URL.bearer.authorization.k8s.io.T"],
                &["BASE64URL.bearer.authorization.k8s.io.REDACTED"],
            ),
            (
                &["base64url.bearer.authorization.k8s.io."],
                &["base64url.bearer.authorization.k8s.io.REDACTED"],
            ),
        ];
        for (input, want) in table {
            assert_eq!(redact_subprotocols(input), want, "{input:?}");
        }
    }

    #[test]
    fn text_table() {
        let table = [
            (
                "invalid port in ws://bob:PASS@127.0.0.1:99999/?token=T; try ws://x",
                "invalid port in ws://REDACTED@127.0.0.1:99999/?token=REDACTED; try ws://x",
            ),
            (
                "`http://u:p@h/?key=k` is not a WebSocket URL",
                "`http://REDACTED@h/?key=REDACTED` is not a WebSocket URL",
            ),
            ("no url here", "no url here"),
            (
                "'ws://bob:p/a?s#s@h:1/?token=T' is not a valid URL",
                "'ws://REDACTED@h:1/?token=REDACTED' is not a valid URL",
            ),
            ("://", "://"),
            ("ends with http://", "ends with http://"),
        ];
        for (input, want) in table {
            assert_eq!(redact_text(input), want, "{input}");
        }
    }
}
