//! The forward proxy (HTTP CONNECT or SOCKS5): `proxy-refused` when it
//! refused, failed or could not be reached, and what its presence means for
//! the numbers of a probe that went fine.

use wsdoctor_evidence::{escape_peer, ConnectionEnd, ForwardProxyRecord, HandshakeRecord};

use super::Ctx;
use crate::finding::{CauseId, Finding, Severity};
use crate::rules::common::{fix, fix_with};

/// Idle timers of common forward proxies, which a connection through one
/// also lives under.
// squid: squid.conf.documented, `read_timeout` (default 15 minutes) and
// `client_lifetime` (default 1 day). tinyproxy: tinyproxy.conf(5) and the
// shipped config, `Timeout 600`.
const PROXY_TIMERS: &str = "squid read_timeout 15 min and client_lifetime 1 day, tinyproxy \
                            Timeout 600 s by default";

/// The finding for an end caused by the proxy, if it was.
pub(super) fn diagnose(ctx: &Ctx<'_>, end: &ConnectionEnd) -> Option<Finding> {
    let proxy = ctx.conn.forward_proxy.as_ref()?;
    match end {
        ConnectionEnd::ProxyRefused { status, .. } => Some(refused(ctx, proxy, end, *status)),
        ConnectionEnd::ProxyFailed { .. } => Some(failed(ctx, proxy, end)),
        // DNS or TCP failed before TCP to the proxy was up: the address in
        // the end is the proxy's, not the target's.
        ConnectionEnd::DnsFailed { .. }
        | ConnectionEnd::ConnectRefused { .. }
        | ConnectionEnd::ConnectTimedOut { .. }
        | ConnectionEnd::ConnectFailed { .. }
            if ctx.conn.phases.connect_done_us.is_none() =>
        {
            Some(unreachable(proxy, ctx, end))
        }
        _ => None,
    }
}

/// Evidence lines for a probe that went through a proxy and went fine.
pub(super) fn notes(ctx: &Ctx<'_>) -> Vec<String> {
    let Some(proxy) = &ctx.conn.forward_proxy else {
        return Vec::new();
    };
    vec![
        format!(
            "connected through the forward proxy {}; connect time and round trips are to and \
             through the proxy, not to the target directly",
            shown(proxy)
        ),
        format!("idle timeouts measured through it include the proxy's own ({PROXY_TIMERS})"),
    ]
}

fn shown(proxy: &ForwardProxyRecord) -> String {
    format!(
        "{} (from {})",
        escape_peer(&proxy.url),
        escape_peer(&proxy.from)
    )
}

/// `host:port` the tunnel was asked for, from our CONNECT line when there is one.
fn tunnel_target(ctx: &Ctx<'_>, proxy: &ForwardProxyRecord) -> String {
    proxy
        .connect
        .as_ref()
        .and_then(HandshakeRecord::request_target)
        .map_or_else(
            || {
                let t = &ctx.conn.target;
                let rest = t.split_once("://").map_or(t.as_str(), |(_, r)| r);
                rest.split(['/', '?', '#'])
                    .next()
                    .unwrap_or(rest)
                    .to_owned()
            },
            str::to_owned,
        )
}

fn curl_fix(ctx: &Ctx<'_>, proxy: &ForwardProxyRecord) -> crate::finding::Fix {
    let target = escape_peer(&tunnel_target(ctx, proxy));
    fix_with(
        "client",
        "Ask the same proxy for the same tunnel with curl: `-p` makes it send CONNECT even \
         for http://, and `-v` prints the proxy's answer.",
        &format!(
            "curl -v -p -x '{}' 'https://{target}/'",
            escape_peer(&proxy.url)
        ),
    )
}

