//! Secrets never reach an output: header values that carry credentials and
//! query parameters that look like tokens are replaced before anything is
//! recorded, so every renderer is safe by construction.

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

/// Returns the value to record for header `name`: the value itself, or
/// [`REDACTED`] when the header carries credentials. For `Authorization`
/// the scheme (`Bearer`, `Basic`) is kept because it helps diagnosis.
pub fn redact_header_value(name: &str, value: &str) -> String {
    let lower = name.to_ascii_lowercase();
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

fn is_secret_param(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_QUERY_WORDS.iter().any(|w| lower.contains(w))
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
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, v)) if is_secret_param(k) && !v.is_empty() => format!("{k}={REDACTED}"),
                _ => pair.to_owned(),
            })
            .collect();
        out.push_str(&pairs.join("&"));
    }
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
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
            ("wss://h/ws?token=", "wss://h/ws?token="),
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
        ];
        for (name, value, want) in table {
            assert_eq!(redact_header_value(name, value), want, "{name}");
        }
    }
}
