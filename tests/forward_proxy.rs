//! Forward proxies end to end on 127.0.0.1: small HTTP CONNECT and SOCKS5
//! proxies written here (one that tunnels, ones that refuse the way real
//! ones do), tinyproxy from Debian, and the binary with `--proxy` and the
//! proxy environment variables, credentials redacted in every output.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;
use support::schema_validate;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wsdoctor_diagnosis::{diagnose_probe, CauseId, Finding};
use wsdoctor_evidence::{ConnectionEnd, ProbeEvidence, ProxyKind};
use wsdoctor_lab::{LabConfig, LabServer, LabTls};
use wsdoctor_sources::conn::{ConnectOptions, ForwardProxy, Target};
use wsdoctor_sources::probe::{run, ProbeConfig};

/// base64("alice:s3cret"): what a Basic `Proxy-Authorization` carries.
const ALICE: &str = "Basic YWxpY2U6czNjcmV0";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Policy {
    /// Tunnel anywhere (after auth, if required).
    Allow,
    /// Tunnel only to this port; 403 otherwise (many corporate proxies: 443 only).
    OnlyPort(u16),
    /// Answer in something that is not HTTP.
    NotHttp,
    /// Never answer.
    Stall,
    /// Answer 200, then send bytes of its own before the tunnel carried any.
    Chatty,
    /// An endless answer head.
    Flood,
}

/// A proxy task on 127.0.0.1:0 and the request heads it saw.
struct TestProxy {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestProxy {
    fn url(&self, scheme: &str, userinfo: &str) -> String {
        format!("{scheme}://{userinfo}{}", self.addr)
    }
    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

async fn spawn_proxy<F, Fut>(handler: F) -> TestProxy
where
    F: Fn(TcpStream, Arc<Mutex<Vec<String>>>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let shared = Arc::clone(&seen);
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(handler(stream, Arc::clone(&shared)));
        }
    });
    TestProxy { addr, seen, task }
}

async fn answer(stream: &mut TcpStream, status: &str, extra: &str) {
    let body = format!("<html><head><title>{status}</title></head></html>\n");
    let head = format!(
        "HTTP/1.1 {status}\r\nServer: test-proxy\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(format!("{head}{body}").as_bytes()).await;
}

/// An HTTP CONNECT proxy: `auth` is the `Proxy-Authorization` it requires.
async fn http_proxy(auth: Option<&'static str>, policy: Policy) -> TestProxy {
    spawn_proxy(move |mut client, seen| async move {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
            match tokio::time::timeout(Duration::from_secs(5), client.read(&mut byte)).await {
                Ok(Ok(1)) => head.push(byte[0]),
                _ => return,
            }
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        seen.lock().unwrap().push(head.clone());
        match policy {
            Policy::NotHttp => {
                let _ = client.write_all(b"SSH-2.0-OpenSSH_9.2\r\n").await;
                return;
            }
            Policy::Stall => {
                tokio::time::sleep(Duration::from_secs(10)).await;
                return;
            }
            Policy::Chatty => {
                let _ = client
                    .write_all(b"HTTP/1.1 200 OK\r\n\r\nwelcome to the proxy\r\n")
                    .await;
                tokio::time::sleep(Duration::from_secs(2)).await;
                return;
            }
            Policy::Flood => {
                let _ = client.write_all(b"HTTP/1.1 200 OK\r\n").await;
                // Bounded: 1 MiB, far past the 16 KiB a head may have.
                let line = format!("X-Filler: {}\r\n", "a".repeat(1000));
                for _ in 0..(1 << 20) / line.len() {
                    if client.write_all(line.as_bytes()).await.is_err() {
                        return;
                    }
                }
                return;
            }
            Policy::Allow | Policy::OnlyPort(_) => {}
        }
        let authority = head
            .lines()
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .unwrap_or_default()
            .to_owned();
        let given = head.lines().find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("proxy-authorization")
                .then(|| value.trim().to_owned())
        });
        if auth.is_some_and(|want| given.as_deref() != Some(want)) {
            let challenge = "Proxy-Authenticate: Basic realm=\"test\"\r\n";
            return answer(&mut client, "407 Proxy Authentication Required", challenge).await;
        }
        let port: u16 = authority
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .unwrap_or(0);
        if let Policy::OnlyPort(allowed) = policy {
            if port != allowed {
                return answer(&mut client, "403 Forbidden", "").await;
            }
        }
        let Ok(mut upstream) = TcpStream::connect(authority.as_str()).await else {
            return answer(&mut client, "502 Bad Gateway", "").await;
        };
        let _ = client
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await;
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    })
    .await
}