fn refused(
    ctx: &Ctx<'_>,
    proxy: &ForwardProxyRecord,
    end: &ConnectionEnd,
    status: Option<u16>,
) -> Finding {
    let target = escape_peer(&tunnel_target(ctx, proxy));
    let name = shown(proxy);
    let connect = proxy.connect.as_ref();
    let sent_credentials =
        connect.is_some_and(|c| c.request_header("proxy-authorization").is_some());
    let socks = proxy.socks.as_ref().map(|s| (s.step.as_str(), s.code));
    let (title, fixes) = match (status, socks) {
        // tinyproxy answers 401 to wrong credentials, 407 to none.
        (Some(401 | 407), _) | (None, Some(("method", 0xFF) | ("auth", _))) => {
            let title = if sent_credentials || matches!(socks, Some(("auth", _))) {
                format!("The forward proxy {name} rejected our credentials")
            } else {
                format!("The forward proxy {name} wants credentials")
            };
            let scheme = connect
                .and_then(|c| c.header("Proxy-Authenticate"))
                .map(|v| format!(" It asks for: Proxy-Authenticate: {}.", escape_peer(v)))
                .unwrap_or_default();
            (
                title,
                vec![fix(
                    "client",
                    format!(
                        "Put the proxy credentials in the proxy URL: `--proxy \
                     http://user:pass@proxy:3128` or `HTTPS_PROXY=http://user:pass@proxy:3128` \
                     (percent-encode @, : and / inside them; wsdoctor sends Basic).{scheme}"
                    ),
                )],
            )
        }
        (Some(403), _) | (None, Some(("connect", 0x02))) => (
            format!("The forward proxy {name} does not allow a tunnel to {target}"),
            vec![fix(
                "proxy",
                format!(
                    "Ask the proxy's administrators to allow CONNECT to {target} (squid: the \
                     port in `SSL_ports` and `http_access allow CONNECT`; tinyproxy: \
                     `ConnectPort`), or serve the WebSocket on port 443, the port most \
                     corporate proxies tunnel to."
                ),
            )],
        ),
        // tinyproxy answers 500 "Unable to connect" where squid says 503.
        (Some(500 | 502..=504), _) | (None, Some(("connect", 0x03..=0x06))) => (
            format!("The forward proxy {name} could not reach {target}"),
            vec![fix(
                "network",
                format!(
                    "The proxy cannot reach {target} from its network: check DNS and \
                     firewalls from the proxy's host, or add the host to NO_PROXY if this \
                     machine reaches it directly."
                ),
            )],
        ),
        (None, Some(("connect", 0x07 | 0x08))) => (
            format!("The SOCKS5 proxy {name} does not support this request"),
            vec![fix(
                "client",
                "Try socks5h:// (the proxy resolves the name) instead of socks5://, or the \
                 other way round.",
            )],
        ),
        _ => (
            format!("The forward proxy {name} refused the tunnel to {target}"),
            vec![fix(
                "proxy",
                "Read the proxy's answer (status line, headers, error page) and its log at this \
                 time: they say why it refused.",
            )],
        ),
    };
    let mut f = ctx.finding(CauseId::ProxyRefused, Severity::Error, 0.95, title);
    f.evidence.push(end.describe());
    if let Some(c) = connect {
        for name in ["Proxy-Authenticate", "Server", "Via", "X-Squid-Error"] {
            if let Some(value) = c.header(name) {
                f.evidence.push(format!("{name}: {}", escape_peer(value)));
            }
        }
        if let Some(line) = c.body.as_ref().and_then(|b| page_title(&b.text)) {
            f.evidence
                .push(format!("error page: {}", escape_peer(&line)));
        }
    }
    f.measured.http_status = status;
    f.fix = fixes;
    f.fix.push(curl_fix(ctx, proxy));
    f
}

/// An error page's `<title>`, or its first non-empty line; at most 120 characters.
fn page_title(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let title = lower
        .find("<title>")
        .map(|start| start + "<title>".len())
        .and_then(|start| {
            let len = lower[start..].find("</title>")?;
            text.get(start..start + len)
        });
    let line = title.or_else(|| text.lines().map(str::trim).find(|l| !l.is_empty()))?;
    Some(line.trim().chars().take(120).collect())
}

