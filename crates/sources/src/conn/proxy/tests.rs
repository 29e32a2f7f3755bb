use std::collections::HashMap;

use super::*;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn chosen(url: &str, pairs: &[(&str, &str)]) -> Option<(String, String)> {
    let target = Target::parse(url).unwrap();
    from_env(&target, &env(pairs))
        .unwrap()
        .map(|p| (p.from.clone(), format!("{}:{}", p.host, p.port)))
}

#[test]
fn parses_the_proxy_shapes() {
    let table = [
        ("http://proxy:3128", ProxyKind::HttpConnect, "proxy", 3128),
        (
            "proxy.corp:8080",
            ProxyKind::HttpConnect,
            "proxy.corp",
            8080,
        ),
        ("http://proxy", ProxyKind::HttpConnect, "proxy", 1080),
        ("http://proxy:80", ProxyKind::HttpConnect, "proxy", 80),
        (
            "socks5://127.0.0.1:9050",
            ProxyKind::Socks5,
            "127.0.0.1",
            9050,
        ),
        ("socks5h://[::1]:1080", ProxyKind::Socks5h, "::1", 1080),
    ];
    for (input, kind, host, port) in table {
        let p = ForwardProxy::parse(input, "flag").unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(
            (p.kind, p.host.as_str(), p.port),
            (kind, host, port),
            "{input}"
        );
    }
    let p = ForwardProxy::parse("socks5://127.0.0.1:1", "flag").unwrap();
    assert!(
        p.ip.is_some(),
        "an IP literal in socks5:// is not a name to resolve"
    );
}

#[test]
fn refuses_what_it_cannot_speak_with_the_password_hidden() {
    let err = ForwardProxy::parse("https://u:s3cret@proxy:443", "HTTPS_PROXY").unwrap_err();
    let text = err.to_string();
    assert!(text.contains("unsupported scheme 'https'"), "{text}");
    assert!(text.contains("HTTPS_PROXY"), "{text}");
    assert!(!text.contains("s3cret"), "{text}");
    assert!(matches!(
        ForwardProxy::parse("socks4://p:1", "flag"),
        Err(ProxyError::UnsupportedScheme { .. })
    ));
    assert!(ForwardProxy::parse("http://", "flag").is_err());
    // Passwords with URL delimiters in them (the URL then does not parse, or
    // parses to another host) never reach an error message.
    for input in [
        "http://user:pa/ss@proxy:3128",
        "http://user:pa?ss@proxy:3128",
        "http://user:pa#ss@proxy:3128",
        "http://user:p@ss@proxy:99999",
    ] {
        if let Err(e) = ForwardProxy::parse(input, "flag") {
            let text = e.to_string();
            assert!(!text.contains("pa/ss") && !text.contains("pa?ss"), "{text}");
            assert!(!text.contains("pa#ss") && !text.contains("p@ss"), "{text}");
        }
    }
    let long = format!("socks5://{}:p@h:1", "u".repeat(300));
    assert!(matches!(
        ForwardProxy::parse(&long, "flag"),
        Err(ProxyError::CredentialsTooLong { .. })
    ));
}

#[test]
fn redacts_the_password_and_never_debug_prints_it() {
    let p = ForwardProxy::parse("http://alice:p%40ss@proxy:3128", "flag").unwrap();
    assert_eq!(p.redacted(), "http://alice:REDACTED@proxy:3128");
    assert_eq!(p.record().url, "http://alice:REDACTED@proxy:3128");
    let c = p.credentials.as_ref().unwrap();
    assert_eq!((c.user.as_str(), c.password.as_str()), ("alice", "p@ss"));
    assert!(!format!("{p:?}").contains("p@ss"));
    assert!(!format!("{p:?}").contains("p%40ss"));
}

#[test]
fn connect_request_carries_basic_auth_and_records_it_redacted() {
    let p = ForwardProxy::parse("http://alice:secret@proxy:3128", "flag").unwrap();
    let target = Target::parse("wss://[::1]:8443/ws").unwrap();
    let (bytes, redacted) = http::request_for_test(&p, &target);
    let wire = String::from_utf8(bytes).unwrap();
    assert!(wire.starts_with("CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\n"));
    // base64("alice:secret")
    assert!(wire.contains("Proxy-Authorization: Basic YWxpY2U6c2VjcmV0\r\n"));
    assert!(wire.ends_with("\r\n\r\n"));
    assert!(redacted.contains(&"Proxy-Authorization: Basic REDACTED".to_owned()));
}