/// A SOCKS5 proxy (RFC 1928/1929): `auth` is the user and password it
/// requires; `reply` the CONNECT reply code it gives (0: tunnel).
async fn socks5_proxy(auth: Option<(&'static str, &'static str)>, reply: u8) -> TestProxy {
    spawn_proxy(move |mut client, seen| async move {
        let step = async {
            let mut greeting = [0u8; 2];
            client.read_exact(&mut greeting).await?;
            let mut methods = vec![0u8; usize::from(greeting[1])];
            client.read_exact(&mut methods).await?;
            if let Some((user, password)) = auth {
                if !methods.contains(&2) {
                    client.write_all(&[5, 0xFF]).await?;
                    return Ok(None);
                }
                client.write_all(&[5, 2]).await?;
                let mut ulen = [0u8; 2];
                client.read_exact(&mut ulen).await?;
                let mut u = vec![0u8; usize::from(ulen[1])];
                client.read_exact(&mut u).await?;
                let mut plen = [0u8; 1];
                client.read_exact(&mut plen).await?;
                let mut p = vec![0u8; usize::from(plen[0])];
                client.read_exact(&mut p).await?;
                let ok = u == user.as_bytes() && p == password.as_bytes();
                client.write_all(&[1, u8::from(!ok)]).await?;
                if !ok {
                    return Ok(None);
                }
            } else {
                client.write_all(&[5, 0]).await?;
            }
            let mut request = [0u8; 4];
            client.read_exact(&mut request).await?;
            let host = match request[3] {
                1 => {
                    let mut a = [0u8; 4];
                    client.read_exact(&mut a).await?;
                    std::net::Ipv4Addr::from(a).to_string()
                }
                3 => {
                    let mut len = [0u8; 1];
                    client.read_exact(&mut len).await?;
                    let mut name = vec![0u8; usize::from(len[0])];
                    client.read_exact(&mut name).await?;
                    format!("name {}", String::from_utf8_lossy(&name))
                }
                _ => {
                    let mut a = [0u8; 16];
                    client.read_exact(&mut a).await?;
                    format!("[{}]", std::net::Ipv6Addr::from(a))
                }
            };
            let mut port = [0u8; 2];
            client.read_exact(&mut port).await?;
            Ok::<_, std::io::Error>(Some((host, u16::from_be_bytes(port))))
        };
        let Ok(Ok(Some((host, port)))) = tokio::time::timeout(Duration::from_secs(5), step).await
        else {
            return;
        };
        seen.lock().unwrap().push(format!("{host}:{port}"));
        let dial = host.strip_prefix("name ").unwrap_or(&host).to_owned();
        let upstream = TcpStream::connect((dial.trim_matches(['[', ']']), port)).await;
        let (code, upstream) = match (reply, upstream) {
            (0, Ok(u)) => (0, Some(u)),
            (0, Err(_)) => (5, None),
            (r, _) => (r, None),
        };
        let _ = client.write_all(&[5, code, 0, 1, 127, 0, 0, 1, 0, 0]).await;
        if let Some(mut upstream) = upstream {
            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        }
    })
    .await
}

