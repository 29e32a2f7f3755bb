//! `wss://` against python-websockets serving certificates made by
//! `openssl` the way people make test certificates: a self-signed one
//! given with `--ca-cert` is accepted as curl, Node and Python accept it
//! (OpenSSL's `req -x509` marks it `CA:TRUE`), and every refusal names the
//! certificate and what is wrong with it, never a library's error value.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod support;

use std::path::Path;
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;
use support::openssl;

/// `openssl req -x509` as the tutorials write it: `NAME.pem` and `NAME.key`.
fn self_signed(dir: &Path, name: &str, san: &str) {
    self_signed_as(dir, name, "/CN=localhost", san);
}

/// As [`self_signed`], with the subject given.
fn self_signed_as(dir: &Path, name: &str, subject: &str, san: &str) {
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
            subject,
            "-addext",
            &format!("subjectAltName={san}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
        ],
    );
}

/// A self-signed certificate valid in January 2020 only (`openssl ca
/// -selfsign` takes explicit dates; `req -days` cannot go back).
fn expired(dir: &Path) {
    std::fs::write(
        dir.join("ca.cnf"),
        "[ca]\ndefault_ca = d\n[d]\ndir = .\ndatabase = index.txt\nnew_certs_dir = .\n\
         serial = serial\ndefault_md = sha256\npolicy = p\ncopy_extensions = copy\n\
         unique_subject = no\n[p]\ncommonName = supplied\n",
    )
    .unwrap();
    std::fs::write(dir.join("index.txt"), "").unwrap();
    std::fs::write(dir.join("serial"), "01\n").unwrap();
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            "old.key",
            "-out",
            "old.csr",
        ],
    );
    openssl(
        dir,
        &[
            "ca",
            "-batch",
            "-config",
            "ca.cnf",
            "-selfsign",
            "-keyfile",
            "old.key",
            "-in",
            "old.csr",
            "-out",
            "old.pem",
            "-startdate",
            "20200101000000Z",
            "-enddate",
            "20200201000000Z",
            "-notext",
        ],
    );
}

/// A private CA (`ca.pem`) and a leaf it signed for 127.0.0.1 (`leaf.pem`).
fn ca_and_leaf(dir: &Path) {
    // A name no root of this machine has (some containers trust a
    // `CN=localhost` of their own).
    self_signed_as(dir, "ca", "/CN=wsdoctor test CA", "DNS:ca.invalid");
    openssl(
        dir,
        &[
            "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=leaf", "-keyout", "leaf.key",
            "-out", "leaf.csr",
        ],
    );
    std::fs::write(dir.join("leaf.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(
        dir,
        &[
            "x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-days", "30",
            "-extfile", "leaf.ext", "-out", "leaf.pem",
        ],
    );
}

/// python-websockets serving `NAME.pem`/`NAME.key` from `dir`.
fn server(dir: &Path, name: &str) -> Option<(support::KillOnDrop, u16)> {
    let cert = dir.join(format!("{name}.pem"));
    let key = dir.join(format!("{name}.key"));
    let peer = support::python_peer(
        &[
            "tests/peers/python_websockets_tls.py",
            cert.to_str().unwrap(),
            key.to_str().unwrap(),
        ],
        |l| l.trim().parse().ok(),
    );
    if peer.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install python3 and the websockets package"
        );
        eprintln!("skipped: python3 with the websockets package is not installed");
    }
    peer
}

fn probe(url: &str, ca: Option<&Path>) -> (i32, Value) {
    let mut cmd = Command::cargo_bin("wsdoctor").unwrap();
    cmd.args(["probe", url, "--watch", "300ms", "--json"]);
    if let Some(ca) = ca {
        cmd.arg("--ca-cert").arg(ca);
    }
    let out = cmd.output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    support::schema_validate(&report);
    (out.status.code().unwrap_or(-1), report)
}

