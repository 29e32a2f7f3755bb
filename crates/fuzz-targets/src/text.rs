//! Text every command takes from people and peers: URLs and headers that
//! may carry secrets, and durations.

use arbitrary::Unstructured;
use wsdoctor_evidence::{format_duration, parse_duration, redact_header_value, redact_url};
use wsdoctor_sources::conn::{ForwardProxy, Target};

/// A secret the redaction must hide: a fixed prefix (so no other part of
/// the input is likely to hold it) and fuzzer-chosen letters and digits.
fn secret(u: &mut Unstructured<'_>) -> String {
    let tail: String = (0..u.int_in_range(0..=12u8).unwrap_or(0))
        .map(|_| {
            let b = u.int_in_range(0..=61u8).unwrap_or(0);
            char::from(match b {
                0..=25 => b'a' + b,
                26..=51 => b'A' + b - 26,
                _ => b'0' + b - 52,
            })
        })
        .collect();
    format!("Zq7Secret{tail}")
}

fn text(u: &mut Unstructured<'_>) -> String {
    u.arbitrary::<String>().unwrap_or_default()
}

/// Fails when `shown` holds `secret` though `input_without` (the same input
/// with the secret left out) does not explain it.
fn assert_hidden(shown: &str, secret: &str, input_without: &str, what: &str) {
    if input_without.contains(secret) {
        return;
    }
    assert!(
        !shown.contains(secret),
        "{what}: the secret is in {shown:?}"
    );
}

/// Secrets in URL user info, token-like query parameters, credential
/// headers, proxy URLs and target URLs never reach an output, parsed or
/// refused.
pub(crate) fn redaction(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let secret = secret(&mut u);
    // User info ends at the first `/`, `?`, `#` (or `\\`): with one of
    // those in it, the "password" is a path, as for curl.
    let user: String = text(&mut u)
        .chars()
        .filter(|c| !matches!(c, '/' | '?' | '#' | '\\'))
        .collect();
    let host = text(&mut u);
    let rest = text(&mut u);
    let scheme = ["ws", "wss", "http", "socks5", "socks5h", "https", ""]
        [usize::from(u.int_in_range(0..=6u8).unwrap_or(0))];

    // A URL with a password, as the url crate serializes it.
    if let Ok(mut url) = url::Url::parse(&format!("ws://{host}{rest}")) {
        let _ = url.set_username(&user);
        if url.set_password(Some(&secret)).is_ok() {
            let without = {
                let mut w = url.clone();
                let _ = w.set_password(None);
                w.to_string()
            };
            assert_hidden(
                &redact_url(url.as_str()),
                &secret,
                &without,
                "redact_url (password)",
            );
        }
    }

    // A token-like query parameter.
    let words = [
        "token",
        "access_key",
        "Secret",
        "PASSWORD",
        "sig",
        "session_id",
        "code",
    ];
    let word = words[usize::from(u.int_in_range(0..=6u8).unwrap_or(0))];
    let key: String = user
        .chars()
        .filter(|c| !matches!(c, '&' | '=' | '#'))
        .collect();
    let before: String = rest.chars().filter(|c| *c != '#').collect();
    let url = format!("ws://h/p?{before}&{key}{word}={secret}&x=1");
    let without = format!("ws://h/p?{before}&{key}{word}=&x=1");
    assert_hidden(&redact_url(&url), &secret, &without, "redact_url (query)");

    // Credential headers.
    let scheme_word: String = host.chars().filter(|c| *c != ' ').collect();
    for name in [
        "Authorization",
        "proxy-authorization",
        "X-Api-Key",
        "x-auth-token",
    ] {
        let value = format!("{scheme_word} {secret}");
        assert_hidden(
            &redact_header_value(name, &value),
            &secret,
            &scheme_word,
            name,
        );
    }
    let cookie_name: String = user.chars().filter(|c| !matches!(c, '=' | ';')).collect();
    for name in ["Cookie", "Set-Cookie"] {
        let value = format!("{cookie_name}={secret}; Path=/");
        let shown = redact_header_value(name, &value);
        assert_hidden(&shown, &secret, &format!("{cookie_name} Path=/"), name);
    }

    // Proxy URLs and targets, accepted or refused: the record, the
    // redacted form and every error.
    let input = format!("{scheme}://{user}:{secret}@{rest}");
    let input_without = format!("{scheme}://{user}:@{rest}");
    let shown = match ForwardProxy::parse(&input, "flag") {
        Ok(p) => format!("{} {:?} {p:?}", p.redacted(), p.record()),
        Err(e) => e.to_string(),
    };
    assert_hidden(&shown, &secret, &input_without, "ForwardProxy::parse");
    let shown = match Target::parse(&input) {
        Ok(t) => t.redacted(),
        Err(e) => e.to_string(),
    };
    assert_hidden(&shown, &secret, &input_without, "Target::parse");
}

/// The one duration syntax of every flag: whatever parses formats, and a
/// refusal says what was typed, escaped or not, without panicking.
pub(crate) fn durations(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match parse_duration(&text) {
        Ok(d) => {
            let shown = format_duration(d);
            assert!(!shown.is_empty());
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    // The lab reads the same syntax in `ping=`, `tick=` and fault lists.
    let _ = wsdoctor_lab::fuzzing::fault_list(&format!("ping:{text},close:1000:{text}"));
}
