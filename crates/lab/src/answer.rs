//! Canned HTTP answers that are not a 101.
//!
//! The bodies imitate what real front ends send (nginx error pages, a plain
//! web page), because wsdoctor's job is to recognise those in the wild: a
//! 502 page from a proxy means something different from a 403 from an app.

/// Who is answering: the values every response carries.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ident<'a> {
    /// `Server` header value (and the nginx-page footer).
    pub(crate) server: &'a str,
    /// `X-Wsdoctor-Instance` header value.
    pub(crate) instance: &'a str,
}

/// The `not-http` answer: what an SSH server says first.
pub(crate) const NOT_HTTP: &[u8] = b"SSH-2.0-OpenSSH_9.6\r\n";

/// The standard reason phrase, or a neutral one for codes without one.
pub(crate) fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Temporarily Unavailable",
        504 => "Gateway Time-out",
        _ => match code / 100 {
            1 => "Informational",
            2 => "Success",
            3 => "Redirection",
            4 => "Client Error",
            _ => "Server Error",
        },
    }
}

/// Assembles a complete response that ends the connection.
fn response(
    version: &str,
    code: u16,
    ident: Ident<'_>,
    extra: &[(&str, &str)],
    content_type: &str,
    body: &str,
) -> Vec<u8> {
    let mut head = format!(
        "{version} {code} {}\r\nServer: {}\r\nX-Wsdoctor-Instance: {}\r\n\
         Content-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
        reason_phrase(code),
        ident.server,
        ident.instance,
        body.len(),
    );
    for (name, value) in extra {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

/// The error page nginx serves for a status, footer included.
fn nginx_page(code: u16, server: &str) -> String {
    let title = format!("{code} {}", reason_phrase(code));
    format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n\
         <center><h1>{title}</h1></center>\r\n<hr><center>{server}</center>\r\n\
         </body>\r\n</html>\r\n"
    )
}

/// A page a web server shows at `/`: what comes back when the request reached
/// a web site rather than a WebSocket endpoint.
const WELCOME_PAGE: &str = "<!DOCTYPE html>\n<html>\n<head><title>Welcome</title></head>\n\
<body>\n<h1>Welcome</h1>\n<p>This is a web page, not a WebSocket endpoint.</p>\n</body>\n</html>\n";

/// The `status:NNN` answer.
pub(crate) fn status(code: u16, ident: Ident<'_>) -> Vec<u8> {
    let html = "text/html";
    let text = "text/plain; charset=utf-8";
    match code {
        200 => response("HTTP/1.1", code, ident, &[], html, WELCOME_PAGE),
        400 | 500 | 502 | 503 | 504 => response(
            "HTTP/1.1",
            code,
            ident,
            &[],
            html,
            &nginx_page(code, ident.server),
        ),
        426 => response(
            "HTTP/1.1",
            code,
            ident,
            &[("Upgrade", "websocket"), ("Sec-WebSocket-Version", "13")],
            text,
            "Upgrade Required",
        ),
        401 => response(
            "HTTP/1.1",
            code,
            ident,
            &[("WWW-Authenticate", "Bearer realm=\"wsdoctor-lab\"")],
            text,
            "Unauthorized: missing or invalid credentials\n",
        ),
        403 => response(
            "HTTP/1.1",
            code,
            ident,
            &[],
            text,
            "Forbidden: origin not allowed\n",
        ),
        404 => response("HTTP/1.1", code, ident, &[], text, "Not Found\n"),
        // Redirects without a target would be odd; point at the same server.
        301 | 302 | 307 | 308 => response(
            "HTTP/1.1",
            code,
            ident,
            &[("Location", "/")],
            text,
            reason_phrase(code),
        ),
        _ => {
            let body = format!("{code} {}\n", reason_phrase(code));
            response("HTTP/1.1", code, ident, &[], text, &body)
        }
    }
}

/// The `http10` answer: a downgrading proxy returned a page over HTTP/1.0.
pub(crate) fn http10(ident: Ident<'_>) -> Vec<u8> {
    response("HTTP/1.0", 200, ident, &[], "text/html", WELCOME_PAGE)
}

/// A 200 with a JSON body (`serve`'s `GET /whoami`).
pub(crate) fn json(body: &str, ident: Ident<'_>) -> Vec<u8> {
    response("HTTP/1.1", 200, ident, &[], "application/json", body)
}

/// A 200 with an HTML page that must not be cached (the browser probe:
/// a cached copy would hide what the path does to the page request).
pub(crate) fn html_page(body: &str, ident: Ident<'_>) -> Vec<u8> {
    response(
        "HTTP/1.1",
        200,
        ident,
        &[("Cache-Control", "no-store")],
        "text/html; charset=utf-8",
        body,
    )
}

/// A 204: taken, nothing to say (no body, and no `Content-Length`, RFC 9110
/// §8.6).
pub(crate) fn no_content(ident: Ident<'_>) -> Vec<u8> {
    format!(
        "HTTP/1.1 204 No Content\r\nServer: {}\r\nX-Wsdoctor-Instance: {}\r\nConnection: close\r\n\r\n",
        ident.server, ident.instance
    )
    .into_bytes()
}

/// A 400 naming what was wrong (bad fault text, unparsable request).
pub(crate) fn bad_request(why: &str, ident: Ident<'_>) -> Vec<u8> {
    let body = format!("400 Bad Request: {why}\n");
    response(
        "HTTP/1.1",
        400,
        ident,
        &[],
        "text/plain; charset=utf-8",
        &body,
    )
}

/// The answer to a request head over the size limit.
pub(crate) fn too_large(ident: Ident<'_>) -> Vec<u8> {
    response(
        "HTTP/1.1",
        431,
        ident,
        &[],
        "text/plain; charset=utf-8",
        "Request Header Fields Too Large\n",
    )
}

/// The answer to a request that is not a WebSocket upgrade (or asks for an
/// unsupported WebSocket version).
pub(crate) fn not_websocket(why: &str, ident: Ident<'_>) -> Vec<u8> {
    let body = format!("Upgrade Required: {why}\n");
    response(
        "HTTP/1.1",
        426,
        ident,
        &[("Upgrade", "websocket"), ("Sec-WebSocket-Version", "13")],
        "text/plain; charset=utf-8",
        &body,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDENT: Ident<'static> = Ident {
        server: "nginx/1.24.0",
        instance: "a",
    };

    fn text(bytes: &[u8]) -> String {
        String::from_utf8_lossy(bytes).into_owned()
    }

    #[test]
    fn content_length_matches_body() {
        for code in [200, 400, 401, 403, 404, 426, 500, 502, 503, 504, 418, 302] {
            let out = text(&status(code, IDENT));
            let (head, body) = out.split_once("\r\n\r\n").unwrap_or_default();
            let want = format!("Content-Length: {}\r\n", body.len());
            assert!(head.contains(&want), "{code}: {head}");
            assert!(head.starts_with(&format!("HTTP/1.1 {code} ")), "{head}");
        }
    }

    #[test]
    fn bodies_look_like_the_real_thing() {
        assert!(text(&status(502, IDENT)).contains("<h1>502 Bad Gateway</h1>"));
        assert!(text(&status(502, IDENT)).contains("<center>nginx/1.24.0</center>"));
        assert!(text(&status(200, IDENT)).contains("Welcome"));
        assert!(text(&status(426, IDENT)).contains("Upgrade: websocket\r\n"));
        assert!(text(&http10(IDENT)).starts_with("HTTP/1.0 200 OK\r\n"));
    }
}
