//! Client certificates, pinned hosts and TLS key logs against real software:
//! nginx from Debian terminating TLS (with `ssl_verify_client on` where a
//! client certificate is wanted) in front of python-websockets, certificates
//! made by `openssl` as people make them, and `openssl s_server
//! -keylogfile` as the other end of a key log.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod support;

use std::path::Path;
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;
use support::openssl;

/// Signs `NAME.csr` (made from `key`) with the CA as `NAME.pem`, with `ext`.
fn signed(dir: &Path, name: &str, key: &str, subject: &str, ext: &str) {
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-key",
            key,
            "-subj",
            subject,
            "-out",
            &format!("{name}.csr"),
        ],
    );
    std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-days",
            "30",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}.pem"),
        ],
    );
}

/// A private CA, a server certificate for `nowhere.invalid`, 127.0.0.1 and
/// ::1, and client certificates with a PKCS#8 (`client8`), PKCS#1
/// (`client1`) and SEC1 (`clientec`) key.
fn pki(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "30",
            "-subj",
            "/CN=wsdoctor test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
    );
    openssl(dir, &["genpkey", "-algorithm", "RSA", "-out", "server.key"]);
    signed(
        dir,
        "server",
        "server.key",
        "/CN=nowhere.invalid",
        "subjectAltName=DNS:nowhere.invalid,IP:127.0.0.1,IP:::1\n",
    );
    openssl(
        dir,
        &["genpkey", "-algorithm", "RSA", "-out", "client8.key"],
    );
    openssl(
        dir,
        &["genrsa", "-traditional", "-out", "client1.key", "2048"],
    );
    openssl(
        dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "clientec.key",
        ],
    );
    for name in ["client8", "client1", "clientec"] {
        let client_ext = "extendedKeyUsage=clientAuth\n";
        signed(dir, name, &format!("{name}.key"), "/CN=client", client_ext);
    }
    // The three kinds of key, as their PEM labels say.
    for (name, label) in [
        ("client8", "BEGIN PRIVATE KEY"),
        ("client1", "BEGIN RSA PRIVATE KEY"),
        ("clientec", "BEGIN EC PRIVATE KEY"),
    ] {
        let text = std::fs::read_to_string(dir.join(format!("{name}.key"))).unwrap();
        assert!(text.contains(label), "{name}.key: {text}");
    }
}

/// python-websockets' echo server, the backend.
fn echo() -> Option<(support::KillOnDrop, u16)> {
    let peer = support::python_peer(&["tests/peers/python_websockets_echo.py", "0"], |l| {
        l.trim().parse().ok()
    });
    if peer.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install python3 and the websockets package"
        );
        eprintln!("skipped: python3 with the websockets package is not installed");
    }
    peer
}

/// nginx terminating TLS on 127.0.0.1 and ::1 with the server certificate
/// of `dir`, `ssl_verify_client` as given, in front of `backend`.
fn nginx_tls(dir: &Path, backend: u16, verify_client: &str) -> Option<support::Proxy> {
    let port = support::free_port();
    let files: Vec<(String, Vec<u8>)> = ["server.pem", "server.key", "ca.pem"]
        .iter()
        .map(|f| (f.to_string(), std::fs::read(dir.join(f)).unwrap()))
        .collect();
    let files: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, c)| (n.as_str(), c.as_slice()))
        .collect();
    let server = format!(
        r#"server {{
        listen 127.0.0.1:{port} ssl;
        listen [::1]:{port} ssl;
        ssl_certificate {{dir}}/server.pem;
        ssl_certificate_key {{dir}}/server.key;
        ssl_client_certificate {{dir}}/ca.pem;
        ssl_verify_client {verify_client};
        location / {{
            proxy_pass http://127.0.0.1:{backend};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
        }}
    }}"#
    );
    support::nginx_server(&server, port, &files)
}

fn wsdoctor(args: &[&str], envs: &[(&str, &Path)]) -> (i32, Value, String) {
    let mut cmd = Command::cargo_bin("wsdoctor").unwrap();
    cmd.args(args).args(["--watch", "300ms", "--json"]);
    cmd.env_remove("SSLKEYLOGFILE");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    if !report.is_null() {
        support::schema_validate(&report);
    }
    (out.status.code().unwrap_or(-1), report, stderr)
}

