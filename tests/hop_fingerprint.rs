//! The active hop fingerprint end to end, against real proxies from Debian
//! in front of the lab: HAProxy (no Server header) and Apache (which passes
//! the backend's Server header through) are named by how they refuse the
//! fingerprint's requests; nginx with `server_tokens off` is named by its
//! header alone, so nothing extra is sent; `--no-fingerprint` sends nothing
//! extra, counted at a TCP counter in front of the proxy.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod support;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use wsdoctor_lab::{LabConfig, LabServer};

/// `wsdoctor ARGS… --json`: its exit code and its schema-checked report.
fn wsdoctor(args: &[&str]) -> (i32, Value) {
    support::wsdoctor_json(&[args, &["--json"]].concat())
}

fn idle(url: &str) -> (i32, Value) {
    wsdoctor(&[
        "idle",
        url,
        "--max",
        "15s",
        "--samples",
        "1",
        "--heartbeat-window",
        "0s",
    ])
}

fn evidence(f: &Value) -> String {
    f["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_behind_haproxy_names_it_without_a_server_header() {
    let lab = LabServer::start(LabConfig::default()).await.unwrap();
    let Some(haproxy) = support::haproxy(lab.addr(), "timeout tunnel 2s") else {
        return;
    };
    let (code, report) = idle(&format!("ws://{}/ws", haproxy.addr));
    assert_eq!(code, 1);
    let f = &report["findings"][0];
    assert_eq!(f["id"], "idle-timeout", "{report:#}");
    assert_eq!(f["intermediary"], "haproxy", "{report:#}");
    let lines = evidence(f);
    assert!(lines.contains("signature haproxy-400-page"), "{lines}");
    assert!(lines.contains("active fingerprint"), "{lines}");
    let sent = &report["observations"]["idle"]["hop_probe"]["exchanges"];
    assert_eq!(sent.as_array().unwrap().len(), 4, "{report:#}");
    assert_eq!(sent[0]["probe"], "bad-header-name");
    assert_eq!(sent[0]["status"], 400);
    // Without the fingerprint the same run names no hop: the test fails
    // without the feature.
    let (_, bare) = wsdoctor(&[
        "idle",
        &format!("ws://{}/ws", haproxy.addr),
        "--max",
        "15s",
        "--samples",
        "1",
        "--heartbeat-window",
        "0s",
        "--no-fingerprint",
    ]);
    assert!(bare["findings"][0]["intermediary"].is_null(), "{bare:#}");
    assert!(bare["observations"]["idle"]["hop_probe"].is_null());
}

#[tokio::test(flavor = "multi_thread")]
async fn nginx_with_server_tokens_off_is_named_by_its_header_and_not_fingerprinted() {
    let lab = LabServer::start(LabConfig::default()).await.unwrap();
    let Some(nginx) = support::nginx(lab.addr(), "server_tokens off; proxy_read_timeout 2s;")
    else {
        return;
    };
    let (_, report) = idle(&format!("ws://{}/ws", nginx.addr));
    let f = &report["findings"][0];
    assert_eq!(f["intermediary"], "nginx", "{report:#}");
    assert!(
        report["observations"]["idle"]["hop_probe"].is_null(),
        "{report:#}"
    );
}

/// Apache httpd reverse-proxying WebSockets to `upstream` (mod_proxy_http's
/// `upgrade=websocket`, 2.4.47+), tunnels closed after `timeout_s` idle,
/// version and signature hidden. `None` (a skip) without apache2.
fn apache(
    upstream: SocketAddr,
    timeout_s: u32,
) -> Option<(support::KillOnDrop, SocketAddr, tempfile::TempDir)> {
    let bin = support::require("apache2")?;
    let modules = "/usr/lib/apache2/modules";
    let dir = tempfile::tempdir().unwrap();
    let port = support::free_port();
    let d = dir.path().display();
    let conf = format!(
        "ServerRoot {d}\nPidFile {d}/httpd.pid\nListen 127.0.0.1:{port}\n\
         LoadModule mpm_event_module {modules}/mod_mpm_event.so\n\
         LoadModule authz_core_module {modules}/mod_authz_core.so\n\
         LoadModule proxy_module {modules}/mod_proxy.so\n\
         LoadModule proxy_http_module {modules}/mod_proxy_http.so\n\
         ErrorLog {d}/error.log\nServerName localhost\nServerTokens Prod\nServerSignature Off\n\
         Timeout {timeout_s}\nProxyTimeout {timeout_s}\n\
         ProxyPass / http://{upstream}/ upgrade=websocket timeout={timeout_s}\n"
    );
    let path = dir.path().join("httpd.conf");
    std::fs::write(&path, conf).unwrap();
    // -X: one process in the foreground, so the child is the server itself.
    let child = support::KillOnDrop(
        Command::new(bin)
            .args(["-X", "-f"])
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "apache2 did not listen on {addr}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Some((child, addr, dir))
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_behind_apache_names_it_though_the_backend_s_server_header_comes_through() {
    let lab = LabServer::start(LabConfig::default()).await.unwrap();
    let Some((_apache, addr, _dir)) = apache(lab.addr(), 2) else {
        return;
    };
    let (_, report) = idle(&format!("ws://{addr}/ws"));
    let f = &report["findings"][0];
    let lines = evidence(f);
    assert!(lines.contains("signature apache-400-page"), "{report:#}");
    assert!(lines.contains("signature apache-414-page"), "{report:#}");
    assert_eq!(f["intermediary"], "apache-httpd", "{report:#}");
}

/// A TCP relay in front of `to` that counts the connections it accepts.
fn counting_relay(to: SocketAddr) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&count);
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            counted.fetch_add(1, Ordering::SeqCst);
            let Ok(upstream) = TcpStream::connect(to) else {
                continue;
            };
            for (mut from, mut into) in [
                (client.try_clone().unwrap(), upstream.try_clone().unwrap()),
                (upstream, client),
            ] {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut into);
                    let _ = into.shutdown(std::net::Shutdown::Write);
                });
            }
        }
    });
    (addr, count)
}