fn failed(ctx: &Ctx<'_>, proxy: &ForwardProxyRecord, end: &ConnectionEnd) -> Finding {
    let mut f = ctx.finding(
        CauseId::ProxyRefused,
        Severity::Error,
        0.8,
        format!(
            "The tunnel through the forward proxy {} failed",
            shown(proxy)
        ),
    );
    f.evidence.push(end.describe());
    f.fix.push(fix(
        "client",
        "Check the proxy URL's scheme and port: an HTTP proxy port answers CONNECT in HTTP, a \
         SOCKS port answers SOCKS5 (socks5://); TLS to the proxy itself (https://) is not \
         supported.",
    ));
    f.fix.push(fix(
        "proxy",
        "Read the proxy's log at this time: it closed or stalled before the tunnel was up.",
    ));
    f.fix.push(curl_fix(ctx, proxy));
    f
}

fn unreachable(proxy: &ForwardProxyRecord, ctx: &Ctx<'_>, end: &ConnectionEnd) -> Finding {
    let mut f = ctx.finding(
        CauseId::ProxyRefused,
        Severity::Error,
        0.9,
        format!("The forward proxy {} cannot be reached", shown(proxy)),
    );
    f.evidence.push(end.describe());
    f.evidence.push(
        "that address is the forward proxy's, not the target's: every connection goes to the \
         proxy first"
            .to_owned(),
    );
    f.fix.push(fix(
        "client",
        format!(
            "Check the proxy URL (from {}): a stale proxy variable in the environment is a \
             common cause. `--no-proxy` connects directly; `--proxy URL` picks another.",
            escape_peer(&proxy.from)
        ),
    ));
    f
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use wsdoctor_evidence::{BodySample, ConnectionEnd, ForwardProxyRecord, ProxyKind, SocksReply};

    use crate::finding::{CauseId, Finding, Severity};
    use crate::rules::probe::diagnose_probe;
    use crate::testkit::{handshake, Probe};

    fn proxy() -> ForwardProxyRecord {
        ForwardProxyRecord {
            url: "http://alice:REDACTED@proxy.corp:3128".to_owned(),
            kind: ProxyKind::HttpConnect,
            from: "HTTPS_PROXY".to_owned(),
            connect: None,
            socks: None,
        }
    }

    fn refused_with(status: u16, headers: &[(&str, &str)], credentials: bool) -> Finding {
        let mut p = proxy();
        let mut answer = handshake(status, headers, None);
        answer.request = vec![
            "CONNECT example.test:443 HTTP/1.1".to_owned(),
            "Host: example.test:443".to_owned(),
        ];
        if credentials {
            answer
                .request
                .push("Proxy-Authorization: Basic REDACTED".to_owned());
        }
        answer.body = Some(BodySample {
            text: "\n<html><title>Access denied</title>".to_owned(),
            bytes_read: 35,
            truncated: false,
        });
        p.connect = Some(answer);
        let end = ConnectionEnd::ProxyRefused {
            proxy: p.url.clone(),
            answer: format!("HTTP/1.1 {status} Whatever"),
            status: Some(status),
        };
        let found = diagnose_probe(&Probe::new().through_proxy(p).failed(end).build());
        assert_eq!(found.len(), 1, "{found:#?}");
        found.into_iter().next().unwrap()
    }

    fn fixes(f: &Finding) -> String {
        f.fix
            .iter()
            .map(|x| x.text.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn a_407_asks_for_credentials_in_the_proxy_url() {
        let f = refused_with(
            407,
            &[("Proxy-Authenticate", "Basic realm=\"corp\"")],
            false,
        );
        assert_eq!((f.id, f.severity), (CauseId::ProxyRefused, Severity::Error));
        assert!(f.title.contains("wants credentials"), "{}", f.title);
        assert!(f.title.contains("(from HTTPS_PROXY)"), "{}", f.title);
        assert!(fixes(&f).contains("http://user:pass@proxy:3128"));
        assert!(fixes(&f).contains("Basic realm"));
        assert_eq!(f.measured.http_status, Some(407));
        assert!(f.evidence.iter().any(|e| e == "error page: Access denied"));
        let again = refused_with(407, &[], true);
        assert!(
            again.title.contains("rejected our credentials"),
            "{}",
            again.title
        );
    }

    #[test]
    fn a_403_is_the_proxy_policy_and_a_502_its_reach() {
        let f = refused_with(403, &[("Server", "tinyproxy/1.11.1")], false);
        assert!(
            f.title
                .contains("does not allow a tunnel to example.test:443"),
            "{}",
            f.title
        );
        assert!(fixes(&f).contains("port 443"));
        assert!(f.evidence.iter().any(|e| e == "Server: tinyproxy/1.11.1"));
        let f = refused_with(502, &[], false);
        assert!(
            f.title.contains("could not reach example.test:443"),
            "{}",
            f.title
        );
        assert!(fixes(&f).contains("from the proxy's host"));
        assert!(f.fix.iter().any(|x| x.snippet.as_deref().is_some_and(
            |s| s.starts_with("curl -v -p -x 'http://alice:REDACTED@proxy.corp:3128'")
        )));
    }

    #[test]
    fn socks_reply_codes_read_like_their_http_cousins() {
        let table = [
            ("connect", 0x02, "does not allow a tunnel"),
            ("connect", 0x04, "could not reach"),
            ("method", 0xFF, "wants credentials"),
            ("auth", 0x01, "rejected our credentials"),
            ("connect", 0x08, "does not support"),
        ];
        for (step, code, want) in table {
            let mut p = proxy();
            p.kind = ProxyKind::Socks5h;
            p.socks = Some(SocksReply {
                step: step.to_owned(),
                code,
                meaning: "m".to_owned(),
            });
            let end = ConnectionEnd::ProxyRefused {
                proxy: p.url.clone(),
                answer: "SOCKS5".to_owned(),
                status: None,
            };
            let found = diagnose_probe(&Probe::new().through_proxy(p).failed(end).build());
            assert_eq!(found[0].id, CauseId::ProxyRefused, "{step} {code}");
            assert!(
                found[0].title.contains(want),
                "{step} {code}: {}",
                found[0].title
            );
        }
    }

    #[test]
    fn an_unreachable_proxy_is_the_proxy_not_the_target() {
        let end = ConnectionEnd::ConnectRefused {
            addr: "192.0.2.1:3128".to_owned(),
        };
        let found = diagnose_probe(
            &Probe::new()
                .through_proxy(proxy())
                .failed(end.clone())
                .build(),
        );
        assert_eq!(found[0].id, CauseId::ProxyRefused);
        assert!(
            found[0].title.contains("cannot be reached"),
            "{}",
            found[0].title
        );
        assert!(fixes(&found[0]).contains("--no-proxy"));
        // Without a proxy the same end is the target's.
        let direct = diagnose_probe(&Probe::new().failed(end).build());
        assert_eq!(direct[0].id, CauseId::ConnectRefused);
    }

    #[test]
    fn a_healthy_probe_through_a_proxy_says_whose_timings_they_are() {
        let ev = Probe::new().through_proxy(proxy()).opened().build();
        let found = diagnose_probe(&ev);
        let healthy = found.iter().find(|f| f.id == CauseId::Healthy).unwrap();
        assert!(healthy
            .evidence
            .iter()
            .any(|e| e.contains("round trips are to and through the proxy")));
        assert!(healthy
            .evidence
            .iter()
            .any(|e| e.contains("tinyproxy Timeout 600 s")));
    }
}