fn options(url: &str, proxy: &str) -> ConnectOptions {
    let mut c = ConnectOptions::new(Target::parse(url).unwrap());
    c.proxy = Some(ForwardProxy::parse(proxy, "flag").unwrap());
    c.connect_timeout = Duration::from_secs(3);
    c.handshake_timeout = Duration::from_secs(3);
    c
}

async fn probe(options: ConnectOptions) -> ProbeEvidence {
    let mut config = ProbeConfig::new(options);
    config.watch = Duration::from_millis(300);
    run(&config, None).await
}

fn end(e: &ProbeEvidence) -> ConnectionEnd {
    e.connection.end.clone().expect("ended").end
}

fn top(e: &ProbeEvidence) -> Finding {
    diagnose_probe(e).into_iter().next().expect("a finding")
}

async fn start_lab() -> LabServer {
    LabServer::start(LabConfig::default()).await.unwrap()
}

#[tokio::test]
async fn http_connect_tunnels_with_basic_auth_and_records_the_proxy() {
    let lab = start_lab().await;
    let proxy = http_proxy(Some(ALICE), Policy::Allow).await;
    let e = probe(options(
        &lab.url("/ws"),
        &proxy.url("http", "alice:s3cret@"),
    ))
    .await;
    assert!(e.connection.opened(), "{:?}", e.connection.end);
    let seen = proxy.seen();
    assert!(
        seen[0].starts_with(&format!("CONNECT {} HTTP/1.1\r\n", lab.addr())),
        "{seen:?}"
    );
    let c = &e.connection;
    assert_eq!(
        c.peer_addr,
        Some(proxy.addr.to_string()),
        "peer is the proxy"
    );
    let record = c.forward_proxy.as_ref().unwrap();
    assert_eq!(record.kind, ProxyKind::HttpConnect);
    assert_eq!(record.from, "flag");
    assert_eq!(record.url, format!("http://alice:REDACTED@{}", proxy.addr));
    let connect = record.connect.as_ref().unwrap();
    assert_eq!(
        (connect.status, connect.reason.as_str()),
        (200, "Connection established")
    );
    assert!(connect
        .request
        .contains(&"Proxy-Authorization: Basic REDACTED".to_owned()));
    let p = &c.phases;
    let tunnel = p.proxy_tunnel_done_us.unwrap();
    assert!(p.connect_done_us.unwrap() <= tunnel && tunnel <= p.request_written_us.unwrap());
    let json = serde_json::to_string(&e).unwrap();
    assert!(
        !json.contains("s3cret") && !json.contains("YWxpY2U6czNjcmV0"),
        "{json}"
    );
    let healthy = diagnose_probe(&e);
    assert_eq!(healthy[0].id, CauseId::Healthy, "{healthy:#?}");
    assert!(healthy[0]
        .evidence
        .iter()
        .any(|l| l.contains("round trips are to and through the proxy")));
}

#[tokio::test]
async fn wss_through_the_proxy_verifies_the_target_by_its_name() {
    let (tls, cert_pem) = LabTls::self_signed(&["localhost"]).unwrap();
    let lab = LabServer::start(LabConfig {
        tls: Some(tls),
        ..LabConfig::default()
    })
    .await
    .unwrap();
    let url = format!("wss://localhost:{}/ws", lab.addr().port());
    for scheme in ["http", "socks5h"] {
        let proxy = if scheme == "http" {
            http_proxy(None, Policy::Allow).await
        } else {
            socks5_proxy(None, 0).await
        };
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, &cert_pem).unwrap();
        let mut o = options(&url, &proxy.url(scheme, ""));
        o.tls.add_ca_file(&ca).unwrap();
        let e = probe(o).await;
        assert!(e.connection.opened(), "{scheme}: {:?}", e.connection.end);
        assert!(e.connection.tls.as_ref().unwrap().verified, "{scheme}");
        // The proxy was asked for the name; TLS checked the certificate against it.
        let seen = proxy.seen();
        let want = if scheme == "http" {
            format!("CONNECT localhost:{}", lab.addr().port())
        } else {
            format!("name localhost:{}", lab.addr().port())
        };
        assert!(seen[0].starts_with(&want), "{scheme}: {seen:?}");
        // --insecure through the proxy too.
        let mut o = options(&url, &proxy.url(scheme, ""));
        o.tls.insecure = true;
        let e = probe(o).await;
        assert!(
            e.connection.opened(),
            "{scheme} insecure: {:?}",
            e.connection.end
        );
    }
}