#[tokio::test(flavor = "multi_thread")]
async fn no_fingerprint_sends_nothing_but_the_websocket() {
    let lab = LabServer::start(LabConfig::default()).await.unwrap();
    let Some(haproxy) = support::haproxy(lab.addr(), "timeout tunnel 30s") else {
        return;
    };
    let (relay, count) = counting_relay(haproxy.addr);
    let url = format!("ws://{relay}/ws");
    let (_, off) = wsdoctor(&["probe", &url, "--watch", "300ms", "--no-fingerprint"]);
    assert_eq!(count.load(Ordering::SeqCst), 1, "{off:#}");
    assert!(off["observations"]["probes"][0]["hop_probe"].is_null());
    let (_, on) = wsdoctor(&["probe", &url, "--watch", "300ms"]);
    // The WebSocket plus the four fingerprint requests, never more.
    assert_eq!(count.load(Ordering::SeqCst), 1 + 1 + 4, "{on:#}");
    let exchanges = &on["observations"]["probes"][0]["hop_probe"]["exchanges"];
    assert_eq!(exchanges.as_array().unwrap().len(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn through_a_forward_proxy_the_fingerprint_takes_the_websocket_s_tunnel() {
    let lab = LabServer::start(LabConfig::default()).await.unwrap();
    let Some(haproxy) = support::haproxy(lab.addr(), "timeout tunnel 30s") else {
        return;
    };
    let port = haproxy.addr.port();
    let Some(tiny) = support::tinyproxy(&format!("ConnectPort {port}")) else {
        return;
    };
    let (relay, count) = counting_relay(tiny.addr);
    let url = format!("ws://{}/ws", haproxy.addr);
    let (_, report) = wsdoctor(&[
        "probe",
        &url,
        "--watch",
        "300ms",
        "--proxy",
        &format!("http://{relay}"),
    ]);
    // Every connection, the fingerprint's too, went to the forward proxy.
    assert_eq!(count.load(Ordering::SeqCst), 1 + 4, "{report:#}");
    let exchanges = &report["observations"]["probes"][0]["hop_probe"]["exchanges"];
    assert_eq!(exchanges[0]["status"], 400, "{report:#}");
    assert_eq!(
        exchanges[0]["reason"], "Bad request",
        "HAProxy's spelling: {report:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn over_wss_the_fingerprint_speaks_tls_too() {
    let (tls, cert_pem) = wsdoctor_lab::LabTls::self_signed(&["localhost"]).unwrap();
    let lab = LabServer::start(LabConfig {
        tls: Some(tls),
        ..LabConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &cert_pem).unwrap();
    let url = format!("wss://localhost:{}/ws", lab.addr().port());
    let (_, report) = wsdoctor(&[
        "probe",
        &url,
        "--watch",
        "300ms",
        "--ca-cert",
        ca.to_str().unwrap(),
    ]);
    let hop = &report["observations"]["probes"][0]["hop_probe"];
    assert_eq!(hop["tls"], true, "{report:#}");
    // All four were sent, in order, and each was answered in HTTP: plain
    // text to a TLS port gets no answer at all.
    let exchanges = hop["exchanges"].as_array().unwrap();
    let sent: Vec<&str> = exchanges
        .iter()
        .map(|x| x["probe"].as_str().unwrap())
        .collect();
    assert_eq!(
        sent,
        [
            "bad-header-name",
            "unknown-method",
            "long-request-line",
            "options-star"
        ],
        "{report:#}"
    );
    for x in exchanges {
        assert!(x["status"].is_u64(), "an answer over TLS: {x:#}");
        assert!(x["error"].is_null(), "{x:#}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn behind_haproxy_then_apache_the_front_hop_is_named_and_the_other_ranked() {
    let lab = LabServer::start(LabConfig::default()).await.unwrap();
    // Apache's own timer is far away; HAProxy's 2 s tunnel timeout fires.
    let Some((_apache, apache_addr, _dir)) = apache(lab.addr(), 60) else {
        return;
    };
    let Some(haproxy) = support::haproxy(apache_addr, "timeout tunnel 2s") else {
        return;
    };
    let (_, report) = idle(&format!("ws://{}/ws", haproxy.addr));
    let f = &report["findings"][0];
    assert_eq!(f["id"], "idle-timeout", "{report:#}");
    let lines = evidence(f);
    // HAProxy refused the malformed header itself; the over-long line
    // passed it and Apache refused that.
    assert!(lines.contains("signature haproxy-400-page"), "{lines}");
    assert!(lines.contains("signature apache-414-page"), "{lines}");
    assert_eq!(f["intermediary"], "haproxy", "{lines}");
}

#[tokio::test(flavor = "multi_thread")]
async fn behind_haproxy_then_nginx_haproxy_is_named_and_nginx_ranked_behind_it() {
    let lab = LabServer::start(LabConfig::default()).await.unwrap();
    let Some(nginx) = support::nginx(lab.addr(), "proxy_read_timeout 60s;") else {
        return;
    };
    let Some(haproxy) = support::haproxy(nginx.addr, "timeout tunnel 2s") else {
        return;
    };
    let (_, report) = idle(&format!("ws://{}/ws", haproxy.addr));
    let f = &report["findings"][0];
    let lines = evidence(f);
    // HAProxy refused the malformed header itself: it is the hop our
    // connection reaches. nginx's Server header came back through it.
    assert!(lines.contains("signature haproxy-400-page"), "{lines}");
    assert_eq!(f["intermediary"], "haproxy", "{lines}");
    assert!(lines.contains("the hop our connection reaches"), "{lines}");
    let first = lines.find("  haproxy (").unwrap();
    let nginx_line = lines.find("  nginx (").unwrap();
    assert!(nginx_line > first, "{lines}");
    assert!(
        lines[nginx_line..].contains("came back through haproxy"),
        "{lines}"
    );
    // Without the fingerprint nothing says who is in front, but the
    // lower-cased header names say someone is: nginx is not named on its
    // passed-through header (it was, before).
    let (_, bare) = wsdoctor(&[
        "idle",
        &format!("ws://{}/ws", haproxy.addr),
        "--max",
        "15s",
        "--samples",
        "1",
        "--heartbeat-window",
        "0s",
        "--no-fingerprint",
    ]);
    let f = &bare["findings"][0];
    assert!(f["intermediary"].is_null(), "{bare:#}");
    assert!(evidence(f).contains("came lower-cased"), "{bare:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn probe_behind_haproxy_then_nginx_names_haproxy_and_says_nginx_is_next() {
    let lab = LabServer::start(LabConfig::default()).await.unwrap();
    let Some(nginx) = support::nginx(lab.addr(), "proxy_read_timeout 60s;") else {
        return;
    };
    let Some(haproxy) = support::haproxy(nginx.addr, "timeout tunnel 1s") else {
        return;
    };
    let (_, report) = wsdoctor(&[
        "probe",
        &format!("ws://{}/ws", haproxy.addr),
        "--watch",
        "3s",
    ]);
    let f = &report["findings"][0];
    assert_eq!(f["intermediary"], "haproxy", "{report:#}");
    let lines = evidence(f);
    assert!(
        lines.contains("HAProxy is the hop our connection reaches; nginx"),
        "{lines}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn behind_nginx_then_haproxy_nginx_is_the_front_and_named_by_its_own_header() {
    let lab = LabServer::start(LabConfig::default()).await.unwrap();
    let Some(haproxy) = support::haproxy(lab.addr(), "timeout tunnel 60s") else {
        return;
    };
    let Some(nginx) = support::nginx(haproxy.addr, "proxy_read_timeout 2s;") else {
        return;
    };
    let (_, report) = idle(&format!("ws://{}/ws", nginx.addr));
    let f = &report["findings"][0];
    assert_eq!(f["id"], "idle-timeout", "{report:#}");
    // nginx writes its own Server header (HAProxy behind it sends none and
    // does not lower-case what nginx writes): nothing to ask.
    assert_eq!(f["intermediary"], "nginx", "{report:#}");
    assert!(
        report["observations"]["idle"]["hop_probe"].is_null(),
        "{report:#}"
    );
}

fn watch(url: &str, duration: &str, extra: &[&str]) -> Value {
    let mut args = vec![
        "watch",
        url,
        "--duration",
        duration,
        "--arms",
        "silent",
        "--conns",
        "2",
        "--backoff",
        "100ms",
        "--backoff-max",
        "200ms",
    ];
    args.extend_from_slice(extra);
    wsdoctor(&args).1
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_behind_haproxy_fingerprints_after_the_watch_and_names_it() {
    let lab = LabServer::start(LabConfig::default()).await.unwrap();
    let Some(haproxy) = support::haproxy(lab.addr(), "timeout tunnel 1s") else {
        return;
    };
    let url = format!("ws://{}/ws", haproxy.addr);
    let report = watch(&url, "3500ms", &[]);
    let f = &report["findings"][0];
    assert_eq!(f["id"], "idle-timeout", "{report:#}");
    assert_eq!(f["intermediary"], "haproxy", "{report:#}");
    let lines = evidence(f);
    assert!(lines.contains("signature haproxy-400-page"), "{lines}");
    assert!(lines.contains("active fingerprint"), "{lines}");
    let probes = &report["observations"]["watch"]["hop_probes"];
    assert_eq!(probes[0]["target"], url.as_str(), "{report:#}");
    assert_eq!(probes[0]["exchanges"].as_array().unwrap().len(), 4);
    // The same watch without it names no hop: the test fails without the
    // feature.
    let bare = watch(&url, "3500ms", &["--no-fingerprint"]);
    assert_eq!(bare["findings"][0]["id"], "idle-timeout", "{bare:#}");
    assert!(bare["findings"][0]["intermediary"].is_null(), "{bare:#}");
    assert!(bare["observations"]["watch"]["hop_probes"].is_null());
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_with_no_fingerprint_sends_nothing_but_its_websockets() {
    let lab = LabServer::start(LabConfig::default()).await.unwrap();
    let Some(haproxy) = support::haproxy(lab.addr(), "timeout tunnel 30s") else {
        return;
    };
    let (relay, count) = counting_relay(haproxy.addr);
    let url = format!("ws://{relay}/ws");
    // Nothing drops within the watch: its two connections, and no more.
    let off = watch(&url, "1s", &["--no-fingerprint"]);
    assert_eq!(count.load(Ordering::SeqCst), 2, "{off:#}");
    let on = watch(&url, "1s", &[]);
    // The watch's connections plus the four fingerprint requests after it.
    assert_eq!(count.load(Ordering::SeqCst), 2 + 2 + 4, "{on:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_behind_haproxy_then_nginx_names_haproxy_not_nginx_s_passed_through_header() {
    let lab = LabServer::start(LabConfig::default()).await.unwrap();
    let Some(nginx) = support::nginx(lab.addr(), "proxy_read_timeout 60s;") else {
        return;
    };
    let Some(haproxy) = support::haproxy(nginx.addr, "timeout tunnel 1s") else {
        return;
    };
    let url = format!("ws://{}/ws", haproxy.addr);
    let report = watch(&url, "3500ms", &[]);
    let f = &report["findings"][0];
    assert_eq!(f["id"], "idle-timeout", "{report:#}");
    assert_eq!(f["intermediary"], "haproxy", "{report:#}");
    // Without the fingerprint nginx's header, lower-cased by HAProxy, is
    // ranked but names nothing (before, the watch named nginx).
    let bare = watch(&url, "3500ms", &["--no-fingerprint"]);
    let f = &bare["findings"][0];
    assert_eq!(f["id"], "idle-timeout", "{bare:#}");
    assert!(f["intermediary"].is_null(), "{bare:#}");
    assert_eq!(
        bare["observations"]["watch"]["behind_unknown_hop"][0],
        url.as_str(),
        "{bare:#}"
    );
}