fn setup() -> Option<(tempfile::TempDir, support::KillOnDrop, u16)> {
    support::require("openssl")?;
    support::require("nginx")?;
    let dir = tempfile::tempdir().unwrap();
    pki(dir.path());
    let (peer, port) = echo()?;
    Some((dir, peer, port))
}

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

#[test]
fn a_server_requiring_a_client_certificate_is_healthy_with_one_and_names_it_without() {
    let Some((dir, _peer, backend)) = setup() else {
        return;
    };
    let d = dir.path();
    let Some(nginx) = nginx_tls(d, backend, "on") else {
        return;
    };
    let url = format!("wss://127.0.0.1:{}/", nginx.addr.port());
    let ca = path(d, "ca.pem");
    for name in ["client8", "client1", "clientec"] {
        let cert = path(d, &format!("{name}.pem"));
        let key = path(d, &format!("{name}.key"));
        let (code, report, stderr) = wsdoctor(
            &[
                "probe",
                &url,
                "--ca-cert",
                &ca,
                "--cert",
                &cert,
                "--key",
                &key,
            ],
            &[],
        );
        assert_eq!(code, 0, "{name}: {stderr} {report:#}");
        assert_eq!(report["verdict"], "healthy", "{name}");
        let tls = &report["observations"]["probes"][0]["connection"]["tls"];
        assert_eq!(tls["client_certificate"], true, "{name}: {tls}");
    }

    let (code, report, _) = wsdoctor(&["probe", &url, "--ca-cert", &ca], &[]);
    assert_eq!(code, 1, "{report:#}");
    let finding = &report["findings"][0];
    assert_eq!(finding["id"], "tls-failure", "{report:#}");
    let text = format!(
        "{} {} {}",
        finding["title"], finding["evidence"], finding["fix"]
    );
    assert!(text.contains("client certificate"), "{text}");
    assert!(text.contains("none was sent"), "{text}");
    assert!(text.contains("--cert"), "{text}");
}

/// HAProxy terminating TLS with `verify required` in front of `backend`:
/// a TLS 1.3 server that refuses a missing certificate with the alert
/// `certificate_required` after the client's side of the handshake is done.
fn haproxy_tls(dir: &Path, backend: u16) -> Option<support::Proxy> {
    let port = support::free_port();
    let mut both = std::fs::read(dir.join("server.pem")).unwrap();
    both.extend(std::fs::read(dir.join("server.key")).unwrap());
    let ca = std::fs::read(dir.join("ca.pem")).unwrap();
    let conf = format!(
        "global\n    maxconn 64\ndefaults\n    mode http\n    timeout connect 2s\n    \
         timeout client 30s\n    timeout server 30s\nfrontend web\n    \
         bind 127.0.0.1:{port} ssl crt {{dir}}/both.pem ca-file {{dir}}/ca.pem verify required\n    \
         default_backend ws\nbackend ws\n    server echo 127.0.0.1:{backend}\n"
    );
    support::haproxy_conf(&conf, port, &[("both.pem", &both), ("ca.pem", &ca)])
}

#[test]
fn haproxy_refusing_a_missing_certificate_by_alert_is_named_too() {
    let Some((dir, _peer, backend)) = setup() else {
        return;
    };
    let d = dir.path();
    let Some(haproxy) = haproxy_tls(d, backend) else {
        return;
    };
    let url = format!("wss://127.0.0.1:{}/", haproxy.addr.port());
    let ca = path(d, "ca.pem");
    let (code, report, stderr) = wsdoctor(
        &[
            "probe",
            &url,
            "--ca-cert",
            &ca,
            "--cert",
            &path(d, "clientec.pem"),
            "--key",
            &path(d, "clientec.key"),
        ],
        &[],
    );
    assert_eq!(code, 0, "{stderr} {report:#}");

    let (code, report, _) = wsdoctor(&["probe", &url, "--ca-cert", &ca], &[]);
    assert_eq!(code, 1, "{report:#}");
    let end = &report["observations"]["probes"][0]["connection"]["end"]["end"];
    assert_eq!(end["kind"], "tls-failed", "{report:#}");
    assert!(
        end["error"]
            .as_str()
            .unwrap()
            .contains("certificate_required"),
        "{end}"
    );
    let finding = &report["findings"][0];
    assert_eq!(finding["id"], "tls-failure", "{report:#}");
    assert!(finding["title"].as_str().unwrap().contains("none was sent"));
}