/// A target URL, the environment, and the (variable, proxy) chosen.
type Row<'a> = (&'a str, Vars<'a>, Option<(&'a str, &'a str)>);
type Vars<'a> = &'a [(&'a str, &'a str)];

#[test]
fn environment_table() {
    let ws = "ws://api.example.com:8080/ws";
    let wss = "wss://api.example.com/ws";
    let p = "http://proxy:3128";
    let table: &[Row<'_>] = &[
        (ws, &[], None),
        (
            wss,
            &[("HTTPS_PROXY", p)],
            Some(("HTTPS_PROXY", "proxy:3128")),
        ),
        (ws, &[("HTTPS_PROXY", p)], None),
        (ws, &[("HTTP_PROXY", p)], Some(("HTTP_PROXY", "proxy:3128"))),
        (
            ws,
            &[("http_proxy", p), ("HTTP_PROXY", "http://other:1")],
            Some(("http_proxy", "proxy:3128")),
        ),
        (
            wss,
            &[("https_proxy", ""), ("ALL_PROXY", "socks5h://s:1080")],
            Some(("ALL_PROXY", "s:1080")),
        ),
        (ws, &[("all_proxy", p)], Some(("all_proxy", "proxy:3128"))),
        (wss, &[("HTTPS_PROXY", p), ("NO_PROXY", "*")], None),
        (
            wss,
            &[("HTTPS_PROXY", p), ("NO_PROXY", "example.com")],
            None,
        ),
        (
            wss,
            &[("HTTPS_PROXY", p), ("NO_PROXY", ".example.com")],
            None,
        ),
        (
            wss,
            &[
                ("HTTPS_PROXY", p),
                ("no_proxy", "localhost, api.example.com"),
            ],
            None,
        ),
        (
            wss,
            &[("HTTPS_PROXY", p), ("NO_PROXY", "ample.com")],
            Some(("HTTPS_PROXY", "proxy:3128")),
        ),
        (
            wss,
            &[("HTTPS_PROXY", p), ("NO_PROXY", "other.com,10.0.0.0/8")],
            Some(("HTTPS_PROXY", "proxy:3128")),
        ),
        (
            "ws://10.1.2.3/ws",
            &[("HTTP_PROXY", p), ("NO_PROXY", "10.0.0.0/8")],
            None,
        ),
        (
            "ws://10.1.2.3/ws",
            &[("HTTP_PROXY", p), ("NO_PROXY", "10.1.2.3")],
            None,
        ),
        (
            "ws://11.1.2.3/ws",
            &[("HTTP_PROXY", p), ("NO_PROXY", "10.0.0.0/8")],
            Some(("HTTP_PROXY", "proxy:3128")),
        ),
        (
            "ws://[::1]:9/ws",
            &[("HTTP_PROXY", p), ("NO_PROXY", "::1")],
            None,
        ),
        (
            "ws://[::1]:9/ws",
            &[("HTTP_PROXY", p), ("NO_PROXY", "[::1]")],
            None,
        ),
        (
            "ws://[fd00::5]:9/ws",
            &[("HTTP_PROXY", p), ("NO_PROXY", "fd00::/8")],
            None,
        ),
        // As curl: loopback is proxied unless listed.
        (
            "ws://127.0.0.1:9/ws",
            &[("HTTP_PROXY", p)],
            Some(("HTTP_PROXY", "proxy:3128")),
        ),
        (
            "ws://localhost:9/ws",
            &[("HTTP_PROXY", p), ("NO_PROXY", "localhost")],
            None,
        ),
    ];
    for (url, vars, want) in table {
        let want = want.map(|(a, b)| (a.to_owned(), b.to_owned()));
        assert_eq!(chosen(url, vars), want, "{url} with {vars:?}");
    }
}

#[test]
fn a_bad_proxy_in_the_environment_is_an_error_not_a_direct_connection() {
    let target = Target::parse("wss://h/ws").unwrap();
    let err = from_env(&target, &env(&[("HTTPS_PROXY", "ftp://p:1")])).unwrap_err();
    assert!(err.to_string().contains("HTTPS_PROXY"), "{err}");
}

proptest::proptest! {
    #[test]
    fn no_proxy_matching_never_panics(list in ".{0,64}", host in "[a-z0-9.:-]{0,32}") {
        let _ = no_proxy_matches(&list, &host, host.parse().ok());
        let _ = ForwardProxy::parse(&list, "flag");
    }
}