#[tokio::test]
async fn refusals_are_proxy_refused_with_the_proxys_answer() {
    let lab = start_lab().await;
    let url = lab.url("/ws");
    // 407: no credentials, then wrong ones.
    let proxy = http_proxy(Some(ALICE), Policy::Allow).await;
    for (userinfo, title) in [
        ("", "wants credentials"),
        ("alice:wrong@", "rejected our credentials"),
    ] {
        let e = probe(options(&url, &proxy.url("http", userinfo))).await;
        match end(&e) {
            ConnectionEnd::ProxyRefused { status, answer, .. } => {
                assert_eq!(status, Some(407));
                assert_eq!(answer, "HTTP/1.1 407 Proxy Authentication Required");
            }
            other => panic!("{other:?}"),
        }
        let connect = e
            .connection
            .forward_proxy
            .as_ref()
            .unwrap()
            .connect
            .as_ref()
            .unwrap();
        assert_eq!(
            connect.header("Proxy-Authenticate"),
            Some("Basic realm=\"test\"")
        );
        assert!(connect.body.as_ref().unwrap().text.contains("<title>407"));
        let f = top(&e);
        assert_eq!(f.id, CauseId::ProxyRefused);
        assert!(f.title.contains(title), "{}", f.title);
        assert_eq!(f.measured.http_status, Some(407));
        assert!(!serde_json::to_string(&e).unwrap().contains("wrong"));
    }
    // 403: the proxy tunnels to 443 only.
    let proxy = http_proxy(None, Policy::OnlyPort(443)).await;
    let e = probe(options(&url, &proxy.url("http", ""))).await;
    let f = top(&e);
    assert_eq!(
        (f.id, f.measured.http_status),
        (CauseId::ProxyRefused, Some(403))
    );
    assert!(f.title.contains("does not allow a tunnel"), "{}", f.title);
    // 502: the proxy cannot reach the target.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed_addr = closed.local_addr().unwrap();
    drop(closed);
    let proxy = http_proxy(None, Policy::Allow).await;
    let e = probe(options(
        &format!("ws://{closed_addr}/ws"),
        &proxy.url("http", ""),
    ))
    .await;
    let f = top(&e);
    assert_eq!(
        (f.id, f.measured.http_status),
        (CauseId::ProxyRefused, Some(502))
    );
    assert!(f.title.contains("could not reach"), "{}", f.title);
}