#[test]
fn a_bad_or_mismatched_key_is_a_clear_error() {
    let Some(_) = support::require("openssl") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    pki(d);
    std::fs::write(d.join("garbage.key"), "not a key\n").unwrap();
    let url = "wss://127.0.0.1:9/";
    let cases = [
        ("garbage.key", "contains no PEM private key"),
        ("client1.key", "does not belong to the certificate"),
        ("missing.key", "cannot read"),
    ];
    for (key, words) in cases {
        let (code, _, stderr) = wsdoctor(
            &[
                "probe",
                url,
                "--cert",
                &path(d, "client8.pem"),
                "--key",
                &path(d, key),
            ],
            &[],
        );
        assert_eq!(code, 2, "{key}: {stderr}");
        assert!(stderr.contains(words), "{key}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        // Never the key material.
        if let Ok(text) = std::fs::read_to_string(d.join(key)) {
            let body = text.lines().nth(1).unwrap_or("not a key");
            assert!(!stderr.contains(body), "{stderr}");
        }
    }
}

#[test]
fn resolve_reaches_a_name_no_dns_knows_with_its_sni_and_pins_the_family() {
    let Some((dir, _peer, backend)) = setup() else {
        return;
    };
    let d = dir.path();
    let Some(nginx) = nginx_tls(d, backend, "off") else {
        return;
    };
    let port = nginx.addr.port();
    let url = format!("wss://nowhere.invalid:{port}/");
    let ca = path(d, "ca.pem");

    // No DNS knows the name.
    let (code, report, _) = wsdoctor(&["probe", &url, "--ca-cert", &ca], &[]);
    assert_eq!(code, 1);
    assert_eq!(report["findings"][0]["id"], "dns-failure", "{report:#}");

    // Pinned: TLS verifies the certificate for the name (SNI and Host are
    // the URL's), over the family asked for.
    let both = format!("nowhere.invalid:{port}:127.0.0.1,[::1]");
    for (family, peer) in [
        ("-4", format!("127.0.0.1:{port}")),
        ("-6", format!("[::1]:{port}")),
    ] {
        let (code, report, stderr) = wsdoctor(
            &["probe", &url, "--ca-cert", &ca, "--resolve", &both, family],
            &[],
        );
        assert_eq!(code, 0, "{family}: {stderr} {report:#}");
        let conn = &report["observations"]["probes"][0]["connection"];
        assert_eq!(conn["peer_addr"], peer.as_str(), "{family}: {conn}");
        assert_eq!(conn["tls"]["verified"], true);
        let request = conn["handshake"]["request"].to_string();
        assert!(
            request.contains(&format!("Host: nowhere.invalid:{port}")),
            "{request}"
        );
    }

    // --connect-to: the URL's port is not where the server listens.
    let elsewhere = "wss://nowhere.invalid:1/";
    let (code, report, stderr) = wsdoctor(
        &[
            "probe",
            elsewhere,
            "--ca-cert",
            &ca,
            "--resolve",
            &format!("nowhere.invalid:{port}:127.0.0.1"),
            "--connect-to",
            &format!("nowhere.invalid:1:nowhere.invalid:{port}"),
        ],
        &[],
    );
    assert_eq!(code, 0, "{stderr} {report:#}");
    let request =
        report["observations"]["probes"][0]["connection"]["handshake"]["request"].to_string();
    assert!(request.contains("Host: nowhere.invalid:1"), "{request}");
}

#[test]
fn several_resolves_for_one_name_compare_the_nodes() {
    let Some((_peer, port)) = echo() else {
        return;
    };
    // The echo server listens on 127.0.0.1 only: 127.0.0.2 is a node
    // that is down.
    let url = format!("ws://nowhere.invalid:{port}/");
    let (code, report, stderr) = wsdoctor(
        &[
            "probe",
            &url,
            "--resolve",
            &format!("nowhere.invalid:{port}:127.0.0.1"),
            "--resolve",
            &format!("nowhere.invalid:{port}:127.0.0.2"),
        ],
        &[],
    );
    assert_eq!(code, 1, "{stderr}");
    let targets = report["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 2, "{report:#}");
    assert!(targets[0].as_str().unwrap().ends_with("at 127.0.0.1"));
    assert!(targets[1].as_str().unwrap().ends_with("at 127.0.0.2"));
    let probes = report["observations"]["probes"].as_array().unwrap();
    assert_eq!(
        probes[0]["connection"]["peer_addr"],
        format!("127.0.0.1:{port}").as_str()
    );
    assert_eq!(
        probes[1]["connection"]["end"]["end"]["kind"], "connect-refused",
        "{report:#}"
    );
    let subjects: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["subject"].as_str())
        .collect();
    assert!(
        subjects.iter().any(|s| s.ends_with("at 127.0.0.2")),
        "{subjects:?}"
    );
}

#[test]
fn sslkeylogfile_gets_the_client_random_of_the_handshake() {
    let Some(_) = support::require("openssl") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    pki(d);
    // openssl s_server logs the same handshake's secrets from its side.
    // On port 0 it binds one itself and says it (`ACCEPT 127.0.0.1:PORT`)
    // once it listens: no port picked here that another could take first.
    let mut server = support::KillOnDrop(
        Command::new("openssl")
            .args(["s_server", "-accept", "127.0.0.1:0"])
            .args(["-cert", "server.pem", "-key", "server.key", "-keylogfile"])
            .arg("server.keys")
            .arg("-www")
            .current_dir(d)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let port = accept_port(server.0.stdout.take().unwrap());
    let client_log = d.join("client.keys");
    let url = format!("wss://127.0.0.1:{port}/");
    let (_, report, stderr) = wsdoctor(
        &["probe", &url, "--ca-cert", &path(d, "ca.pem")],
        &[("SSLKEYLOGFILE", &client_log)],
    );
    // s_server -www answers the upgrade with a 200 page: TLS was made.
    assert!(
        report["observations"]["probes"][0]["connection"]["tls"].is_object(),
        "{stderr} {report:#}"
    );
    let randoms = |file: &Path| -> Vec<String> {
        std::fs::read_to_string(file)
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_whitespace().nth(1).map(str::to_owned))
            .collect()
    };
    let ours = randoms(&client_log);
    let theirs = randoms(&d.join("server.keys"));
    assert!(!ours.is_empty(), "no key log lines");
    assert!(
        ours.iter().any(|r| r.len() == 64 && theirs.contains(r)),
        "ours {ours:?} theirs {theirs:?}"
    );
    let text = std::fs::read_to_string(&client_log).unwrap();
    assert!(
        text.lines().all(|l| l.split(' ').count() == 3),
        "NSS format: {text}"
    );
}

/// The port `openssl s_server` says it accepts on (its `ACCEPT HOST:PORT`
/// line), waited for at most 30 s; the rest of its output is read and
/// dropped, so it never blocks on the pipe.
fn accept_port(stdout: std::process::ChildStdout) -> u16 {
    use std::io::BufRead as _;
    let (lines_tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = lines_tx.send(line);
        }
    });
    let deadline = std::time::Instant::now() + support::ANNOUNCE_BOUND;
    let mut said = String::new();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = lines
            .recv_timeout(left)
            .unwrap_or_else(|e| panic!("s_server said no ACCEPT line ({e}):\n{said}"));
        let port = line
            .strip_prefix("ACCEPT ")
            .and_then(|addr| addr.rsplit_once(':'))
            .and_then(|(_, port)| port.trim().parse().ok());
        if let Some(port) = port {
            return port;
        }
        said.push_str(&line);
        said.push('\n');
    }
}