/// The tls-failure finding's evidence and fixes, as one text.
fn tls_failure(report: &Value) -> String {
    let f = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "tls-failure")
        .unwrap_or_else(|| panic!("no tls-failure: {report:#}"));
    let text = format!("{} {} {}", f["title"], f["evidence"], f["fix"]);
    for debug in [
        "CaUsedAsEndEntity",
        "OtherError",
        "Other(",
        "InvalidCertificate",
    ] {
        assert!(!text.contains(debug), "a library's words: {text}");
    }
    text
}

fn tools() -> Option<tempfile::TempDir> {
    support::require("openssl")?;
    Some(tempfile::tempdir().unwrap())
}

#[test]
fn a_self_signed_ca_true_certificate_given_with_ca_cert_is_accepted() {
    let Some(dir) = tools() else { return };
    self_signed(dir.path(), "self", "IP:127.0.0.1,DNS:localhost");
    self_signed(dir.path(), "other", "DNS:localhost");
    let Some((_peer, port)) = server(dir.path(), "self") else {
        return;
    };
    let url = format!("wss://127.0.0.1:{port}/");

    let (code, report) = probe(&url, Some(&dir.path().join("self.pem")));
    assert_eq!(code, 0, "{report:#}");
    let tls = &report["observations"]["probes"][0]["connection"]["tls"];
    assert_eq!(tls["verified"], true, "{report:#}");

    // Without it: the certificate is named and what to do is said.
    let (code, report) = probe(&url, None);
    assert_eq!(code, 1, "{report:#}");
    let text = tls_failure(&report);
    eprintln!("no --ca-cert: {text}");
    assert!(
        text.contains("\\\"CN=localhost\\\" (self-signed, marked CA:TRUE"),
        "{text}"
    );
    assert!(text.contains("--ca-cert"), "{text}");

    // With another certificate: said so, and no advice to go public only.
    let (code, report) = probe(&url, Some(&dir.path().join("other.pem")));
    assert_eq!(code, 1, "{report:#}");
    let text = tls_failure(&report);
    eprintln!("another --ca-cert: {text}");
    assert!(
        text.contains("the certificate given is a different one"),
        "{text}"
    );
}

#[test]
fn a_given_certificate_must_still_name_the_host_and_be_in_date() {
    let Some(dir) = tools() else { return };
    self_signed(dir.path(), "named", "DNS:ws.example.test");
    expired(dir.path());
    let Some((_named, named_port)) = server(dir.path(), "named") else {
        return;
    };
    let Some((_old, old_port)) = server(dir.path(), "old") else {
        return;
    };

    let (code, report) = probe(
        &format!("wss://127.0.0.1:{named_port}/"),
        Some(&dir.path().join("named.pem")),
    );
    assert_eq!(code, 1, "{report:#}");
    let text = tls_failure(&report);
    eprintln!("wrong name: {text}");
    assert!(text.contains("for ws.example.test"), "{text}");
    assert!(text.contains("does not name 127.0.0.1"), "{text}");

    let (code, report) = probe(
        &format!("wss://127.0.0.1:{old_port}/"),
        Some(&dir.path().join("old.pem")),
    );
    assert_eq!(code, 1, "{report:#}");
    let text = tls_failure(&report);
    eprintln!("expired: {text}");
    assert!(
        text.contains("valid only from 2020-01-01 to 2020-02-01"),
        "{text}"
    );
}

#[test]
fn a_leaf_of_a_private_ca_is_verified_through_the_ca() {
    let Some(dir) = tools() else { return };
    ca_and_leaf(dir.path());
    let Some((_peer, port)) = server(dir.path(), "leaf") else {
        return;
    };
    let url = format!("wss://127.0.0.1:{port}/");
    let (code, report) = probe(&url, Some(&dir.path().join("ca.pem")));
    assert_eq!(code, 0, "{report:#}");
    let (code, report) = probe(&url, None);
    assert_eq!(code, 1, "{report:#}");
    let text = tls_failure(&report);
    eprintln!("private CA not given: {text}");
    assert!(
        text.contains("issued by \\\"CN=wsdoctor test CA\\\""),
        "{text}"
    );
    assert!(
        text.contains("not one of this machine's trusted roots"),
        "{text}"
    );
}