#[tokio::test]
async fn a_dead_or_wrong_proxy_is_named_as_the_proxy() {
    let lab = start_lab().await;
    let url = lab.url("/ws");
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed_addr = closed.local_addr().unwrap();
    drop(closed);
    let e = probe(options(&url, &format!("http://{closed_addr}"))).await;
    assert!(
        matches!(end(&e), ConnectionEnd::ConnectRefused { .. }),
        "{:?}",
        end(&e)
    );
    let f = top(&e);
    assert_eq!(f.id, CauseId::ProxyRefused);
    assert!(f.title.contains("cannot be reached"), "{}", f.title);

    let ssh = http_proxy(None, Policy::NotHttp).await;
    let e = probe(options(&url, &ssh.url("http", ""))).await;
    match end(&e) {
        ConnectionEnd::ProxyFailed { error, .. } => {
            assert!(error.contains("not valid HTTP"), "{error}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(top(&e).id, CauseId::ProxyRefused);
    // A proxy that stalls, one that talks into the tunnel, one that floods.
    for (policy, want) in [
        (Policy::Stall, "no complete answer"),
        (Policy::Chatty, "bytes after its 2xx answer"),
        (Policy::Flood, "longer than 16384 bytes"),
    ] {
        let bad = http_proxy(None, policy).await;
        let mut o = options(&url, &bad.url("http", ""));
        o.connect_timeout = Duration::from_millis(500);
        let e = probe(o).await;
        match end(&e) {
            ConnectionEnd::ProxyFailed { error, .. } => assert!(error.contains(want), "{error}"),
            other => panic!("{other:?}"),
        }
    }
    // An HTTP proxy URL pointing at a SOCKS5 port, and the other way round.
    let socks = socks5_proxy(None, 0).await;
    // The SOCKS5 server reads our CONNECT as a greeting and waits for more.
    let mut o = options(&url, &socks.url("http", ""));
    o.connect_timeout = Duration::from_millis(500);
    let e = probe(o).await;
    assert!(
        matches!(end(&e), ConnectionEnd::ProxyFailed { .. }),
        "{:?}",
        end(&e)
    );
    let http = http_proxy(None, Policy::Allow).await;
    let e = probe(options(&url, &http.url("socks5", ""))).await;
    assert!(
        matches!(end(&e), ConnectionEnd::ProxyFailed { .. }),
        "{:?}",
        end(&e)
    );
}

#[tokio::test]
async fn socks5_tunnels_and_refuses_with_rfc_1928_codes() {
    let lab = start_lab().await;
    let url = lab.url("/ws");
    let proxy = socks5_proxy(Some(("alice", "s3cret")), 0).await;
    let e = probe(options(&url, &proxy.url("socks5", "alice:s3cret@"))).await;
    assert!(e.connection.opened(), "{:?}", e.connection.end);
    let record = e.connection.forward_proxy.as_ref().unwrap();
    assert_eq!(record.kind, ProxyKind::Socks5);
    assert_eq!(record.socks.as_ref().unwrap().code, 0);
    assert_eq!(proxy.seen(), vec![lab.addr().to_string()]);
    assert!(!serde_json::to_string(&e).unwrap().contains("s3cret"));

    // Credentials missing: no acceptable method. Wrong: RFC 1929 failure.
    for (userinfo, step) in [("", "method"), ("alice:nope@", "auth")] {
        let e = probe(options(&url, &proxy.url("socks5", userinfo))).await;
        assert!(
            matches!(end(&e), ConnectionEnd::ProxyRefused { .. }),
            "{:?}",
            end(&e)
        );
        let socks = e
            .connection
            .forward_proxy
            .as_ref()
            .unwrap()
            .socks
            .clone()
            .unwrap();
        assert_eq!(socks.step, step);
        assert_eq!(top(&e).id, CauseId::ProxyRefused);
    }

    let refusing = socks5_proxy(None, 0x02).await;
    let e = probe(options(&url, &refusing.url("socks5h", ""))).await;
    match end(&e) {
        ConnectionEnd::ProxyRefused { answer, .. } => assert_eq!(
            answer,
            "SOCKS5 connect reply 0x02 (connection not allowed by ruleset)"
        ),
        other => panic!("{other:?}"),
    }
    assert!(top(&e).title.contains("does not allow a tunnel"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tinyproxy_tunnels_and_refuses() {
    let lab = start_lab().await;
    let port = lab.addr().port();
    let url = lab.url("/ws");
    let Some(tiny) = support::tinyproxy(&format!("ConnectPort {port}\nBasicAuth alice s3cret"))
    else {
        return;
    };
    let proxy = format!("http://alice:s3cret@{}", tiny.addr);
    let e = probe(options(&url, &proxy)).await;
    assert!(e.connection.opened(), "{:?}", e.connection.end);
    let connect = e
        .connection
        .forward_proxy
        .as_ref()
        .unwrap()
        .connect
        .clone()
        .unwrap();
    assert_eq!(connect.status, 200);
    assert_eq!(diagnose_probe(&e)[0].id, CauseId::Healthy);

    // Without credentials: tinyproxy's 407.
    let e = probe(options(&url, &format!("http://{}", tiny.addr))).await;
    let f = top(&e);
    assert_eq!(
        (f.id, f.measured.http_status),
        (CauseId::ProxyRefused, Some(407))
    );
    assert!(
        f.evidence
            .iter()
            .any(|l| l.starts_with("Server: tinyproxy/")),
        "{f:#?}"
    );

    // Wrong credentials: tinyproxy says 401, still the credentials' fault.
    let e = probe(options(&url, &format!("http://alice:nope@{}", tiny.addr))).await;
    let f = top(&e);
    assert_eq!(
        (f.id, f.measured.http_status),
        (CauseId::ProxyRefused, Some(401))
    );
    assert!(f.title.contains("rejected our credentials"), "{}", f.title);

    // A port outside ConnectPort: tinyproxy's 403 "Access violation".
    let other = start_lab().await;
    let e = probe(options(&other.url("/ws"), &proxy)).await;
    let f = top(&e);
    assert_eq!(
        (f.id, f.measured.http_status),
        (CauseId::ProxyRefused, Some(403))
    );
    assert!(
        f.evidence
            .iter()
            .any(|l| l == "error page: 403 Access violation"),
        "{f:#?}"
    );
}

/// The binary, with no proxy variable from the test's own environment.
fn wsdoctor(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = std::process::Command::cargo_bin("wsdoctor").unwrap();
    for var in [
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
        "no_proxy",
        "NO_PROXY",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied())
        .env("NO_COLOR", "1")
        .args(args);
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_probes_through_the_proxy_and_never_prints_its_password() {
    let lab = start_lab().await;
    let url = lab.url("/ws");
    let proxy = http_proxy(Some(ALICE), Policy::Allow).await;
    let with_password = proxy.url("http", "alice:s3cret@");
    let redacted = proxy.url("http", "alice:REDACTED@");
    let run = |args: Vec<String>, env: Vec<(String, String)>| {
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let env: Vec<(&str, &str)> =
                env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            wsdoctor(&args, &env)
        })
    };
    let args = |extra: &[&str]| {
        let mut a: Vec<String> = ["probe", "--watch", "300ms"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        a.extend(extra.iter().map(|s| (*s).to_owned()));
        a.push(url.clone());
        a
    };

    let (code, text) = run(args(&["--proxy", &with_password]), vec![])
        .await
        .unwrap();
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains(&format!(
            "proxy     {redacted} (from flag, http-connect) → tunnel 200 Connection established"
        )),
        "{text}"
    );
    assert!(text.contains("proxy tunnel"), "{text}");
    assert!(!text.contains("s3cret"), "{text}");

    let (code, json) = run(args(&["--json", "--proxy", &with_password]), vec![])
        .await
        .unwrap();
    assert_eq!(code, 0, "{json}");
    assert!(
        !json.contains("s3cret") && !json.contains("YWxpY2U6czNjcmV0"),
        "{json}"
    );
    let report: Value = serde_json::from_str(&json).unwrap();
    schema_validate(&report);
    let record = &report["observations"]["probes"][0]["connection"];
    assert_eq!(record["forward_proxy"]["url"], redacted.as_str());
    assert_eq!(record["forward_proxy"]["kind"], "http-connect");
    assert!(record["phases"]["proxy_tunnel_done_us"].is_u64());

    // From the environment, as curl reads it; --no-proxy ignores it.
    let env = vec![("HTTP_PROXY".to_owned(), with_password.clone())];
    let (code, json) = run(args(&["--json"]), env.clone()).await.unwrap();
    assert_eq!(code, 0, "{json}");
    let report: Value = serde_json::from_str(&json).unwrap();
    let record = &report["observations"]["probes"][0]["connection"];
    assert_eq!(record["forward_proxy"]["from"], "HTTP_PROXY");
    let (code, json) = run(args(&["--json", "--no-proxy"]), env).await.unwrap();
    assert_eq!(code, 0, "{json}");
    let report: Value = serde_json::from_str(&json).unwrap();
    assert!(report["observations"]["probes"][0]["connection"]["forward_proxy"].is_null());

    // A refusal: exit 1, proxy-refused first, the answer in the text.
    let (code, json) = run(args(&["--json", "--proxy", &proxy.url("http", "")]), vec![])
        .await
        .unwrap();
    assert_eq!(code, 1, "{json}");
    let report: Value = serde_json::from_str(&json).unwrap();
    schema_validate(&report);
    assert_eq!(report["findings"][0]["id"], "proxy-refused");
    let (code, text) = run(args(&["--proxy", &proxy.url("http", "")]), vec![])
        .await
        .unwrap();
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("< HTTP/1.1 407 Proxy Authentication Required"),
        "{text}"
    );
}

/// `load --procs 2` runs its ramp in child processes of the binary: they go
/// through the proxy their parent was given, and under `--no-proxy` ignore
/// the environment's, as the parent does (before, they read only the
/// environment). tinyproxy tells which: only through it do wrong
/// credentials fail a connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_procs_children_take_the_proxy_flags() {
    let lab = start_lab().await;
    let port = lab.addr().port();
    let url = lab.url("/ws");
    let Some(tiny) = support::tinyproxy(&format!("ConnectPort {port}\nBasicAuth alice s3cret"))
    else {
        return;
    };
    let good = format!("http://alice:s3cret@{}", tiny.addr);
    let bad = format!("http://alice:nope@{}", tiny.addr);
    let load = |extra: Vec<String>, env: Vec<(String, String)>| {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            let mut args = vec![
                "load", &url, "--json", "-c", "4", "--step", "4", "--rate", "100", "--hold",
                "300ms", "--procs", "2",
            ];
            args.extend(extra.iter().map(String::as_str));
            let env: Vec<(&str, &str)> =
                env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let (code, json) = wsdoctor(&args, &env);
            assert!(
                !json.contains("s3cret") && !json.contains("nope@"),
                "{json}"
            );
            let report: Value =
                serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
            (code, report)
        })
    };
    // Summed over the ramp's steps: (opened, refused by the proxy with 401).
    let counts = |report: &Value| {
        let steps = report["observations"]["load"]["steps"].as_array().unwrap();
        let sum = |f: &dyn Fn(&Value) -> Option<u64>| steps.iter().filter_map(f).sum::<u64>();
        (
            sum(&|s| s["opened"].as_u64()),
            sum(&|s| s["failures"]["proxy-401"].as_u64()),
        )
    };

    // Wrong credentials on the flag: tinyproxy refuses every connection of
    // both children.
    let (code, report) = load(vec!["--proxy".into(), bad.clone()], vec![])
        .await
        .unwrap();
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["findings"][0]["id"], "proxy-refused", "{report:#}");
    let fix = report["findings"][0]["fix"].to_string();
    assert!(
        fix.contains("credentials") && !fix.contains("MaxClients"),
        "{fix}"
    );
    assert_eq!(counts(&report), (0, 4), "{report:#}");
    // The right ones: all four through it.
    let (code, report) = load(vec!["--proxy".into(), good], vec![]).await.unwrap();
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(counts(&report), (4, 0), "{report:#}");
    // The refusing proxy in the environment, ignored under --no-proxy.
    let env = vec![("HTTP_PROXY".to_owned(), bad)];
    let (code, report) = load(vec!["--no-proxy".into()], env).await.unwrap();
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(counts(&report), (4, 0), "{report:#}");
}
